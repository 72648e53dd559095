"""The wide workbook: one row per place (communes, the territory, its references), one column per indicator, one
sheet per theme, so nobody rebuilds a pivot table from the long export (`transforms.export`).

    write_wide_xlsx(table, path, demo=False)   `table` is the long indicator table of one report

Each column header says the indicator, its unit and its year (`Taux de pauvreté (seuil à 60 %) (%, 2021)`); the
years of the `sources` sheet are plain integers. An empty value stays an empty cell (never 0) with its reason in a
cell note, and flagged cells carry the report's tints (legend on the first sheet). Text is written as text: a
commune name starting with `=` stays a name.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import polars as pl

from transforms import reasons as R
from transforms.export import DEMO_WARNING, UNITS_FR, definitions
from transforms.registry import THEMES, Indicator, indicators
from transforms.workbooks import Closer, workbook, write_cells
from transforms.xlsx_table import write_table

# the order of the rows: units first, then the territory, then its references
LEVEL_ORDER = {"COM": 0, "EPCI": 1, "TERRITORY": 2, "DEP": 3, "FRANCE": 4}
LEVELS_FR = {"COM": "commune", "EPCI": "EPCI", "TERRITORY": "territoire", "DEP": "département", "FRANCE": "France"}
NUMBER_FORMATS = {
    "count": "#,##0",
    "percent": "0.0",
    "per100": "0.0",
    "ratio": "0.00",
    "index": "0.0",
    "euros": "#,##0",
    "percent_per_year": "0.00",
    "per1000": "0.00",
}
FLAG_FILLS = {"vigilance": "#fdf0d2", "priorité": "#f8d9d5"}  # the report's table tints (reports.tables)
PERIOD_KINDS = ("growth", "natural", "migration")
README_SHEET = "À lire"
README = (
    "Indicateurs en colonnes, lieux en lignes : une feuille par thème.",
    "Chaque en-tête donne l'indicateur, son unité et son année ; les définitions et les sources sont dans les "
    "feuilles « définitions » et « sources ».",
    "Une cellule vide n'est pas un zéro : la note de la cellule en donne le motif (secret statistique, non "
    "disponible…).",
    "Fond orangé : point de vigilance ; fond rose : priorité (règles dans le rapport, « Clefs de lecture »).",
    "Le tableau long (indicateurs-….xlsx) donne en plus les numérateurs, dénominateurs, évolutions et références.",
)


def places(table: pl.DataFrame) -> list[tuple[str, str, str]]:
    """(level, code, name) of every place of the table, in reading order (French alphabetical within a level)."""
    rows = table.select("level", "code", "name").unique(["level", "code"]).iter_rows()
    return sorted(rows, key=lambda r: (LEVEL_ORDER.get(r[0], 9), _bare(r[2] or r[1]), r[1]))


def _bare(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()


def header(ind: Indicator, table: pl.DataFrame) -> str:
    """`Taux de pauvreté (seuil à 60 %) (%, 2021)`; a growth rate gives its period (`2016-2022`)."""
    return Headers(table)(ind)


class Headers:
    """`header` of every indicator of one table, its years read once (a filter per indicator before)."""

    def __init__(self, table: pl.DataFrame):
        self.last: dict[str, int] = {}
        if "year" in table.columns:
            by_indicator = table.group_by("indicator").agg(pl.col("year").drop_nulls().max())
            self.last = {i: int(y) for i, y in by_indicator.iter_rows() if y is not None}
        start = table["comparison_year"].drop_nulls() if "comparison_year" in table.columns else None
        self.start = int(start.to_frame().max().item()) if start is not None and start.len() else None

    def __call__(self, ind: Indicator) -> str:
        when = ""
        if ind.id in self.last:
            when = f"{self.last[ind.id]}"
            if ind.kind in PERIOD_KINDS and self.start is not None:
                when = f"{self.start}-{when}"
        return f"{ind.label} ({UNITS_FR[ind.unit]}{', ' + when if when else ''})"


def sheet_name(title: str, taken: set[str]) -> str:
    """A theme's title as an Excel sheet name: at most 31 characters, none of []:*?/\\, unique."""
    name = "".join(c for c in title if c not in "[]:*?/\\")[:31] or "thème"
    base, n = name, 2
    while name.casefold() in taken:
        name = f"{base[:28]} {n}"
        n += 1
    taken.add(name.casefold())
    return name


def theme_sheets(table: pl.DataFrame) -> list[tuple[str, list[Indicator]]]:
    """(title, indicators present in the table) of each theme, in the catalogue's order."""
    present = set(table["indicator"].unique().to_list())
    out = []
    for theme, title in THEMES.items():
        items = [i for i in indicators() if i.theme == theme and i.id in present]
        if items:
            out.append((title, items))
    return out


def sources_frame(table: pl.DataFrame) -> pl.DataFrame:
    """indicator, label, unit, year (an integer), source: one row per indicator of the table."""
    known = {i.id: i for i in indicators()}
    rows = (
        table.group_by("indicator")
        .agg(pl.col("year").max(), pl.col("source").drop_nulls().first())
        .filter(pl.col("indicator").is_in(list(known)))
    )
    order = {ident: n for n, ident in enumerate(known)}
    rows = rows.sort(pl.col("indicator").replace_strict(order, return_dtype=pl.Int32))
    return pl.DataFrame(
        {
            "indicateur": rows["indicator"],
            "libellé": [known[i].label for i in rows["indicator"]],
            "unité": [UNITS_FR[known[i].unit] for i in rows["indicator"]],
            "année": rows["year"].cast(pl.Int32),
            "source": rows["source"],
        }
    )


def write_wide_xlsx(table: pl.DataFrame, path: Path, *, demo: bool = False, closer: Closer | None = None) -> Path:
    """Write the wide workbook of one report's long `table` atomically at `path` (closed by `closer`, else here:
    transforms.workbooks)."""
    with workbook(path, closer) as book:  # the cycle collector paused meanwhile: tens of thousands of cells
        _fill(book, table, demo)
    return path


def _fill(book, table: pl.DataFrame, demo: bool) -> None:
    """The workbook's sheets. Its values by place (`value_cells`) are dropped on return, while the collector is
    still paused: alive when it resumes, its first collection walked them all (a département's: 15-30 ms)."""
    cells = value_cells(table)
    rows = places(table)
    headers = Headers(table)
    _readme(book, demo)
    taken = {README_SHEET.casefold(), "définitions", "sources"}
    styles = _ThemeStyles(book)
    for title, items in theme_sheets(table):
        _theme_sheet(book, sheet_name(title, taken), items, rows, cells, headers, styles)
    write_table(book, definitions(), "définitions")
    write_table(book, sources_frame(table), "sources", column_formats={"année": "0"})


CELL_PARTS = ("value", "status", "flag")  # what a value cell shows, in this order (`_theme_cells`)


def value_cells(table: pl.DataFrame) -> dict[tuple[str, str, str], tuple]:
    """(value, status, flag) of each (level, code, indicator) of the table (a part it lacks: None): three columns
    read, not a dict of every column per row, zipped from the columns' lists (a département's 55,000 rows:
    26 ms of CPU, 35 by `iter_rows`)."""
    parts = [pl.col(c) if c in table.columns else pl.lit(None).alias(c) for c in CELL_PARTS]
    columns = [column.to_list() for column in table.select("level", "code", "indicator", *parts).get_columns()]
    return dict(zip(zip(*columns[:3], strict=True), zip(*columns[3:], strict=True), strict=True))


def _readme(book, demo: bool) -> None:
    sheet = book.add_worksheet(README_SHEET)
    sheet.set_column(0, 0, 110)
    bold = book.add_format({"bold": True})
    lines = (DEMO_WARNING if demo else ()) + README
    for n, line in enumerate(lines):
        sheet.write_string(n, 0, line, bold if demo and n == 0 else None)


class _ThemeStyles:
    """The theme sheets' formats, made once for the workbook (xlsxwriter writes each distinct format once whichever
    Format object a cell names: 25 Formats a sheet made 300 for an EPCI's workbook): the header's, and each unit's
    number format with each flag's tint."""

    def __init__(self, book) -> None:
        self.head = book.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#f2f5f8"})
        self.numbers = {
            (unit, flag): book.add_format({"num_format": fmt} | ({"bg_color": FLAG_FILLS[flag]} if flag else {}))
            for unit, fmt in NUMBER_FORMATS.items()
            for flag in (None, *FLAG_FILLS)
        }

    def tints(self, ind: Indicator) -> dict[str | None, Any]:
        """The indicator's number format by flag (None: untinted)."""
        return {flag: self.numbers[(ind.unit, flag)] for flag in (None, *FLAG_FILLS)}


def _theme_sheet(
    book, name: str, items: list[Indicator], rows, cells: dict, headers: Headers, styles: _ThemeStyles
) -> None:
    sheet = book.add_worksheet(name)
    titles = ["niveau", "code", "nom", *(headers(ind) for ind in items)]
    columns = [(ind.id, styles.tints(ind)) for ind in items]
    write_cells(sheet, _theme_cells, titles, styles.head, columns, rows, cells)  # in the closing child, if any
    sheet.set_row(0, 60)
    sheet.set_column(0, 1, 11)
    sheet.set_column(2, 2, 30)
    sheet.set_column(3, 2 + len(items), 16)
    sheet.freeze_panes(1, 3)


def _theme_cells(sheet, titles: list[str], head, columns: list[tuple[str, dict]], rows, cells: dict) -> None:
    """The header, then a row per place: its level, code and name, then its value of each indicator (`columns`:
    its id and its formats by flag) with its unit's format and its flag's tint; an empty value: no cell, its reason
    in a note. The cells are given by numbers: written by the Worksheet's methods under its public ones, which first
    look for an `A1` reference (a fifth of these writes' CPU, profiled); the notes by `FastSheet.write_note`."""
    write_string, write_number, write_comment = sheet._write_string, sheet._write_number, sheet.write_note
    for col, title in enumerate(titles):
        write_string(0, col, title, head)
    for r, (level, code, place) in enumerate(rows, start=1):
        write_string(r, 0, LEVELS_FR.get(level, level), None)
        write_string(r, 1, code, None)
        write_string(r, 2, place or code, None)
        for col, (ind, tints) in enumerate(columns, start=3):
            cell = cells.get((level, code, ind))
            if cell is None:
                continue
            value, status, flag = cell
            if value is None:  # a blank without a format is no cell for xlsxwriter: the note alone
                write_comment(r, col, R.LABELS_FR.get(status or R.MISSING, "motif non précisé"))
                continue
            write_number(r, col, float(value), tints.get(flag, tints[None]))
            if status in R.LABELS_FR:  # a value that is not quite the place's own (borrowed, partial)
                write_comment(r, col, R.LABELS_FR[status])
