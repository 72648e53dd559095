"""The SVG document the charts and the maps draw into: each element's attributes and text written (and escaped as
ElementTree escapes them) when it is added, numbers written short and identically between runs; `render` gives
the text `ET.tostring` would give for the same tree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable


class SvgElement:
    """An element of the document that may still get children: its start tag's attributes already written
    (` name="value"`, escaped), its text escaped ("" for none), its children in order (None for none yet), each an
    element or the finished text of one that gets none."""

    __slots__ = ("tag", "attributes", "text", "children")

    def __init__(self, tag: str, attributes: str, text: str):
        self.tag = tag
        self.attributes = attributes
        self.text = text
        self.children: list[SvgElement | str] | None = None


class SvgDocument:
    """`attributes` are the `<svg>` element's (the drawing module may change them until `render`), `children` its
    elements; `number` writes float attributes.

    Each element is written when it is added (a report's charts add 8,000 to 20,000): no ElementTree element is
    made then walked by a serializer. Lines, circles and texts' places, most of the attributes, are written by one
    f-string each (`line`, `circle`, `text`): a line's six attributes 0.8 µs, against 5.4 µs by `add`'s loop over
    its keywords."""

    def __init__(self, attrs: dict[str, str], title: str, ident: str, number: Callable[[float], str]):
        self.attributes = {"xmlns": "http://www.w3.org/2000/svg", **attrs}
        self.children: list[SvgElement | str] = []
        self.number = number
        self.add("title", None, title, id=f"{ident}-t")

    def add(self, tag: str, parent: SvgElement | None = None, text: str | None = None, **attrs) -> SvgElement:
        """A child element; `stroke_width=1.5` becomes `stroke-width="1.5"`, a None attribute is left out."""
        element = SvgElement(tag, self._attributes(attrs), _TEXTS[text] if text else "")
        self._siblings(parent).append(element)
        return element

    def text(self, x: float, y: float, content: str, parent: SvgElement | None = None, **attrs) -> None:
        """`add("text", parent, content, x=x, y=y, **attrs)`, written as it gets no children."""
        number = self.number
        attributes = f' x="{number(x)}" y="{number(y)}"' + (self._styling(attrs) if attrs else "")
        written = f"<text{attributes}>{_TEXTS[content]}</text>" if content else f"<text{attributes} />"
        self._siblings(parent).append(written)

    def line(
        self,
        x1: float,
        x2: float,
        y1: float,
        y2: float,
        stroke: str,
        width: float,
        dash: str | None = None,
        parent: SvgElement | None = None,
    ) -> None:
        """`add("line", parent, x1=x1, x2=x2, y1=y1, y2=y2, stroke=stroke, stroke_width=width,
        stroke_dasharray=dash)`."""
        n, escaped = self.number, _ATTRIBUTE_VALUES
        dashes = f' stroke-dasharray="{escaped[dash]}"' if dash is not None else ""
        written = (
            f'<line x1="{n(x1)}" x2="{n(x2)}" y1="{n(y1)}" y2="{n(y2)}" stroke="{escaped[stroke]}" '
            f'stroke-width="{n(width)}"{dashes} />'
        )
        self._siblings(parent).append(written)

    def circle(
        self,
        cx: float,
        cy: float,
        r: float,
        fill: str,
        stroke: str | None = None,
        width: float = 1.0,
        parent: SvgElement | None = None,
    ) -> None:
        """`add("circle", parent, cx=cx, cy=cy, r=r, fill=fill, stroke=stroke, stroke_width=width)`, the stroke's
        width left out without a stroke."""
        n, escaped = self.number, _ATTRIBUTE_VALUES
        outline = f' stroke="{escaped[stroke]}" stroke-width="{n(width)}"' if stroke is not None else ""
        written = f'<circle cx="{n(cx)}" cy="{n(cy)}" r="{n(r)}" fill="{escaped[fill]}"{outline} />'
        self._siblings(parent).append(written)

    def titled(self, tag: str, parent: SvgElement | None, title: str, **attrs) -> None:
        """`add(tag, parent, **attrs)` with one child, `add("title", that element, title)`: a map's commune and its
        tooltip, written as they get no other children."""
        inner = f"<title>{_escape_cdata(title)}</title>" if title else "<title />"
        written = f"<{tag}{self._attributes(attrs)}>{inner}</{tag}>"
        self._siblings(parent).append(written)

    def remove(self, tag: str) -> None:
        """Take out the first child of the `<svg>` element that is a `tag`, if any."""
        for element in self.children:
            if isinstance(element, SvgElement) and element.tag == tag:
                self.children.remove(element)
                return

    def render(self) -> str:
        """The document's text: `ET.tostring(root, encoding="unicode")` of the same tree."""
        attributes = "".join([f' {name}="{_escape_attrib(value)}"' for name, value in self.attributes.items()])
        out = [f"<svg{attributes}>"]
        _written(self.children, out)
        out.append("</svg>")
        return "".join(out)

    def _attributes(self, attrs: dict) -> str:
        """The keywords' attributes, written: numbers by `number`, other values as `str` makes them, escaped."""
        number, names, escaped = self.number, _ATTRIBUTE_NAMES, _ATTRIBUTE_VALUES
        return "".join(
            [
                f' {names[key]}="{number(value) if isinstance(value, float) else escaped[str(value)]}"'
                for key, value in attrs.items()
                if value is not None
            ]
        )

    def _styling(self, attrs: dict) -> str:
        """`_attributes(attrs)` for a text's attributes but its place: the same few (anchor, size, colour) again
        and again, written once each (their types in the key: `True == 1` but writes otherwise); a third of the
        cost of writing three."""
        key = (*attrs.items(), *map(type, attrs.values()))
        written = _STYLINGS.get(key)
        if written is None:
            written = self._attributes(attrs)
            if len(_STYLINGS) < STYLINGS_KEPT:
                _STYLINGS[key] = written
        return written

    def _siblings(self, parent: SvgElement | None) -> list[SvgElement | str]:
        if parent is None:
            return self.children
        if parent.children is None:
            parent.children = []
        return parent.children


class _AttributeNames(dict):
    """keyword -> attribute name (`stroke_width` -> `stroke-width`), each made when first asked for: a report's
    charts add 20,000 elements, with the few dozen keywords the drawing modules use."""

    def __missing__(self, keyword: str) -> str:
        name = self[keyword] = keyword.rstrip("_").replace("_", "-")
        return name


_ATTRIBUTE_NAMES = _AttributeNames()

_escape_attrib = ET._escape_attrib  # type: ignore[attr-defined]
_escape_cdata = ET._escape_cdata  # type: ignore[attr-defined]


class _Escaped(dict):
    """text -> the text escaped by `escape`, kept for up to `kept` texts: a report's charts write the same colours,
    labels and values again and again, and a lookup costs a tenth of a search for a character to escape."""

    def __init__(self, escape: Callable[[str], str], kept: int):
        super().__init__()
        self.escape, self.kept = escape, kept

    def __missing__(self, text: str) -> str:
        escaped = self.escape(text)
        if len(self) < self.kept:
            self[text] = escaped
        return escaped


_ATTRIBUTE_VALUES = _Escaped(_escape_attrib, 100_000)
_TEXTS = _Escaped(_escape_cdata, 100_000)
_STYLINGS: dict[tuple, str] = {}
STYLINGS_KEPT = 10_000


def _written(elements: list[SvgElement | str], out: list[str]) -> None:
    """ElementTree's `_serialize_xml` of `elements` (texts and attributes escaped already, no tails)."""
    for element in elements:
        if isinstance(element, str):
            out.append(element)
            continue
        tag, children = element.tag, element.children
        if children:
            out.append(f"<{tag}{element.attributes}>{element.text}")
            _written(children, out)
            out.append(f"</{tag}>")
        elif element.text:
            out.append(f"<{tag}{element.attributes}>{element.text}</{tag}>")
        else:
            out.append(f"<{tag}{element.attributes} />")
