"""A France-sized mirror: the demo generators (`sources/demo/gen_*.py`) run on a world of France's size.

    python -m benchmarks.france_mirror FOLDER                  # 34,900 communes, 1,250 EPCIs, 101 départements
    python -m benchmarks.france_mirror FOLDER --communes 3000 --epcis 110

The demo world (`sources/demo/world.py`: a commune nouvelle, restored communes, Paris and Lyon with their
arrondissements, Corsica, a commune in no EPCI) is kept, and invented communes fill every other département of
France (96 in metropolitan France, 5 overseas) with France's sizes: a heavy tail of populations (most communes
under 1,000 inhabitants, a few above 100,000), EPCIs of consecutive communes of one département. The files are
written by the demo generators themselves, in the exact formats of the INSEE and CAF files, so a refresh from this
mirror runs every parser, validation and staging step on France's volume. The figures the generators keep per
département, région and France (published totals, profiles, names) are made for the new départements from their
communes. Everything is deterministic (a seed).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import random
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from shapely.geometry.base import BaseGeometry

from sources.demo import (
    gen_caf,
    gen_census,
    gen_cog,
    gen_contours,
    gen_etat_civil,
    gen_filosofi,
    gen_iris,
    gen_mobility,
    world,
)
from sources.demo.world import Commune, Epci

# gen_census and gen_iris import `commune` and `communes_in` by name: patched there too (looked up by code)
GEN_MODULES = (world, gen_caf, gen_cog, gen_etat_civil, gen_filosofi, gen_mobility, gen_contours, gen_iris, gen_census)
# the codes of the arrondissements of Paris, Lyon and Marseille (and their pseudo-codes): never a commune's
ARRONDISSEMENT_CODES = re.compile(r"^(751\d\d|6938\d|132\d\d)$")
OVERSEAS = ("971", "972", "973", "974", "976")
REGION_OF = {
    "11": "ILE DE FRANCE",
    "24": "CENTRE VAL DE LOIRE",
    "27": "BOURGOGNE FRANCHE COMTE",
    "28": "NORMANDIE",
    "32": "HAUTS DE FRANCE",
    "44": "GRAND EST",
    "52": "PAYS DE LA LOIRE",
    "53": "BRETAGNE",
    "75": "NOUVELLE AQUITAINE",
    "76": "OCCITANIE",
    "84": "AUVERGNE RHONE ALPES",
    "93": "PROVENCE ALPES COTE D AZUR",
    "94": "CORSE",
    "01": "GUADELOUPE",
    "02": "MARTINIQUE",
    "03": "GUYANE",
    "04": "LA REUNION",
    "06": "MAYOTTE",
}
MAINLAND = ["11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93"]
OVERSEAS_REGIONS = dict(zip(OVERSEAS, ["01", "02", "03", "04", "06"]))


def region(dep: str, index: int) -> str:
    """The demo's région for its départements, Corsica's, an overseas one's own, else the mainland régions in turn
    (each of the size of a real one: Filosofi's plausibility rule caps a région at 15 million people)."""
    demo = {c.dep: c.reg for c in world.COMMUNES}
    if dep in demo:
        return demo[dep]
    if dep in ("2A", "2B"):
        return "94"
    return OVERSEAS_REGIONS.get(dep) or MAINLAND[index % len(MAINLAND)]


def departements() -> list[str]:
    """The 101 départements of France: 01-95 (2A and 2B instead of 20) and the five overseas ones."""
    metro = [f"{d:02d}" for d in range(1, 96) if d != 20]
    return sorted(metro + ["2A", "2B"]) + list(OVERSEAS)


def siren(prefix: int) -> str:
    """A 9-digit SIREN with its Luhn check digit."""
    body = f"{prefix:08d}"
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _population(rng: random.Random) -> int:
    """France's heavy tail: median ~500 inhabitants (250 at least: see below), mean ~1,200, a few above 100,000."""
    return min(900_000, max(250, int(math.exp(rng.gauss(6.2, 1.3)))))


def france_world(n_communes: int = 34_900, n_epcis: int = 1_250, seed: int = 1) -> tuple[list[Commune], list[Epci]]:
    """The demo's communes and EPCIs plus invented ones up to `n_communes` and `n_epcis`."""
    rng = random.Random(seed)
    taken = {c.code for c in world.COMMUNES} | {a.code for a in world.ARRONDISSEMENTS} | set(world.ABSORBED)
    taken |= {code for code, _, _ in world.DELEGATED}
    deps = [d for d in departements() if d != "75"]  # Paris is one commune (and its arrondissements)
    extra = max(0, n_communes - len(world.COMMUNES))
    overseas_each = max(1, min(30, extra // (10 * len(deps))))  # two digits after an overseas département
    per_metro = -(-(extra - overseas_each * len(OVERSEAS)) // (len(deps) - len(OVERSEAS)))
    by_dep: dict[str, list[str]] = {}
    for dep in deps:
        wanted, width = (overseas_each, 2) if dep in OVERSEAS else (per_metro, 3)
        codes = [
            code
            for i in range(1, 10**width)
            if (code := f"{dep}{i:0{width}d}") not in taken and not ARRONDISSEMENT_CODES.match(code)
        ]
        by_dep[dep] = codes[:wanted]
    shares = _epcis_per_departement({d: len(c) for d, c in by_dep.items()}, max(0, n_epcis - len(world.EPCIS)))
    communes: list[Commune] = []
    epcis: list[Epci] = []
    for index, (dep, codes) in enumerate(by_dep.items()):
        n_dep_epcis = shares[dep]  # each EPCI a run of consecutive communes of the département
        sirens = [siren(20_000_000 + len(epcis) + k + 1) for k in range(n_dep_epcis)]
        epcis += [Epci(s, f"CC synthétique {s}", "CC" if k % 4 else "CA") for k, s in enumerate(sirens)]
        reg = region(dep, index)
        for i, code in enumerate(codes):
            pop22 = _population(rng)
            pop16 = max(10, round(pop22 / (1 + rng.uniform(-0.05, 0.08))))
            pop11 = max(10, round(pop16 / (1 + rng.uniform(-0.05, 0.08))))
            # the demo's census generator gives villages (under 3,000) graduate shares that need a need index
            # of 0.5 at most and 250 inhabitants at least (its rounding), as the villages of the demo have
            need = rng.uniform(0.05, 0.95 if pop22 >= 3000 else 0.5)
            communes.append(
                Commune(
                    code,
                    f"Commune {code}",
                    dep,
                    reg,
                    sirens[i * n_dep_epcis // len(codes)],
                    pop22,
                    pop16,
                    pop11,
                    round(need, 2),
                )
            )
    return world.COMMUNES + communes, world.EPCIS + epcis


def _epcis_per_departement(communes: dict[str, int], total: int) -> dict[str, int]:
    """`total` EPCIs shared in proportion to the communes (largest remainders), at least one per département
    (a world asking for fewer EPCIs than départements gets one per département)."""
    n = sum(communes.values()) or 1
    quotas = {d: total * k / n for d, k in communes.items()}
    shares = {d: int(q) for d, q in quotas.items()}
    for d in sorted(quotas, key=lambda d: quotas[d] - shares[d], reverse=True)[: total - sum(shares.values())]:
        shares[d] += 1
    return {d: max(1, k) if communes[d] else 0 for d, k in shares.items()}


# -- what the generators keep per département, région and France, made for the new départements ----------------


def _sum_by(communes: list[Commune], key) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for c in communes:
        out[key(c)] += c.pop22
    return out


def _etat_civil_published(communes: list[Commune]) -> dict:
    """Published totals of 2008 (scaled by the year profile) that hold every commune of each area: above the
    largest population of the years times the highest rate a commune can get (the rate x 1.15 x 1.05)."""
    top = {c.code: max(c.pop11, c.pop16, c.pop22) * 1.25 for c in communes}
    dep_pop: dict[str, float] = defaultdict(float)
    for c in communes:
        dep_pop[c.dep] += top[c.code]
    reg_of = {c.dep: c.reg for c in communes}
    out = {}
    for source, (_, _, _, rate) in gen_etat_civil.DATASETS.items():
        profile = gen_etat_civil.BIRTH_PROFILE if source == "births" else gen_etat_civil.DEATH_PROFILE
        scale = 1.4 * rate * max(profile.values()) / min(profile.values())
        dep = {d: math.ceil(p * scale) + 10 for d, p in dep_pop.items()}
        reg: dict[str, int] = defaultdict(int)
        for d, v in dep.items():
            reg[reg_of[d]] += v
        reg = {r: math.ceil(v * 1.1) + 10 for r, v in reg.items()}
        out[source] = {"DEP": dep, "REG": reg, "FRANCE": math.ceil(sum(reg.values()) * 1.1) + 10}
    return out


def _filosofi_areas(communes: list[Commune]) -> tuple[dict, dict, tuple]:
    """(households, persons, need) of each département, région and France, from their communes."""

    def area(members: list[Commune]) -> tuple[int, int, float]:
        persons = sum(c.pop22 for c in members) * 0.975
        need = sum(c.need * c.pop22 for c in members) / max(1, sum(c.pop22 for c in members))
        return round(persons / 2.3), round(persons), round(need, 2)

    by_dep, by_reg = defaultdict(list), defaultdict(list)
    for c in communes:
        by_dep[c.dep].append(c)
        by_reg[c.reg].append(c)
    deps = {d: area(m) for d, m in by_dep.items()} | {"75": (0, 0, 0.0)}  # Paris: the commune itself (same_as)
    return deps, {r: area(m) for r, m in by_reg.items()}, area(communes)


@contextlib.contextmanager
def patched(communes: list[Commune], epcis: list[Epci]) -> Iterator[None]:
    """The generators see the France-sized world for the duration of the block."""
    by_code = {c.code: c for c in communes}
    pops = _sum_by(communes, lambda c: c.dep)
    names = {d: f"Département {d}" for d in pops}
    names |= {d: n for d, _, _, _, n in gen_cog.DEPARTEMENTS}
    reg_of = {c.dep: c.reg for c in communes}
    cheflieu: dict[str, str] = {}
    for c in communes:
        cheflieu.setdefault(c.dep, c.code)
    deps, regs, france = _filosofi_areas(communes)
    values = {
        "COMMUNES": communes,
        "EPCIS": epcis,
        "commune": by_code.__getitem__,
        "communes_in": functools.cache(world.communes_in),  # Filosofi's EPCI file asks for it once per EPCI
        # the IRIS generator asks a commune's population once per IRIS (a pseudo-IRIS per commune): by code
        "commune_population@gen_iris": _iris_population(by_code),
        "DEPARTEMENTS@gen_cog": [(d, reg_of[d], cheflieu[d], 0, names[d]) for d in sorted(pops)],
        "DEPARTEMENTS@gen_caf": {
            d: (world_upper(names[d]), reg_of[d], REGION_OF[reg_of[d]], round(p)) for d, p in pops.items()
        },
        "PROFILES@gen_caf": {d: gen_caf.PROFILES.get(d, gen_caf.PROFILES["85"]) for d in pops},
        "PUBLISHED_2008@gen_etat_civil": _etat_civil_published(communes),
        "DEPARTMENTS@gen_filosofi": deps,
        "REGIONS@gen_filosofi": regs,
        "FRANCE@gen_filosofi": france,
        "NAMES@gen_mobility": {c.code: c.name for c in communes} | {a.code: a.name for a in world.ARRONDISSEMENTS},
        "commune_shapes@gen_contours": functools.partial(grid_shapes, communes),
        "departement_shapes@gen_contours": functools.partial(grid_departements, communes),
        "DEP_NAMES@gen_contours": {d: (names[d], reg_of[d]) for d in pops},
    }
    saved = []
    for name, value in values.items():
        attr, _, only = name.partition("@")
        for module in GEN_MODULES:
            if hasattr(module, attr) and (not only or module.__name__.endswith(only)):
                saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, value)
    try:
        yield
    finally:
        for module, attr, value in reversed(saved):
            setattr(module, attr, value)


def _iris_population(by_code: dict[str, Commune]):
    """`gen_iris.commune_population` looked up by code (the generator's own scans every commune at each call)."""

    @functools.cache
    def shares() -> dict[str, list]:
        found: dict[str, list] = {}
        for code, _, parts in gen_iris.communes_in(gen_iris.GEOGRAPHY):
            found.setdefault(code, parts)  # the first, as the generator's `next` takes
        return found

    def population(code: str) -> float:
        return sum(share * by_code[target].pop22 for target, share in shares().get(code, []))

    return population


# Where each département's communes are laid out as small squares (lon, lat of its first square): the invented
# communes have no real position, only plausible coordinates for their projection (Lambert-93, or the UTM of an
# overseas département).
OVERSEAS_ORIGIN = {
    "971": (-61.6, 16.1),
    "972": (-61.1, 14.5),
    "973": (-53.0, 4.0),
    "974": (55.3, -21.2),
    "976": (45.0, -12.9),
}
SQUARE = 0.01  # degrees


def _origin(dep: str, index: int) -> tuple[float, float]:
    return OVERSEAS_ORIGIN.get(dep) or (-4.0 + (index % 10) * 0.9, 42.5 + (index // 10) * 0.6)


def grid_shapes(communes: list[Commune]) -> dict[str, BaseGeometry]:
    """Each commune a square of its département's grid; Paris and Lyon split into their arrondissements' strips."""
    from shapely.geometry import box

    shapes: dict[str, BaseGeometry] = {}
    deps = sorted({c.dep for c in communes})
    for index, dep in enumerate(deps):
        x0, y0 = _origin(dep, index)
        members = sorted(c.code for c in communes if c.dep == dep)
        side = max(1, math.ceil(math.sqrt(len(members))))
        for n, code in enumerate(members):
            x, y = x0 + (n % side) * SQUARE, y0 + (n // side) * SQUARE
            shapes[code] = box(x, y, x + SQUARE, y + SQUARE)
    for city in {a.parent for a in world.ARRONDISSEMENTS}:
        arms = sorted(a.code for a in world.ARRONDISSEMENTS if a.parent == city)
        minx, miny, maxx, maxy = shapes[city].bounds
        width = (maxx - minx) / len(arms)
        for n, code in enumerate(arms):
            shapes[code] = box(minx + n * width, miny, minx + (n + 1) * width, maxy)
    return shapes


def grid_departements(communes: list[Commune]) -> dict[str, BaseGeometry]:
    """Each département: the union of its communes' squares."""
    import shapely

    shapes = grid_shapes(communes)
    deps = sorted({c.dep for c in communes})
    return {d: shapely.union_all([shapes[c.code] for c in communes if c.dep == d]) for d in deps}


def world_upper(name: str) -> str:
    from sources.demo.files import upper_ascii

    return upper_ascii(name).replace("-", " ")


def write_mirror(root: Path, n_communes: int = 34_900, n_epcis: int = 1_250, seed: int = 1) -> dict:
    """Write the France-sized mirror under `root` (emptied first); what was written."""
    from sources.demo.build import build

    communes, epcis = france_world(n_communes, n_epcis, seed)
    if root.exists():
        shutil.rmtree(root)
    start = time.perf_counter()
    with patched(communes, epcis):
        build(root)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {
        "communes": len(communes),
        "epcis": len(epcis),
        "departements": len({c.dep for c in communes}),
        "bytes": size,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--communes", type=int, default=34_900)
    parser.add_argument("--epcis", type=int, default=1_250)
    args = parser.parse_args()
    out = write_mirror(args.folder, args.communes, args.epcis)
    print(
        f"{out['communes']:,} communes, {out['epcis']:,} EPCIs, {out['departements']} départements: "
        f"{out['bytes'] / 2**20:,.0f} MiB written to {args.folder} in {out['seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
