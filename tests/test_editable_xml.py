"""The editable document's body as reports.editable writes it (WordprocessingML text), against XML written here by
hand: every kind of block of a section, the text a reader sees in a cell, escaping, the charts set aside."""

from __future__ import annotations

import zipfile

import pytest
from docx import Document

from reports.docx_package import Package, split_at_body_end
from reports.editable import Cover, _charts_of, _fragment, _Writer, text_of, texts_of, write_docx
from reports.sections.base import BuiltSection

NNBSP = "\u202f"


def written(body: str) -> str:
    """The XML the writer makes of a section's `body`, without a renderer (the charts say where they are)."""
    writer = _Writer(Package(), None, "rapport.html")
    writer.body(body, "section")
    return writer.xml()


def p(text: str, style: str = "", run: str = "") -> str:
    """A paragraph of one run (`run` its properties), by hand."""
    properties = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    run_properties = f"<w:rPr>{run}</w:rPr>" if run else ""
    return f"<w:p>{properties}<w:r>{run_properties}<w:t>{text}</w:t></w:r></w:p>"


SMALL, BOLD = '<w:sz w:val="16"/>', "<w:b/>"


def test_every_kind_of_block_is_written():
    body = (
        "<h3>Constats</h3>"
        '<p class="lead">Intro</p>'
        "<ul><li>Un<ul><li>sous-point</li></ul></li><li>Deux</li></ul>"
        "<dl><dt>Terme</dt><dd>sens</dd></dl>"
        '<div class="card"><h3>Population</h3><div>9 459</div><dl><dt>France</dt><dd>68 M</dd></dl></div>'
        '<figure class="chart-box" id="g"><figcaption>Titre</figcaption><svg viewBox="0 0 1 1"></svg>'
        '<p class="src">Source : Insee.</p></figure>'
        '<table><thead><tr class="gt_heading"><td colspan="2">Tableau</td></tr><tr><th>Lieu</th><th>Taux</th></tr>'
        '</thead><tbody><tr><th>Benet</th><td style="background-color: #fde0dd">11,0 %</td></tr></tbody>'
        '<tfoot><tr><td colspan="2">Source : Insee.</td></tr></tfoot></table>'
    )
    # the columns, twips: Caladea's widths at 9 pt (thousandths of an em x 0.18 x 1.015, + 20 + 2 x 57 twips):
    # "Benet" bold (634 + 513 + 604 + 513 + 365 = 2 629) 614 > "Lieu" bold (1 971) 494; "11,0 %" (362 + 362 + 205
    # + 517 + 220 + 890 = 2 556) 601 > "Taux" bold (587 + 525 + 609 + 525 = 2 246) 544. Both fit: 1 215, stretched to
    # the A4 page's 9 638 twips between its margins: 614 x 9 638 / 1 215 = 4 870.6, and the rest
    first, second = 4871, 9638 - 4871
    cell = (
        '<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{width}"/>{fill}</w:tcPr><w:p><w:pPr><w:rPr><w:sz w:val="18"/>'
        '</w:rPr></w:pPr><w:r><w:rPr>{bold}<w:sz w:val="18"/></w:rPr><w:t>{text}</w:t></w:r></w:p></w:tc>'
    )
    table = (
        '<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:type="dxa" w:w="9638"/><w:tblLayout w:type="fixed"/>'
        '<w:tblCellMar><w:left w:w="57" w:type="dxa"/><w:right w:w="57" w:type="dxa"/></w:tblCellMar>'
        '<w:tblLook w:firstColumn="1" w:firstRow="1" w:lastColumn="0" w:lastRow="0" w:noHBand="0" w:noVBand="1"'
        f' w:val="04A0"/></w:tblPr><w:tblGrid><w:gridCol w:w="{first}"/><w:gridCol w:w="{second}"/></w:tblGrid>'
        '<w:tr><w:trPr><w:tblHeader w:val="true"/></w:trPr>'
        + cell.format(width=first, fill="", bold="<w:b/>", text="Lieu")
        + cell.format(width=second, fill="", bold="<w:b/>", text="Taux")
        + "</w:tr>"
        "<w:tr>"
        + cell.format(width=first, fill="", bold="<w:b/>", text="Benet")
        + cell.format(width=second, fill='<w:shd w:val="clear" w:fill="fde0dd"/>', bold="", text="11,0 %")
        + "</w:tr></w:tbl>"
    )
    assert written(body) == (
        p("Constats", "Heading2")
        + p("Intro", run=SMALL)
        + p("Un", "ListBullet")
        + p("sous-point", "ListBullet2")
        + p("Deux", "ListBullet")
        + '<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>Terme</w:t></w:r><w:r><w:t xml:space="preserve"> : sens</w:t></w:r></w:p>'
        + '<w:p><w:pPr><w:pStyle w:val="ListBullet"/></w:pPr><w:r><w:rPr><w:b/></w:rPr><w:t>Population</w:t></w:r>'
        '<w:r><w:t xml:space="preserve"> : 9 459 ; France 68 M</w:t></w:r></w:p>'
        + p("Titre", "Caption")
        + p("Graphique non reproduit ici : voir le rapport rapport.html#g.")
        + p("Source : Insee.", "Caption", SMALL)
        + p("Tableau", "Caption", BOLD)
        + table
        + p("Source : Insee.", run=SMALL)
    )


def test_a_cell_text_is_what_a_reader_sees():
    (cell,) = _fragment(
        "<table><tr><td> Commune\n  25255 "
        '<span class="flag flag-p">!!<span class="sr"> priorité</span></span><span class="v">34,5\u202f%</span>'
        '<span class="n">60</span><span class="ev">↗  +1,7 pt</span><sup> s </sup><!-- note -->après'
        "<style>td {}</style>\tfin</td></tr></table>"
    ).findall(".//td")
    # the screen reader's word left out, a space after the flag, the count and evolution on lines of their own, the
    # footnote mark in brackets, the comment and style left out but what follows them kept, spaces collapsed but
    # the French narrow space kept
    assert text_of(cell) == f"Commune\n25255 !! 34,5{NNBSP}%\n60\n↗ +1,7 pt (s)après fin"
    (paragraph,) = _fragment("<p>un<br>  deux </p>")
    assert text_of(paragraph) == "un\ndeux"
    assert text_of(None) == ""


def test_the_cells_of_a_table_are_read_in_one_go_each_to_its_own_text():
    cells = _fragment(
        "<table><tr><td>  a  b \n</td><td></td><td>\x00nul </td>"
        '<td>  un<br>deux  <span class="sr">mot</span></td><td>x<sup>e</sup>  </td></tr></table>'
    ).findall(".//td")
    # each cell's white space tidied alone (none runs into the next cell's), the empty cell kept in its place, and
    # the NUL of the HTML read by lxml's parser as U+FFFD: never taken for the separator of two texts
    assert texts_of(cells) == ["a b", "", "\ufffdnul", "un\ndeux", "x (e)"]
    assert texts_of([]) == []


def test_texts_are_escaped_and_control_characters_refused(tmp_path):
    writer = _Writer(Package(), None, "rapport.html")
    writer.paragraph('Vendée & Loire <b> "quoted" l\'autre > 2')
    assert writer.xml() == ('<w:p><w:r><w:t>Vendée &amp; Loire &lt;b&gt; "quoted" l\'autre &gt; 2</w:t></w:r></w:p>')
    for title, body in (("D\x0b", "<p>x</p>"), ("D", "<table><tr><td>x\x01y</td></tr></table>")):
        cover = Cover(title=title, kind="EPCI", generated="1er décembre 2026", version="0", demo=False, html_name="d")
        with pytest.raises(ValueError, match="XML compatible"):  # as python-docx refused it: no broken document
            write_docx(tmp_path / "d.docx", cover, [BuiltSection("s", "S", 1, body)], render=None)
        assert not (tmp_path / "d.docx").exists()


def test_the_charts_are_set_aside_as_a_lazy_regular_expression_finds_them():
    body = (
        'a<svg class="map-shapes"><defs><path id="p"/></defs></svg>b<svgx>c'
        '<svg viewBox="0 0 1 1"><use href="#p"/></svg>d<svg><rect/></svg><svg>no end'
    )
    html, charts = _charts_of(body)
    # the map's shapes are no chart: put inside the chart using them; `<svgx>` is no SVG, an unclosed one no chart
    assert html == 'ab<svgx>c<img data-chart="0">d<img data-chart="1"><svg>no end'
    defs = '<defs><path id="p"/></defs>'
    assert charts == [f'<svg viewBox="0 0 1 1">{defs}<use href="#p"/></svg>', "<svg><rect/></svg>"]


def test_the_body_goes_before_the_section_properties(tmp_path):
    document_xml = b'<?xml?><w:document><w:body><w:sectPr w:rsidR="1"/></w:body></w:document>'
    assert split_at_body_end(document_xml) == (
        b"<?xml?><w:document><w:body>",
        b'<w:sectPr w:rsidR="1"/></w:body></w:document>',
    )
    with pytest.raises(ValueError, match="section properties alone"):
        split_at_body_end(b"<w:document><w:body><w:p/><w:sectPr/></w:body></w:document>")
    cover = Cover(title="D", kind="EPCI", generated="1er décembre 2026", version="0", demo=False, html_name="d.html")
    path = write_docx(tmp_path / "d.docx", cover, [BuiltSection("s", "S", 1, "<p>x &amp; y</p>")], render=None)
    saved = zipfile.ZipFile(path).read("word/document.xml").decode()
    assert saved.endswith(p("x &amp; y") + saved[saved.index("<w:sectPr") :])
    assert Document(str(path)).paragraphs[-1].text == "x & y"


@pytest.mark.parametrize("html", ["", "  ", "texte seul", " <p>x</p> suite", "<!-- c --><p>x</p>", "<td>cellule</td>"])
def test_a_section_is_parsed_as_lxml_html_parses_a_fragment(html):
    from lxml import etree
    from lxml import html as lxml_html

    expected = etree.tostring(lxml_html.fragment_fromstring(html, create_parent="div"))
    assert etree.tostring(_fragment(html)) == expected
