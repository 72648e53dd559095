"""How `compute` lays out its rows and `compare` finishes them (issue 14, the table in under a second): reasons as
ranks named once, float columns through a (place, indicator) matrix, rows merged from sorted runs, slices finished
two at a time. Small hand-built frames, expected values written by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from benchmarks.france import generate
from transforms import compare as CMP
from transforms import compute as C
from transforms import reasons as R
from transforms.ahead import ahead

PLACES = pl.DataFrame({"level": ["COM", "COM", "EPCI"], "group": ["01001", "01002", "200000001"]})


def frame(ind: str, values: list, statuses: list, status_dtype=pl.Int32) -> pl.DataFrame:
    """An indicator's rows at the three PLACES, in their order."""
    return PLACES.with_columns(
        indicator=pl.lit(ind),
        value=pl.Series(values, dtype=pl.Float64),
        status=pl.Series(statuses, dtype=status_dtype),
        status_comparison=pl.Series([None, None, None], dtype=status_dtype),
    )


def test_reasons_as_ranks_and_as_strings_come_out_as_the_same_strings_place_by_place():
    secret, missing = R.RANKS[R.SECRET], R.RANKS[R.NOT_AVAILABLE]
    computed = frame("a", [None, 2.0, None], [secret, None, missing])  # ranks, as `_expressions` gives them
    # a published figure keeps its own strings, one the reasons' list does not know included
    published = frame("b", [1.5, None, None], [None, "odd_marker", R.SECRET], pl.String)
    out = C._in_order({"a": computed, "b": published}, PLACES)
    # place by place, then indicator: (01001, a), (01001, b), (01002, a), (01002, b), (EPCI, a), (EPCI, b)
    assert out["group"].to_list() == ["01001", "01001", "01002", "01002", "200000001", "200000001"]
    assert out["indicator"].to_list() == ["a", "b"] * 3
    assert out["status"].to_list() == [R.SECRET, None, None, "odd_marker", R.NOT_AVAILABLE, R.SECRET]
    assert out["value"].to_list() == [None, 1.5, 2.0, None, None, None]
    assert out.schema["status"] == pl.String and out.schema["status_comparison"] == pl.String
    assert out["status_comparison"].null_count() == 6


def test_a_rank_past_the_list_is_named_unknown_as_before():
    computed = frame("a", [None, None, None], [len(R.RANKS), None, None])
    assert C._in_order({"a": computed}, PLACES)["status"].to_list() == ["unknown", None, None]


def test_a_float_column_keeps_a_nan_of_its_own_apart_from_its_nulls():
    # a NaN is a value (0/0 would be one), a null is no value: the matrix path reads NaN as null, so it steps aside
    a = frame("a", [float("nan"), None, 3.0], [None, R.RANKS[R.SECRET], None])
    b = frame("b", [4.0, 5.0, None], [None, None, R.RANKS[R.SECRET]])
    value = C._in_order({"a": a, "b": b}, PLACES)["value"].to_list()
    assert math.isnan(value[0]) and value[1:] == [4.0, None, 5.0, 3.0, None]


def test_a_place_an_indicator_has_no_row_for_is_skipped():
    only_two = frame("b", [7.0, 8.0, None], [None, None, None]).head(2)  # no EPCI row
    out = C._in_order({"a": frame("a", [1.0, 2.0, 3.0], [None, None, None]), "b": only_two}, PLACES)
    assert list(zip(out["group"], out["indicator"], out["value"], strict=True)) == [
        ("01001", "a", 1.0),
        ("01001", "b", 7.0),
        ("01002", "a", 2.0),
        ("01002", "b", 8.0),
        ("200000001", "a", 3.0),
    ]


def test_the_reasons_enum_ranks_as_the_list_does():
    statuses = pl.DataFrame({"s": [R.SECRET, None, R.NOT_AVAILABLE, "not_a_reason", R.CITY_ONLY]})
    ranks = statuses.select(R.rank(pl.col("s"))).to_series().to_list()
    # SECRET is first in PRIORITY, NOT_AVAILABLE second, CITY_ONLY eleventh; an unknown string ranks past the list
    assert ranks == [0, None, 1, len(R.RANKS), 10]


def test_rows_from_two_sorted_runs_are_merged_as_chained_slices():
    # compute's rows (keys 0, 2, 3, 5) then the arrondissements' (1, 4): merged into 0..5
    table = pl.DataFrame({"k": [0, 2, 3, 5, 1, 4]})
    out = CMP._sorted_by(table, table["k"].to_numpy())
    assert out["k"].to_list() == [0, 1, 2, 3, 4, 5]
    assert out.n_chunks() > 1  # slices of the table chained, not gathered


def test_repeated_keys_are_sorted_not_merged():
    table = pl.DataFrame({"k": [3, 1, 3, 0]})
    assert CMP._sorted_by(table, table["k"].to_numpy())["k"].to_list() == [0, 1, 3, 3]


def test_slices_come_in_order_and_an_error_reaches_the_caller_at_its_slice():
    slices = [pl.DataFrame({"x": [i]}) for i in range(5)]
    assert [f["x"][0] for f in ahead(lambda f: f * 10, iter(slices))] == [0, 10, 20, 30, 40]

    def finish(f: pl.DataFrame) -> pl.DataFrame:
        if f["x"][0] == 3:
            raise ValueError("slice 3 is broken")
        return f

    seen = []
    with pytest.raises(ValueError, match="slice 3 is broken"):
        for f in ahead(finish, iter(slices)):
            seen.append(f["x"][0])
    assert seen == [0, 1, 2]


@pytest.mark.parametrize(
    ("ref", "noise"), [(0.5, 1e-9), (-3.0, 3e-9), (250.0, 250e-9), (float("nan"), 1e-9), (None, 1e-9)]
)
def test_the_flag_noise_is_a_billionth_of_the_reference_at_least_one(ref, noise):
    # max(|ref|, 1) * 1e-9, a NaN or null reference counting as 1 (as pl.max_horizontal ignores them)
    rows = pl.DataFrame(
        {"_local": [ref], "ref_france": [ref], "_sign": [1.0], "value": [1.0]},
        schema={"_local": pl.Float64, "ref_france": pl.Float64, "_sign": pl.Float64, "value": pl.Float64},
    )
    got = rows.select(**CMP._gap("_local"), **CMP._gap("ref_france"))
    assert got["_noise_local"][0] == pytest.approx(noise, rel=1e-12)
    assert got["_noiseref_france"][0] == pytest.approx(noise, rel=1e-12)


def test_communes_only_gives_the_communes_rows_of_the_whole_computation():
    inputs = generate(120, 6, 3)
    whole = C.compute(inputs).filter(pl.col("level") == "COM")
    alone = C.compute(inputs, communes_only=True)
    assert alone["level"].unique().to_list() == ["COM"]
    assert_frame_equal(alone, whole)


def test_communes_only_with_a_commune_in_no_epci_keeps_its_reasons():
    inputs = generate(120, 6, 3)
    membership = inputs.membership.with_columns(
        epci=pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("epci"))
    )
    inputs = replace(inputs, membership=membership)
    whole = C.compute(inputs).filter(pl.col("level") == "COM")
    alone = C.compute(inputs, communes_only=True)
    assert_frame_equal(alone, whole)
    # its CAF coverage cannot fall back on an EPCI's (decisions.md): the reason says so
    first = alone.filter(pl.col("code") == membership["code"][0])
    assert R.NO_EPCI in first["status"].to_list()


def test_the_place_major_transpose_crosses_its_blocks():
    # two indicators over 5,000 places (blocks of 2,048: the last one partial); the stack holds indicator 0's
    # values 0..4999 then indicator 1's 5000..9999; place p's cells are (p, 5000 + p)
    out = C._place_major(np.arange(10_000), 5_000)
    assert out[:4].tolist() == [0, 5000, 1, 5001]
    assert out[2 * 2048 : 2 * 2048 + 2].tolist() == [2048, 7048]  # the first place of the second block
    assert out[-2:].tolist() == [4999, 9999]
    assert sorted(out.tolist()) == list(range(10_000))
