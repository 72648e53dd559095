"""The `abs-diag` commands that run the flows locally (here on the session's Prefect test server)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import app
from sources.mirror import serve
from sources.publication import Publication

pytestmark = pytest.mark.usefixtures("prefect_harness")

DEMO_EPCIS = {"200029940": "CC Vendée Sèvre Autise", "200046977": "Métropole de Lyon",
              "200054781": "Métropole du Grand Paris", "200067346": "CA Clisson Sèvre et Maine Agglo",
              "200069193": "CC de la Dombes", "200071678": "CA du Choletais", "242010056": "CA du Pays Ajaccien",
              "248500589": "CC du Pays de Saint-Fulgent - Les Essarts"}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_refresh_prints_the_summary_and_publishes(tmp_path, demo_mirror):
    result = invoke("refresh", "--mirror", demo_mirror.url, "--source", "births",
                    "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "pub"))
    assert result.exit_code == 0, result.output
    assert "births" in result.output and "downloaded" in result.output and "staged" in result.output
    for source in ("cog_communes", "cog_events", "epci"):
        assert source in result.output  # the geography always comes along
    latest = Publication(tmp_path / "pub", "indicateurs").latest
    assert f"published: {latest}" in result.output


def test_refresh_fails_loudly_when_the_mirror_is_empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with serve(empty) as mirror:
        result = invoke("refresh", "--mirror", mirror.url, "--data-dir", str(tmp_path / "d"),
                        "--out", str(tmp_path / "pub"))
    assert result.exit_code == 1
    assert "HTTP 404" in result.output and "nothing published" in result.output
    assert Publication(tmp_path / "pub", "indicateurs").latest is None


@pytest.mark.parametrize("args, message", [
    (["--epci", "20006734"], "an EPCI is named by its SIREN, 9 digits (200067346), not '20006734'"),
    (["--epci", "200067347"], "200067347 is not a valid SIREN: its check digit is wrong"),
    (["--communes", "44043,4406"], "a commune code has 5 characters (44043, 2A004), not '4406'"),
    (["--communes", "44043,44064"], "a custom territory (communes) needs a name"),
    ([], "give exactly one of epci, commune or communes (none given)"),
])
def test_report_refuses_a_malformed_territory_before_anything_runs(tmp_path, args, message):
    result = invoke("report", *args, "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "pub"))
    assert result.exit_code == 2
    assert f"error: {message}" in result.output
    assert not (tmp_path / "d").exists() and not (tmp_path / "pub").exists()


def test_report_publishes_a_custom_territory(demo_store, tmp_path):
    result = invoke("report", "--communes", "44043,44064,44071", "--name", "Vignoble nantais", "--refresh", "never",
                    "--data-dir", str(demo_store.root), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    report = Publication(tmp_path, "territoires/vignoble-nantais").latest / "diagnostic-vignoble-nantais.html"
    assert result.output.strip() == str(report)
    assert "Vignoble nantais" in report.read_text(encoding="utf-8")


def test_demo_runs_the_whole_pipeline_offline_and_prints_the_report(tmp_path):
    result = invoke("demo", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "pub"))
    assert result.exit_code == 0, result.output
    folder = Publication(tmp_path / "pub", "national").latest
    # the report of the README screenshots: CC Vendée Sèvre Autise
    assert f"report: {folder / 'diagnostic-epci-200029940.html'}" in result.output
    html = (folder / "diagnostic-epci-200029940.html").read_text(encoding="utf-8")
    assert "CC Vendée Sèvre Autise" in html and "Données synthétiques" in html
    index = (folder / "index.html").read_text(encoding="utf-8")
    for name in DEMO_EPCIS.values():
        assert name in index
    assert len(list(folder.glob("diagnostic-epci-*.html"))) == len(DEMO_EPCIS)
