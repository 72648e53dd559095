"""INSEE births and deaths per commune (Melodi `DS_ETAT_CIVIL_*_COMMUNES`): parser `sources.etat_civil`.

Expected values are the literal cells of the demo files
(sources/demo/mirror/api.insee.fr/melodi/file/DS_ETAT_CIVIL_*/..._CSV_FR/..._data.csv), quoted in comments.
"""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import polars as pl
import pytest

from sources import catalogue
from sources.demo import MIRROR_ROOT
from sources.demo.files import entry_path
from sources.errors import SourceValidationError
from sources.etat_civil import stage

BIRTHS = "DS_ETAT_CIVIL_NAIS_COMMUNES"
DEATHS = "DS_ETAT_CIVIL_DECES_COMMUNES"
DATASET = {"births": BIRTHS, "deaths": DEATHS}


def _stage(demo_files, geo, source="births"):
    return stage(catalogue.get(source, "2024"), demo_files(source, "2024"), geo)


def _value(frame: pl.DataFrame, level: str, code: str, year: int) -> tuple[float | None, str | None]:
    row = frame.filter((pl.col("level") == level) & (pl.col("code") == code) & (pl.col("year") == year))
    assert row.height == 1, (level, code, year, row)
    return row["value"][0], row["status"][0]


def _edited(tmp_path: Path, source: str, edit) -> dict[str, Path]:
    """A copy of the demo zip whose data member went through `edit(text) -> text`."""
    folder = entry_path(MIRROR_ROOT, source, "2024")
    dataset = DATASET[source]
    data = (folder / f"{dataset}_data.csv").read_text(encoding="utf-8")
    new = edit(data)
    assert new != data, "the edit changed nothing"
    path = tmp_path / f"{dataset}_CSV_FR"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{dataset}_data.csv", new)
        zf.write(folder / f"{dataset}_metadata.csv", f"{dataset}_metadata.csv")
    return {"main": path}


def _stage_edited(tmp_path, geo, edit, source="births"):
    return stage(catalogue.get(source, "2024"), _edited(tmp_path, source, edit), geo)


def _raises(tmp_path, geo, edit, column: str, rule: str, source="births") -> str:
    with pytest.raises(SourceValidationError) as info:
        _stage_edited(tmp_path, geo, edit, source)
    message = str(info.value)
    assert f"{DATASET[source]}_data.csv" in message
    assert f"column {column!r}" in message
    assert rule in message
    return message


# -- the demo files ---------------------------------------------------------------------------------------------


def test_a_commune_cell_is_staged_as_published(demo_files, geo):
    frame = _stage(demo_files, geo).frame
    # "F";"LVB";"A";"44043";"COM";"A";"2020";63.0 -> Clisson, 63 births in 2020
    assert _value(frame, "COM", "44043", 2020) == (63.0, None)
    assert set(frame["variable"].unique()) == {"NAIS"}
    assert frame.filter(pl.col("level") == "COM")["code"].n_unique() == 21  # every commune of the demo world
    assert sorted(frame["year"].unique()) == list(range(2008, 2025))


def test_lyon_commune_row_is_the_literal_cell_not_re_added(demo_files, geo):
    frame = _stage(demo_files, geo).frame
    # "F";"LVB";"A";"69123";"COM";"A";"2019";4830.0
    # arrondissements 2019: 280+285+961+333+444+478+782+796+468 = 4827, and "693XX" 3.0: 4827 + 3 = 4830,
    # so the COM row already holds them; staging must not add them again (4830 + 4830 = 9660 would be wrong).
    assert _value(frame, "COM", "69123", 2019) == (4830.0, None)
    arms = frame.filter((pl.col("level") == "ARM") & pl.col("code").str.starts_with("6938") & (pl.col("year") == 2019))
    assert arms["value"].sum() == 4827.0


def test_pseudo_code_693xx_kept_as_arm(demo_files, geo):
    staged = _stage(demo_files, geo)
    frame = staged.frame
    # "F";"LVB";"A";"693XX";"ARM";"A";"2019";3.0
    assert _value(frame, "ARM", "693XX", 2019) == (3.0, None)
    # 693XX rows in the births file: 2010, 2014, 2019, 2023
    assert sorted(frame.filter(pl.col("code") == "693XX")["year"]) == [2010, 2014, 2019, 2023]
    assert frame.filter((pl.col("code") == "693XX") & (pl.col("level") != "ARM")).is_empty()
    assert any("693XX" in n and "4 row(s)" in n for n in staged.notes)


def test_other_zonings_dropped_with_a_note(demo_files, geo):
    staged = _stage(demo_files, geo)
    frame = staged.frame
    assert set(frame["level"].unique()) == {"COM", "ARM", "EPCI", "DEP", "REG", "FRANCE"}
    # "F";"LVB";"A";"443";"ARR";"A";"2024";598.0 and "F";"LVB";"A";"44043";"BV2022";"A";"2024";113.0 are dropped
    assert any("2 row(s) of other zonings dropped (ARR 1, BV2022 1)" in n for n in staged.notes)
    assert frame.filter(pl.col("code") == "443").is_empty()
    # the bassin de vie shares Clisson's code: Clisson's 2024 row is its COM cell, not the BV's 113
    clisson_2024 = entry_path(MIRROR_ROOT, "births", "2024") / f"{BIRTHS}_data.csv"
    cell = next(line for line in clisson_2024.read_text().splitlines() if '"44043";"COM";"A";"2024"' in line)
    assert _value(frame, "COM", "44043", 2024) == (float(cell.rsplit(";", 1)[1]), None)
    assert _value(frame, "COM", "44043", 2024)[0] != 113.0


def test_epci_dep_reg_france_pass_through(demo_files, geo):
    staged = _stage(demo_files, geo)
    frame = staged.frame
    # "F";"LVB";"A";"F";"FRANCE";"A";"2020";704650.0 -> code FR
    assert _value(frame, "FRANCE", "FR", 2020) == (704650.0, None)
    assert any("GEO F staged as FR" in n for n in staged.notes)
    # "F";"LVB";"A";"75";"DEP";"A";"2020";20911.0, Paris is its own département (COM 75056 2020 = 20911.0)
    assert _value(frame, "DEP", "75", 2020) == (20911.0, None)
    assert _value(frame, "COM", "75056", 2020) == (20911.0, None)
    # "F";"LVB";"A";"52";"REG";"A";"2020";39270.0
    assert _value(frame, "REG", "52", 2020) == (39270.0, None)
    # "F";"LVB";"A";"200067346";"EPCI";"A";"2020";217.0 = 63 + 43 + 50 + 44 + 17 (44043, 44064, 44071, 44088, 44142)
    assert _value(frame, "EPCI", "200067346", 2020) == (217.0, None)


def test_confidential_cell_is_null_secret(demo_files, geo):
    staged = _stage(demo_files, geo)
    # "C";"LVB";"A";"85133";"COM";"A";"2015"; -> CONF_STATUS C, empty OBS_VALUE
    assert _value(staged.frame, "COM", "85133", 2015) == (None, "secret")
    # "F";"LVB";"A";"85133";"COM";"A";"2020";9.0
    assert _value(staged.frame, "COM", "85133", 2020) == (9.0, None)
    assert staged.summary()["secret_cells"] == 1


def test_deaths_file(demo_files, geo):
    staged = _stage(demo_files, geo, "deaths")
    frame = staged.frame
    assert set(frame["variable"].unique()) == {"DECE"}
    # "F";"DTH";"A";"2A004";"COM";"A";"2020";776.0
    assert _value(frame, "COM", "2A004", 2020) == (776.0, None)
    # "C";"DTH";"A";"01001";"COM";"A";"2019"; -> secret, the leading zero kept
    assert _value(frame, "COM", "01001", 2019) == (None, "secret")
    assert any("EC_MEASURE DTH" in n and "not attested" in n for n in staged.notes)


# -- quirks on edited copies ------------------------------------------------------------------------------------


def test_births_measure_must_be_lvb(tmp_path, geo):
    message = _raises(
        tmp_path, geo, lambda t: t.replace('"LVB"', '"DTH"'), "EC_MEASURE", "the measure must be LVB (catalogue params)"
    )
    assert "the file holds DTH" in message


def test_a_file_holds_one_measure(tmp_path, geo):
    cell = '"LVB";"A";"44043";"COM";"A";"2020"'
    edit = lambda t: t.replace(cell, cell.replace('"LVB"', '"LVBX"'))  # noqa: E731
    message = _raises(tmp_path, geo, edit, "EC_MEASURE", "one measure per file")
    assert "LVBX: 1 row(s)" in message


def test_deaths_accepts_another_single_measure_with_a_note(tmp_path, geo):
    staged = _stage_edited(tmp_path, geo, lambda t: t.replace('"DTH"', '"DEATHS"'), "deaths")
    assert any("EC_MEASURE DEATHS" in n and "expects DTH" in n for n in staged.notes)
    assert _value(staged.frame, "COM", "2A004", 2020) == (776.0, None)  # the literal cell, as above


def test_code_without_leading_zero_is_padded(tmp_path, geo):
    # a re-saved file: "01001" became 1001, unquoted
    edit = lambda t: t.replace('"01001";"COM"', '1001;"COM"')  # noqa: E731
    staged = _stage_edited(tmp_path, geo, edit)
    # "F";"LVB";"A";"01001";"COM";"A";"2020";7.0
    assert _value(staged.frame, "COM", "01001", 2020) == (7.0, None)
    assert any("17 code(s)" in n and "zero-padded" in n for n in staged.notes)  # one per year 2008-2024


def test_columns_selected_by_name_unquoted_without_conf_status(tmp_path, geo):
    """Another column order, no quotes, no CONF_STATUS: same values."""

    def edit(text: str) -> str:
        lines = [line.replace('"', "").split(";") for line in text.splitlines()]
        header = lines[0]
        order = ["GEO", "TIME_PERIOD", "OBS_VALUE", "GEO_OBJECT", "EC_MEASURE", "FREQ", "OBS_STATUS"]
        out = [[row[header.index(c)] for c in order] for row in lines]
        return "\n".join(";".join(row) for row in out) + "\n"

    staged = _stage_edited(tmp_path, geo, edit)
    assert _value(staged.frame, "COM", "44043", 2020) == (63.0, None)  # 44043;2020;63.0
    # without CONF_STATUS the confidential cell is just empty: missing, never 0
    assert _value(staged.frame, "COM", "85133", 2015) == (None, "missing")
    assert any("CONF_STATUS" in n and "absent" in n for n in staged.notes)


def test_obs_status_missing_and_empty_values(tmp_path, geo):
    def edit(text: str) -> str:
        text = text.replace('"F";"LVB";"A";"44064";"COM";"A";"2020";43.0', '"F";"LVB";"A";"44064";"COM";"M";"2020";')
        return text.replace('"F";"LVB";"A";"44071";"COM";"A";"2020";50.0', '"F";"LVB";"A";"44071";"COM";"A";"2020";')

    staged = _stage_edited(tmp_path, geo, edit)
    assert _value(staged.frame, "COM", "44064", 2020) == (None, "not_available")  # OBS_STATUS M
    assert _value(staged.frame, "COM", "44071", 2020) == (None, "missing")  # empty, status A
    assert any("'not_available'" in n for n in staged.notes)


def test_marseille_pseudo_code_and_second_france_code(tmp_path, geo):
    def edit(text: str) -> str:
        return text + '"F";"LVB";"A";"132XX";"ARM";"A";"2020";4.0\n"F";"LVB";"A";"FM";"FRANCE";"A";"2020";680000.0\n'

    staged = _stage_edited(tmp_path, geo, edit)
    assert _value(staged.frame, "ARM", "132XX", 2020) == (4.0, None)
    assert _value(staged.frame, "FRANCE", "FR", 2020) == (704650.0, None)  # F kept, FM dropped
    assert any("(FM)" in n for n in staged.notes)


def test_a_file_in_any_order_of_rows_stages_the_same_table(tmp_path, demo_files, geo):
    staged = _stage(demo_files, geo)

    def reordered(order):
        def edit(text: str) -> str:
            header, *rows = text.splitlines()
            return "\n".join([header, *order(rows)]) + "\n"

        return edit

    shuffled = lambda rows: random.Random(7).sample(rows, len(rows))  # noqa: E731
    for order in (lambda rows: rows[::-1], shuffled):  # each place's years backwards; no place's rows together
        again = _stage_edited(tmp_path, geo, reordered(order))
        assert again.frame.equals(staged.frame)
        assert again.notes == staged.notes


def test_cells_with_spaces_around_read_as_without(tmp_path, geo):
    spaced = '" F";"LVB";"A ";"44043";" COM";"A";" 2020 ";63.0'
    staged = _stage_edited(tmp_path, geo, lambda t: t.replace('"F";"LVB";"A";"44043";"COM";"A";"2020";63.0', spaced))
    assert _value(staged.frame, "COM", "44043", 2020) == (63.0, None)  # Clisson, 63 births in 2020


def test_flags_measure_and_frequency_with_spaces_around_read_as_without(tmp_path, geo):
    row = '"F";"LVB";"A";"44043";"COM";"A";"2020";63.0'
    plain = _stage_edited(tmp_path, geo, lambda t: t.replace(row, '"C";"LVB";"A";"44043";"COM";"M";"2020";63.0'))
    spaced = _stage_edited(tmp_path, geo, lambda t: t.replace(row, '" C ";" LVB";"A ";"44043";"COM";" M";"2020";63.0'))
    assert _value(spaced.frame, "COM", "44043", 2020) == (None, "secret")
    assert spaced.frame.equals(plain.frame)
    assert spaced.notes == plain.notes


def test_a_frequency_with_spaces_is_shown_stripped(tmp_path, geo):
    row = '"F";"LVB";"A";"44043";"COM";"A";"2020";63.0'
    edit = lambda t: t.replace(row, '"F";"LVB";" M ";"44043";"COM";"A";"2020";63.0')  # noqa: E731
    message = _raises(tmp_path, geo, edit, "FREQ", "annual frequency (A)")
    assert "GEO 44043 2020: 'M'" in message


# -- bad inputs -------------------------------------------------------------------------------------------------


def test_missing_column(tmp_path, geo):
    _raises(
        tmp_path,
        geo,
        lambda t: t.replace('"TIME_PERIOD"', '"PERIOD"', 1),
        "TIME_PERIOD",
        "required column missing from the file",
    )


def test_duplicated_geo_and_year(tmp_path, geo):
    line = '"F";"LVB";"A";"44043";"COM";"A";"2020";63.0\n'
    _raises(tmp_path, geo, lambda t: t + line, "GEO", "unique key")


CLISSON_2020 = '"44043";"COM";"A";"2020"'  # Clisson's 2020 births, 63.0 in the demo file


@pytest.mark.parametrize(
    "old, new, column, rule, shown",
    [
        (f"{CLISSON_2020};63.0", f"{CLISSON_2020};-63.0", "OBS_VALUE", "count within [0, +inf]", "-63.0"),
        (CLISSON_2020, '"44999";"COM";"A";"2020"', "GEO", "code known to the COG of the file's geography", "44999"),
        (f"{CLISSON_2020};63.0", f"{CLISSON_2020};n/a", "OBS_VALUE", "a number or a known marker", "44043"),
        (f"{CLISSON_2020};63.0", f"{CLISSON_2020};63.5", "OBS_VALUE", "a whole number of events", "63.5"),
        (
            '"200067346";"EPCI";"A";"2020"',
            '"20006734";"EPCI";"A";"2020"',
            "GEO",
            "code matches its level's pattern",
            "20006734",
        ),
        (CLISSON_2020, '"44043";"COM";"A";"2020-Q1"', "TIME_PERIOD", "a year (YYYY)", "2020-Q1"),
        # four characters that read as a number, yet no year
        (CLISSON_2020, '"44043";"COM";"A";"+202"', "TIME_PERIOD", "a year (YYYY)", "+202"),
        ('"F";"LVB";"A";"44043"', '"F";"LVB";"M";"44043"', "FREQ", "annual frequency (A)", "44043"),
    ],
)
def test_a_bad_cell_is_refused(tmp_path, geo, old, new, column, rule, shown):
    message = _raises(tmp_path, geo, lambda t: t.replace(old, new, 1), column, rule)
    assert shown in message  # the failing row is shown


def test_the_no_epci_pseudo_code_is_dropped_with_a_count(tmp_path, geo):
    """`ZZZZZZZZZ` (communes in no EPCI) is not a territory: dropped and counted, never a validation error."""
    row = '"F";"LVB";"A";"ZZZZZZZZZ";"EPCI";"A";"2020";48.0\n'  # CONF_STATUS first
    staged = _stage_edited(tmp_path, geo, lambda t: t + row)
    assert staged.frame.filter(pl.col("code") == "ZZZZZZZZZ").is_empty()
    assert "1 row(s) of the pseudo-EPCI ZZZZZZZZZ (communes in no EPCI) dropped" in staged.notes
