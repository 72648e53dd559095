"""Every staged table of a mirror, staged by older code and by this checkout, compared frame by frame.

    python -m benchmarks.staged_equality WORK --mirror sources/demo/mirror           # old code: `main`
    python -m benchmarks.staged_equality WORK --mirror /tmp/fr2/mirror --ref 4cf3846
    python -m benchmarks.staged_equality WORK --mirror M --code /path/to/older/checkout

The older code is a copy of `--ref` (default `main`, exported with `git archive`: the repository is not touched)
or the checkout `--code`. Each code runs `abs-diag refresh --no-publish` from the same mirror into a store of its
own (WORK/old, WORK/new), in a subprocess with its own PYTHONPATH; then each entry's staged Parquet is read back
and compared with `DataFrame.equals` (same columns, types, rows in the same order, nulls equal), and its
manifest record (rows, secret cells, notes, geography changes). Prints one line per entry; exits 1 on any
difference. Staged files are named by the hash of their bytes: two equal frames may have different names.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ("rows", "secret_cells", "null_cells", "notes", "geo_changes")


def exported(ref: str, into: Path) -> Path:
    """The tree of `ref` written into `into` (git archive: no worktree, no change to the repository)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def stage(code: Path, mirror_url: str, store: Path) -> None:
    """`abs-diag refresh --no-publish` with `code`'s modules into the empty store `store`."""
    shutil.rmtree(store, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABS_", "PREFECT_API_URL"))}
    env |= {"PYTHONPATH": str(code), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    command = [sys.executable, "-m", "flows.cli", "refresh", "--no-publish", "--mirror", mirror_url]
    command += ["--data-dir", str(store), "--out", str(store.parent / f"{store.name}-pub")]
    run = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"staging with {code} failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}")


def staged_tables(store: Path) -> dict[str, tuple[Path | None, dict]]:
    """entry key -> (its staged Parquet, its manifest record's staged part)."""
    entries = json.loads((store / "manifest.json").read_text(encoding="utf-8"))["entries"]
    out = {}
    for key, record in entries.items():
        staged = record.get("staged") or {}
        path = Path(staged["path"]) if staged.get("path") else None
        if path is not None and not path.is_absolute():
            path = store / path
        out[key] = (path, staged)
    return out


def differences(old: Path, new: Path) -> list[str]:
    """One line per entry that differs between the two stores (an empty list: every table equal)."""
    before, after = staged_tables(old), staged_tables(new)
    lines = [f"{key}: staged by one code only" for key in sorted(set(before) ^ set(after))]
    for key in sorted(set(before) & set(after)):
        (old_path, old_record), (new_path, new_record) = before[key], after[key]
        if old_path is None or new_path is None:
            if old_path != new_path:
                lines.append(f"{key}: staged by one code only")
            continue
        a, b = pl.read_parquet(old_path), pl.read_parquet(new_path)
        if not a.equals(b):
            lines.append(f"{key}: frames differ ({a.shape} / {b.shape}){_first_difference(a, b)}")
        for field in RECORDED:
            if old_record.get(field) != new_record.get(field):
                lines.append(f"{key}: manifest {field} differs: {old_record.get(field)!r} / {new_record.get(field)!r}")
    return lines


def _first_difference(a: pl.DataFrame, b: pl.DataFrame) -> str:
    if a.schema != b.schema or a.height != b.height:
        return f"; schemas {dict(a.schema)} / {dict(b.schema)}"
    for name in a.columns:
        if not a[name].equals(b[name]):
            at = (a[name].ne_missing(b[name])).arg_true()
            row = at[0]
            return f"; first in column {name!r}, row {row}: {a.row(row)} / {b.row(row)}"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="Working folder: old/ and new/ stores (kept).")
    parser.add_argument("--mirror", type=Path, required=True, help="The mirror folder (HOST/PATH) to stage.")
    parser.add_argument("--ref", default="main", help="Git ref of the older code (default: main).")
    parser.add_argument("--code", type=Path, help="An older checkout instead of --ref.")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    from sources.mirror import serve

    with tempfile.TemporaryDirectory(prefix="old-code-") as tmp:
        old_code = args.code.resolve() if args.code else exported(args.ref, Path(tmp))
        with serve(args.mirror.resolve()) as mirror:
            for code, name in ((old_code, "old"), (ROOT, "new")):
                stage(code, mirror.url, work / name)
    lines = differences(work / "old", work / "new")
    tables = len(staged_tables(work / "new"))
    print("\n".join(lines) if lines else f"{tables} staged tables equal, frame by frame, with their records")
    raise SystemExit(1 if lines else 0)


if __name__ == "__main__":
    main()
