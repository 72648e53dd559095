"""CAF childcare: coverage rates (`txcouv_pe_{s}`) and places (`nbpla_pe_{s}`) for children under 3.

One parser for every scale (caf-sources.md §4): the entry's params give the scale suffix `s` (com, epci, dep,
nat), the level and the code column (none for the national file: code `FR`). Handled:
- coverage rates are places per 100 children (kind `coverage`: may exceed 100, never re-aggregated); places are
  counts (additive);
- placeholder codes `XX` (communes in no EPCI, with an absurd 195.8 rate) and `XXX` dropped with a note;
- communal files (communes above 10,000 inhabitants) carry Paris/Lyon/Marseille by arrondissement: ARM rows
  kept; places are also summed into the city's COM row, coverage rates are not (decisions.md "CAF");
- a current file and its `_hist` twin (role "hist"): union; on a year present in both the current file wins,
  with a warning naming the year and the number of rows whose values differ;
- `annee` as an int (`2023`) or a date string (`2023-01-01`, national file);
- EPCI codes of an older geography pass through (pattern checked), listed in a note.
Staged variable names drop the scale suffix (`txcouv_eaje_com` -> `txcouv_eaje`, `tot_offre_dep` -> `tot_offre`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sources.caf_common import (
    add_city_sums,
    city_sums_of_rows,
    codes_known,
    drop_unlocalised,
    level_expr,
    optional_absent_note,
    read_export,
    with_period,
)
from sources.catalogue import Entry
from sources.demo import gen_caf
from sources.errors import Failure, SourceValidationError
from sources.geography import Geography
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import Rules, missing_columns, passes
from sources.values import MISSING, finish, melt, sorted_by_key
from sources.wide import long_in_key_order, parse_wide, row_cog, screen

log = logging.getLogger(__name__)

# the reference year: `annee` in the known exports, `dtreffre` (labelled "Date référence") in some datasets
PERIODS = ("annee", "dtreffre")
NATIONAL_CODE = "FR"


def kind_of(column: str) -> str | None:
    """coverage for `txcouv_*`, count for places (`pl_*`, `tot_offre_*`), None for descriptive columns."""
    if column.startswith("txcouv_"):
        return "coverage"
    if column.startswith(("pl_", "tot_offre_")):
        return "count"
    return None


@dataclass
class _Part:
    """One file (current or hist): its rows to stage, before validation."""

    role: str
    label: str
    path: Path
    frame: pl.DataFrame  # the file's rows: `_year` parsed, codes stripped, unlocalised rows dropped
    values: list[str]
    notes: list[str]
    rules: Rules
    rename: dict[str, str]  # file column -> staged variable (the scale suffix dropped)


@dataclass
class _Long:
    """A part's long rows, and the file's own rows among them (without the city sums) to compare current and hist."""

    rows: pl.DataFrame
    published: pl.DataFrame
    notes: list[str]  # the city sums'


def _read(entry: Entry, role: str, path: Path) -> _Part:
    spec = entry.file(role)
    level, code = entry.params["level"], entry.params.get("code")
    raw, label = read_export(entry, spec, path)
    expected = entry.columns()
    required = (*expected.required, *([code] if code else []))
    missing_columns(raw.columns, required, source=entry.source, file=label, raw_path=str(path))
    present = [c for c in PERIODS if c in raw.columns]
    if len(present) != 1:
        rule = "exactly one period column (annee or dtreffre)"
        raise SourceValidationError(
            entry.source, label, [Failure("/".join(PERIODS), rule, 1, [f"found: {present or 'none'}"])], str(path)
        )
    period = present[0]

    listed = [*expected.required, *expected.optional]
    values = [c for c in listed if c in raw.columns and kind_of(c)]
    notes = optional_absent_note(label, [c for c in expected.optional if c not in raw.columns and kind_of(c)])
    frame = with_period(raw, period, need_month=False, source=entry.source, file=label, raw_path=str(path))
    if code:
        frame = frame.with_columns(pl.col(code).str.strip_chars())
        frame, dropped = drop_unlocalised(frame, code, period="_year", file=label, empty_too=True)
        notes.extend(dropped)
    rules = Rules(
        kinds={c: kind for c in values if (kind := kind_of(c))},
        levels=("COM", "ARM") if level == "COM" else (level,),
        code_column=code or "annee",
        parts=expected.parts,
        part_tolerance=expected.part_tolerance,
    )
    rename = {c: re.sub(rf"_{re.escape(entry.params['s'])}$", "", c) for c in values}
    return _Part(role, label, path, frame, values, notes, rules, rename)


def _index(entry: Entry) -> dict[str, pl.Expr]:
    """The staged key of a file row: the national file has no code column (code `FR`), the months are null."""
    level, code = entry.params["level"], entry.params.get("code")
    return {
        "level": level_expr(code, level) if code else pl.lit(level),
        "code": pl.col(code) if code else pl.lit(NATIONAL_CODE),
        "year": pl.col("_year"),
        "month": pl.lit(None, dtype=pl.Int8),
    }


def _additive(part: _Part) -> list[str]:
    return [c for c in part.values if kind_of(c) == "count"]


def _melted(entry: Entry, part: _Part) -> _Long:
    """The part's long rows with the file's own column names, the city sums added to a communal file."""
    long = melt(part.frame, index=_index(entry), columns=part.values, markers={})  # empty cells: missing, never 0
    if entry.params["level"] != "COM":
        return _Long(long, long, [])
    with_cities, notes = add_city_sums(long, set(_additive(part)), file=part.label, rounded=False)
    return _Long(with_cities, long, notes)


def _screened(entry: Entry, parts: list[_Part], geo: Geography | None) -> list[_Long] | None:
    """Each part's long rows in key order with their staged names, when every rule holds on the file's own rows
    (`wide.screen`) and on the city sums: `conclude` then neither validates nor sorts them again (validating the
    long rows took three quarters of these small files' CPU: 70 against 10 ms for the EPCI coverage's hist file).
    None when a rule fails somewhere: the parts are melted and `conclude` judges their long rows, its error naming
    the file, column, rule and rows."""
    index = _index(entry)
    wides = []
    for part in parts:
        wide = parse_wide(part.frame, index, part.values, markers={}, empty=MISSING)
        if not screen(wide, part.rules, part.values, None, cog=row_cog(entry)) or not codes_known(wide, entry, geo):
            return None
        wides.append(wide)
    longs = []
    for part, wide in zip(parts, wides):
        order = sorted(part.values, key=part.rename.__getitem__)  # the staged names' order: the rows' key order
        rows = long_in_key_order(wide, list(index), order, [part.rename[c] for c in order])
        cities, notes = _city_rows(entry, part, geo)
        if cities is None:
            return None
        with_cities = sorted_by_key(pl.concat([rows, cities], how="vertical_relaxed")) if cities.height else rows
        longs.append(_Long(with_cities, rows, notes))
    return longs


def _city_rows(entry: Entry, part: _Part, geo: Geography | None) -> tuple[pl.DataFrame | None, list[str]]:
    """A communal file's rows of the cities summed from their arrondissements (places only: `add_city_sums`), with
    their staged names, and their notes; None for the rows when they do not pass the rules."""
    additive = _additive(part)
    if entry.params["level"] != "COM" or not additive:
        return pl.DataFrame(), []
    code = entry.params["code"]
    rows, notes = city_sums_of_rows(part.frame, code, _index(entry), additive, file=part.label, rounded=False)
    typed = finish(rows, entry.source, entry.vintage, sort=False).drop("source", "vintage")
    if not passes(typed.with_columns(cog=row_cog(entry)), part.rules) or not codes_known(typed, entry, geo):
        return None, notes
    return rows.with_columns(pl.col("variable").replace(part.rename)), notes


def _overlap(
    current_label: str, hist_label: str, current: pl.DataFrame, hist: pl.DataFrame
) -> tuple[set[int], list[str]]:
    """Years present in both files' own long rows; the current file wins. Warn with the number of rows whose values
    differ."""
    years = set(current["year"].unique().to_list()) & set(hist["year"].unique().to_list())
    notes = []
    for year in sorted(years):
        cur = current.filter(pl.col("year") == year)
        old = hist.filter(pl.col("year") == year)
        both = cur.join(old, on=["level", "code", "year", "variable"], how="inner", suffix="_hist")
        differs = both.filter(
            (pl.col("value").is_null() != pl.col("value_hist").is_null())
            | (pl.col("value") != pl.col("value_hist")).fill_null(False)
        )
        rows = differs.select("level", "code").unique().height
        only_hist = old.join(cur, on=["level", "code"], how="anti").select("code").unique().height
        message = (
            f"{year} is in both {current_label} and {hist_label}: the current file wins; "
            f"{rows} row(s) have different values"
        )
        if only_hist:
            message += f"; {only_hist} code(s) present only in the hist file for {year} are dropped"
        log.warning("%s", message)
        notes.append(message)
    return years, notes


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    level = entry.params["level"]
    parts = [_read(entry, role, files[role]) for role in ("main", "hist") if role in files]
    longs = _screened(entry, parts, geo)
    screened = longs is not None
    if longs is None:
        longs = [_melted(entry, part) for part in parts]
    notes = [note for part, long in zip(parts, longs) for note in (*part.notes, *long.notes)]
    overlap: set[int] = set()
    if len(parts) == 2:
        overlap, overlap_notes = _overlap(parts[0].label, parts[1].label, longs[0].published, longs[1].published)
        notes.extend(overlap_notes)

    staged = [
        conclude(
            long.rows,
            entry,
            part.rules,
            geo,
            file=part.label,
            raw_path=str(part.path),
            rename=part.rename,
            screened=screened,
        )
        for part, long in zip(parts, longs)
    ]
    frame = staged[0].frame
    if len(staged) == 2:
        frame = pl.concat([frame, staged[1].frame.filter(~pl.col("year").is_in(sorted(overlap)))])
    frame = sorted_by_key(frame)

    notes.extend(_scope_notes(entry, frame, level, geo))
    changes = list(dict.fromkeys(c for st in staged for c in st.geo_changes))
    return Staged(frame=frame, notes=notes, geo_changes=changes)


def _scope_notes(entry: Entry, frame: pl.DataFrame, level: str, geo: Geography | None) -> list[str]:
    notes = []
    years = sorted(frame["year"].unique().to_list())
    if years:
        where = (
            ": communes of year N are read in the COG of 1 January N+1, like s_ben_com_f (decisions.md)"
            if level == "COM"
            else ""
        )
        notes.append(f"years {years[0]}-{years[-1]} (reference month December){where}.")
    coverage = frame.filter(pl.col("variable").str.starts_with("txcouv"))
    if not coverage.is_empty():
        above = coverage.filter(pl.col("value") > 100).height
        notes.append(
            "coverage rates are places per 100 children under 3 (not a percentage; never re-aggregated)"
            + (f": {above} value(s) above 100" if above else "")
        )
    if level == "COM":
        com = frame.filter(pl.col("level") == "COM")["code"].n_unique()
        arm = frame.filter(pl.col("level") == "ARM")["code"].n_unique()
        notes.append(
            f"communal file: communes above 10,000 inhabitants only ({com} COM codes, {arm} "
            "arrondissements); other communes take their EPCI's figure downstream."
        )
        if not coverage.is_empty():
            notes.append(
                "coverage of Paris/Lyon/Marseille is published by arrondissement only (ARM rows): no "
                "city rate is computed."
            )
    if level == "EPCI" and geo is not None:
        # the distinct codes compared in polars (two Python sets of every row's code took 0.013 s of CPU)
        known = geo.epci["epci"].unique() if "epci" in geo.epci.columns else pl.Series([], dtype=pl.String)
        codes = frame.select(pl.col("code").unique())
        old = sorted(codes.filter(~pl.col("code").is_in(known.implode()))["code"].to_list())
        if old:
            notes.append(f"EPCI code(s) absent from the {geo.target} EPCI list, staged as published: {', '.join(old)}")
    if level == "FRANCE":
        notes.append("national figures are France entière hors Mayotte.")
    return notes


SOURCES = (
    SourceSpec(
        "caf_childcare",
        (
            "caf_coverage_com",
            "caf_coverage_epci",
            "caf_coverage_dep",
            "caf_coverage_nat",
            "caf_places_com",
            "caf_places_epci",
            "caf_places_dep",
        ),  # no national places
        stage,
        label="Cnaf, ONAPE {year}",
        demo=gen_caf.write_childcare,
    ),
)
