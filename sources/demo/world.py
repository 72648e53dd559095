"""The synthetic demo territory: real commune codes and names, invented figures.

Everything the embedded demo mirror serves is generated from this description (`python -m sources.demo.build`),
in the exact formats of the real INSEE and CAF files. The same mirror is the test fixture world, so it carries
every quirk the parsers must handle:

- a commune nouvelle created on 2025-01-01 (44088 absorbs 44100): files in COG 2024 and older still carry both;
- communes restored on 2024-01-01 (85165 and 85212 out of 85084): files in COG 2021-2023 carry only 85084;
- Paris (75056) and Lyon (69123) with their arrondissements municipaux, Corsica (2A004), a leading zero (01001);
- a commune in no EPCI (85113, EPCI `ZZZZZZZZZ`);
- communes above and below the 10,000 inhabitants of the CAF communal childcare files.

The figures are invented. Every page of the demo report says so.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    dep: str
    reg: str
    epci: str  # SIREN, or ZZZZZZZZZ
    pop22: int  # census population 2022 (P22_POP), in COG 2025
    pop16: int
    pop11: int
    need: float  # 0 (well-off) .. 1 (high social needs): drives the invented rates so flags appear
    tncc: int = 0  # INSEE article type of the name


@dataclass(frozen=True)
class Epci:
    siren: str
    name: str
    nature: str  # CC, CA, CU, ME, METLYON


@dataclass(frozen=True)
class Arrondissement:
    code: str
    name: str
    parent: str
    share: float  # share of the parent city's population


TARGET_COG = 2025
NO_EPCI = "ZZZZZZZZZ"

EPCIS = [
    Epci("200067346", "CA Clisson Sèvre et Maine Agglo", "CA"),
    Epci("200071678", "CA du Choletais", "CA"),
    Epci("200029940", "CC Vendée Sèvre Autise", "CC"),
    Epci("248500589", "CC du Pays de Saint-Fulgent - Les Essarts", "CC"),
    Epci("200054781", "Métropole du Grand Paris", "ME"),
    Epci("200046977", "Métropole de Lyon", "METLYON"),
    Epci("242010056", "CA du Pays Ajaccien", "CA"),
    Epci("200069193", "CC de la Dombes", "CC"),
]

# Communes of the target COG (2025). pop16/pop11 are in the same geography (44088 includes 44100).
COMMUNES = [
    Commune("44043", "Clisson", "44", "52", "200067346", 7458, 7035, 6682, 0.35),
    Commune("44064", "Gorges", "44", "52", "200067346", 5090, 4543, 4305, 0.20),
    Commune("44071", "Haute-Goulaine", "44", "52", "200067346", 5992, 5754, 5546, 0.10),
    Commune("44088", "Maisdon-Monnières", "44", "52", "200067346", 5110, 4890, 4620, 0.25),
    Commune("44142", "Remouillé", "44", "52", "200067346", 1932, 1899, 1717, 0.30),
    Commune("49099", "Cholet", "49", "52", "200071678", 54074, 53718, 54421, 0.70),
    Commune("49192", "Maulévrier", "49", "52", "200071678", 3240, 3190, 3105, 0.40),
    Commune("49299", "Saint-Léger-sous-Cholet", "49", "52", "200071678", 2810, 2760, 2690, 0.15),
    Commune("49332", "La Séguinière", "49", "52", "200071678", 4120, 4010, 3950, 0.20),
    Commune("85020", "Benet", "85", "52", "200029940", 3992, 3930, 3850, 0.45),
    Commune("85133", "Maillezais", "85", "52", "200029940", 952, 970, 985, 0.55),
    Commune("85162", "Rives-d'Autise", "85", "52", "200029940", 2710, 2650, 2580, 0.40),
    Commune("85303", "Vix", "85", "52", "200029940", 1805, 1830, 1850, 0.50),
    Commune("85084", "Essarts-en-Bocage", "85", "52", "248500589", 6980, 6800, 6500, 0.25),
    Commune("85165", "L'Oie", "85", "52", "248500589", 1320, 1280, 1210, 0.20, tncc=5),
    Commune("85212", "Sainte-Florence", "85", "52", "248500589", 1110, 1090, 1040, 0.20),
    Commune("85113", "L'Île-d'Yeu", "85", "52", NO_EPCI, 4790, 4880, 4950, 0.30, tncc=5),
    Commune("75056", "Paris", "75", "11", "200054781", 2113705, 2190327, 2249975, 0.55),
    Commune("69123", "Lyon", "69", "84", "200046977", 522250, 516092, 496343, 0.50),
    Commune("2A004", "Ajaccio", "2A", "94", "242010056", 73250, 70817, 67507, 0.60),
    Commune("01001", "L'Abergement-Clémenciat", "01", "84", "200069193", 859, 776, 784, 0.10, tncc=5),
]

# Paris has 20 arrondissements and Lyon 9; the demo keeps them all so that city = sum of arrondissements.
PARIS_SHARES = [
    0.008,
    0.010,
    0.016,
    0.013,
    0.028,
    0.019,
    0.024,
    0.017,
    0.028,
    0.040,
    0.070,
    0.066,
    0.086,
    0.066,
    0.110,
    0.079,
    0.080,
    0.082,
    0.078,
    0.080,
]
LYON_SHARES = [0.058, 0.059, 0.199, 0.069, 0.092, 0.099, 0.162, 0.165, 0.097]


def _ordinal(n: int) -> str:
    return "1er" if n == 1 else f"{n}e"


ARRONDISSEMENTS = [
    Arrondissement(f"751{i:02d}", f"Paris {_ordinal(i)} Arrondissement", "75056", s)
    for i, s in enumerate(PARIS_SHARES, start=1)
] + [
    Arrondissement(f"6938{i}", f"Lyon {_ordinal(i)} Arrondissement", "69123", s)
    for i, s in enumerate(LYON_SHARES, start=1)
]

# Communes that no longer exist in COG 2025, with their share of the commune that absorbed them.
# 44100 Monnières merged into 44088 on 2025-01-01 (it held 40 % of today's 44088).
ABSORBED = {"44100": ("Monnières", "44088", 0.40)}
# 85165 and 85212 were part of 85084 from 2016-01-01 to 2024-01-01 (restored, MOD 21).
RESTORED = {"85165": "85084", "85212": "85084"}
# Older history kept in the events file: 85084 was created on 2016-01-01 from Les Essarts, L'Oie, Sainte-Florence
# and Boulogne (85030); Boulogne stayed a delegated commune.
BOULOGNE = ("85030", "Boulogne", 0.10)

# Commune events (v_mvt_commune_2025): (MOD, DATE_EFF, TYPECOM_AV, COM_AV, TNCC_AV, LIBELLE_AV, TYPECOM_AP, COM_AP,
# TNCC_AP, LIBELLE_AP). NCC/NCCENR are derived from the names by the generator.
EVENTS = [
    (32, "2016-01-01", "COM", "85084", 0, "Les Essarts", "COM", "85084", 0, "Essarts en Bocage"),
    (32, "2016-01-01", "COM", "85165", 5, "L'Oie", "COM", "85084", 0, "Essarts en Bocage"),
    (32, "2016-01-01", "COM", "85212", 0, "Sainte-Florence", "COM", "85084", 0, "Essarts en Bocage"),
    (32, "2016-01-01", "COM", "85030", 0, "Boulogne", "COM", "85084", 0, "Essarts en Bocage"),
    (32, "2016-01-01", "COM", "85084", 0, "Les Essarts", "COMD", "85084", 0, "Les Essarts"),
    (32, "2016-01-01", "COM", "85165", 5, "L'Oie", "COMD", "85165", 5, "L'Oie"),
    (32, "2016-01-01", "COM", "85212", 0, "Sainte-Florence", "COMD", "85212", 0, "Sainte-Florence"),
    (32, "2016-01-01", "COM", "85030", 0, "Boulogne", "COMD", "85030", 0, "Boulogne"),
    (10, "2019-01-01", "COM", "85084", 0, "Essarts en Bocage", "COM", "85084", 0, "Essarts-en-Bocage"),
    (21, "2024-01-01", "COM", "85084", 0, "Essarts-en-Bocage", "COM", "85084", 0, "Essarts-en-Bocage"),
    (21, "2024-01-01", "COM", "85084", 0, "Essarts-en-Bocage", "COM", "85165", 5, "L'Oie"),
    (21, "2024-01-01", "COM", "85084", 0, "Essarts-en-Bocage", "COM", "85212", 0, "Sainte-Florence"),
    (32, "2025-01-01", "COM", "44088", 0, "Maisdon-sur-Sèvre", "COM", "44088", 0, "Maisdon-Monnières"),
    (32, "2025-01-01", "COM", "44100", 0, "Monnières", "COM", "44088", 0, "Maisdon-Monnières"),
    (32, "2025-01-01", "COM", "44088", 0, "Maisdon-sur-Sèvre", "COMD", "44088", 0, "Maisdon-sur-Sèvre"),
    (32, "2025-01-01", "COM", "44100", 0, "Monnières", "COMD", "44100", 0, "Monnières"),
]

# Delegated communes (COMD rows of v_commune_2025) and their parent.
DELEGATED = [("85030", "Boulogne", "85084"), ("44088", "Maisdon-sur-Sèvre", "44088"), ("44100", "Monnières", "44088")]


def communes_in(cog: int) -> list[tuple[str, str, list[tuple[str, float]]]]:
    """(code, name, parts) of the communes valid on 1 January `cog`; `parts` lists (target code, share).

    Use it to write a file in an older geography: an old commune's figure is the sum of share x figure over its
    parts (44100 is 40 % of today's 44088; before 2024, 85084 also holds today's 85165 and 85212).
    """
    out = []
    absorbed_into = {target: share for _, target, share in ABSORBED.values()}
    for c in COMMUNES:
        if cog < 2024 and c.code in RESTORED:
            continue
        if cog < 2025 and c.code in absorbed_into:
            out.append((c.code, "Maisdon-sur-Sèvre", [(c.code, 1 - absorbed_into[c.code])]))
        elif cog < 2024 and c.code in RESTORED.values():
            out.append((c.code, c.name, [(c.code, 1.0)] + [(r, 1.0) for r, p in RESTORED.items() if p == c.code]))
        else:
            out.append((c.code, c.name, [(c.code, 1.0)]))
    if cog < 2025:
        for code, (name, target, share) in ABSORBED.items():
            out.append((code, name, [(target, share)]))
    return sorted(out)


def commune(code: str) -> Commune:
    return next(c for c in COMMUNES if c.code == code)


def department_of(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]
