"""Demo RP base-cc files: five themes, RP 2022 (COG 2025) and RP 2021 (COG 2024), in INSEE's exact layout.

Each zip folder holds `base-cc-<theme>-YYYY.CSV` (`;`, CRLF, no BOM, `.` decimals: long floats for communes above
2,000 inhabitants, integers below), `meta_base-cc-<theme>-YYYY.CSV` (UTF-8 with accents) and, for 2022, the
overseas collectivities' `base-cc-<theme>-YYYY-COM.CSV` that a parser must not read.

Every figure derives from one population by single year of age per commune and year, then from nested shares
(households -> families -> single parents, dwellings -> main residences -> tenants -> HLM...). Each child is a
rounded share of its parent and the last part of a partition is the remainder, so the file is coherent in integers
too: age bands sum to P_POP, C_FAMMONO <= C_FAM, P_RP + P_RSECOCC + P_LOGVAC = P_LOG, and so on. Rates follow the
commune's `need` index. Paris and Lyon are the sums of their arrondissements.
"""

from __future__ import annotations

import math
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

from sources import catalogue
from sources.demo.files import entry_path, write_text
from sources.demo.world import ARRONDISSEMENTS, Commune, commune, communes_in

THEMES = ["rp_population", "rp_families", "rp_housing", "rp_employment", "rp_education"]
# vintage -> (COG of the file, comparison years)
VINTAGES = {"2022": (2025, (2016, 2011)), "2021": (2024, (2015, 2010))}
FLOAT_ABOVE = 2000  # communes above this population carry weighted estimates (long floats)
# Overseas collectivities of the `-COM.CSV` member (not communes of the COG): code, name, population 2022.
OVERSEAS = [("97501", "Saint-Pierre-et-Miquelon", 5819), ("97701", "Saint-Barthélemy", 10585)]
# One empty cell in the 2021 files (as Mayotte's rows are in real files): theme -> (code, variable stem).
EMPTY_2021 = {"rp_families": ("85133", "C_HMONO")}

# Variables also written at the two comparison years, per theme (stems without the year).
COMPARISON = {
    "rp_population": (
        "P_POP P_POP0014 P_POP1529 P_POP3044 P_POP4559 P_POP6074 P_POP7589 P_POP90P P_POPH P_POPF "
        "P_POP0002 P_POP0305 P_POP0610 P_POP1117 P_POP1824 P_POP2539 P_POP4054 P_POP5564 P_POP6579 "
        "P_POP80P P_POP0019 P_POP2064 P_POP65P P_POP75P P_PMEN P_PHORMEN"
    ).split(),
    "rp_families": (
        "C_MEN C_MENPSEUL C_MENCOUPSENF C_MENCOUPAENF C_MENFAMMONO C_PMEN C_FAM C_COUPAENF C_FAMMONO "
        "C_COUPSENF P_POP15P P_POP80P P_POP80P_PSEUL"
    ).split(),
    "rp_housing": (
        "P_LOG P_RP P_RSECOCC P_LOGVAC P_MAISON P_APPART P_RP_PROP P_RP_LOC P_RP_LOCHLMV P_RP_GRAT "
        "P_MEN P_PMEN P_RP_VOIT1P"
    ).split(),
    "rp_employment": ["P_POP1564", "P_ACT1564", "P_ACTOCC1564", "P_CHOM1564", "P_ETUD1564"],
    "rp_education": (
        "P_NSCOL15P P_NSCOL15P_DIPLMIN P_NSCOL15P_BEPC P_NSCOL15P_CAPBEP P_NSCOL15P_BAC "
        "P_NSCOL15P_SUP2 P_NSCOL15P_SUP34 P_NSCOL15P_SUP5"
    ).split(),
}
# Real columns of the files that the catalogue does not ask for (a parser leaves them alone).
EXTRA = {
    "rp_families": ["C_MENHSEUL", "C_MENFSEUL", "C_MENSFAM", "C_MENFAM"],
    "rp_housing": ["P_RP_VOIT1", "C_RP_SOUSOCC_MOD", "C_RP_SOUSOCC_ACC", "C_RP_SOUSOCC_TACC"],
    "rp_employment": ["P_INACT1564"],
}
# Overcrowding changed definition with RP 2022 (decisions.md "Census"): each vintage has only its own columns.
ONLY_FROM_2022 = {
    "C_RP_NORME",
    "C_RP_SUROCC_MOD",
    "C_RP_SUROCC_ACC",
    "C_RP_SOUSOCC_MOD",
    "C_RP_SOUSOCC_ACC",
    "C_RP_SOUSOCC_TACC",
}
ONLY_BEFORE_2022 = {"C_RP_HSTU1P_SUROCC"}

LABELS = {
    "POP": "Population",
    "POPH": "Hommes",
    "POPF": "Femmes",
    "PMEN": "Population des ménages",
    "PHORMEN": "Population hors ménages",
    "POP15P": "Pop 15 ans ou plus",
    "POP1564": "Pop 15-64 ans",
    "MEN": "Ménages",
    "MENPSEUL": "Ménages d'une personne",
    "MENHSEUL": "Ménages hommes seuls",
    "MENFSEUL": "Ménages femmes seules",
    "MENSFAM": "Ménages autres sans famille",
    "MENFAM": "Ménages avec famille(s)",
    "MENCOUPSENF": "Ménages couple sans enfant",
    "MENCOUPAENF": "Ménages couple avec enfant(s)",
    "MENFAMMONO": "Ménages famille monoparentale",
    "FAM": "Familles",
    "COUPAENF": "Couples avec enfant(s)",
    "COUPSENF": "Couples sans enfant",
    "FAMMONO": "Familles monoparentales",
    "HMONO": "Pères seuls avec enfant(s)",
    "FMONO": "Mères seules avec enfant(s)",
    "NE24F0": "Familles sans enfant de moins de 25 ans",
    "NE24F1": "Familles avec 1 enfant de moins de 25 ans",
    "NE24F2": "Familles avec 2 enfants de moins de 25 ans",
    "NE24F3": "Familles avec 3 enfants de moins de 25 ans",
    "NE24F4P": "Familles avec 4 enfants ou plus de moins de 25 ans",
    "LOG": "Logements",
    "RP": "Résidences principales",
    "RSECOCC": "Rés secondaires et logts occasionnels",
    "LOGVAC": "Logements vacants",
    "MAISON": "Maisons",
    "APPART": "Appartements",
    "RP_PROP": "Rés princ occupées Propriétaires",
    "RP_LOC": "Rés princ occupées Locataires",
    "RP_LOCHLMV": "Rés princ HLM louée vide",
    "RP_GRAT": "Rés princ logé gratuit",
    "RP_VOIT1P": "Ménages au moins une voiture",
    "RP_VOIT1": "Ménages une voiture",
    "RP_VOIT2P": "Ménages deux voitures ou plus",
    "RP_NORME": "Rés princ occupation normale",
    "RP_SUROCC_MOD": "Rés princ en suroccupation modérée",
    "RP_SUROCC_ACC": "Rés princ en suroccupation accentuée",
    "RP_SOUSOCC_MOD": "Rés princ en sous-occupation modérée",
    "RP_SOUSOCC_ACC": "Rés princ en sous-occupation prononcée",
    "RP_SOUSOCC_TACC": "Rés princ en sous-occupation très accentuée",
    "RP_HSTU1P_SUROCC": "Rés princ suroccupées (hors studios d'1 personne)",
    "ACT1564": "Actifs 15-64 ans",
    "ACTOCC1564": "Actifs occupés 15-64 ans",
    "CHOM1564": "Chômeurs 15-64 ans",
    "ETUD1564": "Élèves, étudiants 15-64 ans",
    "INACT1564": "Inactifs 15-64 ans",
    "F1564": "Femmes 15-64 ans",
    "FACT1564": "Femmes actives 15-64 ans",
    "FACTOCC1564": "Femmes actives occupées 15-64 ans",
    "NSCOL15P": "Pop 15 ans ou plus non scolarisée",
    "NSCOL15P_DIPLMIN": "Pop non scolarisée sans diplôme ou CEP",
    "NSCOL15P_BEPC": "Pop non scolarisée BEPC, brevet des collèges, DNB",
    "NSCOL15P_CAPBEP": "Pop non scolarisée CAP-BEP ou équivalent",
    "NSCOL15P_BAC": "Pop non scolarisée Bac, brevet pro.",
    "NSCOL15P_SUP2": "Pop non scolarisée Bac+2",
    "NSCOL15P_SUP34": "Pop non scolarisée Bac+3 ou 4",
    "NSCOL15P_SUP5": "Pop non scolarisée Bac+5 ou plus",
    "SCOL1824": "Pop scolarisée 18-24 ans",
    "POP6579_PSEUL": "Pop 65-79 ans vivant seule",
    "POP80P_PSEUL": "Pop 80 ans ou plus vivant seule",
}

# Age bands: name -> (first age, last age included); 100 stands for "100 or more".
BANDS = {
    "0014": (0, 14),
    "1529": (15, 29),
    "3044": (30, 44),
    "4559": (45, 59),
    "6074": (60, 74),
    "7589": (75, 89),
    "90P": (90, 100),
    "0002": (0, 2),
    "0305": (3, 5),
    "0610": (6, 10),
    "1117": (11, 17),
    "1824": (18, 24),
    "2539": (25, 39),
    "4054": (40, 54),
    "5564": (55, 64),
    "6579": (65, 79),
    "80P": (80, 100),
    "0019": (0, 19),
    "2064": (20, 64),
    "65P": (65, 100),
    "75P": (75, 100),
    "15P": (15, 100),
    "1564": (15, 64),
    "1517": (15, 17),
    "2529": (25, 29),
    "30P": (30, 100),
}

# Men's share of each age band of the sex-by-age columns (P_H0014 ... P_H90P), before scaling to P_POPH.
MEN_SHARE = {"0014": 0.512, "1529": 0.505, "3044": 0.492, "4559": 0.490, "6074": 0.475, "7589": 0.420, "90P": 0.280}


# -- the population model -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """One row of a file: a commune (or arrondissement) of the file's COG and what drives its figures."""

    code: str
    name: str
    parts: tuple[tuple[Commune, float], ...]  # target communes and the share of each this row holds
    need: float
    houses: float  # share of houses among dwellings
    secondary: float  # share of secondary homes among dwellings

    def population(self, year: int) -> float:
        return sum(share * _world_population(c, year) for c, share in self.parts)


def _world_population(c: Commune, year: int) -> float:
    """Population of a target commune at a census year, interpolated between world.py's 2011, 2016 and 2022."""
    points = [(2011, c.pop11), (2016, c.pop16), (2022, c.pop22)]
    if year <= 2016:
        (y0, p0), (y1, p1) = points[0], points[1]
    else:
        (y0, p0), (y1, p1) = points[1], points[2]
    return p0 + (p1 - p0) * (year - y0) / (y1 - y0)


def _jitter(code: str, salt: str, low: float, high: float) -> float:
    """A deterministic pseudo-random number in [low, high] for a code (no global randomness)."""
    u = zlib.crc32(f"{code}/{salt}".encode()) / 0xFFFFFFFF
    return low + (high - low) * u


def _houses(population: float) -> float:
    if population < 3000:
        return 0.92
    if population < 8000:
        return 0.80
    if population < 60000:
        return 0.55
    if population < 200000:
        return 0.25
    return 0.02


def _place(code: str, name: str, parts: list[tuple[str, float]]) -> Place:
    communes = tuple((commune(target), share) for target, share in parts)
    weight = sum(c.pop22 * s for c, s in communes)
    need = sum(c.need * c.pop22 * s for c, s in communes) / weight
    houses = _houses(sum(c.pop22 for c, _ in communes))
    secondary = 0.45 if code == "85113" else (0.08 if code == "75056" else _jitter(code, "rsec", 0.02, 0.07))
    return Place(code, name, communes, need, houses, secondary)


class Figures:
    """Every variable of one row and one census year, coherent by construction."""

    def __init__(self, place: Place, year: int, population: int, integers: bool):
        self.code, self.year, self.need, self.integers = place.code, year, place.need, integers
        self.houses, self.secondary = place.houses, place.secondary
        self.values: dict[str, float] = {"POP": float(population)}
        self._ages = self._age_vector(population)
        for band, (lo, hi) in BANDS.items():
            self.values[f"POP{band}"] = sum(self._ages[lo : hi + 1])
        self._population()
        self._families()
        self._housing()
        self._employment()
        self._education()

    # rounded share of a parent: integers in small communes (a share of an integer never exceeds it)
    def q(self, x: float) -> float:
        return float(round(x)) if self.integers else x

    def j(self, salt: str, low: float, high: float) -> float:
        return _jitter(self.code, salt, low, high)

    def _age_vector(self, population: int) -> list[float]:
        young = self.j("young", -0.15, 0.30)
        old = self.j("old", -0.20, 0.35) + 0.015 * (self.year - 2011)  # the population ages
        students = 0.5 * (1 - self.houses)  # young adults move to cities
        weights = []
        for age in range(101):
            if age < 18:
                w = 1.12 + 0.004 * age
            elif age < 30:
                w = 1.0 * (1 + students)
            elif age < 60:
                w = 1.18 + 0.005 * (age - 30)
            elif age < 75:
                w = 1.25 - (age - 60) * 0.025
            elif age < 90:
                w = 0.9 * 0.88 ** (age - 75)
            else:
                w = 0.9 * 0.88**15 * 0.75 ** (age - 90)
            if age < 15:
                w *= 1 + young
            elif 30 <= age < 45:
                w *= 1 + 0.8 * young
            if age >= 60:
                w *= 1 + old
            weights.append(w)
        total = sum(weights)
        exact = [population * w / total for w in weights]
        if not self.integers:
            return exact
        # largest remainder: integer ages that sum exactly to the population
        ages = [math.floor(x) for x in exact]
        order = sorted(range(101), key=lambda i: (ages[i] - exact[i], i))
        for i in order[: population - sum(ages)]:
            ages[i] += 1
        return [float(a) for a in ages]

    def _population(self) -> None:
        v, q = self.values, self.q
        v["POPH"] = q(v["POP"] * self.j("men", 0.475, 0.495))
        v["POPF"] = v["POP"] - v["POPH"]
        # men by age band: a split of POPH weighted by each band's size and men's share at that age (women
        # outlive men), so that the bands sum to POPH and H + F = POP in every band
        weights = [v[f"POP{band}"] * share for band, share in MEN_SHARE.items()]
        if self.integers:
            men = [float(x) for x in _integer_split(int(v["POPH"]), weights)]
        else:
            men = [v["POPH"] * w / sum(weights) for w in weights]
        for band, h in zip(MEN_SHARE, men):
            if h > v[f"POP{band}"]:
                raise ValueError(f"{self.code}: more men than people aged {band}")
            v[f"H{band}"], v[f"F{band}"] = h, v[f"POP{band}"] - h
        v["PHORMEN"] = q(v["POP"] * self.j("horsmen", 0.008, 0.03))
        v["PMEN"] = v["POP"] - v["PHORMEN"]

    def _families(self) -> None:
        v, q, need, j = self.values, self.q, self.need, self.j
        size = min(2.6, max(1.8, 2.35 - 0.4 * need + j("size", -0.1, 0.15) - 0.004 * (self.year - 2011)))
        v["MEN"] = q(v["PMEN"] / size)
        v["C_MEN"] = q(v["MEN"] * j("cmen", 0.995, 1.005))  # complementary exploitation: a sample estimate
        v["C_PMEN"] = q(v["PMEN"] * j("cpmen", 0.995, 1.005))
        v["MENPSEUL"] = q(v["C_MEN"] * min(0.55, 0.28 + 0.2 * need + j("alone", 0.0, 0.06)))
        v["MENHSEUL"] = q(v["MENPSEUL"] * 0.45)
        v["MENFSEUL"] = v["MENPSEUL"] - v["MENHSEUL"]
        rest = v["C_MEN"] - v["MENPSEUL"]
        v["MENSFAM"] = q(rest * 0.04)
        v["MENFAM"] = rest - v["MENSFAM"]
        mono = 0.08 + 0.16 * need + 0.002 * (self.year - 2011)
        couples_children = min(0.65, 0.42 + j("children", 0.0, 0.15) - 0.1 * need)
        v["MENFAMMONO"] = q(v["MENFAM"] * mono)
        v["MENCOUPAENF"] = q((v["MENFAM"] - v["MENFAMMONO"]) * couples_children)
        v["MENCOUPSENF"] = v["MENFAM"] - v["MENFAMMONO"] - v["MENCOUPAENF"]
        v["FAM"] = v["MENFAM"] + q(v["MENFAM"] * 0.012)  # a few households hold two families
        v["FAMMONO"] = q(v["FAM"] * mono)
        v["COUPAENF"] = q((v["FAM"] - v["FAMMONO"]) * couples_children)
        v["COUPSENF"] = v["FAM"] - v["FAMMONO"] - v["COUPAENF"]
        v["HMONO"] = q(v["FAMMONO"] * j("fathers", 0.13, 0.19))
        v["FMONO"] = v["FAMMONO"] - v["HMONO"]
        # families by number of children under 25: a partition of C_FAM
        v["NE24F0"] = v["COUPSENF"] + q((v["COUPAENF"] + v["FAMMONO"]) * 0.06)
        with_children = v["FAM"] - v["NE24F0"]
        v["NE24F1"] = q(with_children * 0.42)
        v["NE24F2"] = q((with_children - v["NE24F1"]) * (0.68 - 0.12 * need))
        v["NE24F3"] = q((with_children - v["NE24F1"] - v["NE24F2"]) * 0.72)
        v["NE24F4P"] = with_children - v["NE24F1"] - v["NE24F2"] - v["NE24F3"]
        v["POP6579_PSEUL"] = q(v["POP6579"] * (0.20 + 0.1 * need))
        v["POP80P_PSEUL"] = q(v["POP80P"] * (0.40 + 0.1 * need))

    def _housing(self) -> None:
        v, q, need, j = self.values, self.q, self.need, self.j
        v["RP"] = v["MEN"]  # one household per main residence
        vacancy = 0.04 + 0.07 * need + j("vacancy", 0.0, 0.02)
        v["LOG"] = q(v["RP"] / (1 - vacancy - self.secondary))
        v["LOGVAC"] = q((v["LOG"] - v["RP"]) * vacancy / (vacancy + self.secondary))
        v["RSECOCC"] = v["LOG"] - v["RP"] - v["LOGVAC"]
        v["MAISON"] = q(v["LOG"] * self.houses)
        v["APPART"] = q((v["LOG"] - v["MAISON"]) * 0.985)  # the rest: rooms, hostels, mobile homes
        owners = min(0.85, max(0.25, 0.82 - 0.45 * need - 0.25 * (1 - self.houses)))
        v["RP_PROP"] = q(v["RP"] * owners)
        v["RP_GRAT"] = q((v["RP"] - v["RP_PROP"]) * 0.05)
        v["RP_LOC"] = v["RP"] - v["RP_PROP"] - v["RP_GRAT"]
        v["RP_LOCHLMV"] = q(v["RP_LOC"] * (0.08 + 0.5 * need**1.5))
        no_car = 0.04 + 0.15 * need + 0.5 * (1 - self.houses) ** 2
        v["RP_VOIT1P"] = v["RP"] - q(v["RP"] * no_car)
        v["RP_VOIT2P"] = q(v["RP_VOIT1P"] * (0.1 + 0.5 * self.houses))
        v["RP_VOIT1"] = v["RP_VOIT1P"] - v["RP_VOIT2P"]
        # occupancy (complementary exploitation): a partition of the sampled main residences
        sampled = q(v["RP"] * j("crp", 0.995, 1.005))
        crowded = 0.02 + 0.06 * need + 0.12 * (1 - self.houses)
        v["RP_SUROCC_ACC"] = q(sampled * crowded * 0.25)
        v["RP_SUROCC_MOD"] = q(sampled * crowded * 0.75)
        v["RP_NORME"] = q(sampled * 0.26)
        under = sampled - v["RP_SUROCC_ACC"] - v["RP_SUROCC_MOD"] - v["RP_NORME"]
        v["RP_SOUSOCC_MOD"] = q(under * 0.35)
        v["RP_SOUSOCC_ACC"] = q(under * 0.40)
        v["RP_SOUSOCC_TACC"] = under - v["RP_SOUSOCC_MOD"] - v["RP_SOUSOCC_ACC"]
        v["RP_HSTU1P_SUROCC"] = q(sampled * crowded * 0.85)  # older definition: one-person studios excluded

    def _employment(self) -> None:
        v, q, need, j = self.values, self.q, self.need, self.j
        cycle = {2010: 0.008, 2011: 0.01, 2015: 0.018, 2016: 0.016, 2021: 0.004, 2022: 0.0}.get(self.year, 0.0)
        activity = 0.77 - 0.06 * need + j("activity", -0.02, 0.02)
        unemployment = 0.055 + 0.14 * need + cycle + j("unemployment", -0.01, 0.01)
        v["ACT1564"] = q(v["POP1564"] * activity)
        v["INACT1564"] = v["POP1564"] - v["ACT1564"]
        v["CHOM1564"] = q(v["ACT1564"] * unemployment)
        v["ACTOCC1564"] = v["ACT1564"] - v["CHOM1564"]
        v["ETUD1564"] = q(v["INACT1564"] * (0.40 + 0.2 * (1 - self.houses)))
        v["F1564"] = q(v["POP1564"] * j("women", 0.495, 0.51))
        v["FACT1564"] = q(v["F1564"] * (activity - 0.04))
        v["FACTOCC1564"] = v["FACT1564"] - q(v["FACT1564"] * unemployment)

    def _education(self) -> None:
        v, q, need = self.values, self.q, self.need
        v["SCOL1824"] = q(v["POP1824"] * (0.45 - 0.15 * need + 0.25 * (1 - self.houses)))
        pupils = q(v["POP1517"] * 0.96) + v["SCOL1824"] + q(v["POP2529"] * 0.07) + q(v["POP30P"] * 0.01)
        v["NSCOL15P"] = n = v["POP15P"] - pupils
        older = 0.012 * (2022 - self.year)  # fewer graduates in earlier censuses
        shares = {
            "DIPLMIN": 0.13 + 0.25 * need + older,
            "BEPC": 0.05,
            "CAPBEP": 0.20 + 0.08 * self.houses,
            "BAC": 0.17,
            "SUP2": 0.12,
            "SUP34": 0.09 + 0.08 * (1 - self.houses) + 0.04 * (1 - need) - older / 2,
            "SUP5": 0.04 + 0.28 * (1 - self.houses) + 0.06 * (1 - need) - older / 2,
        }
        total = sum(shares.values())
        left = n
        for name, share in list(shares.items())[:-1]:
            v[f"NSCOL15P_{name}"] = q(n * share / total)
            left -= v[f"NSCOL15P_{name}"]
        v["NSCOL15P_SUP5"] = left


C_STEMS = {
    "MENPSEUL",
    "MENHSEUL",
    "MENFSEUL",
    "MENSFAM",
    "MENFAM",
    "MENCOUPSENF",
    "MENCOUPAENF",
    "MENFAMMONO",
    "FAM",
    "COUPAENF",
    "COUPSENF",
    "FAMMONO",
    "HMONO",
    "FMONO",
    "NE24F0",
    "NE24F1",
    "NE24F2",
    "NE24F3",
    "NE24F4P",
    "RP_NORME",
    "RP_SUROCC_MOD",
    "RP_SUROCC_ACC",
    "RP_SOUSOCC_MOD",
    "RP_SOUSOCC_ACC",
    "RP_SOUSOCC_TACC",
    "RP_HSTU1P_SUROCC",
}  # complementary exploitation: written C<yy>_


def _to_stems(f: dict[str, float]) -> dict[str, float]:
    """Model names -> file stems: `POP` -> `P_POP`, `FAMMONO` -> `C_FAMMONO`, `C_MEN` stays."""
    out = {f"P_{k}": x for k, x in f.items() if not k.startswith("C_") and k not in C_STEMS}
    out.update({f"C_{k}": f[k] for k in C_STEMS})
    out["C_MEN"], out["C_PMEN"] = f["C_MEN"], f["C_PMEN"]
    return out


def figures(place: Place, year: int, population: int, integers: bool) -> dict[str, float]:
    """Stem (`P_POP`, `C_FAMMONO`) -> value for one row and census year."""
    return _to_stems(Figures(place, year, population, integers).values)


def _sum(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(r[k] for r in rows) for k in rows[0]}


def _integer_split(total: int, shares: list[float]) -> list[int]:
    """Largest remainder: integers proportional to `shares` that sum exactly to `total`."""
    exact = [total * s / sum(shares) for s in shares]
    parts = [math.floor(x) for x in exact]
    for i in sorted(range(len(shares)), key=lambda i: (parts[i] - exact[i], i))[: total - sum(parts)]:
        parts[i] += 1
    return parts


# -- rows of a file -------------------------------------------------------------------------------------------------

Row = tuple[str, str, dict[int, dict[str, float]], bool]  # code, name, {year: stem -> value}, integers


def _arrondissements(city: Place) -> list[Place]:
    """The city's arrondissements (flats, no houses), with a need index around the city's."""
    c = city.parts[0][0]
    arms = [a for a in ARRONDISSEMENTS if a.parent == c.code]
    total = sum(a.share for a in arms)  # shares sum to 1: kept as a guard against rounding
    return [
        Place(
            a.code,
            a.name,
            ((c, a.share / total),),
            min(1.0, max(0.0, c.need + _jitter(a.code, "need", -0.2, 0.2))),
            0.01,
            city.secondary,
        )
        for a in arms
    ]


def _city_rows(city: Place, years: tuple[int, ...]) -> list[Row]:
    """The arrondissements, then the city as their exact sum (INSEE publishes both)."""
    arms = _arrondissements(city)
    by_code: dict[str, dict[int, dict[str, float]]] = {a.code: {} for a in arms}
    for year in years:
        populations = _integer_split(round(city.population(year)), [a.parts[0][1] for a in arms])
        for a, population in zip(arms, populations):
            by_code[a.code][year] = figures(a, year, population, False)
    rows: list[Row] = [(a.code, a.name, by_code[a.code], False) for a in arms]
    rows.append((city.code, city.name, {y: _sum([by_code[a.code][y] for a in arms]) for y in years}, False))
    return rows


def rows_of(vintage: str) -> list[Row]:
    """Every row of a file of `vintage` (communes of its COG and arrondissements), sorted by code."""
    cog, comparison = VINTAGES[vintage]
    years = (int(vintage), *comparison)
    out: list[Row] = []
    for code, name, parts in communes_in(cog):
        place = _place(code, name, parts)
        if code in ("75056", "69123"):
            out.extend(_city_rows(place, years))
            continue
        integers = place.population(int(vintage)) <= FLOAT_ABOVE
        out.append((code, name, {y: figures(place, y, round(place.population(y)), integers) for y in years}, integers))
    return sorted(out, key=lambda r: r[0])


def overseas_rows(vintage: str) -> list[Row]:
    """The overseas collectivities of the `-COM.CSV` member (not in the COG: a parser must never read them)."""
    _, comparison = VINTAGES[vintage]
    years = (int(vintage), *comparison)
    out: list[Row] = []
    for code, name, population in OVERSEAS:
        place = Place(code, name, (), 0.4, 0.6, 0.2)
        out.append(
            (
                code,
                name,
                {y: figures(place, y, round(population * (1 - 0.004 * (int(vintage) - y))), False) for y in years},
                False,
            )
        )
    return out


# -- the files ------------------------------------------------------------------------------------------------------


def columns_of(source: str, vintage: str) -> list[tuple[str, int, str]]:
    """(column, year, stem) in file order: the main year (catalogue columns, extras), then each comparison year."""
    entry = catalogue.get(source, vintage)
    yy = entry.params["yy"]
    expected = entry.columns()
    skip = ONLY_BEFORE_2022 if int(vintage) >= 2022 else ONLY_FROM_2022
    stems = [_stem(c) for c in (*expected.required, *expected.optional)] + EXTRA.get(source, [])
    stems = [s for s in dict.fromkeys(stems) if s not in skip]
    out = [(f"{s[0]}{yy}{s[1:]}", int(vintage), s) for s in stems]
    for year in VINTAGES[vintage][1]:
        out += [(f"{s[0]}{year % 100:02d}{s[1:]}", year, s) for s in COMPARISON[source]]
    return out


def _stem(column: str) -> str:
    """`P22_POP` -> `P_POP`."""
    prefix, rest = column.split("_", 1)
    return f"{prefix[0]}_{rest}"


def number(x: float, integers: bool) -> str:
    """INSEE's writing: plain integers, or long floats with `.` and up to 15 significant digits."""
    if integers:
        return str(int(round(x)))
    text = format(x, ".15g")
    return "0" if text == "-0" else text


def data_csv(source: str, vintage: str, rows: list[Row]) -> str:
    columns = columns_of(source, vintage)
    empty = EMPTY_2021.get(source) if vintage == "2021" else None
    lines = [";".join(["CODGEO"] + [c for c, _, _ in columns])]
    for code, _, by_year, integers in rows:
        cells = [code]
        for _, year, stem in columns:
            blank = empty is not None and (code, stem) == empty and year == int(vintage)
            cells.append("" if blank else number(by_year[year][stem], integers))
        lines.append(";".join(cells))
    return "\n".join(lines) + "\n"


def _label(stem: str, year: int) -> tuple[str, str]:
    base = LABELS.get(stem[2:])
    if base is None and stem.startswith("P_POP"):
        band = stem[5:]
        lo, hi = BANDS[band]
        base = f"Pop {lo} ans ou plus" if hi == 100 else f"Pop {lo}-{hi} ans"
    base = base or stem[2:]
    exploitation = " (exploitation complémentaire)" if stem.startswith("C_") else ""
    return f"{base} en {year}", f"Nombre : {base.lower()} en {year}{exploitation}"


def meta_csv(source: str, vintage: str, rows: list[Row]) -> str:
    """The meta file: one row per variable, then one CODGEO row per code with its name (UTF-8, accents)."""
    lines = ["COD_VAR;LIB_VAR;LIB_VAR_LONG;COD_MOD;LIB_MOD;TYPE_VAR;LONG_VAR"]
    for column, year, stem in columns_of(source, vintage):
        short, long = _label(stem, year)
        lines.append(f"{column};{short};{long};;;NUM;17")
    for code, name, _, _ in rows:
        lines.append(
            f"CODGEO;CODGEO;Code du département suivi du numéro de commune ou du numéro d'arrondissement "
            f"municipal;{code};{name};CHAR;5"
        )
    return "\n".join(lines) + "\n"


def write(root: Path) -> None:
    for vintage in VINTAGES:
        rows = rows_of(vintage)
        for source in THEMES:
            folder = entry_path(root, source, vintage)
            if folder.exists():  # a folder is a zip: stale members would be served too
                shutil.rmtree(folder)
            member = catalogue.get(source, vintage).file().member
            assert member is not None, f"the census entry {source}/{vintage} names its member"
            write_text(folder / member, data_csv(source, vintage, rows), crlf=True)
            write_text(folder / f"meta_{member}", meta_csv(source, vintage, rows), crlf=True)
            if int(vintage) >= 2022:  # overseas collectivities, in their own member since recent releases
                write_text(
                    folder / member.replace(".CSV", "-COM.CSV"),
                    data_csv(source, vintage, overseas_rows(vintage)),
                    crlf=True,
                )
