"""What the manifest records of a staged table: its rows and its null cells by reason."""

from __future__ import annotations

import polars as pl

from sources.staging import Staged
from sources.values import MISSING, NOT_AVAILABLE, SECRET, empty_staged


def test_the_summary_counts_the_cells_of_each_reason_and_no_reason_as_none():
    statuses = [SECRET, None, NOT_AVAILABLE, SECRET, None, MISSING, SECRET]
    frame = pl.DataFrame({"status": statuses, "value": [None, 1.0, None, None, 2.0, None, None]})
    summary = Staged(frame, notes=["n"]).summary()
    # 7 rows; secret x3 (rows 0, 3, 6), not_available x1, missing x1; the 2 published values have no reason
    assert summary["rows"] == 7
    assert summary["secret_cells"] == 3
    assert summary["null_cells"] == {MISSING: 1, NOT_AVAILABLE: 1, SECRET: 3}
    assert list(summary["null_cells"]) == [MISSING, NOT_AVAILABLE, SECRET]  # in the order of the reasons' names
    assert summary["notes"] == ["n"]


def test_a_table_without_null_cells_or_without_status_has_none_to_count():
    assert Staged(empty_staged()).summary()["null_cells"] == {}
    assert Staged(pl.DataFrame({"code": ["01001"]})).summary() | {"notes": []} == {
        "rows": 1,
        "secret_cells": 0,
        "null_cells": {},
        "notes": [],
        "geo_changes": [],
    }
