"""A table's data rows kept as columns in its xlsxwriter sheet and written into the sheet's XML from them.

    sheet = book.add_worksheet(name, worksheet_class=ColumnSheet)
    sheet.add_table(0, 0, n, last_col, options)          its one table (no merged range either)
    sheet.hold_rows(columns, texts, formats)             rows 1.. of columns 0.. (row 0: the header, written apart)
    sheet.hold_rows(columns, texts, formats, signed)     `signed`: the columns that may hold a -0.0

xlsxwriter keeps each cell as a tuple in a dict of rows (`write_string`, `write_number`, `write_blank`), then writes
the sheet's XML cell by cell through generic tag writers when the workbook is closed: 6.9 s of CPU for a
département's long workbook (841,000 cells). Here the cells are never stored one by one: the shared strings are
numbered as the cell writes would number them (in the order the cells are read, row after row), and the rows' XML is
joined from pieces made once per distinct value of a column (`_RowPieces`; that workbook's rows 0.18 s of CPU, 0.66 s
by an f-string per cell), the same bytes: `<c r="B2" s="1" t="s"><v>4</v></c>` for a text, `<c r="H2" s="2"><v>2022
</v></c>` for a number (written `%.16G` as xlsxwriter writes it), `<c r="I2" s="1"/>` for a blank (a null or an empty
text) carrying its column's format.

xlsxwriter's `add_table` checks that a table overlaps no earlier table or merged range by visiting each cell of its
range (0.42 s of CPU for a département's long table): the sheet's one table is declared over its header and first
row, then its ranges are set to its whole rows, and the sheet refuses any other table or merged range.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from xlsxwriter.utility import _utf16_len, _utf16_truncate, xl_col_to_name, xl_range

from transforms.xlsx_fast import FastSheet, written

ROWS_PER_CHUNK = 4096  # the rows whose cells are made at once: a bounded list of strings, not the whole sheet's


class ColumnSheet(FastSheet):
    """An xlsxwriter Worksheet whose data rows below its header row may be held as columns (`hold_rows`)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: _HeldRows | None = None

    def add_table(self, first_row: int, first_col: int, last_row: int, last_col: int, options: dict) -> int:
        """The sheet's one table, `Worksheet.add_table`'s (a header row; no data, formula nor total row), its
        overlap check done over its first two rows only: nothing else is on the sheet to overlap."""
        self._refuse_another_range()
        if options.get("data") or options.get("total_row") or not options.get("header_row", True):
            raise ValueError(f"sheet {self.name!r}: a table of a header row and held rows only")
        if any(column.get("formula") for column in options.get("columns", [])):
            raise ValueError(f"sheet {self.name!r}: a table without formulas")
        if last_row <= first_row + 1 or self._check_dimensions(last_row, last_col, True, True):
            return super().add_table(first_row, first_col, last_row, last_col, options)
        written = super().add_table(first_row, first_col, first_row + 1, last_col, options)
        if written == 0:
            table = self.tables[-1]
            short = table["range"]
            table["range"] = table["a_range"] = xl_range(first_row, first_col, last_row, last_col)
            if table.get("autofilter") == short:
                table["autofilter"] = table["range"]
        return written

    def merge_range(self, *args: Any, **kwargs: Any) -> int:
        self._refuse_another_range()
        return super().merge_range(*args, **kwargs)

    def _refuse_another_range(self) -> None:
        if self.tables or self.merge:
            raise ValueError(f"sheet {self.name!r}: one table and no merged range on a sheet of held rows")

    def hold_rows(
        self, columns: list[list], texts: list[bool], formats: list[Any], signed: list[bool] | None = None
    ) -> None:
        """Rows 1 to len(columns[0]) of columns 0 to len(columns) - 1: each cell a blank with its column's format
        (a null, an empty text), a shared string (`texts`: the columns of text) or a number. The texts are
        numbered now, as the writes of these cells at this point would number them. `signed`: the columns that
        may hold a -0.0 (None: any); a column said not to must not. The sheet must hold nothing else below row 0."""
        if self.held is not None:
            raise ValueError(f"sheet {self.name!r}: its rows are already held")
        height = len(columns[0]) if columns else 0
        if height >= self.xls_rowmax:
            raise ValueError(f"sheet {self.name!r}: {height} rows do not fit under a header")
        indexes = self._shared_string_indexes(columns, texts)
        self.held = _HeldRows(columns, texts, formats, indexes, signed or [True] * len(columns))
        if height:
            self._check_dimensions(height, len(columns) - 1)

    def _shared_string_indexes(self, columns: list[list], texts: list[bool]) -> dict[str, int]:
        strings = _texts_in_reading_order([column for column, text in zip(columns, texts, strict=True) if text])
        table = self.str_table
        indexes = {text: table._get_shared_string_index(_cell_string(text, self.xls_strmax)) for text in strings}
        cells = sum(len(c) - c.count(None) - c.count("") for c, text in zip(columns, texts, strict=True) if text)
        table.count += cells - len(strings)  # each cell counts once in the table's count, as each write does
        return indexes

    def drop_contents(self) -> None:
        super().drop_contents()
        self.held = None

    def _write_rows(self) -> None:
        held = self.held
        if held is None:
            super()._write_rows()
            return
        if self.row_info or self.comments or any(row != 0 and self.table[row] for row in list(self.table)):
            raise ValueError(f"sheet {self.name!r}: cells, rows or comments written where its held rows are")
        width = len(held.columns)
        if any(col >= width for col in self.table.get(0, {})):
            raise ValueError(f"sheet {self.name!r}: a header cell right of its held rows")
        span = f"1:{width}"  # every held row spans every column, as does the header: each block of 16 rows alike
        header = self.table.get(0)
        if header:
            self._start_row(0, span)
            for col in sorted(header):
                self._write_cell(0, col, header[col])
            self._xml_end_tag("row")
        opening = written(self, lambda: self._start_row(0, span))  # xlsxwriter's start tag of a row, here row 1
        if not opening.startswith('<row r="1"'):
            raise ValueError(f"sheet {self.name!r}: a row's start tag not understood: {opening}")
        pieces = _RowPieces(opening.removeprefix('<row r="1'), held)
        height = len(held.columns[0]) if width else 0
        for start in range(1, height + 1, ROWS_PER_CHUNK):
            self.fh.write(pieces.rows(start, min(start + ROWS_PER_CHUNK, height + 1)))


class _HeldRows:
    """A sheet's data rows as columns, of texts (`texts`) or numbers, each column's cells in a format."""

    def __init__(
        self, columns: list[list], texts: list[bool], formats: list[Any], indexes: dict[str, int], signed: list[bool]
    ):
        self.columns = columns
        self.texts = texts
        self.formats = formats
        self.indexes = indexes  # a text's index in the shared strings
        self.signed = signed  # the columns that may hold a -0.0


class _RowPieces:
    """Held rows' XML, joined from pieces: a row is `<row r="` its number, the rest of its start tag and `<c r="A`,
    then for each column its number again and its cell's end, which leads into the next cell (`" s="1"/><c r="B`)
    or ends the row: `" s="1"/>` a blank, `" s="1" t="s"><v>4</v></c>` a text (its index in the shared strings),
    `" s="2"><v>2022</v></c>` a number. A chunk of rows is one list of pieces filled column after column (every
    row's piece k at once, by a slice) and joined: no Python code runs per cell but a number's first meeting."""

    def __init__(self, opening_rest: str, held: _HeldRows):
        self.columns = held.columns
        self.head = f'{opening_rest}<c r="{xl_col_to_name(0)}'
        width = len(held.columns)
        self.ends = [self._ends(held, col, _next_cell(col, width)) for col in range(width)]

    @staticmethod
    def _ends(held: _HeldRows, col: int, following: str) -> dict:
        # the format's index: known when the workbook is closed, as xlsxwriter reads it
        style = f'" s="{held.formats[col]._get_xf_index()}"'
        if not held.texts[col]:
            return _NumberEnds(style, following, signed_zero=held.signed[col])
        blank = f"{style}/>{following}"
        indexes = held.indexes
        return {None: blank, "": blank} | {
            text: f'{style} t="s"><v>{indexes[text]}</v></c>{following}' for text in set(held.columns[col]) - {None, ""}
        }

    def rows(self, start: int, stop: int) -> str:
        """The XML of rows `start` to `stop` - 1 (rows of the sheet, 1 the first held)."""
        count = stop - start
        numbers = [str(r) for r in range(start + 1, stop + 1)]  # a row's number counts from 1
        step = 3 + 2 * len(self.columns)
        pieces: list[str] = [""] * (count * step)
        pieces[0::step] = ['<row r="'] * count
        pieces[1::step] = numbers
        pieces[2::step] = [self.head] * count
        for col, (column, ends) in enumerate(zip(self.columns, self.ends, strict=True)):
            pieces[3 + 2 * col :: step] = numbers
            pieces[4 + 2 * col :: step] = list(map(ends.__getitem__, column[start - 1 : stop - 1]))
        return "".join(pieces)


def _next_cell(col: int, width: int) -> str:
    """What follows the cell of column `col` in a row of `width` cells: the next cell's start, or the row's end."""
    return f'<c r="{xl_col_to_name(col + 1)}' if col + 1 < width else "</row>"


class _NumberEnds(dict):
    """A number cell's end for each value met, made once (`%.16G`, as xlsxwriter writes a number); None: a blank.
    0.0 and -0.0 are equal keys but are written `0` and `-0`: in a column that may hold both (`signed_zero`), a
    zero's end is made each time it is met (a département's long workbook has 50,000 zeros: 40 ms of CPU when
    every one is)."""

    def __init__(self, style: str, following: str, signed_zero: bool = True) -> None:
        super().__init__({None: f"{style}/>{following}"})
        self.style = style
        self.following = following
        self.signed_zero = signed_zero

    def __missing__(self, value: float) -> str:
        end = f"{self.style}><v>{value:.16G}</v></c>{self.following}"
        if value or not self.signed_zero:
            self[value] = end
        return end


def _texts_in_reading_order(columns: list[list]) -> list[str]:
    """The texts of these columns' cells (not a null nor an empty one), each once, in the order the cells are read
    row after row: the order in which writing them one by one would number them in the shared strings. (Python's
    dicts over the columns' lists: a département's long table 33 ms of CPU, polars' `explode` and `unique` 130.)"""
    order = dict.fromkeys(chain.from_iterable(zip(*columns)))
    order.pop(None, None)
    order.pop("", None)
    return list(order)


def _cell_string(text: str, most: int) -> str:
    """The text a cell holds: cut at `most` UTF-16 units, as `write_string` cuts it."""
    if len(text) > most // 2 and _utf16_len(text) > most:
        return _utf16_truncate(text, most)
    return text
