"""Paris, Lyon and Marseille arrondissements as territories of their own (`--commune 75101`).

INSEE files carry each arrondissement (level ARM) beside its city, and the CAF files carry arrondissements only
(decisions.md "Arrondissements"). An arrondissement's indicators are computed exactly as a commune's, from its own
ARM rows: the ARM rows are read as if they were communes, in a world whose communes are the arrondissements (each
in its city's EPCI, so that an EPCI fallback stays the EPCI's). Only the arrondissement rows of that computation
are kept, as level ARM; the city, the EPCI, the département and France keep the values the main computation gives
them. A source that publishes nothing by arrondissement leaves the arrondissement's value null with the reason
`city_only`: the figure exists for the whole city only.

Where every source gives its arrondissements the years it gives its communes (its ARM and EPCI rows hold its latest
year, and a census its comparison year), the arrondissements are computed in the communes' pass, as communes of
no group (`transforms.compute.ArrondissementRows`: one commune table, one select, one placing; their own
computation cost about 0.25 s of CPU for France's 45 arrondissements); else in a computation of their own, beside.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import polars as pl

from sources.codes import city_of_arrondissement
from sources.geography import NO_EPCI, Geography
from transforms import reasons as R
from transforms.commune_table import rows_at_levels
from transforms.compute import ARRONDISSEMENT_KEY, POPULATION_TERM, ArrondissementRows, Inputs, compute_placed
from transforms.placed import ARM, Placed, merged
from transforms.registry import PUBLISHED_SOURCES, Indicator
from transforms.territories import CustomTerritory


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


def placed_with_arrondissements(
    inputs: Inputs, customs: tuple[CustomTerritory, ...], items: tuple[Indicator, ...]
) -> Placed:
    """`compute_placed` of every place and the arrondissements (level ARM, among the communes): in one pass where
    every source gives them the communes' years (`_same_years`), else computed apart and merged."""
    arms = inputs.arrondissements
    if arms is None or arms.is_empty():
        return compute_placed(inputs, customs, items)
    found = {s: _arm_rows(inputs.staged[s]) for s in _read_sources(items) if s in inputs.staged}
    arm_rows = {s: rows for s, (rows, _, _) in found.items()}
    if not _same_years(inputs, arm_rows, items):
        # in a thread meanwhile: a small computation, mostly Python, while the main one is mostly polars and numpy
        with ThreadPoolExecutor(max_workers=1) as pool:
            apart = pool.submit(_computed_apart, inputs, items, arms)
            return merged(compute_placed(inputs, customs, items), apart.result())
    staged = inputs.staged | {
        s: _with_arm_rows_as_communes(inputs.staged[s], rows, first) for s, (rows, first, _) in found.items()
    }
    communes = {s: rows for s in found if (rows := _commune_rows(staged[s], *found[s])) is not None}
    among_communes = ArrondissementRows(arms["code"], staged, communes)
    placed = compute_placed(inputs, customs, items, arrondissements=among_communes)
    return _with_city_only(placed, _city_only(arm_rows, items))


def _arm_rows(frame: pl.DataFrame) -> tuple[pl.DataFrame, int | None, tuple[int, int] | None]:
    """(the ARM rows of a staged table, their first position when they are one run: a staged table is sorted by
    level; else None; the first position and number of its COM rows when they are one run, else None). The ARM rows
    are looked for among the rows outside that run alone: most rows' levels are compared once, where a comparison
    with ARM then with COM (`commune_table.commune_rows`) read them twice (France's 11 summed sources: 8 M rows)."""
    level = frame["level"]
    com = _one_run(level == "COM")
    if com is None:  # COM rows here and there: every row's level compared with ARM
        is_arm = level == ARM
    else:
        first_com, n_com = com
        before, after = level.slice(0, first_com) == ARM, level.slice(first_com + n_com) == ARM
        is_arm = pl.concat([before, pl.repeat(False, n_com, eager=True), after]) if n_com else after
    arms = _one_run(is_arm)
    if arms == (0, 0):
        return frame.clear(), None, com
    if arms is not None:
        return frame.slice(*arms), arms[0], com
    return frame.filter(is_arm), None, com


def _one_run(rows: pl.Series) -> tuple[int, int] | None:
    """(first position, count) of the true rows of a boolean column when they are one run ((0, 0): none); else
    None."""
    count = int(rows.sum())
    if not count:
        return 0, 0
    first = int(rows.arg_max() or 0)
    return (first, count) if rows.slice(first, count).all() else None


def _commune_rows(
    rewritten: pl.DataFrame, arm_rows: pl.DataFrame, first: int | None, com: tuple[int, int] | None
) -> pl.DataFrame | None:
    """The commune rows (`commune_table.commune_rows`) of a staged table whose ARM rows are read as communes
    (`_with_arm_rows_as_communes`: `rewritten`), from the runs `_arm_rows` found: its COM rows, after its ARM rows
    where those end where the COM rows start (a table sorted by level) and are rewritten in place; None when they
    are elsewhere (the levels are then compared again)."""
    if com is None:
        return None
    first_com, n_com = com
    if arm_rows.is_empty():
        return rewritten.slice(first_com, n_com) if n_com else rewritten.clear()
    if first is None or first + arm_rows.height != first_com:
        return None
    return rewritten.slice(first, arm_rows.height + n_com)


def _with_arm_rows_as_communes(frame: pl.DataFrame, arm_rows: pl.DataFrame, first: int | None) -> pl.DataFrame:
    """`frame` with its ARM rows (`_arm_rows`) read as the commune rows of `ARRONDISSEMENT_KEY + code`: rewritten
    where they are when they are one run (next to the commune rows in a sorted table: the commune table then finds
    them in one run), else the whole table rewritten."""
    if arm_rows.is_empty():
        return frame
    as_commune = {"level": pl.lit("COM"), "code": ARRONDISSEMENT_KEY + pl.col("code")}
    if first is not None:
        rewritten = arm_rows.with_columns(**as_commune)
        return pl.concat([frame.slice(0, first), rewritten, frame.slice(first + arm_rows.height)], rechunk=False)
    is_arm = pl.col("level") == ARM
    return frame.with_columns(
        **{name: pl.when(is_arm).then(value).otherwise(name) for name, value in as_commune.items()}
    )


def _same_years(inputs: Inputs, arm_rows: dict[str, pl.DataFrame], items: tuple[Indicator, ...]) -> bool:
    """Whether the arrondissements read every source at the communes' years: the years of a source's ARM and EPCI
    rows (their world in `arrondissement_placed`) give the main and comparison years of its whole table; a
    publisher's file without such rows gives an arrondissement nothing whatever its years."""
    arms_only = replace(inputs, staged=arm_rows)
    summed = _summed_sources(items)
    for source in arm_rows:
        years = (inputs.main_year(source), inputs.comparison_year(source))
        # the ARM rows alone reaching the table's years settle it (EPCI rows only add years up to them)
        if (arms_only.main_year(source), arms_only.comparison_year(source)) == years:
            continue
        world = replace(inputs, staged={source: rows_at_levels(inputs.staged[source], (ARM, "EPCI"))})
        if source not in summed and world.staged[source].is_empty():
            continue
        if (world.main_year(source), world.comparison_year(source)) != years:
            return False
    return True


def _summed_sources(items: tuple[Indicator, ...]) -> set[str]:
    """The sources of the summed indicators' terms (and the census population of growth and its parts)."""
    return {t.source for i in items if i.kind != "published" for t in i.terms} | {POPULATION_TERM.source}


def _read_sources(items: tuple[Indicator, ...]) -> set[str]:
    """Every source an arrondissement's indicators read: the summed ones', the publishers' commune and EPCI files."""
    published = {
        family[level]
        for i in items
        if i.kind == "published"
        for family in (PUBLISHED_SOURCES[i.published_term.source],)
        for level in ("COM", "EPCI")
        if level in family
    }
    return _summed_sources(items) | published


def _with_city_only(placed: Placed, only: list[str]) -> Placed:
    """`placed` with the arrondissements' unknown values of the `only` indicators `city_only`: their rows alone
    (each place's rows follow each other, places in order), then written where they are (France's 45
    arrondissements: 4,000 of 3.3 M rows)."""
    place = placed.rows["_place"].to_numpy()
    # searched as the rows' own type: a search of int64 positions cast the 3.3 M rows' places first (2.5 ms)
    arm_places = np.flatnonzero((placed.places["level"] == ARM).to_numpy()).astype(place.dtype)
    starts, ends = np.searchsorted(place, arm_places, "left"), np.searchsorted(place, arm_places, "right")
    at = pl.Series(np.concatenate([np.arange(0), *map(np.arange, starts, ends)]), dtype=pl.UInt32)
    status = placed.rows[at].select(status=_city_only_status(placed, only))["status"]
    return replace(placed, rows=placed.rows.with_columns(placed.rows["status"].scatter(at, status)))


def _city_only_status(placed: Placed, only: list[str]) -> pl.Expr:
    """The status of `placed`'s rows (an arrondissement's) with `city_only` where the row is an unknown value of an
    `only` indicator."""
    positions = [placed.ids.index(i) for i in only]
    unknown = pl.col("value").is_null() & pl.col("status").is_in(
        [placed.code_of(R.NOT_AVAILABLE), placed.code_of(R.NOT_PUBLISHED)]
    )
    city_only = pl.col("_ind").is_in(positions) & unknown
    return pl.when(city_only).then(placed.code_of(R.CITY_ONLY)).otherwise("status").cast(pl.UInt32)


def arrondissement_placed(inputs: Inputs, items: tuple[Indicator, ...]) -> Placed | None:
    """`arrondissement_result` as a `transforms.placed.Placed` (reasons as codes), computed apart: in a world whose
    communes are the arrondissements; None without any."""
    arms = inputs.arrondissements
    if arms is None or arms.is_empty():
        return None
    return _computed_apart(inputs, items, arms)


def _computed_apart(inputs: Inputs, items: tuple[Indicator, ...], arms: pl.DataFrame) -> Placed:
    """The arrondissements' rows (level ARM) computed in a world whose communes are the arrondissements `arms`."""
    world = replace(
        inputs,
        staged={s: _as_communes(f) for s, f in inputs.staged.items()},
        membership=arms.select("code", "name", "dep", "reg", "epci"),
        arrondissements=None,
    )
    placed = compute_placed(world, (), items, communes_only=True)
    # a source's ARM rows are its world's COM rows
    arm_rows = {s: f.filter(pl.col("level") == "COM") for s, f in world.staged.items()}
    status = _city_only_status(placed, _city_only(arm_rows, items))
    return replace(
        placed, rows=placed.rows.with_columns(status=status), places=placed.places.with_columns(level=pl.lit(ARM))
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
    "placed_with_arrondissements",
    "is_arrondissement",
]
