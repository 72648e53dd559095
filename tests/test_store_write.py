"""A staged table written with its few-valued text columns coded reads back as the same text frame."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sources.values import STAGED_SCHEMA
from storage.store import FEW_CATEGORIES, _coded, write_staged_table


def staged(rows: int, *, source: list[str] | None = None, status: dict[int, str] | None = None) -> pl.DataFrame:
    """`rows` staged rows of one commune per row; `status` (row -> reason) holds the only non-null statuses."""
    status = status or {}
    return pl.DataFrame(
        {
            "source": source or ["rp_population"] * rows,
            "vintage": ["2021"] * rows,
            "level": ["COM"] * rows,
            "code": [f"{44000 + i:05d}" for i in range(rows)],
            "year": [2021] * rows,
            "month": [None] * rows,
            "variable": ["P_POP"] * rows,
            "value": [None if i in status else float(i) for i in range(rows)],
            "status": [status.get(i) for i in range(rows)],
            "geo_change": ["merged" if i == 7 else None for i in range(rows)],
        },
        schema=STAGED_SCHEMA,
    )


def test_a_written_table_reads_back_as_the_same_text_frame(tmp_path: Path):
    frame = staged(200, status={3: "secret", 150: "missing"})
    path = tmp_path / "t.parquet"
    write_staged_table(frame, path)
    back = pl.read_parquet(path)
    assert back.schema == frame.schema  # text, not the Enum the writer was handed
    assert back.equals(frame)
    by_code = pl.scan_parquet(path).filter(pl.col("code") == "44003").collect()
    assert by_code["status"].to_list() == ["secret"]
    assert pl.scan_parquet(path).filter(pl.col("status") == "missing").collect()["code"].to_list() == ["44150"]


def test_columns_of_many_values_and_empty_tables_read_back_alike(tmp_path: Path):
    mixed = staged(128, source=["a", "b"] * 64, status={i: "secret" for i in range(0, 128, 2)})
    for frame in (mixed, staged(0), staged(1)):
        path = tmp_path / "t.parquet"
        write_staged_table(frame, path)
        back = pl.read_parquet(path)
        assert back.schema == frame.schema
        assert back.equals(frame)


def test_only_columns_of_one_value_or_nearly_all_null_are_coded():
    frame = staged(128, status={5: "secret"})
    assert _coded(frame, "source").to_list() == ["rp_population"] * 128
    assert _coded(frame, "source").dtype == pl.Enum(["rp_population"])
    status = _coded(frame, "status")  # 1 value in 128 rows: at most one in 64
    assert status.dtype == pl.Enum(["secret"])
    assert status.to_list() == [None] * 5 + ["secret"] + [None] * 122
    assert _coded(staged(128, status={5: "secret", 9: "missing", 70: "secret"}), "status") is None  # 3 in 128
    assert _coded(staged(128, source=["a"] * 127 + [None]), "source") is None  # one value, and a null


def long_rows(levels: list[str], codes: list[str], variables: list[str]) -> pl.DataFrame:
    """Staged rows of one year: each (level, code) pair with every variable, in that order."""
    rows = [(level, code, variable) for level, code in zip(levels, codes, strict=True) for variable in variables]
    frame = staged(len(rows))
    return frame.with_columns(
        level=pl.Series([r[0] for r in rows]),
        code=pl.Series([r[1] for r in rows]),
        variable=pl.Series([r[2] for r in rows]),
    )


def test_the_key_columns_level_and_variable_are_coded_from_their_runs_and_repeated_sequence(tmp_path: Path):
    frame = long_rows(["ARM", "ARM", "COM", "COM", "COM"], ["13201", "13202", "13201", "13203", "75056"], ["Q", "P"])
    level = _coded(frame, "level")
    assert level.dtype == pl.Enum(["ARM", "COM"])
    assert level.to_list() == ["ARM"] * 4 + ["COM"] * 6
    variable = _coded(frame, "variable")
    assert variable.dtype == pl.Enum(["P", "Q"])  # in the order text sorts in: the statistics' order
    assert variable.to_list() == ["Q", "P"] * 5
    assert _coded(frame, "code") is None  # readers filter codes: an Enum of every code in each row group
    path = tmp_path / "t.parquet"
    write_staged_table(frame, path)
    assert pl.read_parquet(path).equals(frame)
    in_arm = pl.scan_parquet(path).filter((pl.col("level") == "ARM") & (pl.col("variable") == "P")).collect()
    assert in_arm["code"].to_list() == ["13201", "13202"]


def test_a_sequence_repeated_over_more_rows_than_a_block_is_coded_whole():
    codes = [f"{i:05d}" for i in range(1500)]  # 4,500 rows: a block of 1,366 sequences (4,098 rows) and a rest
    frame = long_rows(["COM"] * 1500, codes, ["B", "C", "A"])
    variable = _coded(frame, "variable")
    assert variable.dtype == pl.Enum(["A", "B", "C"])
    assert variable.to_list() == ["B", "C", "A"] * 1500


def test_a_variable_column_that_does_not_repeat_one_sequence_stays_text(tmp_path: Path):
    frame = long_rows(["COM"] * 3, ["44001", "44002", "44003"], ["P", "Q"])
    missing = frame.filter(~((pl.col("code") == "44002") & (pl.col("variable") == "Q")))  # 44002 without Q
    other = frame.with_columns(variable=pl.Series(["P", "Q", "P", "Q", "P", "R"]))  # the last code's own
    for table in (missing, other):
        assert _coded(table, "variable") is None
        path = tmp_path / "t.parquet"
        write_staged_table(table, path)
        assert pl.read_parquet(path).equals(table)
    one_code = long_rows(["COM"], ["44001"], ["P", "Q", "R"])  # no second code: no sequence known to repeat
    assert _coded(one_code, "variable") is None


def test_a_level_column_out_of_order_or_of_too_many_values_stays_text():
    frame = staged(FEW_CATEGORIES + 1)
    assert _coded(frame, "level").to_list() == ["COM"] * (FEW_CATEGORIES + 1)  # one run
    two = frame.with_columns(level=pl.Series(["ARM"] * 3 + ["COM"] * (FEW_CATEGORIES - 2)))
    assert _coded(two, "level").dtype == pl.Enum(["ARM", "COM"])
    assert _coded(two, "level").to_list() == two["level"].to_list()
    shuffled = frame.with_columns(level=pl.Series(["COM", "ARM"] * (FEW_CATEGORIES // 2) + ["COM"]))
    assert _coded(shuffled, "level") is None  # not in key order
    many = frame.with_columns(level=pl.Series([f"L{i:04d}" for i in range(FEW_CATEGORIES + 1)]))
    assert _coded(many, "level") is None  # sorted, but one value more than an Enum's dictionary may hold
    with_null = frame.with_columns(level=pl.Series([None] + ["COM"] * FEW_CATEGORIES))
    assert _coded(with_null, "level") is None


def test_a_level_column_whose_binary_search_lands_on_rows_out_of_order_stays_text():
    frame = staged(6)
    # a search for the end of "ARM" may land anywhere in these rows: each run is checked row by row
    for levels in (["ARM", "COM", "ARM", "COM", "COM", "COM"], ["ARM", "ARM", "COM", "COM", "ARM", "COM"]):
        assert _coded(frame.with_columns(level=pl.Series(levels)), "level") is None
    back = frame.with_columns(level=pl.Series(["COM"] * 3 + ["ARM"] * 3))  # two runs, the second one before
    assert _coded(back, "level") is None


def in_chunks(frame: pl.DataFrame, cuts: list[int]) -> pl.DataFrame:
    """`frame` as several chunks, cut at these rows (as `Geography.harmonise` leaves a table it put rows into)."""
    ends = [*cuts, frame.height]
    pieces = [frame.slice(start, end - start) for start, end in zip([0, *cuts], ends, strict=True)]
    return pl.concat(pieces, rechunk=False)


def test_a_repeated_sequence_is_checked_across_the_chunks_of_the_column(tmp_path: Path):
    codes = [f"{44000 + i:05d}" for i in range(5)]
    frame = long_rows(["COM"] * 5, codes, ["P", "Q", "R"])  # 15 rows: P Q R five times
    for cuts in ([1], [4], [2, 3, 8], [7, 14]):  # a chunk shorter than the sequence, cuts inside it, at its end
        chunked = in_chunks(frame, cuts)
        assert chunked.get_column("variable").n_chunks() == len(cuts) + 1
        assert _coded(chunked, "variable").to_list() == ["P", "Q", "R"] * 5
    # one row different: in the first chunk, at a chunk's first row, within a later chunk, the last row
    for row in (1, 4, 9, 14):
        changed = frame.with_columns(
            variable=pl.Series(["X" if i == row else v for i, v in enumerate(frame["variable"])])
        )
        for cuts in ([4], [2, 9], [13]):
            chunked = in_chunks(changed, cuts)
            assert _coded(chunked, "variable") is None, (row, cuts)
            path = tmp_path / "t.parquet"
            write_staged_table(chunked, path)
            assert pl.read_parquet(path).equals(changed)
