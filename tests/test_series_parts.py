"""The series of France in parts (`transforms.series.compute_series_parts`): consecutive runs of places, each
sorted, together the very series `compute_series` gives; and the refresh's publication keeps it in the store's
cache so that no report computes it."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from transforms import series as S
from transforms.pipeline import scanned_inputs


def test_a_place_falls_in_the_run_of_its_order():
    rows = pl.DataFrame({"level": ["COM", "COM", "COM", "COM", "DEP", "DEP"], "code": ["a", "a", "a", "b", "x", "x"]})
    rule = S._bucket_rule(rows, 2)
    # 6 rows; rows before each place: a 0, b 3, x 4; run = before * 2 // 6: a 0, b 1, x 1 (a new run starts at b)
    places = pl.DataFrame(
        {"level": ["COM", "COM", "COM", "DEP", "EPCI", "ARM"], "code": ["a", "aa", "b", "x", "z", "z"]}
    )
    # "aa" sorts before "b": run 0; EPCI sorts after COM: run 1; ARM before COM: run 0
    assert places.select(run=rule)["run"].to_list() == [0, 0, 1, 1, 1, 0]


def test_the_parts_are_consecutive_sorted_runs_of_the_one_series(demo_store):
    with demo_store.pinned() as store:
        inputs = S.series_inputs(store, scanned_inputs(store))
        whole = S.compute_series(inputs)
        parts = list(S.compute_series_parts(inputs, buckets=3))
    assert len(parts) == 3
    assert_frame_equal(pl.concat(parts), whole)
    # no place is cut between two parts
    places = [set(p.select("level", "code").unique().iter_rows()) for p in parts]
    assert not (places[0] & places[1]) and not (places[1] & places[2])
