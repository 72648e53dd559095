"""Similar territories: a few EPCIs comparable with the report's territory, as the Observatoire des territoires
sets a territory beside others of its kind, or the EPCIs the user names (`abs-diag report --similar`).

How they are chosen, when the user names none: the EPCIs of the territory's population size class (SIZE_CLASSES),
the territory's own région first, then the closest in population and in mean commune size (inhabitants per
commune: a territory of small villages and an urban one of the same population differ in it), by the sum of the
two log-ratios. Density would be the better measure, but the store holds no commune areas (neither the COG nor the
census base files staged here carry SUPERF): it is not used, and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

# (lower bound included, upper bound excluded, French label): the population classes of EPCI statistics
SIZE_CLASSES = (
    (0, 15_000, "moins de 15 000 habitants"),
    (15_000, 30_000, "de 15 000 à 30 000 habitants"),
    (30_000, 50_000, "de 30 000 à 50 000 habitants"),
    (50_000, 100_000, "de 50 000 à 100 000 habitants"),
    (100_000, 300_000, "de 100 000 à 300 000 habitants"),
    (300_000, math.inf, "300 000 habitants ou plus"),
)
COUNT = 5  # similar EPCIs chosen
# what the table sets side by side (ids of transforms/indicators.toml; one missing from the catalogue is skipped)
COMPARED = (
    "croissance_annuelle",
    "part_familles_monoparentales",
    "taux_pauvrete",
    "revenu_median",
    "taux_couverture_global",
    "part_75p",
)
HOW_CHOSEN = (
    "Intercommunalités de la même classe de population ({size}), celles de la même région d'abord, puis les plus "
    "proches par la population et par la taille moyenne des communes (habitants par commune). La densité n'est "
    "pas utilisée : la superficie des communes ne fait pas partie des données chargées."
)
HOW_GIVEN = "Intercommunalités choisies par l'utilisateur du rapport (option --similar)."


@dataclass(frozen=True)
class Profile:
    """What the choice reads of a territory."""

    level: str  # EPCI or TERRITORY
    code: str
    name: str
    population: float | None
    communes: int
    region: str | None

    @property
    def per_commune(self) -> float | None:
        return self.population / self.communes if self.population and self.communes else None


@dataclass(frozen=True)
class Similar:
    """The territory and the EPCIs it is compared with, and how they were chosen."""

    territory: Profile
    others: tuple[Profile, ...]
    how: str
    cells: dict[tuple[str, str, str], dict]  # (level, code, indicator) -> row of the diagnostic table

    def cell(self, place: Profile, indicator: str) -> dict:
        return self.cells.get((place.level, place.code, indicator), {})


def size_class(population: float) -> str:
    return next(label for low, high, label in SIZE_CLASSES if low <= population < high)


# the profiles of the last tables read, held with them: every report of a batch reads the same table (one filter of
# it and one grouping of France's communes, 0.05 s of CPU, were made twice for each report)
_PROFILES: list[tuple[pl.DataFrame, pl.DataFrame, dict[tuple[str, str], Profile]]] = []
PROFILES_KEPT = 2


def profiles(table: pl.DataFrame, membership: pl.DataFrame) -> dict[tuple[str, str], Profile]:
    """(level, code) -> profile of every EPCI and custom territory of the diagnostic table, computed once per
    table and membership (held by identity: a table let go and another at its address never share them)."""
    for held_table, held_membership, found in list(_PROFILES):
        if held_table is table and held_membership is membership:
            return found
    found = _profiles(table, membership)
    _PROFILES.append((table, membership, found))
    del _PROFILES[:-PROFILES_KEPT]
    return found


def _profiles(table: pl.DataFrame, membership: pl.DataFrame) -> dict[tuple[str, str], Profile]:
    pop = table.filter((pl.col("indicator") == "population") & pl.col("level").is_in(["EPCI", "TERRITORY"]))
    epcis = (
        membership.filter(pl.col("epci").is_not_null())
        .group_by("epci")
        .agg(communes=pl.len(), region=pl.col("reg").mode().sort().first())
    )
    by_epci = {r["epci"]: (r["communes"], r["region"]) for r in epcis.iter_rows(named=True)}
    out = {}
    for r in pop.iter_rows(named=True):
        communes, region = by_epci.get(r["code"], (0, None))
        out[(r["level"], r["code"])] = Profile(
            r["level"], r["code"], r["name"] or r["code"], r["value"], communes, region
        )
    return out


def territory_profile(
    table: pl.DataFrame, membership: pl.DataFrame, level: str, code: str, communes: tuple[str, ...]
) -> Profile | None:
    """The profile of a custom territory (its communes and their main région) or of an EPCI."""
    found = profiles(table, membership).get((level, code))
    if found is None or level == "EPCI":
        return found
    regions = membership.filter(pl.col("code").is_in(list(communes)))["reg"].drop_nulls()
    region = regions.mode().sort()[0] if regions.len() else None
    return Profile(level, code, found.name, found.population, len(communes), region)


def distance(a: Profile, b: Profile) -> float:
    """|ln(population ratio)| + |ln(ratio of inhabitants per commune)|: 0 for twins."""
    a_per, b_per = a.per_commune, b.per_commune
    if not (a.population and b.population and a_per and b_per):  # `choose` only compares populated profiles
        raise ValueError(f"no distance between {a.code} and {b.code}: a population is missing")
    return abs(math.log(a.population / b.population)) + abs(math.log(a_per / b_per))


def choose(target: Profile, candidates: list[Profile], count: int = COUNT) -> list[Profile]:
    """The `count` EPCIs of the target's size class most like it (module docstring); none without a population."""
    if not target.population or not target.per_commune:
        return []
    label = size_class(target.population)
    pool = [
        c
        for c in candidates
        if c.level == "EPCI"
        and c.code != target.code
        and c.population
        and c.per_commune
        and size_class(c.population) == label
    ]
    pool.sort(key=lambda c: (c.region != target.region, round(distance(target, c), 9), c.code))
    return pool[:count]


def similar_territories(
    table: pl.DataFrame,
    membership: pl.DataFrame,
    level: str,
    code: str,
    communes: tuple[str, ...] = (),
    given: tuple[str, ...] = (),
) -> Similar | None:
    """The comparison of an EPCI or a custom territory: the EPCIs `given`, or those `choose` finds; None for
    another territory, or when none is found."""
    if level not in ("EPCI", "TERRITORY"):
        return None
    target = territory_profile(table, membership, level, code, communes)
    if target is None:
        return None
    known = profiles(table, membership)
    if given:
        others = [known[("EPCI", c)] for c in given if ("EPCI", c) in known and c != code]
        how = HOW_GIVEN
    else:
        others = choose(target, list(known.values()))
        how = HOW_CHOSEN.format(size=size_class(target.population)) if target.population else ""
    if not others:
        return None
    keys = [(p.level, p.code) for p in [target, *others]]
    rows = table.filter(
        pl.struct("level", "code").is_in([{"level": lv, "code": c} for lv, c in keys])
        & pl.col("indicator").is_in(["population", *COMPARED])
    )
    cells = {(r["level"], r["code"], r["indicator"]): r for r in rows.iter_rows(named=True)}
    return Similar(target, tuple(others), how, cells)
