"""A rate above the commune level computed without the communes whose figures are secret, and saying so.

The rule (issue 13; written in indicators.toml's header and the report's reading keys): a secret commune cell
empties that commune, but not every territory that contains it. Above the commune level (EPCI, département,
France, a group of communes), a rate (kinds ratio, growth, natural, migration) that a secret part leaves empty is
computed again over the communes whose figures are all known, numerator and denominator alike, when those
communes hold at least MIN_COVERAGE of the territory's population; its status is then `partial_secret` and its
`coverage` the share of the population it covers (0.998: « hors communes au secret : 99,8 % de la population »).
Below that share the value stays empty (`secret`): a rate of half a territory is not the territory's.

Counts (births, places) stay empty: a sum without its secret parts is a smaller number, not an estimate. Commune
values never change. Summing the known communes reveals nothing a reader could not add up from the commune rows
themselves, so the publisher's secret is kept.
"""

from __future__ import annotations

import polars as pl

from transforms import reasons as R
from transforms.registry import Indicator

RATE_KINDS = ("ratio", "growth", "natural", "migration")
MIN_COVERAGE = 0.9  # share of the territory's population the known communes must hold
POPULATION = ("rp_population:P_POP", "main")  # (term, period) of the population that weighs the coverage


def terms_of(ind: Indicator) -> list[str]:
    extra = [POPULATION[0]] if ind.kind in ("growth", "natural", "migration") else []
    return [t.key for t in ind.terms] + extra


def secret_communes(ind: Indicator, values: pl.DataFrame) -> pl.DataFrame:
    """The communes (code) where a value this indicator reads is secret (the comparison year is an evolution's
    business, not the value's)."""
    return (
        values.filter(
            pl.col("term").is_in(terms_of(ind)) & (pl.col("status") == R.SECRET) & (pl.col("period") != "comp")
        )
        .select("code")
        .unique()
    )


def coverage(groups: pl.DataFrame, values: pl.DataFrame, excluded: pl.DataFrame) -> pl.DataFrame:
    """(level, group, coverage): the share of each group's population outside the `excluded` communes."""
    term, period = POPULATION
    population = values.filter((pl.col("term") == term) & (pl.col("period") == period)).select("code", "value")
    out = excluded.select("code").with_columns(_out=pl.lit(True))
    return (
        groups.join(population, on="code", how="left")
        .join(out, on="code", how="left")
        .group_by("level", "group")
        .agg(
            coverage=pl.when(pl.col("value").sum() > 0).then(
                pl.col("value").filter(pl.col("_out").is_null()).sum() / pl.col("value").sum()
            )
        )
    )


def without_secret_communes(
    ind: Indicator, computed: pl.DataFrame, values: pl.DataFrame, groups: pl.DataFrame, recompute
) -> pl.DataFrame:
    """`computed` (level, group, indicator, value, status...) with a `coverage` column, its secret rates above
    the commune level computed again without the secret communes where the rule allows.

    `recompute(values, groups)` computes the indicator's rows for those groups from those commune values
    (transforms.compute passes its own aggregation, so both paths share one arithmetic)."""
    computed = computed.with_columns(coverage=pl.lit(None, pl.Float64))
    if ind.kind not in RATE_KINDS:
        return computed
    gaps = computed.filter((pl.col("status") == R.SECRET) & (pl.col("level") != "COM")).select("level", "group")
    secret = secret_communes(ind, values)
    if gaps.is_empty() or secret.is_empty():
        return computed
    parts = values.filter(pl.col("term").is_in(terms_of(ind)))
    # France already leaves out the communes a source does not cover (Mayotte): the same here
    absent = (
        parts.filter(pl.col("value").is_null() & (pl.col("status") == R.NOT_AVAILABLE) & (pl.col("period") != "comp"))
        .select("code")
        .unique()
    )
    wanted = groups.join(gaps, on=["level", "group"], how="semi")
    france = pl.col("level") == "FRANCE"
    attempts = [
        _redo(parts, values, wanted.filter(~france), secret, recompute),
        _redo(parts, values, wanted.filter(france), pl.concat([secret, absent]).unique(), recompute),
    ]
    frames = [r for r in attempts if r is not None]
    if not frames:
        return computed
    redone = pl.concat(frames, how="vertical_relaxed")
    redone = redone.filter(pl.col("value").is_not_null() & (pl.col("coverage") >= MIN_COVERAGE)).with_columns(
        status=pl.lit(R.PARTIAL_SECRET)
    )
    kept = computed.join(redone.select("level", "group"), on=["level", "group"], how="anti")
    return pl.concat([kept, redone.select(computed.columns)], how="vertical_relaxed")


def _redo(
    parts: pl.DataFrame, values: pl.DataFrame, groups: pl.DataFrame, excluded: pl.DataFrame, recompute
) -> pl.DataFrame | None:
    """The indicator's rows of `groups` over their communes outside `excluded`, with their coverage."""
    if groups.is_empty():
        return None
    rows = recompute(parts.join(excluded, on="code", how="anti"), groups)
    return rows.join(coverage(groups, values, excluded), on=["level", "group"], how="left")
