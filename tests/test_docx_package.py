"""The editable document's package written without python-docx (`reports.docx_package`), against the package
python-docx saves for the same document: every member, in the same order, with the same bytes."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest
from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Twips

from reports.docx_package import Package, Png, template
from reports.pictures import svg_to_png

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20"><rect width="{w}" height="20" fill="#1f4e79"/></svg>'


def members(path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(m.filename, archive.read(m)) for m in archive.infolist()]


def by_python_docx(path, title: str, pngs: list[bytes]) -> None:
    """The document as `reports.editable` made it with python-docx: French, titled, A4 pages with 2 cm margins
    (1 134 twips), a paragraph then each picture."""
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Twips(11906), Twips(16838)
    section.top_margin = section.right_margin = section.bottom_margin = section.left_margin = Twips(1134)
    document.core_properties.language = "fr-FR"
    language = OxmlElement("w:lang")
    language.set(qn("w:val"), "fr-FR")
    document.styles["Normal"].element.get_or_add_rPr().append(language)
    document.core_properties.title = title
    document.add_paragraph("Texte")
    for png in pngs:
        document.add_picture(io.BytesIO(png), width=Cm(16))
    document.save(str(path))


def ours(path, title: str, pngs: list[bytes]) -> None:
    package = Package()
    body = ["<w:p><w:r><w:t>Texte</w:t></w:r></w:p>"]
    for n, png in enumerate(pngs, start=1):
        r_id, image = package.add_png(png)
        cx, cy = image.scaled(Cm(16))
        body.append(
            "<w:p><w:r><w:drawing>"
            '<wp:inline xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
            ' xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture">'
            f'<wp:extent cx="{cx}" cy="{cy}"/><wp:docPr id="{n}" name="Picture {n}"/>'
            '<wp:cNvGraphicFramePr><a:graphicFrameLocks noChangeAspect="1"/></wp:cNvGraphicFramePr>'
            '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">'
            '<pic:pic><pic:nvPicPr><pic:cNvPr id="0" name="image.png"/><pic:cNvPicPr/></pic:nvPicPr>'
            f'<pic:blipFill><a:blip r:embed="{r_id}"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>'
            f'<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="{cx}" cy="{cy}"/></a:xfrm><a:prstGeom prst="rect"/>'
            "</pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
        )
    package.save(path, "".join(body), title)


@pytest.mark.parametrize("widths", [(), (40,), (40, 60, 40, 80, 60)])  # none, one, 3 distinct of which 2 twice
def test_the_package_is_the_one_python_docx_saves(tmp_path, widths):
    pngs = [svg_to_png(SVG.format(w=w)) for w in widths]
    title = "Diagnostic : Vendée & <Sèvre>"
    by_python_docx(tmp_path / "theirs.docx", title, pngs)
    ours(tmp_path / "ours.docx", title, pngs)
    assert members(tmp_path / "ours.docx") == members(tmp_path / "theirs.docx")
    # the pictures stored as drawn (a PNG is deflated already), the rest deflated
    stored = {
        m.filename: m.compress_type == zipfile.ZIP_STORED for m in zipfile.ZipFile(tmp_path / "ours.docx").infolist()
    }
    assert [name for name, kept in stored.items() if kept] == [
        f"word/media/image{n}.png" for n in range(1, len(set(widths)) + 1)
    ]
    assert len(Document(str(tmp_path / "ours.docx")).inline_shapes) == len(widths)


def png_header(width: int, height: int, physical: bytes | None) -> bytes:
    """A PNG's signature, header and `pHYs` chunk (all python-docx reads), then its end."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    size = chunk(b"pHYs", physical) if physical is not None else b""
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + size + chunk(b"IEND", b"")


def test_a_picture_is_as_wide_as_asked_and_keeps_its_aspect():
    # 3 780 pixels a metre: 96 dpi; 200 x 100 pixels, 16 cm (5 760 000 EMU) wide: 8 cm high
    png = Png.of(png_header(200, 100, struct.pack(">IIB", 3780, 3780, 1)))
    assert (png.horizontal_dpi, png.vertical_dpi) == (96, 96)
    assert png.scaled(5_760_000) == (5_760_000, 2_880_000)
    # no physical size, or one in no unit: 72 dpi; 300 x 200 pixels, 3 cm (1 080 000 EMU) wide: 2 cm high
    for physical in (None, struct.pack(">IIB", 3780, 3780, 0)):
        png = Png.of(png_header(300, 200, physical))
        assert (png.horizontal_dpi, png.vertical_dpi) == (72, 72)
        assert png.scaled(1_080_000) == (1_080_000, 720_000)
    with pytest.raises(ValueError, match="PNG"):
        Png.of(b"GIF89a")


def test_the_template_gives_python_docx_style_ids_and_an_a4_page():
    found = template()
    assert found.style_id("Heading 1") == "Heading1" and found.style_id("Caption") == "Caption"
    assert found.style_id("Normal") is None  # the default paragraph style: no w:pStyle
    assert found.style_id("Table Grid", "table") == "TableGrid"
    # A4 (21 x 29.7 cm: 11 906 x 16 838 twips), margins of 2 cm (1 134 twips), instead of the template's US Letter
    assert found.document_tail.startswith(
        b'<w:sectPr w:rsidR="00FC693F" w:rsidRPr="0006063C" w:rsidSect="00034616"><w:pgSz w:w="11906" w:h="16838"/>'
        b'<w:pgMar w:top="1134" w:right="1134" w:bottom="1134" w:left="1134" w:header="720" w:footer="720"'
        b' w:gutter="0"/><w:cols w:space="720"/>'
    )
    # a document ending on landscape pages: its sides swapped, as python-docx's `section.orientation` marks it
    assert found.landscape_tail.startswith(
        b'<w:sectPr w:rsidR="00FC693F" w:rsidRPr="0006063C" w:rsidSect="00034616">'
        b'<w:pgSz w:w="16838" w:h="11906" w:orient="landscape"/><w:pgMar w:top="1134"'
    )
    assert found.first_shape_id == 1


def test_a_title_python_docx_would_refuse_is_refused(tmp_path):
    with pytest.raises(ValueError, match="255"):
        Package().save(tmp_path / "d.docx", "", "x" * 256)
    with pytest.raises(ValueError, match="XML compatible"):  # lxml's refusal
        Package().save(tmp_path / "d.docx", "", "D\x0b")


def test_the_template_is_read_without_importing_python_docx():
    code = "import sys; from reports.docx_package import template; template(); print('docx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
