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

from pathlib import Path

import polars as pl

from sources.caf_common import (
    city_sums_of_rows,
    drop_unlocalised,
    level_expr,
    optional_absent_note,
    read_export,
    require_december,
    with_period,
)
from sources.catalogue import Entry
from sources.demo import gen_caf
from sources.geography import Geography
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import RowCheck, Rules, missing_columns
from sources.values import melt
from sources.wide import screened_long, with_rows_in_place

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
    raw_path = str(path)
    raw, label = read_export(entry, spec, path)
    expected = entry.columns()
    missing_columns(raw.columns, expected.required, source=entry.source, file=label, raw_path=raw_path)

    listed = [*expected.required, *expected.optional]
    values = [c for c in listed if c in raw.columns and c.startswith(COUNT_PREFIXES)]
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
    # every rule screened on the file's rows, the long frame built in key order (None: judged on the long rows);
    # the CAF publishes no secret marker: counts are rounded to 5 instead
    in_order = screened_long(frame, index, values, rules, entry, geo)
    long = in_order if in_order is not None else melt(frame, index=index, columns=values, markers={})
    city_rows, cities = city_sums_of_rows(frame, CODE, index, values, file=label, rounded=True)
    long = pl.concat([long, city_rows], how="vertical_relaxed") if city_rows.height else long
    notes.extend(cities)
    screened = False
    if in_order is not None:  # the city rows, summed from the arrondissements, screened and put in place apart
        placed = with_rows_in_place(long, in_order.height, entry, rules, geo)
        long, screened = (placed, True) if placed is not None else (long, False)
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


SOURCES = (
    SourceSpec(
        "caf_benefits",
        ("caf_benefits",),
        stage,
        label="Cnaf, allocataires décembre {year}",
        demo=gen_caf.write_benefits,
    ),
)
