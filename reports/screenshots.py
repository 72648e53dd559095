"""Screenshots of the demo report for the README (`docs/`), taken in Debian's chromium through Playwright.

    python -m reports.screenshots [--out docs]

Builds the demo store through the demo mirror (the same path as `abs-diag demo`), the report of the demo EPCI,
and saves three small PNGs: the cover, one theme section, the needs matrix. The browser test calls
`take_screenshots` too, into test-artifacts/.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from reports.site import DEMO_EPCI

CHROMIUM = Path("/usr/bin/chromium")
# Playwright cannot download its own browsers here: it drives Debian's chromium, without any background request.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1060, "height": 1200}
SHOTS = (  # file name, what it shows, CSS selector
    ("rapport-couverture.png", "cover", "body"),
    ("rapport-theme-revenus.png", "theme", "#revenus_precarite"),
    ("rapport-matrice.png", "matrix", "#matrice"),
)


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def take_screenshots(page, report: Path, out_dir: Path) -> list[Path]:
    """Open `report` in `page` and save the three PNGs into `out_dir` (the viewport height at most: small files)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(VIEWPORT)
    page.goto(report.resolve().as_uri())
    paths = []
    for name, kind, selector in SHOTS:
        target = out_dir / name
        if kind != "cover":  # the section at the top of the window, just under the (sticky) demo banner
            page.locator(selector).evaluate(
                "e => { const b = document.getElementById('bandeau-demo');"
                " window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - (b ? b.offsetHeight : 0)); }"
            )
        else:
            page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(target))
        paths.append(target)
    return paths


def demo_report(work: Path) -> Path:
    """The demo store (refreshed through the demo mirror) and the report of the demo EPCI."""
    from reports.site import build_site
    from sources.demo import MIRROR_ROOT
    from sources.mirror import serve
    from sources.refresh import refresh
    from storage.store import Store
    from transforms.pipeline import Selection

    store = Store(work / "data")
    with serve(MIRROR_ROOT) as mirror:
        report = refresh(None, store=store, mirror=mirror.url)
    if report.failed:
        raise RuntimeError(f"demo refresh failed: {[f.source for f in report.failed]}")
    site = build_site(store, [Selection(epci=DEMO_EPCI)], work / "out", demo=True, generated_at=datetime.now(UTC))
    return site.reports[0]


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        report = demo_report(Path(tmp))
        browser = launch(p)
        try:
            for path in take_screenshots(browser.new_page(), report, args.out):
                print(path)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
