"""transforms.xlsx_notes: a workbook's notes written by the fast writers are xlsxwriter's own bytes."""

from __future__ import annotations

import datetime
import io
import random
import zipfile

import pytest
from xlsxwriter.workbook import Workbook

from transforms.xlsx_notes import NotedWorkbook

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
    expected, got = _members(Workbook, fill), _members(NotedWorkbook, fill)
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
