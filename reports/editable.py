"""The report as an editable Word document (`diagnostic-<territory>.docx`), for partners who co-write the diagnostic.

The document is made from the HTML sections the report itself shows (`BuiltSection.body`), so it has the same
sections, in the same order and numbering, with the same headings, texts and figures (already in French formats):
headings stay headings (Word's navigation pane lists them), tables become real Word tables (flag tints kept, the
table's title above it and its source line below), lists stay lists, the « Constats » are plain paragraphs anyone
can rewrite, and each SVG chart becomes a PNG picture.

Why python-docx: the maintained library for .docx (odfpy, for ODT, has had no release since 2020); LibreOffice opens
the .docx as well. The pictures (`reports.pictures`) are drawn by Skia (`skia-python`, `reports.raster`) and by
resvg (`resvg-py`) for any chart Skia's SVG module would not draw right: both self-contained wheels, offline, with no
system library and no browser; cairosvg needs libcairo installed, a chromium screenshot needs a browser per report.
Skia draws an EPCI report's pictures 4 times faster than resvg. Without a renderer (or when one chart fails), the document keeps a paragraph saying
which chart of the HTML report to look at, and is still written.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast
from xml.sax.saxutils import escape as xml_escape

from lxml import html as lxml_html

from reports.pictures import PicturesFailed, svg_to_png
from storage.files import atomic_path

if TYPE_CHECKING:
    from docx.opc.phys_pkg import PhysPkgWriter

CHART_WIDTH_CM = 16.0
SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
DEFS = re.compile(r"<defs>.*?</defs>", re.DOTALL)
FILL = re.compile(r"background-color:\s*(#[0-9a-fA-F]{6})")
SMALL_CLASSES = {"src", "small", "constats-note", "lead", "legend"}
SKIPPED = {"style", "script", "colgroup"}
TAB_OR_BREAK = re.compile(r"([\t\r\n])")


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
    from docx import Document

    document = Document()
    _style_ids_once(document)
    _image_parts_by_hash(document)
    _french(document)
    _cover(document, cover)
    writer = _Writer(document, render, cover.html_name)
    for section in sections:
        _heading(document, f"{section.number}. {section.title}", level=1)
        writer.body(str(section.body), section.id)
    with atomic_path(path) as tmp:
        _save(document, tmp)
    return path


def _save(document, path: Path) -> None:
    """`document.save(path)`, the pictures stored as they are: a PNG is deflated already, and python-docx's zip
    deflating it again took 0.11 s of CPU for an EPCI's 51 pictures (3.8 MB) to save 10 % of their size. Every
    other member is deflated as python-docx does; each member's content is the same."""
    from docx.opc.pkgwriter import PackageWriter

    package = document.part.package
    for part in package.parts:
        part.before_marshal()
    parts = package.parts  # as `OpcPackage.save` hands them to `PackageWriter.write`, whose steps these are
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # duck-typed: `write` is all PackageWriter calls (python-docx's PhysPkgWriter always makes its own zip)
        writer = cast("PhysPkgWriter", _PicturesStored(archive))
        PackageWriter._write_content_types_stream(writer, parts)
        PackageWriter._write_pkg_rels(writer, package.rels)
        PackageWriter._write_parts(writer, parts)


class _PicturesStored:
    """python-docx's zip package writer (`write(pack_uri, blob)`), PNG members stored without compression."""

    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive

    def write(self, pack_uri, blob: bytes) -> None:
        stored = pack_uri.ext.lower() == "png"
        self.archive.writestr(pack_uri.membername, blob, zipfile.ZIP_STORED if stored else None)


def _style_ids_once(document) -> None:
    """python-docx finds a style named by a paragraph (`style="Caption"`, a heading) by walking every style of the
    document, at each paragraph: half of the document's time without its pictures. The document's styles do not
    change while it is written, so each name's id is looked up once (styles are named, never passed as objects)."""
    part = document.part
    part.get_style_id = functools.cache(part.get_style_id)


def _image_parts_by_hash(document) -> None:
    """python-docx looks for an image already in the document by hashing every image part's bytes again at each
    picture it adds (quadratic: 50 charts hash 75 MB). The parts are only ever added by this writer, so their
    hashes are kept as they are added; the same image is still shared by one part."""
    parts = document.part.package.image_parts
    by_hash = {part.sha1: part for part in parts}
    add_image_part = parts._add_image_part

    def added(image):
        by_hash[image.sha1] = part = add_image_part(image)
        return part

    parts._get_by_sha1 = by_hash.get
    parts._add_image_part = added


def _french(document) -> None:
    """French as the document's language (spell-checking, hyphenation), and its metadata."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document.core_properties.language = "fr-FR"
    rpr = document.styles["Normal"].element.get_or_add_rPr()
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "fr-FR")
    rpr.append(lang)


def _cover(document, cover: Cover) -> None:
    document.core_properties.title = cover.title
    _heading(document, cover.title, level=0)
    if cover.demo:
        warning = document.add_paragraph()
        _run(
            warning,
            "Démonstration : données synthétiques (noms et codes réels, chiffres inventés). "
            "Ce document n'est pas un diagnostic.",
        ).bold = True
    _paragraph(document, cover.kind)
    for line in cover.lines:
        _paragraph(document, line)
    _paragraph(
        document,
        f"Édition du {cover.generated}, abs-diag {cover.version}. Document modifiable généré "
        f"à partir du rapport {cover.html_name} : les constats sont à relire et à compléter.",
    )


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


def _charts_of(body: str) -> tuple[str, list[str]]:
    """(the section's HTML without its invisible map definitions, the SVG of each of its pictures, in order)."""
    # the maps draw their communes with <use> of paths defined once in an invisible SVG (reports.maps.shape_defs):
    # a picture is rendered alone, so each map gets those definitions inside it, and the invisible SVG no picture
    shared = [m for m in SVG.findall(body) if 'class="map-shapes"' in m[:300]]
    body = SVG.sub(lambda m: "" if m.group(0) in shared else m.group(0), body)
    defs = "".join(DEFS.findall(svg)[0] for svg in shared if DEFS.findall(svg))
    return body, [_with_defs(svg, defs) for svg in SVG.findall(body)]


def _parsed(body: str):
    """(the parsed HTML of a section, with a placeholder `<img data-chart="n">` for its n-th picture, the pictures)."""
    body, charts = _charts_of(body)
    # SVG goes through the HTML parser badly (it lowercases viewBox): set aside, replaced by a placeholder
    counter = iter(range(len(charts)))
    body = SVG.sub(lambda _: f'<img data-chart="{next(counter)}">', body)
    return lxml_html.fragment_fromstring(body, create_parent="div"), charts


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
    if "card" in element.classes:
        return "card"
    if "chart-box" in element.classes or element.tag == "figure":
        return "figure"
    return element.tag if hasattr(_Writer, f"_{element.tag}") else ""


def _figures(element):
    """The figures `_Writer.block` reaches under `element`, in document order."""
    for child in element:
        role = _role(child)
        if role == "figure":
            yield child
        elif role == "":
            yield from _figures(child)


class _Writer:
    """Walks the HTML of one section and writes its blocks into the document."""

    def __init__(self, document, render: Callable[[str], bytes] | None, html_name: str):
        self.document, self.render, self.html_name = document, render, html_name
        self.charts: list[str] = []
        self.shape_id: int | None = None  # the id of the last picture (`_add_picture`)

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

    # -- blocks ---------------------------------------------------------------------------------------------------

    def _h3(self, element, depth: int) -> None:
        _heading(self.document, text_of(element), level=2)

    _h4 = _h3

    def _p(self, element, depth: int) -> None:
        text = text_of(element)
        if text:
            paragraph = _paragraph(self.document, text, style="Caption" if "src" in element.classes else None)
            if SMALL_CLASSES & set(element.classes):
                _small(paragraph)

    def _ul(self, element, depth: int) -> None:
        style = "List Bullet" if depth == 0 else "List Bullet 2"
        for item in element.findall("li"):
            nested = [c for c in item if c.tag in ("ul", "ol")]
            for n in nested:
                item.remove(n)
            _paragraph(self.document, text_of(item), style=style)
            for n in nested:
                self._ul(n, depth + 1)

    _ol = _ul

    def _dl(self, element, depth: int) -> None:
        for term in element.findall("dt"):
            definition = term.getnext()
            paragraph = self.document.add_paragraph()
            _run(paragraph, text_of(term)).bold = True
            if definition is not None and definition.tag == "dd":
                _run(paragraph, " : " + text_of(definition))

    def _card(self, element) -> None:
        """A key-figure card: its label in bold, its value, evolution and references on one paragraph."""
        title = element.find(".//h3")
        paragraph = self.document.add_paragraph(style="List Bullet")
        _run(paragraph, text_of(title) if title is not None else "").bold = True
        rest = [text_of(e) for e in element if e.tag == "div"]
        refs = [f"{text_of(dt)} {text_of(dt.getnext())}" for dt in element.findall(".//dt")]
        _run(paragraph, " : " + " ; ".join(t for t in rest + refs if t))

    def _figure(self, element, depth: int = 0) -> None:
        caption = element.find("figcaption")
        if caption is not None:
            _paragraph(self.document, text_of(caption), style="Caption")
        placeholder = element.find(".//img[@data-chart]")
        if placeholder is not None:
            self._picture(int(placeholder.get("data-chart")), element.get("id") or self.section_id)
        for note in element.findall("p"):
            self._p(note, 0)

    def _picture(self, n: int, anchor: str) -> None:
        from docx.shared import Cm

        try:
            if self.render is None:
                raise RuntimeError("no SVG renderer")
            png = self.render(self.charts[n])
        except PicturesFailed:  # a dead or hung worker: the report fails, it does not drop its charts
            raise
        except Exception:  # noqa: BLE001 - the document is still written, and says where the chart is
            _paragraph(self.document, f"Graphique non reproduit ici : voir le rapport {self.html_name}#{anchor}.")
            return
        self._add_picture(png, Cm(CHART_WIDTH_CM))

    def _add_picture(self, png: bytes, width) -> None:
        """`document.add_picture`, the shape's id counted here: python-docx finds the next id by reading every id of
        the document at each picture (quadratic: a quarter of the document's time for 50 charts). A picture is
        the only element of the document given a plain numeric id, so the next one is the last plus one."""
        from docx.oxml.shape import CT_Inline

        run = self.document.add_paragraph().add_run()
        part = run.part
        r_id, image = part.get_or_add_image(io.BytesIO(png))
        cx, cy = image.scaled_dimensions(width, None)
        self.shape_id = part.next_id if self.shape_id is None else self.shape_id + 1
        run._r.add_drawing(CT_Inline.new_pic_inline(self.shape_id, r_id, image.filename, cx, cy))

    def _table(self, element, depth: int) -> None:
        write_table(self.document, element)


# -- paragraphs ----------------------------------------------------------------------------------------------------


def _heading(document, text: str, level: int):
    """`document.add_heading(text, level)`, its text written by `_run`."""
    return _paragraph(document, text, "Title" if level == 0 else f"Heading {level}")


def _paragraph(document, text: str = "", style: str | None = None):
    """`document.add_paragraph(text, style)`, its text written by `_run` (the same XML: the style's `w:pPr` goes
    before the run either way)."""
    paragraph = document.add_paragraph(style=style)
    if text:
        _run(paragraph, text)
    return paragraph


def _run(paragraph, text: str):
    """`paragraph.add_run(text)`: python-docx writes a run's text one character at a time (a tenth of the
    document's time); the same elements are added a piece at a time: a tab is `w:tab`, a line break `w:br`, the
    text between them one `w:t`."""
    run = paragraph.add_run()
    for piece in TAB_OR_BREAK.split(text):
        if piece == "\t":
            run._r.add_tab()
        elif piece in ("\n", "\r"):
            run._r.add_br()
        elif piece:
            run._r.add_t(piece)
    return run


# -- tables ------------------------------------------------------------------------------------------------------


def write_table(document, element) -> None:
    """An HTML table as a Word table: its heading rows (great-tables' title and subtitle) as a caption above, its
    footer (sources, marks) as a note below, cells spanning columns merged, flag tints kept."""
    caption = [text_of(c) for c in element.xpath(".//caption | .//tr[contains(@class,'gt_heading')]/*")]
    rows = [r for r in element.xpath("./thead/tr | ./tbody/tr | ./tr") if "gt_heading" not in r.get("class", "")]
    notes = [text_of(r) for r in element.xpath("./tfoot/tr")]
    for n, text in enumerate(t for t in caption if t):
        paragraph = _paragraph(document, text, style="Caption")
        if n == 0:
            paragraph.runs[0].bold = True
    grid = [
        [(text_of(c), int(c.get("colspan", "1") or 1), c.tag == "th", _fill(c)) for c in r.xpath("./th|./td")]
        for r in rows
    ]
    width = max((sum(span for _, span, _, _ in row) for row in grid), default=0)
    if width:
        table = document.add_table(rows=0, cols=width)  # its properties and grid, as python-docx makes them
        table.style = "Table Grid"
        _add_rows(table._tbl, grid, header_rows=_header_rows(rows))
    for note in notes:
        if note:
            _small(_paragraph(document, note))


def _header_rows(rows) -> int:
    """How many of `rows` are column headings (in <thead>): repeated on each page of a long table."""
    return sum(1 for r in rows if r.getparent().tag == "thead")


def _add_rows(tbl, grid: list[list], *, header_rows: int) -> None:
    """The table's rows written as WordprocessingML text and parsed once: python-docx's cell objects (`cell.text`,
    `cell.merge`) cost a document as much as all its pictures. The XML is the one python-docx writes for them: a
    cell spanning columns is as wide as they are, a header row repeats on each page (`w:tblHeader`)."""
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls, qn

    width = len(tbl.tblGrid.gridCol_lst)
    column_twips = int(tbl.tblGrid.gridCol_lst[0].get(qn("w:w")))
    xml = "".join(_row_xml(row, width, column_twips, header=r < header_rows) for r, row in enumerate(grid))
    for tr in parse_xml(f"<w:tbl {nsdecls('w')}>{xml}</w:tbl>").findall(qn("w:tr")):
        tbl.append(tr)


def _row_xml(row: list, width: int, column_twips: int, *, header: bool) -> str:
    cells, column = [], 0
    for text, span, is_heading, fill in row:
        span = min(column + span, width) - column
        properties = f'<w:tcW w:type="dxa" w:w="{span * column_twips}"/>'
        properties += f'<w:gridSpan w:val="{span}"/>' if span > 1 else ""
        properties += f'<w:shd w:val="clear" w:fill="{fill.lstrip("#")}"/>' if fill else ""
        bold = "<w:rPr><w:b/></w:rPr>" if is_heading or span == width else ""
        content = _run_content(text)
        run = f"<w:r>{bold}{content}</w:r>" if bold or content else "<w:r/>"
        cells.append(f"<w:tc><w:tcPr>{properties}</w:tcPr><w:p>{run}</w:p></w:tc>")
        column += span
    empty = f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{column_twips}"/></w:tcPr><w:p/></w:tc>'
    cells += [empty] * (width - column)  # a short row keeps the empty cells python-docx made
    repeat = '<w:trPr><w:tblHeader w:val="true"/></w:trPr>' if header else ""
    return f"<w:tr>{repeat}{''.join(cells)}</w:tr>"


def _run_content(text: str) -> str:
    """A run's text as python-docx writes it (`Run.text`): a tab is `w:tab`, a line break `w:br`, the rest in
    `w:t` (its spaces preserved when it starts or ends with one)."""
    parts = []
    for piece in TAB_OR_BREAK.split(text):
        if piece == "\t":
            parts.append("<w:tab/>")
        elif piece in ("\n", "\r"):
            parts.append("<w:br/>")
        elif piece:
            space = ' xml:space="preserve"' if len(piece.strip()) < len(piece) else ""
            parts.append(f"<w:t{space}>{xml_escape(piece)}</w:t>")
    return "".join(parts)


def _fill(cell) -> str | None:
    match = FILL.search(cell.get("style") or "")
    return match.group(1) if match else None


# -- text ----------------------------------------------------------------------------------------------------------

BREAKS = {"br", "p", "div", "li"}
# HTML's collapsible white space; never U+202F or U+00A0, the French spaces inside figures (`21 600 €`)
ASCII_SPACES = re.compile(r"[ \t\r\n\f]+")
LINE_CLASSES = {"n", "ev", "h-u", "legend"}  # spans the report shows on a line of their own


def text_of(element) -> str:
    """The text a reader sees: screen-reader-only words left out, the lines of a cell kept as lines."""
    if element is None:
        return ""
    parts: list[str] = []
    _collect(element, parts)
    lines = [ASCII_SPACES.sub(" ", line).strip(" ") for line in "".join(parts).split("\n")]
    return "\n".join(line for line in lines if line)


def _collect(element, parts: list[str]) -> None:
    classes = (element.get("class") or "").split()  # lxml's `element.classes` parses the attribute at each use
    if "sr" in classes:  # the flag's word for screen readers: the table's subtitle explains the symbol
        parts.append(element.tail or "")
        return
    if element.tag in BREAKS or LINE_CLASSES.intersection(classes):
        parts.append("\n")
    if element.tag == "sup" and element.text:
        parts.append(f" ({element.text.strip()})")  # a footnote mark: `—(s)`, explained under the table
    else:
        parts.append(element.text or "")
    for child in element:
        if isinstance(child.tag, str) and child.tag not in SKIPPED:
            _collect(child, parts)
        elif child.tail:
            parts.append(child.tail)
    if "flag" in classes:  # `! 11,5 %`, not `!11,5 %`
        parts.append(" ")
    parts.append(element.tail or "")


def _small(paragraph) -> None:
    from docx.shared import Pt

    for run in paragraph.runs:
        run.font.size = Pt(8)
