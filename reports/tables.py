"""great-tables tables of the report: one or more per theme (places in rows, indicators in columns) and the
needs matrix. Every table has a fixed id, so two builds on the same data give the same HTML.

Cells are built here as small HTML fragments from escaped parts and passed through great-tables unescaped
(`fmt_passthrough(escape=False)`); the row labels (commune names) are left to great-tables, which escapes them.
"""

from __future__ import annotations

import math
from html import escape

import polars as pl
from great_tables import GT, html, loc, style

from reports import formats as F
from reports import notes as N
from reports.matrix import needs_matrix, score
from reports.view import COMMUNES, Place, TerritoryView
from transforms.compare import PRIORITY, VIGILANCE
from transforms.registry import THEMES, Indicator

MAX_COLUMNS = 5  # indicators per table: five columns and the names fit an A4 page width
FLAG_FILL = {VIGILANCE: "#fdf0d2", PRIORITY: "#f8d9d5"}
FLAG_SYMBOL = {VIGILANCE: "!", PRIORITY: "!!"}
# a commune or an EPCI is compared with its département, a département with France (transforms.compare)
FLAG_TITLE = {VIGILANCE: "Point de vigilance : plus défavorable que la référence (le département ; la France pour "
                         "un département)",
              PRIORITY: "Priorité : nettement plus défavorable que le département et la France"}
MATRIX_FILL = {0: None, 1: "#fdf0d2", 2: "#f9d2a6", 3: "#f0a59b"}
# Soft hyphens (U+00AD) where the narrow matrix columns may break a long theme name (browsers on Linux do not
# hyphenate French by themselves).
HYPHENATED = {"Démographie": "Démo\u00adgraphie", "Vieillissement": "Vieillis\u00adsement"}
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


def flag_badge(flag: str | None) -> str:
    if flag not in FLAG_SYMBOL:
        return ""
    kind = "p" if flag == PRIORITY else "v"
    return (f'<span class="flag flag-{kind}" title="{escape(FLAG_TITLE[flag])}">{FLAG_SYMBOL[flag]}'
            f'<span class="sr"> {escape(flag)}</span></span>')


def mark_html(reason: str | None) -> str:
    m = N.mark(reason)
    return f'<sup class="mk" title="{escape(N.label(reason))}">{escape(m)}</sup>' if m else ""


def cell_html(row: dict | None, indicator: Indicator) -> str:
    """One cell: the value (or a dash and the mark that says why), the flag, the count, the evolution."""
    if row is None:  # the indicator has no row for this place: treated as not available
        row = {"value": None, "status": N.R.NOT_AVAILABLE}
    value, status = row.get("value"), row.get("status")
    reason = N.cell_reason(value, status)
    attrs = f'class="c" data-indicator="{escape(indicator.id)}" data-code="{escape(str(row.get("code", "")))}"'
    if value is None:
        return f'<div {attrs}><span class="v miss">—{mark_html(reason)}</span></div>'
    parts = [f'<span class="l1">{flag_badge(row.get("flag"))}'
             f'<span class="v">{escape(F.value(value, indicator.unit))}{mark_html(reason)}</span></span>']
    if indicator.unit != "count" and row.get("numerator") is not None and indicator.kind == "ratio":
        parts.append(f'<span class="n">{escape(F.count(row["numerator"]))}</span>')
    if row.get("evolution") is not None:
        shown = F.evolution(row["evolution"], row.get("evolution_unit"), indicator.unit)
        parts.append(f'<span class="ev">{escape(shown)}</span>')
    return f'<div {attrs}>{"".join(parts)}</div>'


def header_html(indicator: Indicator, year: int | None, comparison_year: int | None = None) -> str:
    """Label, unit and year; a growth rate is a mean over a period, so its header gives the period."""
    hint = F.UNIT_HINTS.get(indicator.unit, "")
    if indicator.unit == "percent_per_year" and year and comparison_year:
        when = f", {comparison_year}-{year}"
    else:
        when = f", {year}" if year else ""
    no_evolution = mark_html(N.R.DEFINITION_CHANGE) if not indicator.evolution else ""
    return (f'<span class="h-l">{escape(F.typography(indicator.label))}{no_evolution}</span>'
            f'<span class="h-u">{escape(hint + when)}</span>')


def _year(view: TerritoryView, indicator: Indicator, column: str = "year") -> int | None:
    years = [r.get(column) for p in view.places if (r := view.cell(p, indicator.id)) and r.get(column)]
    return max(years) if years else None


def group_label(view: TerritoryView, place: Place) -> str:
    if place.group == COMMUNES and len(view.units) == 1:
        return "Commune"
    return place.group


def _table_frame(view: TerritoryView, items: list[Indicator]) -> pl.DataFrame:
    data = {"groupe": [group_label(view, p) for p in view.places], "lieu": [p.display for p in view.places]}
    for ind in items:
        data[ind.id] = [cell_html(view.cell(p, ind.id), ind) for p in view.places]
    return pl.DataFrame(data)


def _fills(gt: GT, view: TerritoryView, items: list[Indicator]) -> GT:
    """Flagged cells get a tint as well as their symbol (never colour alone)."""
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
    sources = distinct_sources([r.get("source") for ind in items for p in view.places if (r := view.cell(p, ind.id))])
    reasons = [N.cell_reason(r.get("value"), r.get("status")) for ind in items for p in view.places
               if (r := view.cell(p, ind.id))]
    reasons += [N.R.DEFINITION_CHANGE for ind in items if not ind.evolution]
    text = f"Sources : {escape(' ; '.join(sources) or 'non renseignées')}. {escape(geography)}"
    legend = N.legend(reasons)
    if legend:
        text += '<br><span class="legend">' + " · ".join(
            f'<sup class="mk">{escape(m)}</sup>&#8239;{escape(label)}' for m, label in legend) + "</span>"
    return text


def theme_tables(view: TerritoryView, theme: str, items: list[Indicator], comparison_year: int | None,
                 geography: str) -> list[str]:
    """The tables of one theme, as HTML fragments (ids `tableau-<theme>-<n>`)."""
    out = []
    parts = chunks(items)
    for n, chunk in enumerate(parts, start=1):
        title = THEMES[theme] + (f" ({n}/{len(parts)})" if len(parts) > 1 else "")
        has_evolution = any(view.cell(p, i.id) and view.cell(p, i.id).get("evolution") is not None
                            for i in chunk for p in view.places)
        has_counts = any(i.kind == "ratio" and i.unit != "count" for i in chunk)
        subtitle = "Valeur de l'indicateur" + (", effectif concerné (en gris)" if has_counts else "")
        if has_evolution and comparison_year:
            subtitle += f", évolution depuis {comparison_year} (↗ ↘, ≈ stable)"
        subtitle += " · ! vigilance, !! priorité"
        width = f"{(100 - 22) / len(chunk):.2f}%"
        gt = (
            GT(_table_frame(view, chunk), rowname_col="lieu", groupname_col="groupe", id=f"tableau-{theme}-{n}")
            .tab_header(title=title, subtitle=subtitle)
            .cols_label(**{i.id: html(header_html(i, _year(view, i), _year(view, i, "comparison_year") or comparison_year))
                           for i in chunk})
            .fmt_passthrough(columns=[i.id for i in chunk], escape=False)
            .cols_align("right", columns=[i.id for i in chunk])
            .cols_width({"lieu": "22%", **{i.id: width for i in chunk}})
            .tab_source_note(html(source_note(view, chunk, geography)))
            .pipe(_fills, view, chunk)
            .pipe(house_style)
        )
        out.append(gt.as_raw_html())
    return out


def house_style(gt: GT) -> GT:
    """The look shared by every table: full width, fixed layout (columns never overflow A4), quiet rules."""
    return gt.tab_options(
        table_width="100%", table_layout="fixed", table_font_names=FONT, table_font_size="12.5px",
        table_font_color="#1d2733",
        heading_align="left", heading_title_font_size="15px", heading_title_font_weight="700",
        heading_subtitle_font_size="11.5px", column_labels_font_size="11.5px", column_labels_font_weight="600",
        column_labels_background_color="#f2f5f8", row_group_background_color="#e8eef4",
        row_group_font_weight="700", row_group_font_size="11.5px", source_notes_font_size="11px",
        data_row_padding="5px", table_border_top_color="#1f4e79", table_border_top_width="3px",
        heading_border_bottom_color="#c9d3de", column_labels_border_bottom_color="#1f4e79",
        table_body_hlines_color="#e3e8ee", stub_border_color="#c9d3de",
    )


def matrix_table(view: TerritoryView) -> str:
    """Communes (and the territory) by themes: vigilance and priorité flags counted, tinted by intensity."""
    places = list(view.units) + ([view.territory] if view.territory.level != "COM" else [])
    grid = needs_matrix(view.rows, [p.key for p in places])
    cells = {(r["level"], r["code"], r["theme"]): r for r in grid.iter_rows(named=True)}
    data: dict[str, list] = {"groupe": [group_label(view, p) for p in places], "lieu": [p.display for p in places]}
    fills: dict[tuple[str, int], list[int]] = {}
    for theme in list(THEMES) + ["total"]:
        column = []
        for i, p in enumerate(places):
            if theme == "total":
                rs = [cells[(p.level, p.code, t)] for t in THEMES]
                v, pr = sum(r["vigilance"] for r in rs), sum(r["priorite"] for r in rs)
            else:
                r = cells[(p.level, p.code, theme)]
                v, pr = r["vigilance"], r["priorite"]
            column.append(matrix_cell(v, pr, p, theme))
            level = score(v, pr) if theme != "total" else 0
            if level:
                fills.setdefault((theme, level), []).append(i)
        data[theme] = column
    flaggable = {r["theme"]: r["flaggable"] for r in grid.iter_rows(named=True)}
    labels = {t: html(f'<span class="h-l">{escape(HYPHENATED.get(label, label))}</span>'
                      f'<span class="h-u">sur {flaggable.get(t, 0)}</span>') for t, label in THEMES.items()}
    labels["total"] = html(f'<span class="h-l">Total</span><span class="h-u">sur {sum(flaggable.values())}</span>')
    n = len(THEMES) + 1
    gt = (
        GT(pl.DataFrame(data), rowname_col="lieu", groupname_col="groupe", id="matrice-des-besoins")
        .tab_header(title="Matrice des besoins",
                    subtitle="Nombre d'indicateurs signalés par thème, sur le nombre de taux qui peuvent l'être : "
                             "!! priorité, ! point de vigilance")
        .cols_label(**labels)
        .fmt_passthrough(columns=list(data)[2:], escape=False)
        .cols_align("center", columns=list(data)[2:])
        .cols_width({"lieu": "19%", **{c: f"{81 / n:.2f}%" for c in list(data)[2:]}})
        .tab_source_note(html(
            "Un indicateur est en <strong>point de vigilance</strong> quand la valeur de la commune est plus "
            "défavorable que celle de son département, en <strong>priorité</strong> quand elle l'est nettement "
            "plus que le département et la France ; un département est comparé à la France (voir les clefs de lecture). Seuls les taux orientés (un sens "
            "de besoin défini) peuvent être signalés ; teinte : une priorité compte double."))
        .pipe(house_style)
    )
    for (theme, level), rows in sorted(fills.items()):
        gt = gt.tab_style(style.fill(MATRIX_FILL[level]), loc.body(columns=theme, rows=rows))
    return gt.as_raw_html()


def matrix_cell(vigilance: int, priorite: int, place: Place, theme: str) -> str:
    attrs = f'class="mx" data-code="{escape(place.code)}" data-theme="{escape(theme)}"'
    if not vigilance and not priorite:
        return f'<span {attrs}><span class="mx0" title="aucun indicateur signalé">·</span></span>'
    parts = []
    if priorite:
        parts.append(f'<span class="mxp" title="{priorite} en priorité">{priorite}&#8239;!!</span>')
    if vigilance:
        parts.append(f'<span class="mxv" title="{vigilance} en vigilance">{vigilance}&#8239;!</span>')
    return f'<span {attrs}>{" ".join(parts)}</span>'
