"""IRIS and QPV sources on hand-made files in the real formats: 9-character IRIS codes, communes not divided into
IRIS (<commune>0000, type Z), Paris IRIS under their arrondissement, secret IRIS rows (ns, the note column), QPV
across two communes. Expected values are the fixtures' literal cells."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest

from sources import catalogue, filosofi_iris, iris_census, iris_reference, qpv
from sources.errors import ParseError, SourceValidationError
from sources.values import NOT_AVAILABLE, SECRET

POP_ENTRY = catalogue.get("rp_iris_population", "2022")
DISP_ENTRY = catalogue.get("filosofi_iris_disp", "2021")
REF_ENTRY = catalogue.get("iris_reference", "2024")
QPV_ENTRY = catalogue.get("qpv", "2024")
BANDS = [
    "P22_POP0002",
    "P22_POP0305",
    "P22_POP0610",
    "P22_POP1117",
    "P22_POP1824",
    "P22_POP2539",
    "P22_POP4054",
    "P22_POP5564",
    "P22_POP6579",
    "P22_POP80P",
    "P22_POP0014",
    "P22_POP1529",
    "P22_POP3044",
    "P22_POP4559",
    "P22_POP6074",
    "P22_POP75P",
    "P22_POP0019",
    "P22_POP2064",
    "P22_POP65P",
    "P22_POPH",
    "P22_POPF",
    "P22_PMEN",
    "P22_PHORMEN",
]
HEADER = "IRIS;COM;TYP_IRIS;LAB_IRIS;P22_POP;" + ";".join(BANDS)


def _zip(tmp_path: Path, name: str, member: str, text: str, crlf: bool = True) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, text.replace("\n", "\r\n") if crlf else text)
    return path


def _values(frame: pl.DataFrame, code: str) -> dict[str, tuple[float | None, str | None]]:
    rows = frame.filter(pl.col("code") == code)
    return {r["variable"]: (r["value"], r["status"]) for r in rows.iter_rows(named=True)}


# the age bands of each row: P_POP0002 first, then the others (every one below the population), then the sexes
ROWS = [
    # a commune not divided into IRIS: integers (small commune)
    "010010000;01001;Z;5;859;33;28;56;80;50;120;160;110;150;72;183;140;201;195;90;100;210;427;222;426;433;841;18",
    # a Paris IRIS, coded under its arrondissement (75108), weighted estimates
    (
        "751083006;75108;H;1;2057.93753915075;98.5714870259099;60;90;130;200;400;500;250;250;79.3660521240401;"
        "398;400;410;380;200;140;348;1050;330;980.5;1077.43753915075;2000;57.93753915075"
    ),
    # Corsica, with one empty cell (P22_PHORMEN)
    "2A0040101;2A004;H;1;1500;40;45;60;100;110;300;350;200;200;95;245;250;300;320;200;120;300;720;390;720;780;1480;",
]


def _population(tmp_path: Path, rows: list[str]) -> dict[str, Path]:
    text = "\n".join([HEADER, *rows]) + "\n"
    return {"main": _zip(tmp_path, "base-ic-evol-struct-pop-2022_csv.zip", "base-ic-evol-struct-pop-2022.CSV", text)}


def test_iris_census_rows_keep_their_9_character_codes(tmp_path, geo):
    staged = iris_census.stage(POP_ENTRY, _population(tmp_path, ROWS), geo)
    assert set(staged.frame["level"].to_list()) == {"IRIS"}
    assert sorted(staged.frame["code"].unique().to_list()) == ["010010000", "2A0040101", "751083006"]
    c = _values(staged.frame, "010010000")
    assert c["P_POP"] == (859.0, None) and c["P_POP0002"] == (33.0, None)  # "859;33;"
    paris = _values(staged.frame, "751083006")
    assert paris["P_POP"] == (2057.93753915075, None) and paris["P_POP0002"] == (98.5714870259099, None)
    assert _values(staged.frame, "2A0040101")["P_PHORMEN"] == (None, NOT_AVAILABLE)  # empty cell, never 0
    assert staged.frame["year"].unique().to_list() == [2022]
    assert (
        "3 IRIS rows (IRIS geography 2024): 2 IRIS of communes divided into IRIS, 1 communes not divided "
        "into IRIS (pseudo-IRIS <commune>0000); 24 variables"
    ) in staged.notes


@pytest.mark.parametrize(
    ("row", "column", "rule"),
    [
        # a code read as a number loses its leading zero
        (ROWS[0].replace("010010000;", "10010000;", 1), "IRIS", "9 characters"),
        # the commune of a Paris IRIS is its arrondissement: 75109 is another one
        (ROWS[1].replace(";75108;", ";75109;", 1), "COM", "first 5 characters of its IRIS code"),
        # a commune not divided into IRIS has the pseudo-IRIS <commune>0000 only
        (ROWS[0].replace("010010000;", "010010101;", 1), "TYP_IRIS", "<commune>0000"),
    ],
)
def test_iris_census_refuses_malformed_codes(tmp_path, geo, row, column, rule):
    with pytest.raises(SourceValidationError) as err:
        iris_census.stage(POP_ENTRY, _population(tmp_path, [row, ROWS[2]]), geo)
    text = str(err.value)
    assert f"column '{column}'" in text and rule in text and "base-ic-evol-struct-pop-2022.CSV" in text


def test_iris_census_refuses_a_part_above_its_whole(tmp_path, geo):
    row = ROWS[0].replace(";72;183;", ";72;900;", 1)  # 900 aged 0-14 among 859 inhabitants
    with pytest.raises(SourceValidationError, match="P22_POP0014"):
        iris_census.stage(POP_ENTRY, _population(tmp_path, [row]), geo)


@pytest.mark.parametrize(("cell", "rule"), [("n.d.", "a number or a known marker"), ("-859", "count within [0, +inf]")])
def test_a_bad_iris_cell_fails_the_wide_screen_and_is_named_by_the_long_validation(tmp_path, geo, cell, rule):
    # the rows are screened wide first; a failure sends them to the long validation, whose error names the file,
    # the column, the rule and the failing row
    row = ROWS[0].replace("010010000;01001;Z;5;859;", f"010010000;01001;Z;5;{cell};", 1)
    with pytest.raises(SourceValidationError) as err:
        iris_census.stage(POP_ENTRY, _population(tmp_path, [row, ROWS[2]]), geo)
    text = str(err.value)
    assert "base-ic-evol-struct-pop-2022.CSV" in text and "'P22_POP'" in text and rule in text, text
    assert "010010000" in text, text


@pytest.mark.parametrize("written", [" 859", "859 "])
def test_iris_cells_read_as_numbers_stage_as_their_text_would(tmp_path, geo, monkeypatch, written):
    # a space before a number: the CSV reader's numbers (`wide.read_numbers`); a space after: the file read as
    # text; either way the rows, statuses and notes of the text's own parse
    row = ROWS[0].replace("010010000;01001;Z;5;859;", f"010010000;01001;Z;5;{written};", 1)
    files = _population(tmp_path, [row, *ROWS[1:]])
    staged = iris_census.stage(POP_ENTRY, files, geo)
    monkeypatch.setattr("sources.iris_census.read_numbers", lambda *args: None)
    as_text = iris_census.stage(POP_ENTRY, files, geo)
    assert staged.frame.equals(as_text.frame) and staged.summary() == as_text.summary()
    assert _values(staged.frame, "010010000")["P_POP"] == (859.0, None)
    assert _values(staged.frame, "2A0040101")["P_PHORMEN"] == (None, NOT_AVAILABLE)


def test_iris_census_line_longer_than_its_header_is_refused(tmp_path, geo):
    # every column is read (the staged ones as numbers): a line with one more field is a malformed file
    with pytest.raises(ParseError, match="malformed CSV"):
        iris_census.stage(POP_ENTRY, _population(tmp_path, [ROWS[0] + ";1", *ROWS[1:]]), geo)


# -- Filosofi by IRIS ----------------------------------------------------------------------------------------------

DISP_HEADER = "IRIS;DISP_MED21;DISP_D121;DISP_D921;DISP_RD21;DISP_TP6021;DISP_PPSOC21;DISP_NOTE21"


def _disp(tmp_path: Path, lines: list[str], header: str = DISP_HEADER) -> dict[str, Path]:
    text = "\n".join([header, *lines]) + "\n"
    return {
        "main": _zip(
            tmp_path, "BASE_TD_FILO_IRIS_2021_DISP_CSV.zip", "BASE_TD_FILO_IRIS_2021_DISP.csv", text, crlf=False
        )
    }


def test_filosofi_iris_markers_and_note_column(tmp_path, geo):
    staged = filosofi_iris.stage(
        DISP_ENTRY,
        _disp(
            tmp_path,
            [
                "490990101;21110;11440;39260;3,4;15,4;6,6;0",
                "490990106;ns;ns;ns;ns;ns;ns;1",  # too few households: every cell ns, the note says withheld
                "751083006;25000;12000;50000;4,2;nd;5,0;0",  # the poverty rate not available
                "751083007;24000;12000;48000;4,0;12,0;5,0;2",  # the note withholds figures that the cells still show
                "2A0040101;20500;10100;37900;3,8;s;9,1;0",  # an `s` marker is secret too
            ],
        ),
        geo,
    )
    published = _values(staged.frame, "490990101")
    assert published["DISP_MED"] == (21110.0, None) and published["DISP_TP60"] == (15.4, None)  # "15,4"
    assert published["DISP_RD"] == (3.4, None)
    assert set(published) == {"DISP_MED", "DISP_D1", "DISP_D9", "DISP_RD", "DISP_TP60", "DISP_PPSOC"}  # no NOTE
    assert set(_values(staged.frame, "490990106").values()) == {(None, SECRET)}
    assert _values(staged.frame, "751083006")["DISP_TP60"] == (None, NOT_AVAILABLE)
    assert _values(staged.frame, "751083006")["DISP_MED"] == (25000.0, None)
    assert set(_values(staged.frame, "751083007").values()) == {(None, SECRET)}  # never 24000 or 0
    assert _values(staged.frame, "2A0040101")["DISP_TP60"] == (None, SECRET)
    # rows withheld: 490990106 and 751083007; secret cells: 6 + 6 + 1 = 13; nd: 1
    assert staged.notes[0] == (
        "BASE_TD_FILO_IRIS_2021_DISP.csv: 5 IRIS (IRIS geography 2022), 6 measures; 2 "
        "row(s) withheld by the note column DISP_NOTE21 (secret); cells secret (ns/s): 13, "
        "not available (nd): 1"
    )


def test_filosofi_iris_of_another_year_is_refused(tmp_path, geo):
    header = DISP_HEADER.replace("21", "20")
    with pytest.raises(SourceValidationError, match="DISP_MED21"):
        filosofi_iris.stage(DISP_ENTRY, _disp(tmp_path, ["490990101;21110;11440;39260;3,4;15,4;6,6;0"], header), geo)


def test_filosofi_iris_refuses_a_code_read_as_a_number(tmp_path, geo):
    with pytest.raises(SourceValidationError, match="9 characters"):
        filosofi_iris.stage(DISP_ENTRY, _disp(tmp_path, ["10010101;21110;11440;39260;3,4;15,4;6,6;0"]), geo)


# -- the IRIS reference ------------------------------------------------------------------------------------------


def _reference(tmp_path: Path, rows: list[list]) -> dict[str, Path]:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Emboitements_IRIS"
    for line in ("Table d'appartenance géographique des IRIS", "Découpage au 1er janvier 2024", "", "", ""):
        sheet.append([line] if line else [])
    sheet.append(["CODE_IRIS", "LIB_IRIS", "TYP_IRIS", "GRD_QUART", "DEPCOM", "LIBCOM", "UU2020", "REG", "DEP"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    path = tmp_path / "reference_IRIS_geo2024.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("reference_IRIS_geo2024.xlsx", buffer.getvalue())
    return {"main": path}


REFERENCE_ROWS = [
    ["490990101", "Centre", "H", "4909901", "49099", "Cholet", "49701", "52", "49"],
    ["490990102", "Nord", "H", "4909901", "49099", "Cholet", "49701", "52", "49"],
    # Monnières, not divided into IRIS, merged into Maisdon-Monnières (44088) on 1 January 2025
    ["441000000", "Monnières", "Z", "4410000", "44100", "Monnières", "", "52", "44"],
    ["751083006", "Champs-Élysées 6", "H", "7510830", "75108", "Paris 8e Arrondissement", "00851", "11", "75"],
    # a spreadsheet user's number: 010010000 typed as 10010000 (the reader puts the zeros back)
    [10010000, "L'Abergement-Clémenciat", "Z", "0100100", "01001", "L'Abergement-Clémenciat", "", "84", "01"],
]


def test_reference_places_each_iris_in_its_target_commune(tmp_path, geo):
    staged = iris_reference.stage(REF_ENTRY, _reference(tmp_path, REFERENCE_ROWS), geo)
    rows = {r["code"]: r for r in staged.frame.iter_rows(named=True)}
    assert sorted(rows) == ["010010000", "441000000", "490990101", "490990102", "751083006"]
    assert (rows["441000000"]["commune"], rows["441000000"]["commune_target"]) == ("44100", "44088")
    assert (rows["751083006"]["commune_target"], rows["751083006"]["city"]) == ("75108", "75056")
    assert rows["490990101"]["name"] == "Centre" and rows["490990101"]["commune_target"] == "49099"
    assert rows["010010000"]["type"] == "Z" and rows["010010000"]["commune"] == "01001"
    assert (
        staged.notes[0] == "5 IRIS (geography 2024): 3 of type H, 0 of type A, 0 of type D, 2 of type Z (Z: "
        "communes not divided into IRIS)"
    )
    assert "44100 -> 44088" in staged.notes[1]


def test_reference_leaves_the_iris_of_a_split_commune_unplaced(geo):
    # in COG 2021, 85084 was later split into 85084, 85165, 85212; 44100 merged into 44088 (the demo's events)
    frame = pl.DataFrame({"code": ["850840000", "441000000", "751083006", "490990101"]})
    frame = frame.with_columns(commune=pl.col("code").str.slice(0, 5))
    placed, notes = iris_reference.to_target(frame, 2021, geo)
    assert placed["commune_target"].to_list() == [None, "44088", "75108", "49099"]
    assert placed["city"].to_list() == [None, None, "75056", None]
    assert notes == [
        "1 IRIS of communes changed since COG 2021 placed in their commune of COG 2025: 44100 -> 44088",
        "IRIS of communes split since COG 2021 have no single target commune (left unplaced): 85084",
    ]


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        (["490990199", "Divers", "Z", "", "49099", "Cholet", "", "52", "49"], "pseudo-IRIS <commune>0000"),
        (["490990101", "Centre", "H", "", "49098", "Cholet", "", "52", "49"], "starts with its commune's"),
        (["999990000", "Nulle part", "Z", "", "99999", "Nulle part", "", "", "99"], "code known to the COG"),
    ],
)
def test_reference_refuses_inconsistent_rows(tmp_path, geo, row, rule):
    with pytest.raises(SourceValidationError) as err:
        iris_reference.stage(REF_ENTRY, _reference(tmp_path, [REFERENCE_ROWS[0], row]), geo)
    assert rule in str(err.value) and "reference_IRIS_geo2024.xlsx" in str(err.value)


# -- QPV --------------------------------------------------------------------------------------------------------


def _geojson(tmp_path: Path, properties: list[dict]) -> dict[str, Path]:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
            "properties": p,
        }
        for p in properties
    ]
    path = tmp_path / "qp2024.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return {"main": path}


def test_qpv_list_with_a_qpv_across_two_communes(tmp_path, geo):
    staged = qpv.stage(
        QPV_ENTRY,
        _geojson(
            tmp_path,
            [
                {"code_qp": "QN04905M", "lib_qp": "Sud", "insee_com": "49099", "lib_com": "Cholet", "insee_dep": "49"},
                {
                    "code_qp": "QN04906M",
                    "lib_qp": "Lisière",
                    "insee_com": "49099, 49192",
                    "lib_com": None,
                    "insee_dep": "49",
                },
            ],
        ),
        geo,
    )
    pairs = sorted(staged.frame.select("code", "commune").iter_rows())
    assert pairs == [("QN04905M", "49099"), ("QN04906M", "49099"), ("QN04906M", "49192")]
    assert staged.notes[0] == (
        "2 features, 2 QPV in 2 communes (COG 2024); 1 QPV across several communes; the contours are not read"
    )


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"code_qp": "QP049005", "lib_qp": "Ancien code", "insee_com": "49099"}, "code_qp"),
        ({"code_qp": "QN04905M", "lib_qp": "Sans commune"}, "property required in every feature"),
        ({"code_qp": "QN04905M", "lib_qp": "Ailleurs", "insee_com": "99999"}, "code known to the COG"),
    ],
)
def test_qpv_refuses_bad_features(tmp_path, geo, props, expected):
    with pytest.raises(SourceValidationError, match=expected):
        qpv.stage(QPV_ENTRY, _geojson(tmp_path, [props]), geo)


def test_qpv_file_that_is_not_geojson(tmp_path, geo):
    path = tmp_path / "qp.geojson"
    path.write_text('{"type": "Feature"}', encoding="utf-8")
    with pytest.raises(ParseError, match="FeatureCollection"):
        qpv.stage(QPV_ENTRY, {"main": path}, geo)


def test_iris_coverage_counts_the_communes_with_an_iris_row(tmp_path, geo):
    from sources.coverage import coverage_failures

    # the three hand-made rows cover 01001, 2A004 and Paris (its IRIS 751083006 lies in 75108, an arrondissement)
    staged = iris_census.stage(POP_ENTRY, _population(tmp_path, ROWS), geo)
    fatal, short = coverage_failures(POP_ENTRY, staged.frame, geo, None)
    n = geo.communes.filter(pl.col("typecom") == "COM").height
    assert fatal == [] and len(short) == 1
    assert short[0].rule == "at least 95% of the communes of COG 2025 present in every year of the file"
    assert short[0].samples[0].startswith(f"2022: 3 of {n} communes of COG 2025")
