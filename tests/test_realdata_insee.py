"""The project's own parsers on the real INSEE files of ../shared/data/insee (skipped when absent).

Expected figures come from ../shared/data/insee/README.md and insee-sources.md (§2.1, §2.2, §7), not from the
code's output. COG membership is not checked: the COG 2021 / 2024 lists are not available offline
(decisions.md "Validation of codes"); every other rule runs.
"""

from __future__ import annotations

import csv

import polars as pl
import pytest

from sources import catalogue
from sources.filosofi import stage_level_file
from sources.values import NOT_AVAILABLE, SECRET
from tests.comparateur import read_comparateur
from tests.conftest import real_file

pytestmark = pytest.mark.realdata

FILOSOFI = catalogue.get("filosofi", "2021")
ND_CODES = [
    "09304",
    "29083",
    "29084",
    "55039",
    "55050",
    "55139",
    "55189",
    "55239",
    "55307",
    "60694",
    "85165",
    "85212",
]  # insee-sources §2.1


def _value(frame: pl.DataFrame, code: str, variable: str, year: int | None = None):
    rows = frame.filter((pl.col("code") == code) & (pl.col("variable") == variable))
    if year is not None:
        rows = rows.filter(pl.col("year") == year)
    assert rows.height == 1, (code, variable, year, rows)
    return rows["value"][0], rows["status"][0]


@pytest.fixture(scope="module")
def filosofi():
    path = real_file("cc_filosofi_2021_COM.csv")
    return path, stage_level_file(FILOSOFI, path, "COM", geo=None)


@pytest.fixture(scope="module")
def comparateur():
    return read_comparateur(real_file("base_cc_comparateur_csv.zip"))


# -- Filosofi 2021 geo2024, cc_filosofi_2021_COM.csv --------------------------------------------------------------


def test_filosofi_rows_levels_and_year(filosofi):
    _, staged = filosofi
    frame = staged.frame
    per_area = frame.group_by("level", "code").len()
    assert per_area.height == 34_909  # README: 34,910 lines = header + 34,909 rows
    assert set(per_area["len"].to_list()) == {27}  # 27 value columns each
    assert per_area.filter(pl.col("level") == "ARM").height == 45
    assert frame["year"].unique().to_list() == [2021]
    assert frame.filter(pl.col("code").is_in(["2A004", "2B033"]))["code"].n_unique() == 2  # Corsica kept as text
    assert _value(frame, "01001", "NBMENFISC")[1] is None  # leading zero kept (01001 is published)


def test_filosofi_secret_cells_are_null_secret_never_zero(filosofi):
    path, staged = filosofi
    frame = staged.frame
    fully = frame.group_by("code").agg(pl.col("status").eq_missing(SECRET).all().alias("all_s")).filter("all_s")
    assert fully.height == 3_593  # README: 3,593 rows entirely `s`
    secret = frame.filter(pl.col("status") == SECRET)
    assert secret["value"].null_count() == secret.height
    # every `s` cell of the file, counted straight from the text, is a secret null: none became 0
    with path.open(newline="") as handle:
        s_cells = sum(row.count("s") for row in csv.reader(handle, delimiter=";"))
    assert secret.height == s_cells


def test_filosofi_nd_rows_are_not_available(filosofi):
    frame = filosofi[1].frame
    nd = frame.filter(pl.col("status") == NOT_AVAILABLE)
    assert sorted(nd["code"].unique().to_list()) == ND_CODES  # README: 12 rows entirely `nd`
    assert nd.height == 12 * 27 and nd["value"].null_count() == nd.height


def test_filosofi_hand_checked_values(filosofi):
    frame = filosofi[1].frame
    assert _value(frame, "49099", "MED") == (21960.0, None)  # Cholet
    assert _value(frame, "49099", "TP60") == (14.0, None)  # "14,0"
    assert _value(frame, "44043", "MED") == (25170.0, None)  # Clisson
    assert _value(frame, "44043", "TP60") == (8.0, None)
    assert _value(frame, "44043", "PIMPOT") == (-15.7, None)  # §2.2 verbatim row: …;-15,7;14760;40910;2,8
    assert _value(frame, "44043", "RD") == (2.8, None)
    assert _value(frame, "44142", "MED") == (22900.0, None)  # Remouillé: median published…
    for variable in ("PIMP", "TP60", "PACT", "D1", "RD"):  # …next to secret rates
        assert _value(frame, "44142", variable) == (None, SECRET)


def test_filosofi_secret_rule_of_2021(filosofi):
    """insee-sources §2.2: details iff NBMENFISC >= 1000 or NBPERSMENFISC >= 2000; MED on 31,304 rows."""
    wide = filosofi[1].frame.pivot(on="variable", index="code", values="value")
    assert wide.filter(pl.col("MED").is_not_null()).height == 31_304
    details = wide.filter(pl.col("PACT").is_not_null())
    assert details.height == 5_348
    rule = (pl.col("NBMENFISC") >= 1000) | (pl.col("NBPERSMENFISC") >= 2000)
    assert wide.filter(rule).height == 5_348 and details.filter(rule).height == 5_348
    assert wide.filter(pl.col("TP60").is_not_null()).height == 4_397


# -- Comparateur (January 2022 release: RP 2018, COG 2021) ----------------------------------------------------


def test_comparateur_rows_and_levels(comparateur):
    codes = comparateur.select("level", "code").unique()
    assert codes.height == 35_010  # 34,965 communes + 45 arrondissements
    assert codes.filter(pl.col("level") == "ARM").height == 45
    assert comparateur.height == 35_010 * 32  # 32 variables


def test_comparateur_hand_checked_values(comparateur):
    # 44043;7399;6662;11.3;…;3503.61789584796;… (insee-sources §7, verbatim)
    assert _value(comparateur, "44043", "P_POP", 2018) == (7399.0, None)
    assert _value(comparateur, "44043", "P_POP", 2013) == (6662.0, None)
    chom, _ = _value(comparateur, "44043", "P_CHOM1564", 2018)
    act, _ = _value(comparateur, "44043", "P_ACT1564", 2018)
    assert chom == pytest.approx(373.152299011456, abs=1e-9)
    assert act == pytest.approx(3503.61789584796, abs=1e-9)
    assert _value(comparateur, "44043", "NAISD", 2020) == (79.0, None)
    assert _value(comparateur, "49099", "NAISD", 2020) == (542.0, None)
    assert _value(comparateur, "85020", "NAISD", 2020) == (18.0, None)
    assert _value(comparateur, "44043", "MED", 2019) == (23740.0, None)
    assert _value(comparateur, "01001", "PIMP", 2019) == (None, SECRET)  # 01001;…;322;;23970;;…


def test_comparateur_empty_cells(comparateur):
    def status_count(variable: str, status: str) -> int:
        return comparateur.filter((pl.col("variable") == variable) & (pl.col("status") == status)).height

    assert status_count("PIMP", SECRET) == 29_667  # README: PIMP19 empty in 29,667 rows
    assert status_count("TP60", SECRET) == 30_642
    assert status_count("MED", SECRET) == 3_653 and status_count("NBMENFISC", SECRET) == 3_653
    mayotte = [f"976{i:02d}" for i in range(1, 18)]
    pop = comparateur.filter((pl.col("variable") == "P_POP") & pl.col("code").is_in(mayotte))
    assert pop.height == 34 and set(pop["status"].to_list()) == {NOT_AVAILABLE}  # 17 communes x (2018, 2013)
