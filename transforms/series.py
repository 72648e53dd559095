"""Series: the value of every indicator, year by year, for every commune, EPCI, département, France and custom
territory, and the change since a baseline year.

One engine: `transforms.compute.compute` runs once per year on the staged tables restricted to that year, so every
year follows today's rules (ratios of sums, the publisher's figure where non-additive, secret and missing kept as
null plus a reason, each year's geography already brought to the target COG by the staging).

The years of an indicator are those of its *leading* source: the yearly source of its numerator (CAF benefits,
births, childcare coverage and places), else the census. For year Y, a yearly source gives its rows of Y only (a
year it does not hold is null with a reason, never another year's figure) and the census its latest year up to Y
(`Inputs.main_year` reads the census year from its vintage: the restricted inputs set it). Census years come from
every staged vintage, each year from the newest vintage that holds it (`series_inputs`). Growth and its natural and migratory
parts are evolutions between two censuses already: they have no series.

A definition break (`evolution = false` in the catalogue: the definition changed at the latest census) marks every
earlier year `comparable = false`: shown, never compared with the latest year.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import polars as pl

from transforms import reasons as R
from transforms.compute import CENSUS_PREFIX, Inputs, compute
from transforms.indicator_inputs import pruned, read_variables
from transforms.registry import PUBLISHED_SOURCES, THEMES, Indicator, indicators
from transforms.territories import CustomTerritory

EVOLUTION_KINDS = ("growth", "natural", "migration")
NO_BASELINE = "no_baseline"  # the baseline year is not in this indicator's series
NO_LATER_YEAR = "no_later_year"  # the baseline is the indicator's latest year: nothing to compare yet
REASONS_FR = {
    NO_BASELINE: "année de référence absente des données de cet indicateur",
    NO_LATER_YEAR: "aucune année publiée après l'année de référence",
}
# How a change since the baseline is expressed, per unit: points for rates, percent for counts and amounts.
CHANGE_UNITS = {
    "percent": "points",
    "per100": "points",
    "count": "percent",
    "euros": "percent",
    "index": "difference",
    "ratio": "difference",
}
SERIES_SCHEMA = {
    "level": pl.String,
    "code": pl.String,
    "indicator": pl.String,
    "year": pl.Int32,
    "value": pl.Float64,
    "status": pl.String,
    "numerator": pl.Float64,
    "denominator": pl.Float64,
    "source": pl.String,
    "comparable": pl.Boolean,
}


class BaselineError(ValueError):
    """The baseline year asked for is held by none of the yearly sources."""


def is_census(source: str) -> bool:
    return source.startswith(CENSUS_PREFIX)


def has_series(ind: Indicator) -> bool:
    return ind.kind not in EVOLUTION_KINDS


def leading_sources(ind: Indicator) -> tuple[str, ...]:
    """The staged sources whose years are the indicator's years (a published family: every scale of it)."""
    if ind.kind == "published":
        return tuple(dict.fromkeys(PUBLISHED_SOURCES[ind.published_term.source].values()))
    sources = list(dict.fromkeys(t.source for t in ind.terms))
    yearly = [s for s in sources if not is_census(s)]
    return tuple((yearly or sources)[:1])


def is_yearly(ind: Indicator) -> bool:
    """A yearly series (CAF, état civil, Filosofi), as opposed to census years."""
    return has_series(ind) and not any(is_census(s) for s in leading_sources(ind))


def _years_of(inputs: Inputs, sources: tuple[str, ...]) -> list[int]:
    years: set[int] = set()
    for source in sources:
        frame = inputs.staged.get(source)
        if frame is not None:
            years |= set(_lazy(frame).select(pl.col("year").unique().drop_nulls()).collect()["year"].to_list())
    return sorted(int(y) for y in years)


def _lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """A staged table as a lazy frame: `series_inputs` hands scans of the staged files, other callers tables."""
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def series_years(inputs: Inputs, ind: Indicator) -> list[int]:
    return _years_of(inputs, leading_sources(ind)) if has_series(ind) else []


def merge_vintages(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """vintage -> staged table of one source, as one table: each year from the newest vintage that holds it."""
    return merge_scans({vintage: frame.lazy() for vintage, frame in frames.items()}).collect()


def merge_scans(scans: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    """`merge_vintages` of lazy tables (scans of the staged files): only their years are read here."""
    kept, seen = [], set()
    for vintage in sorted(scans, reverse=True):
        scan = scans[vintage]
        years = scan.select(pl.col("year").unique(maintain_order=True)).collect()["year"].to_list()
        fresh = [y for y in years if y not in seen]
        seen |= set(fresh)
        kept.append(scan.filter(pl.col("year").is_in(fresh)))
    return pl.concat(kept, how="vertical_relaxed")


def for_year(
    inputs: Inputs,
    year: int,
    sources: set[str] | None = None,
    variables: dict[str, set[str]] | None = None,
    known_years: dict[str, list[int]] | None = None,
) -> Inputs:
    """The inputs as they would be if `year` were the latest: yearly sources hold only `year`, the census its
    latest year up to `year` (as vintage, which `Inputs.main_year` reads) and the comparison year before it, the
    only census years `compute` reads. Only these rows of `sources` (all by default) are read: the staged tables
    may be scans of their files (`series_inputs`); with `variables` (source -> the variables the indicators read,
    `transforms.indicator_inputs.read_variables`), only the rows of those (`transforms.indicator_inputs.pruned`:
    the years and levels each reader sees unchanged); `known_years` (source -> its years, `_known_years`) spares
    reading them again."""
    staged, vintages = {}, {}
    for source, table in inputs.staged.items():
        if sources is not None and source not in sources:
            continue
        scan = _lazy(table)
        if is_census(source):
            held = known_years[source] if known_years is not None else _years_of(inputs, (source,))
            years = [y for y in held if y <= year]
            if not years:
                continue
            earlier = [y for y in years if y <= years[-1] - 5]  # `Inputs.comparison_year`
            staged[source] = _read(scan.filter(pl.col("year").is_in(years[-1:] + earlier[-1:])), source, variables)
            vintages[source] = str(years[-1])
        else:
            staged[source] = _read(scan.filter(pl.col("year") == year), source, variables)
            vintages[source] = inputs.vintages[source]
    return replace(inputs, staged=staged, vintages=vintages)


UNREAD_COLUMNS = ("source", "vintage", "month")  # staged columns `compute` never reads: a third of the rows' size


def _read(rows: pl.LazyFrame, source: str, variables: dict[str, set[str]] | None) -> pl.DataFrame:
    """Rows of a staged table without the columns `compute` does not read, in the file's order (only those of
    the `variables` of `source` when given)."""
    if variables is not None:
        return pruned(rows, variables.get(source, set()))
    return rows.drop(UNREAD_COLUMNS, strict=False).collect()


def _break_year(inputs: Inputs, ind: Indicator) -> int | None:
    """First year of the current definition: the latest census year for an indicator without evolution."""
    if ind.evolution:
        return None
    census = "rp_population"  # its main year, as `Inputs.main_year` reads it (the tables may be scans here)
    return int(inputs.vintages[census]) if _years_of(inputs, (census,)) else None


def compute_series(
    inputs: Inputs, customs: tuple[CustomTerritory, ...] = (), items: tuple[Indicator, ...] | None = None
) -> pl.DataFrame:
    """level, code, indicator, year, value, status, numerator, denominator, source, comparable: one row per
    territory, indicator and year of its series (`compute_series_parts` in one frame)."""
    parts = list(compute_series_parts(inputs, customs, items, buckets=1))
    return pl.concat(parts, rechunk=False) if len(parts) > 1 else parts[0]


SERIES_BUCKETS = 6  # the sorted series of France comes in this many parts (12 million rows: 2 million each)


def compute_series_parts(
    inputs: Inputs,
    customs: tuple[CustomTerritory, ...] = (),
    items: tuple[Indicator, ...] | None = None,
    buckets: int = SERIES_BUCKETS,
) -> Iterator[pl.DataFrame]:
    """The rows of `compute_series` as consecutive parts, in order (a caller may write each as it comes:
    `transforms.table_cache.save_parts`). Year by year, holding only that year's inputs (never every vintage of
    every table at once), each year's rows written to a temporary file as they come; then the places, in their
    order (level, code), are cut into `buckets` runs of about as many rows, and each run's rows are read from
    every year's file, sorted and given: never the whole series in memory."""
    items = tuple(i for i in (items or indicators()) if has_series(i))
    known = _known_years(inputs)
    years = {i.id: sorted({y for s in leading_sources(i) for y in known.get(s, [])}) for i in items}  # series_years
    census = "rp_population"  # `_break_year`, from the years read once
    breaks = pl.DataFrame(
        {
            "indicator": [i.id for i in items],
            "break_year": [
                None if i.evolution or not known.get(census) else int(inputs.vintages[census]) for i in items
            ],
        },
        schema={"indicator": pl.String, "break_year": pl.Int32},
    )
    variables = read_variables(items)  # only the staged rows the indicators read
    with tempfile.TemporaryDirectory(prefix="series-") as folder:
        bucket_of: pl.Expr | None = None
        files: dict[int, list[Path]] = {}  # bucket -> its rows of each year, written as they come
        for year in sorted({y for ys in years.values() for y in ys}):
            chosen = tuple(i for i in items if year in years[i.id])
            read = {s for i in chosen for s in i.sources} | {"rp_population"}  # the census years of every one
            rows = _year_series(for_year(inputs, year, read, variables, known), customs, chosen, year, breaks)
            bucket_of = _bucket_rule(rows, buckets) if bucket_of is None else bucket_of
            for (bucket,), part in rows.with_columns(_bucket=bucket_of).partition_by("_bucket", as_dict=True).items():
                files.setdefault(bucket, []).append(Path(folder) / f"{bucket}-{year}.parquet")
                part.drop("_bucket").write_parquet(files[bucket][-1])
            del rows  # a year's table holds on to its inputs' buffers
        if not files:
            yield pl.DataFrame(schema=SERIES_SCHEMA)
            return
        for bucket in sorted(files):
            yield _sorted(pl.concat([pl.read_parquet(p) for p in files[bucket]], how="vertical_relaxed").lazy())


def _known_years(inputs: Inputs) -> dict[str, list[int]]:
    """source -> the years of its staged table, each table's year column read once (the tables may be scans)."""
    return {source: _years_of(inputs, (source,)) for source in inputs.staged}


def _bucket_rule(rows: pl.DataFrame, buckets: int) -> pl.Expr:
    """The bucket of a row's place: the places of `rows` in their order (level, code) cut into at most `buckets`
    consecutive runs of about as many rows; a place `rows` lacks falls in the run its order puts it in."""
    places = rows.group_by("level", "code").agg(_n=pl.len()).sort("level", "code")
    cut = (places["_n"].cum_sum() - places["_n"]) * buckets // max(int(places["_n"].sum()), 1)
    firsts = places.filter(cut.diff().fill_null(0) > 0)  # the first place of every run but the first
    bucket = pl.lit(0, pl.Int32)
    for level, code in firsts.select("level", "code").iter_rows():
        at_or_after = (pl.col("level") > level) | ((pl.col("level") == level) & (pl.col("code") >= code))
        bucket = bucket + at_or_after.cast(pl.Int32)
    return bucket


def _sorted(rows: pl.LazyFrame) -> pl.DataFrame:
    """The rows by level, code, indicator and year: one integer key orders them (sorting on the strings takes many
    times longer), then each column is read alone and put in that order (never the unsorted table whole)."""
    key = pl.lit(0, pl.UInt64)
    for column in ("level", "code", "indicator", "year"):
        values = rows.select(pl.col(column).unique().sort()).collect().to_series()
        rank = pl.col(column).replace_strict(values, range(len(values)), return_dtype=pl.UInt64)
        key = key * len(values) + rank  # a number whose order is that of (level, code, indicator, year)
    order = rows.select(key).collect(engine="streaming").to_series().arg_sort()
    names = rows.collect_schema().names()
    return pl.DataFrame([rows.select(name).collect().to_series().rechunk().gather(order) for name in names])


def _year_series(
    restricted: Inputs, customs: tuple, chosen: tuple[Indicator, ...], year: int, breaks: pl.DataFrame
) -> pl.DataFrame:
    """The series rows of one year: `compute` on the inputs restricted to it, with each indicator's source."""
    from transforms.pipeline import provenance  # pipeline imports the store; series stays usable without one

    result = compute(restricted, customs, chosen)
    sources = provenance(restricted, chosen).select("indicator", "source")
    return (
        result.join(sources, on="indicator", how="left")
        .join(breaks, on="indicator", how="left")
        .with_columns(year=pl.lit(year, pl.Int32))
        .with_columns(comparable=pl.col("break_year").is_null() | (pl.col("year") >= pl.col("break_year")))
        .select(list(SERIES_SCHEMA))
    )


def with_labels(series: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """The series with the territories' names and the indicators' theme, label and unit (for exports)."""
    items = indicators()
    meta = pl.DataFrame(
        {
            "indicator": [i.id for i in items],
            "theme_label": [THEMES[i.theme] for i in items],
            "label": [i.label for i in items],
            "unit": [i.unit for i in items],
        }
    )
    out = series.join(names, on=["level", "code"], how="left").join(meta, on="indicator", how="left")
    first = ["level", "code", "name", "theme_label", "indicator", "label", "unit", "year"]
    return out.select(first + [c for c in out.columns if c not in first])


# -- the baseline -------------------------------------------------------------------------------------------------


def yearly_years(inputs: Inputs, items: tuple[Indicator, ...] | None = None) -> dict[str, list[int]]:
    """leading source (or published family) -> its years, for the yearly indicators: the years a baseline can
    be taken from."""
    out = {}
    for ind in items or indicators():
        if is_yearly(ind):
            name = ind.published_term.source if ind.kind == "published" else leading_sources(ind)[0]
            years = series_years(inputs, ind)
            if years and len(years) > 1:
                out[name] = years
    return dict(sorted(out.items()))


def default_baseline(years: dict[str, list[int]]) -> int | None:
    """The oldest year every yearly source holds; when they share none, the latest of their first years."""
    if not years:
        return None
    common = set.intersection(*(set(ys) for ys in years.values()))
    return min(common) if common else max(min(ys) for ys in years.values())


def _span(years: list[int]) -> str:
    if years == list(range(years[0], years[-1] + 1)):
        return f"{years[0]}-{years[-1]}"
    return ", ".join(str(y) for y in years)


def check_baseline(baseline: int, years: dict[str, list[int]]) -> None:
    """BaselineError naming every yearly source and its years when none holds `baseline`."""
    if any(baseline in ys for ys in years.values()):
        return
    held = "; ".join(f"{name}: {_span(ys)}" for name, ys in years.items()) or "no yearly source is staged"
    raise BaselineError(f"baseline {baseline} is not a year of the staged data ({held}): choose one of these years")


def resolve_baseline(baseline: int | None, years: dict[str, list[int]]) -> int | None:
    """The baseline to use: the one asked for (checked), else the default."""
    if baseline is None:
        return default_baseline(years)
    check_baseline(baseline, years)
    return baseline


# -- the change since the baseline ---------------------------------------------------------------------------------


def changes(series: pl.DataFrame, baseline: int) -> pl.DataFrame:
    """One row per (level, code, indicator): the value at `baseline`, at the latest year of the indicator's
    series (and its status there), and the change between them (points for rates, percent for counts and amounts, a difference for
    indices), or null with `change_status` saying why (no baseline in this series, a definition break, a value
    unknown at either end)."""
    items = indicators()
    units = pl.DataFrame({"indicator": [i.id for i in items], "change_unit": [CHANGE_UNITS.get(i.unit) for i in items]})
    keys = ["level", "code", "indicator"]
    latest_year = series.group_by("indicator").agg(latest_year=pl.col("year").max())
    last = (
        series.join(latest_year, on="indicator")
        .filter(pl.col("year") == pl.col("latest_year"))
        .select(*keys, "latest_year", latest="value", latest_status="status")
    )
    base = series.filter(pl.col("year") == baseline).select(
        *keys, baseline="value", baseline_status="status", baseline_comparable="comparable"
    )
    out = last.join(base, on=keys, how="left").join(units, on="indicator", how="left")
    percent = pl.col("change_unit") == "percent"
    status = (
        pl.when(pl.col("latest_year") <= baseline)
        .then(pl.lit(NO_LATER_YEAR))
        .when(pl.col("baseline_comparable").is_null())
        .then(pl.lit(NO_BASELINE))
        .when(~pl.col("baseline_comparable"))
        .then(pl.lit(R.DEFINITION_CHANGE))
        .when(pl.col("baseline").is_null())
        .then(pl.coalesce("baseline_status", pl.lit(R.NOT_AVAILABLE)))
        .when(pl.col("latest").is_null())
        .then(pl.coalesce("latest_status", pl.lit(R.NOT_AVAILABLE)))
        .when(percent & (pl.col("baseline") == 0))
        .then(pl.lit(R.ZERO_DENOMINATOR))
    )
    change = (
        pl.when(percent)
        .then((pl.col("latest") - pl.col("baseline")) / pl.col("baseline") * 100)
        .otherwise(pl.col("latest") - pl.col("baseline"))
    )
    return (
        out.with_columns(change_status=status)
        .with_columns(
            baseline_year=pl.lit(baseline, pl.Int32),
            change=pl.when(pl.col("change_status").is_null()).then(change),
            change_unit=pl.when(pl.col("change_status").is_null()).then(pl.col("change_unit")),
        )
        .select(
            *keys,
            "baseline_year",
            "baseline",
            "latest_year",
            "latest",
            "latest_status",
            "change",
            "change_unit",
            "change_status",
        )
    )


def reason_fr(status: str | None) -> str:
    if status is None:
        return ""
    return REASONS_FR.get(status) or R.LABELS_FR.get(status, status)


def staged_vintages(store, source: str) -> list[str]:
    """Every vintage of `source` the store's manifest records as staged, oldest first."""
    return store.staged_vintages(source)  # read without a copy of the manifest (was 3 ms a source, 20 a report)


def series_inputs(store, inputs: Inputs) -> Inputs:
    """`inputs` (the latest vintage of each source) with every older staged vintage merged in, so that the years
    of older vintages (RP 2021 beside RP 2022, an older Filosofi once the catalogue lists it) join the series:
    each year from the newest vintage that holds it. The tables are lazy scans of the staged files (`for_year`
    reads one year's rows at a time): read within the caller's pinned store state."""
    staged: dict[str, pl.LazyFrame] = {}
    for source in inputs.staged:
        vintages = staged_vintages(store, source) or [inputs.vintages[source]]
        scans = {v: store.scan_staged(source, v) for v in vintages}
        staged[source] = merge_scans(scans) if len(scans) > 1 else scans[vintages[0]]
    return replace(inputs, staged=cast(dict, staged))  # `Inputs` declares tables: scans stand in for them here
