"""The maps of the demo EPCI report in a real browser (Debian's chromium through Playwright): every map draws one
shape per commune with its name and value, has a legend, and fits the printed A4 page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reports.screenshots import CHROMIUM, DEMO_EPCI, launch
from reports.site import build_site
from transforms.pipeline import Selection
from transforms.registry import indicators

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/run does)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# CC Vendée Sèvre Autise (the demo EPCI): Benet, Maillezais, Rives-d'Autise, Vix
COMMUNES = ["85020", "85133", "85162", "85303"]
NAMES = ["Benet", "Maillezais", "Rives-d'Autise", "Vix"]
# A4 height minus the report's print margins would be smaller still: a map must at least fit one page (297 mm)
A4_HEIGHT_PX = 297 / 25.4 * 96


@pytest.fixture(scope="module")
def report(demo_store, tmp_path_factory) -> Path:
    site = build_site(
        demo_store, [Selection(epci=DEMO_EPCI)], tmp_path_factory.mktemp("maps-browser"), demo=True, generated_at=WHEN
    )
    return site.reports[0]


@pytest.fixture(scope="module")
def page(report):
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.resolve().as_uri(), wait_until="load")
        yield page
        assert errors == []
        browser.close()


def test_every_map_has_one_visible_shape_per_commune_and_a_legend(page):
    maps = page.locator("#cartes figure.map-box:not(.map-locator) svg.map")
    assert maps.count() == sum(1 for i in indicators() if i.map)
    for i in range(maps.count()):
        svg = maps.nth(i)
        svg.scroll_into_view_if_needed()
        shapes = svg.locator("[data-code]")
        assert sorted(shapes.evaluate_all("ps => ps.map(p => p.dataset.code)")) == COMMUNES, i
        for j in range(shapes.count()):
            box = shapes.nth(j).bounding_box()
            assert box is not None and box["width"] > 10 and box["height"] > 10, (i, j)  # drawn, not collapsed
        titles = shapes.evaluate_all("ps => ps.map(p => p.querySelector('title').textContent)")
        assert sorted(t.split(" : ")[0] for t in titles) == NAMES
        assert svg.locator("text", has_text="Légende").count() == 1
        swatches = svg.locator("rect[height='13']")
        assert swatches.count() >= 1
        assert svg.bounding_box()["width"] > 300


def test_the_locator_shows_the_territory_in_its_departement(page):
    locator = page.locator("#carte-situation svg.map")
    locator.scroll_into_view_if_needed()
    assert locator.is_visible()
    assert locator.locator("text", has_text="Vendée (85)").count() == 1


def test_maps_fit_the_printed_page(page):
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 711, "height": 1000})  # A4's printable width with the report's margins
    heights = page.locator("#cartes svg.map").evaluate_all("ss => ss.map(s => s.getBoundingClientRect().height)")
    widths = page.locator("#cartes svg.map").evaluate_all("ss => ss.map(s => s.getBoundingClientRect().width)")
    assert heights and all(0 < h < A4_HEIGHT_PX / 2 for h in heights), heights  # two maps per page at most
    assert all(w <= 711 for w in widths), widths
    page.emulate_media(media="screen")
