"""The France-sized mirror of the benchmark (`benchmarks/france_mirror.py`), run small: its world is France's shape
and a refresh from it stages every source (the files pass every validation rule)."""

from __future__ import annotations

import polars as pl

from benchmarks.france_mirror import departements, france_world, siren, write_mirror
from sources.codes import check_siren
from sources.demo import world
from sources.mirror import serve
from sources.refresh import refresh
from storage.store import Store


def test_sirens_carry_their_check_digit():
    # 20000001: Luhn from the right, doubling every second digit: 1*2=2, 0, 0, 0, 0, 0, 0, 2 -> 4 -> check 6
    assert siren(20_000_001) == "200000016"
    assert check_siren(siren(20_000_001)) == "200000016"


def test_the_world_has_every_departement_and_unique_codes():
    communes, epcis = france_world(n_communes=1_200, n_epcis=300)
    codes = [c.code for c in communes]
    assert len(codes) == len(set(codes))
    assert {c.dep for c in communes} == set(departements()) and len(departements()) == 101
    assert set(world.COMMUNES) <= set(communes)  # the demo's quirks are kept
    sirens = {e.siren for e in epcis}
    assert len(sirens) == len(epcis) and all(check_siren(s) == s for s in sirens)
    assert {c.epci for c in communes} - {world.NO_EPCI} <= sirens
    # the demo's 21 communes and 8 EPCIs, then 1,200 - 21 = 1,179 over 100 départements (Paris has no other
    # commune): overseas min(30, 1,179 // (10 x 100)) = 1 each, metropolitan ceil((1,179 - 5) / 95) = 13 each
    assert len(communes) == 21 + 95 * 13 + 5 * 1
    assert len(epcis) == 300  # 8 + 292 shared by largest remainders
    assert all(c.pop22 >= 250 for c in communes if c not in world.COMMUNES)


def test_a_refresh_from_a_small_france_stages_every_source(tmp_path):
    written = write_mirror(tmp_path / "mirror", n_communes=400, n_epcis=30)
    store = Store(tmp_path / "data")
    with serve(tmp_path / "mirror") as mirror:
        report = refresh(store=store, mirror=mirror.url, threads=2)
    assert report.failed == [], [f.error for f in report.failed]
    staged = store.read_staged("cog_communes").filter(pl.col("typecom") == "COM")
    assert staged.height == written["communes"] and staged["dep"].n_unique() == 101


def test_no_invented_commune_takes_an_arrondissement_code():
    # at France's size the Bouches-du-Rhône gets 365 communes: 13200-13299 is Marseille's range (132xx, 13201-13216)
    communes, _ = france_world()
    invented = [c.code for c in communes if c not in world.COMMUNES]
    assert [code for code in invented if code.startswith(("751", "132", "6938"))] == []
    assert len([code for code in invented if code.startswith("13")]) > 300


def test_a_departement_is_in_one_region_and_regions_have_a_regions_size():
    communes, _ = france_world()
    regions_of: dict[str, set[str]] = {}
    people: dict[str, int] = {}
    for c in communes:
        regions_of.setdefault(c.dep, set()).add(c.reg)
        people[c.reg] = people.get(c.reg, 0) + c.pop22
    assert all(len(regs) == 1 for regs in regions_of.values())
    assert regions_of["44"] == {"52"} and regions_of["2B"] == {"94"} and regions_of["974"] == {"04"}
    assert max(people.values()) < 15_000_000  # Filosofi's plausibility rule for a région
