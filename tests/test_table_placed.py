"""`compute`'s rows as positions and codes (`transforms.placed`): merged with the arrondissements by place, named
once by `compare`, the same table as from `compute`'s frame."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from benchmarks.france import generate
from transforms import compare as CMP
from transforms import compute as C
from transforms.placed import Placed, merged

SCHEMA = {
    "level": pl.String,
    "group": pl.String,
    "indicator": pl.String,
    "value": pl.Float64,
    "status": pl.String,
    "status_comparison": pl.String,
}


def placed(levels: list[str], codes: list[str], values: list[float], words: list[str | None]) -> Placed:
    """Two indicators (a, b) at each place, in order; `values` place by place; every status the first word."""
    n = len(codes)
    rows = pl.DataFrame(
        {
            "_place": pl.Series(np.repeat(np.arange(n), 2), dtype=pl.UInt32),
            "_ind": pl.Series(np.tile([0, 1], n), dtype=pl.UInt32),
            "value": pl.Series(values, dtype=pl.Float64),
            "status": pl.Series([0] * 2 * n, dtype=pl.UInt32),
            "status_comparison": pl.Series([len(words) - 1] * 2 * n, dtype=pl.UInt32),
        }
    )
    places = pl.DataFrame({"level": levels, "code": codes})
    return Placed(rows, places, ("a", "b"), pl.Series(words, dtype=pl.String), SCHEMA)


def test_arrondissements_are_merged_among_the_communes_by_code_as_slices():
    main = placed(["COM", "COM", "EPCI"], ["13001", "75056", "200000001"], [1, 2, 3, 4, 5, 6], ["secret", None])
    arm = placed(["ARM", "ARM"], ["75101", "75102"], [7, 8, 9, 10], ["secret", None])
    out = merged(main, arm)
    # places by rank (COM and ARM 0, EPCI 2) then code: 13001, 75056, 75101, 75102, then the EPCI
    assert out.places["code"].to_list() == ["13001", "75056", "75101", "75102", "200000001"]
    frame = out.frame()
    assert frame["group"].to_list() == ["13001"] * 2 + ["75056"] * 2 + ["75101"] * 2 + ["75102"] * 2 + ["200000001"] * 2
    assert frame["level"].to_list()[4:8] == ["ARM"] * 4
    assert frame["indicator"].to_list() == ["a", "b"] * 5
    # each place's values follow it: 75101's are the arrondissements' first two (7, 8), the EPCI's main's last two
    assert frame["value"].to_list() == [1, 2, 3, 4, 7, 8, 9, 10, 5, 6]
    assert out.rows["_place"].to_list() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert out.rows["value"].n_chunks() > 1  # slices of the two tables chained, not gathered


def test_merging_tables_of_different_words_keeps_each_rows_reason():
    main = placed(["COM"], ["01001"], [1, 2], ["secret", None])
    arm = placed(["ARM"], ["75101"], [3, 4], ["odd_marker", "secret", None])
    frame = merged(main, arm).frame()
    # the first word of each table: secret at 01001, odd_marker at 75101; no reason of comparison anywhere
    assert frame["status"].to_list() == ["secret", "secret", "odd_marker", "odd_marker"]
    assert frame["status_comparison"].null_count() == 4


def test_tables_of_other_indicators_are_not_merged():
    other = replace(placed(["ARM"], ["75101"], [3, 4], ["secret", None]), ids=("a", "c"))
    with pytest.raises(ValueError, match="same indicators"):
        merged(placed(["COM"], ["01001"], [1, 2], ["secret", None]), other)


PLACES = pl.DataFrame({"level": ["COM", "COM", "EPCI"], "group": ["01001", "01002", "200000001"]})


def one(ind: str, column: str, values: list, dtype) -> pl.DataFrame:
    return PLACES.with_columns(
        indicator=pl.lit(ind),
        status=pl.lit(None, pl.Int32),
        status_comparison=pl.lit(None, pl.Int32),
        **{column: pl.Series(values, dtype=dtype)},
    )


def test_a_column_few_indicators_fill_is_placed_as_a_dense_one():
    # eight indicators, only "i3" with a coverage (a quarter or less: the sparse path); place by place, then
    # indicator: 01001's eight cells (i3's is the 4th), then 01002's, then the EPCI's
    frames = {f"i{k}": one(f"i{k}", "coverage", [None] * 3, pl.Float64) for k in range(8)}
    frames["i3"] = one("i3", "coverage", [0.5, None, 0.95], pl.Float64)
    out = C._in_order(frames, PLACES)["coverage"].to_list()
    assert out[3] == 0.5 and out[8 + 3] is None and out[16 + 3] == 0.95
    assert sum(v is not None for v in out) == 2


def test_a_sparse_column_keeps_a_nan_of_its_own_apart_from_its_nulls():
    frames = {f"i{k}": one(f"i{k}", "coverage", [None] * 3, pl.Float64) for k in range(8)}
    frames["i0"] = one("i0", "coverage", [float("nan"), None, 2.0], pl.Float64)
    out = C._in_order(frames, PLACES)["coverage"].to_list()
    assert math.isnan(out[0]) and out[8] is None and out[16] == 2.0


def test_a_dense_column_places_full_partial_and_empty_pieces_by_place():
    # three indicators over the three places: "a" full, "b" with one null, "c" all null (not sparse: two of three
    # hold a value); place by place: 01001 (a, b, c), 01002, then the EPCI
    frames = {
        "a": one("a", "value", [1.0, 2.0, 3.0], pl.Float64),
        "b": one("b", "value", [10.0, None, 30.0], pl.Float64),
        "c": one("c", "value", [None] * 3, pl.Float64),
    }
    out = C._in_order(frames, PLACES)["value"].to_list()
    assert out == [1.0, 10.0, None, 2.0, None, None, 3.0, 30.0, None]


def test_a_dense_column_keeps_a_nan_of_its_own_apart_from_its_nulls():
    # "b"'s own NaN at 01002 beside its null at the EPCI: the matrix of NaN is refused, the NaN kept a value
    frames = {
        "a": one("a", "value", [1.0, 2.0, 3.0], pl.Float64),
        "b": one("b", "value", [10.0, float("nan"), None], pl.Float64),
    }
    out = C._in_order(frames, PLACES)["value"].to_list()
    assert out[:3] == [1.0, 10.0, 2.0] and math.isnan(out[3]) and out[4:] == [3.0, None]


def test_a_year_few_indicators_have_stays_an_integer():
    frames = {f"i{k}": one(f"i{k}", "published_year", [None] * 3, pl.Int32) for k in range(4)}
    frames["i1"] = one("i1", "published_year", [2021, None, 2024], pl.Int32)
    out = C._in_order(frames, PLACES)["published_year"]
    assert out.dtype == pl.Int32
    assert out.to_list() == [None, 2021, None, None] + [None] * 4 + [None, 2024, None, None]


def test_the_table_from_positions_is_the_table_from_computes_frame():
    inputs = generate(120, 6, 3)
    frame = pl.concat(list(CMP.compare_parts(C.compute(inputs), inputs, n_years=6, comparison_year=2016)))
    positions = pl.concat(list(CMP.compare_parts(C.compute_placed(inputs), inputs, n_years=6, comparison_year=2016)))
    assert_frame_equal(positions, frame)
    # every one of the 120 communes has every indicator of the catalogue
    assert frame.filter(pl.col("level") == "COM").height == 120 * len(C.indicators())
