"""What issue 13's readers asked of the report: WCAG AA contrast computed, row headers, units, France's balances,
the commune compared with its EPCI first, the département read by its EPCIs, the annex's journal in French."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reports import charts
from reports.contrast import GRAPHIC_MIN, TEXT_MIN, contrast, failing_text_pairs, luminance
from reports.journal import journal, translate
from reports.site import DEMO_EPCI, build_site
from transforms.pipeline import Selection

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CLISSON, CSMA = "44043", "200067346"  # Clisson and its EPCI, CA Clisson Sèvre et Maine Agglo


@pytest.fixture(scope="module")
def pages(demo_store, tmp_path_factory) -> dict[str, str]:
    site = build_site(
        demo_store,
        [Selection(epci=DEMO_EPCI), Selection(commune=CLISSON), Selection(departement="85")],
        tmp_path_factory.mktemp("readers"),
        demo=True,
        generated_at=WHEN,
    )
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
    chart = pages["epci"][pages["epci"].index('id="graphique-demographie-positionnement"') :]
    assert "les valeurs en gris à ses deux extrémités en sont les bornes" in chart[: chart.index("</figure>")]


def test_definitions_and_quality_tables_have_row_headers(pages):
    page = pages["epci"]
    for table in re.findall(r'<table class="plain[^"]*"[^>]*>.*?</table>', page, re.S):
        body = table[table.index("<tbody>") :]
        rows = re.findall(r"<tr>\s*(<t[hd][^>]*>)", body)
        assert rows and all(r.startswith('<th scope="row"') for r in rows)


# -- units and France ---------------------------------------------------------------------------------------------


def test_rates_per_100_are_never_shown_as_percentages(pages):
    card = pages["epci"][pages["epci"].index('id="chiffre-foyers_rsa"') :]
    card = card[: card.index("</article>")]
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
    chart = page[page.index('id="graphique-revenus_precarite-positionnement"') :]
    chart = chart[: chart.index("</figure>")]
    legend = re.findall(r"<text[^>]*>([^<]*)</text>", chart)
    assert legend[:4] == ["Clisson", "CA Clisson Sèvre et Maine Agglo (EPCI)", "Loire-Atlantique (44)", "France"]
    assert f'stroke="{charts.EPCI}"' in chart  # the EPCI's squares


def test_a_departement_is_read_by_its_epcis_and_its_communes_in_none(pages):
    page = pages["dep"]
    matrix = page[page.index('id="matrice-des-besoins"') :]
    rows = re.findall(r'class="gt_row gt_left gt_stub">([^<]*)<', matrix[: matrix.index("</table>")])
    # Vendée's demo communes: 4 in CC Vendée Sèvre Autise, 3 in CC du Pays de Saint-Fulgent, L'Île-d'Yeu in none
    assert rows == [
        "CC du Pays de Saint-Fulgent - Les Essarts",
        "CC Vendée Sèvre Autise",
        "L&#x27;Île-d&#x27;Yeu (commune hors EPCI)",
        "Vendée (85)",
    ]


# -- the annex's journal ----------------------------------------------------------------------------------------------


def test_the_processing_journal_is_french_and_cites_no_internal_document(pages):
    note = (
        "years 2017-2023 (reference month December): communes of year N are read in the COG of 1 January N+1, "
        "like s_ben_com_f (decisions.md)."
    )
    assert translate(note) == (
        "Années 2017 à 2023 (mois de référence : décembre) ; communes de l'année N dans la "
        "géographie du 1er janvier N+1."
    )
    assert (
        translate("1 cell(s) flagged by CONF_STATUS/OBS_STATUS staged null 'secret'")
        == "1 cellule(s) confidentielle(s) selon l'Insee : laissées vides (secret statistique)."
    )
    assert journal(["something new the parser said", "7 départements"]).untranslated == 1
    annex = pages["epci"][pages["epci"].index('id="annexe-qualite"') :]
    assert "decisions.md" not in annex and "en anglais" not in annex and "staged" not in annex
    assert "Recensement 2022 : 40 variables retenues." in annex
    assert "note technique de plus" not in annex  # every note of the demo store is translated


# the new sources' notes, written by hand in each form their parser can produce (counts of 1 000 or more take a
# narrow no-break space, U+202F, as thousands separator)
_S = "\u202f"
NEW_SOURCE_NOTES = [
    # BPE
    (
        "BPE 2023: member DS_BPE-2023_data.csv, TIME_PERIOD 2023; communes in the geography of 1 January 2024",
        "BPE 2023 : fichier DS_BPE-2023_data.csv ; communes dans la géographie du 1er janvier 2024.",
    ),
    (
        "12 row(s) of other measures dropped (DENSITY 12); FACILITIES staged",
        "12 ligne(s) d'autres mesures écartées (DENSITY 12) : seule la mesure FACILITIES est retenue.",
    ),
    (
        "1500 subtotal row(s) (_T in a domain, sub-domain or type) dropped: leaf types only",
        f"1{_S}500 ligne(s) de sous-total (_T dans un domaine, un sous-domaine ou un type) écartées : seuls les types "
        "d'équipement détaillés sont retenus.",
    ),
    (
        "3 code(s) read without their leading zero were zero-padded",
        "3 code(s) lu(s) sans leur zéro initial, complété(s).",
    ),
    (
        "2 empty or flagged cell(s) staged null 'not_available', never 0",
        "2 cellule(s) vide(s) ou signalée(s) par l'Insee : laissée(s) vide(s) (non disponible), jamais 0.",
    ),
    (
        "40 (commune, type) pair(s) absent from the file staged as 0 (the BPE lists equipped communes only)",
        "40 couple(s) (commune, type d'équipement) absent(s) du fichier comptés 0 : la BPE ne liste que les communes "
        "équipées.",
    ),
    (
        "40 (commune, type) pair(s) absent from the file staged as 0 (the BPE lists equipped communes only); communes "
        "without any equipment: 01001, 01002, 01004, 01005, 01006…",
        "40 couple(s) (commune, type d'équipement) absent(s) du fichier comptés 0 : la BPE ne liste que les communes "
        "équipées ; communes sans aucun équipement : 01001, 01002, 01004, 01005, 01006…",
    ),
    (
        "45 arrondissement row(s) staged at level ARM, apart from their city, whose COM row already counts them: never "
        "added to it; 2 (city, type) pair(s) where they do not sum to the city's row",
        "45 ligne(s) d'arrondissement municipal gardées à part : la ligne de leur ville les compte déjà, elles n'y sont "
        "jamais ajoutées ; 2 couple(s) (ville, type d'équipement) où leur somme diffère de la ligne de la ville.",
    ),
    (
        "186 equipment types staged; the BPE counts equipments, not places",
        "186 type(s) d'équipement retenu(s) ; la BPE compte des équipements, pas des places.",
    ),
    (
        "type D509 (from BPE 2025) absent from BPE 2023: its indicators are null (not_available)",
        "Type d'équipement D509 (apparu dans la BPE 2025) absent de la BPE 2023 : ses indicateurs restent vides "
        "(non disponible).",
    ),
    # commune contours
    (
        "34875 communes, 45 arrondissements municipaux, 101 départements",
        f"34{_S}875 communes, 45 arrondissements municipaux, 101 départements.",
    ),
    (
        "projected to Lambert-93 (EPSG:2154) or the overseas UTM; simplified to 12.5 m",
        "Contours projetés en Lambert-93 (EPSG:2154) ou, outre-mer, dans leur projection UTM ; simplifiés à 12,5 m "
        "près.",
    ),
    (
        "2 feature(s) of overseas collectivities dropped (not COG communes)",
        "2 contour(s) de collectivités d'outre-mer écarté(s) (ce ne sont pas des communes du COG).",
    ),
    # Filosofi: France member, IRIS files
    (
        "France-level member: cc_filosofi_2021_FE.csv, chosen among cc_filosofi_2021_FE.csv, cc_filosofi_2021_METRO.csv "
        "(also present, not used: cc_filosofi_2021_METRO.csv)",
        "Niveau France : fichier cc_filosofi_2021_FE.csv, choisi parmi cc_filosofi_2021_FE.csv, "
        "cc_filosofi_2021_METRO.csv (également présent(s), non utilisé(s) : cc_filosofi_2021_METRO.csv).",
    ),
    (
        "no France-level member in the archive (tried a_FE.csv, a_METRO.csv; the archive holds a_COM.csv, a_EPCI.csv): "
        "France is null not_available, never derived from the communes",
        "Aucun fichier de niveau France dans l'archive (noms cherchés : a_FE.csv, a_METRO.csv ; l'archive contient : "
        "a_COM.csv, a_EPCI.csv) : la France reste vide (non disponible), jamais déduite des communes.",
    ),
    (
        "BASE_TD_FILO_IRIS_2021_DEC.csv: 16000 IRIS (IRIS geography 2022), 1 measures; 0 row(s) withheld by the note "
        "column None (secret); cells secret (ns/s): 1200, not available (nd): 3",
        f"BASE_TD_FILO_IRIS_2021_DEC.csv : 16{_S}000 IRIS (géographie des IRIS 2022), 1 mesure(s) ; cellules secrètes "
        f"(ns/s) : 1{_S}200, non disponibles (nd) : 3.",
    ),
    (
        "BASE_TD_FILO_IRIS_2021_DEC.csv: no note column: only the ns/nd markers say what is withheld",
        "BASE_TD_FILO_IRIS_2021_DEC.csv : pas de colonne de note, seuls les marqueurs ns/nd signalent les valeurs "
        "masquées.",
    ),
    # France services
    (
        "list of 2840 structures; latest labellisation 15/12/2025: staged as year 2025",
        f"Liste de 2{_S}840 structure(s) ; dernière labellisation le 15/12/2025 : données de l'année 2025.",
    ),
    (
        "2 structure(s) of Saint-Barthélemy or Saint-Martin (977, 978), collectivités absent from the COG commune list, "
        "left out of the commune counts",
        "2 structure(s) de Saint-Barthélemy ou de Saint-Martin (977, 978), collectivités absentes de la liste des "
        "communes du COG : non comptée(s) dans les communes.",
    ),
    ("Antenne: 0 structure(s)", "Type « Antenne » : 0 structure(s)."),
    (
        "structures of Paris/Lyon/Marseille are listed by arrondissement: counted in their city (13055) too; ARM rows "
        "kept",
        "Les structures de Paris, Lyon et Marseille sont listées par arrondissement : elles comptent aussi dans leur "
        "ville (13055), les arrondissements restant présentés à part.",
    ),
    # IRIS reference, census, QPV
    (
        "16000 IRIS (geography 2024): 1 of type H, 0 of type A, 2 of type D, 0 of type Z (Z: communes not divided into "
        "IRIS)",
        f"16{_S}000 IRIS (géographie 2024) : 1 de type H (habitat), 0 de type A (activité), 2 de type D (divers), 0 de "
        "type Z (commune non découpée en IRIS).",
    ),
    (
        "3 IRIS of communes changed since COG 2023 placed in their commune of COG 2025: 49001 -> 49002, 85008 -> 85009",
        "3 IRIS de communes modifiées depuis le COG 2023 rattaché(s) à leur commune du COG 2025 : 49001 → 49002, "
        "85008 → 85009.",
    ),
    (
        "IRIS of communes split since COG 2023 have no single target commune (left unplaced): 2A001, 85100",
        "IRIS de communes scindées depuis le COG 2023, sans commune unique de rattachement (non rattachés) : "
        "2A001, 85100.",
    ),
    (
        "48000 IRIS rows (IRIS geography 2024): 16000 IRIS of communes divided into IRIS, 32000 communes not divided "
        "into IRIS (pseudo-IRIS <commune>0000); 1 variables",
        f"48{_S}000 lignes IRIS (géographie des IRIS 2024) : 16{_S}000 IRIS de communes découpées en IRIS, 32{_S}000 "
        "communes non découpées (une ligne : code de la commune suivi de 0000) ; 1 variable(s).",
    ),
    (
        "C22_MEN not in this file: the infra-communal figures that need it are null (not_available)",
        "C22_MEN absente de ce fichier : les chiffres infracommunaux qui en ont besoin restent vides (non disponible).",
    ),
    ("7 empty cell(s) staged as null (not_available)", "7 cellule(s) vide(s) : valeurs non disponibles."),
    (
        "1609 features, 1584 QPV in 1 communes (COG 2024); 25 QPV across several communes; the contours are not read",
        f"1{_S}609 entités géographiques, 1{_S}584 QPV dans 1 commune(s) (COG 2024) ; 25 QPV à cheval sur plusieurs "
        "communes ; les contours ne sont pas lus.",
    ),
    (
        "communes split since COG 2024, their QPV left unplaced: 85100",
        "Communes scindées depuis le COG 2024, leurs QPV restent non rattachés : 85100.",
    ),
    # home-work mobility, and a CAF-style city note on a file name with '-'
    (
        "RP 2021: 1200 flows of 3 communes and arrondissements of residence",
        f"RP 2021 : 1{_S}200 flux domicile-travail au départ de 3 communes et arrondissements de résidence.",
    ),
    (
        "place of work undetermined (ZZZZZ): 13943 employed residents, in no share",
        f"Lieu de travail indéterminé (ZZZZZ) : 13{_S}943 actifs occupés, exclus des parts.",
    ),
    ("place of work abroad: 0 employed residents", "Lieu de travail à l'étranger : 0 actifs occupés."),
    (
        "base-flux-mobilite-2021.csv: 13055 (Marseille) is published by arrondissement only: its COM rows are the sum "
        "of its 16 arrondissements (ARM rows kept too).",
        "base-flux-mobilite-2021.csv : Marseille (13055) n'est publiée que par arrondissement : la commune est la somme "
        "de ses 16 arrondissements (conservés aussi).",
    ),
]


@pytest.mark.parametrize(("note", "french"), NEW_SOURCE_NOTES)
def test_the_new_sources_notes_read_in_french(note, french):
    assert translate(note) == french


def test_a_journal_line_never_shows_parser_vocabulary():
    lines = journal([note for note, _ in NEW_SOURCE_NOTES]).lines
    assert len(lines) == len(NEW_SOURCE_NOTES)
    assert not [line for line in lines if re.search(r"staged|\bARM\b|\bCOM\b|not_available| -> ", line)]
