"""Trend charts as inline SVG: an indicator year by year (the territory, its département and France) and the
change of each commune between the baseline and the latest year.

Drawn with the same SVG writer as `reports.charts` (ElementTree: every name from the data is escaped text), in
its colours: the territory dark blue, the département orange dashed, France grey dotted. A year without a value
breaks the line (never joined across a gap). Counts of territories of very different sizes are drawn as an index,
base 100 at the baseline year, so that the territory, its département and France share one scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reports import formats as F
from reports.charts import DEPARTEMENT, FRANCE, GRID, INK, MUTED, TERRITORY, WIDTH, Svg, _num
from reports.print_charts import PRINT_WIDTH, as_print_twin

STYLES = {"territory": (TERRITORY, None, 2.8), "departement": (DEPARTEMENT, "6 3", 2.0), "france": (FRANCE, "2 3", 2.0)}
LEFT, RIGHT, TOP = 64.0, 24.0, 22.0
PLOT_HEIGHT = 170.0


@dataclass(frozen=True)
class Frame:
    """The layout of a trend chart: the screen's (760 units wide), or half a printed page's (PRINT, 360 units, so
    that its 10-unit labels print at 7.2 pt; reports/print_charts.py says why)."""

    width: float = WIDTH
    left: float = LEFT
    plot_height: float = PLOT_HEIGHT
    year_labels: int = 12  # at most about this many year labels
    row: float = 24.0  # a commune's row in `communes_change`
    label_width: float = 210.0  # the communes' names
    name_chars: int = 32  # a longer name is cut, with « … »
    value_width: float = 110.0  # « 61,3 → 58,5 » after a commune's dots
    ident_suffix: str = ""
    year_gap: float = 0.0  # a regular year label this close to the last year's or the baseline's is left out


SCREEN = Frame()
PRINT = Frame(PRINT_WIDTH, 52.0, 118.0, 6, 18.0, 118.0, 21, 76.0, "-print", 30.0)


def _svg(frame: Frame, height: float, title: str, description: str, ident: str) -> Svg:
    svg = Svg(frame.width, height, title, description, ident + frame.ident_suffix)
    return svg if frame is SCREEN else as_print_twin(svg)


@dataclass(frozen=True)
class Line:
    label: str
    kind: str  # territory, departement or france
    points: tuple[tuple[int, float | None], ...]  # (year, value), value None where unknown


def indexed(line: Line, baseline: int) -> Line | None:
    """The line as an index, base 100 at `baseline`; None when the baseline value is unknown or zero."""
    base = dict(line.points).get(baseline)
    if not base:
        return None
    return Line(line.label, line.kind, tuple((y, None if v is None else 100 * v / base) for y, v in line.points))


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step = next(s * step for s in (1, 2, 2.5, 5, 10) if s * step >= raw)
    start = math.floor(low / step) * step
    return [start + i * step for i in range(math.ceil((high - start) / step) + 1)]


def _segments(points: list[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive known points: a gap (None) starts a new segment."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for x, y in points:
        if y is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((x, y))
    return runs + ([current] if current else [])


def trend(lines: list[Line], unit: str, baseline: int | None, title: str, ident: str, frame: Frame = SCREEN) -> str:
    """Lines over the years of the series, the baseline year marked; `unit` formats the axis ("index" for an
    index base 100)."""
    width, left, plot_height = frame.width, frame.left, frame.plot_height
    years = sorted({y for line in lines for y, _ in line.points})
    values = [v for line in lines for _, v in line.points if v is not None]
    description = "; ".join(
        f"{line.label} : " + ", ".join(f"{y} {F.value(v, unit) if v is not None else 'n.d.'}" for y, v in line.points)
        for line in lines
    )
    svg = _svg(frame, 300, title, description, ident)
    if not years or not values:
        svg.text(left, TOP + 20, "Aucune valeur connue sur la période.", fill=MUTED)
        svg.resize(60)
        return svg.render()
    ticks = _ticks(min(values), max(values))
    low, high = ticks[0], ticks[-1]
    span_x = width - left - RIGHT

    def x_of(year):
        return left + (span_x * (year - years[0]) / (years[-1] - years[0]) if len(years) > 1 else span_x / 2)

    def y_of(v):
        return TOP + plot_height * (1 - (v - low) / (high - low))

    for t in ticks:
        svg.line(left, width - RIGHT, y_of(t), y_of(t), GRID, 1)
        svg.text(left - 6, y_of(t) + 4, F.value(t, unit), fill=MUTED, text_anchor="end")
    bottom = TOP + plot_height
    every = max(1, math.ceil(len(years) / frame.year_labels))
    kept = [y for y in (years[-1], baseline) if y in years]
    for n, year in enumerate(years):
        crowded = any(year != k and abs(x_of(year) - x_of(k)) < frame.year_gap for k in kept)
        if (n % every == 0 and not crowded) or year in kept:
            svg.text(x_of(year), bottom + 16, str(year), fill=MUTED, text_anchor="middle")
    if baseline is not None and years[0] <= baseline <= years[-1]:
        svg.line(x_of(baseline), x_of(baseline), TOP - 6, bottom, INK, 1, "3 3")
        svg.text(x_of(baseline) + 4, TOP - 8, f"référence {baseline}", fill=INK, font_size="10")
    for line in lines:
        _draw_line(svg, line, x_of, y_of)
    end = _legend(svg, [(line.kind, line.label) for line in lines], bottom + 40, frame)
    svg.resize(end + 10)
    return svg.render()


def _draw_line(svg: Svg, line: Line, x_of, y_of) -> None:
    colour, dash, width = STYLES[line.kind]
    g = svg.add("g", class_=f"serie serie-{line.kind}")
    for run in _segments([(x_of(y), v) for y, v in line.points]):
        path = " ".join(f"{'M' if n == 0 else 'L'}{_num(x)} {_num(y_of(v))}" for n, (x, v) in enumerate(run))
        svg.add("path", g, d=path, fill="none", stroke=colour, stroke_width=width, stroke_dasharray=dash)
        for x, v in run:
            svg.circle(x, y_of(v), 3.0 if line.kind == "territory" else 2.2, colour, parent=g)


def _legend(svg: Svg, items: list[tuple[str, str]], y: float, frame: Frame = SCREEN) -> float:
    x = frame.left
    for kind, label in items:
        width = 30 + 6.2 * len(label)
        if x > frame.left and x + width > frame.width - RIGHT:
            x, y = frame.left, y + 16
        colour, dash, stroke = STYLES[kind]
        svg.line(x, x + 20, y - 4, y - 4, colour, stroke, dash)
        svg.text(x + 25, y, label, fill=MUTED)
        x += width
    return y


@dataclass(frozen=True)
class Move:
    name: str
    baseline: float | None
    latest: float | None
    note: str = ""  # why a value is missing, in French


def communes_change(
    moves: list[Move], unit: str, baseline: int, latest_year: int, title: str, ident: str, frame: Frame = SCREEN
) -> str:
    """One row per commune: a hollow dot at the baseline, a filled dot at the latest year, joined."""
    row, label_width, chars = frame.row, frame.label_width, frame.name_chars
    known = [v for m in moves for v in (m.baseline, m.latest) if v is not None]
    description = "; ".join(
        f"{m.name} : {F.value(m.baseline, unit) or 'n.d.'} en {baseline}, "
        f"{F.value(m.latest, unit) or 'n.d.'} en {latest_year}"
        for m in moves
    )
    svg = _svg(frame, 100, title, description, ident)
    ticks = _ticks(min(known), max(known)) if known else [0.0, 1.0]
    low, high = ticks[0], ticks[-1]
    x0, x1 = label_width, frame.width - RIGHT - frame.value_width

    def x_of(v):
        return x0 + (x1 - x0) * (v - low) / (high - low)

    top = TOP
    for t in ticks:
        svg.line(x_of(t), x_of(t), top - 6, top + row * len(moves), GRID, 1)
        svg.text(x_of(t), top + row * len(moves) + 14, F.value(t, unit), fill=MUTED, text_anchor="middle")
    for n, m in enumerate(moves):
        y = top + row * n + row / 2
        name = m.name if len(m.name) <= chars else m.name[: chars - 1] + "…"
        svg.text(label_width - 8, y + 4, name, text_anchor="end", font_size=None if frame is SCREEN else "10")
        if m.baseline is None or m.latest is None:
            svg.text(x0, y + 4, m.note or "non disponible", fill=MUTED, font_style="italic")
            continue
        svg.line(x_of(m.baseline), x_of(m.latest), y, y, MUTED, 2)
        svg.circle(x_of(m.baseline), y, 4.5, "#fff", TERRITORY, 1.8)
        svg.circle(x_of(m.latest), y, 4.5, TERRITORY)
        svg.text(
            x_of(max(m.baseline, m.latest)) + 9,
            y + 4,
            f"{F.value(m.baseline, unit)} → {F.value(m.latest, unit)}",
            fill=INK,
            font_size="10",
        )
    legend_y = top + row * len(moves) + 36
    svg.circle(x0 + 5, legend_y - 4, 4.5, "#fff", TERRITORY, 1.8)
    svg.text(x0 + 14, legend_y, f"{baseline} (année de référence)", fill=MUTED)
    second = x0 + (205 if frame is SCREEN else 150)  # the latest year's key, after the baseline's
    svg.circle(second, legend_y - 4, 4.5, TERRITORY)
    svg.text(second + 9, legend_y, str(latest_year), fill=MUTED)
    svg.resize(legend_y + 10)
    return svg.render()
