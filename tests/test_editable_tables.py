"""The editable document's body written as WordprocessingML text (reports.editable._Writer) is the XML python-docx's
own API writes for the same content: a table's cells (spans merged, headings bold, tints, line breaks, tabs, spaces
kept, a short row's empty cells), paragraphs in their styles, runs bold or small; the whole document compared byte
for byte, as it is saved."""

from __future__ import annotations

import re

from docx import Document
from docx.opc.oxml import serialize_part_xml
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from lxml import etree

from reports.docx_package import Package
from reports.editable import _fragment, _run_content, _Writer, run_xml, write_table

TABLE = """<table>
<thead><tr><th colspan="3">Titre sur trois colonnes</th></tr>
<tr><th>Territoire</th><th>Taux<br>en %</th><th> valeur </th></tr></thead>
<tbody><tr><td>Vendée &amp; <b>Loire</b></td><td style="background-color: #fde0dd">11,5 %</td><td>a\tb</td></tr>
<tr><td colspan="2" style="background-color: #deebf7">deux colonnes</td><td></td></tr>
<tr><td>seule</td></tr></tbody>
</table>"""


def by_python_docx(document) -> None:
    """The same table made with python-docx's cells (how the document was written before)."""
    table = document.add_table(rows=5, cols=3)
    table.style = "Table Grid"
    rows = [
        [("Titre sur trois colonnes", 3, True, None)],
        [("Territoire", 1, True, None), ("Taux\nen %", 1, True, None), ("valeur", 1, True, None)],
        [
            ("Vendée & Loire", 1, False, None),
            ("11,5 %", 1, False, "#fde0dd"),
            ("a b", 1, False, None),
        ],  # HTML white space collapsed
        [("deux colonnes", 2, False, "#deebf7"), ("", 1, False, None)],
        [("seule", 1, False, None)],
    ]
    for r, row in enumerate(rows):
        cells, column = table.rows[r].cells, 0
        for text, span, heading, fill in row:
            cell = cells[column] if span == 1 else cells[column].merge(cells[column + span - 1])
            cell.text = text
            if heading or span == 3:
                cell.paragraphs[0].runs[0].bold = True
            if fill:
                shading = OxmlElement("w:shd")
                shading.set(qn("w:val"), "clear")
                shading.set(qn("w:fill"), fill.lstrip("#"))
                cell._tc.get_or_add_tcPr().append(shading)
            column += span
        if r < 2:
            repeat = OxmlElement("w:tblHeader")
            repeat.set(qn("w:val"), "true")
            table.rows[r]._tr.get_or_add_trPr().append(repeat)


def saved_xml(document) -> bytes:
    """The document's XML as python-docx saves it."""
    return serialize_part_xml(document.element)


def written_xml(writer: _Writer) -> bytes:
    """The XML of the writer's document as `reports.editable` saves it: its body written as text."""
    return writer.package.template.document_xml(writer.xml())


def test_a_table_is_written_as_python_docx_writes_its_cells():
    writer, expected = _Writer(Package(), None, "rapport.html"), Document()
    (table,) = _fragment(TABLE)
    write_table(writer, table)
    by_python_docx(expected)
    assert written_xml(writer) == saved_xml(expected)
    xml = writer.xml()
    # what the reference holds, checked by eye: a span of 2 columns is 2 x the column width (8 640 / 3 = 2 880)
    assert '<w:tcW w:type="dxa" w:w="5760"/><w:gridSpan w:val="2"/><w:shd w:val="clear" w:fill="deebf7"/>' in xml
    assert "<w:t>Taux</w:t><w:br/><w:t>en %</w:t>" in xml and "<w:t>a b</w:t>" in xml
    assert xml.count("<w:p/>") == 2  # the short last row: its two empty cells


def test_a_run_text_is_written_as_python_docx_writes_it():
    for text in ("\tx  \ny ", " 9\u202f459 ", "a\r\nb", "", "<&>"):
        run = OxmlElement("w:r")
        run.text = text  # python-docx's Run.text
        expected = "".join(etree.tostring(child).decode() for child in run)
        assert _run_content(text) == _strip_namespaces(expected), text


def _strip_namespaces(xml: str) -> str:
    return re.sub(r' xmlns:\w+="[^"]+"', "", xml).replace("&#8239;", "\u202f")


def test_a_paragraph_is_written_as_python_docx_writes_it():
    from docx.shared import Pt

    ours, theirs = _Writer(Package(), None, "rapport.html"), Document()
    texts = ("\tx  \ny ", " 9\u202f459 ", "a\r\nb", "", "<&>\"'", "Taux\ten %\n(2022)")
    for n, text in enumerate(texts):
        style = ("Caption", None, "List Bullet", "List Bullet 2")[n % 4]
        ours.paragraph(text, style)
        theirs.add_paragraph(text, style=style)
        ours.heading(text, level=n % 3)
        theirs.add_heading(text, level=n % 3)
        ours.paragraph(text, bold=True)
        bold = theirs.add_paragraph(text)
        for run in bold.runs:
            run.bold = True
        ours.paragraph(text, "Caption", small=True)
        small = theirs.add_paragraph(text, style="Caption")
        for run in small.runs:
            run.font.size = Pt(8)
        ours.paragraph_of_runs(run_xml(text, bold=True) + run_xml(" : " + text))
        two_runs = theirs.add_paragraph()
        two_runs.add_run(text).bold = True
        two_runs.add_run(" : " + text)
    assert written_xml(ours) == saved_xml(theirs)
    assert "<w:tab/>" in ours.xml() and "<w:br/>" in ours.xml() and "<w:p/>" in ours.xml()  # the cases are there
