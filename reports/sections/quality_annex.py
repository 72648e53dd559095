"""« Qualité des données »: every source of the store manifest, its vintage, geography, rows, secret and empty
cells, the geography changes applied, and the outcome of its last refresh."""

from __future__ import annotations

from reports.journal import journal
from reports.quality import SourceQuality
from reports.sections.base import Section


def build(quality: list[SourceQuality], data_years: dict[str, str]) -> dict:
    return {
        "quality": quality,
        "data_years": data_years,
        "journals": {q.key: journal(q.notes) for q in quality},
    }  # the parsers' notes, in French


TEMPLATE = """\
  <p class="lead">Chaque source est téléchargée, contrôlée (colonnes attendues, codes géographiques, valeurs) puis ramenée à la géographie communale cible. Les valeurs secrètes ou manquantes restent vides, jamais remplacées par zéro.</p>
  <table class="plain annex" id="annexe-qualite">
    <colgroup><col style="width:20%"><col style="width:10%"><col style="width:10%"><col style="width:8%"><col style="width:9%"><col style="width:15%"><col style="width:16%"><col style="width:12%"></colgroup>
    <thead><tr><th scope="col">Source</th><th scope="col">Millésime</th><th scope="col">Géographie</th><th scope="col" class="num">Lignes</th><th scope="col" class="num">Cellules secrètes</th><th scope="col">Cellules vides par motif</th><th scope="col">Changements de géographie appliqués</th><th scope="col">Contrôle</th></tr></thead>
    <tbody>
    {% for q in quality %}
      <tr>
        <th scope="row">{{ q.title }}{% if q.used %} <span class="small">(utilisée)</span>{% endif %}
          {% if q.hosts %}<br><span class="small">{% for host, url in q.hosts %}<a href="{{ url }}">{{ host }}</a>{% if not loop.last %}, {% endif %}{% endfor %}</span>{% endif %}
          {% set j = journals[q.key] %}{% if q.notes %}<details><summary>Journal du traitement ({{ q.notes|length }} note{{ "s" if q.notes|length > 1 }})</summary><ul>{% for n in j.lines %}<li>{{ n }}</li>{% endfor %}{% if j.untranslated %}<li>{{ j.untranslated }} note{{ "s" if j.untranslated > 1 }} technique{{ "s" if j.untranslated > 1 }} de plus, conservée{{ "s" if j.untranslated > 1 }} dans le manifeste du stock de données.</li>{% endif %}</ul></details>{% endif %}
        </th>
        <td>{{ q.vintage }}{% if data_years.get(q.key) %}<br><span class="small">données {{ data_years[q.key] }}</span>{% endif %}</td>
        <td>{{ q.geography }}</td>
        <td class="num">{{ q.rows|nombre if q.rows is not none else "—" }}</td>
        <td class="num">{{ q.secret_cells|nombre if q.secret_cells is not none else "—" }}</td>
        <td>{% for label, n in q.null_cells %}{{ label }} : {{ n|nombre }}{% if not loop.last %}<br>{% endif %}{% else %}aucune{% endfor %}</td>
        <td>{% for line in q.geo_changes %}{{ line }}{% if not loop.last %}<br>{% endif %}{% else %}aucun{% endfor %}</td>
        <td>{% if q.last_failure %}<span class="ko">Échec</span> {{ q.last_failure }}{% elif q.staged_at %}<span class="ok">Validée</span> le {{ q.staged_at }}{% else %}non intégrée{% endif %}</td>
      </tr>
    {% endfor %}
    </tbody>
  </table>
"""

CSS = """
/* data-quality annex */
table.annex { table-layout: fixed; }
details { margin-top: .3rem; }
details summary { cursor: pointer; color: var(--blue-2); font-size: .82rem; }
details ul { font-size: .78rem; color: var(--muted); margin: .3rem 0; padding-left: 1.1rem; }
.ok { color: #1d6b3a; font-weight: 600; }
.ko { color: var(--prio-ink); font-weight: 600; }
@media print {
  details { display: none; }
  /* narrow annex columns at 7.8 pt: a long heading wraps inside its cell instead of running into its neighbour
     ("MillésimeGéographieLignes") */
  table.annex th, table.annex td { overflow-wrap: anywhere; hyphens: auto; }
}
"""

SECTION = Section(
    id="qualite", title="Qualité des données", needs=("quality", "data_years"), build=build, template=TEMPLATE, css=CSS
)
