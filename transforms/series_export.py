"""Exports of the series (`abs-diag indicators ... --series`): the long table with a `year` column, as Parquet
(English column names), CSV for French spreadsheets and, for one territory, XLSX with the definitions sheet.

The whole of France has too many rows for a workbook: `--all --series` writes Parquet and CSV only."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from storage.files import atomic_path
from storage.store import Store, reads_one_state
from transforms import series as S
from transforms.export import COLUMNS_FR as EXPORT_COLUMNS_FR
from transforms.export import (
    DEMO_COLUMN_FR,
    DEMO_SHEET,
    DEMO_VALUE,
    DEMO_WARNING,
    IDENTITY,
    UNITS_FR,
    XLSX_OPTIONS,
    definitions,
    neutralised,
)

# French column names, in order: those of the indicator exports, then the series' own
SHARED_COLUMNS = (*IDENTITY, "year", "value", "numerator", "denominator", "status", "reason", "source")
COLUMNS_FR = {c: EXPORT_COLUMNS_FR[c] for c in SHARED_COLUMNS} | {
    "comparable": "comparable à la dernière année",
    "baseline_year": "année de référence",
    "change": "évolution depuis l'année de référence",
    "change_unit": "unité de l'évolution",
    "change_reason": "motif (évolution)",
}
CHANGE_UNITS_FR = {"points": "points", "percent": "%", "difference": "écart"}


def french(series: pl.DataFrame) -> pl.DataFrame:
    out = series.with_columns(
        *[pl.col(c).round(3) for c in ("value", "numerator", "denominator")],
        reason=pl.col("status").map_elements(S.reason_fr, return_dtype=pl.String),
        unit=pl.col("unit").replace_strict(UNITS_FR, default=pl.col("unit"), return_dtype=pl.String),
        comparable=pl.when(pl.col("comparable"))
        .then(pl.lit("oui"))
        .otherwise(pl.lit("non (définition modifiée depuis)")),
    )
    if "change_status" in out.columns:
        out = out.with_columns(
            change_reason=pl.col("change_status").map_elements(S.reason_fr, return_dtype=pl.String),
            change_unit=pl.col("change_unit").replace_strict(CHANGE_UNITS_FR, default=None, return_dtype=pl.String),
            change=pl.col("change").round(3),
        )
    present = [c for c in COLUMNS_FR if c in out.columns]
    return out.select(present).rename({c: COLUMNS_FR[c] for c in present})


def write_series(
    table: pl.DataFrame, out_dir: Path, stem: str, *, demo: bool = False, xlsx: bool = True
) -> dict[str, Path]:
    """`<stem>.parquet`, `.csv` and (when `xlsx`) `.xlsx`, each marked synthetic when `demo`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    formats = ("parquet", "csv", "xlsx") if xlsx else ("parquet", "csv")
    paths = {fmt: out_dir / f"{stem}.{fmt}" for fmt in formats}
    with atomic_path(paths["parquet"]) as tmp:
        (table.with_columns(demo=pl.lit(True)) if demo else table).write_parquet(tmp)
    fr = french(table)
    if demo:
        fr = fr.with_columns(pl.lit(DEMO_VALUE).alias(DEMO_COLUMN_FR))
    with atomic_path(paths["csv"]) as tmp, tmp.open("wb") as handle:
        handle.write(b"\xef\xbb\xbf")  # what a French spreadsheet opens without an import wizard
        neutralised(fr).write_csv(handle, separator=";", decimal_comma=True)
    if xlsx:
        import xlsxwriter

        with atomic_path(paths["xlsx"]) as tmp, xlsxwriter.Workbook(tmp, XLSX_OPTIONS) as book:
            if demo:
                warning = book.add_worksheet(DEMO_SHEET)
                warning.set_column(0, 0, 110)
                for n, line in enumerate(DEMO_WARNING):
                    warning.write(n, 0, line)
            fr.write_excel(book, worksheet="séries", autofit=True, freeze_panes=(1, 0))
            definitions().write_excel(book, worksheet="définitions", autofit=True, freeze_panes=(1, 0))
    return paths


@reads_one_state
def export_series(store: Store, out_dir, selection=None, demo: bool = False, baseline: int | None = None):
    """The series of the selected territory's rows (everything when None), written beside each other:
    `series-<territory>.*`, each row with the change of its indicator since `baseline` (checked against the
    staged years; default: the oldest year common to the yearly sources). Returns (table, paths)."""
    from sources.demo.synthetic import store_is_synthetic
    from transforms.compare import _names
    from transforms.pipeline import scanned_inputs, select

    demo = demo or store_is_synthetic(store)
    customs = selection.customs if selection else ()
    inputs = S.series_inputs(store, scanned_inputs(store))  # the staged tables read a year at a time
    baseline = S.resolve_baseline(baseline, S.yearly_years(inputs))
    table = S.compute_series(inputs, customs)
    if selection is not None:
        table = select(table, inputs.membership, selection)
    table = S.with_labels(table, _names(inputs, customs))
    if baseline is not None:
        keys = ["level", "code", "indicator"]
        moved = S.changes(table, baseline).select(*keys, "baseline_year", "change", "change_unit", "change_status")
        table = table.join(moved, on=keys, how="left")
    stem = f"series-{selection.stem}" if selection else "series-france"
    return table, write_series(table, Path(out_dir), stem, demo=demo, xlsx=selection is not None)
