"""The SVG document the charts and the maps draw into: a thin ElementTree wrapper, so that every text and
attribute goes through ElementTree's escaping, with numbers written short and identically between runs."""

from __future__ import annotations

import re
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
        number, names = self.number, _ATTRIBUTE_NAMES
        clean = {
            names[key]: number(value) if isinstance(value, float) else str(value)
            for key, value in attrs.items()
            if value is not None
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


class _AttributeNames(dict):
    """keyword -> attribute name (`stroke_width` -> `stroke-width`), each made when first asked for: a report's
    charts add 20,000 elements, with the few dozen keywords the drawing modules use."""

    def __missing__(self, keyword: str) -> str:
        name = self[keyword] = keyword.rstrip("_").replace("_", "-")
        return name


_ATTRIBUTE_NAMES = _AttributeNames()


class _NotPlain(Exception):
    pass


_escape_attrib = ET._escape_attrib  # type: ignore[attr-defined]
_escape_cdata = ET._escape_cdata  # type: ignore[attr-defined]


# the characters ElementTree escapes in an attribute's value and in a text: most values and texts hold none, and one
# search of them all is cheaper than escaping each (a report's charts have 50,000 attributes)
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\r\n\t]').search
_TEXT_SPECIAL = re.compile("[&<>]").search


def _serialized(element: ET.Element, out: list[str]) -> None:
    """ElementTree's `_serialize_xml` for elements without namespaces, comments or processing instructions."""
    tag = element.tag
    if type(tag) is not str or tag[:1] == "{":
        raise _NotPlain(tag)
    attrib = element.attrib
    if _ATTRIBUTE_SPECIAL("".join(attrib.values())):
        attributes = "".join([f' {key}="{_escape_attrib(value)}"' for key, value in attrib.items()])
    else:
        attributes = "".join([f' {key}="{value}"' for key, value in attrib.items()])
    if "{" in attributes and any(key.startswith("{") for key in attrib):
        raise _NotPlain(attributes)
    text = element.text
    if text or len(element):
        out.append(f"<{tag}{attributes}>{(_escape_cdata(text) if _TEXT_SPECIAL(text) else text) if text else ''}")
        for child in element:
            _serialized(child, out)
        out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}{attributes} />")
    if element.tail:
        out.append(_escape_cdata(element.tail))
