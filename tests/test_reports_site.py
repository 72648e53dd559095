"""The report site built from a demo store refreshed through the demo mirror: files, content, determinism,
escaping, secret cells, the three kinds of territory."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import polars as pl
import pytest

from reports.site import ReportContext, build_site, render_report
from transforms.pipeline import Selection, diagnostic_table, load_inputs
from transforms.registry import THEMES

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EPCI = "200071678"  # CA du Choletais: Cholet, Maulévrier, Saint-Léger-sous-Cholet, La Séguinière
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def store(demo_store):
    """The session's demo store (tests/conftest.py), read only."""
    return demo_store


@pytest.fixture(scope="module")
def site(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    selections = [
        Selection(epci=EPCI),
        Selection(commune="49099"),
        Selection(communes=("85020", "85133", "85084"), name="Sud Vendée"),
    ]
    return build_site(store, selections, out, demo=True, generated_at=WHEN)


def cell(page: str, indicator: str, code: str) -> str:
    """The HTML of one indicator cell of a theme table."""
    found = re.search(rf'<div class="c" data-indicator="{indicator}" data-code="{code}">(.*?)</div>', page)
    assert found, (indicator, code)
    return found.group(1)


def test_build_site_writes_reports_exports_and_an_index(site):
    names = sorted(p.name for p in site.reports)
    assert names == ["diagnostic-commune-49099.html", f"diagnostic-epci-{EPCI}.html", "diagnostic-sud-vendee.html"]
    # the long tables, the wide workbook (issue 13) and the editable document
    assert sorted(p.name for p in site.exports if f"-epci-{EPCI}" in p.name) == [
        f"diagnostic-epci-{EPCI}.docx",
        f"indicateurs-epci-{EPCI}-large.xlsx",
        *(f"indicateurs-epci-{EPCI}.{ext}" for ext in ("csv", "parquet", "xlsx")),
    ]
    assert all(p.exists() for p in site.exports)
    index = site.index.read_text(encoding="utf-8")
    for name in names:
        assert f'href="{name}"' in index
    assert "CA du Choletais" in index and "Sud Vendée" in index and "Cholet" in index
    assert (site.reports[0].stat().st_mode & 0o777) == 0o644  # a page to share, not a private temporary file
    assert not list(site.index.parent.glob(".*.tmp"))  # atomic writes leave no temporary file


def test_the_report_is_french_self_contained_and_says_it_is_a_demo(site):
    page = site.reports[0].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    # nothing is loaded from elsewhere: no src attribute at all, no url() but the maps' references to their own
    # hatch patterns in the page (`url(#m-…)`)
    assert " src=" not in page and not re.search(r"url\((?!#m-)", page)
    assert 'id="bandeau-demo"' in page and "Données synthétiques" in page
    assert '@top-center { content: "DÉMONSTRATION' in page  # the banner on every printed page too
    index = site.index.read_text(encoding="utf-8")
    assert 'id="bandeau-demo"' in index


def test_every_theme_has_its_section_tables_and_charts(site):
    page = site.reports[0].read_text(encoding="utf-8")
    for theme in THEMES:
        assert f'<section id="{theme}" class="theme">' in page
        assert f'id="tableau-{theme}-1"' in page
        assert f'id="graphique-{theme}-positionnement"' in page
    assert 'id="matrice-des-besoins"' in page and 'id="graphique-pyramide-des-ages"' in page
    assert "Pyramide des âges en 2022" in page  # the demo census has ages by sex
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') >= 1 + 2 * len(THEMES)
    for part in (
        "Chiffres clés",
        "Clefs de lecture",
        "Qualité des données",
        "Sources et millésimes",
        "ce n&#39;est pas le taux de chômage au sens du BIT",
        "capacité théorique",
        "planchers à 5",
        "arrondis à 5",
    ):
        assert part in page, part


def test_cover_names_the_territory_its_communes_vintages_date_and_version(site):
    page = site.reports[0].read_text(encoding="utf-8")
    cover = page[page.index('id="couverture"') : page.index('id="chiffres-cles"')]
    assert "CA du Choletais" in cover and f"SIREN {EPCI}" in cover
    for name in ("Cholet", "Maulévrier", "Saint-Léger-sous-Cholet", "La Séguinière"):
        assert name in cover
    assert "23 novembre 2026" in cover and "abs-diag 0.1.0" in cover
    assert "Filosofi 2021" in cover and "millésime 2021" in cover and "millésime 2022" in cover


def test_french_numbers_in_tables(site):
    page = site.reports[0].read_text(encoding="utf-8")
    # Cholet: 54074 inhabitants in the demo world (sources/demo/world.py), shown 54 074 with U+202F
    assert "54\u202f074" in cell(page, "population", "49099")
    assert re.search(r"\d,\d\u202f%", cell(page, "part_0002", "49099"))


def test_secret_cells_show_the_mark_never_zero(site):
    page = site.reports[0].read_text(encoding="utf-8")
    # Maulévrier's poverty rate is secret in the demo Filosofi file (fewer than 1,000 tax households)
    secret = cell(page, "taux_pauvrete", "49192")
    assert '<sup class="mk" title="secret statistique">s</sup>' in secret
    assert not re.search(r"\d", secret)
    # and the legend under that table says what `s` means
    table = page[page.index('id="tableau-revenus_precarite-1"') :]
    assert "secret statistique" in table[: table.index("</table>")]


def test_two_builds_with_the_same_date_are_identical(store, site, tmp_path):
    again = build_site(store, [Selection(epci=EPCI)], tmp_path, demo=True, generated_at=WHEN)
    first = next(p for p in site.reports if p.name == f"diagnostic-epci-{EPCI}.html")
    assert again.reports[0].read_bytes() == first.read_bytes()


def test_a_precomputed_table_gives_the_same_report(store, site, tmp_path):
    """The national batch computes the diagnostic table once and passes it to every build_site call."""
    selections = [Selection(epci=EPCI), Selection(communes=("85020", "85133", "85084"), name="Sud Vendée")]
    table = diagnostic_table(store, tuple(c for s in selections for c in s.customs))
    given = build_site(store, selections, tmp_path, demo=True, generated_at=WHEN, table=table)
    for path in given.reports:
        assert path.read_bytes() == (site.index.parent / path.name).read_bytes(), path.name


def test_cover_gives_the_year_of_the_figures_and_counts_have_no_references(site):
    page = site.reports[0].read_text(encoding="utf-8")
    cover = page[page.index('id="sources"') : page.index('id="chiffres-cles"')]
    # the demo's Cnaf 2024 childcare files hold figures for 2017-2023 (sources/demo): the cover says 2023
    assert "données 2023 (fichier 2024)" in cover
    card = page[page.index('id="chiffre-enfants_moins_3_ans"') :]
    card = card[: card.index("</article>")]
    assert "<dt" not in card  # 305 children against 95 797 in France compares sizes, not situations
    rate = page[page.index('id="chiffre-taux_pauvrete"') :]
    assert "<dt" in rate[: rate.index("</article>")]
    # growth over the two censuses: the header gives the period 2016-2022 (the demo censuses)
    assert "en % par an, 2016-2022" in page


def test_commune_and_custom_territory_reports(site):
    commune = next(p for p in site.reports if "commune" in p.name).read_text(encoding="utf-8")
    assert "Commune (code Insee 49099)" in commune and "CA du Choletais (EPCI)" in commune  # EPCI as a reference
    custom = next(p for p in site.reports if "sud-vendee" in p.name).read_text(encoding="utf-8")
    assert "Regroupement de communes" in custom
    # a median cannot be computed for a group of communes: the mark `na` and its French label
    assert ">na</sup>" in cell(custom, "revenu_median", "TERRITOIRE")
    assert "non agrégeable pour un regroupement de communes" in custom


def test_a_commune_named_like_a_script_is_shown_as_text(store):
    inputs = load_inputs(store)
    inputs.membership = inputs.membership.with_columns(
        name=pl.when(pl.col("code") == "49192").then(pl.lit(XSS)).otherwise(pl.col("name"))
    )
    inputs.epci_names = {**inputs.epci_names, EPCI: XSS}
    table = diagnostic_table(store, inputs=inputs)
    page = render_report(
        table, inputs, Selection(epci=EPCI), ReportContext(generated_at=WHEN, manifest=store.manifest())
    )
    assert XSS not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\\3c script\\3e alert\\28 1\\29 \\3c \\2f script\\3e " in page  # in the printed page footer (CSS)


def test_two_custom_territories_with_the_same_code_are_refused(store, tmp_path):
    same = [Selection(communes=("49099",), name="Nord"), Selection(communes=("85020",), name="Sud")]
    with pytest.raises(ValueError, match="distinct codes"):
        build_site(store, same, tmp_path)
    assert not list(tmp_path.iterdir())  # refused before writing anything


def test_a_large_group_of_communes_shows_its_epcis(store, monkeypatch):
    # six communes of two EPCIs (CC Vendée Sèvre Autise: 4, CC du Pays de Saint-Fulgent - Les Essarts: 2) with the
    # limit lowered to 3 communes: the rows are the two EPCIs, the commune detail stays in the exports
    monkeypatch.setattr("reports.view.MAX_COMMUNE_ROWS", 3)
    group = Selection(communes=("85020", "85133", "85162", "85303", "85084", "85165"), name="Bocage")
    inputs = load_inputs(store)
    table = diagnostic_table(store, group.customs, inputs=inputs)
    page = render_report(table, inputs, group, ReportContext(generated_at=WHEN, manifest=store.manifest()))
    assert "Intercommunalités du territoire" in page and "4 communes du territoire" in page
    assert 'data-code="200029940"' in page and 'data-code="248500589"' in page
    assert 'data-indicator="population" data-code="85020"' not in page
    matrix = page[page.index('id="matrice-des-besoins"') :]
    matrix = matrix[: matrix.index("</table>")]
    assert 'data-code="200029940"' in matrix and 'data-code="85020"' not in matrix


def test_age_sums_of_the_territory_and_its_departement(store):
    from reports import ages

    inputs = load_inputs(store)
    sums = ages.age_sums(inputs, (), [("EPCI", EPCI), ("DEP", "49")])
    for place in (("EPCI", EPCI), ("DEP", "49")):
        values = sums[place]
        # the demo's men and women by age band partition the population (sources/demo/gen_census.py)
        by_sex = sum(values[f"P_{s}{b}"] for s in "HF" for b in ages.BANDS)
        assert by_sex == pytest.approx(values["P_POP"])
    # the EPCI is the sum of its four communes: Cholet 54074 + Maulévrier 3240 + Saint-Léger 2810 + Séguinière 4120
    assert sums[("EPCI", EPCI)]["P_POP"] == pytest.approx(64244)


def test_a_departement_report_shows_its_own_published_figures(store, tmp_path):
    """The national batch reports on every département: the département is the territory, with INSEE's own
    figures, compared with France."""
    site = build_site(store, [Selection(departement="85")], tmp_path, demo=True, generated_at=WHEN)
    [path] = site.reports
    page = path.read_text(encoding="utf-8")
    assert path.name == "diagnostic-departement-85.html"
    assert "Département (code 85)" in page and "Vendée" in page
    # cc_filosofi_2021_DEP.csv: `85;306120;690480;24420;…`: the published median, not "non agrégeable"
    assert "24\u202f420" in cell(page, "revenu_median", "85")
    # a département is set against France only: no « Vendée (85) face à Vendée (85) », no self-reference
    assert "Vendée (85) face à la France" in page and "face à Vendée" not in page
    assert "Pyramide des âges en 2022 : Vendée (85) et France" in page
    card = page[page.index('id="chiffre-taux_pauvrete"') :]
    assert re.findall(r"<dt[^>]*>([^<]*)</dt>", card[: card.index("</article>")]) == ["France"]
    assert "un département est comparé à la France" in page
