"""The section registry, the build's record of what it wrote (and the index made from it), and what reports of one
store state share (the table of France, France's age sums), computed once."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime

import pytest

import reports.site
from reports import ages, shared
from reports.sections import SECTIONS, ReportData, Section, build_sections
from reports.site import DEMO_EPCI, build_site, render_index
from storage.store import Store
from transforms.pipeline import Selection
from transforms.registry import THEMES

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def nothing_shared():
    """Each test starts with nothing computed for any store state."""
    shared.TABLES.clear()
    shared.AGE_SUMS.clear()
    yield
    shared.TABLES.clear()
    shared.AGE_SUMS.clear()


# -- the registry ----------------------------------------------------------------------------------------------------


# an EPCI report has every section but the commune's infra-communal one (IRIS and QPV)
EPCI_SECTIONS = [s for s in SECTIONS if s.id != "infra-communal"]


def test_the_registry_orders_every_section_once():
    ids = [s.id for s in SECTIONS]
    assert ids == [
        "chiffres-cles",
        "territoires-comparables",
        "matrice",
        *THEMES,
        "infra-communal",
        "cartes",
        "evolutions",
        "evaluation",
        "observatoire-petite-enfance",
        "lieux-de-travail",
        "donnees-absentes",
        "clefs-de-lecture",
        "qualite",
    ]
    assert len(set(ids)) == len(ids)
    assert [s.title for s in SECTIONS[3 : 3 + len(THEMES)]] == list(THEMES.values())


def test_a_section_needs_only_fields_of_the_report_data():
    with pytest.raises(ValueError, match=r"section 'carte' needs \['territoire'\], not fields of ReportData"):
        Section(id="carte", title="Carte", needs=("view", "territoire"), build=dict, template="")


def test_sections_are_numbered_in_the_order_of_those_built():
    seen = []

    def build(view, rules):  # receives exactly what it needs
        seen.append((view, rules))
        return {"name": view}

    sections = (
        Section("a", "Un", ("view", "rules"), build, "<p>{{ name }}</p>"),
        Section("b", "Absent", ("view",), lambda view: None, "never"),
        Section("c", "Trois", (), lambda: {}, "<p>fixe</p>"),
    )
    data = ReportData(
        view="<b>", inputs=None, geography="", comparison_year=None, quality=[], data_years={}, rules="rules"
    )
    built = build_sections(sections, data)
    assert seen == [("<b>", "rules")]
    # « b » built nothing: left out, and « c » takes number 2; the template escapes the value
    assert [(s.number, s.id, s.title, str(s.body)) for s in built] == [
        (1, "a", "Un", "<p>&lt;b&gt;</p>"),
        (2, "c", "Trois", "<p>fixe</p>"),
    ]


# -- the page and its record -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(demo_store, tmp_path_factory):
    return build_site(
        demo_store,
        [Selection(epci=DEMO_EPCI), Selection(departement="85")],
        tmp_path_factory.mktemp("sections-site"),
        demo=True,
        generated_at=WHEN,
    )


def test_the_page_follows_the_registry(site):
    page = site.reports[0].read_text(encoding="utf-8")
    toc = re.search(r'<nav class="toc".*?</nav>', page, re.S).group(0)
    assert re.findall(r'href="#([^"]+)"', toc) == [s.id for s in EPCI_SECTIONS]
    headings = re.findall(r'<section id="([^"]+)"[^>]*>\s*<h2><span class="num">(\d+)</span>([^<]+)</h2>', page)
    assert headings == [(s.id, str(n), s.title) for n, s in enumerate(EPCI_SECTIONS, start=1)]
    for section in EPCI_SECTIONS:  # each section's CSS once in the stylesheet, though nine sections share one
        if section.css:
            assert page.count(section.css) == 1, section.id


def test_each_report_is_recorded_beside_itself(site):
    epci, dep = site.records
    assert (epci.file, epci.territory, epci.demo) == (
        f"diagnostic-epci-{DEMO_EPCI}.html",
        "CC Vendée Sèvre Autise",
        True,
    )
    assert epci.kind == f"Établissement public de coopération intercommunale (SIREN {DEMO_EPCI})"
    assert epci.sections == tuple((n, s.id, s.title) for n, s in enumerate(EPCI_SECTIONS, start=1))
    # the editable document and the wide workbook are recorded with the long tables (issue 13)
    assert epci.exports == (
        f"diagnostic-epci-{DEMO_EPCI}.docx",
        f"indicateurs-epci-{DEMO_EPCI}-large.xlsx",
        *(f"indicateurs-epci-{DEMO_EPCI}.{ext}" for ext in ("csv", "parquet", "xlsx")),
    )
    assert (dep.territory, dep.generated) == ("Vendée (85)", "23 novembre 2026")
    written = json.loads((site.index.parent / f"diagnostic-epci-{DEMO_EPCI}.json").read_text(encoding="utf-8"))
    assert written["territory"] == "CC Vendée Sèvre Autise" and written["sections"][0] == [
        1,
        "chiffres-cles",
        "Chiffres clés",
    ]


def test_the_index_lists_the_records_not_the_html(site, tmp_path):
    for path in site.index.parent.glob("diagnostic-*"):
        shutil.copy(path, tmp_path / path.name)
    # a report whose HTML says one name and whose record another: the index believes the record
    report = tmp_path / f"diagnostic-epci-{DEMO_EPCI}.html"
    report.write_text(
        report.read_text(encoding="utf-8").replace("CC Vendée Sèvre Autise", "Ailleurs"), encoding="utf-8"
    )
    index = render_index(tmp_path, False, WHEN)
    assert "CC Vendée Sèvre Autise" in index and "Ailleurs" not in index and "Vendée (85)" in index
    assert 'id="bandeau-demo"' in index  # the records say the figures are synthetic
    # a report written before builds recorded themselves: listed by its file name, nothing invented
    (tmp_path / "diagnostic-commune-1.html").write_text("<!DOCTYPE html><title>Ancien</title>", encoding="utf-8")
    index = render_index(tmp_path, False, WHEN)
    assert '<a href="diagnostic-commune-1.html">diagnostic-commune-1</a>' in index and "Ancien" not in index


# -- shared per store state ------------------------------------------------------------------------------------------


def counting(monkeypatch, module, name: str) -> list:
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_the_table_of_france_is_computed_once_per_store_state(demo_store, tmp_path, monkeypatch):
    store = Store(tmp_path / "data")
    shutil.copytree(demo_store.root, store.root, ignore=shutil.ignore_patterns("cache"))  # no table saved yet
    tables = counting(monkeypatch, reports.site, "diagnostic_table_parts")  # the table of France, in slices
    first = build_site(store, [Selection(epci=DEMO_EPCI)], tmp_path / "a", generated_at=WHEN)
    build_site(store, [Selection(commune="85020")], tmp_path / "b", generated_at=WHEN)
    assert len(tables) == 1  # the second build reuses the first one's table
    # a new process (the per-process table forgotten) reads the table the first build saved in the store
    shared.TABLES.clear()
    build_site(store, [Selection(commune="85020")], tmp_path / "b2", generated_at=WHEN)
    assert len(tables) == 1
    # the store changes (a refresh records the table staged again, by another release of the parsers): another
    # state, the table is computed again
    key = f"rp_population/{store.latest_vintage('rp_population')}"
    record = store.previous(key)
    record.staged.basis = {**record.staged.basis, "code": "another-release"}
    store.record(key, record)
    again = build_site(store, [Selection(epci=DEMO_EPCI)], tmp_path / "c", generated_at=WHEN)
    assert len(tables) == 2
    assert again.reports[0].read_bytes() == first.reports[0].read_bytes()


def test_france_age_sums_are_computed_once_for_every_departement_report(demo_store, tmp_path, monkeypatch):
    sums = counting(monkeypatch, ages, "age_sums")
    for dep in ("85", "49", "44"):  # as the national batches do, one build after another
        build_site(demo_store, [Selection(departement=dep)], tmp_path / dep, demo=True, generated_at=WHEN)
    france = [places for _, _, places in sums if places == [("FRANCE", "FR")]]
    assert len(france) == 1 and len(sums) == 3 + 1  # each département's own sums, France's once
    page = (tmp_path / "44" / "diagnostic-departement-44.html").read_text(encoding="utf-8")
    assert "Pyramide des âges en 2022 : Loire-Atlantique (44) et France" in page


def test_the_open_data_gaps_are_listed_under_their_theme(monkeypatch):
    from reports.sections import open_data_gaps
    from transforms.registry import Gap

    monkeypatch.setattr(
        open_data_gaps,
        "gaps",
        lambda: (
            Gap("logement", "Sujet B", "Pas publié.", "Rien."),
            Gap("familles", "Sujet A", "Secret.", "Le département."),
            Gap("logement", "Sujet C", "Pas publié.", "Rien."),
        ),
    )
    context = open_data_gaps.build()
    # themes in the catalogue's order (Familles before Logement), topics in the file's order
    assert [(title, [i["topic"] for i in items]) for title, _, items in context["themes"]] == [
        ("Familles", ["Sujet A"]),
        ("Logement", ["Sujet B", "Sujet C"]),
    ]
    monkeypatch.setattr(open_data_gaps, "gaps", lambda: ())
    assert open_data_gaps.build() is None


def test_every_gap_names_a_theme_of_the_catalogue():
    from transforms.registry import THEMES, gaps

    assert gaps() and all(g.theme in THEMES and g.topic and g.reason and g.nearest for g in gaps())
