"""Property tests of the aggregation (decisions.md "Tests of aggregation"), on random communes and memberships.

Every level is Σ numerators / Σ denominators of its communes; communes -> EPCI -> France equals communes -> France;
a rate differs from the mean of its communes' rates when both the rates and the denominators differ; a zero
denominator is null `zero_denominator`, never inf; the order of the input rows changes nothing.
"""

from __future__ import annotations

import math

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources.values import SECRET, STAGED_SCHEMA
from transforms import reasons as R
from transforms.compute import Inputs, aggregate, commune_values, compute
from transforms.registry import Indicator, Term
from transforms.territories import FRANCE, CustomTerritory, groups

SOURCE = "caf_benefits"  # any staged source: its main year is its latest year
NUM, DEN = Term(SOURCE, "NUM"), Term(SOURCE, "DEN")
RATE = Indicator(
    id="rate",
    theme="familles",
    label="Taux",
    kind="ratio",
    unit="percent",
    direction="higher_is_need",
    definition="NUM / DEN",
    numerator=(NUM,),
    denominator=(DEN,),
    scale=100.0,
)
COUNT = Indicator(
    id="count",
    theme="familles",
    label="Effectif",
    kind="count",
    unit="count",
    direction="neutral",
    definition="NUM",
    numerator=(NUM,),
)
ITEMS = (RATE, COUNT)
EPCIS = ("200000001", "200000002", "200000003")
DEPS = ("01", "02", "03")
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def communes(draw, min_size=1, max_size=10, zero=True, with_no_epci=True):
    """[(code, dep, epci or None, numerator, denominator)] with numerator <= denominator."""
    n = draw(st.integers(min_size, max_size))
    out = []
    for i in range(n):
        den = draw(st.integers(0 if zero else 1, 5000))
        num = draw(st.integers(0, den))
        epci = draw(st.sampled_from(EPCIS + ((None,) if with_no_epci else ())))
        out.append((f"{10001 + i:05d}", draw(st.sampled_from(DEPS)), epci, num, den))
    return out


def inputs_of(rows, shuffle_seed: int | None = None, secret: set[str] = frozenset()) -> Inputs:
    staged = []
    for code, _, _, num, den in rows:
        for variable, value in (("NUM", num), ("DEN", den)):
            hidden = code in secret and variable == "NUM"
            staged.append(
                (
                    SOURCE,
                    "t",
                    "COM",
                    code,
                    2024,
                    12,
                    variable,
                    None if hidden else float(value),
                    SECRET if hidden else None,
                    None,
                )
            )
    frame = pl.DataFrame(staged, schema=STAGED_SCHEMA, orient="row")
    membership = pl.DataFrame(
        [(code, code, dep, "84", epci) for code, dep, epci, _, _ in rows],
        schema={"code": pl.String, "name": pl.String, "dep": pl.String, "reg": pl.String, "epci": pl.String},
        orient="row",
    )
    if shuffle_seed is not None:
        frame = frame.sample(fraction=1.0, shuffle=True, seed=shuffle_seed)
        membership = membership.sample(fraction=1.0, shuffle=True, seed=shuffle_seed + 1)
    return Inputs(staged={SOURCE: frame}, vintages={SOURCE: "2024"}, membership=membership)


def by_group(result: pl.DataFrame, indicator: str) -> dict[tuple[str, str], tuple]:
    rows = result.filter(pl.col("indicator") == indicator)
    return {
        (r["level"], r["code"]): (r["value"], r["status"], r["numerator"], r["denominator"])
        for r in rows.iter_rows(named=True)
    }


def members(rows) -> dict[tuple[str, str], list]:
    """(level, code) -> its communes' rows: the oracle's own grouping."""
    out: dict[tuple[str, str], list] = {}
    for row in rows:
        code, dep, epci, _, _ = row
        keys = [("COM", code), ("DEP", dep), ("FRANCE", FRANCE)] + ([("EPCI", epci)] if epci else [])
        for key in keys:
            out.setdefault(key, []).append(row)
    return out


@FAST
@given(communes())
def test_every_level_is_the_sum_of_numerators_over_the_sum_of_denominators(rows):
    result = compute(inputs_of(rows), items=ITEMS)
    rate, count = by_group(result, "rate"), by_group(result, "count")
    assert set(rate) == set(members(rows))
    for key, part in members(rows).items():
        num, den = sum(r[3] for r in part), sum(r[4] for r in part)
        value, status, got_num, got_den = rate[key]
        assert (got_num, got_den) == (num, den)
        if den == 0:
            assert (value, status) == (None, R.ZERO_DENOMINATOR), key
        else:
            assert status is None and math.isclose(value, 100 * num / den, rel_tol=1e-12), key
        assert count[key][:2] == (num, None)
    assert not result.filter(pl.col("value").is_infinite() | pl.col("value").is_nan()).height


@FAST
@given(communes(with_no_epci=False, zero=False))
def test_communes_to_epci_to_france_equals_communes_to_france(rows):
    inputs = inputs_of(rows)
    needed = pl.DataFrame(
        {
            "source": [SOURCE, SOURCE],
            "variable": ["NUM", "DEN"],
            "term": [NUM.key, DEN.key],
            "period": ["main", "main"],
            "year": [2024, 2024],
        },
        schema_overrides={"year": pl.Int32},
    )
    values = commune_values(inputs, needed)
    direct = aggregate(values, groups(inputs.membership))
    # the EPCI sums, taken as the parts of a second aggregation whose only level above them is France
    epci_parts = direct.filter(pl.col("level") == "EPCI").select(
        code="group", term="term", period="period", value="value", status="status", split=pl.lit(False)
    )
    epci_membership = pl.DataFrame(
        {"code": list(EPCIS), "dep": ["01"] * 3, "epci": [None] * 3},
        schema={"code": pl.String, "dep": pl.String, "epci": pl.String},
    )
    two_steps = aggregate(epci_parts, groups(epci_membership))
    france = lambda frame: dict(frame.filter(pl.col("level") == "FRANCE").select("term", "value").iter_rows())
    assert france(two_steps) == france(direct)
    # the same holds through the départements, and through the whole engine (compute)
    result = compute(inputs, items=ITEMS)
    count = by_group(result, "count")
    assert sum(v[0] for k, v in count.items() if k[0] == "EPCI") == count[("FRANCE", FRANCE)][0]
    assert sum(v[0] for k, v in count.items() if k[0] == "DEP") == count[("FRANCE", FRANCE)][0]
    rate = by_group(result, "rate")
    epci_num = sum(v[2] for k, v in rate.items() if k[0] == "EPCI")
    epci_den = sum(v[3] for k, v in rate.items() if k[0] == "EPCI")
    assert math.isclose(rate[("FRANCE", FRANCE)][0], 100 * epci_num / epci_den, rel_tol=1e-12)


@st.composite
def two_different_communes(draw):
    """Two communes of one EPCI whose rates AND denominators differ (1/10 and 2/20 would have equal means)."""
    d1 = draw(st.integers(1, 2000))
    d2 = draw(st.integers(1, 2000).filter(lambda d: d != d1))
    n1, n2 = draw(st.integers(0, d1)), draw(st.integers(0, d2))
    if n1 * d2 == n2 * d1:  # equal rates: move one numerator (num <= den still holds)
        n1 = n1 + 1 if n1 < d1 else n1 - 1
    return [("10001", "01", EPCIS[0], n1, d1), ("10002", "01", EPCIS[0], n2, d2)]


@FAST
@given(two_different_communes())
def test_a_rate_is_not_the_mean_of_its_communes_rates(rows):
    (_, _, _, n1, d1), (_, _, _, n2, d2) = rows
    rate = by_group(compute(inputs_of(rows), items=ITEMS), "rate")
    r1, r2 = 100 * n1 / d1, 100 * n2 / d2
    value = rate[("EPCI", EPCIS[0])][0]
    assert math.isclose(value, 100 * (n1 + n2) / (d1 + d2), rel_tol=1e-12)
    # weighted minus plain mean = (d1 - d2)(r1 - r2) / (2 (d1 + d2)): not 0 when both differ (>= 3e-9 points here,
    # far above float noise); the engine's value is that far from the plain mean
    gap = abs((d1 - d2) * (r1 - r2)) / (2 * (d1 + d2))
    assert gap > 1e-9 and math.isclose(abs(value - (r1 + r2) / 2), gap, rel_tol=1e-6, abs_tol=1e-12)


def test_equal_denominators_give_the_mean():
    """The converse, as decisions.md says: 1/10 and 3/10 average to 2/10."""
    rows = [("10001", "01", EPCIS[0], 1, 10), ("10002", "01", EPCIS[0], 3, 10)]
    assert by_group(compute(inputs_of(rows), items=ITEMS), "rate")[("EPCI", EPCIS[0])][0] == 100 * 4 / 20


@FAST
@given(communes(max_size=8), st.integers(0, 10_000))
def test_row_order_is_irrelevant(rows, seed):
    customs = (CustomTerritory("T", tuple(r[0] for r in rows[: max(1, len(rows) // 2)])),)
    ordered = compute(inputs_of(rows), customs, items=ITEMS)
    shuffled = compute(inputs_of(rows, shuffle_seed=seed), customs, items=ITEMS)
    assert ordered.equals(shuffled)


@FAST
@given(communes(min_size=2, max_size=8, zero=False), st.data())
def test_a_secret_part_makes_every_group_that_contains_it_secret(rows, data):
    hidden = data.draw(st.sampled_from([r[0] for r in rows]))
    rate = by_group(compute(inputs_of(rows, secret={hidden}), items=ITEMS), "rate")
    for key, part in members(rows).items():
        if any(r[0] == hidden for r in part):
            assert rate[key][:2] == (None, SECRET), key
        else:
            assert rate[key][1] is None, key


def test_an_all_zero_group_is_zero_denominator_and_never_inf():
    rows = [("10001", "01", EPCIS[0], 0, 0), ("10002", "01", EPCIS[0], 0, 0), ("10003", "02", EPCIS[1], 3, 4)]
    rate = by_group(compute(inputs_of(rows), items=ITEMS), "rate")
    assert rate[("EPCI", EPCIS[0])][:2] == (None, R.ZERO_DENOMINATOR)
    assert rate[("COM", "10001")][:2] == (None, R.ZERO_DENOMINATOR)
    assert rate[("FRANCE", FRANCE)][:2] == (100 * 3 / 4, None)
