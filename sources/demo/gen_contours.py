"""Demo commune contours: the Etalab « Contours administratifs » GeoJSON layers (`communes-100m.geojson`,
`departements-100m.geojson`) for the demo world, in the exact format of the real files (WGS84 lon/lat truncated to
4 decimals as the 100 m layer is; properties `code`, `nom`, `departement`, `region`, `epci`, `plm`, `commune`).

The shapes are invented but plausible: each département is a rough outline around its real extent; its demo
communes are the Voronoi cells of their real approximate positions, clipped to the outline and to a few
kilometres around each commune (a demo département is not covered by the few communes it holds). Paris and Lyon
are ellipses split into the Voronoi cells of their arrondissements. Cholet has a hole (a lake that belongs to no
commune) and L'Île-d'Yeu is a MultiPolygon (the island and an islet); so is Vendée in the département layer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import shapely
from shapely import affinity
from shapely.geometry import MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from sources.demo.files import entry_path, write_text
from sources.demo.world import ARRONDISSEMENTS, COMMUNES, NO_EPCI

DECIMALS = 4  # the 100 m layer's coordinate precision (supply-space-time-sources.md §2.1)
KM_PER_DEGREE = 111.2

# Approximate real positions (lon, lat) of the demo communes and arrondissements.
POSITIONS = {
    "44043": (-1.282, 47.087),
    "44064": (-1.302, 47.100),
    "44071": (-1.430, 47.199),
    "44088": (-1.381, 47.097),
    "44142": (-1.376, 47.056),
    "49099": (-0.879, 47.060),
    "49192": (-0.742, 47.010),
    "49299": (-0.910, 47.094),
    "49332": (-0.940, 47.063),
    "85020": (-0.594, 46.369),
    "85133": (-0.739, 46.372),
    "85162": (-0.726, 46.425),
    "85303": (-0.861, 46.365),
    "85084": (-1.229, 46.774),
    "85165": (-1.131, 46.798),
    "85212": (-1.153, 46.757),
    "85113": (-2.348, 46.718),
    "75056": (2.345, 48.857),
    "69123": (4.835, 45.758),
    "2A004": (8.738, 41.919),
    "01001": (4.926, 46.153),
}
ARM_POSITIONS = {
    "75101": (2.336, 48.862),
    "75102": (2.343, 48.868),
    "75103": (2.360, 48.863),
    "75104": (2.357, 48.854),
    "75105": (2.350, 48.844),
    "75106": (2.333, 48.849),
    "75107": (2.312, 48.856),
    "75108": (2.313, 48.873),
    "75109": (2.338, 48.877),
    "75110": (2.361, 48.876),
    "75111": (2.380, 48.859),
    "75112": (2.395, 48.840),
    "75113": (2.362, 48.828),
    "75114": (2.327, 48.829),
    "75115": (2.292, 48.840),
    "75116": (2.262, 48.860),
    "75117": (2.307, 48.887),
    "75118": (2.348, 48.892),
    "75119": (2.385, 48.887),
    "75120": (2.401, 48.863),
    "69381": (4.829, 45.768),
    "69382": (4.826, 45.749),
    "69383": (4.869, 45.759),
    "69384": (4.827, 45.778),
    "69385": (4.803, 45.757),
    "69386": (4.852, 45.773),
    "69387": (4.842, 45.733),
    "69388": (4.870, 45.734),
    "69389": (4.805, 45.777),
}
# Cities drawn as ellipses: centre, half-width and half-height in km.
CITIES = {"75056": ((2.345, 48.857), 5.6, 4.2), "69123": ((4.835, 45.758), 5.0, 4.0)}
# L'Île-d'Yeu: the island (centre, half-axes in km, rotation in degrees) and an islet.
YEU = (((-2.348, 46.718), 5.0, 2.0, -35.0), ((-2.440, 46.660), 0.40, 0.25, 0.0))
CHOLET_LAKE = ((-0.845, 47.075), 0.9, 0.5)
RADIUS_KM = 7.5  # how far a demo commune reaches from its position (LARGE_RADIUS_KM for the large ones)
LARGE_RADIUS_KM = {"49099": 9.0, "2A004": 9.0, "85084": 9.0}

# Rough outlines (lon, lat) of the demo départements; 44, 49 and 85 share their border points.
OUTLINES = {
    "44": [
        (-2.55, 47.30),
        (-2.45, 47.50),
        (-2.10, 47.70),
        (-1.60, 47.83),
        (-1.20, 47.78),
        (-1.05, 47.35),
        (-1.18, 47.12),
        (-1.19, 47.02),
        (-1.40, 46.99),
        (-1.60, 46.90),
        (-2.00, 46.95),
        (-2.15, 47.10),
        (-2.30, 47.22),
    ],
    "49": [
        (-1.20, 47.78),
        (-0.60, 47.80),
        (0.10, 47.70),
        (0.22, 47.25),
        (-0.10, 47.10),
        (-0.55, 46.96),
        (-0.80, 46.97),
        (-1.19, 47.02),
        (-1.18, 47.12),
        (-1.05, 47.35),
    ],
    "85": [
        (-1.19, 47.02),
        (-0.80, 46.97),
        (-0.55, 46.96),
        (-0.54, 46.60),
        (-0.52, 46.35),
        (-0.62, 46.28),
        (-1.00, 46.27),
        (-1.35, 46.30),
        (-1.80, 46.45),
        (-2.00, 46.70),
        (-2.15, 46.88),
        (-2.00, 46.95),
        (-1.60, 46.90),
        (-1.40, 46.99),
    ],
    "69": [
        (4.25, 45.60),
        (4.45, 45.45),
        (4.80, 45.50),
        (5.10, 45.65),
        (5.15, 45.80),
        (4.88, 45.90),
        (4.75, 46.20),
        (4.40, 46.30),
        (4.25, 46.00),
    ],
    "01": [
        (4.88, 45.90),
        (5.15, 45.80),
        (5.70, 45.60),
        (6.10, 46.10),
        (6.15, 46.40),
        (5.45, 46.50),
        (4.90, 46.45),
        (4.80, 46.30),
        (4.75, 46.20),
    ],
    "2A": [
        (8.57, 42.05),
        (8.60, 41.75),
        (8.80, 41.55),
        (9.05, 41.36),
        (9.28, 41.45),
        (9.40, 41.75),
        (9.20, 41.95),
        (9.00, 42.15),
        (8.70, 42.25),
    ],
}
DEP_NAMES = {
    "01": ("Ain", "84"),
    "2A": ("Corse-du-Sud", "94"),
    "44": ("Loire-Atlantique", "52"),
    "49": ("Maine-et-Loire", "52"),
    "69": ("Rhône", "84"),
    "75": ("Paris", "11"),
    "85": ("Vendée", "52"),
}


def _ellipse(centre: tuple[float, float], half_x_km: float, half_y_km: float, angle: float = 0.0) -> Polygon:
    """An ellipse given in km around a lon/lat centre (longitude degrees shrink with the cosine of latitude)."""
    lon, lat = centre
    unit = Point(lon, lat).buffer(1.0, quad_segs=8)
    shape = affinity.rotate(affinity.scale(unit, half_x_km, half_y_km), angle)
    return affinity.scale(shape, 1 / (KM_PER_DEGREE * math.cos(math.radians(lat))), 1 / KM_PER_DEGREE)


def _cells(positions: dict[str, tuple[float, float]], region) -> dict[str, object]:
    """The Voronoi cell of each position, clipped to `region` (every cell cut by the same region: shared borders
    keep the same vertices)."""
    points = shapely.MultiPoint(list(positions.values()))
    cells = shapely.voronoi_polygons(points, extend_to=region.envelope.buffer(1.0)).geoms
    out = {}
    for code, (lon, lat) in positions.items():
        cell = next(c for c in cells if c.contains(Point(lon, lat)))
        out[code] = cell.intersection(region)
    return out


def _rounded(geom):
    return shapely.set_precision(geom, 10**-DECIMALS)


def departement_shapes() -> dict[str, object]:
    shapes = {dep: Polygon(ring) for dep, ring in OUTLINES.items()}
    shapes["75"] = _ellipse(*CITIES["75056"])
    island = _ellipse(*YEU[0])  # the islet is too small for the département layer
    shapes["85"] = MultiPolygon([shapes["85"], island])
    return shapes


def commune_shapes() -> dict[str, BaseGeometry]:
    """code -> lon/lat geometry of every demo commune (COG 2025) and arrondissement."""
    deps = departement_shapes()
    shapes: dict[str, BaseGeometry] = {code: _ellipse(*spec) for code, spec in CITIES.items()}
    island, islet = (_ellipse(c, a, b, angle) for c, a, b, angle in YEU)
    shapes["85113"] = MultiPolygon([island, islet])
    for dep in {c.dep for c in COMMUNES}:
        positions = {c.code: POSITIONS[c.code] for c in COMMUNES if c.dep == dep and c.code not in shapes}
        if not positions:
            continue
        reach = shapely.union_all(
            [_ellipse(POSITIONS[code], r, r) for code in positions for r in [LARGE_RADIUS_KM.get(code, RADIUS_KM)]]
        )
        shapes |= _cells(positions, reach.intersection(deps[dep]))
    shapes["49099"] = shapes["49099"].difference(_ellipse(*CHOLET_LAKE))
    for city in CITIES:
        arms = {a.code: ARM_POSITIONS[a.code] for a in ARRONDISSEMENTS if a.parent == city}
        shapes |= _cells(arms, shapes[city])
    return shapes


def _feature(geom, properties: dict) -> dict:
    return {"type": "Feature", "geometry": mapping(_rounded(geom)), "properties": properties}


def communes_geojson() -> str:
    shapes = commune_shapes()
    features = []
    for c in sorted(COMMUNES, key=lambda c: c.code):
        props: dict[str, str | bool] = {"code": c.code, "nom": c.name, "departement": c.dep, "region": c.reg}
        if c.epci != NO_EPCI:
            props["epci"] = c.epci
        if c.code in CITIES:
            props["plm"] = True
        features.append(_feature(shapes[c.code], props))
    parents = {c.code: c for c in COMMUNES}
    for a in sorted(ARRONDISSEMENTS, key=lambda a: a.code):
        city = parents[a.parent]
        features.append(
            _feature(
                shapes[a.code],
                {"code": a.code, "nom": a.name, "departement": city.dep, "region": city.reg, "commune": a.parent},
            )
        )
    return _collection(features)


def departements_geojson() -> str:
    features = [
        _feature(geom, {"code": dep, "nom": DEP_NAMES[dep][0], "region": DEP_NAMES[dep][1]})
        for dep, geom in sorted(departement_shapes().items())
    ]
    return _collection(features)


def _collection(features: list[dict]) -> str:
    return (
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, separators=(",", ":"))
        + "\n"
    )


def write_contours(root: Path) -> None:
    write_text(entry_path(root, "commune_contours", "2025"), communes_geojson())
    write_text(entry_path(root, "commune_contours", "2025", "departements"), departements_geojson())
