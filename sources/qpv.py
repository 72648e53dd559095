"""Quartiers prioritaires de la politique de la ville (QPV 2024), ANCT: the list and the communes of each QPV.

The flat GeoJSON of the contours (`qp2024-france-hexagonale-outre-mer-wgs84-epsg4326.geojson`): a FeatureCollection
of 1,584 features (§5.5) whose properties are `code_qp`, `lib_qp`, `insee_com`, `lib_com`, `insee_dep`,
`insee_reg` (and `siren_epci` in some copies). Only the properties are read: the report lists a commune's QPV,
it draws no map.

Quirks handled:
- a QPV may lie across several communes: `insee_com` is taken as a list when it holds several codes separated by
  commas, semicolons or spaces (one row per QPV and commune), and a QPV may appear in several features (one per
  commune);
- commune codes are strings (`01001`, `2A004`); a commune changed since the list's COG (2024) is followed to its
  target commune (`commune_target`);
- INSEE's QPV statistics are another product, not read here (their file layouts were never seen).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from sources.catalogue import Entry
from sources.codes import CODE_PATTERNS, COMMUNE_OR_ARM, city_of_arrondissement
from sources.cog import Column, Reference
from sources.cog import _check as check_reference
from sources.demo import gen_iris
from sources.errors import Failure, ParseError, SourceValidationError
from sources.geography import Geography
from sources.iris_reference import check_communes_known
from sources.reading import decode
from sources.spec import SourceSpec
from sources.staging import Staged

COLUMNS = {"code": "code_qp", "name": "lib_qp", "commune": "insee_com"}


MODEL = Reference(
    {
        "code": Column(pattern=CODE_PATTERNS["QPV"]),
        "name": Column(),
        "commune": Column(pattern=COMMUNE_OR_ARM),
        "commune_name": Column(nullable=True),
        "dep": Column(nullable=True),
    },
    unique=("code", "commune"),
)


def features(entry: Entry, path: Path) -> list[dict]:
    """The properties of every feature of the GeoJSON, or a ParseError saying what the file is instead."""
    spec = entry.file()
    text = decode(path.read_bytes(), spec, source=entry.source, name=spec.name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(entry.source, spec.name, f"not JSON ({exc})") from exc
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(data.get("features"), list)
    ):
        raise ParseError(entry.source, spec.name, "not a GeoJSON FeatureCollection (no `features` list)")
    return [f.get("properties") or {} for f in data["features"]]


def _rows(entry: Entry, props: list[dict], raw_path: str) -> pl.DataFrame:
    expected = entry.columns()
    absent = sorted({c for p in props for c in expected.required if c not in p}) if props else list(expected.required)
    if absent:
        count = sum(1 for p in props if any(c not in p for c in expected.required)) or 1
        raise SourceValidationError(
            entry.source,
            entry.file().name,
            [
                Failure(
                    ", ".join(absent),
                    "property required in every feature",
                    count,
                    [str(p)[:200] for p in props if any(c not in p for c in absent)][:3],
                )
            ],
            raw_path,
        )
    rows = []
    for p in props:
        for commune in [c for c in re.split(r"[,; ]+", str(p["insee_com"]).strip()) if c]:
            rows.append(
                (str(p["code_qp"]).strip(), str(p["lib_qp"]).strip(), commune, p.get("lib_com"), p.get("insee_dep"))
            )
    schema = {"code": pl.String, "name": pl.String, "commune": pl.String, "commune_name": pl.String, "dep": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row").unique(
        ["code", "commune"], keep="first", maintain_order=True
    )


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    path = files["main"]
    cog = entry.fixed_cog
    props = features(entry, path)
    frame = _rows(entry, props, str(path))
    check_reference(MODEL, frame, entry.source, entry.file().name, path, COLUMNS)
    check_communes_known(
        frame, cog, geo, source=entry.source, file=entry.file().name, raw_path=str(path), column="insee_com"
    )
    passage = geo.passage(cog) if geo is not None and cog != geo.target else {}
    target = [
        c if city_of_arrondissement(c) else (passage.get(c, (c,))[0] if len(passage.get(c, (c,))) == 1 else None)
        for c in frame["commune"].to_list()
    ]
    frame = frame.with_columns(commune_target=pl.Series(target, dtype=pl.String), cog=pl.lit(cog, pl.Int32)).sort(
        "code", "commune"
    )
    spanning = frame.group_by("code").len().filter(pl.col("len") > 1).height
    notes = [
        (
            f"{len(props)} features, {frame['code'].n_unique()} QPV in {frame['commune'].n_unique()} communes "
            f"(COG {cog}); {spanning} QPV across several communes; the contours are not read"
        )
    ]
    if geo is not None:
        unknown = sorted(set(frame.filter(pl.col("commune_target").is_null())["commune"].to_list()))
        if unknown:
            notes.append(f"communes split since COG {cog}, their QPV left unplaced: {', '.join(unknown)}")
    return Staged(frame, notes=notes)


SOURCES = (SourceSpec("qpv", ("qpv",), stage, label="ANCT, quartiers prioritaires {year}", demo=gen_iris.write),)
