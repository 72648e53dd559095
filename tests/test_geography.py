"""COG derivation from the events and harmonisation of staged rows (demo world: see sources/demo/world.py)."""

from __future__ import annotations

import polars as pl
import pytest
from staged_support import staged_rows

from sources.values import MERGED, NON_RECALCULABLE, SECRET, SPLIT


def test_codes_valid_on_older_first_januaries_follow_from_the_events(geo):
    vendee_loire = lambda codes: sorted(c for c in codes if c[:2] in ("44", "85"))  # noqa: E731
    # 2025: 44100 absorbed into 44088 on 2025-01-01; 85165/85212 restored on 2024-01-01
    assert vendee_loire(geo.communes_at(2025)) == [
        "44043",
        "44064",
        "44071",
        "44088",
        "44142",
        "85020",
        "85084",
        "85113",
        "85133",
        "85162",
        "85165",
        "85212",
        "85303",
    ]
    # 2024: Monnières still exists
    assert "44100" in geo.communes_at(2024) and {"85165", "85212"} <= geo.communes_at(2024)
    # 2021: L'Oie and Sainte-Florence were inside Essarts-en-Bocage (2016-2023)
    assert not {"85165", "85212"} & geo.communes_at(2021)
    # 2015: before the 2016 commune nouvelle, Boulogne (85030) existed too
    assert {"85030", "85165", "85212", "85084"} <= geo.communes_at(2015)


def test_passage_and_changes(geo):
    passage = geo.passage(2021)
    assert passage["44100"] == ("44088",)
    assert passage["85084"] == ("85084", "85165", "85212")
    assert passage["44043"] == ("44043",)
    kinds = {c.old: c.kind for c in geo.changes(2021)}
    assert kinds == {"44088": MERGED, "44100": MERGED, "85084": SPLIT}
    assert geo.changes(2025) == []


def test_merge_sums_counts_and_nulls_non_additive_values(geo):
    rows = staged_rows(
        [
            ("t", "1", "COM", "44088", 2021, None, "POP", 3000.0, None, None, 2024),
            ("t", "1", "COM", "44100", 2021, None, "POP", 2000.0, None, None, 2024),
            ("t", "1", "COM", "44088", 2021, None, "MED", 22000.0, None, None, 2024),
            ("t", "1", "COM", "44100", 2021, None, "MED", 21000.0, None, None, 2024),
            ("t", "1", "COM", "44088", 2021, None, "NB", 10.0, None, None, 2024),
            ("t", "1", "COM", "44100", 2021, None, "NB", None, SECRET, None, 2024),
            ("t", "1", "COM", "44043", 2021, None, "POP", 7000.0, None, None, 2024),
            ("t", "1", "ARM", "75101", 2021, None, "POP", 16000.0, None, None, 2024),
        ]
    )
    out, changes = geo.harmonise(rows, additive={"POP", "NB"})
    got = {(r["code"], r["variable"]): (r["value"], r["status"], r["geo_change"]) for r in out.iter_rows(named=True)}
    assert got[("44088", "POP")] == (5000.0, None, MERGED)  # 3000 + 2000
    assert got[("44088", "MED")] == (None, NON_RECALCULABLE, MERGED)  # a median is not additive
    assert got[("44088", "NB")] == (None, SECRET, MERGED)  # 10 + secret is unknown, never 10
    assert got[("44043", "POP")] == (7000.0, None, None)
    assert got[("75101", "POP")] == (16000.0, None, None)
    assert ("44100", "POP") not in got
    assert {c.old for c in changes} == {"44088", "44100"}


def test_split_keeps_the_parent_sum_for_aggregates_and_invents_nothing(geo):
    rows = staged_rows(
        [
            ("t", "1", "COM", "85084", 2020, 12, "N", 900.0, None, None, 2021),
            ("t", "1", "COM", "85084", 2020, 12, "RATE", 12.5, None, None, 2021),
        ]
    )
    out, _ = geo.harmonise(rows, additive={"N"})
    got = {(r["code"], r["variable"]): (r["value"], r["status"], r["geo_change"]) for r in out.iter_rows(named=True)}
    # the parent keeps the count of the three communes, flagged: valid above the commune only
    assert got[("85084", "N")] == (900.0, None, SPLIT)
    assert got[("85165", "N")] == (None, NON_RECALCULABLE, SPLIT)
    assert got[("85212", "N")] == (None, NON_RECALCULABLE, SPLIT)
    assert got[("85084", "RATE")] == (None, NON_RECALCULABLE, SPLIT)


def test_membership_of_the_target_cog(geo):
    m = {r["code"]: r for r in geo.membership().iter_rows(named=True)}
    assert m["49099"]["epci"] == "200071678" and m["49099"]["dep"] == "49"
    assert m["85113"]["epci"] is None  # L'Île-d'Yeu: ZZZZZZZZZ, in no EPCI
    assert m["01001"]["name"] == "L'Abergement-Clémenciat"  # leading zero kept, even from a numeric xlsx cell
    assert "75101" not in m  # arrondissements are not communes


@pytest.mark.parametrize("cog", [2021, 2024, 2025])
def test_known_codes_include_arrondissements_and_pseudo_codes(geo, cog):
    known = geo.known_codes({cog})[cog]
    assert {"75101", "75120", "69381", "693XX", "132XX"} <= known["ARM"]


def _geography(events: list[tuple], communes: list[str]):
    """A small geography of `communes` (COG 2025) and `events` (MOD, date, code before, code after)."""
    from datetime import date

    from sources.geography import Geography

    frame = pl.DataFrame(
        [(m, date.fromisoformat(d), "COM", av, None, "COM", ap, None) for m, d, av, ap in events],
        schema={
            "mod": pl.Int32,
            "date": pl.Date,
            "typecom_av": pl.String,
            "code_av": pl.String,
            "name_av": pl.String,
            "typecom_ap": pl.String,
            "code_ap": pl.String,
            "name_ap": pl.String,
        },
        orient="row",
    )
    com = pl.DataFrame(
        {
            "typecom": "COM",
            "code": communes,
            "dep": [c[:2] for c in communes],
            "reg": "52",
            "name": communes,
            "parent": None,
        },
        schema_overrides={"parent": pl.String},
    )
    return Geography(com, frame, pl.DataFrame(), 2025)


def test_a_chain_of_events_the_same_day_is_followed_to_its_end():
    # 49144 changes département (MOD 41) to 44225, which merges into 44180 (MOD 32), both on 2023-01-01
    g = _geography(
        [
            (41, "2023-01-01", "49144", "44225"),
            (32, "2023-01-01", "44225", "44180"),
            (32, "2023-01-01", "44180", "44180"),
        ],
        ["44180", "44999"],
    )
    assert g.communes_at(2022) == {"49144", "44180", "44999"}  # 44225 never existed on a 1 January
    assert g.passage(2022)["49144"] == ("44180",)
    rows = staged_rows(
        [
            ("t", "1", "COM", "49144", 2021, None, "N", 100.0, None, None, 2022),
            ("t", "1", "COM", "44180", 2021, None, "N", 1000.0, None, None, 2022),
        ]
    )
    out, _ = g.harmonise(rows, additive={"N"})
    assert out.filter(pl.col("code") == "44180")["value"].to_list() == [1100.0]  # 100 + 1000


def test_a_merger_with_a_partner_absent_from_the_file_is_not_a_partial_sum(geo):
    # a file of big communes only: 44088 is there, 44100 (merged into it on 2025-01-01) is not
    rows = staged_rows([("t", "1", "COM", "44088", 2023, None, "PLACES", 400.0, None, None, 2024)])
    out, _ = geo.harmonise(rows, additive={"PLACES"})
    assert out.select("code", "value", "status", "geo_change").rows() == [("44088", None, "not_available", MERGED)]


def test_every_commune_feeding_a_split_parent_is_counted():
    # 2022: 85030 merges into 85084; 2024: 85084 restores 85165. Data of COG 2021: 85084 = 1000, 85030 = 30
    g = _geography(
        [
            (32, "2022-01-01", "85030", "85084"),
            (32, "2022-01-01", "85084", "85084"),
            (21, "2024-01-01", "85084", "85084"),
            (21, "2024-01-01", "85084", "85165"),
        ],
        ["85084", "85165"],
    )
    rows = staged_rows(
        [
            ("t", "1", "COM", "85084", 2020, None, "N", 1000.0, None, None, 2021),
            ("t", "1", "COM", "85030", 2020, None, "N", 30.0, None, None, 2021),
        ]
    )
    out, _ = g.harmonise(rows, additive={"N"})
    got = {r["code"]: (r["value"], r["status"]) for r in out.iter_rows(named=True)}
    assert got == {"85084": (1030.0, None), "85165": (None, NON_RECALCULABLE)}  # 1000 + 30, nothing invented


def test_a_status_is_kept_where_a_group_of_one_row_would_keep_it():
    from sources.geography import _commune_cogs, _status_as_grouped

    rows = pl.DataFrame(
        {
            "level": ["ARM", "COM", "COM", "COM", "EPCI"],
            "code": ["75101", "01001", "01002", "01003", "200000172"],
            "cog": [2025, 2021, 2022, 2021, 2020],
            "value": [None, 5.0, None, 7.0, 1.0],
            "status": ["secret", "secret", "missing", None, "secret"],
        }
    )
    # a commune's status only where its value is null; other levels keep theirs
    kept = rows.with_columns(**_status_as_grouped(rows))["status"].to_list()
    assert kept == ["secret", None, "missing", None, "secret"]
    assert _status_as_grouped(rows.with_columns(status=pl.lit(None, pl.String))) == {}
    # the communes' COGs: 2021 and 2022, not the arrondissement's 2025 nor the EPCI's 2020
    for presorted in (True, False):
        assert sorted(_commune_cogs(rows, presorted=presorted)) == [2021, 2022]
