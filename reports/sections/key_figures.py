"""1. « Chiffres clés »: cards of the cover's key figures, each against the territory's references."""

from __future__ import annotations

from markupsafe import Markup

from reports import formats as F
from reports import notes as N
from reports import tables as T
from reports.sections.base import Section
from reports.view import TerritoryView
from transforms.compare import PRIORITY, VIGILANCE
from transforms.registry import Indicator, indicators

# Population and growth, families, young children, income, poverty, childcare coverage, RSA (issue 4). An id
# missing from the catalogue is skipped.
KEY_FIGURES = (
    "population",
    "croissance_annuelle",
    "part_familles_monoparentales",
    "enfants_moins_3_ans",
    "revenu_median",
    "taux_pauvrete",
    "taux_couverture_global",
    "foyers_rsa",
)
# under a card's figure, for units the number alone does not say
CARD_UNITS = {"per100": "pour 100", "index": "indice", "ratio": "rapport", "per1000": "pour 1 000"}
CARD_TINTS: dict[str | None, str] = {
    PRIORITY: " flagged-p",
    VIGILANCE: " flagged-v",
}  # the card's top border says its flag too


def key_figures(view: TerritoryView) -> list[dict]:
    """Cards: the territory's value, its flag and evolution, against its département (and EPCI) and France.

    A count (children under 3, RSA households) is shown without references: 305 children against 95 797 in
    France compares sizes, not situations; the rates of the same theme do that."""
    known = {i.id: i for i in indicators()}
    return [_card(view, known[ident]) for ident in KEY_FIGURES if ident in known]


def _card(view: TerritoryView, ind: Indicator) -> dict:
    row = view.cell(view.territory, ind.id) or {}
    reason = N.cell_reason(row.get("value"), row.get("status"))
    return {
        "id": ind.id,
        "label": F.typography(ind.label),
        "unit": "" if "pour 100" in ind.label else CARD_UNITS.get(ind.unit, ""),
        "value": F.value(row.get("value"), ind.unit) if row.get("value") is not None else "—",
        "mark": N.mark(reason),
        "mark_label": N.label(reason) if reason else "",
        "flag": Markup(T.flag_badge(row.get("flag"), ind.direction)),
        "tint": CARD_TINTS.get(row.get("flag"), ""),
        "evolution": F.evolution(row.get("evolution"), row.get("evolution_unit"), ind.unit),
        "comparison_year": row.get("comparison_year"),
        "refs": _references(view, ind),
        "source": row.get("source") or "",
    }


def _references(view: TerritoryView, ind: Indicator) -> list[tuple[str, str]]:
    """(place, value and mark) of the card's references: none for a count."""
    if ind.unit == "count":
        return []
    epci = view.local_reference  # a commune's EPCI, an arrondissement's whole city
    refs = []
    for place in (p for p in (epci, view.departement, view.france) if p is not None):
        ref = view.cell(place, ind.id) or {}
        shown = F.value(ref.get("value"), ind.unit) if ref.get("value") is not None else "—"
        refs.append((place.display, shown + N.mark(N.cell_reason(ref.get("value"), ref.get("status")))))
    return refs


def build(view: TerritoryView) -> dict:
    sources = T.distinct_sources([(view.cell(view.territory, k) or {}).get("source") for k in KEY_FIGURES])
    return {
        "territory": view.territory.display,
        "compared_with": view.compared_with,
        "cards": key_figures(view),
        "sources": sources,
    }


TEMPLATE = """\
  <p class="lead">{{ territory }} face à {{ compared_with }}. Le symbole ! signale un point de vigilance, !! une priorité.</p>
  <div class="cards">
  {% for card in cards %}
    <article class="card{{ card.tint }}" id="chiffre-{{ card.id }}">
      <h3>{{ card.label }}</h3>
      <div class="big">{{ card.value }}{% if card.mark %}<sup class="mk" title="{{ card.mark_label }}">{{ card.mark }}</sup>{% endif %} {{ card.flag }}</div>
      {% if card.value == "—" and card.mark_label %}<div class="evo">{{ card.mark_label|initiale }}</div>{% endif %}
      {% if card.unit %}<div class="evo">{{ card.unit }}</div>{% endif %}
      {% if card.evolution %}<div class="evo">{{ card.evolution }} depuis {{ card.comparison_year }}</div>{% endif %}
      <dl>
      {% for name, value in card.refs %}<dt title="{{ name }}">{{ name }}</dt><dd>{{ value }}</dd>
      {% endfor %}
      </dl>
    </article>
  {% endfor %}
  </div>
  <p class="small">Sources : {{ sources|join(" ; ") }}.</p>
"""

CSS = """
/* key figures */
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: .8rem; }
.card { border: 1px solid var(--line); border-top: 4px solid var(--blue); padding: .7rem .8rem .75rem; background: #fff; break-inside: avoid; }
.card.flagged-v { border-top-color: #e0a526; }
.card.flagged-p { border-top-color: #b8332a; }
.card h3 { font-size: .8rem; font-weight: 600; color: var(--muted); margin: 0 0 .3rem; line-height: 1.3; min-height: 3.9em; }
.card .big { font-size: 1.65rem; font-weight: 750; line-height: 1.1; color: var(--ink); font-variant-numeric: tabular-nums; }
.card .evo { font-size: .8rem; color: var(--muted); margin-top: .15rem; }
.card dl { margin: .45rem 0 0; font-size: .78rem; display: grid; grid-template-columns: 1fr auto; gap: .05rem .4rem; }
.card dt { color: var(--muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.card dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
.card .flag { font-size: .5em; vertical-align: .35em; }
@media screen and (max-width: 800px) {
  .cards { grid-template-columns: repeat(2, 1fr); }
}
"""

SECTION = Section(id="chiffres-cles", title="Chiffres clés", needs=("view",), build=build, template=TEMPLATE, css=CSS)
