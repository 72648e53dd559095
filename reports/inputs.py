"""The inputs a report reads: the staged tables it needs, read when first asked for, kept once per process.

`transforms.pipeline.load_inputs` reads every staged table the indicators need (1.9 GiB on France); a report
reads its rows from the cached indicator table and needs only a few staged tables itself (the census ages, the
births, the home-work flows) and the years of the others. `report_inputs` gives the same `Inputs`, with:

- `staged` a `LazyStaged` mapping: each table is read from its file the first time a section asks for it (any
  code that walks every table, e.g. computing the indicator table when it is not cached, still gets all of them);
- the main and comparison years of each source read from its `year` column alone (`ReportInputs`), kept in the
  store's cache per store state (`transforms.table_cache`);
- the age sums of every EPCI, département and France (`reports.ages.reference_age_sums`), kept in the store's
  cache per store state like the indicator table (`transforms.table_cache`): France's pyramid is never summed
  from its 35,000 communes again;
- the IRIS and QPV tables (`transforms.infra`) read when the infra-communal section first asks for them (a commune's
  report): an EPCI's report never reads France's 200 MB of them.

The inputs of a store state are kept per process (`INPUTS`): the reports of a national batch on one worker
share them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import polars as pl

from reports.shared import PerState, store_state
from storage.manifest import Manifest
from storage.store import Store
from transforms.compute import CENSUS_PREFIX, Inputs
from transforms.infra import INFRA_SOURCES, Infra
from transforms.pipeline import geography_fields, latest_vintages
from transforms.registry import indicators
from transforms.table_cache import cached_json

INPUTS = PerState(size=1)  # the report inputs of the last store state asked for


class LazyStaged(Mapping[str, pl.DataFrame]):
    """source -> its staged table, read from `paths[source]` the first time it is asked for, then kept."""

    def __init__(self, paths: dict[str, Path], years: dict[str, list[int]] | None = None):
        """`years`: the distinct years of tables known already (`years` reads the others' year column)."""
        self._paths = dict(paths)
        self._frames: dict[str, pl.DataFrame] = {}
        self._years: dict[str, list[int]] = dict(years or {})
        self._lock = threading.RLock()  # the reports of a national batch may share it across threads

    def __getitem__(self, source: str) -> pl.DataFrame:
        with self._lock:
            if source not in self._frames:
                self._frames[source] = pl.read_parquet(self._paths[source])  # KeyError: not staged
            return self._frames[source]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, source: object) -> bool:
        return source in self._paths

    @property
    def loaded(self) -> tuple[str, ...]:
        """The sources whose table was read so far."""
        with self._lock:
            return tuple(self._frames)

    def scan(self, source: str) -> pl.LazyFrame:
        """The table as a lazy scan: a filter reads only what it keeps (the table itself once it was read)."""
        with self._lock:
            frame = self._frames.get(source)
        return frame.lazy() if frame is not None else pl.scan_parquet(self._paths[source])

    def years(self, source: str) -> list[int]:
        """The distinct years of the table, read from its `year` column only."""
        with self._lock:
            if source not in self._years:
                self._years[source] = year_column(self.scan(source))
            return self._years[source]


def year_column(table: pl.LazyFrame) -> list[int]:
    """The distinct years of `table`'s `year` column, oldest first."""
    return sorted(table.select(pl.col("year").unique().drop_nulls()).collect()["year"].to_list())


@dataclass
class ReportInputs(Inputs):
    """`Inputs` whose staged tables are read lazily, with the stored age sums of the references."""

    # reports.ages.reference_age_sums: level, group, variable, value of every EPCI, DEP and FRANCE (None: unknown)
    age_references: pl.DataFrame | None = None

    def main_year(self, source: str) -> int | None:
        if not isinstance(self.staged, LazyStaged):  # a copy with plain tables (`dataclasses.replace`)
            return super().main_year(source)
        if source not in self.staged or not self.staged.years(source):
            return None
        return int(self.vintages[source]) if source.startswith(CENSUS_PREFIX) else max(self.staged.years(source))

    def comparison_year(self, source: str) -> int | None:
        if not isinstance(self.staged, LazyStaged):
            return super().comparison_year(source)
        main = self.main_year(source)
        if main is None or not source.startswith(CENSUS_PREFIX):
            return None
        earlier = [y for y in self.staged.years(source) if y <= main - 5]
        return max(earlier) if earlier else None

    def rows_of(self, source: str, communes: list[str], variables: list[str]) -> pl.DataFrame | None:
        """The commune rows of `source` for `communes` and `variables` only (None when it is not staged)."""
        keep = (pl.col("level") == "COM") & pl.col("code").is_in(communes) & pl.col("variable").is_in(variables)
        return staged_rows(self, source, keep)


def staged_rows(inputs: Inputs, source: str, keep: pl.Expr) -> pl.DataFrame | None:
    """The rows of `source`'s staged table that `keep` keeps, in the table's order (None when it is not staged):
    a filtered scan of its file when the table was not read (a section reading France's home-work flows or births
    whole for one territory's rows allocated a hundred MB or more)."""
    staged = inputs.staged
    if source not in staged:
        return None
    scan = staged.scan(source) if isinstance(staged, LazyStaged) else staged[source].lazy()
    return scan.filter(keep).collect()


def staged_years(inputs: Inputs, source: str) -> list[int]:
    """The distinct years of `source`'s staged table, oldest first (none when it is not staged)."""
    staged = inputs.staged
    if source not in staged:
        return []
    if isinstance(staged, LazyStaged):
        return staged.years(source)
    return sorted(staged[source]["year"].unique().drop_nulls().to_list())


def report_inputs(store: Store) -> ReportInputs:
    """The inputs of the reports of `store`'s state (pinned by the caller), built once per state and process."""
    return report_inputs_of_state(store, reports_state(store, store.manifest()))


def reports_state(store: Store, manifest: Manifest) -> str:
    """The name of `store`'s state (`reports.shared.store_state`, `manifest` its manifest) for the tables the
    reports read."""
    return store_state(store, manifest, latest_vintages(store, indicators()))


def report_inputs_of_state(store: Store, state: str) -> ReportInputs:
    """`report_inputs` of `store`, whose state `reports_state` named already (a report's site names it once: its
    manifest copied and hashed once, 2.7 ms each for France's)."""
    return INPUTS.get(state, "inputs", lambda: _report_inputs(store, latest_vintages(store, indicators())))


def _report_inputs(store: Store, vintages: dict[str, str]) -> ReportInputs:
    from reports.ages import stored_reference_age_sums  # reports.ages draws with reports.charts: imported late

    paths = {source: store.staged_path(source, vintage) for source, vintage in vintages.items()}
    missing = [f"{s}/{vintages[s]}" for s, p in paths.items() if not p.exists()]
    if missing:  # as load_inputs would: the store names a table it does not hold
        raise FileNotFoundError(f"{', '.join(missing)} is not staged in {store.root}: run `abs-diag refresh`")
    inputs = ReportInputs(
        # Inputs' readers only read `staged`: a read-only mapping stands in for its dict
        staged=cast(dict, LazyStaged(paths, _staged_years(store, paths))),
        vintages=vintages,
        **geography_fields(store),
        infra=lazy_infra(store),
    )
    inputs.age_references = stored_reference_age_sums(store, inputs)
    return inputs


def _staged_years(store: Store, paths: dict[str, Path]) -> dict[str, list[int]]:
    """The distinct years of each staged table, kept in the store's cache per store state
    (`transforms.table_cache.cached_json`; reading them from France's year columns cost each command about
    0.14 s of CPU) for the file they were read from: a table damaged or replaced since (another size or time of
    change) is left out, its years read from it again (and its damage found) when asked for."""
    kept = cached_json(store, "staged-years", lambda: {s: _years_of_file(p) for s, p in paths.items()})
    return {s: kept[s]["years"] for s, p in paths.items() if s in kept and kept[s]["file"] == _file_stamp(p)}


def _years_of_file(path: Path) -> dict:
    return {"file": _file_stamp(path), "years": year_column(pl.scan_parquet(path))}


def _file_stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def lazy_infra(store: Store) -> Infra:
    """`transforms.infra.load_infra` (the latest staged vintage of every infra-communal source), each table read
    the first time it is asked for."""
    vintages, paths = {}, {}
    for source in INFRA_SOURCES:
        try:
            vintages[source] = store.latest_vintage(source)
        except FileNotFoundError:
            continue
        paths[source] = store.staged_path(source, vintages[source])
        if not paths[source].exists():  # as load_infra would: the store names a table it does not hold
            raise FileNotFoundError(
                f"{source}/{vintages[source]} is not staged in {store.root}: run `abs-diag refresh`"
            )
    return replace(Infra(vintages=vintages), tables=cast(dict, LazyStaged(paths)))
