"""A place's series rows of one indicator (reports.sections.trends.rows_of), read from one index of the report's
series: oldest year first, only that place and indicator, a fresh index for another series."""

from __future__ import annotations

import polars as pl

from reports.sections.trends import Changes, _own_values, rows_of
from reports.view import COMMUNES, TERRITORY, Place, TerritoryView
from transforms.pipeline import Selection
from transforms.registry import get


def _series(value_2022: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "level": ["COM", "EPCI", "COM", "COM", "COM", "EPCI"],
            "code": ["85020", "200029940", "85020", "85020", "85165", "200029940"],
            "indicator": ["population", "population", "population", "part_0002", "population", "population"],
            "year": [2022, 2016, 2016, 2022, 2022, 2022],
            "value": [value_2022, 5000.0, 1100.0, 4.5, 700.0, 5200.0],
        }
    )


def test_a_places_rows_of_one_indicator_oldest_first():
    benet, epci = Place("COM", "85020", "Benet", COMMUNES), Place("EPCI", "200029940", "CC", TERRITORY)
    series = _series(1200.0)
    rows = rows_of(series, benet, "population")
    assert [(r["year"], r["value"]) for r in rows] == [(2016, 1100.0), (2022, 1200.0)]
    assert set(rows[0]) == {"level", "code", "indicator", "year", "value"}
    assert [(r["year"], r["value"]) for r in rows_of(series, epci, "population")] == [(2016, 5000.0), (2022, 5200.0)]
    assert rows_of(series, benet, "absent") == []
    rows[0]["value"] = -1.0  # a caller's change stays its own
    assert rows_of(series, benet, "population")[0]["value"] == 1100.0
    # another series (another report) is read for itself
    assert [r["value"] for r in rows_of(_series(1300.0), benet, "population")] == [1100.0, 1300.0]


def test_only_the_places_asked_for_are_read():
    from reports.sections.trends import _series_index

    benet = Place("COM", "85020", "Benet", COMMUNES)
    series = _series(1200.0)
    assert [r["year"] for r in rows_of(series, benet, "part_0002")] == [2022]
    # the EPCI and the other commune (a département's hundreds of communes) never made rows
    assert list(_series_index(series).places) == [("COM", "85020")]


def test_the_units_own_values_of_the_latest_year_are_counted_from_the_changes():
    units = [Place("COM", code, code, COMMUNES) for code in ("85020", "85165", "85303", "85001")]
    epci = Place("EPCI", "200029940", "CC", TERRITORY)
    view = TerritoryView(Selection(epci="200029940"), pl.DataFrame(), (*units, epci), tuple(units), epci, None, {})
    changes = pl.DataFrame(
        {
            "level": ["COM", "COM", "COM", "COM", "EPCI", "COM"],
            "code": ["85020", "85165", "85303", "85001", "200029940", "85999"],
            "indicator": ["taux_couverture_global"] * 6,
            "latest": [40.0, 55.0, None, 61.0, 55.0, 70.0],
            "latest_status": [None, "epci_fallback", "secret", None, None, None],
        }
    )
    # own values: 85020 and 85001; 85165 borrows its EPCI's, 85303 is secret, 85999 and the EPCI are no unit
    assert _own_values(Changes(changes), view, get("taux_couverture_global")) == 2
