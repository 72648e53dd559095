"""« Constats »: a short French commentary per theme, written from the figures of the report and nothing else.

Each sentence says what a table or a chart of the theme already shows, in words: the territory's value against its
references (its EPCI for a commune, its département, France) with the direction of the gap, the evolution since
the earlier census, the communes that carry a flag and the spread between communes. A consultant keeps, rewrites or
drops each sentence; the rules that choose the words are the data below, so two runs on the same figures write the
same text.

What the figures do not say is never written: a secret or missing value of the territory gives no comparison, only
its name in the closing « non disponible » sentence; a missing reference is left out of the comparison; a borrowed
value (a commune's CAF coverage taken from its EPCI) is not commented as the territory's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports import formats as F
from reports import notes as N
from reports.view import Place, TerritoryView, sort_key
from transforms import reasons as R
from transforms.compare import PRIORITY, VIGILANCE
from transforms.registry import Indicator

# -- the rules, as data ------------------------------------------------------------------------------------------

# A gap is "proche" under NEAR and "nettement" from MARKED, relative to the reference (5 % is also the default
# vigilance gap of transforms.compare: a gap a flag would ignore is never called a difference here).
NEAR, MARKED = 0.05, 0.20
# Annual growth rates are near zero: a relative gap there means nothing (+0,1 % against +0,5 % is 400 %). They
# compare in percentage points per year.
ABSOLUTE_GAPS = {"percent_per_year": (0.10, 0.50)}
GAP_WORDS = {2: "nettement au-dessus", 1: "au-dessus", 0: "proche", -1: "en dessous", -2: "nettement en dessous"}
LEVEL_ADJECTIVES = {"EPCI": "intercommunal", "DEP": "départemental", "FRANCE": "national"}
FLAG_WORDS = {PRIORITY: "priorité", VIGILANCE: "point de vigilance"}
# indicators each theme comments first, whatever their gaps (the population opens the demography)
LEAD_INDICATORS = {"demographie": ("population", "croissance_annuelle")}
MAX_COMPARED = 3  # indicators compared per theme, lead indicators included
MAX_UNITS_NAMED = 5  # flagged communes named in one sentence
MIN_UNITS_FOR_RANGE = 3  # the spread between communes is said from three communes with a value
PERIOD_KINDS = ("growth", "natural", "migration")  # values that describe a period, not a year
EVOLUTION_WORDS = {1: "En hausse de", -1: "En baisse de"}
UNIT_AFTER = {"percent_per_year": " par an", "per100": " pour 100"}  # what the number's own suffix does not say


@dataclass(frozen=True)
class Constats:
    """The sentences of one theme, in reading order; empty when the figures give nothing to say."""

    theme: str
    sentences: tuple[str, ...]


# -- gaps ----------------------------------------------------------------------------------------------------------


def gap_class(value: float, reference: float, unit: str) -> int:
    """-2..2: nettement en dessous, en dessous, proche, au-dessus, nettement au-dessus.

    Two values that print the same are always "proche": the reader would see no gap."""
    if F.value(value, unit) == F.value(reference, unit):
        return 0
    diff = value - reference
    if unit in ABSOLUTE_GAPS:
        near, marked = ABSOLUTE_GAPS[unit]
        size = abs(diff)
    elif reference == 0:
        return 2 if diff > 0 else -2
    else:
        near, marked = NEAR, MARKED
        size = abs(diff) / abs(reference)
    if size < near:
        return 0
    sign = 1 if diff > 0 else -1
    return sign * (2 if size >= marked else 1)


def in_sentence(label: str) -> str:
    """A label inside a sentence: `Taux de pauvreté` -> `taux de pauvreté`, an acronym (`RSA…`) kept."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def shown(value: float, unit: str) -> str:
    """A value as the tables print it, with the words its suffix lacks (`+0,45 % par an`)."""
    text, after = F.value(value, unit), UNIT_AFTER.get(unit, "")
    return text if text.endswith(after) else text + after


def _reference_text(place: Place, value: float, unit: str) -> str:
    return shown(value, unit) if place.level == "FRANCE" else f"{place.name} : {shown(value, unit)}"


def comparison(view: TerritoryView, ind: Indicator, value: float) -> str:
    """`au-dessus du niveau départemental (Vendée : 9,0 %) et proche du niveau national (11,0 %)`; references
    with the same class of gap share their words (`au-dessus des niveaux départemental (…) et national (…)`)."""
    parts: list[tuple[int, str, str]] = []
    for place in references(view):
        row = view.cell(place, ind.id) or {}
        if row.get("value") is None:
            continue
        parts.append(
            (
                gap_class(value, row["value"], ind.unit),
                LEVEL_ADJECTIVES[place.level],
                _reference_text(place, row["value"], ind.unit),
            )
        )
    if not parts:
        return ""
    if len({c for c, _, _ in parts}) == 1 and len(parts) > 1:
        words = GAP_WORDS[parts[0][0]]
        listed = " et ".join(f"{adj} ({ref})" for _, adj, ref in parts)
        return f"{words} des niveaux {listed}"
    return " et ".join(f"{GAP_WORDS[c]} du niveau {adj} ({ref})" for c, adj, ref in parts)


def references(view: TerritoryView) -> list[Place]:
    """What the territory is compared with: its EPCI (a commune's report), its département, France."""
    places = []
    if view.territory.level == "COM":
        places += [p for p in view.references if p.level == "EPCI"][:1]
    if view.departement is not None:
        places.append(view.departement)
    if view.france is not None:
        places.append(view.france)
    return places


# -- sentences -----------------------------------------------------------------------------------------------------


def evolution_sentence(row: dict, ind: Indicator) -> str:
    """`En hausse de 1,2 point depuis 2016 (12,0 %).`, `Stable depuis 2016 (…).`; '' without an evolution."""
    evolution, unit, year = row.get("evolution"), row.get("evolution_unit"), row.get("comparison_year")
    if evolution is None or unit is None or year is None:
        return ""
    before = row.get("value_comparison")
    then = f" ({shown(before, ind.unit)} en {year})" if before is not None else ""
    decimals = F.EVOLUTION_DECIMALS.get(unit, F.DECIMALS.get(ind.unit, 1))
    size = round(abs(float(evolution)), decimals)
    if size == 0:
        return f"Stable depuis {year}{then}."
    amount = F.number(size, decimals)
    if unit == "points":
        amount += " point" if size < 2 else " points"
    elif unit == "percent_per_year":
        amount += f"{F.NNBSP}% par an"
    return f"{EVOLUTION_WORDS[1 if evolution > 0 else -1]} {amount} depuis {year}{then}."


def when(row: dict, ind: Indicator, comparison_year: int | None = None) -> str:
    """` en 2022`, or ` entre 2016 et 2022` for a rate of change between the two censuses (its row carries no
    comparison year: it is the report's, `comparison_year`)."""
    if row.get("year") is None:
        return ""
    if ind.kind in PERIOD_KINDS:
        start = row.get("comparison_year") or comparison_year
        return f" entre {start} et {row['year']}" if start is not None else ""
    return f" en {row['year']}"


def indicator_sentence(view: TerritoryView, ind: Indicator, comparison_year: int | None = None) -> str:
    """The territory's value, its gap to the references, its flag and its evolution: '' when it has no value of
    its own."""
    row = view.cell(view.territory, ind.id) or {}
    value = row.get("value")
    if value is None or row.get("status") in N.WITH_VALUE:
        return ""
    year = when(row, ind, comparison_year)
    text = f"{F.typography(ind.label)} : {shown(value, ind.unit)}{year}"
    if ind.unit != "count":
        compared = comparison(view, ind, value)
        text += f", {compared}" if compared else ""
    if row.get("flag") in FLAG_WORDS:
        text += f" ; {FLAG_WORDS[row['flag']]}"
    evolution = evolution_sentence(row, ind)
    return text + "." + (f" {evolution}" if evolution else "")


def _relative_gap(view: TerritoryView, ind: Indicator) -> float:
    """How far the territory is from its first reference with a value, relative (0 when unknown)."""
    value = (view.cell(view.territory, ind.id) or {}).get("value")
    for place in references(view):
        ref = (view.cell(place, ind.id) or {}).get("value")
        if value is not None and ref:
            return abs(value - ref) / abs(ref)
    return 0.0


def compared_indicators(view: TerritoryView, theme: str, items: list[Indicator]) -> list[Indicator]:
    """The theme's lead indicators, then flagged ones (priorité first), then need indicators by largest gap,
    then neutral ones: MAX_COMPARED of those with a value of the territory's own."""
    lead = [i for ident in LEAD_INDICATORS.get(theme, ()) for i in items if i.id == ident]
    flag_rank: dict[str | None, int] = {PRIORITY: 0, VIGILANCE: 1}

    def order(ind: Indicator) -> tuple:
        flag = (view.cell(view.territory, ind.id) or {}).get("flag")
        return (
            flag_rank.get(flag, 2),
            ind.direction == "neutral",
            ind.unit == "count",
            -round(_relative_gap(view, ind), 6),
            items.index(ind),
        )

    rest = sorted((i for i in items if i not in lead), key=order)
    chosen = [i for i in lead + rest if indicator_sentence(view, i)]
    return chosen[:MAX_COMPARED]


def _unit_flags(view: TerritoryView, place: Place, items: list[Indicator]) -> tuple[int, int, str] | None:
    """(priorités, points de vigilance, text) of one commune: its priorités named with their values, its points
    de vigilance named when alone and counted otherwise."""
    priorities: list[str] = []
    watched: list[str] = []
    for ind in items:
        row = view.cell(place, ind.id)
        if row and row.get("flag") in FLAG_WORDS:
            named = f"{F.typography(in_sentence(ind.label))} à {shown(row['value'], ind.unit)}"
            (priorities if row["flag"] == PRIORITY else watched).append(named)
    if not priorities and not watched:
        return None
    parts = [f"{FLAG_WORDS[PRIORITY]} : {p}" for p in priorities]
    if len(watched) == 1:
        parts.append(f"{FLAG_WORDS[VIGILANCE]} : {watched[0]}")
    elif watched:
        parts.append(f"{len(watched)} points de vigilance")
    return len(priorities), len(watched), " ; ".join(parts)


def flagged_units_sentence(view: TerritoryView, items: list[Indicator]) -> str:
    """`Communes signalées : Benet (priorité : taux de pauvreté à 21,3 % ; 2 points de vigilance), Oulmes (…).`,
    most priorités first, at most MAX_UNITS_NAMED communes named."""
    if view.territory.level == "COM":
        return ""
    described = [
        (flags, place.display) for place in view.units if (flags := _unit_flags(view, place, items)) is not None
    ]
    if not described:
        return ""
    described.sort(key=lambda d: (-d[0][0], -d[0][1], sort_key(d[1])))
    what = "Intercommunalités signalées" if view.units_are_epcis else "Communes signalées"
    named = ", ".join(f"{name} ({flags[2]})" for flags, name in described[:MAX_UNITS_NAMED])
    more = len(described) - MAX_UNITS_NAMED
    tail = f" et {more} autre{'s' if more > 1 else ''}" if more > 0 else ""
    return f"{what} : {named}{tail}."


def range_sentence(view: TerritoryView, ind: Indicator | None) -> str:
    """`Taux de pauvreté selon les communes : de 8,2 % (Oulmes) à 21,3 % (Benet).` for the theme's headline
    indicator; '' under MIN_UNITS_FOR_RANGE communes with a value of their own, or when they all print the same."""
    if ind is None or view.territory.level == "COM":
        return ""
    values = [
        (r["value"], p.display)
        for p in view.units
        if (r := view.cell(p, ind.id)) and r.get("value") is not None and r.get("status") is None
    ]
    if len(values) < MIN_UNITS_FOR_RANGE:
        return ""
    values.sort(key=lambda v: (v[0], sort_key(v[1])))
    low, high = values[0], values[-1]
    if F.value(low[0], ind.unit) == F.value(high[0], ind.unit):
        return ""
    what = "les intercommunalités" if view.units_are_epcis else "les communes"
    return (
        f"{F.typography(ind.label)} selon {what} : de {shown(low[0], ind.unit)} ({low[1]}) "
        f"à {shown(high[0], ind.unit)} ({high[1]})."
    )


def unavailable_sentence(view: TerritoryView, items: list[Indicator]) -> str:
    """`Non disponible pour le territoire : taux de pauvreté (secret statistique).`"""
    missing = []
    for ind in items:
        row = view.cell(view.territory, ind.id)
        if row is not None and row.get("value") is None:
            missing.append(f"{F.typography(ind.label)} ({N.label(row.get('status') or R.MISSING)})")
    if not missing:
        return ""
    plural = "s" if len(missing) > 1 else ""
    return f"Non disponible{plural} pour {view.territory.display} : {' ; '.join(missing)}."


def theme_constats(
    view: TerritoryView,
    theme: str,
    items: list[Indicator],
    headline: Indicator | None = None,
    comparison_year: int | None = None,
) -> Constats:
    """Every sentence of one theme: compared indicators, flagged communes, spread of `headline`, what is missing.
    `comparison_year`: the earlier census of the report (the start of its growth rates)."""
    sentences = [indicator_sentence(view, i, comparison_year) for i in compared_indicators(view, theme, items)]
    sentences += [
        flagged_units_sentence(view, items),
        range_sentence(view, headline),
        unavailable_sentence(view, items),
    ]
    return Constats(theme, tuple(s for s in sentences if s))
