"""The editable document's package (the .docx zip) as python-docx 1.2 saves a new document (`docx.Document()`) with
French as its language, A4 pages, a title, a body and PNG pictures: the same members, in the same order, with the
same bytes.

python-docx opened its template (`templates/default.docx`, 17 members, styles of 440 kB parsed at each document),
made a part object of each image and saved the package walking its relationships: 0.045 s of CPU an EPCI's
document, and 0.05-0.075 s more to import it in the report's command. Here the template is read from python-docx's
installed files (located, not imported) once per process, its members serialized as python-docx serializes them;
a document only writes what differs: its body, title, pictures and their relationships. `tests/test_docx_package.py`
checks the package against python-docx's own.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import posixpath
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from reports.docx_tables import A4_LONG, A4_SHORT, MARGIN

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
RELATIONSHIPS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
CORE_PROPERTIES = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
STYLES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"
IMAGE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"
PNG_TYPE = "image/png"
RELATIONSHIPS_TYPE = "application/vnd.openxmlformats-package.relationships+xml"
XML_TYPE = "application/xml"
# the parts python-docx parses (its `PartFactory`'s XML parts) and so writes again as lxml serializes them; it keeps
# the bytes of every other part as read
XML_PART_TYPES = {
    "application/vnd.openxmlformats-package.core-properties+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml",
}
# python-docx's UI names of the styles whose name in styles.xml differs (its `BabelFish`)
INTERNAL_STYLE_NAMES = {"Caption": "caption", "Footer": "footer", "Header": "header"} | {
    f"Heading {n}": f"heading {n}" for n in range(1, 10)
}
# the children of a `w:style` that come after its run properties (where python-docx inserts them)
AFTER_STYLE_RUN_PROPERTIES = ("tblPr", "trPr", "tcPr", "tblStylePr")
EMUS_PER_INCH, EMUS_PER_CM = 914400, 360000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LANGUAGE = "fr-FR"
PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False)  # python-docx's parser of a part


@dataclass(frozen=True)
class Relationship:
    r_id: str
    reltype: str
    target: str  # a part's name (`/word/styles.xml`), or an external address
    external: bool = False


@dataclass(frozen=True)
class Part:
    name: str  # `/word/styles.xml`
    content_type: str
    blob: bytes  # written as is, but the document's and the core properties' (made for each document)
    relationships: tuple[Relationship, ...]


@dataclass(frozen=True)
class Template:
    """python-docx's template as python-docx's new document writes it, French its language (`LANGUAGE`)."""

    parts: dict[str, Part]  # by name, the package's own relationships under "/"
    defaults: dict[str, str]  # the template's default content types, by extension
    document: str  # the name of the document part
    core_properties: etree._Element  # before its title is set
    document_head: bytes  # the document part's XML up to its body's end, where the body goes
    document_tail: bytes  # the body's section properties: A4 pages, portrait
    landscape_tail: bytes  # the same, the last pages landscape
    style_ids: dict[tuple[str, str], str | None]  # (type, UI name): the style's id, None for the type's default
    first_shape_id: int  # the id python-docx gives the document's first picture

    def document_xml(self, body: str, *, landscape: bool = False) -> bytes:
        """The document part's XML with `body` (its blocks' WordprocessingML) before its section properties, its
        last section's pages `landscape` or portrait."""
        return self.document_head + body.encode() + (self.landscape_tail if landscape else self.document_tail)

    def style_id(self, name: str, kind: str = "paragraph") -> str | None:
        """The id of the style named `name` (its name in Word), None for the default style of its `kind`
        ("paragraph", "table"), as python-docx's `get_style_id` finds it."""
        return self.style_ids[kind, name]


def template_path() -> Path:
    """python-docx's default template, found without importing python-docx (0.05 s of CPU)."""
    spec = importlib.util.find_spec("docx")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("python-docx is not installed: its template is the editable document's base")
    return Path(next(iter(spec.submodule_search_locations))) / "templates" / "default.docx"


@functools.cache
def template() -> Template:
    """The template, read once per process."""
    with zipfile.ZipFile(template_path()) as archive:
        return _template(archive)


def _template(archive: zipfile.ZipFile) -> Template:
    types = etree.fromstring(archive.read("[Content_Types].xml"))
    defaults = {
        d.get("Extension").lower(): d.get("ContentType") for d in types.iterfind(f"{{{CONTENT_TYPES_NS}}}Default")
    }
    overrides = {
        o.get("PartName").lower(): o.get("ContentType") for o in types.iterfind(f"{{{CONTENT_TYPES_NS}}}Override")
    }
    parts: dict[str, Part] = {}
    elements: dict[str, etree._Element] = {}

    def read(name: str) -> None:
        relationships = _relationships_read(archive, name)
        if name != "/":
            content_type = overrides.get(name.lower()) or defaults[_extension(name).lower()]
            blob = archive.read(name[1:])
            if content_type in XML_PART_TYPES:
                elements[name] = etree.fromstring(blob, PARSER)
                blob = _serialized(elements[name])
            parts[name] = Part(name, content_type, blob, relationships)
        else:
            parts[name] = Part(name, "", b"", relationships)
        for relationship in relationships:
            if not relationship.external and relationship.target not in parts:
                read(relationship.target)

    read("/")
    document = _target(parts["/"], OFFICE_DOCUMENT)
    landscape = copy.deepcopy(elements[document])
    _set_a4_pages(landscape, landscape=True)
    _set_a4_pages(elements[document])
    parts[document] = _with_blob(parts[document], _serialized(elements[document]))
    styles_name = _target(parts[document], STYLES)
    styles = elements[styles_name]
    _add_language(styles)
    parts[styles_name] = _with_blob(parts[styles_name], _serialized(styles))
    head, tail = split_at_body_end(parts[document].blob)
    return Template(
        parts=parts,
        defaults=defaults,
        document=document,
        core_properties=elements[_target(parts["/"], CORE_PROPERTIES)],
        document_head=head,
        document_tail=tail,
        landscape_tail=split_at_body_end(_serialized(landscape))[1],
        style_ids=_style_ids(styles),
        first_shape_id=_next_id(elements[document]),
    )


def _relationships_read(archive: zipfile.ZipFile, source: str) -> tuple[Relationship, ...]:
    """The relationships of the part named `source` ("/" the package's), in their file's order."""
    member = _relationships_name(source)[1:]
    if member not in archive.namelist():
        return ()
    base = posixpath.split(source)[0]
    relationships = []
    for element in etree.fromstring(archive.read(member)):
        external = element.get("TargetMode") == "External"
        target = element.get("Target")
        # python-docx's `PackURI.from_rel_ref`
        target = target if external else posixpath.abspath(posixpath.join(base, target))
        relationships.append(Relationship(element.get("Id"), element.get("Type"), target, external))
    return tuple(relationships)


def _relationships_name(source: str) -> str:
    """python-docx's `PackURI.rels_uri`: `/word/_rels/document.xml.rels`, `/_rels/.rels`."""
    base, name = posixpath.split(source)
    return posixpath.join(base, "_rels", f"{name}.rels")


def _extension(name: str) -> str:
    return posixpath.splitext(name)[1][1:]


def _target(part: Part, reltype: str) -> str:
    (target,) = [r.target for r in part.relationships if r.reltype == reltype]
    return target


def _with_blob(part: Part, blob: bytes) -> Part:
    return Part(part.name, part.content_type, blob, part.relationships)


def _serialized(element: etree._Element) -> bytes:
    """A part's XML as python-docx writes it (`serialize_part_xml`)."""
    return etree.tostring(element, encoding="UTF-8", standalone=True)


def split_at_body_end(document_xml: bytes) -> tuple[bytes, bytes]:
    """The document part's XML before and after where python-docx adds a block: before the section properties
    ending its body (`w:sectPr`), the body holding nothing else in a new document."""
    head, opening, rest = document_xml.partition(b"<w:body>")
    if not opening or not rest.startswith(b"<w:sectPr"):
        raise ValueError("the document's body should hold its section properties alone")
    return head + opening, rest


def _set_a4_pages(document: etree._Element, *, landscape: bool = False) -> None:
    """The template's (US Letter) pages made A4 with 2 cm margins, as French users print, portrait or `landscape`,
    as python-docx's `section.page_width`, `page_height`, `*_margin` and `orientation` set them: the values of the
    attributes there replaced, the orientation's added."""
    (section,) = document.xpath("./w:body/w:sectPr", namespaces={"w": W})
    size, margins = section.find(f"{{{W}}}pgSz"), section.find(f"{{{W}}}pgMar")
    size.set(f"{{{W}}}w", str(A4_LONG if landscape else A4_SHORT))
    size.set(f"{{{W}}}h", str(A4_SHORT if landscape else A4_LONG))
    if landscape:
        size.set(f"{{{W}}}orient", "landscape")
    for side in ("top", "right", "bottom", "left"):
        margins.set(f"{{{W}}}{side}", str(MARGIN))


def _add_language(styles: etree._Element) -> None:
    """French as the language of the "Normal" style's runs, as python-docx's
    `document.styles["Normal"].element.get_or_add_rPr()` then a `w:lang` appended write it."""
    normal = _style_named(styles, "Normal")
    properties = normal.find(f"{{{W}}}rPr")
    if properties is None:
        properties = etree.Element(f"{{{W}}}rPr", nsmap={"w": W})
        successors = [c for c in normal if c.tag in {f"{{{W}}}{t}" for t in AFTER_STYLE_RUN_PROPERTIES}]
        if successors:
            successors[0].addprevious(properties)
        else:
            normal.append(properties)
    language = etree.Element(f"{{{W}}}lang", nsmap={"w": W})
    language.set(f"{{{W}}}val", LANGUAGE)
    properties.append(language)


def _style_named(styles: etree._Element, name: str) -> etree._Element:
    found = styles.xpath("w:style[w:name/@w:val=$name]", namespaces={"w": W}, name=INTERNAL_STYLE_NAMES.get(name, name))
    if not found:
        raise KeyError(f"no style with name '{name}'")
    return found[0]


def _style_ids(styles: etree._Element) -> dict[tuple[str, str], str | None]:
    """(type, UI name): the id python-docx's `get_style_id` gives, for every style of `styles` (None for the last
    default style of its type)."""
    ids: dict[tuple[str, str], str | None] = {}
    defaults = {}
    for style in styles.iterfind(f"{{{W}}}style"):
        kind = style.get(f"{{{W}}}type", "paragraph")
        if style.get(f"{{{W}}}default") in ("1", "true", "on"):
            defaults[kind] = style
    internal_names = {internal: ui for ui, internal in INTERNAL_STYLE_NAMES.items()}
    for style in reversed(styles.findall(f"{{{W}}}style")):  # the first style of a name is the one found
        name = style.find(f"{{{W}}}name")
        if name is None:
            continue
        kind = style.get(f"{{{W}}}type", "paragraph")
        ui_name = internal_names.get(name.get(f"{{{W}}}val"), name.get(f"{{{W}}}val"))
        ids[kind, ui_name] = None if defaults.get(kind) is style else style.get(f"{{{W}}}styleId")
    return ids


def _next_id(document: etree._Element) -> int:
    """python-docx's `StoryPart.next_id`: one more than the largest numeric `id` attribute of the document."""
    used = [int(value) for value in document.xpath("//@id") if value.isdigit()]
    return max(used) + 1 if used else 1


# -- one document ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Png:
    """What python-docx reads of a PNG: its size in pixels and its resolution (dots per inch, 72 if not said)."""

    width: int
    height: int
    horizontal_dpi: int
    vertical_dpi: int

    @classmethod
    def of(cls, png: bytes) -> Png:
        """The header (`IHDR`) and first physical size (`pHYs`) of `png`, walking its chunks to `IEND` as
        python-docx does."""
        if not png.startswith(PNG_SIGNATURE):
            raise ValueError("the document's pictures are PNG images")
        width = height = None
        dpi = (72, 72)
        offset, seen_size = len(PNG_SIGNATURE), False
        while offset + 8 <= len(png):
            length, kind = struct.unpack_from(">I4s", png, offset)
            data = offset + 8
            if kind == b"IHDR" and width is None:
                width, height = struct.unpack_from(">II", png, data)
            elif kind == b"pHYs" and not seen_size:
                seen_size = True
                horizontal, vertical, unit = struct.unpack_from(">IIB", png, data)
                dpi = (_dpi(unit, horizontal), _dpi(unit, vertical))
            if kind == b"IEND":
                break
            offset = data + length + 4
        if width is None or height is None:
            raise ValueError("no IHDR chunk in PNG image")
        return cls(width, height, *dpi)

    def scaled(self, cx: int) -> tuple[int, int]:
        """(cx, cy) EMU: `cx` wide, the height keeping its aspect (python-docx's `scaled_dimensions(cx, None)`)."""
        native_width = int(self.width / self.horizontal_dpi * EMUS_PER_INCH)
        native_height = int(self.height / self.vertical_dpi * EMUS_PER_INCH)
        return cx, round(native_height * (float(cx) / float(native_width)))


def _dpi(unit: int, pixels_per_unit: int) -> int:
    return int(round(pixels_per_unit * 0.0254)) if unit == 1 and pixels_per_unit else 72


@dataclass
class Package:
    """A new document's package: the template, the pictures added, saved with a body and a title."""

    template: Template = field(default_factory=template)
    images: dict[bytes, Relationship] = field(default_factory=dict)  # by their bytes: one part for the same image
    r_ids: set[str] = field(init=False)  # the document's relationship ids
    free_r_id: int = 1  # no `rIdn` below this one is free

    def __post_init__(self) -> None:
        self.r_ids = {r.r_id for r in self.template.parts[self.template.document].relationships}

    def add_png(self, png: bytes) -> tuple[str, Png]:
        """The relationship id of `png` in the document (its image part added unless there already) and its size,
        as python-docx's `get_or_add_image` makes them: `/word/media/imagen.png` the n-th, the document's first
        free `rIdn`."""
        relationship = self.images.get(png)
        if relationship is None:
            name = f"/word/media/image{len(self.images) + 1}.png"
            relationship = Relationship(self._next_r_id(), IMAGE, name)
            self.images[png] = relationship
        return relationship.r_id, Png.of(png)

    def _next_r_id(self) -> str:
        """The document's first free `rIdn` (python-docx's `_next_rId`): ids are only added, so the search goes on
        from the last one taken (from `rId1` at each picture, adding an EPCI's 51 took 0.9 ms of CPU, 0.3 now)."""
        while f"rId{self.free_r_id}" in self.r_ids:
            self.free_r_id += 1
        r_id = f"rId{self.free_r_id}"
        self.r_ids.add(r_id)
        return r_id

    def _document_relationships(self) -> tuple[Relationship, ...]:
        return self.template.parts[self.template.document].relationships + tuple(self.images.values())

    def save(self, path: Path, body: str, title: str, *, landscape: bool = False) -> None:
        """Write the package at `path`: the document's `body` (its blocks' WordprocessingML, before its section
        properties; its texts of XML characters only: `reports.editable` checks each), `title` its title, its last
        section's pages `landscape` or portrait. The pictures are stored as they are: a PNG is deflated already (deflating
        an EPCI's 51 pictures again took 0.11 s of CPU to save 10 % of their 3.8 MB); the rest is deflated at
        zlib's level 1 (12 ms of CPU an EPCI's document, 20 ms at level 6, for 35 kB more of 4.4 MB)."""
        blobs = {
            self.template.document: self.template.document_xml(body, landscape=landscape),
            _target(self.template.parts["/"], CORE_PROPERTIES): self._core_properties(title),
        }
        images = {r.target: png for png, r in self.images.items()}
        parts = self._parts_in_order()
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            archive.writestr("[Content_Types].xml", self._content_types(parts))
            archive.writestr("_rels/.rels", _relationships_xml(self.template.parts["/"].relationships, "/"))
            for name, relationships in parts:
                if name in images:
                    archive.writestr(name[1:], images[name], zipfile.ZIP_STORED)
                    continue
                archive.writestr(name[1:], blobs.get(name) or self.template.parts[name].blob)
                if relationships:
                    archive.writestr(_relationships_name(name)[1:], _relationships_xml(relationships, name))

    def _parts_in_order(self) -> list[tuple[str, tuple[Relationship, ...]]]:
        """(each part's name, its relationships), as python-docx's `iter_parts` walks them: depth first along the
        relationships from the package's, each part once."""
        found: list[tuple[str, tuple[Relationship, ...]]] = []
        seen: set[str] = set()

        def walk(relationships: tuple[Relationship, ...]) -> None:
            for relationship in relationships:
                if relationship.external or relationship.target in seen:
                    continue
                seen.add(name := relationship.target)
                children = self._relationships_of(name)
                found.append((name, children))
                walk(children)

        walk(self.template.parts["/"].relationships)
        return found

    def _relationships_of(self, name: str) -> tuple[Relationship, ...]:
        if name == self.template.document:
            return self._document_relationships()
        part = self.template.parts.get(name)
        return part.relationships if part else ()

    def _content_types(self, parts: list[tuple[str, tuple[Relationship, ...]]]) -> bytes:
        """`[Content_Types].xml`: a default type by extension, sorted, for the template's default pairs and PNG;
        an override for each other part, sorted by name (python-docx's `_ContentTypesItem`)."""
        defaults = {"rels": RELATIONSHIPS_TYPE, "xml": XML_TYPE}
        overrides = {}
        images = {r.target for r in self.images.values()}
        for name, _ in parts:
            content_type = PNG_TYPE if name in images else self.template.parts[name].content_type
            extension = _extension(name).lower()
            if self.template.defaults.get(extension) == content_type or (extension, content_type) == ("png", PNG_TYPE):
                defaults[extension] = content_type
            else:
                overrides[name] = content_type
        root = etree.Element(f"{{{CONTENT_TYPES_NS}}}Types", nsmap={None: CONTENT_TYPES_NS})
        for extension in sorted(defaults):
            etree.SubElement(
                root, f"{{{CONTENT_TYPES_NS}}}Default", Extension=extension, ContentType=defaults[extension]
            )
        for name in sorted(overrides):
            etree.SubElement(root, f"{{{CONTENT_TYPES_NS}}}Override", PartName=name, ContentType=overrides[name])
        return _serialized(root)

    def _core_properties(self, title: str) -> bytes:
        """The core properties with `title` and French as the language, as python-docx's `core_properties` set
        them (a missing element appended)."""
        if len(title) > 255:
            raise ValueError(f"exceeded 255 char limit for property, got:\n\n'{title}'")
        properties = copy.deepcopy(self.template.core_properties)
        for tag, text in ((f"{{{DC}}}title", title), (f"{{{DC}}}language", LANGUAGE)):
            element = properties.find(tag)
            if element is None:
                element = etree.SubElement(properties, tag, nsmap={"dc": DC})
            element.text = text
        return _serialized(properties)


def _relationships_xml(relationships: tuple[Relationship, ...], source: str) -> bytes:
    """A `.rels` member as python-docx writes it: each target relative to the source's folder."""
    base = posixpath.split(source)[0]
    root = etree.Element(f"{{{RELATIONSHIPS_NS}}}Relationships", nsmap={None: RELATIONSHIPS_NS})
    for relationship in relationships:
        element = etree.SubElement(root, f"{{{RELATIONSHIPS_NS}}}Relationship")
        element.set("Id", relationship.r_id)
        element.set("Type", relationship.reltype)
        element.set("Target", _relative(relationship, base))
        if relationship.external:
            element.set("TargetMode", "External")
    return _serialized(root)


def _relative(relationship: Relationship, base: str) -> str:
    """python-docx's `PackURI.relative_ref`."""
    if relationship.external:
        return relationship.target
    return relationship.target[1:] if base == "/" else posixpath.relpath(relationship.target, base)
