"""Maps as inline SVG: a choropleth of a territory's communes for one indicator, and a locator map.

The geometries are the staged commune contours (`sources.contours`: projected, north-up, in metres). Each map
simplifies them again to its own scale with shapely's coverage simplification (shared borders stay shared), rounds
the coordinates to whole units of a map 400 units wide and writes one `<path>` per commune in relative
commands: an EPCI's map is a few kilobytes.

Classes are **quantiles of the territory's communes** that have a value of their own (`quantile_classes`): up to
five classes holding about as many communes each, never splitting equal values; the legend gives each class the
lowest and highest value of its communes, in French formats. A commune without a value of its own (secret, not
significant, the EPCI's figure borrowed...) is hatched, with one pattern per reason, and the legend names the
reason. Darker means a higher value, whatever the indicator's direction. Every commune path carries a `<title>`
(name and value, or the reason) for screen readers and as a tooltip; communes large enough on the map carry a
number, the key to which the section lists.
"""

from __future__ import annotations

import math
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import shapely

from reports import formats as F
from reports import notes as N
from reports.svg import SvgDocument

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', sans-serif"
INK = "#1d2733"
WHITE = "#ffffff"
BORDER = "#ffffff"
WIDTH = 400  # viewBox width of a choropleth's map area; its legend is a column on its right
LEGEND_WIDTH = 260
LEGEND_CHARS = 34  # a legend line wraps beyond this many characters (12-unit text in LEGEND_WIDTH)
ROW_CHARS = 28  # the text beside a swatch
LOCATOR_WIDTH = 300
MAX_HEIGHT_RATIO = 1.25  # a tall territory is scaled down so that its map stays under 1.25 x its width
MARGIN = 8
SIMPLIFY_UNITS = 0.6  # draw-time simplification, in viewBox units (under a pixel at print size)
LABEL_RADIUS = 8.0  # a commune gets its number when a circle of this radius (viewBox units) fits inside it
# ColorBrewer "Blues" (sequential, print- and colour-blind-friendly), light to dark; the 4th is Blues-7 #2171b5
# rather than Blues-5 #3182bd, on which neither ink nor white reaches the 4.5:1 of WCAG AA
PALETTE = ("#eff3ff", "#bdd7e7", "#6baed6", "#2171b5", "#08519c")
MAX_CLASSES = len(PALETTE)
# patterns of the communes without a value of their own, in the order of the reasons (reports.notes.MARKS)
PATTERNS = ("hachures", "croisillons", "points", "traits")
NO_DATA_INK = "#6b7280"
LEGEND_ROW = 18
ATTRIBUTION = "Fond : data.gouv.fr d'après IGN Admin Express (ODbL)"


@dataclass(frozen=True)
class Area:
    """One commune on a choropleth."""

    code: str
    name: str
    geometry: object  # shapely (Multi)Polygon in metres, north-up
    value: float | None  # its own value; None when it has none (see `reason`)
    reason: str | None = None  # why it has no value of its own (transforms.reasons), None when it has one
    shown: str = ""  # the value as the report prints it (a borrowed value is shown in the tooltip too)


# -- classes -------------------------------------------------------------------------------------------------------


def quantile_classes(values: Sequence[float], k: int = MAX_CLASSES) -> list[tuple[float, float]]:
    """(lowest, highest) value of each quantile class of `values`, at most `k` classes.

    Sorted values v[0..n-1]; class j (0-based) takes the values up to v[ceil((j+1)·n/k) − 1]. Equal values always
    fall in the same class, so repeated bounds merge classes (fewer than k), and every class is non-empty."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return []
    k = max(1, min(k, len(set(ordered))))
    uppers = sorted({ordered[math.ceil((j + 1) * n / k) - 1] for j in range(k)})
    classes, low = [], None
    for upper in uppers:
        members = [v for v in ordered if (low is None or v > low) and v <= upper]
        if members:
            classes.append((members[0], members[-1]))
            low = upper
    return classes


def class_of(value: float, classes: list[tuple[float, float]]) -> int:
    """Index of the class holding `value` (the first whose highest value is not below it)."""
    for i, (_, high) in enumerate(classes):
        if value <= high:
            return i
    return len(classes) - 1


def palette(k: int) -> tuple[str, ...]:
    """k colours of PALETTE spread from light to dark."""
    if k <= 1:
        return (PALETTE[2],)
    return tuple(PALETTE[round(i * (len(PALETTE) - 1) / (k - 1))] for i in range(k))


# -- colour contrast (WCAG 2) --------------------------------------------------------------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1 to 21; AA asks 4.5 for normal text)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@cache  # a few colours, asked for each number of each map
def text_colour(fill: str) -> str:
    """INK or white, whichever reads better on `fill`."""
    return INK if contrast(INK, fill) >= contrast(WHITE, fill) else WHITE


# -- geometry to SVG -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """Metres -> viewBox units: x to the east, y down from the north (north-up)."""

    minx: float
    maxy: float
    scale: float  # units per metre
    width: float
    height: float

    @classmethod
    def around(cls, geometries: Sequence, width: float = WIDTH) -> Frame:
        # Python floats, not numpy's: every coordinate of a map is computed from them, and numpy's scalars are
        # rounded 8 times slower (a département's maps: 0.1 s of CPU); the same values (`coordinate`)
        minx, miny, maxx, maxy = (float(bound) for bound in shapely.total_bounds(list(geometries)))
        span_x, span_y = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
        inner = width - 2 * MARGIN
        scale = min(inner / span_x, inner * MAX_HEIGHT_RATIO / span_y)
        map_width = span_x * scale + 2 * MARGIN
        shift = (width - map_width) / 2  # a tall territory is centred
        return cls(minx - (MARGIN + shift) / scale, maxy + MARGIN / scale, scale, width, span_y * scale + 2 * MARGIN)

    def point(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.minx) * self.scale, (self.maxy - y) * self.scale


def coordinate(x: float, decimals: int) -> float:
    """`x` rounded as numpy rounds its floats, to the nearest even of `x` times 10^decimals, then divided back
    (0.15 -> 0.2 at one decimal, where Python's correctly rounded `round` gives 0.1): the maps' coordinates were
    numpy's and stay the same, byte for byte."""
    scale = 10.0**decimals
    return round(x * scale) / scale


def _ring_path(coords, frame: Frame, decimals: int) -> str:
    """`M x y l dx dy …z` of one ring, consecutive repeated points dropped; '' for a ring collapsed by rounding."""
    points: list[tuple[float, float]] = []
    for x, y in coords:
        px, py = frame.point(x, y)
        p = (coordinate(px, decimals), coordinate(py, decimals))
        if not points or p != points[-1]:
            points.append(p)
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        return ""
    x0, y0 = points[0]
    steps = " ".join(f"{_n(b[0] - a[0])} {_n(b[1] - a[1])}" for a, b in pairwise(points))
    return f"M{_n(x0)} {_n(y0)}l{steps}z"


def _n(x: float) -> str:
    text = f"{x:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _polygons(geometry) -> list:
    return list(geometry.geoms) if hasattr(geometry, "geoms") else [geometry]


def svg_path(geometry, frame: Frame) -> str:
    """The path data of a (Multi)Polygon: whole units, or tenths when a small commune would vanish."""
    for decimals in (0, 1):
        parts = [
            _ring_path(ring.coords, frame, decimals)
            for poly in _polygons(geometry)
            for ring in (poly.exterior, *poly.interiors)
        ]
        if any(parts):
            return "".join(p for p in parts if p)
    return ""


def simplified(geometries: Sequence, frame: Frame) -> list:
    """The geometries simplified to this map's scale, as one coverage (shared borders stay shared)."""
    return list(shapely.coverage_simplify(list(geometries), SIMPLIFY_UNITS / frame.scale))


def label_point(geometry, frame: Frame) -> tuple[float, float] | None:
    """Where a number fits inside the commune (viewBox units), or None when it is too small on this map."""
    circle = shapely.maximum_inscribed_circle(geometry, 1.0 / frame.scale)
    centre, edge = circle.coords[0], circle.coords[1]
    if math.dist(centre, edge) * frame.scale < LABEL_RADIUS:
        return None
    return frame.point(*centre)


@dataclass(frozen=True)
class Layout:
    """What every map of the same communes shares: the frame, the shapes simplified to it, where numbers fit."""

    frame: Frame
    shapes: list
    points: dict[str, tuple[float, float]]  # code -> where its number goes, for the communes large enough

    @classmethod
    def of(cls, areas: Sequence[Area]) -> Layout:
        frame = Frame.around([a.geometry for a in areas])
        shapes = simplified([a.geometry for a in areas], frame)
        points = {a.code: p for a, s in zip(areas, shapes) if (p := label_point(s, frame))}
        return cls(frame, shapes, points)


# -- the SVG document ----------------------------------------------------------------------------------------------


class _Svg(SvgDocument):
    def __init__(self, width: float, height: float, title: str, ident: str, css_class: str):
        super().__init__(
            {
                "viewBox": f"0 0 {_n(width)} {_n(height)}",
                "role": "img",
                "aria-labelledby": f"{ident}-t",
                "class": css_class,
                "font-family": FONT,
                "font-size": "12",
                "fill": INK,
                "id": ident,
            },
            title,
            ident,
            _n,
        )


def _patterns(svg: _Svg, ident: str, reasons: list[str]) -> dict[str, str]:
    """One pattern per reason (hatches, cross-hatches, dots, lines); reason -> fill url."""
    defs = svg.add("defs")
    out = {}
    for i, reason in enumerate(reasons):
        kind, pid = PATTERNS[i % len(PATTERNS)], f"{ident}-p{i}"
        pattern = svg.add(
            "pattern",
            defs,
            id=pid,
            patternUnits="userSpaceOnUse",
            width="6",
            height="6",
            patternTransform="rotate(45)" if kind in ("hachures", "croisillons") else None,
        )
        svg.add("rect", pattern, width="6", height="6", fill=WHITE)
        if kind == "points":
            svg.add("circle", pattern, cx="3", cy="3", r="1.3", fill=NO_DATA_INK)
        else:
            svg.add("line", pattern, x1="0", y1="3", x2="6", y2="3", stroke=NO_DATA_INK, stroke_width="1.4")
        if kind == "croisillons":
            svg.add("line", pattern, x1="3", y1="0", x2="3", y2="6", stroke=NO_DATA_INK, stroke_width="1.4")
        out[reason] = f"url(#{pid})"
    return out


def _reasons(areas: Sequence[Area]) -> list[str]:
    present = {a.reason for a in areas if a.reason}
    return [r for r in N.MARKS if r in present] + sorted(present - set(N.MARKS))


def _tooltip(area: Area) -> str:
    if area.reason is None:
        return f"{area.name} : {area.shown}"
    borrowed = f" ({area.shown})" if area.shown else ""
    return f"{area.name} : {N.label(area.reason)}{borrowed}"


def _scale_bar(svg: _Svg, frame: Frame, y: float) -> None:
    """Under the map: a bar of a round length (1, 2, 5, 10… km) about a fifth of its width, on the right, and the
    north arrow on the left."""
    target_km = frame.width / 5 / frame.scale / 1000
    length_km = max((s for s in (0.5, 1, 2, 5, 10, 20, 50, 100, 200) if s <= max(target_km, 0.5)), default=0.5)
    length = length_km * 1000 * frame.scale
    x = frame.width - MARGIN - length
    svg.add("path", d=f"M{_n(x)} {_n(y - 4)}v4h{_n(length)}v-4", fill="none", stroke=INK, stroke_width="1.2")
    svg.add(
        "text",
        text=f"{F.number(length_km, 1 if length_km < 1 else 0)} km",
        x=x + length / 2,
        y=y - 7,
        text_anchor="middle",
        font_size="11",
    )
    svg.add("path", d=f"M{_n(MARGIN + 6)} {_n(y - 24)}l5 13h-10z", fill=INK)  # north arrow, under the map
    svg.add("text", text="N", x=float(MARGIN + 6), y=y, text_anchor="middle", font_size="11", font_weight="700")


def _labels(svg: _Svg, numbers: dict[str, int], points: dict[str, tuple[float, float]], fills: dict[str, str]):
    group = svg.add("g", font_size="11", font_weight="700", text_anchor="middle", aria_hidden="true")
    for code, (x, y) in points.items():
        if code in numbers:
            ink = text_colour(fills.get(code, WHITE))
            halo = WHITE if ink == INK else INK
            svg.text(
                coordinate(x, 1),
                coordinate(y + 4, 1),
                str(numbers[code]),
                group,
                fill=ink,
                stroke=halo,
                stroke_width="2.5",
                paint_order="stroke",
                stroke_opacity="0.6",
            )


class _Legend:
    """The legend column: rows of a swatch and a wrapped text, from `top` down."""

    def __init__(self, svg: _Svg, x: float, top: float):
        self.svg, self.x, self.y = svg, x, top

    def lines(self, text: str, **attrs) -> None:
        for line in textwrap.wrap(text, LEGEND_CHARS):
            self.svg.add("text", text=line, x=self.x, y=self.y + 11, **attrs)
            self.y += 15

    def row(self, fill: str, text: str) -> None:
        self.svg.add("rect", x=self.x, y=self.y, width="22", height="13", fill=fill, stroke=INK, stroke_width="0.5")
        lines = textwrap.wrap(text, ROW_CHARS)
        label = self.svg.add("text", x=self.x + 30, y=self.y + 11)
        for i, line in enumerate(lines):
            self.svg.add("tspan", label, text=line, x=self.x + 30, dy="15" if i else None)
        self.y += max(LEGEND_ROW, 15 * len(lines) + 3)


def _legend(svg: _Svg, x: float, classes, colours, counts, unit: str, reasons, pattern_fill, reason_counts) -> float:
    """Draw the legend column at `x`; the y where it ends."""
    legend = _Legend(svg, x, MARGIN)
    legend.lines("Légende", font_weight="700")
    legend.lines(f"{F.UNIT_HINTS.get(unit, unit)}, quantiles des communes", fill="#4b5563")
    legend.y += 4
    for (low, high), colour, count in zip(classes, colours, counts):
        span = F.value(low, unit) if low == high else f"de {F.value(low, unit)} à {F.value(high, unit)}"
        legend.row(colour, f"{span} ({_communes(count)})")
    for reason in reasons:
        legend.row(
            pattern_fill[reason], f"Sans valeur communale : {N.label(reason)} ({_communes(reason_counts[reason])})"
        )
    legend.y += 4
    legend.lines(ATTRIBUTION, font_size="10", fill="#4b5563")
    return legend.y


def _communes(n: int) -> str:
    return f"{n} commune{'s' if n > 1 else ''}"


def choropleth(
    areas: Sequence[Area],
    unit: str,
    title: str,
    ident: str,
    numbers: dict[str, int] | None = None,
    shapes_id: str | None = None,
    layout: Layout | None = None,
) -> str:
    """The SVG choropleth of `areas` (one path per commune, its `<title>` the name and value), with its legend,
    north arrow, scale bar and attribution. `numbers`: commune code -> the number drawn on it when it fits.

    `shapes_id`: the prefix of the paths `shape_defs(areas, shapes_id)` wrote once in the page; each commune is
    then a `<use>` of its path (the maps of a territory share their shapes: a département's ten maps would
    otherwise repeat hundreds of paths ten times). `layout`: `Layout.of(areas)`, computed once for them all."""
    layout = layout or Layout.of(areas)
    frame, shapes = layout.frame, layout.shapes
    # classes of the values as printed: two communes the legend shows alike are never in two classes
    classes = quantile_classes([round(a.value, F.DECIMALS.get(unit, 1)) for a in areas if a.value is not None])
    colours = palette(len(classes))
    reasons = _reasons(areas)
    svg = _Svg(frame.width + LEGEND_WIDTH, frame.height + 34, title, ident, "map")
    pattern_fill = _patterns(svg, ident, reasons)
    fills, counts = {}, [0] * len(classes)
    group = svg.add("g", stroke=BORDER, stroke_width="0.8", stroke_linejoin="round", fill_rule="evenodd")
    for area, shape in zip(areas, shapes):
        if area.value is not None:
            k = class_of(round(area.value, F.DECIMALS.get(unit, 1)), classes)
            counts[k] += 1
            fills[area.code] = colours[k]
        fill = fills.get(area.code) or pattern_fill[area.reason or ""]
        if shapes_id:
            svg.titled("use", group, _tooltip(area), href=f"#{shapes_id}-{area.code}", fill=fill, data_code=area.code)
        else:
            svg.titled("path", group, _tooltip(area), d=svg_path(shape, frame), fill=fill, data_code=area.code)
    _labels(svg, numbers or {}, layout.points, fills)
    _scale_bar(svg, frame, frame.height + 28)
    reason_counts = {r: sum(a.reason == r for a in areas) for r in reasons}
    bottom = _legend(svg, frame.width + 16, classes, colours, counts, unit, reasons, pattern_fill, reason_counts)
    height = max(frame.height + 34, bottom + MARGIN)
    svg.attributes["viewBox"] = f"0 0 {_n(frame.width + LEGEND_WIDTH)} {_n(height)}"
    return svg.render()


def shape_defs(areas: Sequence[Area], shapes_id: str, layout: Layout | None = None) -> str:
    """An invisible SVG defining each commune's path once (`id` = `{shapes_id}-{code}`), in the frame and
    simplification every `choropleth` of the same areas (the same `layout`) uses."""
    layout = layout or Layout.of(areas)
    frame, shapes = layout.frame, layout.shapes
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "class": "map-shapes",
            "width": "0",
            "height": "0",
            "aria-hidden": "true",
            "focusable": "false",
        },
    )
    defs = ET.SubElement(svg, "defs")
    for area, shape in zip(areas, shapes):
        ET.SubElement(defs, "path", {"id": f"{shapes_id}-{area.code}", "d": svg_path(shape, frame)})
    return ET.tostring(svg, encoding="unicode")


def locator(territory, context: Sequence[tuple[str, object]], title: str, ident: str) -> str:
    """The territory (one geometry, filled) within its département(s) (`context`: (name, geometry), outlined and
    named), north-up, with a scale bar."""
    geometries = [g for _, g in context] + [territory]
    frame = Frame.around(geometries, LOCATOR_WIDTH)
    svg = _Svg(frame.width, frame.height + 34, title, ident, "map locator")
    for name, geometry in context:
        shape = shapely.simplify(geometry, SIMPLIFY_UNITS / frame.scale)
        svg.titled("path", None, name, d=svg_path(shape, frame), fill="#e8ecf0", stroke="#8a96a3", stroke_width="1")
    shape = shapely.simplify(territory, SIMPLIFY_UNITS / frame.scale)
    svg.add("path", d=svg_path(shape, frame), fill="#c0602b", stroke=INK, stroke_width="1", fill_rule="evenodd")
    for name, geometry in context:
        x, y = frame.point(*shapely.point_on_surface(geometry).coords[0])
        svg.add(
            "text",
            text=name,
            x=coordinate(x, 1),
            y=coordinate(y, 1),
            text_anchor="middle",
            font_size="11",
            stroke=WHITE,
            stroke_width="3",
            paint_order="stroke",
        )
    _scale_bar(svg, frame, frame.height + 28)
    return svg.render()
