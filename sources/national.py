"""The units a national run fans out over: every EPCI and every département of the target geography; the check
that the codes a run is asked for exist there (a typo is refused before anything runs)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sources.geography import NO_EPCI
from sources.refresh import load_geography
from storage.store import Store, reads_one_state


@dataclass(frozen=True)
class Unit:
    """One territory of the national batch (plain strings: cheap to send to a thread, a process or a cluster)."""

    level: str  # "epci" or "dep"
    code: str
    name: str


@reads_one_state
def national_units(store: Store, epcis: list[str] | None = None, departements: list[str] | None = None) -> list[Unit]:
    """Every EPCI then every département of the staged target COG, in code order.

    `epcis` / `departements` keep only those codes (None: all; an empty list: none); an unknown code is an error
    that names it, so a typo never silently shrinks a batch.
    """
    geo = load_geography(store)
    epci = (geo.epci.filter(pl.col("epci") != NO_EPCI).select("epci", "epci_name").unique("epci").sort("epci"))
    deps = sorted(set(geo.membership()["dep"].to_list()))
    try:
        dep_names = dict(store.read_staged("cog_departements").select("dep", "name").iter_rows())
    except FileNotFoundError:  # the names are a nicety
        dep_names = {}
    units = [Unit("epci", code, name) for code, name in epci.iter_rows()]
    units += [Unit("dep", code, dep_names.get(code, f"Département {code}")) for code in deps]
    return _keep(units, "epci", epcis) + _keep(units, "dep", departements)


def _keep(units: list[Unit], level: str, codes: list[str] | None) -> list[Unit]:
    mine = [u for u in units if u.level == level]
    if codes is None:
        return mine
    unknown = sorted(set(codes) - {u.code for u in mine})
    if unknown:
        what = "EPCI" if level == "epci" else "département"
        raise ValueError(f"{what} not in the target geography: {', '.join(unknown)}")
    return [u for u in mine if u.code in set(codes)]


def batches(items: list, size: int) -> list[list]:
    """`items` cut into consecutive lists of at most `size` (one task each)."""
    if size < 1:
        raise ValueError("a batch holds at least one unit")
    return [items[i:i + size] for i in range(0, len(items), size)]


@reads_one_state
def unknown_codes(store: Store, *, epcis: list[str] = (), communes: list[str] = (),
                  departements: list[str] = ()) -> list[str]:
    """What a run would fail on, one line per level: the codes given that are not in the staged target geography
    (`FileNotFoundError` when the geography is not staged yet)."""
    geo = load_geography(store)
    membership = geo.membership()
    known = {"EPCI": set(membership["epci"].drop_nulls().to_list()), "commune": set(membership["code"].to_list()),
             "département": set(membership["dep"].to_list())}
    problems = []
    for what, codes in (("EPCI", epcis), ("commune", communes), ("département", departements)):
        unknown = sorted(set(codes) - known[what])
        if unknown:
            problems.append(f"{what} not in the target geography: {', '.join(unknown)}")
    return problems
