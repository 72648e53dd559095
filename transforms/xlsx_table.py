"""A polars frame written as an Excel table through xlsxwriter's public API, the cells `DataFrame.write_excel` writes.

    write_table(book, frame, "indicateurs", autofit=True, column_formats={"année": "0"}, dtype_formats=...)

`DataFrame.write_excel` hands xlsxwriter every row (`df.rows()`) to be written by `add_table`, one `write()` per
cell (each one guessing its type), then `Worksheet.autofit()` walks every cell of the sheet again: about half of a
département's long workbook. Here the table is declared without its data, and its cells are held by the sheet as
columns (`transforms.xlsx_rows.ColumnSheet`) and written into its XML from them when the workbook is closed: a null
or an empty text is a blank cell with its column's format, a text a shared string (numbered in the order the cells
are read, row after row), a number a number, the bytes xlsxwriter writes cell by cell. The widths are measured by
polars over each column's distinct values with xlsxwriter's own measure (`cell_autofit_width`). The workbook holds
the same sheets, tables, cells, formats and widths as `write_excel`'s; its columns lack the `bestFit` mark that
`autofit()` adds to a width (a hint no spreadsheet displays).

Only what the exports hold is written: text, integer, decimal (finite) and null columns; another type is an error
naming the column.
"""

from __future__ import annotations

import functools
from typing import Any

import polars as pl

from transforms.workbooks import collector_paused, write_cells

# the formats `write_excel` gives a column without one of its own (polars' defaults, no table style)
INTEGER_FORMAT = "#,##0;[Red]-#,##0"
FLOAT_FORMAT = "#,##0.000;[Red]-#,##0.000"
BASE_FORMAT = {"valign": "vcenter"}
TABLE_PREFIX = "Frame"  # polars' table names: Frame0, Frame1... in the order they are added to a workbook
FILTER_BUTTON_PX = 16  # the header's filter button, counted by xlsxwriter's autofit
PADDING_PX = 7  # the padding autofit adds to the widest cell
MAX_COLUMN_PX = 1790  # Excel's widest column (255 characters), autofit's limit
DIGIT_PX = 7  # autofit's width of a character of a number
# texts whose width is kept (`_text_px`): the definitions' and sources' texts, measured again for each workbook of a
# batch's reports (a Python loop over each character: 4 ms of an EPCI's 6 of a definitions sheet), and names
TEXTS_MEASURED = 8192


def write_table(
    book: Any,
    frame: pl.DataFrame,
    worksheet: str,
    *,
    autofit: bool = True,
    freeze_panes: tuple[int, int] | None = (1, 0),
    column_formats: dict[str, str] | None = None,
    dtype_formats: dict[type[pl.DataType], str] | None = None,
) -> Any:
    """A new sheet `worksheet` of the xlsxwriter `book` holding `frame` as a table from A1 with its header, as
    `frame.write_excel(book, worksheet, autofit=..., freeze_panes=..., column_formats=..., dtype_formats=...)`
    writes it (no table style, each column's number format aligned to the middle); the sheet."""
    from transforms.xlsx_rows import ColumnSheet  # xlsxwriter imported when a workbook is written, not before

    sheet = book.add_worksheet(worksheet, worksheet_class=ColumnSheet)
    formats = _column_formats(book, frame, column_formats or {}, dtype_formats or {})
    empty = frame.height == 0
    sheet.add_table(
        0,
        0,
        frame.height + int(empty),
        frame.width - 1,
        {
            "style": None,
            "columns": [{"header": name, "format": formats[name]} for name in frame.columns],
            "header_row": True,
            "autofilter": True,
            "total_row": False,
            "name": _table_name(book),
        },
    )
    fit = autofit and not empty
    signed, distinct = _column_facts(frame, distinct=fit)
    with collector_paused():
        columns = [frame.get_column(name).to_list() for name in frame.columns]
        texts = [frame.schema[name] == pl.String for name in frame.columns]
        write_cells(sheet, ColumnSheet.hold_rows, columns, texts, [formats[name] for name in frame.columns], signed)
    if fit:
        for col, width in enumerate(_widths(frame, distinct)):
            if width is not None:
                sheet.set_column_pixels(col, col, width)
    if freeze_panes:
        sheet.freeze_panes(*freeze_panes)
    return sheet


def _column_formats(book, frame: pl.DataFrame, given: dict[str, str], by_dtype: dict) -> dict[str, Any]:
    """Each column's Format: its own, else its type's, else polars' default; one Format per number format."""
    made: dict[str | None, Any] = {None: book.add_format(dict(BASE_FORMAT))}
    out = {}
    for name, dtype in frame.schema.items():
        fmt = given.get(name) or by_dtype.get(dtype.base_type()) or _default_format(name, dtype)
        if fmt not in made:
            made[fmt] = book.add_format({"num_format": fmt} | BASE_FORMAT)
        out[name] = made[fmt]
    return out


def _default_format(name: str, dtype: pl.DataType) -> str | None:
    if dtype.is_integer():
        return INTEGER_FORMAT
    if dtype.is_float():
        return FLOAT_FORMAT
    if dtype in (pl.String, pl.Null):
        return None
    raise TypeError(f"column {name!r}: {dtype} cells are not written to a workbook (text, numbers or nulls only)")


def _table_name(book) -> str:
    """polars' name for the next table of `book`: the first `FrameN` not taken, N from the tables already named so."""
    taken = {t["name"] for sheet in book.worksheets() for t in sheet.tables if t["name"].startswith(TABLE_PREFIX)}
    n = len(taken)
    while f"{TABLE_PREFIX}{n}" in taken:
        n += 1
    return f"{TABLE_PREFIX}{n}"


def _column_facts(frame: pl.DataFrame, distinct: bool) -> tuple[list[bool], tuple[list, ...]]:
    """What a table's sheet needs of its columns, found by one query (three before: 1.5 ms of CPU a table, five
    tables a report): `negative_zeros`, and each column's distinct values (`_distinct_values`) when `distinct`,
    else nothing. A decimal cell is a number: NaN or infinity is an error naming its column (xlsxwriter refuses
    them too)."""
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    found = (
        frame.select(
            *[pl.col(name).is_finite().fill_null(True).all().alias(f"finite {n}") for n, name in enumerate(floats)],
            *[_negative_zero(name).alias(f"zero {n}") for n, name in enumerate(floats)],
            *([_distinct(name).alias(f"distinct {n}") for n, name in enumerate(frame.columns)] if distinct else []),
        ).row(0)
        if floats or (distinct and frame.width)
        else ()
    )
    finite, zeros, values = found[: len(floats)], found[len(floats) : 2 * len(floats)], found[2 * len(floats) :]
    for name, all_finite in zip(floats, finite, strict=True):
        if not all_finite:
            raise TypeError(f"column {name!r}: NaN or infinite values are not written to a workbook")
    held = dict(zip(floats, zeros, strict=True))
    signed = [bool(held.get(name)) for name in frame.columns]
    return signed, _with_negative_zeros(values, signed) if distinct else ()


def autofit_widths(frame: pl.DataFrame, signed: list[bool] | None = None) -> list[int | None]:
    """Each column's width in pixels as xlsxwriter's `autofit()` sets it (None: left as it is, nothing to fit):
    the widest cell, its header counting its filter button, plus the padding, at most Excel's widest. `signed`:
    `negative_zeros(frame)`, when known."""
    return _widths(frame, _distinct_values(frame, negative_zeros(frame) if signed is None else signed))


def _widths(frame: pl.DataFrame, distinct: tuple[list, ...]) -> list[int | None]:
    """`autofit_widths` of the columns' `_distinct_values`."""
    out = []
    for (name, dtype), values in zip(frame.schema.items(), distinct, strict=True):
        head = _text_px(name)
        widest = max(head + FILTER_BUTTON_PX if head else 0, _widest_cell_px(values, dtype))
        out.append(min(widest + PADDING_PX, MAX_COLUMN_PX) if widest > 0 else None)
    return out


def negative_zeros(frame: pl.DataFrame) -> list[bool]:
    """Whether each column holds a -0.0 (a small negative value rounded): written `-0`, but equal to 0.0 for
    Python and for polars' `unique()`. Only a decimal column may."""
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    found = frame.select(*[_negative_zero(n) for n in floats]).row(0) if floats else ()
    held = dict(zip(floats, found, strict=True))
    return [bool(held.get(name)) for name in frame.columns]


def _negative_zero(name: str) -> pl.Expr:
    """Whether the column holds a -0.0 (1/-0.0: -inf)."""
    return ((pl.col(name) == 0) & (1 / pl.col(name) < 0)).any()


def _distinct_values(frame: pl.DataFrame, signed: list[bool]) -> tuple[list, ...]:
    """Each column's distinct values but null (a few hundred names or labels among 35,000 rows), a decimal
    column's -0.0 among them when it holds one (`signed`, `negative_zeros`): `unique()` takes it for 0.0, but its
    sign is written. One query for every column, not three queries a column (the autofit of an EPCI's long
    table: 9 ms of CPU, 4.5 now with its texts' widths kept)."""
    return _with_negative_zeros(frame.select(*[_distinct(name) for name in frame.columns]).row(0), signed)


def _distinct(name: str) -> pl.Expr:
    return pl.col(name).drop_nulls().unique().implode()


def _with_negative_zeros(distinct: tuple[list, ...], signed: list[bool]) -> tuple[list, ...]:
    """The columns' distinct values, -0.0 added to those of a column that holds it (`signed`)."""
    for values, negative_zero in zip(distinct, signed, strict=True):
        if negative_zero:
            values.append(-0.0)
    return distinct


def _widest_cell_px(values: list, dtype: pl.DataType) -> int:
    if dtype == pl.String:
        return max((_text_px(v) for v in values), default=0)
    # a number: 7 pixels a character of Python's writing of it, as autofit counts (`7458.0`, `2022`)
    return max((DIGIT_PX * len(str(v)) for v in values), default=0)


@functools.lru_cache(maxsize=TEXTS_MEASURED)
def _text_px(text: str) -> int:
    """A text's pixels as autofit measures it: its widest line, without the padding (nothing for an empty one)."""
    from xlsxwriter.utility import cell_autofit_width  # xlsxwriter imported when a workbook is written, not before

    return max(cell_autofit_width(line) - PADDING_PX if line else 0 for line in text.split("\n"))
