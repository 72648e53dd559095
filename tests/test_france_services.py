"""The ANCT list of France services structures: parser `sources.france_services`.

Hand-made files in the real layout (supply-space-time-sources §3): `,`, text fields quoted, numbers and empty
fields not, a line break inside a quoted comment, arrondissement codes, a structure in Saint-Martin (978).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from sources import catalogue
from sources.errors import SourceValidationError
from sources.france_services import stage

HEADER = (
    '"id_fs","insee_dep","lib_fs","adresse","complement_adresse","insee_com","code_postal","lib_com","latitude",'
    '"longitude","mail","telephone","h_lundi","h_mardi","h_mercredi","h_jeudi","h_vendredi","h_samedi",'
    '"prise_rdv","commentaire","type_fs","format_fs","groupe_fs","labellisation_fs"'
)
HOURS = '"09:00 - 12:00","09:00 - 12:00","09:00 - 12:00","09:00 - 12:00","09:00 - 12:00",'


def row(fid: str, com: str, typ: str = "Principal", date: str = "01/09/2020", comment: str = "") -> str:
    note = f'"{comment}"' if comment else ""
    return (
        f'"{fid}","{com[:2]}","France services {fid}","1 rue Haute",,"{com}","85490","X",46.36,-0.59,'
        f'"x@france-services.gouv.fr","02 51 00 00 53",{HOURS},"Oui",{note},"{typ}","Fixe",,'
        f'"Espace labellisé {date}"'
    )


ROWS = [
    row("503", "85020", comment="au bureau de Poste,\nà l'étage"),  # a line break inside quotes
    row("504", "85020", typ="Antenne", date="15/03/2022"),
    row("600", "75112"),
    row("601", "75101", date="01/02/2024"),  # Paris by arrondissement
    row("700", "97801", date="01/06/2024"),  # Saint-Martin: no commune of the COG
]


def _file(tmp: Path, rows: list[str], header: str = HEADER) -> dict[str, Path]:
    path = tmp / "31576dff-fd61-4de9-819f-32c2f880b142"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return {"main": path}


def _stage(tmp, geo, rows, **kw):
    return stage(catalogue.get("france_services", "courant"), _file(tmp, rows, **kw), geo)


def _value(frame, level, code, variable):
    r = frame.filter((pl.col("level") == level) & (pl.col("code") == code) & (pl.col("variable") == variable))
    assert r.height == 1, (level, code, variable)
    return r["value"][0]


def test_structures_are_counted_per_commune_and_type(tmp_path, geo):
    staged = _stage(tmp_path, geo, ROWS)
    frame = staged.frame
    assert _value(frame, "COM", "85020", "FS_PRINCIPAL") == 1.0  # 503
    assert _value(frame, "COM", "85020", "FS_ANTENNE") == 1.0  # 504, counted apart
    assert _value(frame, "COM", "44043", "FS_PRINCIPAL") == 0.0  # the list is exhaustive: none is 0
    # Paris: 75112 (600) + 75101 (601) = 2 in the city's row, each arrondissement kept
    assert _value(frame, "COM", "75056", "FS_PRINCIPAL") == 2.0
    assert _value(frame, "ARM", "75112", "FS_PRINCIPAL") == 1.0
    assert frame.filter(pl.col("code") == "97801").is_empty()
    assert set(frame["year"].unique()) == {2024}  # latest labellisation 01/06/2024
    assert any("1 structure(s) of Saint-Barthélemy or Saint-Martin" in n for n in staged.notes)
    assert frame.filter(pl.col("level") == "COM").height == 21 * 2  # every commune of the demo COG, both types
    # built in key order: the 2 arrondissement rows (75101, 75112), then each commune's FS_ANTENNE, FS_PRINCIPAL
    assert frame.equals(frame.sort("level", "code", "year", "month", "variable", nulls_last=False))
    assert frame["level"].head(3).to_list() == ["ARM", "ARM", "COM"]
    assert frame["code"].head(2).to_list() == ["75101", "75112"]
    assert frame["variable"].slice(2, 2).to_list() == ["FS_ANTENNE", "FS_PRINCIPAL"]


def test_a_commune_outside_the_geography_is_refused(tmp_path, geo):
    with pytest.raises(SourceValidationError, match="code known to the COG"):
        _stage(tmp_path, geo, ROWS + [row("802", "99999")])


@pytest.mark.parametrize(
    "rows, column, rule",
    [
        (ROWS + [row("800", "85020", typ="Bus")], "type_fs", "one of Principal, Antenne"),
        (ROWS + [row("503", "44043")], "id_fs", "unique structure id"),
        (ROWS + [row("801", "8502")], "insee_com", "a commune code of 5 characters"),
        ([re.sub(r'"Espace labellisé [^"]*"', '"En cours"', r) for r in ROWS], "labellisation_fs", "a date"),
    ],
)
def test_a_broken_list_is_refused(tmp_path, geo, rows, column, rule):
    with pytest.raises(SourceValidationError) as info:
        _stage(tmp_path, geo, rows)
    message = str(info.value)
    assert "31576dff-fd61-4de9-819f-32c2f880b142" in message and f"column {column!r}" in message and rule in message


def test_the_older_schema_is_refused_by_its_header(tmp_path, geo):
    header = HEADER.replace('"type_fs"', '"itinerance"')
    with pytest.raises(SourceValidationError, match="column 'type_fs': required column missing"):
        _stage(tmp_path, geo, ROWS, header=header)
