"""Colour contrast of the report (WCAG 2.1, level AA): text at least 4.5:1 against what it sits on, the marks of a
chart (dots, diamonds, ticks, bars) at least 3:1.

`contrast(a, b)` is WCAG's ratio of relative luminances; `TEXT_PAIRS` lists the report's text colours with the
backgrounds they are drawn on (CSS variables of report.css by name, or colours), so a test checks every pair and
a palette change that breaks one fails there. The charts' colours are checked on the SVG itself
(tests/test_report_contrast.py).
"""

from __future__ import annotations

import re
from functools import cache

from reports import charts
from reports.sections.needs_matrix import MATRIX_FILL
from reports.tables import FLAG_FILL

TEXT_MIN, GRAPHIC_MIN = 4.5, 3.0
CSS_PATH = "templates/report.css"

# (what, text colour, background): a name is a CSS variable of report.css's :root
TEXT_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("body text", "ink", "paper"),
    ("notes, sources, units (grey)", "muted", "paper"),
    ("an empty cell's « — » and its mark", "muted", "paper"),
    ("grey text of a table header", "muted", "#f2f5f8"),
    ("grey text of a row group", "muted", "#e8eef4"),
    ("« À retenir » heading", "orange-ink", "#f7f9fb"),
    ("footnote mark", "blue-2", "paper"),
    ("footnote mark in a vigilance cell", "blue-2", FLAG_FILL["vigilance"]),
    ("matrix: no flag « · »", "muted", "paper"),
    *((f"matrix: vigilance count on tint {n}", "vig-ink", fill) for n, fill in MATRIX_FILL.items() if fill),
    *((f"matrix: priorité count on tint {n}", "prio-ink", fill) for n, fill in MATRIX_FILL.items() if fill),
    ("a vigilance cell's value", "ink", FLAG_FILL["vigilance"]),
    ("a priorité cell's value", "ink", FLAG_FILL["priorité"]),
    ("vigilance badge « ! »", "#3b2600", "#e0a526"),
    ("priorité badge « !! »", "#ffffff", "#b8332a"),
    ("chart: value labels and end values of a scale", charts.MUTED, "#ffffff"),
    *((f"chart: flag symbol {flag}", ink, "#ffffff") for flag, ink in charts.FLAG_INK.items()),
    ("chart: « Femmes »", charts.WOMEN, "#ffffff"),
    ("chart: « Hommes »", charts.MEN, "#ffffff"),
)


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG relative luminance of `#rrggbb` (or `#rgb`): 0.2126 R + 0.7152 G + 0.0722 B of linearised sRGB."""
    hexa = colour.lstrip("#")
    if len(hexa) == 3:
        hexa = "".join(c * 2 for c in hexa)
    r, g, b = (_channel(int(hexa[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05), the lighter over the darker: 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@cache
def css_variables() -> dict[str, str]:
    """The colour variables of report.css's :root (`--muted: #5b6673` -> {"muted": "#5b6673"})."""
    from importlib.resources import files

    text = files("reports").joinpath(CSS_PATH).read_text(encoding="utf-8")
    found = re.search(r":root\s*\{(.*?)\}", text, re.S)
    if found is None:
        raise ValueError(f"{CSS_PATH} has no :root block")
    root = found.group(1)
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})", root))


def resolve(colour: str) -> str:
    return colour if colour.startswith("#") else css_variables()[colour]


def failing_text_pairs() -> list[tuple[str, float]]:
    """(what, ratio) of every pair of TEXT_PAIRS under 4.5:1."""
    out = []
    for what, fg, bg in TEXT_PAIRS:
        ratio = contrast(resolve(fg), resolve(bg))
        if ratio < TEXT_MIN:
            out.append((what, round(ratio, 2)))
    return out
