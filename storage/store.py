"""The data store under `ABS_DATA_DIR` (default `./data`): raw downloads, staged Parquet, the manifest.

    data/manifest.json                              the store's state: per source and vintage, its files (URL, size,
                                                    sha256, validators, date) and its staged table (`file`, rows,
                                                    secret cells, geography changes)
    data/raw/<source>/<vintage>/<file name>         the bytes the manifest describes, byte for byte
    data/raw/<source>/<vintage>/<name>.rejected     the last download refused for that file, kept apart
    data/staged/<source>/<vintage>-<sha>.parquet    validated long tables in the target COG; immutable, named by
                                                    their content: the manifest says which one is current
    data/pending/<run>/                             what a refresh in progress downloaded and staged

A refresh writes only into its pending area (`Run`), then switches the store in one step (`Run.commit`): its new
tables move to their new names (no reader looks for them yet), its raw files into `raw/`, then the manifest is
replaced atomically. A reader reads the manifest once (`Store.pinned`) and the tables it names, so it sees the old
state or the new one, never half of each. The list of moves is written first (`commit.json`): a switch a kill
interrupted is finished by the next refresh; a pending area without it is dropped.

Every write goes to a temporary file in the same folder and is renamed into place. `.lock` keeps two refreshes from
writing at once (what a dead run left is cleaned under it); readers share `.readers` while they use a pinned state,
and tables the manifest no longer names are deleted only when no reader holds it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from sources.errors import StoreWriteError
from sources.values import KEY
from storage import locks
from storage.files import atomic_path, sha256_file, write_json_atomic
from storage.manifest import EntryRecord, Manifest
from storage.settings import load_settings

if TYPE_CHECKING:
    from sources.catalogue import Entry, FileSpec

log = logging.getLogger(__name__)


class StoreBusy(locks.Busy):
    pass


LEFTOVER_SUFFIXES = (".part", ".tmp")  # temporary files of downloads and atomic writes (always `.<name>.*<suffix>`)


def reads_one_state(function):
    """Run `function(store, ...)` on one pinned state of the store (`Store.pinned`): every table it reads and the
    manifest it shows come from the same refresh, even if another refresh switches the store meanwhile."""

    @functools.wraps(function)
    def pinned_call(store: Store, *args, **kwargs):
        if store is None:  # nothing to read from the store (the caller hands its inputs over)
            return function(store, *args, **kwargs)
        with store.pinned() as state:
            return function(state, *args, **kwargs)

    return pinned_call


_PARSED: dict[Path, tuple[tuple[int, int, int], Manifest]] = {}  # manifest.json -> (its version, parsed)


def _parsed_manifest(path: Path) -> Manifest:
    """The manifest at `path`, parsed again only when the file was replaced (every write renames a new file into
    place: another inode, size or date); shared, never to be changed."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return Manifest()
    version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    known = _PARSED.get(path)
    if known is not None and known[0] == version:
        return known[1]
    manifest = Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    _PARSED[path] = (version, manifest)
    return manifest


class Store:
    def __init__(self, root: Path | None = None):
        self.root = Path(root or load_settings().data_dir).resolve()
        self._pinned: Manifest | None = None  # the manifest of a pinned state (`pinned()`), None: read it each time
        self._holds_lock = False

    # -- paths -------------------------------------------------------------------------------------------------

    def raw_path(self, entry: Entry, spec: FileSpec) -> Path:
        prefix = "" if spec.role == "main" else f"{spec.role}-"
        return self.root / "raw" / entry.source / entry.vintage / f"{prefix}{spec.name}"

    def staged_path(self, source: str, vintage: str) -> Path:
        """The staged table the manifest names (a store staged before tables were named by content: the old
        fixed name)."""
        staged = self._get(f"{source}/{vintage}").staged  # read only: no copy of the record
        named = staged.file if staged else None
        return self.root / named if named else self.root / "staged" / source / f"{vintage}.parquet"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    # -- manifest ----------------------------------------------------------------------------------------------

    def manifest(self) -> Manifest:
        """The manifest (a copy: changing it changes nothing on disk)."""
        if self._pinned is not None:
            return Manifest.from_dict(self._pinned.to_dict())
        return self._committed_manifest()

    def staged_records(self) -> dict[str, dict]:
        """The staged records of the manifest, `source/vintage` -> its JSON form (copies; without copying the rest
        of the manifest, which `manifest()` does: 3.5 ms for France's)."""
        records = {key: record.staged.to_dict() for key, record in self._view().staged().items() if record.staged}
        return {key: staged for key, staged in records.items() if staged}  # `"staged": {}` is not a staged table

    def _committed_manifest(self) -> Manifest:
        if not self.manifest_path.exists():
            return Manifest()
        return Manifest.from_dict(json.loads(self.manifest_path.read_text(encoding="utf-8")))

    def record(self, key: str, record: EntryRecord) -> None:
        """Write one entry's record straight into the manifest (a refresh records into its `Run` instead)."""
        manifest = self._committed_manifest()
        manifest.entries[key] = record
        write_json_atomic(self.manifest_path, manifest.to_dict())

    def previous(self, key: str) -> EntryRecord:
        """The record of `key` (an empty one when the store does not know it); a copy, free to change."""
        return EntryRecord.from_dict(self._get(key).to_dict())

    def _get(self, key: str) -> EntryRecord:
        """The record of `key` to read, shared: never change it."""
        return self._view().get(key)

    def _view(self) -> Manifest:
        """The manifest to read, shared: never change it (`manifest()` gives a copy). The pinned one, else the
        committed one, parsed once per version of manifest.json (a report looks at it hundreds of times)."""
        if self._pinned is not None:
            return self._pinned
        return _parsed_manifest(self.manifest_path)

    # -- staged tables -----------------------------------------------------------------------------------------

    def read_staged(self, source: str, vintage: str | None = None) -> pl.DataFrame:
        """A staged table; the latest staged vintage when `vintage` is None."""
        return self.scan_staged(source, vintage).collect()

    def scan_staged(self, source: str, vintage: str | None = None) -> pl.LazyFrame:
        """A staged table as a lazy scan (a filter reads only the rows it keeps); the latest vintage when None."""
        if vintage is None:
            vintage = self.latest_vintage(source)
        path = self.staged_path(source, vintage)
        if not path.exists():
            raise FileNotFoundError(f"{source}/{vintage} is not staged in {self.root}: run `abs-diag refresh`")
        return pl.scan_parquet(path)

    def latest_vintage(self, source: str) -> str:
        """The latest vintage of `source` the manifest records as staged."""
        vintages = self.staged_vintages(source)
        if not vintages:
            raise FileNotFoundError(f"{source} is not staged in {self.root}: run `abs-diag refresh`")
        return vintages[-1]

    def staged_vintages(self, source: str) -> list[str]:
        """Every vintage of `source` the manifest records as staged, oldest first."""
        return sorted(
            record.vintage or Manifest.split(key)[1]
            for key, record in self._view().staged().items()
            if Manifest.split(key)[0] == source
        )

    # -- states: readers pin one, a refresh prepares the next ----------------------------------------------------

    @contextlib.contextmanager
    def pinned(self) -> Iterator[Store]:
        """This store as one state: the manifest read once; the tables it names stay on disk until the block ends."""
        if self._pinned is not None:
            yield self
            return
        with locks.shared(self.root / ".readers"):
            state = Store(self.root)
            state._pinned = _parsed_manifest(self.manifest_path)  # shared, read only: parsed once (3 ms for France)
            yield state

    def begin_run(self) -> Run:
        """A new pending area for a refresh; when this store's lock is held, what dead runs left is cleaned first."""
        if self._holds_lock:
            self.clean_leftovers()
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}-{secrets.token_hex(3)}"
        run = Run(self, run_id)
        run.dir.mkdir(parents=True)
        return run

    def open_run(self, run_id: str) -> Run:
        """The pending area of a run begun by `begin_run` (in this process or another)."""
        run = Run(self, run_id)
        if not run.dir.is_dir():
            raise FileNotFoundError(f"no refresh run {run_id} in {self.root / 'pending'}")
        return run

    def clean_leftovers(self, keep: str | None = None) -> list[str]:
        """Under the store's lock no refresh is live: finish a switch a kill interrupted, drop the other pending
        areas and the temporary files of interrupted writes, delete tables no manifest names. What was done."""
        done = []
        pending = self.root / "pending"
        for area in sorted(pending.iterdir()) if pending.is_dir() else []:
            if area.name == keep:
                continue
            journal = area / "commit.json"
            if journal.is_file():
                _apply_journal(self.root, json.loads(journal.read_text(encoding="utf-8")))
                done.append(f"finished the switch of the interrupted run {area.name}")
            else:
                done.append(f"dropped the pending area of the dead run {area.name}")
            shutil.rmtree(area, ignore_errors=True)
        for folder in (self.root / "raw", self.root / "staged", self.root):
            for path in folder.rglob(".*") if folder != self.root else folder.glob(".*"):
                if path.is_file() and path.name.endswith(LEFTOVER_SUFFIXES):
                    path.unlink(missing_ok=True)
                    done.append(f"deleted {path.relative_to(self.root)}")
        done += self.collect_garbage()
        for line in done:
            log.warning("store %s: %s", self.root, line)
        return done

    def collect_garbage(self) -> list[str]:
        """Delete the staged tables the manifest does not name, unless a reader holds a pinned state."""
        if not self.manifest_path.exists():
            return []
        with locks.try_exclusive(self.root / ".readers") as free:
            if not free:
                return []
            committed = Store(self.root)  # the tables the switched manifest names, not a run's pending ones
            named = {committed.staged_path(*Manifest.split(key)) for key in committed._view().staged()}
            gone = [p for p in (self.root / "staged").rglob("*.parquet") if p not in named]
            for path in gone:
                path.unlink(missing_ok=True)
            return [f"deleted the table {p.relative_to(self.root)}, no longer in the manifest" for p in gone]

    # -- lock --------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, wait: float = 0.0) -> Iterator[None]:
        """An exclusive lock on the store; `StoreBusy` if another process holds it after `wait` seconds."""
        self.root.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(locks.exclusive(self.root / ".lock", wait))
            except locks.Busy:
                raise StoreBusy(f"another refresh is writing to {self.root}; try again when it ends") from None
            self._holds_lock = True
            try:
                yield
            finally:
                self._holds_lock = False


class Run(Store):
    """What one refresh prepares: writes go to `pending/<id>/`; reads see the run's own new tables and records
    over the committed store (the entries of a run are checked against the COG staged earlier in the same run).
    Every record is a file of its own: entries refreshed in parallel threads or processes do not share one."""

    def __init__(self, store: Store, run_id: str):
        super().__init__(store.root)
        self.id = run_id
        self.dir = self.root / "pending" / run_id
        self._parsed_records: dict[Path, tuple[tuple[int, int, int], EntryRecord]] = {}

    # -- where the run writes ----------------------------------------------------------------------------------

    def raw_path(self, entry: Entry, spec: FileSpec) -> Path:
        return self.dir / Store.raw_path(self, entry, spec).relative_to(self.root)

    def committed_raw_path(self, entry: Entry, spec: FileSpec) -> Path:
        return Store.raw_path(self, entry, spec)

    def download_path(self, entry: Entry, spec: FileSpec) -> Path:
        """Where the run downloads a file: in its pending area, starting from a link to the committed file so that
        a conditional GET can confirm it unchanged."""
        pending, committed = self.raw_path(entry, spec), self.committed_raw_path(entry, spec)
        pending.parent.mkdir(parents=True, exist_ok=True)
        pending.unlink(missing_ok=True)  # what an earlier attempt of this run left
        if committed.is_file():
            try:
                os.link(committed, pending)
            except OSError:  # no hard links on this file system
                shutil.copy2(committed, pending)
        return pending

    def _pending_table(self, source: str, vintage: str) -> Path:
        return self.dir / "staged" / source / f"{vintage}.parquet"

    def record_path(self, key: str) -> Path:
        source, vintage = key.split("/", 1)
        return self.dir / "entries" / source / f"{vintage}.json"

    def staged_path(self, source: str, vintage: str) -> Path:
        pending = self._pending_table(source, vintage)
        return pending if pending.exists() else super().staged_path(source, vintage)

    def write_staged(self, source: str, vintage: str, frame: pl.DataFrame) -> Path:
        target = self._pending_table(source, vintage)
        with atomic_path(target) as tmp:
            write_staged_table(frame, tmp)
        return target

    def record(self, key: str, record: EntryRecord) -> None:
        write_json_atomic(self.record_path(key), record.to_dict())

    def manifest(self) -> Manifest:
        manifest = self._committed_manifest()
        manifest.entries.update(
            {key: EntryRecord.from_dict(record.to_dict()) for key, record in self._records().items()}
        )  # copies: the caller may change them
        return manifest

    def _view(self) -> Manifest:
        """The run's own records over the committed ones (shared, never to be changed)."""
        committed = _parsed_manifest(self.manifest_path)
        records = self._records()
        if not records:
            return committed
        return Manifest(entries={**committed.entries, **records}, extra=committed.extra)

    def _get(self, key: str) -> EntryRecord:
        """The run's own record of `key` if it wrote one, else the committed one: one file looked at, not the
        whole pending area (every entry of a refresh reads a few records: a listing each time made the refresh
        with nothing new quadratic in the number of entries)."""
        record = self._record_at(self.record_path(key))
        return record if record is not None else _parsed_manifest(self.manifest_path).get(key)

    def _records(self) -> dict[str, EntryRecord]:
        """The records the run wrote so far (each parsed once per version of its file)."""
        folder = self.dir / "entries"
        if not folder.is_dir():
            return {}
        records = {}
        for path in sorted(folder.glob("*/*.json")):
            record = self._record_at(path)
            if record is not None:
                records[f"{path.parent.name}/{path.stem}"] = record
        return records

    def _record_at(self, path: Path) -> EntryRecord | None:
        """The record in the file `path` (None when there is none), parsed once per version of the file."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        known = self._parsed_records.get(path)
        if known is None or known[0] != version:
            known = (version, EntryRecord.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            self._parsed_records[path] = known
        return known[1]

    @contextlib.contextmanager
    def pinned(self) -> Iterator[Store]:
        yield self  # a run is one state already: its own

    def reject(self, entry: Entry, downloaded: list[Path]) -> dict[str, str]:
        """After a failure: the run's downloads of `entry` (`downloaded`, and what the downloader itself refused)
        move to `raw/` as `<name>.rejected`, beside the files the manifest describes; the rest is dropped.
        Pending path -> where the bytes are kept."""
        kept = {}
        folder = self.dir / "raw" / entry.source / entry.vintage
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            name = path.name if path.name.endswith(".rejected") else f"{path.name}.rejected"
            if path in downloaded or path.name.endswith(".rejected"):
                target = self.root / path.parent.relative_to(self.dir) / name
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
                    kept[str(path)] = str(target)
                except OSError as exc:
                    log.error("could not keep the refused file %s: %s", path, exc)
        shutil.rmtree(folder, ignore_errors=True)
        self._pending_table(entry.source, entry.vintage).unlink(missing_ok=True)
        return kept

    # -- the switch --------------------------------------------------------------------------------------------

    def commit(self) -> None:
        """Switch the store to this run's state in one step (see the module's docstring); StoreWriteError if a
        file cannot be written (the store then keeps its previous state, or the next run finishes the switch)."""
        journal = self.write_journal()
        try:
            _apply_journal(self.root, journal)
        except OSError as exc:
            raise StoreWriteError.of(
                "switching the store to the new state (the next refresh finishes it)", self.manifest_path, exc
            ) from exc
        self.discard()
        self.collect_garbage()

    def write_journal(self) -> dict:
        """The commit point: what moves where and the new manifest, written before anything moves."""
        manifest, moves = self._committed_manifest(), []
        for key, shared in self._records().items():
            record = EntryRecord.from_dict(shared.to_dict())  # `_moves_of` names its table: a copy to change
            moves += self._moves_of(key, record)
            manifest.entries[key] = record
        journal = {"moves": moves, "manifest": manifest.to_dict()}
        try:
            write_json_atomic(self.dir / "commit.json", journal)
        except OSError as exc:
            raise StoreWriteError.of("switching the store to the new state", self.dir / "commit.json", exc) from exc
        return journal

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.dir.parent.rmdir()  # `pending/` itself, when no other run has an area there

    def _moves_of(self, key: str, record: EntryRecord) -> list[list[str]]:
        """The pending files an entry's record names, as [from, to] relative to the store; the record is changed
        to name where they go. A failed entry's record names the committed files: nothing moves."""
        moves = []
        staged = record.staged
        table = self._pending_table(*Manifest.split(key))
        if staged is not None and staged.path == str(table) and table.exists():
            source, vintage = Manifest.split(key)
            final = self.root / "staged" / source / f"{vintage}-{sha256_file(table)[:16]}.parquet"
            moves.append([str(table.relative_to(self.root)), str(final.relative_to(self.root))])
            staged.file, staged.path = str(final.relative_to(self.root)), str(final)
        for info in record.files.values():
            path = Path(info.path or "")
            if path.is_relative_to(self.dir):
                final = self.root / path.relative_to(self.dir)
                moves.append([str(path.relative_to(self.root)), str(final.relative_to(self.root))])
                info.path = str(final)
        return moves


ARROW_SCHEMA = "ARROW:schema"  # the file's metadata key polars reads each column's type from
FEW_CATEGORIES = 1024  # an Enum's dictionary is written whole in every row group: only for columns of few values
PERIOD_SEARCH = 65_536  # rows searched for the first code's end (a repeated sequence is one code's rows)
MIN_RUN = 64  # rows per run for `code` to be handed over as a Categorical of its runs (break-even: about 50)


def write_staged_table(frame: pl.DataFrame, path: Path) -> None:
    """`frame` as Parquet. The writer hashes every row of a text column to build its dictionary (0.1 s per column
    of 3.2 M rows, whatever the number of values): a text column whose Enum can be built without hashing every row
    (`_coded`) is handed over as that Enum instead, whose dictionary is the Enum's own (`code`: a Categorical, whose
    dictionaries are each row group's values, as from text). The file declares them text (its Arrow schema is the
    text frame's), so every reader reads text, the same frame. LZ4, not zstd: once the dictionaries are gone,
    zstd's compression is a fifth of the write (the census population's write 0.34 -> 0.29 s of CPU for a file 8.1
    -> 11.5 MB), and its reads cost more (the whole file 0.12-0.19 s of CPU against 0.07-0.09 s, a scan filtered
    by variables 53-69 ms against 30-38 ms)."""
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    coded = {} if frame.is_empty() else {n: c for n in texts if (c := _coded(frame, n)) is not None}
    if not coded:
        frame.write_parquet(path, compression="lz4")
        return
    metadata = {ARROW_SCHEMA: _arrow_schema(frame)}
    frame.with_columns(**coded).write_parquet(path, compression="lz4", metadata=metadata)


def _coded(frame: pl.DataFrame, name: str) -> pl.Series | None:
    """The text column `name` of `frame` (not empty) as an Enum of its values built without hashing every row, or
    None when this cannot be done (the writer then hashes it). `code` is not an Enum: readers filter it, and an
    Enum of every code would be written in each row group and decoded by every filtered scan (20 scans of the
    census population by code, 50-57 ms of CPU as text, 76-97 ms as an Enum); it is a Categorical of its runs
    (`_categorical_of_runs`). The key `level` and `variable` are built from their runs and their repeated sequence
    (their statistics are written all the same)."""
    column = frame.get_column(name)
    if name == "code":
        return _categorical_of_runs(column)
    if name == "variable" and "code" in frame.columns:
        return _repeated(column, frame.get_column("code"))
    if name in KEY:
        return _in_runs(column)
    return _constant_or_sparse(column)


def _constant_or_sparse(column: pl.Series) -> pl.Series | None:
    """`column` as an Enum when it has one value (min equal to max: known without a scan for a column made from a
    literal; `source`, `vintage`) or values in at most one row of 64 (only those looked up; `status`,
    `geo_change`)."""
    rows, nulls = column.len(), column.null_count()
    if rows - nulls > rows // 64:
        if nulls or column.min() != column.max():
            return None
        value = column[0]
        return pl.repeat(value, rows, dtype=pl.Enum([value]), eager=True).alias(column.name)
    found = column.is_not_null().arg_true()
    values = column.gather(found)
    categories = pl.Enum(values.unique().sort())
    empty = pl.repeat(None, rows, dtype=categories, eager=True).alias(column.name)
    return empty.scatter(found, values.cast(categories)) if found.len() else empty


def _in_runs(column: pl.Series) -> pl.Series | None:
    """`column` as an Enum of its runs when it is sorted (`level`, the first key: staged rows are in key order)
    and without nulls, at most `FEW_CATEGORIES` runs: each run's end found by a binary search, its rows checked
    equal to its first and the runs' values increasing (a comparison with one value a row: 8 ms for 3.2 M rows,
    where comparing each row with the next cost 17 ms; the writer's hash 0.1 s)."""
    if column.null_count():
        return None
    rows, start = column.len(), 0
    runs: list[tuple[str, int]] = []  # (value, rows)
    while start < rows and len(runs) < FEW_CATEGORIES:
        value = column[start]
        end = column.search_sorted(value, side="right")  # on rows out of order: some row, refused below
        if end <= start or (runs and runs[-1][0] >= value) or not _all_equal(column.slice(start, end - start), value):
            return None
        runs.append((value, end - start))
        start = end
    if start < rows:
        return None
    categories = pl.Enum([value for value, _ in runs])
    runs_coded = [pl.repeat(value, count, dtype=categories, eager=True) for value, count in runs]
    coded = pl.concat(runs_coded, rechunk=True)  # one chunk: the writer cuts row groups at chunks' ends
    return coded.alias(column.name)


def _categorical_of_runs(column: pl.Series) -> pl.Series | None:
    """`column` as a Categorical made from its runs of equal rows (`code`, in key order: a run per place), or None
    when it has nulls or runs shorter than `MIN_RUN` rows (its first one, or on average). The writer gives each
    row group the dictionary of the values it holds (a hash of an integer a row), the one it builds from text by
    hashing every text: the same file, byte for byte, for less CPU (the census population's `code` written in 25
    instead of 48-62 ms for 3.2 M rows, its runs found and the column built in 10 ms; with runs of 48 rows or
    fewer, as in the census families, nothing is saved). Each run's value is cast once, into the process's global
    categories (a text seen before is looked up; a mapping of the table's own cost 3 ms per 35,000 codes), and its
    integer repeated over the run's rows (a gather of the values cost twice the CPU)."""
    if column.null_count() or column.head(PERIOD_SEARCH).rle_id().search_sorted(1) < MIN_RUN:
        return None  # the first run too short: the others are not looked for
    first_rows = _run_starts(column)
    if first_rows.len() * MIN_RUN > column.len():
        return None
    values = column.gather(first_rows).cast(pl.Categorical)  # held: its mapping lives while a column uses it
    lengths = np.diff(first_rows.to_numpy(), append=column.len())
    rows = np.repeat(values.to_physical().to_numpy(), lengths)
    return pl.Series(column.name, rows).cat.to(values.dtype)


def _run_starts(column: pl.Series) -> pl.Series:
    """The rows of `column` (not empty) that differ from the row before them (nulls equal), and its first row:
    compared chunk by chunk, as `_repeats` does (slices of the whole column are first copied into one chunk)."""
    index = pl.get_index_type()
    starts = [pl.Series([0], dtype=index)]
    start = 0
    for length in column.chunk_lengths():
        chunk = column.slice(start, length)
        if start and length and not _same(chunk.head(1), column.slice(start - 1, 1)):
            starts.append(pl.Series([start], dtype=index))
        if length > 1:
            starts.append(chunk.slice(1).ne_missing(chunk.head(length - 1)).arg_true() + (start + 1))
        start += length
    return pl.concat(starts, rechunk=True)


def _all_equal(rows: pl.Series, value: str) -> bool:
    return bool((rows == value).all())


def _repeated(column: pl.Series, code: pl.Series) -> pl.Series | None:
    """`column` as an Enum when it repeats, row after row, the sequence of the first code's rows (`variable`, the
    innermost key, in a table where every code has the same variables and years): that sequence looked up once,
    the rest checked equal to it in one comparison (21 ms for 3.2 M rows, the writer's hash 0.1 s). None when it
    does not repeat, or the sequence holds more than `FEW_CATEGORIES` values."""
    rows = column.len()
    period = code.head(PERIOD_SEARCH).rle_id().search_sorted(1)  # the first row of the second code
    if period >= min(rows, PERIOD_SEARCH):
        return None
    sequence = column.head(period)
    categories = _enum_of(sequence)
    if len(categories.categories) > FEW_CATEGORIES:
        return None
    if not _repeats(column, period):
        return None
    return _tiled(sequence.cast(categories), rows).alias(column.name)


def _repeats(column: pl.Series, period: int) -> bool:
    """Every row of `column` equal to the row `period` rows before it (nulls equal), compared chunk by chunk: a row
    and the one before it in the same chunk as slices of that chunk; only the first `period` rows of each chunk
    against the end of the one before. Comparing slices of the whole column copied it into one chunk first (the
    CAF benefits' 4 M rows in 31 chunks, as harmonised: 27 -> 11 ms)."""
    start = 0
    for length in column.chunk_lengths():
        end = start + length
        head = max(start, period)  # the first row of the chunk with a row `period` before it
        crossing = min(end, start + period) - head  # those rows whose row before lies in an earlier chunk
        if crossing > 0 and not _same(column.slice(head, crossing), column.slice(head - period, crossing)):
            return False
        inner = end - max(head, start + period)
        if inner > 0 and not _same(column.slice(end - inner, inner), column.slice(end - inner - period, inner)):
            return False
        start = end
    return True


def _same(rows: pl.Series, before: pl.Series) -> bool:
    return bool(rows.eq_missing(before).all())


def _tiled(sequence: pl.Series, rows: int) -> pl.Series:
    """`sequence` repeated over `rows` rows: a block of whole sequences of at least 4,096 rows, then the block
    (concatenating a piece per sequence costs about 0.3 us a piece: 12 ms for the births' 36,000 codes)."""
    block = pl.concat([sequence] * -(-4096 // sequence.len()), rechunk=True)
    repeats, rest = divmod(rows, block.len())
    return pl.concat([block] * repeats + [block.head(rest)], rechunk=True)


def _enum_of(values: pl.Series) -> pl.Enum:
    """The Enum of `values`' distinct values (few) in the order text sorts in (the statistics' order)."""
    return pl.Enum(values.drop_nulls().unique().sort())


def _arrow_schema(frame: pl.DataFrame) -> str:
    """The Arrow schema polars writes for `frame` as it is (an empty copy written to memory: no row hashed)."""
    empty = io.BytesIO()
    frame.clear().write_parquet(empty)
    empty.seek(0)
    return pl.read_parquet_metadata(empty)[ARROW_SCHEMA]


def _apply_journal(root: Path, journal: dict) -> None:
    """Move what a run prepared into place, then replace the manifest: the new state (idempotent)."""
    for source, target in journal["moves"]:
        if (root / source).exists():
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            os.replace(root / source, root / target)
    write_json_atomic(root / "manifest.json", journal["manifest"])
