"""« Cartes »: the territory in its département, then one choropleth of its communes per key indicator of each
theme (the indicators marked `map = true` in transforms/indicators.toml), grouped by theme.

A commune's report (or a territory of one commune) gets the locator map only: a map of one commune says nothing a
table does not. The maps read the staged commune contours (`sources.contours`); a store where they are not staged
gets a sentence saying how to stage them, never a silent gap. A commune of the territory without a geometry is an
error naming it: the contours staged are of another COG than the indicators.
"""

from __future__ import annotations

import polars as pl
import shapely
from markupsafe import Markup

from reports import formats as F
from reports import maps as M
from reports import notes as N
from reports.sections.base import Section, items_by_theme
from reports.view import Place, TerritoryView
from storage.store import Store
from transforms.compute import Inputs
from transforms.registry import THEMES, Indicator

SOURCE = "commune_contours"
SHAPES_ID = "c"  # ids of the commune paths defined once in the section, used by every map
DIRECTION_NOTE = {
    "higher_is_need": "une valeur élevée signale un besoin",
    "lower_is_need": "une valeur faible signale un besoin",
}


class MissingContours(ValueError):
    """Communes of the territory have no staged geometry."""


def staged_contours(store: Store) -> pl.DataFrame | None:
    """The staged commune contours of the store (latest vintage), or None when they were never staged."""
    try:
        return store.read_staged(SOURCE)
    except FileNotFoundError:
        return None


def geometries(contours: pl.DataFrame, level: str, codes: list[str]) -> dict[str, object]:
    """code -> shapely geometry of the given codes at `level` (COM: whole cities, never their arrondissements)."""
    rows = contours.filter((pl.col("level") == level) & pl.col("code").is_in(codes))
    found = dict(zip(rows["code"].to_list(), shapely.from_wkb(rows["geometry"].to_list())))
    missing = [c for c in codes if c not in found]
    if level == "COM" and missing:
        raise MissingContours(
            f"{SOURCE}: no geometry for the commune(s) {', '.join(missing[:10])}: the staged "
            f"contours are not of the indicators' geography (abs-diag refresh --source {SOURCE})"
        )
    return found


def _area(view: TerritoryView, place: Place, geometry, ind: Indicator) -> M.Area:
    row = view.cell(place, ind.id) or {}
    value, status = row.get("value"), row.get("status")
    reason = N.cell_reason(value, status)
    shown = F.value(value, ind.unit) if value is not None else ""
    return M.Area(place.code, place.name, geometry, value if reason is None else None, reason, shown)


def _map(
    view: TerritoryView, ind: Indicator, shapes: dict[str, object], numbers: dict[str, int], layout: M.Layout
) -> dict:
    areas = [_area(view, p, shapes[p.code], ind) for p in view.communes]
    label = F.typography(ind.label)
    caption = f"{label} : les communes de {view.territory.display}"
    note = DIRECTION_NOTE.get(ind.direction)
    return {
        "id": f"carte-{ind.id}",
        "caption": caption,
        "note": f"Plus la teinte est foncée, plus la valeur est élevée{f' ({note})' if note else ''}.",
        "svg": Markup(M.choropleth(areas, ind.unit, caption, f"m-{ind.id}", numbers, SHAPES_ID, layout)),
    }


def _context(view: TerritoryView, inputs: Inputs, contours: pl.DataFrame, deps: list[str]) -> list[tuple[str, object]]:
    """(name, geometry) of the départements the locator shows."""
    shapes = geometries(contours, "DEP", deps)
    return [(f"{inputs.dep_names.get(d, 'Département')} ({d})", shapes[d]) for d in deps if d in shapes]


def _locator(view: TerritoryView, inputs: Inputs, contours: pl.DataFrame, shapes: dict[str, object]) -> dict:
    territory = shapely.coverage_union_all(list(shapes.values()))
    if view.territory.level == "DEP":
        own = geometries(contours, "DEP", [view.territory.code])
        others = contours.filter(pl.col("level") == "DEP")
        around = shapely.from_wkb(others["geometry"].to_list())
        near = [
            c
            for c, g in zip(others["code"].to_list(), around)
            if view.territory.code in own and g.distance(own[view.territory.code]) < 1.0
        ]
        deps = sorted(set(near) | set(own))
        where = "et les départements voisins"
    else:
        deps = sorted(set(view.rows.filter(pl.col("level") == "DEP")["code"].to_list()))
        where = "dans son département" if len(deps) == 1 else "dans ses départements"
    caption = f"{view.territory.display} {where}"
    return {
        "id": "carte-situation",
        "caption": caption,
        "svg": Markup(M.locator(territory, _context(view, inputs, contours, deps), caption, "m-situation")),
    }


def build(view: TerritoryView, inputs: Inputs, contours: pl.DataFrame | None) -> dict:
    if contours is None:
        return {
            "missing": f"Cartes non disponibles : les contours communaux ne sont pas chargés "
            f"(abs-diag refresh --source {SOURCE})."
        }
    codes = [p.code for p in view.communes]
    shapes = geometries(contours, "COM", codes)
    locator = _locator(view, inputs, contours, shapes)
    if len(codes) < 2:
        return {"locator": locator, "themes": [], "key": [], "single": True}
    areas = [M.Area(p.code, p.name, shapes[p.code], None) for p in view.communes]
    layout = M.Layout.of(areas)  # the frame, shapes and number places every map of the territory shares
    numbers = {p.code: i for i, p in enumerate((p for p in view.communes if p.code in layout.points), start=1)}
    themes = []
    for theme, items in items_by_theme().items():
        mapped = [_map(view, ind, shapes, numbers, layout) for ind in items if ind.map]
        if mapped:
            themes.append({"id": f"cartes-{theme}", "title": THEMES[theme], "maps": mapped})
    key = [(n, p.name) for p in view.communes if (n := numbers.get(p.code))]
    return {
        "locator": locator,
        "themes": themes,
        "key": key,
        "single": False,
        "shapes": Markup(M.shape_defs(areas, SHAPES_ID, layout)),
        "unnumbered": len(view.communes) - len(key),
    }


TEMPLATE = """\
  {% if missing %}
  <p class="lead">{{ missing }}</p>
  {% else %}
  {{ shapes }}
  <p class="lead">Les communes du territoire, colorées selon la valeur de l'indicateur ; les classes sont les quantiles des valeurs des communes du territoire (des effectifs proches par classe). Une commune hachurée n'a pas de valeur propre : la légende en donne le motif. Survoler une commune affiche son nom et sa valeur.</p>
  <figure class="map-box map-locator" id="{{ locator.id }}">
    <figcaption>{{ locator.caption }}</figcaption>
    {{ locator.svg }}
  </figure>
  {% if single %}
  <p>Le territoire compte une seule commune : ses indicateurs sont dans les tableaux des thèmes, sans carte.</p>
  {% endif %}
  {% if key %}
  <div class="map-key"><h3>Numéros des communes sur les cartes</h3>
    <ol>{% for n, name in key %}<li value="{{ n }}">{{ name }}</li>{% endfor %}</ol>
    {% if unnumbered %}<p class="small">{{ unnumbered }} commune(s) trop petite(s) à cette échelle pour porter un numéro : leur nom et leur valeur s'affichent au survol.</p>{% endif %}
  </div>
  {% endif %}
  {% for theme in themes %}
  <div class="map-theme">
  <h3 id="{{ theme.id }}">{{ theme.title }}</h3>
  {% for m in theme.maps %}
  <figure class="map-box" id="{{ m.id }}">
    <figcaption>{{ m.caption }}</figcaption>
    {{ m.svg }}
    <p class="src">{{ m.note }}</p>
  </figure>
  {% endfor %}
  </div>
  {% endfor %}
  {% endif %}
"""

CSS = """
/* « Cartes » */
.map-box { margin: 1rem 0 1.4rem; }
.map-box figcaption { font-weight: 600; margin-bottom: .3rem; }
.map-box svg.map { display: block; width: 100%; max-width: 520px; height: auto; }
.map-locator svg.map { max-width: 300px; }
.map-box svg.map [data-code]:hover { stroke: #1d2733; stroke-width: 2; }
svg.map-shapes { position: absolute; width: 0; height: 0; overflow: hidden; }
.map-key ol { columns: 3; column-gap: 1.5rem; font-size: .9rem; padding-left: 2rem; margin: .3rem 0; }
@media print {
  .map-box { break-inside: avoid; }
  .map-box svg.map { max-height: 84mm; width: auto; max-width: 100%; }  /* three maps a page */
  .map-locator svg.map { max-height: 70mm; }
  .map-key ol { columns: 4; font-size: 8pt; }
  svg.map { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"""

SECTION = Section(
    id="cartes",
    title="Cartes des communes",
    needs=("view", "inputs", "contours"),
    build=build,
    template=TEMPLATE,
    css=CSS,
    css_class="maps",
    # built first: its 11 pictures keep the picture workers busy while the themes are built (the series' charts,
    # drawn last, are needed last by the document: it waits for no picture long before its end)
    draws_first=True,
)
