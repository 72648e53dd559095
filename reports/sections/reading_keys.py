"""« Clefs de lecture »: the flag rules in words, the general caveats, the marks of empty cells, and every
indicator's definition, direction, source and caveat by theme."""

from __future__ import annotations

import re

from reports import formats as F
from reports import notes as N
from reports.sections.base import Section, items_by_theme
from reports.view import TerritoryView
from transforms.compare import FlagRules
from transforms.export import DIRECTIONS_FR
from transforms.registry import THEMES, Indicator

# What every reader must know before comparing figures (the caveats of indicators-and-anchors.md §C.10).
READING_KEYS = (
    (
        "Chômage",
        "Le taux de chômage du recensement repose sur la déclaration des personnes : ce n'est pas le taux "
        "de chômage au sens du BIT publié chaque trimestre par l'Insee, et il est plus élevé.",
    ),
    (
        "Accueil du jeune enfant",
        "Le taux de couverture est une capacité théorique d'accueil (places pour 100 enfants "
        "de moins de 3 ans), pas un taux d'occupation : une place peut être inoccupée ou "
        "partagée. La CAF ne le publie que pour les communes de plus de 10 000 habitants ; "
        "ailleurs, le taux affiché est celui de l'EPCI (marque e).",
    ),
    (
        "Pauvreté",
        "Les taux de pauvreté communaux de Filosofi sont soumis au secret statistique dans les petites "
        "communes et planchers à 5\u202f% : un classement des communes « les moins pauvres » n'a pas de "
        "sens.",
    ),
    (
        "Effectifs CAF",
        "Les effectifs d'allocataires publiés par la Cnaf sont arrondis à 5 (régime général, "
        "hors MSA) : la somme des communes peut différer légèrement du total publié pour le "
        "département.",
    ),
    (
        "Médianes",
        "Une médiane ne s'additionne pas : le niveau de vie médian de chaque niveau (commune, EPCI, "
        "département, France) est celui publié par l'Insee ; il n'est pas calculable pour un regroupement "
        "de communes (marque na).",
    ),
    (
        "Évolutions",
        "Les évolutions comparent deux recensements distants d'au moins cinq ans, comme l'Insee le "
        "conseille ; les taux évoluent en points (pt), les effectifs en % par an, les indices et les "
        "rapports (indice de vieillissement, taille des ménages…) en simple différence, dans leur unité "
        "et avec autant de décimales que la valeur (2,26 puis 2,24 personnes par ménage : −0,02). "
        "La flèche suit le signe de l'évolution affichée ; ≈ signale une évolution qui s'arrondit à "
        "zéro.",
    ),
    (
        "Secret statistique",
        "Une commune dont un chiffre est soumis au secret reste vide. Au-dessus de la commune "
        "(intercommunalité, département, France, regroupement), un taux est calculé sur les "
        "communes dont les chiffres sont connus, numérateur et dénominateur ensemble, dès "
        "qu'elles réunissent au moins 90 % de la population du territoire (marque hs, avec la "
        "part de la population couverte sous le tableau) ; en deçà, il reste vide. Un effectif "
        "(naissances, places) n'est jamais complété sans ses parts secrètes.",
    ),
    (
        "Solde migratoire",
        "Le solde migratoire est « apparent » : il est estimé par différence entre la variation "
        "totale et le solde naturel, et porte aussi les écarts de mesure entre deux recensements.",
    ),
    (
        "Équipements (BPE)",
        "La base permanente des équipements de l'Insee compte des équipements au 1er janvier, pas "
        "des places ni des heures d'ouverture : une micro-crèche et un multi-accueil comptent chacun "
        "pour un. Chaque définition donne les types BPE comptés ; un type absent du millésime "
        "(micro-crèches avant la BPE 2025) est non disponible, jamais 0. Un équipement sert aussi "
        "les communes voisines : dans une petite commune, lire plutôt l'intercommunalité.",
    ),
)


SHARED_CAVEAT_MIN = 3  # a caveat sentence of this many indicators or more is printed once, numbered (P1, P2…)


def caveat_sentences(caveat: str) -> list[str]:
    """`Un. Deux ; trois.` -> [`Un.`, `Deux ; trois.`]: split after a full stop followed by a capital."""
    return [part for part in re.split(r"(?<=[.!?…])\s+(?=[A-ZÀ-Ý«])", caveat.strip()) if part]


def shared_caveats(items: list[Indicator]) -> list[str]:
    """The caveat sentences that several indicators repeat word for word (the BPE counts equipment, not places),
    in the order they first appear."""
    counts: dict[str, int] = {}
    for ind in items:
        for sentence in dict.fromkeys(caveat_sentences(ind.caveat)):
            counts[sentence] = counts.get(sentence, 0) + 1
    return [sentence for sentence, n in counts.items() if n >= SHARED_CAVEAT_MIN]


def own_caveat(caveat: str, shared: list[str]) -> tuple[str, list[str]]:
    """An indicator's caveat without the shared sentences, and the references (P1…) of those it has."""
    sentences = caveat_sentences(caveat)
    refs = [f"P{n}" for n, sentence in enumerate(shared, start=1) if sentence in sentences]
    return " ".join(s for s in sentences if s not in shared), refs


def reading_keys(view: TerritoryView, shared: list[str]) -> list[dict]:
    """Every indicator's definition, direction, source and caveat (its own sentences, and the numbers of the shared
    ones), by theme."""
    sources = dict(view.rows.select("indicator", "source").drop_nulls().unique("indicator").iter_rows())
    return [
        {
            "theme": THEMES[theme],
            "rows": [
                {
                    "label": F.typography(i.label),
                    "definition": F.typography(i.definition),
                    "direction": DIRECTIONS_FR.get(i.direction, i.direction),
                    "unit": "" if "pour 100" in i.label else F.UNIT_HINTS.get(i.unit, i.unit),
                    "source": sources.get(i.id, ""),
                    "caveat": F.typography(own_caveat(i.caveat, shared)[0]),
                    "shared": own_caveat(i.caveat, shared)[1],
                    "minimum": F.count(i.min_denominator) if i.min_denominator else "",
                }
                for i in items
            ],
        }
        for theme, items in items_by_theme().items()
    ]


def rules_text(rules: FlagRules) -> dict:
    """The flag rules in words, with the configured gaps (relative, in %)."""
    vigilance = "plus défavorable que celle de son département (celle de la France pour un département)"
    if rules.vigilance_gap:
        vigilance += f" d'au moins {F.value(rules.vigilance_gap * 100, 'percent')}"
    priority = (
        "plus défavorable que celles du département et de la France (celle de la France pour un "
        f"département) d'au moins {F.value(rules.priority_gap * 100, 'percent')}"
    )
    return {"vigilance": vigilance, "priorite": priority}


def build(view: TerritoryView, rules: FlagRules) -> dict:
    shared = shared_caveats([i for items in items_by_theme().values() for i in items])
    return {
        "rules_text": rules_text(rules),
        "reading_keys": reading_keys(view, shared),
        "shared_caveats": [F.typography(sentence) for sentence in shared],
        "general_keys": [(title, F.typography(text)) for title, text in READING_KEYS],
        "marks": [(m, N.label(r)) for r, m in N.MARKS.items()],
    }


TEMPLATE = """\
  <h3>Signaux de besoin</h3>
  <dl class="keys">
    <dt><span class="flag flag-v">!</span> Point de vigilance</dt><dd>La valeur est {{ rules_text.vigilance }}.</dd>
    <dt><span class="flag flag-p">!!</span> Priorité</dt><dd>La valeur est {{ rules_text.priorite }} (écart relatif). Le sens du besoin dépend de l'indicateur (un taux de pauvreté élevé, un taux de couverture bas) ; les indicateurs neutres et les effectifs ne sont jamais signalés. Pour un indicateur à double sens (la variation annuelle de la population), c'est un écart marqué dans un sens ou dans l'autre qui est signalé : une forte croissance sollicite les services (écoles, accueil du jeune enfant) autant qu'une baisse les fragilise. Ces signaux ouvrent la discussion entre partenaires ; ils ne la remplacent pas.</dd>
  </dl>
  <h3>Précautions générales</h3>
  <dl class="keys">
  {% for title, text in general_keys %}<dt>{{ title }}</dt><dd>{{ text }}</dd>
  {% endfor %}
  </dl>
  <h3>Cellules vides et marques</h3>
  <ul class="marks">
  {% for mark, label in marks %}<li><sup class="mk">{{ mark }}</sup> {{ label }}</li>
  {% endfor %}
  </ul>
  {% if shared_caveats %}
  <h3>Précautions communes à plusieurs indicateurs</h3>
  <ol class="shared-caveats">
  {% for text in shared_caveats %}<li><strong>P{{ loop.index }}</strong> {{ text }}</li>
  {% endfor %}
  </ol>
  {% endif %}
  <div class="defs-groups">
  {% for group in reading_keys %}
  <h3>{{ group.theme }}</h3>
  <table class="plain defs">
    <colgroup><col style="width:27%"><col style="width:56%"><col style="width:17%"></colgroup>
    <thead><tr><th scope="col">Indicateur</th><th scope="col">Définition, sens de lecture et précautions</th><th scope="col">Source</th></tr></thead>
    <tbody>
    {% for r in group.rows %}
      <tr><th scope="row">{{ r.label }}{% if r.unit %} <span class="small">({{ r.unit }})</span>{% endif %}</th><td>{{ r.definition }}{% if r.minimum %} <span class="small">Non calculé sous {{ r.minimum }} au dénominateur.</span>{% endif %} <span class="small">Sens de lecture : {{ r.direction }}.</span>{% if r.caveat or r.shared %}<br><span class="caveat">Précaution : {% if r.shared %}voir {{ r.shared | join(", ") }}.{% if r.caveat %} {% endif %}{% endif %}{{ r.caveat }}</span>{% endif %}</td><td>{{ r.source }}</td></tr>
    {% endfor %}
    </tbody>
  </table>
  {% endfor %}
  </div>
"""

CSS = """
/* reading keys */
dl.keys { display: grid; grid-template-columns: 12rem 1fr; gap: .4rem 1rem; margin: .5rem 0 1rem; }
dl.keys dt { font-weight: 650; }
dl.keys dd { margin: 0; }
table.defs { table-layout: fixed; }
table.defs tbody th { font-weight: 600; }
table.defs .caveat { color: var(--muted); }
table.defs th .small { font-weight: 400; }
@media print { table.defs { line-height: 1.3; } }
.marks { columns: 2; list-style: none; padding: 0; font-size: .86rem; }
.marks li { break-inside: avoid; }
ol.shared-caveats { list-style: none; padding: 0; margin: .3rem 0 .8rem; }
ol.shared-caveats li { margin: .15rem 0; }
"""

SECTION = Section(
    id="clefs-de-lecture", title="Clefs de lecture", needs=("view", "rules"), build=build, template=TEMPLATE, css=CSS
)
