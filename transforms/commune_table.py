"""Commune values as one wide frame, and every level above the commune as column sums of it.

One row per commune of the target COG; for every needed (term, period), its key `term|period` names three columns:
the commune's value (`key`, Float64), the rank of the reason it is unknown (`key|r`, `transforms.reasons.rank`,
null when known) and, only for the keys where a staged row is a split parent or a restored commune, whether it is
(`key|x`). The staged rows are scattered into place by position: no pivot, no cross join of every commune with
every term, no group_by over millions of (commune, term) rows. An EPCI, a département, a custom territory or France
is then a group_by over at most one row per commune (35,000 rows in France), whatever the number of terms.

The rules are those of the long path (`transforms.compute.commune_values` and `aggregate`, which read the same rows):
a commune without a row is `not_available`; a sum over a group is null with its worst reason when any part is
unknown; a restored commune (`split`, null `non_recalculable`) is skipped above the commune, and every split row is
null `non_recalculable` at its own commune.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from transforms import reasons as R
from transforms.ahead import ahead

if TYPE_CHECKING:
    from transforms.compute import Inputs

RANK, SPLIT = "|r", "|x"
# `_blocks`: a block's fixed costs are about 1 ms; looking up every row of BPE's 770,000 costs about 10 ms more
MAX_BLOCKS = 16
NO_ROW, NO_REASON = -2, -1  # `build`'s ranks of a cell without a staged row, and of a row without a reason
NO_WORST = np.iinfo(np.int32).max  # `_summed_cells`' worst rank of a cell none of whose rows has a reason
ROWS_SCHEMA = {
    "code": pl.String,
    "term": pl.String,
    "period": pl.String,
    "year": pl.Int32,
    "value": pl.Float64,
    "status": pl.String,
    "split": pl.Boolean,
}


def key(term: str, period: str) -> str:
    return f"{term}|{period}"


@dataclass(frozen=True)
class CommuneTable:
    """`frame`: code, then the columns of every key (module docstring); `keys` in column order."""

    frame: pl.DataFrame
    keys: tuple[str, ...]
    split_keys: frozenset[str]

    def only(self, keys: list[str]) -> CommuneTable:
        """The same communes with the columns of these keys alone (a key not needed is left out)."""
        kept = tuple(k for k in self.keys if k in set(keys))
        columns = [c for k in kept for c in (k, k + RANK, *([k + SPLIT] if k in self.split_keys else []))]
        return CommuneTable(self.frame.select("code", *columns), kept, self.split_keys & set(kept))

    def keep(self, rows: np.ndarray) -> CommuneTable:
        """The table's communes where `rows` (a boolean per commune) is true."""
        return CommuneTable(self.frame.filter(pl.Series(rows)), self.keys, self.split_keys)

    def masks_of(self, reason: str, keys: list[str]) -> dict[str, np.ndarray]:
        """key -> a boolean per commune: whether its value is unknown for this reason, for these keys of the table."""
        rank = R.RANKS[reason]
        # one select for every key: a comparison per key (126 in France) took 0.04 s of CPU and 0.19 s of wall, the
        # GIL taken back at each from the threads beside it; one select 0.015 s and 0.03 s
        unknown = self.frame.select((pl.col(k + RANK) == rank).fill_null(False).alias(k) for k in keys)
        matrix = unknown.to_numpy()
        return {k: matrix[:, j] for j, k in enumerate(keys)}

    def values_of(self, column: str) -> pl.DataFrame:
        """(code, value) of one key (its values null when the key is not needed)."""
        value = pl.col(column) if column in self.keys else pl.lit(None, pl.Float64)
        return self.frame.select("code", value=value)

    def commune_level(self) -> pl.DataFrame:
        """(level, group, key, key|r...) of every commune: a split row is null `non_recalculable` at its commune."""
        return self.frame.select(
            pl.lit("COM").alias("level"), pl.col("code").alias("group"), *_levelled(self.keys, self.split_keys)
        )

    def aggregate(self, groups: pl.DataFrame) -> pl.DataFrame:
        """(level, group, key, key|r...) of every group of `groups` (code, level, group): the sum of its communes'
        values, null with the worst reason's rank when any part is unknown. A restored commune (split, null
        `non_recalculable`) is skipped: its figures are inside its parent's."""
        parts, sums = _aggregation(self.keys, self.split_keys)
        view = self.frame.select("code", *parts)
        frames = []
        for (level,), members in groups.partition_by("level", as_dict=True).items():
            rows, others = _beside(view, members.select("code", "group"))
            summed = rows.group_by("group").agg(*sums)
            if others:  # the view's rows of no member, summed in a null group
                summed = summed.filter(pl.col("group").is_not_null())
            frames.append(summed.select(pl.lit(level).alias("level"), pl.all()))
        return pl.concat(frames) if frames else pl.DataFrame(schema={"level": pl.String, "group": pl.String})


def _beside(view: pl.DataFrame, members: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """The rows of `view` (code...) of every member (code, group), with its group, in the view's order: each group's
    communes are summed in the table's order, however few of them the table keeps; and whether rows of no member
    are kept too, of a null group. Members that are some of the view's communes in its order, each once (France
    over the communes it covers, the départements, the EPCIs: every commune but those of no EPCI), take the group
    as a column beside it, null for the others: the join gathered the table's 253 columns again (10 ms of CPU a
    level in France)."""
    if members["code"].equals(view["code"]):
        return view.with_columns(members["group"]), False
    group = members["group"]
    if not group.null_count() and (at := _positions_in_order(members["code"], view["code"])) is not None:
        beside = pl.repeat(None, view.height, dtype=group.dtype, eager=True).scatter(at, group)
        return view.with_columns(beside.alias("group")), True
    return members.join(view, on="code", how="inner", maintain_order="right"), False


def _positions_in_order(codes: pl.Series, among: pl.Series) -> np.ndarray | None:
    """The position of each of `codes` in `among` (codes listed once), where every one is there and they come in
    its order, each once; else None."""
    at = rows_of_codes(codes, among.to_frame("code").with_row_index("_row"))
    if (at < 0).any() or (np.diff(at) <= 0).any():
        return None
    return at


@lru_cache(maxsize=64)
def _levelled(keys: tuple[str, ...], split_keys: frozenset[str]) -> list[pl.Expr]:
    """`CommuneTable.commune_level`'s expressions, built once per set of keys: building them was three quarters of
    its cost (France's 126 keys: 7.6 ms to build, 2 ms to run). A key without split rows keeps its values, and its
    reasons where its values are null. The caller must not change the list."""
    columns = []
    for k in keys:
        if k not in split_keys:
            columns += [pl.col(k), pl.when(pl.col(k).is_null()).then(pl.col(k + RANK)).alias(k + RANK)]
            continue
        split = pl.col(k + SPLIT)
        columns += [
            pl.when(split).then(None).otherwise(pl.col(k)).alias(k),
            pl.when(split).then(_NON_RECALCULABLE).when(pl.col(k).is_null()).then(pl.col(k + RANK)).alias(k + RANK),
        ]
    return columns


_NON_RECALCULABLE = pl.lit(R.RANKS[R.NON_RECALCULABLE], pl.Int32)


@lru_cache(maxsize=64)
def _aggregation(keys: tuple[str, ...], split_keys: frozenset[str]) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """`CommuneTable.aggregate`'s expressions: the parts of each commune, their sums per group (built once per
    set of keys: a computation aggregates the same keys several times, and building a thousand expressions costs
    about as much as a small group_by; a key without split rows skips no part, and its expressions say so: France's
    keys built 10.3 to 4.7 ms). The caller must not change the lists."""
    parts, sums = [], []
    for k in keys:
        worst = pl.col(k + RANK).min()
        if k not in split_keys:
            parts += [pl.col(k), pl.when(pl.col(k).is_null()).then(pl.col(k + RANK)).alias(k + RANK)]
            sums += [pl.when(worst.is_null()).then(pl.col(k).sum()).alias(k), worst.alias(k + RANK)]
            continue
        skip = (pl.col(k + SPLIT) & (pl.col(k + RANK) == R.RANKS[R.NON_RECALCULABLE])).fill_null(False)
        parts += [
            pl.when(skip).then(None).otherwise(pl.col(k)).alias(k),
            pl.when(~skip & pl.col(k).is_null()).then(pl.col(k + RANK)).alias(k + RANK),
        ]
        # a group whose every part is skipped has no value and no reason, as a group without rows
        known = worst.is_null() & (pl.col(k).count() > 0)
        sums += [pl.when(known).then(pl.col(k).sum()).alias(k), worst.alias(k + RANK)]
    return parts, sums


def placed_rows(inputs: Inputs, needed: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """(_cell, year, value, rank, split): the staged commune rows of every needed value, at their cell of the
    table, the position of their key in `keys` times the communes plus the row of their commune in
    `inputs.membership` (a code outside the target COG is not a commune of it: left out)."""
    parts = list(placed_parts(inputs, needed, keys))
    schema = {"_cell": pl.Int64, "year": pl.Int32, "value": pl.Float64}
    empty = pl.DataFrame(schema=schema | {"rank": pl.Int32, "split": pl.Boolean})
    return pl.concat(parts) if parts else empty


def placed_parts(
    inputs: Inputs, needed: pl.DataFrame, keys: list[str], communes: Mapping[str, pl.DataFrame] = MappingProxyType({})
) -> Iterator[pl.DataFrame]:
    """`placed_rows` a source at a time (`build` writes each into the table as it comes: no frame of every
    source's millions of rows). `communes`: the commune rows (`commune_rows`) of some staged tables, found
    already."""
    rows = inputs.membership.select("code").with_row_index("_row")
    index = needed.with_columns(_col=(pl.col("term") + "|" + pl.col("period")).replace_strict(keys, range(len(keys))))
    sources = [
        (source, inputs.staged.get(source), wanted)
        for (source,), wanted in index.partition_by("source", as_dict=True).items()
    ]

    def placed(source: str, frame: pl.DataFrame | None, wanted: pl.DataFrame) -> pl.DataFrame | None:
        if frame is None:
            return None
        found = _source_rows(communes[source] if source in communes else commune_rows(frame), wanted, rows)
        # a range is summed over its source's rows alone (births: not the millions of census rows)
        return sum_ranges(pl.concat(found), wanted, rows.height) if found else None

    # two sources read at a time, one source's rows written while the next are read (France: 0.41-0.53 to 0.34 s)
    for part in ahead(lambda source: placed(*source), sources):
        if part is not None:
            yield part


def _source_rows(communes: pl.DataFrame, wanted: pl.DataFrame, rows: pl.DataFrame) -> list[pl.DataFrame]:
    """`placed_rows` of the commune rows of one staged table (`wanted`: its needed variable, year, _col; `rows`:
    code, _row).

    A staged table of France holds millions of rows of years and variables no indicator reads: the rows of the
    needed years are kept (`_rows_of_years`), each one's slot (variable, year) found as numbers (`_slots`: no string looked up per
    row) and looked up in an array of the keys' positions; only the rows of a key are then kept. One (variable,
    year) may serve several keys (a year of births both the latest and one of a census period): one array per key
    it serves."""
    wanted = wanted.filter(pl.col("year").is_not_null())  # a census year not staged: nothing to read
    if wanted.is_empty():
        return []
    # the few needed keys in Python: polars' fixed costs on a frame of 20 rows were 3 ms a source
    keys = list(zip(wanted["variable"].to_list(), wanted["year"].to_list(), wanted["_col"].to_list(), strict=True))
    names, years = sorted({v for v, _, _ in keys}), sorted({y for _, y, _ in keys})
    communes = _rows_of_years(communes, years)
    if communes.is_empty():
        return []
    codes, lengths = _runs(communes["code"])
    row_of_run = _rows_of_codes(codes, rows)
    layers = _key_layers(keys, names, years[0], years[-1])
    starts = np.concatenate(([0], np.cumsum(lengths)))
    parts = []
    for first, end in _blocks(lengths):
        if (row_of_run[first:end] >= 0).any():  # else no commune of the table (an arrondissement's "XX" code...)
            block = communes.slice(int(starts[first]), int(starts[end] - starts[first]))
            parts += _block_rows(block, lengths[first:end], row_of_run[first:end], layers, names, years, rows.height)
    return parts


def _blocks(lengths: np.ndarray) -> list[tuple[int, int]]:
    """(first run, end run) of each block of neighbouring runs of codes of one length: each block of a wide-born
    source is then periodic (`_slots`), a code lacking rows (an arrondissement lacking a facility type) a block
    apart instead of every row of the table looked up (France's BPE 40 to 31 ms, France Services 14 to 10 ms,
    one polars thread). A table of `MAX_BLOCKS` blocks or more is one block."""
    change = (np.flatnonzero(lengths[1:] != lengths[:-1]) + 1).tolist()
    bounds = [0, *change, lengths.size] if len(change) < MAX_BLOCKS else [0, lengths.size]
    return list(zip(bounds[:-1], bounds[1:], strict=False))


def _block_rows(
    block: pl.DataFrame,
    lengths: np.ndarray,
    row_of_run: np.ndarray,
    layers: list[np.ndarray],
    names: list[str],
    years: list[int],
    n: int,
) -> list[pl.DataFrame]:
    """`_source_rows` of a block of its runs of codes (`lengths`, each one's commune `row_of_run`; `layers`: the
    keys' columns of each slot, `_key_layers`)."""
    # a wide-born source (census, CAF) has the same rows for every code: its slots are those of the first code's
    slot_of_row, periodic = _slots(block, names, years[0], years[-1], lengths)
    cells = block.select("year", "value", "rank", "split")
    parts = []
    for keys_of_slots in layers:
        if periodic:
            picked, cell = _kept_periodic(keys_of_slots[slot_of_row], row_of_run, n)
        else:
            picked, cell = _kept(keys_of_slots[slot_of_row], np.repeat(row_of_run, lengths), n)
        # a filter, not a gather: a gather from the many chunks of a staged table costs about 3x as much (bpe: 6
        # against 2 ms)
        part = cells.filter(picked).with_columns(_cell=pl.Series(cell, dtype=pl.Int64))
        parts.append(part.select("_cell", "year", "value", "rank", "split"))
    return parts


def _rows_of_years(communes: pl.DataFrame, years: list[int]) -> pl.DataFrame:
    """(code, variable, year, value, rank, split) of the staged rows of these years, or of every year when these
    hold at least half the rows (the other years' rows then fall in no slot: `_slots`). The filter copies the codes
    and variables: worth it for a table of mostly other years (CAF: a fifth of its rows kept), not for a census'
    two years of three (rp_population: the filter 15.6 ms of its placing's 45)."""
    columns = [
        pl.col("code"),
        pl.col("variable"),
        pl.col("year"),
        pl.col("value"),
        R.rank(pl.col("status")).alias("rank"),
        # the comparison behind a null check: most rows have no geo change (rp_population's 1.26 M rows: 2.9 to
        # 0.2 ms against `eq_missing`)
        pl.when(pl.col("geo_change").is_not_null())
        .then(pl.col("geo_change") == "split")
        .otherwise(False)
        .alias("split"),
    ]
    kept = communes["year"].is_in(years)
    if 2 * kept.sum() >= kept.len():
        return communes.select(columns)
    # the reason and the split made numbers after the filter, which then copies no strings but codes and variables
    return communes.lazy().filter(kept).select(columns).collect()


def _key_layers(keys: list[tuple[str, int, int]], names: list[str], first: int, last: int) -> list[np.ndarray]:
    """The column of the key each slot (variable, year: `_slots`) serves, -1 for none (and past the last slot),
    from the (variable, year, column) of the keys: one array per key a slot serves (a slot serving two keys is in
    the first array for one, in the second for the other)."""
    span, position = last - first + 1, {name: i for i, name in enumerate(names)}
    layers: list[np.ndarray] = []
    for variable, year, column in keys:
        slot = position[variable] * span + year - first
        free = [layer for layer in layers if layer[slot] < 0]
        if not free:
            free = [np.full(len(names) * span + 1, -1, np.int64)]
            layers.append(free[0])
        free[0][slot] = column
    return layers


def _runs(codes: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """The code of each run of equal codes and the run's length: found by comparing each code with the one before
    (`Series.rle` also builds a struct of the runs: 3.3 against 1.5 ms for CAF's 420,000 rows)."""
    n = codes.len()
    first = np.concatenate(([True], ~_same_as_before(codes, 1).to_numpy()))
    # a filter, not a gather of the starts: the codes are in many chunks (France's sources: about 1 to 0.2 ms each)
    return codes.filter(pl.Series(first)), np.diff(np.append(np.flatnonzero(first), n))


def _same_as_before(column: pl.Series, period: int) -> pl.Series:
    """Whether each row of `column` from the `period`-th on equals the row `period` rows before it (nulls equal),
    compared chunk by chunk: the rows whose row before lies in their own chunk as slices of that chunk, the few
    others apart (two slices of a staged table's column cut across its chunks are compared at about twice the
    cost), by `==` where the column has no nulls (a kernel called at once, where `eq_missing` plans a query for
    each piece): France's 11 sources, codes and variables, 49 to 26 ms (one polars thread)."""
    same = _equal if column.null_count() == 0 else pl.Series.eq_missing
    pieces, start = [], 0
    for length in column.chunk_lengths():
        end = start + length
        head = max(start, period)  # the chunk's first row with a row `period` before it
        crossing = min(end, start + period) - head  # those rows whose row before lies in an earlier chunk
        if crossing > 0:
            pieces.append(same(column.slice(head, crossing), column.slice(head - period, crossing)))
        inner = end - max(head, start + period)
        if inner > 0:
            pieces.append(same(column.slice(end - inner, inner), column.slice(end - inner - period, inner)))
        start = end
    if not pieces:
        return pl.Series(column.name, [], pl.Boolean)
    return pl.concat(pieces, rechunk=True) if len(pieces) > 1 else pieces[0]


def _equal(rows: pl.Series, before: pl.Series) -> pl.Series:
    return rows == before


def _slots(
    communes: pl.DataFrame, names: list[str], first: int, last: int, lengths: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Each row's slot (its variable's position in `names` times the years' span, plus its year after `first`;
    past the slots for a variable not in `names` or a year outside `first`-`last`), and whether every run of codes
    (`lengths`) has the rows of the first, the same variables and years in the same order: then the slots of the
    first run alone."""
    variables, period = communes["variable"], int(lengths[0])
    year = communes["year"]
    years = (year.fill_null(first - 1) if year.null_count() else year).to_numpy()
    # two rows `period` apart compared: neighbouring strings, no hash (caf_benefits' 2.1 M rows: 13 ms against
    # about 40 ms for a lookup of each in an enum)
    same_as_before = _same_as_before(variables, period)
    periodic = bool(same_as_before.all() and (lengths == period).all() and (years[period:] == years[:-period]).all())
    if periodic:  # the first run's slots alone
        variables, years, same = variables.head(period), years[:period], np.zeros(period, bool)
    else:
        same = np.concatenate((np.zeros(period, bool), same_as_before.to_numpy()))
    positions = variable_positions(variables, names, same, period)
    span = last - first + 1
    slot = positions * span + years - first
    slot[(positions < 0) | (years < first) | (years > last)] = len(names) * span
    return slot, periodic


def variable_positions(variables: pl.Series, names: list[str], same: np.ndarray, period: int) -> np.ndarray:
    """Each row's position in `names` (sorted), -1 for a variable not among them or null. `same`: whether each
    row's variable is that of the row `period` rows before it (false for the first `period` rows).

    A wide-born source repeats the same variables in the same order for every code (and year): a row whose
    variable is that of the row `period` rows before it takes that row's position, and only the others (the first
    period, the rows around a code lacking a variable...) are looked up in an enum of `names`."""
    looked = np.flatnonzero(~same)
    n = variables.len()
    # every row looked up (a periodic table's first run): no gather (0.1 of a block's 0.3 ms)
    found = (variables if looked.size == n else variables.gather(looked)).cast(pl.Enum(names), strict=False)
    found_positions = found.to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
    if looked.size == n:
        return found_positions
    # each row takes the position of the last looked-up row above it in its column, the rows laid out `period`
    # to a line (the last line padded with rows of their own, never read)
    lines = -(-n // period)
    source = np.arange(lines * period)
    source[:n][same] = 0
    np.maximum.accumulate(source.reshape(lines, period), axis=0, out=source.reshape(lines, period))
    positions = np.empty(lines * period, np.int64)
    positions[looked] = found_positions
    return positions[source[:n]]


def _kept(col_of_row: np.ndarray, row_of_row: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(whether each row is kept, the cell of each kept row): the rows of a key (their key's column, -1 for none)
    and of a commune of the table (their commune's row, -1 for none; `n` communes)."""
    picked = (col_of_row >= 0) & (row_of_row >= 0)
    return picked, col_of_row[picked] * n + row_of_row[picked]


def _kept_periodic(col_of_offset: np.ndarray, row_of_run: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`_kept` of rows in runs of one code each, every run the same variables and years in the same order
    (`col_of_offset`: the key's column of each row of a run): the cells from the runs, no array of every row's."""
    key_of_offset, commune_of_run = col_of_offset >= 0, row_of_run >= 0
    picked = np.outer(commune_of_run, key_of_offset).reshape(-1)
    cell = row_of_run[commune_of_run][:, None] + (col_of_offset[key_of_offset] * n)[None, :]
    return picked, cell.reshape(-1)


def commune_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The COM rows of a staged table (`rows_at_levels`)."""
    return rows_at_levels(frame, ("COM",))


def rows_at_levels(frame: pl.DataFrame, levels: tuple[str, ...]) -> pl.DataFrame:
    """The rows of a staged table at these levels, in the table's order: slices of it where each level's rows are
    one run (a staged table is sorted by level first), else a filter. A comparison of the column with a level
    writes bits only; a shifted copy of millions of strings, their hashes (`is_in`) or a filter of every column
    cost more than the rest."""
    level = frame["level"]
    runs = []
    for name in levels:
        wanted = level == name
        first, count = wanted.arg_max() or 0, int(wanted.sum())
        if count and not wanted.slice(first, count).all():  # not one run: filtered
            return frame.filter(_any(level, levels))
        runs += [(first, count)] if count else []
    if not runs:
        return frame.clear()
    pieces = [frame.slice(first, count) for first, count in sorted(runs)]
    return pl.concat(pieces, rechunk=False) if len(pieces) > 1 else pieces[0]


def _any(level: pl.Series, levels: tuple[str, ...]) -> pl.Series:
    """Whether each row is at one of these levels."""
    wanted = level == levels[0]
    for name in levels[1:]:
        wanted = wanted | (level == name)
    return wanted


def rows_of_codes(codes: pl.Series, rows: pl.DataFrame) -> np.ndarray:
    """The `_row` in `rows` (code, _row) of each code of `codes`, -1 for a code not there: each run of equal codes
    looked up once (`_runs`, `_rows_of_codes`)."""
    heads, lengths = _runs(codes)
    return np.repeat(_rows_of_codes(heads, rows), lengths)


def _rows_of_codes(heads: pl.Series, rows: pl.DataFrame) -> np.ndarray:
    """The `_row` in `rows` (code, _row) of each code of the runs of equal codes (`_runs`), -1 for a code not
    there. Each run is looked up once: a staged table is sorted by level and code, so 4.7 million staged rows of
    France are 35,000 runs."""
    rotation = _rotation(heads, rows["code"])
    if rotation is not None:
        # every code in the order of `rows`, or its last codes first (0.2 ms against 3-5.5 ms for the join of
        # 35,000 codes in France)
        return np.roll(rows["_row"].cast(pl.Int64).to_numpy(), rotation)
    found = heads.to_frame("code").join(rows, on="code", how="left", maintain_order="left")
    return found["_row"].cast(pl.Int64).fill_null(-1).to_numpy()


def _rotation(heads: pl.Series, codes: pl.Series) -> int | None:
    """How many of `codes`' last codes `heads` lists first, followed by the others, both in order; None when
    `heads` is not such a rotation of `codes`. A staged table sorted by level gives the arrondissements' rows
    (level ARM, read as communes) before the communes', where the commune table lists them last."""
    n = codes.len()
    if heads.len() != n or n == 0:
        return None
    start = int((heads == codes[0]).arg_max() or 0)  # where the first code is among the heads
    if heads.slice(start).equals(codes.slice(0, n - start), check_names=False) and heads.slice(0, start).equals(
        codes.slice(n - start), check_names=False
    ):
        return start
    return None


def sum_ranges(rows: pl.DataFrame, needed: pl.DataFrame, n: int) -> pl.DataFrame:
    """The rows of a `range` period (births and deaths of the years between two censuses) summed into one value per
    commune: a commune lacking one of the years is unknown (`missing`), never the sum of the years it has.
    `needed` has the `_col` of each needed row; `n` communes (`placed_rows`' cells)."""
    if not (needed["period"] == "range").any():  # most sources: no query planned (0.3 ms a source)
        return rows
    years = needed.filter(pl.col("period") == "range").group_by("_col").agg(n_years=pl.col("year").n_unique())
    if years.is_empty():
        return rows
    ranged = (pl.col("_cell") // n).is_in(years["_col"].implode())
    summed = _summed_cells(rows.filter(ranged), years["_col"].to_numpy(), years["n_years"].to_numpy(), n)
    return pl.concat([rows.filter(~ranged), summed.select(rows.columns)])


def _summed_cells(rows: pl.DataFrame, columns: np.ndarray, n_years: np.ndarray, n: int) -> pl.DataFrame:
    """`sum_ranges` of the rows of the range keys' `columns` (each summing `n_years` years), one row per cell, in
    the cells' order: counts and sums by `np.bincount` over the cells of those keys, a cell's values added in the
    rows' order as the group_by of sorted cells did (`sum_ranges` of France's 245,000 birth rows: 20.4 to 11.8 ms,
    one polars thread)."""
    cell = rows["_cell"].to_numpy()
    slot_of_column = np.full(int(columns.max()) + 1, -1, np.int64)
    slot_of_column[columns] = np.arange(columns.size)
    local = slot_of_column[cell // n] * n + cell % n
    size = columns.size * n
    null = rows["value"].is_null().to_numpy()
    value = rows["value"].fill_null(0.0).to_numpy()
    total = np.bincount(local, weights=value, minlength=size)
    unknown = np.bincount(local[null], minlength=size) > 0
    # distinct years of each cell (a year given twice counts once): the (cell, year) pairs marked in a grid
    year = rows["year"].to_numpy()
    least = int(year.min()) if year.size else 0
    span = int(year.max()) - least + 1 if year.size else 1
    pairs = np.zeros(size * span, bool)
    pairs[local * span + year - least] = True
    complete = np.bincount(np.flatnonzero(pairs) // span, minlength=size) == np.repeat(n_years, n)
    rank, has_rank = rows["rank"].fill_null(0).to_numpy(), rows["rank"].is_not_null().to_numpy()
    worst = np.full(size, NO_WORST, np.int64)
    np.minimum.at(worst, local[has_rank], rank[has_rank])
    split = np.bincount(local[rows["split"].fill_null(False).to_numpy()], minlength=size) > 0
    at = np.flatnonzero(np.bincount(local, minlength=size))  # the cells holding rows
    missing = ~unknown[at] & ~complete[at]
    unranked = (unknown[at] & (worst[at] == NO_WORST)) | (~unknown[at] & complete[at])
    return pl.DataFrame(
        {
            "_cell": columns[at // n].astype(np.int64) * n + at % n,
            "value": pl.Series(total[at]).set(pl.Series(unknown[at] | ~complete[at]), None),
            "rank": pl.Series(np.where(missing, R.RANKS[R.MISSING], worst[at]), dtype=pl.Int32).set(
                pl.Series(unranked), None
            ),
            "split": split[at],
        }
    ).with_columns(year=pl.lit(None, pl.Int32))


def build(
    inputs: Inputs, needed: pl.DataFrame, communes: Mapping[str, pl.DataFrame] = MappingProxyType({})
) -> CommuneTable:
    """The commune table of every commune of `inputs.membership` and every needed (term, period). `communes`: the
    commune rows (`commune_rows`) of some staged tables, found already (their levels not compared again)."""
    keys = needed.select(key=pl.col("term") + "|" + pl.col("period")).unique().sort("key")["key"].to_list()
    n, shape = inputs.membership.height, (len(keys), inputs.membership.height)
    # (keys, communes) arrays, each source's rows written at their cell as they come: a cell without a row keeps the
    # rank `NO_ROW`, and only the few null values and split rows are written apart (two scatters of every row, not
    # five: 0.13 to 0.09 s of CPU for France)
    value, rank = np.full(shape, np.nan), np.full(shape, NO_ROW, np.int32)
    null, split = np.zeros(shape, bool), np.zeros(shape, bool)
    positions = []
    for part in placed_parts(inputs, needed, keys, communes):
        position = part["_cell"].to_numpy()
        positions.append(position)
        value.reshape(-1)[position] = part["value"].to_numpy(allow_copy=True)
        # most rows have no reason: one value written to every cell, the few reasons then (France's 4 M rows, 2 with
        # a reason: 15 to 12 ms with the array's making)
        rank.reshape(-1)[position] = NO_REASON
        if part["rank"].null_count() < part.height:
            reasoned = part["rank"].is_not_null().to_numpy()
            rank.reshape(-1)[position[reasoned]] = part["rank"].drop_nulls().to_numpy()
        if part["value"].null_count():
            null.reshape(-1)[position[part["value"].is_null().to_numpy()]] = True
        if part["split"].any():
            split.reshape(-1)[position[part["split"].fill_null(False).to_numpy()]] = True
    absent = rank == NO_ROW
    if absent.size - np.count_nonzero(absent) != sum(p.size for p in positions):  # two rows landed on one cell
        _refuse_duplicates(np.concatenate(positions), keys, inputs.membership["code"])
    # no row (a commune the publisher does not cover, a variable absent from that vintage), or a null value
    # without a reason: not available
    unknown = absent | null
    rank[absent | (null & (rank == NO_REASON))] = R.RANKS[R.NOT_AVAILABLE]
    # every key's values (then ranks) made one column, its nulls set at once, and cut into a column per key (slices
    # share its memory): two Series and a `set` per key cost 17 ms of CPU in France, whatever its communes
    values = pl.Series(value.reshape(-1), dtype=pl.Float64).set(pl.Series(unknown.reshape(-1)), None)
    ranks = pl.Series(rank.reshape(-1), dtype=pl.Int32).set(pl.Series(rank.reshape(-1) == NO_REASON), None)
    columns: dict[str, pl.Series] = {"code": inputs.membership["code"]}
    for i, k in enumerate(keys):
        columns[k] = values.slice(i * n, n).alias(k)
        columns[k + RANK] = ranks.slice(i * n, n).alias(k + RANK)
        if split[i].any():
            columns[k + SPLIT] = pl.Series(k + SPLIT, split[i])
    split_keys = frozenset(k for i, k in enumerate(keys) if split[i].any())
    return CommuneTable(pl.DataFrame(columns), tuple(keys), split_keys)


def _refuse_duplicates(position: np.ndarray, keys: list[str], codes: pl.Series) -> None:
    """Two staged rows for one commune and one value (two months of one year...) are an error, never summed."""
    counts = np.bincount(position) if position.size else np.zeros(1, np.int64)
    if counts.max() <= 1:
        return
    n = codes.len()
    twice = [(codes[int(p % n)], keys[int(p // n)]) for p in np.flatnonzero(counts > 1)[:5]]
    raise ValueError(f"staged commune values: several rows for one commune and one value, e.g. {twice}")


def long(table: CommuneTable) -> pl.DataFrame:
    """(code, term, period, value, status, split): the long form of the table (`compute.commune_values`)."""
    frames = [
        table.frame.select(
            "code",
            term=pl.lit(k.rsplit("|", 1)[0]),
            period=pl.lit(k.rsplit("|", 1)[1]),
            value=pl.col(k),
            status=R.reason(pl.col(k + RANK)),
            split=pl.col(k + SPLIT) if k in table.split_keys else pl.lit(False),
        )
        for k in table.keys
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema={c: t for c, t in ROWS_SCHEMA.items() if c != "year"})
