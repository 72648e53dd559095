"""The SVG document the charts and the maps draw into: a thin ElementTree wrapper, so that every text and
attribute goes through ElementTree's escaping, with numbers written short and identically between runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable


class SvgDocument:
    """`root` is the `<svg>` element (its attributes set by the drawing module); `number` writes float attributes."""

    def __init__(self, attrs: dict[str, str], title: str, ident: str, number: Callable[[float], str]):
        self.root = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", **attrs})
        self.number = number
        ET.SubElement(self.root, "title", {"id": f"{ident}-t"}).text = title

    def add(self, tag: str, parent: ET.Element | None = None, text: str | None = None, **attrs) -> ET.Element:
        """A child element; `stroke_width=1.5` becomes `stroke-width="1.5"`, a None attribute is left out."""
        clean = {
            k.rstrip("_").replace("_", "-"): (self.number(v) if isinstance(v, float) else str(v))
            for k, v in attrs.items()
            if v is not None
        }
        element = ET.SubElement(self.root if parent is None else parent, tag, clean)
        if text is not None:
            element.text = text
        return element

    def render(self) -> str:
        """`ET.tostring(self.root, encoding="unicode")`, written here: ElementTree's serializer first walks the
        whole tree for namespaces (none here: `xmlns` is a plain attribute) then writes it through a generic
        writer, a tenth of a report's sections time; the same text, with ElementTree's own escaping."""
        out: list[str] = []
        try:
            _serialized(self.root, out)
        except _NotPlain:  # a comment or a namespaced name: ElementTree's own serializer
            return ET.tostring(self.root, encoding="unicode", short_empty_elements=True)
        return "".join(out)


class _NotPlain(Exception):
    pass


def _serialized(element: ET.Element, out: list[str]) -> None:
    """ElementTree's `_serialize_xml` for elements without namespaces, comments or processing instructions."""
    tag = element.tag
    if not isinstance(tag, str) or tag.startswith("{"):
        raise _NotPlain(tag)
    out.append(f"<{tag}")
    for key, value in element.items():
        if key.startswith("{"):
            raise _NotPlain(key)
        out.append(f' {key}="{ET._escape_attrib(value)}"')  # type: ignore[attr-defined]
    if element.text or len(element):
        out.append(">")
        if element.text:
            out.append(ET._escape_cdata(element.text))  # type: ignore[attr-defined]
        for child in element:
            _serialized(child, out)
        out.append(f"</{tag}>")
    else:
        out.append(" />")
    if element.tail:
        out.append(ET._escape_cdata(element.tail))  # type: ignore[attr-defined]
