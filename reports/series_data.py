"""The series every report of a store state shares (`transforms.series`), computed once per store state and kept
in the store (with custom territories: once per state and process), and the baseline year they are read from."""

from __future__ import annotations

import functools

import polars as pl

from reports.shared import PerState
from storage.store import Store
from transforms import series as S
from transforms.compute import Inputs
from transforms.pipeline import select
from transforms.table_cache import cached_json, cached_scan

SERIES = PerState(size=1)  # the series of every territory of France (with the custom territories asked for)


def site_series(
    store: Store, inputs: Inputs, customs: tuple, state: str, baseline: int | None, wanted: pl.Expr | None = None
) -> tuple[pl.DataFrame, int | None]:
    """(every territory's series, the baseline to read them from). The baseline asked for is checked against
    the staged years first (BaselineError names each yearly source and its years); None takes the default.
    Without custom territories the series of France is read from the store's cache (`transforms.table_cache`),
    only its rows that `wanted` keeps (all without it); with them, computed once per state and process."""
    full = functools.cache(lambda: S.series_inputs(store, inputs))  # every vintage: read only when computing
    if customs:
        baseline = S.resolve_baseline(baseline, S.yearly_years(full()))
        return SERIES.get(state, customs, lambda: S.compute_series(full(), customs)), baseline
    years = cached_json(store, "series-years", lambda: S.yearly_years(full()))
    baseline = S.resolve_baseline(baseline, years)
    scan = cached_scan(store, "series", lambda: S.compute_series_parts(full()))  # streamed when computed
    return (scan if wanted is None else scan.filter(wanted)).collect(), baseline


def cache_france_series(store: Store) -> int:
    """The series of every territory of France (and the years of its yearly sources) computed and kept in the
    store's cache, as `site_series` reads them, so that no report pays for them: the refresh's publication
    calls it. Its parts are written as they come (never the whole series in memory). Returns its rows."""
    from transforms.pipeline import scanned_inputs

    full = functools.cache(lambda: S.series_inputs(store, scanned_inputs(store)))
    cached_json(store, "series-years", lambda: S.yearly_years(full()))
    scan = cached_scan(store, "series", lambda: S.compute_series_parts(full()))
    return int(scan.select(pl.len()).collect().item())


def territory_series(series: pl.DataFrame | None, membership: pl.DataFrame, selection) -> pl.DataFrame | None:
    """The rows one report shows: its communes, itself, its EPCI(s), département(s) and France."""
    return None if series is None else select(series, membership, selection)
