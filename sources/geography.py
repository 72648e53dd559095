"""One geography: the target COG, older COGs derived from its events, and bringing staged rows into it.

Only the target year's files are downloaded (`v_commune_2025`, `v_mvt_commune_2025`, the EPCI composition): the
communes valid on 1 January of any earlier year, and the path of each old code to its target code, follow from
the list of events since 1943 (decisions.md "Geography").
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from sources.values import (
    KEY,
    MERGED,
    NON_RECALCULABLE,
    NOT_AVAILABLE,
    RENAMED,
    SPLIT,
    run_lengths,
    runs,
    sorted_by_key,
    without_rows,
)

NO_EPCI = "ZZZZZZZZZ"


@dataclass(frozen=True)
class GeoChange:
    """One old code brought into the target COG."""

    cog: int
    old: str
    new: tuple[str, ...]
    kind: str  # MERGED, SPLIT or RENAMED

    def as_dict(self) -> dict:
        return {"cog": self.cog, "old": self.old, "new": list(self.new), "kind": self.kind}


class Geography:
    """The target COG (communes, arrondissements, EPCI) and the way to it from any older COG."""

    def __init__(self, communes: pl.DataFrame, events: pl.DataFrame, epci: pl.DataFrame, target: int):
        self.communes = communes  # staged cog_communes: typecom, code, dep, reg, name, parent
        self.events = events  # staged cog_events: mod, date, typecom_av, code_av, typecom_ap, code_ap, ...
        self.epci = epci  # staged epci: code, name, epci, epci_name, epci_nature, dep, reg
        self.target = target
        self._memo: dict[tuple[str, int], Any] = {}  # (method, cog) -> result: sources staged at once share one
        self._memo_lock = threading.RLock()  # reentrant: changes() asks passage(), which asks communes_at()

    def _memoised(self, method: str, cog: int, compute: Callable[[], Any]) -> Any:
        """`compute()` once per (method, cog): threads asking at the same time wait for the first."""
        key = (method, cog)
        with self._memo_lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]

    # -- codes valid on 1 January of a year --------------------------------------------------------------------

    @cached_property
    def _com_pairs(self) -> list[tuple[date, str, str]]:
        """(date, code before, code after) for every event row between two communes (TYPECOM COM)."""
        rows = self.events.filter((pl.col("typecom_av") == "COM") & (pl.col("typecom_ap") == "COM"))
        return sorted(zip(rows["date"].to_list(), rows["code_av"].to_list(), rows["code_ap"].to_list()))

    def _batches(self, after: date) -> list[tuple[date, list[tuple[str, str]]]]:
        """Events effective after `after` (a COG of 1 January Y already includes that day's events), by date."""
        batches: dict[date, list[tuple[str, str]]] = {}
        for day, av, ap in self._com_pairs:
            if after < day <= date(self.target, 1, 1):
                batches.setdefault(day, []).append((av, ap))
        return sorted(batches.items())

    @cached_property
    def arrondissements(self) -> set[str]:
        return set(self.communes.filter(pl.col("typecom") == "ARM")["code"].to_list())

    @cached_property
    def _target_communes(self) -> set[str]:
        return set(self.communes.filter(pl.col("typecom") == "COM")["code"].to_list())

    def communes_at(self, cog: int) -> set[str]:
        """Commune codes (TYPECOM COM) valid on 1 January `cog`, derived backwards from the target list."""
        return set(self._memoised("communes_at", cog, lambda: self._communes_at(cog)))

    def _communes_at(self, cog: int) -> frozenset[str]:
        codes = set(self._target_communes)
        for _, pairs in reversed(self._batches(date(cog, 1, 1))):
            # a code created and consumed the same day (a change of département, then a merger) never existed
            codes = (codes - {ap for _, ap in pairs}) | ({av for av, _ in pairs} - _intermediate(pairs))
        return frozenset(codes)

    def known_codes(self, cogs: set[int]) -> dict[int, dict[str, frozenset[str]]]:
        """Per COG: the valid COM and ARM codes (arrondissements are stable; `693XX`/`132XX` are valid ARM);
        shared, never copied (every entry of a refresh asks for them)."""
        return {cog: {"COM": self._valid_at(cog), "ARM": self._known_arrondissements} for cog in sorted(cogs)}

    @cached_property
    def _known_arrondissements(self) -> frozenset[str]:
        return frozenset(self.arrondissements | {"693XX", "132XX"})

    # -- passage to the target COG -----------------------------------------------------------------------------

    def passage(self, cog: int) -> dict[str, tuple[str, ...]]:
        """For every commune code of COG `cog`: the target code(s) it became (several after a split)."""
        return dict(self._memoised("passage", cog, lambda: self._passage(cog)))

    def _passage(self, cog: int) -> dict[str, tuple[str, ...]]:
        moved = self._moved(cog)
        return {code: moved.get(code, (code,)) for code in self._valid_at(cog)}

    def _valid_at(self, cog: int) -> frozenset[str]:
        return self._memoised("communes_at", cog, lambda: self._communes_at(cog))

    def _moved(self, cog: int) -> dict[str, tuple[str, ...]]:
        """The codes of COG `cog` that some event since touched, and the target code(s) each became; the others
        stay as they are. A day's events look only at the codes they move (a few), not at every commune."""
        return self._memoised("moved", cog, lambda: self._moved_codes(cog))

    def _moved_codes(self, cog: int) -> dict[str, tuple[str, ...]]:
        valid = self._valid_at(cog)
        mapping: dict[str, set[str]] = {}  # old code touched by an event -> its current code(s)
        holders: dict[str, set[str]] = {}  # current code -> the touched old codes now there
        for _, pairs in self._batches(date(cog, 1, 1)):
            moves = _resolved_moves(pairs)
            touched = set()
            for code in moves:
                touched |= holders.get(code, set())
                if code in valid and code not in mapping:  # an old code still where it was
                    touched.add(code)
            for old in touched:
                targets = mapping.get(old, {old})
                mapping[old] = set().union(*(moves.get(t, {t}) for t in targets))
                for t in targets:
                    holders.get(t, set()).discard(old)
                for t in mapping[old]:
                    holders.setdefault(t, set()).add(old)
        return {old: tuple(sorted(targets)) for old, targets in mapping.items()}

    def changes(self, cog: int) -> list[GeoChange]:
        """The non-identity paths from COG `cog` to the target."""
        return list(self._memoised("changes", cog, lambda: self._changes(cog)))

    def _changes(self, cog: int) -> list[GeoChange]:
        moved, valid = self._moved(cog), self._valid_at(cog)
        sources_of: dict[str, list[str]] = {}
        for old, targets in moved.items():
            for t in targets:
                sources_of.setdefault(t, []).append(old)
        # a code of COG `cog` no event touched, into which others moved, is one of the sources of its code
        unmoved = {t for t in sources_of if t in valid and t not in moved}
        for t in unmoved:
            sources_of[t].append(t)
        passage = {**{t: (t,) for t in unmoved}, **moved}  # every code that may have changed (the rest did not)
        # a target fed by several old codes, one of which went to several targets: every path to it is a split
        split = {t for t, olds in sources_of.items() if len(olds) > 1 and _splits(passage, olds)}
        out = []
        for old, targets in sorted(passage.items()):
            if len(targets) > 1 or not split.isdisjoint(targets):
                out.append(GeoChange(cog, old, targets, SPLIT))
            elif len(sources_of[targets[0]]) > 1:
                out.append(GeoChange(cog, old, targets, MERGED))
            elif targets[0] != old:
                out.append(GeoChange(cog, old, targets, RENAMED))
        return out

    def harmonise(
        self, long: pl.DataFrame, additive: set[str], *, presorted: bool = False
    ) -> tuple[pl.DataFrame, list[GeoChange]]:
        """Bring COM rows of a staged long frame (with a `cog` column) into the target COG, sorted by `KEY`; and
        the changes that moved some of its communes (found among the rows it groups, not by a scan of all).

        Merged communes: additive variables are summed (null if any part is null, with that part's reason), the
        others become null `non_recalculable`. Split communes: the parent's row keeps its value under its target
        code, marked `split` (valid above the commune only), and restored communes get null `non_recalculable`
        rows, so nothing is invented. Arrondissements and other levels pass through; so do the communes no
        change touches. Only the rows of a changed code, old or new, are grouped (a few among many); the others
        are never copied but by the one sort, which sends the grouped rows' originals to the end, cut off.
        `presorted`: `long` is already in `KEY` order: the grouped rows are put in place among the others by their
        (level, code) (`_inserted`) instead of the sort.
        """
        com_cogs = _commune_cogs(long, presorted=presorted)
        applied = [ch for cog in sorted(com_cogs) if cog != self.target for ch in self.changes(cog)]
        if not applied:
            return (long.drop("cog") if presorted else sorted_by_key(long.drop("cog"))), applied
        mapping = _mapping(applied)
        touched = pl.concat([mapping.select("cog", "code"), mapping.select("cog", code="new_code")]).unique()
        is_moved, cog = _moved(long, touched, presorted=presorted), pl.col("cog").cast(pl.Int32)
        moved = sorted_by_key(long[is_moved.arg_true()].with_columns(cog))  # a few rows gathered, not all filtered
        # every COG's changes, those met here (a few hundred rows' pairs in Python: `unique` cost 1.4-1.8 ms)
        present = set(zip(moved.get_column("cog").to_list(), moved.get_column("code").to_list()))
        met = [change for change in applied if (change.cog, change.old) in present]
        flagged = long.with_columns(cog, **_status_as_grouped(long))
        # the flags cut as the columns are (see `_plain_columns`)
        flagged = flagged.with_columns(moved=_cut(is_moved, flagged.get_column("level").chunk_lengths()))
        merged = _merged(moved, mapping, additive).with_columns(moved=pl.lit(False))
        columns = [c for c in long.columns if c != "cog"]
        if presorted:  # merged: the few rows of changed codes
            inserted = _inserted(flagged.select(*columns, "moved"), sorted_by_key(merged.select(columns)))
            if inserted is not None:
                return inserted, met
        both = pl.concat([flagged.select(*columns, "moved"), merged.select(*columns, "moved")])
        return sorted_by_key(both, ["moved", *KEY]).head(both.height - moved.height).drop("moved"), met

    # -- the target COG's hierarchy ----------------------------------------------------------------------------

    def membership(self) -> pl.DataFrame:
        """One row per commune of the target COG: code, name, dep, reg, epci (null when in no EPCI)."""
        base = self.communes.filter(pl.col("typecom") == "COM").select("code", "name", "dep", "reg")
        epci = self.epci.select("code", pl.when(pl.col("epci") != NO_EPCI).then(pl.col("epci")).alias("epci"))
        return base.join(epci, on="code", how="left").sort("code")


def _commune_cogs(long: pl.DataFrame, *, presorted: bool) -> list[int]:
    """The distinct COGs of the commune rows of `long`; in `KEY` order those rows are one block, found by two
    binary searches, not by comparing the level of every row (8 ms for the census population's 3.2 M rows), and
    their COGs come in runs (a code's variables, then its next year's): the distinct values of the runs, not of
    every row (the CAF benefits' 4 M rows 9-14 to 3.7 ms of CPU); one COG is told by the smallest and largest."""
    if presorted:
        level = long.get_column("level")
        first, end = (int(level.search_sorted("COM", side=side)) for side in ("left", "right"))
        cogs = long.get_column("cog").slice(first, end - first)
        if cogs.null_count() == 0 and cogs.min() == cogs.max():  # the entry's one COG (the census): no runs to find
            return cogs.head(1).to_list()
        return cogs.rle().struct.field("value").unique().to_list()
    return long.select(pl.col("cog").filter(pl.col("level") == "COM").unique())["cog"].to_list()  # no copy


def _status_as_grouped(long: pl.DataFrame) -> dict[str, pl.Expr]:
    """The `status` a group of one row would give (a commune's status only where its value is null), as a new
    column; none when no row has a status (a census table's: the rows' level and value not compared, no column of
    3.2 M nulls built)."""
    if long.select(pl.col("status").null_count()).item() == long.height:
        return {}
    null_or_not_com = (pl.col("level") != "COM") | pl.col("value").is_null()
    return {"status": pl.when(null_or_not_com).then(pl.col("status"))}


def _moved(long: pl.DataFrame, touched: pl.DataFrame, *, presorted: bool) -> pl.Series:
    """Per row of `long`: a commune row whose code a change touches in the row's COG (`touched`: cog, code). The
    rows of the touched codes are found first (`presorted`: by binary search, else each row's code looked up once
    among them), and their COGs compared in those rows only (each COG's codes looked up in every row took three
    times as long for the five COGs of the CAF benefits of France)."""
    in_its_cog = pl.lit(False)
    for cog, codes in touched.group_by("cog").agg("code").rows():
        in_its_cog = in_its_cog | ((pl.col("cog") == cog) & pl.col("code").is_in(codes))
    codes = touched["code"].unique().sort()
    if presorted:
        found = _commune_rows_in_key_order(long, codes)
    else:
        is_commune = (pl.col("level") == "COM") & pl.col("code").is_in(codes.implode())
        found = long.select(is_commune.arg_true()).to_series()
    moved = long[found].select(in_its_cog).to_series()
    return pl.repeat(False, long.height, eager=True).scatter(found, moved)


def _commune_rows_in_key_order(long: pl.DataFrame, codes: pl.Series) -> pl.Series:
    """The rows of `long` (in `KEY` order) at level COM with one of `codes` (sorted), in order: the communes' rows
    are one block, sorted by code, so each code's rows are found by two binary searches, not by looking up the
    code of each of millions of rows (80 ms of CPU for the CAF benefits of France)."""
    level = long.get_column("level")
    first, end = (int(level.search_sorted("COM", side=side)) for side in ("left", "right"))
    communes = long.get_column("code").slice(first, end - first)
    lows, highs = communes.search_sorted(codes, side="left"), communes.search_sorted(codes, side="right")
    rows = [np.arange(low, high) for low, high in zip(lows.to_list(), highs.to_list()) if high > low]
    return pl.Series(np.concatenate(rows) + first if rows else np.empty(0, np.int64), dtype=pl.get_index_type())


def _mapping(changes: list[GeoChange]) -> pl.DataFrame:
    """One row per (cog, old code, new code) of the changes; `carries`: the old code's data go to the new code
    (not to a commune restored from it); `expected`: how many old communes feed each new code."""
    rows = []
    for ch in changes:
        parent = ch.old if ch.old in ch.new else ch.new[0]
        rows += [(ch.cog, ch.old, new, ch.kind, ch.kind != SPLIT or new == parent) for new in ch.new]
    schema = {"cog": pl.Int32, "code": pl.String, "new_code": pl.String, "change": pl.String, "carries": pl.Boolean}
    mapping = pl.DataFrame(rows, schema=schema, orient="row")
    # a sum over fewer old communes than feed the new code is never published
    return mapping.with_columns(expected=pl.col("carries").sum().over("cog", "new_code").cast(pl.UInt32))


def _merged(com: pl.DataFrame, mapping: pl.DataFrame, additive: set[str]) -> pl.DataFrame:
    """COM rows of changed codes, in key order, grouped under their target codes (see `Geography.harmonise`)."""
    joined = com.join(mapping, on=["cog", "code"], how="left").with_columns(
        code=pl.coalesce("new_code", "code"), carries=pl.col("carries").fill_null(True)
    )
    carried = pl.col("carries")
    passing = [c for c in com.columns if c not in (*KEY, "value", "status", "geo_change")]  # cog, source...
    grouped = joined.group_by(KEY, maintain_order=True).agg(
        pl.col(passing).first(),
        n_carried=carried.sum().cast(pl.UInt32),
        expected=pl.col("expected").max(),
        carried=carried.any(),
        any_null=(pl.col("value").is_null() & carried).any(),
        first_status=pl.col("status").filter(carried).drop_nulls().first(),
        total=pl.col("value").filter(carried).sum(),
        single=pl.col("value").filter(carried).first(),
        change=pl.col("change").drop_nulls().first(),
        geo_change=pl.col("geo_change").drop_nulls().first(),
    )
    is_additive = pl.col("variable").is_in(sorted(additive))
    changed = pl.col("change").is_in([MERGED, SPLIT])
    # a part with no row in the file (a small commune absent from a file of big ones) leaves the sum unknown
    incomplete = changed & (pl.col("n_carried") < pl.col("expected").fill_null(1))
    value = (
        pl.when(~pl.col("carried"))
        .then(None)  # a restored commune: no data of its own in that vintage
        .when(changed & ~is_additive)
        .then(None)
        .when(changed & (pl.col("any_null") | incomplete))
        .then(None)
        .when(changed)
        .then(pl.col("total"))  # merged parts, or every part feeding a split parent
        .otherwise(pl.col("single"))
    )
    status = (
        pl.when(~pl.col("carried") | (changed & ~is_additive))
        .then(pl.lit(NON_RECALCULABLE))
        .when(changed & pl.col("any_null"))
        .then(pl.col("first_status"))
        .when(incomplete)
        .then(pl.lit(NOT_AVAILABLE))
        .when(value.is_null())
        .then(pl.col("first_status"))
        .otherwise(None)
    )
    return grouped.with_columns(value=value, status=status, geo_change=pl.coalesce("change", "geo_change"))


def _inserted(frame: pl.DataFrame, merged: pl.DataFrame) -> pl.DataFrame | None:
    """The rows of `frame` (in `KEY` order) not `moved`, with the rows of `merged` (in `KEY` order) put in place, as
    the sort of both would: each run (`RUN`) of `merged` before the first run of the others above it. The output is
    made of slices of both, never copied: a table of millions of rows is not held twice (840 instead of 1,120 MiB
    for the CAF benefits of France); its Parquet has a row group per slice. None when a run is on both sides
    (their rows would interleave by variable): the caller sorts.

    Each run of `merged` (a few) is found in `frame` by binary search on its key columns (read row by row, a few
    dozen rows per run): the runs of the millions of rows of `frame` are never listed."""
    # the moved rows' positions (a few hundred), not the flags of millions of rows read into numpy (0.7 against
    # 2.8 ms for the CAF benefits of France)
    moved_rows = frame.get_column("moved").arg_true().to_numpy()
    keys = _RowKeys(frame)
    merged_starts, merged_keys = _runs(merged)
    places = []
    for key in merged_keys:
        low, high = bisect.bisect_left(keys, key), bisect.bisect_right(keys, key)
        moved_here = np.searchsorted(moved_rows, high) - np.searchsorted(moved_rows, low)
        if moved_here != high - low:  # a kept row of the same run: their rows would interleave
            return None
        places.append(high)  # the rows from `low` are moved ones, dropped: the run goes after them
    frame = _plain_columns(frame.drop("moved"))
    merged = _plain_columns(merged.select(frame.columns))
    pieces, done = [], 0
    merged_ends = [*merged_starts[1:], merged.height]
    for start, end, position in zip(merged_starts, merged_ends, places):
        pieces += [*_kept_slices(frame, moved_rows, done, position), merged.slice(start, end - start)]
        done = position
    pieces += _kept_slices(frame, moved_rows, done, frame.height)
    return pl.concat(pieces, rechunk=False)


def _plain_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every column a series cut in the pieces of its first column. A column of one literal (the
    `month` or `geo_change` of most files) is held as that value: its slices would join into fewer pieces than
    their neighbours', and the next `with_columns` on the rows `_inserted` returns would first copy every column
    into one piece (0.14 s, and the table held twice, for the CAF benefits of France)."""
    if frame.height == 0 or not frame.columns:
        return frame
    lengths = frame.get_column(frame.columns[0]).chunk_lengths()
    # a literal column comes out whole, as a series of one piece
    return pl.DataFrame([_cut(frame.get_column(name), lengths) for name in frame.columns])


def _cut(series: pl.Series, lengths: list[int]) -> pl.Series:
    """`series` in pieces of these lengths (slices of it whole: only a series cut otherwise is copied)."""
    if series.chunk_lengths() == lengths:
        return series
    whole, offsets = series.rechunk(), np.cumsum([0, *lengths[:-1]])
    return pl.concat([whole.slice(int(o), n) for o, n in zip(offsets, lengths)], rechunk=False)


class _RowKeys:
    """The `RUN` key of each row of a frame in `KEY` order, read on demand (a sequence for `bisect`), a null year or
    month as -1, as `_runs` gives them."""

    def __init__(self, frame: pl.DataFrame):
        self.columns = [frame.get_column(c) for c in RUN]
        self.height = frame.height

    def __len__(self) -> int:
        return self.height

    def __getitem__(self, row: int) -> tuple:
        level, code, year, month = (column[row] for column in self.columns)
        return level, code, -1 if year is None else year, -1 if month is None else month


def _kept_slices(frame: pl.DataFrame, moved_rows: np.ndarray, first: int, end: int) -> list[pl.DataFrame]:
    """Rows `first` to `end` (excluded) of `frame` but the moved ones, as slices (views, not copies)."""
    slices, start = [], first
    for row in moved_rows[(moved_rows >= first) & (moved_rows < end)]:
        if row > start:
            slices.append(frame.slice(start, int(row) - start))
        start = int(row) + 1
    if end > start:
        slices.append(frame.slice(start, end - start))
    return slices


# a run: the rows of one (level, code, year, month), consecutive in `KEY` order
RUN = ["level", "code", "year", "month"]


def _runs(frame: pl.DataFrame) -> tuple[list[int], list[tuple]]:
    """The first row of each run of a frame in `KEY` order, and its (level, code, year, month), a null year or
    month as -1 (before any other, as the sort puts nulls first)."""
    new_run = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift()) for c in RUN]).fill_null(True)
    starts = frame.select(pl.arg_where(new_run))[:, 0]
    keys = frame.select(*RUN[:2], *[pl.col(c).cast(pl.Int64).fill_null(-1) for c in RUN[2:]])[starts]
    return starts.to_list(), list(keys.iter_rows())


def _resolved_moves(pairs: list[tuple[str, str]]) -> dict[str, set[str]]:
    """Old code -> final codes of one day's events, following chains (49144 -> 44225 -> 44180 the same day)."""
    direct: dict[str, set[str]] = {}
    for av, ap in pairs:
        direct.setdefault(av, set()).add(ap)

    def follow(code: str, seen: frozenset[str]) -> set[str]:
        targets = direct.get(code, {code})
        out: set[str] = set()
        for t in targets:
            if t == code or t in seen or t not in direct:
                out.add(t)
            else:
                out |= follow(t, seen | {code})
        return out

    return {av: follow(av, frozenset()) for av in direct}


def _intermediate(pairs: list[tuple[str, str]]) -> set[str]:
    """Codes both reached from another code and moved on to another code within one day's events."""
    reached = {ap for av, ap in pairs if ap != av}
    left = {av for av, ap in pairs if ap != av}
    survivors = {av for av, ap in pairs if ap == av}
    return (reached & left) - survivors


def _splits(passage: dict[str, tuple[str, ...]], olds: list[str]) -> bool:
    """True when one of `olds` went to several codes (an n -> n mutation counts as a split)."""
    return any(len(passage[o]) > 1 for o in olds)


def drop_other_zonings(frame: pl.DataFrame, levels, fail, shown: str) -> tuple[pl.DataFrame, list[str]]:
    """Rows of an INSEE Melodi file (`GEO_OBJECT`, `GEO`) at the staged `levels` only: the other zonings (ARR,
    BV2022...) and the no-EPCI pseudo-code `ZZZZZZZZZ` (communes outside any EPCI: not a territory) are dropped
    with a count, as notes. A row with no `GEO_OBJECT` at all is refused: `fail(column, rule, count, samples)`
    builds the parser's error, its samples showing `GEO` and the `shown` column."""
    # judged once per run of one level (a file lists a level's rows together), then dropped as slices when few
    # (`without_rows`): the filters of every row and column cost 21 of the births' 25 ms of CPU here
    run, runs_of = runs(frame, ["GEO_OBJECT"])
    level = pl.col("GEO_OBJECT")
    rows = run_lengths(run, runs_of.height)
    runs_of = runs_of.with_columns(unset=level.fill_null("") == "", kept=level.is_in(levels), rows=rows)
    if runs_of.get_column("unset").any():
        unset = frame.filter(level.fill_null("") == "")
        samples = [f"GEO {g} {t}" for g, t in unset.select("GEO", shown).head(5).rows()]
        raise fail("GEO_OBJECT", "a geographic level", unset.height, samples)
    notes = []
    dropped = runs_of.filter(~pl.col("kept")).group_by("GEO_OBJECT").agg(pl.col("rows").sum()).sort("GEO_OBJECT")
    if dropped.height:
        detail = ", ".join(f"{lv} {n}" for lv, n in dropped.rows())
        notes.append(f"{dropped['rows'].sum()} row(s) of other zonings dropped ({detail})")
    no_epci = (level == "EPCI") & (pl.col("GEO") == NO_EPCI)
    other = runs_of.get_column("kept").gather(run).not_()
    pseudo = frame.select(no_epci.fill_null(False)).to_series()
    if n := pseudo.sum():
        notes.append(f"{n} row(s) of the pseudo-EPCI {NO_EPCI} (communes in no EPCI) dropped")
    return without_rows(frame, other | pseudo), notes
