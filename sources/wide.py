"""A wide file (one row per code, one column per variable) staged without sorting or screening millions of rows.

`melt` then `conclude` screen every rule on the long frame (one row per cell: 3 M rows for a census theme of
France) and sort it on its key; both cost more than reading the file. Where the file is wide, the same work is done
on its rows (35,000) and columns (a hundred):

- `parse_wide`: the cells parsed in place (a value and a status column per file column);
- `screen`: every rule of `validation.passes` evaluated column by column on the wide rows: a cell of the long
  frame is one (row, column) of the wide one, so "every long row passes" is "every wide column passes on every
  row". Like `passes`, a screen only: when it does not pass, the long frame goes to `validation.validate`, and
  pandera gives the error (file, column, rule, failing rows) as before;
- `long_in_key_order`: the long frame built row by row from the wide rows sorted on (level, code), the columns
  in (year, staged variable) order: the order `values.sorted_by_key` gives, without the sort.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from sources import catalogue
from sources.validation import KINDS, YEARS, RowCheck, Rules, _code_pattern_check
from sources.values import INVALID, MISSING, STATUSES

STATUS = "{}\x00status"  # the status column of a file column in the parsed wide frame


def parse_wide(
    frame: pl.DataFrame, index: dict[str, pl.Expr], columns: list[str], markers: dict[str, str], empty: str = MISSING
) -> pl.DataFrame:
    """`index` columns, then for each file column its Float64 value (same name) and its status (`STATUS`), as
    `values.with_parsed_cells` parses a cell, sorted on (level, code)."""
    status_of = {c: STATUS.format(c) for c in columns}
    # each step computed once as columns, as `values.with_parsed_cells` does (nested, they are computed again in
    # every branch): the text stripped, then the status, then the value
    wide = frame.lazy().select(*[e.alias(k) for k, e in index.items()], *[pl.col(c).str.strip_chars() for c in columns])
    number = {c: f"{c}\x00number" for c in columns}
    parsed = {number[c]: pl.col(c).str.replace(",", ".", literal=True).cast(pl.Float64, strict=False) for c in columns}
    wide = wide.with_columns(**parsed)
    wide = wide.with_columns(**{status_of[c]: _status(pl.col(c), pl.col(number[c]), markers, empty) for c in columns})
    value = {c: pl.when(pl.col(status_of[c]).is_null()).then(pl.col(number[c])) for c in columns}
    wide = wide.with_columns(**value).drop(*number.values())
    return wide.sort("level", "code", maintain_order=True).collect()


def _status(text: pl.Expr, number: pl.Expr, markers: dict[str, str], empty: str) -> pl.Expr:
    status = pl.when(text.is_null() | (text == "")).then(pl.lit(empty))
    if markers:  # a marker's status is never null, so "a marker" is "its replacement is not null"
        marker = text.replace_strict(markers, default=None, return_dtype=pl.String)
        status = status.when(marker.is_not_null()).then(marker)
    return status.when(number.is_null()).then(pl.lit(INVALID)).otherwise(pl.lit(None, dtype=pl.String))


def long_in_key_order(wide: pl.DataFrame, index: list[str], order: list[str]) -> pl.DataFrame:
    """One row per (wide row, column of `order`), row by row: index columns, `variable` (the file column name),
    `value`, `status`."""
    rows, width = wide.height, len(order)
    values = wide.unpivot(on=order, index=index, variable_name="variable", value_name="value")
    statuses = pl.concat([wide.get_column(STATUS.format(c)) for c in order]).alias("status")
    # unpivot stacks column after column: cell (row r, column k) sits at k * rows + r
    at = pl.Series(np.arange(rows * width, dtype=np.uint64))
    return values.with_columns(statuses)[(at % width) * rows + at // width]


def screen(
    wide: pl.DataFrame, rules: Rules, columns: dict[str, tuple[int, int | None]], known: RowCheck | None
) -> bool:
    """True when the long frame of `wide` surely passes `validation.staged_model`; `columns`: file column ->
    (year, cog of its codes) of its cells (no month). False sends the long frame to `validation.validate`."""
    if rules.extra_checks or not set(columns) <= set(rules.kinds):  # rules over long rows: judged on them
        return False
    if not all(YEARS[0] <= year <= YEARS[1] for year, _ in columns.values()):
        return False
    code, level = pl.col("code"), pl.col("level")
    checks = [
        code.is_not_null().all(),
        level.is_not_null().all(),
        level.is_in(list(rules.levels)).all(),
        pl.struct("level", "code").n_unique() == pl.len(),  # with distinct columns: the long key is unique
        _code_pattern_check(rules.levels).expr.all(),
    ]
    for name, (kind_low, kind_high) in _kind_bounds(rules, columns).items():
        value, status = pl.col(name), pl.col(STATUS.format(name))
        checks += [status.is_in(list(STATUSES)).all(), (value.is_null() | value.is_finite()).all()]
        checks.append((value.is_null() | ~value.is_finite() | _within(value, kind_low, kind_high)).all())
        for lvl, high in catalogue.plausible_max().get(rules.kinds[name], {}).items():
            if lvl not in rules.levels:
                continue
            checks.append(((level != lvl) | value.is_null() | ~value.is_finite() | (value <= high)).all())
    checks += _part_checks(rules, columns)
    try:
        if not all(r is True for r in wide.select(*[c.alias(f"rule_{i}") for i, c in enumerate(checks)]).row(0)):
            return False
        cogs = {cog for _, cog in columns.values()}
        codes = wide.select("level", "code")
        return known is None or all(
            codes.with_columns(cog=pl.lit(cog)).select(known.expr.all()).item() is True for cog in cogs
        )
    except pl.exceptions.PolarsError:
        return False


def _kind_bounds(rules: Rules, columns: dict) -> dict[str, tuple[float | None, float | None]]:
    return {name: KINDS[rules.kinds[name]][:2] for name in columns}


def _within(value: pl.Expr, low: float | None, high: float | None) -> pl.Expr:
    ok = pl.lit(True)
    if low is not None:
        ok = ok & (value >= low)
    if high is not None:
        ok = ok & (value <= high)
    return ok


def _part_checks(rules: Rules, columns: dict[str, tuple[int, int | None]]) -> list[pl.Expr]:
    """Each part <= its whole in the same row (same level, code; the same year: else not in one long key)."""
    checks = []
    for whole, parts in rules.part_pairs().items():
        for part in parts:
            if whole not in columns or part not in columns:
                continue
            if columns[whole][0] != columns[part][0]:  # never in the same (level, code, year): never compared
                continue
            value, whole_value = pl.col(part), pl.col(whole)
            comparable = (value.is_finite() & whole_value.is_finite() & (whole_value >= 0)).fill_null(False)
            checks.append((~comparable | (value <= whole_value + rules.part_tolerance)).all())
    return checks
