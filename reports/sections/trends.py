"""Évolutions depuis l'année de référence: per theme, the indicators published every year (CAF benefits,
childcare coverage and places, births...) drawn year by year for the territory, its département and France, the
change of each commune, and a table « année de référence → dernière année » (points for rates, percent for counts).

Census indicators keep their evolution between two censuses in the theme sections: a census year is not a yearly
figure. Every evolution here starts from the report's baseline year (`--baseline`) and says so.
"""

from __future__ import annotations

import re
from collections import defaultdict

import polars as pl
from markupsafe import Markup

from reports import formats as F
from reports import trend_charts as TC
from reports.sections.base import Section, items_by_theme
from reports.view import Place, TerritoryView, row_dicts
from transforms import series as S
from transforms.registry import THEMES, Indicator

# The indicators drawn as charts when their theme has them (the table lists every yearly indicator of the theme).
CHARTED = (
    "naissances",
    "taux_couverture_global",
    "places_accueil_jeune_enfant",
    "foyers_paje",
    "foyers_af",
    "foyers_rsa",
    "foyers_prime_activite",
    "foyers_aide_logement",
    "foyers_allocataires",
)
INDEXED_UNITS = ("count", "euros")  # drawn as an index (base 100 at the baseline): sizes differ too much
CHANGE_SUFFIX = {"points": f"{F.NNBSP}pt", "percent": f"{F.NNBSP}%", "difference": ""}


# -- shared by the series views (trends, evaluation) -----------------------------------------------------------


def rows_of(series: pl.DataFrame, place: Place, indicator: str) -> list[dict]:
    """One place's series rows of one indicator, oldest year first (copies: a caller may change them)."""
    rows = _series_index(series).get((place.level, place.code, indicator), [])
    return [dict(row) for row in rows]


_INDEXES: list[tuple[pl.DataFrame, _SeriesIndex]] = []  # the last series indexed (the sections ask ~100 times)
INDEXES_KEPT = 4  # reports built side by side by threads (the national batch) each have theirs


class _SeriesIndex:
    """(level, code, indicator) -> rows, oldest year first, a place's rows read once, when first asked for: the
    sections ask for the territory, its département and France (the evaluation perhaps a few communes), while the
    series holds every commune too (a département's: 100,000 rows made dicts for three places' sake)."""

    def __init__(self, series: pl.DataFrame):
        self.series = series
        self.places: dict[tuple[str, str], dict[str, list[dict]]] = {}

    def get(self, key: tuple[str, str, str], default: list[dict]) -> list[dict]:
        level, code, indicator = key
        place = self.places.get((level, code))
        if place is None:
            place = self.places[(level, code)] = self._read(level, code)
        return place.get(indicator, default)

    def _read(self, level: str, code: str) -> dict[str, list[dict]]:
        rows = self.series.filter((pl.col("level") == level) & (pl.col("code") == code))
        by_indicator: dict[str, list[dict]] = defaultdict(list)
        for row in row_dicts(rows.sort("indicator", "year", maintain_order=True)):
            by_indicator[row["indicator"]].append(row)
        return dict(by_indicator)


def _series_index(series: pl.DataFrame) -> _SeriesIndex:
    """The report's series indexed (a filter and a sort per place and indicator were a tenth of a report's time on
    France). Held by identity with the series itself, so a series let go and another at its address never share
    an index."""
    for frame, kept in list(_INDEXES):
        if frame is series:
            return kept
    index = _SeriesIndex(series)
    _INDEXES.append((series, index))
    del _INDEXES[:-INDEXES_KEPT]
    return index


class Changes:
    """`transforms.series.changes` of a report's series since its baseline, its rows made dicts by place or by
    indicator when first asked for (a filter of the changes per row of the evaluation, and the changes computed
    by both series views, took 0.1 s of CPU of a département's report)."""

    def __init__(self, frame: pl.DataFrame):
        self.frame = frame
        self._places: dict[tuple[str, str], dict[str, dict]] = {}
        self._indicators: dict[str, dict[tuple[str, str], dict]] = {}

    def of_place(self, place: Place) -> dict[str, dict]:
        """Indicator id -> the place's change row."""
        rows = self._places.get(place.key)
        if rows is None:
            kept = self.frame.filter((pl.col("level") == place.level) & (pl.col("code") == place.code))
            rows = self._places[place.key] = {r["indicator"]: r for r in row_dicts(kept)}
        return rows

    def of_indicator(self, indicator: str) -> dict[tuple[str, str], dict]:
        """(level, code) -> the change row of every place of one indicator."""
        rows = self._indicators.get(indicator)
        if rows is None:
            kept = self.frame.filter(pl.col("indicator") == indicator)
            rows = self._indicators[indicator] = {(r["level"], r["code"]): r for r in row_dicts(kept)}
        return rows


_CHANGES: list[tuple[pl.DataFrame, int, Changes]] = []  # the last reports' changes, held with their series


def changes_of(series: pl.DataFrame, baseline: int) -> Changes:
    """The report's `Changes`, computed once for the sections that read them (trends, evaluation), held by
    identity with the series like its index (`_series_index`)."""
    for frame, year, kept in list(_CHANGES):
        if frame is series and year == baseline:
            return kept
    changes = Changes(S.changes(series, baseline))
    _CHANGES.append((series, baseline, changes))
    del _CHANGES[:-INDEXES_KEPT]
    return changes


def change_text(change: float | None, change_unit: str | None, unit: str) -> str:
    """`↗ +1,2 pt` (a rate), `↘ −3,5 %` (a count), `↗ +0,02` (an index); '' when unknown."""
    if change is None or change_unit is None:
        return ""
    decimals = 1 if change_unit in ("points", "percent") else F.DECIMALS.get(unit, 1)
    shown = round(change, decimals)
    arrow = F.ARROWS[(shown > 0) - (shown < 0)]
    return f"{arrow}{F.NNBSP}{F.number(change, decimals, signed=True)}{CHANGE_SUFFIX[change_unit]}"


def sources_line(rows: list[dict]) -> str:
    """« Cnaf, allocataires décembre 2020 à 2024 ; Insee, recensement 2016 à 2022 » from the yearly source lines."""
    years: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        for part in (row.get("source") or "").split(" ; "):
            match = re.fullmatch(r"(.*?)(\d{4})", part.strip())
            prefix, year = (match.group(1), match.group(2)) if match else (part.strip(), "")
            if year not in years[prefix]:
                years[prefix].append(year)
    parts = []
    for prefix, ys in years.items():
        ys = sorted(y for y in ys if y)
        parts.append(prefix + (ys[0] if len(ys) == 1 else f"{ys[0]} à {ys[-1]}" if ys else "").strip())
    return " ; ".join(p.strip() for p in parts if p.strip())


def years_held(series: pl.DataFrame) -> dict[str, int]:
    """Indicator id -> the number of distinct years its series holds (counted once for every theme)."""
    return dict(series.group_by("indicator").agg(pl.col("year").n_unique()).iter_rows())


def yearly_items(years: dict[str, int], items: list[Indicator]) -> list[Indicator]:
    """The theme's yearly indicators whose series holds at least two years (`years`: `years_held`)."""
    return [i for i in items if S.is_yearly(i) and years.get(i.id, 0) > 1]


# -- charts --------------------------------------------------------------------------------------------------------


def _line(series: pl.DataFrame, place: Place | None, kind: str, label: str, ind: Indicator) -> TC.Line | None:
    if place is None:
        return None
    rows = rows_of(series, place, ind.id)
    return TC.Line(label, kind, tuple((r["year"], r["value"]) for r in rows)) if rows else None


def trend_chart(view: TerritoryView, series: pl.DataFrame, ind: Indicator, baseline: int) -> dict | None:
    places = [
        (view.territory, "territory", view.territory.display),
        (view.departement, "departement", view.departement.display if view.departement else ""),
        (view.france, "france", "France"),
    ]
    lines = [line for p, kind, label in places if (line := _line(series, p, kind, label, ind))]
    if not lines:
        return None
    unit, caption = ind.unit, F.typography(ind.label)
    if ind.unit in INDEXED_UNITS:
        lines = [line for line in (TC.indexed(x, baseline) for x in lines) if line]
        unit, caption = "index", f"{caption} (indice base 100 en {baseline})"
        if not lines:
            return None
    title = f"{caption} : {view.territory.display} face à {view.compared_with}"
    own = rows_of(series, view.territory, ind.id)
    return {
        "id": f"tendance-{ind.id}",
        "caption": title,
        "svg": Markup(TC.trend(lines, unit, baseline, title, f"g-tend-{ind.id}")),
        "print_svg": Markup(TC.trend(lines, unit, baseline, title, f"g-tend-{ind.id}", TC.PRINT)),
        "source": "Source : " + sources_line(own) + _gaps(own, view.territory.display),
    }


def _gaps(rows: list[dict], name: str) -> str:
    """Why the territory's line breaks: « . Valeur inconnue pour X : 2015 (secret statistique), 2017 à 2019
    (non disponible) »; consecutive years of one reason are written once, as a span."""
    runs: list[list] = []  # [first year, last year, reason]
    for r in sorted((r for r in rows if r["value"] is None), key=lambda r: r["year"]):
        reason = S.reason_fr(r["status"])
        if runs and runs[-1][2] == reason and runs[-1][1] == r["year"] - 1:
            runs[-1][1] = r["year"]
        else:
            runs.append([r["year"], r["year"], reason])
    gaps = [f"{_years(first, last)} ({reason})" for first, last, reason in runs]
    return f". Valeur inconnue pour {name} : {', '.join(gaps)}" if gaps else ""


def _years(first: int, last: int) -> str:
    return str(first) if first == last else f"{first} et {last}" if last == first + 1 else f"{first} à {last}"


def communes_chart(view: TerritoryView, changes: Changes, ind: Indicator, baseline: int) -> dict | None:
    """Each commune (or EPCI of a large group) at the baseline and the latest year."""
    if len(view.units) < 2:
        return None
    by_place = changes.of_indicator(ind.id)
    moves, latest = [], None
    for p in view.units:
        r = by_place.get(p.key) or {}
        latest = latest or r.get("latest_year")
        note = S.reason_fr(r.get("change_status")) if r.get("change_status") else ""
        moves.append(TC.Move(p.display, r.get("baseline"), r.get("latest"), note))
    if latest is None or all(m.baseline is None or m.latest is None for m in moves):
        return None
    what = "les intercommunalités" if view.units_are_epcis else "les communes"
    title = f"{F.typography(ind.label)} : {what}, {baseline} et {latest}"
    return {
        "id": f"tendance-{ind.id}-communes",
        "caption": title,
        "svg": Markup(TC.communes_change(moves, ind.unit, baseline, latest, title, f"g-tend-{ind.id}-com")),
        "print_svg": Markup(
            TC.communes_change(moves, ind.unit, baseline, latest, title, f"g-tend-{ind.id}-com", TC.PRINT)
        ),
    }


def _own_values(changes: Changes, view: TerritoryView, ind: Indicator) -> int:
    """How many units have a value of their own (not borrowed from their EPCI, as CAF coverage below 10,000
    inhabitants is) in the latest year: a chart of identical borrowed values says nothing. Read from the changes'
    latest values (`latest`, `latest_status`: the series' value and status in the indicator's latest year)."""
    codes = {p.code for p in view.units}
    return sum(
        1
        for (_, code), row in changes.of_indicator(ind.id).items()
        if code in codes and row["latest"] is not None and row["latest_status"] is None
    )


# -- the table « année de référence → dernière année » ------------------------------------------------------------


def _change_cell(row: dict | None, ind: Indicator) -> dict:
    if not row:
        return {"text": "", "why": S.reason_fr(S.NO_BASELINE)}
    text = change_text(row["change"], row["change_unit"], ind.unit)
    return {"text": text, "why": "" if text else S.reason_fr(row["change_status"])}


def change_rows(view: TerritoryView, changes: Changes, items: list[Indicator]) -> list[dict]:
    """Per indicator: the territory at the baseline and its latest year, its change, and the change of its
    département and of France."""
    references = [p for p in (view.departement, view.france) if p]
    out = []
    for ind in items:
        own = changes.of_place(view.territory).get(ind.id) or {}
        refs = [
            (p.display if p.level != "FRANCE" else "France", _change_cell(changes.of_place(p).get(ind.id), ind))
            for p in references
        ]
        out.append(
            {
                "label": F.typography(ind.label),
                "hint": F.UNIT_HINTS.get(ind.unit, ""),
                "baseline": F.value(own.get("baseline"), ind.unit),
                "latest_year": own.get("latest_year"),
                "latest": F.value(own.get("latest"), ind.unit),
                "change": _change_cell(own, ind),
                "refs": refs,
            }
        )
    return out


def build(view: TerritoryView, series: pl.DataFrame | None, baseline: int | None) -> dict | None:
    if series is None or series.is_empty() or baseline is None:
        return None
    changes = changes_of(series, baseline)
    years = years_held(series)
    themes = []
    for theme, items in items_by_theme().items():
        yearly = yearly_items(years, items)
        if not yearly:
            continue
        charted = [i for i in yearly if i.id in CHARTED]
        charts = [trend_chart(view, series, i, baseline) for i in charted]
        rate = next((i for i in charted if i.unit not in INDEXED_UNITS and _own_values(changes, view, i) > 1), None)
        charts.append(communes_chart(view, changes, rate, baseline) if rate else None)
        rows = [r for i in yearly for r in rows_of(series, view.territory, i.id)]
        themes.append(
            {
                "id": f"evolutions-{theme}",
                "title": THEMES[theme],
                "charts": [c for c in charts if c],
                "rows": change_rows(view, changes, yearly),
                "sources": sources_line(rows),
            }
        )
    if not themes:
        return None
    refs = [p.display if p.level != "FRANCE" else "France" for p in (view.departement, view.france) if p]
    return {"baseline": baseline, "themes": themes, "territory": view.territory.display, "refs": refs}


TEMPLATE = """\
  <p class="lead">Les indicateurs publiés chaque année (prestations de la Caf en décembre, accueil du jeune enfant,
  naissances), de l'année de référence {{ baseline }} à la dernière année connue. Les évolutions se lisent
  « depuis {{ baseline }} » : en points pour les taux, en % pour les effectifs. Les indicateurs du recensement
  gardent leur évolution entre deux recensements dans les sections thématiques.</p>
  {% for t in themes %}
  <h3 id="{{ t.id }}">{{ t.title }} : évolutions depuis {{ baseline }}</h3>
  <div class="charts">
  {% for chart in t.charts %}
  <figure class="chart-box{% if chart.print_svg %} chart-half{% endif %}" id="{{ chart.id }}">
    <figcaption>{{ chart.caption }}</figcaption>
    {{ chart.svg }}{% if chart.print_svg %}{{ chart.print_svg }}{% endif %}
    {% if chart.source %}<p class="src">{{ chart.source }}</p>{% endif %}
  </figure>
  {% endfor %}
  </div>
  <table class="plain trend-table">
    <caption>{{ t.title }} : de l'année de référence {{ baseline }} à la dernière année, {{ territory }}</caption>
    <thead><tr><th scope="col">Indicateur</th><th scope="col">{{ baseline }}</th><th scope="col">Dernière année</th>
      <th scope="col">Évolution depuis {{ baseline }}</th>
      {% for r in refs %}<th scope="col">{{ r }} : évolution depuis {{ baseline }}</th>{% endfor %}</tr></thead>
    <tbody>
    {% for row in t.rows %}
    <tr><th scope="row">{{ row.label }}<span class="h-u">{{ row.hint }}</span></th>
      <td>{{ row.baseline or "—" }}</td>
      <td>{% if row.latest %}{{ row.latest }} <span class="yr">({{ row.latest_year }})</span>{% else %}—{% endif %}</td>
      <td>{{ row.change.text or "—" }}{% if row.change.why %}<span class="why">{{ row.change.why }}</span>{% endif %}</td>
      {% for name, cell in row.refs %}<td>{{ cell.text or "—" }}{% if cell.why %}<span class="why">{{ cell.why }}</span>{% endif %}</td>{% endfor %}
    </tr>
    {% endfor %}
    </tbody>
  </table>
  <p class="src">Sources : {{ t.sources }}.</p>
  {% endfor %}
"""

SHARED_CSS = """
/* series views: trends and the yearly evaluation */
table.trend-table { width: 100%; border-collapse: collapse; font-size: .9rem; margin: .6rem 0 .2rem; }
table.trend-table caption { text-align: left; font-weight: 600; padding: .3rem 0; }
table.trend-table td { white-space: nowrap; }
table.trend-table .yr { color: var(--muted); font-size: .85em; }
table.trend-table .why { display: block; white-space: normal; color: var(--muted); font-size: .8em; }
section .src { font-size: .78rem; color: var(--muted); margin-top: .2rem; }
"""
CSS = (
    SHARED_CSS
    + """/* trends */
#evolutions table.trend-table th[scope="row"] { min-width: 14rem; }
"""
)

SECTION = Section(
    id="evolutions",
    title="Évolutions depuis l’année de référence",
    needs=("view", "series", "baseline"),
    build=build,
    template=TEMPLATE,
    css=CSS,
)
