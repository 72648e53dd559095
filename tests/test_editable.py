"""The editable document (DOCX) opened with python-docx and counted against the report's sections, and the wide
XLSX read back with openpyxl on hand-made figures."""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from datetime import UTC, datetime

import openpyxl
import polars as pl
import pytest
from docx import Document

from reports import shared
from reports.docx_package import Package
from reports.editable import Cover, write_docx
from reports.sections.base import BuiltSection
from reports.site import DEMO_EPCI, build_site
from transforms.pipeline import Selection
from transforms.wide import write_wide_xlsx

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NNBSP = "\u202f"


@pytest.fixture(scope="module")
def site(demo_store, tmp_path_factory):
    shared.TABLES.clear()
    shared.AGE_SUMS.clear()
    out = tmp_path_factory.mktemp("editable")
    return build_site(demo_store, [Selection(epci=DEMO_EPCI)], out, demo=True, generated_at=WHEN), out


def headings(document, style: str) -> list[str]:
    return [p.text for p in document.paragraphs if p.style.name == style]


def test_the_document_has_the_report_sections_tables_and_charts(site):
    result, out = site
    record = result.records[0]
    document = Document(str(out / f"diagnostic-epci-{DEMO_EPCI}.docx"))
    # one level-1 heading per numbered section of the HTML report, in its order
    assert headings(document, "Heading 1") == [f"{n}. {title}" for n, _, title in record.sections]
    page = (out / record.file).read_text(encoding="utf-8")
    main = page[page.index("<main>") : page.index("</main>")]
    # every table of the sections is a Word table, every chart a picture
    assert len(document.tables) == main.count("<table")
    # (the maps' shared commune shapes are an invisible SVG: inside each map's picture, not one of their own; a
    # chart's twin drawn for print, reports/print_charts.py, is the same chart: its screen version is the picture)
    twins = main.count('class="chart-print"')
    assert twins >= 2 * 13  # a positioning and a ranking chart per theme
    assert len(document.inline_shapes) == len(re.findall(r"<svg\b", main)) - main.count('class="map-shapes"') - twins
    # a theme's constats are editable paragraphs under their heading
    texts = [p.text for p in document.paragraphs]
    first = texts.index("Constats")
    assert texts[first + 1].startswith("Population municipale : ")
    assert document.core_properties.language == "fr-FR"
    assert f"diagnostic-epci-{DEMO_EPCI}.docx" in record.exports


def test_a_theme_table_keeps_its_rows_and_french_figures(site):
    _, out = site
    document = Document(str(out / f"diagnostic-epci-{DEMO_EPCI}.docx"))
    names = {row.cells[0].text for table in document.tables for row in table.rows}
    assert {"Benet", "Maillezais", "Rives-d'Autise", "Vix", "France"} <= names
    cells = [c.text for table in document.tables for row in table.rows for c in row.cells]
    assert any(re.fullmatch(rf"\d+,\d{NNBSP}%", c.split("\n")[0].lstrip("! ")) for c in cells)


def test_without_a_renderer_the_document_says_where_the_charts_are(tmp_path):
    body = (
        '<h3>Constats</h3><p>Une phrase.</p><figure class="chart-box" id="graphique-x">'
        '<figcaption>Titre du graphique</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
        '<rect width="5" height="5"/></svg></figure>'
        "<table><thead><tr><th>Lieu</th><th>Valeur</th></tr></thead>"
        '<tbody><tr><td colspan="2">Communes</td></tr><tr><td>Benet</td><td>11,0 %</td></tr></tbody></table>'
    )
    cover = Cover(
        title="Diagnostic",
        kind="EPCI",
        generated="23 novembre 2026",
        version="0.1",
        demo=False,
        html_name="diagnostic-x.html",
    )
    path = write_docx(tmp_path / "d.docx", cover, [BuiltSection("s", "Section", 1, body)], render=None)
    document = Document(str(path))
    texts = [p.text for p in document.paragraphs]
    assert "Graphique non reproduit ici : voir le rapport diagnostic-x.html#graphique-x." in texts
    assert headings(document, "Heading 1") == ["1. Section"] and headings(document, "Heading 2") == ["Constats"]
    (table,) = document.tables
    # the group row spans both columns (merged: one cell seen twice)
    assert [[c.text for c in r.cells] for r in table.rows] == [
        ["Lieu", "Valeur"],
        ["Communes", "Communes"],
        ["Benet", "11,0 %"],
    ]
    assert len(document.inline_shapes) == 0
    assert list(tmp_path.iterdir()) == [path]  # written atomically: no temporary file left


def one_pixel_png() -> bytes:
    """A 1 x 1 white PNG, chunk by chunk (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1 x 1, 8 bits, RGB
    pixels = zlib.compress(b"\x00\xff\xff\xff")  # filter byte 0, one white pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_the_pictures_are_stored_as_drawn_and_the_rest_deflated(tmp_path):
    png = one_pixel_png()
    body = '<figure class="chart-box" id="g"><svg viewBox="0 0 10 10"><rect width="5" height="5"/></svg></figure>'
    cover = Cover(title="D", kind="EPCI", generated="23 novembre 2026", version="0.1", demo=False, html_name="d.html")
    path = write_docx(tmp_path / "d.docx", cover, [BuiltSection("s", "S", 1, body)], render=lambda svg: png)
    members = {m.filename: m for m in zipfile.ZipFile(path).infolist()}
    (picture,) = [name for name in members if name.startswith("word/media/")]
    assert members[picture].compress_type == zipfile.ZIP_STORED and members[picture].compress_size == len(png)
    assert zipfile.ZipFile(path).read(picture) == png
    assert members["word/document.xml"].compress_type == zipfile.ZIP_DEFLATED
    assert len(Document(str(path)).inline_shapes) == 1


def long_table() -> pl.DataFrame:
    rows = [
        # level, code, name, indicator, value, status, flag, year
        ("COM", "85020", "Benet", "taux_pauvrete", 11.0, None, "vigilance", 2021),
        ("COM", "85020", "Benet", "population", 3992.0, None, None, 2022),
        ("COM", "85133", "=Maillezais", "taux_pauvrete", None, "secret", None, 2021),
        ("COM", "85133", "=Maillezais", "population", 952.0, None, None, 2022),
        ("EPCI", "200029940", "CC Vendée Sèvre Autise", "taux_pauvrete", 11.0, None, None, 2021),
        ("EPCI", "200029940", "CC Vendée Sèvre Autise", "population", 4944.0, None, None, 2022),
        ("FRANCE", "FR", "France", "taux_pauvrete", 14.5, None, None, 2021),
        ("FRANCE", "FR", "France", "population", 68_000_000.0, None, None, 2022),
    ]
    frame = pl.DataFrame(
        rows,
        orient="row",
        schema={
            "level": pl.String,
            "code": pl.String,
            "name": pl.String,
            "indicator": pl.String,
            "value": pl.Float64,
            "status": pl.String,
            "flag": pl.String,
            "year": pl.Int32,
        },
    )
    return frame.with_columns(
        comparison_year=pl.lit(2016, pl.Int32),
        source=pl.when(pl.col("indicator") == "population")
        .then(pl.lit("Insee, recensement 2022"))
        .otherwise(pl.lit("Insee, Filosofi 2021")),
    )


def test_the_wide_workbook_read_back(tmp_path):
    path = write_wide_xlsx(long_table(), tmp_path / "large.xlsx", demo=True)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["À lire", "Démographie", "Revenus et précarité", "définitions", "sources"]
    assert book["À lire"]["A1"].value.startswith("DÉMONSTRATION")
    income = book["Revenus et précarité"]
    header = [c.value for c in income[1]]
    assert header == ["niveau", "code", "nom", "Taux de pauvreté (seuil à 60 %) (%, 2021)"]
    rows = [[c.value for c in r] for r in income.iter_rows(min_row=2)]
    # communes (ordered by name: "=" sorts before letters), then the EPCI, then France; the secret cell is empty
    assert rows == [
        ["commune", "85133", "=Maillezais", None],
        ["commune", "85020", "Benet", 11.0],
        ["EPCI", "200029940", "CC Vendée Sèvre Autise", 11.0],
        ["France", "FR", "France", 14.5],
    ]
    assert income["D2"].comment.text == "secret statistique"
    assert income["C2"].data_type == "s"  # a name starting with = is text, not a formula
    assert income["D3"].fill.fgColor.rgb == "FFFDF0D2"  # Benet's vigilance tint
    demography = book["Démographie"]
    assert demography["D1"].value == "Population municipale (effectif, 2022)"
    assert demography["D5"].value == 68_000_000 and demography["D5"].number_format == "#,##0"
    sources = [[c.value for c in r] for r in book["sources"].iter_rows()]
    assert sources[1] == ["population", "Population municipale", "effectif", 2022, "Insee, recensement 2022"]
    assert book["sources"]["D2"].number_format == "0"  # a year is a plain integer, never "2 022"


def test_a_map_picture_holds_the_commune_shapes_it_draws():
    from reports.editable import _Writer, svg_to_png

    rendered = []
    writer = _Writer(Package(), lambda svg: rendered.append(svg) or svg_to_png(svg), "rapport.html")
    shapes = (
        '<svg xmlns="http://www.w3.org/2000/svg" class="map-shapes" width="0" height="0" aria-hidden="true">'
        '<defs><path id="m-44043" d="M0 0h5v5z"/></defs></svg>'
    )
    chart = (
        '<figure class="map-box"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" class="map">'
        '<title>Carte</title><use href="#m-44043" fill="#2171b5"/></svg></figure>'
    )
    writer.body(shapes + chart, "cartes")
    # one picture, the map, with the path its <use> points to; the invisible SVG is no picture
    assert len(rendered) == 1 and '<path id="m-44043"' in rendered[0] and "<use" in rendered[0]


def test_every_chart_of_the_report_is_drawn_by_skia_as_resvg_draws_it(site):
    import numpy as np
    import skia

    from reports import pictures, raster
    from reports.editable import _charts_of

    result, out = site
    page = (out / result.records[0].file).read_text(encoding="utf-8")
    _, charts = _charts_of(page[page.index("<main>") : page.index("</main>")])
    assert len(charts) > 50

    def rgb(png: bytes) -> np.ndarray:
        image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(png))
        return image.toarray(colorType=skia.kRGBA_8888_ColorType)[:, :, :3].astype(float)

    def blocks(image: np.ndarray, side: int = 8) -> np.ndarray:  # 8-pixel squares: kerning moves letters by a pixel
        h, w = image.shape[0] // side * side, image.shape[1] // side * side
        return image[:h, :w].reshape(h // side, side, w // side, side, 3).mean(axis=(1, 3))

    for n, chart in enumerate(charts):
        mine, theirs = rgb(raster.svg_to_png(chart, pictures.ZOOM)), rgb(pictures.resvg_png(chart))
        # the same size but for a rounded last row or column (Skia's canvas rounds up)
        assert abs(mine.shape[0] - theirs.shape[0]) <= 1 and abs(mine.shape[1] - theirs.shape[1]) <= 1
        h, w = min(mine.shape[0], theirs.shape[0]), min(mine.shape[1], theirs.shape[1])
        mine, theirs = mine[:h, :w], theirs[:h, :w]
        ink = (255 - mine).sum() / (255 - theirs).sum()  # missing text or shapes, or a darker line, shows here
        assert 0.95 < ink < 1.05, f"chart {n}: {ink:.3f} times resvg's ink"
        assert np.abs(blocks(mine) - blocks(theirs)).mean() < 3, f"chart {n} differs from resvg's drawing"
