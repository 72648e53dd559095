"""Is a parsed file whole? Its coverage of the geography, and its row count against the previous staging.

A truncated or header-only file parses and validates cell by cell: only its size gives it away. After a parser
returns, `check` compares the staged table (in the target COG) with
- the entry's declared coverage (catalogue `coverage`): in every year of the file, the share of the geography's
  communes (or of its communes of at least `above_population` inhabitants, from the latest staged census), EPCI
  or départements present must reach `min_share`;
- the row count of the previous staging of the same entry (the manifest's record), else of the latest staged
  vintage of the source: a drop beyond the entry's `max_row_drop` is refused.
Both refuse the file unless the user accepts the drop for that source (`abs-diag refresh --accept-drop SOURCE`);
the accepted drop is then recorded in the manifest. A file with no row at the declared level is always refused.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import polars as pl

from sources.catalogue import Coverage, Entry
from sources.errors import Failure, SourceValidationError
from sources.geography import NO_EPCI, Geography
from sources.staging import Staged
from storage.manifest import StagedRecord
from storage.store import Store

# Where the population of `above_population` comes from: the census population, already in the target COG.
POPULATION_SOURCE, POPULATION_VARIABLE = "rp_population", "P_POP"
ROWS = "(rows)"
EMPTY_RULE = "the file holds rows of its level"


def check(entry: Entry, staged: Staged, geo: Geography | None, store: Store, *, accept: bool) -> dict | None:
    """Refuse a staged table that covers too little, or lost too many rows, unless `accept`.

    Returns the record of an accepted drop (for the manifest), or None when nothing had to be accepted.
    """
    spec = entry.file()
    file, raw_path = spec.member or spec.name, str(store.raw_path(entry, spec))
    fatal: list[Failure] = []
    shortfalls: list[Failure] = []
    if entry.coverage is not None and geo is not None:
        population = None
        if entry.coverage.above_population is not None:
            population = census_population(store)
            if population is None:
                staged.notes.append(
                    f"coverage of the communes of {entry.coverage.above_population:,} inhabitants or "
                    f"more not checked: {POPULATION_SOURCE} is not staged yet".replace(",", " ")
                )
        empty, short = coverage_failures(entry, staged.frame, geo, population)
        fatal += empty
        shortfalls += short
    previous = previous_rows(store, entry)
    drop = row_drop_failure(entry, staged.frame.height, previous)
    if drop is not None:
        shortfalls.append(drop)
    if fatal or (shortfalls and not accept):
        hint = f"to stage it anyway: abs-diag refresh --accept-drop {entry.source}"
        for failure in shortfalls:
            failure.samples.append(hint)
        raise SourceValidationError(entry.source, file, fatal + shortfalls, raw_path)
    if not shortfalls:
        return None
    staged.notes.append(
        f"accepted by the user (--accept-drop {entry.source}): "
        + "; ".join(f"{f.rule}: {f.samples[0]}" for f in shortfalls)
    )
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows_before": previous[0] if previous else None,
        "rows_after": staged.frame.height,
        "previous": previous[1] if previous else None,
        "accepted": [f.as_dict() for f in shortfalls],
    }


# -- coverage of the geography ---------------------------------------------------------------------------------

# levels whose coverage is counted in communes: COM, and IRIS (a commune is covered when it has an IRIS row)
COMMUNE_LEVELS = ("COM", "IRIS")


def coverage_failures(
    entry: Entry, frame: pl.DataFrame, geo: Geography, population: dict[str, float] | None
) -> tuple[list[Failure], list[Failure]]:
    """(no row at the level at all, years below the declared share) for the entry's coverage."""
    cov = entry.coverage
    assert cov is not None
    column = code_column(entry)
    present = _present(frame, cov.level, geo)
    if present.is_empty():
        sample = f"no {cov.level} row: an empty or header-only file"
        return [Failure(column, EMPTY_RULE + f" ({cov.level})", 1, [sample])], []
    expected = _expected(cov, geo, population)
    if not expected.codes:
        return [], []
    samples, count = [], 0
    total = len(expected.codes)
    for year, found in present.found_by_year(expected if cov.level in COMMUNE_LEVELS else None):
        share = min(found / total, 1.0)
        if share < cov.min_share:
            count += 1
            absent = sorted(expected.codes - present.codes_of(year))
            shown = (
                f"; absent: {', '.join(absent[:5])}{'…' if len(absent) > 5 else ''}"
                if cov.level in COMMUNE_LEVELS
                else ""
            )
            samples.append(f"{year}: {found} of {total} {expected.what} ({share:.0%}){shown}")
    if not count:
        return [], []
    rule = f"at least {cov.min_share:.0%} of the {expected.what} present in every year of the file"
    return [], [Failure(column, rule, count, samples[:5])]


def code_column(entry: Entry) -> str:
    """The file's own name of its code column, for messages."""
    return entry.params.get("code") or entry.columns().code or "code"


@dataclass(frozen=True)
class Expected:
    """The units a complete file covers, as a set and as a Series (for polars), and how to name them."""

    codes: frozenset[str]
    series: pl.Series
    what: str


def expected_units(codes: Iterable[str], what: str) -> Expected:
    frozen = frozenset(codes)
    return Expected(frozen, pl.Series("code", sorted(frozen), dtype=pl.String), what)


@dataclass(frozen=True)
class Present:
    """The units of a level a file has a row for, each (year, code) once: `pairs` (year, code, `run`: the index in
    `codes` of its code; in code then year order) and `cities` (year, code: a city present through its
    arrondissements only, not in `pairs`)."""

    pairs: pl.DataFrame
    codes: pl.Series
    cities: set[tuple[int, str | None]]

    def is_empty(self) -> bool:
        return self.pairs.is_empty() and not self.cities

    def found_by_year(self, expected: Expected | None) -> list[tuple[int, int]]:
        """(year, units present) in year order (a null year first): those of `expected` only when given, else
        every unit."""
        counted = pl.len()
        # a whole file's codes are the expected ones (about 35,000 compared in order); otherwise each distinct code
        # is looked up once, not each (year, code) pair (0.6 M for births)
        if expected is not None and not self.codes.equals(expected.series):
            missing = (~self.codes.is_in(expected.series.implode())).fill_null(True).arg_true()
            if not missing.is_empty():
                counted = (~pl.col("run").is_in(missing.implode())).sum()
        found = dict(self.pairs.group_by("year").agg(counted).rows())
        for year, code in self.cities:
            found[year] = found.get(year, 0) + int(expected is None or code in expected.codes)
        return sorted(found.items(), key=lambda item: (item[0] is not None, item[0]))

    def codes_of(self, year: int) -> set[str | None]:
        """The codes present in `year` (asked only for a year that falls short; a null year equals none)."""
        codes: set[str | None] = set(self.pairs.filter(pl.col("year") == year)["code"].to_list())
        return codes | {code for y, code in self.cities if y is not None and y == year}


def _present(frame: pl.DataFrame, level: str, geo: Geography) -> Present:
    """The units of `level` the file has a row for; an arrondissement counts for its city, an IRIS for its commune
    (first five characters: a city through its arrondissements' IRIS)."""
    if "level" not in frame.columns:
        return Present(pl.DataFrame(schema=PAIRS_SCHEMA), pl.Series("code", [], pl.String), set())
    # only the year and code of the rows at the level are copied (selecting columns copies nothing)
    at_level = frame["level"] == level
    whole = bool(at_level.all())
    code = pl.col("code").str.slice(0, 5) if level == "IRIS" else pl.col("code")
    rows = frame.select("year", "code") if whole else frame.select("year", "code").filter(at_level)
    pairs, codes = _code_years(rows.select("year", code=code))
    parents = _units(geo).parents
    if level == "IRIS":  # the IRIS of an arrondissement count for its city (an arrondissement without a city: as is)
        arm = pl.col("code").is_in(pl.Series([c for c, city in parents.items() if city is not None]).implode())
        arm_pairs = pairs.filter(arm).rows()
        pairs = pairs.filter(~arm) if arm_pairs else pairs
    elif level == "COM" and not whole:  # the arrondissements among the other rows
        others = frame.select("level", "year", "code").filter(~at_level)
        arm_pairs = others.filter(pl.col("level") == "ARM").select("year", "code").unique().rows()
    else:
        return Present(pairs, codes, set())
    # a few hundred pairs at most (45 arrondissements a year)
    cities = {(year, parents[code]) for year, code, *_ in arm_pairs if code in parents}
    return Present(pairs, codes, cities - _held(pairs, codes, {city for _, city in cities if city is not None}))


PAIRS_SCHEMA = {"year": pl.Int32, "code": pl.String, "run": pl.UInt32}


def _held(pairs: pl.DataFrame, codes: pl.Series, wanted: set[str]) -> set[tuple[int, str]]:
    """The (year, code) pairs of the codes `wanted` (a code's pairs are together: two binary searches)."""
    if not wanted:
        return set()
    runs = codes.is_in(pl.Series(sorted(wanted), dtype=pl.String).implode()).fill_null(False).arg_true()
    firsts, ends = pairs["run"].search_sorted(runs, side="left"), pairs["run"].search_sorted(runs, side="right")
    held: set[tuple[int, str]] = set()
    for first, end in zip(firsts.to_list(), ends.to_list(), strict=True):
        held |= set(pairs.slice(first, end - first).select("year", "code").iter_rows())
    return held


def _code_years(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """((year, code, run) of `rows` each once, in code then year order, `run` the index of its code in the second
    item: the distinct codes, in order). A staged table is in key order (level, code, year...): the first row of each
    (code, year) run is then enough, and already in order; checked on those rows, else hashed and sorted (hashing
    every run's first row cost births' 0.6 M rows 0.05-0.08 s of CPU)."""
    code, year = pl.col("code"), pl.col("year")
    new_code = (code != code.shift()).fill_null(True)
    if max(rows.n_chunks("all")) == 1:
        # each row compared with the row before as two slices of the same column, not against a shifted copy (births'
        # 0.6 M rows 3 ms less); a code's first row is the first of its run among the pairs too: `new_code` found there
        pairs = rows.filter(_changes(rows["code"]) | _changes(rows["year"])).with_columns(new_code=new_code)
    else:  # slices of chunked columns would not line up: polars would copy every row into one chunk first
        new_pair = pl.col("new_code") | (year != year.shift()).fill_null(True)
        pairs = rows.lazy().with_columns(new_code=new_code).filter(new_pair).collect()
    if not _in_order(pairs):  # a row out of order, or a null code or year
        pairs = pairs.drop("new_code").unique().sort("code", "year", nulls_last=False).with_columns(new_code=new_code)
    starts = pairs["new_code"]  # Series operations: each query's own cost (0.1-0.4 ms) counted on a small file
    run = (starts.cum_sum() - 1).cast(pl.UInt32).alias("run")
    return pl.DataFrame([pairs["year"], pairs["code"], run]), pairs["code"].filter(starts)


def _changes(values: pl.Series) -> pl.Series:
    """True where a value differs from the one before it: the first, and a null or the value after one, too."""
    if values.is_empty():
        return pl.Series(dtype=pl.Boolean)
    differs = (values.slice(1) != values.slice(0, values.len() - 1)).fill_null(True)
    return pl.Series([True]).append(differs)


def _in_order(pairs: pl.DataFrame) -> bool:
    """Codes increasing from one code's first pair to the next, years increasing within a code, none null (a code's
    first row is the first of its run among these rows too)."""
    code, year, new_code = pl.col("code"), pl.col("year"), pl.col("new_code")
    first_codes = code.filter(new_code)
    codes_up = (first_codes > first_codes.shift()).slice(1).fill_null(False).all()
    years_up = ((year > year.shift()) | new_code).slice(1).fill_null(False).all()
    no_null = (code.null_count() == 0) & (year.null_count() == 0)
    return bool(pairs.select(codes_up & years_up & no_null).item())


def _expected(cov: Coverage, geo: Geography, population: dict[str, float] | None) -> Expected:
    """The units a complete file covers, and how to name them."""
    units = _units(geo)
    if cov.level in COMMUNE_LEVELS and cov.above_population is not None:
        if population is None:
            return expected_units((), "")
        return units.above(population, cov.above_population)
    if cov.level in COMMUNE_LEVELS:
        return units.communes
    if cov.level == "EPCI":
        return units.epci
    if cov.level == "DEP":
        return units.departements
    return expected_units({"FR"}, "France row")


class TargetUnits:
    """A target geography's communes, EPCI, départements and arrondissements' cities, each built when first asked:
    once per Geography (every entry of a refresh shares one; about 6 ms each entry built them again)."""

    def __init__(self, geo: Geography):
        # the geography's tables, not the geography: it is this object's key in a weak dictionary
        self._communes, self._epci, self._target = geo.communes, geo.epci, geo.target
        # (id of a census population, bound) -> (that population, kept alive so that its id is not reused; units)
        self._above: dict[tuple[int, int], tuple[dict[str, float], Expected]] = {}

    def above(self, population: dict[str, float], bound: int) -> Expected:
        """The communes of at least `bound` inhabitants in `population` (8 ms each entry of big communes)."""
        known = self._above.get((id(population), bound))
        if known is None or known[0] is not population:
            communes = self.communes.codes
            big = (c for c, n in population.items() if n >= bound and c in communes)
            what = f"communes of {bound:,} inhabitants or more (census)".replace(",", " ")
            if len(self._above) >= 4:
                self._above.clear()
            known = self._above[(id(population), bound)] = (population, expected_units(big, what))
        return known[1]

    @cached_property
    def _com(self) -> pl.DataFrame:
        return self._communes.filter(pl.col("typecom") == "COM")

    @cached_property
    def communes(self) -> Expected:
        return expected_units(self._com["code"].to_list(), f"communes of COG {self._target}")

    @cached_property
    def epci(self) -> Expected:
        codes = self._epci.filter(pl.col("epci") != NO_EPCI)["epci"].to_list()
        return expected_units(codes, f"EPCI of COG {self._target}")

    @cached_property
    def departements(self) -> Expected:
        return expected_units(self._com["dep"].drop_nulls().to_list(), f"départements of COG {self._target}")

    @cached_property
    def parents(self) -> dict[str, str | None]:
        """Arrondissement code -> its city's code."""
        arrondissements = self._communes.filter(pl.col("typecom") == "ARM")
        return dict(zip(arrondissements["code"].to_list(), arrondissements["parent"].to_list(), strict=True))


_target_units: weakref.WeakKeyDictionary[Geography, TargetUnits] = weakref.WeakKeyDictionary()
_target_units_lock = threading.Lock()


def _units(geo: Geography) -> TargetUnits:
    with _target_units_lock:
        units = _target_units.get(geo)
        if units is None:
            units = _target_units[geo] = TargetUnits(geo)
        return units


def census_population(store: Store) -> dict[str, float] | None:
    """Commune code -> population of the latest census year staged; None when the census is not staged. Shared
    by the entries that ask while the staged table is the same file: never change it."""
    try:
        path = store.staged_path(POPULATION_SOURCE, store.latest_vintage(POPULATION_SOURCE))
        stat = path.stat()
    except FileNotFoundError:
        return None
    # read once per version of the file (0.07 s each time for France; four entries ask in a refresh)
    version = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _population_lock:
        if version not in _populations:
            if len(_populations) >= 2:
                _populations.pop(next(iter(_populations)))
            _populations[version] = _read_population(path)
        return _populations[version]


_populations: dict[tuple, dict[str, float] | None] = {}
_population_lock = threading.Lock()


def _read_population(path: Path) -> dict[str, float] | None:
    # one variable of a census table: scanned, not read whole
    pop = (
        pl.scan_parquet(path)
        .filter(
            (pl.col("level") == "COM") & (pl.col("variable") == POPULATION_VARIABLE) & pl.col("value").is_not_null()
        )
        .select("year", "code", "value")
        .collect()
    )
    if pop.is_empty():
        return None
    latest = pop.filter(pl.col("year") == pop["year"].max())
    return dict(latest.select("code", "value").iter_rows())


# -- rows against the previous staging -------------------------------------------------------------------------


def previous_rows(store: Store, entry: Entry) -> tuple[int, str] | None:
    """(rows, what they were) of the previous staging of this entry, else of the latest staged vintage."""
    staged = store.previous(entry.key).staged or StagedRecord()
    if staged.rows is not None:
        return int(staged.rows), f"{entry.key} staged {staged.staged_at or ''}".rstrip()
    try:
        vintage = store.latest_vintage(entry.source)
    except FileNotFoundError:
        return None
    other = store.previous(f"{entry.source}/{vintage}").staged or StagedRecord()
    rows = other.rows
    if rows is None:
        rows = pl.scan_parquet(store.staged_path(entry.source, vintage)).select(pl.len()).collect().item()
    return int(rows), f"{entry.source}/{vintage} staged {other.staged_at or ''}".rstrip()


def row_drop_failure(entry: Entry, rows: int, previous: tuple[int, str] | None) -> Failure | None:
    if previous is None or previous[0] == 0:
        return None
    before, what = previous
    drop = (before - rows) / before
    if drop <= entry.max_row_drop:
        return None
    rule = f"at most {entry.max_row_drop:.0%} fewer rows than the previous staging"
    return Failure(ROWS, rule, 1, [f"{_int(before)} rows in {what}, {_int(rows)} now (-{drop:.0%})"])


def _int(n: int) -> str:
    return f"{n:,}".replace(",", " ")
