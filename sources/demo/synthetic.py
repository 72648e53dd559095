"""Does a store hold synthetic data? The store says it itself, whatever served its files.

A store is synthetic when any file its manifest records (`entries[key].files[role].sha256`) has the bytes of
a file the embedded demo mirror serves: a regular file of `MIRROR_ROOT` as it is, a sub-folder as the zip
`sources.mirror.zip_folder` builds of it (deterministic bytes). So a store refreshed from the demo mirror by
`abs-diag refresh --mirror ...` (the user serving `sources/demo/mirror` with `abs-diag mirror` or any other web
server) is marked as demo data, and so is every report and export built from it, with or without `--demo`.

Zipping the demo folders to know their hashes takes most of a second: `store_is_synthetic` records its answer in
the store (`cache/synthetic-<key>.json`), keyed by the hashes the manifest records and by the bytes of the demo
mirror's files (hashed as they are, which is quick), so each store state and demo mirror is looked at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path

from sources.demo import MIRROR_ROOT
from storage.files import write_json_atomic
from storage.manifest import Manifest

log = logging.getLogger(__name__)
CACHE_DIR = "cache"  # the store's folder of derived files (transforms.table_cache)
PREFIX = "synthetic-"


@functools.cache
def served_hashes(root: Path = MIRROR_ROOT) -> frozenset[str]:
    """sha256 of every body the mirror at `root` serves (computed once per process: ~0.2 s for the demo)."""
    from sources.mirror import zip_folder

    digests = set()
    for path in _served_paths(root):
        if path.is_dir():
            digests.add(hashlib.sha256(zip_folder(path)).hexdigest())
        elif path.is_file() and path.stat().st_size:  # an empty body would match any empty download
            digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return frozenset(digests)


def _served_paths(root: Path) -> list[Path]:
    """The folders and files under `root` the mirror serves (not through a symbolic link)."""
    return sorted(p for p in root.rglob("*") if not p.is_symlink())  # it serves files of its own folder only


@functools.cache
def mirror_digest(root: Path = MIRROR_ROOT) -> str:
    """A digest of the names and bytes of the files under `root`: it changes whenever a body it serves does."""
    digest = hashlib.sha256()
    for path in _served_paths(root):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def synthetic_files(manifest: Manifest) -> list[str]:
    """`key role` of each file record of `manifest` whose bytes are those of a demo mirror file."""
    demo = served_hashes()
    found = []
    for key, entry in sorted(manifest.entries.items()):
        for role, record in sorted(entry.files.items()):
            if str(record.sha256 or "").lower() in demo:
                found.append(f"{key} {role}")
    return found


def is_synthetic(manifest: Manifest) -> bool:
    """True when the store of `manifest` holds at least one file of the demo mirror: its figures are invented."""
    return bool(synthetic_files(manifest))


def store_is_synthetic(store) -> bool:
    """`is_synthetic` of a `storage.store.Store`'s manifest, recorded in the store for its state and the demo
    mirror's (a store that cannot be written to is looked at each time)."""
    manifest = store.manifest()
    path = Path(store.root) / CACHE_DIR / f"{PREFIX}{_synthetic_key(manifest)}.json"
    try:
        return bool(json.loads(path.read_text(encoding="utf-8"))["synthetic"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not recorded yet for this state (or unreadable: looked at again, rewritten below)
    found = is_synthetic(manifest)
    _record(path, found)
    return found


def _synthetic_key(manifest: Manifest) -> str:
    """What the answer depends on: the hashes of the files the manifest records and the demo mirror's bytes."""
    recorded = sorted(str(r.sha256 or "").lower() for e in manifest.entries.values() for r in e.files.values())
    digest = hashlib.sha256(mirror_digest().encode())
    digest.update("\n".join(recorded).encode())
    return digest.hexdigest()[:24]


def _record(path: Path, synthetic: bool) -> None:
    """Write the answer atomically and delete the older ones (two kept: a reader may hold the previous state)."""
    try:
        write_json_atomic(path, {"synthetic": synthetic})
        older = sorted(path.parent.glob(f"{PREFIX}*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for stale in [p for p in older if p != path][1:]:
            stale.unlink(missing_ok=True)
    except OSError as exc:
        log.info("not recorded whether %s is synthetic: %s", path.parent.parent, exc)
