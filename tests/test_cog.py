"""COG parsers: communes, events, EPCI composition (xlsx header found by content)."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from sources import catalogue
from sources.cog import stage_communes, stage_epci, stage_events
from sources.errors import ParseError, SourceValidationError
from sources.geography import Geography

COMMUNES = catalogue.get("cog_communes", "2025")
EVENTS = catalogue.get("cog_events", "2025")
EPCI = catalogue.get("epci", "2025")


def test_communes_keep_codes_as_text_and_types(demo_files):
    frame = stage_communes(COMMUNES, demo_files("cog_communes", "2025")).frame
    rows = {(r["typecom"], r["code"]): r for r in frame.iter_rows(named=True)}
    assert rows[("COM", "01001")]["name"] == "L'Abergement-Clémenciat"
    assert rows[("COM", "2A004")]["dep"] == "2A"
    assert rows[("ARM", "75101")]["parent"] == "75056"
    assert rows[("COMD", "44100")]["parent"] == "44088"  # Monnières, delegated commune since 2025
    # the demo world: 21 communes, 20 + 9 arrondissements, 3 delegated communes
    assert frame.group_by("typecom").len().sort("typecom").rows() == [("ARM", 29), ("COM", 21), ("COMD", 3)]


def test_events_dates_and_codes(demo_files):
    frame = stage_events(EVENTS, demo_files("cog_events", "2025")).frame
    merge = frame.filter((pl.col("mod") == 32) & (pl.col("code_av") == "44100") & (pl.col("typecom_ap") == "COM"))
    assert merge.select("date", "code_ap").rows() == [(date(2025, 1, 1), "44088")]


def test_epci_header_found_on_row_six_and_numeric_codes_repaired(demo_files, geo):
    partial = Geography(geo.communes, geo.events, pl.DataFrame(), 2025)
    staged = stage_epci(EPCI, demo_files("epci", "2025"), partial)
    rows = {r["code"]: r for r in staged.frame.iter_rows(named=True)}
    assert rows["01001"]["epci"] == "200069193"  # stored as the number 1001 in the xlsx
    assert rows["49099"]["epci_nature"] == "CA"
    assert rows["85113"]["epci"] == "ZZZZZZZZZ"
    assert "1 commune(s) in no EPCI (ZZZZZZZZZ)" in staged.notes


def test_a_renamed_column_is_refused_with_file_column_and_rule(tmp_path, demo_files):
    source = demo_files("cog_communes", "2025")["main"]
    bad = tmp_path / "v_commune_2025.csv"
    bad.write_text(source.read_text(encoding="utf-8").replace("LIBELLE", "LIBELE", 1), encoding="utf-8")
    with pytest.raises(SourceValidationError) as err:
        stage_communes(COMMUNES, {"main": bad})
    message = str(err.value)
    assert "v_commune_2025.csv" in message and "'LIBELLE'" in message and "required column missing" in message


def test_a_duplicated_commune_and_a_bad_code_are_both_reported(tmp_path, demo_files):
    text = demo_files("cog_communes", "2025")["main"].read_text(encoding="utf-8")
    clisson = next(line for line in text.splitlines() if ",44043," in line)
    bad = tmp_path / "v_commune_2025.csv"
    bad.write_text(text + clisson + "\n" + clisson.replace("44043", "4404") + "\n", encoding="utf-8")
    with pytest.raises(SourceValidationError) as err:
        stage_communes(COMMUNES, {"main": bad})
    rules = {(f.column, f.rule) for f in err.value.failures}
    assert ("COM", "unique key: duplicated row") in {(c, r) for c, r in rules if "unique" in r}
    assert any(c == "COM" and "str_matches" in r for c, r in rules)


def test_an_epci_composition_with_an_unknown_commune_is_refused(tmp_path, geo):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "EPCI"
    for _ in range(5):
        sheet.append([])
    sheet.append(["EPCI", "LIBEPCI", "NATURE_EPCI", "NB_COM"])
    sheet.append(["200071678", "CA du Choletais", "CA", 1])
    comp = book.create_sheet("Composition_communale")
    for _ in range(5):
        comp.append([])
    comp.append(["CODGEO", "LIBGEO", "EPCI", "LIBEPCI", "DEP", "REG"])
    comp.append(["49999", "Nulle-Part", "200071678", "CA du Choletais", "49", "52"])
    xlsx = io.BytesIO()
    book.save(xlsx)
    archive = tmp_path / "epci_au_01-01-2025.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("EPCI_au_01-01-2025.xlsx", xlsx.getvalue())
    with pytest.raises(SourceValidationError) as err:
        stage_epci(EPCI, {"main": archive}, Geography(geo.communes, geo.events, pl.DataFrame(), 2025))
    assert err.value.failures[0].column == "CODGEO"
    assert "known to the COG" in err.value.failures[0].rule
    assert "49999" in err.value.failures[0].samples[0]


def test_an_archive_without_the_expected_member_is_a_parse_error(tmp_path, geo):
    archive = tmp_path / "epci_au_01-01-2025.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("autre.xlsx", b"x")
    with pytest.raises(ParseError, match="EPCI_au_01-01-2025.xlsx"):
        stage_epci(EPCI, {"main": archive}, geo)


def test_departement_names_come_from_the_cog_archive_member(demo_files):
    from sources.cog import stage_departements

    entry = catalogue.get("cog_departements", "2025")
    frame = stage_departements(entry, demo_files("cog_departements", "2025")).frame
    names = dict(frame.select("dep", "name").iter_rows())
    assert names["44"] == "Loire-Atlantique" and names["2A"] == "Corse-du-Sud" and names["01"] == "Ain"


# -- the reference tables' screen: never laxer than pandera, which reports what it refuses -----------------------

GOOD_COMMUNES = {
    "typecom": ["COM", "ARM", "COMD"],
    "code": ["75056", "75101", "44100"],
    "dep": ["75", None, None],
    "reg": ["11", None, None],
    "name": ["Paris", "Paris 1er Arrondissement", "Monnières"],
    "parent": [None, "75056", "44088"],
}


def _communes_with(column: str, index: int, value) -> pl.DataFrame:
    data = {name: list(values) for name, values in GOOD_COMMUNES.items()}
    data[column][index] = value
    return pl.DataFrame(data, schema=dict.fromkeys(data, pl.String))


@pytest.mark.parametrize(
    ("column", "index", "value", "file_column", "rule"),
    [
        ("typecom", 0, "CANTON", "TYPECOM", "isin"),
        ("code", 1, "7510", "COM", "str_matches"),
        ("dep", 0, "750", "DEP", "str_matches"),
        ("reg", 0, "1", "REG", "str_matches"),
        ("name", 2, None, "LIBELLE", "not_nullable"),
        ("parent", 1, "Paris", "COMPARENT", "str_matches"),
        ("dep", 0, None, "cog_communes", "a commune (COM) has a département"),  # pandera names the table
        ("parent", 2, None, "cog_communes", "an arrondissement or delegated commune has a parent"),
        ("code", 2, "75101", "COM", "unique key"),  # another type: not a duplicate
    ],
)
def test_a_communes_table_breaking_one_rule_fails_the_screen_and_pandera_names_it(
    column, index, value, file_column, rule
):
    from sources.cog import COMMUNES, _check

    names = {"typecom": "TYPECOM", "code": "COM", "dep": "DEP", "reg": "REG", "name": "LIBELLE", "parent": "COMPARENT"}
    assert COMMUNES.passes(_communes_with("name", 0, "Paris")) is True  # the good table as it is
    bad = _communes_with(column, index, value)
    if rule == "unique key":  # a second ARM 75101: the key (typecom, code) repeated
        bad = bad.with_columns(typecom=pl.Series(["COM", "ARM", "ARM"]), parent=pl.Series([None, "75056", "75056"]))
    assert COMMUNES.passes(bad) is False
    with pytest.raises(SourceValidationError) as err:
        _check(COMMUNES, bad, "cog_communes", "v_commune_2025.csv", Path("v_commune_2025.csv"), names)
    assert any(f.column == file_column and rule in f.rule for f in err.value.failures), err.value.failures


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("mod", 99, "isin"),
        ("date", None, "not_nullable"),
        ("typecom_ap", "CANTON", "isin"),
        ("code_av", "441", "str_matches"),
    ],
)
def test_an_events_table_breaking_one_rule_fails_the_screen(column, value, rule):
    from sources.cog import EVENTS, _check

    good = {
        "mod": [32],
        "date": [date(2025, 1, 1)],
        "typecom_av": ["COM"],
        "code_av": ["44100"],
        "name_av": ["Monnières"],
        "typecom_ap": ["COM"],
        "code_ap": ["44088"],
        "name_ap": ["Maisdon-Monnières"],
    }
    schema = dict.fromkeys(good, pl.String) | {"mod": pl.Int32, "date": pl.Date}
    assert EVENTS.passes(pl.DataFrame(good, schema=schema)) is True
    bad = pl.DataFrame(good | {column: [value]}, schema=schema)
    assert EVENTS.passes(bad) is False
    with pytest.raises(SourceValidationError) as err:
        _check(EVENTS, bad, "cog_events", "v_mvt_commune_2025.csv", Path("v_mvt_commune_2025.csv"), {})
    assert any(rule in f.rule for f in err.value.failures), err.value.failures


def test_a_departement_listed_twice_fails_the_screen():
    from sources.cog import DEPARTEMENTS

    good = pl.DataFrame({"dep": ["44", "2A"], "reg": ["52", "94"], "name": ["Loire-Atlantique", "Corse-du-Sud"]})
    assert DEPARTEMENTS.passes(good) is True
    assert DEPARTEMENTS.passes(good.with_columns(dep=pl.Series(["44", "44"]))) is False
    assert DEPARTEMENTS.passes(good.with_columns(reg=pl.Series(["52", None]))) is False


def test_a_valid_reference_table_is_staged_without_importing_pandera(demo_files):
    """Pandera is imported to report a failing table, not to pass a valid one (its import is 0.2 s of CPU)."""
    import json
    import subprocess
    import sys

    files = {role: str(path) for role, path in demo_files("cog_communes", "2025").items()}
    code = (
        "import json, sys\nfrom pathlib import Path\nfrom sources import catalogue\n"
        "from sources.cog import stage_communes\n"
        f"stage_communes(catalogue.get('cog_communes', '2025'), {{r: Path(p) for r, p in {files!r}.items()}})\n"
        "print(json.dumps([m for m in sys.modules if m.split('.')[0] == 'pandera']))"
    )
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert json.loads(run.stdout) == []
