"""The document's pictures get the ids python-docx's own `add_picture` gives them (it reads every id of the
document at each picture; `reports.editable` counts them instead)."""

from __future__ import annotations

import io

from docx import Document
from docx.shared import Cm

from reports.docx_package import Package
from reports.docx_tables import Layout
from reports.editable import _table_xml, _Writer
from reports.pictures import svg_to_png

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20"><rect width="{w}" height="20" fill="#1f4e79"/></svg>'


def test_pictures_are_written_as_python_docx_adds_them():
    """Text and a table between the pictures, as in a report; the ids counted, the image parts and their
    relationships made by `reports.docx_package`: the same document.xml as python-docx's `add_picture`."""
    from docx.opc.oxml import serialize_part_xml

    from tests.test_editable_tables import a4_pages, with_fixed_widths, with_nine_point_marks

    ours, theirs = _Writer(Package(), None, "rapport.html"), Document()
    a4_pages(theirs)
    ours.heading("Titre", level=1)
    theirs.add_heading("Titre", level=1)
    for n, width in enumerate((40, 60, 80)):
        png = svg_to_png(SVG.format(w=width))
        ours.paragraph(f"Paragraphe {n}")
        theirs.add_paragraph(f"Paragraphe {n}")
        ours._add_picture(png, Cm(16))
        theirs.add_picture(io.BytesIO(png), width=Cm(16))
        ours.parts.append(_table_xml(ours, [[]], Layout((4000, 5638), landscape=False), 0))  # a row of empty cells
        table = theirs.add_table(rows=1, cols=2)
        table.style = "Table Grid"
        with_fixed_widths(table, (4000, 5638))
        with_nine_point_marks(table)
    written = ours.package.template.document_xml(ours.xml())
    assert written == serialize_part_xml(theirs.element)
    # three pictures, ids 1, 2, 3 (the heading, paragraphs and tables carry none), related as rId9, rId10, rId11
    assert [written.count(f'<wp:docPr id="{n}" name="Picture {n}"/>'.encode()) for n in (1, 2, 3, 4)] == [1, 1, 1, 0]
    assert [written.count(f'r:embed="rId{n}"'.encode()) for n in (8, 9, 10, 11, 12)] == [0, 1, 1, 1, 0]


def test_a_section_parsed_ahead_for_its_pictures_is_written_as_one_parsed_then(tmp_path):
    import zipfile

    from reports import editable as E
    from reports.sections.base import BuiltSection

    body = (
        '<h3>Constats</h3><ul><li>Un<ul><li>sous-point</li></ul></li></ul><figure class="chart-box" id="g">'
        '<figcaption>Titre</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
        '<rect width="40" height="20" fill="#1f4e79"/></svg></figure>'
    )
    sections = [BuiltSection("s", "Section", 1, body)]
    cover = E.Cover(title="D", kind="EPCI", generated="1er décembre 2026", version="0", demo=False, html_name="d.html")
    plain = E.write_docx(tmp_path / "plain.docx", cover, sections, render=svg_to_png)
    assert len(E.pictures_of(sections)) == 1 and body in E._PARSED_AHEAD  # parsed ahead, kept for the writer
    ahead = E.write_docx(tmp_path / "ahead.docx", cover, sections, render=svg_to_png)
    assert body not in E._PARSED_AHEAD  # taken by the writer: a tree serves one document
    read = lambda p: zipfile.ZipFile(p).read("word/document.xml")  # noqa: E731
    assert read(ahead) == read(plain) and b"sous-point" in read(ahead)
