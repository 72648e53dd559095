"""Births per place of the early-childhood table: the sum of the place's communes, never a partial sum (one join
for every place, reports.sections.early_childhood). Expected sums worked by hand."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from reports.sections import early_childhood
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


MEMBERSHIP = pl.DataFrame(
    {
        "code": ["85020", "85165", "85303", "44009"],
        "epci": ["200029940"] * 3 + ["244400404"],
        "dep": ["85"] * 3 + ["44"],
    }
)
COMMUNE_PLACES = tuple(Place("COM", c, c, COMMUNES) for c in ("85020", "85165", "85303"))
TERRITORY_PLACE = Place("EPCI", "200029940", "CC", TERRITORY)
DEP, FRANCE = Place("DEP", "85", "Vendée", REFERENCES), Place("FRANCE", "FR", "France", REFERENCES)


def _view_and_places() -> tuple[TerritoryView, list[Place]]:
    places = list(COMMUNE_PLACES) + [TERRITORY_PLACE, DEP, FRANCE]
    selection = Selection(epci="200029940")
    return TerritoryView(selection, pl.DataFrame(), tuple(places), COMMUNE_PLACES, TERRITORY_PLACE, DEP, {}), places


def test_births_are_whole_sums_of_each_places_communes():
    view, places = _view_and_places()
    communes, territory, dep, france = COMMUNE_PLACES, TERRITORY_PLACE, DEP, FRANCE
    assert len(communes) == 3
    inputs = SimpleNamespace(staged={BIRTHS_SOURCE: _births()}, membership=MEMBERSHIP)
    out = births(view, inputs, places, [2022, 2023])
    assert out[("COM", "85020")] == {2022: (10.0, None), 2023: (12.0, None)}
    assert out[("COM", "85165")] == {2022: (5.0, None), 2023: (None, R.SECRET)}
    assert out[("COM", "85303")] == {2022: (7.0, None), 2023: (None, R.NOT_AVAILABLE)}
    # 2022: 10 + 5 + 7 = 22 for the EPCI and the Vendée; France adds 100: 122. 2023: a secret commune hides the sum
    for key, total in ((territory.key, 22.0), (dep.key, 22.0), (france.key, 122.0)):
        assert out[key] == {2022: (total, None), 2023: (None, R.SECRET)}, key


def test_the_references_births_are_summed_once_per_store_state(monkeypatch):
    view, places = _view_and_places()
    inputs = SimpleNamespace(staged={BIRTHS_SOURCE: _births()}, membership=MEMBERSHIP)
    reads: list[int] = []
    staged_rows = early_childhood.staged_rows
    monkeypatch.setattr(early_childhood, "staged_rows", lambda *a: reads.append(len(rows := staged_rows(*a))) or rows)
    first = births(view, inputs, places, [2022, 2023], state="state-a")
    again = births(view, inputs, places, [2022, 2023], state="state-a")
    assert list(again) == [p.key for p in places]  # in the order of the places
    # the first report of the state reads every commune's rows of those years at once (France's sum needs the 7);
    # the second finds its territory's communes among them: no read
    assert reads == [7]
    assert first == again == births(view, inputs, places, [2022, 2023])  # shared or not, the same sums


def test_a_later_report_of_the_state_sums_its_own_communes_from_the_births_kept(monkeypatch):
    view, places = _view_and_places()
    inputs = SimpleNamespace(staged={BIRTHS_SOURCE: _births()}, membership=MEMBERSHIP)
    births(view, inputs, places, [2022, 2023], state="state-b")  # the first report of the state reads them
    monkeypatch.setattr(early_childhood, "staged_rows", lambda *a: pytest.fail("births read again"))
    other = Place("COM", "44009", "44009", COMMUNES)
    territory = Place("EPCI", "244400404", "CA", TERRITORY)
    view = TerritoryView(Selection(epci="244400404"), pl.DataFrame(), (other, territory), (other,), territory, None, {})
    out = births(view, inputs, [other, territory], [2022, 2023], state="state-b")
    # the one commune of that EPCI: 100 then 90, its EPCI the same
    expected = {2022: (100.0, None), 2023: (90.0, None)}
    assert out == {other.key: expected, territory.key: expected}
