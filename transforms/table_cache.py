"""The indicator table of France, computed once per store version and code version, kept in the store.

    data/cache/indicators-<key>.parquet     every indicator of every commune, EPCI, département and France
                                            (`transforms.pipeline.diagnostic_table` with no custom territory and
                                            the default flag rules)
    data/cache/series-<key>.parquet         the series of every territory of France (`transforms.series`), and
                                            any other table of the store state a caller names (`cached_scan`)

The key names what the table was computed from: the staged tables the manifest names (their records: file, which
is named by its content, inputs, basis, staging time), the code that computes it (every Python and TOML file of
`transforms/` and `sources/` but the demo generators) and the polars version. A refresh that stages anything new,
or a release that changes the computation, gives another key: the old file is never read again and is deleted
when a newer one is written (two are kept, for a reader still pinned to the previous state). The file is written
atomically; a store a reader cannot write to just computes the table each time. Every report, export and national
batch reads the table through `france_table` or `scan_france_table`; a report reads only the rows it shows
(`territory_rows`: a filter Parquet pushes down, so the table of France is never held whole for one territory).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TypeVar

import polars as pl

from storage.files import atomic_path, write_json_atomic
from storage.store import Store

log = logging.getLogger(__name__)

CACHE_DIR = "cache"
PREFIX = "indicators-"
KEEP = 2  # the newest files kept: the current state's and the previous one's (a reader may still hold it)
ROOT = Path(__file__).resolve().parents[1]
CODE_FOLDERS = ("transforms", "sources")
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


@cache
def code_version() -> str:
    """A digest of the code the table is computed by (and of the polars that runs it)."""
    digest = hashlib.sha256(pl.__version__.encode())
    for folder in CODE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".toml") and "demo" not in path.relative_to(ROOT).parts:
                digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def table_key(store: Store) -> str:
    """What the table of `store` (as pinned) is computed from: its staged tables' records and the code."""
    digest = hashlib.sha256(json.dumps(store.staged_records(), sort_keys=True, default=str).encode())
    digest.update(code_version().encode())
    return digest.hexdigest()[:24]


def cache_path(store: Store, name: str = PREFIX.rstrip("-")) -> Path:
    """Where the table `name` (the indicators by default) of `store`'s pinned state is kept."""
    return store.root / CACHE_DIR / f"{name}-{table_key(store)}.parquet"


def france_table(store: Store, compute) -> pl.DataFrame:
    """The table of `store`'s pinned state: read from the cache, else `compute()`d and saved there."""
    return cached_table(store, PREFIX.rstrip("-"), compute)


def cached_table(store: Store, name: str, compute) -> pl.DataFrame:
    """The table `name` of `store`'s pinned state: read from the cache, else `compute()`d and saved there
    (`compute` may give the table's consecutive parts: `save_parts`)."""
    path = cache_path(store, name)
    try:
        return pl.read_parquet(path)
    except (FileNotFoundError, OSError, pl.exceptions.ComputeError):
        pass  # not computed yet for this state (or unreadable: computed again, replaced below)
    table = compute()
    if not isinstance(table, pl.DataFrame):
        return save_parts(table, path).collect()
    save(table, path)
    return as_text(table)


def as_text(table: Frame) -> Frame:
    """`table` with its categories as text (`transforms.compare.as_categories`): the schema of the saved tables and
    of every reader of the table (a Parquet file written from categories is not the same file as from text, and
    the national Parquet export is a copy of the saved table). Each is its categories gathered by its codes: a cast
    to text builds every row's string anew (a column of 3.3 M rows from 36,000 names: 88 against 30 ms of CPU)."""
    schema = table.collect_schema()
    return table.with_columns(
        pl.lit(pl.Series(dtype.categories)).gather(pl.col(name).to_physical()).alias(name)
        for name, dtype in schema.items()
        if isinstance(dtype, pl.Enum)
    )


def scan_france_table(store: Store, compute) -> pl.LazyFrame:
    """The table as a lazy scan of the cached file (a filter reads only the row groups it needs)."""
    return cached_scan(store, PREFIX.rstrip("-"), compute)


def cached_scan(store: Store, name: str, compute) -> pl.LazyFrame:
    """The table `name` of `store`'s pinned state as a lazy scan of its cached file (computed and saved first
    when missing; a store that cannot be written to gets the computed table, lazily)."""
    path = cache_path(store, name)
    if path.is_file():
        return pl.scan_parquet(path)
    table = compute()
    if not isinstance(table, pl.DataFrame):  # its parts, written as they come (`save_parts`)
        return save_parts(table, path)
    save(table, path)
    return pl.scan_parquet(path) if path.is_file() else table.lazy()


def cached_json(store: Store, name: str, compute):
    """A small value of `store`'s pinned state (JSON: strings, numbers, lists, dicts) kept beside its tables:
    read back, else `compute()`d and saved (not saved when the store cannot be written to)."""
    path = cache_path(store, name).with_suffix(".json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))["value"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not computed yet for this state (or unreadable: computed again, replaced below)
    value = compute()
    try:
        write_json_atomic(path, {"value": value})
        older = sorted(path.parent.glob(f"{name}-*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for stale in [p for p in older if p != path][KEEP - 1 :]:
            stale.unlink(missing_ok=True)
    except OSError as exc:
        log.info("%s not cached in %s: %s", path.name, path.parent, exc)
    return value


def save(table: pl.DataFrame, path: Path) -> None:
    """Write the table atomically, then delete the older ones of its name; a store that cannot be written to is
    left alone."""
    _saved(path, lambda tmp: as_text(table).write_parquet(tmp, statistics=True, row_group_size=ROW_GROUP))


def _saved(path: Path, write) -> bool:
    """`write(tmp)` put in place at `path` atomically, the older tables of its name deleted; False (and a note in
    the log) where the store cannot be written to."""
    try:
        with atomic_path(path) as tmp:
            write(tmp)
        _delete_older(path)
        return True
    except OSError as exc:
        log.info("%s not cached in %s: %s", path.name, path.parent, exc)
        return False


ROW_GROUP = 64_000  # rows per row group of a saved table: a filter on one territory reads few of them


def _delete_older(path: Path) -> None:
    """Delete the older tables of `path`'s name but the newest `KEEP` (a reader may still hold the previous one)."""
    name = path.name.rsplit("-", 1)[0]  # `name-<key>.parquet`
    older = sorted(path.parent.glob(f"{name}-*.parquet"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for stale in [p for p in older if p != path][KEEP - 1 :]:
        stale.unlink(missing_ok=True)


def save_parts(parts: Iterable[pl.DataFrame], path: Path) -> pl.LazyFrame:
    """The table whose consecutive parts `parts` gives, written at `path` as `save` writes a table (atomically,
    older ones of its name deleted) without ever holding it whole: each part is written to a temporary file as it
    comes, then the parts are streamed into one file, their categories written as text (`as_text`: the parts
    are written and read back as 4-byte codes, the text made a slice at a time by the stream). A scan of the saved
    table; where the store cannot be written to, the table itself (lazily: read into memory once, the parts being
    temporary)."""
    with tempfile.TemporaryDirectory(prefix="table-parts-") as folder:
        files = []
        for n, part in enumerate(parts):
            files.append(Path(folder) / f"{n:05}.parquet")
            part.write_parquet(files[-1], compression="uncompressed", statistics=False)  # read once, soon
            del part  # only one part in memory at a time
        if not files:
            raise ValueError(f"{path.name}: the table has no part to save")
        rows = as_text(pl.concat([pl.scan_parquet(f) for f in files]))
        if not _saved(path, lambda tmp: rows.sink_parquet(tmp, statistics=True, row_group_size=ROW_GROUP)):
            return rows.collect().lazy()
    return pl.scan_parquet(path)


def territory_rows(membership: pl.DataFrame, selections, every_epci: bool = False) -> pl.Expr:
    """A filter keeping at least the rows `transforms.pipeline.select` keeps for each of `selections` (their
    communes and EPCIs; every arrondissement, département, custom territory and France: few rows), and every
    EPCI with `every_epci` (the similar territories of a report are chosen among them). Reading a cached table
    through it leaves out the other communes, nearly all of its rows."""
    communes: set[str] = set()
    epcis: set[str] = set()
    for selection in selections:
        rows = _membership_of(membership, selection)
        communes |= set(rows["code"].to_list())
        epcis |= {e for e in rows["epci"].to_list() if e} | ({selection.epci} if selection.epci else set())
    small = pl.col("level").is_in(["ARM", "DEP", "FRANCE", "TERRITORY"] + (["EPCI"] if every_epci else []))
    return (
        small
        | ((pl.col("level") == "COM") & pl.col("code").is_in(sorted(communes)))
        | ((pl.col("level") == "EPCI") & pl.col("code").is_in(sorted(epcis)))
    )


def _membership_of(membership: pl.DataFrame, selection) -> pl.DataFrame:
    """The membership rows of the communes a selection's report shows (an arrondissement's: its whole city)."""
    from sources.codes import city_of_arrondissement

    if selection.arrondissement and selection.commune:
        return membership.filter(pl.col("code") == city_of_arrondissement(selection.commune))
    if selection.epci:
        return membership.filter(pl.col("epci") == selection.epci)
    if selection.commune:
        return membership.filter(pl.col("code") == selection.commune)
    if selection.departement:
        return membership.filter(pl.col("dep") == selection.departement)
    group = selection.group
    return membership.filter(pl.col("code").is_in(list(group.communes if group else ())))


def diagnostic_table_cached(
    store: Store | None, customs: tuple = (), rules=None, inputs=None, compute=None
) -> pl.DataFrame:
    """`compute(store, customs, rules, inputs=inputs)` (`transforms.pipeline.diagnostic_table` by default), read
    from the cache when it is the table of France (no custom territory, the default flag rules); a custom
    territory or other rules are computed each time."""
    from transforms.compare import FlagRules
    from transforms.pipeline import diagnostic_table

    rules, compute = rules or FlagRules(), compute or diagnostic_table

    def computed():
        return compute(store, customs, rules, inputs=inputs)

    if store is None or customs or rules != FlagRules():
        return computed()
    return france_table(store, computed)
