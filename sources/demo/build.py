"""Regenerate the demo mirror from `world.py`: `python -m sources.demo.build [FOLDER]` (default: the embedded
mirror, `sources/demo/mirror`, written afresh).

Each source module declares its demo generator (`SourceSpec.demo`, a function of a `gen_<source>` module): it
writes the files of its sources into the mirror folder at the path their catalogue URL maps to (`HOST/PATH`,
`sources.demo.files`). A folder stands for a zip archive (the mirror server zips it on the fly). The files do not
depend on the clock: rebuilt, the mirror is the same bytes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from sources import registry
from sources.demo import MIRROR_ROOT


def build(root: Path = MIRROR_ROOT, only: list[str] | None = None) -> None:
    """Write the demo files of every source (`only`: of these catalogue parsers) under `root`."""
    for generate in registry.demo_generators(only):
        generate(root)


def main(argv: list[str]) -> None:
    root = Path(argv[0]) if argv else MIRROR_ROOT
    if root != MIRROR_ROOT and root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} is not empty: give a new or empty folder")
    if root.exists():
        shutil.rmtree(root)  # the embedded mirror is written afresh: no stale file is served
    build(root)
    print(f"demo mirror written to {root}")


if __name__ == "__main__":
    main(sys.argv[1:])
