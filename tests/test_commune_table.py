"""The wide commune table (transforms/commune_table.py) the indicator engine sums: hand-computed values on a small
world, and equality with the long path (`commune_values` then `aggregate`) on the benchmark's generated input."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from benchmarks.france import generate
from sources.values import MISSING, NON_RECALCULABLE, NOT_AVAILABLE, SECRET, STAGED_SCHEMA
from transforms import commune_table as T
from transforms import reasons as R
from transforms.compute import Inputs, _needed, aggregate, commune_values
from transforms.registry import indicators
from transforms.territories import CustomTerritory, groups

A, B, C, D = "01001", "01002", "01003", "01004"  # C was restored from B after the data's geography; D: no data
E1, E2 = "200000001", "200000002"
MEMBERSHIP = pl.DataFrame(
    {"code": [A, B, C, D], "name": ["A", "B", "C", "D"], "dep": ["01"] * 4, "reg": ["84"] * 4, "epci": [E1, E1, E1, E2]}
)
POP, NAIS = "rp_population:P_POP|main", "births:NAIS|range"
NEEDED = pl.DataFrame(
    {
        "source": ["rp_population", "births", "births"],
        "variable": ["P_POP", "NAIS", "NAIS"],
        "term": ["rp_population:P_POP", "births:NAIS", "births:NAIS"],
        "period": ["main", "range", "range"],
        "year": [2022, 2016, 2017],
    },
    schema_overrides={"year": pl.Int32},
)


def staged(source: str, rows: list[tuple]) -> pl.DataFrame:
    """Staged COM rows from (code, year, month, variable, value, status, geo_change)."""
    frame = pl.DataFrame(
        rows,
        schema=["code", "year", "month", "variable", "value", "status", "geo_change"],
        orient="row",
        schema_overrides={"value": pl.Float64, "status": pl.String, "geo_change": pl.String, "month": pl.Int8},
    )
    frame = frame.with_columns(source=pl.lit(source), vintage=pl.lit("2022"), level=pl.lit("COM"))
    return frame.select([pl.col(c).cast(t) for c, t in STAGED_SCHEMA.items()])


def world(population_rows: list[tuple] | None = None) -> Inputs:
    population = population_rows or [
        (A, 2022, None, "P_POP", 100.0, None, None),
        (B, 2022, None, "P_POP", 250.0, None, "split"),  # the parent: its figure covers C too
        (C, 2022, None, "P_POP", None, NON_RECALCULABLE, "split"),  # restored: no figure of its own
    ]
    births = [
        (A, 2016, None, "NAIS", 3.0, None, None),
        (A, 2017, None, "NAIS", 4.0, None, None),
        (B, 2016, None, "NAIS", 5.0, None, None),
        (B, 2017, None, "NAIS", None, SECRET, None),
        (C, 2016, None, "NAIS", 1.0, None, None),  # 2017 absent: C's births over the period are unknown
    ]
    return Inputs(
        staged={"rp_population": staged("rp_population", population), "births": staged("births", births)},
        vintages={"rp_population": "2022", "births": "2024"},
        membership=MEMBERSHIP,
    )


def cells(frame: pl.DataFrame, key: str) -> dict[tuple[str, str], tuple]:
    """(level, group) -> (value, reason) of one key of a level frame."""
    rows = frame.select("level", "group", key, R.reason(pl.col(key + T.RANK)).alias("reason")).iter_rows()
    return {(level, group): (value, reason) for level, group, value, reason in rows}


def test_commune_level_values_and_reasons():
    table = T.build(world(), NEEDED)
    assert table.keys == (NAIS, POP) and table.split_keys == frozenset({POP})
    got_pop, got_births = cells(table.commune_level(), POP), cells(table.commune_level(), NAIS)
    assert got_pop[("COM", A)] == (100.0, None)
    # a split row is not the commune's own figure: the parent and the restored commune are null, and say why
    assert got_pop[("COM", B)] == (None, NON_RECALCULABLE)
    assert got_pop[("COM", C)] == (None, NON_RECALCULABLE)
    assert got_pop[("COM", D)] == (None, NOT_AVAILABLE)  # no row at all
    assert got_births[("COM", A)] == (7.0, None)  # 3 + 4 over 2016-2017
    assert got_births[("COM", B)] == (None, SECRET)  # 5 + secret
    assert got_births[("COM", C)] == (None, MISSING)  # 2016 only: never the sum of the years it has
    assert got_births[("COM", D)] == (None, NOT_AVAILABLE)


def test_sums_above_the_commune_skip_restored_communes_and_keep_the_worst_reason():
    table = T.build(world(), NEEDED)
    custom = CustomTerritory("Restored only", (C,))
    sums = table.aggregate(groups(MEMBERSHIP, (custom,)).filter(pl.col("level") != "COM"))
    pop, births = cells(sums, POP), cells(sums, NAIS)
    assert pop[("EPCI", E1)] == (350.0, None)  # A 100 + parent B 250 (C's people are in B's figure)
    assert pop[("EPCI", E2)] == (None, NOT_AVAILABLE)  # D has no figure
    assert pop[("DEP", "01")] == (None, NOT_AVAILABLE)  # A + B + D: D unknown
    # a group of restored communes only has no part to sum: no value and no reason, as a group without rows
    assert pop[("TERRITORY", custom.code)] == (None, None)
    assert births[("EPCI", E1)] == (None, SECRET)  # 7 + secret + missing: secret comes first
    assert births[("DEP", "01")] == (None, SECRET)


def test_sums_over_the_tables_communes_in_its_order_or_listed_otherwise_are_the_same():
    """France over every commune the table keeps, in its order (its group beside the table), and a territory of
    the same communes listed backwards (joined): the same sums."""
    table = T.build(world(), NEEDED).keep(np.array([True, True, True, False]))  # D left out, as uncovered
    members = pl.DataFrame(
        {"code": [A, B, C, C, B, A], "level": ["FRANCE"] * 3 + ["TERRITORY"] * 3, "group": ["FR"] * 3 + ["X"] * 3}
    )
    sums = table.aggregate(members)
    for place in [("FRANCE", "FR"), ("TERRITORY", "X")]:
        assert cells(sums, POP)[place] == (350.0, None)  # A 100 + parent B 250, restored C skipped
        assert cells(sums, NAIS)[place] == (None, SECRET)  # 7 + secret + missing


def test_a_null_without_reason_is_not_available_a_nan_stays_and_a_code_outside_the_cog_is_left_out():
    rows = [
        (A, 2022, None, "P_POP", None, None, None),  # no figure and no reason
        ("01999", 2022, None, "P_POP", 40.0, None, None),  # not a commune of the target COG (between two of its runs)
        (B, 2022, None, "P_POP", float("nan"), None, None),  # a figure that is not a number, as published
        (C, 2022, None, "P_POP", 7.0, None, None),
    ]
    got = cells(T.build(world(rows), NEEDED).commune_level(), POP)
    assert got[("COM", A)] == (None, NOT_AVAILABLE)
    assert math.isnan(got[("COM", B)][0]) and got[("COM", B)][1] is None
    assert got[("COM", C)] == (7.0, None)
    assert got[("COM", D)] == (None, NOT_AVAILABLE)
    assert ("COM", "01999") not in got


def test_two_rows_for_one_commune_and_one_value_are_refused():
    rows = [(A, 2022, 1, "P_POP", 100.0, None, None), (A, 2022, 2, "P_POP", 90.0, None, None)]
    with pytest.raises(ValueError, match=f"{A}.*rp_population:P_POP"):
        T.build(world(rows), NEEDED)


def test_the_long_form_is_the_table():
    values = commune_values(world(), NEEDED)
    got = {(r["code"], r["term"], r["period"]): (r["value"], r["status"], r["split"]) for r in values.to_dicts()}
    assert got[(A, "rp_population:P_POP", "main")] == (100.0, None, False)
    assert got[(B, "rp_population:P_POP", "main")] == (250.0, None, True)
    assert got[(C, "births:NAIS", "range")] == (None, MISSING, False)
    assert got[(D, "births:NAIS", "range")] == (None, NOT_AVAILABLE, False)
    assert values.height == 4 * 2


def test_the_wide_sums_equal_the_long_sums_on_the_benchmark_input():
    """Every (level, group, term, period) of the generated input (secrets, communes in no EPCI, CAF files without
    small communes) summed by both paths: equal values and reasons."""
    inputs = generate(n_communes=300, n_epci=12, n_dep=4)
    needed = _needed(indicators(), inputs)
    territory = CustomTerritory("Groupe", tuple(inputs.membership["code"].head(9).to_list()))
    member_groups = groups(inputs.membership, (territory,))
    long = aggregate(commune_values(inputs, needed), member_groups)
    table = T.build(inputs, needed)
    wide = pl.concat([table.commune_level(), table.aggregate(member_groups.filter(pl.col("level") != "COM"))])
    unpivoted = pl.concat(
        wide.select(
            "level",
            "group",
            term=pl.lit(k.rsplit("|", 1)[0]),
            period=pl.lit(k.rsplit("|", 1)[1]),
            value=pl.col(k),
            status=R.reason(pl.col(k + T.RANK)),
        )
        for k in table.keys
    )
    order = ["level", "group", "term", "period"]
    assert long.height == unpivoted.height == (300 + 12 + 4 + 1 + 1) * len(table.keys)
    assert_frame_equal(long.sort(order), unpivoted.select(long.columns).sort(order), rel_tol=1e-12)


def test_variable_positions_follow_the_row_a_period_before_and_look_up_the_others():
    variables = pl.Series(["b", "a", "x", "b", "a", "x", "a", "a", "x", None])
    # rows 3-5 repeat rows 0-2, rows 7-8 rows 4-5; rows 6 and 9 do not (a code lacking "b", a null variable)
    same = np.array([False, False, False, True, True, True, False, True, True, False])
    got = T.variable_positions(variables, ["a", "b"], same, 3)
    assert got.tolist() == [1, 0, -1, 1, 0, -1, 0, 0, -1, -1]


def test_codes_with_the_same_rows_and_codes_without_give_the_same_cells():
    """Every code with the same variables and years (a wide-born source, its cells found from its first code's)
    and the same rows with one missing and a code outside the target COG (each row's variable looked up)."""
    needed = pl.DataFrame(
        {
            "source": ["rp_population"] * 2,
            "variable": ["P_POP"] * 2,
            "term": ["rp_population:P_POP"] * 2,
            "period": ["comp", "main"],
            "year": [2016, 2022],
        },
        schema_overrides={"year": pl.Int32},
    )
    wide = [
        (code, year, None, variable, value, None, None)
        for code, base in ((A, 10.0), (B, 20.0), (C, 30.0), (D, 40.0))
        for year in (2011, 2016, 2022)
        for variable, value in (("P_MEN", base + 1), ("P_POP", base + year - 2000))
    ]
    expected = {
        (POP, A): (32.0, None),  # 10 + 22
        ("rp_population:P_POP|comp", A): (26.0, None),  # 10 + 16
        (POP, D): (62.0, None),
        ("rp_population:P_POP|comp", C): (46.0, None),
    }
    irregular = [r for r in wide if (r[0], r[1], r[3]) != (B, 2016, "P_MEN")]
    irregular.insert(6, ("01001A", 2016, None, "P_POP", 5.0, None, None))  # not a commune of the target COG
    for rows in (wide, irregular):
        table = T.build(world(rows), needed)
        got = {(k, group): cell for k in table.keys for (_, group), cell in cells(table.commune_level(), k).items()}
        assert {key: got[key] for key in expected} == expected
        assert got[(POP, B)] == (42.0, None) and got[("rp_population:P_POP|comp", B)] == (36.0, None)
        assert len(got) == 4 * 2


def test_one_staged_year_serving_two_keys_is_placed_in_both():
    needed = pl.concat(
        [
            NEEDED,
            pl.DataFrame(
                {
                    "source": ["births"],
                    "variable": ["NAIS"],
                    "term": ["births:NAIS"],
                    "period": ["main"],
                    "year": [2017],
                },
                schema_overrides={"year": pl.Int32},
            ),
        ]
    )
    table = T.build(world(), needed)
    latest, period = cells(table.commune_level(), "births:NAIS|main"), cells(table.commune_level(), NAIS)
    assert latest[("COM", A)] == (4.0, None) and period[("COM", A)] == (7.0, None)
    assert latest[("COM", B)] == (None, SECRET)
    assert latest[("COM", C)] == (None, NOT_AVAILABLE)  # no 2017 row


def test_the_codes_runs_found_in_the_table_rotated_or_by_a_join():
    """Runs of codes listing the table's last codes first (arrondissements staged before the communes) take their
    rows from the rotation; other orders and other codes from the join, -1 for a code not in the table."""
    rows = pl.DataFrame({"code": [A, B, C, D]}).with_row_index("_row")
    assert T._rows_of_codes(pl.Series([C, D, A, B]), rows).tolist() == [2, 3, 0, 1]
    assert T._rows_of_codes(pl.Series([A, B, C, D]), rows).tolist() == [0, 1, 2, 3]
    assert T._rows_of_codes(pl.Series([B, A, C, D]), rows).tolist() == [1, 0, 2, 3]
    assert T._rows_of_codes(pl.Series([D, "99999", A, B]), rows).tolist() == [3, -1, 0, 1]
    assert T._rows_of_codes(pl.Series([C, D, A]), rows).tolist() == [2, 3, 0]


def test_a_range_year_given_twice_does_not_stand_for_a_missing_one():
    """A's 2016 births twice and no 2017: the period is incomplete (`missing`); B's 2016 is secret and its 2017
    absent: the secret cell's reason wins; C has both years (2 + 6 = 8)."""
    births = [
        (A, 2016, 1, "NAIS", 3.0, None, None),
        (A, 2016, 2, "NAIS", 4.0, None, None),
        (B, 2016, None, "NAIS", None, SECRET, None),
        (C, 2016, None, "NAIS", 2.0, None, None),
        (C, 2017, None, "NAIS", 6.0, None, None),
    ]
    inputs = world()
    inputs = Inputs(
        staged={**inputs.staged, "births": staged("births", births)}, vintages=inputs.vintages, membership=MEMBERSHIP
    )
    got = cells(T.build(inputs, NEEDED).commune_level(), NAIS)
    assert got[("COM", A)] == (None, MISSING)
    assert got[("COM", B)] == (None, SECRET)
    assert got[("COM", C)] == (8.0, None)
    assert got[("COM", D)] == (None, NOT_AVAILABLE)


def test_blocks_of_runs_of_one_length_or_the_whole_table_when_ragged():
    assert T._blocks(np.array([4, 4, 3, 4, 4, 1])) == [(0, 2), (2, 3), (3, 5), (5, 6)]
    assert T._blocks(np.array([2, 2, 2])) == [(0, 3)]
    ragged = np.array([1, 2] * T.MAX_BLOCKS)  # 2 * MAX_BLOCKS blocks of one run each
    assert T._blocks(ragged) == [(0, ragged.size)]


@pytest.mark.parametrize("period", [1, 2, 3, 7])
@pytest.mark.parametrize("null", [None, "n"])  # nulls equal, or a column without nulls (compared by `==`)
def test_rows_compared_chunk_by_chunk_as_whole_slices(period, null):
    values = ["a", "a", null, null, "b", "a", "b", "b", null, "a", "a", "c"]
    # chunks shorter and longer than the period, rows compared across one or several chunks' ends
    column = pl.concat([pl.Series("v", values[a:b]) for a, b in [(0, 1), (1, 5), (5, 6), (6, 12)]], rechunk=False)
    whole = pl.Series("v", values)
    expected = whole.slice(period).eq_missing(whole.slice(0, whole.len() - period))
    assert T._same_as_before(column, period).to_list() == expected.to_list()
    assert T._same_as_before(column.clear(), period).to_list() == []


@pytest.mark.parametrize(
    ("members", "beside"),
    [
        ([(A, E1), (C, E1), (D, E2)], True),  # some communes in the table's order, each once: a column beside
        ([(C, E1), (A, E1)], False),  # out of order: joined
        ([(A, E1), (A, E2), (B, E2)], False),  # a commune in two groups: joined
        ([(A, E1), ("99999", E1)], False),  # a code the table has not: joined
    ],
)
def test_groups_summed_beside_the_table_or_joined_give_the_same_sums(members, beside):
    table = T.build(world(), NEEDED)
    groups = pl.DataFrame(members, schema=["code", "group"], orient="row").with_columns(level=pl.lit("EPCI"))
    parts, sums = T._aggregation(table.keys, table.split_keys)
    view = table.frame.select("code", *parts)
    _, others = T._beside(view, groups.select("code", "group"))
    assert others is beside
    joined = groups.join(view, on="code", how="inner", maintain_order="right").group_by("group").agg(*sums)
    expected = joined.select(pl.lit("EPCI").alias("level"), pl.all())
    assert_frame_equal(table.aggregate(groups), expected, check_row_order=False)
