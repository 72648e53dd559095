"""Demo COG 2025 files: v_commune_2025.csv, v_mvt_commune_2025.csv, EPCI_au_01-01-2025.xlsx (header on row 6)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

from sources.demo.files import entry_path, upper_ascii, write_text
from sources.demo.world import ARRONDISSEMENTS, COMMUNES, DELEGATED, EPCIS, EVENTS, NO_EPCI, communes_in

ARTICLES = ("L'", "La ", "Le ", "Les ")
# When the committed workbooks were made: written with this date, a rebuilt workbook is the same bytes.
WORKBOOK_TIME = (2026, 11, 23, 5, 19, 44)  # of the zip members (two-second resolution)
WORKBOOK_STAMP = b"2026-11-23T05:19:45Z"  # created and modified, in docProps/core.xml


def _without_article(name: str) -> str:
    for article in ARTICLES:
        if name.startswith(article):
            return name[len(article):]
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
        rows.append(["COM", c.code, c.reg, c.dep, ctcd, f"{c.dep}1", c.tncc, upper_ascii(rich), rich, c.name,
                     f"{c.dep}01", ""])
    for a in ARRONDISSEMENTS:
        rows.append(["ARM", a.code, "", "", "", "", 0, upper_ascii(a.name), a.name, a.name, "", a.parent])
    for code, name, parent in DELEGATED:
        rich = _without_article(name)
        rows.append(["COMD", code, "", "", "", "", 0, upper_ascii(rich), rich, name, "", parent])
    rows.sort(key=lambda r: (r[1], r[0]))
    return _csv(rows, header)


def events_csv() -> str:
    header = ["MOD", "DATE_EFF", "TYPECOM_AV", "COM_AV", "TNCC_AV", "NCC_AV", "NCCENR_AV", "LIBELLE_AV",
              "TYPECOM_AP", "COM_AP", "TNCC_AP", "NCC_AP", "NCCENR_AP", "LIBELLE_AP"]
    rows = []
    for mod, day, t_av, c_av, n_av, l_av, t_ap, c_ap, n_ap, l_ap in EVENTS:
        rows.append([mod, day, t_av, c_av, n_av, upper_ascii(_without_article(l_av)), _without_article(l_av), l_av,
                     t_ap, c_ap, n_ap, upper_ascii(_without_article(l_ap)), _without_article(l_ap), l_ap])
    return _csv(rows, header)


DEPARTEMENTS = [("01", "84", "01053", 5, "Ain"), ("2A", "94", "2A004", 3, "Corse-du-Sud"),
                ("44", "52", "44109", 3, "Loire-Atlantique"), ("49", "52", "49007", 0, "Maine-et-Loire"),
                ("69", "84", "69123", 2, "Rhône"), ("75", "11", "75056", 0, "Paris"), ("85", "52", "85191", 3, "Vendée")]


def departements_csv() -> str:
    header = ["DEP", "REG", "CHEFLIEU", "TNCC", "NCC", "NCCENR", "LIBELLE"]
    return _csv([[d, r, c, t, upper_ascii(n), n, n] for d, r, c, t, n in DEPARTEMENTS], header)


def epci_xlsx(cog: int = 2025) -> bytes:
    from openpyxl import Workbook

    names = {e.siren: e for e in EPCIS}
    book = Workbook()
    sheet = book.active
    sheet.title = "EPCI"
    titles = [f"Intercommunalités au 1er janvier {cog}", "Source : Insee, Code officiel géographique (données de démonstration)",
              "", "Liste des EPCI à fiscalité propre", ""]
    for line in titles:
        sheet.append([line] if line else [])
    sheet.append(["EPCI", "LIBEPCI", "NATURE_EPCI", "NB_COM"])
    for e in EPCIS:
        sheet.append([e.siren, e.name, e.nature, sum(1 for c in COMMUNES if c.epci == e.siren)])
    sheet.append([NO_EPCI, "Sans objet", "ZZ", sum(1 for c in COMMUNES if c.epci == NO_EPCI)])

    comp = book.create_sheet("Composition_communale")
    for line in titles[:3] + ["Composition communale des EPCI", ""]:
        comp.append([line] if line else [])
    comp.append(["CODGEO", "LIBGEO", "EPCI", "LIBEPCI", "DEP", "REG"])
    by_code = {c.code: c for c in COMMUNES}
    for code, name, parts in communes_in(cog):
        c = by_code[parts[0][0]]
        label = names[c.epci].name if c.epci in names else "Sans objet"
        # Excel users store codes as numbers: 01001 becomes 1001 (the reader repairs it)
        cell = int(code) if code == "01001" else code
        comp.append([cell, name, c.epci, label, c.dep, c.reg])
    buffer = io.BytesIO()
    book.save(buffer)
    return _without_clock(buffer.getvalue())


def _without_clock(workbook: bytes) -> bytes:
    """The workbook with the times openpyxl takes from the clock (its properties, its zip members' dates) fixed."""
    source, out = zipfile.ZipFile(io.BytesIO(workbook)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + WORKBOOK_STAMP, body)
            info.date_time = WORKBOOK_TIME
            target.writestr(info, body)
    return out.getvalue()


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
