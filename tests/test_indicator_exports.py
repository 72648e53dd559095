"""The exports of `abs-diag indicators` read from the store's cached table (transforms/indicator_exports.py) are the
files the slow path writes; the CSV's number and formula rules hold on the short ways they now take."""

from __future__ import annotations

import filecmp
import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from storage.store import Store
from transforms import table_cache
from transforms.export import csv_numbers, neutralised, write_exports, write_exports_of_file
from transforms.indicator_exports import export_indicator_files
from transforms.pipeline import diagnostic_table, export_indicators
from transforms.territories import Territory


@pytest.fixture
def store(demo_store, tmp_path) -> Store:
    """A copy of the demo store with no table saved yet."""
    copy = Store(tmp_path / "data")
    shutil.copytree(demo_store.root, copy.root, ignore=shutil.ignore_patterns("cache"))
    return copy


def test_csv_numbers_whole_numbers_plain_others_with_a_decimal_comma():
    frame = pl.DataFrame({"v": [7458.0, -0.5, 12.345, -0.0, 0.0, None, 68_000_000.0, -3.0, 0.001]})
    # 7458.0 is whole: "7458"; -0.0 (a small negative rounded) is whole too: "0", never "-0"
    expected = ["7458", "-0,5", "12,345", "0", "0", None, "68000000", "-3", "0,001"]
    assert csv_numbers(frame)["v"].to_list() == expected


def test_csv_numbers_of_a_column_with_a_huge_value_stay_digits():
    # 1e16 + 7458 = 10,000,000,000,007,458 (exact in a double: below 2^53 * 2); polars would write 1e16 as
    # "1e+16": such a column takes the long way through an integer
    frame = pl.DataFrame({"v": [1e16 + 7458.0, 0.5, 2.0]})
    assert csv_numbers(frame)["v"].to_list() == ["10000000000007458", "0,5", "2"]


def test_the_formula_guard_rewrites_only_cells_that_start_a_formula():
    frame = pl.DataFrame({"name": ["=SUM(A1)", "Nantes", "-x", "@a"], "code": ["44109", "44043", "1", "2"]})
    out = neutralised(frame)
    assert out["name"].to_list() == ["'=SUM(A1)", "Nantes", "'-x", "'@a"]
    assert out["code"].to_list() == ["44109", "44043", "1", "2"]


@pytest.mark.parametrize("demo", [False, True])
def test_the_exports_of_a_saved_table_are_those_of_the_table(tmp_path, demo):
    table = pl.DataFrame(
        {
            "level": ["COM", "COM", "FRANCE"],
            "code": ["44109", "44043", "FR"],
            "name": ["=Nantes", "Clisson", "France"],
            "indicator": ["population"] * 3,
            "label": ["Population municipale"] * 3,
            "unit": ["count"] * 3,
            "value": [320_732.0, -0.25, 68_000_000.0],
            "numerator": [1e16 + 7458.0, 1.0, 2.0],  # a column the CSV writes the long way, through an integer
            "status": [None, None, "partial_coverage"],
            "evolution_unit": [None, "points", None],
            "flag": [None, "vigilance", None],
        }
    )
    table.write_parquet(tmp_path / "table.parquet")
    slow = write_exports(table, tmp_path / "slow", "t", demo=demo, formats=("parquet", "csv"))
    fast = write_exports_of_file(tmp_path / "table.parquet", tmp_path / "fast", "t", demo=demo)
    assert_frame_equal(pl.read_parquet(fast["parquet"]), pl.read_parquet(slow["parquet"]))
    assert filecmp.cmp(fast["csv"], slow["csv"], shallow=False)
    assert fast["csv"].read_bytes().startswith(b"\xef\xbb\xbf")
    text = fast["csv"].read_text(encoding="utf-8-sig")
    assert "'=Nantes" in text and ";10000000000007458;" in text and ";-0,25;" in text


def same_files(fast: dict, slow: dict) -> None:
    assert set(fast) == set(slow)
    assert_frame_equal(pl.read_parquet(fast["parquet"]), pl.read_parquet(slow["parquet"]))
    assert filecmp.cmp(fast["csv"], slow["csv"], shallow=False)


@pytest.mark.parametrize(
    "territory",
    [Territory(epci="200067346"), Territory(commune="44043"), Territory(commune="75101"), None],
    ids=["epci", "commune", "arrondissement", "france"],
)
def test_the_exports_read_from_the_cache_are_the_slow_paths(store, tmp_path, territory):
    table, slow = export_indicators(store, tmp_path / "slow", territory)
    fast = export_indicator_files(store, tmp_path / "fast", territory)
    same_files(fast.paths, slow)
    assert (fast.rows, fast.flags) == (table.height, table.filter(pl.col("flag").is_not_null()).height)


def test_a_territory_reads_only_its_rows_and_never_computes_the_table_again(store, tmp_path, monkeypatch):
    export_indicator_files(store, tmp_path / "france")  # computes and saves the table of France
    calls, read = [], []
    monkeypatch.setattr("transforms.pipeline.diagnostic_table", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(table_cache, "cached_table", lambda *a, **k: read.append(a))  # the whole table read
    fast = export_indicator_files(store, tmp_path / "epci", Territory(epci="200067346"))
    assert calls == [] and read == []
    assert 0 < fast.rows < pl.scan_parquet(table_cache.cache_path(store)).select(pl.len()).collect().item()


def test_a_custom_territory_is_computed_as_before(store, tmp_path):
    group = Territory(communes=("44043", "01001"), name="Groupe de test")
    table, slow = export_indicators(store, tmp_path / "slow", group)
    fast = export_indicator_files(store, tmp_path / "fast", group)
    same_files(fast.paths, slow)
    assert table.filter(pl.col("level") == "TERRITORY").height > 0


def test_france_from_a_store_that_cannot_keep_the_table(store, tmp_path, monkeypatch):
    monkeypatch.setattr(table_cache, "save", lambda table, path: None)  # nothing saved: computed in memory
    table, slow = export_indicators(store, tmp_path / "slow")
    fast = export_indicator_files(store, tmp_path / "fast")
    same_files(fast.paths, slow)
    assert fast.rows == diagnostic_table(store).height == table.height
