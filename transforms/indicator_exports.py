"""The files of `abs-diag indicators`, read from the store's cached table of France rather than held whole.

`export_indicator_files(store, out_dir, selection)` writes what `transforms.pipeline.export_indicators` writes,
the same rows in the same files, at a fraction of the cost on France's store:

- one territory: only its rows are read from the cached table (`transforms.table_cache.territory_rows`, a filter
  Parquet pushes down: the communes of one EPCI out of 35,000), then `transforms.pipeline.select` keeps exactly
  the rows the slow path keeps;
- France (no selection): the exports are made from the cached table's file (`transforms.export.
  write_exports_of_file`): the file copied as the Parquet export, the CSV from the table read once (never two
  copies of it in memory).

A custom territory, or flag rules other than the default, is not in the cache: its table is computed as before.
The cached table is computed first when missing (once per store state and code version).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from storage.store import Store, reads_one_state
from transforms.compare import FlagRules


@dataclass(frozen=True)
class Exported:
    """What an export wrote: its rows, how many carry a flag, the file of each format."""

    rows: int
    flags: int
    paths: dict[str, Path]


@reads_one_state
def export_indicator_files(
    store: Store, out_dir: Path, selection=None, rules: FlagRules = FlagRules(), demo: bool = False
) -> Exported:
    """The indicator exports of `selection` (a `Territory`; France when None) into `out_dir` (marked synthetic when
    `demo` is set or the store holds demo mirror files)."""
    from sources.demo.synthetic import store_is_synthetic

    demo = demo or store_is_synthetic(store)
    if selection is None and rules == FlagRules():
        return _france(store, Path(out_dir), demo)
    table = _territory_table(store, selection, rules) if selection is not None else _computed(store, (), rules)
    return _written(table, Path(out_dir), selection, demo)


def _france(store: Store, out_dir: Path, demo: bool) -> Exported:
    from transforms.export import write_exports_of_file
    from transforms.pipeline import diagnostic_table_parts
    from transforms.table_cache import cache_path, scan_france_table

    # computed when not cached, its parts written as they come (never the whole table in memory)
    scan = scan_france_table(store, lambda: diagnostic_table_parts(store))
    cached = cache_path(store)
    if not cached.is_file():  # a store that cannot be written to: the table computed in memory
        return _written(scan.collect(), out_dir, None, demo)
    paths = write_exports_of_file(cached, out_dir, "indicateurs-france", demo=demo)
    rows, flags = scan.select(pl.len(), pl.col("flag").is_not_null().sum()).collect().row(0)
    return Exported(rows, flags, paths)


def _territory_table(store: Store, selection, rules: FlagRules) -> pl.DataFrame:
    """The rows of one territory's diagnostic, read from the cached table when it holds them."""
    from sources.refresh import load_geography
    from transforms.pipeline import select
    from transforms.table_cache import scan_france_table, territory_rows

    membership = load_geography(store).membership()
    if selection.customs or rules != FlagRules():
        return select(_computed(store, selection.customs, rules), membership, selection)
    from transforms.pipeline import diagnostic_table_parts

    scan = scan_france_table(store, lambda: diagnostic_table_parts(store))  # computed when not cached
    return select(scan.filter(territory_rows(membership, [selection])).collect(), membership, selection)


def _computed(store: Store, customs: tuple, rules: FlagRules) -> pl.DataFrame:
    from transforms.pipeline import diagnostic_table
    from transforms.table_cache import diagnostic_table_cached

    return diagnostic_table_cached(store, customs, rules, compute=diagnostic_table)


def _written(table: pl.DataFrame, out_dir: Path, selection, demo: bool) -> Exported:
    from transforms.export import FORMATS, FRANCE_FORMATS, write_exports

    stem, formats = (
        ("indicateurs-france", FRANCE_FORMATS) if selection is None else (f"indicateurs-{selection.stem}", FORMATS)
    )
    paths = write_exports(table, out_dir, stem, demo=demo, formats=formats)
    return Exported(table.height, table.filter(pl.col("flag").is_not_null()).height, paths)


__all__ = ["Exported", "export_indicator_files"]
