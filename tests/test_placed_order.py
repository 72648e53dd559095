"""`transforms.compute._placed`: frames known to be in the places' order are taken as they are, the others put in
order."""

from __future__ import annotations

import polars as pl

from transforms import compute as C

PLACES = pl.DataFrame({"level": ["COM", "COM", "EPCI"], "group": ["01001", "01002", "200000001"]})


def frame(ind: str, order: list[int], values: list[float]) -> pl.DataFrame:
    """The indicator's rows at the places `order` (positions in PLACES), with these values."""
    return PLACES[order].with_columns(
        indicator=pl.lit(ind),
        value=pl.Series(values, dtype=pl.Float64),
        status=pl.lit(None, pl.Int32),
        status_comparison=pl.lit(None, pl.Int32),
    )


def test_frames_in_order_and_out_of_order_give_the_same_rows():
    # "a" in the places' order (10, 20, 30); "b" reversed: the EPCI's 3.0 first, 01001's 1.0 last
    frames = {"a": frame("a", [0, 1, 2], [10.0, 20.0, 30.0]), "b": frame("b", [2, 1, 0], [3.0, 2.0, 1.0])}
    out = C._placed(frames, PLACES, frozenset({"a"})).frame()
    # place by place, then indicator: 01001 (a 10, b 1), 01002 (a 20, b 2), the EPCI (a 30, b 3)
    assert out["value"].to_list() == [10.0, 1.0, 20.0, 2.0, 30.0, 3.0]
    assert out["group"].to_list() == ["01001", "01001", "01002", "01002", "200000001", "200000001"]
    assert out.equals(C._placed(frames, PLACES).frame())


def test_france_of_no_covered_commune_beside_the_others():
    from benchmarks.france import generate

    inputs = generate(60, 4, 2)
    bpe = inputs.staged["bpe"]
    # the facilities file's rows at a level no indicator reads (its years kept): no commune is covered, France
    # has no commune to sum
    inputs.staged["bpe"] = bpe.with_columns(level=pl.lit("REG"))
    table = C.compute(inputs)
    france = table.filter(pl.col("level") == "FRANCE")
    assert france.height == len(C.indicators())  # one row per indicator
    eaje = france.filter(pl.col("indicator") == "eaje_nombre").row(0, named=True)
    assert eaje["value"] is None and eaje["status"] == "not_available"
    # the census population, covered everywhere: France is the sum of its 60 communes
    population = table.filter(pl.col("indicator") == "population")
    communes = population.filter(pl.col("level") == "COM")["value"].sum()
    assert population.filter(pl.col("level") == "FRANCE")["value"].item() == communes


def test_the_places_made_level_by_level_are_those_made_distinct_then_sorted():
    groups = pl.DataFrame(
        {
            "level": ["COM"] * 4 + ["TERRITORY"] * 2 + ["EPCI"] * 4 + ["DEP"] * 4 + ["FRANCE"] * 4,
            "group": ["13055", "69123", "75056", "97101"]  # communes in order, each once
            + ["T2", "T1"]
            + ["E2", "E1", "E2", "E1"]
            + ["75", "13", "69", "97"]
            + ["FR"] * 4,
        }
    )
    arms = pl.Series(["75101", "13201", "69381"])
    old = C._in_place_order(
        pl.concat([groups.unique(), arms.to_frame("group").select(level=pl.lit("ARM"), group="group")])
    )
    assert C._places(groups, arms).equals(old)
    assert C._places(groups, None).equals(C._in_place_order(groups.unique()))
    # communes out of order or listed twice, and a group of no place (made distinct then sorted at once)
    shuffled = groups.reverse().with_columns(group=pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise("group"))
    assert C._places(shuffled, arms).equals(
        C._in_place_order(pl.concat([shuffled.unique(), old.filter(pl.col("level") == "ARM")]))
    )
    assert C._places(pl.concat([groups, groups.head(2)]), arms).equals(old)
