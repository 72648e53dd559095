"""great-tables tables of the report: one or more per theme (places in rows, indicators in columns), and the look
every table shares. Every table has a fixed id, so two builds on the same data give the same HTML.

great-tables formats the numbers in French (its `locale="fr"` marks: decimal comma, U+202F between thousands)
and the missing values (`sub_missing`), and escapes every value from the data; `cols_merge` lays each cell's parts
out in a pattern chosen by the cell's shape (flag, mark, count, evolution), whose only text is our own constants.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from html import escape, unescape
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import polars as pl

from reports import formats as F
from reports import notes as N
from reports.view import COMMUNES, Place, TerritoryView
from transforms.compare import PRIORITY, VIGILANCE
from transforms.registry import THEMES, Indicator

if TYPE_CHECKING:  # great-tables (with numpy) is imported by the first table drawn: a report starts drawing its
    # pictures before (reports.pictures), so the import overlaps with them
    from great_tables import GT

MAX_COLUMNS = 6  # indicators per table: six columns of 8 pt figures and the names fit an A4 page width
FLAG_FILL = {VIGILANCE: "#fdf0d2", PRIORITY: "#f8d9d5"}
FLAG_SYMBOL = {VIGILANCE: "!", PRIORITY: "!!"}
# a commune or an EPCI is compared with its département, a département with France (transforms.compare)
FLAG_TITLE = {
    VIGILANCE: "Point de vigilance : plus défavorable que la référence (le département ; la France pour "
    "un département)",
    PRIORITY: "Priorité : nettement plus défavorable que le département et la France",
}
CODE, COUNT, EVOLUTION = ":code", ":effectif", ":evolution"  # helper columns, merged into the cells
# great-tables' French locale (`locale="fr"`: U+202F between thousands, decimal comma; U+2212 minus): the same
# marks given directly, because great-tables 1.1 reads its whole locale file again at every `locale=` call (3 s per
# report instead of 0.25 s). tests/test_reports_units.py checks they format exactly as `locale="fr"` does.
FRENCH = {"sep_mark": F.NNBSP, "dec_mark": ","}
FONT = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "Liberation Sans", "sans-serif"]


def chunks(items: list, size: int = MAX_COLUMNS) -> list[list]:
    """Split into the fewest tables of at most `size` columns, as even as possible (11 -> 4, 4, 3)."""
    if not items:
        return []
    n = math.ceil(len(items) / size)
    base, extra = divmod(len(items), n)
    out, start = [], 0
    for k in range(n):
        end = start + base + (1 if k < extra else 0)
        out.append(items[start:end])
        start = end
    return out


# a two-sided indicator (population growth) is flagged for a marked gap either way: never « plus défavorable »
FLAG_TITLE_TWO_SIDED = {
    VIGILANCE: "Point de vigilance : écart marqué avec la référence (le département ; la France "
    "pour un département), à la hausse ou à la baisse",
    PRIORITY: "Priorité : écart nettement marqué, dans le même sens, avec le département et la France",
}


def flag_badge(flag: str | None, direction: str = "") -> str:
    if flag not in FLAG_SYMBOL:
        return ""
    kind = "p" if flag == PRIORITY else "v"
    title = (FLAG_TITLE_TWO_SIDED if direction == "two_sided" else FLAG_TITLE)[flag]
    return (
        f'<span class="flag flag-{kind}" title="{escape(title)}">{FLAG_SYMBOL[flag]}'
        f'<span class="sr"> {escape(flag)}</span></span>'
    )


def mark_html(reason: str | None) -> str:
    m = N.mark(reason)
    if not m or reason is None:  # no reason, no mark
        return ""
    return f'<sup class="mk" title="{escape(N.label(reason))}">{escape(m)}</sup>'


def cell_pattern(indicator: Indicator, shape: tuple) -> str:
    """The HTML around great-tables' formatted values in one cell: {0} the value (« — » when missing), {1} the
    place's code, {2} the count, {3} the evolution. great-tables formats and escapes those; the pattern itself
    holds only our own constants (flag, mark and its French reason)."""
    return _cell_pattern(indicator.id, indicator.direction, shape)


@lru_cache(maxsize=4096)
def _cell_pattern(indicator_id: str, direction: str, shape: tuple) -> str:
    """`cell_pattern`, written once per indicator and shape (a report has 12,000 cells of a few hundred shapes)."""
    flag, reason, missing, has_count, has_evolution = shape
    attrs = f'class="c" data-indicator="{escape(indicator_id)}" data-code="{{1}}"'
    if missing:
        return f'<div {attrs}><span class="v miss">{{0}}{mark_html(reason)}</span></div>'
    parts = [f'<span class="l1">{flag_badge(flag, direction)}<span class="v">{{0}}{mark_html(reason)}</span></span>']
    if has_count:
        parts.append('<span class="n">{2}</span>')
    if has_evolution:
        parts.append('<span class="ev">{3}</span>')
    return f"<div {attrs}>{''.join(parts)}</div>"


def cell_shape(row: dict | None, indicator: Indicator) -> tuple:
    """(flag, reason of the mark, missing, count shown, evolution shown): cells of one shape share a pattern."""
    if row is None:  # the indicator has no row for this place: treated as not available
        row = {"value": None, "status": N.R.NOT_AVAILABLE}
    value = row.get("value")
    reason = N.cell_reason(value, row.get("status"))
    if value is None:
        return None, reason, True, False, False
    has_count = indicator.unit != "count" and row.get("numerator") is not None and indicator.kind == "ratio"
    flag = row.get("flag") if row.get("flag") in FLAG_SYMBOL else None
    return flag, reason, False, has_count, row.get("evolution") is not None


def header_html(indicator: Indicator, year: int | None, comparison_year: int | None = None) -> str:
    """Label, unit and year; a growth rate is a mean over a period, so its header gives the period."""
    hint = F.UNIT_HINTS.get(indicator.unit, "")
    if "pour 100" in indicator.label:  # « (pour 100 ménages) » says it already
        hint = ""
    if indicator.unit == "percent_per_year" and year and comparison_year:
        when = f", {comparison_year}-{year}"
    else:
        when = f", {year}" if year else ""
    no_evolution = mark_html(N.R.DEFINITION_CHANGE) if not indicator.evolution else ""
    return (
        f'<span class="h-l">{escape(F.typography(indicator.label))}{no_evolution}</span>'
        f'<span class="h-u">{escape((hint + when).removeprefix(", "))}</span>'
    )


def _year(view: TerritoryView, indicator: Indicator, column: str = "year") -> int | None:
    years = [year for r in view.column(indicator.id) if r and (year := r.get(column))]
    return max(years) if years else None


def group_label(view: TerritoryView, place: Place) -> str:
    if place.group == COMMUNES and len(view.units) == 1:
        return "Arrondissement" if place.level == "ARM" else "Commune"
    return place.group


def _table_frame(view: TerritoryView, items: list[Indicator]) -> pl.DataFrame:
    """Places in rows; per indicator its value, count and evolution (text), merged into one cell by `_cells`."""
    data: dict[str, pl.Series] = {
        "groupe": pl.Series([group_label(view, p) for p in view.places], dtype=pl.String),
        "lieu": pl.Series([p.display for p in view.places], dtype=pl.String),
        CODE: pl.Series([p.code for p in view.places], dtype=pl.String),
    }
    for ind in items:
        rows = [view.cell(p, ind.id) for p in view.places]
        shapes = [cell_shape(r, ind) for r in rows]
        # a place without a row has the missing shape (no count, no evolution): its row is never read
        data[ind.id] = pl.Series(
            [None if s[2] or r is None else r["value"] for r, s in zip(rows, shapes)], dtype=pl.Float64
        )
        data[f"{ind.id}{COUNT}"] = pl.Series(
            [r["numerator"] if s[3] and r is not None else None for r, s in zip(rows, shapes)], dtype=pl.Float64
        )
        data[f"{ind.id}{EVOLUTION}"] = pl.Series(
            [
                F.evolution(r["evolution"], r.get("evolution_unit"), ind.unit) if s[4] and r is not None else None
                for r, s in zip(rows, shapes)
            ],
            dtype=pl.String,
        )
    return pl.DataFrame(data)


def _cells(gt: GT, view: TerritoryView, items: list[Indicator]) -> GT:
    """great-tables formats the numbers (French locale) and the missing values, then merges each cell's parts
    into the pattern of its shape."""
    for ind in items:
        count, evolution = f"{ind.id}{COUNT}", f"{ind.id}{EVOLUTION}"
        gt = (
            gt.fmt_number(
                columns=ind.id,
                decimals=F.DECIMALS.get(ind.unit, 1),
                sep_mark=FRENCH["sep_mark"],
                dec_mark=FRENCH["dec_mark"],
                pattern="{x}" + F.SUFFIX.get(ind.unit, ""),
                force_sign=ind.unit == "percent_per_year",
            )
            .sub_missing(columns=ind.id, missing_text="—")
            .fmt_integer(columns=count, sep_mark=FRENCH["sep_mark"])
        )
        by_shape: dict[tuple, list[int]] = {}
        for i, p in enumerate(view.places):
            by_shape.setdefault(cell_shape(view.cell(p, ind.id), ind), []).append(i)
        for shape, rows in by_shape.items():
            gt = gt.cols_merge(columns=[ind.id, CODE, count, evolution], rows=rows, pattern=cell_pattern(ind, shape))
    return gt.cols_hide(CODE)


def _fills(gt: GT, view: TerritoryView, items: list[Indicator]) -> GT:
    """Flagged cells get a tint as well as their symbol (never colour alone)."""
    from great_tables import loc, style

    for ind in items:
        for flag, colour in FLAG_FILL.items():
            rows = [i for i, p in enumerate(view.places) if (r := view.cell(p, ind.id)) and r.get("flag") == flag]
            if rows:
                gt = gt.tab_style(style.fill(colour), loc.body(columns=ind.id, rows=rows))
    return gt


def distinct_sources(labels: list[str | None]) -> list[str]:
    """`Cnaf, allocataires 2024 ; Insee, recensement 2022` and `Insee, recensement 2022` -> each source once."""
    out: list[str] = []
    for text in labels:
        for part in (text or "").split(" ; "):
            if part.strip() and part.strip() not in out:
                out.append(part.strip())
    return out


def source_note(view: TerritoryView, items: list[Indicator], geography: str) -> str:
    """Sources with their vintages, the geography, and the marks used in this table."""
    sources = distinct_sources([r.get("source") for ind in items for r in view.column(ind.id) if r])
    reasons = [N.cell_reason(r.get("value"), r.get("status")) for ind in items for r in view.column(ind.id) if r]
    reasons += [N.R.DEFINITION_CHANGE for ind in items if not ind.evolution]
    text = f"Sources : {escape(' ; '.join(sources) or 'non renseignées')}. {escape(geography)}"
    legend = N.legend(reasons)
    if legend:
        text += (
            '<br><span class="legend">'
            + " · ".join(f'<sup class="mk">{escape(m)}</sup>&#8239;{escape(label)}' for m, label in legend)
            + "</span>"
        )
    covered = coverage_note(view, items)
    if covered:
        text += '<br><span class="legend">' + escape(covered) + "</span>"
    return text


def coverage_text(share: float) -> str:
    """0.9997 -> `plus de 99,9 %` (never a rounded `100,0 %` for a value that leaves communes out); 0.955 -> `95,5 %`."""
    if share * 100 >= 99.95:
        return "plus de " + F.value(99.9, "percent")
    return F.value(share * 100, "percent")


def coverage_note(view: TerritoryView, items: list[Indicator]) -> str:
    """What each value computed without its secret communes covers: « hs : France, 99,8 % de la population »."""
    shares: dict[str, list[str]] = {}
    for ind in items:
        for p, row in zip(view.places, view.column(ind.id)):
            if row and row.get("status") == N.R.PARTIAL_SECRET and row.get("coverage") is not None:
                share = coverage_text(row["coverage"])
                shares.setdefault(p.display, [])
                if share not in shares[p.display]:
                    shares[p.display].append(share)
    if not shares:
        return ""
    parts = [f"{place}, {' ou '.join(values)} de la population" for place, values in shares.items()]
    return f"hs : hors communes au secret statistique, les valeurs couvrent {' ; '.join(parts)}."


# -- parts sized for the printed page -----------------------------------------------------------------------------
# A theme's indicators go into as few tables as fit the printed A4 width with each row on one line (print.css):
# 718 px, less 22 % for the names of places. Widths are estimated from the cells' text in printed px, with
# Arial's metrics (print.css prints in that face) rounded up: a bold value at 8.5 pt, a count and an evolution at
# 7 pt, a flag badge, a mark; a header needs at least its longest word (7.6 pt bold).
PRINT_TABLE_PX = 718 * 0.78 - 4
VALUE_CHAR_PX, NOTE_CHAR_PX, HEADER_CHAR_PX = 11.33 * 0.5, 9.33 * 0.46, 10.13 * 0.56
CELL_PAD_PX, GAP_PX, FLAG_PX, MARK_PX = 6.0, 3.4, 18.0, 12.0
MAX_PRINT_COLUMNS = 8  # more columns would wrap their headers over five lines


class CellText(NamedTuple):
    """A cell's shape (`cell_shape`) and its texts, formatted once for both its printed width and its HTML (a
    named tuple: a report makes 3,000 to 9,000, each made in half a frozen dataclass's time, 1.4 µs against 2.7)."""

    shape: tuple
    value: str  # the value formatted, « — » when missing
    counted: str  # the count formatted, empty when the cell shows none (`count` is a tuple's method)
    evolution: str  # the evolution formatted (not escaped), empty when the cell shows none


def cell_text(row: dict | None, indicator: Indicator) -> CellText:
    shape = cell_shape(row, indicator)
    _, _, missing, has_count, has_evolution = shape
    if missing or row is None:  # no row is a missing cell (cell_shape): neither count nor evolution
        return CellText(shape, "—", "", "")
    count = F.count(row["numerator"]) if has_count else ""
    evolution = F.evolution(row["evolution"], row.get("evolution_unit"), indicator.unit) if has_evolution else ""
    return CellText(shape, F.value(row["value"], indicator.unit), count, evolution)


def theme_cells(view: TerritoryView, items: list[Indicator]) -> dict[str, list[CellText]]:
    """Indicator id -> its cells in the order of the places: formatted once for the parts and the tables."""
    return {i.id: [cell_text(row, i) for row in view.column(i.id)] for i in items}


def cell_width_px(row: dict | None, indicator: Indicator) -> float:
    """The printed width of a cell on one line: value (with its flag and mark), count, evolution."""
    return text_width_px(cell_text(row, indicator))


def text_width_px(cell: CellText) -> float:
    """`cell_width_px` of a cell's formatted texts."""
    flag, reason, missing, has_count, has_evolution = cell.shape
    width = CELL_PAD_PX + (MARK_PX if N.mark(reason) and reason else 0.0) + (FLAG_PX if flag else 0.0)
    if missing:
        return width + VALUE_CHAR_PX
    width += VALUE_CHAR_PX * len(cell.value)
    if has_count:
        width += GAP_PX + NOTE_CHAR_PX * len(cell.counted)
    if has_evolution:
        width += GAP_PX + NOTE_CHAR_PX * len(cell.evolution)
    return width


def column_width_px(view: TerritoryView, indicator: Indicator) -> float:
    """The narrowest printed column that holds every cell on one line and the header's longest word."""
    return _column_width_px(indicator, theme_cells(view, [indicator])[indicator.id])


def _column_width_px(indicator: Indicator, cells: list[CellText]) -> float:
    words = F.typography(indicator.label).split() + (F.UNIT_HINTS.get(indicator.unit, "") or "").split()
    header = CELL_PAD_PX + HEADER_CHAR_PX * max((len(w) for w in words), default=1)
    return max([header] + [text_width_px(cell) for cell in cells])


def table_parts(
    view: TerritoryView, items: list[Indicator], cells: dict[str, list[CellText]] | None = None
) -> list[list[Indicator]]:
    """The fewest tables whose columns fit the printed width, in the catalogue's order, as even as that allows
    (a narrow column of counts lets a table take seven or eight indicators; wide ones, fewer than six).
    `cells`: the items' `theme_cells`, when formatted already."""
    cells = cells or theme_cells(view, items)
    parts = pack([_column_width_px(i, cells[i.id]) for i in items], PRINT_TABLE_PX, MAX_PRINT_COLUMNS)
    return [[items[k] for k in part] for part in parts]


def pack(widths: list[float], budget: float, most: int) -> list[list[int]]:
    """Positions of `widths` in order, in the fewest runs of at most `most` whose sum fits `budget` (a wider one
    alone), evened out when even runs fit too (8 narrow columns and 2: two tables of 5)."""
    greedy: list[list[int]] = []
    for n, width in enumerate(widths):
        last = greedy[-1] if greedy else None
        if last and len(last) < most and sum(widths[k] for k in last) + width <= budget:
            last.append(n)
        else:
            greedy.append([n])
    even = chunks(list(range(len(widths))), math.ceil(len(widths) / len(greedy))) if greedy else []
    fits = len(even) == len(greedy) and all(sum(widths[k] for k in part) <= budget for part in even)
    return even if fits else greedy


def theme_tables(
    view: TerritoryView, theme: str, items: list[Indicator], comparison_year: int | None, geography: str
) -> list[str]:
    """The tables of one theme, as HTML fragments (ids `tableau-<theme>-<n>`)."""
    out = []
    cells = theme_cells(view, items)
    parts = table_parts(view, items, cells)
    for n, chunk in enumerate(parts, start=1):
        spec = table_spec(view, theme, chunk, comparison_year, geography, n, len(parts))
        out.append(print_wrapped(render_table(view, spec, cells), len(view.places)))
    return out


@dataclass(frozen=True)
class TableSpec:
    """What one table shows besides its cells: id, title, subtitle, column headers (HTML) and source note (HTML)."""

    id: str
    items: tuple[Indicator, ...]
    title: str
    subtitle: str
    headers: tuple[str, ...]
    note: str


def table_spec(
    view: TerritoryView,
    theme: str,
    chunk: list[Indicator],
    comparison_year: int | None,
    geography: str,
    n: int,
    parts: int,
) -> TableSpec:
    title = THEMES[theme] + (f" ({n}/{parts})" if parts > 1 else "")
    has_evolution = any(r and r.get("evolution") is not None for i in chunk for r in view.column(i.id))
    has_counts = any(i.kind == "ratio" and i.unit != "count" for i in chunk)
    subtitle = "Valeur de l'indicateur" + (", effectif concerné (en gris)" if has_counts else "")
    if has_evolution and comparison_year:
        subtitle += f", évolution depuis {comparison_year} (↗ ↘, ≈ stable)"
    subtitle += " · ! vigilance, !! priorité"
    headers = tuple(header_html(i, _year(view, i), _year(view, i, "comparison_year") or comparison_year) for i in chunk)
    return TableSpec(
        f"tableau-{theme}-{n}", tuple(chunk), title, subtitle, headers, source_note(view, chunk, geography)
    )


def _column_width(n_columns: int, stub_percent: int = 22) -> str:
    """Each column's share of the width the names of places leave."""
    return f"{(100 - stub_percent) / n_columns:.2f}%"


def gt_table(view: TerritoryView, spec: TableSpec) -> str:
    """The table drawn by great-tables cell by cell (numbers formatted, cells merged and filled by great-tables):
    the reference `render_table` gives the same HTML as, much faster (tests/test_report_tables_fast.py)."""
    from great_tables import GT, html

    chunk = list(spec.items)
    gt = (
        GT(_table_frame(view, chunk), rowname_col="lieu", groupname_col="groupe", id=spec.id)
        .tab_header(title=spec.title, subtitle=spec.subtitle)
        .cols_label({i.id: html(h) for i, h in zip(chunk, spec.headers)})
        .pipe(_cells, view, chunk)
        .cols_align("right", columns=[i.id for i in chunk])
        .cols_width({"lieu": "22%", **{i.id: _column_width(len(chunk)) for i in chunk}})
        .tab_source_note(html(spec.note))
        .pipe(_fills, view, chunk)
        .pipe(house_style)
    )
    return gt.as_raw_html()


# -- the same table, great-tables drawing only its frame ----------------------------------------------------------
# great-tables formats, escapes, merges and styles a table one cell at a time (about 13,000 calls for the tables of
# an EPCI of 30 communes, most of a report's sections time). Every table of a report has the same rows (its places)
# and differs only in its texts and cells, so great-tables draws their frame with markers in place of every text
# and cell (`frame_html`), names of groups and places included: a frame depends only on the shape of its rows
# (`row_shape`), which many territories share. It is drawn once per shape and kept in the user's cache folder
# between commands, so that a report whose shapes were seen before never imports great-tables (0.2 s of CPU) nor
# draws (0.1 s per EPCI report). `render_table` puts the texts (escaped as great-tables escapes them, the ids of
# rows as great-tables derives them from names), the cells (formatted by reports.formats, which formats exactly
# as great-tables' fmt_number does) and the tints in the markers' place.
MARK = "gtmark"  # letters only: great-tables keeps them in the ids it derives from names (the table's, a column's)
# a cell's marker with the attributes great-tables gives its <td>; a tint goes first, as great-tables puts it
CELL_TD = r'<td (headers="[^"]*" class="[^"]*")>' + MARK + r"c(\d+)_(\d+)" + MARK + "</td>"
CELL_SLOT = re.compile(CELL_TD)
MARKER_NAMES = re.compile(r"[a-z][a-z0-9_]*(?:\n[a-z][a-z0-9_]*)*")  # a text's markers' names, one a line


def _marker(name: str) -> str:
    return f"{MARK}{name}{MARK}"


@dataclass(frozen=True)
class FrameLayout:
    """How a frame lays its columns out: the share of the width for the names of places (%), the rest split evenly
    between the columns, aligned alike."""

    stub_percent: int
    align: str


THEME_LAYOUT = FrameLayout(22, "right")


def row_shape(groups: tuple[str, ...]) -> tuple[int, ...]:
    """Each row's group, numbered in the order the groups first appear: all great-tables' layout of the rows
    depends on (it draws a group's rows together under one heading, the groups in that order)."""
    numbers: dict[str, int] = {}
    return tuple(numbers.setdefault(group, len(numbers)) for group in groups)


@lru_cache(maxsize=64)
def frame_html(shape: tuple[int, ...], n_columns: int, layout: FrameLayout = THEME_LAYOUT) -> str:
    """great-tables' HTML of a table of rows of this shape and `n_columns` columns, every text and cell a marker
    (`t` title, `s` subtitle, `n` note, `h<k>` header, `i` the table id, `k<k>` a column's id, `c<row>_<k>` a cell,
    and the texts of `row_texts`).

    great-tables draws the rows once with one column (`_one_column_frame`); `n_columns` repeat its lines, which
    great-tables writes alike for every column (an EPCI report's theme tables: 0.21 s of CPU down to 0.11 s)."""
    width = _column_width(n_columns, layout.stub_percent)

    def column(k: int) -> Callable[[re.Match], str]:
        return lambda m: width if m.group(1) == "w" else _marker(f"{m.group(1)}{k}")

    lines: list[str] = []
    for line in _one_column_frame(shape, layout).splitlines(keepends=True):
        if COLUMN_ZERO.search(line):
            lines += [COLUMN_ZERO.sub(column(k), line) for k in range(n_columns)]
        else:
            lines.append(line)
    # the title, subtitle, group and note rows span the names and every column; no text from the data is in
    # the frame
    return "".join(lines).replace(f'colspan="{ONE_COLUMN_SPAN}"', f'colspan="{n_columns + 1}"')


ONE_COLUMN_SPAN = 2  # the names of places and the one column
COLUMN_ZERO = re.compile(MARK + r"([khw]|c\d+_)0" + MARK)  # a marker of the one column: id, header, width, cell
# the ids great-tables derives from a group's name (its marker `g<j>`) and from a row's number (`stub-<row + 1>`),
# prefixed by the table's id: made whole markers (`d<j>`, `r<row>`), filled by `row_texts`
ROW_ID = re.compile(_marker("i") + r"-(?:stub-(\d+)|" + MARK + r"g(\d+)" + MARK + ")")


@lru_cache(maxsize=32)
def _one_column_frame(shape: tuple[int, ...], layout: FrameLayout) -> str:
    """`_drawn_frame`, from the cache folder when drawn before (by this great-tables, with this code)."""
    path = _frame_path(shape, layout)
    frame = _read_frame(path) if path else None
    if frame is None:
        frame = _drawn_frame(shape, layout)
        if path:
            _write_frame(path, frame)
    return frame


def _drawn_frame(shape: tuple[int, ...], layout: FrameLayout) -> str:
    """great-tables' HTML of a table of rows of this shape and one column, its width a marker (`w0`) as well."""
    from great_tables import GT, html

    column = _marker("k0")
    frame = pl.DataFrame(
        {
            "groupe": pl.Series([_marker(f"g{group}") for group in shape], dtype=pl.String),
            "lieu": pl.Series([_marker(f"p{r}") for r in range(len(shape))], dtype=pl.String),
            column: pl.Series([_marker(f"c{r}_0") for r in range(len(shape))], dtype=pl.String),
        }
    )
    gt = (
        GT(frame, rowname_col="lieu", groupname_col="groupe", id=_marker("i"))
        .tab_header(title=_marker("t"), subtitle=_marker("s"))
        .cols_label({column: html(_marker("h0"))})
        .cols_align(layout.align, columns=[column])
        .cols_width({"lieu": f"{layout.stub_percent}%", column: _marker("w0")})
        .tab_source_note(html(_marker("n")))
        .pipe(house_style)
    )

    def whole_id(m: re.Match) -> str:
        return _marker(f"r{int(m.group(1)) - 1}" if m.group(1) else f"d{m.group(2)}")

    return ROW_ID.sub(whole_id, gt.as_raw_html())


# -- frames kept between commands: the user's cache folder (reports.templating), one file a shape, written to a
# temporary file renamed into place (two processes at once read the old entry or the new one, never half of one),
# its first line a digest of the rest (an entry damaged otherwise is drawn again)
def _frame_path(shape: tuple[int, ...], layout: FrameLayout) -> Path | None:
    folder = _frame_folder()
    if folder is None:
        return None
    key = f"{layout.stub_percent} {layout.align} {','.join(map(str, shape))}"
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.html"


@cache
def _frame_folder() -> Path | None:
    """The cache folder of this great-tables and this code (the house style and how a frame is drawn), or None."""
    from reports.templating import user_cache_folder

    try:
        drawer = f"{version('great-tables')}-{hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]}"
    except (PackageNotFoundError, OSError):  # no version to key the entries by: drawn at each run
        return None
    return user_cache_folder(f"gt-frames-{drawer}")


def _read_frame(path: Path) -> str | None:
    """The frame kept at `path`, or None when there is none, or it cannot be read or is damaged."""
    try:
        digest, _, frame = path.read_text(encoding="utf-8").partition("\n")
    except (OSError, UnicodeDecodeError):
        return None
    return frame if digest == _frame_digest(frame) else None


def _write_frame(path: Path, frame: str) -> None:
    """Keep `frame` at `path`; a folder that cannot be written means drawing it again next time."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(f"{_frame_digest(frame)}\n{frame}")
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _frame_digest(frame: str) -> str:
    return hashlib.sha256(frame.encode()).hexdigest()


# -- the texts of a frame's rows -----------------------------------------------------------------------------------
def row_texts(table_id: str, columns: tuple[str, ...], groups: tuple[str, ...], places: tuple[str, ...]) -> dict:
    """The texts of the rows of `frame_html(row_shape(groups), ...)` in table `table_id` of these column ids, as
    great-tables writes them: each group's name (`g<j>`) and id (`d<j>`), each place's name (`p<row>`) and the
    id of its row (`r<row>`)."""
    group_ids, row_ids = _row_ids(columns, groups)
    prefix = _valid_id(table_id)
    prefix = f"{prefix}-" if prefix else ""
    texts = dict(_name_texts(groups, places))
    texts |= {f"d{j}": prefix + name for j, name in enumerate(group_ids)}
    texts |= {f"r{r}": prefix + name for r, name in enumerate(row_ids)}
    return texts


@lru_cache(maxsize=16)
def _name_texts(groups: tuple[str, ...], places: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The groups' and places' names escaped, once per report (its tables share them)."""
    if any(MARK in text for text in groups + places):  # a marker in the data would be taken for one
        raise ValueError(f"a place's name holds {MARK!r}: {[t for t in groups + places if MARK in t][:3]}")
    if "" in groups:  # great-tables draws an empty group's heading row otherwise than a named one's
        raise ValueError("a group of places has no name")
    distinct = list(dict.fromkeys(groups))
    return tuple((f"g{j}", escape(g)) for j, g in enumerate(distinct)) + tuple(
        (f"p{r}", escape(p)) for r, p in enumerate(places)
    )


@lru_cache(maxsize=64)
def _row_ids(columns: tuple[str, ...], groups: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ids great-tables gives to the groups' heading cells and to the rows' name cells, without the table's
    prefix (great_tables._utils_render_html._IdRegistry and create_body_component_h): made valid from the name
    (`_valid_id`, « group » when nothing is left), numbered `-2`, `-3`... when taken by a column's, the title's,
    the subtitle's or an earlier row's or group's id; a group's is made before its rows', the groups in order of
    appearance. Every id is prefixed alike, so the prefix never decides whether one is taken (nor the table's own
    id, which great-tables takes unprefixed: a prefixed id, valid, never equals it)."""
    taken: set[str] = set()

    def make(name: str, fallback: str) -> str:
        base = _valid_id(escape(name)) or fallback
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}-{n}", n + 1
        taken.add(candidate)
        return candidate

    for column in columns:
        make(column, "column")
    make("title", "title")
    make("subtitle", "subtitle")
    shape = row_shape(groups)
    distinct = list(dict.fromkeys(groups))
    group_ids: list[str] = [""] * len(distinct)
    row_ids: list[str] = [""] * len(groups)
    for j, name in enumerate(distinct):
        group_ids[j] = make(name, "group")
        for r in (r for r, group in enumerate(shape) if group == j):
            row_ids[r] = make(f"stub-{r + 1}", "stub")
    return tuple(group_ids), tuple(row_ids)


def _valid_id(text: str) -> str:
    """great-tables' id of a label (`_sanitize_id`): no markup, and runs of characters other than letters, digits,
    `.`, `:` and `-` made one `-`, none at either end."""
    text = unescape(HTML_TAG.sub("", text))
    return ID_INVALID.sub("-", text).strip("-")


HTML_TAG, ID_INVALID = re.compile(r"<[^>]+>"), re.compile(r"[^\w.:-]+")


def fill_frame(
    frame: str, texts: dict[str, str], cell: Callable[[int, int], str], tint: Callable[[int, int], str | None]
) -> str:
    """The frame with its markers replaced: texts (`texts`, HTML, keyed by marker name), cells (`cell(row, k)`,
    HTML) and their tints (`tint(row, k)`, a colour or None) as great-tables' `style.fill` puts them."""
    template = _frame_template(frame)
    values = _Texts(texts)
    for row, k, opening, content in template.slots:
        fill = tint(row, k)
        values[opening] = f'<td style="background-color: {fill};" ' if fill else "<td "
        values[content] = cell(row, k)
    pieces = list(template.pieces)
    pieces[1::2] = map(values.__getitem__, template.fields)
    filled = "".join(pieces)
    if MARK in filled:  # great-tables laid a cell out otherwise than CELL_TD expects: never publish a marker
        raise RuntimeError(f"table {texts['i']}: great-tables' HTML has a cell this renderer does not recognise")
    return filled


class _Texts(dict):
    """A frame's texts by marker name: a marker without a text is left in place (and refused by `fill_frame`)."""

    def __missing__(self, name: str) -> str:
        return _marker(name)


class _CellSlot(NamedTuple):  # a named tuple: a frame has hundreds of cells, made faster than dataclasses
    row: int
    k: int
    attributes: tuple[str, ...]  # the <td>'s attributes cut at their markers (`_text_pieces`)


class _FrameTemplate(NamedTuple):
    """A frame cut at its fields: `pieces` its literal text at even positions and the fields' names at odd ones
    (`fields`, the same names alone); `slots` each cell's row, column and its two fields' names."""

    pieces: tuple[str, ...]
    fields: tuple[str, ...]
    slots: tuple[tuple[int, int, str, str], ...]


@lru_cache(maxsize=32)
def _frame_template(frame: str) -> _FrameTemplate:
    """The frame's `_FrameTemplate`, once per frame (a report fills each of its frames several times): each text
    marker a field of its name, a cell's opening `<td ` (where its tint goes) a field `T<row>_<k>` and its content
    `C<row>_<k>` (upper case: never a marker's name). Filled by joining the pieces, the fields' values put in by
    one slice: an EPCI's table of 2,700 fields 0.2 ms, against 1.3 ms by `str.format_map` of the same template."""
    pieces: list[str] = [""]
    slots: list[tuple[int, int, str, str]] = []

    def add(parts: tuple[str, ...]) -> None:  # literal text at even positions, fields' names at odd ones
        pieces[-1] += parts[0]
        pieces.extend(parts[1:])

    for piece in _frame_pieces(frame):
        if type(piece) is _CellSlot:
            opening, content = f"T{piece.row}_{piece.k}", f"C{piece.row}_{piece.k}"
            slots.append((piece.row, piece.k, opening, content))
            add(("", opening, ""))
            add(piece.attributes)
            add((">", content, "</td>"))
        else:
            add(piece)
    return _FrameTemplate(tuple(pieces), tuple(pieces[1::2]), tuple(slots))


def _frame_pieces(frame: str) -> tuple:
    """The frame cut at its markers: the texts between the cells (`_text_pieces`) and the cells (`_CellSlot`), in
    order."""
    pieces: list = []
    start = 0
    # the cells, then the texts between them, each found by its literal start (one pattern finding either
    # tried both at every character: 6.6 ms for the frame of 43 places and 6 columns, now 1.3 ms)
    for cell in CELL_SLOT.finditer(frame):
        pieces.append(_text_pieces(frame[start : cell.start()]))
        pieces.append(_CellSlot(int(cell.group(2)), int(cell.group(3)), _text_pieces(cell.group(1))))
        start = cell.end()
    pieces.append(_text_pieces(frame[start:]))
    return tuple(pieces)


def _text_pieces(text: str) -> tuple[str, ...]:
    """`text` cut at its markers: literal text at even positions, the markers' names at odd ones (a marker never
    holds another's letters: `gtmark` cannot overlap itself)."""
    parts = text.split(MARK)
    names = parts[1::2]
    if len(parts) % 2 == 0 or (names and not MARKER_NAMES.fullmatch("\n".join(names))):
        raise RuntimeError(f"great-tables' HTML has a marker this renderer does not recognise: {names[:5]}")
    return tuple(parts)


def render_table(view: TerritoryView, spec: TableSpec, cells: dict[str, list[CellText]] | None = None) -> str:
    """The HTML `gt_table` gives, from the frame great-tables drew once for rows of this shape. `cells`: the
    items' `theme_cells`, when formatted already."""
    groups = tuple(group_label(view, p) for p in view.places)
    frame = frame_html(row_shape(groups), len(spec.items))
    cells = cells or theme_cells(view, list(spec.items))
    codes = [escape(p.code) for p in view.places]
    columns = [_column_html(cells[i.id], i, codes) for i in spec.items]
    tints = [[_tint(row) for row in view.column(i.id)] for i in spec.items]

    def cell(row: int, k: int) -> str:
        return columns[k][row]

    def tint(row: int, k: int) -> str | None:
        return tints[k][row]

    texts = {"i": spec.id, "t": escape(spec.title), "s": escape(spec.subtitle), "n": spec.note}
    texts |= {f"h{k}": h for k, h in enumerate(spec.headers)} | {
        f"k{k}": escape(i.id) for k, i in enumerate(spec.items)
    }
    texts |= row_texts(spec.id, tuple(i.id for i in spec.items), groups, tuple(p.display for p in view.places))
    return fill_frame(frame, texts, cell, tint)


def _column_html(cells: list[CellText], indicator: Indicator, codes: list[str]) -> list[str]:
    """`_text_html` of an indicator's cells and their places' codes (escaped), each shape's template looked up
    once: a column holds a few shapes."""
    templates: dict[tuple, str] = {}
    out = []
    for cell, code in zip(cells, codes, strict=True):
        template = templates.get(cell.shape)
        if template is None:
            template = templates[cell.shape] = _pattern_template(cell_pattern(indicator, cell.shape))
        out.append(template.format(cell.value, code, cell.counted, escape(cell.evolution)))
    return out


def _tint(row: dict | None) -> str | None:
    """The tint of a cell of this row: its flag's, None when it has none."""
    flag = row.get("flag") if row else None
    return FLAG_FILL.get(flag) if flag else None


def cell_html(row: dict | None, indicator: Indicator, code: str) -> str:
    """One cell as great-tables merges it: the pattern of its shape, its value formatted (« — » when missing),
    the place's code, its count and its evolution (escaped)."""
    return _text_html(cell_text(row, indicator), indicator, escape(code))


def _text_html(cell: CellText, indicator: Indicator, code: str) -> str:
    """`cell_html` of a cell's formatted texts and its place's code, escaped."""
    template = _pattern_template(cell_pattern(indicator, cell.shape))
    return template.format(cell.value, code, cell.counted, escape(cell.evolution))


PATTERN_FIELD = re.compile(r"\{(\d)\}")


def fill_pattern(pattern: str, parts: dict[str, str]) -> str:
    """A `cols_merge` pattern with its fields `{0}`, `{1}`... replaced by `parts["0"]`, `parts["1"]`..."""
    pieces = _pattern_pieces(pattern)
    return "".join([parts[piece] if n % 2 else piece for n, piece in enumerate(pieces)])


@lru_cache(maxsize=4096)
def _pattern_template(pattern: str) -> str:
    """`pattern` as a `str.format` template of positional fields, its literal braces doubled (made once per pattern:
    a report fills twelve thousand cells with a few hundred patterns)."""
    pieces = _pattern_pieces(pattern)
    return "".join(
        f"{{{piece}}}" if n % 2 else piece.replace("{", "{{").replace("}", "}}") for n, piece in enumerate(pieces)
    )


@lru_cache(maxsize=4096)
def _pattern_pieces(pattern: str) -> tuple[str, ...]:
    """`pattern` cut at its fields: literal text at even positions, the fields' numbers at odd ones (cut once per
    pattern: the patterns are a few hundred, the cells twelve thousand)."""
    return tuple(PATTERN_FIELD.split(pattern))


LONG_TABLE_ROWS = 14  # from this many places, a table fills most of an A4 page (27 px a row in print)


def print_wrapped(table_html: str, rows: int) -> str:
    """A short table moves whole to the next page rather than split; a long one (a page's worth of rows) may start
    on the current page and go on over the next, its header repeated, so no page is left half empty before it."""
    kind = "t-long" if rows >= LONG_TABLE_ROWS else "t-short"
    return f'<div class="{kind}">{table_html}</div>'


def house_style(gt: GT) -> GT:
    """The look shared by every table: full width, fixed layout (columns never overflow A4), quiet rules."""
    return gt.tab_options(
        table_width="100%",
        table_layout="fixed",
        table_font_names=FONT,
        table_font_size="12.5px",
        table_font_color="#1d2733",
        heading_align="left",
        heading_title_font_size="15px",
        heading_title_font_weight="700",
        heading_subtitle_font_size="11.5px",
        column_labels_font_size="11.5px",
        column_labels_font_weight="600",
        column_labels_background_color="#f2f5f8",
        row_group_background_color="#e8eef4",
        row_group_font_weight="700",
        row_group_font_size="11.5px",
        source_notes_font_size="11px",
        data_row_padding="5px",
        table_border_top_color="#1f4e79",
        table_border_top_width="3px",
        heading_border_bottom_color="#c9d3de",
        column_labels_border_bottom_color="#1f4e79",
        table_body_hlines_color="#e3e8ee",
        stub_border_color="#c9d3de",
    )
