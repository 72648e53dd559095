"""What a report keeps of its rows to read them again cheaply: the view's rows of places its tables do not show
(reports.view.OtherRows), the staged rows each report of a store state slices (reports.shared.CommuneRows), the
coordinates the charts write (reports.charts._num). Expected values worked by hand."""

from __future__ import annotations

import polars as pl
import pytest

from reports.charts import _num
from reports.shared import CommuneRows
from reports.view import COMMUNES, REFERENCES, TERRITORY, Place, TerritoryView, territory_view
from transforms.pipeline import Selection

MEMBERSHIP = pl.DataFrame(
    {
        "code": ["85001", "85002", "85003"],
        "epci": ["200029940", "200029940", "244400404"],
        "dep": ["85"] * 3,
        "reg": ["52"] * 3,
    }
)


def _table() -> pl.DataFrame:
    rows = [  # (level, code, name, indicator, value)
        ("COM", "85001", "Aizenay", "population", 100.0),
        ("COM", "85001", "Aizenay", "part_75p", 10.0),
        ("COM", "85002", "Belleville", "population", 200.0),
        ("COM", "85002", "Belleville", "part_75p", 20.0),
        ("COM", "85003", "Challans", "population", 300.0),
        ("COM", "85003", "Challans", "part_75p", 30.0),
        ("EPCI", "200029940", "CC Une", "population", 300.0),
        ("EPCI", "244400404", "CC Deux", "population", 300.0),
        ("DEP", "85", "Vendée", "population", 600.0),
        ("FRANCE", "FR", "France", "population", 6000.0),
    ]
    frame = pl.DataFrame(rows, schema=["level", "code", "name", "indicator", "value"], orient="row")
    return frame.with_columns(ref_dep_code=pl.lit(None, pl.String))


def test_a_departement_view_makes_its_communes_rows_when_asked_for():
    view = territory_view(_table(), MEMBERSHIP, Selection(departement="85"))
    # a département is read by its EPCIs: the communes are no row of its tables, their rows kept aside
    assert [p.code for p in view.places] == ["244400404", "200029940", "85", "FR"]  # CC Deux, CC Une
    assert ("COM", "85002", "part_75p") not in view.cells and view.others is not None
    belleville = next(p for p in view.communes if p.code == "85002")
    assert view.cell(belleville, "part_75p")["value"] == 20.0
    assert view.cell(belleville, "population")["name"] == "Belleville"
    assert view.cell(belleville, "absent") is None
    assert view.cell(view.territory, "population")["value"] == 600.0


def test_an_epci_view_shows_every_row_it_holds():
    view = territory_view(_table(), MEMBERSHIP, Selection(epci="200029940"))
    assert [p.code for p in view.places] == ["85001", "85002", "200029940", "85", "FR"]
    assert view.others is None
    assert view.cell(view.units[1], "part_75p")["value"] == 20.0


def test_the_groups_of_a_view_are_worked_out_once():
    unit, territory = Place("COM", "1", "Un", COMMUNES), Place("EPCI", "200029940", "CC", TERRITORY)
    dep = Place("DEP", "85", "Vendée", REFERENCES)
    view = TerritoryView(
        Selection(epci="200029940"), pl.DataFrame(), (unit, territory, dep), (unit,), territory, dep, {}
    )
    assert view.units == (unit,) and view.references == (dep,) and view.units is view.units


def _flows() -> pl.DataFrame:  # in the staged table's order, communes not in order of code
    return pl.DataFrame({"code": ["85002", "85001", "85002", "85003", "85001"], "value": [1.0, 2.0, 3.0, 4.0, 5.0]})


def test_the_rows_of_a_state_are_read_from_the_file_once_then_sliced():
    kept, reads = CommuneRows(size=2), []

    def read_all() -> pl.DataFrame:
        reads.append("all")
        return _flows()

    def read_some(codes: list[str]) -> pl.DataFrame:
        reads.append("some")
        return _flows().filter(pl.col("code").is_in(codes))

    first = kept.of("state", "flows", ["85001"], read_all, read_some)
    second = kept.of("state", "flows", ["85002", "85001"], read_all, read_some)
    third = kept.of("state", "flows", ["85003"], read_all, read_some)
    assert reads == ["some", "all"]  # the first report reads its own rows; the second keeps them all
    assert first["value"].to_list() == [2.0, 5.0]
    assert second.to_dict(as_series=False) == {
        "code": ["85002", "85001", "85002", "85001"],
        "value": [1.0, 2.0, 3.0, 5.0],
    }
    assert third["value"].to_list() == [4.0]
    assert kept.of("", "flows", ["85003"], read_all, read_some)["value"].to_list() == [4.0]  # no state: no keeping
    assert reads[-1] == "some"


@pytest.mark.parametrize(
    ("x", "text"), [(-0.0, "-0"), (0.0, "0"), (-0.0, "-0"), (2.0, "2"), (2.25, "2.2"), (2.35, "2.4"), (-0.04, "-0")]
)
def test_coordinates_are_written_alike_once_kept(x, text):
    # 2.25 is exact in binary and rounds to the even 2.2; 2.35 is 2.35000000000000008... and rounds up
    assert _num(x) == text and _num(x) == text
