"""A table's rows held as columns by their sheet and written into its XML (transforms.xlsx_rows)."""

from __future__ import annotations

import re
import zipfile

import polars as pl
import pytest
import xlsxwriter

from transforms.workbooks import XLSX_OPTIONS
from transforms.xlsx_rows import ColumnSheet
from transforms.xlsx_table import write_table


def _sheet_data(path, member: str) -> str:
    with zipfile.ZipFile(path) as z:
        return re.search(r"<sheetData>(.*)</sheetData>", z.read(member).decode()).group(1)


def test_held_rows_are_written_as_cells_with_shared_strings_numbered_in_reading_order(tmp_path):
    path = tmp_path / "x.xlsx"
    with xlsxwriter.Workbook(str(path), XLSX_OPTIONS | {"in_memory": True}) as book:
        book.add_worksheet("avant").write_string(0, 0, "b")  # shared string 0
        sheet = book.add_worksheet("tableau", worksheet_class=ColumnSheet)
        plain = book.add_format()  # the workbook's second cell format: s="1"
        sheet.write_string(0, 0, "t")  # the header, shared string 1
        sheet.write_string(0, 1, "n")  # shared string 2
        # cells read row after row: "a" (new: 3), 1, "" (blank), 0.1 + 0.2, "b" (known: 0), None (blank), "a" (3)
        sheet.hold_rows([["a", "", "b", "a"], [1, 0.1 + 0.2, None, -2.5e20]], [True, False], [plain, plain])
        assert (book.str_table.count, book.str_table.unique_count) == (6, 4)  # 1 + 2 header + 3 cells; b t n a
    # 0.1 + 0.2 is 0.30000000000000004: 16 significant digits, 0.3; -2.5e20 written as -2.5E+20
    assert _sheet_data(path, "xl/worksheets/sheet2.xml") == (
        '<row r="1" spans="1:2"><c r="A1" t="s"><v>1</v></c><c r="B1" t="s"><v>2</v></c></row>'
        '<row r="2" spans="1:2"><c r="A2" s="1" t="s"><v>3</v></c><c r="B2" s="1"><v>1</v></c></row>'
        '<row r="3" spans="1:2"><c r="A3" s="1"/><c r="B3" s="1"><v>0.3</v></c></row>'
        '<row r="4" spans="1:2"><c r="A4" s="1" t="s"><v>0</v></c><c r="B4" s="1"/></row>'
        '<row r="5" spans="1:2"><c r="A5" s="1" t="s"><v>3</v></c><c r="B5" s="1"><v>-2.5E+20</v></c></row>'
    )


def test_a_cell_written_where_rows_are_held_is_an_error(tmp_path):
    book = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"), XLSX_OPTIONS | {"in_memory": True})
    sheet = book.add_worksheet("tableau", worksheet_class=ColumnSheet)
    sheet.hold_rows([["a"]], [True], [book.add_format()])
    sheet.write_string(1, 0, "b")
    with pytest.raises(ValueError, match="'tableau'"):
        book.close()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_decimal_that_is_not_a_number_is_an_error_naming_its_column(tmp_path, value):
    with xlsxwriter.Workbook(str(tmp_path / "x.xlsx"), XLSX_OPTIONS | {"in_memory": True}) as book:
        with pytest.raises(TypeError, match="'x'"):
            write_table(book, pl.DataFrame({"nom": ["a", "b"], "x": [1.0, value]}), "a")


def test_a_held_table_is_declared_over_its_whole_rows(tmp_path):
    path = tmp_path / "x.xlsx"
    with xlsxwriter.Workbook(str(path), XLSX_OPTIONS | {"in_memory": True}) as book:
        sheet = book.add_worksheet("tableau", worksheet_class=ColumnSheet)
        sheet.add_table(0, 0, 40, 2, {"name": "T", "columns": [{"header": h} for h in "abc"]})
    with zipfile.ZipFile(path) as z:
        table = z.read("xl/tables/table1.xml").decode()
    assert 'ref="A1:C41"' in table and '<autoFilter ref="A1:C41"/>' in table


@pytest.mark.parametrize("second", ["table", "merge"])
def test_a_sheet_of_held_rows_holds_one_table_and_no_merged_range(tmp_path, second):
    book = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"), XLSX_OPTIONS | {"in_memory": True})
    sheet = book.add_worksheet("tableau", worksheet_class=ColumnSheet)
    sheet.add_table(0, 0, 40, 2, {"name": "T"})
    with pytest.raises(ValueError, match="one table and no merged range"):
        if second == "table":
            sheet.add_table(50, 0, 60, 2, {"name": "U"})
        else:
            sheet.merge_range(10, 0, 11, 1, "x")


def test_rows_in_several_chunks_of_a_sheet_with_a_default_height(tmp_path, monkeypatch):
    monkeypatch.setattr("transforms.xlsx_rows.ROWS_PER_CHUNK", 3)  # 7 rows: chunks of 3, 3 and 1
    path = tmp_path / "x.xlsx"
    with xlsxwriter.Workbook(str(path), XLSX_OPTIONS | {"in_memory": True}) as book:
        sheet = book.add_worksheet("tableau", worksheet_class=ColumnSheet)
        sheet.set_default_row(24)  # every row's start tag then says its height
        plain = book.add_format()  # s="1"
        zeros = [0.0, -0.0, 0, -0.0, 0.0, 7, None]  # 0.0 and -0.0 are equal keys, written 0 and -0
        sheet.hold_rows([["a", "{0}", None, "a", "", "{0}", "a"], zeros], [True, False], [plain, plain])
    start = '<row r="{}" spans="1:2" ht="24" customHeight="1">'
    a, braces, blank = ' t="s"><v>0</v></c>', ' t="s"><v>1</v></c>', "/>"
    texts = [a, braces, blank, a, blank, braces, a]
    numbers = ["><v>0</v></c>", "><v>-0</v></c>", "><v>0</v></c>", "><v>-0</v></c>", "><v>0</v></c>"]
    numbers += ["><v>7</v></c>", blank]
    expected = "".join(
        start.format(r) + f'<c r="A{r}" s="1"{text}<c r="B{r}" s="1"{number}</row>'
        for r, text, number in zip(range(2, 9), texts, numbers, strict=True)
    )
    assert _sheet_data(path, "xl/worksheets/sheet1.xml") == expected


def test_zeros_of_a_column_without_negative_zero_are_written_alike(tmp_path):
    path = tmp_path / "x.xlsx"
    with xlsxwriter.Workbook(str(path), XLSX_OPTIONS | {"in_memory": True}) as book:
        sheet = book.add_worksheet("tableau", worksheet_class=ColumnSheet)
        plain = book.add_format()  # s="1"
        sheet.hold_rows([[0.0, 0, 7.5, 0.0, None], [0, 2, 0, 0, 0]], [False, False], [plain, plain], [False, False])
    numbers = [("0", "0"), ("0", "2"), ("7.5", "0"), ("0", "0"), (None, "0")]
    expected = "".join(
        f'<row r="{r}" spans="1:2">'
        + (f'<c r="A{r}" s="1"><v>{a}</v></c>' if a else f'<c r="A{r}" s="1"/>')
        + f'<c r="B{r}" s="1"><v>{b}</v></c></row>'
        for r, (a, b) in enumerate(numbers, start=2)
    )
    assert _sheet_data(path, "xl/worksheets/sheet1.xml") == expected
