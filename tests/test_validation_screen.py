"""The one-pass screen of `sources.validation` (`passes`): never laxer than pandera, and pandera's report intact.

Frames are written by hand in the staged long format; each failing case breaks exactly one rule, and the expected
messages are the rules' own names with the rows written below.
"""

from __future__ import annotations

import random

import polars as pl
import pytest
from pandera.errors import SchemaErrors

from sources.errors import SourceValidationError
from sources.validation import RowCheck, Rules, known_codes_check, passes, staged_model, validate
from sources.values import NOT_AVAILABLE, STAGED_SCHEMA

RULES = Rules(kinds={"POP": "count", "POPF": "count", "MED": "amount"}, parts={"POP": ("POPF",)})
KNOWN = known_codes_check({2025: {"COM": {"49099", "44109"}, "ARM": set()}})


def frame(*rows: tuple) -> pl.DataFrame:
    """Rows (code, variable, value, status), commune level, year 2022, with the columns staging validates."""
    columns = {k: STAGED_SCHEMA[k] for k in ("level", "code", "year", "month", "variable", "value", "status")}
    data = [("COM", code, 2022, None, variable, value, status) for code, variable, value, status in rows]
    return pl.DataFrame(data, schema=columns, orient="row").with_columns(cog=pl.lit(2025, pl.Int32))


GOOD = frame(
    ("49099", "POP", 54000.0, None),
    ("49099", "POPF", 28000.0, None),  # 28,000 <= 54,000
    ("49099", "MED", 21000.0, None),
    ("44109", "POP", 320000.0, None),
    ("44109", "POPF", None, NOT_AVAILABLE),  # a null part is not compared
    ("44109", "MED", None, NOT_AVAILABLE),
)


def pandera_passes(data: pl.DataFrame, known: RowCheck | None = None) -> bool:
    try:
        staged_model(RULES, known).validate(data, lazy=True)
    except SchemaErrors:
        return False
    return True


def test_a_good_frame_passes_the_screen_and_pandera():
    assert passes(GOOD, RULES, KNOWN)
    assert pandera_passes(GOOD, KNOWN)
    assert validate(GOOD, RULES, source="census", file="f.csv", known=KNOWN) is GOOD


BROKEN = {
    "part above its whole": (1, 5, 60000.0),  # POPF 60,000 > POP 54,000 of 49099
    "negative count": (0, 5, -1.0),
    "NaN": (0, 5, float("nan")),
    "year out of range": (0, 2, 1850),
    "unknown variable": (0, 4, "POPH"),
    "bad code": (0, 1, "4909"),  # 4 characters: not a commune code
    "code unknown to the COG": (0, 1, "85001"),
    "invalid status": (2, 6, "invalid"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_rule_fails_the_screen_and_pandera(case):
    row, column, cell = BROKEN[case]
    rows = [list(r) for r in GOOD.rows()]
    rows[row][column] = cell
    broken = pl.DataFrame(rows, schema=GOOD.schema, orient="row")
    assert not passes(broken, RULES, KNOWN)
    assert not pandera_passes(broken, KNOWN)


def test_a_duplicated_key_fails_the_screen():
    doubled = pl.concat([GOOD, GOOD.head(1)])
    assert not passes(doubled, RULES, KNOWN)
    assert not pandera_passes(doubled, KNOWN)


def test_a_wrong_type_fails_the_screen():
    assert not passes(GOOD.with_columns(pl.col("year").cast(pl.Int64)), RULES, KNOWN)


def test_a_part_is_compared_with_its_own_rows_whole_only():
    # POPF of 49099 (28,000) is above POP of no other commune's row that matters: 44109's POP is 320,000, and
    # 49099's own POP is 54,000, so lowering 44109's POP to 1,000 breaks nothing
    lowered = GOOD.with_columns(
        value=pl.when((pl.col("code") == "44109") & (pl.col("variable") == "POP")).then(1000.0).otherwise("value")
    )
    assert passes(lowered, RULES, KNOWN)
    assert pandera_passes(lowered, KNOWN)


def test_the_failure_report_is_pandera_s():
    rows = [list(r) for r in GOOD.rows()]
    rows[1][5] = 60000.0  # POPF of 49099: 60,000 > POP 54,000
    broken = pl.DataFrame(rows, schema=GOOD.schema, orient="row")
    with pytest.raises(SourceValidationError) as err:
        validate(broken, RULES, source="census", file="f.csv", known=KNOWN)
    (failure,) = err.value.failures
    assert (failure.column, failure.rule, failure.count) == ("POPF", "never above POP in the same row", 1)
    assert failure.samples == ["COM 49099 2022 = 60000.0 > POP = 54000.0"]


def test_the_screen_is_never_laxer_than_pandera():
    """Random damage to the good frame: whenever the screen lets a frame through, pandera does too."""
    rng = random.Random(14)
    # column index in a row -> cells to put there (value, code, variable, month, status)
    cells = {5: [None, 0.0, 1.0, 2.0, 5.0, -3.0, 1e9, 28000.0, 60000.0, float("inf"), float("nan")]}
    cells |= {1: ["49099", "44109", "85001", "2A004", "1"], 4: ["POP", "POPF", "MED", "X"]}
    cells |= {3: [None, None, 1, 12, 13], 6: [None, NOT_AVAILABLE, "secret", "invalid"]}
    disagreements, through = [], 0
    for _ in range(60):
        rows = [list(r) for r in GOOD.rows()]
        for _ in range(rng.randint(1, 3)):
            row, column = rng.randrange(len(rows)), rng.choice(sorted(cells))
            rows[row][column] = rng.choice(cells[column])
        damaged = pl.DataFrame(rows, schema=GOOD.schema, orient="row")
        if passes(damaged, RULES, KNOWN):
            through += 1
            if not pandera_passes(damaged, KNOWN):
                disagreements.append(damaged)
    assert disagreements == []
    assert 0 < through < 60  # the damage let some frames through and stopped others: both sides were tried


TWO_LEVELS = Rules(kinds={"POP": "count"}, levels=("COM", "DEP"))


def two_levels(*rows: tuple[str, str]) -> pl.DataFrame:
    """(level, code) rows of one variable, year 2022."""
    columns = {k: STAGED_SCHEMA[k] for k in ("level", "code", "year", "month", "variable", "value", "status")}
    data = [(level, code, 2022, None, "POP", 10.0, None) for level, code in rows]
    return pl.DataFrame(data, schema=columns, orient="row")


@pytest.mark.parametrize(
    "rows, good",
    [
        ((("COM", "49099"), ("COM", "2A004"), ("DEP", "49"), ("DEP", "2A"), ("DEP", "974")), True),
        ((("COM", "49099"), ("DEP", "49099")), False),  # a commune's code on a département row: COM's pattern only
        ((("COM", "49"), ("DEP", "49")), False),  # a département's code on a commune row
        ((("COM", "49099"), ("EPCI", "200071165")), False),  # a level the rules do not name
    ],
)
def test_each_code_is_screened_against_its_own_level_s_pattern(rows, good):
    data = two_levels(*rows)
    assert passes(data, TWO_LEVELS) is good
    try:
        staged_model(TWO_LEVELS).validate(data, lazy=True)
        pandera = True
    except SchemaErrors:
        pandera = False
    assert pandera is good
