"""Paris, Lyon and Marseille arrondissements as territories of their own (`--commune 75101`).

INSEE files carry each arrondissement (level ARM) beside its city, and the CAF files carry arrondissements only
(decisions.md "Arrondissements"). An arrondissement's indicators are computed exactly as a commune's, from its own
ARM rows: the ARM rows are read as if they were communes, in a world whose communes are the arrondissements (each
in its city's EPCI, so that an EPCI fallback stays the EPCI's). Only the arrondissement rows of that computation
are kept, as level ARM; the city, the EPCI, the département and France keep the values the main computation gives
them. A source that publishes nothing by arrondissement leaves the arrondissement's value null with the reason
`city_only`: the figure exists for the whole city only.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from sources.codes import city_of_arrondissement
from sources.geography import NO_EPCI, Geography
from transforms import reasons as R
from transforms.commune_table import rows_at_levels
from transforms.compute import Inputs, compute_placed
from transforms.placed import Placed
from transforms.registry import PUBLISHED_SOURCES, Indicator

ARM = "ARM"


def arrondissement_membership(geo: Geography) -> pl.DataFrame:
    """One row per arrondissement of the target COG: code, name, dep, reg, city, epci (the city's EPCI)."""
    arm = geo.communes.filter(pl.col("typecom") == ARM).select("code", "name", "dep", "reg", city="parent")
    cities = geo.communes.filter(pl.col("typecom") == "COM").select(city="code", city_dep="dep", city_reg="reg")
    epci = geo.epci.select(city="code", epci=pl.when(pl.col("epci") != NO_EPCI).then(pl.col("epci")))
    return (
        arm.join(cities, on="city", how="left")
        .join(epci, on="city", how="left")
        .select(
            "code",
            "name",
            dep=pl.coalesce("dep", "city_dep"),
            reg=pl.coalesce("reg", "city_reg"),
            city="city",
            epci="epci",
        )
        .sort("code")
    )


def _as_communes(frame: pl.DataFrame) -> pl.DataFrame:
    """The ARM rows read as commune rows (and the EPCI rows, for an EPCI fallback); nothing else."""
    # the slices of those levels' runs first (`rows_at_levels`: no filter of every column of millions of rows)
    return rows_at_levels(frame, (ARM, "EPCI")).with_columns(
        level=pl.when(pl.col("level") == ARM).then(pl.lit("COM")).otherwise(pl.col("level"))
    )


def _reads(ind: Indicator) -> tuple[str, ...]:
    """The sources an indicator reads for a commune (a published figure: its commune-level file)."""
    if ind.kind == "published":
        com = PUBLISHED_SOURCES[ind.published_term.source].get("COM")
        return (com,) if com else ()
    return tuple(dict.fromkeys(t.source for t in ind.terms))


def city_only(inputs: Inputs, items: tuple[Indicator, ...]) -> list[str]:
    """Ids of the indicators that a staged source publishes for the whole city only (no ARM row at all)."""
    return _city_only({s: rows_at_levels(frame, (ARM,)) for s, frame in inputs.staged.items()}, items)


def _city_only(arm_rows: dict[str, pl.DataFrame], items: tuple[Indicator, ...]) -> list[str]:
    """`city_only` from each source's ARM rows (or any frame without rows where the source has none)."""
    without = {s for s, rows in arm_rows.items() if rows.is_empty()}
    return [i.id for i in items if any(s in without for s in _reads(i))]


def arrondissement_result(inputs: Inputs, items: tuple[Indicator, ...]) -> pl.DataFrame | None:
    """The indicators of every arrondissement (level ARM, the columns of `compute`), or None without any."""
    placed = arrondissement_placed(inputs, items)
    return None if placed is None else placed.frame().rename({"group": "code"})


def arrondissement_placed(inputs: Inputs, items: tuple[Indicator, ...]) -> Placed | None:
    """`arrondissement_result` as a `transforms.placed.Placed` (reasons as codes), or None without any."""
    arms = inputs.arrondissements
    if arms is None or arms.is_empty():
        return None
    world = replace(
        inputs,
        staged={s: _as_communes(f) for s, f in inputs.staged.items()},
        membership=arms.select("code", "name", "dep", "reg", "epci"),
        arrondissements=None,
    )
    placed = compute_placed(world, (), items, communes_only=True)
    # a source's ARM rows are its world's COM rows
    arm_rows = {s: f.filter(pl.col("level") == "COM") for s, f in world.staged.items()}
    only = [placed.ids.index(i) for i in _city_only(arm_rows, items)]
    unknown = pl.col("value").is_null() & pl.col("status").is_in(
        [placed.code_of(R.NOT_AVAILABLE), placed.code_of(R.NOT_PUBLISHED)]
    )
    status = pl.when(pl.col("_ind").is_in(only) & unknown).then(placed.code_of(R.CITY_ONLY)).otherwise("status")
    return replace(
        placed,
        rows=placed.rows.with_columns(status=status.cast(pl.UInt32)),
        places=placed.places.with_columns(level=pl.lit(ARM)),
    )


def is_arrondissement(code: str | None) -> bool:
    if not code:
        return False
    return city_of_arrondissement(code) is not None


__all__ = [
    "ARM",
    "arrondissement_membership",
    "arrondissement_placed",
    "arrondissement_result",
    "city_only",
    "is_arrondissement",
]
