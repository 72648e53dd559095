"""Filosofi 2021 wide geo2024 edition on the demo files (sources/demo/gen_filosofi.py).

Expected values are read by hand from the fixture's literal cells, quoted in the comments.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl
import pytest

from sources import catalogue
from sources.demo import MIRROR_ROOT
from sources.demo.files import entry_path
from sources.errors import ParseError, SourceValidationError
from sources.filosofi import _codes_by_epci, base_name, stage, stage_level_file, year_suffix
from sources.geography import GeoChange
from sources.mirror import zip_folder
from sources.values import MERGED, NON_RECALCULABLE, NOT_AVAILABLE, SECRET, SPLIT, sorted_by_key

ENTRY = catalogue.get("filosofi", "2021")
COM = "cc_filosofi_2021_COM.csv"
EPCI = "cc_filosofi_2021_EPCI.csv"
FE = "cc_filosofi_2021_FE.csv"
N_VARIABLES = 27


def cells(frame: pl.DataFrame, level: str, code: str) -> dict[str, tuple[float | None, str | None]]:
    rows = frame.filter((pl.col("level") == level) & (pl.col("code") == code))
    return {r["variable"]: (r["value"], r["status"]) for r in rows.iter_rows(named=True)}


@pytest.fixture
def staged(demo_files, geo):
    return stage(ENTRY, demo_files("filosofi", "2021"), geo)


def _archive(tmp_path: Path, edit: dict[str, object] | None = None) -> Path:
    """The demo archive rebuilt in tmp_path; `edit` maps a member to new text, or to None to leave it out."""
    folder = tmp_path / "filosofi"
    with zipfile.ZipFile(entry_path(MIRROR_ROOT, "filosofi", "2021")) as zf:
        zf.extractall(folder)
    for name, text in (edit or {}).items():
        if text is None:
            (folder / name).unlink()
        else:
            (folder / name).write_text(text, encoding="utf-8")
    target = tmp_path / "base-cc-filosofi-2021-geo2024_csv.zip"
    target.write_bytes(zip_folder(folder))
    return target


def _member(name: str) -> str:
    with zipfile.ZipFile(entry_path(MIRROR_ROOT, "filosofi", "2021")) as zf:
        return zf.read(name).decode("utf-8")


def _files(tmp_path: Path, demo_files, **edit) -> dict[str, Path]:
    files = demo_files("filosofi", "2021")
    files["main"] = _archive(tmp_path, {k.replace("__", "."): v for k, v in edit.items()})
    return files


# -- values and markers ----------------------------------------------------------------------------------------


def test_header_year_suffix_and_names():
    assert year_suffix(["CODGEO", "NBMENFISC21", "MED21", "TP6021"]) == "21"
    assert base_name("TP60AGE121", "21") == "TP60AGE1" and base_name("TP6021", "21") == "TP60"
    assert base_name("D121", "21") == "D1" and base_name("MED21", "21") == "MED"


def test_clisson_published_row(staged):
    # 44043;3095;7203;24500;54,0;9,0;s;s;s;s;s;s;4,0;19,0;72,5;65,0;2,5;5,0;30,0;9,6;4,0;1,4;1,4;1,2;-16,1;
    #   13840;42630;3,1
    c = cells(staged.frame, "COM", "44043")
    assert len(c) == N_VARIABLES
    assert c["MED"] == (24500.0, None)
    assert c["NBMENFISC"] == (3095.0, None) and c["NBPERSMENFISC"] == (7203.0, None)
    assert c["TP60"] == (9.0, None)  # "9,0": decimal comma
    assert c["PIMPOT"] == (-16.1, None)  # a negative share of taxes
    assert c["RD"] == (3.1, None) and c["D9"] == (42630.0, None)
    assert c["TP60TOL2"] == (19.0, None)
    assert c["TP60AGE1"] == (None, SECRET)  # `s` next to published values on the same row
    assert staged.frame.filter(pl.col("code") == "44043")["year"].unique().to_list() == [2021]


def test_partially_secret_rows(staged):
    # 85133;412;931;22720;s;s;…;s  -> counts and median only (fewer than 1000 households and 2000 persons)
    c = cells(staged.frame, "COM", "85133")
    assert c["NBMENFISC"] == (412.0, None) and c["MED"] == (22720.0, None)
    assert {k: v for k, v in c.items() if k not in ("NBMENFISC", "NBPERSMENFISC", "MED")} == {
        k: (None, SECRET) for k in c if k not in ("NBMENFISC", "NBPERSMENFISC", "MED")
    }
    # 49192;1364;3151;23840;53,0;s;…;76,2;… -> shares published, poverty rate secret
    c = cells(staged.frame, "COM", "49192")
    assert c["PIMP"] == (53.0, None) and c["PACT"] == (76.2, None)
    assert c["TP60"] == (None, SECRET)


def test_fully_secret_row_is_null_secret_never_zero(staged):
    # 01001;s;s;…;s
    c = cells(staged.frame, "COM", "01001")
    assert len(c) == N_VARIABLES
    assert set(c.values()) == {(None, SECRET)}
    note = "cc_filosofi_2021_COM.csv: 1 row(s) entirely secret (s), 2 row(s) entirely not available (nd)"
    assert note in staged.notes


def test_nd_rows_are_not_available_and_their_parent_is_split(staged):
    for code in ("85165", "85212"):  # 85165;nd;nd;…
        assert set(cells(staged.frame, "COM", code).values()) == {(None, NOT_AVAILABLE)}
    # 85084;3860;9136;25020;… carries their households: counts kept (above the commune only), median not
    rows = staged.frame.filter(pl.col("code") == "85084")
    c = cells(staged.frame, "COM", "85084")
    assert c["NBMENFISC"] == (3860.0, None) and c["NBPERSMENFISC"] == (9136.0, None)
    assert c["MED"] == (None, NON_RECALCULABLE) and c["TP60"] == (None, NON_RECALCULABLE)
    assert set(rows["geo_change"].to_list()) == {SPLIT}
    assert [ch for ch in staged.geo_changes if ch.kind == SPLIT] == [
        GeoChange(2024, "85084", ("85084", "85165", "85212"), SPLIT)
    ]
    assert staged.frame.filter(pl.col("geo_change") == SPLIT)["code"].unique().to_list() == ["85084"]


def test_merged_commune_counts_summed_median_non_recalculable(staged):
    # 44088;1256;2968;24960;… and 44100;838;1979;24960;… merged into 44088 on 2025-01-01
    c = cells(staged.frame, "COM", "44088")
    assert c["NBMENFISC"] == (2094.0, None)  # 1256 + 838
    assert c["NBPERSMENFISC"] == (4947.0, None)  # 2968 + 1979
    assert c["MED"] == (None, NON_RECALCULABLE)
    assert c["PACT"] == (None, NON_RECALCULABLE)  # 75,3 for 44088 alone, secret for 44100
    assert cells(staged.frame, "COM", "44100") == {}
    assert set(staged.frame.filter(pl.col("code") == "44088")["geo_change"].to_list()) == {MERGED}


def test_arrondissements_are_a_level_of_their_own(staged):
    # 75101;8294;16587;21720;… and 75056;1036654;2073315;22840;… (the city as published, never re-summed)
    assert cells(staged.frame, "ARM", "75101")["NBMENFISC"] == (8294.0, None)
    assert cells(staged.frame, "COM", "75056")["NBMENFISC"] == (1036654.0, None)
    assert cells(staged.frame, "COM", "75056")["MED"] == (22840.0, None)
    assert staged.frame.filter(pl.col("level") == "ARM")["code"].n_unique() == 29
    assert cells(staged.frame, "COM", "75101") == {}


def test_other_levels_pass_through(staged):
    # cc_filosofi_2021_FE.csv: FR;29214560;64381930;23820;52,0;11,0;…
    fr = cells(staged.frame, "FRANCE", "FR")
    assert fr["MED"] == (23820.0, None) and fr["NBMENFISC"] == (29214560.0, None) and fr["TP60"] == (11.0, None)
    # DEP: 2A;70560;155210;22800;… REG: 52;1665920;3791650;24460;…
    assert cells(staged.frame, "DEP", "2A")["MED"] == (22800.0, None)
    assert cells(staged.frame, "REG", "52")["NBMENFISC"] == (1665920.0, None)
    # EPCI 200067346;10441;24706;25220;…: the merger of 44088 and 44100, both its own, changes nothing
    assert cells(staged.frame, "EPCI", "200067346")["MED"] == (25220.0, None)
    assert staged.frame.filter(pl.col("level") == "EPCI")["code"].n_unique() == 8
    # codes stay text with their leading zero: 01;281340;652870;26080;…
    assert cells(staged.frame, "DEP", "01")["NBMENFISC"] == (281340.0, None)


def test_without_a_geography_rows_stay_in_cog_2024(demo_files):
    staged = stage(ENTRY, demo_files("filosofi", "2021"), None)
    # 44100;838;… is still a commune of its own in COG 2024
    assert cells(staged.frame, "COM", "44100")["NBMENFISC"] == (838.0, None)
    assert cells(staged.frame, "COM", "85084")["MED"] == (25020.0, None)
    assert any("no target geography" in n for n in staged.notes)


def test_level_file_outside_its_zip(tmp_path):
    path = tmp_path / COM
    path.write_text(_member(COM), encoding="utf-8")
    staged = stage_level_file(ENTRY, path)
    assert cells(staged.frame, "COM", "44043")["MED"] == (24500.0, None)
    assert staged.frame.filter(pl.col("level") == "FRANCE").height == 0


# -- France and EPCI ---------------------------------------------------------------------------------------------


def test_no_france_member_gives_not_available_france(tmp_path, demo_files, geo):
    staged = stage(ENTRY, _files(tmp_path, demo_files, cc_filosofi_2021_FE__csv=None), geo)
    fr = cells(staged.frame, "FRANCE", "FR")
    assert len(fr) == N_VARIABLES and set(fr.values()) == {(None, NOT_AVAILABLE)}
    assert any("no France-level member" in n for n in staged.notes)


def test_france_member_code_is_staged_as_fr(tmp_path, demo_files, geo):
    text = _member(FE).replace("\nFR;", "\nFE;")
    staged = stage(ENTRY, _files(tmp_path, demo_files, cc_filosofi_2021_FE__csv=text), geo)
    assert cells(staged.frame, "FRANCE", "FR")["MED"] == (23820.0, None)
    assert "cc_filosofi_2021_FE.csv: France row (published code 'FE') staged with code FR" in staged.notes


def test_france_member_with_two_rows_is_refused(tmp_path, demo_files, geo):
    text = _member(FE)
    text += text.splitlines()[1].replace("FR;", "FX;") + "\n"
    with pytest.raises(SourceValidationError) as err:
        stage(ENTRY, _files(tmp_path, demo_files, cc_filosofi_2021_FE__csv=text), geo)
    assert "cc_filosofi_2021_FE.csv" in str(err.value) and "exactly one row" in str(err.value)


def test_a_missing_level_member_cannot_be_read(tmp_path, demo_files, geo):
    with pytest.raises(ParseError, match="no DEP member"):
        stage(ENTRY, _files(tmp_path, demo_files, cc_filosofi_2021_DEP__csv=None), geo)


def _composition_2024(tmp_path: Path, moves: dict[str, str]) -> Path:
    """The demo EPCI_au_01-01-2024.xlsx with communes moved to another EPCI, zipped as downloaded."""
    from openpyxl import load_workbook

    source = entry_path(MIRROR_ROOT, "filosofi", "2021", "epci_geography") / "EPCI_au_01-01-2024.xlsx"
    book = load_workbook(io.BytesIO(source.read_bytes()))
    sheet = book["Composition_communale"]
    for row in sheet.iter_rows():
        code = str(row[0].value)
        if code in moves:
            row[2].value = moves[code]
    folder = tmp_path / "epci2024"
    folder.mkdir()
    book.save(folder / "EPCI_au_01-01-2024.xlsx")
    target = tmp_path / "epci_au_01-01-2024.zip"
    target.write_bytes(zip_folder(folder))
    with zipfile.ZipFile(target) as zf:
        assert zf.namelist() == ["EPCI_au_01-01-2024.xlsx"]
    return target


def test_an_epci_whose_territory_changed_is_non_recalculable(tmp_path, demo_files, geo):
    # in this 2024 composition Vix (85303) belonged to 248500589; in 2025 it is in 200029940
    files = demo_files("filosofi", "2021")
    files["epci_geography"] = _composition_2024(tmp_path, {"85303": "248500589"})
    staged = stage(ENTRY, files, geo)
    for code in ("200029940", "248500589"):  # both territories changed: every value, counts included
        c = cells(staged.frame, "EPCI", code)
        assert len(c) == N_VARIABLES and set(c.values()) == {(None, NON_RECALCULABLE)}
    # 200071678;30516;62546;22480;… is untouched
    assert cells(staged.frame, "EPCI", "200071678")["MED"] == (22480.0, None)
    assert any("EPCI 200029940: territory changed" in n and "(joined: 85303; left: -)" in n for n in staged.notes)
    assert any("EPCI 248500589: territory changed" in n and "(joined: -; left: 85303)" in n for n in staged.notes)


def test_epci_absent_from_2025_dropped_and_absent_from_file_not_available(tmp_path, demo_files, geo):
    lines = _member(EPCI).splitlines()
    kept = [line for line in lines if not line.startswith("200069193;")]  # CC de la Dombes left out
    kept.append(lines[1].replace(lines[1].split(";")[0], "200000001", 1))  # an EPCI unknown in 2025
    staged = stage(ENTRY, _files(tmp_path, demo_files, cc_filosofi_2021_EPCI__csv="\n".join(kept) + "\n"), geo)
    assert cells(staged.frame, "EPCI", "200000001") == {}
    dombes = cells(staged.frame, "EPCI", "200069193")
    assert len(dombes) == N_VARIABLES and set(dombes.values()) == {(None, NOT_AVAILABLE)}
    assert any("dropped: 200000001" in n for n in staged.notes)
    assert any("absent from the file, not_available: 200069193" in n for n in staged.notes)


def test_the_rows_of_absent_epci_and_france_are_put_in_key_order(tmp_path, demo_files, geo):
    # the EPCI rows are sorted only when null rows were appended, the variables listed only for the null rows
    lines = _member(EPCI).splitlines()
    kept = [line for line in lines if not line.startswith("200069193;")]
    files = _files(
        tmp_path, demo_files, cc_filosofi_2021_EPCI__csv="\n".join(kept) + "\n", cc_filosofi_2021_FE__csv=None
    )
    frame = stage(ENTRY, files, geo).frame
    assert frame.equals(sorted_by_key(frame))
    assert frame.filter(pl.col("level") == "FRANCE")["variable"].to_list() == sorted(
        frame.filter(pl.col("level") == "COM")["variable"].unique().to_list()
    )


def test_repeated_pairs_are_each_epcis_distinct_codes():
    pairs = pl.DataFrame({"epci": ["B", "A", "B", "B"], "code": ["2", "1", "3", "2"]})
    assert _codes_by_epci(pairs) == {"A": ["1"], "B": ["2", "3"]}


def test_no_epci_pseudo_code_is_dropped_with_a_note(tmp_path, demo_files, geo):
    lines = _member(EPCI).splitlines()
    lines.append(lines[1].replace(lines[1].split(";")[0], "ZZZZZZZZZ", 1))
    staged = stage(ENTRY, _files(tmp_path, demo_files, cc_filosofi_2021_EPCI__csv="\n".join(lines) + "\n"), geo)
    assert cells(staged.frame, "EPCI", "ZZZZZZZZZ") == {}
    assert "cc_filosofi_2021_EPCI.csv: 1 row(s) ZZZZZZZZZ (no EPCI) dropped" in staged.notes


# -- bad inputs ----------------------------------------------------------------------------------------------------


def _refused(tmp_path, demo_files, geo, member: str, text: str) -> str:
    with pytest.raises(SourceValidationError) as err:
        stage(ENTRY, _files(tmp_path, demo_files, **{member.replace(".", "__"): text}), geo)
    message = str(err.value)
    assert member in message
    return message


def _edit_row(text: str, code: str, column: int, value: str) -> str:
    out = []
    for line in text.splitlines():
        parts = line.split(";")
        if parts[0] == code:
            parts[column] = value
        out.append(";".join(parts))
    return "\n".join(out) + "\n"


def test_a_renamed_column_is_refused(tmp_path, demo_files, geo):
    message = _refused(tmp_path, demo_files, geo, COM, _member(COM).replace(";TP6021;", ";TP60_21;", 1))
    assert "'TP6021'" in message and "required column missing from the file" in message


def test_a_header_of_another_year_is_refused(tmp_path, demo_files, geo):
    header, rest = _member(COM).split("\n", 1)
    header = header.replace("21;", "20;").replace("RD21", "RD20")
    message = _refused(tmp_path, demo_files, geo, COM, header + "\n" + rest)
    assert "'MED20'" in message and "year suffix of the header (20) equals the catalogue's (21)" in message


def test_a_duplicated_code_is_refused(tmp_path, demo_files, geo):
    text = _member(COM)
    clisson = next(line for line in text.splitlines() if line.startswith("44043;"))
    message = _refused(tmp_path, demo_files, geo, COM, text + clisson + "\n")
    assert "'CODGEO'" in message and "unique key" in message


# One cell of a row changed (column index in the file's header: 1 NBMENFISC21, 3 MED21, 5 TP6021).
@pytest.mark.parametrize(
    "member, code, column, value, expected",
    [
        (COM, "44043", 1, "-3095", ["'NBMENFISC21'", "count within [0, +inf]"]),
        (COM, "44043", 0, "44999", ["'CODGEO'", "code known to the COG", "44999"]),
        (COM, "44043", 3, "n.d.", ["'MED21'", "a number or a known marker"]),
        (EPCI, "200071678", 0, "20007167", ["'CODGEO'", "code matches its level's pattern"]),
        (COM, "44043", 5, "109,0", ["'TP6021'", "rate within [0, 100]"]),
    ],
)
def test_a_bad_cell_is_refused(tmp_path, demo_files, geo, member, code, column, value, expected):
    message = _refused(tmp_path, demo_files, geo, member, _edit_row(_member(member), code, column, value))
    for fragment in expected:
        assert fragment in message


def test_members_staged_together_as_each_alone(demo_files, geo, monkeypatch):
    import sources.filosofi as filosofi

    together = stage(ENTRY, demo_files("filosofi", "2021"), geo)
    monkeypatch.setattr(filosofi, "_staged_together", lambda *args: None)
    alone = stage(ENTRY, demo_files("filosofi", "2021"), geo)
    assert together.frame.equals(alone.frame)
    assert together.notes == alone.notes and together.geo_changes == alone.geo_changes


def test_a_bad_cell_is_refused_before_a_later_member_is_found_missing(tmp_path, demo_files, geo):
    # the COM member comes before the DEP member: its error is the one given, as when each member is staged in turn
    com = _edit_row(_member(COM), "44043", 1, "-3095")
    files = _files(tmp_path, demo_files, cc_filosofi_2021_COM__csv=com, cc_filosofi_2021_DEP__csv=None)
    with pytest.raises(SourceValidationError) as err:
        stage(ENTRY, files, geo)
    assert COM in str(err.value) and "count within [0, +inf]" in str(err.value)
