"""A report reads only its rows of the cached tables of France (indicators, series, contours), and shows exactly
what it showed when it was handed the whole table."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import polars as pl
import pytest

from reports import series_data
from reports.site import build_site
from storage.store import Store
from transforms import series as S
from transforms import table_cache
from transforms.pipeline import diagnostic_table, load_inputs, select
from transforms.territories import Territory

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EPCI = "200029940"  # the demo report's CC Vendée Sèvre Autise: four communes
SELECTIONS = [
    Territory(epci=EPCI),
    Territory(commune="85133"),  # Maillezais
    Territory(departement="85"),
    Territory(communes=("85303", "85020"), name="Essai"),  # Vix and Benet, a custom territory
]


@pytest.fixture
def store(demo_store, tmp_path) -> Store:
    """A copy of the demo store with nothing cached yet."""
    copy = Store(tmp_path / "data")
    shutil.copytree(demo_store.root, copy.root, ignore=shutil.ignore_patterns("cache"))
    return copy


@pytest.fixture(scope="module")
def whole(demo_store):
    with demo_store.pinned() as state:
        inputs = load_inputs(state)
        return diagnostic_table(state, inputs=inputs), inputs.membership


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: s.stem)
def test_the_rows_read_hold_every_row_the_report_selects(whole, selection):
    table, membership = whole
    read = table.filter(table_cache.territory_rows(membership, [selection]))
    assert select(read, membership, selection).equals(select(table, membership, selection))
    # and they leave out the other communes: of the demo's COM rows, only the selection's own are read
    com = pl.col("level") == "COM"
    own = select(table, membership, selection).filter(com).height
    assert read.filter(com).height == own < table.filter(com).height


def test_every_epci_is_read_when_asked_for(whole):
    """The similar territories of a report are chosen among every EPCI."""
    table, membership = whole
    read = table.filter(table_cache.territory_rows(membership, [Territory(commune="85133")], every_epci=True))
    epci = pl.col("level") == "EPCI"
    assert read.filter(epci).equals(table.filter(epci))


def test_a_report_from_the_cache_is_the_report_of_the_whole_table(store, whole, tmp_path):
    table, _ = whole
    kwargs = {"generated_at": WHEN}
    handed = build_site(store, [Territory(epci=EPCI)], tmp_path / "handed", table=table, **kwargs)
    cached = build_site(store, [Territory(epci=EPCI)], tmp_path / "cached", **kwargs)
    assert cached.reports[0].read_text(encoding="utf-8") == handed.reports[0].read_text(encoding="utf-8")
    for path in handed.exports:
        if path.suffix == ".parquet":
            assert pl.read_parquet(tmp_path / "cached" / path.name).equals(pl.read_parquet(path))


def test_the_series_of_france_is_computed_once_per_store_state(store, tmp_path, monkeypatch):
    build_site(store, [Territory(epci=EPCI)], tmp_path / "first", generated_at=WHEN)
    with store.pinned() as state:
        path = table_cache.cache_path(state, "series")
        expected = S.compute_series(S.series_inputs(state, load_inputs(state)))
    assert pl.read_parquet(path).equals(expected)

    def not_again(*args, **kwargs):
        raise AssertionError("the series of France and its years should have been read from the store")

    monkeypatch.setattr(S, "compute_series", not_again)
    monkeypatch.setattr(S, "series_inputs", not_again)  # nor every staged vintage read for the baseline's years
    series_data.SERIES.clear()
    again = build_site(store, [Territory(epci=EPCI)], tmp_path / "again", generated_at=WHEN)
    first = (tmp_path / "first" / again.reports[0].name).read_text(encoding="utf-8")
    assert again.reports[0].read_text(encoding="utf-8") == first
