"""CAF `s_ben_com_f`: foyers allocataires and personnes couvertes per benefit, per commune, every December.

One row per commune x December (`dtreffre` 2020-12 … 2024-12), wide in indicators (caf-sources.md §1a). Handled:
- rows with an empty `numcomdo` (allocataires the CAF cannot localise) and placeholder codes `XX…`: excluded,
  never spread, counted in the notes;
- Paris, Lyon and Marseille published by arrondissement only: ARM rows kept and summed into the city's COM row;
- counts rounded to 5 by the CAF (statistical secret): a count that is not a multiple of 5 is refused as
  implausible; values written `9260` or `9260.0`;
- December N localised in COG N+1 (`entry.cog_offset`), brought into the target COG by `conclude`.
Staged variable names are the file's field names (`indfoy_rsa`); amounts (`indmtt_*`) are not staged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import polars as pl

from sources.caf_common import (
    city_sums_of_rows,
    codes_known_to_every_cog,
    drop_unlocalised,
    export_bytes,
    level_expr,
    optional_absent_note,
    read_numbers,
    read_text,
    require_december,
    with_period,
)
from sources.catalogue import Entry
from sources.demo import gen_caf
from sources.geography import Geography
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import RowCheck, Rules, missing_columns
from sources.values import MISSING, melt
from sources.wide import STATUS, _numeric_status, long_in_key_order, row_cog, screen, screened_long, with_rows_in_place

CODE = "numcomdo"
PERIOD = "dtreffre"
COUNT_PREFIXES = ("indfoy_", "indnbp_")
ROUNDING = 5
ROUNDING_RULE = "CAF counts are rounded to a multiple of 5: a count that is not is implausible"


def multiple_of(variables: list[str], step: int = ROUNDING) -> RowCheck:
    def cell(value: pl.Expr) -> pl.Expr:  # NaN and ±inf are reported once, by the finite rule
        return value.is_null() | ~value.is_finite() | ((value % step) == 0)

    ok = ~pl.col("variable").is_in(variables) | cell(pl.col("value"))
    return RowCheck(ROUNDING_RULE, ok, cell=cell, variables=tuple(variables))


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    spec, path = entry.file(), files["main"]
    data, label = export_bytes(entry, spec, path)
    expected = entry.columns()
    listed = [*expected.required, *expected.optional]

    def counts(names: list[str]) -> list[str]:
        return [c for c in listed if c in names and c.startswith(COUNT_PREFIXES)]

    # the counts read as numbers by the CSV reader, parsed and put in key order here; when a cell is not a number
    # to the reader or a rule fails, the text read is staged as before (the same notes and errors)
    numbers = read_numbers(data, spec, counts)
    staged = _staged(numbers, entry, label, counts, geo, str(path), parsed=True) if numbers is not None else None
    if staged is not None:
        return staged
    del numbers  # not held beside the text
    raw = read_text(data, spec, source=entry.source, name=label)
    staged = _staged(raw, entry, label, counts, geo, str(path), parsed=False)
    assert staged is not None  # the text read is judged whole
    return staged


def _staged(
    raw: pl.DataFrame,
    entry: Entry,
    label: str,
    counts: Callable[[list[str]], list[str]],
    geo: Geography | None,
    raw_path: str,
    *,
    parsed: bool,
) -> Staged | None:
    """The file's rows staged (`raw`: text, or the counts already numbers if `parsed`); None when `parsed` and a
    rule fails on them: the text is then melted for `conclude` to judge and name the cells."""
    expected = entry.columns()
    missing_columns(raw.columns, expected.required, source=entry.source, file=label, raw_path=raw_path)

    listed = [*expected.required, *expected.optional]
    values = counts(raw.columns)
    notes = optional_absent_note(label, [c for c in expected.optional if c not in raw.columns])
    ignored = [c for c in raw.columns if c not in listed]
    if ignored:
        notes.append(f"{label}: {len(ignored)} column(s) not in the catalogue, not staged: {', '.join(ignored)}")

    frame = raw.with_columns(pl.col(CODE).str.strip_chars())
    frame = with_period(frame, PERIOD, need_month=True, source=entry.source, file=label, raw_path=raw_path)
    require_december(frame, PERIOD, CODE, source=entry.source, file=label, raw_path=raw_path)
    frame, dropped = drop_unlocalised(frame, CODE, period=PERIOD, file=label, empty_too=True)
    notes.extend(dropped)

    rules = Rules(
        kinds={c: "count" for c in values},
        levels=("COM", "ARM"),
        code_column=CODE,
        extra_checks=(multiple_of(values),),
        parts=expected.parts,
        part_tolerance=expected.part_tolerance,
    )
    index = {"level": level_expr(CODE, "COM"), "code": pl.col(CODE), "year": pl.col("_year"), "month": pl.col("_month")}
    # the cities summed from their arrondissements: summed before the screen, which judges their rows too
    city_rows, cities = city_sums_of_rows(frame, CODE, index, values, file=label, rounded=True)
    notes.extend(cities)
    rows = _Rows(frame, city_rows, index, values)
    if parsed:
        long = _numbers_long(rows, rules, entry, geo)
        if long is None:
            return None
        screened = True
    else:
        long, screened = _text_long(rows, rules, entry, geo)
    notes.append(
        f"{label}: foyers and personnes are rounded to 5 by the CAF (7 -> 5, 12 -> 10): a sum of "
        "communes differs slightly from the published département or national total."
    )
    years = sorted(frame["_year"].unique().to_list())
    if years:
        notes.append(
            f"{label}: December N is localised in the geography of 1 January N+1 (COG {years[0] + 1} "
            f"for {years[0]}-12 … COG {years[-1] + 1} for {years[-1]}-12)."
        )

    return conclude(long, entry, rules, geo, file=label, raw_path=raw_path, notes=notes, screened=screened)


class _Rows(NamedTuple):
    """The file's rows as both paths take them: the frame (counts as text or as numbers), the cities' rows summed
    from their arrondissements (long), the staged key's expressions and the count columns."""

    frame: pl.DataFrame
    city_rows: pl.DataFrame
    key: dict[str, pl.Expr]  # `index`, named apart from tuple.index
    values: list[str]


def _text_long(rows: _Rows, rules: Rules, entry: Entry, geo: Geography | None) -> tuple[pl.DataFrame, bool]:
    """(the long rows of the text frame and the cities' rows, screened): every rule screened on the file's rows,
    the long frame built in key order, the cities' rows screened and put in place apart; when a rule fails, the
    rows as they are, for `conclude` to judge. The CAF publishes no secret marker: counts are rounded to 5 instead."""
    frame, city_rows, index, values = rows
    in_order = screened_long(frame, index, values, rules, entry, geo)
    long = in_order if in_order is not None else melt(frame, index=index, columns=values, markers={})
    long = pl.concat([long, city_rows], how="vertical_relaxed") if city_rows.height else long
    if in_order is None:
        return long, False
    placed = with_rows_in_place(long, in_order.height, entry, rules, geo)
    return (placed, True) if placed is not None else (long, False)


def _numbers_long(rows: _Rows, rules: Rules, entry: Entry, geo: Geography | None) -> pl.DataFrame | None:
    """`_text_long` of a frame whose counts are numbers already, every rule holding: the wide frame
    `wide.parse_wide` gives (each count as it is, its status `missing` where it is null) with the cities' rows
    made wide, in key order, screened whole, then made long; None when a rule fails. The cities' rows are not put
    in place in the long rows (`with_rows_in_place`: 24 ms of CPU for the CAF benefits of France)."""
    frame, city_rows, index, values = rows
    wide = frame.select(*[e.alias(k) for k, e in index.items()], *values)
    wide = wide.with_columns(**{STATUS.format(c): _numeric_status(wide.get_column(c), MISSING) for c in values})
    if city_rows.height:
        cities = _wide_rows(city_rows, list(index), values)
        if cities is None:
            return None
        wide = pl.concat([wide, cities.select(wide.columns)])
    wide = wide[_key_order(wide)]
    if not screen(wide, rules, values, None, cog=row_cog(entry)) or not codes_known_to_every_cog(wide, entry, geo):
        return None
    return long_in_key_order(wide, list(index), sorted(values))


def _wide_rows(long: pl.DataFrame, index: list[str], values: list[str]) -> pl.DataFrame | None:
    """Long rows (`index`, variable, value, status; a key per row) as wide rows: a value and a status column per
    variable of `values`; None unless each wide row has a long row of every variable."""
    wide = long.group_by(index, maintain_order=True).agg(
        *[pl.col("value").filter(pl.col("variable") == v).first().alias(v) for v in values],
        *[pl.col("status").filter(pl.col("variable") == v).first().alias(STATUS.format(v)) for v in values],
    )
    if wide.height * len(values) != long.height or not long.get_column("variable").is_in(values).all():
        return None
    return wide


def _key_order(wide: pl.DataFrame) -> pl.Series:
    """The rows' positions sorted on (level, code, year, month), as a stable sort gives them: sorted on (code, year,
    month), then the arrondissements' rows first (the levels are `ARM` and `COM`, `level_expr`'s). Sorting on the
    level's text with the others cost 20 ms of CPU for the CAF benefits' 175,000 rows, 7 ms without."""
    order = wide.select(pl.arg_sort_by(["code", "year", "month"], maintain_order=True)).to_series()
    arm = (wide.get_column("level") == "ARM").gather(order)
    if not arm.any():
        return order
    return pl.concat([order.filter(arm), order.filter(~arm)], rechunk=True)  # a gather by pieces gives pieces


SOURCES = (
    SourceSpec(
        "caf_benefits",
        ("caf_benefits",),
        stage,
        label="Cnaf, allocataires décembre {year}",
        demo=gen_caf.write_benefits,
    ),
)
