"""The editable document's pages (A4, landscape for the widest tables) and its tables' column widths
(`reports.docx_tables`), against widths worked out here by hand from Caladea's advance widths (thousandths of an
em): at 9 pt an em is 180 twips, and a column is given its text's width x 1.015, + 20 twips, + 2 margins of 57."""

from __future__ import annotations

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.shared import Twips

from reports.docx_tables import _needs, table_layout, text_extent
from reports.editable import Cover, write_docx
from reports.sections.base import BuiltSection

PORTRAIT, LANDSCAPE = 11906 - 2 * 1134, 16838 - 2 * 1134  # A4 less two margins of 2 cm: 9 638 and 14 570 twips


def needed(thousandths: int) -> int:
    """A column's width in twips for a text `thousandths` of an em wide, as worked out by hand."""
    return round(thousandths * 0.18 * 1.015) + 20 + 2 * 57


def test_a_two_column_table_that_fits_is_stretched_to_the_page():
    # "a" 470 -> 86 + 134 = 220, "b" 520 -> 95 + 134 = 229: 449 twips stretched to 9 638, 220 x 9 638 / 449 = 4 722.4
    assert (needed(470), needed(520)) == (220, 229)
    layout = table_layout([[("a", 1, False, None), ("b", 1, False, None)]], 2)
    assert layout.columns == (4722, PORTRAIT - 4722) and not layout.landscape


def test_the_no_break_spaces_inside_figures_do_not_split_them_and_soft_hyphens_do():
    # "21 600 €" with U+202F and U+00A0: one word of 472 + 362 + 220 + 470 + 517 + 517 + 220 + 628 = 3 406
    assert text_extent("21\u202f600\u00a0€", False) == (3406, 3406)
    # with regular spaces: 3 words, the widest "600" (1 504), the line as wide
    assert text_extent("21 600 €", False) == (1504, 3406)
    # a line break ends a line: the widest line "Taux de" (587 + 525 + 609 + 525, 220, 570 + 513 bold)
    assert text_extent("Taux de\nen %", True) == (2246, 2246 + 220 + 1083)
    # "Démo­graphie" bold: "Démo-" (664 + 513 + 891 + 530 + 311) or "graphie" (508 + 454 + 525 + 573 + 600 + 308
    # + 513 = 3 481) at least, the whole word (2 598 + 3 481, the soft hyphen unseen) on one line
    assert text_extent("Démo\u00adgraphie", True) == (3481, 6079)


def test_a_long_word_is_a_column_s_minimum_and_lines_share_the_rest():
    # 4 columns; the first holds "Intercommunalité" (I343 n558 t325 e441 r396 c421 o480 m813 m813 u546 n558 a470
    # l271 i277 t325 é441 = 7 478: 1 366.2 + 134), the others a line of 40 "a" capped at a third of the page (3 212)
    word = 343 + 558 + 325 + 441 + 396 + 421 + 480 + 813 + 813 + 546 + 558 + 470 + 271 + 277 + 325 + 441
    line = " ".join(["a"] * 40)
    rows = [
        [("Intercommunalité", 1, False, None), (line, 1, False, None), (line, 1, False, None), (line, 1, False, None)]
    ]
    minimum, body, wanted = _needs(rows, 4, 0)
    assert minimum == [needed(word), needed(470), needed(470), needed(470)] == [1500, 220, 220, 220]
    # a body's line counts whole: 40 x 470 + 39 x 220 = 27 380, 5 002.3 + 134
    assert needed(40 * 470 + 39 * 220) == 5136
    assert body == wanted == [1500, 5136, 5136, 5136]
    # 16 908 wanted > 9 638 >= 2 160: the minimum, and the 7 478 left in proportion to what each lacks (0, 4 916 x 3):
    # 2 712.67 each, rounded where their edges fall (4 212.67, 6 925.33, 9 638)
    layout = table_layout(rows, 4)
    assert layout.columns == (1500, 2713, 2712, 2713) and sum(layout.columns) == PORTRAIT


def test_a_long_body_line_takes_the_width_short_columns_leave_and_a_long_heading_wraps():
    # as the definitions annex: "a" | a definition of 80 "a" | "b", under headings "", "" and 40 bold "a"
    definition = " ".join(["a"] * 80)  # 80 x 470 + 79 x 220 = 54 980: 9 896.4 x 1.015 = 10 044.8 -> 10 045 + 134
    heading = " ".join(["a"] * 40)  # bold: 40 x 525 + 39 x 220 = 29 580 -> 5 538, counted up to 3 212
    assert (needed(80 * 470 + 79 * 220), needed(40 * 525 + 39 * 220)) == (10179, 5538)
    rows = [
        [("", 1, True, None), ("", 1, True, None), (heading, 1, True, None)],
        [("a", 1, False, None), (definition, 1, False, None), ("b", 1, False, None)],
    ]
    # minimum: "a" 220, "a" 220, bold "a" (96 + 134 = 230) over "b" (229)
    assert _needs(rows, 3, 1) == [[220, 220, 230], [220, 10179, 230], [220, 10179, 3212]]
    # 13 609 and 10 629 > 9 638 >= 670: the minimum and the 8 968 left to what the body lacks (0, 9 959, 0)
    assert table_layout(rows, 3, 1).columns == (220, 220 + 8968, 230)


def test_a_cell_spanning_columns_shares_its_need_over_them():
    # "WWWWWWWWWW" bold (10 x 959 = 9 590: 1 886 twips) across 2 columns of "a" (220 each): 1 446 lacking, 723 each;
    # a heading row: no say in the body's lines, but no level is below the minimum
    rows = [[("WWWWWWWWWW", 2, True, None)], [("a", 1, False, None), ("a", 1, False, None)]]
    assert _needs(rows, 2, 1) == [[220 + 723, 220 + 723]] * 3
    assert table_layout(rows, 2, 1).columns == (4819, 4819)


def test_a_table_whose_words_do_not_fit_a_portrait_page_goes_landscape():
    # 8 columns of "mmmmmmmmmm" (8 130: 1 619 twips): 12 952 > 9 638 but fit 14 570, 1 821.25 each
    rows = [[("m" * 10, 1, False, None)] * 8]
    layout = table_layout(rows, 8)
    assert layout.landscape and layout.columns == (1821, 1821, 1822, 1821, 1821, 1822, 1821, 1821)


def test_a_table_too_wide_even_for_a_landscape_page_wraps_its_widest_columns():
    # "a" (220) and 9 x "mmmmmmmmmm" (1 619): 14 791 > 14 570; the 9 wide ones cut to (14 570 - 220) / 9 = 1 594.4
    rows = [[("a", 1, False, None)] + [("m" * 10, 1, False, None)] * 9]
    layout = table_layout(rows, 10)
    assert layout.landscape and layout.columns[0] == 220 and sum(layout.columns) == LANDSCAPE
    assert set(layout.columns[1:]) == {1594, 1595}


WIDE_TABLE = "<table><tr>" + "<td>mmmmmmmmmm</td>" * 8 + "</tr></table>"


def test_a_wide_table_is_on_a_landscape_section_and_the_document_reads_back(tmp_path):
    cover = Cover(title="D", kind="EPCI", generated="1er décembre 2026", version="0", demo=False, html_name="d.html")
    body = f"<p>avant</p><table><tr><th>Lieu</th><td>21\u202f600\u00a0€</td></tr></table>{WIDE_TABLE}{WIDE_TABLE}<p>après</p>"
    path = write_docx(tmp_path / "d.docx", cover, [BuiltSection("s", "S", 1, body)], render=None)
    document = Document(str(path))
    # portrait until the wide tables, both on one landscape section, then portrait again: A4 with 2 cm margins
    pages = [(s.orientation, s.page_width, s.page_height, s.left_margin, s.top_margin) for s in document.sections]
    portrait = (WD_ORIENT.PORTRAIT, Twips(11906), Twips(16838), Twips(1134), Twips(1134))
    landscape = (WD_ORIENT.LANDSCAPE, Twips(16838), Twips(11906), Twips(1134), Twips(1134))
    assert pages == [portrait, landscape, portrait]
    assert [len(t.columns) for t in document.tables] == [2, 8, 8]
    assert document.tables[0].cell(0, 1).text == "21\u202f600\u00a0€" and document.tables[1].cell(0, 7).text == "m" * 10
    assert document.paragraphs[-1].text == "après"


def test_texts_and_attributes_are_escaped_as_saxutils_escaped_them():
    from xml.sax.saxutils import escape

    from reports.editable import xml_attribute, xml_escape

    text = "a & b < c > d \"e\" 'f' \u202f\t\n"
    assert xml_escape(text) == escape(text) == "a &amp; b &lt; c &gt; d \"e\" 'f' \u202f\t\n"
    assert xml_attribute(text) == "a &amp; b &lt; c &gt; d &quot;e&quot; 'f' \u202f&#9;&#10;"


def test_a_document_ending_with_a_wide_table_ends_on_landscape_pages(tmp_path):
    cover = Cover(title="D", kind="EPCI", generated="1er décembre 2026", version="0", demo=False, html_name="d.html")
    path = write_docx(tmp_path / "d.docx", cover, [BuiltSection("s", "S", 1, f"<p>avant</p>{WIDE_TABLE}")], render=None)
    document = Document(str(path))
    # no empty portrait page after the table: the document's last section is the landscape one
    assert [(s.orientation, s.page_width) for s in document.sections] == [
        (WD_ORIENT.PORTRAIT, Twips(11906)),
        (WD_ORIENT.LANDSCAPE, Twips(16838)),
    ]
    # the section break, the table and an empty paragraph after it (LibreOffice needs one to lay the table landscape)
    assert [p.text for p in document.paragraphs[-3:]] == ["avant", "", ""]
    assert [e.tag.rsplit("}", 1)[1] for e in document.element.body[-4:]] == ["p", "tbl", "p", "sectPr"]
