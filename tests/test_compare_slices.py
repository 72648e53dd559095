"""`compare`'s slices of the table: the indicators' columns shared by every slice whose indicators run as the
catalogue's, the references read in the value column itself when every place has every indicator, France's
reference null on France's own rows only. Expected values written by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from transforms import compare as CMP


def meta() -> pl.DataFrame:
    """Two indicators: their label, direction (as `_dir`) and France's value."""
    return pl.DataFrame(
        {
            "label": ["Part des familles monoparentales", "Population"],
            "_dir": pl.Series([1, 0], dtype=pl.Int8),
            "_ref_france": [24.5, None],
        }
    )


def positions(places: list[int], indicators: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"_place": pl.Series(places, dtype=pl.UInt32), "_ind": pl.Series(indicators, dtype=pl.UInt32)})


def address(column: pl.Series) -> int:
    return column.to_numpy(allow_copy=False).ctypes.data


def test_slices_running_as_the_catalogue_share_one_frame_of_the_indicators_columns():
    per_indicator = CMP._IndicatorRows(meta(), 4)
    first = per_indicator(pl.Series([0, 1, 0, 1], dtype=pl.UInt32))
    last = per_indicator(pl.Series([0, 1], dtype=pl.UInt32))  # the table's last, shorter slice
    label, population = "Part des familles monoparentales", "Population"
    assert first["label"].to_list() == [label, population, label, population]
    assert first["_ref_france"].to_list() == [24.5, None, 24.5, None]
    assert last["label"].to_list() == [label, population]
    # the same memory, not a copy per slice
    assert address(first["_dir"]) == address(last["_dir"])


def test_a_shared_run_not_a_multiple_of_the_catalogue_ends_within_it():
    per_indicator = CMP._IndicatorRows(meta(), 3)
    assert per_indicator.run.to_list() == [0, 1, 0]
    rows = per_indicator(pl.Series([0, 1, 0], dtype=pl.UInt32))
    assert rows["_dir"].to_list() == [1, 0, 1]
    assert address(rows["_dir"]) == address(per_indicator(pl.Series([0, 1], dtype=pl.UInt32))["_dir"])


def test_a_slice_where_a_place_lacks_an_indicator_gathers_its_own_columns():
    per_indicator = CMP._IndicatorRows(meta(), 4)
    rows = per_indicator(pl.Series([0, 1, 1], dtype=pl.UInt32))  # the second place has no row of the first
    assert rows["label"].to_list() == ["Part des familles monoparentales", "Population", "Population"]
    assert rows["_dir"].to_list() == [1, 0, 0]
    assert address(rows["_dir"]) != address(per_indicator(pl.Series([0, 1, 0], dtype=pl.UInt32))["_dir"])
    # a slice longer than the shared run is gathered too
    assert per_indicator(pl.Series([0, 1] * 3, dtype=pl.UInt32))["_dir"].to_list() == [1, 0] * 3


def references(table: pl.DataFrame, values: CMP._Values, place: list[int | None]) -> list[float | None]:
    """The value of each row's indicator at the reference place given per place (None: no reference)."""
    per_place = values.blocks(pl.Series(place, dtype=pl.UInt32))
    rows = CMP._SliceRows(table["_place"], table["_ind"], values.n_indicators)
    return values.gather(rows.positions(per_place)).to_list()


def test_a_reference_is_read_at_its_place_whether_every_place_has_every_indicator_or_not():
    # two places, two indicators: values 1, 2 at place 0 and 3, 4 at place 1
    complete = positions([0, 0, 1, 1], [0, 1, 0, 1]).with_columns(value=pl.Series([1.0, 2.0, 3.0, 4.0]))
    values = CMP._Values(complete, 2, 2)
    # place 0's reference is place 1, place 1 has none
    assert references(complete, values, [1, None]) == [3.0, 4.0, None, None]
    assert values.of_place(1).to_list() == [3.0, 4.0]
    assert values.of_place(None).to_list() == [None, None]
    # place 0 has no row of indicator 1: its reference there is null
    sparse = positions([0, 1, 1], [0, 0, 1]).with_columns(value=pl.Series([1.0, 3.0, 4.0]))
    values = CMP._Values(sparse, 2, 2)
    assert references(sparse, values, [0, 0]) == [1.0, 1.0, None]
    assert references(sparse, values, [0, 1]) == [1.0, 3.0, 4.0]
    assert values.of_place(0).to_list() == [1.0, None]


def test_a_slices_rows_are_read_by_blocks_of_whole_places_or_row_by_row():
    whole = CMP._SliceRows(pl.Series([3, 3, 5, 5], dtype=pl.UInt32), pl.Series([0, 1, 0, 1], dtype=pl.UInt32), 2)
    assert whole.places is not None and whole.places.tolist() == [3, 5]
    items = np.array([10, 11, 12, 13, 14, 15], dtype=np.uint32)
    blocks = CMP._Blocks(items, np.array([False, False, False, False, False, True]))  # place 5 has no block
    assert whole.of_places(items).tolist() == [13, 13, 15, 15]
    assert whole.positions(blocks).to_list() == [13, 14, None, None]
    # a place with one indicator of two: its rows are read one by one
    sparse = CMP._SliceRows(pl.Series([3, 5, 5], dtype=pl.UInt32), pl.Series([1, 0, 1], dtype=pl.UInt32), 2)
    assert sparse.places is None
    assert sparse.of_places(items).tolist() == [13, 15, 15]
    assert sparse.positions(blocks).to_list() == [14, None, None]
    # two rows as many as the indicators, but of two places
    split = CMP._SliceRows(pl.Series([3, 4], dtype=pl.UInt32), pl.Series([1, 0], dtype=pl.UInt32), 2)
    assert split.places is None and split.positions(blocks).to_list() == [14, 14]


def test_frances_reference_is_null_on_frances_own_rows_only():
    france_values = pl.Series([24.5, None, 24.5, None])
    communes = positions([0, 0, 1, 1], [0, 1, 0, 1])
    assert CMP._france_reference(communes, france_values, 2).to_list() == [24.5, None, 24.5, None]
    with_france = positions([1, 1, 2, 2], [0, 1, 0, 1])
    assert CMP._france_reference(with_france, france_values, 2).to_list() == [24.5, None, None, None]
    # no France in the table: the values as they are
    assert CMP._france_reference(with_france, france_values, None).to_list() == [24.5, None, 24.5, None]


def test_the_parts_as_text_are_the_parts_as_categories_made_text():
    from benchmarks.france import generate
    from transforms.compute import compute_placed
    from transforms.table_cache import as_text

    inputs = generate(120, 6, 3)
    placed = compute_placed(inputs)
    coded = [as_text(part) for part in CMP.compare_parts(placed, inputs, n_years=6, comparison_year=2016)]
    text = list(CMP.compare_parts(placed, inputs, n_years=6, comparison_year=2016, categories=False))
    assert [part.height for part in text] == [part.height for part in coded]
    assert_frame_equal(pl.concat(text), pl.concat(coded))


def test_a_slices_levels_are_its_places_runs_of_one_level():
    levels = CMP._LevelRows(pl.Series("level", ["COM", "COM", "ARM", "COM", "EPCI", "DEP", "FRANCE"]), 11, 2)
    # rows of places 0 (twice), 1, 2 (an arrondissement among the communes), 3, 4 (an EPCI), 5 and 6
    every = levels(pl.Series([0, 0, 1, 1, 2, 2, 3, 4, 4, 5, 6], dtype=pl.UInt32))
    assert every.to_list() == ["COM"] * 4 + ["ARM"] * 2 + ["COM", "EPCI", "EPCI", "DEP", "FRANCE"]
    # a slice starting inside a run, on a place past a change of level
    assert levels(pl.Series([2, 2, 3], dtype=pl.UInt32)).to_list() == ["ARM", "ARM", "COM"]
    assert levels(pl.Series([], dtype=pl.UInt32)).to_list() == []
    # a level's column as long as its longest run of places can have rows (two indicators: two rows a place), up to
    # the longest slice (11 rows)
    assert levels.rows == {"COM": 4, "ARM": 2, "EPCI": 2, "DEP": 2, "FRANCE": 2}
    assert CMP._LevelRows(pl.Series("level", ["COM"] * 8), 11, 2).rows == {"COM": 11}


def evolution_rows() -> pl.DataFrame:
    """A count grown from 100 to 121, a count from 0, a rate from 10 to 12.5, a mean from 110 to 100, unknowns."""
    return pl.DataFrame(
        {
            "value": [121.0, 5.0, 12.5, 100.0, 3.0, None],
            "value_comparison": [100.0, 0.0, 10.0, 110.0, None, 3.0],
            "_kind": pl.Series([0, 0, 1, 2, 2, 0], dtype=pl.Int8),
        }
    )


def test_evolutions_a_counts_growth_a_year_else_a_difference():
    evolution = CMP._evolutions(evolution_rows(), n_years=2).to_list()
    # 121 / 100 over 2 years: 1.1 a year, +10 %; a count from 0 has no growth; 12.5 - 10; 100 - 110
    assert evolution[0] == pytest.approx(10.0)
    assert evolution[1:] == [None, 2.5, -10.0, None, None]


def test_evolutions_without_the_number_of_years_leave_counts_null():
    assert CMP._evolutions(evolution_rows(), n_years=None).to_list() == [None, None, 2.5, -10.0, None, None]


def test_gathered_reads_a_column_at_positions_null_at_a_null_position():
    words = pl.Series("status", ["secret", "absent", None])
    positions = pl.Series("status", [2, 0, None, 1, 0], dtype=pl.UInt32)
    gathered = CMP._gathered(words, positions)
    assert gathered.name == "status"
    assert gathered.to_list() == [None, "secret", None, "absent", "secret"]


def test_gathered_refuses_a_position_past_the_column():
    with pytest.raises(pl.exceptions.OutOfBoundsError):
        CMP._gathered(pl.Series("flag", [None, "vigilance", "priorité"]), pl.Series([3], dtype=pl.UInt32))


def place_list() -> pl.DataFrame:
    """Two communes around an arrondissement of the second, an EPCI, a département and France, in place order."""
    return pl.DataFrame(
        {
            "level": ["COM", "ARM", "COM", "EPCI", "DEP", "FRANCE"],
            "code": ["69123", "69381", "69266", "200046977", "69", "FR"],
        }
    ).with_row_index("_place")


def test_place_attributes_read_by_position_or_joined_are_each_places_own():
    places = place_list()
    # the communes listed in the places' order (read by position); the arrondissement listed apart (joined)
    refs = pl.DataFrame(
        {
            "level": ["COM", "COM", "ARM", "EPCI", "DEP"],
            "code": ["69123", "69266", "69381", "200046977", "69"],
            "ref_epci_code": ["200046977", "200046977", "200046977", None, None],
            "ref_dep_code": ["69", "69", "69", "69", None],
        }
    )
    names = pl.DataFrame(
        {
            "level": ["COM", "COM", "EPCI", "DEP", "FRANCE", "ARM"],
            "code": ["69123", "69266", "200046977", "69", "FR", "69381"],
            "name": ["Lyon", "Villeurbanne", "Métropole de Lyon", "Rhône", "France", "Lyon 1er"],
        }
    )
    expected = places.with_columns(
        ref_epci_code=pl.Series(["200046977", "200046977", "200046977", None, None, None]),
        ref_dep_code=pl.Series(["69", "69", "69", "69", None, None]),
        name=pl.Series(["Lyon", "Lyon 1er", "Villeurbanne", "Métropole de Lyon", "Rhône", "France"]),
        _epci_place=pl.Series([3, 3, 3, None, None, None], dtype=pl.UInt32),
        _dep_place=pl.Series([4, 4, 4, 4, None, None], dtype=pl.UInt32),
    )
    columns = ["_place", "level", "code", "ref_epci_code", "ref_dep_code", "name", "_epci_place", "_dep_place"]
    assert_frame_equal(CMP._place_attributes(places, refs, names).select(columns), expected.select(columns))
    # a level listed in two runs: every attribute joined, the same
    split = pl.concat([refs.slice(1, 4), refs.head(1)])
    assert CMP._aligned(places, split) is None
    assert_frame_equal(CMP._place_attributes(places, split, names).select(columns), expected.select(columns))


def test_aligned_joins_a_run_listed_in_another_order_and_leaves_unlisted_places_null():
    places = place_list()
    facts = pl.DataFrame({"level": ["COM", "COM", "DEP"], "code": ["69266", "69123", "69"], "name": ["V", "L", "R"]})
    assert CMP._aligned(places, facts)["name"].to_list() == ["L", None, "V", None, "R", None]
