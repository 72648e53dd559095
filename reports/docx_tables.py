"""The editable document's pages and its tables' column widths.

Pages are A4 with 2 cm margins, as French users print. A table's columns are as wide as their cells' texts need,
estimated from the font's advance widths: each column at least as wide as its longest word (a word is cut by a
regular space or a line break only: U+202F and U+00A0 are the spaces inside figures, `21 600 €`, and never break),
the rest of the text width going to the columns whose longest line is still cut, so that names and figures stay on
one line where the page allows. A table whose words do not fit the portrait page is put on a landscape page of its
own; if even that is too narrow, its widest columns wrap (at word boundaries, unless a single word is wider).
LibreOffice keeps the widths it is given (python-docx's even shares cut a 15-column table's names a letter or two a
line); Word keeps them too with the fixed layout written here.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

# A4, twips: 21 x 29.7 cm, margins of 2 cm
A4_SHORT, A4_LONG, MARGIN = 11906, 16838, 1134
PORTRAIT_WIDTH = A4_SHORT - 2 * MARGIN  # 9 638 twips between the margins, 17 cm
LANDSCAPE_WIDTH = A4_LONG - 2 * MARGIN  # 14 570 twips, 25.7 cm
TABLE_FONT_HALF_POINTS = 18  # 9 pt in tables (the body's 11 pt made a 9-column table's headings wrap mid-word)
CELL_MARGIN = (
    57  # twips each side of a cell's text, 0.1 cm (the "Table Grid" style's 108 cost a 15-column table 0.5 cm a column)
)
# what a column's text width is given beyond its measure: the renderers' rounding and kerning, 1.5 % and 20 twips
SLACK_RATIO, SLACK = 1.015, 20
# a heading's longest line counts up to a third of the portrait text width: a long heading wraps, not its neighbours
# (a body's line counts whole: a column of long definitions takes the width its neighbours' short lines leave)
LONGEST_LINE_CAP = PORTRAIT_WIDTH // 3

# Advance widths in thousandths of an em of Caladea, metric-compatible with Cambria, the template's body font (its
# theme's minor font): LibreOffice substitutes Caladea for Cambria, Word has Cambria. Read from Caladea 2020-02's
# regular and bold faces for the characters the reports write.
MEASURED = (
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
    "«»·ÀÂÇÈÉÊËÎÏÔÙÛÜŒàâäçèéêëîïôöùûüÿœ—–’…€→−≈\u00a0"
)
REGULAR_WIDTHS = (
    220, 286, 393, 619, 506, 890, 687, 237, 382, 382, 427, 554, 205, 329, 206, 490, 517, 362, 472, 461, 492, 475,
    470, 470, 485, 478, 264, 264, 554, 554, 554, 422, 885, 599, 579, 519, 625, 540, 509, 539, 696, 343, 304, 630,
    501, 888, 693, 599, 533, 599, 613, 453, 557, 687, 598, 889, 571, 557, 507, 350, 490, 350, 554, 371, 151, 470,
    520, 421, 520, 441, 313, 459, 554, 277, 255, 525, 271, 813, 558, 480, 520, 501, 396, 392, 325, 546, 470, 720,
    483, 482, 428, 387, 316, 387, 712, 491, 491, 106, 599, 599, 519, 540, 540, 540, 540, 343, 343, 599, 687, 687,
    687, 929, 470, 470, 470, 421, 441, 441, 441, 441, 277, 277, 480, 480, 546, 546, 546, 482, 771, 1000, 500, 221,
    752, 628, 783, 554, 554, 220,
)  # fmt: skip
BOLD_WIDTHS = (
    220, 335, 422, 618, 543, 976, 740, 251, 408, 408, 453, 592, 232, 311, 230, 505, 533, 458, 507, 508, 553, 520,
    538, 494, 556, 534, 280, 280, 592, 592, 592, 452, 921, 653, 634, 551, 664, 559, 534, 586, 719, 358, 340, 680,
    541, 845, 686, 647, 593, 647, 640, 473, 587, 695, 632, 959, 616, 587, 554, 368, 505, 368, 592, 371, 184, 525,
    568, 450, 570, 513, 335, 508, 600, 308, 297, 589, 311, 891, 604, 530, 573, 559, 454, 444, 365, 609, 519, 779,
    525, 521, 464, 393, 320, 393, 592, 531, 531, 140, 653, 653, 551, 559, 559, 559, 559, 358, 358, 647, 695, 695,
    695, 952, 525, 525, 525, 450, 513, 513, 513, 513, 308, 311, 530, 530, 609, 609, 609, 521, 848, 1000, 500, 235,
    772, 640, 783, 592, 592, 220,
)  # fmt: skip
# drawn from a fallback font (Caladea has none of them): the arrows as DejaVu draws them, the narrow no-break space
# as a space, anything else as wide as an em
FALLBACK_WIDTHS = {"↗": 838, "↘": 838, "\u202f": 220, "\t": 2000, "\u00ad": 0}  # a soft hyphen unbroken: nothing
SOFT_HYPHEN = "\u00ad"
SPACE_WIDTH = 220  # a regular space, regular or bold
UNKNOWN_WIDTH = 1000


class _Widths(dict):
    """Advance widths by character, an unknown character as wide as an em."""

    def __missing__(self, character: str) -> int:
        return UNKNOWN_WIDTH


REGULAR = _Widths(zip(MEASURED, REGULAR_WIDTHS, strict=True), **FALLBACK_WIDTHS)
BOLD = _Widths(zip(MEASURED, BOLD_WIDTHS, strict=True), **FALLBACK_WIDTHS)


@functools.lru_cache(maxsize=16384)
def cell_twips(text: str, bold: bool) -> tuple[int, int, int]:
    """(its longest word, its longest line up to `LONGEST_LINE_CAP`, its longest line) of a cell holding `text`,
    twips (`twips_needed`): a report's cells repeat their texts (an EPCI's 5,700 cells hold 2,000)."""
    word, line = text_extent(text, bold)
    line_twips = twips_needed(line)
    return twips_needed(word), min(line_twips, LONGEST_LINE_CAP), line_twips


def text_extent(text: str, bold: bool) -> tuple[int, int]:
    """(its longest word, its longest line) of `text` in thousandths of an em: lines cut at line breaks, words at
    regular spaces, and a word holding soft hyphens (`Démo\u00adgraphie`) as wide as its widest piece and a hyphen."""
    lines = (text.replace("\r", "\n") if "\r" in text else text).split("\n")
    if len(lines) == 1:
        return _line_extent(text, bold)
    words, widths = zip(*map(_line_extent, lines, itertools.repeat(bold)), strict=True)
    return max(words), max(widths)


@functools.lru_cache(maxsize=16384)
def _line_extent(line: str, bold: bool) -> tuple[int, int]:
    """(its longest word, its width) of a line: the cells' lines repeat more than their texts (6 EPCIs' tables hold
    7,400 different texts but 4,800 different lines)."""
    widths = BOLD if bold else REGULAR
    width = sum(map(widths.__getitem__, line))
    if SOFT_HYPHEN in line:
        return max(_unbreakable(word, widths) for word in line.split(" ")), width
    if " " not in line:  # most lines: a figure, its spaces U+202F
        return width, width
    return max(sum(map(widths.__getitem__, word)) for word in line.split(" ")), width


def _unbreakable(word: str, widths: _Widths) -> int:
    """The width `word` takes at least: all of it, or its widest piece between soft hyphens and a hyphen."""
    if SOFT_HYPHEN not in word:
        return sum(map(widths.__getitem__, word))
    *broken, last = word.split(SOFT_HYPHEN)
    hyphen = widths["-"]
    return max(sum(map(widths.__getitem__, last)), *(sum(map(widths.__getitem__, p)) + hyphen for p in broken))


def twips_needed(thousandths_of_em: int) -> int:
    """The width of a cell whose text is `thousandths_of_em` wide in the tables' font, its margins and slack added."""
    text = thousandths_of_em * TABLE_FONT_HALF_POINTS / 100  # an em is 10 twips a half-point
    return round(text * SLACK_RATIO) + SLACK + 2 * CELL_MARGIN


@dataclass(frozen=True)
class Layout:
    """A table's column widths (twips) and page: landscape when its words do not fit a portrait page."""

    columns: tuple[int, ...]
    landscape: bool


def table_layout(cells: list[list[tuple]], width: int, header_rows: int = 0) -> Layout:
    """The layout of a table of `width` columns whose rows hold `cells`, each (text, columns spanned, a heading?,
    anything), its first `header_rows` rows the columns' headings. A heading, or a cell across the table, is bold."""
    levels = _needs(cells, width, header_rows)
    landscape = sum(levels[0]) > PORTRAIT_WIDTH
    available = LANDSCAPE_WIDTH if landscape else PORTRAIT_WIDTH
    return Layout(_whole_twips(_shared(levels, available), available), landscape)


def _needs(cells: list[list[tuple]], width: int, header_rows: int) -> list[list[float]]:
    """Each column's widths, twips, from the least to the most it wants: its longest word; its longest line of the
    body's rows (names, figures, definitions); its longest line, its headings' too. A heading's line, or a spanning
    cell's, counts up to `LONGEST_LINE_CAP` a column. A cell spanning columns needs its width from them together:
    what they lack shared evenly over its span."""
    minimum: list[float] = [2 * CELL_MARGIN] * width
    body: list[float] = [2 * CELL_MARGIN] * width
    headings: list[float] = [2 * CELL_MARGIN] * width
    spanning = []
    for r, row in enumerate(cells):
        in_headings = r < header_rows
        lines = headings if in_headings else body
        column = 0
        for text, span, heading, _ in row:
            if column >= width:
                break
            word, line, whole_line = cell_twips(text, heading or span == width)
            if span == 1:  # most cells: compared here, not through `max` (an EPCI's 5,700 cells)
                if word > minimum[column]:
                    minimum[column] = word
                if not in_headings:
                    line = whole_line
                if line > lines[column]:
                    lines[column] = line
            else:
                span = min(span, width - column)
                line = min(whole_line, LONGEST_LINE_CAP * span)
                spanning.append((column, span, word, line, in_headings))
            column += span
    levels = [minimum, body, [max(h, b) for h, b in zip(headings, body, strict=True)]]
    for column, span, word, line, heading in sorted(spanning, key=lambda cell: cell[1]):
        _widen(minimum, column, span, word)
        if not heading:
            _widen(body, column, span, line)
        _widen(levels[2], column, span, line)
    for lower, higher in itertools.pairwise(levels):  # each level at least the one below
        higher[:] = [max(h, low) for h, low in zip(higher, lower, strict=True)]
    return levels


def _widen(widths: list[float], column: int, span: int, need: int) -> None:
    """Widen the `span` columns from `column` evenly so that together they are at least `need` wide."""
    lacking = need - sum(widths[column : column + span])
    if lacking > 0:
        for n in range(column, column + span):
            widths[n] += lacking / span


def _shared(levels: list[list[float]], available: int) -> list[float]:
    """The columns' widths filling `available`: the most they want, and the rest in proportion to it, when it fits;
    else the highest level that fits, and the rest in proportion to what each column lacks for the next level; else
    (words too wide even for the page) the widest columns cut down to one width, as narrow as it must be, so that
    they wrap."""
    if sum(levels[-1]) <= available:
        return [w * available / sum(levels[-1]) for w in levels[-1]]
    for lower, higher in reversed(list(itertools.pairwise(levels))):
        if sum(lower) <= available:
            lacking = [h - low for h, low in zip(higher, lower, strict=True)]
            rest = available - sum(lower)
            return [low + rest * lack / sum(lacking) for low, lack in zip(lower, lacking, strict=True)]
    return [min(m, _cut_width(levels[0], available)) for m in levels[0]]


def _cut_width(minimum: list[float], available: int) -> float:
    """The width w such that the columns, none wider than w, fill `available`."""
    narrower = 0.0
    ordered = sorted(minimum)
    for n, width in enumerate(ordered):
        cut = (available - narrower) / (len(ordered) - n)
        if cut <= width:
            return cut
        narrower += width
    return float(ordered[-1])


def _whole_twips(widths: list[float], total: int) -> tuple[int, ...]:
    """`widths` rounded to whole twips adding up to `total` (each rounded where the running sum falls)."""
    rounded, running, previous = [], 0.0, 0
    for width in widths:
        running += width
        edge = min(round(running), total)
        rounded.append(edge - previous)
        previous = edge
    rounded[-1] += total - previous
    return tuple(rounded)


# -- sections ------------------------------------------------------------------------------------------------------


def page_properties(*, landscape: bool) -> str:
    """The page size and margins of a section (`w:pgSz`, `w:pgMar`), A4 with 2 cm margins, as python-docx's
    `section.orientation`, `page_width`, `page_height` and margins write them."""
    size = (
        f'<w:pgSz w:w="{A4_LONG}" w:h="{A4_SHORT}" w:orient="landscape"/>'
        if landscape
        else f'<w:pgSz w:w="{A4_SHORT}" w:h="{A4_LONG}"/>'
    )
    margins = (
        f'<w:pgMar w:top="{MARGIN}" w:right="{MARGIN}" w:bottom="{MARGIN}" w:left="{MARGIN}" w:header="720"'
        ' w:footer="720" w:gutter="0"/>'
    )
    return size + margins


def section_break(*, landscape: bool) -> str:
    """The paragraph ending a section of A4 pages, landscape or portrait, as python-docx's `document.add_section()`
    writes it (the template's section properties cloned, less their attributes)."""
    properties = page_properties(landscape=landscape) + '<w:cols w:space="720"/><w:docGrid w:linePitch="360"/>'
    return f"<w:p><w:pPr><w:sectPr>{properties}</w:sectPr></w:pPr></w:p>"
