"""Demo Filosofi 2021, wide geo2024 edition: the members of `base-cc-filosofi-2021-geo2024_csv.zip`.

Exact real format (insee-sources §2.1): header `CODGEO;NBMENFISC21;…;RD21`, `;`, LF, no BOM, no quoting, decimal
comma, integers for counts and euros, `s` secret, `nd` not available. One member per level: `_COM` (communes of
COG 2024 and the 29 arrondissements of the world next to Paris and Lyon), `_EPCI`, `_DEP`, `_REG`, and a France
member `_FE` (its real name and code are not attested: the demo writes CODGEO `FR`; the parser accepts any single
row and stages it as `FR`).

The secret rule is the real one (§2.2): counts and median on every row that is not fully secret; shares, deciles,
PIMP only when NBMENFISC >= 1000 or NBPERSMENFISC >= 2000; the poverty rates under extra conditions (the real
ones are unknown: TP60 from 1,500 households, by tenure from 3,000, by age from 5,000 / 10,000 here). 01001 is
fully `s` (the real fully secret rows are not a simple threshold; the real 01001 is median-only, 01019 is fully
secret), 85133 Maillezais median-only. 85165 L'Oie and 85212 Sainte-Florence did not exist in the 2021 tax year:
they are `nd` and 85084 carries their households. EPCI, département, région and France rows are INSEE's own
figures: invented from the same need-driven formulas, never means of the communes (EPCI counts are the sum of
their communes' households, as INSEE's are).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sources.demo.files import entry_path, write_text
from sources.demo.gen_cog import write_epci
from sources.demo.world import ARRONDISSEMENTS, COMMUNES, EPCIS, RESTORED, commune, communes_in
from sources.mirror import zip_folder

YY = "21"
NAMES = (
    "NBMENFISC NBPERSMENFISC MED PIMP TP60 TP60AGE1 TP60AGE2 TP60AGE3 TP60AGE4 TP60AGE5 TP60AGE6 TP60TOL1 TP60TOL2 "
    "PACT PTSA PCHO PBEN PPEN PPAT PPSOC PPFAM PPMINI PPLOGT PIMPOT D1 D9 RD"
).split()
HEADER = ["CODGEO"] + [f"{n}{YY}" for n in NAMES]
DETAILS = ["PIMP", *NAMES[NAMES.index("PACT") :]]  # shown from 1,000 households or 2,000 persons
FULLY_SECRET = {"01001"}
AGE_FACTORS = [1.9, 1.35, 1.2, 1.0, 0.65, 0.6]

# Départements, régions and France: (households, persons, need), invented at a plausible scale. Paris is a
# commune and a département: its DEP row repeats the commune row.
DEPARTMENTS = {
    "01": (281_340, 652_870, 0.15),
    "2A": (70_560, 155_210, 0.55),
    "44": (621_480, 1_425_960, 0.30),
    "49": (358_210, 815_330, 0.40),
    "69": (815_740, 1_853_120, 0.45),
    "75": (0, 0, 0.0),  # the commune 75056 itself (same_as)
    "85": (306_120, 690_480, 0.35),
}
REGIONS = {
    "11": (5_321_870, 12_048_330, 0.50),
    "52": (1_665_920, 3_791_650, 0.35),
    "84": (3_561_440, 7_998_210, 0.35),
    "94": (151_230, 334_870, 0.55),
}
FRANCE = (29_214_560, 64_381_930, 0.45)


def _jitter(code: str, spread: int) -> int:
    """A deterministic small offset in [-spread, spread] from the code."""
    return sum(ord(ch) * (i + 3) for i, ch in enumerate(code)) % (2 * spread + 1) - spread


def _round10(x: float) -> int:
    return int(round(x / 10.0)) * 10


def _tenths(t: int) -> str:
    """A value held in tenths, written with a decimal comma (`-157` -> `-15,7`)."""
    sign = "-" if t < 0 else ""
    return f"{sign}{abs(t) // 10},{abs(t) % 10}"


def figures(code: str, need: float, households: int, persons: int) -> dict[str, str]:
    """Every cell of one area before the secret rule: need drives the median down and poverty up."""
    med = _round10(27_000 - 7_500 * need + 40 * _jitter(code, 5))
    d1 = _round10(med * (0.60 - 0.10 * need))
    d9 = _round10(med * (1.60 + 0.40 * need))
    tp60 = max(1, round(3 + 18 * need))
    # income shares in tenths of a point, so that the published sums hold exactly (as in the real file)
    ppen = 240 + 20 * (_jitter(code, 2) + 2)
    ppat = round(110 - 40 * need)
    ppsoc = round(15 + 70 * need)
    ppfam, ppmini = round(0.35 * ppsoc), round(0.35 * ppsoc)
    pimpot = -round(175 - 40 * need)
    pact = 1000 - ppen - ppat - ppsoc - pimpot
    pcho, pben = round(20 + 15 * need), 40 + 10 * (_jitter(code, 1) + 1)
    cells = {
        "NBMENFISC": str(households),
        "NBPERSMENFISC": str(persons),
        "MED": str(med),
        "PIMP": _tenths(10 * round(62 - 22 * need)),
        "TP60": _tenths(10 * tp60),
        "TP60TOL1": _tenths(10 * max(1, round(0.45 * tp60))),
        "TP60TOL2": _tenths(10 * max(1, round(2.1 * tp60))),
        "PACT": _tenths(pact),
        "PTSA": _tenths(pact - pcho - pben),
        "PCHO": _tenths(pcho),
        "PBEN": _tenths(pben),
        "PPEN": _tenths(ppen),
        "PPAT": _tenths(ppat),
        "PPSOC": _tenths(ppsoc),
        "PPFAM": _tenths(ppfam),
        "PPMINI": _tenths(ppmini),
        "PPLOGT": _tenths(ppsoc - ppfam - ppmini),
        "PIMPOT": _tenths(pimpot),
        "D1": str(d1),
        "D9": str(d9),
        "RD": _tenths(round(10 * d9 / d1)),
    }
    for i, factor in enumerate(AGE_FACTORS, start=1):
        cells[f"TP60AGE{i}"] = _tenths(10 * max(1, round(factor * tp60)))
    return cells


def publish(cells: dict[str, str], households: int, persons: int) -> list[str]:
    """The real secret rule of Filosofi 2021 (insee-sources §2.2), then the cells in header order."""
    details = households >= 1000 or persons >= 2000
    shown = {"NBMENFISC", "NBPERSMENFISC", "MED"}
    if details:
        shown |= set(DETAILS)
        if households >= 1500:
            shown.add("TP60")
        if households >= 3000:
            shown |= {"TP60TOL1", "TP60TOL2"}
        if households >= 5000:
            shown |= {"TP60AGE2", "TP60AGE3", "TP60AGE4", "TP60AGE5"}
        if households >= 10_000:
            shown |= {"TP60AGE1", "TP60AGE6"}
    return [cells[n] if n in shown else "s" for n in NAMES]


def _pop21(code: str) -> float:
    """Population of a target commune in 2021, between the 2016 and 2022 censuses."""
    c = commune(code)
    return c.pop16 + (c.pop22 - c.pop16) * 5 / 6


def _area(pop: float, need: float, town: float | None = None) -> tuple[int, int]:
    """(households, persons); households are smaller in large towns (`town`: the whole city's population)."""
    persons = round(pop * 0.975)  # people of ordinary households with a tax return
    size = 2.0 if (town or pop) > 50_000 else 2.45 - 0.35 * need
    return round(persons / size), persons


def commune_areas() -> dict[str, tuple[float, int, int]]:
    """code -> (need, households, persons) for the COM member (communes of COG 2024, arrondissements)."""
    parts_2021 = {code: parts for code, _, parts in communes_in(2021)}
    out: dict[str, tuple[float, int, int]] = {}
    for code, _, parts in communes_in(2024):
        if code in RESTORED:
            continue  # no households of its own in the 2021 tax year: `nd`
        if code in RESTORED.values():
            parts = parts_2021[code]  # the parent still holds the restored communes' households
        pop = sum(share * _pop21(target) for target, share in parts)
        need = sum(share * _pop21(t) * commune(t).need for t, share in parts) / pop
        out[code] = (need, *_area(pop, need))
    for city in {a.parent for a in ARRONDISSEMENTS}:
        arms = [a for a in ARRONDISSEMENTS if a.parent == city]
        for i, a in enumerate(arms, start=1):
            need = min(0.95, max(0.05, commune(city).need + ((i * 7) % 9 - 4) * 0.06))
            out[a.code] = (need, *_area(_pop21(city) * a.share, need, town=_pop21(city)))
        # the city's counts are those of its arrondissements; its median is its own
        out[city] = (commune(city).need, sum(out[a.code][1] for a in arms), sum(out[a.code][2] for a in arms))
    return out


def _line(code: str, cells: list[str]) -> str:
    return ";".join([code, *cells])


def com_csv() -> str:
    areas = commune_areas()
    lines = []
    for code in sorted(set(areas) | set(RESTORED)):
        if code in RESTORED:
            lines.append(_line(code, ["nd"] * len(NAMES)))
        elif code in FULLY_SECRET:
            lines.append(_line(code, ["s"] * len(NAMES)))
        else:
            need, households, persons = areas[code]
            lines.append(_line(code, publish(figures(code, need, households, persons), households, persons)))
    return "\n".join([";".join(HEADER), *lines]) + "\n"


def epci_csv() -> str:
    areas = commune_areas()
    lines = []
    for e in sorted(EPCIS, key=lambda e: e.siren):
        members = [
            code for code, _, parts in communes_in(2024) if code in areas and commune(parts[0][0]).epci == e.siren
        ]
        if len(members) == 1:  # the world keeps one commune of this EPCI: same territory, same figures
            need, households, persons = areas[members[0]]
            cells = figures(members[0], need, households, persons)
        else:
            households = sum(areas[c][1] for c in members)
            persons = sum(areas[c][2] for c in members)
            need = sum(areas[c][0] * areas[c][2] for c in members) / persons
            cells = figures(e.siren, need, households, persons)
        lines.append(_line(e.siren, publish(cells, households, persons)))
    return "\n".join([";".join(HEADER), *lines]) + "\n"


def _published(table: dict[str, tuple[int, int, float]], same_as: dict[str, str] | None = None) -> str:
    """Rows of INSEE's own figures; `same_as` maps an area to the commune that is the same territory (Paris)."""
    areas = commune_areas()
    lines = []
    for code, (hh, persons, need) in sorted(table.items()):
        if same_as and code in same_as:
            twin = same_as[code]
            need, hh, persons = areas[twin]
            lines.append(_line(code, publish(figures(twin, need, hh, persons), hh, persons)))
        else:
            lines.append(_line(code, publish(figures(code, need, hh, persons), hh, persons)))
    return "\n".join([";".join(HEADER), *lines]) + "\n"


def write(root: Path) -> None:
    assert {c.dep for c in COMMUNES} <= DEPARTMENTS.keys() and {c.reg for c in COMMUNES} <= REGIONS.keys()
    members = {
        "cc_filosofi_2021_COM.csv": com_csv(),
        "cc_filosofi_2021_EPCI.csv": epci_csv(),
        "cc_filosofi_2021_DEP.csv": _published(DEPARTMENTS, same_as={"75": "75056"}),
        "cc_filosofi_2021_REG.csv": _published(REGIONS),
        "cc_filosofi_2021_FE.csv": _published({"FR": FRANCE}),
    }
    # committed as the archive itself (not a folder of members): the real Filosofi file names stay in the zip, so
    # the synthetic demo is never mistaken for the real INSEE files of ../shared/data
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in members.items():
            write_text(Path(tmp) / name, text)
        archive = entry_path(root, "filosofi", "2021")
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(zip_folder(Path(tmp)))
    # the 2024 EPCI composition, in the geography of Filosofi 2021 (geo2024)
    write_epci(root, 2024, entry_path(root, "filosofi", "2021", "epci_geography"))
