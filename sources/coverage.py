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

from datetime import UTC, datetime

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
    expected, what = _expected(cov, geo, population)
    if not expected:
        return [], []
    samples, count = [], 0
    # counted per year by polars (`present` is unique); the codes of a year come to Python only when it falls short
    counted = pl.col("code").is_in(sorted(expected)).sum() if cov.level in COMMUNE_LEVELS else pl.len()
    for year, found in present.group_by("year").agg(counted).sort("year").iter_rows():
        share = min(found / len(expected), 1.0)
        if share < cov.min_share:
            count += 1
            absent = sorted(expected - set(present.filter(pl.col("year") == year)["code"].to_list()))
            shown = (
                f"; absent: {', '.join(absent[:5])}{'…' if len(absent) > 5 else ''}"
                if cov.level in COMMUNE_LEVELS
                else ""
            )
            samples.append(f"{year}: {found} of {len(expected)} {what} ({share:.0%}){shown}")
    if not count:
        return [], []
    rule = f"at least {cov.min_share:.0%} of the {what} present in every year of the file"
    return [], [Failure(column, rule, count, samples[:5])]


def code_column(entry: Entry) -> str:
    """The file's own name of its code column, for messages."""
    return entry.params.get("code") or entry.columns().code or "code"


def _present(frame: pl.DataFrame, level: str, geo: Geography) -> pl.DataFrame:
    """(year, code) of the units of `level` the file has a row for; an arrondissement counts for its city."""
    if "level" not in frame.columns:
        return pl.DataFrame(schema={"year": pl.Int32, "code": pl.String})
    # lazy: only the year and code of the rows at the level are read (an eager filter copies every column first),
    # each (year, code) once
    lazy = frame.lazy()
    parents = geo.communes.lazy().filter(pl.col("typecom") == "ARM").select("code", city="parent")
    if level == "IRIS":  # an IRIS counts for its commune (first five characters), an arrondissement's for its city
        rows = lazy.filter(pl.col("level") == "IRIS").select("year", code=pl.col("code").str.slice(0, 5)).unique()
        rows = rows.join(parents, on="code", how="left").select("year", code=pl.coalesce("city", "code"))
        return rows.unique().collect()
    # a staged table is in key order (level, code, year...): a code's rows of a year come together, and keeping
    # the first of each run leaves `unique` a row per (code, year) to hash instead of one per variable
    new_run = ((pl.col("code") != pl.col("code").shift()) | (pl.col("year") != pl.col("year").shift())).fill_null(True)
    rows = lazy.filter(pl.col("level") == level).select("year", "code").filter(new_run).unique()
    if level == "COM":
        arms = lazy.filter(pl.col("level") == "ARM").select("year", "code").unique()
        cities = arms.join(parents, on="code").select("year", code="city")
        rows = pl.concat([rows, cities.cast(frame.select("year", "code").schema)])
    return rows.unique().collect()


def _expected(cov: Coverage, geo: Geography, population: dict[str, float] | None) -> tuple[set[str], str]:
    """The units a complete file covers, and how to name them."""
    communes = geo.communes.filter(pl.col("typecom") == "COM")
    if cov.level in COMMUNE_LEVELS and cov.above_population is not None:
        if population is None:
            return set(), ""
        codes = set(communes["code"].to_list())
        big = {c for c, n in population.items() if n >= cov.above_population and c in codes}
        return big, f"communes of {cov.above_population:,} inhabitants or more (census)".replace(",", " ")
    if cov.level in COMMUNE_LEVELS:
        return set(communes["code"].to_list()), f"communes of COG {geo.target}"
    if cov.level == "EPCI":
        return set(geo.epci.filter(pl.col("epci") != NO_EPCI)["epci"].to_list()), f"EPCI of COG {geo.target}"
    if cov.level == "DEP":
        return set(communes["dep"].drop_nulls().to_list()), f"départements of COG {geo.target}"
    return {"FR"}, "France row"


def census_population(store: Store) -> dict[str, float] | None:
    """Commune code -> population of the latest census year staged; None when the census is not staged."""
    try:
        path = store.staged_path(POPULATION_SOURCE, store.latest_vintage(POPULATION_SOURCE))
    except FileNotFoundError:
        return None
    if not path.exists():
        return None
    # one variable of a census table: scanned, not read whole
    pop = (
        pl.scan_parquet(path)
        .filter(
            (pl.col("level") == "COM") & (pl.col("variable") == POPULATION_VARIABLE) & pl.col("value").is_not_null()
        )
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
