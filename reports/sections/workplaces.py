"""« Lieux de travail des actifs »: where the employed residents of the territory work when they leave it.

From the census home-work flows (`mobility_destinations`: per commune of residence, the flow to each place of
work outside it): the flows of the territory's communes to places outside the territory are summed by place of
work, and the main ones are listed with their share of the territory's employed residents whose place of work is
known (`mobility:ACTOCC_LIEU_CONNU`). A flow between two communes of the territory is not "leaving" it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import cast

import polars as pl

from reports import formats as F
from reports.inputs import staged_rows
from reports.sections.base import Section
from reports.shared import CommuneRows
from reports.view import TerritoryView
from sources.registry import report_label
from transforms.compute import Inputs

TOP = 10  # places listed; the others are summed in one row
ABROAD = "ETRANGER"


KEPT = CommuneRows(size=2)  # the flows and the employed with a known place of work, from a state's second report on


def places_of_work(inputs: Inputs, communes: list[str], state: str = "") -> tuple[pl.DataFrame, float | None]:
    """(code, flow) of every place of work outside `communes` of their residents, biggest first, and the
    residents' employed with a known place of work (None when the flows are not staged). The rows of a store
    `state` are kept after its first report (`reports.shared.CommuneRows`; none when it is empty)."""
    if "mobility_destinations" not in inputs.staged or "mobility" not in inputs.staged:
        return pl.DataFrame(schema={"code": pl.String, "flow": pl.Float64}), None
    flow = (pl.col("level") == "COM") & pl.col("value").is_not_null()
    known_place = (pl.col("level") == "COM") & (pl.col("variable") == "ACTOCC_LIEU_CONNU")

    def reader(source: str, keep: pl.Expr, columns: tuple[str, ...]) -> Callable[[list[str] | None], pl.DataFrame]:
        def read(codes: list[str] | None) -> pl.DataFrame:
            wanted = keep if codes is None else keep & pl.col("code").is_in(codes)
            return cast(pl.DataFrame, staged_rows(inputs, source, wanted)).select(columns)  # both staged: frames

        return read

    read_flows = reader("mobility_destinations", flow, ("code", "variable", "value"))
    read_known = reader("mobility", known_place, ("code", "value"))
    flows = KEPT.of(state, "flows", communes, partial(read_flows, None), read_flows)
    known = KEPT.of(state, "known", communes, partial(read_known, None), read_known)
    out = (
        flows.filter(~pl.col("variable").is_in(communes))
        .group_by("variable")
        .agg(flow=pl.col("value").sum())
        .rename({"variable": "code"})
        .sort(["flow", "code"], descending=[True, False])
    )
    total = None if known.is_empty() or known["value"].null_count() else float(known["value"].sum())
    return out, total


def _name(code: str, names: dict[str, tuple[str, str]]) -> str:
    if code == ABROAD:
        return "Étranger"
    name, dep = names.get(code, (f"Commune {code}", code[:2]))
    return f"{name} ({dep})"


def build(view: TerritoryView, inputs: Inputs, state: str = "") -> dict | None:
    communes = [p.code for p in view.communes if p.level == "COM"]
    flows, total = places_of_work(inputs, communes, state)
    if total is None or not total:
        return None
    listed = flows.head(TOP)
    named = inputs.membership.filter(pl.col("code").is_in(listed["code"].to_list()))  # not France's 35,000 names
    names = {c: (n, d) for c, n, d in named.select("code", "name", "dep").iter_rows()}
    leaving = float(flows["flow"].sum())
    rows = [
        {"rank": i, "place": _name(code, names), "flow": F.count(flow), "share": F.value(100 * flow / total, "percent")}
        for i, (code, flow) in enumerate(listed.iter_rows(), start=1)
    ]
    rest = flows.slice(TOP)
    year = inputs.main_year("mobility")
    return {
        "territory": view.territory.display,
        "total": F.count(total),
        "leaving": F.count(leaving),
        "leaving_share": F.value(100 * leaving / total, "percent"),
        "rows": rows,
        "rest": {
            "n": rest.height,
            "flow": F.count(float(rest["flow"].sum())),
            "share": F.value(100 * float(rest["flow"].sum()) / total, "percent"),
        }
        if rest.height
        else None,
        "outside": "de la commune" if view.selection.commune else "du territoire",
        "inside": "dans la commune" if view.selection.commune else "sur le territoire",
        "source": report_label("mobility", year),
    }


TEMPLATE = """\
  <p>Sur {{ total }} actifs occupés résidant {{ inside }} dont le lieu de travail est connu, {{ leaving }} ({{ leaving_share }}) travaillent en dehors {{ outside }}.{% if not rows %}</p>{% endif +%}
  {% if rows %}
  Leurs principaux lieux de travail :</p>
  <table class="workplaces">
    <caption>Principaux lieux de travail en dehors {{ outside }} des actifs de {{ territory }}</caption>
    <thead><tr><th scope="col">Rang</th><th scope="col">Lieu de travail</th><th scope="col">Actifs occupés</th>
      <th scope="col">Part des actifs au lieu de travail connu</th></tr></thead>
    <tbody>
    {% for row in rows %}<tr><td>{{ row.rank }}</td><th scope="row">{{ row.place }}</th><td>{{ row.flow }}</td><td>{{ row.share }}</td></tr>
    {% endfor %}
    {% if rest %}<tr><td></td><th scope="row">{{ rest.n }} autres lieux</th><td>{{ rest.flow }}</td><td>{{ rest.share }}</td></tr>{% endif %}
    </tbody>
  </table>
  {% endif %}
  <p class="small">Source : {{ source }}. Effectifs estimés, arrondis à l'unité ; Paris, Lyon et Marseille
  comptent comme une commune ; les lieux de travail indéterminés sont exclus.</p>
"""

CSS = """
/* places of work */
table.workplaces { border-collapse: collapse; margin: .4rem 0; break-inside: avoid; }
table.workplaces caption { text-align: left; font-weight: 600; padding-bottom: .3rem; }
table.workplaces th, table.workplaces td { padding: .2rem .6rem; border-bottom: 1px solid var(--line); }
table.workplaces th[scope="row"] { text-align: left; font-weight: normal; }
table.workplaces td { text-align: right; font-variant-numeric: tabular-nums; }
"""

SECTION = Section(
    id="lieux-de-travail",
    title="Lieux de travail des actifs",
    needs=("view", "inputs", "state"),
    build=build,
    template=TEMPLATE,
    css=CSS,
)
