"""INSEE BPE aggregated counts (`DS_BPE_CSV_FR.zip`): parser `sources.bpe`, its indicators and its refresh.

The fixtures are hand-made files in the real layout (supply-space-time-sources §1.2): `;`, string fields quoted,
numbers not, `_T` subtotals, arrondissements, an overseas code, a commune without equipment, an empty (secret)
value. Expected values are the literal cells of those files, or arithmetic written beside them.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import polars as pl
import pytest
from store_support import mirror_copy

from sources import catalogue
from sources.bpe import stage
from sources.demo.files import entry_path
from sources.errors import ParseError, SourceValidationError
from sources.mirror import serve
from sources.refresh import refresh
from storage.store import Store

HEADER = '"GEO";"GEO_OBJECT";"FACILITY_DOM";"FACILITY_SDOM";"FACILITY_TYPE";"BPE_MEASURE";"TIME_PERIOD";"OBS_VALUE"'
ROWS_2024 = [
    '"FRANCE";"FRANCE";"D";"D5";"D502";"FACILITIES";2024;13000',
    '"971";"DEP";"D";"D5";"D502";"FACILITIES";2024;40',  # overseas département: no commune of the demo COG
    '"01";"REG";"D";"D5";"D502";"FACILITIES";2024;41',  # overseas région Guadeloupe
    '"200069193";"EPCI";"D";"D5";"D502";"FACILITIES";2024;2',
    '"ZZZZZZZZZ";"EPCI";"D";"D5";"D502";"FACILITIES";2024;7',  # communes in no EPCI: dropped
    '"01001";"COM";"D";"D5";"D502";"FACILITIES";2024;2',
    '"01001";"COM";"D";"D5";"D504";"FACILITIES";2024;1',
    '"01001";"COM";"D";"D5";"_T";"FACILITIES";2024;3',
    '"01001";"COM";"D";"_T";"_T";"FACILITIES";2024;3',
    '"01001";"COM";"_T";"_T";"_T";"FACILITIES";2024;3',
    '"2A004";"COM";"D";"D2";"D265";"FACILITIES";2024;50',
    '"2A004";"COM";"D";"D5";"D502";"FACILITIES";2024;',  # secret: empty, never 0
    '"75056";"COM";"D";"D5";"D502";"FACILITIES";2024;5',
    '"75101";"ARM";"D";"D5";"D502";"FACILITIES";2024;2',
    '"75102";"ARM";"D";"D5";"D502";"FACILITIES";2024;3',
    '"443";"ARR";"D";"D5";"D502";"FACILITIES";2024;9',  # another zoning: dropped
]
METADATA = '"COD_VAR";"LIB_VAR";"COD_MOD";"LIB_MOD"\n"FACILITY_TYPE";"Type";"D502";"EAJE"\n'


def bpe_zip(
    tmp: Path,
    rows: list[str],
    member: str = "DS_BPE_2024_data.csv",
    header: str = HEADER,
    extra: dict[str, str] | None = None,
) -> dict[str, Path]:
    """The archive as downloaded: the data member, its metadata twin and any `extra` members."""
    path = tmp / "DS_BPE_CSV_FR.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, "\n".join([header, *rows]) + "\n")
        zf.writestr(member.replace("_data", "_metadata"), METADATA)
        for name, text in (extra or {}).items():
            zf.writestr(name, text)
    return {"main": path}


def entry():
    return catalogue.get("bpe", "courant")


def value(frame: pl.DataFrame, level: str, code: str, variable: str) -> tuple[float | None, str | None]:
    row = frame.filter((pl.col("level") == level) & (pl.col("code") == code) & (pl.col("variable") == variable))
    assert row.height == 1, (level, code, variable, row)
    return row["value"][0], row["status"][0]


# -- the hand-made file ------------------------------------------------------------------------------------------


def test_leaf_types_are_staged_and_subtotals_dropped(tmp_path, geo):
    staged = stage(entry(), bpe_zip(tmp_path, ROWS_2024), geo)
    frame = staged.frame
    # the leaf types of the file, never `_T`; D509 (micro-crèches) is not in this release: not staged at all
    assert sorted(frame["variable"].unique()) == ["D265", "D502", "D504"]
    assert value(frame, "COM", "01001", "D502") == (2.0, None)
    assert value(frame, "COM", "01001", "D504") == (1.0, None)  # not 3: the `_T` rows are not added
    assert set(frame["year"].unique()) == {2024}
    assert any("3 subtotal row(s)" in n for n in staged.notes)
    assert any("BPE 2024: member DS_BPE_2024_data.csv" in n for n in staged.notes)


def test_a_missing_commune_type_pair_is_zero_and_an_empty_value_a_secret(tmp_path, geo):
    frame = stage(entry(), bpe_zip(tmp_path, ROWS_2024), geo).frame
    assert value(frame, "COM", "01001", "D265") == (0.0, None)  # no row: 01001 has no general practitioner
    assert value(frame, "COM", "2A004", "D502") == (None, "secret")  # "2A004";...;"D502";...;2024;  (empty)
    assert value(frame, "COM", "2A004", "D504") == (0.0, None)
    # 85133 Maillezais has no row at all in the file: every type of the release is 0 there
    assert [value(frame, "COM", "85133", t) for t in ("D265", "D502", "D504")] == [(0.0, None)] * 3
    # every commune of the demo COG (21) x the 3 types of the release
    assert frame.filter(pl.col("level") == "COM").height == 21 * 3


def test_the_staged_rows_are_in_key_order_the_grid_among_the_other_levels(tmp_path, geo):
    frame = stage(entry(), bpe_zip(tmp_path, ROWS_2024), geo).frame
    key = ["level", "code", "year", "month", "variable"]
    assert frame.equals(frame.sort(key, nulls_last=False))
    # ARM (2 rows) before the 21 x 3 commune rows, then DEP, EPCI, FRANCE, REG: one row each
    assert frame["level"].to_list() == ["ARM"] * 2 + ["COM"] * 63 + ["DEP", "EPCI", "FRANCE", "REG"]
    assert frame.filter(pl.col("level") == "COM")["variable"].head(3).to_list() == ["D265", "D502", "D504"]


def test_arrondissements_stay_apart_from_their_city(tmp_path, geo):
    staged = stage(entry(), bpe_zip(tmp_path, ROWS_2024), geo)
    frame = staged.frame
    # "75056";"COM";...;5 is the city's own row: 2 + 3 of its arrondissements are already inside it, not 10
    assert value(frame, "COM", "75056", "D502") == (5.0, None)
    assert value(frame, "ARM", "75101", "D502") == (2.0, None)
    assert value(frame, "ARM", "75102", "D502") == (3.0, None)
    assert frame.filter(pl.col("level") == "ARM").height == 2  # arrondissements staged as published, not filled
    assert any("never added to it" in n for n in staged.notes)


def test_levels_overseas_codes_and_other_zonings(tmp_path, geo):
    staged = stage(entry(), bpe_zip(tmp_path, ROWS_2024), geo)
    frame = staged.frame
    assert value(frame, "DEP", "971", "D502") == (40.0, None)
    assert value(frame, "REG", "01", "D502") == (41.0, None)
    assert value(frame, "FRANCE", "FR", "D502") == (13000.0, None)
    assert value(frame, "EPCI", "200069193", "D502") == (2.0, None)
    assert frame.filter(pl.col("code").is_in(["ZZZZZZZZZ", "443"])).is_empty()
    assert any("1 row(s) of other zonings dropped (ARR 1)" in n for n in staged.notes)


def test_the_2025_layout_is_read_by_column_name(tmp_path, geo):
    header = (
        '"GEO";"GEO_OBJECT";"FACILITY_DOM";"FACILITY_SDOM";"FACILITY_TYPE";"BPE_MEASURE";"UNIT_MEASURE";'
        '"OBS_STATUS";"UNIT_MULT";"TIME_PERIOD";"OBS_VALUE"'
    )
    rows = [
        '"01001";"COM";"D";"D5";"D509";"FACILITIES";"FACILITIES";"A";"0";2024;4',
        '"2A004";"COM";"D";"D5";"D509";"FACILITIES";"FACILITIES";"Q";"0";2024;',
    ]
    frame = stage(entry(), bpe_zip(tmp_path, rows, header=header), geo).frame
    assert value(frame, "COM", "01001", "D509") == (4.0, None)
    assert value(frame, "COM", "2A004", "D509") == (None, "secret")  # OBS_STATUS Q: suppressed


def test_the_older_member_name_takes_its_year_from_time_period(tmp_path, geo):
    # BPE 2023 (and the Melodi copy) name the member DS_BPE_data.csv; BPE 2023 is in COG 2024
    rows = ['"44088";"COM";"D";"D5";"D502";"FACILITIES";2023;3', '"44100";"COM";"D";"D5";"D502";"FACILITIES";2023;2']
    staged = stage(entry(), bpe_zip(tmp_path, rows, member="DS_BPE_data.csv"), geo)
    # 44100 Monnières merged into 44088 on 2025-01-01: its equipments are summed, 3 + 2 = 5
    assert value(staged.frame, "COM", "44088", "D502") == (5.0, None)
    assert set(staged.frame["year"].unique()) == {2023}
    assert any("geography of 1 January 2024" in n for n in staged.notes)


# -- what the parser refuses -------------------------------------------------------------------------------------


def _refused(tmp_path, geo, rows, column: str, rule: str, **kwargs) -> str:
    with pytest.raises(SourceValidationError) as info:
        stage(entry(), bpe_zip(tmp_path, rows, **kwargs), geo)
    message = str(info.value)
    assert "DS_BPE_" in message and f"column {column!r}" in message and rule in message, message
    return message


def test_a_member_year_other_than_time_period_is_refused(tmp_path, geo):
    rows = [r.replace(";2024;", ";2023;") for r in ROWS_2024]
    message = _refused(tmp_path, geo, rows, "TIME_PERIOD", "the year of the member's name (2024)")
    assert "holds TIME_PERIOD 2023" in message


def test_two_years_in_one_file_are_refused(tmp_path, geo):
    rows = ROWS_2024 + ['"01001";"COM";"D";"D5";"D503";"FACILITIES";2023;1']
    _refused(tmp_path, geo, rows, "TIME_PERIOD", "one year (YYYY) for the whole file")


def test_a_release_beyond_the_target_geography_is_refused(tmp_path, geo):
    rows = [r.replace(";2024;", ";2025;") for r in ROWS_2024]
    message = _refused(
        tmp_path, geo, rows, "TIME_PERIOD", "a geography at most the target COG 2025", member="DS_BPE_2025_data.csv"
    )
    assert "BPE 2025 is in the geography of 1 January 2026" in message


def test_a_type_outside_its_sub_domain_is_refused(tmp_path, geo):
    rows = ROWS_2024 + ['"01001";"COM";"D";"D4";"D505";"FACILITIES";2024;1']
    message = _refused(tmp_path, geo, rows, "FACILITY_TYPE", "inside its sub-domain")
    assert "GEO 01001: D / D4 / D505" in message


def test_a_value_that_is_not_a_number_names_the_type(tmp_path, geo):
    rows = ROWS_2024 + ['"2A004";"COM";"D";"D5";"D504";"FACILITIES";2024;deux']
    message = _refused(tmp_path, geo, rows, "OBS_VALUE (FACILITY_TYPE D504)", "a number or a known marker")
    assert "COM 2A004 2024" in message


def test_a_missing_column_is_refused(tmp_path, geo):
    header = HEADER.replace(';"BPE_MEASURE"', "")
    rows = [r.replace(';"FACILITIES"', "") for r in ROWS_2024]
    _refused(tmp_path, geo, rows, "BPE_MEASURE", "required column missing", header=header)


def test_a_commune_unknown_to_the_cog_is_refused(tmp_path, geo):
    rows = ROWS_2024 + ['"97101";"COM";"D";"D5";"D502";"FACILITIES";2024;1']  # not in the demo COG
    _refused(tmp_path, geo, rows, "GEO", "code known to the COG of the file's geography")


def test_the_data_member_is_chosen_by_its_pattern_never_the_metadata(tmp_path, geo):
    with pytest.raises(ParseError, match="exactly one data member"):
        stage(entry(), bpe_zip(tmp_path, ROWS_2024, extra={"DS_BPE_data.csv": HEADER + "\n"}), geo)
    path = tmp_path / "only-metadata.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("DS_BPE_2024_metadata.csv", METADATA)
    with pytest.raises(ParseError, match=r"found none; the archive holds \['DS_BPE_2024_metadata.csv'\]"):
        stage(entry(), {"main": path}, geo)


# -- a new release at the same URL -------------------------------------------------------------------------------


def _publish(root: Path, member: str, text: str) -> None:
    """The upstream overwrites DS_BPE_CSV_FR.zip with another release (the mirror zips the folder)."""
    folder = entry_path(root, "bpe", "courant")
    shutil.rmtree(folder)
    folder.mkdir()
    (folder / member).write_text(text, encoding="utf-8")
    (folder / member.replace("_data", "_metadata")).write_text(METADATA, encoding="utf-8")


def test_a_new_release_at_the_same_url_is_staged_again_and_recorded(tmp_path):
    root = mirror_copy(tmp_path)
    demo = (entry_path(root, "bpe", "courant") / "DS_BPE_2024_data.csv").read_text(encoding="utf-8")
    older = demo.replace(";2024;", ";2023;")  # the same counts as a BPE 2023 release (COG 2024)
    _publish(root, "DS_BPE_data.csv", older)
    store = Store(tmp_path / "data")
    with serve(root) as mirror:
        first = refresh(["bpe"], store=store, mirror=mirror.url, progress=False)
        assert first.failed == [], [f.error for f in first.failed]
        assert store.read_staged("bpe", "courant")["year"].unique().to_list() == [2023]

        _publish(root, "DS_BPE_2024_data.csv", demo)
        second = refresh(["bpe"], store=store, mirror=mirror.url, progress=False)
        result = next(r for r in second.results if r.source == "bpe")
        assert (result.status, result.download_status) == ("staged", "downloaded")
        assert result.change.startswith("new upstream file (main)")
        record = store.manifest().entries["bpe/courant"]
        assert any(n.startswith("BPE 2024: member DS_BPE_2024_data.csv") for n in record.staged.notes)
        assert store.read_staged("bpe", "courant")["year"].unique().to_list() == [2024]

        # BPE 2025 is in COG 2026, after the target: refused, the 2024 table kept, the failure recorded
        _publish(root, "DS_BPE_2025_data.csv", demo.replace(";2024;", ";2025;"))
        third = refresh(["bpe"], store=store, mirror=mirror.url, progress=False)
    failed = next(r for r in third.results if r.source == "bpe")
    assert failed.status == "failed" and "BPE 2025 is in the geography of 1 January 2026" in failed.error
    assert store.read_staged("bpe", "courant")["year"].unique().to_list() == [2024]
    assert "BPE 2025" in store.manifest().entries["bpe/courant"].last_failure.error
