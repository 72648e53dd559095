"""Workbooks closed by a forked child (transforms.workbooks): the same file as closed here, in place only once
waited for; a child that fails or hangs fails the report, naming the file, and leaves the target as it was."""

from __future__ import annotations

import time
import zipfile

import pytest

from transforms import workbooks as W


def _fill(book) -> None:
    sheet = book.add_worksheet("feuille")
    sheet.write_string(0, 0, '=HYPERLINK("x")')  # text stays text (XLSX_OPTIONS)
    for r in range(1, 200):
        sheet.write_number(r, 0, r * 1.5)
    sheet.write_comment(1, 0, "secret statistique")


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.startswith("docProps/core")}  # core: creation time


def _written_here_and_forked(tmp_path, fill, check_in_forked=lambda book: None):
    """The paths of the same workbook closed in this process and by a forked child (`fill` fills each)."""
    here, forked = tmp_path / "here.xlsx", tmp_path / "forked.xlsx"
    with W.workbook(here) as book:
        fill(book)
    with W.closing_workbooks(fork=True) as closer:
        with W.workbook(forked, closer) as book:
            fill(book)
            check_in_forked(book)
        assert not forked.exists()  # in place only once waited for
    return here, forked


def test_a_forked_close_writes_the_file_a_close_here_writes(tmp_path):
    here, forked = _written_here_and_forked(tmp_path, _fill)
    assert _members(forked) == _members(here)
    assert forked.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forked.xlsx", "here.xlsx"]  # no temporary file left


def test_a_closed_workbook_holds_its_cells_no_longer(tmp_path):
    import polars as pl

    from transforms.xlsx_table import write_table

    for fork in (False, True):
        path = tmp_path / f"{fork}.xlsx"
        with W.closing_workbooks(fork=fork) as closer, W.workbook(path, closer) as book:
            _fill(book)
            write_table(book, pl.DataFrame({"valeur": [1.5, None]}), "tableau")
        sheet, table = book.worksheets()
        assert (dict(sheet.table), dict(sheet.comments), sheet.comments_list, table.held) == ({}, {}, [], None)
        with zipfile.ZipFile(path) as z:
            cells = z.read("xl/worksheets/sheet1.xml").decode()
        assert '<c r="A200"><v>298.5</v></c>' in cells  # 199 x 1.5, written all the same


def _fill_with_tables(book) -> None:
    """What a report's workbooks do: polars tables (each named after the tables before it), autofit, a column
    width set after the autofit, the same text in several sheets (shared strings), a cell written by hand."""
    import polars as pl

    notes = book.add_worksheet("À lire")
    notes.set_column(0, 0, 110)
    notes.write(0, 0, "Cholet", book.add_format({"bold": True}))
    frame = pl.DataFrame({"nom": ["Cholet", "Maulévrier", None], "valeur": [54074.0, -0.5, None], "année": [2022] * 3})
    frame.write_excel(book, worksheet="indicateurs", autofit=True, freeze_panes=(1, 0), column_formats={"année": "0"})
    frame.reverse().write_excel(book, worksheet="autre", autofit=True)  # a second table: `Frame1`, not `Frame0`
    book.get_worksheet_by_name("autre").set_column(0, 0, 1)  # after the autofit: 1 wins (before it, autofit would)


def test_a_cell_the_child_cannot_write_fails_naming_the_file(tmp_path):
    target = tmp_path / "indicateurs.xlsx"
    with pytest.raises(W.WorkbookFailed, match="indicateurs.xlsx: .*ended with code 1"):
        with W.closing_workbooks(fork=True) as closer:
            with W.workbook(target, closer) as book:
                book.add_worksheet("feuille").write(0, 0, object())  # xlsxwriter: TypeError, in the child
    assert list(tmp_path.iterdir()) == []


def test_a_forked_close_ignores_the_exit_handlers_of_the_report_process(tmp_path):
    """Prefect registers an exit handler that fails in a forked child: the child must not run it (it used to end
    with code 1 after writing a good file, and every report run by a flow failed)."""
    import os
    import threading

    parent = os.getpid()

    def fails_in_a_child() -> None:
        if os.getpid() != parent:
            raise AssertionError("an exit handler of the parent process, run in the child")

    threading._register_atexit(fails_in_a_child)  # type: ignore[attr-defined]  # where Prefect's services register
    target = tmp_path / "indicateurs.xlsx"
    with W.closing_workbooks(fork=True) as closer:
        with W.workbook(target, closer) as book:
            _fill(book)
    assert "xl/workbook.xml" in _members(target)


class _FailingBook:
    fileclosed = False

    def close(self):
        raise OSError("disque plein")


class _HangingBook:
    fileclosed = False

    def close(self):
        time.sleep(60)


@pytest.mark.parametrize(("book", "message"), [(_FailingBook(), "ended with code 1"), (_HangingBook(), "within")])
def test_a_child_that_fails_or_hangs_fails_naming_the_file(tmp_path, monkeypatch, book, message):
    monkeypatch.setattr(W, "CLOSE_TIMEOUT_S", 2.0)
    target = tmp_path / "indicateurs.xlsx"
    target.write_text("last year's file")
    tmp = tmp_path / ".indicateurs.xlsx.1.tmp"
    tmp.write_text("")
    started = time.monotonic()
    with pytest.raises(W.WorkbookFailed, match=f"indicateurs.xlsx: .*{message}"):
        with W.closing_workbooks(fork=True) as closer:
            closer.close(book, tmp, target)
    assert time.monotonic() - started < 30  # never waits for the hung child's 60 s
    assert target.read_text() == "last year's file" and not tmp.exists()


def test_a_failure_before_waiting_stops_the_children_and_removes_their_files(tmp_path):
    target = tmp_path / "indicateurs.xlsx"
    with pytest.raises(ValueError, match="section"):
        with W.closing_workbooks(fork=True) as closer:
            with W.workbook(target, closer) as book:
                _fill(book)
            raise ValueError("a section failed")
    assert list(tmp_path.iterdir()) == []


def _fill_with_our_tables(book) -> None:
    """`_fill_with_tables` with the tables of the exports (transforms.xlsx_table: typed writes, widths set)."""
    import polars as pl

    from transforms.xlsx_table import write_table

    notes = book.add_worksheet("À lire")
    notes.write_string(0, 0, "Cholet", book.add_format({"bold": True}))
    frame = pl.DataFrame({"nom": ["Cholet", "Maulévrier", None], "valeur": [54074.0, -0.5, None], "année": [2022] * 3})
    write_table(book, frame, "indicateurs", column_formats={"année": "0"})
    write_table(book, frame.reverse(), "autre")  # a second table: `Frame1`, not `Frame0`


@pytest.mark.parametrize("fill", [_fill_with_tables, _fill_with_our_tables], ids=["write_excel", "write_table"])
def test_a_journaled_workbook_is_the_workbook_written_here_member_by_member(tmp_path, fill):
    def no_cell_written_here(book):
        assert book.get_worksheet_by_name("indicateurs").dim_rowmax is None  # written by the child only

    here, forked = _written_here_and_forked(tmp_path, fill, no_cell_written_here)
    members = _members(forked)
    assert members == _members(here)
    tables = sorted(n for n in members if n.startswith("xl/tables/"))
    assert tables == ["xl/tables/table1.xml", "xl/tables/table2.xml"]
    assert b'name="Frame0"' in members[tables[0]] and b'name="Frame1"' in members[tables[1]]
    assert members["xl/sharedStrings.xml"].count(b"<t>Cholet</t>") == 1
    assert b'<col min="1" max="1" width=' in members["xl/worksheets/sheet2.xml"]  # the widths, set in the child


def test_the_reports_two_workbooks_closed_by_a_fork_are_those_closed_here(tmp_path):
    """The long and the wide workbooks of a report: their cells handed to the child in one piece each
    (`write_cells`), the same files member by member (shared strings, tables, widths, notes)."""
    import polars as pl

    from tests.test_editable import long_table
    from transforms.export import write_exports
    from transforms.wide import write_wide_xlsx

    table = long_table().with_columns(unit=pl.lit("percent"), evolution_unit=pl.lit(None, pl.String))
    here = write_exports(table, tmp_path / "here", "t", demo=True)["xlsx"]
    wide_here = write_wide_xlsx(table, tmp_path / "here" / "large.xlsx", demo=True)
    with W.closing_workbooks(fork=True) as closer:
        forked = write_exports(table, tmp_path / "forked", "t", demo=True, closer=closer)["xlsx"]
        wide_forked = write_wide_xlsx(table, tmp_path / "forked" / "large.xlsx", demo=True, closer=closer)
    assert _members(forked) == _members(here)
    assert _members(wide_forked) == _members(wide_here)
    assert b"secret statistique" in _members(wide_forked)["xl/comments1.xml"]  # a note written by the child
