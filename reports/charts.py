"""Charts as inline SVG, drawn when the report is built: no JavaScript, no request, printable.

Why SVG written here rather than a plotting library: the report needs three simple figures (an age pyramid,
a "positioning" strip per indicator, ranked bars per commune), each a few dozen rectangles, lines and labels,
with French number formats, flag symbols and byte-identical output between two runs. matplotlib would bring
numpy and a font engine for that and writes random clip-path ids; pygal writes a random uuid per chart and links
its JavaScript from a CDN by default; leather has neither two-sided bars nor reference markers. `reports.svg`
writes well-formed SVG and escapes every text and attribute with the standard library ElementTree's escaping, so
names from the data stay text (`<script>` in a commune name is drawn, never run).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from functools import lru_cache

from reports import formats as F
from reports.svg import SvgDocument

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', sans-serif"
INK = "#1d2733"
MUTED = "#5b6673"
GRID = "#d9dee4"
TERRITORY = "#1f4e79"  # the territory: dark blue, filled
DEPARTEMENT = "#c0602b"  # the département: orange, outline
FRANCE = "#6b7280"  # France: grey tick
EPCI = "#2e7d4f"  # a commune's EPCI: green square outline (its first comparison, issue 13)
MEN, WOMEN = "#3b73a8", "#b8472f"
# WCAG AA on white (tests/test_report_contrast.py): marks at least 3:1, text at least 4.5:1. The flag dots are a
# darker amber than the tables' badges (#e0a526 is 2.2:1 on white), the flag symbols darker still, as text.
FLAG_FILL = {"vigilance": "#a87600", "priorité": "#b8332a"}
FLAG_INK = {"vigilance": "#6b4500", "priorité": "#7a1c12"}
FLAG_SYMBOL = {"vigilance": "!", "priorité": "!!"}
BAR = "#7b96b2"
WIDTH = 760.0  # viewBox width of every chart; the page scales it down on narrow screens and on paper
REFERENCE_LINES = {
    "territory": (TERRITORY, None),
    "epci": (EPCI, "8 3"),
    "departement": (DEPARTEMENT, "5 3"),
    "france": (FRANCE, "2 2"),
}


def _num(x: float) -> str:
    """Coordinates with one decimal: short, and identical between runs."""
    text = _NUMBERS.get(x)
    if text is None:
        text = f"{x:.1f}"
        text = text[:-2] if text.endswith(".0") else text
        if x and len(_NUMBERS) < NUMBERS_KEPT:  # zero is not kept: -0.0 equals 0.0 but is written -0
            _NUMBERS[x] = text
    return text


# the coordinates written so far: a report's charts write 60,000, most of them a row's or a scale's, again and
# again; two equal numbers other than zero write alike
_NUMBERS: dict[float, str] = {}
NUMBERS_KEPT = 100_000


class Svg(SvgDocument):
    """A chart: its title and description name it for screen readers."""

    def __init__(self, width: float, height: float, title: str, description: str, ident: str):
        super().__init__(
            {
                "viewBox": f"0 0 {_num(width)} {_num(height)}",
                "width": _num(width),
                "height": _num(height),
                "role": "img",
                "aria-labelledby": f"{ident}-t {ident}-d",
                "class": "chart",
                "font-family": FONT,
                "font-size": "11",
                "fill": INK,
            },
            title,
            ident,
            _num,
        )
        self.add("desc", None, description, id=f"{ident}-d")

    def resize(self, height: float) -> None:
        """Set the height once the content is laid out (legends wrap to as many rows as they need)."""
        width = self.attributes["width"]
        self.attributes["viewBox"] = f"0 0 {width} {_num(height)}"
        self.attributes["height"] = _num(height)


@lru_cache(maxsize=4096)
def _wrap(label: str, width: int, lines: int = 2) -> tuple[str, ...]:
    """`label` in at most `lines` lines of `width` characters, the last one cut with « … »; wrapped once per label
    (a report draws each commune's name in eleven ranked charts and their print twins)."""
    parts = textwrap.wrap(label, width) or [""]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1].rstrip(" ,;") + "…"
    return tuple(parts)


def _legend(svg: Svg, x: float, y: float, items: list[tuple[str, str]], max_x: float) -> float:
    """Legend items (shape, label) in rows that wrap before `max_x`; returns the baseline of the last row.

    Shapes: territory (dot), departement (diamond), france (tick), men / women (filled box),
    departement-outline (dashed box), line-territory / line-departement / line-france (reference lines)."""
    left = x
    for shape, label in items:
        item_width = 24 + 6.2 * len(label)
        if x > left and x + item_width > max_x:
            x, y = left, y + 16
        g = svg.add("g")
        if shape == "territory":
            svg.circle(x + 5, y - 4, 4.5, TERRITORY, parent=g)
        elif shape == "departement":
            svg.add("path", g, d=_diamond(x + 5, y - 4, 5), fill="#fff", stroke=DEPARTEMENT, stroke_width=1.8)
        elif shape == "epci":
            svg.add("rect", g, x=x + 0.5, y=y - 8.5, width=9, height=9, fill="#fff", stroke=EPCI, stroke_width=1.8)
        elif shape == "france":
            svg.add("rect", g, x=x + 3.5, y=y - 11, width=3, height=14, fill=FRANCE)
        elif shape == "departement-outline":
            svg.add(
                "rect",
                g,
                x=float(x),
                y=y - 9,
                width=12,
                height=10,
                fill="none",
                stroke=INK,
                stroke_width=1.2,
                stroke_dasharray="3 2",
            )
        elif shape.startswith("line-"):
            colour, dash = REFERENCE_LINES[shape.removeprefix("line-")]
            svg.line(float(x), x + 12, y - 4, y - 4, colour, 2.5, dash, parent=g)
        else:
            svg.add("rect", g, x=float(x), y=y - 9, width=12, height=10, fill=MEN if shape == "men" else WOMEN)
        svg.text(x + 17, y, label, g, fill=MUTED)
        x += item_width
    return y


def _diamond(cx: float, cy: float, r: float) -> str:
    return f"M{_num(cx)} {_num(cy - r)}L{_num(cx + r)} {_num(cy)}L{_num(cx)} {_num(cy + r)}L{_num(cx - r)} {_num(cy)}Z"


# -- the age pyramid ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeBand:
    label: str  # "0-14 ans"
    men: float | None  # share of the territory's population, in %
    women: float | None
    ref_men: float | None  # same for the reference (département)
    ref_women: float | None


def pyramid(bands: list[AgeBand], territory: str, reference: str | None, ident: str) -> str:
    """Men to the left, women to the right, in % of each population; the reference (if any) a dashed outline."""
    width, row, centre, margin = WIDTH, 30.0, 104.0, 46.0
    half = (width - centre) / 2 - margin
    inner = (margin + half, margin + half + centre)  # where the men's and the women's bars start
    values = [v for b in bands for v in (b.men, b.women, b.ref_men, b.ref_women) if v is not None]
    scale_max = max(values + [1.0]) * 1.08
    svg = Svg(
        width,
        100,
        f"Pyramide des âges : {territory}" + (f" et {reference}" if reference else ""),
        f"Part de chaque tranche d'âge dans la population, hommes à gauche, femmes à droite ; {territory} en "
        "barres pleines" + (f", {reference} en contour pointillé." if reference else "."),
        ident,
    )
    legend = [("men", f"Hommes, {territory}"), ("women", f"Femmes, {territory}")]
    top = _legend(svg, 20, 16, legend + ([("departement-outline", reference)] if reference else []), width - 10) + 22
    bottom = top + row * len(bands)
    k = half / scale_max
    _pyramid_grid(svg, inner, k, scale_max, top, bottom)
    for i, band in enumerate(reversed(bands)):  # oldest at the top
        _pyramid_band(svg, band, top + i * row, row, inner, k)
    svg.text(inner[0], bottom + 32, "Hommes", text_anchor="end", font_weight="600", fill=MEN)
    svg.text(inner[1], bottom + 32, "Femmes", font_weight="600", fill=WOMEN)
    svg.resize(bottom + 40)
    return svg.render()


def _pyramid_grid(svg: Svg, inner: tuple[float, float], k: float, scale_max: float, top: float, bottom: float):
    """Vertical grid lines and their axis labels, on both sides."""
    step, tick = _tick_step(scale_max), 0.0
    while tick <= scale_max:
        for x in sorted({inner[0] - tick * k, inner[1] + tick * k}):
            svg.line(x, x, top - 4, bottom, GRID, 1)
            svg.text(x, bottom + 14, F.value(tick, "percent"), text_anchor="middle", fill=MUTED, font_size=10)
        tick += step


def _pyramid_band(svg: Svg, band: AgeBand, y: float, row: float, inner: tuple[float, float], k: float) -> None:
    """One age band: its label in the centre, each sex's bar, share and reference outline."""
    svg.text(WIDTH / 2, y + row / 2 + 4, band.label, text_anchor="middle", font_weight="600")
    for side, share, ref, colour in ((-1, band.men, band.ref_men, MEN), (1, band.women, band.ref_women, WOMEN)):
        origin = inner[0] if side < 0 else inner[1]

        def start(length: float, origin: float = origin, side: int = side) -> float:  # bars grow outwards
            return origin - length if side < 0 else origin

        if share is not None:
            svg.add("rect", x=start(share * k), y=y + 5, width=share * k, height=row - 10, fill=colour)
            outer = max(share, ref or 0.0) * k + 4  # the label clears the bar and the reference outline
            anchor = "end" if side < 0 else "start"
            label = F.value(share, "percent")
            svg.text(origin + side * outer, y + row / 2 + 4, label, text_anchor=anchor, font_size=10, fill=MUTED)
        if ref is not None:
            svg.add(
                "rect",
                x=start(ref * k),
                y=y + 3,
                width=ref * k,
                height=row - 6,
                fill="none",
                stroke=INK,
                stroke_width=1.2,
                stroke_dasharray="3 2",
            )


def age_bars(bands: list[AgeBand], territory: str, reference: str | None, ident: str) -> str:
    """Without ages by sex: both sexes together (`men` holds the band's share), territory against reference."""
    width, row, left = WIDTH, 26.0, 110.0
    plot = width - left - 70
    values = [v for b in bands for v in (b.men, b.ref_men) if v is not None]
    k = plot / (max(values + [1.0]) * 1.08)
    svg = Svg(
        width,
        100,
        f"Structure par âge : {territory}" + (f" et {reference}" if reference else ""),
        f"Part de chaque tranche d'âge dans la population ; {territory} en barres"
        + (f", {reference} en contour." if reference else "."),
        ident,
    )
    top = (
        _legend(
            svg, 20, 16, [("men", territory)] + ([("departement-outline", reference)] if reference else []), width - 10
        )
        + 14
    )
    for i, band in enumerate(bands):
        y = top + i * row
        svg.text(left - 8, y + row / 2 + 4, band.label, text_anchor="end", font_weight="600")
        if band.men is not None:
            svg.add("rect", x=left, y=y + 4, width=band.men * k, height=row - 8, fill=MEN)
            svg.text(left + band.men * k + 4, y + row / 2 + 4, F.value(band.men, "percent"), font_size=10, fill=MUTED)
        if band.ref_men is not None:
            svg.add(
                "rect",
                x=left,
                y=y + 2,
                width=band.ref_men * k,
                height=row - 4,
                fill="none",
                stroke=INK,
                stroke_width=1.2,
                stroke_dasharray="3 2",
            )
    svg.resize(top + row * len(bands) + 8)
    return svg.render()


def _tick_step(maximum: float) -> float:
    for step in (1, 2, 2.5, 5, 10, 20, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000):
        if maximum / step <= 5:
            return float(step)
    return maximum / 4


# -- positioning of the territory, indicator by indicator --------------------------------------------------------


@dataclass(frozen=True)
class Position:
    label: str
    unit: str
    value: float | None
    departement: float | None
    france: float | None
    flag: str | None = None
    mark: str = ""  # footnote mark when the value is empty or borrowed
    epci: float | None = None  # the commune's EPCI (a commune's report only)


def local_domain(values: list[float]) -> tuple[float, float]:
    """A scale around the values of one line: wide enough that a small gap stays small, never a zoom on noise.

    The margin is half the spread of the values or 15 % of their largest magnitude, whichever is larger; a scale
    of positive values stops at zero."""
    lo, hi = min(values), max(values)
    margin = max(0.5 * (hi - lo), 0.15 * max(abs(lo), abs(hi)), 1e-6)
    floor = 0.0 if lo >= 0 else lo - margin  # shares and rates never go below zero
    return max(lo - margin, floor), hi + margin


SCALE_NOTE = (
    "Chaque ligne a sa propre échelle : les valeurs en gris à ses deux extrémités en sont les bornes "
    "(un écart se lit sur sa ligne, pas d'une ligne à l'autre)."
)


POS_ROW = 32.0  # two lines of label (13 px apart) and the marks fit in a row
POS_VALUE_W = 96.0  # the value column, on the right
POS_X0, POS_X1 = 280.0 + 44, WIDTH - POS_VALUE_W - 58  # each line's scale, between the labels and the value


def positioning_words(
    territory: str, departement: str | None, epci: str | None
) -> tuple[str, str, list[tuple[str, str]]]:
    """A positioning chart's title, description and legend (the screen chart's and its print twin's)."""
    against = ", ".join(n for n in (epci, departement) if n)
    title = f"Positionnement de {territory} : " + (f"{against} et France" if against else "France")
    description = (
        f"Pour chaque indicateur, sur sa propre échelle : {territory} (point), "
        + (f"{epci} (carré), " if epci else "")
        + (f"{departement} (losange), " if departement else "")
        + "France (trait)."
    )
    legend = [("territory", territory)] + ([("epci", epci)] if epci else [])
    legend += [("departement", departement)] if departement else []
    return title, description, legend + [("france", "France")]


def positioning(
    rows: list[Position], territory: str, departement: str | None, ident: str, epci: str | None = None
) -> str:
    """One line per indicator on its own scale: the territory (dot), a commune's EPCI (square) when `epci` is
    given, its département (diamond), France (tick). A département (`departement` None) is set against France
    alone."""
    title, description, legend = positioning_words(territory, departement, epci)
    svg = Svg(WIDTH, 100, title, description, ident)
    top = _legend(svg, 10, 16, legend, WIDTH - 10)
    svg.text(10, top + 16, SCALE_NOTE, fill=MUTED, font_size=10)  # what the grey end values are
    top += 26
    for i, r in enumerate(rows):
        if i:
            svg.line(10.0, WIDTH - 10, top + i * POS_ROW, top + i * POS_ROW, GRID, 0.6)
        _position_row(svg, r, top + i * POS_ROW + POS_ROW / 2, with_epci=bool(epci))
    svg.resize(top + POS_ROW * len(rows) + 6)
    return svg.render()


def _position_row(svg: Svg, r: Position, cy: float, with_epci: bool) -> None:
    """One indicator: its label, its own scale with the marks of each place, the territory's value and flag."""
    x0, x1 = POS_X0, POS_X1
    lines = _wrap(r.label, 46)
    for n, line in enumerate(lines):
        svg.text(10, cy + 4 + (n - (len(lines) - 1) / 2) * 13, line)
    position_marks(svg, r, cy, (x0, x1), WIDTH - POS_VALUE_W + 6, x1 + 30, with_epci)


@dataclass(frozen=True)
class MarkSizes:
    """The sizes of a positioning row's marks: the screen chart's, or a little smaller in its print twin."""

    france: float = 9.0  # half the height of France's line
    departement: float = 6.0  # the diamond's half-diagonal
    epci: float = 5.0  # half the square's side
    territory: float = 5.5  # the dot's radius
    flag_gap: str = "4"  # between the value and its flag


SCREEN_MARKS = MarkSizes()


def position_marks(
    svg: Svg,
    r: Position,
    cy: float,
    scale_x: tuple[float, float],
    value_x: float,
    empty_x: float,
    with_epci: bool,
    sizes: MarkSizes = SCREEN_MARKS,
) -> None:
    """One indicator's own scale at height `cy` between `scale_x`, the marks of each place on it, the territory's
    value and flag at `value_x` (a dash at `empty_x` when nothing is known)."""
    x0, x1 = scale_x
    known = [v for v in (r.value, r.epci if with_epci else None, r.departement, r.france) if v is not None]
    if not known:
        svg.text(empty_x, cy + 4, f"—{r.mark}", fill=MUTED)
        return
    lo, hi = local_domain(known)

    def scale(v: float) -> float:  # this row's own domain
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    svg.line(x0, x1, cy, cy, GRID, 2)
    for end, anchor, x in ((lo, "end", x0 - 4), (hi, "start", x1 + 4)):  # the line's own scale, at its ends
        svg.text(x, cy + 3.5, F.value(end, r.unit), text_anchor=anchor, font_size=10, fill=MUTED)
    if lo < 0 < hi:
        svg.line(scale(0.0), scale(0.0), cy - 7, cy + 7, MUTED, 0.8)
    f, e = sizes.france, sizes.epci
    if r.france is not None:
        svg.add("rect", x=scale(r.france) - 1.5, y=cy - f, width=3, height=2 * f, fill=FRANCE)
    if r.departement is not None:
        d = _diamond(scale(r.departement), cy, sizes.departement)
        svg.add("path", d=d, fill="#fff", stroke=DEPARTEMENT, stroke_width=2)
    if with_epci and r.epci is not None:
        svg.add(
            "rect", x=scale(r.epci) - e, y=cy - e, width=2 * e, height=2 * e, fill="none", stroke=EPCI, stroke_width=2
        )
    text = f"—{r.mark}"
    if r.value is not None:
        svg.circle(scale(r.value), cy, sizes.territory, TERRITORY)
        text = F.value(r.value, r.unit) + r.mark
    flagged_text(svg, value_x, cy + 4, text, r.flag, sizes.flag_gap, bold=False, font_weight="600")


def flagged_text(
    svg: Svg, x: float, y: float, content: str, flag: str | None, gap: str, bold: bool = True, **attrs
) -> None:
    """A value's text (`svg.text`), then the flag's symbol (! vigilance, !! priorité) in the flag's ink."""
    if flag not in FLAG_SYMBOL:
        svg.text(x, y, content, **attrs)
        return
    value = svg.add("text", None, content, x=float(x), y=float(y), **attrs)
    svg.add("tspan", value, FLAG_SYMBOL[flag], fill=FLAG_INK[flag], dx=gap, font_weight="700" if bold else None)


# -- communes ranked on one indicator ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    flag: str | None = None
    mark: str = ""


@dataclass(frozen=True)
class Reference:
    label: str
    value: float | None
    kind: str  # territory | epci | departement | france


def ranked_order(bars: list[Bar]) -> list[Bar]:
    """Highest value first (ties by name), the places without a value last, by name."""
    known = sorted((b for b in bars if b.value is not None), key=lambda b: (-(b.value or 0.0), b.label))
    return known + sorted((b for b in bars if b.value is None), key=lambda b: b.label)


def ranked_dots(bars: list[Bar], references: list[Reference], unit: str, title: str, ident: str) -> str:
    """Communes sorted by value (empty ones last) on a common scale around their values, with the territory,
    the département and France as vertical lines. Dots rather than bars: bars would have to start at zero, and a
    median income of 23,000 € against 24,000 € would show as two equal bars."""
    width, row, label_w, value_w = WIDTH, 19.0, 190.0, 100.0
    known = [(b.value, b) for b in bars if b.value is not None]
    ordered = ranked_order(bars)
    refs = [r for r in references if r.value is not None]
    lo, hi = local_domain([v for v, _ in known] + [r.value for r in references if r.value is not None] or [0.0])
    x0, x1 = label_w + 16, width - value_w - 10
    scale = lambda v: x0 + (v - lo) / (hi - lo) * (x1 - x0)  # noqa: E731
    description = "; ".join(f"{r.label} : {F.value(r.value, unit)}" for r in refs)
    svg = Svg(width, 100, title, f"Valeur de chaque commune, triée ; repères : {description}.", ident)
    top = (
        _legend(svg, 10, 16, [(f"line-{r.kind}", f"{r.label} : {F.value(r.value, unit)}") for r in refs], width - 10)
        + 16
    )
    bottom = top + row * len(ordered)
    for r in refs:
        colour, dash = REFERENCE_LINES[r.kind]
        svg.line(scale(r.value), scale(r.value), top - 4, bottom, colour, 2, dash)
    for i, b in enumerate(ordered):
        y = top + i * row
        cy = y + row / 2
        svg.text(label_w, cy + 4, _wrap(b.label, 30, 1)[0], text_anchor="end")
        if b.value is None:
            svg.text(width - value_w + 6, cy + 4, f"—{b.mark}", fill=MUTED)
            continue
        svg.line(x0, x1, cy, cy, GRID, 1)
        svg.circle(scale(b.value), cy, 5.5, FLAG_FILL.get(b.flag, BAR) if b.flag else BAR, "#fff", 1)
        flagged_text(svg, width - value_w + 6, cy + 4, F.value(b.value, unit) + b.mark, b.flag, "4", font_size=10.5)
    svg.resize(bottom + 8)
    return svg.render()
