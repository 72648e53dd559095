"""Commune contours (sources/contours.py): hand-made Etalab GeoJSON layers in the real format, and the demo's.

The fixture FeatureCollection follows supply-space-time-sources.md §2.4: 01001, 2A004, 75056 (`plm: true`) and its
arrondissement 75101 (`commune: "75056"`), Ouessant 29155 without `epci`, plus an overseas commune (97411,
Saint-Denis de La Réunion), a commune with a hole, a MultiPolygon commune and an overseas collectivity (97501,
`collectiviteOutremer`, not a COG commune).
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import polars as pl
import pytest
import shapely

from sources import catalogue
from sources.contours import CONTOURS_SCHEMA, LAMBERT_93, stage_contours
from sources.errors import ParseError, SourceValidationError
from sources.geography import Geography

ENTRY = catalogue.get("commune_contours", "2025")


def square(lon: float, lat: float, side: float = 0.05) -> list:
    return [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]]


def feature(props: dict, geometry: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def polygon(*rings) -> dict:
    return {"type": "Polygon", "coordinates": list(rings)}


def fixture_features() -> list[dict]:
    hole = [[4.93, 46.13], [4.93, 46.14], [4.94, 46.14], [4.94, 46.13], [4.93, 46.13]]  # clockwise: an interior ring
    return [
        feature(
            {
                "code": "01001",
                "nom": "L'Abergement-Clémenciat",
                "departement": "01",
                "region": "84",
                "epci": "200069193",
            },
            polygon(square(4.90, 46.12), hole),
        ),
        feature(
            {"code": "2A004", "nom": "Ajaccio", "departement": "2A", "region": "94", "epci": "242010056"},
            polygon(square(8.70, 41.90)),
        ),
        feature(
            {"code": "29155", "nom": "Ouessant", "departement": "29", "region": "53"},
            {"type": "MultiPolygon", "coordinates": [[square(-5.10, 48.45)], [square(-5.00, 48.40, 0.01)]]},
        ),
        feature(
            {"code": "75056", "nom": "Paris", "departement": "75", "region": "11", "epci": "200054781", "plm": True},
            polygon(square(2.30, 48.82, 0.1)),
        ),
        feature(
            {
                "code": "75101",
                "nom": "Paris 1er Arrondissement",
                "departement": "75",
                "region": "11",
                "commune": "75056",
            },
            polygon(square(2.33, 48.85, 0.02)),
        ),
        feature(
            {"code": "97411", "nom": "Saint-Denis", "departement": "974", "region": "04", "epci": "249740119"},
            polygon(square(55.43, -20.93)),
        ),
        feature({"code": "97501", "nom": "Saint-Pierre", "collectiviteOutremer": True}, polygon(square(-56.20, 46.75))),
    ]


DEPARTEMENTS = [
    feature({"code": d, "nom": d, "region": "00"}, polygon(square(lon - 0.2, lat - 0.2, 0.6)))
    for d, lon, lat in (
        ("01", 4.9, 46.1),
        ("2A", 8.7, 41.9),
        ("29", -5.0, 48.4),
        ("75", 2.3, 48.8),
        ("974", 55.4, -20.9),
    )
]


def fixture_geo(extra: tuple[str, ...] = ()) -> Geography:
    rows = [
        ("COM", c, c[:3] if c.startswith("97") else c[:2], "00", f"Commune {c}", None)
        for c in ("01001", "2A004", "29155", "75056", "97411", *extra)
    ]
    rows.append(("ARM", "75101", None, None, "Paris 1er Arrondissement", "75056"))
    communes = pl.DataFrame(rows, schema=["typecom", "code", "dep", "reg", "name", "parent"], orient="row")
    return Geography(communes, pl.DataFrame(), pl.DataFrame(), 2025)


def write(tmp: Path, features: list[dict], name: str) -> Path:
    path = tmp / name
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8"
    )
    return path


def stage(tmp: Path, features: list[dict], geo: Geography):
    files = {
        "main": write(tmp, features, "communes-100m.geojson"),
        "departements": write(tmp, DEPARTEMENTS, "departements-100m.geojson"),
    }
    return stage_contours(ENTRY, files, geo)


def test_every_commune_arrondissement_and_departement_is_staged_projected(tmp_path):
    staged = stage(tmp_path, fixture_features(), fixture_geo())
    frame = staged.frame
    keys = set(frame.select("level", "code").iter_rows())
    assert keys == {
        ("COM", "01001"),
        ("COM", "2A004"),
        ("COM", "29155"),
        ("COM", "75056"),
        ("COM", "97411"),
        ("ARM", "75101"),
        ("DEP", "01"),
        ("DEP", "2A"),
        ("DEP", "29"),
        ("DEP", "75"),
        ("DEP", "974"),
    }
    assert any("1 feature(s) of overseas collectivities dropped" in n for n in staged.notes)
    crs = dict(frame.filter(pl.col("level") == "COM").select("code", "crs").iter_rows())
    # Lambert-93 in metropolitan France and Corsica, RGR92 / UTM 40S in La Réunion
    assert crs == {"01001": LAMBERT_93, "2A004": LAMBERT_93, "29155": LAMBERT_93, "75056": LAMBERT_93, "97411": 2975}
    assert frame.filter(pl.col("code") == "75101")["parent"].item() == "75056"
    geoms = dict(zip(frame["code"], shapely.from_wkb(frame["geometry"].to_list())))
    assert all(g.is_valid for g in geoms.values())
    # Paris, point 2.35 E 48.85 N is about x 652 000, y 6 862 000 in Lambert-93 (the IGN's published figures for
    # Notre-Dame are x 652 200, y 6 861 900): the 0.1-degree square lies around it
    minx, miny, maxx, maxy = geoms["75056"].bounds
    assert 640_000 < minx < 652_000 < maxx < 660_000 and 6_850_000 < miny < 6_862_000 < maxy < 6_875_000
    # Saint-Denis (55.45 E, 20.9 S) in UTM 40S: x about 340 000, y about 7 690 000
    minx, miny, _, _ = geoms["97411"].bounds
    assert 330_000 < minx < 350_000 and 7_670_000 < miny < 7_700_000


def test_the_hole_and_the_second_part_survive(tmp_path):
    frame = stage(tmp_path, fixture_features(), fixture_geo()).frame
    geoms = dict(zip(frame["code"], shapely.from_wkb(frame["geometry"].to_list())))
    assert len(geoms["01001"].interiors) == 1
    # the hole is 0.01 x 0.01 degree: about 760 m x 1 110 m at 46 N, so about 0.84 km2 (cos 46.13 = 0.693;
    # 0.01 x 111.2 km x 0.693 = 0.77 km, 0.01 x 111.2 km = 1.11 km), far above the simplification tolerance
    hole = shapely.Polygon(geoms["01001"].interiors[0])
    assert 0.7e6 < hole.area < 1.0e6
    assert geoms["29155"].geom_type == "MultiPolygon" and len(geoms["29155"].geoms) == 2


def test_a_commune_without_geometry_is_named(tmp_path):
    with pytest.raises(SourceValidationError) as err:
        stage(tmp_path, fixture_features(), fixture_geo(extra=("44043",)))
    text = str(err.value)
    assert "communes-100m.geojson" in text and "every commune of COG 2025 has a geometry" in text
    assert "44043 Commune 44043 has no geometry" in text


def test_a_code_of_another_cog_is_refused(tmp_path):
    features = fixture_features() + [
        feature({"code": "44100", "nom": "Monnières", "departement": "44"}, polygon(square(-1.3, 47.1)))
    ]
    with pytest.raises(SourceValidationError, match=r"a code of the communes of COG 2025 .*44100"):
        stage(tmp_path, features, fixture_geo())


def test_an_invalid_polygon_is_refused_with_its_reason(tmp_path):
    bowtie = [[2.0, 47.0], [2.1, 47.1], [2.1, 47.0], [2.0, 47.1], [2.0, 47.0]]  # edges cross: self-intersection
    features = fixture_features()
    features[1] = feature({"code": "2A004", "nom": "Ajaccio", "departement": "2A"}, polygon(bowtie))
    with pytest.raises(SourceValidationError, match=r"a valid polygon.*2A004: Self-intersection"):
        stage(tmp_path, features, fixture_geo())


def test_a_point_is_not_a_contour(tmp_path):
    features = fixture_features()
    features[0]["geometry"] = {"type": "Point", "coordinates": [4.9, 46.1]}
    with pytest.raises(SourceValidationError, match=r"Polygon or MultiPolygon.*'01001': 'Point'"):
        stage(tmp_path, features, fixture_geo())


def test_not_a_feature_collection(tmp_path):
    path = tmp_path / "communes-100m.geojson"
    path.write_text('{"type": "Feature"}', encoding="utf-8")
    with pytest.raises(ParseError, match="not a GeoJSON FeatureCollection"):
        stage_contours(ENTRY, {"main": path, "departements": write(tmp_path, DEPARTEMENTS, "d.geojson")}, None)


def test_the_demo_layers_stage_with_every_demo_commune(demo_files, geo):
    staged = stage_contours(ENTRY, demo_files("commune_contours", "2025"), geo)
    frame = staged.frame
    expected = set(geo.communes.filter(pl.col("typecom") == "COM")["code"])
    assert set(frame.filter(pl.col("level") == "COM")["code"]) == expected
    assert frame.filter(pl.col("level") == "ARM").height == 29  # Paris 20 + Lyon 9
    geoms = dict(zip(zip(frame["level"], frame["code"]), shapely.from_wkb(frame["geometry"].to_list())))
    assert geoms[("COM", "85113")].geom_type == "MultiPolygon"  # L'Île-d'Yeu and its islet
    assert len(geoms[("COM", "49099")].interiors) == 1  # Cholet's lake
    # the simplified communes still tile without overlap (coverage simplification keeps shared borders shared)
    communes = [g for (lv, _), g in geoms.items() if lv == "COM"]
    assert shapely.coverage_is_valid(communes)


def test_the_staged_table_has_the_contours_schema(tmp_path):
    assert stage(tmp_path, fixture_features(), fixture_geo()).frame.schema == CONTOURS_SCHEMA


def test_open_rings_altitudes_and_a_bom_stage_as_the_plain_layer(tmp_path):
    plain = stage(tmp_path, fixture_features(), fixture_geo()).frame
    # a ring without its closing position is closed (GeoJSON requires it, shapely adds it)
    open_rings = fixture_features()
    open_rings[1]["geometry"]["coordinates"][0].pop()
    assert stage(tmp_path, open_rings, fixture_geo()).frame.equals(plain)
    # positions with an altitude: the altitude is dropped by the projection, the contours are the same
    with_altitude = fixture_features()
    for f in with_altitude:
        polygons = f["geometry"]["coordinates"]
        for polygon in [polygons] if f["geometry"]["type"] == "Polygon" else polygons:
            for ring in polygon:
                for position in ring:
                    position.append(120.0)
    assert stage(tmp_path, with_altitude, fixture_geo()).frame.equals(plain)
    # a UTF-8 byte order mark before the JSON
    path = write(tmp_path, fixture_features(), "communes-100m.geojson")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    files = {"main": path, "departements": write(tmp_path, DEPARTEMENTS, "departements-100m.geojson")}
    assert stage_contours(ENTRY, files, fixture_geo()).frame.equals(plain)


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        ({"type": "Polygon"}, "KeyError: 'coordinates'"),
        (polygon([[8.7, 41.9], [None, 41.9], [8.75, 41.95], [8.7, 41.9]]), "TypeError: float()"),
        (polygon([[8.7, 41.9], [8.75, 41.9]]), "ValueError: A linearring requires at least 4"),  # closed: 3 positions
        ({"type": "MultiPolygon", "coordinates": [[square(8.7, 41.9)], []]}, "IndexError"),
    ],
)
def test_malformed_coordinates_are_named(tmp_path, geometry, reason):
    features = fixture_features()
    features[1]["geometry"] = geometry  # 2A004
    with pytest.raises(SourceValidationError) as err:
        stage(tmp_path, features, fixture_geo())
    text = str(err.value)
    assert "communes-100m.geojson" in text and "rings of [lon, lat] positions" in text
    assert f"2A004: {reason}" in text


def test_not_json_is_a_parse_error_naming_the_file(tmp_path):
    path = tmp_path / "communes-100m.geojson"
    path.write_bytes(b'{"type": "FeatureCollection", "features": [\xff]}')
    with pytest.raises(ParseError, match=r"communes-100m.geojson.*not a UTF-8 GeoJSON file"):
        stage_contours(ENTRY, {"main": path, "departements": write(tmp_path, DEPARTEMENTS, "d.geojson")}, None)


def test_the_cycle_collector_is_on_again_after_staging(tmp_path):
    assert gc.isenabled()
    stage(tmp_path, fixture_features(), fixture_geo())
    assert gc.isenabled()
    with pytest.raises(SourceValidationError):
        stage(tmp_path, fixture_features(), fixture_geo(extra=("44043",)))
    assert gc.isenabled()  # on again after a failure
    gc.disable()
    try:
        stage(tmp_path, fixture_features(), fixture_geo())
        assert not gc.isenabled()  # the caller's choice kept
    finally:
        gc.enable()


def test_the_collector_stays_off_until_the_last_of_overlapping_pauses_ends():
    # a refresh stages entries in threads: the first pause to end must not turn the collector on under the other
    from sources.contours import collector_paused

    assert gc.isenabled()
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()
