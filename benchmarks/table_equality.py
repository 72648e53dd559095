"""The indicator table of one version of the code against another's, row for row, on several inputs.

    PYTHONPATH=/path/to/old/code python benchmarks/table_equality.py save DIR [--store NAME=PATH ...]
    PYTHONPATH=$PWD               python benchmarks/table_equality.py check DIR [--store NAME=PATH ...]

`save` computes every case's table with the code on PYTHONPATH and writes it to DIR (one Parquet each); `check`
computes them again with the code on PYTHONPATH and compares: the same columns and types, the same rows in the same
order, strings and integers equal, floats equal to a relative 1e-12 (sums may be added in another order; an absolute
1e-12 for a difference of terms that cancel to about zero). Cases:

- every `--store NAME=PATH` (a staged store, read only): `diagnostic_table` of its loaded inputs, and with a
  custom territory (its first five communes); the same read from the store (`NAME-store`, `NAME-store-custom`:
  how a publication computes it) and from a report's lazily read inputs (`NAME-report-inputs`);
- `comparateur`: the real comparateur file of ../shared/data (census sources only), when present: the table
  (`diagnostic_table` of its inputs), and `compute`'s rows (`comparateur-compute`, sorted by level, code and
  indicator: `compute` gives them in the table's order since December 2026, by indicator name before);
- `france-N`: `benchmarks.france`'s synthetic input at N communes, with and without a custom territory
  (`--sizes`, 2,000 and 34,900 by default).

Prints one line per case and exits 1 on any difference. Not a test: it needs two versions of the code.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import polars as pl

RELATIVE = 1e-12
# a difference of terms that cancel (births minus deaths: 0.0 one way, 1.9e-16 another) has no relative scale
ABSOLUTE = 1e-12
COMPARATEUR = Path(__file__).resolve().parents[2] / "shared" / "data" / "insee" / "base_cc_comparateur_csv.zip"


def _custom(membership: pl.DataFrame):
    from transforms.territories import CustomTerritory

    return (CustomTerritory("Groupe de test", tuple(membership["code"].head(5).to_list())),)


def store_cases(name: str, root: Path) -> Iterator[tuple[str, Callable[[], pl.DataFrame]]]:
    from storage.store import Store
    from transforms.pipeline import diagnostic_table, load_inputs

    inputs = load_inputs(Store(root))
    yield name, lambda: diagnostic_table(None, inputs=inputs)
    yield f"{name}-custom", lambda: diagnostic_table(None, _custom(inputs.membership), inputs=inputs)
    # read from the store as a publication reads it, and through a report's lazily read inputs
    yield f"{name}-store", lambda: diagnostic_table(Store(root))
    yield f"{name}-store-custom", lambda: diagnostic_table(Store(root), _custom(inputs.membership))
    yield f"{name}-report-inputs", lambda: _from_report_inputs(Store(root))


def _from_report_inputs(store) -> pl.DataFrame:
    from reports.inputs import _report_inputs
    from transforms.pipeline import diagnostic_table, latest_vintages
    from transforms.registry import indicators

    with store.pinned() as state:
        inputs = _report_inputs(state, latest_vintages(state, indicators()))
        return diagnostic_table(state, inputs=inputs)


def comparateur_cases() -> Iterator[tuple[str, Callable[[], pl.DataFrame]]]:
    if not COMPARATEUR.is_file():
        print(f"comparateur: {COMPARATEUR} absent, skipped")
        return
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # tests.comparateur, when not on the path
    from tests.comparateur import read_comparateur
    from transforms.compute import Inputs, compute

    frame = read_comparateur(COMPARATEUR)
    census = [s for s in ("rp_population", "rp_housing", "rp_employment", "rp_families", "rp_education")]
    codes = sorted(set(frame.filter(pl.col("level") == "COM")["code"].to_list()))
    code = pl.col("code")
    membership = pl.DataFrame({"code": codes}).with_columns(
        name=code,
        dep=pl.when(code.str.starts_with("97")).then(code.str.slice(0, 3)).otherwise(code.str.slice(0, 2)),
        reg=pl.lit(None, pl.String),
        epci=pl.lit(None, pl.String),
    )
    inputs = Inputs(staged={s: frame for s in census}, vintages={s: "2018" for s in census}, membership=membership)
    from transforms.pipeline import diagnostic_table

    def computed(customs=()):
        return compute(inputs, customs).sort("level", "code", "indicator")

    yield "comparateur", lambda: diagnostic_table(None, inputs=inputs)
    yield "comparateur-custom", lambda: diagnostic_table(None, _custom(membership), inputs=inputs)
    yield "comparateur-compute", computed
    yield "comparateur-compute-custom", lambda: computed(_custom(membership))


def france_cases(sizes: list[int]) -> Iterator[tuple[str, Callable[[], pl.DataFrame]]]:
    from benchmarks.france import generate
    from transforms.pipeline import diagnostic_table

    for n in sizes:
        inputs = generate(n, max(n // 28, 10), 101 if n > 5000 else 10)
        yield f"france-{n}", partial(diagnostic_table, None, inputs=inputs)
        yield f"france-{n}-custom", partial(diagnostic_table, None, _custom(inputs.membership), inputs=inputs)


def differences(old: pl.DataFrame, new: pl.DataFrame, limit: int = 5) -> list[str]:
    """What differs between two tables (empty when they are equal, floats to RELATIVE)."""
    if old.schema != new.schema:
        return [f"schema: {dict(old.schema)} != {dict(new.schema)}"]
    if old.height != new.height:
        return [f"rows: {old.height:,} != {new.height:,}"]
    problems = []
    for name, dtype in old.schema.items():
        a, b = old[name], new[name]
        if dtype.is_float():
            x, y = pl.col("a"), pl.col("b")
            close = (x - y).abs() <= pl.max_horizontal(RELATIVE * pl.max_horizontal(x.abs(), y.abs()), ABSOLUTE)
            same = (
                pl.when(x.is_null() | y.is_null())
                .then(x.is_null() & y.is_null())
                .when(x.is_nan() | y.is_nan())
                .then(x.is_nan() & y.is_nan())
                .otherwise(close)
            )
            bad = pl.DataFrame({"a": a, "b": b}).select(~same).to_series()
        else:
            bad = ~(a.eq_missing(b))
        if bad.any():
            rows = old.with_row_index("_row").filter(bad)
            sample = rows.select("_row", *[c for c in ("level", "code", "indicator") if c in old.columns]).head(limit)
            problems.append(
                f"{name}: {int(bad.sum()):,} rows differ, e.g. {sample.to_dicts()}: "
                f"{a.filter(bad).head(limit).to_list()} != {b.filter(bad).head(limit).to_list()}"
            )
    return problems


def cases(args) -> Iterator[tuple[str, Callable[[], pl.DataFrame]]]:
    for spec in args.store:
        name, _, path = spec.partition("=")
        yield from store_cases(name, Path(path))
    if not args.no_comparateur:
        yield from comparateur_cases()
    yield from france_cases(args.sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("save", "check"))
    parser.add_argument("dir", type=Path)
    parser.add_argument("--store", action="append", default=[], help="NAME=PATH of a staged store (read only)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[2_000, 34_900])
    parser.add_argument("--no-comparateur", action="store_true")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    failed = False
    for name, table_of in cases(args):
        start = time.process_time()
        table = table_of()
        cpu = time.process_time() - start
        path = args.dir / f"{name}.parquet"
        if args.action == "save":
            table.write_parquet(path)
            print(f"{name}: {table.height:,} rows saved ({cpu:.2f} s CPU)")
            continue
        problems = differences(pl.read_parquet(path), table)
        failed |= bool(problems)
        print(f"{name}: {table.height:,} rows, {'EQUAL' if not problems else 'DIFFERENT'} ({cpu:.2f} s CPU)")
        for p in problems:
            print("   ", p)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
