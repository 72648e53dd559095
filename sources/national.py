"""The units a national run fans out over: every EPCI and every département of the target geography; the check
that the codes a run is asked for exist there (a typo is refused before anything runs); the one state of the store
every part of a national run reads (its tasks may run in other threads, processes or machines)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from sources.geography import NO_EPCI
from sources.refresh import load_geography
from storage.store import Store, reads_one_state

PUBLICATION = "national"
PARTIAL_PUBLICATION = "national-partiel"  # a run limited to some EPCI or départements


class StoreChanged(RuntimeError):
    """A part of a run found the store in another state than the run began with."""


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
    epci = geo.epci.filter(pl.col("epci") != NO_EPCI).select("epci", "epci_name").unique("epci").sort("epci")
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
    return [items[i : i + size] for i in range(0, len(items), size)]


@reads_one_state
def unknown_codes(
    store: Store,
    *,
    epcis: Sequence[str] = (),
    communes: Sequence[str] = (),
    departements: Sequence[str] = (),
    arrondissements: Sequence[str] = (),
) -> list[str]:
    """What a run would fail on, one line per level: the codes given that are not in the staged target geography
    (`FileNotFoundError` when the geography is not staged yet)."""
    geo = load_geography(store)
    levels = (("EPCI", "epci", epcis), ("commune", "code", communes), ("département", "dep", departements))
    asked = [(what, column, set(codes)) for what, column, codes in levels if codes]
    problems = []
    if asked:
        membership = geo.membership()
        for what, column, codes in asked:
            problems += _unknown(what, codes - _present(membership, column, codes))
    return problems + _unknown("arrondissement", set(arrondissements) - geo.arrondissements)


def _present(membership: pl.DataFrame, column: str, codes: set[str]) -> set[str]:
    """Which of `codes` are in `column` of `membership`, looked up there: the column's 35,000 codes made into a
    set of Python strings took 13 ms for France."""
    return set(membership.filter(pl.col(column).is_in(sorted(codes)))[column].to_list())


def _unknown(what: str, unknown: set[str]) -> list[str]:
    return [f"{what} not in the target geography: {', '.join(sorted(unknown))}"] if unknown else []


def publication_name(epcis: list[str] | None, departements: list[str] | None) -> str:
    """`national` for every EPCI and département, `national-partiel` for a run limited to some of them (it never
    replaces the complete publication)."""
    return PUBLICATION if epcis is None and departements is None else PARTIAL_PUBLICATION


def check_some_units(epcis: list[str] | None, departements: list[str] | None) -> None:
    if epcis == [] and departements == []:
        raise ValueError(
            "no territory to report: the EPCI and the département lists are both empty "
            "(leave a list out (None) for every territory of that level)"
        )


@reads_one_state
def state_of(store: Store) -> str:
    """A digest of the store's state (its manifest): equal digests, same staged tables."""
    text = json.dumps(store.manifest().to_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_state(store: Store, expected: str) -> None:
    """Refuse to read `store` (a pinned state) unless it is the state the run began with: a national publication
    never mixes the tables of two refreshes."""
    found = state_of(store)
    if found != expected:
        raise StoreChanged(
            f"the store was refreshed during the run: rerun (state {expected} at the start, "
            f"{found} now in {store.root})"
        )
