"""The indicator engine on real INSEE files of ../shared/data/insee (skipped when absent).

Expected values are divisions of the verbatim figures of insee-sources.md §7 and
`base_cc_comparateur_2022release_extract.CSV` (header: CODGEO;P18_POP;P13_POP;SUPERF;NAIS1318;DECE1318;P18_MEN;
NAISD20;DECESD20;P18_LOG;P18_RP;P18_RSECOCC;P18_LOGVAC;P18_RP_PROP;NBMENFISC19;PIMP19;MED19;TP6019;P18_EMPLT;
P18_EMPLT_SAL;P13_EMPLT;P18_POP1564;P18_CHOM1564;P18_ACT1564;...), and Filosofi 2021 as published (§7 table).
"""

from __future__ import annotations

import polars as pl
import pytest

from sources import catalogue
from sources.filosofi import stage_level_file
from sources.values import NOT_AVAILABLE, SECRET
from tests.comparateur import read_comparateur
from tests.conftest import real_file
from transforms import reasons as R
from transforms.compute import Inputs, compute
from transforms.registry import get
from transforms.territories import FRANCE, CustomTerritory

pytestmark = pytest.mark.realdata

CENSUS = ("rp_population", "rp_housing", "rp_employment")


def membership_of(codes: list[str]) -> pl.DataFrame:
    """Communes with their département (2 characters, 3 for the DOM 97x) and no EPCI."""
    code = pl.col("code")
    return pl.DataFrame({"code": sorted(set(codes))}, schema={"code": pl.String}).with_columns(
        name=code,
        dep=pl.when(code.str.starts_with("97")).then(code.str.slice(0, 3)).otherwise(code.str.slice(0, 2)),
        reg=pl.lit(None, pl.String),
        epci=pl.lit(None, pl.String),
    )


@pytest.fixture(scope="module")
def comparateur_result() -> pl.DataFrame:
    frame = read_comparateur(real_file("base_cc_comparateur_csv.zip"))
    communes = frame.filter(pl.col("level") == "COM")["code"].unique().to_list()
    # the comparateur holds RP 2018 (P18_) with P13_POP: the census main year comes from the vintage of rp_* sources
    inputs = Inputs(
        staged={s: frame for s in CENSUS}, vintages={s: "2018" for s in CENSUS}, membership=membership_of(communes)
    )
    items = tuple(
        get(i) for i in ("taux_chomage_rp", "taux_vacance", "part_proprietaires", "croissance_annuelle", "population")
    )
    return compute(inputs, items=items)


def _row(result: pl.DataFrame, level: str, code: str, indicator: str) -> dict:
    rows = result.filter((pl.col("level") == level) & (pl.col("code") == code) & (pl.col("indicator") == indicator))
    assert rows.height == 1
    return rows.row(0, named=True)


@pytest.mark.parametrize(
    "code, indicator, expected",
    [
        # Clisson 44043: P18_CHOM1564 / P18_ACT1564 = 373.152299011456 / 3503.61789584796 = 10.650 %
        ("44043", "taux_chomage_rp", 100 * 373.152299011456 / 3503.61789584796),
        # P18_LOGVAC / P18_LOG = 278.857644991213 / 3579.05565287503 = 7.791 %
        ("44043", "taux_vacance", 100 * 278.857644991213 / 3579.05565287503),
        # P18_RP_PROP / P18_RP = 2091.50111964506 / 3230.99999968229 = 64.732 %
        ("44043", "part_proprietaires", 100 * 2091.50111964506 / 3230.99999968229),
        # P18_POP 7399 against P13_POP 6662 over n = 2018 - 2013 = 5 years: +2.121 % a year
        ("44043", "croissance_annuelle", ((7399 / 6662) ** (1 / 5) - 1) * 100),
        # Cholet 49099: 3686.37868904888 / 24777.8614820221 = 14.878 %
        ("49099", "taux_chomage_rp", 100 * 3686.37868904888 / 24777.8614820221),
        # 1460.70832136389 / 27462.8753258046 = 5.319 %
        ("49099", "taux_vacance", 100 * 1460.70832136389 / 27462.8753258046),
        # 14444.6632959987 / 25543.3985325408 = 56.550 %
        ("49099", "part_proprietaires", 100 * 14444.6632959987 / 25543.3985325408),
        ("49099", "croissance_annuelle", ((54186 / 53890) ** (1 / 5) - 1) * 100),
    ],
)
def test_comparateur_rates_of_clisson_and_cholet(comparateur_result, code, indicator, expected):
    row = _row(comparateur_result, "COM", code, indicator)
    assert row["status"] is None
    assert row["value"] == pytest.approx(expected, rel=1e-12)


def test_comparateur_counts_and_comparison_year(comparateur_result):
    clisson = _row(comparateur_result, "COM", "44043", "population")
    assert (clisson["value"], clisson["value_comparison"]) == (7399, 6662)  # P18_POP, P13_POP
    # the comparateur has no P13 housing or employment counts: no evolution, and the reason says why
    assert _row(comparateur_result, "COM", "44043", "taux_vacance")["status_comparison"] == NOT_AVAILABLE


def test_comparateur_mayotte_is_not_available_but_france_stays_a_reference(comparateur_result):
    """The 17 Mayotte communes have empty RP cells: Mayotte and its département are unknown; France is the sum of
    the communes the census covers, marked `partial_coverage`, so every territory keeps a French reference."""
    import csv
    import io
    import zipfile

    assert _row(comparateur_result, "COM", "97601", "taux_chomage_rp")["status"] == NOT_AVAILABLE
    assert _row(comparateur_result, "DEP", "976", "taux_chomage_rp")["status"] == NOT_AVAILABLE
    # by hand, straight from the CSV: the sum of P18_CHOM1564 and P18_ACT1564 over the commune rows
    # (arrondissements excluded: their cities carry them) that have a value, i.e. all but Mayotte
    with zipfile.ZipFile(real_file("base_cc_comparateur_csv.zip")) as zf:
        text = zf.read("base_cc_comparateur.CSV").decode("utf-8")
    chom = act = 0.0
    for row in csv.DictReader(io.StringIO(text), delimiter=";"):
        arrondissement = row["CODGEO"].startswith(("751", "6938", "132"))  # 75101…, 69381…, 13201…
        if row["P18_ACT1564"] and not arrondissement:
            chom, act = chom + float(row["P18_CHOM1564"]), act + float(row["P18_ACT1564"])
    france = _row(comparateur_result, "FRANCE", FRANCE, "taux_chomage_rp")
    assert france["status"] == R.PARTIAL_COVERAGE
    assert france["value"] == pytest.approx(100 * chom / act, rel=1e-9)
    loire_atlantique = _row(comparateur_result, "DEP", "44", "taux_chomage_rp")
    assert loire_atlantique["status"] is None and 0 < loire_atlantique["value"] < 100


@pytest.fixture(scope="module")
def filosofi_result() -> pl.DataFrame:
    staged = stage_level_file(
        catalogue.get("filosofi", "2021"), real_file("cc_filosofi_2021_COM.csv"), "COM", geo=None
    ).frame
    communes = staged.filter(pl.col("level") == "COM")["code"].to_list()
    inputs = Inputs(staged={"filosofi": staged}, vintages={"filosofi": "2021"}, membership=membership_of(communes))
    territory = CustomTerritory("Cholet et Clisson", ("49099", "44043"))
    return compute(inputs, (territory,), items=(get("revenu_median"), get("taux_pauvrete")))


def test_filosofi_median_and_poverty_rate_of_cholet(filosofi_result):
    median = _row(filosofi_result, "COM", "49099", "revenu_median")
    poverty = _row(filosofi_result, "COM", "49099", "taux_pauvrete")
    assert (median["value"], median["status"], median["published_year"]) == (21960, None, 2021)  # 21,960 euros
    assert (poverty["value"], poverty["status"]) == (14.0, None)  # 14.0 %
    assert _row(filosofi_result, "COM", "44043", "revenu_median")["value"] == 25170  # Clisson, §7


def test_filosofi_reasons_pass_through_the_engine(filosofi_result):
    # 01001: counts and median published, rates `s`; 01019 entirely `s`; 09304 `nd` (extract file)
    assert _row(filosofi_result, "COM", "01001", "revenu_median")["value"] == 25820
    assert _row(filosofi_result, "COM", "01001", "taux_pauvrete")["status"] == SECRET
    assert _row(filosofi_result, "COM", "01019", "revenu_median")["status"] == SECRET
    assert _row(filosofi_result, "COM", "09304", "revenu_median")["status"] == NOT_AVAILABLE
    # a median is never made up for a group of communes
    assert _row(filosofi_result, "TERRITORY", "TERRITOIRE", "revenu_median")["status"] == R.NOT_AGGREGABLE
