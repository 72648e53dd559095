"""`code` handed to the Parquet writer as a Categorical of its runs: the same file as its text, the same frame."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from storage import store
from storage.store import MIN_RUN, _coded, _run_starts, write_staged_table
from tests.test_store_write import in_chunks, long_rows

VARIABLES = [f"V{i:03d}" for i in range(MIN_RUN)]  # a code's rows: one run of `MIN_RUN` rows


def test_a_code_column_in_long_runs_is_a_categorical_of_them_and_the_file_is_its_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    frame = long_rows(["ARM", "COM", "COM"], ["13201", "13201", "44109"], VARIABLES)  # a code again in another level
    code = _coded(frame, "code")
    assert code is not None and code.dtype == pl.Categorical
    assert code.name == "code" and code.to_list() == frame["code"].to_list()
    coded, text = tmp_path / "coded.parquet", tmp_path / "text.parquet"
    write_staged_table(frame, coded)
    monkeypatch.setattr(store, "_categorical_of_runs", lambda column: None)  # `code` handed over as text
    write_staged_table(frame, text)
    assert coded.read_bytes() == text.read_bytes()  # the same dictionaries, pages and statistics
    back = pl.read_parquet(coded)
    assert back.schema == frame.schema  # text, not the Categorical the writer was handed
    assert back.equals(frame)
    by_code = pl.scan_parquet(coded).filter(pl.col("code") == "44109").collect()
    assert by_code.equals(frame.filter(pl.col("code") == "44109"))


def test_runs_are_found_across_the_chunks_of_the_column(tmp_path: Path):
    frame = long_rows(["COM"] * 4, ["44001", "44002", "44002", "44003"], VARIABLES)  # 44002 twice: one run
    rows = frame.height
    for cuts in ([1], [MIN_RUN], [MIN_RUN - 1, MIN_RUN + 1, 2 * MIN_RUN], [rows - 1]):  # inside a run, at its end
        chunked = in_chunks(frame, cuts)
        assert chunked.get_column("code").n_chunks() == len(cuts) + 1
        assert _run_starts(chunked.get_column("code")).to_list() == [0, MIN_RUN, 3 * MIN_RUN]
        code = _coded(chunked, "code")
        assert code is not None and code.to_list() == frame["code"].to_list()
        path = tmp_path / "t.parquet"
        write_staged_table(chunked, path)
        assert pl.read_parquet(path).equals(frame)


def test_a_code_column_of_short_runs_or_with_nulls_stays_text(tmp_path: Path):
    short = long_rows(["COM"] * 3, ["44001", "44002", "44003"], VARIABLES[:-1])  # runs one row short
    assert _coded(short, "code") is None
    late = long_rows(["COM"] * 2, ["44001", "44002"], VARIABLES)
    late = late.with_columns(code=pl.Series(["44000"] + late["code"].to_list()[1:]))  # a first run of one row
    assert _coded(late, "code") is None
    with_null = long_rows(["COM"] * 2, ["44001", "44002"], VARIABLES)
    with_null = with_null.with_columns(code=pl.Series([None] + with_null["code"].to_list()[1:]))
    assert _coded(with_null, "code") is None
    for table in (short, late, with_null):
        path = tmp_path / "t.parquet"
        write_staged_table(table, path)
        assert pl.read_parquet(path).equals(table)
