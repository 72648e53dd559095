"""2. « Matrice des besoins »: for each commune (or EPCI) and the territory, the flags counted by theme."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import polars as pl
from markupsafe import Markup

from reports import formats as F
from reports import tables as T
from reports.matrix import needs_matrix, score
from reports.sections.base import Section
from reports.tables import CODE, FRENCH, group_label, house_style
from reports.view import Place, TerritoryView, of_places
from transforms.registry import THEMES

if TYPE_CHECKING:  # great-tables is imported by the first table drawn (reports.tables)
    from great_tables import GT
    from great_tables._text import BaseText  # what `GT.cols_label` takes (not exported by great_tables)

MATRIX_FILL = {0: None, 1: "#fdf0d2", 2: "#f9d2a6", 3: "#f3b4aa"}  # the inks keep 4.5:1 on each
# Soft hyphens (U+00AD) where the narrow matrix columns may break a long theme name (browsers on Linux do not
# hyphenate French by themselves).
HYPHENATED = {
    "Démographie": "Démo\u00adgraphie",
    "Vieillissement": "Vieillis\u00adsement",
    # twelve themes since the equipment ones: narrower columns
    "Enfance et jeunesse": "Enfance et jeu\u00adnesse",
    "Revenus et précarité": "Reve\u00adnus et préca\u00adrité",
    "Emploi et insertion": "Emploi et inser\u00adtion",
    "Logement": "Loge\u00adment",
    "Parentalité et vie sociale": "Paren\u00adtalité et vie sociale",
    "Handicap": "Handi\u00adcap",
}
MATRIX_ID, TITLE = "matrice-des-besoins", "Matrice des besoins"
SUBTITLE = (
    "Nombre d'indicateurs signalés par thème, sur le nombre de taux qui peuvent l'être : !! priorité, ! point de "
    "vigilance"
)
MATRIX_LAYOUT = T.FrameLayout(19, "center")  # names of places in 19 % of the width, the counts centred
PRIORITE = ":priorite"  # helper column of each theme: its priorité count (the theme's own column: vigilance)
TOTAL_PATTERN = (
    '<span class="mx mxt" data-code="{1}" data-theme="total" '
    'title="thèmes ayant au moins un indicateur signalé">{0}</span>'
)
NOTE = (
    "Un indicateur est en <strong>point de vigilance</strong> quand la valeur de la commune est plus "
    "défavorable que celle de son département, en <strong>priorité</strong> quand elle l'est nettement plus que "
    "le département et la France ; un département est comparé à la France (voir les clefs de lecture). Seuls "
    "les taux orientés (un sens de besoin défini) peuvent être signalés ; teinte : une priorité compte double. "
    "<strong>Thèmes signalés</strong> : nombre de thèmes ayant au moins un indicateur signalé ; chaque thème "
    "compte pour un, quel que soit le nombre de ses indicateurs (indiqué sous son nom), pour qu'un thème riche "
    "en indicateurs ne pèse pas plus qu'un autre."
)


def matrix_cell_pattern(theme: str, vigilance: bool, priorite: bool) -> str:
    """A cell around great-tables' counts: {0} the vigilances, {1} the priorités, {2} the place's code."""
    attrs = f'class="mx" data-code="{{2}}" data-theme="{escape(theme)}"'
    if not vigilance and not priorite:
        return f'<span {attrs}><span class="mx0" title="aucun indicateur signalé">·</span></span>'
    parts = []
    if priorite:
        parts.append('<span class="mxp" title="{1} en priorité">{1}&#8239;!!</span>')
    if vigilance:
        parts.append('<span class="mxv" title="{0} en vigilance">{0}&#8239;!</span>')
    return f"<span {attrs}>{' '.join(parts)}</span>"


def _counts(view: TerritoryView, places: list[Place]) -> tuple[dict[str, list], dict[str, int]]:
    """Per place (columns of lists): per theme (and `total`) its vigilance count, and its priorité count in
    `<theme>:priorite`; and the number of indicators of each theme that can be flagged."""
    # the places' rows first: a département's view holds its communes' too (35,000 rows joined: 0.05 s of CPU)
    grid = needs_matrix(view.rows.filter(of_places(places)), [p.key for p in places])
    cells = {(r["level"], r["code"], r["theme"]): r for r in grid.iter_rows(named=True)}
    flaggable = {r["theme"]: r["flaggable"] for r in grid.iter_rows(named=True)}
    data: dict[str, list] = {
        "groupe": [group_label(view, p) for p in places],
        "lieu": [p.display for p in places],
        CODE: [p.code for p in places],
    }
    for theme in THEMES:
        data[theme] = [cells[(p.level, p.code, theme)]["vigilance"] for p in places]
        data[theme + PRIORITE] = [cells[(p.level, p.code, theme)]["priorite"] for p in places]
    # themes with at least one flag: every theme weighs one, whether it holds 1 indicator or 8 (a sum of flags
    # would let the 8 rates of « Revenus et précarité » outweigh everything else)
    data["total"] = [sum(1 for t in THEMES if data[t][i] + data[t + PRIORITE][i]) for i in range(len(places))]
    return data, flaggable


def _places(view: TerritoryView) -> list[Place]:
    return list(view.units) + ([] if view.territory_is_unit else [view.territory])


def _labels(flaggable: dict[str, int]) -> dict[str, str]:
    """Each column's header (HTML): the theme's name and how many of its indicators can be flagged."""
    labels = {
        t: f'<span class="h-l">{escape(HYPHENATED.get(label, label))}</span>'
        f'<span class="h-u">sur {flaggable.get(t, 0)}</span>'
        for t, label in THEMES.items()
    }
    themes = sum(1 for n in flaggable.values() if n)
    labels["total"] = f'<span class="h-l">Thèmes signalés</span><span class="h-u">sur {themes}</span>'
    return labels


def matrix_table(view: TerritoryView) -> str:
    """Communes (and the territory) by themes: vigilance and priorité flags counted, tinted by intensity. The
    HTML great-tables gives when it formats, merges and fills every cell itself (`gt_matrix_table`), from a frame
    it draws with markers in their place (reports.tables.frame_html: 0.12 s of CPU for an EPCI down to 0.02 s)."""
    counts, flaggable = _counts(view, _places(view))
    labels = _labels(flaggable)
    columns = list(labels)
    groups = tuple(counts["groupe"])
    frame = T.frame_html(T.row_shape(groups), len(columns), MATRIX_LAYOUT)
    texts = {"i": MATRIX_ID, "t": escape(TITLE), "s": escape(SUBTITLE), "n": NOTE}
    texts |= {f"h{k}": labels[c] for k, c in enumerate(columns)} | {f"k{k}": escape(c) for k, c in enumerate(columns)}
    texts |= T.row_texts(MATRIX_ID, tuple(columns), groups, tuple(counts["lieu"]))

    def cell(row: int, k: int) -> str:
        code = escape(counts[CODE][row])
        if columns[k] == "total":  # fmt_integer without marks: at most twelve themes, never a thousands mark
            return T.fill_pattern(TOTAL_PATTERN, {"0": F.count(counts["total"][row]), "1": code})
        v, p = counts[columns[k]][row], counts[columns[k] + PRIORITE][row]
        pattern = matrix_cell_pattern(columns[k], v > 0, p > 0)
        return T.fill_pattern(pattern, {"0": F.count(v), "1": F.count(p), "2": code})

    def tint(row: int, k: int) -> str | None:
        if columns[k] == "total":
            return None
        return MATRIX_FILL[score(counts[columns[k]][row], counts[columns[k] + PRIORITE][row])]

    return T.fill_frame(frame, texts, cell, tint)


def _cells(gt: GT, frame: pl.DataFrame) -> GT:
    """Counts formatted by great-tables, merged into the pattern of their shape, tinted by intensity."""
    from great_tables import loc, style

    for theme in THEMES:
        shapes: dict[tuple[bool, bool], list[int]] = {}
        tints: dict[int, list[int]] = {}
        for i, (v, p) in enumerate(zip(frame[theme], frame[theme + PRIORITE])):
            shapes.setdefault((v > 0, p > 0), []).append(i)
            if score(v, p):
                tints.setdefault(score(v, p), []).append(i)
        gt = gt.fmt_integer(columns=[theme, theme + PRIORITE], sep_mark=FRENCH["sep_mark"])
        for (v, p), rows in shapes.items():
            gt = gt.cols_merge(
                columns=[theme, theme + PRIORITE, CODE], rows=rows, pattern=matrix_cell_pattern(theme, v, p)
            )
        for level, rows in sorted(tints.items()):
            fill = MATRIX_FILL[level]
            if fill is None:  # tint 0 (no flag) is never in `tints`
                continue
            gt = gt.tab_style(style.fill(fill), loc.body(columns=theme, rows=rows))
    gt = gt.fmt_integer(columns="total").cols_merge(columns=["total", CODE], pattern=TOTAL_PATTERN)
    return gt.cols_hide(CODE)


def gt_matrix_table(view: TerritoryView) -> str:
    """The matrix drawn by great-tables cell by cell: `matrix_table` gives the same HTML, much faster
    (tests/test_report_tables_fast.py)."""
    from great_tables import GT, html

    counts, flaggable = _counts(view, _places(view))
    frame = pl.DataFrame(counts)
    labels: dict[str, str | BaseText] = {c: html(label) for c, label in _labels(flaggable).items()}
    columns = [*THEMES, "total"]
    gt = (
        GT(frame, rowname_col="lieu", groupname_col="groupe", id=MATRIX_ID)
        .tab_header(title=TITLE, subtitle=SUBTITLE)
        .cols_label(labels)
        .pipe(_cells, frame)
        .cols_align("center", columns=columns)
        .cols_width({"lieu": "19%", **{c: f"{81 / len(columns):.2f}%" for c in columns}})
        .tab_source_note(html(NOTE))
        .pipe(house_style)
    )
    return gt.as_raw_html()


def build(view: TerritoryView) -> dict:
    return {"by_epci": view.units_are_epcis, "matrix": Markup(matrix_table(view))}


TEMPLATE = """\
  <p class="lead">Pour chaque {{ "intercommunalité" if by_epci else "commune" }} et chaque thème, le nombre d'indicateurs signalés : une lecture d'ensemble de la concentration des besoins, à discuter avec les partenaires plutôt qu'un verdict automatique.</p>
  {{ matrix }}
"""

CSS = """
/* needs matrix */
.mx { display: inline-flex; gap: .35rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.mxp { color: var(--prio-ink); }
.mxv { color: var(--vig-ink); }
.mx0 { color: var(--muted); font-weight: 400; }
"""

SECTION = Section(id="matrice", title="Matrice des besoins", needs=("view",), build=build, template=TEMPLATE, css=CSS)
