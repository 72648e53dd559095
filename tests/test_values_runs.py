"""`sources.values.runs`: the runs of consecutive rows equal in every one of some columns (nulls equal)."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from sources.values import runs


def _struct_runs(frame: pl.DataFrame, columns: list[str]) -> tuple[pl.Series, pl.DataFrame]:
    """The definition: polars' run-length encoding of a struct of the columns."""
    encoded = frame.select(pl.struct(columns).rle()).to_series().struct.unnest()
    lengths = encoded.get_column("len").to_numpy()
    run = pl.Series("run", np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths))
    return run, encoded.get_column("value").struct.unnest()


def _frame(seed: int, height: int) -> pl.DataFrame:
    """Columns whose rows come in runs of a few values, nulls, NaN and signed zeros among them, in several pieces."""
    rng = random.Random(seed)

    def column(values: list) -> list:
        cells, value = [], rng.choice(values)
        for _ in range(height):
            if rng.random() < 0.3:
                value = rng.choice(values)
            cells.append(value)
        return cells

    frame = pl.DataFrame(
        {
            "level": column(["COM", "ARM", None]),
            "code": column(["01001", "01002", "75056", None]),
            "year": pl.Series(column([2020, 2021, None]), dtype=pl.Int32),
            "value": column([1.0, float("nan"), -0.0, 0.0, None]),
        }
    )
    cut = height // 3
    return pl.concat([frame.slice(0, cut), frame.slice(cut)], rechunk=False)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("columns", [["level", "code"], ["level", "code", "year"], ["code", "value"], ["year"]])
def test_the_runs_of_several_columns_are_those_of_their_struct(seed, columns):
    frame = _frame(seed, 200)
    run, firsts = runs(frame, columns)
    expected_run, expected_firsts = _struct_runs(frame, columns)
    assert run.equals(expected_run, check_names=True)
    assert firsts.equals(expected_firsts, null_equal=True)
    assert firsts.schema == frame.select(columns).schema


def test_an_empty_frame_has_no_runs():
    run, firsts = runs(_frame(0, 10).clear(), ["level", "code"])
    assert run.len() == 0 and firsts.is_empty() and firsts.columns == ["level", "code"]
