"""A frame written as an Excel table through xlsxwriter's public API (transforms.xlsx_table): the workbook polars'
`write_excel` writes, member by member, but autofit's `bestFit` mark; widths counted as autofit counts them."""

from __future__ import annotations

import zipfile

import openpyxl
import polars as pl
import pytest
import xlsxwriter

from transforms.workbooks import XLSX_OPTIONS
from transforms.xlsx_table import autofit_widths, negative_zeros, write_table


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "nom": ["Cholet", "Maulévrier", None, "", '=HYPERLINK("x")'],
            "x": [0.0, -0.0, None, 1.5, 2.25],  # -0.0: a small negative value rounded (its sign is written)
            "n": pl.Series([2022, 7, None, 12345678, -3], dtype=pl.Int32),
            "vide": pl.Series([None] * 5, dtype=pl.String),
            "texte": ["ab\nmmmmmm", "a", "b", None, "c"],
            "long": ["m" * 200, "", "", "", ""],
        }
    )


def test_widths_are_those_autofit_counts():
    # pixels (xlsxwriter's character widths; a character it does not list, like é, is 8; a header +16 for its
    # filter button; the widest cell + 7 of padding, at most 1790):
    # nom: =HYPERLINK("x") = 7+9+7+8+7+8+6+4+10+8+5+6+7+6+5 = 103 > Maulévrier = M12 a7 u8 l4 é8 v7 r5 i4 e8 r5
    #      = 68 > header nom = n8 o8 m12 + 16 = 44 -> 110
    # x: -0.0 = 4 characters x 7 = 28 > header x = 7 + 16 = 23 -> 35
    # n: 12345678 = 8 x 7 = 56 > header n = 8 + 16 = 24 -> 63
    # vide: no cell, header v7 i4 d8 e8 = 27 + 16 = 43 -> 50
    # texte: its widest line mmmmmm = 6 x 12 = 72 > header t5 e8 x7 t5 e8 = 33 + 16 = 49 -> 79
    # long: 200 x 12 = 2400 -> at most 1790
    assert autofit_widths(_frame()) == [110, 35, 63, 50, 79, 1790]


def test_only_a_decimal_column_holding_a_negative_zero_is_signed():
    frame = _frame().with_columns(
        positive=pl.Series([0.0, 0.0, None, 3.0, -1.0]),  # zeros, all positive, and a negative value
        tiny=pl.Series([-0.0004, 1.0, None, 2.0, 3.0]).round(3),  # rounded to -0.0
    )
    assert negative_zeros(frame) == [False, True, False, False, False, False, False, True]


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.startswith("docProps/core")}  # core: creation time


def _book(path):
    return xlsxwriter.Workbook(str(path), XLSX_OPTIONS | {"in_memory": True})


def _two_tables_by_polars(path, frame: pl.DataFrame) -> None:
    with _book(path) as book:
        frame.write_excel(book, worksheet="a", autofit=True, freeze_panes=(1, 0), column_formats={"n": "0"})
        frame.head(0).write_excel(book, worksheet="vide", autofit=True, freeze_panes=(1, 0))  # an empty table
        frame.reverse().write_excel(book, worksheet="b", autofit=True, dtype_formats={pl.Float64: "General"})


def _two_tables_here(path, frame: pl.DataFrame) -> None:
    with _book(path) as book:
        write_table(book, frame, "a", column_formats={"n": "0"})
        write_table(book, frame.head(0), "vide")
        write_table(book, frame.reverse(), "b", freeze_panes=None, dtype_formats={pl.Float64: "General"})


def test_the_workbook_is_write_excels_but_the_best_fit_mark(tmp_path):
    theirs, ours = tmp_path / "polars.xlsx", tmp_path / "ours.xlsx"
    _two_tables_by_polars(theirs, _frame())
    _two_tables_here(ours, _frame())
    expected, written = _members(theirs), _members(ours)
    assert sorted(written) == sorted(expected)
    for name, data in expected.items():
        assert written[name] == data.replace(b' bestFit="1"', b""), name
    assert b'bestFit="1"' in expected["xl/worksheets/sheet1.xml"]  # what differs, and only that


def test_a_reader_sees_the_same_cells_formats_and_widths(tmp_path):
    theirs, ours = tmp_path / "polars.xlsx", tmp_path / "ours.xlsx"
    _two_tables_by_polars(theirs, _frame())
    _two_tables_here(ours, _frame())
    a, b = openpyxl.load_workbook(theirs), openpyxl.load_workbook(ours)
    assert a.sheetnames == b.sheetnames == ["a", "vide", "b"]
    sheet_a, sheet_b = a["a"], b["a"]
    cells = [[(c.value, c.data_type, c.number_format) for c in row] for row in sheet_b.iter_rows()]
    assert cells == [[(c.value, c.data_type, c.number_format) for c in row] for row in sheet_a.iter_rows()]
    # a decimal column without a format of its own: polars' default; the given year format
    assert cells[1][:3] == [("Cholet", "s", "General"), (0, "n", "#,##0.000;[Red]-#,##0.000"), (2022, "n", "0")]
    assert b["b"]["B2"].number_format == "General"  # the format given to decimals
    assert cells[5][0] == ('=HYPERLINK("x")', "s", "General")  # text, never a formula
    assert sheet_b.tables["Frame0"].ref == "A1:F6" and b["b"].tables["Frame2"].ref == "A1:F6"
    assert sheet_b.freeze_panes == "A2" and b["b"].freeze_panes is None
    for letter in "ABCDEF":
        assert sheet_b.column_dimensions[letter].width == sheet_a.column_dimensions[letter].width


def test_a_type_a_workbook_does_not_hold_is_an_error_naming_the_column(tmp_path):
    with _book(tmp_path / "x.xlsx") as book, pytest.raises(TypeError, match="'ouvert'"):
        write_table(book, pl.DataFrame({"nom": ["a"], "ouvert": [True]}), "a")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_decimal_that_is_not_a_number_is_an_error_naming_its_column(tmp_path, bad):
    frame = pl.DataFrame({"nom": ["a", "b"], "bon": [1.5, None], "mauvais": [2.0, bad]})
    for autofit in (True, False):  # found by the same query whether or not the widths are asked for
        with _book(tmp_path / "x.xlsx") as book, pytest.raises(TypeError, match="'mauvais'"):
            write_table(book, frame, "a", autofit=autofit)


def test_the_collector_is_paused_while_cells_are_written_and_left_as_it_was():
    import gc

    from transforms.workbooks import collector_paused

    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        assert not gc.isenabled()
        raise ValueError("a cell failed")
    assert gc.isenabled()  # on again, even after a failure
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # the caller's choice kept
    finally:
        gc.enable()
