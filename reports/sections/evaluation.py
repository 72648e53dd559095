"""Évaluation annuelle: the indicators the convention (CTG) follows, from the baseline year to the latest, with
each year between, the target and whether the trend goes the expected way, said in words (never by colour only).

The user lists the indicators in a file (`--evaluation FILE`, `transforms.evaluation`); without one, a default
set per theme (births, coverage, places, families, RSA, poverty...) is shown.
"""

from __future__ import annotations

import polars as pl

from reports import formats as F
from reports.sections.base import Section
from reports.sections.trends import SHARED_CSS, change_text, changes_of, rows_of, sources_line
from reports.view import COMMUNES, Place, TerritoryView
from transforms import series as S
from transforms.evaluation import DEFAULT_ITEMS, EvaluationItem
from transforms.registry import get

EXPECTED = {"higher_is_need": "baisse", "lower_is_need": "hausse"}  # what a CTG hopes for, by direction
MAX_YEARS = 8  # year columns shown after the baseline (the latest ones)


def _places(view: TerritoryView, item: EvaluationItem) -> list[Place]:
    if not item.communes:
        return [view.territory]
    by_code = {p.code: p for p in view.communes}
    unknown = [c for c in item.communes if c not in by_code]
    if unknown:
        raise ValueError(
            f"evaluation: commune(s) {', '.join(unknown)} of the row {item.indicator} are not in "
            f"{view.territory.display} (its communes: {', '.join(sorted(by_code))})"
        )
    return [by_code[c] for c in item.communes]


def trend_words(change: dict, expected: str | None, unit: str) -> tuple[str, str]:
    """(French verdict, css class) of a change against the expected direction."""
    if change.get("change") is None:
        return f"non évaluable : {S.reason_fr(change.get('change_status'))}", "na"
    decimals = 1 if change["change_unit"] in ("points", "percent") else F.DECIMALS.get(unit, 1)
    sign = (round(change["change"], decimals) > 0) - (round(change["change"], decimals) < 0)
    if sign == 0:
        return "= stable", "stable"
    if expected is None:
        return ("en hausse" if sign > 0 else "en baisse") + " (pas de sens attendu)", "neutral"
    good = (sign > 0) == (expected == "hausse")
    return ("✔ dans le bon sens" if good else "✘ dans le mauvais sens"), ("good" if good else "bad")


def target_words(latest: float | None, target: float | None, expected: str | None, unit: str) -> str:
    if target is None:
        return ""
    if latest is None:
        return "objectif non évaluable (dernière valeur inconnue)"
    gap = F.number(latest - target, F.DECIMALS.get(unit, 1), signed=True)
    if expected is None:
        return f"écart à l'objectif : {gap}"
    reached = latest >= target if expected == "hausse" else latest <= target
    return "objectif atteint" if reached else f"objectif non atteint (écart {gap})"


def _row(view, series, changes, item: EvaluationItem, place: Place, years: list[int], baseline: int) -> dict:
    ind = get(item.indicator)
    rows = {r["year"]: r for r in rows_of(series, place, ind.id)}
    change: dict = changes.of_place(place).get(ind.id) or {}
    expected = item.direction or EXPECTED.get(ind.direction)
    verdict, css = trend_words(change, expected, ind.unit)
    cells = [F.value((rows.get(y) or {}).get("value"), ind.unit) or ("—" if y in rows else "") for y in years]
    return {
        "label": F.typography(ind.label),
        "scope": place.display if place.group == COMMUNES else "Territoire",
        "cells": cells,
        "change": change_text(change.get("change"), change.get("change_unit"), ind.unit),
        "latest_year": change.get("latest_year"),
        "latest": F.value(change.get("latest"), ind.unit),
        "target": F.value(item.target, ind.unit) if item.target is not None else "",
        "target_words": target_words(change.get("latest"), item.target, expected, ind.unit),
        "expected": expected or "aucun",
        "verdict": verdict,
        "css": css,
        "source": sources_line([r for y, r in sorted(rows.items()) if y >= baseline]),
    }


def _default_items(series: pl.DataFrame) -> tuple[EvaluationItem, ...]:
    """The default items whose indicator has series: its indicators listed once (a filter of the series per item
    took 0.09 s of a report)."""
    present = set(series["indicator"].unique().to_list())
    return tuple(i for i in DEFAULT_ITEMS if i.indicator in present)


def build(view: TerritoryView, series: pl.DataFrame | None, baseline: int | None, evaluation: tuple) -> dict | None:
    if series is None or series.is_empty() or baseline is None:
        return None
    items = evaluation or _default_items(series)
    wanted = {i.indicator for i in items}
    years = sorted(
        y for y in series.filter(pl.col("indicator").is_in(list(wanted)))["year"].unique().to_list() if y > baseline
    )[-MAX_YEARS:]
    years = [baseline] + years
    changes = changes_of(series, baseline)
    rows = [
        _row(view, series, changes, item, place, years, baseline) for item in items for place in _places(view, item)
    ]
    return {
        "baseline": baseline,
        "years": years,
        "rows": rows,
        "user_file": bool(evaluation),
        "territory": view.territory.display,
    }


TEMPLATE = """\
  <p class="lead">{% if user_file %}Les indicateurs que suit la convention, tels que listés dans le fichier
  d'évaluation{% else %}Une sélection d'indicateurs suivis par thème (aucun fichier d'évaluation fourni :
  <code>--evaluation FICHIER</code> liste ceux de la convention){% endif %}, de l'année de référence {{ baseline }}
  à la dernière année connue, pour {{ territory }}. L'appréciation compare l'évolution depuis {{ baseline }} au sens
  attendu (une baisse pour un indicateur de besoin, une hausse pour une offre).</p>
  <table class="plain trend-table eval-table">
    <caption>Évaluation annuelle depuis {{ baseline }} : {{ territory }}</caption>
    <thead><tr><th scope="col">Indicateur</th><th scope="col">Périmètre</th>
      {% for y in years %}<th scope="col">{{ y }}{% if loop.first %} (référence){% endif %}</th>{% endfor %}
      <th scope="col">Dernière valeur</th><th scope="col">Évolution depuis {{ baseline }}</th><th scope="col">Objectif</th>
      <th scope="col">Sens attendu</th><th scope="col">Appréciation</th></tr></thead>
    <tbody>
    {% for row in rows %}
    <tr><th scope="row">{{ row.label }}<span class="why">{{ row.source }}</span></th><td>{{ row.scope }}</td>
      {% for cell in row.cells %}<td>{{ cell }}</td>{% endfor %}
      <td>{{ row.latest or "—" }}{% if row.latest_year %} <span class="yr">({{ row.latest_year }})</span>{% endif %}</td>
      <td>{{ row.change or "—" }}</td>
      <td>{{ row.target or "—" }}{% if row.target_words %}<span class="why">{{ row.target_words }}</span>{% endif %}</td>
      <td>{{ row.expected }}</td>
      <td class="verdict {{ row.css }}">{{ row.verdict }}</td></tr>
    {% endfor %}
    </tbody>
  </table>
  <p class="src">Une case vide : l'indicateur n'est pas publié cette année-là ; « — » : valeur inconnue (secret,
  non disponible).</p>
"""

EVAL_CSS = (
    SHARED_CSS
    + """/* evaluation */
table.eval-table th[scope="row"] { min-width: 14rem; }
table.eval-table td.verdict { white-space: normal; font-weight: 600; }
table.eval-table td.verdict.good { color: #1e6b34; }
table.eval-table td.verdict.bad { color: var(--prio-ink); }
table.eval-table td.verdict.na, table.eval-table td.verdict.neutral { color: var(--muted); font-weight: 400; }
"""
)

SECTION = Section(
    id="evaluation",
    title="Évaluation annuelle de la convention",
    needs=("view", "series", "baseline", "evaluation"),
    build=build,
    template=TEMPLATE,
    css=EVAL_CSS,
)
