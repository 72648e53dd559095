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
        return ET.tostring(self.root, encoding="unicode", short_empty_elements=True)
