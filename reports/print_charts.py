"""Charts drawn for half an A4 page: the printed report sets them two a row (reports/templates/print.css).

A screen chart is 760 units wide; scaled down to half the printable width (about 348 px) its 11-unit labels would
print at 3.8 pt. These are drawn 360 units wide instead, so that a 10-unit label prints at 7.2 pt and an 11-unit one
at 8 pt: the same marks, colours and values as the screen chart, laid out for the narrow width (a positioning
label above its line rather than beside it, shorter names of places). Each is hidden on screen and replaces its
screen twin in print; the screen charts are unchanged.
"""

from __future__ import annotations

from reports import formats as F
from reports.charts import (
    BAR,
    FLAG_FILL,
    GRID,
    MUTED,
    REFERENCE_LINES,
    SCALE_NOTE,
    Bar,
    MarkSizes,
    Position,
    Reference,
    Svg,
    _legend,
    _wrap,
    flagged_text,
    local_domain,
    position_marks,
    positioning_words,
    ranked_order,
)

PRINT_WIDTH = 360.0  # viewBox width: printed about 348 px wide, so one unit is 0.97 px
PRINT_CLASS = "chart-print"  # hidden on screen, shown in print instead of the screen chart beside it
SMALL = 10  # the smallest label (end values of a scale, values of places): 7.2 pt printed


def as_print_twin(svg: Svg) -> Svg:
    """Mark a chart as the print twin of a screen chart: hidden on screen, and left out of what a screen reader
    reads (its twin has the same title and description), so it carries neither (a smaller page)."""
    svg.attributes["class"] = PRINT_CLASS
    svg.attributes["aria-hidden"] = "true"
    del svg.attributes["aria-labelledby"]
    for tag in ("title", "desc"):
        svg.remove(tag)
    return svg


def _print_svg(height: float, title: str, description: str, ident: str) -> Svg:
    return as_print_twin(Svg(PRINT_WIDTH, height, title, description, ident))


def _note(svg: Svg, y: float, text: str, chars: int = 66) -> float:
    """A muted note wrapped to the width; returns the baseline of its last line."""
    lines = _wrap(text, chars, 4)
    for n, line in enumerate(lines):
        svg.text(6, y + n * 12, line, fill=MUTED, font_size=SMALL)
    return y + (len(lines) - 1) * 12


POS_LABEL_LINE = 12.0  # two lines of label at most, above the indicator's own scale
POS_SCALE = 17.0  # the scale's band under the label
POS_VALUE_W = 70.0  # the territory's value and flag, on the right
POS_X0, POS_X1 = 50.0, PRINT_WIDTH - POS_VALUE_W - 46  # the scale, between its two end values
PRINT_MARKS = MarkSizes(france=8.0, departement=5.5, epci=4.5, territory=5.0, flag_gap="3")


def positioning(
    rows: list[Position], territory: str, departement: str | None, ident: str, epci: str | None = None
) -> str:
    """The positioning chart of `reports.charts.positioning` for half a page: each indicator's name above its own
    scale, the places' marks on the scale, its end values at both ends, the territory's value on the right."""
    title, description, legend = positioning_words(territory, departement, epci)
    svg = _print_svg(100, title, description, ident)
    y = _legend(svg, 6, 14, legend, PRINT_WIDTH - 6)
    y = _note(svg, y + 15, SCALE_NOTE) + 8
    for i, r in enumerate(rows):
        if i:
            svg.line(6.0, PRINT_WIDTH - 6, y, y, GRID, 0.6)
        y = _position_row(svg, r, y, with_epci=bool(epci))
    svg.resize(y + 4)
    return svg.render()


def _position_row(svg: Svg, r: Position, top: float, with_epci: bool) -> float:
    """One indicator from `top`: its name, then its scale and marks; returns the row's bottom."""
    lines = _wrap(r.label, 64)
    for n, line in enumerate(lines):
        svg.text(6, top + 11 + n * POS_LABEL_LINE, line)
    cy = top + len(lines) * POS_LABEL_LINE + POS_SCALE / 2
    bottom = top + len(lines) * POS_LABEL_LINE + POS_SCALE
    value_x = PRINT_WIDTH - POS_VALUE_W + 8
    position_marks(svg, r, cy, (POS_X0, POS_X1), value_x, value_x, with_epci, PRINT_MARKS)
    return bottom


RANK_ROW = 16.0
RANK_LABEL_W, RANK_VALUE_W = 124.0, 66.0


def ranked_dots(bars: list[Bar], references: list[Reference], unit: str, title: str, ident: str) -> str:
    """The communes of `reports.charts.ranked_dots` for half a page: the same order, scale and reference lines,
    names and values at 10 units."""
    ordered = ranked_order(bars)
    known = [b.value for b in bars if b.value is not None]
    refs = [r for r in references if r.value is not None]
    lo, hi = local_domain(known + [r.value for r in refs if r.value is not None] or [0.0])
    x0, x1 = RANK_LABEL_W + 10, PRINT_WIDTH - RANK_VALUE_W - 6
    scale = lambda v: x0 + (v - lo) / (hi - lo) * (x1 - x0)  # noqa: E731
    description = "; ".join(f"{r.label} : {F.value(r.value, unit)}" for r in refs)
    svg = _print_svg(100, title, f"Valeur de chaque commune, triée ; repères : {description}.", ident)
    items = [(f"line-{r.kind}", f"{r.label} : {F.value(r.value, unit)}") for r in refs]
    top = _legend(svg, 6, 14, items, PRINT_WIDTH - 6) + 12
    bottom = top + RANK_ROW * len(ordered)
    for r in refs:
        colour, dash = REFERENCE_LINES[r.kind]
        x = scale(r.value)
        svg.line(x, x, top - 4, bottom, colour, 2, dash)
    for i, b in enumerate(ordered):
        cy = top + i * RANK_ROW + RANK_ROW / 2
        svg.text(RANK_LABEL_W, cy + 3.5, _wrap(b.label, 26, 1)[0], text_anchor="end", font_size=SMALL)
        if b.value is None:
            svg.text(x1 + 8, cy + 3.5, f"—{b.mark}", fill=MUTED, font_size=SMALL)
            continue
        svg.line(x0, x1, cy, cy, GRID, 1)
        fill = FLAG_FILL.get(b.flag, BAR) if b.flag else BAR
        svg.circle(scale(b.value), cy, 4.5, fill, "#fff", 1)
        flagged_text(svg, x1 + 8, cy + 3.5, F.value(b.value, unit) + b.mark, b.flag, "3", font_size=SMALL)
    svg.resize(bottom + 6)
    return svg.render()
