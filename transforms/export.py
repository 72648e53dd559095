"""Exports of the indicator table: Parquet, CSV for French spreadsheets, XLSX with a definitions sheet."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TypeVar

import polars as pl
import polars.selectors as cs

from storage.files import atomic_path
from transforms import reasons as R
from transforms.registry import THEMES, indicators
from transforms.workbooks import XLSX_OPTIONS, Closer, workbook
from transforms.xlsx_table import write_table

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

UNITS_FR = {
    "count": "effectif",
    "percent": "%",
    "per100": "pour 100",
    "ratio": "rapport",
    "index": "indice",
    "euros": "euros",
    "percent_per_year": "% par an",
    "per1000": "pour 1 000",
}
DIRECTIONS_FR = {
    "higher_is_need": "plus élevé = besoin plus fort",
    "lower_is_need": "plus bas = besoin plus fort",
    "neutral": "neutre",
    "two_sided": "écart marqué dans un sens ou dans l'autre = à examiner",
}

# The columns that say which place and which indicator a row is about, first in every export.
IDENTITY = ("level", "code", "name", "theme_label", "indicator", "label", "unit")
# French column names of the exports, in order.
COLUMNS_FR = {
    "level": "niveau",
    "code": "code",
    "name": "nom",
    "theme_label": "thème",
    "indicator": "indicateur",
    "label": "libellé",
    "unit": "unité",
    "year": "année",
    "value": "valeur",
    "numerator": "numérateur",
    "denominator": "dénominateur",
    "status": "statut",
    "reason": "motif",
    "ref_epci": "référence EPCI",
    "ref_dep": "référence département",
    "ref_france": "référence France",
    "comparison_year": "année de comparaison",
    "value_comparison": "valeur à l'année de comparaison",
    "evolution": "évolution",
    "evolution_unit": "unité de l'évolution",
    "flag": "signal",
    "source": "source",
    "coverage": "couverture (% de la population)",  # a rate computed without its secret communes (partial.py)
}


def definitions() -> pl.DataFrame:
    items = indicators()
    return pl.DataFrame(
        {
            "indicateur": [i.id for i in items],
            "thème": [THEMES[i.theme] for i in items],
            "libellé": [i.label for i in items],
            "unité": [UNITS_FR[i.unit] for i in items],
            "sens": [DIRECTIONS_FR[i.direction] for i in items],
            "définition": [i.definition for i in items],
            "précautions": [i.caveat for i in items],
            "effectif minimal": [i.min_denominator or None for i in items],
        }
    )


# the marks of a demo export (`abs-diag demo`): synthetic figures under real names and codes
DEMO_COLUMN_FR, DEMO_VALUE, DEMO_SHEET = "données", "synthétiques (démonstration)", "À lire"
DEMO_WARNING = (
    "DÉMONSTRATION : données synthétiques.",
    (
        "Les noms et les codes des communes sont réels, mais tous les chiffres de ce classeur sont inventés par le "
        "générateur de démonstration d'abs-diag."
    ),
    "Ils ne décrivent aucun territoire : ne les citez pas et ne les utilisez pas pour un diagnostic.",
)
XLSX_MAX_ROWS = 1_048_575  # Excel's limit per sheet, less the header row
EVOLUTION_UNITS_FR = {"points": "points", "percent_per_year": "% par an", "difference": "écart"}
# What a spreadsheet reads as the start of a formula (OWASP, CSV injection: = + - @ tab CR; LF too)
FORMULA_TRIGGERS = r"^[=+\-@\t\r\n]"
# XLSX_OPTIONS (transforms.workbooks): the XLSX writes text as text, never a live formula or link
__all__ = ["XLSX_OPTIONS", "write_exports", "write_exports_of_file"]
# year columns as plain digits: a spreadsheet's default integer format would show 2022 as « 2 022 »
YEAR_FORMATS = {COLUMNS_FR["year"]: "0", COLUMNS_FR["comparison_year"]: "0"}
ROUNDED = ["value", "numerator", "denominator", "ref_epci", "ref_dep", "ref_france", "value_comparison", "evolution"]


def french(table: FrameT) -> FrameT:
    """The table for people: French column names and labels, a readable reason, values rounded to 3 decimals (a
    DataFrame, or a LazyFrame streamed to a file)."""
    columns = table.collect_schema().names()
    table = table.with_columns(
        reason=pl.col("status").replace_strict(R.LABELS_FR, default=pl.col("status"), return_dtype=pl.String),
        unit=pl.col("unit").replace_strict(UNITS_FR, default=pl.col("unit"), return_dtype=pl.String),
        evolution_unit=pl.col("evolution_unit").replace_strict(
            EVOLUTION_UNITS_FR, default=pl.col("evolution_unit"), return_dtype=pl.String
        ),
    )
    table = table.with_columns(
        *[pl.col(c).round(3) for c in ROUNDED if c in columns],
        *([(pl.col("coverage") * 100).round(1)] if "coverage" in columns else []),
    )
    present = [c for c in COLUMNS_FR if c in columns + ["reason"]]
    return table.select(present).rename({c: COLUMNS_FR[c] for c in present})


def neutralised(frame: FrameT) -> FrameT:
    """Text cells that a spreadsheet would run as a formula, prefixed with a single quote (OWASP's advice for CSV).

    Only text columns, and only those holding such a cell (found first: rewriting every text column of France's
    3 million rows costs more than looking); a negative evolution (-0.5) is a number and stays one."""
    return _guarded(frame, _csv_checks(frame)[0])


def _guarded(frame: FrameT, columns: set[str]) -> FrameT:
    """`neutralised` of these text columns (those holding a cell to guard)."""
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_TRIGGERS)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in columns
    )


def _csv_checks(frame: pl.DataFrame | pl.LazyFrame) -> tuple[set[str], set[str]]:
    """(the text columns holding a cell a spreadsheet would run as a formula, the float columns holding a value
    too big for the short way of `csv_numbers`), found in one pass (a scan is read once more for it)."""
    schema = frame.collect_schema()
    text = [c for c, dtype in schema.items() if dtype == pl.String]
    floats = [c for c, dtype in schema.items() if dtype.is_float()]
    if not text and not floats:
        return set(), set()
    found = frame.select(
        *[pl.col(c).str.contains(FORMULA_TRIGGERS).any().alias(f"t{n}") for n, c in enumerate(text)],
        *[pl.col(c).abs().max().alias(f"f{n}") for n, c in enumerate(floats)],
    )
    row = (found.collect(engine="streaming") if isinstance(found, pl.LazyFrame) else found).row(0)
    flags, tops = row[: len(text)], row[len(text) :]
    return {c for c, hit in zip(text, flags, strict=True) if hit}, {
        c
        for c, top in zip(floats, tops, strict=True)
        if top is not None and not top < BIG  # NaN: the long way
    }


def csv_numbers(frame: FrameT) -> FrameT:
    """Decimal columns as the text a French spreadsheet reads: a whole number without decimals (a count of 7458 is
    `7458`, never `7458,0`), other values with a decimal comma (`-0,5`, `12,345`). Values are already rounded.

    polars writes a float as its shortest decimal (`7458.0`, `12.345`) below 10^16: the text is cut of its `.0`
    and given a comma, one pass each. A column holding a larger value (written with an exponent) takes the long
    way, through an integer."""
    return _with_decimal_comma(frame, _csv_checks(frame.select(cs.float()))[1])


def _with_decimal_comma(frame: FrameT, big: set[str]) -> FrameT:
    """`csv_numbers`, the `big` columns the long way."""
    floats = [name for name, dtype in frame.collect_schema().items() if dtype.is_float()]
    return frame.with_columns(_decimal_comma(pl.col(c), long_way=c in big).alias(c) for c in floats)


BIG = 1e15  # a float at or above it (in absolute value) is written with an exponent by polars from 1e16


def _decimal_comma(c: pl.Expr, long_way: bool) -> pl.Expr:
    if long_way:
        return (
            pl.when(c == c.round(0))
            .then(c.cast(pl.Int64).cast(pl.String))
            .otherwise(c.cast(pl.String).str.replace(".", ",", literal=True))
        )
    # -0.0 (a small negative value rounded) is written 0, as a whole number is
    unsigned_zero = pl.when(c == 0).then(0.0).otherwise(c)
    return unsigned_zero.cast(pl.String).str.strip_suffix(".0").str.replace(".", ",", literal=True)


FORMATS = ("parquet", "csv", "xlsx")
# France (2 million rows) in Parquet and CSV only: an XLSX of it takes minutes to write, spans two sheets and is
# opened by nobody; a person opens a territory's XLSX
FRANCE_FORMATS = ("parquet", "csv")


def write_exports(
    table: pl.DataFrame,
    out_dir: Path,
    stem: str,
    *,
    demo: bool = False,
    formats: tuple[str, ...] = FORMATS,
    closer: Closer | None = None,
) -> dict[str, Path]:
    """indicateurs Parquet (English column names, for machines), CSV and XLSX (French, for people); `formats`:
    which of them.

    `demo`: the figures are synthetic. Every row says so (a `demo` column in the Parquet, `données` in the French
    files), so a file copied out of the demo cannot pass for a diagnostic, and the XLSX opens on a warning sheet."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {fmt: out_dir / f"{stem}.{fmt}" for fmt in FORMATS if fmt in formats}
    with atomic_path(paths["parquet"]) as tmp:
        (table.with_columns(demo=pl.lit(True)) if demo else table).write_parquet(tmp)
    _write_french(french(table), paths, demo, closer)
    return paths


def write_exports_of_file(
    table_file: Path, out_dir: Path, stem: str, *, demo: bool = False, formats: tuple[str, ...] = FRANCE_FORMATS
) -> dict[str, Path]:
    """`write_exports` of a table saved as Parquet (the store's cached table of France: 3.3 million rows), the same
    files: the Parquet export is the file copied when nothing is added to it (the demo column is), not encoded
    again; the CSV is streamed from the file, never held whole in its French form. No XLSX
    unless asked: nobody opens 3 million rows in a spreadsheet (`FRANCE_FORMATS`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {fmt: out_dir / f"{stem}.{fmt}" for fmt in FORMATS if fmt in formats}
    with atomic_path(paths["parquet"]) as tmp:
        if demo:
            pl.scan_parquet(table_file).with_columns(demo=pl.lit(True)).sink_parquet(tmp)
        else:
            shutil.copyfile(table_file, tmp)
    # the French form streamed from the file to the CSV: never the 3 million rows' text in memory at once
    _write_french(french(pl.scan_parquet(table_file)), paths, demo)
    return paths


def _write_french(
    fr: pl.DataFrame | pl.LazyFrame, paths: dict[str, Path], demo: bool, closer: Closer | None = None
) -> None:
    """The CSV (and the XLSX when in `paths`, closed by `closer`: transforms.workbooks) of the French table (a scan
    is read once for the checks, once for the CSV, and once more for an XLSX)."""
    if demo:
        fr = fr.with_columns(pl.lit(DEMO_VALUE).alias(DEMO_COLUMN_FR))
    guarded, big = _csv_checks(fr)  # one pass over the table for both
    with atomic_path(paths["csv"]) as tmp:
        # `;` and a decimal comma with a BOM: what a French spreadsheet opens without an import wizard;
        # numbers become text after the formula guard: a negative number is a number, never quoted
        if isinstance(fr, pl.LazyFrame):
            _with_decimal_comma(_guarded(fr, guarded), big).sink_csv(tmp, separator=";", include_bom=True)
        else:
            _with_decimal_comma(_guarded(fr, guarded), big).write_csv(tmp, separator=";", include_bom=True)
    if "xlsx" in paths:
        _write_xlsx(fr.collect() if isinstance(fr, pl.LazyFrame) else fr, paths["xlsx"], demo, closer)


def _write_xlsx(fr: pl.DataFrame, path: Path, demo: bool, closer: Closer | None = None) -> None:
    with workbook(path, closer) as book:
        if demo:  # the first sheet, the one a spreadsheet opens on
            warning = book.add_worksheet(DEMO_SHEET)
            warning.set_column(0, 0, 110)
            for n, line in enumerate(DEMO_WARNING):
                warning.write(n, 0, line, book.add_format({"bold": True}) if n == 0 else None)
        # a sheet holds 1,048,576 rows: France (35,000 communes x 55 indicators) spans several sheets
        chunks = range(0, max(fr.height, 1), XLSX_MAX_ROWS)
        for n, start in enumerate(chunks, start=1):
            sheet = "indicateurs" if len(chunks) == 1 else f"indicateurs {n}"
            write_table(
                book,
                fr.slice(start, XLSX_MAX_ROWS),
                sheet,
                autofit=fr.height < 100_000,
                column_formats={c: f for c, f in YEAR_FORMATS.items() if c in fr.columns},
                dtype_formats={pl.Float64: "General"},
            )  # 7458 as 7458, not 7 458,000 (nor red negatives)
        write_table(book, definitions(), "définitions")
