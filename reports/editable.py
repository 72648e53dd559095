"""The report as an editable Word document (`diagnostic-<territory>.docx`), for partners who co-write the diagnostic.

The document is made from the HTML sections the report itself shows (`BuiltSection.body`), so it has the same
sections, in the same order and numbering, with the same headings, texts and figures (already in French formats):
headings stay headings (Word's navigation pane lists them), tables become real Word tables (flag tints kept, the
table's title above it and its source line below), lists stay lists, the « Constats » are plain paragraphs anyone
can rewrite, and each SVG chart becomes a PNG picture.

Why .docx: python-docx, the maintained library for it (odfpy, for ODT, has had no release since 2020), is the
reference: the document is the one python-docx writes from its template (`reports.docx_package`, which reads that
template without importing python-docx; the tests build the same documents with python-docx and compare them), and
LibreOffice opens it as well. The pictures (`reports.pictures`) are drawn by Skia (`skia-python`, `reports.raster`) and by
resvg (`resvg-py`) for any chart Skia's SVG module would not draw right: both self-contained wheels, offline, with no
system library and no browser; cairosvg needs libcairo installed, a chromium screenshot needs a browser per report.
Skia draws an EPCI report's pictures 4 times faster than resvg. Without a renderer (or when one chart fails), the document keeps a paragraph saying
which chart of the HTML report to look at, and is still written.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from reports.docx_package import EMUS_PER_CM, Package
from reports.docx_tables import CELL_MARGIN, TABLE_FONT_HALF_POINTS, Layout, section_break, table_layout
from reports.pictures import PicturesFailed, svg_to_png
from storage.files import atomic_path

CHART_WIDTH = int(16.0 * EMUS_PER_CM)  # 16 cm, EMU (python-docx's `Cm(16)`)
SVG_START, SVG_END = re.compile(r"<svg\b"), "</svg>"
# lxml.html's parser, less its element classes (`_fragment`), and without the table of ids nothing looks up (an
# EPCI's sections parsed in 35.5 ms of CPU instead of 37.3, medians of 8)
HTML_PARSER = etree.HTMLParser(collect_ids=False)
DEFS = re.compile(r"<defs>.*?</defs>", re.DOTALL)
FILL = re.compile(r"background-color:\s*(#[0-9a-fA-F]{6})")
SMALL_CLASSES = {"src", "small", "constats-note", "lead", "legend"}
SKIPPED = {"style", "script", "colgroup"}
TAB_OR_BREAK = re.compile(r"([\t\r\n])")
# what lxml refuses in a text (python-docx's `add_run` raised it for these): C0 controls but tab, line feed and
# carriage return (written as `w:tab` and `w:br`, never as characters), and the two non-characters
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# either: one search tells a text written as one piece, the most, from one needing a look (the body as a whole
# searched for NOT_XML took 4.6 ms of CPU for an EPCI's document, its texts are looked at here anyway)
SPECIAL = re.compile("[\t\r\n\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Cover:
    """What the first page of the document says (the HTML report's cover, in a few paragraphs)."""

    title: str
    kind: str
    generated: str  # `23 novembre 2026`
    version: str
    demo: bool
    html_name: str  # the HTML report beside the document (charts are looked up there when not drawn)
    lines: tuple[str, ...] = ()  # communes, reference, sources: one paragraph each


def write_docx(path: Path, cover: Cover, sections, *, render: Callable[[str], bytes] | None = svg_to_png) -> Path:
    """Write the document of a report's `sections` (`BuiltSection`s) atomically at `path`."""
    package = Package()
    writer = _Writer(package, render, cover.html_name)
    writer.cover(cover)
    for section in sections:
        writer.heading(f"{section.number}. {section.title}", level=1)
        writer.body(str(section.body), section.id)
    with atomic_path(path) as tmp:
        package.save(tmp, writer.xml(), cover.title, landscape=writer.ends_landscape())
    return path


def cover_of(view, data, *, title: str, generated: str, version: str, demo: bool, html_name: str) -> Cover:
    """The cover of a report's document: its communes, reference, sources and vintages (`ReportData`)."""
    units = ", ".join(p.display for p in view.units)
    lines = [
        f"{'Intercommunalités' if view.units_are_epcis else 'Communes'} : {units}." if units else "",
        f"Comparé à {view.compared_with}.",
        data.geography,
    ]
    for q in sorted((q for q in data.quality if q.used), key=lambda q: (q.publisher, q.title)):
        year = data.data_years.get(q.key)
        when = f"données {year} (fichier {q.vintage})" if year else f"millésime {q.vintage}"
        lines.append(f"Source : {q.publisher}, {q.title}, {when}" + (f", {q.geography}" if q.geography else "") + ".")
    return Cover(
        title=title,
        kind=view.kind,
        generated=generated,
        version=version,
        demo=demo,
        html_name=html_name,
        lines=tuple(line for line in lines if line),
    )


def _with_defs(svg: str, defs: str) -> str:
    """`svg` with the shared definitions its `<use>` elements point to (nothing added to a chart without any)."""
    if not defs or "<use" not in svg:
        return svg
    start = svg.index(">") + 1  # after the opening <svg ...> tag
    return svg[:start] + defs + svg[start:]


def _svg_spans(body: str) -> list[tuple[int, int]]:
    """Where each SVG of `body` starts and ends, as a lazy `<svg\\b.*?</svg>` finds them: the end looked for by
    `str.find`, 10 times faster than the regular expression's lazy match through a chart's 20 kB."""
    spans: list[tuple[int, int]] = []
    end = 0
    while start := SVG_START.search(body, end):
        end = body.find(SVG_END, start.end())
        if end < 0:
            break
        end += len(SVG_END)
        spans.append((start.start(), end))
    return spans


def _charts_of(body: str) -> tuple[str, list[str]]:
    """(the section's HTML with a placeholder `<img data-chart="n">` for its n-th picture and without its invisible
    map definitions, the SVG of each of its pictures, in order)."""
    spans = _svg_spans(body)
    svgs = [body[start:end] for start, end in spans]
    # the maps draw their communes with <use> of paths defined once in an invisible SVG (reports.maps.shape_defs):
    # a picture is rendered alone, so each map gets those definitions inside it, and the invisible SVG no picture
    shared = [svg for svg in svgs if 'class="map-shapes"' in svg[:300]]
    defs = "".join(DEFS.findall(svg)[0] for svg in shared if DEFS.findall(svg))
    # SVG goes through the HTML parser badly (it lowercases viewBox): set aside, replaced by a placeholder
    pieces: list[str] = []
    charts: list[str] = []
    last = 0
    for (start, end), svg in zip(spans, svgs, strict=True):
        pieces.append(body[last:start])
        last = end
        if svg not in shared:
            pieces.append(f'<img data-chart="{len(charts)}">')
            charts.append(_with_defs(svg, defs))
    pieces.append(body[last:])
    return "".join(pieces), charts


def _parsed(body: str):
    """(the parsed HTML of a section, with a placeholder `<img data-chart="n">` for its n-th picture, the pictures)."""
    html, charts = _charts_of(body)
    return _fragment(html), charts


def _fragment(html: str):
    """`lxml.html.fragment_fromstring(html, create_parent="div")`, its elements plain lxml ones: lxml.html looks up
    in Python the class of each element it hands out (parsing an EPCI report's sections and reading their cells'
    text took 0.11 s of CPU with it, 0.09 s without)."""
    document = etree.fromstring(f"<html><body>{html}</body></html>", HTML_PARSER)
    (body,) = document.findall("body")
    root = etree.Element("div")
    if body.text and body.text.strip():
        root.text = body.text
    root.extend(body)
    return root


# sections parsed by `pictures_of` for the writer that follows (one parse of each section's HTML, not two): taken
# by `_Writer.body` (which may change the tree); the oldest let go beyond a few reports' worth
_PARSED_AHEAD: dict[str, tuple] = {}
PARSED_AHEAD_KEPT = 64


def _parsed_once(body: str):
    """`_parsed(body)`, parsed ahead by `pictures_of` if it was (then taken: a tree serves one writer)."""
    return _PARSED_AHEAD.pop(body, None) or _parsed(body)


def pictures_of(sections) -> list[str]:
    """The SVG of each picture the document of `sections` draws, in the order it draws them (the first chart of each
    figure the writer reaches, as `_Writer._figure` draws it), for `reports.pictures.drawn_ahead`."""
    svgs: list[str] = []
    for section in sections:
        body = str(section.body)
        root, charts = _PARSED_AHEAD[body] = _parsed(body)
        for stale in list(_PARSED_AHEAD)[:-PARSED_AHEAD_KEPT]:
            _PARSED_AHEAD.pop(stale, None)
        for box in _figures(root):
            placeholder = box.find(".//img[@data-chart]")
            if placeholder is not None:
                svgs.append(charts[int(placeholder.get("data-chart"))])
    return svgs


def _role(element) -> str | None:
    """How `_Writer.block` writes an element: None skipped, "card", "figure", another handler's tag ("p", "ul",
    "table"...), or "" (not a block itself: its children are walked). `pictures_of` walks the same way."""
    if not isinstance(element.tag, str) or element.tag in SKIPPED:
        return None
    classes = _classes(element)
    if "card" in classes:
        return "card"
    if "chart-box" in classes or element.tag == "figure":
        return "figure"
    return element.tag if hasattr(_Writer, f"_{element.tag}") else ""


def _classes(element) -> list[str]:
    return (element.get("class") or "").split()


def _figures(element):
    """The figures `_Writer.block` reaches under `element`, in document order."""
    for child in element:
        role = _role(child)
        if role == "figure":
            yield child
        elif role == "":
            yield from _figures(child)


class _Writer:
    """Walks the HTML of each section and writes its blocks as WordprocessingML text, the XML python-docx writes for
    them (`tests/test_editable_tables.py`, `tests/test_editable_xml.py`): python-docx's paragraph, run and table
    objects made the document cost 0.45-0.49 s of CPU a France report, 0.19-0.21 s written as text (pictures
    given). `reports.docx_package` makes the package, its parts (the pictures') and relationships."""

    def __init__(self, package: Package, render: Callable[[str], bytes] | None, html_name: str):
        self.package, self.render, self.html_name = package, render, html_name
        self.parts: list[str] = []  # the body's XML, block after block
        self.charts: list[str] = []
        self.shape_id: int | None = None  # the id of the last picture (`_add_picture`)
        self.landscape: list[tuple[int, int]] = []  # the parts from..to a table on landscape pages (its caption, notes)

    def xml(self) -> str:
        """The body's XML so far: the parts of landscape tables in a landscape section each (neighbours in one; the
        last ones in the document's last section, `ends_landscape`: no empty portrait page after them)."""
        pieces, written = [], 0
        for start, end in _joined(self.landscape):
            pieces += self.parts[written:start]
            if start:  # the portrait pages before end here (none before the first part)
                pieces.append(section_break(landscape=False))
            pieces += self.parts[start:end]
            # the pages end landscape here, or the document does: then a paragraph after its last table (LibreOffice
            # laid a last section holding a table alone on portrait pages)
            pieces.append(section_break(landscape=True) if end < len(self.parts) else "<w:p/>")
            written = end
        pieces += self.parts[written:]
        return "".join(pieces)

    def ends_landscape(self) -> bool:
        """Whether the body's last part is a landscape table's: its section, the document's last, is landscape."""
        return bool(self.landscape) and self.landscape[-1][1] == len(self.parts)

    def cover(self, cover: Cover) -> None:
        self.heading(cover.title, level=0)
        if cover.demo:
            warning = (
                "Démonstration : données synthétiques (noms et codes réels, chiffres inventés). "
                "Ce document n'est pas un diagnostic."
            )
            self.paragraph(warning, bold=True)
        self.paragraph(cover.kind)
        for line in cover.lines:
            self.paragraph(line)
        self.paragraph(
            f"Édition du {cover.generated}, abs-diag {cover.version}. Document modifiable généré "
            f"à partir du rapport {cover.html_name} : les constats sont à relire et à compléter."
        )

    def body(self, body: str, section_id: str) -> None:
        root, self.charts = _parsed_once(body)
        self.section_id = section_id
        self.block(root)

    def block(self, element, depth: int = 0) -> None:
        for child in element:
            role = _role(child)
            if role == "card":
                self._card(child)
            elif role:
                getattr(self, f"_{role}")(child, depth)
            elif role == "":
                self.block(child, depth)

    # -- paragraphs -----------------------------------------------------------------------------------------------

    def heading(self, text: str, level: int) -> None:
        """`document.add_heading(text, level)`."""
        self.paragraph(text, "Title" if level == 0 else f"Heading {level}")

    def paragraph(self, text: str = "", style: str | None = None, *, bold: bool = False, small: bool = False) -> None:
        """`document.add_paragraph(text, style)`, its run bold or small (8 pt) if asked."""
        self.paragraph_of_runs(run_xml(text, bold=bold, small=small) if text else "", style)

    def paragraph_of_runs(self, runs: str, style: str | None = None) -> None:
        """A paragraph of `runs` (`run_xml`), in the paragraph style named `style`."""
        properties = style_properties(self.package, style) if style else ""
        self.parts.append(f"<w:p>{properties}{runs}</w:p>" if properties or runs else "<w:p/>")

    # -- blocks ---------------------------------------------------------------------------------------------------

    def _h3(self, element, depth: int) -> None:
        self.heading(text_of(element), level=2)

    _h4 = _h3

    def _p(self, element, depth: int) -> None:
        text = text_of(element)
        if text:
            classes = _classes(element)
            style = "Caption" if "src" in classes else None
            self.paragraph(text, style, small=not SMALL_CLASSES.isdisjoint(classes))

    def _ul(self, element, depth: int) -> None:
        style = "List Bullet" if depth == 0 else "List Bullet 2"
        for item in element.findall("li"):
            nested = [c for c in item if c.tag in ("ul", "ol")]
            for n in nested:
                item.remove(n)
            self.paragraph(text_of(item), style)
            for n in nested:
                self._ul(n, depth + 1)

    _ol = _ul

    def _dl(self, element, depth: int) -> None:
        for term in element.findall("dt"):
            definition = term.getnext()
            runs = run_xml(text_of(term), bold=True)
            if definition is not None and definition.tag == "dd":
                runs += run_xml(" : " + text_of(definition))
            self.paragraph_of_runs(runs)

    def _card(self, element) -> None:
        """A key-figure card: its label in bold, its value, evolution and references on one paragraph."""
        title = element.find(".//h3")
        rest = [text_of(e) for e in element if e.tag == "div"]
        refs = [f"{text_of(dt)} {text_of(dt.getnext())}" for dt in element.findall(".//dt")]
        label = run_xml(text_of(title) if title is not None else "", bold=True)
        self.paragraph_of_runs(label + run_xml(" : " + " ; ".join(t for t in rest + refs if t)), "List Bullet")

    def _figure(self, element, depth: int = 0) -> None:
        caption = element.find("figcaption")
        if caption is not None:
            self.paragraph(text_of(caption), "Caption")
        placeholder = element.find(".//img[@data-chart]")
        if placeholder is not None:
            self._picture(int(placeholder.get("data-chart")), element.get("id") or self.section_id)
        for note in element.findall("p"):
            self._p(note, 0)

    def _picture(self, n: int, anchor: str) -> None:
        try:
            if self.render is None:
                raise RuntimeError("no SVG renderer")
            png = self.render(self.charts[n])
        except PicturesFailed:  # a dead or hung worker: the report fails, it does not drop its charts
            raise
        except Exception:  # noqa: BLE001 - the document is still written, and says where the chart is
            self.paragraph(f"Graphique non reproduit ici : voir le rapport {self.html_name}#{anchor}.")
            return
        self._add_picture(png, CHART_WIDTH)

    def _add_picture(self, png: bytes, width: int) -> None:
        """`document.add_picture(png, width)`, the shape's id counted here: python-docx found the next id by reading
        every id of the document at each picture. A picture is the only element of the body given a plain numeric
        id, and the body is written here, so the first is the template's next id and each next one the last plus
        one."""
        r_id, image = self.package.add_png(png)
        cx, cy = image.scaled(width)
        self.shape_id = self.package.template.first_shape_id if self.shape_id is None else self.shape_id + 1
        self.parts.append(picture_xml(self.shape_id, r_id, "image.png", cx, cy))  # python-docx's name of a stream

    def _table(self, element, depth: int) -> None:
        write_table(self, element)


def _joined(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` (start, end), in order, a span starting where the previous one ends joined to it."""
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        if joined and joined[-1][1] == start:
            start = joined.pop()[0]
        joined.append((start, end))
    return joined


# -- styles: every document starts from python-docx's template, so a style's id is the same in all


def style_properties(package: Package, name: str) -> str:
    """The `w:pPr` giving a paragraph the style named `name`, as `paragraph.style = name` writes it (an empty one
    for the default style)."""
    style_id = package.template.style_id(name)
    return f'<w:pPr><w:pStyle w:val="{style_id}"/></w:pPr>' if style_id else "<w:pPr/>"


def table_style_properties(package: Package) -> str:
    """The `w:tblStyle` giving a table the "Table Grid" style, as `table.style = "Table Grid"` writes it."""
    style_id = package.template.style_id("Table Grid", "table")
    return f'<w:tblStyle w:val="{style_id}"/>' if style_id else ""


def run_xml(text: str, *, bold: bool = False, small: bool = False) -> str:
    """`paragraph.add_run(text)`, made bold (`run.bold = True`) or 8 pt (`run.font.size = Pt(8)`) if asked."""
    properties = ("<w:b/>" if bold else "") + ('<w:sz w:val="16"/>' if small else "")
    content = _run_content(text)
    if properties:
        return f"<w:r><w:rPr>{properties}</w:rPr>{content}</w:r>"
    return f"<w:r>{content}</w:r>" if content else "<w:r/>"


def _run_content(text: str) -> str:
    """A run's text as python-docx writes it (`Run.text`): a tab is `w:tab`, a line break `w:br`, the rest in
    `w:t` (its spaces preserved when it starts or ends with one); a text holding a character XML refuses is
    refused, as python-docx refused it (no broken document)."""
    if not SPECIAL.search(text):  # most texts: one piece
        return _text_xml(text) if text else ""
    if NOT_XML.search(text):
        raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters")
    parts = []
    for piece in TAB_OR_BREAK.split(text):
        if piece == "\t":
            parts.append("<w:tab/>")
        elif piece in ("\n", "\r"):
            parts.append("<w:br/>")
        elif piece:
            parts.append(_text_xml(piece))
    return "".join(parts)


def _text_xml(piece: str) -> str:
    space = ' xml:space="preserve"' if len(piece.strip()) < len(piece) else ""
    return f"<w:t{space}>{xml_escape(piece)}</w:t>"


def xml_escape(text: str) -> str:
    """`text` with `&`, `<` and `>` escaped, as `xml.sax.saxutils.escape` escapes it (whose import brought
    `urllib.request`, `http.client` and `ssl` into the report's command: 12 ms)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# the picture as python-docx's `CT_Inline.new_pic_inline` makes it, in a paragraph of its own: the document's root
# declares the `wp` and `r` namespaces, the picture its `a` and `pic`
PICTURE = (
    "<w:p><w:r><w:drawing>"
    '<wp:inline xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
    ' xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture">'
    '<wp:extent cx="{cx}" cy="{cy}"/><wp:docPr id="{shape_id}" name="Picture {shape_id}"/>'
    '<wp:cNvGraphicFramePr><a:graphicFrameLocks noChangeAspect="1"/></wp:cNvGraphicFramePr>'
    '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">'
    '<pic:pic><pic:nvPicPr><pic:cNvPr id="0" name="{name}"/><pic:cNvPicPr/></pic:nvPicPr>'
    '<pic:blipFill><a:blip r:embed="{r_id}"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>'
    '<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="{cx}" cy="{cy}"/></a:xfrm><a:prstGeom prst="rect"/>'
    "</pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
)


def picture_xml(shape_id: int, r_id: str, name: str, cx: int, cy: int) -> str:
    """The paragraph `document.add_picture` adds for the image related by `r_id`, `cx` by `cy` EMU."""
    return PICTURE.format(shape_id=shape_id, r_id=xml_attribute(r_id), name=xml_attribute(name), cx=cx, cy=cy)


def xml_attribute(value: str) -> str:
    """`value` in a double-quoted attribute, escaped as lxml escapes it."""
    escaped = xml_escape(value)
    for character, entity in ATTRIBUTE_ESCAPES:
        escaped = escaped.replace(character, entity)
    return escaped


ATTRIBUTE_ESCAPES = (('"', "&quot;"), ("\n", "&#10;"), ("\r", "&#13;"), ("\t", "&#9;"))


# -- tables ------------------------------------------------------------------------------------------------------


def write_table(writer: _Writer, element) -> None:
    """An HTML table as a Word table: its heading rows (great-tables' title and subtitle) as a caption above, its
    footer (sources, marks) as a note below, cells spanning columns merged, flag tints kept, its columns as wide as
    their texts need (`reports.docx_tables`), on landscape pages if its words do not fit a portrait one."""
    caption = [text_of(c) for c in element.xpath(".//caption | .//tr[contains(@class,'gt_heading')]/*")]
    rows = [r for r in element.xpath("./thead/tr | ./tbody/tr | ./tr") if "gt_heading" not in r.get("class", "")]
    notes = [text_of(r) for r in element.xpath("./tfoot/tr")]
    cells = [[c for c in r if c.tag in ("th", "td")] for r in rows]
    texts = iter(texts_of([c for row in cells for c in row]))
    grid = [[(next(texts), *_cell(c)) for c in row] for row in cells]
    width = max((sum(span for _, span, _, _ in row) for row in grid), default=0)
    start = len(writer.parts)
    for n, text in enumerate(t for t in caption if t):
        writer.paragraph(text, "Caption", bold=n == 0)
    layout = None
    if width:
        header_rows = _header_rows(rows)
        layout = table_layout(grid, width, header_rows)
        writer.parts.append(_table_xml(writer, grid, layout, header_rows))
    for note in notes:
        if note:
            writer.paragraph(note, small=True)
    if layout is not None and layout.landscape:
        writer.landscape.append((start, len(writer.parts)))


def _cell(cell) -> tuple[int, bool, str | None]:
    """(the columns spanned, a heading?, the tint) of a table cell."""
    return int(cell.get("colspan", "1") or 1), cell.tag == "th", _fill(cell)


def _header_rows(rows) -> int:
    """How many of `rows` are column headings (in <thead>): repeated on each page of a long table."""
    return sum(1 for r in rows if r.getparent().tag == "thead")


LOOK = (
    '<w:tblLook w:firstColumn="1" w:firstRow="1" w:lastColumn="0" w:lastRow="0" w:noHBand="0" w:noVBand="1"'
    ' w:val="04A0"/>'
)
# the cells' margins, narrower than the "Table Grid" style's (`reports.docx_tables.CELL_MARGIN`)
CELL_MARGINS = f'<w:tblCellMar><w:left w:w="{CELL_MARGIN}" w:type="dxa"/><w:right w:w="{CELL_MARGIN}" w:type="dxa"/></w:tblCellMar>'


def _table_xml(writer: _Writer, grid: list[list], layout: Layout, header_rows: int) -> str:
    """The table `document.add_table(rows=0, cols=width)` makes, in the "Table Grid" style, its columns as wide as
    `layout` says (`table.autofit = False`, `w:tblW` their sum: Word and LibreOffice both keep them), with the rows
    of `grid` as python-docx's cell objects write them (`cell.text`, `cell.merge`): a cell spanning columns is as
    wide as they are, the `header_rows` first rows repeat on each page (`w:tblHeader`)."""
    columns = layout.columns
    grid_xml = "".join(f'<w:gridCol w:w="{twips}"/>' for twips in columns)
    rows = "".join(_row_xml(row, columns, header=r < header_rows) for r, row in enumerate(grid))
    return (
        f"<w:tbl><w:tblPr>{table_style_properties(writer.package)}"
        f'<w:tblW w:type="dxa" w:w="{sum(columns)}"/><w:tblLayout w:type="fixed"/>{CELL_MARGINS}{LOOK}</w:tblPr>'
        f"<w:tblGrid>{grid_xml}</w:tblGrid>{rows}</w:tbl>"
    )


def _row_xml(row: list, columns: tuple[int, ...], *, header: bool) -> str:
    width = len(columns)
    cells, column = [], 0
    for text, span, is_heading, fill in row:
        span = min(column + span, width) - column
        twips = columns[column] if span == 1 else sum(columns[column : column + span])
        cells.append(_cell_xml(text, span, is_heading or span == width, fill, twips))
        column += span
    cells += [
        _empty_cell_xml(twips) for twips in columns[column:]
    ]  # a short row keeps the empty cells python-docx made
    repeat = '<w:trPr><w:tblHeader w:val="true"/></w:trPr>' if header else ""
    return f"<w:tr>{repeat}{''.join(cells)}</w:tr>"


# the tables' font size, set on each cell's run and paragraph mark (the mark's size counts in its line's height)
CELL_SIZE = f'<w:sz w:val="{TABLE_FONT_HALF_POINTS}"/>'
CELL_PARAGRAPH = f"<w:pPr><w:rPr>{CELL_SIZE}</w:rPr></w:pPr>"


@functools.lru_cache(maxsize=8192)
def _cell_xml(text: str, span: int, bold: bool, fill: str | None, twips: int) -> str:
    """A cell of `span` columns, `twips` wide, holding `text`: a column repeats its texts (`·`, `— (s)`)."""
    properties = f'<w:tcW w:type="dxa" w:w="{twips}"/>'
    properties += f'<w:gridSpan w:val="{span}"/>' if span > 1 else ""
    properties += f'<w:shd w:val="clear" w:fill="{fill.lstrip("#")}"/>' if fill else ""
    return f"<w:tc><w:tcPr>{properties}</w:tcPr>{_cell_paragraph(text, bold)}</w:tc>"


@functools.lru_cache(maxsize=8192)
def _cell_paragraph(text: str, bold: bool) -> str:
    """The paragraph of a cell holding `text`: a report's cells repeat (an EPCI's 5,700 cells hold 2,000 texts, the
    next EPCI's a thousand of them again), and writing them all took a tenth of the document's CPU."""
    run = f"<w:r><w:rPr>{'<w:b/>' if bold else ''}{CELL_SIZE}</w:rPr>{_run_content(text)}</w:r>"
    return f"<w:p>{CELL_PARAGRAPH}{run}</w:p>"


def _empty_cell_xml(twips: int) -> str:
    return f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{twips}"/></w:tcPr><w:p>{CELL_PARAGRAPH}</w:p></w:tc>'


def _fill(cell) -> str | None:
    style = cell.get("style")
    match = FILL.search(style) if style else None
    return match.group(1) if match else None


# -- text ----------------------------------------------------------------------------------------------------------

BREAKS = {"br", "p", "div", "li"}
# HTML's collapsible white space within a line; never U+202F or U+00A0, the French spaces inside figures (`21 600 €`)
# (a single space is left alone: replacing each by itself made the substitution 1.6 times slower)
LINE_SPACES = re.compile(r"[\t\r\f][ \t\r\f]*| [ \t\r\f]+")
# a line break with the space ending its line and the empty lines and spaces after it
LINE_BREAK = re.compile(r" \n[ \n]*|\n[ \n]+")  # (a bare line break left alone)
LINE_CLASSES = {"n", "ev", "h-u", "legend"}  # spans the report shows on a line of their own


def text_of(element) -> str:
    """The text a reader sees: screen-reader-only words left out, the lines of a cell kept as lines (white space
    collapsed within each, empty ones dropped)."""
    return texts_of((element,))[0] if element is not None else ""


# between the texts `texts_of` tidies in one go: no lxml text holds a NUL (its HTML parser reads one as U+FFFD)
SEPARATOR = "\0"


def texts_of(elements) -> list[str]:
    """`text_of` each of `elements` (a table's cells), their white space tidied in one go: two substitutions over all
    the texts, not two per cell (an EPCI report has 5,700 cells)."""
    parts: list[str] = []
    for element in elements:
        _collect(element, element.tag, parts)
        parts.append(SEPARATOR)
    collapsed = LINE_BREAK.sub("\n", LINE_SPACES.sub(" ", "".join(parts)))
    return [text.strip(" \n") for text in collapsed.split(SEPARATOR)[:-1]]


def _collect(element, tag: str, parts: list[str]) -> None:
    """The text of `element` (whose tag is `tag`) and its tail, in pieces appended to `parts`."""
    hidden, on_its_line, flag = _class_roles(element.get("class"))
    if hidden:  # the flag's word for screen readers: the table's subtitle explains the symbol
        if element.tail:
            parts.append(element.tail)
        return
    if on_its_line or tag in BREAKS:
        parts.append("\n")
    text = element.text
    if tag == "sup" and text:
        parts.append(f" ({text.strip()})")  # a footnote mark: `—(s)`, explained under the table
    elif text:
        parts.append(text)
    if len(element):  # most elements are leaves: no iterator made for them
        for child in element:
            child_tag = child.tag
            if isinstance(child_tag, str) and child_tag not in SKIPPED:
                _collect(child, child_tag, parts)
            elif child.tail:
                parts.append(child.tail)
    if flag:  # `! 11,5 %`, not `!11,5 %`
        parts.append(" ")
    if element.tail:
        parts.append(element.tail)


@functools.lru_cache(maxsize=1024)
def _class_roles(names: str | None) -> tuple[bool, bool, bool]:
    """(screen-reader only?, on a line of its own?, a flag?) for an element of class attribute `names`: a report's
    cells repeat a few class attributes, split once (an EPCI's 19,000 elements walked in 30 ms of CPU, not 35)."""
    classes = names.split() if names else ()
    return "sr" in classes, not LINE_CLASSES.isdisjoint(classes), "flag" in classes
