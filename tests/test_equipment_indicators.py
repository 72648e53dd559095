"""The equipment indicators (BPE) and the early-childhood observatory, on a hand-made territory.

Five communes in two EPCIs and two départements, with hand-written census, births, BPE and CAF figures; every
expected value is computed by hand in a comment.
"""

from __future__ import annotations

import polars as pl
import pytest

from reports.sections import early_childhood
from reports.view import territory_view
from sources.values import STAGED_SCHEMA
from transforms.compute import Inputs, compute
from transforms.pipeline import Selection, diagnostic_table
from transforms.registry import get, indicators

CLISSON_EPCI, CHOLET_EPCI = "200067346", "200071678"
MEMBERSHIP = pl.DataFrame(
    {
        "code": ["44043", "44064", "44142", "44184", "49099"],
        "name": ["Clisson", "Gorges", "Remouillé", "Saint-Julien-de-Concelles", "Cholet"],
        "dep": ["44", "44", "44", "44", "49"],
        "reg": ["52"] * 5,
        "epci": [CLISSON_EPCI, CLISSON_EPCI, CLISSON_EPCI, CHOLET_EPCI, CHOLET_EPCI],  # 44184 moved for the test
    }
)
# code: (population, children 0-2, children 3-5)
CENSUS = {
    "44043": (7000, 100, 110),
    "44064": (5000, 80, 90),
    "44142": (2000, 30, 35),
    "44184": (6000, 90, 95),
    "49099": (54000, 500, 520),
}
# code: D502 (EAJE), D503 (LAEP), D504 (RPE) in BPE 2024 (no D509: micro-crèches are not in this release)
BPE = {"44043": (2, 1, 1), "44064": (0, 0, 0), "44142": (0, 0, 0), "44184": (1, 0, 1), "49099": (10, 1, 2)}
# code: births 2022, 2023, 2024
BIRTHS = {
    "44043": (30, 32, 31),
    "44064": (20, 21, 19),
    "44142": (5, 4, 6),
    "44184": (25, 24, 26),
    "49099": (600, 590, 610),
}


def _staged(source: str, vintage: str, rows: list[tuple]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={"level": pl.String, "code": pl.String, "year": pl.Int32, "variable": pl.String, "value": pl.Float64},
        orient="row",
    )
    return frame.with_columns(
        source=pl.lit(source),
        vintage=pl.lit(vintage),
        month=pl.lit(None, pl.Int8),
        status=pl.lit(None, pl.String),
        geo_change=pl.lit(None, pl.String),
    ).select([pl.col(c).cast(t) for c, t in STAGED_SCHEMA.items()])


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    census = [
        ("COM", c, 2022, v, x)
        for c, (pop, a, b) in CENSUS.items()
        for v, x in (("P_POP", pop), ("P_POP0002", a), ("P_POP0305", b))
    ]
    bpe = [("COM", c, 2024, t, x) for c, counts in BPE.items() for t, x in zip(("D502", "D503", "D504"), counts)]
    births = [("COM", c, y, "NAIS", x) for c, counts in BIRTHS.items() for y, x in zip((2022, 2023, 2024), counts)]
    # CAF coverage: Cholet (above 10,000 inhabitants) has its own rate, the Clisson EPCI's communes take the EPCI's
    coverage_com = [("COM", "49099", 2023, "txcouv", 48.0)]
    coverage_epci = [("EPCI", CLISSON_EPCI, 2023, "txcouv", 55.5), ("EPCI", CHOLET_EPCI, 2023, "txcouv", 47.0)]
    staged = {
        "rp_population": _staged("rp_population", "2022", census),
        "bpe": _staged("bpe", "courant", bpe),
        "births": _staged("births", "2024", births),
        "caf_coverage_com": _staged("caf_coverage_com", "2024", coverage_com),
        "caf_coverage_epci": _staged("caf_coverage_epci", "2024", coverage_epci),
    }
    vintages = {
        "rp_population": "2022",
        "bpe": "courant",
        "births": "2024",
        "caf_coverage_com": "2024",
        "caf_coverage_epci": "2024",
    }
    return Inputs(
        staged=staged,
        vintages=vintages,
        membership=MEMBERSHIP,
        epci_names={CLISSON_EPCI: "CA Clisson Sèvre et Maine Agglo", CHOLET_EPCI: "CA du Choletais"},
        dep_names={"44": "Loire-Atlantique", "49": "Maine-et-Loire"},
    )


def _values(result: pl.DataFrame, indicator: str) -> dict[tuple[str, str], tuple[float | None, str | None]]:
    rows = result.filter(pl.col("indicator") == indicator)
    return {(r["level"], r["code"]): (r["value"], r["status"]) for r in rows.iter_rows(named=True)}


def test_rates_are_sums_of_equipments_over_sums_of_children_at_every_level(inputs):
    items = (get("eaje_taux"), get("eaje_nombre"), get("rpe_taux"), get("laep_taux"))
    result = compute(inputs, items=items)
    eaje = _values(result, "eaje_taux")
    assert eaje[("COM", "44043")] == pytest.approx((2 * 100 / 100, None))  # 2 EAJE for 100 children: 2.0
    assert eaje[("COM", "44064")] == (0.0, None)  # no row would be 0 at staging; here a 0 over 80 children
    assert eaje[("COM", "44142")] == (0.0, None)  # 30 children: exactly the minimum denominator, so a value
    # EPCI Clisson: (2 + 0 + 0) / (100 + 80 + 30) x 100 = 200 / 210 = 0.952...
    assert eaje[("EPCI", CLISSON_EPCI)][0] == pytest.approx(200 / 210)
    # EPCI Choletais: (1 + 10) / (90 + 500) x 100 = 1100 / 590 = 1.864...
    assert eaje[("EPCI", CHOLET_EPCI)][0] == pytest.approx(1100 / 590)
    # Loire-Atlantique: (2 + 0 + 0 + 1) / (100 + 80 + 30 + 90) x 100 = 300 / 300 = 1.0 (not a mean of EPCI rates)
    assert eaje[("DEP", "44")][0] == pytest.approx(1.0)
    # France: 13 / 800 x 100 = 1.625
    assert eaje[("FRANCE", "FR")][0] == pytest.approx(1.625)
    assert _values(result, "eaje_nombre")[("DEP", "44")] == (3.0, None)  # 2 + 0 + 0 + 1
    # RPE per 1,000 children under 3, Choletais: (1 + 2) / 590 x 1000 = 5.084...
    assert _values(result, "rpe_taux")[("EPCI", CHOLET_EPCI)][0] == pytest.approx(3000 / 590)
    # LAEP per 1,000 children under 6, Clisson EPCI: 1 / (210 + 110 + 90 + 35) x 1000 = 1000 / 445
    assert _values(result, "laep_taux")[("EPCI", CLISSON_EPCI)][0] == pytest.approx(1000 / 445)


def test_a_type_absent_from_the_release_is_not_available_never_zero(inputs):
    result = compute(inputs, items=(get("micro_creches_nombre"), get("micro_creches_taux")))
    for indicator in ("micro_creches_nombre", "micro_creches_taux"):
        values = _values(result, indicator)
        assert values[("COM", "44043")] == (None, "not_available")
        assert values[("DEP", "44")] == (None, "not_available")


def test_every_equipment_rate_says_its_bpe_codes_and_that_it_counts_equipments():
    bpe = [i for i in indicators() if any(t.source == "bpe" for t in i.terms)]
    assert len(bpe) == 32  # 16 pairs of a count and a rate
    for ind in bpe:
        codes = {t.variable for t in ind.terms if t.source == "bpe"}
        assert all(code in ind.definition for code in codes), ind.id
        assert "pas des places" in ind.caveat, ind.id
        if ind.kind == "ratio":
            assert ind.direction == "lower_is_need", ind.id


@pytest.fixture(scope="module")
def observatory(inputs) -> dict:
    table = diagnostic_table(None, inputs=inputs)
    view = territory_view(table, inputs.membership, Selection(epci=CLISSON_EPCI))
    return early_childhood.build(view, inputs, "Géographie communale au 1er janvier 2025 (COG 2025).")


def _row(observatory: dict, name: str) -> list[str]:
    row = next(r for r in observatory["rows"] if r["name"] == name)
    return [c["text"] + (f"[{c['mark']}]" if c["mark"] else "") for c in row["cells"]]


def test_the_observatory_sets_children_and_births_against_supply_commune_by_commune(observatory):
    assert observatory["years"] == [2022, 2023, 2024]
    assert [r["name"] for r in observatory["rows"]][:4] == [
        "Clisson",
        "Gorges",
        "Remouillé",
        "CA Clisson Sèvre et Maine Agglo",
    ]
    # children, births 2022-2024, coverage (the EPCI's: mark e), places (not published for a commune: np),
    # EAJE, micro-crèches (not in BPE 2024: nd), RPE, LAEP, EAJE per 100 children (2 / 100 x 100 = 2,0)
    assert _row(observatory, "Clisson") == ["100", "30", "32", "31", "55,5[e]", "[np]", "2", "[nd]", "1", "1", "2,0"]
    # the EPCI: 100 + 80 + 30 = 210 children, births 30 + 20 + 5 = 55, 32 + 21 + 4 = 57, 31 + 19 + 6 = 56,
    # its own coverage 55,5, no places figure (an absent CAF figure is "not published": np), EAJE 2, RPE 1,
    # LAEP 1, 200 / 210 = 0,95 -> 1,0
    assert _row(observatory, "CA Clisson Sèvre et Maine Agglo") == [
        "210",
        "55",
        "57",
        "56",
        "55,5",
        "[np]",
        "2",
        "[nd]",
        "1",
        "1",
        "1,0",
    ]


def test_the_observatory_says_where_the_figure_is_the_epcis_and_where_to_look(observatory):
    assert observatory["fallbacks"]["epci_fallback"] == ["Clisson", "Gorges", "Remouillé"]
    # no EAJE and at least 10 births over 2022-2024: Gorges (20 + 21 + 19 = 60), Remouillé (5 + 4 + 6 = 15);
    # Clisson has 2 EAJE
    look = observatory["look_at"]
    assert [(r["name"], r["births"], r["children"]) for r in look] == [
        ("Gorges", "60", "80"),
        ("Remouillé", "15", "30"),
    ]
    assert all(r["coverage_is_epci"] and r["micro_unknown"] for r in look)
    # 55 births in 2022, 56 in 2024: +1.8 %, under the 2 % said "stables"
    assert observatory["trend"] == "Naissances domiciliées sur le territoire : 55 en 2022, 56 en 2024, stables."
