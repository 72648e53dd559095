"""The charts' SVG text (reports.svg.SvgDocument.render) is the text ElementTree's own serializer writes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reports.svg import SvgDocument


def _document() -> SvgDocument:
    svg = SvgDocument({"width": "760", "role": "img"}, 'Taux & "part" <des> communes', "c1", number=lambda v: f"{v:g}")
    group = svg.add("g", class_="bars", transform="translate(1.5, 2)")
    svg.add("rect", group, x=1.25, y=0.0, width=10.0, fill="#1f4e79", stroke_width=1.5, hidden=None)
    svg.add("text", group, "Saint-Léger & Cholet <49>", x=3.0, text_anchor="end")
    svg.add("text", group, "", x=4.0)  # an empty text: an empty element
    svg.add("line", None, x1=0.0, data_note="ligne 1\nligne 2\tfin\r", aria_label='"cité"')
    ET.SubElement(svg.root, "desc").text = "9\u202f459 allocataires > 12 %"
    return svg


def test_the_svg_text_is_the_one_elementtree_writes():
    svg = _document()
    ours = svg.render()
    assert ours == ET.tostring(svg.root, encoding="unicode", short_empty_elements=True)
    # checked by eye: attributes escaped (quotes, line breaks, tabs), texts escaped, empty elements closed with " />"
    assert 'data-note="ligne 1&#10;ligne 2&#09;fin&#13;"' in ours and 'aria-label="&quot;cité&quot;"' in ours
    assert ">Saint-Léger &amp; Cholet &lt;49&gt;</text>" in ours and '<text x="4" />' in ours


def test_a_comment_is_written_by_elementtree_itself():
    svg = _document()
    svg.root.append(ET.Comment("note"))
    svg.add("{http://www.w3.org/1999/xlink}a", None)
    assert svg.render() == ET.tostring(svg.root, encoding="unicode", short_empty_elements=True)
