"""INSEE IRIS reference (`reference_IRIS_geoYYYY.zip` -> `reference_IRIS_geoYYYY.xlsx`, sheet `Emboitements_IRIS`).

One row per IRIS of that year's IRIS geography: `CODE_IRIS, LIB_IRIS, TYP_IRIS, GRD_QUART, DEPCOM, LIBCOM, UU2020,
REG, DEP`, the header on row 6 under title lines (found by its content). About 48,600 rows (§5.3). It names the
IRIS and ties each to its commune (its arrondissement for Paris, Lyon and Marseille, `751083006` in 75108).

Staged as a reference table (not the long value format): code, name, type, commune and its name as published,
`commune_target` (the commune in the target COG: a commune merged since is followed to the new one; an
arrondissement stays itself, `city` names its city) and `cog` (the geography of the file). A commune split since
has no single target: its IRIS get a null target and a note, never a guessed one.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sources.catalogue import Entry
from sources.codes import ARRONDISSEMENT_CITIES, CODE_PATTERNS, COMMUNE_OR_ARM
from sources.cog import Column, Reference
from sources.cog import _check as check_reference
from sources.demo import gen_iris
from sources.errors import Failure, ParseError, SourceValidationError
from sources.geography import Geography
from sources.reading import read_xlsx_sheet, zip_member
from sources.spec import SourceSpec
from sources.staging import Staged

COLUMNS = {"code": "CODE_IRIS", "name": "LIB_IRIS", "type": "TYP_IRIS", "commune": "DEPCOM", "commune_name": "LIBCOM"}
TYPES = ["H", "A", "D", "Z"]  # habitat, activité, divers, commune not divided into IRIS


MODEL = Reference(
    {
        "code": Column(pattern=CODE_PATTERNS["IRIS"]),
        "name": Column(),
        "type": Column(values=tuple(TYPES)),
        "commune": Column(pattern=COMMUNE_OR_ARM),
        "commune_name": Column(nullable=True),
    },
    unique=("code",),
    row_rules=(
        (
            "an IRIS code starts with its commune's (or arrondissement's) code",
            pl.col("code").str.slice(0, 5) == pl.col("commune"),
        ),
        (
            "a commune not divided into IRIS (type Z) has the one pseudo-IRIS <commune>0000",
            (pl.col("type") != "Z") | pl.col("code").str.ends_with("0000"),
        ),
    ),
)


def read(entry: Entry, path: Path) -> pl.DataFrame:
    spec = entry.file()
    if spec.format == "zip":
        if spec.member is None:
            raise ParseError(entry.source, path.name, "the catalogue names no member of the archive")
        data = zip_member(path, spec.member, source=entry.source)
    else:
        data = path.read_bytes()
    sheet = spec.sheets[0]
    grid = read_xlsx_sheet(
        data, sheet, entry.columns().required, source=entry.source, name=f"{spec.member or spec.name} [{sheet}]"
    )
    grid = grid.filter(pl.col("CODE_IRIS").is_not_null())
    # an IRIS code typed as a number in a spreadsheet loses its leading zero (10010000): put it back
    return grid.select(
        code=pl.col("CODE_IRIS").str.strip_chars().str.zfill(9),
        name=pl.col("LIB_IRIS").str.strip_chars(),
        type=pl.col("TYP_IRIS").str.strip_chars(),
        commune=pl.col("DEPCOM").str.strip_chars().str.zfill(5),
        commune_name=pl.col("LIBCOM"),
    )


def to_target(frame: pl.DataFrame, cog: int, geo: Geography | None) -> tuple[pl.DataFrame, list[str]]:
    """Add `commune_target` and `city`: the commune of the target COG each IRIS lies in. Looked up by joins with
    the few communes changed since (a Python lookup per IRIS took 0.2 s of CPU for France's 48,600)."""
    changed = _changed(geo, cog)
    moves = pl.DataFrame(
        {
            "commune": list(changed),
            "moved_to": [now[0] if len(now) == 1 else None for now in changed.values()],
            "split": [len(now) > 1 for now in changed.values()],
        },
        schema={"commune": pl.String, "moved_to": pl.String, "split": pl.Boolean},
    )
    # an arrondissement stays itself; a commune split since has no single target (the city computed once: its
    # three patterns were matched again for each use)
    placed = frame.join(moves, on="commune", how="left", maintain_order="left")
    placed = placed.with_columns(city=city_expr(pl.col("commune")))
    commune, city = pl.col("commune"), pl.col("city")
    is_split = pl.col("split").fill_null(False) & city.is_null()
    target = pl.when(is_split).then(None).when(city.is_null()).then(pl.coalesce("moved_to", commune)).otherwise(commune)
    placed = placed.with_columns(commune_target=target)
    split = sorted(set(placed.filter(is_split)["commune"].to_list()))
    frame = placed.select(*frame.columns, "commune_target", "city")
    notes: list[str] = []
    moved = frame.filter(pl.col("commune_target").is_not_null() & (pl.col("commune_target") != pl.col("commune")))
    if moved.height and geo is not None:  # only a geography's passage moves an IRIS
        pairs = sorted(set(moved.select("commune", "commune_target").iter_rows()))
        notes.append(
            f"{moved.height} IRIS of communes changed since COG {cog} placed in their commune of COG "
            f"{geo.target}: " + ", ".join(f"{a} -> {b}" for a, b in pairs)
        )
    if split:
        notes.append(
            f"IRIS of communes split since COG {cog} have no single target commune (left unplaced): " + ", ".join(split)
        )
    return frame, notes


def _changed(geo: Geography | None, cog: int) -> dict[str, tuple[str, ...]]:
    """The communes of COG `cog` whose code changed since, and their target code(s): `Geography.passage` without
    its tens of thousands of codes that stayed as they were (the changes are those codes and the codes merged
    into, which stay)."""
    if geo is None or cog == geo.target:
        return {}
    return {change.old: change.new for change in geo.changes(cog) if change.new != (change.old,)}


def city_expr(code: pl.Expr) -> pl.Expr:
    """`codes.city_of_arrondissement` of each code, as an expression (75101 -> 75056), else null."""
    return pl.coalesce(
        [pl.when(code.str.contains(pattern)).then(pl.lit(city)) for pattern, city in ARRONDISSEMENT_CITIES]
    )


def check_communes_known(
    frame: pl.DataFrame, cog: int, geo: Geography | None, *, source: str, file: str, raw_path: str, column: str
) -> None:
    """Every commune (or arrondissement) of `frame` exists in the COG of the file (derived from the target's
    events); none checked without a geography."""
    if geo is None:
        return
    known = geo.communes_at(cog) | geo.arrondissements
    # membership: the codes in any order (sorting France's 35,000 first took 8 ms of the check's 22)
    unknown = frame.filter(~pl.col("commune").is_in(pl.Series(list(known), dtype=pl.String)))
    if unknown.height:
        raise SourceValidationError(
            source,
            file,
            [
                Failure(
                    column,
                    f"code known to the COG of the file's geography ({cog})",
                    unknown.height,
                    [str(r) for r in unknown.head(5).rows()],
                )
            ],
            raw_path,
        )


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    path = files["main"]
    frame = read(entry, path)
    file = entry.file().member or path.name
    check_reference(MODEL, frame, entry.source, file, path, COLUMNS)
    check_communes_known(
        frame, entry.fixed_cog, geo, source=entry.source, file=file, raw_path=str(path), column="DEPCOM"
    )
    frame, notes = to_target(frame, entry.fixed_cog, geo)
    counts = dict(frame.group_by("type").len().rows())
    notes.insert(
        0,
        f"{frame.height} IRIS (geography {entry.cog}): "
        + ", ".join(f"{counts.get(t, 0)} of type {t}" for t in TYPES)
        + " (Z: communes not divided into IRIS)",
    )
    return Staged(frame.with_columns(cog=pl.lit(entry.cog, pl.Int32)).sort("code"), notes=notes)


SOURCES = (
    SourceSpec(
        "iris_reference", ("iris_reference",), stage, label="Insee, référentiel des IRIS {year}", demo=gen_iris.write
    ),
)
