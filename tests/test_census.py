"""Census communal bases (RP base-cc): year suffixes from the header, ARM rows, merged communes, bad inputs.

Expected values are the literal cells of the demo files (sources/demo/mirror, written by gen_census), quoted in
the comments; the arithmetic is done by hand.
"""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from sources import catalogue
from sources.catalogue import Entry, FileSpec
from sources.census import census_year, header_years, stage, without_year
from sources.demo import MIRROR_ROOT
from sources.demo.files import entry_path
from sources.errors import ParseError, SourceValidationError
from sources.mirror import zip_folder
from sources.values import NOT_AVAILABLE

THEMES = ["rp_population", "rp_families", "rp_housing", "rp_employment", "rp_education"]
POP22 = catalogue.get("rp_population", "2022")
POP_MEMBER = "base-cc-evol-struct-pop-2022.CSV"


def cell(frame: pl.DataFrame, code: str, year: int, variable: str, level: str = "COM") -> dict:
    rows = frame.filter(
        (pl.col("level") == level)
        & (pl.col("code") == code)
        & (pl.col("year") == year)
        & (pl.col("variable") == variable)
    ).to_dicts()
    assert len(rows) == 1, f"{level} {code} {year} {variable}: {len(rows)} rows"
    return rows[0]


def edited_zip(tmp_path: Path, source: str, vintage: str, edit) -> Path:
    """The demo zip of an entry with its data member's text passed through `edit` (CRLF kept)."""
    folder = tmp_path / "edited"
    folder.mkdir()
    for path in entry_path(MIRROR_ROOT, source, vintage).iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    member = folder / catalogue.get(source, vintage).file().member
    member.write_bytes(edit(member.read_bytes().decode("ascii")).encode("ascii"))
    target = tmp_path / f"{source}-{vintage}.zip"
    target.write_bytes(zip_folder(folder))
    return target


def replace_line(code: str, column: str, value: str):
    """An edit that sets one cell of the row `code`."""

    def edit(text: str) -> str:
        lines = text.split("\r\n")
        index = lines[0].split(";").index(column)
        for i, line in enumerate(lines):
            cells = line.split(";")
            if cells[0] == code:
                cells[index] = value
                lines[i] = ";".join(cells)
        return "\r\n".join(lines)

    return edit


# -- helpers -----------------------------------------------------------------------------------------------------


def test_year_helpers():
    assert census_year("22") == 2022 and census_year("99") == 1999
    assert header_years(["CODGEO", "P11_POP", "P22_POP", "C16_FAM", "NAIS1318"]) == ["22", "16", "11"]
    assert without_year("P22_POP") == "P_POP" and without_year("C16_FAMMONO") == "C_FAMMONO"
    assert without_year("P22_POP80P_PSEUL") == "P_POP80P_PSEUL"


# -- the demo files ------------------------------------------------------------------------------------------------


def test_demo_zips_hold_the_real_members_in_the_real_format(demo_files):
    for vintage in ("2022", "2021"):
        for source in THEMES:
            member = catalogue.get(source, vintage).file().member
            with zipfile.ZipFile(demo_files(source, vintage)["main"]) as zf:
                names = set(zf.namelist())
                data = zf.read(member)
                meta = zf.read(f"meta_{member}").decode("utf-8")
            overseas = member.replace(".CSV", "-COM.CSV")
            assert (overseas in names) == (vintage == "2022")
            assert data[:7] == b"CODGEO;" and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
            assert meta.startswith("COD_VAR;LIB_VAR;LIB_VAR_LONG;COD_MOD;LIB_MOD;TYPE_VAR;LONG_VAR\r\n")
            assert "Code du département" in meta  # UTF-8 with accents
    text = (entry_path(MIRROR_ROOT, "rp_population", "2022") / POP_MEMBER).read_text()
    rows = {line.split(";")[0]: line.split(";") for line in text.splitlines()}
    assert rows["01001"][2] == "151"  # a commune under 2,000 inhabitants: integers
    assert rows["44043"][2] == "1251.5271774709"  # above: weighted estimates, long floats with "."


def test_clisson_main_and_comparison_years(demo_files, geo):
    staged = stage(POP22, demo_files("rp_population", "2022"), geo)
    frame = staged.frame
    # literal cells of 44043: P22_POP = 7458, P16_POP = 7035, P11_POP = 6682, P22_POP0014 = 1251.5271774709
    assert cell(frame, "44043", 2022, "P_POP")["value"] == 7458
    assert cell(frame, "44043", 2016, "P_POP")["value"] == 7035
    assert cell(frame, "44043", 2011, "P_POP")["value"] == 6682
    assert cell(frame, "44043", 2022, "P_POP0014")["value"] == pytest.approx(1251.5271774709, abs=1e-9)
    assert set(frame["year"].unique().to_list()) == {2022, 2016, 2011}
    assert not frame["variable"].str.contains(r"^[PC]\d\d_").any()  # no year left in the names
    assert frame["status"].null_count() == frame.height
    assert any("2016 (26 variables), 2011 (26 variables)" in n for n in staged.notes)


def test_rp2021_comparison_years_and_families(demo_files, geo):
    frame = stage(catalogue.get("rp_families", "2021"), demo_files("rp_families", "2021"), geo).frame
    assert set(frame["year"].unique().to_list()) == {2021, 2015, 2010}
    # C15_FAMMONO is staged as C_FAMMONO 2015, next to C21_FAMMONO as C_FAMMONO 2021
    assert {
        r["year"] for r in frame.filter((pl.col("code") == "44043") & (pl.col("variable") == "C_FAMMONO")).to_dicts()
    } == {2021, 2015, 2010}


def test_arrondissements_are_staged_apart_and_never_added_to_their_city(demo_files, geo):
    staged = stage(POP22, demo_files("rp_population", "2022"), geo)
    frame = staged.frame.filter((pl.col("year") == 2022) & (pl.col("variable") == "P_POP"))
    arm = frame.filter(pl.col("level") == "ARM")
    assert arm.height == 29 and set(arm["code"].str.slice(0, 3).to_list()) == {"751", "693"}
    assert cell(frame, "75101", 2022, "P_POP", level="ARM")["value"] == 16910  # literal cell of 75101
    # literal cell of 75056: 2113705, which INSEE already computes with its arrondissements; not 2 x 2113705
    assert cell(frame, "75056", 2022, "P_POP")["value"] == 2113705
    assert cell(frame, "69123", 2022, "P_POP")["value"] == 522250
    assert frame.filter(pl.col("level") == "COM").height == 21  # the communes of COG 2025, nothing else
    assert any("29 arrondissement" in n for n in staged.notes)


def test_overseas_member_is_never_read(demo_files, geo):
    path = demo_files("rp_population", "2022")["main"]
    with zipfile.ZipFile(path) as zf:
        assert "base-cc-evol-struct-pop-2022-COM.CSV" in zf.namelist()  # present, holding 97501 and 97701
    frame = stage(POP22, {"main": path}, geo).frame
    assert not frame["code"].is_in(["97501", "97701"]).any()


def test_rp2021_merged_commune_is_the_sum_of_its_two_2024_communes(demo_files, geo):
    staged = stage(catalogue.get("rp_population", "2021"), demo_files("rp_population", "2021"), geo)
    frame = staged.frame
    # COG 2024 rows: 44088 P21_POP = 3044, 44100 P21_POP = 2029 -> 3044 + 2029 = 5073
    row = cell(frame, "44088", 2021, "P_POP")
    assert row["value"] == 5073 and row["geo_change"] == "merged"
    # P15_POP: 2902 + 1934 = 4836
    assert cell(frame, "44088", 2015, "P_POP")["value"] == 4836
    # P21_POP0014: 539.296482235465 + 402.348251033021 = 941.644733268486
    assert cell(frame, "44088", 2021, "P_POP0014")["value"] == pytest.approx(941.644733268486, abs=1e-9)
    assert "44100" not in frame["code"].to_list()
    assert {(c.old, c.kind) for c in staged.geo_changes} == {("44088", "merged"), ("44100", "merged")}
    # 85165 and 85212 exist in COG 2024 (restored on 2024-01-01): staged as they are
    assert cell(frame, "85165", 2021, "P_POP")["geo_change"] is None


def test_without_geography_codes_stay_as_published(demo_files):
    frame = stage(catalogue.get("rp_population", "2021"), demo_files("rp_population", "2021"), None).frame
    assert cell(frame, "44100", 2021, "P_POP")["value"] == 2029  # literal cell, COG 2024


def test_empty_cell_is_not_available_never_zero(demo_files, geo):
    staged = stage(catalogue.get("rp_families", "2021"), demo_files("rp_families", "2021"), geo)
    row = cell(staged.frame, "85133", 2021, "C_HMONO")  # the file's C21_HMONO cell of 85133 is empty
    assert row["value"] is None and row["status"] == NOT_AVAILABLE
    assert cell(staged.frame, "85133", 2021, "C_FMONO")["value"] == 40  # its neighbour cell: 40
    assert any("1 empty cell(s)" in n and "85133" in n for n in staged.notes)


def test_absent_optional_columns_are_noted_per_vintage(demo_files, geo):
    staged22 = stage(catalogue.get("rp_housing", "2022"), demo_files("rp_housing", "2022"), geo)
    staged21 = stage(catalogue.get("rp_housing", "2021"), demo_files("rp_housing", "2021"), geo)
    assert (
        "C22_RP_HSTU1P_SUROCC not in this vintage: indicators that need it will be null (not_available)"
        in staged22.notes
    )
    assert any(n.startswith("C21_RP_SUROCC_MOD not in this vintage") for n in staged21.notes)
    assert "C_RP_SUROCC_MOD" in staged22.frame["variable"].to_list()
    assert "C_RP_SUROCC_MOD" not in staged21.frame["variable"].to_list()
    assert "C_RP_HSTU1P_SUROCC" in staged21.frame["variable"].to_list()


def test_every_theme_and_vintage_stages(demo_files, geo):
    for vintage in ("2022", "2021"):
        for source in THEMES:
            entry = catalogue.get(source, vintage)
            frame = stage(entry, demo_files(source, vintage), geo).frame
            main = {without_year(c) for c in entry.columns().required}
            staged = set(frame.filter(pl.col("year") == int(vintage))["variable"].to_list())
            assert main <= staged, (source, vintage, main - staged)


def test_decimal_comma_is_accepted(tmp_path, geo):
    # 44043 P22_POP0014 written "1251,5271774709" instead of "1251.5271774709"
    path = edited_zip(tmp_path, "rp_population", "2022", replace_line("44043", "P22_POP0014", "1251,5271774709"))
    frame = stage(POP22, {"main": path}, geo).frame
    assert cell(frame, "44043", 2022, "P_POP0014")["value"] == pytest.approx(1251.5271774709, abs=1e-9)


@pytest.mark.parametrize("written", [" 1251.5", "1251.5 ", ""])
def test_cells_read_as_numbers_stage_as_their_text_would(tmp_path, geo, monkeypatch, written):
    # a space before a number, or an empty cell: the CSV reader's numbers (`wide.read_numbers`); a space after: the
    # file read as text; either way the rows, statuses and notes of the text's own parse
    path = edited_zip(tmp_path, "rp_population", "2022", replace_line("44043", "P22_POP0014", written))
    staged = stage(POP22, {"main": path}, geo)
    monkeypatch.setattr("sources.census.read_numbers", lambda *args: None)
    as_text = stage(POP22, {"main": path}, geo)
    assert staged.frame.equals(as_text.frame) and staged.summary() == as_text.summary()
    row = cell(staged.frame, "44043", 2022, "P_POP0014")
    assert (row["value"], row["status"]) == ((1251.5, None) if written else (None, NOT_AVAILABLE))


# -- bad inputs ----------------------------------------------------------------------------------------------------


def failure_of(err: SourceValidationError, column: str) -> str:
    rules = [f.rule for f in err.failures if f.column == column]
    assert rules, f"no failure on {column}: {err}"
    return rules[0]


def test_renamed_required_column(tmp_path, geo):
    path = edited_zip(tmp_path, "rp_population", "2022", lambda t: t.replace("P22_POP0014;", "P22_POP0014X;", 1))
    with pytest.raises(SourceValidationError) as err:
        stage(POP22, {"main": path}, geo)
    assert POP_MEMBER in str(err.value) and "'P22_POP0014'" in str(err.value)
    assert failure_of(err.value, "P22_POP0014") == "required column missing from the file"


def test_duplicated_codgeo(tmp_path, geo):
    def duplicate(text: str) -> str:
        clisson = next(line for line in text.split("\r\n") if line.startswith("44043;"))
        return text + clisson + "\r\n"

    with pytest.raises(SourceValidationError) as err:
        stage(POP22, {"main": edited_zip(tmp_path, "rp_population", "2022", duplicate)}, geo)
    assert POP_MEMBER in str(err.value)
    assert "unique key" in failure_of(err.value, "CODGEO")


KNOWN_CODE = "code known to the COG of the file's geography"


@pytest.mark.parametrize(
    "edit, column, rule, shown",
    [
        (replace_line("44064", "P16_POP80P", "-12"), "P16_POP80P", "count within [0, +inf]", "COM 44064 2016 = -12.0"),
        (lambda t: t.replace("\r\n44064;", "\r\n44999;"), "CODGEO", KNOWN_CODE, "44999"),
        # 44100 exists in COG 2024 but not in COG 2025, the geography of RP 2022
        (lambda t: t.replace("\r\n44064;", "\r\n44100;"), "CODGEO", KNOWN_CODE, "44100"),
        (
            replace_line("44043", "P22_POPF", "n.d."),
            "P22_POPF",
            "a number or a known marker",
            "COM 44043 2022 = invalid",
        ),
    ],
)
def test_a_bad_cell_is_refused(tmp_path, geo, edit, column, rule, shown):
    path = edited_zip(tmp_path, "rp_population", "2022", edit)
    with pytest.raises(SourceValidationError) as err:
        stage(POP22, {"main": path}, geo)
    assert POP_MEMBER in str(err.value) and shown in str(err.value)
    assert failure_of(err.value, column) == rule


def test_a_file_of_another_census_year_is_refused(demo_files, geo):
    # the RP 2021 zip given to the RP 2022 entry (member name adjusted so that the archive opens)
    spec = replace(POP22.file(), member="base-cc-evol-struct-pop-2021.CSV")
    with pytest.raises(SourceValidationError) as err:
        stage(replace(POP22, files=(spec,)), demo_files("rp_population", "2021"), geo)
    assert failure_of(err.value, "P22_*/C22_*") == "census year 2022 absent from the header"
    assert "years in the header: 2021, 2015, 2010" in str(err.value)


def test_zip_without_the_expected_member(tmp_path, geo):
    path = tmp_path / "base-cc-evol-struct-pop-2022_csv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta_base-cc-evol-struct-pop-2022.CSV", "COD_VAR;LIB_VAR\r\n")
        zf.writestr("base-cc-evol-struct-pop-2022-COM.CSV", "CODGEO;P22_POP\r\n97501;5819\r\n")
    with pytest.raises(ParseError) as err:
        stage(POP22, {"main": path}, geo)
    assert POP_MEMBER in str(err.value)


# -- the real comparateur (same INSEE chain: RP 2018 columns, COG 2021) ---------------------------------------


@pytest.mark.realdata
def test_real_comparateur_through_the_census_parser():
    from tests.conftest import real_file

    path = real_file("base_cc_comparateur_csv.zip")
    entry = Entry(
        source="comparateur_rp",
        vintage="2018",
        publisher="INSEE",
        title="comparateur (RP 2018)",
        parser="census",
        files=(
            FileSpec(
                url="https://example.invalid/base_cc_comparateur_csv.zip",
                format="zip",
                member="base_cc_comparateur.CSV",
            ),
        ),
        columns_key="rp_employment",
        cog=2021,
        params={"yy": "18"},
    )
    staged = stage(entry, {"main": path}, None)  # COG 2021 is not available offline: membership not checked
    frame = staged.frame
    # verbatim row of 44043: P18_POP1564 = 4541.15273466043, P18_CHOM1564 = 373.152299011456
    assert cell(frame, "44043", 2018, "P_POP1564")["value"] == pytest.approx(4541.15273466043, abs=1e-9)
    assert cell(frame, "44043", 2018, "P_CHOM1564")["value"] == pytest.approx(373.152299011456, abs=1e-9)
    mayotte = cell(frame, "97601", 2018, "P_ACT1564")  # Mayotte: empty RP cells
    assert mayotte["value"] is None and mayotte["status"] == NOT_AVAILABLE
    levels = dict(frame.filter(pl.col("variable") == "P_POP1564").group_by("level").len().rows())
    assert levels == {"COM": 34965, "ARM": 45}  # 35,010 rows: Paris, Lyon and Marseille twice
    assert cell(frame, "13201", 2018, "P_POP1564", level="ARM")["status"] is None
    assert any(n.startswith("P18_ACTOCC1564 not in this vintage") for n in staged.notes)
