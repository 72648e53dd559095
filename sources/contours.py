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

import codecs
import contextlib
import gc
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from sources.catalogue import Entry
from sources.errors import Failure, ParseError, SourceValidationError
from sources.geography import Geography
from sources.spec import SourceSpec
from sources.staging import Staged

if TYPE_CHECKING:  # numpy, shapely, pyproj and orjson load when contours are staged, not with the registry
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
# What a malformed GeoJSON geometry raises when shapely builds it (missing or mistyped coordinates, a ring too short)
MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError)

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
ATTRIBUTES_SCHEMA = {k: CONTOURS_SCHEMA[k] for k in ("level", "code", "name", "dep", "parent")}


@dataclass
class Units:
    """The staged units of a layer (communes and arrondissements, or départements): their attributes, and their
    shapely geometries in the same order (None where a feature's coordinates are malformed: named in
    `malformed`)."""

    attributes: pl.DataFrame  # ATTRIBUTES_SCHEMA
    geometry: np.ndarray
    malformed: list[str]


def departement_of(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


# Threads pausing the collector at once (a refresh stages its entries in threads): the first turns it off if it
# was on, the last gives it back; a thread ending early never turns it on under another still parsing.
_pauses = {"count": 0, "was_enabled": False}
_pauses_lock = threading.Lock()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while contours are staged: each of the layers' hundreds of thousands of
    parsed lists and dicts, and each geometry, is a new object the collector tracks, and they set off full
    collections that walk them again and again (France's communes: 0.45 s of CPU to parse with it, 0.08 s
    without). Parsed JSON and geometries hold no cycle: nothing is left for the collector to find afterwards. A
    collector already off stays off."""
    with _pauses_lock:
        if _pauses["count"] == 0:
            _pauses["was_enabled"] = gc.isenabled()
            gc.disable()
        _pauses["count"] += 1
    try:
        yield
    finally:
        with _pauses_lock:
            _pauses["count"] -= 1
            if _pauses["count"] == 0 and _pauses["was_enabled"]:
                gc.enable()


def read_features(path: Path, *, source: str, layer: str) -> list[dict]:
    """The features of a GeoJSON FeatureCollection file (UTF-8, BOM or not)."""
    import orjson  # France's communes: 0.17 s of CPU with json.loads, 0.08 s so (the collector paused)

    try:
        data = orjson.loads(path.read_bytes().removeprefix(codecs.BOM_UTF8))  # checks the UTF-8 as it parses
    except orjson.JSONDecodeError as exc:
        raise ParseError(source, path.name, f"not a UTF-8 GeoJSON file ({exc})") from None
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(data.get("features"), list)
    ):
        raise ParseError(source, path.name, f"not a GeoJSON FeatureCollection (the {layer} layer)")
    return data["features"]


def read_units(features: list[dict], level_of: Callable[[dict], str]) -> tuple[Units, list[str], list[str]]:
    """(the units of a layer, codes whose geometry is not polygonal, overseas collectivities dropped).
    `level_of(properties)` says the level of a feature."""
    level: list[str] = []
    code: list[str] = []
    name: list[str] = []
    dep: list[str] = []
    parent: list[str | None] = []
    geometries: list[dict] = []
    not_polygonal: list[str] = []
    overseas: list[str] = []
    for feature in features:
        props = feature.get("properties") or {}
        unit = props.get("code")
        if props.get("collectiviteOutremer"):
            overseas.append(str(unit))
            continue
        geometry = feature.get("geometry") or {}
        if not isinstance(unit, str) or geometry.get("type") not in POLYGONAL:
            not_polygonal.append(f"{unit!r}: {geometry.get('type')!r}")
            continue
        level.append(level_of(props))
        code.append(unit)
        name.append(props.get("nom") or unit)
        dep.append(props.get("departement") or (unit if level[-1] == "DEP" else departement_of(unit)))
        parent.append(props.get("commune"))
        geometries.append(geometry)
    attributes = pl.DataFrame(
        {"level": level, "code": code, "name": name, "dep": dep, "parent": parent}, schema=ATTRIBUTES_SCHEMA
    )
    built, malformed = shapes(geometries, code)
    return Units(attributes, built, malformed), not_polygonal, overseas


def shapes(geometries: list[dict], codes: list[str]) -> tuple[np.ndarray, list[str]]:
    """(the shapely geometries of GeoJSON Polygons and MultiPolygons, `code: reason` of those that cannot be
    built). All at once from arrays of their coordinates where every ring has [lon, lat] positions and every
    part a ring; otherwise one by one as `shapely.geometry.shape` reads them (empty parts, altitudes...)."""
    from shapely.errors import GEOSException

    try:
        built = shapes_together(geometries)
    except (*MALFORMED, GEOSException):
        built = None
    if built is not None:
        return built, []
    return shapes_one_by_one(geometries, codes)


def shapes_together(geometries: list[dict]) -> np.ndarray | None:
    """The geometries built from one array of coordinates (France's communes: 0.8 s of CPU one by one, 0.12 s
    so); None if a position is not a pair of numbers (null is read as NaN) or a part is empty. Open rings are
    closed as `shape` closes them (shapely's same constructor)."""
    import numpy as np
    import shapely

    rings, rings_per_polygon, polygons_per_feature = [], [], []
    for geometry in geometries:
        polygons = (geometry["coordinates"],) if geometry["type"] == "Polygon" else geometry["coordinates"]
        polygons_per_feature.append(len(polygons))
        for polygon in polygons:
            rings_per_polygon.append(len(polygon))
            rings.extend(polygon)
    points_per_ring = np.fromiter(map(len, rings), np.intp, len(rings))
    xy = np.array(list(chain.from_iterable(rings)), dtype=np.float64)
    counts = (points_per_ring, np.asarray(rings_per_polygon), np.asarray(polygons_per_feature))
    if xy.ndim != 2 or xy.shape[1] != 2 or np.isnan(xy).any() or not all(c.all() for c in counts):
        return None
    ring_geoms = shapely.linearrings(xy, indices=np.repeat(np.arange(len(rings)), points_per_ring))
    polygons = shapely.polygons(ring_geoms, indices=np.repeat(np.arange(len(rings_per_polygon)), counts[1]))
    multi = np.array([g["type"] == "MultiPolygon" for g in geometries], dtype=bool)
    if not multi.any():
        return polygons
    parts = counts[2]
    built = np.empty(len(geometries), dtype=object)
    built[~multi] = polygons[(np.cumsum(parts) - parts)[~multi]]
    of_multi = np.repeat(multi, parts)
    built[multi] = shapely.multipolygons(polygons[of_multi], indices=np.repeat(np.arange(multi.sum()), parts[multi]))
    return built


def shapes_one_by_one(geometries: list[dict], codes: list[str]) -> tuple[np.ndarray, list[str]]:
    import numpy as np
    from shapely.errors import GEOSException
    from shapely.geometry import shape

    built, malformed = np.empty(len(geometries), dtype=object), []
    for i, (geometry, code) in enumerate(zip(geometries, codes)):
        try:
            built[i] = shape(geometry)
        except (*MALFORMED, GEOSException) as exc:
            malformed.append(f"{code}: {type(exc).__name__}: {exc}")
    return built, malformed


def _commune_level(props: dict) -> str:
    return "ARM" if props.get("commune") else "COM"


def _invalid(units: Units) -> list[str]:
    """`code: reason` of the geometries GEOS finds invalid (self-intersection, ring not closed...)."""
    import numpy as np
    import shapely

    invalid = np.flatnonzero(~shapely.is_missing(units.geometry) & ~shapely.is_valid(units.geometry))
    codes = units.attributes["code"]
    return [f"{codes[int(i)]}: {shapely.is_valid_reason(units.geometry[i])}" for i in invalid]


def _same_codes(expected: pl.DataFrame, keys: pl.DataFrame, level: str) -> bool:
    """True when the layer's codes of `level`, each met once, are the COG's (each once too): what a valid layer
    shows, told by comparing the two sorted lists (about 2 against 8 ms of CPU for France's communes, whose
    absent and unknown codes are otherwise found by two joins)."""
    present = keys.filter(pl.col("level") == level).get_column("code").sort()
    return present.equals(expected.get_column("code").sort(), check_names=False)


def _coverage_failures(units: Units, geo: Geography | None) -> list[Failure]:
    """Every commune and arrondissement of the target COG has exactly one geometry; no code the COG ignores."""
    failures = []
    keys = units.attributes.select("level", "code")
    duplicated = (
        keys.filter(keys.is_duplicated()).unique().select(pl.concat_str("level", "code", separator=" ")).to_series()
    )
    if len(duplicated):  # one count per key, not one per row
        failures.append(
            Failure("code", "one geometry per code", len(duplicated), duplicated.sort()[:SAMPLES].to_list())
        )
    if geo is None:
        return failures
    for level, what in (("COM", "communes"), ("ARM", "arrondissements municipaux")):
        if not len(duplicated) and _same_codes(geo.communes.filter(pl.col("typecom") == level), keys, level):
            continue
        expected = geo.communes.filter(pl.col("typecom") == level).select("code", "name").unique("code", keep="last")
        present = keys.filter(pl.col("level") == level).select("code").unique()
        absent = expected.join(present, on="code", how="anti").sort("code")
        if len(absent):
            failures.append(
                Failure(
                    "code",
                    f"every {what[:-1]} of COG {geo.target} has a geometry",
                    len(absent),
                    [f"{c} {n} has no geometry".replace("  ", " ") for c, n in absent.head(SAMPLES).iter_rows()],
                )
            )
        unknown = present.join(expected, on="code", how="anti")["code"].sort().to_list()
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


def groups(frame: pl.DataFrame, *keys: str) -> list[tuple[tuple, np.ndarray]]:
    """(key, the positions of its rows, in order) of each distinct key of `frame`, in the order of its first row."""
    positions = frame.with_row_index("at").group_by(*keys, maintain_order=True).agg("at")
    return [(tuple(key), at.to_numpy()) for *key, at in zip(*positions.get_columns())]


def project(attributes: pl.DataFrame, geometry: np.ndarray) -> pl.DataFrame:
    """`attributes` with the EPSG code of each unit's département (`crs`); its lon/lat geometry projected there
    (in place)."""
    import shapely
    from pyproj import Transformer

    crs = pl.col("dep").replace_strict(OVERSEAS_CRS, default=LAMBERT_93, return_dtype=pl.Int32)
    attributes = attributes.with_columns(crs=crs)
    for (epsg,), indexes in groups(attributes, "crs"):
        to_crs = Transformer.from_crs(4326, epsg, always_xy=True)
        geometry[indexes] = shapely.transform(geometry[indexes], partial(_projected, to_crs))
    return attributes


def _projected(transformer: Transformer, xy: np.ndarray) -> np.ndarray:
    """An (n, 2) array of lon/lat projected by `transformer`."""
    import numpy as np

    return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))


def simplify(attributes: pl.DataFrame, geometry: np.ndarray, tolerance: float = STAGE_TOLERANCE) -> None:
    """Coverage simplification in place, per level and CRS (communes, arrondissements, départements each tile a
    plane); a simplified geometry GEOS finds invalid is made valid."""
    import shapely

    for _, indexes in groups(attributes, "level", "crs"):
        simplified = shapely.coverage_simplify(geometry[indexes], tolerance)
        invalid = ~shapely.is_valid(simplified)
        simplified[invalid] = shapely.make_valid(simplified[invalid])
        geometry[indexes] = simplified


def to_frame(attributes: pl.DataFrame, geometry: np.ndarray, year: int) -> pl.DataFrame:
    import shapely

    wkb = pl.Series("geometry", shapely.to_wkb(geometry), dtype=pl.Binary)
    frame = attributes.with_columns(pl.lit(year, dtype=pl.Int32).alias("year"), wkb)
    # a stable sort: the layers come nearly in key order, which it follows (France's 35,000 units 11 to 0.8 ms of
    # CPU; 6 against 9 ms were they shuffled): a key met once sorts as before, a département given twice (not
    # refused) keeps the file's order rather than an unspecified one
    return frame.select(list(CONTOURS_SCHEMA)).sort("level", "code", maintain_order=True)


def stage_contours(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    """Validate, project and simplify the commune and département layers; one table of WKB geometries."""
    with collector_paused():
        return _staged(entry, files, geo)


def _staged(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    import numpy as np

    commune_file, dep_file = entry.file("main"), entry.file("departements")
    communes, bad_c, overseas = read_units(
        read_features(files["main"], source=entry.source, layer="communes"), _commune_level
    )
    deps, bad_d, _ = read_units(
        read_features(files["departements"], source=entry.source, layer="départements"), lambda props: "DEP"
    )
    for name, path, units, bad in (
        (commune_file.name, files["main"], communes, bad_c),
        (dep_file.name, files["departements"], deps, bad_d),
    ):
        failures = []
        if bad:
            failures.append(
                Failure("geometry", "a Polygon or MultiPolygon with a string code", len(bad), bad[:SAMPLES])
            )
        if units.malformed:
            failures.append(
                Failure(
                    "geometry",
                    "rings of [lon, lat] positions (GeoJSON coordinates)",
                    len(units.malformed),
                    units.malformed[:SAMPLES],
                )
            )
        invalid = _invalid(units)
        if invalid:
            failures.append(Failure("geometry", "a valid polygon (OGC rules)", len(invalid), invalid[:SAMPLES]))
        if units is communes:
            failures += _coverage_failures(units, geo)
        if failures:
            raise SourceValidationError(entry.source, name, failures, str(path))
    geometry = np.concatenate([communes.geometry, deps.geometry])
    attributes = project(pl.concat([communes.attributes, deps.attributes]), geometry)
    simplify(attributes, geometry)
    counts = Counter(attributes["level"].to_list())
    notes = [
        f"{counts['COM']} communes, {counts['ARM']} arrondissements municipaux, {counts['DEP']} départements",
        f"projected to Lambert-93 (EPSG:2154) or the overseas UTM; simplified to {STAGE_TOLERANCE:g} m",
    ]
    if overseas:
        notes.append(f"{len(overseas)} feature(s) of overseas collectivities dropped (not COG communes)")
    return Staged(to_frame(attributes, geometry, entry.cog or int(entry.vintage)), notes=notes)


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
