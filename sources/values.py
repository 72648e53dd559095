"""The staged long format, and turning raw text cells into a value plus the reason it is missing.

Every staged table has the same columns (`STAGED_SCHEMA`): one row per (level, code, year, month, variable), a
Float64 `value`, and a `status` that is null for a published value and says why otherwise. A missing value is
never 0 (decisions.md "Missing values").
"""

from __future__ import annotations

import numpy as np
import polars as pl

# Reasons a staged value is null.
SECRET = "secret"  # the publisher's confidentiality rule
NOT_AVAILABLE = "not_available"  # publisher's `nd`, a commune that did not exist, a column absent from the vintage
MISSING = "missing"  # an empty cell the publisher does not explain
NON_RECALCULABLE = "non_recalculable"  # geography change: a non-additive value of a merged or split commune
INVALID = "invalid"  # neither a number nor a known marker: a validation failure, never staged
STATUSES = (SECRET, NOT_AVAILABLE, MISSING, NON_RECALCULABLE)

# What happened to a row when it was brought into the target COG.
MERGED = "merged"  # counts of several old communes summed into the new one
SPLIT = "split"  # the row covers a parent and communes restored later: valid above the commune only
RENAMED = "renamed"  # the code changed (MOD 41/50)

LEVELS = ("COM", "ARM", "EPCI", "DEP", "REG", "FRANCE")

STAGED_SCHEMA = {
    "source": pl.String,
    "vintage": pl.String,
    "level": pl.String,
    "code": pl.String,
    "year": pl.Int32,
    "month": pl.Int8,
    "variable": pl.String,
    "value": pl.Float64,
    "status": pl.String,
    "geo_change": pl.String,
}
KEY = ["level", "code", "year", "month", "variable"]


def parse_cells(raw: pl.Expr, markers: dict[str, str], empty: str = MISSING) -> tuple[pl.Expr, pl.Expr]:
    """(value, status) expressions for a text column: numbers with `.` or `,` decimals, markers -> reason.

    A cell that is neither a number nor a known marker gets status INVALID, which validation refuses.
    """
    text = raw.str.strip_chars()
    number = text.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)
    status = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit(empty))
        .when(text.is_in(list(markers)))
        .then(text.replace_strict(markers, default=None, return_dtype=pl.String))
        .when(number.is_null())
        .then(pl.lit(INVALID))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    value = pl.when(status.is_null()).then(number).otherwise(pl.lit(None, dtype=pl.Float64))
    return value, status


def melt(
    frame: pl.DataFrame, *, index: dict[str, pl.Expr], columns: list[str], markers: dict[str, str], empty: str = MISSING
) -> pl.DataFrame:
    """Wide text frame -> long frame with `variable` (the source's column name), `value` and `status`.

    `index` maps the staged key columns (level, code, year, month) to expressions over `frame`.
    """
    keyed = frame.lazy().select(*[expr.alias(name) for name, expr in index.items()], *columns)
    long = keyed.unpivot(on=columns, index=list(index), variable_name="variable", value_name="raw")
    # streamed: the text cells and the intermediate columns of their parsing are never all held at once
    return with_parsed_cells(long, "raw", markers, empty).collect(engine="streaming")


def with_parsed_cells(cells: pl.LazyFrame, raw: str, markers: dict[str, str], empty: str = MISSING) -> pl.LazyFrame:
    """`cells` with `value` and `status` parsed from its text column `raw` (dropped), as `parse_cells` says, each
    step computed once as a column: the expressions of `parse_cells` nest the stripped text and the number in
    every branch, evaluated again in each (five times the work on a table of millions of cells)."""
    text, number = pl.col("_text"), pl.col("_number")
    cells = cells.with_columns(_text=pl.col(raw).str.strip_chars()).drop(raw)
    cells = cells.with_columns(_number=text.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False))
    # a marker's status is never null, so "a marker" is "its replacement is not null"
    marker = text.replace_strict(markers, default=None, return_dtype=pl.String) if markers else pl.lit(None, pl.String)
    status = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit(empty))
        .when(marker.is_not_null())
        .then(marker)
        .when(number.is_null())
        .then(pl.lit(INVALID))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    cells = cells.with_columns(status=status)
    value = pl.when(pl.col("status").is_null()).then(number).otherwise(pl.lit(None, dtype=pl.Float64))
    return cells.with_columns(value=value).drop("_text", "_number").select(pl.exclude("status"), "status")


def runs(frame: pl.DataFrame, columns: list[str]) -> tuple[pl.Series, pl.DataFrame]:
    """The run of each row (0, 1, ...: a run is the consecutive rows equal in every one of `columns`, nulls equal)
    and the first row of each run (`columns` only), in order."""
    if not frame.height:
        return pl.Series("run", [], pl.UInt32), frame.select(columns)
    # polars' own run-length encoding, the runs numbered by numpy (`rle_id` takes as long again)
    if len(columns) == 1:
        encoded = frame.get_column(columns[0]).rle().struct.unnest()
        lengths = encoded.get_column("len").to_numpy()
        return _numbered(lengths), encoded.select(pl.col("value").alias(columns[0]))
    # several columns: a run starts where any column's own run starts (the same runs as those of a struct of the
    # columns, nulls equal alike, at half its CPU: a census theme's level and code 44 against 18 ms)
    starts = np.zeros(frame.height, bool)
    for column in columns:
        lengths = frame.get_column(column).rle().struct.field("len").to_numpy()
        starts[np.cumsum(lengths) - lengths] = True
    first_rows = np.flatnonzero(starts)
    lengths = np.diff(first_rows, append=frame.height)
    return _numbered(lengths), frame.select(columns).gather(first_rows)


def _numbered(lengths: np.ndarray) -> pl.Series:
    """The run of each row (0, 1, ...), from the runs' lengths in order."""
    return pl.Series("run", np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths))


def run_lengths(run: pl.Series, count: int) -> pl.Series:
    """The number of rows of each of `count` runs, from the run of each row (`runs`)."""
    return pl.Series("rows", np.bincount(run.to_numpy(), minlength=count))


def per_run(frame: pl.DataFrame, columns: str | list[str], **computed: pl.Expr) -> pl.DataFrame:
    """`frame` with the columns `computed` from `columns` alone, row by row (no aggregate), each computed once per
    run of rows equal in `columns` (`runs`) and spread to the rows of its run: for columns whose rows come grouped
    (a file's periods, levels, places), the work of a few values instead of every row's."""
    run, firsts = runs(frame, [columns] if isinstance(columns, str) else columns)
    values = firsts.select(**computed)
    return frame.with_columns(values.get_column(name).gather(run) for name in computed)


def stripped(cells: pl.Series) -> pl.Series:
    """`cells.str.strip_chars()` of a column whose cells come in runs of equal cells (a long file's levels, places
    and flags): each run stripped once, and the cells kept as they are when no run changes (about 22 ns a row
    stripped, 5 ns a row to find the runs)."""
    encoded = cells.rle().struct.unnest()
    if 2 * encoded.height > cells.len():  # hardly any runs: stripped row by row
        return cells.str.strip_chars()
    values = encoded.get_column("value")
    stripped_values = values.str.strip_chars()
    if stripped_values.equals(values):
        return cells
    lengths = encoded.get_column("len").to_numpy()
    run = pl.Series(np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths))
    return stripped_values.gather(run).alias(cells.name)


# dropping at most this many rows leaves the others as slices of the frame; more, they are copied by a filter
FEW_DROPPED = 64


def without_rows(frame: pl.DataFrame, drop: pl.Series) -> pl.DataFrame:
    """`frame.filter(~drop)` (a null in `drop` drops its row, as there). A few rows dropped leave the others as
    slices of `frame` (views): the filter copies every cell of the rows kept (47 ms of CPU to drop 5 of the CAF
    benefits' 175,000 rows of 29 text columns)."""
    dropped = drop.fill_null(True).arg_true().to_list()
    if not dropped:
        return frame
    if len(dropped) > FEW_DROPPED:
        return frame.filter(~drop)
    pieces, start = [], 0
    for row in [*dropped, frame.height]:
        if row > start:
            pieces.append(frame.slice(start, row - start))
        start = row + 1
    return pl.concat(pieces, rechunk=False) if pieces else frame.clear()


def finish(long: pl.DataFrame, source: str, vintage: str, *, sort: bool = True) -> pl.DataFrame:
    """Add the source columns, fill absent optional columns and order everything as `STAGED_SCHEMA` (the rows by
    `KEY` unless `sort` is False: staging sorts once, at the end)."""
    defaults = {"month": pl.lit(None, pl.Int8), "geo_change": pl.lit(None, pl.String)}
    long = long.with_columns(
        source=pl.lit(source), vintage=pl.lit(vintage), **{k: v for k, v in defaults.items() if k not in long.columns}
    )
    long = long.select([pl.col(c).cast(t) for c, t in STAGED_SCHEMA.items()])
    return sorted_by_key(long) if sort else long


def empty_staged() -> pl.DataFrame:
    return pl.DataFrame(schema=STAGED_SCHEMA)


# at most this many rows are sorted on their key columns themselves (2,000 rows 0.38 against 1.2 ms ranked; 20,000
# rows 5.0 against 6.0 ms; 200,000 rows 86 against 36 ms)
FEW_TO_SORT = 10_000


def sorted_by_key(frame: pl.DataFrame, columns: list[str] | None = None) -> pl.DataFrame:
    """`frame.sort(columns)` (default `KEY`; nulls first, ascending) by one integer per row instead of the
    columns themselves: each string column replaced by its rank among its distinct values (an Enum of the sorted
    values, a hash lookup per row), each integer by its offset from the smallest, packed in one UInt64. Sorting
    millions of rows by strings compared pairwise was most of staging; one integer sorts several times faster.
    Rows with equal keys keep their order. Keys too wide to pack (over 64 bits) are sorted the usual way, and so
    are a few rows (`FEW_TO_SORT`), where ranking each column costs more than comparing the rows (a few hundred
    moved communes' rows 0.65 against 0.06 ms of CPU)."""
    columns = columns or KEY
    if frame.height <= FEW_TO_SORT:
        return frame.sort(columns, maintain_order=True)
    parts, width = [], 0
    for name in reversed(columns):  # the last column in the low bits
        rank, size = _rank(frame, name)
        bits = max(size, 1).bit_length()
        parts.append((rank, width))
        width += bits
    if width > 64:
        return frame.sort(columns, maintain_order=True)
    packed = pl.sum_horizontal([rank.cast(pl.UInt64) * (1 << shift) for rank, shift in parts])
    return frame.sort(packed, maintain_order=True)


def _rank(frame: pl.DataFrame, name: str) -> tuple[pl.Expr, int]:
    """(an expression giving each row the rank of its `name` value, null first as 0; the largest rank)."""
    column, dtype = pl.col(name), frame.schema[name]
    if dtype == pl.String:
        values = frame.select(column.drop_nulls().unique().sort())[name]
        return column.cast(pl.Enum(values)).to_physical().cast(pl.UInt64).add(1).fill_null(0), values.len()
    if dtype == pl.Boolean:
        return column.cast(pl.UInt64).add(1).fill_null(0), 2
    low, high = frame.select(column.min(), column.max().alias("high")).row(0)
    if low is None:  # every value null
        return pl.lit(0, pl.UInt64), 0
    return (column.cast(pl.Int64) - low + 1).cast(pl.UInt64).fill_null(0), int(high - low + 1)
