"""The coverage count on a hand-made geography: a city counted through its arrondissements, each commune once a
year, whatever the order of the rows (a staged table is in key order; a table that is not is counted the same)."""

from __future__ import annotations

import polars as pl
import pytest

from sources import catalogue
from sources.coverage import coverage_failures
from sources.geography import Geography

BIRTHS = catalogue.get("births", "2024")  # COM level, at least 95% of the communes, code column GEO

# four communes; Paris (75056) has two arrondissements
COMMUNES = pl.DataFrame(
    {
        "typecom": ["COM", "COM", "COM", "COM", "ARM", "ARM"],
        "code": ["01001", "01002", "69123", "75056", "75101", "75102"],
        "dep": ["01", "01", "69", "75", "75", "75"],
        "reg": ["84", "84", "84", "11", "11", "11"],
        "name": ["A", "B", "Lyon", "Paris", "Paris 1er", "Paris 2e"],
        "parent": [None, None, None, None, "75056", "75056"],
    }
)
GEO = Geography(COMMUNES, pl.DataFrame(), pl.DataFrame(), 2025)

# (level, code, year) in key order, two variables a (code, year):
# 2020: 01001, 01002, and Paris through 75101 only -> 3 of 4, 69123 absent
# 2021: 01001 and Paris's own row -> 2 of 4, 01002 and 69123 absent
# 2022: every commune, Paris by its own row and both arrondissements (counted once) -> 4 of 4
ROWS = [
    ("ARM", "75101", 2020),
    ("ARM", "75101", 2022),
    ("ARM", "75102", 2022),
    ("COM", "01001", 2020),
    ("COM", "01001", 2021),
    ("COM", "01001", 2022),
    ("COM", "01002", 2020),
    ("COM", "01002", 2022),
    ("COM", "69123", 2022),
    ("COM", "75056", 2021),
    ("COM", "75056", 2022),
]
RULE = "at least 95% of the communes of COG 2025 present in every year of the file"
SAMPLES = [
    "2020: 3 of 4 communes of COG 2025 (75%); absent: 69123",
    "2021: 2 of 4 communes of COG 2025 (50%); absent: 01002, 69123",
]


def _frame(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    doubled = [row for row in rows for _ in range(2)]
    return pl.DataFrame(doubled, schema={"level": pl.String, "code": pl.String, "year": pl.Int32}, orient="row")


@pytest.mark.parametrize(
    "rows",
    [ROWS, ROWS[::-1], ROWS[5:] + ROWS[:5] + ROWS[3:4]],
    ids=["key order", "reversed", "out of order, a pair twice apart"],
)
def test_each_commune_counted_once_a_year_in_any_order(rows):
    fatal, short = coverage_failures(BIRTHS, _frame(rows), GEO, None)
    assert fatal == [] and len(short) == 1
    assert (short[0].column, short[0].rule, short[0].count, short[0].samples) == ("GEO", RULE, 2, SAMPLES)


@pytest.mark.parametrize("rows", [ROWS, ROWS[::-1]], ids=["key order", "reversed"])
def test_a_table_in_several_chunks_is_counted_the_same(rows):
    # the staged table's columns in several pieces (one piece a parsed batch): its rows compared the same way
    frame = _frame(rows)
    pieces = pl.concat([frame.slice(0, 7), frame.slice(7, 1), frame.slice(8)], rechunk=False)
    assert pieces.n_chunks() == 3
    fatal, short = coverage_failures(BIRTHS, pieces, GEO, None)
    assert fatal == [] and (short[0].count, short[0].samples) == (2, SAMPLES)


def test_a_file_of_arrondissements_only_covers_their_city():
    # 2022 alone, without the COM rows of Paris: 01001, 01002, 69123 and Paris through 75101 and 75102 -> 4 of 4
    rows = [r for r in ROWS if r[2] == 2022 and r[1] != "75056"]
    assert coverage_failures(BIRTHS, _frame(rows), GEO, None) == ([], [])


def test_a_null_code_is_not_a_commune():
    # 2022 with 01002's rows nulled: 3 of 4 (75%), 01002 absent
    rows = [(level, None if code == "01002" else code, year) for level, code, year in ROWS if year == 2022]
    fatal, short = coverage_failures(BIRTHS, _frame(rows), GEO, None)  # type: ignore[arg-type]
    assert fatal == [] and short[0].samples == ["2022: 3 of 4 communes of COG 2025 (75%); absent: 01002"]
