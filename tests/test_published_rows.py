"""`transforms.compute._rows_by_variable`: where each place finds a publisher's row of each variable."""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms import compute as C


def test_each_variable_gives_each_place_its_row_or_null():
    # (variable, place, row) triples: variable 0 at place 2 (row 5) and place 0 (row 9), variable 1 at place 0
    # (row 7); place 1 has no row of either, nor place 2 of variable 1
    out = C._rows_by_variable(np.array([0, 1, 0]), np.array([2, 0, 0]), np.array([5, 7, 9]), 2, 3)
    assert [s.dtype for s in out] == [pl.UInt32, pl.UInt32]
    assert [s.to_list() for s in out] == [[9, None, 5], [7, None, None]]


def test_row_zero_is_a_row_not_a_gap():
    out = C._rows_by_variable(np.array([0]), np.array([1]), np.array([0]), 1, 2)
    assert out[0].to_list() == [None, 0]
