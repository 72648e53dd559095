"""The indicator table reads only the staged rows its indicators name (`transforms.indicator_inputs`): the same
table as from every staged row, from a fraction of them."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from transforms.indicator_inputs import READ_COLUMNS, _places_of, pruned, read_variables
from transforms.pipeline import diagnostic_table, indicator_inputs, load_inputs
from transforms.registry import indicators


def staged(rows: list[tuple]) -> pl.DataFrame:
    """A staged table in its long form (source, vintage and month as every staged table has them)."""
    frame = pl.DataFrame(
        rows,
        schema={"level": pl.String, "code": pl.String, "year": pl.Int32, "variable": pl.String, "value": pl.Float64},
        orient="row",
    )
    return frame.with_columns(
        source=pl.lit("s"),
        vintage=pl.lit("2022"),
        month=pl.lit(None, pl.Int8),
        status=pl.lit(None, pl.String),
        geo_change=pl.lit(None, pl.String),
    )


def test_only_the_read_variables_are_kept_with_a_marker_for_each_level_and_year_they_lack():
    frame = staged(
        [
            ("ARM", "75101", 2022, "OTHER", 7.0),  # ARM only in an unread variable: a marker keeps the level
            ("COM", "01001", 2016, "OTHER", 1.0),  # 2016 only in an unread variable: a marker keeps the year
            ("COM", "01001", 2022, "WANTED", 2.0),
            ("COM", "01001", 2022, "OTHER", 3.0),
            ("COM", "01002", 2022, "WANTED", 4.0),
        ]
    )
    out = pruned(frame.lazy(), {"WANTED"})
    assert out.columns == list(READ_COLUMNS)
    # the two WANTED rows in the file's order, then (ARM, 2022) and (COM, 2016) with a null variable, sorted
    assert out.select("level", "code", "year", "variable", "value").rows() == [
        ("COM", "01001", 2022, "WANTED", 2.0),
        ("COM", "01002", 2022, "WANTED", 4.0),
        ("ARM", None, 2022, None, None),
        ("COM", None, 2016, None, None),
    ]
    # what a reader learns of the table's years and levels is unchanged
    assert (
        out.select("level", "year")
        .unique()
        .sort("level", "year")
        .equals(frame.select("level", "year").unique().sort("level", "year"))
    )


def test_no_marker_when_the_kept_rows_hold_every_level_and_year():
    frame = staged([("COM", "01001", 2022, "WANTED", 2.0), ("COM", "01002", 2022, "OTHER", 4.0)])
    assert pruned(frame.lazy(), {"WANTED"})["value"].to_list() == [2.0]


def test_the_variables_read_are_the_terms_the_published_figures_and_the_census_population():
    variables = read_variables(indicators())
    assert "P_POP" in variables["rp_population"]  # growth and the weights of transforms.partial
    poverty = next(i for i in indicators() if i.kind == "published" and i.published_term.source == "filosofi")
    assert poverty.published_term.variable in variables["filosofi"]
    # a variable no indicator reads is not read: the census age bands serve the reports' pyramids only
    assert not any(v.startswith("P22_POP0014") for v in variables["rp_population"])


def test_the_table_from_pruned_inputs_is_the_table_from_every_staged_row(demo_store):
    with demo_store.pinned() as state:
        whole = load_inputs(state)
        lean = indicator_inputs(state)
        assert sum(f.height for f in lean.staged.values()) < sum(f.height for f in whole.staged.values())
        assert_frame_equal(diagnostic_table(None, inputs=lean), diagnostic_table(None, inputs=whole))


def test_the_places_of_rows_are_their_distinct_level_and_year_pairs_whatever_their_order():
    rows = pl.DataFrame(
        {
            "level": [None, None, "COM", "COM", "EPCI", "COM", "COM", "DEP", "COM"],
            "year": [None, None, 2020, 2020, 2020, 2020, None, None, 2021],
            "code": ["x", "y", "a", "a", "e", "b", "b", "d", "c"],
        },
        schema_overrides={"level": pl.String, "year": pl.Int32},
    )
    got = set(_places_of(rows).iter_rows())
    assert got == {(None, None), ("COM", 2020), ("EPCI", 2020), ("COM", None), ("DEP", None), ("COM", 2021)}
    assert _places_of(rows).height == 6


def test_the_places_of_rows_sorted_by_level_are_each_level_s_years():
    rows = pl.DataFrame(
        {"level": ["COM", "COM", "COM", "DEP", "EPCI", "EPCI"], "year": [2021, 2016, 2021, 2016, 2011, 2011]},
        schema_overrides={"year": pl.Int32},
    )
    got = _places_of(rows)
    assert sorted(got.iter_rows()) == [("COM", 2016), ("COM", 2021), ("DEP", 2016), ("EPCI", 2011)]
    assert got.schema == rows.schema
