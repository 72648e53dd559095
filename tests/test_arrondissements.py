"""Paris, Lyon and Marseille arrondissements as territories of their own (`--commune 75101`).

Expected values are the demo mirror's literal cells, quoted in the comments, with the arithmetic written out.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from reports.site import ReportContext, render_report
from sources.codes import city_of_arrondissement
from sources.national import unknown_codes
from transforms import reasons as R
from transforms.arrondissements import arrondissement_result, city_only, placed_with_arrondissements
from transforms.compute import compute
from transforms.pipeline import diagnostic_table, export_indicators, load_inputs
from transforms.registry import indicators
from transforms.territories import Territory


@pytest.mark.parametrize(
    ("code", "city"),
    [
        ("75101", "75056"),
        ("75120", "75056"),
        ("75121", None),
        ("75100", None),
        ("69381", "69123"),
        ("69389", "69123"),
        ("69380", None),
        ("693XX", None),
        ("13201", "13055"),
        ("13216", "13055"),
        ("13217", None),
        ("132XX", None),
        ("44043", None),
        ("13055", None),
    ],
)
def test_city_of_an_arrondissement(code, city):
    assert city_of_arrondissement(code) == city


def test_an_arrondissement_is_a_territory_checked_as_one():
    t = Territory(commune="75101")
    assert t.arrondissement and t.label == "arrondissement 75101" and t.stem == "commune-75101"
    assert t.codes() == {"epcis": [], "communes": [], "departements": [], "arrondissements": ["75101"]}
    assert not Territory(commune="44043").arrondissement


def test_unknown_arrondissements_are_named(demo_store):
    # the demo world has Paris and Lyon, not Marseille: 13201 is a well-formed arrondissement it does not hold
    assert unknown_codes(demo_store, arrondissements=["75101", "69389"]) == []
    assert unknown_codes(demo_store, arrondissements=["13201"]) == ["arrondissement not in the target geography: 13201"]


@pytest.fixture(scope="module")
def table_75101(demo_store, tmp_path_factory):
    table, _ = export_indicators(demo_store, tmp_path_factory.mktemp("arm"), Territory(commune="75101"))
    return table


def _row(table: pl.DataFrame, level: str, code: str, indicator: str) -> dict:
    rows = table.filter((pl.col("level") == level) & (pl.col("code") == code) & (pl.col("indicator") == indicator))
    assert rows.height == 1, (level, code, indicator)
    return rows.row(0, named=True)


def test_the_arrondissement_is_computed_from_its_own_rows(table_75101):
    # base-cc-coupl-fam-men-2022.CSV, 75101: C22_COUPAENF 1547.68388310273, C22_FAMMONO 822.711267178236
    # 822.711267178236 / (1547.68388310273 + 822.711267178236) * 100 = 82271.1267 / 2370.39515 = 34.7078...
    row = _row(table_75101, "ARM", "75101", "part_familles_monoparentales")
    assert row["value"] == pytest.approx(822.711267178236 / (1547.68388310273 + 822.711267178236) * 100)
    assert row["numerator"] == pytest.approx(822.711267178236)
    assert row["name"] == "Paris 1er Arrondissement"
    # base-cc-evol-struct-pop-2022.CSV: 75101;16910 (P22_POP), and the city 75056;2113705, never re-summed
    assert _row(table_75101, "ARM", "75101", "population")["value"] == 16910
    assert _row(table_75101, "COM", "75056", "population")["value"] == 2113705


def test_published_figures_are_the_arrondissement_s_own_against_the_city(table_75101):
    # cc_filosofi_2021_COM.csv: 75101;8294;16587;21720;46,0;16,0 and 75056;1036654;2073315;22840;50,0;13,0
    # cc_filosofi_2021_DEP.csv: 75;…;22840;50,0;13,0 ; FE: FR;…;23820;…;11,0
    median = _row(table_75101, "ARM", "75101", "revenu_median")
    assert median["value"] == 21720 and median["status"] is None
    assert _row(table_75101, "COM", "75056", "revenu_median")["value"] == 22840
    poverty = _row(table_75101, "ARM", "75101", "taux_pauvrete")
    assert (poverty["value"], poverty["ref_dep_code"], poverty["ref_dep"], poverty["ref_france"]) == (
        16.0,
        "75",
        13.0,
        11.0,
    )
    # 16.0 against 13.0: (16 - 13) / 13 = 23 % worse than Paris (75) and (16 - 11) / 11 = 45 % worse than France,
    # both at least the 10 % of a priorité
    assert poverty["flag"] == "priorité"


def test_a_source_without_arrondissement_rows_is_city_only(demo_store):
    inputs = load_inputs(demo_store)
    filosofi = inputs.staged["filosofi"].filter(pl.col("level") != "ARM")  # as if published for cities only
    inputs = replace(inputs, staged={**inputs.staged, "filosofi": filosofi})
    items = indicators()
    assert {"revenu_median", "taux_pauvrete"} <= set(city_only(inputs, items))
    result = arrondissement_result(inputs, items)
    row = result.filter((pl.col("code") == "75101") & (pl.col("indicator") == "revenu_median")).row(0, named=True)
    assert (row["value"], row["status"]) == (None, R.CITY_ONLY)  # never 0, never the city's figure
    # the census still has the arrondissement's own rows: 75101;16910
    pop = result.filter((pl.col("code") == "75101") & (pl.col("indicator") == "population")).row(0, named=True)
    assert pop["value"] == 16910


def test_the_report_sets_the_arrondissement_against_its_city(demo_store):
    inputs = load_inputs(demo_store)
    table = diagnostic_table(demo_store, inputs=inputs)
    context = ReportContext(generated_at=datetime(2026, 1, 5, tzinfo=UTC), demo=True)
    page = render_report(table, inputs, Territory(commune="69383"), context)
    assert "Arrondissement municipal de Lyon (code Insee 69383)" in page
    assert "Lyon 3e Arrondissement face à Lyon (ville entière), à Rhône (69) et à la France" in page
    assert "Lyon (ville entière)" in page
    # a commune report is unchanged: Clisson against its EPCI
    page = render_report(table, inputs, Territory(commune="44043"), context)
    assert "(ville entière)" not in page and "CA Clisson Sèvre et Maine Agglo (EPCI)" in page


def _arm_rows_of(inputs, items) -> pl.DataFrame:
    """The ARM rows of the table as the pipeline computes it (`placed_with_arrondissements`), as `compute` names them."""
    placed = placed_with_arrondissements(inputs, (), items)
    return placed.frame().rename({"group": "code"}).filter(pl.col("level") == "ARM")


def test_the_arrondissements_in_the_communes_pass_are_those_computed_apart(demo_store):
    # every source gives the demo's arrondissements the communes' years: one pass; the same rows as in a world of
    # their own (`arrondissement_result`), and the same rows for every other place as without them
    inputs = load_inputs(demo_store)
    items = indicators()
    one_pass = _arm_rows_of(inputs, items)
    assert one_pass.height == 29 * len(items)
    assert_frame_equal(one_pass, arrondissement_result(inputs, items))
    others = placed_with_arrondissements(inputs, (), items).frame().filter(pl.col("level") != "ARM")
    assert_frame_equal(others, compute(replace(inputs, arrondissements=None), (), items).rename({"code": "group"}))


def test_arrondissements_read_at_other_years_than_the_communes_are_computed_apart(demo_store):
    # base CAF 2023 and 2024, 75101: indfoy_af 940, indfoy_ndur 2615 both years; 75056: indfoy_af 117640 and
    # indfoy_ndur 326815 in 2024. Without the arrondissements' 2024 rows (their 2023 af set to 1000), their latest
    # year is 2023: 1000 / 2615 * 100 = 38.24...; the city keeps 2024: 117640 / 326815 * 100 = 35.99...
    inputs = load_inputs(demo_store)
    caf = inputs.staged["caf_benefits"]
    arm_2024 = (pl.col("level") == "ARM") & (pl.col("year") == 2024)
    af_2023 = (pl.col("code") == "75101") & (pl.col("year") == 2023) & (pl.col("variable") == "indfoy_af")
    caf = caf.filter(~arm_2024).with_columns(value=pl.when(af_2023).then(1000.0).otherwise(pl.col("value")))
    inputs = replace(inputs, staged={**inputs.staged, "caf_benefits": caf})
    table = placed_with_arrondissements(inputs, (), indicators()).frame()
    arm = table.filter((pl.col("group") == "75101") & (pl.col("indicator") == "foyers_af")).row(0, named=True)
    assert (arm["level"], arm["numerator"], arm["denominator"]) == ("ARM", 1000.0, 2615.0)
    assert arm["value"] == pytest.approx(1000 / 2615 * 100)
    city = table.filter((pl.col("group") == "75056") & (pl.col("indicator") == "foyers_af")).row(0, named=True)
    assert (city["level"], city["numerator"], city["denominator"]) == ("COM", 117640.0, 326815.0)


def test_a_commune_row_with_an_arrondissement_s_code_is_not_the_arrondissement_s(demo_store):
    # a staged commune row 75101 (not a commune of the target COG) is left out; the arrondissement keeps its own
    # ARM row of 2024: indfoy_af 940
    inputs = load_inputs(demo_store)
    caf = inputs.staged["caf_benefits"]
    stray = caf.filter((pl.col("level") == "ARM") & (pl.col("code") == "75101")).with_columns(
        level=pl.lit("COM"), value=pl.lit(5.0)
    )
    inputs = replace(inputs, staged={**inputs.staged, "caf_benefits": pl.concat([caf, stray])})
    row = (
        _arm_rows_of(inputs, indicators())
        .filter((pl.col("code") == "75101") & (pl.col("indicator") == "foyers_af"))
        .row(0, named=True)
    )
    assert (row["numerator"], row["denominator"]) == (940.0, 2615.0)


@pytest.mark.parametrize(
    "levels",
    [
        ["ARM", "ARM", "COM", "COM", "COM", "DEP"],  # sorted by level: ARM rows just before the COM rows
        ["COM", "COM", "DEP", "ARM", "ARM"],  # ARM rows after the COM rows
        ["ARM", "COM", "COM", "ARM", "DEP"],  # ARM rows on both sides
        ["DEP", "ARM", "EPCI", "COM", "COM"],  # a level between them
        ["COM", "DEP", "COM", "ARM"],  # COM rows here and there
        ["COM", "COM", "DEP"],  # no ARM row
        ["DEP", "ARM"],  # no COM row
        ["DEP", "EPCI"],  # neither
    ],
)
def test_a_table_s_commune_rows_found_with_its_arm_rows_are_those_compared_again(levels):
    from transforms.arrondissements import _arm_rows, _commune_rows, _with_arm_rows_as_communes
    from transforms.commune_table import commune_rows, rows_at_levels

    frame = pl.DataFrame({"level": levels, "code": [f"{i:05d}" for i in range(len(levels))]})
    arm_rows, first, com = _arm_rows(frame)
    assert_frame_equal(arm_rows, rows_at_levels(frame, ("ARM",)))
    rewritten = _with_arm_rows_as_communes(frame, arm_rows, first)
    found = _commune_rows(rewritten, arm_rows, first, com)
    if found is not None:  # else the pipeline compares the levels again
        assert_frame_equal(found, commune_rows(rewritten))
    # found at least where the ARM rows come just before the COM rows, or there are none
    assert found is not None or (levels[:3] != ["ARM", "ARM", "COM"] and "ARM" in levels)
