"""`transforms.commune_table.rows_at_levels`: a staged table's rows at some levels (a slice of one run, or a
filter), and the years of `Inputs` read once per table."""

import polars as pl

from transforms import commune_table as CT
from transforms.compute import Inputs


def _table(levels: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"level": levels, "code": [f"c{i}" for i in range(len(levels))]})


def test_rows_of_levels_in_the_tables_order_across_runs():
    # runs: ARM [0, 1], COM [2, 3, 4], EPCI [5], COM [6] (a marker row after the sorted rows), DEP [7]
    table = _table(["ARM", "ARM", "COM", "COM", "COM", "EPCI", "COM", "DEP"])
    assert CT.rows_at_levels(table, ("COM",))["code"].to_list() == ["c2", "c3", "c4", "c6"]
    assert CT.rows_at_levels(table, ("ARM", "EPCI"))["code"].to_list() == ["c0", "c1", "c5"]
    assert CT.commune_rows(table)["code"].to_list() == ["c2", "c3", "c4", "c6"]


def test_a_level_without_rows_and_an_empty_table_give_no_rows():
    table = _table(["COM", "COM"])
    assert CT.rows_at_levels(table, ("ARM",)).is_empty()
    assert CT.rows_at_levels(table, ("ARM",)).columns == ["level", "code"]
    assert CT.rows_at_levels(table.clear(), ("COM",)).is_empty()


def test_years_follow_a_table_replaced_in_place():
    frame = pl.DataFrame({"year": [2019, 2021, 2021, None]}, schema={"year": pl.Int32})
    inputs = Inputs(staged={"births": frame}, vintages={"births": "2021"}, membership=pl.DataFrame())
    assert inputs.main_year("births") == 2021  # max of 2019, 2021 (the null year is no year)
    inputs.staged["births"] = pl.DataFrame({"year": [2022]}, schema={"year": pl.Int32})
    assert inputs.main_year("births") == 2022
    census = pl.DataFrame({"year": [2011, 2016, 2022]}, schema={"year": pl.Int32})
    inputs.staged["rp_population"] = census
    inputs.vintages["rp_population"] = "2022"
    # the latest census at least 5 years before 2022: 2016 (2022 - 5 = 2017 >= 2016 > 2011)
    assert (inputs.main_year("rp_population"), inputs.comparison_year("rp_population")) == (2022, 2016)
    assert inputs.main_year("absent") is None


def test_levels_each_in_one_run_are_slices_in_the_tables_order():
    # EPCI rows [0], ARM rows [1, 2]: asked as (ARM, EPCI), given in the table's order
    table = _table(["EPCI", "ARM", "ARM", "COM"])
    assert CT.rows_at_levels(table, ("ARM", "EPCI"))["code"].to_list() == ["c0", "c1", "c2"]
    # ARM rows in two runs [0], [2]: filtered, still in order with the EPCI row [3]
    table = _table(["ARM", "COM", "ARM", "EPCI"])
    assert CT.rows_at_levels(table, ("ARM", "EPCI"))["code"].to_list() == ["c0", "c2", "c3"]


def test_a_table_without_a_year_or_an_earlier_census_has_no_such_year():
    no_year = pl.DataFrame({"year": [None, None]}, schema={"year": pl.Int32})
    census = pl.DataFrame({"year": [2019, 2022, None]}, schema={"year": pl.Int32})
    inputs = Inputs(
        staged={"births": no_year, "caf_benefits": no_year.clear(), "rp_population": census, "filosofi": census},
        vintages={"rp_population": "2022"},
        membership=pl.DataFrame(),
    )
    assert (inputs.main_year("births"), inputs.comparison_year("births")) == (None, None)  # null years only
    assert (inputs.main_year("caf_benefits"), inputs.comparison_year("caf_benefits")) == (None, None)  # no row
    # a census of 2022 whose only earlier year, 2019, is less than 5 years before it: no comparison year
    assert (inputs.main_year("rp_population"), inputs.comparison_year("rp_population")) == (2022, None)
    # a yearly source: its latest year (2022), never a comparison year
    assert (inputs.main_year("filosofi"), inputs.comparison_year("filosofi")) == (2022, None)
