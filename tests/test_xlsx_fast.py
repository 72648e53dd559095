"""transforms.xlsx_fast: a workbook's cells and notes written by the fast writers are xlsxwriter's own bytes."""

from __future__ import annotations

import datetime
import io
import random
import zipfile
import zlib

import pytest
from isal import isal_zlib
from xlsxwriter.workbook import Workbook

from transforms.xlsx_fast import ZIP_LEVEL, FastWorkbook

# texts xlsxwriter escapes or marks: XML characters, a line break, a control character, its own `_xHHHH_` escape,
# spaces kept (`xml:space="preserve"`), a non-ASCII letter
TEXTS = [
    "secret statistique",
    "A & B < C > D \"quoted\" 'single'",
    "valeur empruntée\nà l'EPCI",
    "bell\x07 and _x0041_ literally",
    "  leading and trailing  ",
    "non diffusé",
]
CREATED = datetime.datetime(2026, 12, 1, 9, 30)


def _members(book_class, fill) -> dict[str, bytes]:
    out = io.BytesIO()
    book = book_class(out, {"in_memory": True})
    book.set_properties({"created": CREATED})  # else the two workbooks may be dated a second apart
    fill(book)
    book.close()
    with zipfile.ZipFile(out) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _same_as_xlsxwriter(fill) -> dict[str, bytes]:
    expected, got = _members(Workbook, fill), _members(FastWorkbook, fill)
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], name
    return got


def _notes_everywhere(book) -> None:
    rng = random.Random(5)
    first = book.add_worksheet("notes")
    first.set_column(0, 2, 11)
    first.set_column(3, 40, 16)
    first.set_row(0, 60)
    for _ in range(300):
        row, col = rng.randrange(0, 400), rng.randrange(0, 45)
        first.write_blank(row, col, None)
        first.write_comment(row, col, rng.choice(TEXTS))
    book.add_worksheet("none")  # a sheet without notes between two with: the files' numbers skip it
    last = book.add_worksheet("options")
    last.write_comment(2, 1, TEXTS[1], {"author": "Équipe & co", "visible": True, "color": "#ccffcc"})
    last.write_comment(3, 1, TEXTS[2], {"font_name": "Arial", "font_size": 11, "x_scale": 1.5, "y_offset": 7})
    last.write_comment(4, 5, TEXTS[0], {"author": "Autre", "width": 300, "height": 20})
    last.write_comment(1_048_575, 16_383, TEXTS[3])  # the last cell of a sheet
    last.set_row(3, 30)


def _default_notes(book) -> None:
    """Notes without options by `FastSheet.write_note` (`write_comment` in xlsxwriter's own workbook), at the
    sheet's edges too, between notes of another colour."""
    sheet = book.add_worksheet("notes")
    note = getattr(sheet, "write_note", sheet.write_comment)
    rng = random.Random(7)
    for _ in range(200):
        row, col = rng.randrange(0, 300), rng.randrange(0, 30)
        note(row, col, rng.choice(TEXTS))
    for row, col in [(0, 0), (1_048_573, 16_381), (1_048_574, 16_382), (1_048_575, 16_383)]:
        note(row, col, TEXTS[0])
    sheet.write_comment(5, 40, TEXTS[1], {"color": "#ccffcc"})  # another colour between default ones
    note(6, 40, TEXTS[2])


def test_default_notes_are_xlsxwriters_own_bytes():
    members = _same_as_xlsxwriter(_default_notes)
    assert b"#ccffcc" in members["xl/drawings/vmlDrawing1.vml"]


def test_a_note_refused_as_xlsxwriter_refuses_it():
    book = FastWorkbook(io.BytesIO())
    sheet = book.add_worksheet()
    assert sheet.write_note(1_048_576, 0, "hors de la feuille") == -1
    assert sheet.write_note(0, 16_384, "hors de la feuille") == -1
    assert sheet.write_note(0, 0, "é" * 32_768) == -2  # 32,768 UTF-16 units: one more than a cell holds
    assert sheet.write_note(0, 0, "😀" * 16_384) == -2  # two units each
    assert sheet.write_note(0, 0, "é" * 32_767) == 0
    assert 1_048_576 not in sheet.comments and sheet.comments[0][0].text == "é" * 32_767


def test_the_notes_are_xlsxwriters_own_bytes():
    members = _same_as_xlsxwriter(_notes_everywhere)
    assert {"xl/comments1.xml", "xl/comments2.xml", "xl/drawings/vmlDrawing2.vml"} <= set(members)
    vml = members["xl/drawings/vmlDrawing2.vml"].decode()
    assert vml.count("<v:shape ") == 4
    assert "<x:Visible/>" in vml  # the note shown, as asked
    assert 'fillcolor="#ccffcc"' in vml


def test_every_note_shown_by_the_sheet():
    def fill(book):
        sheet = book.add_worksheet()
        sheet.show_comments()
        sheet.set_comments_author("Analyste")
        for row in range(5):
            sheet.write_comment(row, row, TEXTS[row])

    vml = _same_as_xlsxwriter(fill)["xl/drawings/vmlDrawing1.vml"].decode()
    assert vml.count("<x:Visible/>") == 5


def test_a_sheet_with_a_button_is_written_by_xlsxwriter_alike():
    def fill(book):
        sheet = book.add_worksheet()
        sheet.write_comment(0, 0, TEXTS[0])
        sheet.insert_button(2, 2, {"caption": "Calculer"})

    vml = _same_as_xlsxwriter(fill)["xl/drawings/vmlDrawing1.vml"].decode()
    assert "Calculer" in vml and vml.count("<v:shape ") == 2


@pytest.mark.parametrize("notes", [0, 1])
def test_a_workbook_with_few_or_no_notes(notes):
    def fill(book):
        sheet = book.add_worksheet()
        sheet.write_number(0, 0, 1.5)
        for n in range(notes):
            sheet.write_comment(n, 0, TEXTS[n])

    members = _same_as_xlsxwriter(fill)
    assert ("xl/comments1.xml" in members) == bool(notes)


def _cells_of_every_kind(book) -> None:
    rng = random.Random(11)
    tint = book.add_format({"bg_color": "#fde2c8", "num_format": "0.0"})
    bold = book.add_format({"bold": True})
    row_tint = book.add_format({"bg_color": "#e8eef4"})
    sheet = book.add_worksheet("cells")
    sheet.set_column(4, 6, 14, bold)  # a column format: the style of its cells written without one
    sheet.set_row(7, 30)  # a row's height, a row's format, a hidden row, an outline: written by xlsxwriter
    sheet.set_row(9, None, row_tint)
    sheet.set_row(12, None, None, {"hidden": True, "level": 1})
    for _ in range(900):
        row, col = rng.randrange(0, 70), rng.randrange(0, 30)
        kind = rng.randrange(6)
        if kind == 0:
            sheet.write_number(
                row, col, rng.choice([0.0, -0.0, 1e-7, 12345.678, 2022, 1 / 3]), rng.choice([None, tint])
            )
        elif kind == 1:
            sheet.write_string(row, col, rng.choice(TEXTS), rng.choice([None, bold]))
        elif kind == 2:
            sheet.write_blank(row, col, None, tint)
        elif kind == 3:
            sheet.write_boolean(row, col, rng.random() < 0.5)  # kinds xlsxwriter writes itself
        elif kind == 4:
            sheet.write_formula(row, col, "=1+1", None, 2)
        else:
            sheet.write_comment(row, col, rng.choice(TEXTS))  # a row holding notes only
    sheet.write_comment(200, 3, TEXTS[0])  # a row of notes only, beyond every cell
    sheet.write_datetime(80, 2, datetime.datetime(2026, 1, 31), book.add_format({"num_format": "dd/mm/yyyy"}))
    sheet.merge_range(90, 1, 91, 4, "fusion", bold)
    sheet.write_url(95, 0, "https://www.insee.fr/", string="INSEE")
    sheet.write_rich_string(96, 0, "a ", bold, "b", " c")
    book.add_worksheet("empty")
    tall = book.add_worksheet("tall")
    tall.set_default_row(24)  # every row then written by xlsxwriter
    tall.write_number(3, 3, 7)


def test_the_cells_are_xlsxwriters_own_bytes():
    members = _same_as_xlsxwriter(_cells_of_every_kind)
    sheet = members["xl/worksheets/sheet1.xml"].decode()
    assert '<row r="8" spans="1:30" ht="30" customHeight="1">' in sheet  # set_row(7, 30): 30 points
    assert '<row r="10" spans="1:30" s="3" customFormat="1">' in sheet  # the row's format, the 3rd added
    assert '<row r="201" spans="4:4"/>' in sheet  # a note alone in its block of 16 rows, in column D
    assert sheet.count("<c ") > 500


def _texts_of_every_kind(book) -> None:
    """Shared strings: the escaped and marked texts, a rich string, each text once or several times."""
    sheet = book.add_worksheet("textes")
    for n, text in enumerate(TEXTS * 2):
        sheet.write_string(n, 0, text)
    sheet.write_rich_string(0, 1, "gras ", book.add_format({"bold": True}), "& fin", " < suite")
    sheet.write_string(1, 1, "<r>pas une chaîne riche</r>")


def test_the_shared_strings_are_xlsxwriters_own_bytes_each_time():
    first = _same_as_xlsxwriter(_texts_of_every_kind)["xl/sharedStrings.xml"].decode()
    # the second workbook's texts were written by the first: their elements are kept, the same bytes
    assert _same_as_xlsxwriter(_texts_of_every_kind)["xl/sharedStrings.xml"].decode() == first
    assert "bell_x0007_ and _x005F_x0041_ literally" in first
    assert '<si><t xml:space="preserve">  leading and trailing  </t></si>' in first
    assert "A &amp; B &lt; C &gt; D" in first


def _entries(book_class, fill) -> list[zipfile.ZipInfo]:
    out = io.BytesIO()
    book = book_class(out, {"in_memory": True})
    book.set_properties({"created": CREATED})
    fill(book)
    book.close()
    with zipfile.ZipFile(out) as archive:
        return archive.infolist()


def test_the_zip_holds_xlsxwriters_entries_deflated_by_isal():
    def entry(info: zipfile.ZipInfo) -> tuple:
        return (info.filename, info.date_time, info.compress_type, info.external_attr, info.CRC, info.file_size)

    expected, got = _entries(Workbook, _cells_of_every_kind), _entries(FastWorkbook, _cells_of_every_kind)
    assert [entry(i) for i in got] == [entry(i) for i in expected]
    members = _same_as_xlsxwriter(_cells_of_every_kind)
    for info in got:  # each member's deflated bytes are ISA-L's at ZIP_LEVEL
        deflate = isal_zlib.compressobj(ZIP_LEVEL, isal_zlib.DEFLATED, -15)
        assert info.compress_size == len(deflate.compress(members[info.filename]) + deflate.flush()), info.filename
    sheet = next(i for i in got if i.filename == "xl/worksheets/sheet1.xml")
    assert sheet.compress_size != next(i for i in expected if i.filename == sheet.filename).compress_size


def test_a_workbook_written_to_a_path_and_zipfile_left_as_it_is(tmp_path):
    path = tmp_path / "book.xlsx"
    book = FastWorkbook(str(path))
    book.add_worksheet().write_string(0, 0, TEXTS[0] * 50)
    book.close()
    with zipfile.ZipFile(path) as archive:
        assert TEXTS[0] * 50 in archive.read("xl/sharedStrings.xml").decode()
    data = TEXTS[1].encode() * 200
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # another zip: zlib's level 6
        archive.writestr("a.txt", data)
        size = archive.getinfo("a.txt").compress_size
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    assert size == len(deflate.compress(data) + deflate.flush())
