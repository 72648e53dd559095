"""Demo infra-communal files, in INSEE's and the ANCT's exact layouts: the IRIS reference (xlsx, title lines above
the header), the RP 2022 IRIS bases (`IRIS;COM;TYP_IRIS;LAB_IRIS;P22_…`, CRLF, `.` decimals), Filosofi 2021 by
IRIS (disposable and declared income, decimal comma, `ns`/`nd` markers and the note column) and the QPV 2024
GeoJSON (`sources/demo/world_iris.py` says what is invented).

The IRIS figures split the demo commune figures of `gen_census` (RP 2022 in the IRIS geography 2024) between the
IRIS of a commune: each IRIS of Cholet takes its population share, tilted by its need index for the social
variables, normalised so that the IRIS of a commune sum exactly to the commune's figure.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sources import catalogue
from sources.demo import gen_census, world
from sources.demo.files import entry_path, mirror_path, write_text, xlsx_workbook
from sources.demo.world import ARRONDISSEMENTS, communes_in
from sources.demo.world_iris import CHOLET_IRIS, IRISED, QPVS, Iris

GEOGRAPHY = 2024  # IRIS geography of the RP 2022 IRIS files and of the reference
YEAR = 2022
# stems of each IRIS file (gen_census's figures), and how much a need tilt moves each across the IRIS
STEMS = {
    "rp_iris_population": (
        "P_POP P_POP0002 P_POP0305 P_POP0610 P_POP1117 P_POP1824 P_POP2539 P_POP4054 P_POP5564 "
        "P_POP6579 P_POP80P P_POP0014 P_POP1529 P_POP3044 P_POP4559 P_POP6074 P_POP75P P_POP0019 "
        "P_POP2064 P_POP65P P_POPH P_POPF P_PMEN P_PHORMEN"
    ).split(),
    "rp_iris_families": "C_MEN C_MENPSEUL C_MENFAMMONO C_FAM C_COUPAENF C_FAMMONO C_COUPSENF C_PMEN".split(),
    "rp_iris_housing": ["P_LOG", "P_RP", "P_LOGVAC", "P_RP_PROP", "P_RP_LOC", "P_RP_LOCHLMV", "P_MEN"],
    "rp_iris_activity": ["P_POP1564", "P_ACT1564", "P_ACTOCC1564", "P_CHOM1564", "P_ETUD1564"],
}
TILT = {
    "C_FAMMONO": 0.8,
    "C_MENFAMMONO": 0.8,
    "C_MENPSEUL": 0.3,
    "P_RP_LOCHLMV": 0.9,
    "P_RP_LOC": 0.4,
    "P_CHOM1564": 0.8,
}
# a part that tilts must keep its whole above it: the whole's other parts take the opposite tilt, and the last part
# of a partition is the remainder (the commune's partitions are exact, so the IRIS still sum to the commune)
OPPOSITE = {"C_COUPAENF": "C_FAMMONO", "P_RP_PROP": "P_RP_LOC"}
REMAINDER = {"P_ACTOCC1564": ("P_ACT1564", ("P_CHOM1564",)), "C_COUPSENF": ("C_FAM", ("C_COUPAENF", "C_FAMMONO"))}


def iris_of_demo() -> list[tuple[str, str, str, str, str]]:
    """(IRIS code, IRIS name, type, commune or arrondissement, its name) of the IRIS geography 2024."""
    rows = []
    for code, name, _ in communes_in(GEOGRAPHY):
        if code in ("75056", "69123"):
            continue  # their IRIS lie in their arrondissements
        if code == IRISED:
            rows += [(i.code, i.name, i.typ, code, name) for i in CHOLET_IRIS]
        else:
            rows.append((f"{code}0000", name, "Z", code, name))
    rows += [(f"{a.code}0101", f"{a.name} (IRIS de démonstration)", "H", a.code, a.name) for a in ARRONDISSEMENTS]
    return sorted(rows)


def _commune_figures() -> dict[str, dict[str, float]]:
    """Stem -> RP 2022 value of every commune and arrondissement, in the IRIS geography (COG 2024)."""
    out = {}
    for code, name, parts in communes_in(GEOGRAPHY):
        place = gen_census._place(code, name, parts)
        if code in ("75056", "69123"):
            for arm_code, _, by_year, _ in gen_census._city_rows(place, (YEAR,)):
                out[arm_code] = by_year[YEAR]
            continue
        integers = place.population(YEAR) <= gen_census.FLOAT_ABOVE
        out[code] = gen_census.figures(place, YEAR, round(place.population(YEAR)), integers)
    return out


def _weights(stem: str, iris: list[Iris]) -> list[float]:
    tilt = TILT.get(stem, 0.0) - 0.5 * TILT.get(OPPOSITE.get(stem, ""), 0.0)
    return [i.share * max(0.05, 1 + tilt * i.need) for i in iris]


def iris_figures() -> dict[str, dict[str, float]]:
    """IRIS code -> stem -> value: a commune not divided into IRIS keeps its figures on its pseudo-IRIS."""
    communes = _commune_figures()
    out = {}
    for code, _, _, commune, _ in iris_of_demo():
        if commune != IRISED:
            out[code] = communes[commune]
    stems = {s for theme in STEMS.values() for s in theme}
    for stem in stems:
        weights = _weights(stem, CHOLET_IRIS)
        for i, w in zip(CHOLET_IRIS, weights):
            out.setdefault(i.code, {})[stem] = communes[IRISED][stem] * w / sum(weights)
    for i in CHOLET_IRIS:
        for stem, (whole, parts) in REMAINDER.items():
            out[i.code][stem] = out[i.code][whole] - sum(out[i.code][p] for p in parts)
    return out


def base_ic_csv(source: str, figures: dict[str, dict[str, float]]) -> str:
    stems = STEMS[source]
    header = ["IRIS", "COM", "TYP_IRIS", "LAB_IRIS"] + [f"{s[0]}22_{s[2:]}" for s in stems]
    lines = [";".join(header)]
    for code, _, typ, commune, _ in iris_of_demo():
        integers = typ == "Z" and figures[code]["P_POP"] <= gen_census.FLOAT_ABOVE  # small communes: integers
        cells = [code, commune, typ, "5" if typ == "Z" else "1"]
        cells += [gen_census.number(figures[code][s], integers) for s in stems]
        lines.append(";".join(cells))
    return "\n".join(lines) + "\n"


def reference_xlsx() -> bytes:
    titles = [
        "Table d'appartenance géographique des IRIS",
        "Géographie au 1er janvier 2024",
        "Source : Insee (données de démonstration)",
        "",
        "",
    ]
    rows: list[list[object]] = [
        ["CODE_IRIS", "LIB_IRIS", "TYP_IRIS", "GRD_QUART", "DEPCOM", "LIBCOM", "UU2020", "REG", "DEP"]
    ]
    for code, name, typ, commune, commune_name in iris_of_demo():
        rows.append([code, name, typ, code[:7], commune, commune_name, "", "", commune[:2]])
    return xlsx_workbook([("Emboitements_IRIS", titles, rows)])


def commune_population(code: str) -> float:
    """RP 2022 population of a commune of the IRIS geography (a commune merged since: its share)."""
    parts = next((p for c, _, p in communes_in(GEOGRAPHY) if c == code), [])
    return sum(share * world.commune(target).pop22 for target, share in parts)


def _comma(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


def filosofi_csv(prefix: str) -> str:
    """Filosofi by IRIS for the IRIS of communes of 5,000 inhabitants or more (Cholet's and the arrondissements')."""
    measures = (
        ["MED", "D1", "D9", "RD", "TP60", "PPSOC", "NOTE"]
        if prefix == "DISP"
        else ["MED", "D1", "D9", "RD", "TP60", "NOTE"]
    )
    lines = [";".join(["IRIS"] + [f"{prefix}_{m}21" for m in measures])]
    declared = 1.12 if prefix == "DEC" else 1.0  # declared income is above disposable income at the median
    for code, _, typ, commune, _ in iris_of_demo():
        if typ == "Z" and commune_population(commune) < 5000:
            continue  # published for the communes of 5,000 inhabitants or more only (their pseudo-IRIS included)
        iris = next((i for i in CHOLET_IRIS if i.code == code), None)
        need = iris.need if iris else 0.0
        if iris and iris.secret:  # too few households: every figure withheld, the note says so
            lines.append(";".join([code] + ["ns"] * (len(measures) - 1) + ["1"]))
            continue
        median = round(21500 * declared * (1 - 0.18 * need) / 10) * 10
        d1, d9 = round(median * (0.55 - 0.08 * need) / 10) * 10, round(median * (1.85 + 0.1 * need) / 10) * 10
        poverty = 14.0 + 14.0 * need
        values = {
            "MED": str(median),
            "D1": str(d1),
            "D9": str(d9),
            "RD": _comma(d9 / d1),
            "TP60": _comma(poverty),
            "PPSOC": _comma(6.0 + 6.0 * need),
            "NOTE": "0",
        }
        if prefix == "DEC" and need > 0.5:
            values["TP60"] = "nd"  # the declared-income poverty rate not available for this IRIS
        lines.append(";".join([code] + [values[m] for m in measures]))
    return "\n".join(lines) + "\n"


def qpv_geojson() -> str:
    features = []
    for q in QPVS:
        ring = [
            [q.lon, q.lat],
            [q.lon + 0.01, q.lat],
            [q.lon + 0.01, q.lat + 0.01],
            [q.lon, q.lat + 0.01],
            [q.lon, q.lat],
        ]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "code_qp": q.code,
                    "lib_qp": q.name,
                    "insee_com": q.commune,
                    "lib_com": q.commune_name,
                    "insee_dep": q.dep,
                    "insee_reg": q.reg,
                    "siren_epci": q.epci,
                },
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1) + "\n"


def _fresh(folder: Path) -> Path:
    if folder.exists():  # a folder is a zip: stale members would be served too
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _member(source: str, vintage: str) -> str:
    """The file name the catalogue gives the entry's main file (the demo writes it under that name)."""
    member = catalogue.get(source, vintage).file().member
    if member is None:
        raise ValueError(f"{source}/{vintage}: the catalogue names no member for the demo file")
    return member


def write(root: Path) -> None:
    folder = _fresh(entry_path(root, "iris_reference", "2024"))
    (folder / "reference_IRIS_geo2024.xlsx").write_bytes(reference_xlsx())
    figures = iris_figures()
    for source in STEMS:
        folder = _fresh(entry_path(root, source, "2022"))
        member = _member(source, "2022")
        write_text(folder / member, base_ic_csv(source, figures), crlf=True)
        write_text(
            folder / f"meta_{member}",
            "COD_VAR;LIB_VAR;LIB_VAR_LONG;COD_MOD;LIB_MOD;TYPE_VAR;LONG_VAR\n"
            "IRIS;Code IRIS;Code du découpage en IRIS;;;CHAR;9\n",
            crlf=True,
        )
    for source, prefix in (("filosofi_iris_disp", "DISP"), ("filosofi_iris_dec", "DEC")):
        folder = _fresh(entry_path(root, source, "2021"))
        write_text(folder / _member(source, "2021"), filosofi_csv(prefix))
    url = catalogue.get("qpv", "2024").file().url
    write_text(mirror_path(root, url), qpv_geojson())
