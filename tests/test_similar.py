"""Similar territories chosen from a hand-made set of EPCIs."""

from __future__ import annotations

import polars as pl

from reports.similar import HOW_GIVEN, Profile, choose, similar_territories, size_class

# (SIREN, name, population, communes, région): the target has 12 000 inhabitants in 10 communes (1 200 each)
EPCIS = [
    ("200000001", "Cible", 12_000, 10, "52"),
    ("200000002", "Jumelle lointaine", 12_000, 10, "75"),  # identical, but another région
    ("200000003", "Proche même région", 13_000, 10, "52"),  # ln(13/12)=0.080, 1 300/commune: 0.080 -> 0.160
    ("200000004", "Urbaine même région", 12_500, 2, "52"),  # ln(12.5/12)=0.041, 6 250/commune: 1.650 -> 1.691
    ("200000005", "Trop grande", 16_000, 10, "52"),  # 16 000: another size class (15 000 to 30 000)
    ("200000006", "Rurale même région", 9_000, 12, "52"),  # ln(12/9)=0.288, 750/commune: ln(1200/750)=0.470 -> 0.758
]


def hand_made() -> tuple[pl.DataFrame, pl.DataFrame]:
    table = pl.DataFrame(
        {
            "level": ["EPCI"] * len(EPCIS),
            "code": [e[0] for e in EPCIS],
            "name": [e[1] for e in EPCIS],
            "indicator": ["population"] * len(EPCIS),
            "value": [float(e[2]) for e in EPCIS],
            "status": [None] * len(EPCIS),
        },
        schema_overrides={"status": pl.String},
    )
    membership = pl.DataFrame(
        [
            {"code": f"{n:02d}{k:03d}", "name": f"C{n}-{k}", "dep": "85", "reg": e[4], "epci": e[0]}
            for n, e in enumerate(EPCIS)
            for k in range(e[3])
        ]
    )
    return table, membership


def test_size_classes():
    assert size_class(14_999) == "moins de 15 000 habitants"
    assert size_class(15_000) == "de 15 000 à 30 000 habitants"


def test_the_same_size_class_the_same_region_first_then_the_closest():
    table, membership = hand_made()
    found = similar_territories(table, membership, "EPCI", "200000001")
    # same région first by distance (0.160, 0.758, 1.691), then the other région; "Trop grande" excluded
    assert [p.name for p in found.others] == [
        "Proche même région",
        "Rurale même région",
        "Urbaine même région",
        "Jumelle lointaine",
    ]
    assert "moins de 15 000 habitants" in found.how and "densité n'est pas utilisée" in found.how
    assert found.cell(found.territory, "population")["value"] == 12_000


def test_at_most_count_and_none_without_a_population():
    target = Profile("EPCI", "1", "Cible", 12_000, 10, "52")
    others = [Profile("EPCI", str(n), f"E{n}", 12_000 + n, 10, "52") for n in range(2, 9)]
    assert [p.code for p in choose(target, others, count=2)] == ["2", "3"]  # 12 002 and 12 003: the closest
    assert choose(Profile("EPCI", "1", "Cible", None, 10, "52"), others) == []


def test_a_list_given_by_the_user_is_kept_in_its_order():
    table, membership = hand_made()
    found = similar_territories(table, membership, "EPCI", "200000001", given=("200000005", "200000002"))
    assert [p.name for p in found.others] == ["Trop grande", "Jumelle lointaine"]
    assert found.how == HOW_GIVEN


def test_a_commune_or_a_departement_is_not_compared_with_epcis():
    table, membership = hand_made()
    assert similar_territories(table, membership, "COM", "00001") is None
    assert similar_territories(table, membership, "DEP", "85") is None


def test_a_group_of_communes_is_compared_by_its_own_communes_and_region():
    table, membership = hand_made()
    # a group of 6 communes of the target EPCI (région 52), 7 200 inhabitants: 1 200 per commune like the target
    group = tuple(f"00{k:03d}" for k in range(6))
    table = pl.concat(
        [
            table,
            pl.DataFrame(
                {
                    "level": ["TERRITORY"],
                    "code": ["TERRITOIRE"],
                    "name": ["Groupe"],
                    "indicator": ["population"],
                    "value": [7_200.0],
                    "status": [None],
                },
                schema_overrides={"status": pl.String},
            ),
        ]
    )
    found = similar_territories(table, membership, "TERRITORY", "TERRITOIRE", communes=group)
    assert (found.territory.communes, found.territory.region) == (6, "52")
    # same class (under 15 000); distances from 7 200 and 1 200/commune: Cible ln(12/7.2)=0.511+0 -> 0.511;
    # Rurale ln(9/7.2)=0.223 + ln(1200/750)=0.470 -> 0.693; Proche ln(13/7.2)=0.591+0.080 -> 0.671;
    # Urbaine ln(12.5/7.2)=0.552+1.650 -> 2.202; then Jumelle lointaine (another région)
    assert [p.name for p in found.others] == [
        "Cible",
        "Proche même région",
        "Rurale même région",
        "Urbaine même région",
        "Jumelle lointaine",
    ]
