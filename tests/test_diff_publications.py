"""`abs-diag diff` on two publications of the demo EPCI built from two demo mirrors that differ in known ways:

- mirror A is the demo mirror, refreshed with the census education base of 2021 only (store A);
- mirror B is a copy where Vix (85303) has, in December 2024 of the CAF's `s_ben_com_f`, 65 PAJE households
  instead of 55 (one changed value) and 15 ASF households instead of 20 (a flag that disappears); store B is
  refreshed from it with every vintage, so it reads the education base of 2022 (one new vintage).

The expected changes are computed by hand from the demo mirror's file (awk over its rows of December 2024):
  Vix: 275 benefit households; PAJE 55 -> 65, ASF 20 -> 15.
  CC Vendée Sèvre Autise (85020, 85133, 85162, 85303): 1,425 households, PAJE 285 -> 295, ASF 105 -> 100.
  Vendée (the 8 communes of 85 in the file): 3,360 households, PAJE 685 -> 695, ASF 220 -> 215.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from flow_support import artifacts, mirror_copy, run
from typer.testing import CliRunner

from flows.cli import app
from reports.diff import choose_versions, read_version, run_diff, write_diff
from reports.screenshots import CHROMIUM, launch
from reports.site import build_site
from sources.demo.files import entry_path
from sources.mirror import serve
from sources.refresh import refresh
from storage.publication import Publication
from storage.store import Store
from transforms.pipeline import Selection

EPCI = "200029940"  # CC Vendée Sèvre Autise
NAME = f"territoires/epci-{EPCI}"
EDUCATION = {"taux_scolarisation_1824", "part_non_diplomes"}  # the indicators that read rp_education
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def edit_caf_row(root: Path, code: str, month: str, changes: dict[str, tuple[str, str]]) -> None:
    """In the mirror copy's `s_ben_com_f`, the row of `code` and `month`: column -> (value expected, new value)."""
    path = entry_path(root, "caf_benefits", "2024")
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    lines = text.split("\n")
    header = lines[0].split(";")
    for i, line in enumerate(lines):
        cells = line.split(";")
        if cells[:2] == [month, code]:
            for column, (before, after) in changes.items():
                assert cells[header.index(column)] == before, (column, cells[header.index(column)])
                cells[header.index(column)] = after
            lines[i] = ";".join(cells)
            path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8"))
            return
    raise AssertionError(f"no row {month} {code} in {path}")


@pytest.fixture(scope="module")
def stores(tmp_path_factory, demo_mirror) -> tuple[Store, Store]:
    tmp = tmp_path_factory.mktemp("diff-stores")
    store_a = Store(tmp / "a")
    report = refresh(store=store_a, mirror=demo_mirror.url, vintages={"rp_education": "2021"})
    assert report.failed == []
    root = mirror_copy(tmp)
    edit_caf_row(root, "85303", "2024-12", {"indfoy_ndurpaje": ("55", "65"), "indfoy_asf": ("20.0", "15.0")})
    store_b = Store(tmp / "b")
    with serve(root) as mirror_b:
        report = refresh(store=store_b, mirror=mirror_b.url)
    assert report.failed == []
    return store_a, store_b


def publish(root: Path, store: Store, selection: Selection) -> Path:
    pub = Publication(root, selection.publication_name())
    with pub.publishing({}) as draft:
        build_site(store, [selection], draft.path, demo=True)
    return draft.path


@pytest.fixture(scope="module")
def published(stores, tmp_path_factory) -> Path:
    """The publication root: two versions of the demo EPCI (from store A, then B), one of the commune of Vix."""
    root = tmp_path_factory.mktemp("diff-pub")
    for store in stores:
        publish(root, store, Selection(epci=EPCI))
    publish(root, stores[1], Selection(commune="85303"))
    return root


@pytest.fixture(scope="module")
def result(published, tmp_path_factory):
    return run_diff(Publication(published, NAME), None, None, tmp_path_factory.mktemp("diff-out"))


def test_the_sources_say_the_new_census_vintage_and_the_revised_caf_file(result):
    changes = {c.source: (c.kind, c.old.vintage, c.new.vintage) for c in result.diff.sources}
    assert changes == {
        "rp_education": ("new_vintage", "2021", "2022"),
        "caf_benefits": ("revised_file", "2024", "2024"),
    }
    assert result.diff.cog == ("2025", "2025")
    assert result.diff.places_removed.height == 0 and result.diff.places_added.height == 0


def test_the_changes_are_the_list_written_by_hand(result):
    rows = {(r["level"], r["code"], r["indicator"]): r for r in result.diff.changes.iter_rows(named=True)}
    caf = {k: r for k, r in rows.items() if k[2] not in EDUCATION}
    assert sorted(caf) == [("COM", "85303", "foyers_asf"), ("COM", "85303", "foyers_paje")]
    paje = caf[("COM", "85303", "foyers_paje")]
    assert paje["old_value"] == pytest.approx(55 / 275 * 100)  # 20.0 %
    assert paje["new_value"] == pytest.approx(65 / 275 * 100)  # 23.64 %
    assert paje["move"] == pytest.approx(10 / 275 * 100)  # +3.64 points >= 1
    assert (paje["value_change"], paje["flag_change"]) == ("moved", None)  # PAJE is neutral: never flagged
    asf = caf[("COM", "85303", "foyers_asf")]
    assert asf["old_value"] == pytest.approx(20 / 275 * 100)  # 7.27 %, >= 220/3360 x 1.05 = 6.875 %: vigilance
    assert asf["new_value"] == pytest.approx(15 / 275 * 100)  # 5.45 %, < 215/3360 x 1.05 = 6.719 %: no flag
    assert asf["move"] == pytest.approx(-5 / 275 * 100)  # -1.82 points
    assert (asf["old_flag"], asf["new_flag"], asf["flag_change"]) == ("vigilance", None, "disappeared")
    # not listed: the EPCI (PAJE 285 -> 295 of 1,425: +0.70 point; ASF 105 -> 100: -0.35 point, still
    # >= 6.719 %), Vendée (+0.30 and -0.15 point), and no other flag moved (Maillezais 10/150 = 6.67 % < 6.719 %)
    education = {k: r for k, r in rows.items() if k[2] in EDUCATION}
    assert education, "the new census vintage moved no education indicator"
    assert all((r["old_year"], r["new_year"]) == (2021, 2022) for r in education.values())


def test_the_needs_profile_of_vix_lost_the_asf_flag(result):
    assert [(p.code, p.name, p.added, p.removed) for p in result.diff.profiles] == [
        ("85303", "Vix", (), ("foyers_asf",))
    ]


def test_the_exports_are_french_csv_and_parquet(result):
    csv = result.paths["csv"].read_bytes()
    assert csv.startswith(b"\xef\xbb\xbf")
    lines = csv.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("niveau;code;nom;thème;indicateur;libellé;unité;année avant;année après")
    vix_asf = next(line for line in lines if ";85303;" in line and ";foyers_asf;" in line).split(";")
    header = lines[0].split(";")
    assert vix_asf[header.index("valeur avant")] == "7,273"  # 20 / 275 = 7.2727 %, rounded to 3 decimals
    assert vix_asf[header.index("évolution")] == "-1,818"
    assert vix_asf[header.index("changement de signal")] == "signal disparu"
    parquet = pl.read_parquet(result.paths["parquet"])
    assert parquet.height == result.diff.changes.height and parquet["demo"].all()
    record = json.loads(result.paths["json"].read_text(encoding="utf-8"))
    assert record["flag_changes"]["disappeared"] >= 1 and record["profiles"][0]["code"] == "85303"


def test_the_page_says_every_change_in_french(result):
    html = result.page.read_text(encoding="utf-8")
    for text in (
        "Ce qui a changé",
        "nouveau millésime",
        "<td>millésime 2021</td><td>millésime 2022</td>",
        "fichier révisé par le producteur",
        "Vix (Commune, 85303)",
        "23,6",
        "signal disparu",
    ):
        assert text in html, text
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")


def test_a_secret_value_that_appears_is_said_as_such_on_the_page(result, tmp_path):
    """A version whose value of Vix's ASF households was secret: the page says « secret statistique », no 0."""
    new = result.new
    table = new.data.table.with_columns(
        value=pl.when((pl.col("code") == "85303") & (pl.col("indicator") == "foyers_paje"))
        .then(None)
        .otherwise(pl.col("value")),
        status=pl.when((pl.col("code") == "85303") & (pl.col("indicator") == "foyers_paje"))
        .then(pl.lit("secret"))
        .otherwise(pl.col("status")),
    )
    old = replace(new, version="avant", data=replace(new.data, table=table))
    written = write_diff(old, new, tmp_path)
    row = written.diff.changes.filter((pl.col("code") == "85303") & (pl.col("indicator") == "foyers_paje")).row(
        0, named=True
    )
    assert (row["value_change"], row["move"], row["old_status"]) == ("became_available", None, "secret")
    html = written.page.read_text(encoding="utf-8")
    assert "secret statistique" in html and "valeur désormais disponible" in html


# -- the command ------------------------------------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(app, ["diff", *args])


def test_the_command_prints_a_french_summary_and_writes_the_files(published, tmp_path):
    done = invoke("--epci", EPCI, "--out", str(published), "--output", str(tmp_path))
    assert done.exit_code == 0, done.output
    assert "CC Vendée Sèvre Autise : version " in done.output
    assert "nouveau millésime (millésime 2021 → millésime 2022)" in done.output
    assert "Profils de besoins modifiés : 1 commune(s) — Vix" in done.output
    assert {p.name for p in tmp_path.iterdir()} == {
        f"changements-epci-{EPCI}.{x}" for x in ("html", "csv", "parquet", "json")
    }


def test_a_threshold_option_changes_what_is_listed(published, tmp_path):
    # PAJE of Vix moved 3.64 points: listed at 1 point, not at 5 (the ASF flag still is)
    done = invoke("--epci", EPCI, "--out", str(published), "--output", str(tmp_path), "--threshold", "per100=5")
    assert done.exit_code == 0, done.output
    changes = pl.read_parquet(tmp_path / f"changements-epci-{EPCI}.parquet")
    assert changes.filter(pl.col("indicator") == "foyers_paje").height == 0
    assert changes.filter(pl.col("indicator") == "foyers_asf")["flag_change"].to_list() == ["disappeared"]


def test_explicit_versions_are_compared_in_the_order_given(published, tmp_path):
    first, second = Publication(published, NAME).versions()
    done = invoke("--epci", EPCI, "--out", str(published), "--output", str(tmp_path), "--from", second, "--to", first)
    assert done.exit_code == 0, done.output
    assert "millésime 2022 → millésime 2021" in done.output and "millésime antérieur" in done.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epci", "200067346"], "aucune publication pour EPCI 200067346"),
        (["--epci", "200067347"], "SIREN"),
        (["--commune", "85303"], "une seule version publiée : rien à comparer"),
        (["--epci", EPCI, "--from", "2001-01-01T000000Z"], "version inconnue"),
        (["--epci", EPCI, "--threshold", "percent=beaucoup"], "write NAME=NUMBER"),
        (["--publication", "../etc"], "relative folder name"),
        ([], "give one of"),
    ],
)
def test_the_command_refuses_what_it_cannot_compare(published, tmp_path, args, message):
    done = invoke(*args, "--out", str(published), "--output", str(tmp_path))
    assert done.exit_code == 2, done.output
    assert message in done.output and done.output.startswith("error: ")


def test_an_unreadable_table_is_refused_naming_the_file(published, tmp_path):
    broken = tmp_path / "version"
    shutil.copytree(Publication(published, NAME).latest, broken)
    (broken / f"indicateurs-epci-{EPCI}.parquet").write_bytes(b"not a parquet file")
    done = invoke("--from", str(Publication(published, NAME).latest), "--to", str(broken), "--output", str(tmp_path))
    assert done.exit_code == 2
    assert f"indicateurs-epci-{EPCI}.parquet : table d'indicateurs illisible" in done.output


def test_versions_of_two_territories_are_refused(published, tmp_path):
    epci = Publication(published, NAME).latest
    commune = Publication(published, "territoires/commune-85303").latest
    done = invoke("--from", str(epci), "--to", str(commune), "--output", str(tmp_path))
    assert done.exit_code == 2
    assert "les deux versions ne portent pas sur le même territoire" in done.output


def test_without_a_version_argument_the_two_latest_are_chosen(published):
    pub = Publication(published, NAME)
    old, new = choose_versions(pub)
    assert (old.name, new.name) == tuple(pub.versions()[-2:])
    assert read_version(new).key == f"epci-{EPCI}"


# -- the page in a browser --------------------------------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/run does)")
def test_the_page_shows_the_changes_in_chromium(result):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1060, "height": 1200})
        requests, errors = [], []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.route(re.compile(r"^(?!file://).*"), lambda route: route.abort())
        page.goto(result.page.resolve().as_uri(), wait_until="load")
        assert page.title().startswith("Ce qui a changé : CC Vendée Sèvre Autise")
        for section in ("#sources", "#geographie", "#valeurs", "#signaux", "#profils"):
            assert page.locator(section).is_visible(), section
        moved = page.locator("#valeurs tr.change-moved", has_text="Vix").filter(has_text="23,6")  # PAJE: 65/275
        assert moved.count() == 1 and moved.is_visible() and "+3,6" in moved.inner_text()
        flag = page.locator("#signaux tr.flag-disappeared", has_text="Vix")
        assert flag.is_visible() and "signal disparu" in flag.inner_text()
        assert "Vix" in page.locator("#profils tbody").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "diff-demo.png"), full_page=True)
        browser.close()
    assert errors == []
    assert requests and all(url.startswith("file://") for url in requests)


# -- the flows --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_harness")
def test_a_diagnostic_publishes_its_diff_with_the_previous_version_and_an_artifact(stores, tmp_path):
    from flows.diagnostic import diagnostic
    from flows.parameters import Territory

    params = {"publish_dir": str(tmp_path), "refresh": "never", "demo": True}
    first = run(diagnostic, Territory(epci=EPCI), data_dir=str(stores[0].root), **params)
    assert first.is_completed(), first.message
    assert not list(Path(first.result()).parent.glob("changements-*"))  # nothing to compare with yet
    assert not any(key.startswith("changements-") for key in artifacts(first))
    second = run(diagnostic, Territory(epci=EPCI), data_dir=str(stores[1].root), **params)
    assert second.is_completed(), second.message
    folder = Path(second.result()).parent
    assert (folder / f"changements-epci-{EPCI}.html").is_file() and (folder / f"changements-epci-{EPCI}.csv").is_file()
    markdown = artifacts(second)[f"changements-epci-{EPCI}"]
    assert "Profils de besoins modifiés : 1 commune(s) — Vix" in markdown
    assert (folder / f"changements-epci-{EPCI}.html").as_uri() in markdown  # the published path, not the draft's


@pytest.mark.usefixtures("prefect_harness")
def test_the_refresh_publishes_the_diff_of_the_national_tables(stores, tmp_path, demo_mirror):
    from flows.refresh import refresh as refresh_flow

    first = run(
        refresh_flow,
        mirror=demo_mirror.url,
        data_dir=str(tmp_path / "data"),
        publish_dir=str(tmp_path / "pub"),
        vintages={"rp_education": "2021"},
        demo=True,
    )
    assert first.is_completed(), first.message
    second = run(
        refresh_flow,
        mirror=demo_mirror.url,
        data_dir=str(tmp_path / "data"),
        publish_dir=str(tmp_path / "pub"),
        demo=True,
    )
    assert second.is_completed(), second.message
    folder = Path(second.result()["published"])
    record = json.loads((folder / "changements-france.json").read_text(encoding="utf-8"))
    assert [s["source"] for s in record["sources"]] == ["rp_education"]
    assert record["sources"][0]["change"] == "new_vintage"
    assert "rp_education" not in artifacts(first).get("changements-indicateurs", "")
    assert "nouveau millésime" in artifacts(second)["changements-indicateurs"]


@pytest.mark.usefixtures("prefect_harness")
def test_a_national_run_publishes_the_diff_of_france_with_the_previous_run(stores, tmp_path):
    from flows.national import national

    params = {"epcis": [EPCI], "departements": [], "publish_dir": str(tmp_path), "refresh": "never", "demo": True}
    first = run(national, data_dir=str(stores[0].root), **params)
    assert first.is_completed(), first.message
    second = run(national, data_dir=str(stores[1].root), **params)
    assert second.is_completed(), second.message
    folder = Path(second.result()).parent
    changes = pl.read_parquet(folder / "changements-france.parquet")
    vix = changes.filter((pl.col("code") == "85303") & (pl.col("indicator") == "foyers_asf")).row(0, named=True)
    assert (vix["old_flag"], vix["flag_change"]) == ("vigilance", "disappeared")  # as in the EPCI's own diff
    markdown = artifacts(second)["changements-national-partiel"]
    assert "nouveau millésime" in markdown and (folder / "changements-france.html").as_uri() in markdown
