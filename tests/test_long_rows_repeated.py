"""The long rows' keys repeated by numpy, the communes' COGs found among their runs: the same as polars' gather
and `unique` on every row, nulls and dtypes included."""

from __future__ import annotations

import numpy as np
import polars as pl

from sources import values
from sources.geography import _commune_cogs
from sources.staging import _counted
from sources.wide import _repeated, _tiled


def test_keys_repeated_as_the_gather_of_each_row_width_times():
    keys = pl.DataFrame(
        {"level": ["ARM", "COM", None], "year": [2021, 2022, 2023], "month": [12, None, 6], "code": ["1", "2", "3"]},
        schema={"level": pl.String, "year": pl.Int32, "month": pl.Int8, "code": pl.String},
    )
    row_of = np.repeat(np.arange(3, dtype=np.uint32), 4)
    repeated = _repeated(keys, row_of, 4)
    assert repeated.equals(keys.gather(pl.Series(row_of)))
    assert repeated.schema == keys.schema


def test_a_value_per_column_tiled_as_its_gather_for_each_row():
    at_column = pl.Series(np.tile(np.arange(3, dtype=np.uint32), 2))
    for series in (pl.Series("year", [2021, 2022, 2021], pl.Int32), pl.Series("year", [2021, None, 1], pl.Int32)):
        tiled = _tiled(series, 2, at_column)
        assert tiled.equals(series.gather(at_column)) and tiled.dtype == pl.Int32 and tiled.name == "year"


def test_the_communes_cogs_of_a_frame_in_key_order_are_those_of_its_commune_rows():
    frame = pl.DataFrame(
        {"level": ["ARM", "COM", "COM", "COM", "COM", "DEP"], "cog": [2019, 2021, 2021, None, 2022, 2020]},
        schema={"level": pl.String, "cog": pl.Int32},
    )
    found = _commune_cogs(frame, presorted=True)
    assert sorted(found, key=lambda c: -1 if c is None else c) == [None, 2021, 2022]
    assert _commune_cogs(frame.head(1), presorted=True) == []


def test_statuses_counted_per_run_as_grouped():
    statuses = pl.Series("status", ["secret", "secret", None, "missing", "secret", None, "missing"])
    assert _counted(statuses) == [("missing", 2), ("secret", 3)]
    assert _counted(pl.Series("status", [None, None], pl.String)) == []


def test_a_few_rows_sorted_plainly_as_the_packed_ranks_sort_them(monkeypatch):
    frame = pl.DataFrame(
        {
            "level": ["COM", "ARM", None, "COM", "COM", "ARM"],
            "code": ["2", "1", "3", "1", None, "1"],
            "year": [2022, None, 2021, 2022, 2021, 2020],
            "variable": ["b", "a", "a", "a", "c", "b"],
            "row": range(6),
        },
        schema_overrides={"year": pl.Int32},
    )
    columns = ["level", "code", "year", "variable"]
    plainly = values.sorted_by_key(frame, columns)
    monkeypatch.setattr(values, "FEW_TO_SORT", 0)
    ranked = values.sorted_by_key(frame, columns)
    assert plainly.equals(ranked) and ranked.equals(frame.sort(columns, maintain_order=True))
