"""The demo report in a real browser: Debian's chromium driven by Playwright (it cannot download its own here).

Loaded from file://: no console error, no request outside the file, every theme section, the matrix and the
charts visible; a screenshot into test-artifacts/; printing gives A4 pages; a commune named like a script stays
text and runs nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from reports.screenshots import CHROMIUM, DEMO_EPCI, SHOTS, launch, take_screenshots
from reports.sections import SECTIONS
from reports.site import ReportContext, build_site, render_report
from transforms.pipeline import Selection, diagnostic_table, load_inputs
from transforms.registry import THEMES

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/run does)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
XSS = "<script>alert(1)</script>"
# A4 is 595.28 x 841.89 pt; chromium rounds its page box to whole CSS pixels: within 1.5 pt (0.5 mm)
A4_POINTS, A4_TOLERANCE = (595.28, 841.89), 1.5


@pytest.fixture(scope="module")
def store(demo_store):
    """The session's demo store (tests/conftest.py), read only."""
    return demo_store


@pytest.fixture(scope="module")
def demo_report(store, tmp_path_factory) -> Path:
    site = build_site(
        store, [Selection(epci=DEMO_EPCI)], tmp_path_factory.mktemp("browser-site"), demo=True, generated_at=WHEN
    )
    return site.reports[0]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


class Watched:
    """A page that records console errors, page errors, dialogs and every request (anything but file:// is
    aborted, so a stray request fails fast and is reported)."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.route(re.compile(r"^(?!file://).*"), lambda route: route.abort())

    def open(self, path: Path):
        self.page.goto(path.resolve().as_uri(), wait_until="load")
        return self.page


def test_demo_report_loads_offline_and_shows_every_part(browser, demo_report):
    watched = Watched(browser)
    page = watched.open(demo_report)
    assert page.title().startswith("Diagnostic social de territoire : CC Vendée Sèvre Autise")
    assert page.locator("#bandeau-demo").is_visible()
    for theme, label in THEMES.items():
        section = page.locator(f"section#{theme}")
        section.scroll_into_view_if_needed()
        assert section.is_visible(), theme
        assert section.locator("h2").inner_text().endswith(label)
        assert section.locator("table.gt_table").first.is_visible(), theme
    matrix = page.locator("#matrice-des-besoins table")
    matrix.scroll_into_view_if_needed()
    assert matrix.is_visible()
    assert matrix.locator("tbody tr").count() >= 4 + 1  # four communes and the EPCI (and group headings)
    charts = page.locator("svg.chart")
    assert charts.count() >= 1 + len(THEMES)  # the pyramid and one comparison chart per theme at least
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert chart.is_visible() and box["width"] > 300 and box["height"] > 60, i
    assert page.locator("#graphique-pyramide-des-ages svg rect").count() > 14  # bars and outlines
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "diagnostic-demo.png"), full_page=True)
    assert (ARTIFACTS / "diagnostic-demo.png").stat().st_size > 50_000
    assert watched.errors == []
    assert watched.requests and all(url.startswith("file://") for url in watched.requests), watched.requests


def test_printing_gives_a4_pages_and_opens_a_page_for_the_annexes(browser, demo_report):
    page = Watched(browser).open(demo_report)
    pdf = page.pdf(format="A4")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert len(boxes) >= 1 + len(SECTIONS) // 2  # the cover, the sections (about two a page at least)
    for width, height in boxes:
        assert abs(float(width) - A4_POINTS[0]) < A4_TOLERANCE and abs(float(height) - A4_POINTS[1]) < A4_TOLERANCE
    # in print, the sections follow each other (no half-empty page, issue 13) until the annexes, which open a
    # page (tests/test_report_print.py checks the tables); no table is wider than its page
    page.emulate_media(media="print")
    breaks = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('main > section')]"
        ".map(s => [s.id, getComputedStyle(s).breakBefore]))"
    )
    assert set(breaks) <= {s.id for s in SECTIONS} and "clefs-de-lecture" in breaks  # (an EPCI: no IRIS section)
    assert breaks == {sid: "page" if sid == "clefs-de-lecture" else "auto" for sid in breaks}
    too_wide = page.evaluate("""() => [...document.querySelectorAll('table')]
        .filter(t => t.getBoundingClientRect().width > document.documentElement.clientWidth + 1).length""")
    assert too_wide == 0


def test_printed_annex_headings_fit_their_columns(browser, demo_report):
    # the printable width of A4 with the report's 11 mm side margins: 188 mm = 188 / 25.4 * 96 = 710.6 CSS px
    page = browser.new_page(viewport={"width": 711, "height": 1000})
    page.goto(demo_report.resolve().as_uri())
    page.emulate_media(media="print")
    overflowing = page.evaluate("""() => [...document.querySelectorAll('#annexe-qualite th')]
        .filter(th => th.scrollWidth > th.clientWidth).map(th => th.textContent)""")
    page.close()
    assert overflowing == []  # "MillésimeGéographieLignes": headings running into each other


def test_the_watcher_sees_a_request_to_another_host(browser, tmp_path):
    # the guard of the first test: a page asking for anything outside its file is caught
    path = tmp_path / "leaky.html"
    path.write_text('<!DOCTYPE html><html lang="fr"><body><img src="http://127.0.0.1:9/x.png" alt=""></body></html>')
    watched = Watched(browser)
    watched.open(path)
    assert "http://127.0.0.1:9/x.png" in watched.requests


def test_screenshots_for_the_readme(browser, demo_report):
    paths = take_screenshots(browser.new_page(), demo_report, ARTIFACTS / "docs")
    assert [p.name for p in paths] == [name for name, _, _ in SHOTS]
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and 20_000 < len(data) < 600_000  # a real picture, small


def test_a_commune_named_like_a_script_is_text_in_the_browser(browser, store, tmp_path):
    inputs = load_inputs(store)
    inputs.membership = inputs.membership.with_columns(
        name=pl.when(pl.col("code") == "85020").then(pl.lit(XSS)).otherwise(pl.col("name"))
    )
    table = diagnostic_table(store, inputs=inputs)
    path = tmp_path / "xss.html"
    path.write_text(
        render_report(
            table, inputs, Selection(epci=DEMO_EPCI), ReportContext(generated_at=WHEN, manifest=store.manifest())
        ),
        encoding="utf-8",
    )
    watched = Watched(browser)
    page = watched.open(path)
    assert watched.dialogs == [] and watched.errors == []
    assert page.locator("script").count() == 0
    shown = page.get_by_text(XSS, exact=True)
    assert shown.count() >= 2  # the commune list of the cover and the table rows
    assert shown.first.is_visible()
