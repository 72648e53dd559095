"""« Territoires comparables »: the territory beside a few EPCIs of its kind (`reports.similar`), on a handful of
key rates, with how they were chosen. Left out of a commune's or a département's report, and when none is found."""

from __future__ import annotations

from markupsafe import Markup, escape

from reports import formats as F
from reports import notes as N
from reports import tables as T
from reports.sections.base import Section
from reports.similar import COMPARED, Similar
from transforms.registry import indicators


def _shown(row: dict, unit: str) -> Markup:
    """`11,0 %`, or `—` and the mark of its reason (explained under the table)."""
    shown = F.value(row["value"], unit) if row.get("value") is not None else "—"
    return escape(shown) + Markup(T.mark_html(N.cell_reason(row.get("value"), row.get("status"))))


def build(similar: Similar | None) -> dict | None:
    if similar is None:
        return None
    known = {i.id: i for i in indicators()}
    columns = [known[c] for c in COMPARED if c in known]
    rows = []
    for n, place in enumerate([similar.territory, *similar.others]):
        rows.append(
            {
                "name": place.name,
                "own": n == 0,
                "population": F.count(place.population) if place.population is not None else "—",
                "communes": F.count(place.communes) if place.communes else "—",
                "cells": [_shown(similar.cell(place, c.id), c.unit) for c in columns],
            }
        )
    sources = T.distinct_sources([similar.cell(similar.territory, c.id).get("source") for c in columns])
    reasons = {N.cell_reason(r.get("value"), r.get("status")) for r in similar.cells.values()} - {None}
    return {
        "columns": [(F.typography(c.label), F.UNIT_HINTS.get(c.unit, "")) for c in columns],
        "rows": rows,
        "how": similar.how,
        "sources": sources,
        "legend": N.legend(reasons),
    }


TEMPLATE = """\
  <p class="lead">{{ how }}</p>
  <table class="plain similar" id="tableau-territoires-comparables">
    <thead><tr><th scope="col">Territoire</th><th scope="col">Population</th><th scope="col">Communes</th>
    {% for label, hint in columns %}<th scope="col">{{ label }}<br><span class="small">{{ hint }}</span></th>{% endfor %}</tr></thead>
    <tbody>
    {% for r in rows %}
      <tr{% if r.own %} class="own"{% endif %}><th scope="row">{{ r.name }}</th><td>{{ r.population }}</td><td>{{ r.communes }}</td>{% for v in r.cells %}<td>{{ v }}</td>{% endfor %}</tr>
    {% endfor %}
    </tbody>
  </table>
  <p class="src">Sources : {{ sources|join(" ; ") }}.{% for mark, label in legend %} <sup class="mk">{{ mark }}</sup>&#8239;{{ label }}.{% endfor %}</p>
"""

CSS = """
/* similar territories */
table.similar { table-layout: fixed; }
table.similar td { text-align: right; font-variant-numeric: tabular-nums; }
table.similar th[scope=row] { text-align: left; font-weight: 400; background: none; border-bottom: 1px solid var(--line); }
table.similar thead th:first-child { width: 16%; }
table.similar thead th:nth-child(2), table.similar thead th:nth-child(3) { width: 8%; }
table.similar thead th { hyphens: auto; font-size: .76rem; }
table.similar tr.own th, table.similar tr.own td { font-weight: 700; background: var(--blue-pale); }
"""

SECTION = Section(
    id="territoires-comparables",
    title="Territoires comparables",
    needs=("similar",),
    build=build,
    template=TEMPLATE,
    css=CSS,
)
