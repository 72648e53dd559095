"""Snapshots of the report's structure: the outline of the demo EPCI report and of a commune report (table of
contents, numbered sections, figures, tables with their captions and column headers), as readable JSON in
tests/__snapshots__/. A change of structure shows as a diff of that file; `pytest --snapshot-update` accepts it.

The outline is read from the HTML the build wrote (what a reader gets), with the standard library's parser."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from reports.site import DEMO_EPCI, build_site
from transforms.pipeline import Selection

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
COMMUNE = "49099"  # Cholet: a commune of more than 10,000 inhabitants, with its EPCI as a reference


class Outline(HTMLParser):
    """Collects the table of contents, the sections of <main> (number and title, id), their figures (id,
    caption) and tables (id, title, subtitle, column headers; a plain table takes the <h3> above it as its title).
    Text is whitespace-normalised, with a space where a tag starts or ends."""

    def __init__(self):
        super().__init__()
        self.toc: list[dict] = []
        self.sections: list[dict] = []
        self._stack: list[tuple[str, dict]] = []  # open elements with their attributes
        self._text: list[str] | None = None  # text being collected, and what it is for
        self._target: tuple[dict, str] | None = None

    # -- helpers ---------------------------------------------------------------------------------------------

    def _inside(self, tag: str) -> bool:
        return any(t == tag for t, _ in self._stack)

    def _collect(self, record: dict, key: str) -> None:
        self._text, self._target, self._closes = [], (record, key), self._stack[-1][0]

    @property
    def _section(self) -> dict | None:
        return self.sections[-1] if self.sections and self._inside("main") else None

    # -- parser callbacks ------------------------------------------------------------------------------------

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if self._text is not None:
            self._text.append(" ")
        if tag in ("br", "col", "meta", "img", "path", "rect", "circle", "line"):
            return
        self._stack.append((tag, a))
        if tag == "a" and self._inside("nav"):
            self.toc.append({"href": a.get("href", "")})
            self._collect(self.toc[-1], "text")
        elif tag == "section" and self._inside("main"):
            self.sections.append({"id": a.get("id"), "tables": [], "figures": []})
        elif self._section is not None:
            self._in_section(tag, a)

    def _in_section(self, tag: str, a: dict) -> None:
        section = self._section
        if tag == "h2":
            self._collect(section, "heading")
        elif tag == "figure":
            section["figures"].append({"id": a.get("id")})
        elif tag == "figcaption":
            self._collect(section["figures"][-1], "caption")
        elif tag == "h3":
            self._collect(section, "last_h3")
        elif tag == "table":
            table = {"id": a.get("id") or self._table_id(), "columns": []}
            if "gt_table" not in a.get("class", "") and section.get("last_h3"):
                table["title"] = section["last_h3"]  # a plain table is titled by the heading above it
            section["tables"].append(table)
        elif tag == "td" and "gt_title" in a.get("class", ""):
            self._collect(section["tables"][-1], "title")
        elif tag == "td" and "gt_subtitle" in a.get("class", ""):
            self._collect(section["tables"][-1], "subtitle")
        elif tag == "th" and self._inside("thead") and "gt_column_spanner" not in a.get("class", ""):
            column: dict = {}
            section["tables"][-1]["columns"].append(column)
            self._collect(column, "text")

    def _table_id(self) -> str:
        """A great-tables table has its id on the div around it."""
        return next((a["id"] for t, a in reversed(self._stack) if t == "div" and a.get("id")), "")

    def handle_endtag(self, tag):
        if self._stack and self._stack[-1][0] == tag:
            self._stack.pop()
        if self._text is None:
            return
        if self._target and tag == self._closes:
            record, key = self._target
            record[key] = " ".join("".join(self._text).split())
            self._text = self._target = None
        else:
            self._text.append(" ")  # `<span class="h-l">Label</span><span class="h-u">en %</span>`: two words

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def outline(html: str) -> dict:
    parser = Outline()
    parser.feed(html)
    columns = lambda t: [c["text"] for c in t["columns"]]  # noqa: E731
    return {
        "sommaire": [f"{e['href']} {e['text']}" for e in parser.toc],
        "sections": [
            {
                "heading": s.get("heading"),
                "id": s["id"],
                "figures": [f"{f['id']}: {f.get('caption', '')}" for f in s["figures"]],
                "tables": [
                    {
                        **({"id": t["id"]} if t["id"] else {}),
                        **{k: t[k] for k in ("title", "subtitle") if k in t},
                        "columns": columns(t),
                    }
                    for t in s["tables"]
                ],
            }
            for s in parser.sections
        ],
    }


@pytest.fixture(scope="module")
def site(demo_store, tmp_path_factory):
    return build_site(
        demo_store,
        [Selection(epci=DEMO_EPCI), Selection(commune=COMMUNE)],
        tmp_path_factory.mktemp("outline"),
        demo=True,
        generated_at=WHEN,
    )


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("name", [f"diagnostic-epci-{DEMO_EPCI}.html", f"diagnostic-commune-{COMMUNE}.html"])
def test_outline_of_the_report(site, name, snapshot_json):
    page = (site.index.parent / name).read_text(encoding="utf-8")
    assert outline(page) == snapshot_json


def test_the_outline_reads_sections_tables_and_figures():
    # the parser on a hand-made page: what the snapshots rely on
    page = (
        '<nav class="toc"><ol><li><a href="#a">Un</a></li></ol></nav><main><section id="a" class="theme">'
        '<h2><span class="num">1</span>Un</h2><figure id="f"><figcaption>Fig <b>1</b></figcaption></figure>'
        '<div id="t"><table class="gt_table"><thead><tr><td class="gt_heading gt_title">T</td></tr>'
        '<tr><td class="gt_heading gt_subtitle">S</td></tr><tr><th>Lieu</th><th>A<span>en %</span></th>'
        "</tr></thead></table></div></section></main>"
    )
    assert outline(page) == {
        "sommaire": ["#a Un"],
        "sections": [
            {
                "heading": "1 Un",
                "id": "a",
                "figures": ["f: Fig 1"],
                "tables": [{"id": "t", "title": "T", "subtitle": "S", "columns": ["Lieu", "A en %"]}],
            }
        ],
    }
