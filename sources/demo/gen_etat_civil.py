"""Demo Melodi état civil files: births (`DS_ETAT_CIVIL_NAIS_COMMUNES`) and deaths (`DS_ETAT_CIVIL_DECES_COMMUNES`).

Each download is a zip holding `{DS}_data.csv` and `{DS}_metadata.csv`: `;`-separated, string fields quoted,
counts written as floats (`79.0`), UTF-8, LF. Melodi publishes in the latest geography (COG 2025, so 44088 already
holds Monnières) for 2008-2024, at every level: communes, arrondissements (with the `693XX` pseudo-code of Lyon
births and deaths whose arrondissement is unknown, counted in Lyon's commune row), EPCI, départements, régions,
France (GEO `F`), and other zonings (ARR, BV2022...) that the parser drops.

Figures are invented: about 1.1 % of the population for births, 0.9 % for deaths, moved by the world's `need`
index and a national year profile. DEP, REG and France rows are invented published values, larger than the sum of
the few demo communes they contain (Paris is its own département, so DEP 75 equals Paris).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sources.demo.files import entry_path, write_text
from sources.demo.world import ARRONDISSEMENTS, COMMUNES, EPCIS, NO_EPCI, Commune

YEARS = range(2008, 2025)
HEADER = ["CONF_STATUS", "EC_MEASURE", "FREQ", "GEO", "GEO_OBJECT", "OBS_STATUS", "TIME_PERIOD", "OBS_VALUE"]
LEVEL_ORDER = ["FRANCE", "REG", "DEP", "EPCI", "COM", "ARM", "ARR", "BV2022"]

# National year profiles (2008 = 1): births fell by about a fifth, deaths rose, with the 2020 and 2022 peaks.
BIRTH_PROFILE = {y: 1.0 - 0.0125 * (y - 2008) + (0.01 if y == 2021 else 0.0) for y in YEARS}
DEATH_PROFILE = {y: 1.0 + 0.0085 * (y - 2008) + {2015: 0.03, 2020: 0.09, 2022: 0.05}.get(y, 0.0) for y in YEARS}

# Lyon events whose arrondissement is unknown: (year -> count) in the 693XX row, already inside Lyon's COM row.
LYON_UNKNOWN = {"births": {2010: 2, 2014: 1, 2019: 3, 2023: 1}, "deaths": {2012: 1, 2020: 2}}
# The one confidential cell of each file (CONF_STATUS C, empty OBS_VALUE).
CONFIDENTIAL = {"births": ("85133", 2015), "deaths": ("01001", 2019)}

# Invented published values in 2008 for the départements, régions and France (scaled by the year profile).
PUBLISHED_2008: dict[str, dict[str, Any]] = {
    "births": {
        "DEP": {"44": 16100, "49": 9600, "85": 7400, "69": 25600, "2A": 1550, "01": 7350},
        "REG": {"52": 46200, "11": 182500, "84": 94800, "94": 3150},
        "FRANCE": 829000,
    },
    "deaths": {
        "DEP": {"44": 10200, "49": 7100, "85": 6300, "69": 13400, "2A": 1350, "01": 4400},
        "REG": {"52": 30100, "11": 73800, "84": 63200, "94": 2850},
        "FRANCE": 543000,
    },
}

DATASETS = {
    "births": ("DS_ETAT_CIVIL_NAIS_COMMUNES", "LVB", "Naissances vivantes domiciliées", 0.011),
    "deaths": ("DS_ETAT_CIVIL_DECES_COMMUNES", "DTH", "Décès domiciliés", 0.009),
}


def population(c: Commune, year: int) -> float:
    """Population of year `year`, linear through the 2011, 2016 and 2022 censuses (extended at both ends)."""
    if year <= 2016:
        return c.pop11 + (c.pop16 - c.pop11) * (year - 2011) / 5
    return c.pop16 + (c.pop22 - c.pop16) * (year - 2016) / 6


def _wiggle(code: str, year: int) -> float:
    """A fixed pseudo-random variation in [-0.05, 0.05], so series are not perfectly smooth."""
    seed = sum(ord(ch) * (i + 1) for i, ch in enumerate(code)) * 31 + year * 17
    return ((seed % 11) - 5) / 100


def commune_count(source: str, c: Commune, year: int) -> int:
    rate = DATASETS[source][3]
    if source == "births":
        level = rate * (0.85 + 0.30 * c.need) * BIRTH_PROFILE[year]
    else:
        level = rate * (1.15 - 0.30 * c.need) * DEATH_PROFILE[year]
    return round(population(c, year) * level * (1 + _wiggle(c.code, year)))


def _split(total: int, shares: list[float]) -> list[int]:
    """`total` spread over shares (normalised), rounded."""
    norm = sum(shares)
    return [round(total * s / norm) for s in shares]


def observations(source: str) -> list[tuple[str, str, int, int | None]]:
    """(level, GEO, year, value or None for the confidential cell), in the file's order."""
    rows: list[tuple[str, str, int, int | None]] = []
    for year in YEARS:
        com: dict[str, int] = {}
        for c in COMMUNES:
            com[c.code] = commune_count(source, c, year)
        for city in ("75056", "69123"):
            arms = [a for a in ARRONDISSEMENTS if a.parent == city]
            values = _split(com[city], [a.share for a in arms])
            rows += [("ARM", a.code, year, v) for a, v in zip(arms, values)]
            unknown = LYON_UNKNOWN[source].get(year, 0) if city == "69123" else 0
            if unknown:
                rows.append(("ARM", "693XX", year, unknown))
            # the city's row counts its arrondissements and the events of unknown arrondissement
            com[city] = sum(values) + unknown
        for code, value in com.items():
            rows.append(("COM", code, year, None if CONFIDENTIAL[source] == (code, year) else value))
        for e in EPCIS:
            rows.append(("EPCI", e.siren, year, sum(com[c.code] for c in COMMUNES if c.epci == e.siren)))

        published = PUBLISHED_2008[source]
        profile = BIRTH_PROFILE if source == "births" else DEATH_PROFILE
        dep = {d: round(v * profile[year]) for d, v in published["DEP"].items()}
        dep["75"] = com["75056"]  # Paris is a commune and a département
        for d, v in dep.items():
            inside = sum(com[c.code] for c in COMMUNES if c.dep == d)
            assert v >= inside, (source, year, d, v, inside)
        reg = {r: round(v * profile[year]) for r, v in published["REG"].items()}
        for r, v in reg.items():
            deps = {c.dep for c in COMMUNES if c.reg == r}
            assert v > sum(dep[d] for d in deps), (source, year, r)
        france = round(published["FRANCE"] * profile[year])
        assert france > sum(reg.values())
        rows += [("DEP", d, year, v) for d, v in dep.items()]
        rows += [("REG", r, year, v) for r, v in reg.items()]
        rows.append(("FRANCE", "F", year, france))
    # other zonings of the real file, dropped by the parser: one arrondissement, one bassin de vie
    last = max(YEARS)
    clisson = next(v for lv, g, y, v in rows if (lv, g, y) == ("COM", "44043", last) and v is not None)
    rows.append(("ARR", "443", last, round(clisson * 9.5)))
    rows.append(("BV2022", "44043", last, round(clisson * 1.8)))
    return sorted(rows, key=lambda r: (LEVEL_ORDER.index(r[0]), r[1], r[2]))


def _quoted(value: str) -> str:
    return f'"{value}"'


def data_csv(source: str) -> str:
    _, measure, _, _ = DATASETS[source]
    lines = [";".join(_quoted(h) for h in HEADER)]
    for level, geo, year, value in observations(source):
        secret = value is None
        fields = ["C" if secret else "F", measure, "A", geo, level, "A", str(year)]
        lines.append(";".join(_quoted(f) for f in fields) + ";" + ("" if value is None else f"{float(value):.1f}"))
    return "\n".join(lines) + "\n"


def metadata_csv(source: str) -> str:
    _, measure, label, _ = DATASETS[source]
    rows = [
        ("CONF_STATUS", "Statut de confidentialité", "C", "Confidentiel"),
        ("CONF_STATUS", "Statut de confidentialité", "F", "Libre"),
        ("EC_MEASURE", "Mesure", measure, label),
        ("FREQ", "Fréquence", "A", "Annuelle"),
        ("GEO_OBJECT", "Type d'objet géographique", "ARM", "Arrondissement municipal"),
        ("GEO_OBJECT", "Type d'objet géographique", "ARR", "Arrondissement"),
        ("GEO_OBJECT", "Type d'objet géographique", "BV2022", "Bassin de vie 2022"),
        ("GEO_OBJECT", "Type d'objet géographique", "COM", "Commune"),
        ("GEO_OBJECT", "Type d'objet géographique", "DEP", "Département"),
        ("GEO_OBJECT", "Type d'objet géographique", "EPCI", "Intercommunalité"),
        ("GEO_OBJECT", "Type d'objet géographique", "FRANCE", "France"),
        ("GEO_OBJECT", "Type d'objet géographique", "REG", "Région"),
        ("OBS_STATUS", "Statut de l'observation", "A", "Valeur normale"),
    ]
    rows += [("GEO", "Géographie", c.code, c.name) for c in COMMUNES]
    rows += [("GEO", "Géographie", a.code, a.name) for a in ARRONDISSEMENTS]
    rows.append(("GEO", "Géographie", "693XX", "Lyon (arrondissement inconnu)"))
    rows += [("GEO", "Géographie", e.siren, e.name) for e in EPCIS if e.siren != NO_EPCI]
    rows.append(("GEO", "Géographie", "F", "France"))
    header = ("COD_VAR", "LIB_VAR", "COD_MOD", "LIB_MOD")
    return "\n".join(";".join(_quoted(f) for f in row) for row in [header, *rows]) + "\n"


def write(root: Path) -> None:
    for source, (dataset, *_rest) in DATASETS.items():
        folder = entry_path(root, source, "2024")
        write_text(folder / f"{dataset}_data.csv", data_csv(source))
        write_text(folder / f"{dataset}_metadata.csv", metadata_csv(source))
