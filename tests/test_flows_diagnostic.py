"""The `diagnostic` flow: parameters refused before anything runs, publication in versions, a failed run that
leaves the previous publication in place."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from flow_support import artifacts, run

from flows.diagnostic import diagnostic
from flows.parameters import Territory
from storage.publication import Publication
from storage.store import Store

pytestmark = pytest.mark.usefixtures("prefect_harness")

CLISSON = "200067346"  # CA Clisson Sèvre et Maine Agglo


def test_the_report_of_an_epci_is_published_with_a_link_artifact(demo_store, tmp_path):
    state = run(
        diagnostic,
        Territory(epci=CLISSON),
        data_dir=str(demo_store.root),
        publish_dir=str(tmp_path),
        refresh="never",
        demo=True,
    )
    assert state.is_completed(), state.message
    report = tmp_path / "territoires" / f"epci-{CLISSON}" / "latest" / f"diagnostic-epci-{CLISSON}.html"
    assert str(report.resolve()) == state.result()  # the run returns the versioned path `latest` points to
    html = report.read_text(encoding="utf-8")
    assert "CA Clisson Sèvre et Maine Agglo" in html
    folder = report.resolve().parent
    assert (folder / "index.html").is_file() and (folder / f"indicateurs-epci-{CLISSON}.xlsx").is_file()
    meta = json.loads((folder / "publication.json").read_text(encoding="utf-8"))
    assert meta["parameters"]["territory"] == {"epci": CLISSON} and meta["flow"] == "diagnostic"
    link = artifacts(state)[f"diagnostic-epci-{CLISSON}"]
    assert f"({report.resolve().as_uri()})" in link


def test_a_second_run_adds_a_version_and_keeps_the_first(demo_store, tmp_path):
    params = dict(data_dir=str(demo_store.root), publish_dir=str(tmp_path), refresh="never")
    first = run(diagnostic, Territory(commune="44043"), **params)
    second = run(diagnostic, Territory(commune="44043"), **params)
    assert first.is_completed() and second.is_completed()
    pub = Publication(tmp_path, "territoires/commune-44043")
    assert len(pub.versions()) == 2
    assert pub.latest.name == pub.versions()[-1] != pub.versions()[0]
    assert (pub.dir / pub.versions()[0] / "diagnostic-commune-44043.html").is_file()  # last run's report is kept
    assert pub.metadata()["previous"] == pub.versions()[0]


def test_a_custom_territory_is_published_under_its_name_and_codes(demo_store, tmp_path):
    territory = Territory(communes="44064,44043", name="Vignoble de Clisson")
    state = run(diagnostic, territory, data_dir=str(demo_store.root), publish_dir=str(tmp_path), refresh="never")
    assert state.is_completed(), state.message
    assert state.result().endswith("/diagnostic-vignoble-de-clisson.html")
    digest = hashlib.sha256(b"44043,44064").hexdigest()[:8]  # the codes sorted, joined by commas
    assert Publication(tmp_path, f"territoires/groupe-vignoble-de-clisson-{digest}").latest is not None
    assert state.result().startswith(str(tmp_path / "territoires" / f"groupe-vignoble-de-clisson-{digest}"))


def _digest(codes: str) -> str:
    return hashlib.sha256(codes.encode()).hexdigest()[:8]


def test_a_group_never_shares_a_publication_with_an_epci_a_commune_or_another_group():
    clisson = Territory(communes=["44043", "44064"], name=f"EPCI {CLISSON}")
    assert clisson.publication_name() == f"territoires/groupe-epci-{CLISSON}-{_digest('44043,44064')}"
    assert Territory(epci=CLISSON).publication_name() == f"territoires/epci-{CLISSON}"
    assert (
        Territory(communes=["44043"], name="commune 44043").publication_name()
        == f"territoires/groupe-commune-44043-{_digest('44043')}"
    )
    # two groups with one name, and names with no Latin letter, are told apart by their communes
    same_name = {Territory(communes=codes, name="Vignoble").publication_name() for codes in ("44043", "44064")}
    assert same_name == {
        f"territoires/groupe-vignoble-{_digest('44043')}",
        f"territoires/groupe-vignoble-{_digest('44064')}",
    }
    greek = Territory(communes=["44043"], name="Αθήνα").publication_name()
    cyrillic = Territory(communes=["44064"], name="Москва").publication_name()
    assert (greek, cyrillic) == (
        f"territoires/groupe-territoire-{_digest('44043')}",
        f"territoires/groupe-territoire-{_digest('44064')}",
    )
    # the same communes in another order, or repeated, are the same group
    assert (
        Territory(communes=["44064", "44043", "44064"], name="Vignoble").publication_name()
        == f"territoires/groupe-vignoble-{_digest('44043,44064')}"
    )


def test_a_code_missing_from_the_geography_fails_before_a_publication_is_begun(demo_store, tmp_path):
    state = run(
        diagnostic,
        Territory(commune="99999"),
        data_dir=str(demo_store.root),
        publish_dir=str(tmp_path),
        refresh="never",
    )
    assert state.is_failed() and "commune not in the target geography: 99999" in state.message
    assert not (tmp_path / "territoires").exists()  # no draft, no `_failed-` folder


@pytest.mark.parametrize(
    "territory, message",
    [
        ({"epci": "20006734"}, "an EPCI is named by its SIREN, 9 digits (200067346), not '20006734'"),
        ({"epci": "200067347"}, "200067347 is not a valid SIREN: its check digit is wrong"),
        ({"commune": "4404"}, "a commune code has 5 characters (44043, 2A004), not '4404'"),
        ({"communes": ["44043"]}, "a custom territory (communes) needs a name"),
        ({"epci": CLISSON, "commune": "44043"}, "give exactly one of epci, commune or communes (epci, commune given)"),
    ],
)
def test_a_malformed_territory_is_refused_before_anything_runs(tmp_path, territory, message):
    state = run(diagnostic, territory=territory, data_dir=str(tmp_path / "data"), publish_dir=str(tmp_path / "pub"))
    assert state.is_failed()
    assert "Validation of flow parameters failed" in state.message and message in state.message
    assert not (tmp_path / "data").exists() and not (tmp_path / "pub").exists()  # nothing ran


def test_a_failed_run_leaves_the_previous_publication_and_says_why(demo_store, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    params = dict(data_dir=str(data), publish_dir=str(tmp_path / "pub"), refresh="never")
    assert run(diagnostic, Territory(epci=CLISSON), **params).is_completed()
    pub = Publication(tmp_path / "pub", f"territoires/epci-{CLISSON}")
    latest = pub.latest
    before = (latest / f"diagnostic-epci-{CLISSON}.html").read_bytes()

    Store(data).staged_path("filosofi", "2021").write_bytes(b"not a parquet file")  # a damaged store
    state = run(diagnostic, Territory(epci=CLISSON), **params)

    assert state.is_failed()
    assert pub.latest == latest and pub.versions() == [latest.name]
    assert (latest / f"diagnostic-epci-{CLISSON}.html").read_bytes() == before
    [failed] = [p for p in pub.dir.iterdir() if p.name.startswith("_failed-")]
    assert "parquet" in (failed / "failure.txt").read_text(encoding="utf-8").lower()
    markdown = artifacts(state)[f"diagnostic-epci-{CLISSON}"]
    assert f"# Diagnostic of EPCI {CLISSON}: not published" in markdown
    assert f"Previous publication kept: territoires/epci-{CLISSON}: latest = {latest.name}" in markdown
    assert failed.name in markdown


def test_an_empty_store_is_refreshed_first_when_sources_are_missing(tmp_path, demo_mirror):
    state = run(
        diagnostic,
        Territory(epci=CLISSON),
        data_dir=str(tmp_path / "data"),
        publish_dir=str(tmp_path / "pub"),
        mirror=demo_mirror.url,
    )  # refresh="missing" by default
    assert state.is_completed(), state.message
    assert Store(tmp_path / "data").staged_path("rp_population", "2022").exists()
    assert Publication(tmp_path / "pub", f"territoires/epci-{CLISSON}").latest is not None
    assert Publication(tmp_path / "pub", "indicateurs").latest is None  # the inner refresh does not publish
