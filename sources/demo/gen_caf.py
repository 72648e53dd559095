"""Demo CAF files: Opendatasoft v2.1 CSV exports of data.caf.fr (UTF-8 with BOM, `;`, LF, technical header).

- `s_ben_com_f`: December 2020 … 2024, every commune of the world in the COG of December N + 1 (`communes_in`),
  Paris and Lyon as arrondissements only, one non-localised row (empty `numcomdo`) per December, counts rounded
  to 5 (tiny communes show 0 or 5), float-typed fields written `805.0`.
- childcare `txcouv_pe_*` / `nbpla_pe_*`, 2017 … 2023: current files hold 2022-2023 and their `_hist` twins
  2017-2022 (2022 differs slightly in one row), communal files only for communes above 10,000 inhabitants
  (Cholet, Ajaccio, the arrondissements of Paris and Lyon), an `XX` EPCI row (L'Île-d'Yeu, 195.8) and an `XXX`
  département row, the national file with `annee` as a date string.
Figures are invented, coherent with the populations and the need index of `world.py`.
"""

from __future__ import annotations

import math
from pathlib import Path

from sources.demo.files import entry_path, upper_ascii, write_text
from sources.demo.world import ARRONDISSEMENTS, COMMUNES, EPCIS, NO_EPCI, commune, communes_in

VINTAGE = "2024"
BENEFIT_YEARS = range(2020, 2025)
CHILDCARE_YEARS = range(2017, 2024)
CURRENT_YEARS = range(2022, 2024)
HIST_YEARS = range(2017, 2023)

# ---------------------------------------------------------------------------------------------------------------
# s_ben_com_f
# ---------------------------------------------------------------------------------------------------------------

BEN_COLUMNS = [
    "dtreffre",
    "numcomdo",
    "nomcom",
    "indfoy_ndur",
    "indnbp_ndur",
    "indmtt_ndur",
    "indfoy_ndurpaje",
    "indfoy_pn",
    "indfoy_ab",
    "indfoy_cmg",
    "indfoy_prepare",
    "indfoy_ndurej",
    "indfoy_af",
    "indfoy_cf",
    "indfoy_ars",
    "indfoy_asf",
    "indfoy_ndural",
    "indnbp_ndural",
    "indfoy_apl",
    "indfoy_alf",
    "indfoy_als",
    "indfoy_ndurins",
    "indfoy_rsa",
    "indnbp_rsa",
    "indmtt_rsa",
    "indfoy_ppa",
    "indnbp_ppa",
    "indmtt_ppa",
    "indfoy_rso",
]
# Opendatasoft writes float-typed fields with a decimal part (`37793.0` in a real export).
FLOAT_FIELDS = {"indfoy_asf", "indfoy_ars", "indmtt_ndur", "indmtt_rsa", "indmtt_ppa"}
AMOUNT_FIELDS = {"indmtt_ndur", "indmtt_rsa", "indmtt_ppa"}  # euros for December, rounded to 100


def _population(pop22: int, pop16: int, year: int) -> float:
    return pop22 + (pop22 - pop16) / 6 * (year - 2022)


def _benefits(pop: float, need: float, year: int) -> dict[str, float]:
    """Unrounded December figures of a territory: allocataires 25-40 % of households, RSA/PPA/AL rise with need."""
    households = pop / 2.15
    ndur = households * (0.25 + 0.15 * need) * (1 + 0.006 * (year - 2022))
    rsa = ndur * (0.03 + 0.17 * need) * (1 - 0.02 * (year - 2022))
    ppa = ndur * (0.20 + 0.15 * need) * (1 + 0.03 * (year - 2022))
    apl, alf, als = (ndur * (0.05 + 0.25 * need), ndur * (0.05 + 0.10 * need), ndur * (0.05 + 0.15 * need))
    af = ndur * 0.36
    pn, ab, cmg, prepare = ndur * 0.012, ndur * 0.10, ndur * (0.10 - 0.06 * need), ndur * 0.012
    return {
        "indfoy_ndur": ndur,
        "indnbp_ndur": ndur * (2.55 - 0.2 * need),
        "indmtt_ndur": ndur * 420,
        "indfoy_ndurpaje": pn + ab + cmg + prepare,
        "indfoy_pn": pn,
        "indfoy_ab": ab,
        "indfoy_cmg": cmg,
        "indfoy_prepare": prepare,
        "indfoy_ndurej": af * 1.15,
        "indfoy_af": af,
        "indfoy_cf": ndur * (0.05 + 0.03 * need),
        "indfoy_ars": 0.0,  # ARS is paid in August only
        "indfoy_asf": ndur * (0.04 + 0.08 * need),
        "indfoy_ndural": apl + alf + als,
        "indnbp_ndural": (apl + alf + als) * 1.9,
        "indfoy_apl": apl,
        "indfoy_alf": alf,
        "indfoy_als": als,
        "indfoy_ndurins": (rsa + ppa) * 0.93,
        "indfoy_rsa": rsa,
        "indnbp_rsa": rsa * 2.0,
        "indmtt_rsa": rsa * 540,
        "indfoy_ppa": ppa,
        "indnbp_ppa": ppa * 2.6,
        "indmtt_ppa": ppa * 180,
        "indfoy_rso": 0.0,  # overseas only
    }


def _round(value: float, step: int) -> int:
    return int(math.floor(value / step + 0.5)) * step


def _cell(field: str, value: float) -> str:
    rounded = _round(value, 100 if field in AMOUNT_FIELDS else 5)
    return f"{rounded}.0" if field in FLOAT_FIELDS else str(rounded)


def _target_benefits(code: str, year: int) -> dict[str, float]:
    c = commune(code)
    return _benefits(_population(c.pop22, c.pop16, year), c.need, year)


def _cog_units(year: int) -> list[tuple[str, str, dict[str, float]]]:
    """(code, name, unrounded figures) of every unit published for December `year` (COG year + 1)."""
    cities = {a.parent for a in ARRONDISSEMENTS}
    units = []
    for code, name, parts in communes_in(year + 1):
        if code in cities:
            continue  # published by arrondissement only
        total: dict[str, float] = {}
        for target, share in parts:
            for field, value in _target_benefits(target, year).items():
                total[field] = total.get(field, 0.0) + share * value
        units.append((code, name, total))
    for a in ARRONDISSEMENTS:
        city = commune(a.parent)
        pop = _population(city.pop22, city.pop16, year) * a.share
        units.append((a.code, a.name, _benefits(pop, city.need, year)))
    return sorted(units)


def _ods_name(name: str) -> str:
    """CAF upper-case names: no accents, hyphens dropped (`LA ROCHE SUR YON`)."""
    return upper_ascii(name).replace("-", " ")


def benefits_csv() -> str:
    lines = [";".join(BEN_COLUMNS)]
    for year in BENEFIT_YEARS:
        for code, name, figures in _cog_units(year):
            cells = [_cell(f, figures[f]) for f in BEN_COLUMNS[3:]]
            lines.append(";".join([f"{year}-12", code, _ods_name(name), *cells]))
        # allocataires the CAF cannot localise: no code, no name, large values
        figures = _benefits(60000 + 1500 * (year - 2020), 0.9, year)
        lines.append(";".join([f"{year}-12", "", "", *[_cell(f, figures[f]) for f in BEN_COLUMNS[3:]]]))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Childcare: places and coverage rates
# ---------------------------------------------------------------------------------------------------------------

# Offer profile (places per 100 children under 3): EAJE PSU, EAJE hors PSU, préscolarisation, assistants
# maternels, salarié·e à domicile. Cities lean on crèches, the rural west on assistants maternels.
PROFILES = {
    "75": (40.0, 6.5, 1.0, 6.0, 7.5),
    "69": (30.0, 6.0, 1.5, 16.0, 3.0),
    "2A": (18.0, 4.0, 2.5, 15.0, 1.0),
    "01": (6.0, 4.0, 2.0, 42.0, 0.8),
    "44": (9.0, 3.0, 3.0, 45.0, 0.6),
    "49": (8.0, 3.0, 3.5, 44.0, 0.5),
    "85": (7.0, 3.0, 4.0, 48.0, 0.4),
}
# CC du Pays de Saint-Fulgent - Les Essarts: assistants maternels galore, above 100 places per 100 children.
PROFILE_OVERRIDES = {
    "85084": (10.0, 4.0, 4.0, 88.0, 0.5),
    "85165": (10.0, 4.0, 4.0, 88.0, 0.5),
    "85212": (10.0, 4.0, 4.0, 88.0, 0.5),
}
# Départements as a whole (invented populations of the right size).
DEPARTEMENTS = {
    "01": ("AIN", "84", "AUVERGNE RHONE ALPES", 670_000),
    "2A": ("CORSE DU SUD", "94", "CORSE", 162_000),
    "44": ("LOIRE ATLANTIQUE", "52", "PAYS DE LA LOIRE", 1_470_000),
    "49": ("MAINE ET LOIRE", "52", "PAYS DE LA LOIRE", 830_000),
    "69": ("RHONE", "84", "AUVERGNE RHONE ALPES", 1_890_000),
    "75": ("PARIS", "11", "ILE DE FRANCE", 2_113_705),
    "85": ("VENDEE", "52", "PAYS DE LA LOIRE", 700_000),
}
PLACE_KINDS = ["pl_psu_col", "pl_hors_psu_col", "pl_eaje", "pl_prescol", "pl_am_ind", "pl_gad_ind", "tot_offre"]
RATE_KINDS = [
    "txcouv_psu_col",
    "txcouv_hors_psu_col",
    "txcouv_eaje",
    "txcouv_prescol",
    "txcouv_am_ind",
    "txcouv_gad_ind",
    "txcouv_ind",
    "txcouv",
]
LARGE = 10_000  # communal files cover communes above 10,000 inhabitants


def _children(pop: float, year: int) -> float:
    """Children under 3: about 3.1 % of the population, fewer every year (births fall)."""
    return pop * 0.031 * (1 - 0.015 * (year - 2020))


def _places(children: float, profile: tuple[float, ...], year: int) -> dict[str, float]:
    psu, hors, prescol, am, gad = profile
    trend = 1 + 0.004 * (year - 2020)  # micro-crèches grow, the rest follows the births
    out = {
        "pl_psu_col": children * psu / 100,
        "pl_hors_psu_col": children * hors / 100 * trend,
        "pl_prescol": children * prescol / 100,
        "pl_am_ind": children * am / 100 / trend,
        "pl_gad_ind": children * gad / 100,
    }
    out = {k: float(round(v)) for k, v in out.items()}
    out["pl_eaje"] = out["pl_psu_col"] + out["pl_hors_psu_col"]
    out["tot_offre"] = out["pl_eaje"] + out["pl_prescol"] + out["pl_am_ind"] + out["pl_gad_ind"]
    return out


def _add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a.get(k, 0.0) + v for k, v in b.items()}


def _commune_offer(code: str, year: int) -> tuple[float, dict[str, float]]:
    """(children, places) of a commune of the world (COG 2025 code)."""
    c = commune(code)
    children = _children(_population(c.pop22, c.pop16, year), year)
    return children, _places(children, PROFILE_OVERRIDES.get(code, PROFILES[c.dep]), year)


def _arm_offer(code: str, year: int) -> tuple[float, dict[str, float]]:
    a = next(a for a in ARRONDISSEMENTS if a.code == code)
    city = commune(a.parent)
    children = _children(_population(city.pop22, city.pop16, year) * a.share, year)
    return children, _places(children, PROFILES[city.dep], year)


def _rates(children: float, places: dict[str, float]) -> dict[str, float]:
    share = lambda *keys: round(sum(places[k] for k in keys) / children * 100, 1)  # noqa: E731
    return {
        "txcouv_psu_col": share("pl_psu_col"),
        "txcouv_hors_psu_col": share("pl_hors_psu_col"),
        "txcouv_eaje": share("pl_eaje"),
        "txcouv_prescol": share("pl_prescol"),
        "txcouv_am_ind": share("pl_am_ind"),
        "txcouv_gad_ind": share("pl_gad_ind"),
        "txcouv_ind": share("pl_am_ind", "pl_gad_ind"),
        "txcouv": share("tot_offre"),
    }


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _place(value: float | None) -> str:
    return "" if value is None else str(int(value))


def _csv(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(";".join(r) for r in [header, *rows]) + "\n"


# Territories -----------------------------------------------------------------------------------------------------


def _commune_units(year: int) -> list[tuple[list[str], float, dict[str, float]]]:
    """Communal files: (identity cells, children, places) of communes above 10,000 inhabitants and of the
    arrondissements (Paris and Lyon are published by arrondissement only)."""
    epci_names = {e.siren: e.name for e in EPCIS}
    out = []
    for c in COMMUNES:
        if c.pop22 < LARGE or c.code in {a.parent for a in ARRONDISSEMENTS}:
            continue
        children, places = _commune_offer(c.code, year)
        ident = [c.code, _ods_name(c.name), c.epci, upper_ascii(epci_names[c.epci]), c.dep, DEPARTEMENTS[c.dep][0]]
        out.append((ident, children, places))
    for a in ARRONDISSEMENTS:
        city = commune(a.parent)
        children, places = _arm_offer(a.code, year)
        ident = [
            a.code,
            _ods_name(a.name),
            city.epci,
            upper_ascii(epci_names[city.epci]),
            city.dep,
            DEPARTEMENTS[city.dep][0],
        ]
        out.append((ident, children, places))
    return sorted(out, key=lambda u: u[0][0])


def _epci_units(year: int) -> list[tuple[list[str], float, dict[str, float]]]:
    out = []
    for e in EPCIS:
        members = [c for c in COMMUNES if c.epci == e.siren]
        children, places = 0.0, dict[str, float]()
        for c in members:
            ch, pl_ = _commune_offer(c.code, year)
            children, places = children + ch, _add(places, pl_)
        dep = members[0].dep
        out.append(([e.siren, upper_ascii(e.name), dep, DEPARTEMENTS[dep][0]], children, places))
    # communes in no EPCI (here L'Île-d'Yeu): a placeholder row `XX` with an absurd rate
    yeu = next(c for c in COMMUNES if c.epci == NO_EPCI)
    children = _children(_population(yeu.pop22, yeu.pop16, year), year)
    out.append((["XX", "XX", "", ""], children, _places(children, (12.0, 3.1, 0.0, 178.2, 2.5), year)))
    return sorted(out, key=lambda u: u[0][0])


def _dep_units(year: int) -> list[tuple[list[str], float, dict[str, float]]]:
    out = []
    for dep, (name, reg, reg_name, pop) in sorted(DEPARTEMENTS.items()):
        children = _children(pop, year)
        out.append(([dep, name, reg, reg_name], children, _places(children, PROFILES[dep], year)))
    return out


# Files -----------------------------------------------------------------------------------------------------------

COM_IDENT = ["numcom", "nomcom", "numepci", "nomepci", "numdep", "nomdep"]
EPCI_IDENT = ["numepci", "nomepci", "numdep", "nomdep"]
DEP_IDENT = ["numdep", "nomdep", "numregi", "nomregi"]
SCALES = {"com": (COM_IDENT, _commune_units), "epci": (EPCI_IDENT, _epci_units), "dep": (DEP_IDENT, _dep_units)}
# One row of the overlapping year 2022 differs between the current file and its `_hist` twin (as on the portal:
# 57.4 current vs 57.1 hist for one EPCI): (scale, code, field, difference hist - current).
HIST_DRIFT = {
    ("txcouv", "epci"): ("200071678", "txcouv", -0.3),
    ("txcouv", "dep"): ("49", "txcouv", -0.2),
    ("nbpla", "com"): ("49099", "pl_am_ind", -8.0),
    ("nbpla", "epci"): ("200071678", "pl_eaje", -12.0),
}
# An empty cell (never 0): Ajaccio's salarié·e à domicile in 2017.
EMPTY = {("2A004", 2017): {"pl_gad_ind", "txcouv_gad_ind"}}


def _childcare_csv(dataset: str, scale: str, years: range, hist: bool = False) -> str:
    ident_cols, units_of = SCALES[scale]
    kinds = RATE_KINDS if dataset == "txcouv" else PLACE_KINDS
    header = ["annee", *ident_cols, *[f"{k}_{scale}" for k in kinds]]
    drift = HIST_DRIFT.get((dataset, scale)) if hist else None
    rows = []
    for year in years:
        for ident, children, places in units_of(year):
            values: dict[str, float | None] = dict(_rates(children, places) if dataset == "txcouv" else places)
            if ident[0] == "XX" and dataset == "txcouv":
                values["txcouv"] = 195.8  # the portal's real placeholder figure
            if drift and year == 2022 and ident[0] == drift[0]:
                drifted = values[drift[1]]
                assert drifted is not None, "the drift applies to a published value"
                values[drift[1]] = round(drifted + drift[2], 1)
            for field in EMPTY.get((ident[0], year), ()):
                if field in values:
                    values[field] = None
            fmt = _rate if dataset == "txcouv" else _place
            rows.append([str(year), *ident, *[fmt(values[k]) for k in kinds]])
    if dataset == "nbpla" and scale == "dep":  # département unknown: 15 places
        for year in years:
            rows.append([str(year), "XXX", "XXX", "", "", "15", "0", "15", "0", "0", "0", "15"])
    return _csv(header, rows)


# National: the published ONAPE components (2023: 19.9 + 3.6 + 3.3 + 31.9 + 2.2 = 60.9; 2022: 59.5).
NATIONAL = {
    2017: (18.9, 2.1, 3.8, 32.9, 2.0),
    2018: (19.2, 2.4, 3.6, 32.6, 2.0),
    2019: (19.4, 2.6, 3.5, 32.5, 2.0),
    2020: (19.5, 2.8, 3.4, 32.3, 2.1),
    2021: (19.7, 3.0, 3.4, 32.1, 2.1),
    2022: (19.8, 3.2, 2.6, 31.8, 2.1),
    2023: (19.9, 3.6, 3.3, 31.9, 2.2),
}


def national_csv() -> str:
    header = ["annee", "national", *[f"{k}_nat" for k in RATE_KINDS]]
    rows = []
    for year, (psu, hors, prescol, am, gad) in sorted(NATIONAL.items()):
        eaje, ind = round(psu + hors, 1), round(am + gad, 1)
        total = round(eaje + prescol + ind, 1)
        rows.append(
            [
                f"{year}-01-01",
                "FRANCE ENTIERE HORS MAYOTTE",
                *[_rate(v) for v in (psu, hors, eaje, prescol, am, gad, ind, total)],
            ]
        )
    return _csv(header, rows)


def write_benefits(root: Path) -> None:
    write_text(entry_path(root, "caf_benefits", VINTAGE), benefits_csv(), bom=True)


def write_childcare(root: Path) -> None:
    for dataset, prefix in (("txcouv", "caf_coverage"), ("nbpla", "caf_places")):
        for scale in ("com", "epci", "dep"):
            source = f"{prefix}_{scale}"
            try:
                entry_path(root, source, VINTAGE, "hist")
                has_hist = True
            except KeyError:
                has_hist = False
            if has_hist:
                write_text(entry_path(root, source, VINTAGE), _childcare_csv(dataset, scale, CURRENT_YEARS), bom=True)
                write_text(
                    entry_path(root, source, VINTAGE, "hist"),
                    _childcare_csv(dataset, scale, HIST_YEARS, hist=True),
                    bom=True,
                )
            else:
                write_text(entry_path(root, source, VINTAGE), _childcare_csv(dataset, scale, CHILDCARE_YEARS), bom=True)
    write_text(entry_path(root, "caf_coverage_nat", VINTAGE), national_csv(), bom=True)
