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
import copy
import fcntl
import functools
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from sources.catalogue import Entry, FileSpec
from sources.errors import StoreWriteError

log = logging.getLogger(__name__)

class StoreBusy(RuntimeError):
    pass


LEFTOVER_SUFFIXES = (".part", ".tmp")  # temporary files of downloads and atomic writes (always `.<name>.*<suffix>`)


def data_dir() -> Path:
    return Path(os.environ.get("ABS_DATA_DIR", "data")).resolve()


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; it replaces `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp creates 0600: staged tables and published reports must be readable
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(target: Path, payload: dict) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True), encoding="utf-8")


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


class Store:
    def __init__(self, root: Path | None = None):
        self.root = (root or data_dir()).resolve()
        self._pinned: dict | None = None  # the manifest of a pinned state (`pinned()`), None: read it each time
        self._holds_lock = False

    # -- paths -------------------------------------------------------------------------------------------------

    def raw_path(self, entry: Entry, spec: FileSpec) -> Path:
        prefix = "" if spec.role == "main" else f"{spec.role}-"
        return self.root / "raw" / entry.source / entry.vintage / f"{prefix}{spec.name}"

    def staged_path(self, source: str, vintage: str) -> Path:
        """The staged table the manifest names (a store staged before tables were named by content: the old
        fixed name)."""
        named = (self.previous(f"{source}/{vintage}").get("staged") or {}).get("file")
        return self.root / named if named else self.root / "staged" / source / f"{vintage}.parquet"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    # -- manifest ----------------------------------------------------------------------------------------------

    def manifest(self) -> dict:
        if self._pinned is not None:
            return copy.deepcopy(self._pinned)
        return self._committed_manifest()

    def _committed_manifest(self) -> dict:
        if not self.manifest_path.exists():
            return {"entries": {}}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def record(self, key: str, record: dict) -> None:
        """Write one entry's record straight into the manifest (a refresh records into its `Run` instead)."""
        manifest = self._committed_manifest()
        manifest["entries"][key] = record
        write_json_atomic(self.manifest_path, manifest)

    def previous(self, key: str) -> dict:
        return self.manifest()["entries"].get(key, {})

    # -- staged tables -----------------------------------------------------------------------------------------

    def read_staged(self, source: str, vintage: str | None = None) -> pl.DataFrame:
        """A staged table; the latest staged vintage when `vintage` is None."""
        if vintage is None:
            vintage = self.latest_vintage(source)
        path = self.staged_path(source, vintage)
        if not path.exists():
            raise FileNotFoundError(f"{source}/{vintage} is not staged in {self.root}: run `abs-diag refresh`")
        return pl.read_parquet(path)

    def latest_vintage(self, source: str) -> str:
        """The latest vintage of `source` the manifest records as staged."""
        vintages = sorted(record.get("vintage") or key.split("/", 1)[1]
                          for key, record in self.manifest()["entries"].items()
                          if key.split("/", 1)[0] == source and record.get("staged"))
        if not vintages:
            raise FileNotFoundError(f"{source} is not staged in {self.root}: run `abs-diag refresh`")
        return vintages[-1]

    # -- states: readers pin one, a refresh prepares the next ----------------------------------------------------

    @contextlib.contextmanager
    def pinned(self) -> Iterator[Store]:
        """This store as one state: the manifest read once; the tables it names stay on disk until the block ends."""
        if self._pinned is not None:
            yield self
            return
        with _shared_lock(self.root / ".readers"):
            state = Store(self.root)
            state._pinned = self._committed_manifest()
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
        with _try_exclusive(self.root / ".readers") as free:
            if not free:
                return []
            committed = Store(self.root)  # the tables the switched manifest names, not a run's pending ones
            named = {committed.staged_path(*key.split("/", 1))
                     for key, r in committed.manifest()["entries"].items() if r.get("staged")}
            gone = [p for p in (self.root / "staged").rglob("*.parquet") if p not in named]
            for path in gone:
                path.unlink(missing_ok=True)
            return [f"deleted the table {p.relative_to(self.root)}, no longer in the manifest" for p in gone]

    # -- lock --------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, wait: float = 0.0) -> Iterator[None]:
        """An exclusive lock on the store; `StoreBusy` if another process holds it after `wait` seconds."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusy(f"another refresh is writing to {self.root}; try again when it ends") from None
                    time.sleep(0.2)
            self._holds_lock = True
            try:
                yield
            finally:
                self._holds_lock = False
                fcntl.flock(handle, fcntl.LOCK_UN)


class Run(Store):
    """What one refresh prepares: writes go to `pending/<id>/`; reads see the run's own new tables and records
    over the committed store (the entries of a run are checked against the COG staged earlier in the same run).
    Every record is a file of its own: entries refreshed in parallel threads or processes do not share one."""

    def __init__(self, store: Store, run_id: str):
        super().__init__(store.root)
        self.id = run_id
        self.dir = self.root / "pending" / run_id

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
            frame.write_parquet(tmp)
        return target

    def record(self, key: str, record: dict) -> None:
        write_json_atomic(self.record_path(key), record)

    def manifest(self) -> dict:
        manifest = self._committed_manifest()
        manifest["entries"].update(self._records())
        return manifest

    def _records(self) -> dict[str, dict]:
        folder = self.dir / "entries"
        return {f"{p.parent.name}/{p.stem}": json.loads(p.read_text(encoding="utf-8"))
                for p in sorted(folder.glob("*/*.json"))} if folder.is_dir() else {}

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
            raise StoreWriteError.of("switching the store to the new state (the next refresh finishes it)",
                                     self.manifest_path, exc) from exc
        self.discard()
        self.collect_garbage()

    def write_journal(self) -> dict:
        """The commit point: what moves where and the new manifest, written before anything moves."""
        manifest, moves = self._committed_manifest(), []
        for key, record in self._records().items():
            moves += self._moves_of(key, record)
            manifest["entries"][key] = record
        journal = {"moves": moves, "manifest": manifest}
        try:
            write_json_atomic(self.dir / "commit.json", journal)
        except OSError as exc:
            raise StoreWriteError.of("switching the store to the new state", self.dir / "commit.json", exc) from exc
        return journal

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.dir.parent.rmdir()  # `pending/` itself, when no other run has an area there

    def _moves_of(self, key: str, record: dict) -> list[list[str]]:
        """The pending files an entry's record names, as [from, to] relative to the store; the record is changed
        to name where they go. A failed entry's record names the committed files: nothing moves."""
        moves = []
        staged = record.get("staged") or {}
        table = self._pending_table(*key.split("/", 1))
        if staged.get("path") == str(table) and table.exists():
            source, vintage = key.split("/", 1)
            final = self.root / "staged" / source / f"{vintage}-{_sha256(table)[:16]}.parquet"
            moves.append([str(table.relative_to(self.root)), str(final.relative_to(self.root))])
            staged["file"], staged["path"] = str(final.relative_to(self.root)), str(final)
        for info in (record.get("files") or {}).values():
            path = Path(info.get("path", ""))
            if path.is_relative_to(self.dir):
                final = self.root / path.relative_to(self.dir)
                moves.append([str(path.relative_to(self.root)), str(final.relative_to(self.root))])
                info["path"] = str(final)
        return moves


def _apply_journal(root: Path, journal: dict) -> None:
    """Move what a run prepared into place, then replace the manifest: the new state (idempotent)."""
    for source, target in journal["moves"]:
        if (root / source).exists():
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            os.replace(root / source, root / target)
    write_json_atomic(root / "manifest.json", journal["manifest"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _shared_lock(path: Path) -> Iterator[None]:
    """A shared lock on `path`; none when the store cannot be written to (a read-only store is never collected)."""
    try:
        handle = path.open("a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _try_exclusive(path: Path) -> Iterator[bool]:
    """Yield whether an exclusive lock on `path` was taken at once (False: someone holds it)."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
