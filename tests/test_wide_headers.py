"""The wide workbook's column headers: the indicator's label, unit and latest year; a growth rate its period."""

from __future__ import annotations

import polars as pl

from transforms.registry import get
from transforms.wide import Headers, header


def test_headers_give_the_latest_year_and_a_growth_rates_period():
    table = pl.DataFrame(
        {
            "indicator": ["population", "population", "croissance_annuelle", "taux_pauvrete"],
            "year": [2021, 2022, 2022, None],
            "comparison_year": [None, 2016, 2016, None],
        }
    )
    population, growth, poverty = get("population"), get("croissance_annuelle"), get("taux_pauvrete")
    headers = Headers(table)
    assert headers(population) == f"{population.label} (effectif, 2022)"  # max(2021, 2022)
    assert headers(growth) == f"{growth.label} (% par an, 2016-2022)"
    assert headers(poverty) == f"{poverty.label} (%)"  # no year known: none said
    assert all(header(i, table) == headers(i) for i in (population, growth, poverty))
