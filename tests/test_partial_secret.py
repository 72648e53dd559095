"""A rate above the commune level computed without its secret communes (issue 13, `transforms.partial`), on the
hand-made world of tests/test_indicators.py (its docstring lists the communes; every value below by hand).

Population 2022 (census main year): Alpha 20000, Bravo 3000, Charlie 2000 (Delta's inside), Echo 1000, Paris
40000; 2016: 19000, 2900, 1600, 1100, 42000. Births and deaths per year 2016-2021 (Alpha, Bravo, Charlie, Delta,
Echo, Paris): (250, 30, 20, 5, 10, 500) and (150, 30, 25, 5, 15, 300). The rule: the known communes must hold at
least 90 % of the territory's population."""

from __future__ import annotations

import polars as pl
import pytest

from tests.test_indicators import ALPHA, BRAVO, E1, ECHO, TERRITORY, world_inputs, world_staged
from transforms import reasons as R
from transforms.compute import compute
from transforms.registry import get
from transforms.territories import FRANCE, CustomTerritory

ITEMS = (get("croissance_solde_naturel"), get("croissance_solde_migratoire"), get("naissances"))


def with_secret_births(commune: str, years: tuple[int, ...], customs: tuple[CustomTerritory, ...] = (TERRITORY,)):
    staged = world_staged()
    secret = (pl.col("code") == commune) & pl.col("year").is_in(list(years))
    staged["births"] = staged["births"].with_columns(
        value=pl.when(secret).then(None).otherwise(pl.col("value")),
        status=pl.when(secret).then(pl.lit(R.SECRET)).otherwise(pl.col("status")),
    )
    result = compute(world_inputs(staged), customs, items=ITEMS)
    return {(r["level"], r["code"], r["indicator"]): r for r in result.iter_rows(named=True)}


def test_france_is_computed_without_a_small_secret_commune_and_says_what_it_covers():
    rows = with_secret_births(BRAVO, (2018,))
    # Bravo's own value stays secret
    assert rows[("COM", BRAVO, "croissance_solde_naturel")]["status"] == R.SECRET
    # France without Bravo: Alpha, Charlie, Delta, Echo, Paris. Balance a year 785 - 495 = 290 births over deaths;
    # population 2022 20000 + 2000 + 1000 + 40000 = 63000, 2016 19000 + 1600 + 1100 + 42000 = 63700 (mean 63350)
    france = rows[("FRANCE", FRANCE, "croissance_solde_naturel")]
    assert france["status"] == R.PARTIAL_SECRET
    assert france["value"] == pytest.approx(290 / 63350 * 100)
    assert france["coverage"] == pytest.approx(63000 / 66000)  # 95.5 % of 66000 inhabitants
    migration = rows[("FRANCE", FRANCE, "croissance_solde_migratoire")]
    growth = ((63000 / 63700) ** (1 / 6) - 1) * 100
    assert migration["status"] == R.PARTIAL_SECRET
    assert migration["value"] == pytest.approx(growth - 290 / 63350 * 100)
    # Bravo is 3000 of E1's 25000 (12 %), of DEP 44's 26000 (11.5 %) and of the territory's 24000 (12.5 %): the
    # known communes hold less than 90 %, those stay secret
    for key in (("EPCI", E1), ("DEP", "44"), ("TERRITORY", TERRITORY.code)):
        row = rows[(*key, "croissance_solde_naturel")]
        assert (row["value"], row["status"], row["coverage"]) == (None, R.SECRET, None), key


def test_a_departement_without_a_secret_commune_of_4_percent_and_counts_stay_empty():
    rows = with_secret_births(ECHO, (2018, 2022))
    # DEP 44 without Echo (1000 of 26000: 96.2 % covered): births 305 - deaths 210 = 95 a year over Alpha, Bravo,
    # Charlie, Delta; population 25000 (2022) and 23500 (2016), mean 24250
    dep = rows[("DEP", "44", "croissance_solde_naturel")]
    assert (dep["status"], dep["coverage"]) == (R.PARTIAL_SECRET, pytest.approx(25000 / 26000))
    assert dep["value"] == pytest.approx(95 / 24250 * 100)
    # E1 holds no secret commune: computed as always, no coverage said
    e1 = rows[("EPCI", E1, "croissance_solde_naturel")]
    assert e1["status"] is None and e1["coverage"] is None
    # a count is never completed without its parts: births 2022 of DEP 44 stay secret
    births = rows[("DEP", "44", "naissances")]
    assert (births["value"], births["status"]) == (None, R.SECRET)
    assert rows[("COM", ALPHA, "naissances")]["value"] == 240


def test_two_custom_territories_sharing_a_secret_commune_are_each_judged_on_their_own_communes():
    # Echo (1000 inhabitants) secret in both, its communes listed after or before the others
    with_alpha = CustomTerritory("Echo et Alpha", (ECHO, ALPHA), "T1")
    with_bravo = CustomTerritory("Bravo et Echo", (BRAVO, ECHO), "T2")
    rows = with_secret_births(ECHO, (2018,), (with_alpha, with_bravo))
    # T1 without Echo is Alpha: 20000 of 21000 inhabitants (95.2 %); births 250 - deaths 150 = 100 a year over a
    # mean population of (20000 + 19000) / 2 = 19500
    t1 = rows[("TERRITORY", "T1", "croissance_solde_naturel")]
    assert (t1["status"], t1["coverage"]) == (R.PARTIAL_SECRET, pytest.approx(20000 / 21000))
    assert t1["value"] == pytest.approx(100 / 19500 * 100)
    migration = rows[("TERRITORY", "T1", "croissance_solde_migratoire")]
    growth = ((20000 / 19000) ** (1 / 6) - 1) * 100
    assert (migration["status"], migration["value"]) == (R.PARTIAL_SECRET, pytest.approx(growth - 100 / 19500 * 100))
    # T2 without Echo is Bravo: 3000 of 4000 inhabitants (75 %), under the 90 % the rule asks: still secret
    t2 = rows[("TERRITORY", "T2", "croissance_solde_naturel")]
    assert (t2["value"], t2["status"], t2["coverage"]) == (None, R.SECRET, None)


def test_the_report_says_what_a_partial_value_covers():
    from reports.tables import coverage_text

    assert coverage_text(63000 / 66000) == "95,5\u202f%"  # 95.45 % rounds to 95,5
    assert coverage_text(0.9997) == "plus de 99,9\u202f%"  # never « 100,0 % » for a value without a commune
