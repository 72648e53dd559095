"""« Ce que les données ouvertes ne disent pas »: the CTG topics with no open figure at commune or EPCI level.

Declared as data in `transforms/gaps.toml` (topic, why, what comes closest), listed under the theme a reader
would look for them in, so that a missing figure is a stated limit of the open data, never a silent gap.
"""

from __future__ import annotations

from reports import formats as F
from reports.sections.base import Section
from transforms.registry import THEMES, gaps


def build() -> dict | None:
    by_theme: dict[str, list[dict]] = {}
    for gap in gaps():
        by_theme.setdefault(gap.theme, []).append(
            {"topic": F.typography(gap.topic), "reason": F.typography(gap.reason), "nearest": F.typography(gap.nearest)}
        )
    if not by_theme:
        return None
    themes = [(THEMES[t], t, by_theme[t]) for t in THEMES if t in by_theme]
    return {"themes": themes}


TEMPLATE = """\
  <p>Certains sujets des conventions territoriales globales n'ont pas de chiffre en données ouvertes à l'échelle
  de la commune ou de l'intercommunalité. Ils ne figurent donc pas dans les tableaux ; voici pourquoi, et ce qui
  s'en approche.</p>
  {% for title, id, items in themes %}
  <h3>{{ title }}</h3>
  <dl class="gaps">
    {% for item in items %}<dt>{{ item.topic }}</dt>
    <dd><p>{{ item.reason }}</p><p><strong>À défaut :</strong> {{ item.nearest }}</p></dd>
    {% endfor %}
  </dl>
  {% endfor %}
"""

CSS = """
/* open data gaps */
dl.gaps dt { font-weight: 600; margin-top: .6rem; }
dl.gaps dd { margin: .2rem 0 0 1rem; }
dl.gaps dd p { margin: .15rem 0; }
dl.gaps { break-inside: avoid-page; }
"""

SECTION = Section(
    id="donnees-absentes",
    title="Ce que les données ouvertes ne disent pas",
    needs=(),
    build=build,
    template=TEMPLATE,
    css=CSS,
)
