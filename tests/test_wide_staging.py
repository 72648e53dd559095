"""A wide file staged without sorting or screening the long frame (`sources.wide`), and `harmonise` on a frame
already in key order: the same rows in the same order as the sort, the same verdicts as the long screen."""

from __future__ import annotations

import polars as pl
import pytest
from staged_support import staged_rows

from sources.validation import Rules, known_codes_check, passes
from sources.values import MERGED, MISSING, NOT_AVAILABLE, SECRET, melt, sorted_by_key
from sources.wide import STATUS, long_in_key_order, parse_wide, screen

INDEX = {"level": pl.lit("COM"), "code": pl.col("CODGEO")}
RULES = Rules(kinds={"P22_POP": "count", "P22_POPH": "count"}, levels=("COM",), parts={"P22_POP": ("P22_POPH",)})
COLUMNS = ["P22_POP", "P22_POPH"]
YEARS, COGS = {"P22_POP": 2022, "P22_POPH": 2022}, {"P22_POP": 2025, "P22_POPH": 2025}


def _raw(rows):
    return pl.DataFrame(rows, schema=["CODGEO", "P22_POP", "P22_POPH"], orient="row")


def _long(raw: pl.DataFrame) -> pl.DataFrame:
    """The long frame the screen stands for, as `conclude` validates it when the screen does not pass."""
    long = melt(raw, index=INDEX, columns=["P22_POP", "P22_POPH"], markers={}, empty=NOT_AVAILABLE)
    return long.with_columns(year=pl.lit(2022, pl.Int32), month=pl.lit(None, pl.Int8), cog=pl.lit(2025, pl.Int32))


def test_the_long_frame_comes_row_by_row_in_key_order():
    # rows given out of order; a blank cell and a decimal comma
    raw = _raw([("01002", "120", " 60 "), ("01001", "1 000", "499,5"), ("01003", "", "7")])
    wide = parse_wide(raw, INDEX, ["P22_POP", "P22_POPH"], markers={}, empty=NOT_AVAILABLE)
    long = long_in_key_order(wide, ["level", "code"], ["P22_POP", "P22_POPH"])
    assert long.rows() == [
        ("COM", "01001", "P22_POP", None, "invalid"),  # "1 000": not a number
        ("COM", "01001", "P22_POPH", 499.5, None),  # 499,5 -> 499.5
        ("COM", "01002", "P22_POP", 120.0, None),
        ("COM", "01002", "P22_POPH", 60.0, None),  # stripped
        ("COM", "01003", "P22_POP", None, NOT_AVAILABLE),  # empty cell
        ("COM", "01003", "P22_POPH", 7.0, None),
    ]


def test_decimal_commas_are_read_in_the_columns_that_have_them_only():
    # P22_POP: commas in some cells only; P22_POPH: none (cast as it is, never parsed again)
    raw = _raw([("01001", "1,5", "2.25"), ("01002", "7", "8"), ("01003", "1,000.5", " 3 "), ("01004", "", "x")])
    wide = parse_wide(raw, INDEX, COLUMNS, markers={}, empty=NOT_AVAILABLE)
    long = long_in_key_order(wide, ["level", "code"], COLUMNS)
    assert long.select("value", "status").rows() == [
        (1.5, None),  # 1,5 -> 1.5
        (2.25, None),
        (7.0, None),
        (8.0, None),
        (None, "invalid"),  # 1,000.5 -> 1.000.5: not a number
        (3.0, None),  # stripped
        (None, NOT_AVAILABLE),  # empty
        (None, "invalid"),
    ]


def test_columns_of_numbers_parse_as_text_columns_do():
    # P22_POP: numbers and a null cell (a short row); P22_POPH: numbers only
    raw = _raw([("01001", "12", "3.5"), ("01002", None, "-0"), ("01003", "1e3", "7")])
    wide = parse_wide(raw, INDEX, COLUMNS, markers={}, empty=NOT_AVAILABLE)
    long = long_in_key_order(wide, ["level", "code"], COLUMNS)
    assert long.select("value", "status").rows() == [
        (12.0, None),
        (3.5, None),
        (None, NOT_AVAILABLE),  # null: the empty cell's status
        (-0.0, None),
        (1000.0, None),
        (7.0, None),
    ]
    assert wide.schema[STATUS.format("P22_POPH")] == pl.String


def test_a_marker_that_reads_as_a_number_stays_a_marker():
    raw = _raw([("01001", "0", "5"), ("01002", "4", "0")])
    wide = parse_wide(raw, INDEX, COLUMNS, markers={"0": SECRET}, empty=NOT_AVAILABLE)
    long = long_in_key_order(wide, ["level", "code"], COLUMNS)
    assert long.select("value", "status").rows() == [(None, SECRET), (5.0, None), (4.0, None), (None, SECRET)]


def test_markers_empty_cells_and_decimal_commas_among_numbers():
    # P22_POP: a marker with spaces around (the column parsed cell by cell); P22_POPH: a marker, an empty cell and
    # a decimal comma among numbers
    raw = _raw([("01001", "s", "12,5"), ("01002", " nd ", "s"), ("01003", "4", ""), ("01004", "nd", "3")])
    wide = parse_wide(raw, INDEX, COLUMNS, markers={"s": SECRET, "nd": NOT_AVAILABLE}, empty=MISSING)
    long = long_in_key_order(wide, ["level", "code"], COLUMNS)
    assert long.select("value", "status").rows() == [
        (None, SECRET),
        (12.5, None),
        (None, NOT_AVAILABLE),  # " nd " stripped
        (None, SECRET),
        (4.0, None),
        (None, MISSING),
        (None, NOT_AVAILABLE),
        (3.0, None),
    ]


def test_key_order_is_the_order_of_the_sort():
    raw = _raw([(f"{i:05d}", str(i), str(i // 2)) for i in (1009, 1001, 1005, 1003)])
    wide = parse_wide(raw, INDEX, ["P22_POP", "P22_POPH"], markers={}, empty=NOT_AVAILABLE)
    long = long_in_key_order(wide, ["level", "code"], ["P22_POP", "P22_POPH"])
    assert long.equals(sorted_by_key(_long(raw).select(long.columns), ["level", "code", "variable"]))


@pytest.mark.parametrize(
    ("rows", "holds"),
    [
        ([("01001", "100", "40"), ("01002", "10", "10")], True),  # a part equal to its whole holds
        ([("01001", "100", "140")], False),  # 140 men of 100 inhabitants
        ([("01001", "-1", "")], False),  # a negative count
        ([("01001", "100", "40"), ("01001", "90", "40")], False),  # the code twice
        ([("1001", "100", "40")], False),  # not a commune code
        ([("01001", "x", "40")], False),  # neither a number nor a marker
        ([("01001", "NaN", "40")], False),  # a number that is not finite
        ([("01001", "4000000", "40")], False),  # above the plausible maximum of a commune (3 000 000)
        ([("99999", "100", "40")], False),  # a well-formed code unknown to the COG
        ([("01001", "", ""), ("01002", "", "")], True),  # columns of empty cells: no smallest, no largest
        ([("01001", "", "40"), ("01002", "10", "")], True),  # a part or a whole empty: not compared
        ([("01001", "inf", "40")], False),  # a number that is not finite
        ([("01001", "100", "-inf")], False),  # nor is this one (a part, below its whole)
    ],
)
def test_the_wide_screen_agrees_with_the_long_screen(rows, holds):
    known = known_codes_check({2025: {"COM": frozenset({"01001", "01002"})}})
    wide = parse_wide(_raw(rows), INDEX, ["P22_POP", "P22_POPH"], markers={}, empty=NOT_AVAILABLE)
    assert screen(wide, RULES, COLUMNS, known, cog=COGS, years=YEARS) is holds
    assert passes(_long(_raw(rows)), RULES, known) is holds


@pytest.mark.parametrize(
    ("rows", "holds"),
    [
        ([("01001", "600000", "1"), ("75101", "400000", "1")], True),
        ([("01001", "600000", "1"), ("75101", "600000", "1")], False),  # above an arrondissement's (500 000)
        ([("01001", "3000001", "1"), ("75101", "400000", "1")], False),  # above a commune's (3 000 000)
    ],
)
def test_each_level_has_its_plausible_maximum_in_both_screens(rows, holds):
    index = {"level": pl.when(pl.col("CODGEO").str.starts_with("751")).then(pl.lit("ARM")).otherwise(pl.lit("COM"))}
    index["code"] = pl.col("CODGEO")
    rules = Rules(kinds=RULES.kinds, levels=("COM", "ARM"), parts=RULES.parts)
    wide = parse_wide(_raw(rows), index, COLUMNS, markers={}, empty=NOT_AVAILABLE)
    assert screen(wide, rules, COLUMNS, None, cog=COGS, years=YEARS) is holds
    long = melt(_raw(rows), index=index, columns=COLUMNS, markers={}, empty=NOT_AVAILABLE)
    long = long.with_columns(year=pl.lit(2022, pl.Int32), month=pl.lit(None, pl.Int8), cog=pl.lit(2025, pl.Int32))
    assert passes(long, rules) is holds


def test_rules_over_long_rows_are_left_to_the_long_screen():
    from sources.validation import RowCheck

    rules = Rules(kinds=RULES.kinds, extra_checks=(RowCheck("any", pl.lit(True)),))
    wide = parse_wide(_raw([("01001", "1", "1")]), INDEX, ["P22_POP", "P22_POPH"], markers={}, empty=NOT_AVAILABLE)
    assert screen(wide, rules, COLUMNS, None, cog=COGS, years=YEARS) is False


def test_harmonise_on_a_frame_in_key_order_puts_the_merged_rows_where_the_sort_does(geo):
    # 44100 absorbed into 44088 on 2025-01-01 (COG 2024 -> 2025): their rows become 44088's, between 44071
    # and 44142, the other codes keep their rows and their order
    rows = staged_rows(
        [
            ("t", "1", "ARM", "75101", 2021, None, "POP", 16000.0, None, None, 2024),
            ("t", "1", "COM", "44043", 2021, None, "POP", 7000.0, None, None, 2024),
            ("t", "1", "COM", "44071", 2021, None, "POP", 1.0, None, None, 2024),
            ("t", "1", "COM", "44088", 2021, None, "NB", 10.0, None, None, 2024),
            ("t", "1", "COM", "44088", 2021, None, "POP", 3000.0, None, None, 2024),
            ("t", "1", "COM", "44100", 2021, None, "NB", 5.0, None, None, 2024),
            ("t", "1", "COM", "44100", 2021, None, "POP", 2000.0, None, None, 2024),
            ("t", "1", "COM", "44142", 2021, None, "POP", 2.0, None, None, 2024),
        ]
    )
    sorted_out, changes = geo.harmonise(rows.sample(fraction=1.0, shuffle=True, seed=5), additive={"POP", "NB"})
    presorted_out, same_changes = geo.harmonise(rows, additive={"POP", "NB"}, presorted=True)
    assert presorted_out.equals(sorted_out) and changes == same_changes
    assert presorted_out.select("code", "variable", "value", "geo_change").rows() == [
        ("75101", "POP", 16000.0, None),  # ARM before COM
        ("44043", "POP", 7000.0, None),
        ("44071", "POP", 1.0, None),
        ("44088", "NB", 15.0, MERGED),  # 10 + 5
        ("44088", "POP", 5000.0, MERGED),  # 3000 + 2000
        ("44142", "POP", 2.0, None),
    ]


def test_rows_put_in_place_by_code_and_none_when_a_code_is_on_both_sides():
    from sources.geography import _inserted

    def frame(codes, moved=None, year=2021):
        n = len(codes)
        rows = {"level": ["COM"] * n, "code": codes, "year": [year] * n, "month": [None] * n, "n": list(range(n))}
        return pl.DataFrame(rows | ({"moved": moved} if moved is not None else {}), schema_overrides={"month": pl.Int8})

    # 01004 moved (its rows left out); 01003 and 01010 come in after 01001 and after 01009
    kept = frame(["01001", "01001", "01004", "01005", "01009"], [False, False, True, False, False])
    out = _inserted(kept, frame(["01003", "01003", "01010"]))
    assert out.select("code", "n").rows() == [
        ("01001", 0),
        ("01001", 1),
        ("01003", 0),
        ("01003", 1),
        ("01005", 3),
        ("01009", 4),
        ("01010", 2),
    ]
    # a run is a (level, code, year, month): 01005 of 2020 comes before 01005 of 2021
    assert _inserted(kept, frame(["01005"], year=2020)).select("code", "year").rows()[2:4] == [
        ("01005", 2020),
        ("01005", 2021),
    ]
    assert _inserted(kept, frame(["01005"])) is None  # its rows would interleave with kept's by variable: sorted


def test_rows_put_in_place_keep_their_columns_cut_alike():
    # `geo_change` a literal column (as `finish` adds it): its slices would join into fewer pieces than the other
    # columns', and the next `with_columns` would copy the whole table into one piece
    from sources.geography import _inserted

    per_code, codes = 5000, [f"0100{i}" for i in range(6)]  # pieces large enough to stay pieces

    def rows(names, change):
        n = per_code * len(names)
        return pl.DataFrame(
            {
                "level": ["COM"] * n,
                "code": [c for c in names for _ in range(per_code)],
                "year": [2021] * n,
                "month": [None] * n,
                "variable": [f"V{v:04d}" for _ in names for v in range(per_code)],
            },
            schema_overrides={"month": pl.Int8},
        ).with_columns(geo_change=pl.lit(change, pl.String))

    kept = rows(codes, None).with_columns(moved=pl.col("code").is_in(["01001", "01003"]))
    out = _inserted(kept, rows(["01003"], MERGED))
    # kept: 01000, 01002, 01004, 01005 (01001 and 01003 moved); 01003's merged rows after 01002's
    assert out.group_by("code", "geo_change", maintain_order=True).len().rows() == [
        ("01000", None, per_code),
        ("01002", None, per_code),
        ("01003", MERGED, per_code),
        ("01004", None, per_code),
        ("01005", None, per_code),
    ]
    pieces = {name: out.get_column(name).chunk_lengths() for name in out.columns}
    assert len({tuple(p) for p in pieces.values()}) == 1, pieces


def test_a_row_is_moved_when_a_change_touches_its_code_in_its_own_cog():
    from sources.geography import _moved

    long = pl.DataFrame(
        {
            "level": ["COM", "COM", "ARM", "COM", "COM"],
            "code": ["44100", "44100", "44100", "44088", "01001"],
            "cog": [2024, 2025, 2024, 2023, 2024],
        }
    )
    touched = pl.DataFrame({"cog": [2024, 2023], "code": ["44100", "44100"]})
    # 44100 in COG 2024: moved; in COG 2025 (no change there): kept; an ARM row: kept; 44088 and 01001: untouched
    assert _moved(long, touched, presorted=False).to_list() == [True, False, False, False, False]


def test_the_moved_rows_of_a_frame_in_key_order_are_found_by_their_codes_block():
    from sources.geography import _moved

    rows = [
        ("ARM", "44100", 2024),
        ("COM", "01001", 2024),
        ("COM", "44088", 2023),
        ("COM", "44100", 2023),
        ("COM", "44100", 2024),
        ("COM", "44100", 2025),
        ("COM", "44109", 2024),
        ("DEP", "44100", 2024),
    ]
    whole = pl.DataFrame(rows, schema={"level": pl.String, "code": pl.String, "cog": pl.Int32}, orient="row")
    # in pieces, as `_inserted` returns a frame: the binary searches read across them
    long = pl.concat([whole.slice(0, 3), whole.slice(3, 2), whole.slice(5)], rechunk=False)
    # 01001 changed in COG 2023 only (its row is of 2024); 00001 and 99999 before and after every code of the file
    touched = pl.DataFrame(
        {"cog": [2024, 2023, 2023, 2024, 2024], "code": ["44100", "44100", "01001", "00001", "99999"]}
    )
    # 44100 in COGs 2023 and 2024 at level COM; not its ARM or DEP rows, nor its COG 2025 row
    expected = [False, False, False, True, True, False, False, False]
    assert _moved(long, touched, presorted=True).to_list() == expected
    assert _moved(long, touched, presorted=False).to_list() == expected


def test_a_column_computed_per_run_is_the_column_computed_per_row():
    from sources.values import per_run

    frame = pl.DataFrame({"period": ["2020-12", "2020-12", None, None, " 2021-12", "2021", "x", "2020-12"]})
    out = per_run(
        frame, "period", year=pl.col("period").str.strip_chars().str.slice(0, 4), empty=pl.col("period").is_null()
    )
    assert out["year"].to_list() == ["2020", "2020", None, None, "2021", "2021", "x", "2020"]
    assert out["empty"].to_list() == [False, False, True, True, False, False, False, False]
    assert per_run(frame.clear(), "period", year=pl.col("period").str.slice(0, 4)).columns == ["period", "year"]


def test_a_few_rows_dropped_leave_the_others_in_order_as_a_filter_would():
    from sources.values import without_rows

    frame = pl.DataFrame({"code": ["a", "b", "c", "d", "e"], "n": [1, 2, 3, 4, 5]})
    drop = pl.Series([True, False, None, False, True])  # a null drops its row, as `filter(~drop)` does
    out = without_rows(frame, drop)
    assert out.rows() == [("b", 2), ("d", 4)]
    assert out.n_chunks() == 2  # slices of the frame, not a copy
    assert without_rows(frame, pl.Series([False] * 5)) is frame
    assert without_rows(frame, pl.Series([True] * 5)).rows() == []
    many = pl.DataFrame({"n": range(200)})
    dropped = without_rows(many, pl.Series([n % 2 == 0 for n in range(200)]))  # more than a few: filtered
    assert dropped["n"].to_list() == list(range(1, 200, 2))
    assert dropped.n_chunks() == 1


def test_runs_of_several_columns_and_cells_stripped_by_runs():
    from sources.values import runs, stripped

    frame = pl.DataFrame({"level": ["COM", "COM", "COM", "DEP", None, None], "code": ["1", "1", "2", "2", None, None]})
    run, firsts = runs(frame, ["level", "code"])
    assert run.to_list() == [0, 0, 1, 2, 3, 3]
    assert firsts.rows() == [("COM", "1"), ("COM", "2"), ("DEP", "2"), (None, None)]
    cells = pl.Series("flag", [" A", " A", " A", "B ", None, None])
    assert stripped(cells).to_list() == ["A", "A", "A", "B", None, None]
    assert stripped(cells).name == "flag"
    clean = pl.Series("flag", ["A", "A", "A", "B"])
    assert stripped(clean) is clean  # nothing to strip: the cells as they are
    assert stripped(pl.Series("year", [" 2020", "2021 ", "2022"])).to_list() == ["2020", "2021", "2022"]


@pytest.mark.parametrize("empty_cells", [1, 40])
def test_a_few_statuses_are_put_in_place_as_every_cell_gathered(empty_cells):
    # 100 rows, two columns: one empty cell in 200 has its status scattered into a column of nulls, 40 in 200 are
    # gathered with every cell; either way each long row has the status of its own cell
    rows = [(f"01{i:03d}", "" if i % 5 == 0 and i < 5 * empty_cells else str(i), "1") for i in range(100)]
    wide = parse_wide(_raw(rows[::-1]), INDEX, COLUMNS, markers={}, empty=NOT_AVAILABLE)
    long = long_in_key_order(wide, ["level", "code"], COLUMNS)
    expected = [NOT_AVAILABLE if cell == "" else None for row in rows for cell in row[1:]]
    assert long.get_column("status").to_list() == expected
    assert long.get_column("status").null_count() == 200 - min(empty_cells, 20)
