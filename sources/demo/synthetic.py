"""Does a store hold synthetic data? The store says it itself, whatever served its files.

A store is synthetic when any file its manifest records (`entries[key].files[role].sha256`) has the bytes of
a file the embedded demo mirror serves: a regular file of `MIRROR_ROOT` as it is, a sub-folder as the zip
`sources.mirror.zip_folder` builds of it (deterministic bytes). So a store refreshed from the demo mirror by
`abs-diag refresh --mirror ...` (the user serving `sources/demo/mirror` with `abs-diag mirror` or any other web
server) is marked as demo data, and so is every report and export built from it, with or without `--demo`.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from sources.demo import MIRROR_ROOT
from storage.manifest import Manifest


@functools.cache
def served_hashes(root: Path = MIRROR_ROOT) -> frozenset[str]:
    """sha256 of every body the mirror at `root` serves (computed once per process: ~0.2 s for the demo)."""
    from sources.mirror import zip_folder

    digests = set()
    for path in root.rglob("*"):
        if path.is_symlink():  # the mirror serves files of its own folder only
            continue
        if path.is_dir():
            digests.add(hashlib.sha256(zip_folder(path)).hexdigest())
        elif path.is_file() and path.stat().st_size:  # an empty body would match any empty download
            digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return frozenset(digests)


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
    """`is_synthetic` of a `storage.store.Store`'s manifest."""
    return is_synthetic(store.manifest())
