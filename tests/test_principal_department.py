"""`territories.principal_department`: the same département whether the population is put beside the communes
(listed in the same order) or joined on their codes."""

import polars as pl
import pytest

from transforms.territories import principal_department

MEMBERSHIP = pl.DataFrame(
    {
        "code": ["01001", "01002", "38001", "02001", "03001", "04001", "05001", "06001"],
        "dep": ["01", "01", "38", "02", "03", "04", "05", "06"],
        "epci": ["E1", "E1", "E1", "E2", "E2", None, "E3", "E3"],
    }
)
POPULATION = [100.0, 50.0, 120.0, 30.0, 30.0, 999.0, None, 10.0]


def _population(order: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {"code": [MEMBERSHIP["code"][i] for i in order], "population": [POPULATION[i] for i in order]},
        schema={"code": pl.String, "population": pl.Float64},
    )


@pytest.mark.parametrize("order", [list(range(8)), list(reversed(range(8)))], ids=["aligned", "joined"])
def test_the_department_holding_most_of_the_population(order: list[int]) -> None:
    # E1: 01 holds 100 + 50 = 150 against 38's 120; E2: 30 each, the smaller code first; E3: a null population
    # counts as none (06's 10 against 05's 0); the commune without an EPCI is in none
    got = principal_department(MEMBERSHIP, _population(order)).sort("epci")
    assert got.rows() == [("E1", "01"), ("E2", "02"), ("E3", "06")]


def test_a_commune_missing_from_the_population_counts_as_none() -> None:
    # without 01001 (100), E1's 01 holds 50 against 38's 120
    population = _population([1, 2, 3, 4, 5, 6, 7])
    got = principal_department(MEMBERSHIP, population).sort("epci")
    assert got.rows() == [("E1", "38"), ("E2", "02"), ("E3", "06")]
