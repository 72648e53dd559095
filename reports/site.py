"""The HTML diagnostic: one self-contained page per territory, its indicator exports, and an index.

    build_site(store, selections, out_dir)   computes the indicators once, writes every report and the index
    render_report(table, inputs, selection, context)   one page, a pure function of its arguments

A report makes no request when opened: its CSS is inline, its charts are inline SVG, it has no script.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from reports import ages, charts
from reports import formats as F
from reports import notes as N
from reports import tables as T
from reports.quality import source_quality, used_vintages
from reports.view import TerritoryView, sort_key, territory_view
from sources.demo.synthetic import store_is_synthetic
from sources.store import Store, atomic_path, reads_one_state
from transforms.compare import PRIORITY, VIGILANCE, FlagRules
from transforms.compute import Inputs
from transforms.export import DIRECTIONS_FR, write_exports
from transforms.pipeline import Selection, diagnostic_table, load_inputs
from transforms.registry import THEMES, Indicator, indicators

# The key figures of the cover page (issue 4): population and growth, families, young children, income,
# poverty, childcare coverage, RSA. An id missing from the catalogue is skipped.
KEY_FIGURES = ("population", "croissance_annuelle", "part_familles_monoparentales", "enfants_moins_3_ans",
               "revenu_median", "taux_pauvrete", "taux_couverture_global", "foyers_rsa")
# What every reader must know before comparing figures (the caveats of indicators-and-anchors.md §C.10).
READING_KEYS = (
    ("Chômage", "Le taux de chômage du recensement repose sur la déclaration des personnes : ce n'est pas le taux "
                "de chômage au sens du BIT publié chaque trimestre par l'Insee, et il est plus élevé."),
    ("Accueil du jeune enfant", "Le taux de couverture est une capacité théorique d'accueil (places pour 100 enfants "
                                "de moins de 3 ans), pas un taux d'occupation : une place peut être inoccupée ou "
                                "partagée. La CAF ne le publie que pour les communes de plus de 10 000 habitants ; "
                                "ailleurs, le taux affiché est celui de l'EPCI (marque e)."),
    ("Pauvreté", "Les taux de pauvreté communaux de Filosofi sont soumis au secret statistique dans les petites "
                 "communes et planchers à 5\u202f% : un classement des communes « les moins pauvres » n'a pas de "
                 "sens."),
    ("Effectifs CAF", "Les effectifs d'allocataires publiés par la Cnaf sont arrondis à 5 (régime général, "
                      "hors MSA) : la somme des communes peut différer légèrement du total publié pour le "
                      "département."),
    ("Médianes", "Une médiane ne s'additionne pas : le niveau de vie médian de chaque niveau (commune, EPCI, "
                 "département, France) est celui publié par l'Insee ; il n'est pas calculable pour un regroupement "
                 "de communes (marque na)."),
    ("Évolutions", "Les évolutions comparent deux recensements distants d'au moins cinq ans, comme l'Insee le "
                   "conseille ; les taux évoluent en points (pt), les effectifs en % par an, les indices et les "
                   "rapports (indice de vieillissement, taille des ménages…) en simple différence, dans leur unité "
                   "et avec autant de décimales que la valeur (2,26 puis 2,24 personnes par ménage : −0,02). "
                   "La flèche suit le signe de l'évolution affichée ; ≈ signale une évolution qui s'arrondit à "
                   "zéro."),
    ("Solde migratoire", "Le solde migratoire est « apparent » : il est estimé par différence entre la variation "
                         "totale et le solde naturel, et porte aussi les écarts de mesure entre deux recensements."),
)
# under a card's figure, for units the number alone does not say
CARD_UNITS = {"per100": "pour 100", "index": "indice", "ratio": "rapport"}
PUBLISHER_ORDER = {"Insee": 0, "Cnaf": 1}
INDEX_META = "abs-diag-territoire"
# The demo report (`abs-diag demo`, README screenshots): CC Vendée Sèvre Autise, four communes, flags of both
# kinds, a département that is more than the EPCI.
DEMO_EPCI = "200029940"
DEMO_BANNER = 'id="bandeau-demo"'  # the banner of a report on synthetic figures (templates/report.html.j2)


@dataclass(frozen=True)
class ReportContext:
    """Everything a report shows that is not in the indicator table."""

    generated_at: datetime
    manifest: dict = field(default_factory=dict)  # the store manifest (sources, vintages, quality)
    version: str = ""  # version of the pipeline
    demo: bool = False  # synthetic data: a banner on every page
    rules: FlagRules = FlagRules()
    exports: tuple[tuple[str, str], ...] = ()  # (format, file name) of the exports beside the report


@dataclass(frozen=True)
class SiteResult:
    reports: list[Path]
    index: Path
    exports: list[Path]


def pipeline_version() -> str:
    try:
        return version("abs-diag")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "inconnue"


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["nombre"] = lambda x: F.count(x)
    env.filters["css_string"] = css_string
    env.filters["initiale"] = lambda s: s[:1].upper() + s[1:]  # `capitalize` would lower-case "CAF"
    return env


def css_string(text: str) -> Markup:
    """Text for a CSS string in double quotes: every character but letters, digits and spaces as a CSS escape,
    so no name can close the string or the <style> element."""
    return Markup("".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in str(text)))


# -- building blocks of a report ---------------------------------------------------------------------------------


def _items_by_theme() -> dict[str, list[Indicator]]:
    by_theme: dict[str, list[Indicator]] = {t: [] for t in THEMES}
    for ind in indicators():
        by_theme[ind.theme].append(ind)
    return by_theme


def _geography_note(manifest: dict) -> str:
    cogs = sorted(e.get("vintage") for e in manifest.get("entries", {}).values() if e.get("source") == "cog_communes")
    return f"Géographie communale au 1er janvier {cogs[-1]} (COG {cogs[-1]})." if cogs else ""


def _comparison_year(view: TerritoryView) -> int | None:
    years = view.rows["comparison_year"].drop_nulls()
    return int(years.max()) if years.len() else None


def _reference_value(view: TerritoryView, place, indicator: str) -> float | None:
    row = view.cell(place, indicator)
    return row.get("value") if row else None


def key_figures(view: TerritoryView) -> list[dict]:
    """Cards: the territory's value, its flag and evolution, against its département (and EPCI) and France.

    A count (children under 3, RSA households) is shown without references: 305 children against 95 797 in
    France compares sizes, not situations; the rates of the same theme do that."""
    known = {i.id: i for i in indicators()}
    cards = []
    epci = next((p for p in view.references if p.level == "EPCI"), None) if view.selection.commune else None
    for ident in KEY_FIGURES:
        if ident not in known:
            continue
        ind = known[ident]
        row = view.cell(view.territory, ident) or {}
        reason = N.cell_reason(row.get("value"), row.get("status"))
        refs = []
        for place in (() if ind.unit == "count" else (epci, view.departement, view.france)):
            if place is not None:
                ref = view.cell(place, ident) or {}
                shown = F.value(ref.get("value"), ind.unit) if ref.get("value") is not None else "—"
                refs.append((place.display, shown + N.mark(N.cell_reason(ref.get("value"), ref.get("status")))))
        cards.append({
            "id": ident, "label": F.typography(ind.label),
            "unit": CARD_UNITS.get(ind.unit, ""),
            "value": F.value(row.get("value"), ind.unit) if row.get("value") is not None else "—",
            "mark": N.mark(reason), "mark_label": N.label(reason) if reason else "",
            "flag": Markup(T.flag_badge(row.get("flag"))),
            "evolution": F.evolution(row.get("evolution"), row.get("evolution_unit"), ind.unit),
            "comparison_year": row.get("comparison_year"), "refs": refs, "source": row.get("source") or "",
        })
    return cards


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
        if not row or row.get("flag") not in (VIGILANCE, PRIORITY):
            continue
        value, label = F.value(row["value"], ind.unit), F.typography(ind.label)
        france = F.value(row.get("ref_france"), ind.unit)
        if row["flag"] == PRIORITY and view.departement:
            lines.append(Highlight(f"Priorité : {label}, {value} contre {F.value(row.get('ref_dep'), ind.unit)} "
                                   f"pour {view.departement.display} et {france} en France."))
        elif row["flag"] == PRIORITY:
            lines.append(Highlight(f"Priorité : {label}, {value} contre {france} en France."))
        else:
            ref = row.get("ref_dep") if view.departement else row.get("ref_france")
            vigilance.append(f"{label} : {value} contre {F.value(ref, ind.unit)}")
    if vigilance:
        against = view.departement.display if view.departement else "la France"
        lines.append(Highlight(f"Point{'s' if len(vigilance) > 1 else ''} de vigilance face à {against} :",
                               tuple(vigilance)))
    if view.territory.level != "COM":
        lines += _unit_highlights(view, items)
    flagged_refs = _flag_counts(view, view.references, items, (VIGILANCE, PRIORITY))
    if flagged_refs:
        lines.append(Highlight("Signaux des lignes de référence, chacune comparée à sa propre référence : "
                               + ", ".join(f"{name} ({len(labels)})" for name, labels in flagged_refs) + "."))
    return lines


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
        names = [f"{p.display} ({F.value(r['value'], ind.unit)})" for p in view.units
                 if (r := view.cell(p, ind.id)) and r.get("flag") == PRIORITY]
        if names:
            lines.append(Highlight(f"{what} en priorité, {F.typography(ind.label)} : {', '.join(names)}."))
    watched = _flag_counts(view, view.units, items, (VIGILANCE,))
    if watched:
        where = "les intercommunalités" if view.units_are_epcis else "les communes"
        lines.append(Highlight(f"Points de vigilance dans {where} : "
                               + ", ".join(f"{name} ({len(labels)})" for name, labels in watched) + ".",
                               tuple(f"{name} : {', '.join(labels)}" for name, labels in watched)))
    return lines


def _position(view: TerritoryView, ind: Indicator) -> charts.Position:
    row = view.cell(view.territory, ind.id) or {}
    return charts.Position(
        label=ind.label, unit=ind.unit, value=row.get("value"),
        departement=_reference_value(view, view.departement, ind.id) if view.departement else None,
        france=_reference_value(view, view.france, ind.id) if view.france else None,
        flag=row.get("flag"), mark=N.mark(N.cell_reason(row.get("value"), row.get("status"))))


def headline(view: TerritoryView, items: list[Indicator]) -> Indicator | None:
    """The theme's indicator ranked across communes: the first rate with a need direction and commune values."""
    rates = [i for i in items if i.unit != "count"]
    with_values = [i for i in rates if any((r := view.cell(p, i.id)) and r.get("value") is not None
                                           and r.get("status") is None for p in view.units)]
    for pool in ([i for i in with_values if i.direction != "neutral"], with_values):
        if pool:
            return pool[0]
    return None


def theme_charts(view: TerritoryView, theme: str, items: list[Indicator]) -> list[dict]:
    out = []
    rates = [i for i in items if i.unit != "count"]
    if rates:
        out.append({"id": f"graphique-{theme}-positionnement",
                    "caption": f"{THEMES[theme]} : {view.territory.display} face à {view.compared_with}",
                    "svg": Markup(charts.positioning([_position(view, i) for i in rates], view.territory.display,
                                                     view.departement.display if view.departement else None,
                                                     f"g-{theme}-pos"))})
    best = headline(view, items) if len(view.units) > 1 else None
    if best is not None:
        bars = []
        for p in view.units:
            r = view.cell(p, best.id) or {}
            bars.append(charts.Bar(p.display, r.get("value"), r.get("flag"),
                                   N.mark(N.cell_reason(r.get("value"), r.get("status")))))
        refs = [charts.Reference(view.territory.display, _reference_value(view, view.territory, best.id), "territory")]
        if view.departement:
            refs.append(charts.Reference(view.departement.display,
                                         _reference_value(view, view.departement, best.id), "departement"))
        if view.france:
            refs.append(charts.Reference("France", _reference_value(view, view.france, best.id), "france"))
        what = "les intercommunalités" if view.units_are_epcis else "les communes"
        out.append({"id": f"graphique-{theme}-communes", "caption": f"{F.typography(best.label)} : {what}",
                    "svg": Markup(charts.ranked_dots(bars, refs, best.unit, f"{best.label} : {what}",
                                                     f"g-{theme}-com"))})
    return out


def age_chart(view: TerritoryView, inputs: Inputs) -> dict | None:
    """The age pyramid of the territory against its département, or against France for a département (summed
    from every commune, like the indicators; left out, and said so, when a part of France is unknown)."""
    reference = view.departement or view.france
    keys = [view.territory.key] + ([reference.key] if reference else [])
    sums = ages.age_sums(inputs, view.selection.customs, keys)
    if not sums:
        return None
    bands, by_sex = ages.age_bands(sums, view.territory.key, reference.key if reference else ("", ""))
    if all(b.men is None for b in bands):
        return None
    compared = reference is not None and any(b.ref_men is not None for b in bands)
    name = ("France" if reference.level == "FRANCE" else reference.display) if compared else None
    draw = charts.pyramid if by_sex else charts.age_bars
    year = inputs.main_year(ages.SOURCE)
    caption = f"Pyramide des âges en {year}" if by_sex else f"Structure par âge en {year}"
    caption += f" : {view.territory.display}" + (f" et {name}" if name else "")
    if not by_sex:
        caption += " (répartition par sexe non disponible)"
    if reference is not None and not compared:
        caption += " (comparaison non disponible : âges inconnus pour une partie de la référence)"
    return {"id": "graphique-pyramide-des-ages", "caption": caption,
            "svg": Markup(draw(bands, view.territory.display, name, "g-pyramide")),
            "source": f"Source : Insee, recensement {year}. Part de chaque tranche d'âge dans la population."}


def reading_keys(view: TerritoryView) -> list[dict]:
    """Every indicator's definition, direction, source and caveat, by theme."""
    sources = {}
    for r in view.rows.select("indicator", "source").drop_nulls().unique("indicator").iter_rows():
        sources[r[0]] = r[1]
    out = []
    for theme, items in _items_by_theme().items():
        out.append({"theme": THEMES[theme], "rows": [
            {"label": F.typography(i.label), "definition": F.typography(i.definition),
             "direction": DIRECTIONS_FR.get(i.direction, i.direction), "unit": F.UNIT_HINTS.get(i.unit, i.unit),
             "source": sources.get(i.id, ""), "caveat": F.typography(i.caveat),
             "minimum": F.count(i.min_denominator) if i.min_denominator else ""} for i in items]})
    return out


def render_report(table: pl.DataFrame, inputs: Inputs, selection: Selection, context: ReportContext) -> str:
    """The HTML page of one territory's diagnostic (nothing read or written: a pure function)."""
    view = territory_view(table, inputs.membership, selection)
    geography = _geography_note(context.manifest)
    comparison_year = _comparison_year(view)
    sections = []
    for theme, items in _items_by_theme().items():
        sections.append({
            "id": theme, "title": THEMES[theme], "highlights": highlights(view, items),
            "charts": ([age_chart(view, inputs)] if theme == "demographie" else []) + theme_charts(view, theme, items),
            "tables": [Markup(t) for t in T.theme_tables(view, theme, items, comparison_year, geography)],
        })
    for s in sections:
        s["charts"] = [c for c in s["charts"] if c]
    used = used_vintages(context.manifest, inputs.vintages)
    quality = source_quality(context.manifest, used)
    data_years = _data_years(inputs, quality)
    population = {p.key: (view.cell(p, "population") or {}).get("value") for p in view.units}
    page = _environment().get_template("report.html.j2").render(
        view=view, territory=view.territory, departement=view.departement, demo=context.demo,
        generated=F.long_date(context.generated_at), generated_iso=context.generated_at.isoformat(),
        version=context.version, units=[(p, population.get(p.key)) for p in view.units],
        n_communes=len(view.communes), by_epci=view.units_are_epcis,
        communes_per_epci=_communes_per_epci(inputs, view) if view.units_are_epcis else {},
        sources=sorted((q for q in quality if q.used), key=lambda q: (PUBLISHER_ORDER.get(q.publisher, 9), q.title)),
        quality=quality, data_years=data_years, key_figures=key_figures(view),
        key_sources=T.distinct_sources([(view.cell(view.territory, k) or {}).get("source") for k in KEY_FIGURES]),
        matrix=Markup(T.matrix_table(view)), sections=sections, reading_keys=reading_keys(view),
        general_keys=[(title, F.typography(text)) for title, text in READING_KEYS],
        marks=[(m, N.label(r)) for r, m in N.MARKS.items()],
        rules=context.rules, rules_text=_rules_text(context.rules), comparison_year=comparison_year,
        geography=geography, exports=context.exports, index_meta=INDEX_META,
    )
    return page


def _data_years(inputs: Inputs, quality) -> dict[str, str]:
    """source/vintage -> the latest year of the figures read, for each used source whose figures are of another
    year than its vintage (the Cnaf's 2024 files hold figures up to December 2023)."""
    out = {}
    for q in quality:
        year = inputs.main_year(q.source) if q.used else None
        if year is not None and str(year) != q.vintage:
            out[q.key] = str(year)
    return out


def _communes_per_epci(inputs: Inputs, view: TerritoryView) -> dict[str, int]:
    """How many of the territory's communes each of its EPCIs holds (an EPCI may lie across its border)."""
    codes = [p.code for p in view.communes]
    counts = inputs.membership.filter(pl.col("code").is_in(codes)).group_by("epci").len()
    return {e: n for e, n in counts.iter_rows() if e}


def _rules_text(rules: FlagRules) -> dict:
    """The flag rules in words, with the configured gaps (relative, in %)."""
    vigilance = "plus défavorable que celle de son département (celle de la France pour un département)"
    if rules.vigilance_gap:
        vigilance += f" d'au moins {F.value(rules.vigilance_gap * 100, 'percent')}"
    priority = ("plus défavorable que celles du département et de la France (celle de la France pour un "
                f"département) d'au moins {F.value(rules.priority_gap * 100, 'percent')}")
    return {"vigilance": vigilance, "priorite": priority}


# -- the site ---------------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def report_name(selection: Selection) -> str:
    return f"diagnostic-{selection.stem}.html"


def render_index(out_dir: Path, demo: bool, generated_at: datetime) -> str:
    """The list of the reports found in `out_dir` (this build's and earlier ones), by file name.

    The index says the figures are synthetic when `demo` is set or any report it lists says so (a national run
    builds the index apart from the reports)."""
    entries = []
    for path in sorted(out_dir.glob("diagnostic-*.html")):
        text = path.read_text(encoding="utf-8", errors="replace")
        demo = demo or DEMO_BANNER in text
        found = re.search(rf'<meta name="{INDEX_META}" content="([^"]*)">', text)
        when = re.search(r'<meta name="abs-diag-genere" content="([^"]*)">', text)
        kind = re.search(r'<meta name="abs-diag-nature" content="([^"]*)">', text)
        exports = sorted(p.name for p in out_dir.glob(f"indicateurs-{path.stem.removeprefix('diagnostic-')}.*"))
        entries.append({"file": path.name, "name": html_lib.unescape(found.group(1)) if found else path.stem,
                        "generated": html_lib.unescape(when.group(1)) if when else "",
                        "kind": html_lib.unescape(kind.group(1)) if kind else "", "exports": exports})
    return _environment().get_template("index.html.j2").render(
        entries=entries, demo=demo, generated=F.long_date(generated_at), version=pipeline_version())


@reads_one_state
def build_site(store: Store, selections: list[Selection], out_dir: Path, *, demo: bool = False,
               generated_at: datetime | None = None, rules: FlagRules = FlagRules(),
               table: pl.DataFrame | Path | None = None) -> SiteResult:
    """Compute the indicators once, then write each selection's report and exports, and the index.

    `table` is the full diagnostic_table of this store (with the selections' custom territories, computed with
    `rules`), or the Parquet file it was saved to: a national batch computes it once and hands it to every call
    instead of recomputing it each time.

    The reports and exports say the figures are synthetic when `demo` is set or the store holds demo mirror files."""
    demo = demo or store_is_synthetic(store)
    if isinstance(table, (str, Path)):
        table = pl.read_parquet(table)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated_at = generated_at or datetime.now(timezone.utc)
    inputs = load_inputs(store)
    customs = tuple(c for s in selections for c in s.customs)
    codes = [c.code for c in customs]
    if len(set(codes)) != len(codes):  # the indicator table keys territories by code: two would be summed as one
        raise ValueError("custom territories built together need distinct codes (CustomTerritory(code=...)): "
                         + ", ".join(sorted({c for c in codes if codes.count(c) > 1})))
    if table is None:
        table = diagnostic_table(store, customs, rules, inputs=inputs)
    base = ReportContext(generated_at=generated_at, manifest=store.manifest(), version=pipeline_version(), demo=demo,
                         rules=rules)
    reports, exports = [], []
    for selection in selections:
        view_rows = territory_view(table, inputs.membership, selection).rows
        paths = write_exports(view_rows, out_dir, f"indicateurs-{selection.stem}", demo=demo)
        exports += list(paths.values())
        context = replace(base, exports=tuple((fmt.upper(), p.name) for fmt, p in paths.items()))
        target = out_dir / report_name(selection)
        _write(target, render_report(table, inputs, selection, context))
        reports.append(target)
    index = out_dir / "index.html"
    _write(index, render_index(out_dir, demo, generated_at))
    return SiteResult(reports=reports, index=index, exports=exports)
