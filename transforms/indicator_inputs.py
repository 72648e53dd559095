"""The staged rows the indicator table reads, and nothing else: the inputs of `transforms.pipeline.diagnostic_table`
read from lazy scans of the staged files.

A staged table is long (level, code, year, month, variable, value, status, geo_change, with its source and vintage
on every row): 16 million rows and 712 MiB in memory for France, of which the indicators read about a fifth (the
variables their terms and published figures name; the census ages, the home-work flows and most CAF variables
serve the reports only). `indicator_inputs(store, items)` reads each table through a scan that keeps only

- the columns `compute` reads (`READ_COLUMNS`: not the source, vintage and month repeated on every row), and
- the rows of the variables the indicators read (`read_variables`), a filter Parquet pushes down;

so the table of France is computed from a few hundred MiB, not 2.3 GiB of resident memory.

What `compute` learns of a table besides those rows is which years it holds at which level (the main and
comparison years, whether a source publishes anything by arrondissement, the latest year of a published file):
for every (level, year) of the whole table that none of the kept rows has, the pruned table keeps one row with a
null variable (and null code, value, status), which no reader takes for a value: the years and levels each reader
sees are those of the whole table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import polars as pl

from transforms.compute import Inputs
from transforms.partial import POPULATION
from transforms.registry import PUBLISHED_SOURCES, Indicator, Term

READ_COLUMNS = ("level", "code", "year", "variable", "value", "status", "geo_change")
PLACE_COLUMNS = ("level", "year")  # what `compute` learns of a table besides its values (module docstring)
GROWTH_KINDS = ("growth", "natural", "migration")


def read_variables(items: tuple[Indicator, ...]) -> dict[str, set[str]]:
    """source -> the variables of it that the indicators read (their terms, the census population of growth and
    of the weights of `transforms.partial`, a published figure at every level of its family)."""
    population = Term.parse(POPULATION.split("|", 1)[0])
    out: dict[str, set[str]] = {population.source: {population.variable}}
    for ind in items:
        if ind.kind == "published":
            term = ind.published_term
            for source in PUBLISHED_SOURCES[term.source].values():
                out.setdefault(source, set()).add(term.variable)
            continue
        for t in ind.terms:
            out.setdefault(t.source, set()).add(t.variable)
    return out


def pruned(scan: pl.LazyFrame, variables: set[str]) -> pl.DataFrame:
    """The rows of `variables` of a staged table (its `READ_COLUMNS`, in the file's order), and one row with a null
    variable for each (level, year) of the table that these rows lack (module docstring)."""
    columns = [c for c in READ_COLUMNS if c in scan.collect_schema().names()]
    kept = scan.select(columns).filter(pl.col("variable").is_in(sorted(variables))).collect(engine="streaming")
    places = scan.select(PLACE_COLUMNS).unique().collect(engine="streaming")
    missing = places.join(_places_of(kept), on=list(PLACE_COLUMNS), how="anti", nulls_equal=True)
    if missing.is_empty():
        return kept
    markers = missing.sort(PLACE_COLUMNS).select(
        *[pl.col(c) if c in PLACE_COLUMNS else pl.lit(None, kept.schema[c]).alias(c) for c in columns]
    )
    return pl.concat([kept, markers])


def _places_of(rows: pl.DataFrame) -> pl.DataFrame:
    """The distinct (level, year) of staged rows: the years of each level's run when the rows are sorted by level
    (a staged table is), else the rows left after dropping a row of the same pair as the row before it hashed."""
    level, year = rows["level"], rows["year"]
    if rows.height and not level.null_count() and not year.null_count() and level.is_sorted():
        return _places_of_sorted(level, year)
    first = pl.int_range(pl.len()) == 0
    another = pl.any_horizontal(pl.col(c).ne_missing(pl.col(c).shift()) for c in PLACE_COLUMNS)
    return rows.select(PLACE_COLUMNS).filter(first | another).unique()


def _places_of_sorted(level: pl.Series, year: pl.Series) -> pl.DataFrame:
    """`_places_of` of rows sorted by level: each level's run found by a binary search, its years counted
    (France's 8 M kept rows: about 0.15 to 0.04 s of CPU, no string compared but in the order's check)."""
    pairs: list[tuple[str, int]] = []
    start, years = 0, year.to_numpy()
    while start < level.len():
        name = level[start]
        end = int(level.search_sorted(name, side="right"))
        least = int(years[start:end].min())
        counts = np.bincount(years[start:end] - least)
        pairs += [(name, least + int(y)) for y in np.flatnonzero(counts)]
        start = end
    return pl.DataFrame(pairs, schema={"level": level.dtype, "year": year.dtype}, orient="row")


def pruned_inputs(inputs: Inputs, scans: Mapping[str, pl.LazyFrame], items: tuple[Indicator, ...]) -> Inputs:
    """`inputs` whose staged tables are the pruned reads of `scans` (source -> a scan of its staged table): every
    source of `scans` is kept (a source whose variables no indicator reads keeps its marker rows only)."""
    variables = read_variables(items)
    staged = {source: pruned(scan, variables.get(source, set())) for source, scan in scans.items()}
    return replace(inputs, staged=staged)


def scans_of(inputs: Inputs) -> dict[str, pl.LazyFrame] | None:
    """source -> a lazy scan of each staged table when `inputs` reads them lazily (`reports.inputs.LazyStaged`:
    a report computing the table when it is not cached), else None (the tables are in memory already)."""
    staged = inputs.staged
    scan = getattr(staged, "scan", None)
    if scan is None:
        return None
    return {source: scan(source) for source in staged}
