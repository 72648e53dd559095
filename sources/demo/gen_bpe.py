"""Demo BPE aggregated file (`DS_BPE_CSV_FR.zip`), release BPE 2024: `DS_BPE_2024_data.csv` and
`DS_BPE_2024_metadata.csv`.

The exact layout of the real file (supply-space-time-sources §1.2): `;`, UTF-8, LF, string fields double-quoted,
numbers (`TIME_PERIOD`, `OBS_VALUE`) not; columns `GEO, GEO_OBJECT, FACILITY_DOM, FACILITY_SDOM, FACILITY_TYPE,
BPE_MEASURE, TIME_PERIOD, OBS_VALUE`. It carries every quirk the parser handles:
- `_T` subtotals at the three levels (per sub-domain, per domain, all equipments) for every territory;
- only equipped communes have rows: a zero count is no row, and 01001 (L'Abergement-Clémenciat) has no row at all;
- Paris and Lyon by arrondissement (ARM rows) and as communes (their COM row is the sum of their arrondissements);
- EPCI, département, région and France rows (France's GEO is `FRANCE`), an overseas département and région
  (971 Guadeloupe, 01) with no commune of the demo world, and zonings the parser drops (BV2022, ARR);
- one empty OBS_VALUE (a secret, never 0).
BPE 2024 is in the geography of 1 January 2025 (44088 already holds Monnières). The figures are invented: counts
proportional to the population, moved by the world's `need` index for social equipment.
"""

from __future__ import annotations

from pathlib import Path

from sources.demo.files import entry_path, write_text
from sources.demo.world import ARRONDISSEMENTS, COMMUNES, EPCIS, NO_EPCI, Commune

YEAR = 2024
HEADER = [
    "GEO",
    "GEO_OBJECT",
    "FACILITY_DOM",
    "FACILITY_SDOM",
    "FACILITY_TYPE",
    "BPE_MEASURE",
    "TIME_PERIOD",
    "OBS_VALUE",
]
LEVEL_ORDER = ["FRANCE", "REG", "DEP", "EPCI", "COM", "ARM", "ARR", "BV2022"]
TOTAL = "_T"

# (type, label as in the BPE 2024 dictionary, inhabitants per equipment, how much the `need` index moves it:
# +1 more equipment where needs are high (social services), -1 fewer (private childcare, doctors), 0 none).
TYPES = [
    ("A128", "France services", 9000, 0.5),
    ("A129", "Mairie", 0, 0.0),  # one per commune (one per arrondissement in Paris and Lyon)
    ("C107", "École maternelle", 2500, 0.0),
    ("C108", "École primaire", 3000, 0.0),
    ("C109", "École élémentaire", 2800, 0.0),
    ("C201", "Collège", 9000, 0.0),
    ("D115", "Services de santé maternelle et infantile (PMI)", 15000, 0.5),
    ("D265", "Médecin généraliste", 1100, -0.5),
    ("D307", "Pharmacie", 3500, 0.0),
    ("D401", "Personnes âgées : hébergement", 5000, 0.0),
    ("D402", "Personnes âgées : soins à domicile", 15000, 0.0),
    ("D403", "Personnes âgées : services d'aide", 8000, 0.0),
    ("D502", "Établissement d'accueil du jeune enfant", 5000, -0.5),
    ("D503", "Lieux d'accueil enfant-parent (LAEP)", 20000, 0.5),
    ("D504", "Relais petite enfance", 12000, 0.0),
    ("D505", "Accueil de loisir sans hébergement (ALSH)", 3000, 0.0),
    ("D506", "Centres sociaux", 15000, 1.0),
    ("D507", "Médiation familiale", 40000, 0.5),
    ("D601", "Enfants handicapés : hébergement", 30000, 0.0),
    ("D602", "Enfants handicapés : services à domicile ou ambulatoires", 25000, 0.0),
    ("D603", "Adultes handicapés : accueil, hébergement", 12000, 0.0),
    ("D604", "Adultes handicapés : services d'aide", 20000, 0.0),
    ("D605", "Travail protégé", 20000, 0.0),
    ("D606", "Adultes handicapés : services de soins à domicile", 30000, 0.0),
]
LABELS = {t: label for t, label, _, _ in TYPES}
DOMAINS = {"A": "Services pour les particuliers", "C": "Enseignement", "D": "Santé et action sociale"}
SUBDOMAINS = {
    "A1": "Services publics",
    "C1": "Enseignement du premier degré",
    "C2": "Enseignement du second degré premier cycle",
    "D1": "Établissements et services de santé",
    "D2": "Fonctions médicales et paramédicales",
    "D3": "Autres établissements et services à caractère sanitaire",
    "D4": "Action sociale pour personnes âgées",
    "D5": "Action sociale pour enfants en bas-âge",
    "D6": "Action sociale pour handicapés",
}

NO_EQUIPMENT = "01001"  # a commune without any row in the file
SECRET_CELL = ("85162", "D507")  # the one empty OBS_VALUE
# Invented published counts of the départements and régions beyond the demo communes (multiples of their sum),
# an overseas département and région the demo world has no commune in, and France.
DEP_FACTOR = {"44": 9, "49": 5, "85": 7, "69": 2, "2A": 2, "01": 40}
REG_FACTOR = {"52": 3, "11": 6, "84": 8, "94": 2}
OVERSEAS = {"DEP": "971", "REG": "01"}
FRANCE_FACTOR = 12


def _wiggle(code: str, typ: str) -> float:
    """A fixed pseudo-random variation in [-0.3, 0.3], so counts are not plain multiples of the population."""
    seed = sum(ord(ch) * (i + 3) for i, ch in enumerate(code + typ))
    return ((seed % 13) - 6) / 20


def count(code: str, population: float, need: float, typ: str) -> int:
    """Invented number of equipments of a type in a commune or arrondissement."""
    _, _, per, moved = next(t for t in TYPES if t[0] == typ)
    if per == 0:
        return 1
    return max(0, round(population / per * (1 + moved * (need - 0.4)) * (1 + _wiggle(code, typ))))


def commune_counts() -> dict[tuple[str, str, str], int | None]:
    """(level, code) x type -> count at COM and ARM levels (None: the secret cell; 0: no row in the file)."""
    out: dict[tuple[str, str, str], int | None] = {}
    for c in COMMUNES:
        arms = [a for a in ARRONDISSEMENTS if a.parent == c.code]
        for typ in LABELS:
            if c.code == NO_EQUIPMENT:
                value = 0
            elif arms:  # the city counts exactly its arrondissements
                parts = [count(a.code, c.pop22 * a.share, c.need, typ) for a in arms]
                for a, v in zip(arms, parts):
                    out[("ARM", a.code, typ)] = v
                value = sum(parts)
            else:
                value = count(c.code, c.pop22, c.need, typ)
            out[("COM", c.code, typ)] = None if (c.code, typ) == SECRET_CELL else value
    return out


def _above(counts: dict, communes: list[Commune], typ: str) -> int:
    return sum(counts[("COM", c.code, typ)] or 0 for c in communes)


def observations() -> list[tuple[str, str, str, int | None]]:
    """(level, GEO, type, value) leaf rows, zero counts left out (only equipped territories have rows)."""
    counts = commune_counts()
    rows = [(lv, code, typ, v) for (lv, code, typ), v in counts.items() if v != 0]
    for typ in LABELS:
        for e in EPCIS:
            members = [c for c in COMMUNES if c.epci == e.siren]
            rows.append(("EPCI", e.siren, typ, _above(counts, members, typ)))
        deps = {d: _above(counts, [c for c in COMMUNES if c.dep == d], typ) * f for d, f in DEP_FACTOR.items()}
        deps["75"] = counts[("COM", "75056", typ)] or 0  # Paris is a commune and a département (never secret here)
        regs = {
            r: sum(v for d, v in deps.items() if any(c.dep == d and c.reg == r for c in COMMUNES)) * f
            for r, f in REG_FACTOR.items()
        }
        france = sum(regs.values()) * FRANCE_FACTOR
        rows += [("DEP", d, typ, v) for d, v in deps.items()] + [("REG", r, typ, v) for r, v in regs.items()]
        rows += [
            ("DEP", OVERSEAS["DEP"], typ, max(1, france // 200)),
            ("REG", OVERSEAS["REG"], typ, max(1, france // 200)),
        ]
        rows.append(("FRANCE", "FRANCE", typ, france))
    rows = [r for r in rows if r[3] != 0]  # a territory without the type has no row
    clisson = counts[("COM", "44043", "D265")] or 0
    rows += [("ARR", "443", "D265", clisson * 6), ("BV2022", "44043", "D265", clisson * 2)]
    return rows


def _subtotals(rows: list[tuple[str, str, str, int | None]]) -> list[tuple[str, str, str, str, str, int | None]]:
    """Leaf rows with their `_T` subtotals per sub-domain, per domain and for all types, for each territory."""
    out = []
    sums: dict[tuple[str, str, str, str], int] = {}
    for level, geo, typ, value in rows:
        out.append((level, geo, typ[0], typ[:2], typ, value))
        for dom, sdom in ((typ[0], typ[:2]), (typ[0], TOTAL), (TOTAL, TOTAL)):
            key = (level, geo, dom, sdom)
            sums[key] = sums.get(key, 0) + (value or 0)
    out += [(level, geo, dom, sdom, TOTAL, v) for (level, geo, dom, sdom), v in sums.items()]

    def order(r):
        return (LEVEL_ORDER.index(r[0]), r[1], r[2] == TOTAL, r[2], r[3] == TOTAL, r[3], r[4] == TOTAL, r[4])

    return sorted(out, key=order)


def _quoted(value: str) -> str:
    return f'"{value}"'


def data_csv() -> str:
    lines = [";".join(_quoted(h) for h in HEADER)]
    for level, geo, dom, sdom, typ, value in _subtotals(observations()):
        strings = ";".join(_quoted(f) for f in (geo, level, dom, sdom, typ, "FACILITIES"))
        lines.append(f"{strings};{YEAR};{'' if value is None else value}")
    return "\n".join(lines) + "\n"


def metadata_csv() -> str:
    rows = [("BPE_MEASURE", "Mesure", "FACILITIES", "Nombre d'équipements")]
    rows += [("FACILITY_DOM", "Domaine d'équipement", d, label) for d, label in DOMAINS.items()]
    rows += [("FACILITY_SDOM", "Sous-domaine d'équipement", s, label) for s, label in SUBDOMAINS.items()]
    rows += [("FACILITY_TYPE", "Type d'équipement", t, label) for t, label in LABELS.items()]
    rows += [
        ("FACILITY_DOM", "Domaine d'équipement", TOTAL, "Total"),
        ("FACILITY_SDOM", "Sous-domaine d'équipement", TOTAL, "Total"),
        ("FACILITY_TYPE", "Type d'équipement", TOTAL, "Total"),
    ]
    rows += [("GEO", "Géographie", c.code, c.name) for c in COMMUNES]
    rows += [("GEO", "Géographie", a.code, a.name) for a in ARRONDISSEMENTS]
    rows += [("GEO", "Géographie", e.siren, e.name) for e in EPCIS if e.siren != NO_EPCI]
    header = ("COD_VAR", "LIB_VAR", "COD_MOD", "LIB_MOD")
    return "\n".join(";".join(_quoted(f) for f in row) for row in [header, *rows]) + "\n"


def write(root: Path) -> None:
    folder = entry_path(root, "bpe", "courant")
    write_text(folder / f"DS_BPE_{YEAR}_data.csv", data_csv())
    write_text(folder / f"DS_BPE_{YEAR}_metadata.csv", metadata_csv())
