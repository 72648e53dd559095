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
from transforms.commune_table import CommuneTable
from transforms.registry import Indicator

RATE_KINDS = ("ratio", "growth", "natural", "migration")
MIN_COVERAGE = 0.9  # share of the territory's population the known communes must hold
POPULATION = "rp_population:P_POP|main"  # the key (term|period) of the population that weighs the coverage


def reference_keys(table: CommuneTable) -> list[str]:
    """The keys of the reference year (the comparison year is an evolution's business, not the value's)."""
    return [k for k in table.keys if not k.endswith("|comp")]


def secret_communes(table: CommuneTable) -> pl.DataFrame:
    """The communes (code) where a value of `table` (an indicator's terms) is secret."""
    return table.codes_with(R.SECRET, reference_keys(table))


def coverage(groups: pl.DataFrame, population: pl.DataFrame, excluded: pl.DataFrame) -> pl.DataFrame:
    """(level, group, coverage): the share of each group's population (code, value) outside the `excluded`
    communes."""
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
    ind: Indicator,
    computed: pl.DataFrame,
    table: CommuneTable,
    groups: pl.DataFrame,
    recompute,
    population,
    keys: list[str] | None = None,
) -> pl.DataFrame:
    """`computed` (level, group, indicator, value, status as a reason's rank (`transforms.reasons`)...) with a
    `coverage` column, its secret rates above the commune level computed again without the secret communes where
    the rule allows.

    `table` holds the commune values of the indicator's terms, `population` (code, value) the communes' population;
    `recompute(table, groups)` computes the indicator's rows for those groups from those commune values
    (transforms.compute passes its own aggregation, so both paths share one arithmetic). `keys`: the indicator's
    keys when `table` holds others too (its columns are then selected only where a secret gap is redone)."""
    computed = computed.with_columns(coverage=pl.lit(None, pl.Float64))
    if ind.kind not in RATE_KINDS:
        return computed
    is_secret = pl.col("status") == R.RANKS[R.SECRET]
    gaps = computed.filter(is_secret & (pl.col("level") != "COM")).select("level", "group")
    if gaps.is_empty():
        return computed
    if keys is not None:
        table = table.only(keys)
    secret = secret_communes(table)
    if secret.is_empty():
        return computed
    # France already leaves out the communes a source does not cover (Mayotte): the same here
    absent = table.codes_with(R.NOT_AVAILABLE, reference_keys(table))
    wanted = groups.join(gaps, on=["level", "group"], how="semi")
    france = pl.col("level") == "FRANCE"
    attempts = [
        _redo(table, population, wanted.filter(~france), secret, recompute),
        _redo(table, population, wanted.filter(france), pl.concat([secret, absent]).unique(), recompute),
    ]
    frames = [r for r in attempts if r is not None]
    if not frames:
        return computed
    redone = pl.concat(frames, how="vertical_relaxed")
    redone = redone.filter(pl.col("value").is_not_null() & (pl.col("coverage") >= MIN_COVERAGE)).with_columns(
        status=R.ranked(R.PARTIAL_SECRET)
    )
    if redone.is_empty():  # the rows as they were, in their order
        return computed
    kept = computed.join(redone.select("level", "group"), on=["level", "group"], how="anti")
    return pl.concat([kept, redone.select(computed.columns)], how="vertical_relaxed")


def _redo(
    table: CommuneTable, population: pl.DataFrame, groups: pl.DataFrame, excluded: pl.DataFrame, recompute
) -> pl.DataFrame | None:
    """The indicator's rows of `groups` over their communes outside `excluded`, with their coverage."""
    if groups.is_empty():
        return None
    rows = recompute(table.without(excluded), groups)
    return rows.join(coverage(groups, population, excluded), on=["level", "group"], how="left")
