"""Demo ANCT list of the France services structures (data.gouv.fr resource `31576dff-…`).

The real layout (supply-space-time-sources §3, `liste-fs-20240801.csv`): `,`, every text field double-quoted,
numbers (latitude, longitude) and empty fields unquoted, UTF-8 without BOM, LF, 24 columns; one comment holds a
line break inside its quotes. Paris and Lyon structures carry an arrondissement code (75112, 69388), one structure
is in Saint-Martin (978), outside the COG commune list, and one is an itinerant bus (`Itinérante`). The Benet row is
the real file's first row; the others are invented.
"""

from __future__ import annotations

from pathlib import Path

from sources.demo.files import entry_path, write_text

HEADER = [
    "id_fs",
    "insee_dep",
    "lib_fs",
    "adresse",
    "complement_adresse",
    "insee_com",
    "code_postal",
    "lib_com",
    "latitude",
    "longitude",
    "mail",
    "telephone",
    "h_lundi",
    "h_mardi",
    "h_mercredi",
    "h_jeudi",
    "h_vendredi",
    "h_samedi",
    "prise_rdv",
    "commentaire",
    "type_fs",
    "format_fs",
    "groupe_fs",
    "labellisation_fs",
]
MORNING, DAY = "09:00 - 12:00", "09:00 - 12:00 / 14:00 - 17:00"
# id, dep, name, address, commune, postcode, commune name, lat, lon, comment, type, format, labellisation date
STRUCTURES = [
    (
        "503",
        "85",
        "France services La Poste de Benet",
        "12 place de la Résistance",
        "85020",
        "85490",
        "Benet",
        46.36736676,
        -0.597586615,
        "au bureau de Poste de Benet",
        "Principal",
        "Fixe",
        "01/09/2020",
    ),
    (
        "1201",
        "44",
        "France services de Clisson",
        "2 rue des Halles",
        "44043",
        "44190",
        "Clisson",
        47.0866,
        -1.2806,
        "",
        "Principal",
        "Fixe",
        "01/01/2021",
    ),
    (
        "1202",
        "44",
        "France services de Clisson - antenne de Gorges",
        "1 place de l'Église",
        "44064",
        "44190",
        "Gorges",
        47.0996,
        -1.3003,
        "Permanence le mardi",
        "Antenne",
        "Fixe_antenne(s)",
        "15/03/2022",
    ),
    (
        "1310",
        "49",
        "France services de Cholet",
        "24 avenue Foch",
        "49099",
        "49300",
        "Cholet",
        47.0594,
        -0.8797,
        "Accès par la cour,\nau rez-de-chaussée",
        "Principal",
        "Fixe",
        "01/07/2020",
    ),
    (
        "1311",
        "49",
        "France services itinérant du Choletais",
        "Place Travot",
        "49099",
        "49300",
        "Cholet",
        47.0601,
        -0.8790,
        "Bus : tournée hebdomadaire",
        "Principal",
        "Itinérante",
        "01/04/2023",
    ),
    (
        "2101",
        "75",
        "France services Paris 12e",
        "130 avenue Daumesnil",
        "75112",
        "75012",
        "Paris",
        48.8396,
        2.3876,
        "",
        "Principal",
        "Fixe",
        "01/10/2022",
    ),
    (
        "2102",
        "69",
        "France services Lyon 8e",
        "12 avenue Jean Mermoz",
        "69388",
        "69008",
        "Lyon",
        45.7369,
        4.8702,
        "",
        "Principal",
        "Fixe",
        "01/02/2024",
    ),
    (
        "2103",
        "2A",
        "France services d'Ajaccio",
        "Quartier des Cannes",
        "2A004",
        "20090",
        "Ajaccio",
        41.9338,
        8.7556,
        "",
        "Principal",
        "Fixe",
        "01/01/2022",
    ),
    (
        "2901",
        "978",
        "France services de Saint-Martin",
        "Rue de la République",
        "97801",
        "97150",
        "Saint-Martin",
        18.0676,
        -63.0847,
        "",
        "Principal",
        "Fixe",
        "01/06/2024",
    ),
]


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _row(s: tuple) -> str:
    fid, dep, name, address, com, postcode, com_name, lat, lon, comment, typ, fmt, date = s
    mail = f"{com_name.lower().replace(' ', '-')}@france-services.gouv.fr"
    hours = [MORNING, DAY, MORNING, DAY, DAY, MORNING]
    text = [
        fid,
        dep,
        name,
        address,
        None,
        com,
        postcode,
        com_name,
        lat,
        lon,
        mail,
        "02 51 00 00 53",
        *hours,
        "Oui",
        comment or None,
        typ,
        fmt,
        None,
        f"Espace labellisé {date}",
    ]
    return ",".join("" if v is None else repr(v) if isinstance(v, float) else _quoted(v) for v in text)


def list_csv() -> str:
    return "\n".join([",".join(_quoted(h) for h in HEADER), *(_row(s) for s in STRUCTURES)]) + "\n"


def write(root: Path) -> None:
    write_text(entry_path(root, "france_services", "courant"), list_csv())
