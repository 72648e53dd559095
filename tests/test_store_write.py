"""A staged table written with its few-valued text columns coded reads back as the same text frame."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sources.values import STAGED_SCHEMA
from storage.store import _coded, write_staged_table


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
    assert _coded(frame["source"]).to_list() == ["rp_population"] * 128
    assert _coded(frame["source"]).dtype == pl.Enum(["rp_population"])
    status = _coded(frame["status"])  # 1 value in 128 rows: at most one in 64
    assert status.dtype == pl.Enum(["secret"])
    assert status.to_list() == [None] * 5 + ["secret"] + [None] * 122
    assert _coded(staged(128, status={5: "secret", 9: "missing", 70: "secret"})["status"]) is None  # 3 in 128
    assert _coded(frame["code"]) is None  # 128 distinct codes
    assert _coded(staged(128, source=["a"] * 127 + [None])["source"]) is None  # one value, and a null
