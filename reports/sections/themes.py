"""3 to 11. One section per theme of the indicator catalogue (`transforms.registry.THEMES`, in its order):
« À retenir », the charts, the tables. The age pyramid opens the demography section."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from markupsafe import Markup

from reports import ages, charts, print_charts
from reports import formats as F
from reports import notes as N
from reports import tables as T
from reports.constats import theme_constats
from reports.sections.base import Section, items_by_theme
from reports.shared import AGE_SUMS
from reports.view import Place, TerritoryView, commune_epci, sort_key
from transforms.compare import PRIORITY, VIGILANCE
from transforms.compute import Inputs
from transforms.registry import THEMES, Indicator


@dataclass(frozen=True)
class Highlight:
    text: str
    items: tuple[str, ...] = ()


def highlights(view: TerritoryView, items: list[Indicator]) -> list[Highlight]:
    """« À retenir »: every flag of the theme's tables, said once. The territory's priorités against both
    references and its points de vigilance against its département (France for a département), then the communes
    in priorité (indicator by indicator) and in vigilance (commune by commune), then the flagged reference rows.
    An empty list means no cell of the theme carries a flag."""
    lines, vigilance = [], []
    for ind in items:
        row = view.cell(view.territory, ind.id)
        if row and row.get("flag") == PRIORITY:
            lines.append(Highlight(_priority_text(view, ind, row)))
        elif row and row.get("flag") == VIGILANCE:
            ref = row.get("ref_dep") if view.departement else row.get("ref_france")
            vigilance.append(
                f"{F.typography(ind.label)} : {F.value(row['value'], ind.unit)} contre {F.value(ref, ind.unit)}"
            )
    if vigilance:
        against = view.departement.display if view.departement else "la France"
        lines.append(
            Highlight(f"Point{'s' if len(vigilance) > 1 else ''} de vigilance face à {against} :", tuple(vigilance))
        )
    if not view.territory_is_unit:
        lines += _unit_highlights(view, items)
    flagged_refs = _flag_counts(view, view.references, items, (VIGILANCE, PRIORITY))
    if flagged_refs:
        lines.append(
            Highlight(
                "Signaux des lignes de référence, chacune comparée à sa propre référence : "
                + ", ".join(f"{name} ({len(labels)})" for name, labels in flagged_refs)
                + "."
            )
        )
    return lines


def _priority_text(view: TerritoryView, ind: Indicator, row: dict) -> str:
    value, label = F.value(row["value"], ind.unit), F.typography(ind.label)
    france = F.value(row.get("ref_france"), ind.unit)
    if view.departement:
        return (
            f"Priorité : {label}, {value} contre {F.value(row.get('ref_dep'), ind.unit)} "
            f"pour {view.departement.display} et {france} en France."
        )
    return f"Priorité : {label}, {value} contre {france} en France."


def _flag_counts(view: TerritoryView, places, items: list[Indicator], flags) -> list[tuple[str, list[str]]]:
    """(place, labels of its indicators carrying one of `flags`) for each place with any, most flags first."""
    out = []
    for p in places:
        labels = [F.typography(i.label) for i in items if (r := view.cell(p, i.id)) and r.get("flag") in flags]
        if labels:
            out.append((p.display, labels))
    return sorted(out, key=lambda x: (-len(x[1]), sort_key(x[0])))


def _unit_highlights(view: TerritoryView, items: list[Indicator]) -> list[Highlight]:
    what = "Intercommunalités" if view.units_are_epcis else "Communes"
    lines = []
    for ind in items:
        names = [
            f"{p.display} ({F.value(r['value'], ind.unit)})"
            for p in view.units
            if (r := view.cell(p, ind.id)) and r.get("flag") == PRIORITY
        ]
        if names:
            lines.append(Highlight(f"{what} en priorité, {F.typography(ind.label)} : {', '.join(names)}."))
    watched = _flag_counts(view, view.units, items, (VIGILANCE,))
    if watched:
        where = "les intercommunalités" if view.units_are_epcis else "les communes"
        lines.append(
            Highlight(
                f"Points de vigilance dans {where} : "
                + ", ".join(f"{name} ({len(labels)})" for name, labels in watched)
                + ".",
                tuple(f"{name} : {', '.join(labels)}" for name, labels in watched),
            )
        )
    return lines


# -- charts ------------------------------------------------------------------------------------------------------


def _reference_value(view: TerritoryView, place: Place | None, indicator: str) -> float | None:
    row = view.cell(place, indicator) if place else None
    return row.get("value") if row else None


def _display(place: Place | None) -> str | None:
    return place.display if place else None


def _position(view: TerritoryView, ind: Indicator) -> charts.Position:
    row = view.cell(view.territory, ind.id) or {}
    return charts.Position(
        label=ind.label,
        unit=ind.unit,
        value=row.get("value"),
        departement=_reference_value(view, view.departement, ind.id),
        france=_reference_value(view, view.france, ind.id),
        epci=_reference_value(view, commune_epci(view), ind.id),
        flag=row.get("flag"),
        mark=N.mark(N.cell_reason(row.get("value"), row.get("status"))),
    )


def headline(view: TerritoryView, items: list[Indicator]) -> Indicator | None:
    """The theme's indicator ranked across communes: the first rate with a need direction and commune values."""
    rates = [i for i in items if i.unit != "count"]
    with_values = [
        i
        for i in rates
        if any((r := view.cell(p, i.id)) and r.get("value") is not None and r.get("status") is None for p in view.units)
    ]
    for pool in ([i for i in with_values if i.direction != "neutral"], with_values):
        if pool:
            return pool[0]
    return None


def positioning_chart(view: TerritoryView, theme: str, items: list[Indicator]) -> dict | None:
    """Each rate of the theme: the territory against its département and France."""
    rates = [i for i in items if i.unit != "count"]
    if not rates:
        return None
    departement = view.departement.display if view.departement else None
    args = ([_position(view, i) for i in rates], view.territory.display, departement)
    epci = _display(commune_epci(view))
    return {
        "id": f"graphique-{theme}-positionnement",
        "caption": f"{THEMES[theme]} : {view.territory.display} face à {view.compared_with}",
        "svg": Markup(charts.positioning(*args, f"g-{theme}-pos", epci=epci)),
        "print_svg": Markup(print_charts.positioning(*args, f"g-{theme}-pos-print", epci=epci)),
    }


def ranking_chart(view: TerritoryView, theme: str, items: list[Indicator]) -> dict | None:
    """The theme's headline indicator, commune by commune (or EPCI by EPCI), with the references as lines."""
    best = headline(view, items) if len(view.units) > 1 else None
    if best is None:
        return None
    bars = []
    for p in view.units:
        r = view.cell(p, best.id) or {}
        bars.append(
            charts.Bar(p.display, r.get("value"), r.get("flag"), N.mark(N.cell_reason(r.get("value"), r.get("status"))))
        )
    refs = [charts.Reference(view.territory.display, _reference_value(view, view.territory, best.id), "territory")]
    if view.departement:
        refs.append(
            charts.Reference(view.departement.display, _reference_value(view, view.departement, best.id), "departement")
        )
    if view.france:
        refs.append(charts.Reference("France", _reference_value(view, view.france, best.id), "france"))
    what = "les intercommunalités" if view.units_are_epcis else "les communes"
    title = f"{best.label} : {what}"
    return {
        "id": f"graphique-{theme}-communes",
        "caption": f"{F.typography(best.label)} : {what}",
        "svg": Markup(charts.ranked_dots(bars, refs, best.unit, title, f"g-{theme}-com")),
        "print_svg": Markup(print_charts.ranked_dots(bars, refs, best.unit, title, f"g-{theme}-com-print")),
    }


def age_chart(view: TerritoryView, inputs: Inputs, state: str = "") -> dict | None:
    """The age pyramid of the territory against its département, or against France for a département (summed
    from every commune, like the indicators; left out, and said so, when a part of France is unknown). The
    reference's sums are shared by every report of the store state: France is summed once, not per département."""
    reference = commune_epci(view) or view.departement or view.france  # a commune: its EPCI first
    sums = ages.age_sums(inputs, view.selection.customs, [view.territory.key])
    if not sums:
        return None
    if reference:
        sums |= AGE_SUMS.get(state, reference.key, lambda: ages.age_sums(inputs, (), [reference.key]))
    bands, by_sex = ages.age_bands(sums, view.territory.key, reference.key if reference else ("", ""))
    if all(b.men is None for b in bands):
        return None
    compared = reference is not None and any(b.ref_men is not None for b in bands)
    name = None
    if compared and reference is not None:  # `compared` says there is a reference
        name = "France" if reference.level == "FRANCE" else reference.display
    draw = charts.pyramid if by_sex else charts.age_bars
    year = inputs.main_year(ages.SOURCE)
    caption = f"Pyramide des âges en {year}" if by_sex else f"Structure par âge en {year}"
    caption += f" : {view.territory.display}" + (f" et {name}" if name else "")
    if not by_sex:
        caption += " (répartition par sexe non disponible)"
    if reference is not None and not compared:
        caption += " (comparaison non disponible : âges inconnus pour une partie de la référence)"
    return {
        "id": "graphique-pyramide-des-ages",
        "caption": caption,
        "svg": Markup(draw(bands, view.territory.display, name, "g-pyramide")),
        "source": f"Source : Insee, recensement {year}. Part de chaque tranche d'âge dans la population.",
    }


# -- the sections --------------------------------------------------------------------------------------------------


def build(
    view: TerritoryView, inputs: Inputs, geography: str, comparison_year: int | None, state: str, *, theme: str
) -> dict:
    items = items_by_theme()[theme]
    charts_ = [age_chart(view, inputs, state)] if theme == AGE_THEME else []
    charts_ += [positioning_chart(view, theme, items), ranking_chart(view, theme, items)]
    return {
        "constats": theme_constats(view, theme, items, headline(view, items), comparison_year).sentences,
        "highlights": highlights(view, items),
        "charts": [c for c in charts_ if c],
        "tables": [Markup(t) for t in T.theme_tables(view, theme, items, comparison_year, geography)],
    }


AGE_THEME = "demographie"  # the section the age pyramid opens

TEMPLATE = """\
  {% if constats %}
  <div class="constats">
    <h3>Constats</h3>
    {% for sentence in constats %}<p>{{ sentence }}</p>{% endfor %}
    <p class="constats-note">Texte généré à partir des chiffres de ce rapport, à relire et à compléter.</p>
  </div>
  {% endif %}
  <div class="retenir">
    <h3>À retenir</h3>
    {% if highlights %}
    <ul>{% for h in highlights %}<li>{{ h.text }}{% if h.items %}<ul>{% for item in h.items %}<li>{{ item }}</li>{% endfor %}</ul>{% endif %}</li>{% endfor %}</ul>
    {% else %}
    <p>Aucun indicateur de ce thème n'est signalé dans ses tableaux, ni pour le territoire ni pour ses communes ou ses références.</p>
    {% endif %}
  </div>
  {% if charts %}<div class="charts">
  {% for chart in charts %}
  <figure class="chart-box{% if chart.print_svg %} chart-half{% endif %}" id="{{ chart.id }}">
    <figcaption>{{ chart.caption }}</figcaption>
    {{ chart.svg }}{% if chart.print_svg %}{{ chart.print_svg }}{% endif %}
    {% if chart.source %}<p class="src">{{ chart.source }}</p>{% endif %}
  </figure>
  {% endfor %}
  </div>{% endif %}
  {% for table in tables %}
  {{ table }}
  {% endfor %}
"""

CSS = """
/* « Constats » of the themes (reports/constats.py) */
.constats { border: 1px solid var(--line); border-left: 4px solid var(--blue); padding: .7rem 1rem .6rem 1.1rem; margin: 1rem 0; }
.constats h3 { margin: 0 0 .35rem; font-size: .9rem; text-transform: uppercase; letter-spacing: .06em; color: var(--blue); }
.constats p { margin: .25rem 0; }
.constats p.constats-note { font-size: .8rem; color: var(--muted); margin-top: .4rem; }
@media print {
  .constats { break-inside: avoid; }
}
/* « À retenir » of the themes */
.retenir { background: #f7f9fb; border-left: 4px solid var(--orange); padding: .7rem 1rem .7rem 1.1rem; margin: 1rem 0 1.2rem; }
.retenir h3 { margin: 0 0 .35rem; font-size: .9rem; text-transform: uppercase; letter-spacing: .06em; color: var(--orange-ink); }
.retenir ul { margin: 0; padding-left: 1.1rem; }
.retenir li { margin: .15rem 0; }
.retenir li ul { columns: 2; column-gap: 2rem; margin: .2rem 0 0; font-size: .93rem; }
.retenir li li { break-inside: avoid; }
.retenir p { margin: 0; color: var(--muted); }
@media print {
  .retenir { break-inside: avoid; }
}
"""

SECTIONS = tuple(
    Section(
        id=theme,
        title=title,
        needs=("view", "inputs", "geography", "comparison_year", "state"),
        build=partial(build, theme=theme),
        template=TEMPLATE,
        css=CSS,
        css_class="theme",
    )
    for theme, title in THEMES.items()
)
