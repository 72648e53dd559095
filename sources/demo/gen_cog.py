"""Demo COG 2025 files: v_commune_2025.csv, v_mvt_commune_2025.csv, EPCI_au_01-01-2025.xlsx (header on row 6)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sources.demo.files import entry_path, upper_ascii, write_text, xlsx_workbook
from sources.demo.world import ARRONDISSEMENTS, COMMUNES, DELEGATED, EPCIS, EVENTS, NO_EPCI, communes_in

ARTICLES = ("L'", "La ", "Le ", "Les ")


def _without_article(name: str) -> str:
    for article in ARTICLES:
        if name.startswith(article):
            return name[len(article) :]
    return name


def _csv(rows: list[list], header: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def communes_csv() -> str:
    header = ["TYPECOM", "COM", "REG", "DEP", "CTCD", "ARR", "TNCC", "NCC", "NCCENR", "LIBELLE", "CAN", "COMPARENT"]
    rows = []
    for c in COMMUNES:
        rich = _without_article(c.name)
        ctcd = f"{c.dep}D" if c.dep not in ("75", "69", "2A") else {"75": "75C", "69": "69M", "2A": "20R"}[c.dep]
        rows.append(
            ["COM", c.code, c.reg, c.dep, ctcd, f"{c.dep}1", c.tncc, upper_ascii(rich), rich, c.name, f"{c.dep}01", ""]
        )
    for a in ARRONDISSEMENTS:
        rows.append(["ARM", a.code, "", "", "", "", 0, upper_ascii(a.name), a.name, a.name, "", a.parent])
    for code, name, parent in DELEGATED:
        rich = _without_article(name)
        rows.append(["COMD", code, "", "", "", "", 0, upper_ascii(rich), rich, name, "", parent])
    rows.sort(key=lambda r: (r[1], r[0]))
    return _csv(rows, header)


def events_csv() -> str:
    header = [
        "MOD",
        "DATE_EFF",
        "TYPECOM_AV",
        "COM_AV",
        "TNCC_AV",
        "NCC_AV",
        "NCCENR_AV",
        "LIBELLE_AV",
        "TYPECOM_AP",
        "COM_AP",
        "TNCC_AP",
        "NCC_AP",
        "NCCENR_AP",
        "LIBELLE_AP",
    ]
    rows = []
    for mod, day, t_av, c_av, n_av, l_av, t_ap, c_ap, n_ap, l_ap in EVENTS:
        rows.append(
            [
                mod,
                day,
                t_av,
                c_av,
                n_av,
                upper_ascii(_without_article(l_av)),
                _without_article(l_av),
                l_av,
                t_ap,
                c_ap,
                n_ap,
                upper_ascii(_without_article(l_ap)),
                _without_article(l_ap),
                l_ap,
            ]
        )
    return _csv(rows, header)


DEPARTEMENTS = [
    ("01", "84", "01053", 5, "Ain"),
    ("2A", "94", "2A004", 3, "Corse-du-Sud"),
    ("44", "52", "44109", 3, "Loire-Atlantique"),
    ("49", "52", "49007", 0, "Maine-et-Loire"),
    ("69", "84", "69123", 2, "Rhône"),
    ("75", "11", "75056", 0, "Paris"),
    ("85", "52", "85191", 3, "Vendée"),
]


def departements_csv() -> str:
    header = ["DEP", "REG", "CHEFLIEU", "TNCC", "NCC", "NCCENR", "LIBELLE"]
    return _csv([[d, r, c, t, upper_ascii(n), n, n] for d, r, c, t, n in DEPARTEMENTS], header)


def epci_xlsx(cog: int = 2025) -> bytes:
    """INSEE's `EPCI_au_01-01-YYYY.xlsx`: sheets EPCI and Composition_communale, five title lines, the header on
    row 6 (`sources.demo.files.xlsx_workbook`: the same bytes at every build)."""
    names = {e.siren: e for e in EPCIS}
    titles = [
        f"Intercommunalités au 1er janvier {cog}",
        "Source : Insee, Code officiel géographique (données de démonstration)",
        "",
        "Liste des EPCI à fiscalité propre",
        "",
    ]
    epci_rows: list[list[object]] = [["EPCI", "LIBEPCI", "NATURE_EPCI", "NB_COM"]]
    for e in EPCIS:
        epci_rows.append([e.siren, e.name, e.nature, sum(1 for c in COMMUNES if c.epci == e.siren)])
    epci_rows.append([NO_EPCI, "Sans objet", "ZZ", sum(1 for c in COMMUNES if c.epci == NO_EPCI)])

    composition: list[list[object]] = [["CODGEO", "LIBGEO", "EPCI", "LIBEPCI", "DEP", "REG"]]
    by_code = {c.code: c for c in COMMUNES}
    for code, name, parts in communes_in(cog):
        c = by_code[parts[0][0]]
        label = names[c.epci].name if c.epci in names else "Sans objet"
        # Excel users store codes as numbers: 01001 becomes 1001 (the reader repairs it)
        cell = int(code) if code == "01001" else code
        composition.append([cell, name, c.epci, label, c.dep, c.reg])

    return xlsx_workbook(
        [
            ("EPCI", titles, epci_rows),
            ("Composition_communale", titles[:3] + ["Composition communale des EPCI", ""], composition),
        ]
    )


def write_communes(root: Path) -> None:
    write_text(entry_path(root, "cog_communes", "2025"), communes_csv())


def write_events(root: Path) -> None:
    write_text(entry_path(root, "cog_events", "2025"), events_csv())


def write_departements(root: Path) -> None:
    # the COG archive: only the member the pipeline reads is served in the demo
    write_text(entry_path(root, "cog_departements", "2025") / "v_departement_2025.csv", departements_csv())


def write_epci(root: Path, cog: int = 2025, folder: Path | None = None) -> None:
    """The EPCI composition of `cog` in its zip (a folder of the mirror): the `epci` entry's by default."""
    folder = folder or entry_path(root, "epci", str(cog))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"EPCI_au_01-01-{cog}.xlsx").write_bytes(epci_xlsx(cog))
