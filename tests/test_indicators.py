"""The indicator engine on a tiny hand-made world whose every value was computed by hand.

Six communes of the target COG in two départements and two EPCIs:

    code   name      dep  EPCI        what it tests
    44001  Alpha     44   E1          a big commune: CAF publishes its coverage and places
    44002  Bravo     44   E1          merged since the data's geography: counts summed, Filosofi non_recalculable
    44003  Charlie   44   E1          parent of a restored commune: its census row covers Delta too (`split`)
    44004  Delta     44   E1          restored: census null non_recalculable (`split`), own births and CAF rows
    44005  Echo      44   (none)      no EPCI, Filosofi secret, too few families (not_significant)
    75056  Paris     75   E2          arrondissements 75101/75102 at level ARM in every source (never counted)

E1 = 200000001 (Alpha, Bravo, Charlie, Delta), E2 = 200054781 (Paris). The custom territory is Alpha + Bravo + Echo.
Census: main year 2022 (vintage), comparison 2016 (2011 rows exist and must be ignored: 2016 is the latest year at
least five years before 2022), so growth rates are over n = 6 years. Births and deaths 2016-2022: the natural
balance sums 2016..2021. CAF benefits December 2024 (2023 rows exist, with other values, and must be ignored);
Filosofi 2021; CAF coverage and places 2023 (2022 rows ignored).

Notation in the comments: A, B, C, D, E, P are the communes' values of the variable named.
E1 sums A + B + C for census counts (Delta's census row is inside Charlie's) and A + B + C + D for births and CAF
counts (published in the current geography); the custom territory T sums A + B + E; DEP 44 sums A + B + C (+ D) + E;
France adds P (never the arrondissements).
"""

from __future__ import annotations

import polars as pl
import pytest

from sources.values import MERGED, NON_RECALCULABLE, NOT_AVAILABLE, SECRET, SPLIT, STAGED_SCHEMA
from transforms import reasons as R
from transforms.compare import PRIORITY, VIGILANCE
from transforms.compute import Inputs, aggregate, commune_values, compute
from transforms.pipeline import diagnostic_table
from transforms.registry import get, indicators
from transforms.territories import FRANCE, CustomTerritory, groups

ALPHA, BRAVO, CHARLIE, DELTA, ECHO, PARIS = "44001", "44002", "44003", "44004", "44005", "75056"
E1, E2 = "200000001", "200054781"
ARMS = {"75101": 0.4, "75102": 0.6}  # Paris's arrondissements: 40 % and 60 % of the city's figures
TERRITORY = CustomTerritory("Territoire test", (ALPHA, BRAVO, ECHO))

MEMBERSHIP = pl.DataFrame(
    {
        "code": [ALPHA, BRAVO, CHARLIE, DELTA, ECHO, PARIS],
        "name": ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Paris"],
        "dep": ["44", "44", "44", "44", "44", "75"],
        "reg": ["52", "52", "52", "52", "52", "11"],
        "epci": [E1, E1, E1, E1, None, E2],
    },
    schema={"code": pl.String, "name": pl.String, "dep": pl.String, "reg": pl.String, "epci": pl.String},
)

# -- census counts per commune: (Alpha, Bravo, Charlie, Echo, Paris); Delta's rows are null non_recalculable -----
CENSUS_2022 = {
    "rp_population": {
        "P_POP": (20000, 3000, 2000, 1000, 40000),
        "P_POP0002": (600, 120, 40, 20, 1200),
        "P_POP0305": (700, 100, 80, 40, 1000),
        "P_POP0610": (1200, 200, 120, 60, 1800),
        "P_POP1117": (1600, 250, 160, 70, 2400),
        "P_POP1824": (1800, 200, 140, 50, 4800),
        "P_POP0019": (5000, 700, 500, 200, 8000),
        "P_POP6074": (3000, 500, 300, 200, 6000),
        "P_POP75P": (1500, 300, 200, 100, 3000),
        "P_POP80P": (1000, 200, 100, 80, 2000),
        "P_POP65P": (4000, 700, 450, 250, 8000),
    },
    "rp_families": {
        "C_FAM": (5000, 800, 500, 25, 9000),
        "C_FAMMONO": (1000, 100, 100, 5, 2000),
        "C_COUPAENF": (2000, 400, 200, 10, 3000),
        "C_NE24F3": (300, 60, 30, 2, 400),
        "C_NE24F4P": (100, 20, 10, 1, 200),
        "C_MEN": (8000, 1200, 800, 400, 20000),
        "C_MENPSEUL": (2400, 300, 200, 100, 10000),
        "P_POP80P": (1000, 200, 100, 80, 2000),
        "P_POP80P_PSEUL": (400, 60, 40, 30, 1000),
    },
    "rp_housing": {
        "P_MEN": (8000, 1200, 800, 400, 20000),
        "P_PMEN": (19000, 2880, 1920, 960, 38000),
        "P_RP": (8000, 1200, 800, 400, 20000),
        "P_RP_PROP": (4000, 900, 600, 300, 6000),
        "P_RP_LOC": (3800, 280, 180, 90, 13000),
        "P_RP_LOCHLMV": (1600, 60, 20, 0, 4000),
        "P_LOG": (9000, 1500, 1000, 500, 24000),
        "P_LOGVAC": (600, 150, 100, 50, 2000),
        "C_RP_SUROCC_MOD": (400, 40, 20, 10, 2000),
        "C_RP_SUROCC_ACC": (80, 8, 4, 2, 600),
        "P_RP_VOIT1P": (7200, 1140, 780, 390, 10000),
    },
    "rp_employment": {
        "P_ACT1564": (10000, 1500, 1000, 500, 22000),
        "P_CHOM1564": (1500, 120, 60, 40, 2640),
        "P_F1564": (6000, 900, 600, 300, 13000),
        "P_FACT1564": (4500, 690, 450, 220, 9100),
        "P_FACTOCC1564": (4000, 640, 420, 200, 8000),
    },
    "rp_education": {
        "P_POP1824": (1800, 200, 140, 50, 4800),
        "P_SCOL1824": (900, 60, 40, 10, 3600),
        "P_NSCOL15P": (14000, 2200, 1500, 800, 28000),
        "P_NSCOL15P_DIPLMIN": (2800, 550, 300, 200, 4200),
    },
}
# The comparison year carries only some variables (as real files do): the others have no evolution (not_available).
CENSUS_2016 = {
    "rp_population": {
        "P_POP": (19000, 2900, 1600, 1100, 42000),
        "P_POP0002": (500, 90, 40, 30, 1400),
        "P_POP75P": (1300, 250, 150, 100, 2800),
        "P_POP0019": (5200, 700, 400, 250, 8400),
        "P_POP6074": (2800, 450, 250, 200, 5600),
    },
    "rp_families": {  # no C_NE24F3 / C_NE24F4P that year: large families have no evolution
        "C_FAM": (4800, 780, 480, 30, 9200),
        "C_COUPAENF": (2100, 400, 210, 12, 3100),
        "C_FAMMONO": (900, 90, 90, 5, 1900),
    },
    "rp_housing": {
        "P_RP": (7600, 1100, 700, 400, 19000),
        "P_LOG": (8500, 1400, 900, 480, 23000),
        "P_LOGVAC": (425, 140, 90, 48, 2300),
        # the older overcrowding definition is in the file, but the indicator refuses an evolution
        "C_RP_SUROCC_MOD": (300, 30, 20, 10, 1800),
        "C_RP_SUROCC_ACC": (60, 6, 4, 2, 500),
    },
}
CENSUS_2011 = {"rp_population": {"P_POP": (18000, 2800, 1500, 1200, 43000)}}

# -- births and deaths per year 2016-2021 (Alpha, Bravo, Charlie, Delta, Echo, Paris): the current geography ------
BIRTHS = (250, 30, 20, 5, 10, 500)
BIRTHS_2022 = (240, 30, 20, 5, 10, 480)
DEATHS = (150, 30, 25, 5, 15, 300)

# -- CAF benefits, December 2024 (Alpha, Bravo, Charlie, Delta, Echo, Paris) ---------------------------------------
CAF_2024 = {
    "indfoy_ndur": (3000, 400, 300, 100, 100, 8000),
    "indfoy_ndurpaje": (600, 100, 60, 20, 20, 1200),
    "indfoy_cmg": (300, 60, 30, 10, 10, 800),
    "indfoy_prepare": (30, 5, 5, 0, 0, 80),
    "indfoy_af": (1000, 150, 100, 30, 30, 2000),
    "indfoy_cf": (200, 30, 20, 5, 5, 400),
    "indfoy_asf": (250, 20, 15, 5, 5, 900),
    "indfoy_rsa": (400, 30, 20, 5, 10, 1600),
    "indfoy_ppa": (800, 90, 60, 20, 30, 2400),
    "indfoy_ndural": (1200, 100, 60, 20, 30, 5000),
    "indnbp_ndur": (8000, 1000, 700, 250, 250, 18000),
    "indfoy_ndurins": (1000, 100, 70, 25, 35, 3500),
}

# -- home-work flows of the 2022 census (Alpha, Bravo, Charlie, Delta, Echo, Paris): the current geography ----------
MOBILITY_2022 = {
    "ACTOCC": (9000, 1300, 900, 300, 400, 20000),
    "ACTOCC_LIEU_CONNU": (8800, 1300, 880, 300, 400, 19500),
    "ACTOCC_MEME_COM": (4400, 300, 200, 50, 250, 15000),
    "ACTOCC_HORS_EPCI": (2200, 200, 100, 30, 150, 1950),
    "ACTOCC_ETRANGER": (88, 0, 10, 0, 4, 195),
}

# -- published figures ---------------------------------------------------------------------------------------------
FILOSOFI_VARIABLES = ("MED", "TP60", "RD", "PIMP", "PPSOC")
FILOSOFI = {  # (level, code): MED, TP60, RD, PIMP, PPSOC
    ("COM", ALPHA): (22000, 15.4, 3.1, 50.0, 6.0),
    ("COM", PARIS): (28000, 16.0, 6.0, 70.0, 5.0),
    ("ARM", "75101"): (31000, 12.0, 7.0, 75.0, 4.0),
    ("ARM", "75102"): (26000, 18.0, 5.0, 66.0, 5.7),
    ("EPCI", E1): (23000, 16.0, 2.9, 55.0, 5.0),
    ("EPCI", E2): (28000, 16.0, 6.0, 70.0, 5.0),
    ("DEP", "44"): (22500, 14.0, 3.0, 54.0, 5.5),
    ("DEP", "75"): (28000, 16.0, 6.0, 70.0, 5.0),
    ("FRANCE", FRANCE): (23000, 14.0, 3.4, 52.0, 5.2),
}
FILOSOFI_NULL = {  # commune: (status, geo_change)
    BRAVO: (NON_RECALCULABLE, MERGED),  # a median of merged communes cannot be recomputed
    CHARLIE: (NON_RECALCULABLE, SPLIT),  # parent of a restored commune
    DELTA: (NOT_AVAILABLE, None),  # Filosofi's `nd`
    ECHO: (SECRET, None),  # Filosofi's `s`
}
COVERAGE_VARIABLES = ("txcouv", "txcouv_eaje", "txcouv_am_ind", "txcouv_gad_ind", "txcouv_prescol")
COVERAGE = {  # source, level, code: txcouv, eaje, assistants maternels, garde à domicile, préscolarisation (2023)
    ("caf_coverage_com", "COM", ALPHA): (47, 20, 20, 2, 3),
    ("caf_coverage_com", "ARM", "75101"): (80, 50, 10, 16, 4),  # Paris: arrondissements only, no city row
    ("caf_coverage_com", "ARM", "75102"): (70, 40, 10, 14, 6),
    ("caf_coverage_epci", "EPCI", E1): (40, 15, 20, 1, 4),
    ("caf_coverage_epci", "EPCI", E2): (75, 45, 10, 15, 5),
    ("caf_coverage_dep", "DEP", "44"): (50, 18, 28, 1.5, 2.5),
    ("caf_coverage_dep", "DEP", "75"): (75, 45, 10, 15, 5),
    ("caf_coverage_nat", "FRANCE", FRANCE): (60, 22, 30, 3, 5),
}
PLACES = {  # tot_offre 2023; the DEP file covers all départements (49 is outside this world)
    ("caf_places_com", "COM", ALPHA): 800,
    ("caf_places_com", "COM", PARIS): 3000,
    ("caf_places_com", "ARM", "75101"): 1200,
    ("caf_places_com", "ARM", "75102"): 1800,
    ("caf_places_epci", "EPCI", E1): 1000,
    ("caf_places_epci", "EPCI", E2): 3000,
    ("caf_places_dep", "DEP", "44"): 1100,
    ("caf_places_dep", "DEP", "75"): 3000,
    ("caf_places_dep", "DEP", "49"): 500,
}


# -- staging the world in the exact staged schema -------------------------------------------------------------------


def _frame(source: str, rows: list[tuple]) -> pl.DataFrame:
    """rows: (level, code, year, month, variable, value, status, geo_change)."""
    return pl.DataFrame([(source, "test", *r) for r in rows], schema=STAGED_SCHEMA, orient="row")


def _census_rows(tables: dict[str, dict[str, tuple]], year: int, source: str) -> list[tuple]:
    rows = []
    for variable, (a, b, c, e, p) in tables.get(source, {}).items():
        rows += [
            ("COM", ALPHA, year, None, variable, float(a), None, None),
            ("COM", BRAVO, year, None, variable, float(b), None, MERGED),
            ("COM", CHARLIE, year, None, variable, float(c), None, SPLIT),
            ("COM", DELTA, year, None, variable, None, NON_RECALCULABLE, SPLIT),
            ("COM", ECHO, year, None, variable, float(e), None, None),
            ("COM", PARIS, year, None, variable, float(p), None, None),
        ]
        rows += [("ARM", arm, year, None, variable, p * share, None, None) for arm, share in ARMS.items()]
    return rows


def _per_commune(variable: str, year: int, values: tuple, month: int | None = None) -> list[tuple]:
    codes = (ALPHA, BRAVO, CHARLIE, DELTA, ECHO, PARIS)
    rows = [("COM", code, year, month, variable, float(v), None, None) for code, v in zip(codes, values)]
    return rows + [("ARM", arm, year, month, variable, values[-1] * share, None, None) for arm, share in ARMS.items()]


def world_staged() -> dict[str, pl.DataFrame]:
    staged = {}
    for source in CENSUS_2022:
        staged[source] = _frame(
            source,
            _census_rows(CENSUS_2022, 2022, source)
            + _census_rows(CENSUS_2016, 2016, source)
            + _census_rows(CENSUS_2011, 2011, source),
        )
    for source, variable, yearly, last in (("births", "NAIS", BIRTHS, BIRTHS_2022), ("deaths", "DECE", DEATHS, DEATHS)):
        rows = [r for year in range(2016, 2022) for r in _per_commune(variable, year, yearly)]
        rows += _per_commune(variable, 2022, last)
        # the publisher's own totals: never read, the engine sums the communes of the target COG
        rows += [
            ("DEP", "44", 2022, None, variable, 99999.0, None, None),
            ("FRANCE", FRANCE, 2022, None, variable, 700000.0, None, None),
        ]
        staged[source] = _frame(source, rows)
    caf = []
    for variable, values in CAF_2024.items():
        caf += _per_commune(variable, 2024, values, month=12)
        caf += _per_commune(variable, 2023, tuple(2 * v for v in values), month=12)  # an older December
    staged["caf_benefits"] = _frame("caf_benefits", caf)
    staged["mobility"] = _frame(
        "mobility", [r for v, values in MOBILITY_2022.items() for r in _per_commune(v, 2022, values)]
    )
    filosofi = []
    for (level, code), values in FILOSOFI.items():
        filosofi += [(level, code, 2021, None, v, float(x), None, None) for v, x in zip(FILOSOFI_VARIABLES, values)]
    for code, (status, change) in FILOSOFI_NULL.items():
        filosofi += [("COM", code, 2021, None, v, None, status, change) for v in FILOSOFI_VARIABLES]
    staged["filosofi"] = _frame("filosofi", filosofi)
    for (source, level, code), values in COVERAGE.items():
        rows = [
            (level, code, year, None, v, float(x) + (10 if year == 2022 else 0), None, None)
            for year in (2022, 2023)
            for v, x in zip(COVERAGE_VARIABLES, values)
        ]
        staged[source] = pl.concat([staged[source], _frame(source, rows)]) if source in staged else _frame(source, rows)
    for (source, level, code), value in PLACES.items():
        rows = [
            (level, code, year, None, "tot_offre", float(value) + (7 if year == 2022 else 0), None, None)
            for year in (2022, 2023)
        ]
        staged[source] = pl.concat([staged[source], _frame(source, rows)]) if source in staged else _frame(source, rows)
    return staged


def world_inputs(staged: dict[str, pl.DataFrame] | None = None) -> Inputs:
    staged = staged if staged is not None else world_staged()
    vintages = {s: "2022" for s in CENSUS_2022} | {
        "births": "2024",
        "deaths": "2024",
        "caf_benefits": "2024",
        "filosofi": "2021",
        "mobility": "2022",
    }
    vintages |= {s: "2024" for s in staged if s.startswith("caf_")}
    return Inputs(
        staged=staged,
        vintages=vintages,
        membership=MEMBERSHIP,
        epci_names={E1: "CC de Test", E2: "Métropole du Grand Paris"},
        dep_names={"44": "Loire-Atlantique"},
    )


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return diagnostic_table(None, (TERRITORY,), inputs=world_inputs())


def rows_of(table: pl.DataFrame, level: str, code: str) -> dict[str, dict]:
    rows = table.filter((pl.col("level") == level) & (pl.col("code") == code))
    return {r["indicator"]: r for r in rows.iter_rows(named=True)}


def check(rows: dict[str, dict], expected: dict[str, object]) -> None:
    """expected: a number (published value, status null), a reason (value null) or (value, reason)."""
    problems = []
    for ind, want in expected.items():
        row = rows[ind]
        if isinstance(want, str):
            value, status = None, want
        elif isinstance(want, tuple):
            value, status = want
        else:
            value, status = want, None
        got_value = row["value"]
        same = (got_value is None and value is None) or (
            got_value is not None and value is not None and got_value == pytest.approx(value, rel=1e-9)
        )
        if not same or row["status"] != status:
            problems.append(f"{ind}: got ({got_value}, {row['status']}), expected ({value}, {status})")
    assert not problems, "\n".join(problems)


NAS = R.NOT_AGGREGABLE
GROWTH = "((main / comparison) ** (1 / 6) - 1) * 100"

# Every indicator of EPCI E1 (Alpha + Bravo + Charlie for the census, + Delta for births and CAF).
EPCI_E1 = {
    "population": 20000 + 3000 + 2000,
    "croissance_annuelle": ((25000 / (19000 + 2900 + 1600)) ** (1 / 6) - 1) * 100,  # 25000 / 23500 over 6 years
    # births - deaths per year: (250 + 30 + 20 + 5) - (150 + 30 + 25 + 5) = 95, six years 2016..2021, mean pop 24250
    "croissance_solde_naturel": 95 * 6 / 6 / ((25000 + 23500) / 2) * 100,
    "croissance_solde_migratoire": ((25000 / 23500) ** (1 / 6) - 1) * 100 - 95 / 24250 * 100,
    "naissances": 240 + 30 + 20 + 5,  # 2022, the births' latest year
    "indice_jeunesse": 100 * (5000 + 700 + 500) / ((3000 + 500 + 300) + (1500 + 300 + 200)),  # 6200 / 5800
    "part_0002": 100 * (600 + 120 + 40) / 25000,
    "part_0305": 100 * (700 + 100 + 80) / 25000,
    "part_0610": 100 * (1200 + 200 + 120) / 25000,
    "part_1117": 100 * (1600 + 250 + 160) / 25000,
    "part_1824": 100 * (1800 + 200 + 140) / 25000,
    "part_familles_monoparentales": 100 * (1000 + 100 + 100) / ((2000 + 400 + 200) + 1200),  # 1200 / 3800
    "part_familles_nombreuses": 100 * (300 + 60 + 30 + 100 + 20 + 10) / (5000 + 800 + 500),  # 520 / 6300
    "part_couples_avec_enfants": 100 * (2000 + 400 + 200) / 6300,
    "part_menages_une_personne": 100 * (2400 + 300 + 200) / (8000 + 1200 + 800),  # 2900 / 10000
    "taille_moyenne_menages": (19000 + 2880 + 1920) / 10000,  # 2.38 persons per household
    "enfants_moins_3_ans": 600 + 120 + 40,
    "taux_couverture_global": 40,  # the CAF's EPCI file, 2023
    "taux_couverture_eaje": 15,
    "taux_couverture_assmat": 20,
    "taux_couverture_domicile": 1,
    "taux_couverture_prescolarisation": 4,
    "places_accueil_jeune_enfant": 1000,
    "foyers_paje": 100 * (600 + 100 + 60 + 20) / (3000 + 400 + 300 + 100),  # 780 / 3800
    "foyers_cmg": 100 * (300 + 60 + 30 + 10) / 3800,
    "foyers_prepare": 100 * (30 + 5 + 5 + 0) / 3800,
    "taux_scolarisation_1824": 100 * (900 + 60 + 40) / (1800 + 200 + 140),  # 1000 / 2140
    "part_non_diplomes": 100 * (2800 + 550 + 300) / (14000 + 2200 + 1500),  # 3650 / 17700
    "foyers_af": 100 * (1000 + 150 + 100 + 30) / 3800,
    "foyers_cf": 100 * (200 + 30 + 20 + 5) / 3800,
    "foyers_asf": 100 * (250 + 20 + 15 + 5) / 3800,
    "revenu_median": 23000,  # Filosofi's EPCI file
    "taux_pauvrete": 16.0,
    "rapport_interdecile": 2.9,
    "part_menages_imposes": 55.0,
    "part_prestations_sociales": 5.0,
    "foyers_rsa": 100 * (400 + 30 + 20 + 5) / (8000 + 1200 + 800),  # CAF (with Delta) / census households
    "foyers_prime_activite": 100 * (800 + 90 + 60 + 20) / 10000,
    "foyers_aide_logement": 100 * (1200 + 100 + 60 + 20) / 10000,
    "taux_chomage_rp": 100 * (1500 + 120 + 60) / (10000 + 1500 + 1000),  # 1680 / 12500 = 13.44
    "taux_activite_femmes": 100 * (4500 + 690 + 450) / (6000 + 900 + 600),
    "taux_emploi_femmes": 100 * (4000 + 640 + 420) / 7500,
    "part_proprietaires": 100 * (4000 + 900 + 600) / 10000,
    "part_locataires": 100 * (3800 + 280 + 180) / 10000,
    "part_locataires_hlm": 100 * (1600 + 60 + 20) / 10000,
    "taux_vacance": 100 * (600 + 150 + 100) / (9000 + 1500 + 1000),  # 850 / 11500
    "part_suroccupation": 100 * (400 + 40 + 20 + 80 + 8 + 4) / 10000,
    "part_menages_sans_voiture": 100 * (10000 - (7200 + 1140 + 780)) / 10000,  # 8.8
    "indice_vieillissement": 100 * (4000 + 700 + 450) / 6200,
    "part_75p": 100 * 2000 / 25000,
    "part_80p": 100 * (1000 + 200 + 100) / 25000,
    "part_80p_seuls": 100 * (400 + 60 + 40) / (1000 + 200 + 100),
    "foyers_allocataires": 100 * 3800 / 10000,
    "population_couverte_caf": 100 * (8000 + 1000 + 700 + 250) / 25000,
    "foyers_minima_insertion": 100 * (1000 + 100 + 70 + 25) / 3800,
    # Alpha + Bravo + Charlie + Delta (flows are in the current geography): 11280 workers with a known place
    "part_actifs_hors_commune": 100 * ((8800 + 1300 + 880 + 300) - (4400 + 300 + 200 + 50)) / 11280,  # 6330
    "part_actifs_hors_epci": 100 * (2200 + 200 + 100 + 30) / 11280,  # 2530
    "part_actifs_etranger": 100 * (88 + 0 + 10 + 0) / 11280,  # 98
}

# Every indicator of Alpha (a commune with all its own figures).
COMMUNE_ALPHA = {
    "population": 20000,
    "croissance_annuelle": ((20000 / 19000) ** (1 / 6) - 1) * 100,
    "croissance_solde_naturel": (250 - 150) / ((20000 + 19000) / 2) * 100,  # 100 a year over a mean of 19500
    "croissance_solde_migratoire": ((20000 / 19000) ** (1 / 6) - 1) * 100 - 100 / 19500 * 100,
    "naissances": 240,
    "indice_jeunesse": 100 * 5000 / (3000 + 1500),
    "part_0002": 100 * 600 / 20000,  # 3.0
    "part_0305": 100 * 700 / 20000,
    "part_0610": 100 * 1200 / 20000,
    "part_1117": 100 * 1600 / 20000,
    "part_1824": 100 * 1800 / 20000,
    "part_familles_monoparentales": 100 * 1000 / (2000 + 1000),
    "part_familles_nombreuses": 100 * (300 + 100) / 5000,  # 8.0
    "part_couples_avec_enfants": 100 * 2000 / 5000,
    "part_menages_une_personne": 100 * 2400 / 8000,
    "taille_moyenne_menages": 19000 / 8000,
    "enfants_moins_3_ans": 600,
    "taux_couverture_global": 47,  # Alpha is in the CAF's communal file
    "taux_couverture_eaje": 20,
    "taux_couverture_assmat": 20,
    "taux_couverture_domicile": 2,
    "taux_couverture_prescolarisation": 3,
    "places_accueil_jeune_enfant": 800,
    "foyers_paje": 100 * 600 / 3000,
    "foyers_cmg": 100 * 300 / 3000,
    "foyers_prepare": 100 * 30 / 3000,
    "taux_scolarisation_1824": 100 * 900 / 1800,
    "part_non_diplomes": 100 * 2800 / 14000,
    "foyers_af": 100 * 1000 / 3000,
    "foyers_cf": 100 * 200 / 3000,
    "foyers_asf": 100 * 250 / 3000,
    "revenu_median": 22000,
    "taux_pauvrete": 15.4,
    "rapport_interdecile": 3.1,
    "part_menages_imposes": 50.0,
    "part_prestations_sociales": 6.0,
    "foyers_rsa": 100 * 400 / 8000,
    "foyers_prime_activite": 100 * 800 / 8000,
    "foyers_aide_logement": 100 * 1200 / 8000,
    "taux_chomage_rp": 100 * 1500 / 10000,
    "taux_activite_femmes": 100 * 4500 / 6000,
    "taux_emploi_femmes": 100 * 4000 / 6000,
    "part_proprietaires": 100 * 4000 / 8000,
    "part_locataires": 100 * 3800 / 8000,
    "part_locataires_hlm": 100 * 1600 / 8000,
    "taux_vacance": 100 * 600 / 9000,
    "part_suroccupation": 100 * (400 + 80) / 8000,
    "part_menages_sans_voiture": 100 * (8000 - 7200) / 8000,
    "indice_vieillissement": 100 * 4000 / 5000,
    "part_75p": 100 * 1500 / 20000,
    "part_80p": 100 * 1000 / 20000,
    "part_80p_seuls": 100 * 400 / 1000,
    "foyers_allocataires": 100 * 3000 / 8000,
    "population_couverte_caf": 100 * 8000 / 20000,
    "foyers_minima_insertion": 100 * 1000 / 3000,
    "part_actifs_hors_commune": 100 * (8800 - 4400) / 8800,  # 50 %
    "part_actifs_hors_epci": 100 * 2200 / 8800,  # 25 %
    "part_actifs_etranger": 100 * 88 / 8800,  # 1 %
}

# Every indicator of the custom territory Alpha + Bravo + Echo: sums, and published figures "non agrégeable".
TERRITORY_ABE = {
    "population": 20000 + 3000 + 1000,
    "croissance_annuelle": ((24000 / (19000 + 2900 + 1100)) ** (1 / 6) - 1) * 100,  # 24000 / 23000
    # (250 + 30 + 10) - (150 + 30 + 15) = 95 a year over a mean population of (24000 + 23000) / 2
    "croissance_solde_naturel": 95 / 23500 * 100,
    "croissance_solde_migratoire": ((24000 / 23000) ** (1 / 6) - 1) * 100 - 95 / 23500 * 100,
    "naissances": 240 + 30 + 10,
    "indice_jeunesse": 100 * (5000 + 700 + 200) / ((3000 + 500 + 200) + (1500 + 300 + 100)),  # 5900 / 5600
    "part_0002": 100 * (600 + 120 + 20) / 24000,
    "part_0305": 100 * (700 + 100 + 40) / 24000,
    "part_0610": 100 * (1200 + 200 + 60) / 24000,
    "part_1117": 100 * (1600 + 250 + 70) / 24000,
    "part_1824": 100 * (1800 + 200 + 50) / 24000,
    "part_familles_monoparentales": 100 * (1000 + 100 + 5) / ((2000 + 400 + 10) + 1105),  # 1105 / 3515
    "part_familles_nombreuses": 100 * (300 + 60 + 2 + 100 + 20 + 1) / (5000 + 800 + 25),  # 483 / 5825
    "part_couples_avec_enfants": 100 * (2000 + 400 + 10) / 5825,
    "part_menages_une_personne": 100 * (2400 + 300 + 100) / (8000 + 1200 + 400),
    "taille_moyenne_menages": (19000 + 2880 + 960) / 9600,
    "enfants_moins_3_ans": 600 + 120 + 20,
    "taux_couverture_global": NAS,
    "taux_couverture_eaje": NAS,
    "taux_couverture_assmat": NAS,
    "taux_couverture_domicile": NAS,
    "taux_couverture_prescolarisation": NAS,
    "places_accueil_jeune_enfant": NAS,
    "foyers_paje": 100 * (600 + 100 + 20) / (3000 + 400 + 100),  # 720 / 3500
    "foyers_cmg": 100 * (300 + 60 + 10) / 3500,
    "foyers_prepare": 100 * (30 + 5 + 0) / 3500,
    "taux_scolarisation_1824": 100 * (900 + 60 + 10) / (1800 + 200 + 50),
    "part_non_diplomes": 100 * (2800 + 550 + 200) / (14000 + 2200 + 800),
    "foyers_af": 100 * (1000 + 150 + 30) / 3500,
    "foyers_cf": 100 * (200 + 30 + 5) / 3500,
    "foyers_asf": 100 * (250 + 20 + 5) / 3500,
    "revenu_median": NAS,
    "taux_pauvrete": NAS,
    "rapport_interdecile": NAS,
    "part_menages_imposes": NAS,
    "part_prestations_sociales": NAS,
    "foyers_rsa": 100 * (400 + 30 + 10) / (8000 + 1200 + 400),
    "foyers_prime_activite": 100 * (800 + 90 + 30) / 9600,
    "foyers_aide_logement": 100 * (1200 + 100 + 30) / 9600,
    "taux_chomage_rp": 100 * (1500 + 120 + 40) / (10000 + 1500 + 500),
    "taux_activite_femmes": 100 * (4500 + 690 + 220) / (6000 + 900 + 300),
    "taux_emploi_femmes": 100 * (4000 + 640 + 200) / 7200,
    "part_proprietaires": 100 * (4000 + 900 + 300) / 9600,
    "part_locataires": 100 * (3800 + 280 + 90) / 9600,
    "part_locataires_hlm": 100 * (1600 + 60 + 0) / 9600,
    "taux_vacance": 100 * (600 + 150 + 50) / (9000 + 1500 + 500),
    "part_suroccupation": 100 * (400 + 40 + 10 + 80 + 8 + 2) / 9600,
    "part_menages_sans_voiture": 100 * (9600 - (7200 + 1140 + 390)) / 9600,
    "indice_vieillissement": 100 * (4000 + 700 + 250) / 5900,
    "part_75p": 100 * (1500 + 300 + 100) / 24000,
    "part_80p": 100 * (1000 + 200 + 80) / 24000,
    "part_80p_seuls": 100 * (400 + 60 + 30) / (1000 + 200 + 80),
    "foyers_allocataires": 100 * 3500 / 9600,
    "population_couverte_caf": 100 * (8000 + 1000 + 250) / 24000,
    "foyers_minima_insertion": 100 * (1000 + 100 + 35) / 3500,
    # Alpha + Bravo + Echo: 8800 + 1300 + 400 = 10500 workers with a known place; Echo is in no EPCI, its 150 count
    "part_actifs_hors_commune": 100 * (10500 - (4400 + 300 + 250)) / 10500,  # 5550
    "part_actifs_hors_epci": 100 * (2200 + 200 + 150) / 10500,  # 2550
    "part_actifs_etranger": 100 * (88 + 0 + 4) / 10500,  # 92
}

# This world stages no equipment source (BPE, ANCT list): their indicators are null `not_available` everywhere,
# never 0 (their arithmetic is tested on a world of their own in test_equipment_indicators.py).
NO_EQUIPMENT = {i.id: NOT_AVAILABLE for i in indicators() if {"bpe", "france_services"} & set(i.sources)}
for _expected in (EPCI_E1, COMMUNE_ALPHA, TERRITORY_ABE):
    _expected.update(NO_EQUIPMENT)


def test_the_expectations_cover_the_whole_catalogue():
    ids = {i.id for i in indicators()}
    assert set(EPCI_E1) == ids and set(COMMUNE_ALPHA) == ids and set(TERRITORY_ABE) == ids


def test_every_indicator_of_an_epci(table):
    check(rows_of(table, "EPCI", E1), EPCI_E1)


def test_every_indicator_of_a_commune(table):
    check(rows_of(table, "COM", ALPHA), COMMUNE_ALPHA)


def test_every_indicator_of_a_custom_territory(table):
    check(rows_of(table, "TERRITORY", TERRITORY.code), TERRITORY_ABE)
    assert rows_of(table, "TERRITORY", TERRITORY.code)["population"]["name"] == "Territoire test"


def test_departement_and_france(table):
    dep, france = rows_of(table, "DEP", "44"), rows_of(table, "FRANCE", FRANCE)
    check(
        dep,
        {
            "population": 20000 + 3000 + 2000 + 1000,
            "naissances": 240 + 30 + 20 + 5 + 10,  # the communes' sum, not the file's DEP row (99999)
            "taux_chomage_rp": 100 * (1500 + 120 + 60 + 40) / (10000 + 1500 + 1000 + 500),  # 1720 / 13000
            "part_familles_monoparentales": 100 * (1000 + 100 + 100 + 5) / ((2000 + 400 + 200 + 10) + 1205),
            "foyers_rsa": 100 * (400 + 30 + 20 + 5 + 10) / (8000 + 1200 + 800 + 400),
            "revenu_median": 22500,  # Filosofi's DEP file
            "taux_couverture_global": 50,
            "places_accueil_jeune_enfant": 1100,
            "croissance_annuelle": ((26000 / (19000 + 2900 + 1600 + 1100)) ** (1 / 6) - 1) * 100,
        },
    )
    check(
        france,
        {
            # communes only: Paris's arrondissements (40 % + 60 % of 40000) would double it
            "population": 20000 + 3000 + 2000 + 1000 + 40000,
            "naissances": 240 + 30 + 20 + 5 + 10 + 480,  # not the file's national row (700000)
            "taux_chomage_rp": 100 * (1720 + 2640) / (13000 + 22000),
            "part_menages_sans_voiture": 100 * ((10400 + 20000) - (9510 + 10000)) / (10400 + 20000),
            "revenu_median": 23000,  # Filosofi's France row
            "taux_couverture_global": 60,  # the CAF's national file
            "places_accueil_jeune_enfant": 1100 + 3000 + 500,  # no national places file: the sum of the DEP file
            "croissance_annuelle": ((66000 / (24600 + 42000)) ** (1 / 6) - 1) * 100,
        },
    )


def test_arrondissements_are_never_counted(table):
    paris = rows_of(table, "COM", PARIS)
    check(paris, {"population": 40000, "naissances": 480, "foyers_paje": 100 * 1200 / 8000, "revenu_median": 28000})
    assert table.filter(pl.col("code").is_in(list(ARMS))).is_empty()
    check(rows_of(table, "DEP", "75"), {"population": 40000, "places_accueil_jeune_enfant": 3000})


def test_merged_commune_counts_are_summed_and_its_medians_non_recalculable(table):
    check(
        rows_of(table, "COM", BRAVO),
        {
            "population": 3000,
            "part_0002": 100 * 120 / 3000,
            "revenu_median": NON_RECALCULABLE,
            "taux_pauvrete": NON_RECALCULABLE,
            "taux_couverture_global": (40, R.EPCI_FALLBACK),  # not in the communal file: E1's rate, marked
            "taux_couverture_eaje": (15, R.EPCI_FALLBACK),
            "places_accueil_jeune_enfant": R.NOT_PUBLISHED,  # places have no EPCI fallback
        },
    )


def test_split_parent_and_restored_commune(table):
    # Charlie's census row covers Charlie and Delta: neither commune has a census figure of its own...
    check(
        rows_of(table, "COM", CHARLIE),
        {
            "population": NON_RECALCULABLE,
            "taux_chomage_rp": NON_RECALCULABLE,
            "croissance_annuelle": NON_RECALCULABLE,
            "croissance_solde_naturel": NON_RECALCULABLE,
            "foyers_rsa": NON_RECALCULABLE,  # CAF count over a census denominator
            "naissances": 20,  # births are in the current geography
            "foyers_paje": 100 * 60 / 300,  # CAF counts too
            "revenu_median": NON_RECALCULABLE,
            "taux_couverture_global": (40, R.EPCI_FALLBACK),
        },
    )
    check(
        rows_of(table, "COM", DELTA),
        {
            "population": NON_RECALCULABLE,
            "part_75p": NON_RECALCULABLE,
            "naissances": 5,
            "foyers_paje": 100 * 20 / 100,
            "foyers_prepare": 100 * 0 / 100,
            "revenu_median": NOT_AVAILABLE,  # Filosofi's `nd`
            "taux_couverture_global": (40, R.EPCI_FALLBACK),
        },
    )
    # ...but Charlie's row counts once in E1 (population 25000 above, not 23000 nor 27000)
    assert rows_of(table, "EPCI", E1)["population"]["value"] == 20000 + 3000 + 2000


def test_secret_no_epci_and_not_significant_commune(table):
    check(
        rows_of(table, "COM", ECHO),
        {
            "revenu_median": SECRET,
            "taux_pauvrete": SECRET,
            "part_prestations_sociales": SECRET,
            "taux_couverture_global": R.NO_EPCI,  # not in the communal file and in no EPCI: nothing to borrow
            "places_accueil_jeune_enfant": R.NOT_PUBLISHED,
            "part_familles_monoparentales": R.NOT_SIGNIFICANT,  # 10 + 5 = 15 families with children < 30
            "part_familles_nombreuses": R.NOT_SIGNIFICANT,  # 25 families < 30
            "part_couples_avec_enfants": R.NOT_SIGNIFICANT,
            "part_menages_une_personne": 100 * 100 / 400,  # 400 households: significant
            "part_locataires_hlm": 100 * 0 / 400,  # a zero numerator is a value
            "population": 1000,
        },
    )
    echo = rows_of(table, "COM", ECHO)
    assert echo["part_familles_monoparentales"]["numerator"] == 5
    assert echo["part_familles_monoparentales"]["denominator"] == 15
    assert echo["population"]["ref_epci"] is None


def test_paris_takes_its_epci_coverage(table):
    # published by arrondissement only: the city takes E2's rate (decisions.md "CAF")
    check(
        rows_of(table, "COM", PARIS),
        {
            "taux_couverture_global": (75, R.EPCI_FALLBACK),
            "taux_couverture_prescolarisation": (5, R.EPCI_FALLBACK),
            "places_accueil_jeune_enfant": 3000,
        },
    )


def test_references_are_the_epci_departement_and_france_rows(table):
    alpha = rows_of(table, "COM", ALPHA)
    assert alpha["taux_chomage_rp"]["ref_epci"] == pytest.approx(100 * 1680 / 12500)
    assert alpha["taux_chomage_rp"]["ref_dep"] == pytest.approx(100 * 1720 / 13000)
    assert alpha["taux_chomage_rp"]["ref_france"] == pytest.approx(100 * 4360 / 35000)
    e1 = rows_of(table, "EPCI", E1)
    assert e1["taux_pauvrete"]["ref_dep"] == 14.0 and e1["taux_pauvrete"]["ref_france"] == 14.0
    assert e1["taux_couverture_global"]["ref_dep"] == 50 and e1["taux_couverture_global"]["ref_france"] == 60
    territory = rows_of(table, "TERRITORY", TERRITORY.code)
    assert territory["population"]["ref_dep"] == 26000  # its communes are all in 44
    assert rows_of(table, "FRANCE", FRANCE)["population"]["ref_france"] is None


# Flags (default FlagRules): vigilance = worse than the département by at least 5 % of its value; priorité = worse
# than both the département and France by at least 10 % of the reference. Worse = higher for higher_is_need, lower
# for lower_is_need. Every indicator not listed has no flag (neutral, better than or within 5 % of its département,
# a count, or a null value).
# DEP 44 and France values used below: unemployment 1720/13000 = 13.23 and 4360/35000 = 12.46; poverty 14.0 and
# 14.0; median 22500 and 23000; coverage 50 and 60 (EAJE 18 and 22, assistants maternels 28 and 30).
FLAGS_E1 = {
    "taux_pauvrete": PRIORITY,  # 16.0 vs 14.0 and 14.0: +2.0 >= 1.4
    "taux_couverture_global": PRIORITY,  # 40 vs 50 and 60: -10 <= -5, -20 <= -6
    "taux_couverture_eaje": PRIORITY,  # 15 vs 18 and 22: -3 <= -1.8, -7 <= -2.2
    "taux_couverture_assmat": PRIORITY,  # 20 vs 28 and 30
    # two-sided: faster growth is a gap too. E1 (25000 / 23500) ** (1/6): 1.037 %/year against 44's
    # (26000 / 24600) ** (1/6): 0.927 (+11.8 %) and France's (66000 / 66600) ** (1/6): -0.151, both above by 10 %
    "croissance_annuelle": PRIORITY,
    # within 5 % of the département, so not flagged: unemployment 13.44 vs 13.23 (+1.6 %), one-person households
    # 29.0 vs 28.85, CF 6.711 vs 6.667, ASF 7.632 vs 7.564, RSA 4.55 vs 4.471 (+1.8 %), prime d'activité 9.70 vs
    # 9.615, housing aid 13.80 vs 13.558, overcrowding 5.52 vs 5.423, no car 8.80 vs 8.558 (+2.8 %), 80+ alone
    # 38.46 vs 38.41
}
FLAGS_ALPHA = {
    "taux_pauvrete": PRIORITY,  # 15.4 vs 14.0 and 14.0: exactly 10 % higher counts ("at least")
    "taux_chomage_rp": PRIORITY,  # 15.0 vs 13.23 (+13 %) and 12.46 (+20 %)
    "taux_couverture_assmat": PRIORITY,  # 20 vs 28 and 30
    "taux_couverture_global": VIGILANCE,  # 47 vs 50: -6 %, worse by 5 % or more but not 10 % below France (60)
    "part_menages_imposes": VIGILANCE,  # 50 vs 54: -7.4 %
    "part_prestations_sociales": VIGILANCE,  # 6.0 vs 5.5 (+9.1 %)
    "croissance_annuelle": VIGILANCE,  # 0.859 vs 26000/24600: 0.927 %/year: -0.068 = -7.3 % (two-sided: a gap)
    "part_familles_monoparentales": VIGILANCE,  # 33.33 vs 1205/3815 = 31.59 (+5.5 %)
    "foyers_asf": VIGILANCE,  # 8.33 vs 7.56 (+10.2 %)
    "foyers_rsa": VIGILANCE,  # 5.0 vs 4.47 (+11.8 %)
    "foyers_aide_logement": VIGILANCE,  # 15.0 vs 13.56 (+10.6 %)
    "part_suroccupation": VIGILANCE,  # 6.0 vs 5.42 (+10.6 %)
    "part_menages_sans_voiture": VIGILANCE,  # 10.0 vs 8.56 (+16.9 %)
    "foyers_minima_insertion": VIGILANCE,  # 33.33 vs 1230/3900 = 31.54 (+5.7 %)
    # within 5 %: median 22000 vs 22500 (-2.2 %), D9/D1 3.1 vs 3.0 (+3.3 %), one-person 30 vs 28.85 (+4.0 %),
    # prime d'activité 10.0 vs 9.62 (+4.0 %), women's activity 75.0 vs 75.13, employment 66.67 vs 67.44,
    # 80+ alone 40 vs 38.41 (+4.1 %)
}
FLAGS_TERRITORY = {  # published figures are null (non agrégeable): never flagged
    "croissance_annuelle": VIGILANCE,  # 0.712 vs 0.927: -23 %
    "part_menages_sans_voiture": VIGILANCE,  # 9.0625 vs 8.558 (+5.9 %)
    # within 5 %: unemployment 1660/12000 = 13.83 vs 13.23 (+4.6 %), large families, one-person households,
    # non-graduates, CF, ASF 7.857 vs 7.564 (+3.9 %), RSA, housing aid, women's employment, overcrowding 5.625 vs
    # 5.423 (+3.7 %), 80+, insertion 32.43 vs 31.54 (+2.8 %)
}


@pytest.mark.parametrize(
    "level, code, expected",
    [("EPCI", E1, FLAGS_E1), ("COM", ALPHA, FLAGS_ALPHA), ("TERRITORY", TERRITORY.code, FLAGS_TERRITORY)],
)
def test_flags_are_direction_aware(table, level, code, expected):
    got = {ind: row["flag"] for ind, row in rows_of(table, level, code).items() if row["flag"] is not None}
    assert got == expected


def test_no_flag_for_neutral_null_borrowed_or_count_values(table):
    # Bravo borrows E1's coverage (40 < 50 and 60) but a borrowed rate is not the commune's: no flag
    assert rows_of(table, "COM", BRAVO)["taux_couverture_global"]["flag"] is None
    # E1 has 1000 places against 1100 in its département and 4600 in France: volumes, not needs
    assert rows_of(table, "EPCI", E1)["places_accueil_jeune_enfant"]["flag"] is None
    echo = rows_of(table, "COM", ECHO)
    assert echo["revenu_median"]["flag"] is None and echo["part_familles_monoparentales"]["flag"] is None
    # Alpha's 18-24 share (1800 / 20000 = 9.0 %) is above its département's (2190 / 26000 = 8.4 %): a "higher is a
    # need" indicator would be flagged vigilance, a neutral one never is
    alpha = rows_of(table, "COM", ALPHA)["part_1824"]
    assert alpha["value"] > alpha["ref_dep"] and alpha["direction"] == "neutral" and alpha["flag"] is None
    assert (
        table.filter(pl.col("level") == "FRANCE")["flag"].null_count()
        == table.filter(pl.col("level") == "FRANCE").height
    )


def test_a_departement_is_flagged_against_france(table):
    """A département has no département above it: its flags compare it with France alone."""
    deps = table.filter((pl.col("level") == "DEP") & pl.col("flag").is_not_null())
    assert deps.height > 0
    for row in deps.iter_rows(named=True):
        sign = {"higher_is_need": 1, "lower_is_need": -1}.get(
            row["direction"], 1 if row["value"] >= row["ref_france"] else -1
        )
        gap = sign * (row["value"] - row["ref_france"]) / abs(row["ref_france"])
        assert gap >= 0.05 - 1e-9 and (row["flag"] == "vigilance" or gap >= 0.10 - 1e-9), row
    quiet = table.filter(
        (pl.col("level") == "DEP")
        & pl.col("flag").is_null()
        & pl.col("value").is_not_null()
        & pl.col("ref_france").is_not_null()
        & pl.col("status").is_null()
        & (pl.col("direction") != "neutral")
        & (pl.col("unit") != "count")
    )
    for row in quiet.iter_rows(named=True):  # not flagged: not worse than France by 5 % of its value
        sign = {"higher_is_need": 1, "lower_is_need": -1}.get(
            row["direction"], 1 if row["value"] >= row["ref_france"] else -1
        )
        assert sign * (row["value"] - row["ref_france"]) < 0.05 * abs(row["ref_france"]) + 1e-9, row


def test_evolutions(table):
    e1 = rows_of(table, "EPCI", E1)
    # a count: annual growth between 2016 and 2022 (n = 6)
    assert e1["population"]["value_comparison"] == 19000 + 2900 + 1600
    assert e1["population"]["evolution"] == pytest.approx(((25000 / 23500) ** (1 / 6) - 1) * 100)
    assert e1["population"]["evolution_unit"] == "percent_per_year"
    assert e1["population"]["comparison_year"] == 2016
    assert e1["enfants_moins_3_ans"]["evolution"] == pytest.approx(((760 / (500 + 90 + 40)) ** (1 / 6) - 1) * 100)
    # a rate: points
    comparison = 100 * (1300 + 250 + 150) / 23500
    assert e1["part_75p"]["value_comparison"] == pytest.approx(comparison)
    assert e1["part_75p"]["evolution"] == pytest.approx(8.0 - comparison)
    assert e1["part_75p"]["evolution_unit"] == "points"
    vacancy_2016 = 100 * (425 + 140 + 90) / (8500 + 1400 + 900)  # 655 / 10800
    assert e1["taux_vacance"]["evolution"] == pytest.approx(100 * 850 / 11500 - vacancy_2016)
    # an index: a difference
    youth_2016 = 100 * (5200 + 700 + 400) / ((2800 + 450 + 250) + 1700)  # 6300 / 5200
    assert e1["indice_jeunesse"]["evolution"] == pytest.approx(100 * 6200 / 5800 - youth_2016)
    assert e1["indice_jeunesse"]["evolution_unit"] == "difference"
    # overcrowding changed definition in 2022: the 2016 figures exist but no evolution is computed
    assert e1["part_suroccupation"]["value_comparison"] is None and e1["part_suroccupation"]["evolution"] is None
    assert e1["part_suroccupation"]["status_comparison"] == R.DEFINITION_CHANGE
    couples_2016 = 100 * (2100 + 400 + 210) / (4800 + 780 + 480)  # 2710 / 6060
    assert e1["part_couples_avec_enfants"]["evolution"] == pytest.approx(100 * 2600 / 6300 - couples_2016)
    # a variable the 2016 file does not have (its other variables are there): no evolution, and the reason says
    # it is not published that year (not_available), not that a commune lacks it (missing)
    assert e1["part_familles_nombreuses"]["evolution"] is None
    assert e1["part_familles_nombreuses"]["status_comparison"] == NOT_AVAILABLE
    # no comparison for CAF, Filosofi and births
    for ind in ("foyers_paje", "revenu_median", "naissances", "croissance_annuelle"):
        assert e1[ind]["evolution"] is None and e1[ind]["comparison_year"] is None


def test_years_and_sources(table):
    e1 = rows_of(table, "EPCI", E1)
    assert e1["population"]["year"] == 2022
    assert e1["naissances"]["year"] == 2022
    assert e1["foyers_paje"]["year"] == 2024
    assert e1["revenu_median"]["year"] == 2021
    assert e1["taux_couverture_global"]["year"] == 2023
    assert e1["foyers_rsa"]["source"] == "Cnaf, allocataires décembre 2024 ; Insee, recensement 2022"
    assert e1["croissance_solde_naturel"]["source"] == "Insee, recensements 2016 et 2022 ; Insee, état civil 2016-2021"


def test_row_count_and_levels(table):
    per_level = dict(table.group_by("level").len().iter_rows())
    n = len(indicators())
    assert per_level == {"COM": 6 * n, "EPCI": 2 * n, "DEP": 2 * n, "FRANCE": n, "TERRITORY": n}
    assert table.filter(pl.col("value").is_infinite()).is_empty()


# -- reasons kept all the way up (bugs found while writing these tests) -------------------------------------------


def test_a_split_parent_with_an_unknown_value_keeps_its_reason_above_the_commune():
    """Charlie's census row is a parent's (split); when that value is unknown, E1 is unknown, not 20000 + 3000."""
    staged = world_staged()
    staged["rp_population"] = staged["rp_population"].with_columns(
        value=pl.when((pl.col("code") == CHARLIE) & (pl.col("variable") == "P_POP"))
        .then(None)
        .otherwise(pl.col("value")),
        status=pl.when((pl.col("code") == CHARLIE) & (pl.col("variable") == "P_POP"))
        .then(pl.lit("missing"))
        .otherwise(pl.col("status")),
    )
    result = compute(world_inputs(staged), items=(get("population"),))
    e1 = result.filter((pl.col("level") == "EPCI") & (pl.col("code") == E1))
    assert e1["value"].to_list() == [None] and e1["status"].to_list() == ["missing"]
    # France contains Charlie: unknown too; DEP 75 does not: untouched
    france = result.filter(pl.col("level") == "FRANCE")
    assert france["status"].to_list() == ["missing"]
    assert result.filter((pl.col("level") == "DEP") & (pl.col("code") == "75"))["value"].to_list() == [40000]


def test_a_commune_missing_one_year_of_births_is_unknown_not_a_partial_sum():
    staged = world_staged()
    staged["births"] = staged["births"].filter(~((pl.col("code") == BRAVO) & (pl.col("year") == 2018)))
    result = compute(world_inputs(staged), items=(get("croissance_solde_naturel"),))
    by = {(r["level"], r["code"]): (r["value"], r["status"]) for r in result.iter_rows(named=True)}
    assert by[("COM", BRAVO)] == (None, "missing")
    assert by[("EPCI", E1)] == (None, "missing")
    assert by[("COM", ALPHA)][0] == pytest.approx(100 / 19500 * 100)


def test_national_places_summed_from_departements_have_no_reason():
    result = compute(world_inputs(), items=(get("places_accueil_jeune_enfant"),))
    france = result.filter(pl.col("level") == "FRANCE")
    assert france["value"].to_list() == [1100 + 3000 + 500] and france["status"].to_list() == [None]


def test_aggregate_and_commune_values_directly():
    """The public building blocks: commune values, then sums per group with the worst reason."""
    inputs = world_inputs()
    needed = pl.DataFrame(
        {
            "source": ["rp_population"],
            "variable": ["P_POP"],
            "term": ["rp_population:P_POP"],
            "period": ["main"],
            "year": [2022],
        },
        schema_overrides={"year": pl.Int32},
    )
    values = commune_values(inputs, needed)
    assert values.height == 6  # one row per commune of the target COG, arrondissements excluded
    agg = aggregate(values, groups(MEMBERSHIP, (TERRITORY,)))
    got = {(r["level"], r["group"]): (r["value"], r["status"]) for r in agg.iter_rows(named=True)}
    assert got[("EPCI", E1)] == (25000, None)
    assert got[("COM", DELTA)] == (None, NON_RECALCULABLE)
    assert got[("COM", CHARLIE)] == (None, NON_RECALCULABLE)
    assert got[("TERRITORY", TERRITORY.code)] == (24000, None)
    assert got[("FRANCE", FRANCE)] == (66000, None)
