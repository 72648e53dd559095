"""The data store under `ABS_DATA_DIR` (default `./data`): raw downloads, staged Parquet, the manifest.

    data/raw/<source>/<vintage>/<file name>        what was downloaded, byte for byte
    data/staged/<source>/<vintage>.parquet         validated long tables in the target COG
    data/manifest.json                             per source and vintage: files (URL, size, sha256, validators,
                                                   date) and what was staged (rows, secret cells, geography changes)

Every write goes to a temporary file in the same folder and is renamed into place, so a crash never leaves a
half-written file; a lock file keeps two refreshes from writing at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from sources.catalogue import Entry, FileSpec


class StoreBusy(RuntimeError):
    pass


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


class Store:
    def __init__(self, root: Path | None = None):
        self.root = (root or data_dir()).resolve()

    # -- paths -------------------------------------------------------------------------------------------------

    def raw_path(self, entry: Entry, spec: FileSpec) -> Path:
        prefix = "" if spec.role == "main" else f"{spec.role}-"
        return self.root / "raw" / entry.source / entry.vintage / f"{prefix}{spec.name}"

    def staged_path(self, source: str, vintage: str) -> Path:
        return self.root / "staged" / source / f"{vintage}.parquet"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    # -- manifest ----------------------------------------------------------------------------------------------

    def manifest(self) -> dict:
        if not self.manifest_path.exists():
            return {"entries": {}}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def record(self, key: str, record: dict) -> None:
        manifest = self.manifest()
        manifest["entries"][key] = record
        write_json_atomic(self.manifest_path, manifest)

    def previous(self, key: str) -> dict:
        return self.manifest()["entries"].get(key, {})

    # -- staged tables -----------------------------------------------------------------------------------------

    def write_staged(self, source: str, vintage: str, frame: pl.DataFrame) -> Path:
        target = self.staged_path(source, vintage)
        with atomic_path(target) as tmp:
            frame.write_parquet(tmp)
        return target

    def read_staged(self, source: str, vintage: str | None = None) -> pl.DataFrame:
        """A staged table; the latest staged vintage when `vintage` is None."""
        if vintage is None:
            vintage = self.latest_vintage(source)
        path = self.staged_path(source, vintage)
        if not path.exists():
            raise FileNotFoundError(f"{source}/{vintage} is not staged in {self.root}: run `abs-diag refresh`")
        return pl.read_parquet(path)

    def latest_vintage(self, source: str) -> str:
        folder = self.root / "staged" / source
        vintages = sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []
        if not vintages:
            raise FileNotFoundError(f"{source} is not staged in {self.root}: run `abs-diag refresh`")
        return vintages[-1]

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
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
