"""CAF parsers (`caf_benefits`, `caf_childcare`) on the demo exports of data.caf.fr, and on broken copies of them.

Expected values are read by hand from the literal cells of the demo files (sources/demo/mirror/data.caf.fr/…);
the arithmetic is in the comments.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest

from sources import catalogue
from sources.caf_benefits import ROUNDING_RULE
from sources.caf_benefits import stage as stage_benefits
from sources.caf_childcare import stage as stage_childcare
from sources.errors import SourceValidationError
from sources.values import MISSING, NON_RECALCULABLE, SPLIT

VINTAGE = "2024"


def _entry(source: str):
    return catalogue.get(source, VINTAGE)


def _value(frame: pl.DataFrame, code: str, year: int, variable: str, level: str = "COM") -> dict:
    rows = frame.filter(
        (pl.col("level") == level)
        & (pl.col("code") == code)
        & (pl.col("year") == year)
        & (pl.col("variable") == variable)
    )
    assert rows.height == 1, f"{level} {code} {year} {variable}: {rows.height} rows"
    return rows.row(0, named=True)


def _edit(path: Path, tmp_path: Path, edit, *, name: str = "csv") -> Path:
    """A copy of a demo export (BOM, `;`, LF) with its lines changed by `edit(lines) -> lines`."""
    lines = path.read_bytes().decode("utf-8-sig").split("\n")
    out = tmp_path / name
    out.write_bytes(b"\xef\xbb\xbf" + "\n".join(edit(lines)).encode("utf-8"))
    return out


def _replace_line(prefix: str, old: str, new: str):
    def edit(lines: list[str]) -> list[str]:
        hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        assert len(hits) == 1, prefix
        cells = lines[hits[0]].split(";")
        cells[cells.index(old)] = new
        lines[hits[0]] = ";".join(cells)
        return lines

    return edit


# --------------------------------------------------------------------------------------------------------------
# caf_benefits (s_ben_com_f)
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def benefits(geo, tmp_path_factory):
    from tests.conftest import materialise

    path = materialise("caf_benefits", VINTAGE, "main", tmp_path_factory.mktemp("ben"))
    return stage_benefits(_entry("caf_benefits"), {"main": path}, geo)


@pytest.fixture
def ben_file(demo_files) -> Path:
    return demo_files("caf_benefits", VINTAGE)["main"]


def test_benefits_commune_cell(benefits):
    # line `2024-12;49099;CHOLET;9055;…;1295;…`: indfoy_rsa (23rd field) = 1295, month 12
    row = _value(benefits.frame, "49099", 2024, "indfoy_rsa")
    assert row["value"] == 1295 and row["month"] == 12 and row["status"] is None
    # `2024-12;2A004;AJACCIO;11855;…`: Corsica code kept as text
    assert _value(benefits.frame, "2A004", 2024, "indfoy_ndur")["value"] == 11855
    # `2024-12;01001;L'ABERGEMENT CLEMENCIAT;110;…`: the leading zero is kept
    assert _value(benefits.frame, "01001", 2024, "indfoy_ndur")["value"] == 110


def test_benefits_float_written_cells(benefits):
    # Cholet 2024 indfoy_asf is written `870.0` (a float-typed field of the export) -> 870
    assert _value(benefits.frame, "49099", 2024, "indfoy_asf")["value"] == 870
    # indfoy_ars `0.0` is a real zero (ARS is paid in August), not a missing value
    row = _value(benefits.frame, "49099", 2024, "indfoy_ars")
    assert row["value"] == 0 and row["status"] is None


def test_benefits_paris_is_the_sum_of_its_arrondissements(benefits):
    # indfoy_rsa of the 20 lines `2024-12;751xx;…` (75101 … 75120)
    cells = [
        310,
        385,
        620,
        505,
        1085,
        735,
        930,
        660,
        1085,
        1550,
        2710,
        2555,
        3330,
        2555,
        4260,
        3060,
        3100,
        3175,
        3020,
        3100,
    ]
    # 310 + 385 + … + 1550 = 7865 ; 2710 + 2555 + … + 3100 = 30865 ; total 38730
    assert sum(cells) == 38730
    assert _value(benefits.frame, "75056", 2024, "indfoy_rsa")["value"] == 38730
    # the arrondissement rows are kept, at level ARM
    assert _value(benefits.frame, "75115", 2024, "indfoy_rsa", level="ARM")["value"] == 4260
    assert any("75056 (Paris)" in n and "sum of its 20 arrondissements" in n and "rounded" in n for n in benefits.notes)


def test_benefits_non_localised_rows_excluded(benefits):
    codes = benefits.frame["code"].to_list()
    assert "" not in codes and None not in codes
    # one `YYYY-12;;;…` line per December 2020 … 2024
    note = next(n for n in benefits.notes if "empty numcomdo" in n)
    assert "5 row(s)" in note and "2024-12: 1" in note and "not spread" in note
    # the non-localised 2024 line has indfoy_ndur 11960: no commune row holds it
    assert benefits.frame.filter((pl.col("variable") == "indfoy_ndur") & (pl.col("value") == 11960)).is_empty()


def test_benefits_merged_commune(benefits):
    # December 2023 is in COG 2024, where 44088 and 44100 are separate:
    # `2023-12;44088;MAISDON SUR SEVRE;415;…` + `2023-12;44100;MONNIERES;275;…` -> 415 + 275 = 690 in COG 2025
    row = _value(benefits.frame, "44088", 2023, "indfoy_ndur")
    assert row["value"] == 690 and row["geo_change"] == "merged"
    assert benefits.frame.filter(pl.col("code") == "44100").is_empty()
    # December 2024 is already in COG 2025: `2024-12;44088;MAISDON MONNIERES;700;…`
    row = _value(benefits.frame, "44088", 2024, "indfoy_ndur")
    assert row["value"] == 700 and row["geo_change"] is None


def test_benefits_split_commune(benefits):
    # December 2020 is in COG 2021, where 85084 still holds 85165 and 85212: `2020-12;85084;…;1225;…`
    row = _value(benefits.frame, "85084", 2020, "indfoy_ndur")
    assert row["value"] == 1225 and row["geo_change"] == SPLIT
    for restored in ("85165", "85212"):
        row = _value(benefits.frame, restored, 2020, "indfoy_ndur")
        assert row["value"] is None and row["status"] == NON_RECALCULABLE
    assert {(c.cog, c.old, c.kind) for c in benefits.geo_changes} >= {(2021, "85084", SPLIT), (2024, "44100", "merged")}


def test_benefits_notes(benefits):
    text = "\n".join(benefits.notes)
    assert "rounded to 5" in text
    assert "COG 2021 for 2020-12" in text and "COG 2025 for 2024-12" in text
    assert "indmtt_rsa" in text  # amounts present in the export, not staged
    assert not benefits.frame.filter(pl.col("variable").str.starts_with("indmtt_")).height


def test_benefits_other_period_forms_and_crlf(ben_file, tmp_path, geo):
    # `2024-12-01` and `202412` are the same month as `2024-12`; CRLF line ends are accepted
    def edit(lines):
        out = []
        for line in lines:
            if line.startswith("2024-12;49099;"):
                line = "2024-12-01" + line[len("2024-12") :]
            elif line.startswith("2023-12;"):
                line = "202312" + line[len("2023-12") :]
            out.append(line)
        return out

    path = _edit(ben_file, tmp_path, edit)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    staged = stage_benefits(_entry("caf_benefits"), {"main": path}, geo)
    assert _value(staged.frame, "49099", 2024, "indfoy_rsa")["value"] == 1295
    assert _value(staged.frame, "44088", 2023, "indfoy_ndur")["value"] == 690


def test_benefits_optional_column_absent(ben_file, tmp_path, geo):
    def drop_rso(lines):
        index = lines[0].split(";").index("indfoy_rso")
        return [";".join(c for i, c in enumerate(line.split(";")) if i != index) if line else line for line in lines]

    staged = stage_benefits(_entry("caf_benefits"), {"main": _edit(ben_file, tmp_path, drop_rso)}, geo)
    assert any("optional column(s) absent" in n and "indfoy_rso" in n for n in staged.notes)
    assert staged.frame.filter(pl.col("variable") == "indfoy_rso").is_empty()


def _benefits_error(path: Path, geo) -> str:
    with pytest.raises(SourceValidationError) as exc:
        stage_benefits(_entry("caf_benefits"), {"main": path}, geo)
    message = str(exc.value)
    assert "s_ben_com_f.csv" in message
    return message


def test_benefits_missing_required_column(ben_file, tmp_path, geo):
    path = _edit(ben_file, tmp_path, lambda lines: [lines[0].replace(";indfoy_rsa;", ";rsa_foyers;"), *lines[1:]])
    message = _benefits_error(path, geo)
    assert "'indfoy_rsa'" in message and "required column missing" in message


def test_benefits_duplicated_commune_and_month(ben_file, tmp_path, geo):
    def duplicate(lines):
        line = next(x for x in lines if x.startswith("2024-12;49099;"))
        return [*lines[:-1], line, lines[-1]]

    message = _benefits_error(_edit(ben_file, tmp_path, duplicate), geo)
    assert "'numcomdo'" in message and "duplicated row" in message


# One cell of Cholet's December 2024 row (`2024-12;49099;…`) changed: the error names the column, the rule and
# the row. indfoy_rsa is 1295 in the demo file.
@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("1295", "-1295", ["'indfoy_rsa'", "count within [0, +inf]"]),
        ("1295", "1297", ["'indfoy_rsa'", ROUNDING_RULE, "49099"]),
        ("1295", "n.d.", ["'indfoy_rsa'", "a number or a known marker"]),
        ("2024-12", "2024-06", ["'dtreffre'", "December", "2024-06"]),
        ("2024-12", "déc. 2024", ["'dtreffre'", "YYYY-MM"]),
        ("49099", "49999", ["'numcomdo'", "code known to the COG", "49999"]),
    ],
)
def test_benefits_bad_cell(ben_file, tmp_path, geo, old, new, expected):
    message = _benefits_error(_edit(ben_file, tmp_path, _replace_line("2024-12;49099;", old, new)), geo)
    for fragment in expected:
        assert fragment in message


def test_benefits_empty_cell_is_missing_not_zero(ben_file, tmp_path, geo):
    # the portal has no blank counts, but a blank must never become 0
    path = _edit(ben_file, tmp_path, _replace_line("2024-12;49099;", "1295", ""))
    row = _value(stage_benefits(_entry("caf_benefits"), {"main": path}, geo).frame, "49099", 2024, "indfoy_rsa")
    assert row["value"] is None and row["status"] == MISSING


# --------------------------------------------------------------------------------------------------------------
# caf_childcare (txcouv_pe_*, nbpla_pe_*)
# --------------------------------------------------------------------------------------------------------------


def _childcare(source: str, files: dict[str, Path], geo):
    return stage_childcare(_entry(source), files, geo)


def test_coverage_current_wins_over_hist(demo_files, geo, caplog):
    with caplog.at_level(logging.WARNING, logger="sources.caf_childcare"):
        staged = _childcare("caf_coverage_epci", demo_files("caf_coverage_epci", VINTAGE), geo)
    # 2022 CA du Choletais: current `2022;200071678;…;58.7`, hist `2022;200071678;…;58.4`: the current wins
    row = _value(staged.frame, "200071678", 2022, "txcouv", level="EPCI")
    assert row["value"] == 58.7
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("2022" in w and "current file wins" in w and "1 row(s) have different values" in w for w in warnings)
    assert any("2022" in n and "1 row(s)" in n for n in staged.notes)
    # years only in the hist file come from it: `2017;200071678;…;59.5`
    assert _value(staged.frame, "200071678", 2017, "txcouv", level="EPCI")["value"] == 59.5
    assert sorted(staged.frame["year"].unique().to_list()) == list(range(2017, 2024))
    # staged names drop the scale suffix; rates are not re-aggregated, never null-filled
    assert "txcouv_epci" not in staged.frame["variable"].to_list()
    assert set(staged.frame["variable"].unique().to_list()) == {
        "txcouv_psu_col",
        "txcouv_hors_psu_col",
        "txcouv_eaje",
        "txcouv_prescol",
        "txcouv_am_ind",
        "txcouv_gad_ind",
        "txcouv_ind",
        "txcouv",
    }


def test_coverage_placeholder_epci_dropped(demo_files, geo):
    staged = _childcare("caf_coverage_epci", demo_files("caf_coverage_epci", VINTAGE), geo)
    assert "XX" not in staged.frame["code"].to_list()
    assert staged.frame["value"].max() < 195.8  # the `XX;XX;…;195.8` rows are gone
    assert any("(XX)" in n and "2023: 1" in n for n in staged.notes)
    # CC du Pays de Saint-Fulgent - Les Essarts is above 100: a coverage rate is not a percentage
    assert _value(staged.frame, "248500589", 2023, "txcouv", level="EPCI")["value"] > 100


def test_coverage_national_annee_date_string(demo_files, geo):
    staged = _childcare("caf_coverage_nat", demo_files("caf_coverage_nat", VINTAGE), geo)
    # `2023-01-01;FRANCE ENTIERE HORS MAYOTTE;…;60.9` and `2022-01-01;…;59.5`
    assert _value(staged.frame, "FR", 2023, "txcouv", level="FRANCE")["value"] == 60.9
    assert _value(staged.frame, "FR", 2022, "txcouv", level="FRANCE")["value"] == 59.5
    # components: 19.9 + 3.6 = 23.5 (EAJE), 31.9 + 2.2 = 34.1 (individual), 23.5 + 3.3 + 34.1 = 60.9
    assert _value(staged.frame, "FR", 2023, "txcouv_eaje", level="FRANCE")["value"] == 23.5
    assert staged.frame["month"].is_null().all()


def test_coverage_communal_missing_cell_and_arrondissements(demo_files, geo):
    staged = _childcare("caf_coverage_com", demo_files("caf_coverage_com", VINTAGE), geo)
    # `2017;2A004;AJACCIO;…;15.2;;16.2;40.6`: txcouv_gad_ind_com is empty -> missing, not 0
    row = _value(staged.frame, "2A004", 2017, "txcouv_gad_ind")
    assert row["value"] is None and row["status"] == MISSING
    assert _value(staged.frame, "2A004", 2017, "txcouv")["value"] == 40.6
    # Paris and Lyon: arrondissement rates only, no city rate
    assert staged.frame.filter(pl.col("code").is_in(["75056", "69123"])).is_empty()
    assert _value(staged.frame, "75101", 2023, "txcouv", level="ARM")["value"] is not None
    # only communes above 10,000 inhabitants: Cholet and Ajaccio
    assert sorted(staged.frame.filter(pl.col("level") == "COM")["code"].unique().to_list()) == ["2A004", "49099"]


def test_places_paris_sum_and_hist(demo_files, geo):
    staged = _childcare("caf_places_com", demo_files("caf_places_com", VINTAGE), geo)
    # tot_offre_com of the 20 lines `2023;751xx;…` of nbpla_pe_com
    cells = [
        304,
        380,
        607,
        493,
        1063,
        722,
        911,
        646,
        1063,
        1519,
        2657,
        2504,
        3263,
        2504,
        4174,
        2997,
        3035,
        3111,
        2961,
        3035,
    ]
    # 304 + 380 + … + 1519 = 7708 ; 2657 + 2504 + … + 3035 = 30241 ; total 37949
    assert sum(cells) == 37949
    assert _value(staged.frame, "75056", 2023, "tot_offre")["value"] == 37949
    # 2022: current `2022;49099;…;710;8;954` wins over hist `…;702;8;954`
    assert _value(staged.frame, "49099", 2022, "pl_am_ind")["value"] == 710
    # 2017 from the hist file: `2017;2A004;AJACCIO;…;350;;937` (pl_gad_ind_com empty)
    assert _value(staged.frame, "2A004", 2017, "tot_offre")["value"] == 937
    assert _value(staged.frame, "2A004", 2017, "pl_gad_ind")["status"] == MISSING


def test_places_departements(demo_files, geo):
    staged = _childcare("caf_places_dep", demo_files("caf_places_dep", VINTAGE), geo)
    # `2017;2A;CORSE DU SUD;94;CORSE;945;207;1152;131;797;52;2132`; the `XXX` rows (15 places) are dropped
    assert _value(staged.frame, "2A", 2017, "tot_offre", level="DEP")["value"] == 2132
    assert "XXX" not in staged.frame["code"].to_list()
    assert any("(XXX)" in n for n in staged.notes)


def test_old_epci_code_passes_with_a_note(demo_files, geo, tmp_path):
    files = demo_files("caf_places_epci", VINTAGE)
    # an EPCI of an older geography (not in the 2025 list): staged as published, listed in a note
    path = _edit(files["main"], tmp_path, _replace_line("2023;200071678;", "200071678", "244900015"))
    staged = _childcare("caf_places_epci", {"main": path, "hist": files["hist"]}, geo)
    assert _value(staged.frame, "244900015", 2023, "tot_offre", level="EPCI")["value"] is not None
    assert any("244900015" in n and "absent from the 2025 EPCI list" in n for n in staged.notes)


def test_childcare_comma_decimal_and_crlf(demo_files, geo, tmp_path):
    files = demo_files("caf_coverage_epci", VINTAGE)
    # `2023;200071678;CA DU CHOLETAIS;…;43.9;58.5` rewritten `58,5`, with CRLF line ends
    path = _edit(files["main"], tmp_path, _replace_line("2023;200071678;", "58.5", "58,5"))
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    staged = _childcare("caf_coverage_epci", {"main": path, "hist": files["hist"]}, geo)
    assert _value(staged.frame, "200071678", 2023, "txcouv", level="EPCI")["value"] == 58.5
    assert _value(staged.frame, "200071678", 2022, "txcouv", level="EPCI")["value"] == 58.7


def _childcare_error(source: str, files: dict[str, Path], geo) -> str:
    with pytest.raises(SourceValidationError) as exc:
        _childcare(source, files, geo)
    return str(exc.value)


def test_childcare_missing_code_column(demo_files, geo, tmp_path):
    files = demo_files("caf_coverage_epci", VINTAGE)
    path = _edit(files["main"], tmp_path, lambda lines: [lines[0].replace("numepci;", "siren;"), *lines[1:]])
    message = _childcare_error("caf_coverage_epci", {"main": path, "hist": files["hist"]}, geo)
    assert "txcouv_pe_epci.csv" in message and "'numepci'" in message and "required column missing" in message


def test_childcare_error_names_the_hist_file(demo_files, geo, tmp_path):
    files = demo_files("caf_places_epci", VINTAGE)
    hist = _edit(files["hist"], tmp_path, _replace_line("2019;200071678;", "200071678", "2000716"))
    message = _childcare_error("caf_places_epci", {"main": files["main"], "hist": hist}, geo)
    assert "nbpla_pe_epci_hist.csv" in message and "'numepci'" in message and "pattern" in message


def test_childcare_negative_places_and_bad_year(demo_files, geo, tmp_path):
    files = demo_files("caf_places_dep", VINTAGE)
    path = _edit(files["main"], tmp_path, _replace_line("2017;2A;", "2132", "-2132"))
    message = _childcare_error("caf_places_dep", {"main": path}, geo)
    assert "nbpla_pe_dep.csv" in message and "'tot_offre_dep'" in message and "count within [0, +inf]" in message

    path = _edit(files["main"], tmp_path, _replace_line("2017;2A;", "2017", "an 2017"))
    message = _childcare_error("caf_places_dep", {"main": path}, geo)
    assert "nbpla_pe_dep.csv" in message and "'annee'" in message and "a year YYYY" in message


def test_childcare_non_numeric_rate(demo_files, geo, tmp_path):
    files = demo_files("caf_coverage_dep", VINTAGE)
    # `2023;49;MAINE ET LOIRE;…;44.0;58.5`: the global rate replaced by text
    path = _edit(files["main"], tmp_path, _replace_line("2023;49;", "58.5", "abc"))
    message = _childcare_error("caf_coverage_dep", {"main": path, "hist": files["hist"]}, geo)
    assert "txcouv_pe_dep.csv" in message and "'txcouv_dep'" in message and "a number or a known marker" in message


def test_a_city_missing_an_arrondissement_is_not_a_partial_sum():
    """Paris has 20 arrondissements: a sum over 2 of them is unknown, never published as Paris."""
    from sources.caf_common import add_city_sums

    long = pl.DataFrame(
        {
            "level": ["ARM", "ARM"],
            "code": ["75101", "75102"],
            "year": [2024, 2024],
            "month": [12, 12],
            "variable": ["indfoy_rsa", "indfoy_rsa"],
            "value": [500.0, 300.0],
            "status": [None, None],
        },
        schema_overrides={"status": pl.String, "month": pl.Int8},
    )
    out, notes = add_city_sums(long, {"indfoy_rsa"}, file="s_ben_com_f.csv", rounded=True)
    paris = out.filter(pl.col("code") == "75056")
    assert paris.select("value", "status").rows() == [(None, "not_available")]
    assert any("18 arrondissement(s) absent" in n for n in notes)  # 20 - 2


def test_a_city_sum_adds_its_arrondissements_in_code_order_whatever_their_row_order():
    """Float sums depend on their order: Lyon's sum must not change with the order its arrondissements' rows
    arrive in (a group-by upstream returns them in any order), or the same file stages different values."""
    from sources.caf_common import add_city_sums

    codes = [f"6938{i}" for i in range(1, 10)]  # Lyon's nine arrondissements
    values = [1e16, -1e16, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    # in code order: 1e16 - 1e16 = 0.0, + 1.0 = 1.0; in reverse order 1.0 - 1e16 would round to -1e16 (floats are
    # 2 apart there), + 1e16 = 0.0: the sum must be the code order's, 1.0, both times
    frames = []
    for order in (range(9), reversed(range(9))):
        rows = [(codes[i], values[i]) for i in order]
        long = pl.DataFrame(
            {
                "level": ["ARM"] * 9,
                "code": [c for c, _ in rows],
                "year": [2022] * 9,
                "month": [None] * 9,
                "variable": ["ACTOCC"] * 9,
                "value": [v for _, v in rows],
                "status": [None] * 9,
            },
            schema_overrides={"status": pl.String, "month": pl.Int8},
        )
        out, _ = add_city_sums(long, {"ACTOCC"}, file="flows.csv", rounded=False)
        frames.append(out.filter(pl.col("code") == "69123")["value"].to_list())
    assert frames == [[1.0], [1.0]]


def test_places_hist_with_a_dtreffre_period_and_an_empty_code(demo_files, geo, tmp_path):
    """caf-sources §4.2: `nbpla_pe_com_hist` may carry `dtreffre` ("Date référence") instead of `annee`; a row
    with an empty `numcom` is not localised: dropped with a note, never an error."""
    files = demo_files("caf_places_com", VINTAGE)

    def edit(lines):
        header = lines[0].replace("annee;", "dtreffre;", 1)
        body = [f"{line[:4]}-12{line[4:]}" for line in lines[1:] if line]  # 2017;… -> 2017-12;…
        return [header, *body, "2017-12;;;;;;;1;1;2;0;3;0;5"]

    files["hist"] = _edit(files["hist"], tmp_path, edit, name="hist.csv")
    staged = _childcare("caf_places_com", files, geo)
    # `2017;49099;CHOLET;…;1037` of the hist file, now `2017-12;49099;…;1037`
    assert _value(staged.frame, "49099", 2017, "tot_offre")["value"] == 1037
    assert any("1 row(s) with an empty numcom" in n for n in staged.notes)


CHILDCARE = [f"caf_{kind}_{scale}" for kind in ("coverage", "places") for scale in ("com", "epci", "dep")]


@pytest.mark.parametrize("source", [*CHILDCARE, "caf_coverage_nat"])
def test_childcare_screened_rows_as_the_validated_ones(demo_files, geo, monkeypatch, source):
    """The demo files pass every rule on their own rows: staged without validating the long rows again, they are
    the rows, notes and changes staged through `conclude`'s validation and sort."""
    import sources.caf_childcare as childcare

    files = demo_files(source, VINTAGE)
    parts = [childcare._read(_entry(source), role, path) for role, path in files.items()]
    assert childcare._screened(_entry(source), parts, geo) is not None
    screened = _childcare(source, files, geo)
    monkeypatch.setattr(childcare, "_screened", lambda *args: None)
    validated = _childcare(source, files, geo)
    assert screened.frame.equals(validated.frame)
    assert screened.notes == validated.notes and screened.geo_changes == validated.geo_changes


def test_known_codes_per_place(geo):
    from sources.caf_common import codes_known

    entry = _entry("caf_places_com")  # December N in COG N+1: the rows of 2023 in COG 2024

    def rows(level: str, code: str) -> pl.DataFrame:
        return pl.DataFrame({"level": [level], "code": [code], "year": [2023]}, schema_overrides={"year": pl.Int32})

    assert codes_known(rows("COM", "49099"), entry, geo)  # Cholet
    assert codes_known(rows("ARM", "75101"), entry, geo)
    assert not codes_known(rows("COM", "49999"), entry, geo)  # no such commune
    assert not codes_known(rows("COM", "75101"), entry, geo)  # an arrondissement is no commune
    assert codes_known(rows("EPCI", "49999"), entry, geo)  # the rule reads communes and arrondissements only
    assert codes_known(rows("COM", "49999"), entry, None)  # no geography: nothing to check against


def test_period_columns_cut_as_the_file_columns():
    from sources.caf_common import with_period

    # a file read in two pieces (2 rows, then 1): the parsed period comes in the same pieces
    frame = pl.concat(
        [pl.DataFrame({"annee": ["2020", "2020"]}), pl.DataFrame({"annee": ["2021-01-01"]})], rechunk=False
    )
    out = with_period(frame, "annee", need_month=False, source="caf_places_com", file="f.csv", raw_path=None)
    assert out["_year"].to_list() == [2020, 2020, 2021] and out["_month"].to_list() == [None, None, 1]
    assert out["_year"].chunk_lengths() == [2, 1] and out["_month"].chunk_lengths() == [2, 1]


def test_benefits_counts_read_as_numbers_as_their_text(ben_file, tmp_path, geo, monkeypatch):
    """Counts read as numbers by the CSV reader (`read_numbers`) stage the rows, notes and changes of their text:
    quoted, with spaces before, empty or written `1295.0`, CRLF line ends; the cities' sums of their
    arrondissements too, one of them null (an empty cell) and one partial (an arrondissement's row absent)."""
    import sources.caf_benefits as benefits
    from sources.caf_common import read_numbers

    def edit(lines):
        lines = _replace_line("2024-12;49099;", "1295", '" 1295.0"')(lines)
        lines = _replace_line("2023-12;49099;", "1315", "\t1315")(lines)
        lines = _replace_line("2023-12;75102;", "3270", "")(lines)
        lines = [line for line in lines if not line.startswith("2024-12;69381;")]
        return [line.replace(";0;", ";;", 1) if line.startswith("2022-12;") else line for line in lines]

    path = _edit(ben_file, tmp_path, edit)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    spec = _entry("caf_benefits").file()
    assert (
        read_numbers(path.read_bytes(), spec, lambda names: [c for c in names if c.startswith("indfoy_")]) is not None
    )
    numbers = stage_benefits(_entry("caf_benefits"), {"main": path}, geo)
    monkeypatch.setattr(benefits, "read_numbers", lambda *args: None)
    text = stage_benefits(_entry("caf_benefits"), {"main": path}, geo)
    assert numbers.frame.equals(text.frame) and numbers.frame.schema == text.frame.schema
    assert numbers.notes == text.notes and numbers.geo_changes == text.geo_changes
    assert _value(numbers.frame, "49099", 2024, "indfoy_rsa")["value"] == 1295
    assert _value(numbers.frame, "49099", 2023, "indfoy_rsa")["value"] == 1315
    assert numbers.frame.filter(pl.col("status") == MISSING).height > 0  # the emptied cells
    assert _value(numbers.frame, "75056", 2023, "indfoy_ndur")["status"] == MISSING
    assert _value(numbers.frame, "69123", 2024, "indfoy_ndur")["status"] == "not_available"


@pytest.mark.parametrize("cell", ["n.d.", "1295 ", "1,5", "x"])
def test_read_numbers_refuses_what_is_not_a_number(ben_file, tmp_path, cell):
    from sources.caf_common import read_numbers

    path = _edit(ben_file, tmp_path, _replace_line("2024-12;49099;", "1295", cell))
    spec = _entry("caf_benefits").file()
    assert read_numbers(path.read_bytes(), spec, lambda names: [c for c in names if c.startswith("indfoy_")]) is None
    others = [c for c in ("indfoy_ndur", "indfoy_rso")]  # the other columns read as numbers
    assert read_numbers(path.read_bytes(), spec, lambda names: others) is not None


def test_codes_known_to_every_cog(geo):
    from sources.caf_common import codes_known, codes_known_to_every_cog

    entry = _entry("caf_benefits")  # December N in COG N+1

    def rows(*cells: tuple[str, str, int]) -> pl.DataFrame:
        frame = pl.DataFrame(cells, schema={"level": pl.String, "code": pl.String, "year": pl.Int32}, orient="row")
        assert codes_known(frame, entry, geo) == codes_known_to_every_cog(frame, entry, geo)
        return frame

    # 44100 (Monnières) is a commune of COG 2024, merged into 44088 in COG 2025: known to one COG of the rows only
    assert codes_known_to_every_cog(
        rows(("COM", "49099", 2023), ("COM", "44100", 2023), ("COM", "49099", 2024)), entry, geo
    )
    assert not codes_known_to_every_cog(rows(("COM", "49099", 2023), ("COM", "44100", 2024)), entry, geo)
    assert codes_known_to_every_cog(rows(("ARM", "75101", 2023), ("COM", "75056", 2024)), entry, geo)
    assert not codes_known_to_every_cog(rows(("COM", "75101", 2023), ("COM", "49099", 2024)), entry, geo)
    assert not codes_known_to_every_cog(rows(("COM", "49999", 2023), ("COM", "49099", 2024)), entry, geo)
    assert codes_known_to_every_cog(rows(("EPCI", "49999", 2023), ("COM", "49099", 2024)), entry, geo)
    assert codes_known_to_every_cog(rows(("COM", "49999", 2023)), entry, None)
