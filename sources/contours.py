"""Commune contours for the maps: the Etalab « Contours administratifs » GeoJSON layers of a COG year.

Upstream (supply-space-time-sources.md §2.1): `contours-administratifs/{YEAR}/geojson/communes-100m.geojson` and
`departements-100m.geojson`, WGS84 lon/lat, built by mapshaper from IGN ADMIN EXPRESS, the year folder being the
COG of 1 January of that year. Properties of a commune: `code` (INSEE code, a string), `nom`, `departement`,
`region`, `epci` (absent outside any EPCI), `plm` (true on 75056, 69123, 13055), `commune` (the parent city, on
the 45 municipal arrondissements only), `collectiviteOutremer` (overseas collectivities, outside the COG's
communes). Département features: `code`, `nom`, `region`.

Staged once, as one table (not the long value format): level (COM, ARM, DEP), code, year (the COG), name, dep, parent (the city
of an arrondissement), crs (EPSG code of the coordinates) and geometry (WKB). The layer holds both Paris, Lyon and
Marseille and their arrondissements: both are kept, apart (level COM and ARM), and a map draws one or the other,
never both. Coordinates are projected to Lambert-93 (EPSG:2154) in metropolitan France and Corsica, to the
official UTM projection of each overseas département elsewhere (all north-up), then simplified as a coverage
(shared borders stay shared) to STAGE_TOLERANCE metres, finer than an A4 page shows.

Validation: every feature is a valid Polygon or MultiPolygon with a string code; every commune and arrondissement
of the target COG has exactly one geometry (the error names those without one, and those the COG does not know:
a file of another year); overseas collectivities (`collectiviteOutremer`) are not COG communes and are dropped,
counted in the notes.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from sources.catalogue import Entry
from sources.errors import Failure, ParseError, SourceValidationError
from sources.geography import Geography
from sources.spec import SourceSpec
from sources.staging import Staged

if TYPE_CHECKING:  # numpy, shapely and pyproj load when contours are staged, not with the registry
    import numpy as np
    from pyproj import Transformer

LAMBERT_93 = 2154
# Overseas départements: their official projected CRS (RGAF09 UTM 20N, RGFG95 UTM 22N, RGR92 UTM 40S, RGM04
# UTM 38S). Lambert-93 is defined for metropolitan France only.
OVERSEAS_CRS = {"971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
# Visvalingam-Whyatt tolerance (about the side of the smallest triangle kept), in metres: 0.2 mm at 1:150 000,
# the scale of a small EPCI on an A4 page. Each map simplifies again to its own scale.
STAGE_TOLERANCE = 30.0
POLYGONAL = ("Polygon", "MultiPolygon")
SAMPLES = 5

CONTOURS_SCHEMA = {
    "level": pl.String,
    "code": pl.String,
    "year": pl.Int32,
    "name": pl.String,
    "dep": pl.String,
    "parent": pl.String,
    "crs": pl.Int32,
    "geometry": pl.Binary,
}


def crs_of(dep: str | None) -> int:
    """The EPSG code a commune of département `dep` is projected to."""
    return OVERSEAS_CRS.get(dep or "", LAMBERT_93)


def departement_of(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def read_features(path: Path, *, source: str, layer: str) -> list[dict]:
    """The features of a GeoJSON FeatureCollection file (UTF-8, BOM or not)."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(source, path.name, f"not a UTF-8 GeoJSON file ({exc})") from None
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(data.get("features"), list)
    ):
        raise ParseError(source, path.name, f"not a GeoJSON FeatureCollection (the {layer} layer)")
    return data["features"]


def _feature_rows(features: list[dict], level_of) -> tuple[list[dict], list[str], list[str]]:
    """(rows with the geometry as a shapely object, codes whose geometry is not polygonal, overseas
    collectivities dropped). `level_of(properties)` says the level of a feature (None: not a staged unit)."""
    from shapely.geometry import shape

    rows, not_polygonal, overseas = [], [], []
    for feature in features:
        props = feature.get("properties") or {}
        code = props.get("code")
        if props.get("collectiviteOutremer"):
            overseas.append(str(code))
            continue
        geometry = feature.get("geometry") or {}
        if not isinstance(code, str) or geometry.get("type") not in POLYGONAL:
            not_polygonal.append(f"{code!r}: {geometry.get('type')!r}")
            continue
        level = level_of(props)
        dep = props.get("departement") or (code if level == "DEP" else departement_of(code))
        rows.append(
            {
                "level": level,
                "code": code,
                "name": props.get("nom") or code,
                "dep": dep,
                "parent": props.get("commune"),
                "geometry": shape(geometry),
            }
        )
    return rows, not_polygonal, overseas


def _commune_level(props: dict) -> str:
    return "ARM" if props.get("commune") else "COM"


def _invalid(rows: list[dict]) -> list[str]:
    """`code: reason` of the geometries GEOS finds invalid (self-intersection, ring not closed...)."""
    import shapely

    geoms = [r["geometry"] for r in rows]
    valid = shapely.is_valid(geoms)
    return [f"{r['code']}: {shapely.is_valid_reason(r['geometry'])}" for r, ok in zip(rows, valid) if not ok]


def _coverage_failures(rows: list[dict], geo: Geography | None) -> list[Failure]:
    """Every commune and arrondissement of the target COG has exactly one geometry; no code the COG ignores."""
    failures = []
    keys = [(r["level"], r["code"]) for r in rows]
    duplicated = sorted(f"{lv} {c}" for (lv, c), n in Counter(keys).items() if n > 1)  # one count, not one per key
    if duplicated:
        failures.append(Failure("code", "one geometry per code", len(duplicated), duplicated[:SAMPLES]))
    if geo is None:
        return failures
    for level, what in (("COM", "communes"), ("ARM", "arrondissements municipaux")):
        expected = set(geo.communes.filter(pl.col("typecom") == level)["code"].to_list())
        present = {c for lv, c in keys if lv == level}
        names = dict(geo.communes.filter(pl.col("typecom") == level).select("code", "name").iter_rows())
        absent = sorted(expected - present)
        if absent:
            failures.append(
                Failure(
                    "code",
                    f"every {what[:-1]} of COG {geo.target} has a geometry",
                    len(absent),
                    [f"{c} {names.get(c, '')} has no geometry".replace("  ", " ") for c in absent[:SAMPLES]],
                )
            )
        unknown = sorted(present - expected)
        if unknown:
            failures.append(
                Failure(
                    "code",
                    f"a code of the {what} of COG {geo.target} (a file of another year?)",
                    len(unknown),
                    unknown[:SAMPLES],
                )
            )
    return failures


def project(rows: list[dict]) -> None:
    """Project each row's lon/lat geometry to the CRS of its département, in place (`crs`, `geometry`)."""
    import shapely
    from pyproj import Transformer

    by_crs: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_crs.setdefault(crs_of(r["dep"]), []).append(i)
    for epsg, indexes in by_crs.items():
        to_crs = Transformer.from_crs(4326, epsg, always_xy=True)
        projected = shapely.transform([rows[i]["geometry"] for i in indexes], partial(_projected, to_crs))
        for i, g in zip(indexes, projected):
            rows[i]["crs"], rows[i]["geometry"] = epsg, g


def _projected(transformer: Transformer, xy: np.ndarray) -> np.ndarray:
    """An (n, 2) array of lon/lat projected by `transformer`."""
    import numpy as np

    return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))


def simplify(rows: list[dict], tolerance: float = STAGE_TOLERANCE) -> None:
    """Coverage simplification, per level and CRS (communes, arrondissements, départements each tile a plane)."""
    import shapely

    groups: dict[tuple[str, int], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["level"], r["crs"]), []).append(i)
    for indexes in groups.values():
        simplified = shapely.coverage_simplify([rows[i]["geometry"] for i in indexes], tolerance)
        for i, g in zip(indexes, simplified):
            rows[i]["geometry"] = shapely.make_valid(g) if not g.is_valid else g


def to_frame(rows: list[dict], year: int) -> pl.DataFrame:
    import shapely

    for r in rows:
        r["year"] = year
    wkb = shapely.to_wkb([r["geometry"] for r in rows])
    frame = pl.DataFrame(
        {**{k: [r.get(k) for r in rows] for k in CONTOURS_SCHEMA if k != "geometry"}, "geometry": list(wkb)},
        schema=CONTOURS_SCHEMA,
    )
    return frame.sort("level", "code")


def stage_contours(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    """Validate, project and simplify the commune and département layers; one table of WKB geometries."""
    commune_file, dep_file = entry.file("main"), entry.file("departements")
    communes, bad_c, overseas = _feature_rows(
        read_features(files["main"], source=entry.source, layer="communes"), _commune_level
    )
    deps, bad_d, _ = _feature_rows(
        read_features(files["departements"], source=entry.source, layer="départements"), lambda props: "DEP"
    )
    for name, path, rows, bad in (
        (commune_file.name, files["main"], communes, bad_c),
        (dep_file.name, files["departements"], deps, bad_d),
    ):
        failures = []
        if bad:
            failures.append(
                Failure("geometry", "a Polygon or MultiPolygon with a string code", len(bad), bad[:SAMPLES])
            )
        invalid = _invalid(rows)
        if invalid:
            failures.append(Failure("geometry", "a valid polygon (OGC rules)", len(invalid), invalid[:SAMPLES]))
        if rows is communes:
            failures += _coverage_failures(rows, geo)
        if failures:
            raise SourceValidationError(entry.source, name, failures, str(path))
    rows = communes + deps
    project(rows)
    simplify(rows)
    counts = {lv: sum(r["level"] == lv for r in rows) for lv in ("COM", "ARM", "DEP")}
    notes = [
        f"{counts['COM']} communes, {counts['ARM']} arrondissements municipaux, {counts['DEP']} départements",
        f"projected to Lambert-93 (EPSG:2154) or the overseas UTM; simplified to {STAGE_TOLERANCE:g} m",
    ]
    if overseas:
        notes.append(f"{len(overseas)} feature(s) of overseas collectivities dropped (not COG communes)")
    return Staged(to_frame(rows, entry.cog or int(entry.vintage)), notes=notes)


def write_demo_contours(root: Path) -> None:
    """The demo mirror's contour files (`sources.demo.gen_contours`, which draws with shapely: imported when the
    demo is built, not with the registry)."""
    from sources.demo import gen_contours

    gen_contours.write_contours(root)


SOURCES = (
    SourceSpec(
        "contours",
        ("commune_contours",),
        stage_contours,
        label="data.gouv.fr, contours administratifs {year} d'après IGN Admin Express (ODbL)",
        demo=write_demo_contours,
    ),
)
