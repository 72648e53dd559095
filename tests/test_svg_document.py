"""The charts' SVG text (reports.svg.SvgDocument.render) is the text ElementTree's own serializer writes for the
same tree."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reports.svg import SvgDocument


def _number(value: float) -> str:
    return f"{value:g}"


def _ours() -> str:
    svg = SvgDocument({"width": "760", "role": "img"}, 'Taux & "part" <des> communes', "c1", number=_number)
    group = svg.add("g", class_="bars", transform="translate(1.5, 2)")
    svg.add("rect", group, x=1.25, y=0.0, width=10.0, fill="#1f4e79", stroke_width=1.5, hidden=None)
    svg.add("text", group, "Saint-Léger & Cholet <49>", x=3.0, text_anchor="end")
    svg.add("text", group, "", x=4.0)  # an empty text: an empty element
    svg.add("line", None, x1=0.0, data_note="ligne 1\nligne 2\tfin\r", aria_label='"cité"')
    svg.text(5.5, 6, "A < B", group, fill="#5b6673", font_size=10)
    svg.text(7.0, 8.0, "", font_size=True)
    svg.line(1.0, 2.5, 3.0, 3.0, "#d9dee4", 1)
    svg.line(1.0, 2.5, 3.0, 3.0, 'a"b', 0.5, dash="3 2", parent=group)
    svg.circle(4.0, 5.0, 2.5, "#fff", "#1f4e79", 1.8, parent=group)
    svg.circle(4.0, 5.0, 2.5, "R&D")
    svg.add("desc", None, "9\u202f459 allocataires > 12 %")
    svg.attributes["height"] = "90"
    return svg.render()


def _elementtree() -> str:
    """The same document, made with ElementTree by hand."""
    root = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": "760", "role": "img"})
    ET.SubElement(root, "title", {"id": "c1-t"}).text = 'Taux & "part" <des> communes'
    group = ET.SubElement(root, "g", {"class": "bars", "transform": "translate(1.5, 2)"})
    ET.SubElement(group, "rect", {"x": "1.25", "y": "0", "width": "10", "fill": "#1f4e79", "stroke-width": "1.5"})
    ET.SubElement(group, "text", {"x": "3", "text-anchor": "end"}).text = "Saint-Léger & Cholet <49>"
    ET.SubElement(group, "text", {"x": "4"}).text = ""
    ET.SubElement(root, "line", {"x1": "0", "data-note": "ligne 1\nligne 2\tfin\r", "aria-label": '"cité"'})
    ET.SubElement(group, "text", {"x": "5.5", "y": "6", "fill": "#5b6673", "font-size": "10"}).text = "A < B"
    ET.SubElement(root, "text", {"x": "7", "y": "8", "font-size": "True"})
    line = {"x1": "1", "x2": "2.5", "y1": "3", "y2": "3"}
    ET.SubElement(root, "line", {**line, "stroke": "#d9dee4", "stroke-width": "1"})
    ET.SubElement(group, "line", {**line, "stroke": 'a"b', "stroke-width": "0.5", "stroke-dasharray": "3 2"})
    circle = {"cx": "4", "cy": "5", "r": "2.5"}
    ET.SubElement(group, "circle", {**circle, "fill": "#fff", "stroke": "#1f4e79", "stroke-width": "1.8"})
    ET.SubElement(root, "circle", {**circle, "fill": "R&D"})
    ET.SubElement(root, "desc").text = "9\u202f459 allocataires > 12 %"
    root.set("height", "90")
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def test_the_svg_text_is_the_one_elementtree_writes():
    ours = _ours()
    assert ours == _elementtree()
    # checked by eye: attributes escaped (quotes, line breaks, tabs), texts escaped, empty elements closed with " />"
    assert 'data-note="ligne 1&#10;ligne 2&#09;fin&#13;"' in ours and 'aria-label="&quot;cité&quot;"' in ours
    assert ">Saint-Léger &amp; Cholet &lt;49&gt;</text>" in ours and '<text x="4" />' in ours
    assert 'stroke="a&quot;b"' in ours and 'fill="R&amp;D"' in ours


def test_a_texts_attributes_written_again_are_the_same():
    svg = SvgDocument({}, "t", "c1", number=_number)
    svg.text(1.0, 2.0, "a", font_size=1)
    svg.text(1.0, 2.0, "a", font_size=True)  # equal to 1, written otherwise
    svg.text(1.0, 2.0, "a", font_size=1.5)
    svg.text(1.0, 2.0, "a", font_size=1)
    texts = svg.render().split("<text")[1:]
    assert [t.split('font-size="')[1].split('"')[0] for t in texts] == ["1", "True", "1.5", "1"]


def test_the_first_child_of_a_tag_is_removed():
    svg = SvgDocument({}, "t", "c1", number=_number)
    svg.add("desc", None, "d")
    svg.add("desc", None, "e")
    svg.remove("title")
    svg.remove("desc")
    svg.remove("defs")
    assert svg.render() == '<svg xmlns="http://www.w3.org/2000/svg"><desc>e</desc></svg>'


def test_an_element_and_its_title_are_written_as_elementtree_writes_them():
    svg = SvgDocument({}, "t", "c1", number=_number)
    group = svg.add("g")
    svg.titled("use", group, "Saint-Léger & Cholet : 12,5 %", href="#s-49001", fill="url(#p-1)", data_code="49001")
    svg.titled("path", None, "", d="M1 2l3 4z")
    root = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg"})
    ET.SubElement(root, "title", {"id": "c1-t"}).text = "t"
    use = ET.SubElement(
        ET.SubElement(root, "g"), "use", {"href": "#s-49001", "fill": "url(#p-1)", "data-code": "49001"}
    )
    ET.SubElement(use, "title").text = "Saint-Léger & Cholet : 12,5 %"
    ET.SubElement(ET.SubElement(root, "path", {"d": "M1 2l3 4z"}), "title").text = ""
    assert svg.render() == ET.tostring(root, encoding="unicode")
    assert "<title>Saint-Léger &amp; Cholet : 12,5 %</title></use>" in svg.render()
