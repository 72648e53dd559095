"""`transforms.compare._flag_codes`: flags computed on the rows that may carry one, put back in place."""

import polars as pl

from transforms import compare as CMP


def test_flags_of_flaggable_rows_and_none_elsewhere():
    rows = pl.DataFrame(
        {
            "_is_dep": [False, False, False, False, False, True, False, False],
            "value": [12.0, 10.6, 20.0, 20.0, 20.0, 12.0, None, 9.0],
            "status": [None, None, None, None, "partial_secret", None, "secret", None],
            "ref_dep": [10.0, 10.0, 10.0, 10.0, 10.0, None, 10.0, 10.0],
            "ref_france": [10.0, 11.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0],
            "_dir": pl.Series([1, 1, 1, 0, 1, 1, 1, -1], dtype=pl.Int8),
            "_kind": pl.Series([1, 1, 0, 1, 1, 1, 1, 1], dtype=pl.Int8),
        }
    )
    codes = CMP._flag_codes(rows, CMP.FlagRules())
    # 1: 12 vs 10 and 10: +2 >= 10 % of 10 against both -> priorité (2)
    # 2: 10.6 vs 10: +0.6 >= 5 % of 10 (vigilance), < 10 %; against France 11 it is lower -> vigilance (1)
    # 3: a count (_kind 0), 4: a neutral indicator (_dir 0), 5: a value with a status (partial_secret),
    #    7: no value -> no flag
    # 6: a département against France alone: 12 vs 10, +2 >= 1 -> priorité
    # 8: lower is need: 9 vs 10 and 10, -(9 - 10) = 1 >= 10 % of 10 ("at least") -> priorité
    assert codes.to_list() == [2, 1, 0, 0, 0, 2, 0, 2]  # 0: none (FLAGS' null)
    assert CMP.FLAGS.gather(codes).to_list()[:3] == [CMP.PRIORITY, CMP.VIGILANCE, None]


def test_no_flaggable_row_gives_a_column_of_no_flag():
    rows = pl.DataFrame(
        {
            "_is_dep": [False],
            "value": [None],
            "status": ["secret"],
            "ref_dep": [1.0],
            "ref_france": [1.0],
            "_dir": pl.Series([1], dtype=pl.Int8),
            "_kind": pl.Series([1], dtype=pl.Int8),
        },
        schema_overrides={"value": pl.Float64},
    )
    assert CMP._flag_codes(rows, CMP.FlagRules()).to_list() == [0]
