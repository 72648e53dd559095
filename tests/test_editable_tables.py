"""The editable document's body written as WordprocessingML text (reports.editable._Writer) is the XML python-docx's
own API writes for the same content: a table's cells (spans merged, headings bold, tints, line breaks, tabs, spaces
kept, a short row's empty cells, its columns' widths, fixed layout, 9 pt text), paragraphs in their styles, runs
bold or small; the whole document compared byte for byte, as it is saved."""

from __future__ import annotations

import re

from docx import Document
from docx.opc.oxml import serialize_part_xml
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt, Twips
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


# the table's columns, twips, from Caladea's widths at 9 pt (thousandths of an em x 0.18, x 1.015, + 20 + 2 x 57):
# the widest word, or the widest line, of each column: "Territoire" bold (4 486) 954 and "Vendée & Loire" (6 221)
# 1 271; "Taux" bold (2 246) 544 and "11,5 %" (2 514) 593; "valeur" bold (2 931) 669. All lines fit: 2 533 twips,
# stretched to the page's 9 638 (A4 less 2 x 2 cm): 1 271, 1 271 + 593 and 2 533 x 9 638 / 2 533 at the columns'
# right edges, rounded
COLUMNS = (4836, 7092 - 4836, 9638 - 7092)


def by_python_docx(document, columns: tuple[int, ...] = COLUMNS) -> None:
    """The same table made with python-docx's cells (how the document was written before), its columns `columns`
    twips wide, fixed, its cells' margins 57 twips and their text 9 pt (paragraph marks too)."""
    table = document.add_table(rows=5, cols=3)
    table.style = "Table Grid"
    with_fixed_widths(table, columns)
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
            cell.paragraphs[0].runs[0].font.size = Pt(9)
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
    with_nine_point_marks(table)


def with_fixed_widths(table, columns: tuple[int, ...]) -> None:
    """`table`'s columns and cells `columns` twips wide, its width their sum, its layout fixed, its cells' margins
    57 twips (python-docx has no API for the two last)."""
    table.autofit = False
    for column, twips in zip(table.columns, columns, strict=True):
        column.width = Twips(twips)
        for cell in column.cells:
            cell.width = Twips(twips)
    properties = table._tbl.tblPr
    width = properties.find(qn("w:tblW"))
    width.set(qn("w:type"), "dxa")
    width.set(qn("w:w"), str(sum(columns)))
    margins = OxmlElement("w:tblCellMar")
    for side in ("left", "right"):
        margin = OxmlElement(f"w:{side}")
        margin.set(qn("w:w"), "57")
        margin.set(qn("w:type"), "dxa")
        margins.append(margin)
    properties.find(qn("w:tblLook")).addprevious(margins)


def with_nine_point_marks(table) -> None:
    """The paragraph marks of `table`'s cells 9 pt (python-docx has no API for a paragraph mark's size)."""
    for paragraph in table._tbl.iter(qn("w:p")):
        mark, size = OxmlElement("w:rPr"), OxmlElement("w:sz")
        size.set(qn("w:val"), "18")
        mark.append(size)
        paragraph.get_or_add_pPr().append(mark)


def saved_xml(document) -> bytes:
    """The document's XML as python-docx saves it."""
    return serialize_part_xml(document.element)


def written_xml(writer: _Writer) -> bytes:
    """The XML of the writer's document as `reports.editable` saves it: its body written as text."""
    return writer.package.template.document_xml(writer.xml())


def test_a_table_is_written_as_python_docx_writes_its_cells():
    writer, expected = _Writer(Package(), None, "rapport.html"), Document()
    a4_pages(expected)
    (table,) = _fragment(TABLE)
    write_table(writer, table)
    by_python_docx(expected)
    assert written_xml(writer) == saved_xml(expected)
    xml = writer.xml()
    # what the reference holds, checked by eye: a span of 2 columns is as wide as both (4 836 + 2 256)
    assert '<w:tcW w:type="dxa" w:w="7092"/><w:gridSpan w:val="2"/><w:shd w:val="clear" w:fill="deebf7"/>' in xml
    assert "<w:t>Taux</w:t><w:br/><w:t>en %</w:t>" in xml and "<w:t>a b</w:t>" in xml
    assert '<w:tblW w:type="dxa" w:w="9638"/><w:tblLayout w:type="fixed"/>' in xml
    assert xml.count('<w:p><w:pPr><w:rPr><w:sz w:val="18"/></w:rPr></w:pPr></w:p>') == 2  # the short last row
    assert xml.count('<w:gridCol w:w="') == 3 and xml.count("<w:tc>") == 1 + 3 + 3 + 2 + 3


def a4_pages(document) -> None:
    """The document's pages A4 with 2 cm margins, as `reports.docx_package` writes them."""
    section = document.sections[0]
    section.page_width, section.page_height = Twips(11906), Twips(16838)
    section.top_margin = section.right_margin = section.bottom_margin = section.left_margin = Twips(1134)


def test_a_run_text_is_written_as_python_docx_writes_it():
    for text in ("\tx  \ny ", " 9\u202f459 ", "a\r\nb", "", "<&>"):
        run = OxmlElement("w:r")
        run.text = text  # python-docx's Run.text
        expected = "".join(etree.tostring(child).decode() for child in run)
        assert _run_content(text) == _strip_namespaces(expected), text


def _strip_namespaces(xml: str) -> str:
    return re.sub(r' xmlns:\w+="[^"]+"', "", xml).replace("&#8239;", "\u202f")


def test_a_paragraph_is_written_as_python_docx_writes_it():
    ours, theirs = _Writer(Package(), None, "rapport.html"), Document()
    a4_pages(theirs)
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
