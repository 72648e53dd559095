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

from collections.abc import Callable
from functools import cached_property

import numpy as np
import polars as pl

from transforms import reasons as R
from transforms.commune_table import RANK, CommuneTable, rows_at_levels, rows_of_codes
from transforms.placed import COMMUNE_LEVELS
from transforms.registry import Indicator

RATE_KINDS = ("ratio", "growth", "natural", "migration")
MIN_COVERAGE = 0.9  # share of the territory's population the known communes must hold
POPULATION = "rp_population:P_POP|main"  # the key (term|period) of the population that weighs the coverage
PLACE = ["level", "group"]

Recompute = Callable[[pl.DataFrame], pl.DataFrame]


class Places:
    """Which rows of a commune table make up each place of `groups` (code, level, group), and the communes'
    population, found once for every indicator of a computation (most have no secret gap: nothing is read)."""

    def __init__(self, table: CommuneTable, groups: pl.DataFrame) -> None:
        self.table, self.groups = table, groups
        self._sums: dict[tuple, pl.DataFrame] = {}  # `summed_without`'s, by keys, places and communes left out
        self._members: dict[str, pl.DataFrame] = {}  # `members`', by level

    def members(self, level: str) -> pl.DataFrame:
        """(code, level, group, _row): the places of that level in the order of `groups`, with each commune's row
        in the table; found for the levels asked only, by the runs of their codes (France: 21 to 11 ms, where every
        level was joined)."""
        if level not in self._members:
            # the groups are listed level after level: a slice of them, not a partition of every level (2.1 to 0.4 ms)
            part = rows_at_levels(self.groups, (level,))
            if part.is_empty():
                raise KeyError(level)
            row = rows_of_codes(part["code"], self.table.frame.select("code").with_row_index("_row"))
            found = row >= 0
            part = part if found.all() else part.filter(pl.Series(found))
            self._members[level] = part.with_columns(_row=pl.Series(row[found], dtype=pl.UInt32))
        return self._members[level]

    @cached_property
    def population(self) -> pl.Series:
        """The population of each row of the table (`POPULATION`), null when the key is not needed."""
        return self.table.values_of(POPULATION)["value"]

    def summed_without(self, table: CommuneTable, wanted: pl.DataFrame, excluded: np.ndarray) -> pl.DataFrame:
        """(level, group, the sums of `table`'s keys..., coverage) of the `wanted` places (level, group) over their
        communes outside `excluded` (a boolean per row of the table): only those places' communes are summed, and
        their sums are kept for the next rate of the same keys (growth's natural and migratory parts)."""
        memo = (table.keys, tuple(wanted.iter_rows()), excluded.tobytes())
        if memo not in self._sums:
            members = self.of(wanted)
            kept = np.zeros(table.frame.height, bool)
            kept[members["_row"].to_numpy()] = True
            sums = table.keep(kept & ~excluded).aggregate(members.select("code", *PLACE))
            self._sums[memo] = sums.join(coverage(members, self.population, excluded), on=PLACE, how="left")
        return self._sums[memo]

    def of(self, places: pl.DataFrame) -> pl.DataFrame:
        """The `members` rows of these places (level, group): a level's rows looked up among its own (a semi join
        of every level's 140,000 rows in France: 3 ms, these 0.6-1.1 ms)."""
        return pl.concat(
            self.members(level).filter(pl.col("group").is_in(wanted["group"].implode()))
            for (level,), wanted in places.partition_by("level", as_dict=True).items()
        )


def reference_keys(keys: list[str] | tuple[str, ...]) -> list[str]:
    """The keys of the reference year (the comparison year is an evolution's business, not the value's)."""
    return [k for k in keys if not k.endswith("|comp")]


def unknown_communes(table: CommuneTable, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(secret, not available): a boolean per commune of `table`, whether one of these keys' reference values is
    unknown for that reason."""
    present = [k for k in reference_keys(keys) if k in table.keys]
    if not present:
        empty = np.zeros(table.frame.height, bool)
        return empty, empty

    def with_reason(reason: str) -> pl.Expr:
        return pl.any_horizontal(pl.col(k + RANK) == R.RANKS[reason] for k in present).fill_null(False)

    found = table.frame.select(secret=with_reason(R.SECRET), absent=with_reason(R.NOT_AVAILABLE))
    return found["secret"].to_numpy(), found["absent"].to_numpy()


def coverage(members: pl.DataFrame, population: pl.Series, excluded: np.ndarray) -> pl.DataFrame:
    """(level, group, coverage): the share of each group's population outside the `excluded` communes (a boolean
    per row of the table), `members` the groups' (level, group, _row)."""
    rows = members["_row"]
    return (
        members.select(PLACE)
        .with_columns(value=population.gather(rows), _in=pl.Series(~excluded).gather(rows))
        .group_by(PLACE)
        .agg(
            coverage=pl.when(pl.col("value").sum() > 0).then(
                pl.col("value").filter(pl.col("_in")).sum() / pl.col("value").sum()
            )
        )
    )


def without_secret_communes(
    ind: Indicator, computed: pl.DataFrame, table: CommuneTable, places: Places, recompute: Recompute, keys: list[str]
) -> pl.DataFrame:
    """`computed` (level, group, indicator, value, status as a reason's rank (`transforms.reasons`)..., coverage
    null) with its secret rates above the commune level computed again without the secret communes where the rule
    allows, and their coverage (each in its row: no row moves).

    `table` holds the commune values, `keys` the indicator's; `recompute(sums)` computes the indicator's rows from
    the sums of its keys per place (level, group, sums: `CommuneTable.aggregate`'s; transforms.compute passes its
    own, so both paths share one arithmetic). The work is done only for a rate with a secret gap."""
    if ind.kind not in RATE_KINDS:
        return computed
    gaps = _secret_gaps(computed)
    if not gaps.size:
        return computed
    secret, absent = unknown_communes(table, keys)
    if not secret.any():
        return computed
    wanted = computed[pl.Series(gaps)].select(PLACE)
    table = table.only(keys)
    # France already leaves out the communes a source does not cover (Mayotte): the same here
    france = pl.col("level") == "FRANCE"
    attempts = [
        _redo(table, places, wanted.filter(~france), secret, recompute),
        _redo(table, places, wanted.filter(france), secret | absent, recompute),
    ]
    frames = [r for r in attempts if r is not None]
    redone = pl.concat(frames, how="vertical_relaxed")
    redone = redone.filter(pl.col("value").is_not_null() & (pl.col("coverage") >= MIN_COVERAGE)).with_columns(
        status=R.ranked(R.PARTIAL_SECRET)
    )
    return _replaced(computed, gaps, wanted, redone)


def _secret_gaps(computed: pl.DataFrame) -> np.ndarray:
    """The positions of the rows above the commune level (not a commune, nor an arrondissement) whose status is
    `secret`."""
    is_secret = computed["status"] == R.RANKS[R.SECRET]
    if not is_secret.any():  # most rates: 15 us, where finding the positions costs 0.2 ms
        return np.empty(0, np.int64)
    secret = is_secret.fill_null(False).arg_true()
    above = ~computed["level"].gather(secret).is_in(COMMUNE_LEVELS)
    return secret.filter(above).to_numpy()


def _redo(
    table: CommuneTable, places: Places, wanted: pl.DataFrame, excluded: np.ndarray, recompute: Recompute
) -> pl.DataFrame | None:
    """The indicator's rows of the `wanted` places (level, group) over their communes outside `excluded` (a boolean
    per row of `table`), with their coverage."""
    if wanted.is_empty():
        return None
    sums = places.summed_without(table, wanted, excluded)
    return recompute(sums).with_columns(sums["coverage"])


def _replaced(computed: pl.DataFrame, gaps: np.ndarray, wanted: pl.DataFrame, redone: pl.DataFrame) -> pl.DataFrame:
    """`computed` with the `redone` rows written at their places' positions (`gaps`, of the `wanted` places)."""
    if redone.is_empty():
        return computed
    position = dict(zip(wanted.iter_rows(), gaps.tolist(), strict=True))
    at = pl.Series([position[p] for p in redone.select(PLACE).iter_rows()], dtype=pl.UInt32)
    return computed.with_columns(
        computed[name].scatter(at, redone[name].cast(computed.schema[name]))
        for name in redone.columns
        if name not in PLACE
    )
