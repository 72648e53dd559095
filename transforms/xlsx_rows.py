"""A table's data rows kept as columns in its xlsxwriter sheet and written into the sheet's XML from them.

    sheet = book.add_worksheet(name, worksheet_class=ColumnSheet)
    sheet.add_table(0, 0, n, last_col, options)          its one table (no merged range either)
    sheet.hold_rows(columns, texts, formats, strings)    rows 1.. of columns 0.. (row 0: the header, written apart)

xlsxwriter keeps each cell as a tuple in a dict of rows (`write_string`, `write_number`, `write_blank`), then writes
the sheet's XML cell by cell through generic tag writers when the workbook is closed: 6.9 s of CPU for a
département's long workbook (841,000 cells). Here the cells are never stored one by one: the shared strings are
numbered as the cell writes would number them (in the order the cells are read, row after row), and the rows' XML is
made by one f-string per cell from the columns (that workbook 1.4 s), the same bytes: `<c r="B2" s="1" t="s"><v>4</v>
</c>` for a text, `<c r="H2" s="2"><v>2022</v></c>` for a number (written `%.16G` as xlsxwriter writes it),
`<c r="I2" s="1"/>` for a blank (a null or an empty text) carrying its column's format.

xlsxwriter's `add_table` checks that a table overlaps no earlier table or merged range by visiting each cell of its
range (0.42 s of CPU for a département's long table): the sheet's one table is declared over its header and first
row, then its ranges are set to its whole rows, and the sheet refuses any other table or merged range.
"""

from __future__ import annotations

from typing import Any

from xlsxwriter.utility import _utf16_len, _utf16_truncate, xl_col_to_name, xl_range

from transforms.xlsx_fast import FastSheet

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

    def hold_rows(self, columns: list[list], texts: list[bool], formats: list[Any], strings: list[str]) -> None:
        """Rows 1 to len(columns[0]) of columns 0 to len(columns) - 1: each cell a blank with its column's format
        (a null, an empty text), a shared string (`texts`: the columns of text) or a number. `strings` are the
        texts of the cells in the order they are read row after row, each once: they are numbered now, as the
        writes of these cells at this point would number them. The sheet must hold nothing else below row 0."""
        if self.held is not None:
            raise ValueError(f"sheet {self.name!r}: its rows are already held")
        height = len(columns[0]) if columns else 0
        if height >= self.xls_rowmax:
            raise ValueError(f"sheet {self.name!r}: {height} rows do not fit under a header")
        self.held = _HeldRows(columns, texts, formats, self._shared_string_indexes(columns, texts, strings))
        if height:
            self._check_dimensions(height, len(columns) - 1)

    def _shared_string_indexes(self, columns: list[list], texts: list[bool], strings: list[str]) -> dict[str, int]:
        table = self.str_table
        indexes = {text: table._get_shared_string_index(_cell_string(text, self.xls_strmax)) for text in strings}
        cells = sum(len(c) - c.count(None) - c.count("") for c, text in zip(columns, texts, strict=True) if text)
        table.count += cells - len(strings)  # each cell counts once in the table's count, as each write does
        return indexes

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
        height = len(held.columns[0]) if width else 0
        for start in range(1, height + 1, ROWS_PER_CHUNK):
            rows = range(start, min(start + ROWS_PER_CHUNK, height + 1))
            cells = [held.cells(col, rows) for col in range(width)]
            for row, row_cells in zip(rows, zip(*cells, strict=True), strict=True):
                self._start_row(row, span)
                self.fh.write("".join(row_cells))
                self._xml_end_tag("row")


class _HeldRows:
    """A sheet's data rows as columns, and how each column's cells are written."""

    def __init__(self, columns: list[list], texts: list[bool], formats: list[Any], indexes: dict[str, int]):
        self.columns = columns
        self.texts = texts
        self.formats = formats
        self.indexes = indexes

    def cells(self, col: int, rows: range) -> list[str]:
        """The XML of column `col`'s cells in `rows` (rows of the sheet, 1 being the first held row)."""
        values = self.columns[col][rows.start - 1 : rows.stop - 1]
        name = xl_col_to_name(col)
        style = self.formats[col]._get_xf_index()  # known when the workbook is closed, as xlsxwriter reads it
        numbers = range(rows.start + 1, rows.stop + 1)  # a cell's reference counts rows from 1
        if self.texts[col]:
            index = self.indexes
            return [
                f'<c r="{name}{r}" s="{style}" t="s"><v>{index[v]}</v></c>' if v else f'<c r="{name}{r}" s="{style}"/>'
                for r, v in zip(numbers, values, strict=True)
            ]
        return [
            f'<c r="{name}{r}" s="{style}"/>' if v is None else f'<c r="{name}{r}" s="{style}"><v>{v:.16G}</v></c>'
            for r, v in zip(numbers, values, strict=True)
        ]


def _cell_string(text: str, most: int) -> str:
    """The text a cell holds: cut at `most` UTF-16 units, as `write_string` cuts it."""
    if len(text) > most // 2 and _utf16_len(text) > most:
        return _utf16_truncate(text, most)
    return text
