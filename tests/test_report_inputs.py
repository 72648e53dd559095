"""A report's inputs (reports.inputs): staged tables read when a section asks for them, the years of each source
from its `year` column, the age sums of the references kept per store state."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from reports import ages
from reports import inputs as inputs_module
from reports.inputs import INPUTS, LazyStaged, ReportInputs, lazy_infra, report_inputs, staged_rows, staged_years
from storage.store import Store
from transforms.infra import iris_table
from transforms.pipeline import load_inputs
from transforms.territories import FRANCE

EPCI = "200071678"  # CA du Choletais: Cholet, Maulévrier, Saint-Léger-sous-Cholet, La Séguinière


@pytest.fixture(scope="module")
def store(demo_store, tmp_path_factory):
    """A copy of the session's demo store: the age sums are written into its cache."""
    root = tmp_path_factory.mktemp("inputs") / "data"
    shutil.copytree(demo_store.root, root)
    return Store(root)


def test_a_staged_table_is_read_when_asked_for_only(store):
    with store.pinned() as pinned:
        paths = {s: pinned.staged_path(s, pinned.latest_vintage(s)) for s in ("births", "rp_population")}
    staged = LazyStaged(paths)
    assert "births" in staged and "deaths" not in staged and len(staged) == 2
    assert staged.years("births")[-1] == 2024  # gen_births: 2008 to 2024
    assert staged.loaded == ()  # membership, length and years read no table
    assert staged["births"].height == pl.read_parquet(paths["births"]).height
    assert staged.get("deaths") is None
    assert staged.loaded == ("births",)


def test_the_years_of_every_source_are_those_of_the_whole_tables(store):
    with store.pinned() as pinned:
        full, lazy = load_inputs(pinned), report_inputs(pinned)
    assert isinstance(lazy, ReportInputs) and list(lazy.staged) == list(full.staged)
    for source in full.staged:
        assert lazy.main_year(source) == full.main_year(source), source
        assert lazy.comparison_year(source) == full.comparison_year(source), source
    # the demo census is RP 2022 compared with 2016 (2022 - 6: the latest census at least 5 years earlier); the
    # Cnaf's 2024 files hold figures up to 2023
    assert (lazy.main_year("rp_population"), lazy.comparison_year("rp_population")) == (2022, 2016)
    assert lazy.main_year("caf_coverage_com") == 2023 and lazy.comparison_year("caf_coverage_com") is None


def test_the_stored_age_sums_equal_the_sums_of_the_communes(store):
    with store.pinned() as pinned:
        full, lazy = load_inputs(pinned), report_inputs(pinned)
    places = [("EPCI", EPCI), ("DEP", "49"), ("DEP", "85"), ("FRANCE", FRANCE), ("COM", "49099")]
    stored = ages.age_sums(lazy, (), places)  # EPCI, DEP and France from the cache, the commune summed
    summed = ages.age_sums(full, (), places)  # every one summed from its communes
    assert stored == summed
    # Cholet 54074 + Maulévrier 3240 + Saint-Léger-sous-Cholet 2810 + La Séguinière 4120 = 64244; the demo's
    # Maine-et-Loire holds these four communes only, France more
    assert stored[("EPCI", EPCI)]["P_POP"] == stored[("DEP", "49")]["P_POP"] == pytest.approx(64244)
    assert stored[("FRANCE", FRANCE)]["P_POP"] > 64244
    assert list(store.root.joinpath("cache").glob("age-sums-*.parquet"))  # kept for the next reports


def test_the_iris_tables_are_read_when_the_infra_section_asks_for_them(store):
    """An EPCI's report never reads France's IRIS tables; a commune's reads the same tables as load_infra."""
    with store.pinned() as pinned:
        full, lazy = load_inputs(pinned).infra, lazy_infra(pinned)
    assert full is not None and list(lazy.tables) == list(full.tables) and lazy.vintages == full.vintages
    assert "iris_reference" in lazy.tables and lazy.tables.loaded == ()  # the demo stages every IRIS source
    assert (
        lazy.qpv_of("49099")
        == full.qpv_of("49099")
        == [{"code": "QN04905M", "name": "Cholet Sud (démo)", "others": []}]
    )
    assert lazy.tables.loaded == ("qpv",)
    assert iris_table(lazy, "49099").equals(iris_table(full, "49099"))
    assert iris_table(full, "49099").height > 0  # Cholet is divided into IRIS in the demo: a real comparison
    assert lazy.tables.get("rp_iris_unknown") is None


def test_the_rows_of_a_staged_table_are_those_a_filter_of_the_whole_table_keeps(store):
    with store.pinned() as pinned:
        full, lazy = load_inputs(pinned), report_inputs(pinned)
    keep = (pl.col("level") == "COM") & pl.col("code").is_in(["49099", "85092"]) & (pl.col("year") == 2020)
    whole = full.staged["births"].filter(keep)
    assert whole.height > 0
    for inputs in (full, lazy):  # plain tables (load_inputs) and a filtered scan of the file
        assert staged_rows(inputs, "births", keep).equals(whole)
        assert staged_rows(inputs, "not_staged", keep) is None
        assert staged_years(inputs, "births") == list(range(2008, 2025))  # gen_births: 2008 to 2024
        assert staged_years(inputs, "not_staged") == []


def test_the_years_are_kept_in_the_store_cache_for_the_next_process(store, monkeypatch):
    with store.pinned() as pinned:
        report_inputs(pinned)  # reads the year columns once for this store state, and keeps them
    INPUTS.clear()  # as a new process would

    def no_year_column(table):
        raise AssertionError("a year column read again")

    monkeypatch.setattr(inputs_module, "year_column", no_year_column)
    with store.pinned() as pinned:
        lazy = report_inputs(pinned)
    # the demo census is RP 2022 compared with 2016; gen_births writes 2008 to 2024
    assert (lazy.main_year("rp_population"), lazy.comparison_year("rp_population")) == (2022, 2016)
    assert staged_years(lazy, "births") == list(range(2008, 2025))


def test_a_table_changed_since_its_years_were_kept_is_read_again(store, monkeypatch):
    with store.pinned() as pinned:
        report_inputs(pinned)  # the years kept in the cache
        births = pinned.staged_path("births", pinned.latest_vintage("births"))
    INPUTS.clear()
    table = pl.read_parquet(births)
    table.filter(pl.col("year") >= 2010).write_parquet(births)  # the same store state, another file
    try:
        with store.pinned() as pinned:
            assert staged_years(report_inputs(pinned), "births") == list(range(2010, 2025))
    finally:
        table.write_parquet(births)
        INPUTS.clear()
