"""What issue 13's readers asked of the report: WCAG AA contrast computed, row headers, units, France's balances,
the commune compared with its EPCI first, the département read by its EPCIs, the annex's journal in French."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reports import charts
from reports.contrast import GRAPHIC_MIN, TEXT_MIN, contrast, failing_text_pairs, luminance
from reports.journal import journal, translate
from reports.site import DEMO_EPCI, build_site
from transforms.pipeline import Selection

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
CLISSON, CSMA = "44043", "200067346"  # Clisson and its EPCI, CA Clisson Sèvre et Maine Agglo


@pytest.fixture(scope="module")
def pages(demo_store, tmp_path_factory) -> dict[str, str]:
    site = build_site(demo_store, [Selection(epci=DEMO_EPCI), Selection(commune=CLISSON),
                                   Selection(departement="85")],
                      tmp_path_factory.mktemp("readers"), demo=True, generated_at=WHEN)
    return {kind: Path(p).read_text(encoding="utf-8") for kind, p in zip(("epci", "commune", "dep"), site.reports)}


# -- contrast -------------------------------------------------------------------------------------------------------

def test_the_contrast_formula():
    # WCAG: white L = 1, black L = 0: (1 + 0.05) / (0 + 0.05) = 21
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    # #777777: 119 / 255 = 0.4667, ((0.4667 + 0.055) / 1.055) ** 2.4 = 0.1845; (1.05) / (0.1845 + 0.05) = 4.48
    assert luminance("#777") == pytest.approx(0.1845, abs=1e-4)
    assert contrast("#ffffff", "#777777") == pytest.approx(4.48, abs=0.01)
    # the colours issue 13 measured: the positioning chart's end values (#8a94a0) 3.1:1, the amber « ! » 2.2:1
    assert contrast("#8a94a0", "#ffffff") == pytest.approx(3.08, abs=0.01)
    assert contrast("#e0a526", "#ffffff") == pytest.approx(2.19, abs=0.01)


def test_every_text_colour_of_the_palette_meets_wcag_aa():
    assert failing_text_pairs() == []


def _svg_colours(page: str) -> tuple[set[str], set[str]]:
    """(text colours, mark colours) of every chart of the page; a text without fill inherits the chart's."""
    texts, marks = set(), set()
    for svg in re.findall(r"<svg .*?</svg>", page, re.S):
        root = ET.fromstring(svg)
        if "map" in (root.get("class") or "").split():  # labels on coloured communes: tests/test_maps.py
            continue
        for element in root.iter():
            tag = element.tag.split("}")[-1]
            if tag in ("text", "tspan"):
                texts.add(element.get("fill") or root.get("fill"))
            elif tag in ("circle", "rect", "path") and element.get("fill") not in (None, "none", "#fff"):
                marks.add(element.get("fill"))
            if tag in ("path", "rect", "line") and element.get("stroke") not in (None, "#fff", charts.GRID):
                marks.add(element.get("stroke"))
    return texts, marks


@pytest.mark.parametrize("kind", ["epci", "commune"])
def test_every_chart_text_and_mark_meets_wcag_aa_on_white(pages, kind):
    texts, marks = _svg_colours(pages[kind])
    assert texts and marks
    assert {c: round(contrast(c, "#ffffff"), 2) for c in texts if contrast(c, "#ffffff") < TEXT_MIN} == {}
    assert {c: round(contrast(c, "#ffffff"), 2) for c in marks if contrast(c, "#ffffff") < GRAPHIC_MIN} == {}


def test_the_positioning_chart_explains_its_grey_end_values(pages):
    chart = pages["epci"][pages["epci"].index('id="graphique-demographie-positionnement"'):]
    assert "les valeurs en gris à ses deux extrémités en sont les bornes" in chart[:chart.index("</figure>")]


def test_definitions_and_quality_tables_have_row_headers(pages):
    page = pages["epci"]
    for table in re.findall(r'<table class="plain[^"]*"[^>]*>.*?</table>', page, re.S):
        body = table[table.index("<tbody>"):]
        rows = re.findall(r"<tr>\s*(<t[hd][^>]*>)", body)
        assert rows and all(r.startswith('<th scope="row"') for r in rows)


# -- units and France ---------------------------------------------------------------------------------------------

def test_rates_per_100_are_never_shown_as_percentages(pages):
    card = pages["epci"][pages["epci"].index('id="chiffre-foyers_rsa"'):]
    card = card[:card.index("</article>")]
    assert "%" not in card  # issue 13: « (pour 100 ménages) 2,2 % »
    for indicator in ("foyers_rsa", "foyers_paje", "foyers_minima_insertion"):
        values = re.findall(rf'data-indicator="{indicator}"[^>]*>.*?<span class="v[^"]*">([^<]*)<', pages["epci"])
        assert values and not any("%" in v for v in values), indicator


def test_france_shows_its_natural_balance_without_the_secret_commune(pages):
    # one demo commune (L'Abergement-Clémenciat, 859 inhabitants) has secret births: France is computed without it
    cell = re.search(r'data-indicator="croissance_solde_naturel" data-code="FR">(.*?)</div>', pages["epci"]).group(1)
    assert "miss" not in cell and '<sup class="mk"' in cell and ">hs<" in cell
    assert "hs : hors communes au secret statistique, les valeurs couvrent France, plus de 99,9" in pages["epci"]


# -- the commune and the département ------------------------------------------------------------------------------

def test_a_commune_is_compared_with_its_epci_first(pages):
    page = pages["commune"]
    assert "Clisson face à CA Clisson Sèvre et Maine Agglo (EPCI), à Loire-Atlantique (44) et à la France" in page
    assert "Pyramide des âges en 2022 : Clisson et CA Clisson Sèvre et Maine Agglo (EPCI)" in page
    chart = page[page.index('id="graphique-revenus_precarite-positionnement"'):]
    chart = chart[:chart.index("</figure>")]
    legend = re.findall(r"<text[^>]*>([^<]*)</text>", chart)
    assert legend[:4] == ["Clisson", "CA Clisson Sèvre et Maine Agglo (EPCI)", "Loire-Atlantique (44)", "France"]
    assert f'stroke="{charts.EPCI}"' in chart  # the EPCI's squares


def test_a_departement_is_read_by_its_epcis_and_its_communes_in_none(pages):
    page = pages["dep"]
    matrix = page[page.index('id="matrice-des-besoins"'):]
    rows = re.findall(r'class="gt_row gt_left gt_stub">([^<]*)<', matrix[:matrix.index("</table>")])
    # Vendée's demo communes: 4 in CC Vendée Sèvre Autise, 3 in CC du Pays de Saint-Fulgent, L'Île-d'Yeu in none
    assert rows == ["CC du Pays de Saint-Fulgent - Les Essarts", "CC Vendée Sèvre Autise",
                    "L&#x27;Île-d&#x27;Yeu (commune hors EPCI)", "Vendée (85)"]


# -- the annex's journal ----------------------------------------------------------------------------------------------

def test_the_processing_journal_is_french_and_cites_no_internal_document(pages):
    note = ("years 2017-2023 (reference month December): communes of year N are read in the COG of 1 January N+1, "
            "like s_ben_com_f (decisions.md).")
    assert translate(note) == ("Années 2017 à 2023 (mois de référence : décembre) ; communes de l'année N dans la "
                               "géographie du 1er janvier N+1.")
    assert translate("1 cell(s) flagged by CONF_STATUS/OBS_STATUS staged null 'secret'") == \
        "1 cellule(s) confidentielle(s) selon l'Insee : laissées vides (secret statistique)."
    assert journal(["something new the parser said", "7 départements"]).untranslated == 1
    annex = pages["epci"][pages["epci"].index('id="annexe-qualite"'):]
    assert "decisions.md" not in annex and "en anglais" not in annex and "staged" not in annex
    assert "Recensement 2022 : 40 variables retenues." in annex
    assert "note technique de plus" not in annex  # every note of the demo store is translated
