"""Births per place of the early-childhood table: the sum of the place's communes, never a partial sum (one join
for every place, reports.sections.early_childhood). Expected sums worked by hand."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl

from reports.sections.early_childhood import BIRTHS_SOURCE, BIRTHS_VARIABLE, births
from reports.view import COMMUNES, REFERENCES, TERRITORY, Place, TerritoryView
from transforms import reasons as R
from transforms.pipeline import Selection


def _births() -> pl.DataFrame:
    rows = [  # (code, year, value, status)
        ("85020", 2022, 10.0, None),
        ("85020", 2023, 12.0, None),
        ("85165", 2022, 5.0, None),
        ("85165", 2023, None, R.SECRET),  # secret in 2023
        ("85303", 2022, 7.0, None),  # no row for 2023: not available
        ("44009", 2022, 100.0, None),
        ("44009", 2023, 90.0, None),  # another département
    ]
    frame = pl.DataFrame(rows, schema=["code", "year", "value", "status"], orient="row")
    return frame.with_columns(level=pl.lit("COM"), variable=pl.lit(BIRTHS_VARIABLE), year=pl.col("year").cast(pl.Int32))


def test_births_are_whole_sums_of_each_places_communes():
    communes = tuple(Place("COM", c, c, COMMUNES) for c in ("85020", "85165", "85303"))
    territory = Place("EPCI", "200029940", "CC", TERRITORY)
    dep, france = Place("DEP", "85", "Vendée", REFERENCES), Place("FRANCE", "FR", "France", REFERENCES)
    places = list(communes) + [territory, dep, france]
    view = TerritoryView(Selection(epci="200029940"), pl.DataFrame(), tuple(places), communes, territory, dep, {})
    membership = pl.DataFrame(
        {
            "code": ["85020", "85165", "85303", "44009"],
            "epci": ["200029940"] * 3 + ["244400404"],
            "dep": ["85", "85", "85", "44"],
        }
    )
    inputs = SimpleNamespace(staged={BIRTHS_SOURCE: _births()}, membership=membership)
    out = births(view, inputs, places, [2022, 2023])
    assert out[("COM", "85020")] == {2022: (10.0, None), 2023: (12.0, None)}
    assert out[("COM", "85165")] == {2022: (5.0, None), 2023: (None, R.SECRET)}
    assert out[("COM", "85303")] == {2022: (7.0, None), 2023: (None, R.NOT_AVAILABLE)}
    # 2022: 10 + 5 + 7 = 22 for the EPCI and the Vendée; France adds 100: 122. 2023: a secret commune hides the sum
    for key, total in ((territory.key, 22.0), (dep.key, 22.0), (france.key, 122.0)):
        assert out[key] == {2022: (total, None), 2023: (None, R.SECRET)}, key
