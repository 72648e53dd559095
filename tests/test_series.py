"""Series of the indicators year by year, the baseline year, the change since it, and their exports.

Two worlds, every expected value computed by hand from the input files:
- the hand-made world of tests/test_indicators.py (six communes, CAF December 2023 and 2024, births 2016-2022,
  census 2011, 2016 and 2022), for the arithmetic and the definition break;
- the demo store (the demo mirror refreshed), for a commune merged on 2025-01-01 across the CAF years, communes
  restored on 2024-01-01, and the confidential births cell of Maillezais (85133) in 2015.
"""

from __future__ import annotations

import polars as pl
import pytest
from test_indicators import ALPHA, BRAVO, E1, world_inputs
from typer.testing import CliRunner

from transforms import reasons as R
from transforms import series as S
from transforms.pipeline import load_inputs
from transforms.registry import get


def row(table: pl.DataFrame, level: str, code: str, indicator: str, year: int) -> dict:
    rows = table.filter(
        (pl.col("level") == level)
        & (pl.col("code") == code)
        & (pl.col("indicator") == indicator)
        & (pl.col("year") == year)
    ).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture(scope="module")
def world_series() -> pl.DataFrame:
    return S.compute_series(world_inputs())


@pytest.fixture(scope="module")
def demo_series(demo_store) -> pl.DataFrame:
    with demo_store.pinned() as store:
        return S.compute_series(S.series_inputs(store, load_inputs(store)))


# -- the hand-made world --------------------------------------------------------------------------------------------


def test_each_year_follows_the_rules_of_today(world_series):
    # RSA households of E1 (Alpha, Bravo, Charlie, Delta) over census 2022 households (Alpha, Bravo, Charlie):
    # December 2024: (400 + 30 + 20 + 5) / (8000 + 1200 + 800) x 100 = 455 / 10000 x 100 = 4.55
    # December 2023 (the world's 2023 counts are twice 2024's): 910 / 10000 x 100 = 9.1; census: latest up to 2023
    r24, r23 = row(world_series, "EPCI", E1, "foyers_rsa", 2024), row(world_series, "EPCI", E1, "foyers_rsa", 2023)
    assert (r24["numerator"], r24["denominator"]) == (455, 10000) and r24["value"] == pytest.approx(4.55)
    assert (r23["numerator"], r23["denominator"]) == (910, 10000) and r23["value"] == pytest.approx(9.1)
    assert r23["source"] == "Cnaf, allocataires décembre 2023 ; Insee, recensement 2022"
    # births of E1: 2016 = 250 + 30 + 20 + 5 = 305; 2022 = 240 + 30 + 20 + 5 = 295
    assert row(world_series, "EPCI", E1, "naissances", 2016)["value"] == 305
    assert row(world_series, "EPCI", E1, "naissances", 2022)["value"] == 295
    # CAF coverage is the publisher's figure of each year: E1 2022 = 40 + 10 (the world adds 10 in 2022), 2023 = 40
    assert row(world_series, "EPCI", E1, "taux_couverture_global", 2022)["value"] == 50
    assert row(world_series, "EPCI", E1, "taux_couverture_global", 2023)["value"] == 40


def test_census_years_and_no_series_for_growth(world_series):
    # population of Alpha in 2011, 2016, 2022: the census years of the staged table
    assert [row(world_series, "COM", ALPHA, "population", y)["value"] for y in (2011, 2016, 2022)] == [
        18000,
        19000,
        20000,
    ]
    assert world_series.filter(
        pl.col("indicator").is_in(["croissance_annuelle", "croissance_solde_naturel"])
    ).is_empty()


def test_a_year_with_a_secret_cell_is_null_with_its_reason_not_a_partial_sum():
    inputs = world_inputs()
    births = inputs.staged["births"]
    secret = (pl.col("code") == BRAVO) & (pl.col("year") == 2018)
    inputs.staged["births"] = births.with_columns(
        value=pl.when(secret).then(None).otherwise(pl.col("value")),
        status=pl.when(secret).then(pl.lit(R.SECRET)).otherwise(pl.col("status")),
    )
    table = S.compute_series(inputs, items=(get("naissances"),))
    assert row(table, "EPCI", E1, "naissances", 2018)["value"] is None
    assert row(table, "EPCI", E1, "naissances", 2018)["status"] == R.SECRET
    assert row(table, "COM", ALPHA, "naissances", 2018)["value"] == 250  # Alpha's own figure stays
    assert row(table, "EPCI", E1, "naissances", 2019)["value"] == 305  # 250 + 30 + 20 + 5
    changes = S.changes(table, 2018).filter((pl.col("level") == "EPCI") & (pl.col("code") == E1)).to_dicts()[0]
    assert changes["change"] is None and changes["change_status"] == R.SECRET


def test_a_definition_break_is_shown_and_not_compared(world_series):
    # overcrowding of E1 in 2016 (the older definition is in the world's file):
    # (300 + 30 + 20 + 60 + 6 + 4) / (7600 + 1100 + 700) x 100 = 420 / 9400 x 100 = 4.468...
    old = row(world_series, "EPCI", E1, "part_suroccupation", 2016)
    assert old["value"] == pytest.approx(420 / 9400 * 100) and old["comparable"] is False
    assert row(world_series, "EPCI", E1, "part_suroccupation", 2022)["comparable"] is True
    change = (
        S.changes(world_series, 2016)
        .filter((pl.col("code") == E1) & (pl.col("indicator") == "part_suroccupation"))
        .to_dicts()[0]
    )
    assert change["change"] is None and change["change_status"] == R.DEFINITION_CHANGE
    # an indicator without a break is compared across the same years
    vacancy = (
        S.changes(world_series, 2016)
        .filter((pl.col("code") == E1) & (pl.col("indicator") == "taux_vacance"))
        .to_dicts()[0]
    )
    # (600 + 150 + 100) / (9000 + 1500 + 1000) = 850 / 11500 = 7.391 %; 2016: (425 + 140 + 90) / (8500 + 1400
    # + 900) = 655 / 10800 = 6.065 %; change 7.391 - 6.065 = 1.327 points
    assert vacancy["change"] == pytest.approx(850 / 11500 * 100 - 655 / 10800 * 100)
    assert vacancy["change_unit"] == "points"


def test_changes_in_points_for_rates_and_percent_for_counts(world_series):
    moved = S.changes(world_series, 2023).filter((pl.col("level") == "EPCI") & (pl.col("code") == E1))
    by = {r["indicator"]: r for r in moved.to_dicts()}
    assert by["foyers_rsa"]["change"] == pytest.approx(4.55 - 9.1) and by["foyers_rsa"]["change_unit"] == "points"
    # places of E1: 2023 = 1000, 2022 = 1007 (the world adds 7 in 2022): (1000 - 1007) / 1007 x 100 from 2022
    places = S.changes(world_series, 2022).filter(
        (pl.col("code") == E1) & (pl.col("indicator") == "places_accueil_jeune_enfant")
    )
    assert places["change"][0] == pytest.approx(-7 / 1007 * 100) and places["change_unit"][0] == "percent"
    # the world's births end in 2022: nothing published after a 2023 baseline
    assert by["naissances"]["change"] is None and by["naissances"]["change_status"] == S.NO_LATER_YEAR
    # coverage holds 2022-2023 only: a 2021 baseline is absent from its series
    coverage = S.changes(world_series, 2021).filter(
        (pl.col("code") == E1) & (pl.col("indicator") == "taux_couverture_global")
    )
    assert coverage["change"][0] is None and coverage["change_status"][0] == S.NO_BASELINE


# -- the baseline --------------------------------------------------------------------------------------------------


def test_default_baseline_is_the_oldest_common_year():
    years = {
        "caf_benefits": [2020, 2021, 2022, 2023, 2024],
        "caf_coverage": list(range(2017, 2024)),
        "births": list(range(2008, 2025)),
    }
    assert S.default_baseline(years) == 2020
    assert S.default_baseline({"a": [2017, 2018], "b": [2020, 2021]}) == 2020  # none shared: the latest first year
    assert S.resolve_baseline(2018, years) == 2018  # held by coverage and births: the others say why per indicator


def test_a_baseline_no_source_holds_is_refused_with_the_years():
    years = {"births": list(range(2008, 2025)), "caf_benefits": [2020, 2021, 2022, 2023, 2024]}
    with pytest.raises(S.BaselineError) as error:
        S.check_baseline(2030, years)
    assert "baseline 2030" in str(error.value)
    assert "births: 2008-2024" in str(error.value) and "caf_benefits: 2020-2024" in str(error.value)


# -- the demo world ------------------------------------------------------------------------------------------------


def test_a_merged_commune_across_the_caf_years(demo_series):
    # 44088 absorbed 44100 on 2025-01-01: December 2021 is in COG 2022 (two communes), summed into 44088.
    # s_ben_com_f 2021-12: indfoy_rsa 44088 = 30, 44100 = 20 -> 50. Census 2021 (COG 2024) P21_MEN:
    # 44088 = 1327.34807094711, 44100 = 898.166255046685 -> 2225.514326 households; 50 / 2225.514326 x 100
    r = row(demo_series, "COM", "44088", "foyers_rsa", 2021)
    assert r["numerator"] == 50 and r["denominator"] == pytest.approx(1327.34807094711 + 898.166255046685)
    assert r["value"] == pytest.approx(50 / (1327.34807094711 + 898.166255046685) * 100)
    assert "44100" not in demo_series["code"].to_list()


def test_restored_communes_across_the_caf_years(demo_series):
    # 85165 and 85212 were inside 85084 until 2024-01-01: December 2021 (COG 2022) has 85084 = 90 only, so the
    # restored commune is null non_recalculable while the EPCI sums 90; December 2023 (COG 2024): 65 + 10 + 10 = 85
    assert row(demo_series, "COM", "85165", "foyers_rsa", 2021)["status"] == R.NON_RECALCULABLE
    assert row(demo_series, "EPCI", "248500589", "foyers_rsa", 2021)["numerator"] == 90
    assert row(demo_series, "EPCI", "248500589", "foyers_rsa", 2023)["numerator"] == 85
    assert row(demo_series, "COM", "85165", "foyers_rsa", 2023)["numerator"] == 10


def test_the_confidential_births_cell_of_2015(demo_series):
    # births of CC Vendée Sèvre Autise (85020, 85133, 85162, 85303): 2014 = 41 + 11 + 26 + 18 = 96;
    # 2015: Maillezais (85133) is CONF_STATUS C -> null secret; 2016 = 36 + 9 + 26 + 17 = 88
    assert row(demo_series, "EPCI", "200029940", "naissances", 2014)["value"] == 96
    secret = row(demo_series, "EPCI", "200029940", "naissances", 2015)
    assert secret["value"] is None and secret["status"] == R.SECRET
    assert row(demo_series, "COM", "85020", "naissances", 2015)["value"] == 39
    assert row(demo_series, "EPCI", "200029940", "naissances", 2016)["value"] == 88


def test_demo_years_and_default_baseline(demo_store):
    with demo_store.pinned() as store:
        years = S.yearly_years(load_inputs(store))
    assert years["caf_benefits"] == [2020, 2021, 2022, 2023, 2024]
    assert years["caf_coverage"] == list(range(2017, 2024)) and years["births"] == list(range(2008, 2025))
    assert S.default_baseline(years) == 2020


# -- exports -------------------------------------------------------------------------------------------------------


def test_series_export_of_an_epci(demo_store, tmp_path):
    from flows.cli import app

    result = CliRunner().invoke(
        app,
        [
            "indicators",
            "--epci",
            "200029940",
            "--series",
            "--baseline",
            "2022",
            "--data-dir",
            str(demo_store.root),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(tmp_path / "series-epci-200029940.parquet")
    births = table.filter((pl.col("level") == "EPCI") & (pl.col("indicator") == "naissances")).sort("year")
    assert births["year"].to_list() == list(range(2008, 2025))
    # 2024 births of the EPCI against 2022: read from the same file's rows (the arithmetic of `changes`)
    b22, b24 = births.filter(pl.col("year") == 2022)["value"][0], births.filter(pl.col("year") == 2024)["value"][0]
    assert births["change"][0] == pytest.approx((b24 - b22) / b22 * 100) and births["baseline_year"][0] == 2022
    csv = (tmp_path / "series-epci-200029940.csv").read_text(encoding="utf-8-sig")
    assert csv.splitlines()[0].startswith("niveau;code;nom;thème;indicateur;libellé;unité;année;valeur")
    assert (tmp_path / "series-epci-200029940.xlsx").exists()


def test_baseline_options_are_checked(demo_store, tmp_path):
    from flows.cli import app

    def run(*args: str):
        where = ["--epci", "200029940", "--data-dir", str(demo_store.root), "--out", str(tmp_path)]
        return CliRunner().invoke(app, [*args, *where])

    result = run("indicators", "--baseline", "2022")
    assert result.exit_code == 2 and "add --series" in result.output
    result = run("indicators", "--series", "--baseline", "1999")
    assert result.exit_code == 2 and "caf_benefits: 2020-2024" in result.output
    result = run("report", "--baseline", "1999", "--refresh", "never")
    assert result.exit_code == 2 and "--baseline: baseline 1999" in result.output


def test_older_vintages_join_the_series_each_year_from_the_newest():
    def frame(vintage: str, rows: list[tuple[int, float]]) -> pl.DataFrame:
        return pl.DataFrame({"vintage": vintage, "year": [y for y, _ in rows], "value": [v for _, v in rows]})

    # vintage 2022 holds 2011, 2016, 2022; vintage 2021 holds 2010, 2015, 2021 and a different 2016 (ignored)
    merged = S.merge_vintages(
        {
            "2021": frame("2021", [(2010, 1.0), (2015, 2.0), (2016, 9.0), (2021, 3.0)]),
            "2022": frame("2022", [(2011, 4.0), (2016, 5.0), (2022, 6.0)]),
        }
    )
    assert sorted(merged.select("year", "vintage", "value").rows()) == [
        (2010, "2021", 1.0),
        (2011, "2022", 4.0),
        (2015, "2021", 2.0),
        (2016, "2022", 5.0),
        (2021, "2021", 3.0),
        (2022, "2022", 6.0),
    ]


def test_the_demo_census_years_come_from_both_vintages(demo_series):
    # RP 2022 holds 2011, 2016, 2022 and RP 2021 holds 2010, 2015, 2021: every year is in the census series
    years = demo_series.filter((pl.col("code") == "44043") & (pl.col("indicator") == "population"))["year"]
    assert years.to_list() == [2010, 2011, 2015, 2016, 2021, 2022]


def test_the_series_of_every_territory_has_no_workbook(demo_store, tmp_path):
    from transforms.series_export import export_series

    table, paths = export_series(demo_store, tmp_path)
    assert sorted(paths) == ["csv", "parquet"] and not (tmp_path / "series-france.xlsx").exists()
    assert set(table["level"].unique().to_list()) == {"COM", "EPCI", "DEP", "FRANCE"}
    # the baseline defaults to 2020, the oldest year every yearly source of the demo holds
    assert table["baseline_year"].unique().to_list() == [2020]
