"""Territories: which communes make up each commune, EPCI, département, France and custom territory."""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

SIREN = re.compile(r"^\d{9}$")
COMMUNE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
LEVELS = ("COM", "EPCI", "DEP", "FRANCE", "TERRITORY")
FRANCE = "FR"


@dataclass(frozen=True)
class CustomTerritory:
    """A named group of communes (a CTG perimeter that is not an EPCI, a bassin de vie...)."""

    name: str
    communes: tuple[str, ...]
    code: str = "TERRITOIRE"


def parse_communes(text: str) -> tuple[str, ...]:
    """`44043,44064` -> codes, refusing malformed ones with a message that names them."""
    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    bad = [c for c in codes if not COMMUNE.match(c)]
    if not codes or bad:
        raise ValueError(f"commune codes must be 5 characters (01001, 2A004): {', '.join(bad) or 'none given'}")
    return codes


def check_siren(siren: str) -> str:
    if not SIREN.match(siren):
        raise ValueError(f"an EPCI is named by its 9-digit SIREN, not {siren!r}")
    return siren


def groups(membership: pl.DataFrame, customs: tuple[CustomTerritory, ...] = ()) -> pl.DataFrame:
    """(code, level, group) rows: every commune belongs to itself, its EPCI, its département and France.

    `membership` is Geography.membership(): code, name, dep, reg, epci (null when in no EPCI).
    """
    base = membership.select("code", "dep", "epci")
    parts = [
        base.select("code", level=pl.lit("COM"), group=pl.col("code")),
        base.filter(pl.col("epci").is_not_null()).select("code", level=pl.lit("EPCI"), group=pl.col("epci")),
        base.select("code", level=pl.lit("DEP"), group=pl.col("dep")),
        base.select("code", level=pl.lit("FRANCE"), group=pl.lit(FRANCE)),
    ]
    known = set(membership["code"].to_list())
    for territory in customs:
        unknown = sorted(set(territory.communes) - known)
        if unknown:
            raise ValueError(f"{territory.name}: communes not in the target COG: {', '.join(unknown)}")
        parts.append(pl.DataFrame({"code": list(territory.communes)}).select(
            "code", level=pl.lit("TERRITORY"), group=pl.lit(territory.code)))
    return pl.concat(parts).unique(maintain_order=True)


def principal_department(membership: pl.DataFrame, population: pl.DataFrame) -> pl.DataFrame:
    """For each EPCI: the département holding most of its population (an EPCI may span several)."""
    joined = membership.filter(pl.col("epci").is_not_null()).join(population, on="code", how="left")
    return (
        joined.group_by("epci", "dep").agg(pop=pl.col("population").fill_null(0).sum())
        .sort(["epci", "pop", "dep"], descending=[False, True, False])
        .group_by("epci", maintain_order=True).first()
        .select("epci", "dep")
    )
