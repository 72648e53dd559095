"""« Dans la commune : IRIS et quartiers prioritaires »: a commune's (or an arrondissement's) report only.

For a commune divided into IRIS: the infra-communal indicators (`transforms/infra_indicators.toml`) of each IRIS,
with its name, against the commune's own value. Where the commune has a QPV: its priority neighbourhoods. For an
arrondissement: which figures its sources publish for the whole city only. A commune with none of these has no
such section. An empty cell carries its reason's mark (secret, non significatif…), never a 0.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from reports import formats as F
from reports import notes as N
from reports.sections.base import Section
from reports.tables import mark_html
from reports.view import TerritoryView
from sources.registry import report_label
from transforms.arrondissements import city_only
from transforms.compute import Inputs
from transforms.infra import Infra, InfraIndicator, available, iris_geography, iris_table
from transforms.registry import get, indicators

TYPES_FR = {"H": "habitat", "A": "activité", "D": "divers", "Z": "commune non découpée"}


def _cell(value: float | None, status: str | None, unit: str) -> tuple[Markup, str | None]:
    reason = N.cell_reason(value, status)
    text = "" if value is None else F.value(value, unit)
    return Markup(escape(text) + Markup(mark_html(reason))), reason


def _rows(view: TerritoryView, infra: Infra, items: list[InfraIndicator]) -> tuple[list[dict], set[str]]:
    """The IRIS rows then the commune's, each cell formatted with its mark; and the reasons shown."""
    table = iris_table(infra, view.territory.code)
    reasons: set[str | None] = set()  # None: a cell without a mark
    rows = []
    for (code, name, kind), cells in table.group_by(["iris", "name", "type"], maintain_order=True):
        by_id = {r["indicator"]: r for r in cells.iter_rows(named=True)}
        out = []
        for item in items:
            r = by_id.get(item.indicator.id, {})
            cell, reason = _cell(
                r.get("value"), r.get("status") or (None if r else "not_available"), item.indicator.unit
            )
            reasons.add(reason)
            out.append(cell)
        rows.append({"name": name, "code": code, "type": TYPES_FR.get(kind, kind), "cells": out, "own": False})
    rows.sort(key=lambda r: r["code"])
    own = []
    for item in items:
        r = view.cell(view.territory, item.indicator.id) or {}
        cell, reason = _cell(r.get("value"), r.get("status") if r else "not_available", item.indicator.unit)
        reasons.add(reason)
        own.append(cell)
    rows.append(
        {"name": view.territory.display, "code": view.territory.code, "type": "ensemble", "cells": own, "own": True}
    )
    return rows, {r for r in reasons if r}


def _sources(infra: Infra, items: list[InfraIndicator]) -> list[str]:
    used = dict.fromkeys(s for i in items for s in i.sources if s in infra.tables)
    lines = []
    for source in used:
        year = infra.vintages.get(source)
        label = report_label(source, int(year) if year and year.isdigit() else None)
        lines.append(f"{label} (géographie des IRIS {iris_geography(source, year) or '?'})")
    return list(dict.fromkeys(lines))


def _iris_part(view: TerritoryView, infra: Infra) -> dict | None:
    if not infra.divided(view.territory.code):
        return None
    items = available(infra)
    if not items:
        return None
    rows, reasons = _rows(view, infra, items)
    return {
        "headers": [(F.typography(i.indicator.label), F.UNIT_HINTS.get(i.indicator.unit, "")) for i in items],
        "rows": rows,
        "n_iris": len(rows) - 1,
        "legend": N.legend(reasons),
        "sources": _sources(infra, items),
    }


def _arrondissement_part(view: TerritoryView, inputs: Inputs) -> dict | None:
    if not view.selection.arrondissement:
        return None
    only = city_only(inputs, indicators())
    return {
        "city": next((p.display for p in view.references if p.level == "COM"), ""),
        "city_only": [F.typography(get(i).label) for i in only],
    }


def build(view: TerritoryView, inputs: Inputs) -> dict | None:
    if not view.selection.commune:
        return None
    infra = inputs.infra or Infra()
    iris = _iris_part(view, infra)
    qpv = infra.qpv_of(view.territory.code)
    arrondissement = _arrondissement_part(view, inputs)
    if iris is None and not qpv and arrondissement is None:
        return None
    return {
        "territory": view.territory.display,
        "iris": iris,
        "qpv": qpv,
        "qpv_staged": "qpv" in infra.tables,
        "qpv_source": report_label("qpv", int(infra.vintages["qpv"])) if "qpv" in infra.tables else "",
        "arrondissement": arrondissement,
    }


TEMPLATE = """\
  {% if arrondissement %}
  <h3>L'arrondissement et sa ville</h3>
  <p>Les chiffres de {{ territory }} sont ceux que l'Insee et la Cnaf publient pour l'arrondissement lui-même ; ils sont comparés à {{ arrondissement.city }}, au département et à la France.
  {% if arrondissement.city_only %}Ne sont publiés que pour la ville entière (marque <sup class="mk">v</sup> dans les tableaux) : {{ arrondissement.city_only | join(", ") }}.{% else %}Toutes les sources utilisées publient leurs chiffres par arrondissement : aucun indicateur n'existe seulement pour la ville entière.{% endif %}</p>
  {% endif %}
  {% if iris %}
  <h3>Les IRIS</h3>
  <p class="lead">{{ territory }} compte {{ iris.n_iris }} IRIS (quartiers d'environ 2 000 habitants définis par l'Insee). Chaque ligne donne les indicateurs que les fichiers par IRIS permettent de calculer ; la dernière, en gras, ceux de l'ensemble.</p>
  <table class="plain infra" id="iris-table">
    <thead><tr><th>IRIS</th>{% for label, unit in iris.headers %}<th class="num">{{ label }}{% if unit %}<br><span class="small">{{ unit }}</span>{% endif %}</th>{% endfor %}</tr></thead>
    <tbody>
    {% for r in iris.rows %}<tr{% if r.own %} class="own"{% endif %}><td>{{ r.name }}<br><span class="small">{{ r.code }} · {{ r.type }}</span></td>{% for c in r.cells %}<td class="num">{{ c }}</td>{% endfor %}</tr>
    {% endfor %}
    </tbody>
  </table>
  {% if iris.legend %}<p class="small">{% for mark, label in iris.legend %}<sup class="mk">{{ mark }}</sup> {{ label }}{% if not loop.last %} ; {% endif %}{% endfor %}.</p>{% endif %}
  <p class="small">Sources : {{ iris.sources | join(" ; ") }}. Les revenus par IRIS ne sont publiés que pour les communes d'au moins 5 000 habitants, et sont soumis au secret dans les IRIS de peu de ménages. Les autres indicateurs du rapport ne sont pas calculés par IRIS.</p>
  {% endif %}
  {% if qpv %}
  <h3>Quartiers prioritaires de la politique de la ville</h3>
  <ul>
  {% for q in qpv %}<li><strong>{{ q.name }}</strong> ({{ q.code }}){% if q.others %}, qui s'étend aussi sur {{ q.others | join(", ") }}{% endif %}</li>
  {% endfor %}
  </ul>
  <p class="small">Source : {{ qpv_source }}. Les statistiques de l'Insee par quartier prioritaire (population, revenus et pauvreté des QPV 2024) ne sont pas encore reprises dans ce rapport : le format de leurs fichiers n'a pas été vérifié.</p>
  {% elif iris and qpv_staged %}
  <p class="small">{{ territory }} ne compte aucun quartier prioritaire de la politique de la ville (liste 2024).</p>
  {% endif %}
"""

CSS = """
/* infra-communal */
table.infra tr.own td { font-weight: 650; border-top: 2px solid var(--blue); }
table.infra { font-size: .8rem; }
table.infra td:first-child { min-width: 9rem; }
table.infra th { font-size: .74rem; hyphens: auto; }
"""

SECTION = Section(
    id="infra-communal",
    title="Dans la commune : IRIS et quartiers prioritaires",
    needs=("view", "inputs"),
    build=build,
    template=TEMPLATE,
    css=CSS,
)
