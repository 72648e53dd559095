"""A wide file (one row per code, one column per variable) staged without sorting or screening millions of rows.

`melt` then `conclude` screen every rule on the long frame (one row per cell: 3 M rows for a census theme of
France) and sort it on its key; both cost more than reading the file. Where the file is wide, the same work is done
on its rows (35,000) and columns (a hundred):

- `parse_wide`: the cells parsed in place (a value and a status column per file column);
- `screen`: every rule of `validation.passes` evaluated column by column on the wide rows: a cell of the long
  frame is one (row, column) of the wide one, so "every long row passes" is "every wide column passes on every
  row". Like `passes`, a screen only: when it does not pass, the long frame goes to `validation.validate`, and
  pandera gives the error (file, column, rule, failing rows) as before;
- `long_in_key_order`: the long frame built row by row from the wide rows sorted on (level, code[, year,
  month]), the columns in (year, staged variable) order: the order `values.sorted_by_key` gives, without the sort.

`conclude(..., screened=True)` then neither validates nor sorts again, and `Geography.harmonise`
puts the rows of merged communes in place. The census (one row per code, the year in the column name) and the CAF
benefits (one row per code and December: `screened_long`, the city rows summed from the arrondissements screened
and put in place by `with_rows_in_place`) are staged this way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from sources import catalogue
from sources.catalogue import Entry
from sources.geography import Geography, _inserted
from sources.reading import read_csv_frame
from sources.validation import KINDS, MONTHS, YEARS, RowCheck, Rules, _code_pattern_check, known_codes_check, passes
from sources.values import INVALID, KEY, MISSING, STATUSES, finish, melt, sorted_by_key

STATUS = "{}\x00status"  # the status column of a file column in the parsed wide frame


def parse_wide(
    frame: pl.DataFrame, index: dict[str, pl.Expr], columns: list[str], markers: dict[str, str], empty: str = MISSING
) -> pl.DataFrame:
    """`index` columns, then for each file column its Float64 value (same name) and its status (`STATUS`), as
    `values.with_parsed_cells` parses a cell, sorted on the index columns of the key (level, code, year, month)."""
    status_of = {c: STATUS.format(c) for c in columns}
    number = {c: f"{c}\x00number" for c in columns}
    # Eager steps: planning one lazy query of a hundred columns times four expressions costs more than the work on
    # a small file (25 ms for one row)
    wide = frame.select(*[e.alias(k) for k, e in index.items()], *columns)
    wide = wide.with_columns(**{number[c]: pl.col(c).cast(pl.Float64, strict=False) for c in columns})
    # a text that casts as it is needs no stripping (a number with spaces around does not cast) nor a status, and
    # is no marker (none may be a number): only the columns with cells that did not cast are read further, those
    # cells exactly a marker or empty (most) by a comparison, then a decimal comma; a column with other cells
    # (spaces around, invalid text) is parsed cell by cell. A census theme's parse 0.29 -> 0.1 s of CPU;
    # Filosofi's communes (nine cells in ten secret, decimal commas) 145 -> 60 ms
    if _a_marker_is_a_number(markers):
        texts = list(columns)
    else:
        uncast = [c for c in columns if wide.get_column(number[c]).null_count() > wide.get_column(c).null_count()]
        statuses = {c: _marked_status(pl.col(c), markers, empty) for c in uncast}
        wide = wide.with_columns(**{status_of[c]: statuses[c] for c in uncast})
        # then the cells with a decimal comma (no spaces around) where some are left
        commas = _with_odd_cells(wide, uncast, number, status_of)
        wide = wide.with_columns(**{number[c]: _comma_number(pl.col(c), number[c], status_of[c]) for c in commas})
        texts = _with_odd_cells(wide, commas, number, status_of)
        numeric = [c for c in columns if c not in uncast]
        wide = wide.with_columns(**{status_of[c]: _numeric_status(wide.get_column(c), empty) for c in numeric})
    wide = wide.with_columns(**{c: pl.col(c).str.strip_chars() for c in texts})
    wide = wide.with_columns(**{number[c]: pl.col(c).cast(pl.Float64, strict=False) for c in texts})
    wide = _decimal_commas_parsed(wide, texts, number)
    wide = wide.with_columns(**{status_of[c]: _status(pl.col(c), pl.col(number[c]), markers, empty) for c in texts})
    # a cell with a status has no number (a marker or an empty text does not cast) but a text's other statuses
    values = {c: pl.col(number[c]) for c in columns if c not in texts}
    values |= {c: pl.when(pl.col(status_of[c]).is_null()).then(pl.col(number[c])) for c in texts}
    wide = wide.with_columns(**values).drop(*number.values())
    return wide.sort([k for k in KEY if k in index], maintain_order=True)


def read_numbers(
    data: bytes, separator: str, numbers: list[str], columns: list[str] | None = None
) -> pl.DataFrame | None:
    """`columns` of a CSV (default every one) with `numbers` as Float64 and the others as text, read as
    `reading.read_csv_bytes` reads (`reading.read_csv_frame`), when every cell of `numbers` is a number or empty:
    the reader parses them as `parse_wide`'s cast of the text would (spaces before a number skipped, as `parse_wide`
    strips them), without a text column per variable first (a census population's read and cast 83 + 45 ms -> 74 ms
    of CPU). `parse_wide` takes such a frame as it takes text: an empty cell is null. None when a cell is anything
    else (a decimal comma, spaces after, a marker) or the file cannot be read: the caller reads it as text, for its
    errors. The same `columns` as the caller's text read, so that the same lines are refused (the reader refuses a
    line longer than the header when it reads the last column, not always otherwise)."""
    try:
        return read_csv_frame(data, separator, columns=columns, numbers=numbers)
    except pl.exceptions.PolarsError:
        return None


def _a_marker_is_a_number(markers: dict[str, str]) -> bool:
    return (
        bool(markers) and pl.Series(list(markers), dtype=pl.String).cast(pl.Float64, strict=False).is_not_null().any()
    )


def _with_odd_cells(
    wide: pl.DataFrame, columns: list[str], number: dict[str, str], status_of: dict[str, str]
) -> list[str]:
    """The columns with a cell neither a number nor given a status."""
    odd = [(pl.col(number[c]).is_null() & pl.col(status_of[c]).is_null()).any() for c in columns]
    return [c for c, some in zip(columns, wide.select(odd).row(0) if columns else ()) if some]


def _comma_number(text: pl.Expr, number: str, status: str) -> pl.Expr:
    """A cell's number, a decimal comma read as a point where it did not cast and has no status."""
    comma = text.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)
    return pl.when(pl.col(number).is_null() & pl.col(status).is_null()).then(comma).otherwise(pl.col(number))


def _marked_status(text: pl.Expr, markers: dict[str, str], empty: str) -> pl.Expr:
    """The status of a cell that is empty or exactly a marker (no spaces around), else null."""
    status: pl.Expr = pl.lit(None, pl.String)
    for marker, reason in reversed(markers.items()):  # the first that applies, as `_status`
        if marker == marker.strip():
            status = pl.when(text == marker).then(pl.lit(reason)).otherwise(status)
    return pl.when(text.is_null() | (text == "")).then(pl.lit(empty)).otherwise(status)


def _numeric_status(text: pl.Series, empty: str) -> pl.Expr:
    """The status of a column of numbers: `empty` where the text is null, else none."""
    if text.null_count() == 0:
        return pl.lit(None, pl.String)
    return pl.when(pl.col(text.name).is_null()).then(pl.lit(empty))


def _decimal_commas_parsed(wide: pl.DataFrame, columns: list[str], number: dict[str, str]) -> pl.DataFrame:
    """The numbers of the columns where some text did not cast parsed again with `,` read as `.`: a cell with a
    decimal comma (`12,5`) never casts, so a column whose every text cast has none, and its numbers are those of
    `values.parse_cells`. Replacing the commas of every column first cost as much as the cast itself."""
    uncast = [(pl.col(number[c]).is_null() & (pl.col(c).str.len_bytes() > 0)).any() for c in columns]
    again = [c for c, failed in zip(columns, wide.select(uncast).row(0) if columns else ()) if failed]
    if not again:
        return wide
    parsed = {number[c]: pl.col(c).str.replace(",", ".", literal=True).cast(pl.Float64, strict=False) for c in again}
    return wide.with_columns(**parsed)


def _status(text: pl.Expr, number: pl.Expr, markers: dict[str, str], empty: str) -> pl.Expr:
    # the first that applies: empty, a marker (its replacement is never null), not a number; else no status
    candidates: list[pl.Expr] = [pl.when(text.is_null() | (text == "")).then(pl.lit(empty))]
    if markers:
        candidates.append(text.replace_strict(markers, default=None, return_dtype=pl.String))
    candidates.append(pl.when(number.is_null()).then(pl.lit(INVALID)))
    return pl.coalesce(candidates).cast(pl.String)


def long_in_key_order(
    wide: pl.DataFrame,
    index: list[str],
    order: list[str],
    names: list[str] | None = None,
    per_column: dict[str, pl.Series] | None = None,
) -> pl.DataFrame:
    """One row per (wide row, column of `order`), row by row: index columns, `variable` (the column's name in
    `names`, default the file's), `value`, `status`, and a column per `per_column` (a value per column of `order`:
    a census column's year), each built once in that order. For a screened frame only: its values are finite or
    null (a NaN would become null)."""
    rows, width = wide.height, len(order)
    # gather indices in polars' own index type: a UInt64 index is converted (and bounds-checked) at each gather
    index_type = np.uint64 if pl.get_index_type() == pl.UInt64 else np.uint32
    row_of: np.ndarray = np.repeat(np.arange(rows, dtype=index_type), width)
    column_of: np.ndarray = np.tile(np.arange(width, dtype=index_type), rows)
    at_column = pl.Series(column_of)
    long = _repeated(wide.select(index), row_of, width)
    # the values row by row: the value columns as one 2-D array copied in row order by numpy (a null comes as NaN,
    # made null below), a quarter of the CPU of gathering each cell from the stack of the columns (13 against 55 ms
    # for a census theme)
    values = pl.Series(wide.select(order).to_numpy(order="c").reshape(-1))
    statuses = pl.concat([wide.get_column(STATUS.format(c)) for c in order])
    status: pl.Expr | pl.Series = pl.lit(None, pl.String)  # no cell with a reason (most files): no gather
    with_reason = statuses.len() - statuses.null_count()
    if with_reason and with_reason <= statuses.len() // FEW:
        status = _few_statuses(wide, order)
    elif with_reason:  # each from the stack of the columns, column after column
        status = statuses.gather(pl.Series(column_of * index_type(rows) + row_of))
    del row_of, column_of
    return long.with_columns(
        variable=pl.Series(names or order, dtype=pl.String).gather(at_column),
        value=values.fill_nan(None),
        status=status,
        **{name: _tiled(series, rows, at_column) for name, series in (per_column or {}).items()},
    )


def _repeated(keys: pl.DataFrame, row_of: np.ndarray, width: int) -> pl.DataFrame:
    """Each row of `keys` `width` times in a row (`row_of`: each row's position so repeated). The integer columns
    without nulls (`year`, `month`) repeated by numpy, a quarter of the CPU of polars' gather (the CAF benefits'
    4 M rows: 1.2 against 4.8 ms for both); the others gathered together (one bounds check: gathered one by one,
    the text columns took 14 instead of 8.4 ms)."""
    plain = [c.name for c in keys.get_columns() if c.dtype.is_integer() and c.null_count() == 0]
    gathered = keys.drop(plain).gather(pl.Series(row_of))
    repeated = {name: np.repeat(keys.get_column(name).to_numpy(), width) for name in plain}
    columns = {name: pl.Series(name, values, dtype=keys.schema[name]) for name, values in repeated.items()}
    return gathered.with_columns(**columns).select(keys.columns)


def _tiled(series: pl.Series, rows: int, at_column: pl.Series) -> pl.Series:
    """`series` (a value per column) once per wide row (`at_column`: each long row's column); integers without
    nulls (a census column's year) tiled by numpy, as `_repeated` does."""
    if series.dtype.is_integer() and series.null_count() == 0:
        return pl.Series(series.name, np.tile(series.to_numpy(), rows), dtype=series.dtype)
    return series.gather(at_column)


# at most one cell in FEW with a status: those put in place in a column of nulls, not every cell gathered
FEW = 64


def _few_statuses(wide: pl.DataFrame, order: list[str]) -> pl.Series:
    """The status of each long row (wide row after row, the columns of `order` in each), the few cells with a
    status scattered into a column of nulls: gathering every cell cost 17 ms for the 1.7 M long rows of a census
    theme with a few empty cells, where most of the columns have no status at all."""
    width, positions, reasons = len(order), [], []
    for at, name in enumerate(order):
        column = wide.get_column(STATUS.format(name))
        if column.null_count() == column.len():
            continue
        rows = column.is_not_null().arg_true()
        positions.append(rows.cast(pl.Int64) * width + at)
        reasons.append(column.gather(rows))
    empty = pl.repeat(None, wide.height * width, dtype=pl.String, eager=True)
    return empty.scatter(pl.concat(positions), pl.concat(reasons))


def screen(
    wide: pl.DataFrame,
    rules: Rules,
    columns: list[str],
    known: RowCheck | None,
    *,
    cog: dict[str, int] | pl.Expr,
    years: dict[str, int] | None = None,
) -> bool:
    """True when the long frame of `wide` surely passes `validation.staged_model`. The year of a cell is its
    column's (`years`: a census file) or its row's (`year`, `month` columns of `wide`); so is the COG of its code
    (`cog`: per column, or an expression over the row). False sends the long frame to `validation.validate`."""
    if not set(columns) <= set(rules.kinds) or any(check.cell is None for check in rules.extra_checks):
        return False  # a rule that reads more than one value is judged on the long rows
    if years is not None and not all(YEARS[0] <= years[c] <= YEARS[1] for c in columns):
        return False
    key = ["level", "code"] if years is not None else [k for k in KEY if k in wide.columns and k != "variable"]
    checks = [*_key_checks(rules, key), *_cell_checks(wide, rules, columns)]
    checks += _part_checks(rules, columns, years)
    try:
        if not all(r is True for r in wide.select(*[c.alias(f"rule_{i}") for i, c in enumerate(checks)]).row(0)):
            return False
        return _below_plausible_maxima(wide, rules, columns) and (known is None or _codes_known(wide, known, cog))
    except pl.exceptions.PolarsError:
        return False


def _key_checks(rules: Rules, key: list[str]) -> list[pl.Expr]:
    """The key of every long row is whole and unique (its variable is its column's: unique in the row)."""
    code, level = pl.col("code"), pl.col("level")
    checks = [code.is_not_null().all(), level.is_not_null().all(), level.is_in(list(rules.levels)).all()]
    if "year" in key:
        checks += [pl.col("year").is_not_null().all(), pl.col("year").is_between(*YEARS).all()]
    if "month" in key:
        checks.append(pl.col("month").is_between(*MONTHS).all())
    return [*checks, pl.struct(key).n_unique() == pl.len(), _code_pattern_check(rules.levels).holds()]


def _cell_checks(wide: pl.DataFrame, rules: Rules, columns: list[str]) -> list[pl.Expr]:
    """Each value column: a known status, and each value finite and within its kind's bounds (its level's plausible
    maximum: `_below_plausible_maxima`), and passing the source's own cell rules. A column without such rules is
    judged by aggregates (every value finite, its smallest and largest within the bounds), one with them row by row,
    its rows' conditions joined; none for a status column without a status: an aggregate per condition and row
    cost three times as much (557 of them for a census theme, 68 against 22 ms of CPU), the rows' conditions of
    every column 14 ms for the census population, its aggregates 6 ms."""
    checks = []
    for name in columns:
        status = STATUS.format(name)
        if wide.get_column(status).null_count() < wide.height:
            checks.append(pl.col(status).is_in(list(STATUSES)).all())
        if any(check.cell and name in check.variables for check in rules.extra_checks):
            checks.append(_value_holds(rules, name).all())
        else:
            checks += _value_aggregates(rules, name)
    return checks


def _value_aggregates(rules: Rules, name: str) -> list[pl.Expr]:
    """The values of column `name` finite (a null passes, `all` skipping it) and within its kind's bounds (a
    column of nulls has no smallest nor largest: it passes)."""
    value = pl.col(name)
    low, high = KINDS[rules.kinds[name]][:2]
    checks = [value.is_finite().all()]
    if low is not None:
        checks.append((value.min() >= low).fill_null(True))
    if high is not None:
        checks.append((value.max() <= high).fill_null(True))
    return checks


def _value_holds(rules: Rules, name: str) -> pl.Expr:
    """Per row, the value of column `name`: null, or finite, within its kind's bounds and its level's plausible
    maximum; and the source's own rules of a cell (joined as they are: each says what a null value gives)."""
    value, level = pl.col(name), pl.col("level")
    low, high = KINDS[rules.kinds[name]][:2]
    plain = value.is_finite() & _within(value, low, high)
    for lvl, most in catalogue.plausible_max().get(rules.kinds[name], {}).items():
        if lvl in rules.levels:
            plain = plain & ((level != lvl) | (value <= most))
    holds = value.is_null() | plain
    for check in rules.extra_checks:
        if check.cell and name in check.variables:
            holds = holds & check.cell(value)
    return holds


def _below_plausible_maxima(wide: pl.DataFrame, rules: Rules, columns: list[str]) -> bool:
    """Each value at most its level's plausible maximum for its kind: the largest value of each column per level,
    one aggregation of the rows grouped by level (1.5 ms for the census population, where comparing each row's
    value with its level's maximum cost 9 ms). Judged once every value is known finite (`_cell_checks`)."""
    maxima = catalogue.plausible_max()
    bounded = [c for c in columns if any(lvl in rules.levels for lvl in maxima.get(rules.kinds[c], {}))]
    if not bounded or wide.is_empty():
        return True
    for top in wide.group_by("level").agg(pl.col(bounded).max()).iter_rows(named=True):
        for name in bounded:
            most = maxima[rules.kinds[name]].get(top["level"]) if top["level"] in rules.levels else None
            if most is not None and top[name] is not None and not top[name] <= most:
                return False
    return True


def _codes_known(wide: pl.DataFrame, known: RowCheck, cog: dict[str, int] | pl.Expr) -> bool:
    """Every code in the COG of its cells: once per COG of a column, or with the row's COG."""
    if isinstance(cog, pl.Expr):
        return wide.select("level", "code", cog=cog).select(known.holds()).item() is True
    codes = wide.select("level", "code")
    return all(codes.with_columns(cog=pl.lit(c)).select(known.holds()).item() is True for c in set(cog.values()))


def _within(value: pl.Expr, low: float | None, high: float | None) -> pl.Expr:
    ok = pl.lit(True)
    if low is not None:
        ok = ok & (value >= low)
    if high is not None:
        ok = ok & (value <= high)
    return ok


def _part_checks(rules: Rules, columns: list[str], years: dict[str, int] | None) -> list[pl.Expr]:
    """Each part <= its whole in the same row (same level, code; the same year: else not in one long key)."""
    checks = []
    for whole, parts in rules.part_pairs().items():
        for part in parts:
            if whole not in columns or part not in columns:
                continue
            if years is not None and years[whole] != years[part]:  # never in one (level, code, year): not compared
                continue
            # every value is known finite or null (`_cell_checks`, judged with these): a null compares as null,
            # which `all` skips, as a part or whole that is not comparable
            value, whole_value = pl.col(part), pl.col(whole)
            checks.append(((value <= whole_value + rules.part_tolerance) | (whole_value < 0)).all())
    return checks


# -- a wide file whose rows carry their year (CAF: one row per commune and December) --------------------------------


def row_cog(entry: Entry) -> pl.Expr:
    """The COG of a staged row's code, as `staging.conclude` gives it: the entry's, or the row's year + offset."""
    cog = pl.lit(entry.cog) if entry.cog is not None else pl.col("year") + (entry.cog_offset or 0)
    return cog.cast(pl.Int32)


def screened_long(
    frame: pl.DataFrame,
    index: dict[str, pl.Expr],
    columns: list[str],
    rules: Rules,
    entry: Entry,
    geo: Geography | None,
) -> pl.DataFrame | None:
    """The long frame of a wide file whose rows hold (level, code, year, month), in key order, when every rule holds
    on its rows (`screen`); None when not: the caller melts it and `conclude` judges the long rows."""
    wide = parse_wide(frame, index, columns, markers={}, empty=MISSING)
    known = None
    if geo is not None:
        cogs = wide.select(row_cog(entry).unique())[:, 0].drop_nulls().to_list()
        known = known_codes_check(geo.known_codes(set(cogs)))
    if not screen(wide, rules, columns, known, cog=row_cog(entry)):
        return None
    return long_in_key_order(wide, list(index), sorted(columns))


def with_rows_in_place(long: pl.DataFrame, head: int, entry: Entry, rules: Rules, geo: Geography | None):
    """`long`, its first `head` rows in key order and screened, the others (a few, added since: the cities summed
    from their arrondissements) screened by `validation.passes` and put in place; None when they do not pass or
    would interleave with the others (then `conclude` validates and sorts the whole)."""
    extra = long.slice(head)
    if extra.is_empty():
        return long
    typed = finish(extra, entry.source, entry.vintage, sort=False).drop("source", "vintage")
    typed = typed.with_columns(cog=row_cog(entry))
    known = known_codes_check(geo.known_codes(set(typed["cog"].unique().to_list()))) if geo is not None else None
    if not passes(typed, rules, known):
        return None
    kept = long.slice(0, head).with_columns(moved=pl.lit(False))
    return _inserted(kept, sorted_by_key(extra.select(kept.drop("moved").columns)))


# -- a wide file of one year (Filosofi, the census by IRIS: one row per code, every column that year's) -------------


def one_year_long(
    raw: pl.DataFrame,
    index: dict[str, pl.Expr],
    rules: Rules,
    rename: dict[str, str],
    year: int,
    cog: int,
    geo: Geography | None,
    *,
    markers: dict[str, str],
    empty: str = MISSING,
    text: Callable[[], pl.DataFrame] | None = None,
) -> tuple[pl.DataFrame, bool]:
    """(long rows, screened) of a wide file whose columns (`rename`'s keys) all hold `year`, codes in COG `cog`.
    Screened when every rule holds on the file's own rows (`screen`): the rows in key order with their staged names.
    Else the file melted as it is (`text()` when `raw` holds the columns as numbers, `read_numbers`), for
    `conclude` to judge the long rows (its error names the file, column, rule and rows)."""
    columns = list(rename)
    wide = parse_wide(raw, index, columns, markers=markers, empty=empty)
    known = known_codes_check(geo.known_codes({cog})) if geo is not None else None
    if not screen(wide, rules, columns, known, cog=dict.fromkeys(columns, cog), years=dict.fromkeys(columns, year)):
        keyed = {**index, "year": pl.lit(year, pl.Int32)}
        cells = text() if text is not None else raw
        return melt(cells, index=keyed, columns=columns, markers=markers, empty=empty), False
    order = sorted(columns, key=lambda c: rename[c])
    years = pl.Series([year] * len(order), dtype=pl.Int32)
    return long_in_key_order(wide, list(index), order, [rename[c] for c in order], {"year": years}), True
