"""What every source parser returns, and the common tail: validate, then bring into the target COG."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from sources.catalogue import Entry
from sources.geography import GeoChange, Geography
from sources.validation import Rules, known_codes_check, validate
from sources.values import SECRET, finish, sorted_by_key


@dataclass
class Staged:
    """A validated table ready to be written, with what a data officer should know about it."""

    frame: pl.DataFrame
    notes: list[str] = field(default_factory=list)  # quirks handled (rows dropped, arrondissements summed...)
    geo_changes: list[GeoChange] = field(default_factory=list)

    def summary(self) -> dict:
        counts = []
        if "status" in self.frame.columns:
            counts = _counted(self.frame.get_column("status"))
        by_status = {status: n for status, n in counts}
        return {
            "rows": self.frame.height,
            "secret_cells": by_status.get(SECRET, 0),
            "null_cells": by_status,
            "notes": self.notes,
            "geo_changes": [c.as_dict() for c in self.geo_changes],
        }


def _counted(statuses: pl.Series) -> list[tuple[str, int]]:
    """(status, cells) per distinct status, in order. The cells with a reason only (not hashed with the millions
    of nulls), counted per run of equal statuses (a code's secret cells come together): Filosofi's 762,000 secret
    cells 8 to 2.6 ms of CPU."""
    runs = statuses.drop_nulls().rle().struct.unnest()
    return runs.group_by("value").agg(pl.col("len").sum()).sort("value").rows()


def conclude(
    long: pl.DataFrame,
    entry: Entry,
    rules: Rules,
    geo: Geography | None,
    *,
    file: str,
    raw_path: str | None,
    notes: list[str] | None = None,
    rename: dict[str, str] | None = None,
    screened: bool = False,
    presorted: bool = False,
) -> Staged:
    """Finish a parser's long frame: source columns, COG membership and rules checked, geography harmonised.

    `long` holds level, code, year, [month], variable, value, status, with `variable` the file's own column name
    so that errors name it. Validation sees the codes as published, in the COG of each row
    (`entry.cog_for_year`), before anything is moved. `rename` then maps file columns to staged variable names
    (`P22_POP` -> `P_POP`, the year being in `year`); `rules.kinds` is keyed by file column names.
    `screened`: the parser found every rule to hold on the file's own rows (`sources.wide.screen`): nothing to
    check again, and `long` was built presorted by `sources.wide`. `presorted`: `long` is in `KEY` order with its
    staged variable names, `rename` already applied (`sources.wide.long_in_key_order`): not sorted nor renamed again.
    """
    presorted = presorted or screened
    # typed as staged; the constant source and vintage columns are added last, never copied by a filter or a sort
    frame = finish(long, entry.source, entry.vintage, sort=False).drop("source", "vintage")
    cog = pl.lit(entry.cog) if entry.cog is not None else pl.col("year") + (entry.cog_offset or 0)
    frame = frame.with_columns(cog=cog.cast(pl.Int32))
    known = None
    if geo is not None and not screened:
        known = known_codes_check(geo.known_codes(set(frame["cog"].unique().to_list())))
    if not screened:
        validate(frame, rules, source=entry.source, file=file, raw_path=raw_path, known=known)
    additive = rules.additive()
    if rename:
        frame = frame if presorted else frame.with_columns(pl.col("variable").replace(rename))
        additive = {rename.get(v, v) for v in additive}
    changes: list[GeoChange] = []
    if geo is not None:
        frame, changes = geo.harmonise(frame, additive, presorted=presorted)  # sorted
    else:
        frame = frame.drop("cog") if presorted else sorted_by_key(frame.drop("cog"))
    frame = finish(frame, entry.source, entry.vintage, sort=False)
    return Staged(frame=frame, notes=list(notes or []), geo_changes=changes)
