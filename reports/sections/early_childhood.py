"""« Observatoire de la petite enfance »: demand against supply of early-childhood care, commune by commune.

Demand: children under 3 (census) and births of the last three years known (état civil), the short-term demand
of the next years. Supply: the CAF's coverage rate and places where the Cnaf publishes them (a commune under
10,000 inhabitants takes its EPCI's coverage rate, which the page says plainly, commune by commune), and the
BPE's equipments: établissements d'accueil du jeune enfant (D502), micro-crèches (D509, from BPE 2025), relais
petite enfance (D504) and lieux d'accueil enfant-parent (D503). The page a CTG steering committee reads to decide
where a new crèche or relais goes: it ends with the communes where young children are many and no crèche is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import cast

import polars as pl

from reports import formats as F
from reports import notes as N
from reports import tables as T
from reports.inputs import staged_rows, staged_years
from reports.sections.base import Section
from reports.shared import PerState
from reports.view import COMMUNES, EPCIS, REFERENCES, TERRITORY, Place, TerritoryView, sort_key
from transforms import reasons as R
from transforms.compute import Inputs

BIRTHS_SOURCE, BIRTHS_VARIABLE = "births", "NAIS"
BIRTH_YEARS = 3  # the short-term demand: births of the last three years known
CHILDREN = "enfants_moins_3_ans"
COVERAGE = "taux_couverture_global"
# a unit (commune) with at least this many births over the years shown and no crèche is listed as a place to look at
BIRTHS_TO_LOOK_AT = 10


@dataclass(frozen=True)
class Column:
    key: str  # an indicator id, or `births:<year>`
    label: str
    hint: str  # unit and source under the label
    unit: str = "count"


SUPPLY = (
    Column(COVERAGE, "Couverture CAF", "places pour 100 enfants", "per100"),
    Column("places_accueil_jeune_enfant", "Places d'accueil (CAF)", "effectif"),
    Column("eaje_nombre", "EAJE (BPE D502)", "nombre"),
    Column("micro_creches_nombre", "Micro-crèches (BPE D509)", "nombre"),
    Column("rpe_nombre", "Relais petite enfance (BPE D504)", "nombre"),
    Column("laep_nombre", "LAEP (BPE D503)", "nombre"),
    Column("eaje_taux", "EAJE pour 100 enfants de moins de 3 ans", "pour 100", "per100"),
)


def commune_codes(view: TerritoryView, inputs: Inputs, place: Place) -> list[str]:
    """The communes of a place of the page: itself, an EPCI's or a département's members, the territory's, France."""
    membership = inputs.membership
    if place.level == "COM":
        return [place.code]
    if place.group == TERRITORY and place.level not in ("EPCI", "DEP"):
        return [p.code for p in view.communes]
    column = {"EPCI": "epci", "DEP": "dep"}.get(place.level)
    if column is None:  # France
        return membership["code"].to_list()
    return membership.filter(pl.col(column) == place.code)["code"].to_list()


def birth_years(inputs: Inputs) -> list[int]:
    """The last BIRTH_YEARS years of the staged births (none when births are not staged)."""
    years = staged_years(inputs, BIRTHS_SOURCE)  # the year column only, not France's births
    if not years:
        return []
    last = int(years[-1])
    return list(range(last - BIRTH_YEARS + 1, last + 1))


# the births of each reference (a département, France) over the years shown: the same for every report of a store
# state, and France's sum reads every commune's births (a fifth of the section's time for each report)
REFERENCE_BIRTHS = PerState(size=512)
# every commune's births over the years shown, read once per store state: France's sum reads them all, and a later
# report finds its communes' among them (reading them from the staged file took 0.02 s of CPU a report)
COMMUNE_BIRTHS = PerState(size=4)


def births(view: TerritoryView, inputs: Inputs, places: list[Place], years: list[int], state: str = "") -> dict:
    """(level, code) -> year -> (births or None, reason): the sum of the place's communes, never a partial sum.
    The references' sums are computed once per store `state` (none shared when it is empty)."""
    if BIRTHS_SOURCE not in inputs.staged or not years:
        return {}
    out: dict = {}
    for place in places:
        if place.group == REFERENCES:  # each summed alone: a new département's sum never sums France's again
            compute = partial(_births, view, inputs, [place], years, state)
            out |= REFERENCE_BIRTHS.get(state, (place.key, tuple(years)), compute)
    out |= _births(view, inputs, [place for place in places if place.group != REFERENCES], years, state)
    return {place.key: out[place.key] for place in places}


def _births(view: TerritoryView, inputs: Inputs, places: list[Place], years: list[int], state: str) -> dict:
    """`births` of `places`, from the rows of their communes only."""
    if not places:
        return {}
    codes = [commune_codes(view, inputs, place) for place in places]
    communes = commune_births(inputs, years, state)
    if all(place.level != "FRANCE" for place in places):  # France reads them all
        communes = communes.filter(pl.col("code").is_in([code for communes in codes for code in communes]))
    found = _birth_sums(communes, codes)
    out = {}
    for n, place in enumerate(places):
        by_year: dict[int, tuple[float | None, str | None]] = {}
        for year in years:
            rows, unknown, total, reason = found.get((n, year), (0, 0, 0.0, None))
            if rows < len(codes[n]) or unknown:  # a commune without its figure: the sum is unknown
                by_year[year] = (None, str((reason if unknown else R.NOT_AVAILABLE) or R.MISSING))
            else:
                by_year[year] = (float(total), None)
        out[place.key] = by_year
    return out


def commune_births(inputs: Inputs, years: list[int], state: str) -> pl.DataFrame:
    """Code, year, value and status of every commune's births of `years`, in the staged table's order: read once
    per store `state` (at each call when it is empty)."""
    keep = (pl.col("level") == "COM") & (pl.col("variable") == BIRTHS_VARIABLE) & pl.col("year").is_in(years)

    def read() -> pl.DataFrame:
        return cast(pl.DataFrame, staged_rows(inputs, BIRTHS_SOURCE, keep)).select("code", "year", "value", "status")

    return COMMUNE_BIRTHS.get(state, tuple(years), read)


def _birth_sums(communes: pl.DataFrame, codes: list[list[str]]) -> dict[tuple[int, int], tuple]:
    """(place's position, year) -> (rows of its communes, rows without a value, sum of the values, the status of
    the first row without a value): one join and one grouping for every place (a filter per place and year was
    most of the section's time)."""
    pairs = pl.DataFrame(
        {
            "place": pl.Series([n for n, cs in enumerate(codes) for _ in dict.fromkeys(cs)], dtype=pl.Int64),
            "code": pl.Series([c for cs in codes for c in dict.fromkeys(cs)], dtype=communes.schema["code"]),
        }
    )
    unknown = pl.col("value").is_null()
    sums = (
        pairs.join(communes.with_row_index("row"), on="code", how="inner")
        .sort("row")  # the communes' order: the first row without a value gives the reason
        .group_by("place", "year")
        .agg(
            pl.len(),
            unknown.sum().alias("unknown"),
            pl.col("value").sum(),
            pl.col("status").filter(unknown).drop_nulls().first(),
        )
    )
    return {(place, year): tuple(rest) for place, year, *rest in sums.iter_rows()}


def _cell(value: float | None, status: str | None, unit: str) -> dict:
    reason = N.cell_reason(value, status)
    return {
        "text": F.value(value, unit) if value is not None else "",
        "mark": N.mark(reason),
        "title": N.label(reason) if reason else "",
        "reason": reason,
    }


def _row(view: TerritoryView, place: Place, years: list[int], born: dict) -> dict:
    children = view.cell(place, CHILDREN) or {}
    cells = [_cell(children.get("value"), children.get("status"), "count")]
    for year in years:
        value, status = born.get(place.key, {}).get(year, (None, R.NOT_AVAILABLE))
        cells.append(_cell(value, status, "count"))
    for column in SUPPLY:
        row = view.cell(place, column.key) or {}
        cells.append(_cell(row.get("value"), row.get("status"), column.unit))
    group = {COMMUNES: "Communes", EPCIS: "Intercommunalités", TERRITORY: "Territoire", REFERENCES: "Références"}[
        place.group
    ]
    return {"name": place.display, "group": group, "cells": cells, "territory": place.group == TERRITORY}


def _value(view: TerritoryView, place: Place, indicator: str) -> float | None:
    row = view.cell(place, indicator) or {}
    return row.get("value") if row.get("status") in (None, R.EPCI_FALLBACK) else None


def fallbacks(view: TerritoryView) -> dict[str, list[str]]:
    """Communes whose coverage shown is their EPCI's (`epci_fallback`), and those in no EPCI (`no_epci`)."""
    out: dict[str, list[str]] = {R.EPCI_FALLBACK: [], R.NO_EPCI: []}
    for place in view.units:
        status = (view.cell(place, COVERAGE) or {}).get("status")
        if place.level == "COM" and status in out:
            out[status].append(place.display)
    return out


def to_look_at(view: TerritoryView, years: list[int], born: dict) -> list[dict]:
    """Units with many recent births and no établissement d'accueil du jeune enfant, most births first."""
    out = []
    for place in view.units:
        eaje, micro = _value(view, place, "eaje_nombre"), _value(view, place, "micro_creches_nombre")
        total = [born.get(place.key, {}).get(y, (None, None))[0] for y in years]
        if eaje != 0 or micro not in (0, None) or None in total or sum(total) < BIRTHS_TO_LOOK_AT:
            continue
        out.append(
            {
                "name": place.display,
                "births": F.count(sum(total)),
                "children": F.count(_value(view, place, CHILDREN)),
                "coverage": F.value(_value(view, place, COVERAGE), "per100"),
                "coverage_is_epci": (view.cell(place, COVERAGE) or {}).get("status") == R.EPCI_FALLBACK,
                "micro_unknown": micro is None,
                "_sort": (-sum(total), sort_key(place.display)),
            }
        )
    return [{k: v for k, v in r.items() if k != "_sort"} for r in sorted(out, key=lambda r: r["_sort"])]


def trend(view: TerritoryView, years: list[int], born: dict) -> str:
    """The territory's births over the years shown, in one sentence."""
    values = [born.get(view.territory.key, {}).get(y, (None, None))[0] for y in years]
    if len(values) < 2 or None in values:
        return ""
    first, last = values[0], values[-1]
    change = (last - first) / first * 100 if first else None
    how = "stables" if change is None or abs(change) < 2 else ("en hausse" if change > 0 else "en baisse")
    said = f" ({F.number(change, 1, signed=True)}\u202f%)" if change is not None and how != "stables" else ""
    return (
        f"Naissances domiciliées sur le territoire : {F.count(first)} en {years[0]}, {F.count(last)} en "
        f"{years[-1]}, {how}{said}."
    )


def build(view: TerritoryView, inputs: Inputs, geography: str, state: str = "") -> dict | None:
    if view.cell(view.territory, CHILDREN) is None:
        return None
    years = birth_years(inputs)
    places = [*view.units, view.territory, *view.references]
    born = births(view, inputs, places, years, state)
    rows = [_row(view, p, years, born) for p in places]
    reasons = [c["reason"] for r in rows for c in r["cells"]]
    items = [CHILDREN] + [c.key for c in SUPPLY]
    sources = T.distinct_sources([r.get("source") for i in items for p in places if (r := view.cell(p, i))])
    if years:
        sources.append(f"Insee, état civil {years[0]}-{years[-1]}")
    children = view.cell(view.territory, CHILDREN) or {}
    return {
        "territory": view.territory.display,
        "years": years,
        "rows": rows,
        "supply": SUPPLY,
        "census_year": children.get("year"),
        "fallbacks": fallbacks(view),
        "look_at": to_look_at(view, years, born),
        "trend": trend(view, years, born),
        "units_are_epcis": view.units_are_epcis,
        "legend": N.legend(reasons),
        "sources": sources,
        "geography": geography,
        "threshold": BIRTHS_TO_LOOK_AT,
    }


TEMPLATE = """\
  <p class="lead">Où sont les jeunes enfants de {{ territory }}, combien en naît-il, et quelle offre d'accueil les
  attend ? Demande : enfants de moins de 3 ans{% if census_year %} (recensement {{ census_year }}){% endif %} et
  naissances des dernières années connues{% if years %} ({{ years[0] }} à {{ years[-1] }}){% endif %}, qui annoncent
  la demande des trois prochaines années. Offre : couverture et places publiées par la CAF, équipements recensés par
  la base permanente des équipements (BPE).</p>
  {% if trend %}<p>{{ trend }}</p>{% endif %}
  <div class="retenir obs-retenir">
    <h3>Pour décider d'une implantation</h3>
    <ul>
    {% if look_at %}
      <li>{{ "Intercommunalités" if units_are_epcis else "Communes" }} sans établissement d'accueil du jeune enfant
      recensé (BPE D502) et où sont nés au moins {{ threshold }} enfants ces {{ years|length }} dernières années :
      <ul>{% for r in look_at %}<li><strong>{{ r.name }}</strong> : {{ r.births }} naissances, {{ r.children or "?" }}
      enfants de moins de 3 ans{% if r.coverage %}, couverture {{ r.coverage }}{% if r.coverage_is_epci %} (taux de
      l'intercommunalité, non publié pour la commune){% endif %}{% endif %}{% if r.micro_unknown %} ; micro-crèches non
      recensées dans ce millésime de la BPE{% endif %}</li>{% endfor %}</ul></li>
    {% else %}
      <li>Aucune {{ "intercommunalité" if units_are_epcis else "commune" }} du territoire n'a à la fois au moins {{ threshold }}
      naissances ces dernières années et aucun établissement d'accueil du jeune enfant recensé.</li>
    {% endif %}
    {% if fallbacks["epci_fallback"] %}
      <li>La CAF ne publie le taux de couverture que pour les communes de plus de 10 000 habitants (et Paris, Lyon,
      Marseille par arrondissement) : pour {{ fallbacks["epci_fallback"]|join(", ") }}, le taux affiché (marque e) est
      <strong>celui de l'intercommunalité</strong>, pas celui de la commune.</li>
    {% endif %}
    {% if fallbacks["no_epci"] %}
      <li>{{ fallbacks["no_epci"]|join(", ") }} : commune hors intercommunalité, sans taux de couverture publié (marque he).</li>
    {% endif %}
      <li>La BPE compte des équipements, pas des places : un multi-accueil de 60 places et une micro-crèche de 10
      places comptent chacun pour un. Les places sont celles de la CAF, publiées pour les communes de plus de
      10 000 habitants, les intercommunalités et les départements.</li>
    </ul>
  </div>
  <div class="obs-wrap">
  <table class="obs" id="tableau-observatoire-petite-enfance">
    <caption>Observatoire de la petite enfance : {{ territory }}</caption>
    <thead>
      <tr><th rowspan="2" class="obs-place">Lieu</th>
        <th colspan="{{ 1 + years|length }}" class="obs-band">Demande</th>
        <th colspan="{{ supply|length }}" class="obs-band">Offre</th></tr>
      <tr><th>Enfants de moins de 3 ans<span class="h-u">recensement{% if census_year %} {{ census_year }}{% endif %}</span></th>
        {% for y in years %}<th>Nais­sances<span class="h-u">{{ y }}</span></th>{% endfor %}
        {% for c in supply %}<th>{{ c.label }}<span class="h-u">{{ c.hint }}</span></th>{% endfor %}</tr>
    </thead>
    <tbody>
    {% for r in rows %}
      {% if loop.first or r.group != rows[loop.index0 - 1].group %}<tr class="obs-group"><th colspan="{{ 2 + years|length + supply|length }}">{{ r.group }}</th></tr>{% endif %}
      <tr{% if r.territory %} class="obs-territory"{% endif %}><th scope="row">{{ r.name }}</th>
        {% for c in r.cells %}<td>{{ c.text }}{% if c.mark %}<sup class="mk" title="{{ c.title }}">{{ c.mark }}</sup>{% endif %}</td>{% endfor %}</tr>
    {% endfor %}
    </tbody>
  </table>
  </div>
  <p class="src">Sources : {{ sources|join(" ; ") }}. {{ geography }}
  {% if legend %}<br>{% for mark, label in legend %}<sup class="mk">{{ mark }}</sup>&#8239;{{ label }}{% if not loop.last %} · {% endif %}{% endfor %}{% endif %}</p>
"""

CSS = """
/* early-childhood observatory */
.obs-wrap { overflow-x: auto; }
table.obs { width: 100%; border-collapse: collapse; table-layout: fixed; font-size: 11.5px; font-variant-numeric: tabular-nums; }
table.obs caption { text-align: left; font-weight: 700; font-size: 15px; padding: .3rem 0; }
table.obs th, table.obs td { padding: 4px 5px; border-bottom: 1px solid var(--line); }
table.obs thead th { background: #f2f5f8; font-weight: 600; vertical-align: bottom; text-align: right; line-height: 1.25; }
table.obs thead th.obs-place { text-align: left; width: 17%; }
table.obs thead th.obs-band { text-align: center; border-bottom: 2px solid var(--blue); }
table.obs thead .h-u { display: block; font-weight: 400; color: var(--muted); font-size: 10.5px; }
table.obs td { text-align: right; }
table.obs tbody th { text-align: left; font-weight: 400; }
table.obs tr.obs-group th { background: #e8eef4; font-weight: 700; font-size: 11px; }
table.obs tr.obs-territory th, table.obs tr.obs-territory td { font-weight: 700; }
.obs-retenir li ul { columns: 1; }
@media print {
  table.obs { font-size: 9.5px; }
  table.obs thead { display: table-header-group; }
  table.obs tr { break-inside: avoid; }
}
"""

SECTION = Section(
    id="observatoire-petite-enfance",
    title="Observatoire de la petite enfance",
    needs=("view", "inputs", "geography", "state"),
    build=build,
    template=TEMPLATE,
    css=CSS,
)
