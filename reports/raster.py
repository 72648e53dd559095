"""The report's SVG charts as PNG pictures, fast: shapes drawn by Skia's SVG module, text drawn as glyph outlines,
the PNG deflated by ISA-L.

    svg_to_png(svg, zoom) -> PNG bytes, or raises Unsupported (the caller then draws it with resvg)

Why not resvg alone: an EPCI report's 51 pictures cost resvg 2.4 s of CPU at print size, most of a report and of
the national batch (90 demo charts: 3.2 s with resvg, 0.6 s here). resvg spends it filling and encoding every pixel
(25 ns each), loading the system's fonts for each picture and laying out text; Skia draws the same shapes in 0.1 s.
But skia-python's SVG module has no font manager (it draws no text at all), so the text of our charts is drawn here:
the subset of SVG text our chart generators write (`<text>` and `<tspan>` with x, y, dx, dy, text-anchor, font,
fill and a stroke halo, no transform), each text chunk laid out with the first family of its font-family list that
has the glyph, as resvg does, and drawn as outlines (Skia's glyph masks are drawn about 15 % lighter than resvg's,
outlines are not). Anything outside that subset raises `Unsupported`, and the caller draws that chart with resvg:
never a wrong picture, at worst a slow one. Kerning is not applied (resvg applies it): a pair of letters may sit a
tenth of a pixel apart differently. A run of text drawn again where it was drawn before, the same way over the same
pixels, gets the pixels it gave then (`DrawnRuns`): the axes, legends and notes of a chart come back chart after chart
and report after report, and their outlines were most of the pictures' time.

Every colour is handed to Skia with its red and blue swapped, so that its native BGRA surface holds the picture's
RGBA bytes. The PNG is 8-bit RGBA on white, unfiltered rows deflated by ISA-L (the `isal` package) at its level 1:
for the 306 charts of six France reports, 0.44 s of CPU and 30.9 MB where RGB rows deflated by zlib at level 1 took
3.1 s (1.4 s of it dropping the alpha bytes) and 28.1 MB. Skia's own encoder is slower still (2.6 times zlib's level 1),
and resvg's files are 2.8 times as large.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import struct
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, NamedTuple

import numpy as np
from isal import isal_zlib
from lxml import etree

log = logging.getLogger(__name__)

SVG_NS = "{http://www.w3.org/2000/svg}"
G_TAG, TEXT_TAG, TSPAN_TAG = f"{SVG_NS}g", f"{SVG_NS}text", f"{SVG_NS}tspan"
TEXT_ELEMENT = re.compile(r"<text\b.*?</text>", re.DOTALL)
STYLE_ATTRIBUTE = re.compile(r"\sstyle=")
UNFILLED_LINE = re.compile(r"<line\b(?![^>]*\sfill=)")
# the attributes whose value is a colour in the SVG Skia draws (CSS styles are refused)
COLOUR_ATTRIBUTE = re.compile(
    r"""\s(fill|stroke|color|stop-color|flood-color|lighting-color)\s*=\s*(?:"([^"]*)"|'([^']*)')"""
)
HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
SAME_SWAPPED = frozenset({"none", "black", "white", "currentColor", "inherit", "transparent"})
# inherited presentation attributes this module applies to text
TEXT_STYLE = frozenset(
    {
        "font-family",
        "font-size",
        "font-weight",
        "font-style",
        "fill",
        "fill-opacity",
        "stroke",
        "stroke-width",
        "stroke-opacity",
        "stroke-linejoin",
        "paint-order",
        "text-anchor",
    }
)
# attributes that change nothing in the text's drawing (the shapes' own attributes are Skia's business)
INERT = frozenset({"id", "class", "role", "fill-rule"})
POSITION = frozenset({"x", "y", "dx", "dy"})
PLACE = frozenset({"x", "y"})  # where a text is drawn, not how
ROOT = frozenset({"viewBox", "width", "height"})
# the elements our charts use, all drawn alike by Skia's SVG module and resvg (`tests/test_editable.py` compares them)
ELEMENTS = frozenset(
    {"svg", "g", "defs", "title", "desc", "rect", "line", "circle", "ellipse", "path", "polygon", "polyline", "use"}
    | {"pattern", "text", "tspan"}
)
# ISA-L's level 1: on the 306 charts of six reports, 0.44 s of CPU and 30.9 MB, where zlib's level 1 took 2.3 s
# for 31.1 MB (RGBA rows); ISA-L's level 0 is as fast for 36.6 MB, level 2 2 % slower for 1 % less, level 3 3.8 s
DEFLATE_LEVEL = 1
NAMED_COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0)}
GENERIC_FAMILIES = frozenset({"serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui"})


class Unsupported(ValueError):
    """An SVG feature this renderer does not draw (the chart is then drawn by resvg)."""


def prepare() -> None:
    """Load Skia and the system's fonts now (before worker processes are forked, which then inherit them)."""
    _font_manager()


def svg_to_png(svg: str, zoom: float) -> bytes:
    """PNG bytes of `svg` drawn at `zoom` times its size on white; raises `Unsupported` for SVG it does not draw."""
    import skia

    root = _parse(svg)
    # `in` first: searching 255 charts for the regular expression alone took 14 ms
    if root.find(f".//{SVG_NS}style") is not None or ("style=" in svg and STYLE_ATTRIBUTE.search(svg)):
        raise Unsupported("CSS styles")
    unknown = {_local(tag) for tag in {e.tag for e in root.iter(etree.Element)}} - ELEMENTS
    if unknown:
        raise Unsupported(f"elements {sorted(unknown)}")
    min_x, min_y, view_w, view_h = _view_box(root)
    width, height = _length(root.get("width", str(view_w))), _length(root.get("height", str(view_h)))
    if not math.isclose(width / view_w, height / view_h, rel_tol=1e-6):  # SVG would then scale uniformly and centre
        raise Unsupported(f"a {width} x {height} picture of a viewBox of another shape")
    texts = _texts(root, _style_of(root, {}, ROOT))
    shapes = _red_and_blue_swapped(_shapes_only(svg))
    stream = skia.MemoryStream(shapes.encode(), True)
    dom = skia.SVGDOM.MakeFromStream(stream)
    if dom is None:
        raise Unsupported("an SVG Skia cannot read")
    dom.setContainerSize(skia.Size(width, height))
    pixels_w, pixels_h = math.ceil(width * zoom), math.ceil(height * zoom)
    # Skia's own raster surface (native BGRA, premultiplied), drawing in our scratch array: no fresh pages. Every
    # colour is given with its red and blue swapped, so that the BGRA pixels are the picture's RGBA bytes
    pixels = SCRATCH.array("rgba", (pixels_h, pixels_w, 4))
    surface = skia.Surface(pixels, skia.ImageInfo.MakeN32Premul(1, 1).colorType(), skia.kPremul_AlphaType)
    with surface as canvas:
        canvas.clear(skia.ColorWHITE)
        canvas.scale(zoom, zoom)
        dom.render(canvas)
        canvas.scale(width / view_w, height / view_h)  # the viewBox's user units, as the shapes were drawn
        canvas.translate(-min_x, -min_y)
        painter = TextPainter(canvas, pixels)
        for layout, x, y in texts:
            _draw(painter, layout, x, y)
    return png_rgba(pixels)


def png_rgba(rgba: np.ndarray) -> bytes:
    """An 8-bit RGBA PNG of the pixels `rgba` (an array of rows of RGBA pixels): no row filter (the charts' flat
    colours deflate well without), deflated by ISA-L at its level 1. RGBA, though the charts are opaque: Skia's rows
    are then copied whole behind their filter byte, where dropping the alpha bytes cost 10 times as much (1.4 s
    against 0.12 s for 306 charts), and ISA-L deflates those bytes nearly for free (files 1.1 times the size of
    zlib level 1's RGB ones)."""
    height, width, _ = rgba.shape
    rows = SCRATCH.array("rows", (height, width * 4 + 1))
    rows[:, 0] = 0  # each row's filter: none
    rows[:, 1:] = rgba.reshape(height, width * 4)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    # joined once: the deflated rows (about 80 kB) copied once, not at each concatenation (144 to 20 µs a picture)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            *_chunk(b"IHDR", header),
            *_chunk(b"IDAT", isal_zlib.compress(rows.data, DEFLATE_LEVEL)),
            *_chunk(b"IEND", b""),
        ]
    )


class Scratch(threading.local):
    """Byte arrays kept from one picture to the next, in each thread (reports may be built side by side): fresh
    arrays of a few megabytes cost a page fault per 4 kB: 0.84 s of system time for 617 charts, 0.08 s with
    these."""

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised array of bytes of `shape`, valid until this thread asks for `name` again."""
        size = math.prod(shape)
        buffer = self.buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self.buffers[name] = np.empty(size, np.uint8)
        return buffer[:size].reshape(shape)


SCRATCH = Scratch()


def _chunk(kind: bytes, data: bytes) -> tuple[bytes, ...]:
    """A PNG chunk's pieces: its length, kind, data and the CRC-32 of its kind and data."""
    return struct.pack(">I", len(data)), kind, data, struct.pack(">I", isal_zlib.crc32(data, isal_zlib.crc32(kind)))


def _parse(svg: str):
    try:
        root = etree.fromstring(svg.encode())
    except etree.XMLSyntaxError as error:
        raise Unsupported(f"not well-formed XML: {error}") from error
    if root.tag != f"{SVG_NS}svg":
        raise Unsupported(f"root element {root.tag}")
    return root


def _view_box(root) -> tuple[float, float, float, float]:
    box = root.get("viewBox")
    if box is None:
        width, height = root.get("width"), root.get("height")
        if width is None or height is None:
            raise Unsupported("an SVG without viewBox nor size")
        return 0.0, 0.0, _length(width), _length(height)
    values = [float(v) for v in box.replace(",", " ").split()]
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise Unsupported(f"viewBox {box!r}")
    return values[0], values[1], values[2], values[3]


def _length(value: str) -> float:
    number = value[:-2] if value.endswith("px") else value
    try:
        return float(number)
    except ValueError:
        raise Unsupported(f"length {value!r}") from None


def _shapes_only(svg: str) -> str:
    """`svg` without its text (drawn here), its lines without fill (Skia fills a line's zero area with a dark
    hairline under thin strokes: #d9dee4 at 0.6 drawn as #afb4ba), its `<use href>` spelt `xlink:href` (Skia reads
    only that spelling)."""
    shapes = UNFILLED_LINE.sub('<line fill="none"', TEXT_ELEMENT.sub("", svg))
    if ' href="#' in shapes:
        shapes = shapes.replace(' href="#', ' xlink:href="#')
        if "xmlns:xlink" not in shapes:
            shapes = shapes.replace("<svg ", '<svg xmlns:xlink="http://www.w3.org/1999/xlink" ', 1)
    return shapes


def _red_and_blue_swapped(shapes: str) -> str:
    """`shapes` with the red and blue of every colour it gives swapped: Skia then draws the picture's RGBA bytes in
    its native BGRA surface (drawn into an RGBA surface, some anti-aliased pixels come out a unit apart), where
    reading them back in RGBA order took 0.21 s of the 2.76 s 408 charts cost. Skia blends each channel alike, and
    the charts have no gradient, filter nor mask. Raises `Unsupported` for a colour it does not read (a named one
    but black and white, rgb(), a paint's fallback colour)."""
    return COLOUR_ATTRIBUTE.sub(_swapped_attribute, shapes)


@lru_cache(maxsize=1024)  # a chart has a few colours, a map thousands of fills
def _swapped_value(value: str) -> str:
    if value in SAME_SWAPPED or (value.startswith("url(#") and value.endswith(")") and " " not in value):
        return value
    if HEX_COLOUR.fullmatch(value):
        digits = value[1:]
        third = len(digits) // 3
        return "#" + digits[2 * third :] + digits[third : 2 * third] + digits[:third]
    raise Unsupported(f"colour {value!r} in a shape")


def _swapped_attribute(match: re.Match) -> str:
    name, double_quoted, single_quoted = match.groups()
    value = double_quoted if double_quoted is not None else single_quoted
    return f' {name}="{_swapped_value(value)}"'


# -- text ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Characters drawn in one style: `dx` before them, on the baseline `y`."""

    text: str
    style: dict
    dx: float
    y: float


@dataclass
class Chunk:
    """An SVG text chunk: runs placed one after the other from `x`, the whole aligned by `anchor`."""

    x: float
    anchor: str
    runs: list[Run]


def _local(name: str) -> str:
    """An element's or attribute's name without its namespace."""
    return name.rpartition("}")[2] if name.startswith("{") else name


def _style_of(element, inherited: dict, allowed: frozenset = frozenset()) -> dict:
    """`inherited` with the text style `element` sets (see `_styled`)."""
    return _styled(element.items(), inherited, allowed, _local(element.tag))


def _styled(attributes, inherited: dict, allowed: frozenset, tag: str) -> dict:
    """`inherited` with the text style the `attributes` (name and value pairs) of a `<tag>` set (`inherited` itself
    when they set none: styles are never changed once made); raises on an attribute that would change the text's
    drawing and is not applied here (a transform, an opacity, a filter...)."""
    style = inherited
    for name, value in attributes:
        local = _local(name)
        if local in TEXT_STYLE:
            if style is inherited:
                style = dict(inherited)
            style[local] = value
        elif not (local in INERT or local in allowed or local.startswith(("aria-", "data-"))):
            raise Unsupported(f"attribute {local}={value!r} on <{tag}> around text")
    return style


def _texts(root, style: dict) -> list[tuple[Layout, float, float]]:
    """The laid-out text chunks of the `<text>` elements of `root` and of its groups (nested in groups only), in
    document order, each with where it is drawn: (layout, x, y). The groups are styled first, then lxml finds the
    texts: walking a map's thousands of shapes in Python, looking for texts among them, took most of the 0.51 s the
    texts of 306 charts cost. A text without spans (9 in 10) is laid out once for all the places it is drawn at."""
    styles = {root: (style, tuple(style.items()))}
    for group in root.iter(G_TAG):  # a group before the groups inside it
        inherited = styles.get(group.getparent())
        if inherited is not None:  # a group in another element has its text refused below
            group_style = _style_of(group, inherited[0])
            styles[group] = (group_style, tuple(group_style.items()))
    placed: list[tuple[Layout, float, float]] = []
    for text in root.iter(TEXT_TAG):
        parent = text.getparent()
        inherited = styles.get(parent)
        if inherited is None:
            raise Unsupported(f"text inside <{_local(parent.tag)}>")
        if len(text):
            chunks = _chunks(text, _style_of(text, inherited[0], POSITION))
            placed.extend((_layout(chunk), chunk.x, 0.0) for chunk in chunks)
        else:
            # from a list: 1.6 times as fast as from a generator
            attributes = tuple([item for item in text.items() if item[0] not in PLACE])
            layout = _plain_layout(inherited[1], attributes, text.text)
            placed.append((layout, _single(text, "x", 0.0), _single(text, "y", 0.0)))
    return placed


@lru_cache(maxsize=4096)  # the same labels come back chart after chart at other places (8 in 10 texts)
def _plain_layout(inherited: tuple, attributes: tuple, content: str | None) -> Layout:
    """The layout, from x = y = 0, of a `<text>` without children: its parent's style `inherited` (its items), its
    own `attributes` but x and y (name and value pairs), its `content`."""
    style = _styled(attributes, dict(inherited), POSITION, "text")
    chunk = Chunk(0.0, style.get("text-anchor", "start"), [])
    _add(chunk, [(content or "", style, _single_value(dict(attributes).get("dx"), "dx", 0.0), 0.0)])
    _trim([chunk])
    return _layout(chunk)


def _chunks(text, style: dict) -> list[Chunk]:
    """The chunks of one `<text>`: a new chunk wherever a `<tspan>` sets x or y (SVG's text chunks), white space
    collapsed as SVG does by default (runs of spaces as one, none at either end)."""
    x, y = _single(text, "x", 0.0), _single(text, "y", 0.0)
    chunks = [Chunk(x, style.get("text-anchor", "start"), [])]
    pieces: list[tuple[str, dict, float, float]] = [(text.text or "", style, _single(text, "dx", 0.0), y)]
    for span in text:
        if not isinstance(span.tag, str):
            continue
        if span.tag != TSPAN_TAG or len(span):
            raise Unsupported(f"<{_local(span.tag)}> inside <text>")
        span_style = _style_of(span, style, POSITION)
        y += _single(span, "dy", 0.0)
        if span.get("y") is not None:
            y = _single(span, "y", 0.0)
        if span.get("x") is not None:
            _add(chunks[-1], pieces)
            chunks.append(Chunk(_single(span, "x", 0.0), span_style.get("text-anchor", "start"), []))
        elif span.get("y") is not None:  # a new chunk that starts where the text drawn so far ends
            raise Unsupported("a tspan setting y without x")
        pieces.append((span.text or "", span_style, _single(span, "dx", 0.0), y))
        pieces.append((span.tail or "", style, 0.0, y))
    _add(chunks[-1], pieces)
    _trim(chunks)
    return [chunk for chunk in chunks if chunk.runs]


def _single(element, name: str, default):
    value = element.get(name)
    if value is None:
        return default
    try:  # a plain number, as nearly all are: a third of the time of the checks (20 ms for 255 charts' texts)
        return float(value)
    except ValueError:
        return _single_value(value, name, default)


def _single_value(value: str | None, name: str, default):
    if value is None:
        return default
    if "," in value or len(value.split()) != 1:
        raise Unsupported(f"{name}={value!r}: a position per character")
    return _length(value.strip())


def _add(chunk: Chunk, pieces: list) -> None:
    """Move `pieces` into `chunk` as runs, spaces collapsed (also across pieces, with the chunk's last run)."""
    for raw, style, dx, y in pieces:
        text = re.sub(r"[\n\t]", "", raw) if "\n" in raw or "\t" in raw else raw
        text = re.sub(" {2,}", " ", text) if "  " in text else text
        previous = chunk.runs[-1].text if chunk.runs else ""
        if text.startswith(" ") and previous.endswith(" "):
            text = text[1:]
        if text or dx:
            chunk.runs.append(Run(text, style, dx, y))
    pieces.clear()


def _trim(chunks: list[Chunk]) -> None:
    """No space at the start of the whole text nor at its end."""
    first = next((chunk for chunk in chunks if chunk.runs), None)
    if first is not None and first.runs[0].text.startswith(" "):
        head = first.runs[0]
        first.runs[0] = Run(head.text.lstrip(" "), head.style, head.dx, head.y)
    last = next((chunk for chunk in reversed(chunks) if chunk.runs), None)
    if last is not None and last.runs[-1].text.endswith(" "):
        tail = last.runs[-1]
        last.runs[-1] = Run(tail.text.rstrip(" "), tail.style, tail.dx, tail.y)


@dataclass(frozen=True)
class Layout:
    """A text chunk laid out: the shift its anchor gives it, and for each run with outlines its key in `DrawnRuns`
    (its font and paint attributes, then its text: `_look_key`), its outlines, its paints, its offset from the chunk's
    start and its baseline."""

    shift: float
    runs: tuple[tuple[str, Outline, Paints, float, float], ...]


def _layout(chunk: Chunk) -> Layout:
    """Lay out one chunk: each run's outlines placed after the previous run's advance, the whole shifted by its
    anchor, each run's paints (fill and stroke, in its paint-order) for its outlines."""
    laid = []
    width = 0.0
    for run in chunk.runs:
        width += run.dx
        font = _font_key(*map(run.style.get, FONT_ATTRIBUTES))
        outline = _outline(run.text, font)
        if outline.path is not None:
            look = tuple(map(run.style.get, PAINT_ATTRIBUTES))
            laid.append((_look_key(font, look) + "\x00" + run.text, outline, _paints(*look), width, run.y))
        width += outline.advance
    shift = {"start": 0.0, "middle": width / 2, "end": width}.get(chunk.anchor)
    if shift is None:
        raise Unsupported(f"text-anchor={chunk.anchor!r}")
    return Layout(shift, tuple(laid))


@lru_cache(maxsize=256)  # a chart has a few fonts and colours, its runs thousands
def _look_key(font: tuple, look: tuple) -> str:
    """A run's font and paint attributes as the start of its key in `DrawnRuns`, before a NUL and its text: a
    string, whose hash is kept (a tuple of tuples was hashed again at each of a run's look-ups). `repr` tells these
    values apart and writes no NUL."""
    return repr((font, look))


def _draw(painter: TextPainter, layout: Layout, x: float, y: float) -> None:
    """Draw the chunk laid out as `layout` from (x, y) (its runs' baselines moved by y)."""
    for run, outline, paints, offset, baseline in layout.runs:
        painter.draw(run, outline, paints, x - layout.shift + offset, y + baseline)


class TextPainter:
    """Draws a picture's text runs on its canvas (in the viewBox's units), replaying the pixels of a run drawn
    before where it was drawn the same way over the same pixels: the same labels sit at the same places chart after
    chart and report after report, and Skia's anti-aliased outlines cost about 0.2 µs a point (a 14-letter label 80
    µs) where comparing and copying its pixels costs a few."""

    def __init__(self, canvas, pixels: np.ndarray):
        self.canvas, self.pixels = canvas, pixels
        self.height, self.width = pixels.shape[:2]
        matrix = canvas.getTotalMatrix().get9()  # a scale and a translation: text is never transformed
        self.scale_x, self.move_x, self.scale_y, self.move_y = matrix[0], matrix[2], matrix[4], matrix[5]
        # as bytes in the runs' keys: their hash is kept, where a tuple of floats is hashed at each look-up
        self.matrix = struct.pack("9d", *matrix)

    def draw(self, run: str, outline: Outline, paints: Paints, x: float, y: float) -> None:
        """Draw `outline` (the outlines of `run`: its text, font and paint attributes) at (x, y) with `paints`."""
        top, bottom, left, right = self._reach(outline.bounds, paints.reach, x, y)
        row_from, row_to = max(0, top), min(self.height, bottom)
        column_from, column_to = max(0, left), min(self.width, right)
        if row_from >= row_to or column_from >= column_to:  # outside the picture
            return
        # Skia's translation: the same floats, the same pixels. The picture's size only where its edges cut the
        # pixels the run may change (their stops): a run over the same pixels inside pictures of other heights
        # is drawn alike (of 9,532 runs drawn in 408 charts, 736 are then replayed)
        placed = PLACED.pack(x, y)
        key = (self.matrix, run, placed, row_to, column_to)
        known = DRAWN_RUNS.known(key)
        if known is CHANGING:
            self._draw(outline, paints, x, y)
            return
        patch = self.pixels[row_from:row_to, column_from:column_to]
        before = patch.tobytes()
        if known is not UNKNOWN:
            after = DRAWN_RUNS.replay(key, before)
            if after is not None:
                patch[...] = after
                return
        shifted = None  # the key and origin of a run filled on white, inside the picture, at an exact translation
        if (
            paints.fill_only
            and outline.grid is not None
            and top >= 0
            and left >= 0
            and bottom <= self.height
            and right <= self.width
            and _white(before)
        ):
            translation = self._exact_translation(outline.grid, placed)
            if translation is not None:
                shifted = (self.matrix, run, translation[0] % 1.0, translation[1] % 1.0), (translation, top, left)
                if self._replay_shifted(*shifted):
                    DRAWN_RUNS.keep(key, before, patch.copy())
                    return
        self._draw(outline, paints, x, y)
        drawn = patch.copy()
        DRAWN_RUNS.keep(key, before, drawn)
        if shifted is not None:
            SHIFTED_RUNS.keep(shifted[0], shifted[1], drawn)

    def _draw(self, outline: Outline, paints: Paints, x: float, y: float) -> None:
        canvas = self.canvas
        canvas.save()
        canvas.translate(x, y)
        for paint in paints.paints:
            canvas.drawPath(outline.path, paint)
        canvas.restore()

    def _reach(self, bounds: tuple, reach: float, x: float, y: float) -> tuple[int, int, int, int]:
        """The rows and columns of pixels drawing outlines of `bounds` at (x, y) may change, from and to (top,
        bottom, left, right; beyond the picture's edges maybe): its device bounds with the paints' `reach`, and a
        pixel more each side than Skia's anti-aliasing touches (rounding)."""
        left, top, right, bottom = bounds
        x_from = self.scale_x * (x + left - reach) + self.move_x
        x_to = self.scale_x * (x + right + reach) + self.move_x
        y_from = self.scale_y * (y + top - reach) + self.move_y
        y_to = self.scale_y * (y + bottom + reach) + self.move_y
        return math.floor(y_from) - 2, math.ceil(y_to) + 2, math.floor(x_from) - 2, math.ceil(x_to) + 2

    def _exact_translation(self, grid: Grid, placed: bytes) -> tuple[float, float] | None:
        """Where Skia moves outlines on `grid` drawn at `placed` (x and y as float32), in pixels (x, y), if every
        point of them then lands exactly where real arithmetic puts it, float32 rounding nowhere (None otherwise):
        the scale and move of the canvas, the place and the outlines' points all fit on a fine enough grid."""
        x, y = PLACED.unpack(placed)
        along_x = _exact_move(self.scale_x, self.move_x, x, grid)
        along_y = _exact_move(self.scale_y, self.move_y, y, grid)
        return None if along_x is None or along_y is None else (along_x, along_y)

    def _replay_shifted(self, key: tuple, origin: tuple) -> bool:
        """Copy the pixels a run filled on white gave at another translation with the same fraction of a pixel
        (`key`), moved by whole pixels to `origin` ((x, y) translation, top row, left column), if they fall inside
        the picture on white pixels; whether they were copied. Skia's rasterizer rounds exact device points to
        fixed point and works in integers from there: whole pixels apart, the same coverage whole pixels apart."""
        found = SHIFTED_RUNS.find(key)
        if found is None:
            return False
        ((from_x, from_y), top, left), after = found
        (to_x, to_y), _, _ = origin
        top += int(to_y - from_y)
        left += int(to_x - from_x)
        height, width = after.shape[:2]
        if top < 0 or left < 0 or top + height > self.height or left + width > self.width:
            return False
        target = self.pixels[top : top + height, left : left + width]
        if not _white(target.tobytes()):
            return False
        target[...] = after
        return True


PLACED = struct.Struct("ff")  # a run's place as Skia's float32s


@lru_cache(maxsize=8192)  # a report's texts sit on a few hundred x and y: 5.6 µs a move worked out, 0.4 µs found
def _exact_move(scale: float, move: float, place: float, grid: Grid) -> float | None:
    """The device translation `scale` * `place` + `move` of points on `grid` drawn at `place` (all float32s), if
    each product and sum of it and of the points' `scale` * point + translation is a float32 (so exact whatever the
    order or fusion of Skia's operations); None otherwise."""
    scaled = scale * place  # two float32s: exact in float64
    if not _fits_float32(_fraction_bits(scaled), abs(scaled)):
        return None
    translation_bits = max(_fraction_bits(scaled), _fraction_bits(move))
    if not _fits_float32(translation_bits, abs(scaled) + abs(move)):
        return None
    translation = scaled + move  # on a grid of 24 bits at most: exact in float64
    points_bits = _fraction_bits(scale) + grid.fraction_bits
    points_extent = abs(scale) * grid.extent
    if not _fits_float32(points_bits, points_extent):
        return None
    if not _fits_float32(max(points_bits, _fraction_bits(translation)), points_extent + abs(translation)):
        return None
    return translation


def _fraction_bits(value: float) -> int:
    """How many binary digits after the point `value` has (0 for a whole number)."""
    return value.as_integer_ratio()[1].bit_length() - 1


def _fits_float32(fraction_bits: int, extent: float) -> bool:
    """Whether every multiple of 2 ** -`fraction_bits` within ±`extent` is a float32 (24 significant bits)."""
    return extent == 0 or math.frexp(extent)[1] + fraction_bits <= 24


class ShiftedRuns:
    """The pixels runs filled on white inside a picture gave, by how they were drawn and the fraction of a pixel of
    their exact translation, with where they were drawn (translation, top row, left column): the same run whole
    pixels away gets them (a commune's name ranks in another row of each chart of its report), the least recently
    found forgotten beyond `budget` bytes. Shared by the threads drawing pictures."""

    def __init__(self, budget: int):
        self.budget, self.size = budget, 0
        self.runs: OrderedDict[tuple, tuple[tuple, np.ndarray]] = OrderedDict()
        self.lock = threading.Lock()

    def find(self, key: tuple) -> tuple[tuple, np.ndarray] | None:
        """(where it was drawn, the pixels it gave) of `key`, if known."""
        with self.lock:
            found = self.runs.get(key)
            if found is not None:
                self.runs.move_to_end(key)
            return found

    def keep(self, key: tuple, origin: tuple, after: np.ndarray) -> None:
        """Keep the pixels `after` drawing `key` at `origin` gave on white, unless `key` is known."""
        after.flags.writeable = False
        with self.lock:
            if key in self.runs:
                return
            self.runs[key] = (origin, after)
            self.size += after.nbytes
            while self.size > self.budget:
                self.size -= self.runs.popitem(last=False)[1][1].nbytes


class DrawnRuns:
    """The pixels text runs changed lately, by where and how they were drawn: (the pixels before, after), the
    least recently replayed forgotten beyond `budget` bytes. Shared by the threads drawing pictures. Most runs are
    drawn on white (8 in 10 bytes before for six reports): those pixels before are kept as `WHITE`. A run found
    again over other pixels is `CHANGING` from then on, and drawn without copying its pixels: a map's labels sit over
    other shapes in each report (5,757 of the 9,763 runs of two départements' reports, where copying their pixels
    for nothing cost what the replays saved)."""

    def __init__(self, budget: int):
        self.budget, self.size = budget, 0
        self.runs: OrderedDict[tuple, tuple[bytes | None, np.ndarray] | None] = OrderedDict()
        self.lock = threading.Lock()

    def known(self, key: tuple):
        """What is kept of `key`: `UNKNOWN`, `CHANGING` (found drawn over other pixels than the first time), or
        its pixels before and after (replayed by `replay`)."""
        return self.runs.get(key, UNKNOWN)

    def replay(self, key: tuple, before: bytes) -> np.ndarray | None:
        """The pixels drawing `key` over the pixels `before` gave, if it is known (else `key` is now `CHANGING`,
        where it was drawn over other pixels)."""
        with self.lock:
            drawn = self.runs.get(key)
            if drawn is None:  # unknown, or CHANGING
                return None
            if not (before == drawn[0] if drawn[0] is not WHITE else _white(before)):
                self._put(key, CHANGING)
                return None
            self.runs.move_to_end(key)
            return drawn[1]

    def keep(self, key: tuple, before: bytes, after: np.ndarray) -> None:
        """Keep what drawing `key` over `before` gave, unless `key` is known (`CHANGING`, or kept meanwhile)."""
        after.flags.writeable = False
        drawn = (WHITE if _white(before) else before, after)
        with self.lock:
            if key not in self.runs:
                self._put(key, drawn)

    def _put(self, key: tuple, drawn: tuple[bytes | None, np.ndarray] | None) -> None:
        if key in self.runs:
            self.size -= _size(self.runs.pop(key))
        self.runs[key] = drawn
        self.size += _size(drawn)
        while self.size > self.budget:
            self.size -= _size(self.runs.popitem(last=False)[1])


WHITE = None  # pixels all white, kept without their bytes
CHANGING = None  # a run found over other pixels than the first time
UNKNOWN = ()  # a run not kept
CHANGING_SIZE = 256  # what a run's key costs, about: forgotten in turn


def _white(pixels: bytes) -> bool:
    # a prefix of white bytes kept: no fresh bytes to compare with (0.56 µs against 0.81 for a label's 10 kB)
    if len(pixels) > len(WHITE_BYTES):
        return pixels == b"\xff" * len(pixels)
    return WHITE_BYTES.startswith(pixels)


WHITE_BYTES = b"\xff" * (1 << 20)


def _size(drawn: tuple[bytes | None, np.ndarray] | None) -> int:
    if drawn is CHANGING:
        return CHANGING_SIZE
    before, after = drawn
    return (0 if before is WHITE else len(before)) + after.nbytes


# 32 MB: for six EPCI reports, 95 % of the replays of an unbounded memo (which grew to 51 MB)
DRAWN_RUNS = DrawnRuns(32 << 20)
SHIFTED_RUNS = ShiftedRuns(16 << 20)


FONT_ATTRIBUTES = ("font-family", "font-size", "font-weight", "font-style")


@lru_cache(maxsize=256)  # a chart has a few fonts, its runs thousands
def _font_key(
    family: str | None, size: str | None, weight: str | None, slant: str | None
) -> tuple[str, float, int, bool]:
    """(family list, size, weight, italic) of the font attributes `FONT_ATTRIBUTES` (None where not set)."""
    weight = _or(weight, "normal")
    number = {"normal": 400, "bold": 700}.get(weight)
    if number is None:
        try:
            number = int(weight)
        except ValueError:
            raise Unsupported(f"font-weight={weight!r}") from None
    if slant not in (None, "normal", "italic", "oblique"):
        raise Unsupported(f"font-style={slant!r}")
    return _or(family, "sans-serif"), _length(_or(size, "16")), number, slant not in (None, "normal")


class Grid(NamedTuple):
    """Points whose coordinates are all multiples of 2 ** -`fraction_bits` within ±`extent`."""

    fraction_bits: int
    extent: float


@dataclass(frozen=True)
class Outline:
    """The outlines of a text from the origin on its baseline (None for blank text), their bounds (left, top,
    right, bottom), the text's advance width and the grid of their points (None if unknown)."""

    path: object
    bounds: tuple[float, float, float, float]
    advance: float
    grid: Grid | None = None


@lru_cache(maxsize=4096)  # a report repeats its labels (6 in 10 texts); a worker's national batch would not end
def _outline(text: str, key: tuple[str, float, int, bool]) -> Outline:
    """The outlines of `text` in the font `key`, each character in the first face of the family list that has it
    (the system's fallback face otherwise)."""
    import skia

    size = key[1]
    path = skia.Path()
    x = 0.0
    bits, extent = 0, 0.0  # the grid of the points so far
    for face, characters in _runs_by_face(text, key):
        sized = _sized(face, size)
        glyphs = sized.font.textToGlyphs(characters)
        positions = sized.font.getXPos(glyphs, x)
        for glyph, at in zip(glyphs, positions, strict=True):
            drawn = sized.glyph(glyph)
            if drawn is not None:
                outline, glyph_bits, glyph_extent = drawn
                path.addPath(outline, at, 0.0)  # each point plus `at` (a float32): exact if the sum is a float32
                bits, extent = max(bits, glyph_bits, _fraction_bits(at)), max(extent, glyph_extent + abs(at))
        x += sized.font.measureText(characters)
    if path.isEmpty():
        return Outline(None, (0.0, 0.0, 0.0, 0.0), x)
    bounds = path.getBounds()
    # the whole grid a float32 one: then each glyph's point plus its `at` was exact too (within it)
    grid = Grid(bits, extent) if _fits_float32(bits, extent) else None
    return Outline(path, (bounds.left(), bounds.top(), bounds.right(), bounds.bottom()), x, grid)


class SizedFace:
    """A face at one size, unhinted, laid out with fractional advances, and the outlines of its glyphs drawn so far
    (a report's new labels are made of the same few hundred glyphs)."""

    def __init__(self, face, size: float):
        import skia

        self.font = skia.Font(face, size)
        self.font.setHinting(skia.FontHinting.kNone)
        self.font.setLinearMetrics(True)
        self.font.setSubpixel(True)
        self.glyphs: dict[int, tuple[Any, int, float] | None] = {}

    def glyph(self, glyph: int) -> tuple[Any, int, float] | None:
        """The outline of `glyph` (Skia's path) and the grid of its points, (fraction bits, extent) as in `Grid`;
        None for a glyph without an outline."""
        try:
            return self.glyphs[glyph]
        except KeyError:
            drawn = self.glyphs[glyph] = self._glyph(glyph)
            return drawn

    def _glyph(self, glyph: int) -> tuple[Any, int, float] | None:
        path = self.font.getPath(glyph)
        if path is None:
            return None
        coordinates = [value for point in path.getPoints(path.countPoints()) for value in (point.x(), point.y())]
        bits = max((_fraction_bits(value) for value in coordinates), default=0)  # a space's path has no point
        return path, bits, max((abs(value) for value in coordinates), default=0.0)


SIZED_FACES: dict[tuple[int, float], SizedFace] = {}  # Skia's faces and fonts are not hashable: by face id


def _sized(face, size: float) -> SizedFace:
    key = (face.uniqueID(), size)
    sized = SIZED_FACES.get(key)
    if sized is None:
        sized = SIZED_FACES[key] = SizedFace(face, size)
    return sized


@cache
def _faces(family: str, weight: int, italic: bool) -> tuple:
    """The faces of the family list `family` installed here, in its order (the system's default face last)."""
    import skia

    manager = _font_manager()
    style = _font_style(weight, italic)
    faces = []
    for name in (part.strip().strip("'\"") for part in family.split(",")):
        if not name or name in GENERIC_FAMILIES:
            continue
        face = manager.matchFamilyStyle(name, style)
        if face is not None:
            faces.append(face)
    default = manager.matchFamilyStyle(None, style) or skia.Typeface.MakeDefault()
    return (*faces, default)


def _runs_by_face(text: str, key) -> list[tuple]:
    """`text` cut into runs of characters drawn from the same face in the font `key`."""
    runs: list[tuple] = []
    for character in text:
        face = _face_of(character, key)
        if runs and runs[-1][0] is face:
            runs[-1] = (face, runs[-1][1] + character)
        else:
            runs.append((face, character))
    return runs


@cache  # a batch's texts are made of a few hundred characters: looking each up in every face took 2 µs
def _face_of(character: str, key):
    """The first face of the family list of the font `key` that has `character` (the system's fallback face
    otherwise); raises `Unsupported` for a character no face found here has (no fonts, or fontconfig without its
    configuration: resvg then looks for fonts itself)."""
    family, _, weight, italic = key
    faces = _faces(family, weight, italic)
    face = next((f for f in faces if f.unicharToGlyph(ord(character))), None)
    if face is None:
        face = _fallback(ord(character), key)
    if face is None:
        if not character.isspace():
            raise Unsupported(f"no font here has the character {character!r}")
        face = faces[0]
    return face


@cache
def _fallback(code_point: int, key):
    """The face the system offers for a character none of the family list's faces has, if it has it."""
    _, _, weight, italic = key
    face = _font_manager().matchFamilyStyleCharacter("", _font_style(weight, italic), ["fr"], code_point)
    return face if face is not None and face.unicharToGlyph(code_point) else None


@cache
def _font_manager():
    """The system's font manager (fontconfig on Linux). fontconfig writes its warnings about the system's own
    configuration to the terminal (skia-python's copy of it is older than Debian 12's files): they go to the log."""
    import skia

    with _stderr_logged():
        return skia.FontMgr()


@contextlib.contextmanager
def _stderr_logged() -> Iterator[None]:
    """What C code writes to file descriptor 2 meanwhile, logged at debug level instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                log.debug("%s", line)


def _font_style(weight: int, italic: bool):
    import skia

    slant = skia.FontStyle.kItalic_Slant if italic else skia.FontStyle.kUpright_Slant
    return skia.FontStyle(weight, skia.FontStyle.kNormal_Width, slant)


PAINT_ATTRIBUTES = (
    "fill",
    "fill-opacity",
    "stroke",
    "stroke-opacity",
    "stroke-width",
    "stroke-linejoin",
    "paint-order",
)


@dataclass(frozen=True)
class Paints:
    """A run's paints in drawing order, how far beyond its outlines they may draw (half a stroke, or more at
    miter joins), in user units, and whether they fill the outlines only (a stroke draws other points: its own
    outline, worked out in float32 from the run's)."""

    paints: tuple
    reach: float
    fill_only: bool


@lru_cache(maxsize=256)  # a chart has a few text colours, its runs thousands (Skia's paints are only read)
def _paints(
    fill: str | None,
    fill_opacity: str | None,
    stroke: str | None,
    stroke_opacity: str | None,
    stroke_width: str | None,
    linejoin: str | None,
    paint_order: str | None,
) -> Paints:
    """The paints of a run's outlines in drawing order, from its `PAINT_ATTRIBUTES` (None where not set): fill
    then stroke, or stroke first with paint-order="stroke" (a halo that keeps the letters legible on a map)."""
    import skia

    paints = []
    fill = "black" if fill is None else fill
    if fill != "none":
        paints.append(skia.Paint(AntiAlias=True, Color=_colour(fill, _or(fill_opacity, "1"))))
    if stroke is not None and stroke != "none":
        paint = skia.Paint(AntiAlias=True, Color=_colour(stroke, _or(stroke_opacity, "1")))
        paint.setStyle(skia.Paint.kStroke_Style)
        paint.setStrokeWidth(_length(_or(stroke_width, "1")))
        join = _or(linejoin, "miter")
        joins = {"miter": skia.Paint.kMiter_Join, "round": skia.Paint.kRound_Join, "bevel": skia.Paint.kBevel_Join}
        if join not in joins:
            raise Unsupported(f"stroke-linejoin={join!r}")
        paint.setStrokeJoin(joins[join])
        order = _or(paint_order, "normal").split()
        first = order[0] if order else "normal"
        if first not in ("normal", "fill", "stroke", "markers"):
            raise Unsupported(f"paint-order={paint_order!r}")
        paints.insert(0, paint) if first == "stroke" else paints.append(paint)
    reach = max(-paint.computeFastBounds(skia.Rect(0, 0, 0, 0)).left() for paint in paints) if paints else 0.0
    return Paints(tuple(paints), reach, all(paint.getStyle() == skia.Paint.kFill_Style for paint in paints))


def _or(value: str | None, default: str) -> str:
    """An attribute's value, or its default where it is not set."""
    return default if value is None else value


def _colour(value: str, opacity: str):
    import skia

    value = value.strip().lower()
    if value in NAMED_COLOURS:
        red, green, blue = NAMED_COLOURS[value]
    elif re.fullmatch(r"#[0-9a-f]{6}", value):
        red, green, blue = (int(value[i : i + 2], 16) for i in (1, 3, 5))
    elif re.fullmatch(r"#[0-9a-f]{3}", value):
        red, green, blue = (int(digit * 2, 16) for digit in value[1:])
    else:
        raise Unsupported(f"colour {value!r}")
    alpha = float(opacity)
    if not 0 <= alpha <= 1:
        raise Unsupported(f"opacity {opacity!r}")
    return skia.Color(blue, green, red, round(255 * alpha))  # red and blue swapped, as the shapes' colours
