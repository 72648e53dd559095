"""The maps (reports/maps.py, reports/sections/maps.py): classes computed by hand, the SVG of a small choropleth,
and the « Cartes » section of the demo reports (one path per commune, legends, size)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import polars as pl
import pytest
from shapely.geometry import Polygon, box

from reports import maps as M
from reports.sections import SECTIONS
from reports.sections.maps import MissingContours, geometries, staged_contours
from reports.site import build_site
from transforms.pipeline import Selection
from transforms.registry import indicators

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


# -- classes -------------------------------------------------------------------------------------------------------


def test_quantile_classes_of_ten_values_in_five_classes():
    # n = 10, k = 5: class j ends at v[ceil((j+1)·10/5) − 1] = v[1], v[3], v[5], v[7], v[9] = 2, 4, 6, 8, 10
    assert M.quantile_classes([7, 1, 10, 3, 5, 2, 9, 4, 8, 6]) == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]


def test_equal_values_never_split_and_merge_classes():
    # n = 6, 3 distinct values so k = 3: ends v[ceil(2)−1] = v[1] = 1, v[ceil(4)−1] = v[3] = 1, v[5] = 3;
    # the ends 1 and 1 are one class: (1, 1) then (2, 3)
    assert M.quantile_classes([1, 1, 1, 1, 2, 3], 3) == [(1, 1), (2, 3)]


def test_fewer_values_than_classes():
    # 3 distinct values, k = min(5, 3) = 3: each value its own class
    assert M.quantile_classes([5.0, 1.0, 3.0]) == [(1.0, 1.0), (3.0, 3.0), (5.0, 5.0)]
    assert M.quantile_classes([]) == []


def test_uneven_counts():
    # n = 7, k = 3: ends v[ceil(7/3)−1] = v[2] = 12, v[ceil(14/3)−1] = v[4] = 20, v[6] = 40
    values = [10, 11, 12, 15, 20, 30, 40]
    assert M.quantile_classes(values, 3) == [(10, 12), (15, 20), (30, 40)]
    assert [M.class_of(v, M.quantile_classes(values, 3)) for v in (10, 12, 13, 20, 40)] == [0, 0, 1, 1, 2]


def test_palette_spreads_light_to_dark():
    assert M.palette(5) == M.PALETTE
    # 3 classes: indexes round(0), round(2), round(4) of the five colours
    assert M.palette(3) == (M.PALETTE[0], M.PALETTE[2], M.PALETTE[4])


def test_contrast_follows_wcag():
    assert M.contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert M.contrast("#777777", "#777777") == pytest.approx(1.0)
    # every label colour chosen for a class meets AA (4.5:1) on its fill, and the legend ink on white too
    for fill in M.PALETTE:
        assert M.contrast(M.text_colour(fill), fill) >= 4.5, fill
    assert M.contrast(M.INK, M.WHITE) >= 4.5


# -- SVG -----------------------------------------------------------------------------------------------------------


def test_a_ring_becomes_a_relative_path_north_up():
    frame = M.Frame(minx=0.0, maxy=100.0, scale=1.0, width=100.0, height=100.0)
    square = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    # y is flipped (north up): (0,0) -> (0,100), (10,0) -> (10,100), (10,10) -> (10,90), (0,10) -> (0,90)
    assert M.svg_path(square, frame) == "M0 100l10 0 0 -10 -10 0z"
    with_hole = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(4, 4), (4, 6), (6, 6), (6, 4)]])
    # the hole (4,4) -> (4,96), (4,6) -> (4,94), (6,6) -> (6,94), (6,4) -> (6,96)
    assert M.svg_path(with_hole, frame) == "M0 100l10 0 0 -10 -10 0zM4 96l0 -2 2 0 0 2z"


def small_areas() -> list[M.Area]:
    return [
        M.Area("00001", "Alpha", box(0, 0, 4000, 4000), 10.0, None, "10,0 %"),
        M.Area("00002", "Bêta", box(4000, 0, 8000, 4000), 12.04, None, "12,0 %"),
        M.Area("00003", "Gamma", box(0, 4000, 4000, 8000), 20.0, None, "20,0 %"),
        M.Area("00004", "<Delta>", box(4000, 4000, 8000, 8000), None, "secret", ""),
    ]


def legend_rows(svg: str) -> list[str]:
    """The text of each legend row (swatch labels are wrapped into tspans)."""
    rows = re.findall(r"<text[^>]*>((?:<tspan[^>]*>[^<]*</tspan>)+)</text>", svg)
    return [" ".join(re.findall(r">([^<]*)</tspan>", row)) for row in rows]


def test_coordinates_are_rounded_as_numpy_rounds():
    # 0.15 is 0.1499999999999999944... in binary: times 10 it is 1.5 exactly as a float, which rounds to the even 2:
    # 0.2 (Python's correctly rounded round(0.15, 1) gives 0.1); halves go to the even neighbour
    assert M.coordinate(0.15, 1) == 0.2 and round(0.15, 1) == 0.1
    assert (M.coordinate(2.5, 0), M.coordinate(3.5, 0), M.coordinate(-0.25, 1)) == (2.0, 4.0, -0.2)
    assert M.coordinate(123.456, 1) == 123.5 and M.coordinate(-7.04, 0) == -7.0


def test_a_frame_is_in_python_floats():
    frame = M.Frame.around([box(0, 0, 1000, 500)])
    assert all(type(v) is float for v in (frame.minx, frame.maxy, frame.scale, frame.height))


def test_a_choropleth_has_one_titled_path_per_commune_and_a_legend():
    svg = M.choropleth(small_areas(), "percent", "Essai", "m-essai", {"00001": 1})
    paths = re.findall(r'<path d="[^"]+" fill="([^"]+)" data-code="(\d+)"><title>([^<]+)</title>', svg)
    assert [code for _, code, _ in paths] == ["00001", "00002", "00003", "00004"]
    fills = {code: fill for fill, code, _ in paths}
    # three values, three classes: the light, middle and dark colours of palette(3); the secret one hatched
    assert [fills["00001"], fills["00002"], fills["00003"]] == list(M.palette(3))
    assert fills["00004"] == "url(#m-essai-p0)"
    titles = [t for _, _, t in paths]
    assert titles[1] == "Bêta : 12,0 %"  # the value as the section formatted it
    assert titles[3] == "&lt;Delta&gt; : secret statistique"  # a name is text, escaped
    assert ">Légende</text>" in svg and ">en %, quantiles des communes</text>" in svg
    assert legend_rows(svg) == [
        "10,0\u202f% (1 commune)",
        "12,0\u202f% (1 commune)",
        "20,0\u202f% (1 commune)",
        "Sans valeur communale : secret statistique (1 commune)",
    ]
    assert "ODbL" in svg and ">N</text>" in svg  # attribution and north arrow


def test_classes_use_the_values_as_printed():
    areas = small_areas()[:3] + [M.Area("00005", "Epsilon", box(0, 8000, 4000, 12000), 12.01, None, "12,0 %")]
    svg = M.choropleth(areas, "percent", "Essai", "m-essai")
    # printed 10,0 12,0 20,0 12,0: n = 4, 3 distinct so k = 3; sorted 10, 12, 12, 20, ends v[ceil(4/3)−1] = v[1] = 12,
    # v[ceil(8/3)−1] = v[2] = 12, v[3] = 20: classes 10-12 (3 communes) and 20 (1); never two lines "12,0 %"
    assert legend_rows(svg) == ["de 10,0\u202f% à 12,0\u202f% (3 communes)", "20,0\u202f% (1 commune)"]


# -- the section on the demo store ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(demo_store, tmp_path_factory):
    selections = [Selection(epci="200029940"), Selection(commune="85020"), Selection(departement="85")]
    return build_site(demo_store, selections, tmp_path_factory.mktemp("maps-site"), demo=True, generated_at=WHEN)


def _section(html: str) -> str:
    start = html.index('<section id="cartes"')
    return html[start : html.index("</section>", start)]


def test_the_maps_section_comes_after_the_themes():
    ids = [s.id for s in SECTIONS]
    themes = [i for i, s in enumerate(SECTIONS) if s.css_class == "theme"]
    # after the themes (and a commune's IRIS section, which has no maps), before the annexes
    assert max(themes) < ids.index("cartes") <= max(themes) + 2 and ids.index("cartes") < ids.index("clefs-de-lecture")


def test_an_epci_report_maps_every_key_indicator_with_one_path_per_commune(site):
    html = site.reports[0].read_text(encoding="utf-8")
    section = _section(html)
    mapped = [i for i in indicators() if i.map]
    assert len(mapped) >= 9  # one key indicator per theme at least
    for ind in mapped:
        figure = section[section.index(f'id="carte-{ind.id}"') :]
        svg = figure[: figure.index("</svg>")]
        # CC Vendée Sèvre Autise: Benet, Maillezais, Rives-d'Autise, Vix
        assert sorted(re.findall(r'data-code="(\d+)"', svg)) == ["85020", "85133", "85162", "85303"], ind.id
        assert "Légende" in svg and svg.count("<title") == 1 + 4  # the map's own title, one per commune
    assert 'id="carte-situation"' in section and "Vendée (85)" in section


def test_the_maps_of_an_epci_report_stay_small(site):
    section = _section(site.reports[0].read_text(encoding="utf-8"))
    size = len(section.encode("utf-8"))
    assert size < 150 * 1024, size  # 11 maps of 4 communes: tens of KiB, far under a few hundred


def test_a_commune_report_gets_the_locator_only(site):
    section = _section(site.reports[1].read_text(encoding="utf-8"))
    assert 'id="carte-situation"' in section and "data-code" not in section
    assert "une seule commune" in section


def test_a_departement_report_shows_its_neighbours_on_the_locator(site):
    section = _section(site.reports[2].read_text(encoding="utf-8"))
    start = section.index('id="carte-situation"')
    locator = section[start : section.index("</svg>", start)]
    # the demo outlines of 44 and 49 share border points with Vendée's
    assert "Loire-Atlantique (44)" in locator and "Maine-et-Loire (49)" in locator
    assert len(re.findall(r'data-code="', section)) == 8 * sum(1 for i in indicators() if i.map)
    # each commune's path is written once and used by every map
    assert len(re.findall(r'<path id="c-\d+" d="', section)) == 8


def test_a_commune_without_geometry_is_named(demo_store):
    contours = staged_contours(demo_store).filter(pl.col("code") != "85133")
    with pytest.raises(MissingContours, match="85133"):
        geometries(contours, "COM", ["85020", "85133"])
