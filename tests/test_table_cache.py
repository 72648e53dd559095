"""The indicator table of France is computed once per store version and code version, saved in the store, and
read back by every later report and export; another staging or another code computes it again."""

from __future__ import annotations

import os
import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from storage.store import Store
from transforms import table_cache
from transforms.compare import FlagRules
from transforms.pipeline import diagnostic_table, export_indicators
from transforms.territories import CustomTerritory, Territory


@pytest.fixture
def store(demo_store, tmp_path) -> Store:
    """A copy of the demo store with no table saved yet."""
    copy = Store(tmp_path / "data")
    shutil.copytree(demo_store.root, copy.root, ignore=shutil.ignore_patterns("cache"))
    return copy


def counted(calls: list):
    def compute(*args, **kwargs):
        calls.append(args)
        return diagnostic_table(*args, **kwargs)

    return compute


def cached(store: Store, calls: list, **kwargs) -> pl.DataFrame:
    with store.pinned() as state:
        return table_cache.diagnostic_table_cached(state, compute=counted(calls), **kwargs)


def saved(store: Store) -> list[str]:
    return sorted(p.name for p in (store.root / table_cache.CACHE_DIR).iterdir())


def test_the_saved_table_is_the_computed_one_and_is_read_back_without_computing(store):
    calls = []
    first = cached(store, calls)
    assert len(calls) == 1
    with store.pinned() as state:
        assert_frame_equal(first, diagnostic_table(state))  # the slow path, computed afresh
        [name] = saved(store)
        assert name == f"indicators-{table_cache.table_key(state)}.parquet"
    again = cached(store, calls)
    assert len(calls) == 1  # read from the file
    assert_frame_equal(again, first)


def test_another_staging_or_another_code_is_computed_again_and_old_tables_are_deleted(store, monkeypatch):
    calls = []
    cached(store, calls)
    key = f"rp_population/{store.latest_vintage('rp_population')}"
    record = store.previous(key)
    record.files["main"].fetched_at = "2026-12-02T00:00:00+00:00"  # a refresh that found nothing new upstream
    store.record(key, record)
    cached(store, calls)
    assert len(calls) == 1  # only what the staged tables were made from names the table

    record.staged.staged_at = "2026-12-03T00:00:00+00:00"  # a new staging of the census
    store.record(key, record)
    cached(store, calls)
    assert len(calls) == 2

    monkeypatch.setattr(table_cache, "code_version", lambda: "another release")
    cached(store, calls)
    assert len(calls) == 3
    assert len(saved(store)) == table_cache.KEEP  # the two newest; no temporary file left


def test_a_custom_territory_or_other_flag_rules_are_computed_and_not_saved(store):
    calls = []
    group = CustomTerritory(code="G1", name="Vignoble", communes=("44043", "44064"))
    cached(store, calls, customs=(group,))
    cached(store, calls, rules=FlagRules(vigilance_gap=0.2))
    assert len(calls) == 2 and not (store.root / table_cache.CACHE_DIR).exists()


def test_exports_of_a_territory_and_of_france_read_the_saved_table(store, tmp_path, monkeypatch):
    export_indicators(store, tmp_path / "france")
    calls = []
    monkeypatch.setattr("transforms.pipeline.diagnostic_table", counted(calls))
    table, paths = export_indicators(store, tmp_path / "epci", Territory(epci="200029940"))
    assert calls == [] and set(paths) == {"parquet", "csv", "xlsx"}
    france = pl.read_parquet(tmp_path / "france" / "indicateurs-france.parquet")
    # the EPCI's rows are France's rows of its communes, itself, its département(s) and France
    assert 0 < table.height < france.height
    assert set(table.filter(pl.col("level") == "EPCI")["code"].to_list()) == {"200029940"}


def test_a_table_given_in_parts_is_saved_as_the_whole_table_and_its_older_files_deleted(tmp_path):
    first = pl.DataFrame({"code": ["01001", "01002"], "value": [1.5, None]})
    second = pl.DataFrame({"code": ["01003"], "value": [3.0]})
    for n, stamp in enumerate(("a", "b")):  # two older tables of the name: the newest is kept (KEEP = 2)
        older = tmp_path / f"indicators-{stamp}.parquet"
        first.write_parquet(older)
        os.utime(older, ns=(n, n))
    path = tmp_path / "indicators-c.parquet"
    scan = table_cache.save_parts(iter([first, second]), path)
    assert_frame_equal(pl.read_parquet(path), pl.concat([first, second]))
    assert_frame_equal(scan.collect(), pl.concat([first, second]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["indicators-b.parquet", "indicators-c.parquet"]


def test_a_table_in_parts_for_a_store_that_cannot_be_written_to_is_still_given(tmp_path):
    parts = [pl.DataFrame({"code": ["01001"]}), pl.DataFrame({"code": ["01002"]})]
    path = tmp_path / "missing-folder" / "file-as-folder"
    (tmp_path / "missing-folder").write_text("a file where the cache folder should be")
    scan = table_cache.save_parts(iter(parts), path / "indicators-k.parquet")
    assert scan.collect()["code"].to_list() == ["01001", "01002"]


def test_a_table_in_parts_of_categories_is_saved_as_the_same_file_as_its_text(tmp_path):
    # the national Parquet export is a copy of the saved table: categories must not change its bytes
    kinds = pl.Enum(["count", "rate"])
    parts = [
        pl.DataFrame({"code": ["01001", "01002"], "unit": pl.Series(["rate", None], dtype=kinds)}),
        pl.DataFrame({"code": ["01003"], "unit": pl.Series(["count"], dtype=kinds)}),
    ]
    text = pl.DataFrame({"code": ["01001", "01002", "01003"], "unit": ["rate", None, "count"]})
    scan = table_cache.save_parts(iter(parts), tmp_path / "coded" / "indicators-k.parquet")
    table_cache.save_parts(iter([text]), tmp_path / "text" / "indicators-k.parquet")
    assert_frame_equal(scan.collect(), text)
    coded_file = (tmp_path / "coded" / "indicators-k.parquet").read_bytes()
    assert coded_file == (tmp_path / "text" / "indicators-k.parquet").read_bytes()


def test_categories_are_read_as_their_text_and_other_columns_are_left_alone():
    table = pl.DataFrame(
        {
            "level": pl.Series(["EPCI", "COM", None], dtype=pl.Enum(["COM", "EPCI"])),
            "code": ["200000172", "01001", "01002"],
            "value": [1.0, 2.0, None],
        }
    )
    expected = pl.DataFrame({"level": ["EPCI", "COM", None], "code": ["200000172", "01001", "01002"]})
    assert_frame_equal(table_cache.as_text(table).drop("value"), expected)
    assert_frame_equal(table_cache.as_text(table.lazy()).collect().drop("value"), expected)


def test_the_computed_table_keeps_its_text_columns_as_categories_and_is_read_as_text(store):
    from transforms.pipeline import diagnostic_table_parts

    coded = pl.concat(diagnostic_table_parts(store))
    text = diagnostic_table(store)
    categories = {name for name, dtype in coded.schema.items() if isinstance(dtype, pl.Enum)}
    assert {"level", "code", "indicator", "status", "name", "label", "flag", "source"} <= categories
    assert all(text.schema[name] == pl.String for name in categories)
    assert_frame_equal(table_cache.as_text(coded), text)
    # a category's order is its text's: sorting the coded table orders it as the text
    assert (
        coded.sort("name", "indicator", maintain_order=True)["name"].to_list()
        == text.sort("name", "indicator", maintain_order=True)["name"].to_list()
    )
