"""The comparison of two publications (transforms.diff) on small tables written by hand: every kind of change,
the thresholds as data and their overrides, a secret value never read as 0."""

from __future__ import annotations

import polars as pl
import pytest

from transforms.diff import Published, SourceRead, Thresholds, compare

COLUMNS = ["level", "code", "name", "indicator", "label", "unit", "value", "status", "flag", "year"]


def table(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "level": pl.String,
            "code": pl.String,
            "name": pl.String,
            "indicator": pl.String,
            "label": pl.String,
            "unit": pl.String,
            "value": pl.Float64,
            "status": pl.String,
            "flag": pl.String,
            "year": pl.Int32,
        },
        orient="row",
    )


def com(code, indicator, unit, value, status=None, flag=None, year=2022, name=None):
    return (
        "COM",
        code,
        name or f"Commune {code}",
        indicator,
        indicator.replace("_", " "),
        unit,
        value,
        status,
        flag,
        year,
    )


# Before and after, by hand. Thresholds of transforms/diff_thresholds.toml: percent 1 point, count 5 %.
OLD = table(
    [
        com("85001", "rate_a", "percent", 10.0),  # +1.2 pt -> listed
        com("85001", "rate_b", "percent", 10.0),  # +0.4 pt -> not listed
        com("85001", "rate_c", "percent", 10.0),  # +1.0 pt exactly -> listed
        com("85001", "births", "count", 100.0),  # +6 % -> listed
        com("85001", "places", "count", 100.0),  # -4 % -> not listed
        com("85001", "cradles", "count", 0.0),  # 0 -> 3: listed, no percentage from 0
        com("85001", "rate_secret", "percent", None, "secret"),  # secret -> 12.5: became available
        com("85001", "rate_gone", "percent", 8.0),  # 8.0 -> not available: became missing
        com("85001", "rate_reason", "percent", None, "secret"),  # secret -> not_significant: reason changed
        com("85001", "rate_flag", "percent", 20.0, flag=None),  # flag appears (value +0.1 pt: not listed)
        com("85002", "rate_a", "percent", 30.0, flag="vigilance"),  # flag rises to priorité
        com("85002", "rate_b", "percent", 30.0, flag="priorité"),  # flag disappears
        com("85099", "rate_a", "percent", 50.0),  # a commune merged away: in the old table only
        ("EPCI", "200000001", "CC Test", "rate_a", "rate a", "percent", 15.0, None, None, 2022),  # unchanged
    ]
)
NEW = table(
    [
        com("85001", "rate_a", "percent", 11.2),
        com("85001", "rate_b", "percent", 10.4),
        com("85001", "rate_c", "percent", 11.0),
        com("85001", "births", "count", 106.0, year=2024),
        com("85001", "places", "count", 96.0),
        com("85001", "cradles", "count", 3.0),
        com("85001", "rate_secret", "percent", 12.5),
        com("85001", "rate_gone", "percent", None, "not_available"),
        com("85001", "rate_reason", "percent", None, "not_significant"),
        com("85001", "rate_flag", "percent", 20.1, flag="vigilance"),
        com("85002", "rate_a", "percent", 30.0, flag="priorité"),
        com("85002", "rate_b", "percent", 30.0, flag=None),
        com("85100", "rate_a", "percent", 40.0, name="Nouvelle-Commune"),  # restored: in the new table only
        ("EPCI", "200000001", "CC Test", "rate_a", "rate a", "percent", 15.0, None, None, 2022),
    ]
)

SOURCES_OLD = (
    SourceRead("rp_education", "2021", "Recensement", None),
    SourceRead("caf_benefits", "2024", "CAF", 2023),
    SourceRead("filosofi", "2021", "Filosofi", 2021, inputs="aaa"),
    SourceRead("births", "2024", "Naissances", 2024, inputs="b1"),
    SourceRead("old_source", "2020", "Ancienne"),
)
SOURCES_NEW = (
    SourceRead("rp_education", "2022", "Recensement", None),
    SourceRead("caf_benefits", "2024", "CAF", 2024),
    SourceRead("filosofi", "2021", "Filosofi", 2021, inputs="aaa"),
    SourceRead("births", "2024", "Naissances", 2024, inputs="b2"),
    SourceRead("new_source", "2025", "Nouvelle"),
)


@pytest.fixture(scope="module")
def diff():
    return compare(Published(OLD, SOURCES_OLD, "2024"), Published(NEW, SOURCES_NEW, "2025"), Thresholds.load())


def rows(diff) -> dict[tuple[str, str], dict]:
    return {(r["code"], r["indicator"]): r for r in diff.changes.iter_rows(named=True)}


def test_values_beyond_their_threshold_are_listed_with_their_move(diff):
    got = rows(diff)
    assert got[("85001", "rate_a")]["value_change"] == "moved"
    assert got[("85001", "rate_a")]["move"] == pytest.approx(1.2)  # 11.2 - 10.0 points
    assert got[("85001", "rate_a")]["move_unit"] == "points"
    assert got[("85001", "rate_c")]["move"] == pytest.approx(1.0)  # exactly the threshold: listed
    assert got[("85001", "births")]["move"] == pytest.approx(6.0)  # (106 - 100) / 100 = 6 %
    assert got[("85001", "births")]["move_unit"] == "percent"
    assert (got[("85001", "births")]["old_year"], got[("85001", "births")]["new_year"]) == (2022, 2024)
    assert ("85001", "rate_b") not in got  # 0.4 point < 1
    assert ("85001", "places") not in got  # 4 % < 5 %


def test_a_count_from_zero_is_listed_without_a_percentage(diff):
    row = rows(diff)[("85001", "cradles")]
    assert row["value_change"] == "moved" and row["move"] is None
    assert (row["old_value"], row["new_value"]) == (0.0, 3.0)


def test_secret_and_missing_values_are_transitions_never_a_change_from_zero(diff):
    got = rows(diff)
    appeared = got[("85001", "rate_secret")]
    assert appeared["value_change"] == "became_available" and appeared["move"] is None
    assert (appeared["old_value"], appeared["old_status"], appeared["new_value"]) == (None, "secret", 12.5)
    gone = got[("85001", "rate_gone")]
    assert gone["value_change"] == "became_missing" and gone["move"] is None
    assert (gone["new_value"], gone["new_status"]) == (None, "not_available")
    reason = got[("85001", "rate_reason")]
    assert reason["value_change"] == "reason_changed"
    assert (reason["old_status"], reason["new_status"]) == ("secret", "not_significant")


def test_flags_that_appear_rise_and_disappear(diff):
    got = rows(diff)
    assert got[("85001", "rate_flag")]["flag_change"] == "appeared"
    assert got[("85001", "rate_flag")]["value_change"] is None  # +0.1 point: only its flag is news
    assert got[("85002", "rate_a")]["flag_change"] == "raised"
    assert got[("85002", "rate_b")]["flag_change"] == "disappeared"


def test_the_whole_list_is_what_was_written_by_hand(diff):
    assert sorted(rows(diff)) == sorted(
        [
            ("85001", "rate_a"),
            ("85001", "rate_c"),
            ("85001", "births"),
            ("85001", "cradles"),
            ("85001", "rate_secret"),
            ("85001", "rate_gone"),
            ("85001", "rate_reason"),
            ("85001", "rate_flag"),
            ("85002", "rate_a"),
            ("85002", "rate_b"),
        ]
    )


def test_needs_profiles_are_the_sets_of_flagged_indicators(diff):
    # 85001: {} -> {rate_flag}; 85002: {rate_a, rate_b} -> {rate_a} (rate_a rose, still flagged)
    profiles = {p.code: p for p in diff.profiles}
    assert set(profiles) == {"85001", "85002"}
    assert (profiles["85001"].added, profiles["85001"].removed) == (("rate_flag",), ())
    assert (profiles["85002"].added, profiles["85002"].removed) == ((), ("rate_b",))
    assert (profiles["85002"].before, profiles["85002"].after) == (2, 1)


def test_geography_changes_are_places_in_one_table_only_and_are_not_compared(diff):
    assert diff.places_removed.select("code", "name").rows() == [("85099", "Commune 85099")]
    assert diff.places_added.select("code", "name").rows() == [("85100", "Nouvelle-Commune")]
    assert not diff.changes.filter(pl.col("code").is_in(["85099", "85100"])).height
    assert diff.cog == ("2024", "2025")


def test_sources_new_vintage_new_year_revised_file_added_and_removed(diff):
    kinds = {c.source: c.kind for c in diff.sources}
    assert kinds == {
        "rp_education": "new_vintage",
        "caf_benefits": "new_year",
        "births": "revised_file",
        "new_source": "added",
        "old_source": "removed",
    }  # filosofi: the same, not listed


def test_thresholds_can_be_changed_per_unit_or_per_indicator():
    rules = Thresholds.load().overridden(["percent=0.3", "births=10"], {"births"})
    diff = compare(Published(OLD), Published(NEW), rules)
    got = rows(diff)
    assert ("85001", "rate_b") in got  # 0.4 point >= 0.3
    assert ("85001", "births") not in got  # 6 % < 10 %
    assert got[("85001", "rate_b")]["threshold"] == 0.3


@pytest.mark.parametrize(
    "item, message",
    [
        ("percent", "write NAME=NUMBER"),
        ("percent=-1", "write NAME=NUMBER"),
        ("percent=abc", "write NAME=NUMBER"),
        ("nonsense=2", "neither a unit"),
    ],
)
def test_a_bad_threshold_is_refused_with_what_to_write(item, message):
    with pytest.raises(ValueError, match=message):
        Thresholds.load().overridden([item], {"births"})


def test_a_malformed_thresholds_file_is_refused_naming_the_unit(tmp_path):
    path = tmp_path / "diff_thresholds.toml"
    path.write_text('[units]\npercent = { change = "ratio", threshold = 1 }\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[units\] percent"):
        Thresholds.load(path)


def test_two_identical_tables_make_an_empty_diff():
    diff = compare(Published(OLD, SOURCES_OLD, "2025"), Published(OLD, SOURCES_OLD, "2025"))
    assert diff.empty and diff.changes.height == 0 and diff.profiles == []
