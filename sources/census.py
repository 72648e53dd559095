"""INSEE census communal bases (RP `base-cc-*`): one theme per file, the reference year and two comparison years.

Column names carry the census year (`P22_POP`, `C16_FAMMONO`); the years are read from the header, never assumed
(decisions.md "Census"). Staged variables drop the year (`P22_POP` -> `P_POP`, year 2022). Communes and
arrondissements municipaux are both in INSEE's files: arrondissements are staged at level ARM and never added to
their city, which already counts them. RP has no secret marker; an empty cell (Mayotte) is `not_available`.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from sources.catalogue import Entry
from sources.demo import gen_census
from sources.errors import Failure, SourceValidationError
from sources.geography import Geography
from sources.reading import csv_file_bytes, read_csv_bytes
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import Rules, known_codes_check, missing_columns
from sources.values import NOT_AVAILABLE, melt
from sources.wide import long_in_key_order, parse_wide, read_numbers, screen

# `P22_POP`, `C16_FAMMONO`: exploitation (P principal, C complementary), two-digit year, variable.
YEAR_COLUMN = re.compile(r"^([PC])(\d{2})_(.+)$")
# Arrondissements municipaux of Paris, Lyon and Marseille (INSEE also publishes their city as a commune).
ARM_CODE = r"^(751\d\d|6938\d|132\d\d)$"


def census_year(yy: str) -> int:
    """Two-digit census year -> year (`22` -> 2022; `99` -> 1999)."""
    return (1900 if int(yy) > 50 else 2000) + int(yy)


def _year_digits(column: str) -> str:
    """`P22_POP` -> `22` (the column is a year-tagged census variable)."""
    match = YEAR_COLUMN.match(column)
    if match is None:
        raise ValueError(f"{column!r} is not a year-tagged census variable (P22_POP)")
    return match.group(2)


def header_years(columns: list[str]) -> list[str]:
    """The two-digit years of the header's `P<yy>_` / `C<yy>_` columns, most recent first."""
    found = {m.group(2) for c in columns if (m := YEAR_COLUMN.match(c))}
    return sorted(found, key=census_year, reverse=True)


def at_year(column: str, yy: str) -> str:
    """The same variable at another census year: `P22_POP`, `16` -> `P16_POP`."""
    m = YEAR_COLUMN.match(column)
    assert m, f"not a census column: {column}"
    return f"{m.group(1)}{yy}_{m.group(3)}"


def without_year(column: str) -> str:
    """Staged variable name: `P22_POP` -> `P_POP`, `C16_FAMMONO` -> `C_FAMMONO`."""
    m = YEAR_COLUMN.match(column)
    assert m, f"not a census column: {column}"
    return f"{m.group(1)}_{m.group(3)}"


def _check_main_year(entry: Entry, years: list[str], columns: list[str], file: str, raw_path: str) -> str:
    """The vintage's year must be in the header; otherwise the wrong file was downloaded (say which years it has)."""
    yy = entry.params["yy"]
    if yy not in years:
        seen = ", ".join(str(census_year(y)) for y in years) or "none"
        failure = Failure(
            column=f"P{yy}_*/C{yy}_*",
            rule=f"census year {census_year(yy)} absent from the header",
            count=1,
            samples=[f"years in the header: {seen}; first columns: {', '.join(columns[:6])}"],
        )
        raise SourceValidationError(entry.source, file, [failure], raw_path)
    return yy


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    spec, path = entry.file(), files["main"]
    file, raw_path = spec.member or spec.name, str(path)
    # the member is chosen by its exact name: meta_*.CSV and the overseas *-COM.CSV are never read
    data, name = csv_file_bytes(path, spec, source=entry.source)
    header = read_csv_bytes(data, spec.separator, source=entry.source, name=name, header_only=True).columns
    expected = entry.columns()
    code = expected.code or "CODGEO"
    years = header_years(header)
    # a file of another census year would fail on every column: say which years it holds instead
    yy = _check_main_year(entry, years, header, file, raw_path)
    missing_columns(header, (code, *expected.required), source=entry.source, file=file, raw_path=raw_path)
    comparison = [y for y in years if y != yy]
    present = set(header)
    main_kept = [c for c in (*expected.required, *expected.optional) if c in present]
    absent = [c for c in expected.optional if c not in present]
    kept = list(main_kept)
    for y in comparison:  # the same variables at the comparison years: kept when the file has them
        kept += [at_year(c, y) for c in (*expected.required, *expected.optional) if at_year(c, y) in present]
    # only the staged columns are read (a real theme file has a hundred); as numbers when every cell is one or
    # empty (the cells as `parse_wide` reads them), else as text
    numbers = read_numbers(data, spec.separator, kept, [code, *kept])
    raw = numbers if numbers is not None else _text(data, spec.separator, entry.source, name, [code, *kept])

    level = pl.when(pl.col(code).str.contains(ARM_CODE)).then(pl.lit("ARM")).otherwise(pl.lit("COM"))
    index = {"level": level, "code": pl.col(code)}
    year_of = {c: census_year(_year_digits(c)) for c in kept}
    rules, rename = _rules(entry, code, yy, comparison, kept), {c: without_year(c) for c in kept}
    # every rule screened on the file's rows; the long frame built in key order (a failure: judged on the long)
    wide = parse_wide(raw, index, kept, markers={}, empty=NOT_AVAILABLE)
    cog_of = {c: entry.cog if entry.cog is not None else year + (entry.cog_offset or 0) for c, year in year_of.items()}
    known = known_codes_check(geo.known_codes(set(cog_of.values()))) if geo is not None else None
    screened = screen(wide, rules, kept, known, cog=cog_of, years=year_of)
    if not screened and numbers is not None:  # the long rows melted, and judged, from the file's own text
        raw = _text(data, spec.separator, entry.source, name, [code, *kept])
    del data
    if screened:  # staged names and years written as the rows are built (no lookup per row)
        order = sorted(kept, key=lambda c: (year_of[c], rename[c]))
        year_column = pl.Series([year_of[c] for c in order], dtype=pl.Int32)
        long = long_in_key_order(wide, list(index), order, [rename[c] for c in order], {"year": year_column})
    else:
        long = melt(raw, index=index, columns=kept, markers={}, empty=NOT_AVAILABLE)
        long = long.with_columns(year=pl.col("variable").replace_strict(year_of, return_dtype=pl.Int32))
    del wide

    notes = _notes(raw, len(header), code, yy, (comparison, kept, main_kept, absent), long)
    return conclude(
        long, entry, rules, geo, file=file, raw_path=raw_path, notes=notes, rename=rename, screened=screened
    )


def _text(data: bytes, separator: str, source: str, name: str, columns: list[str]) -> pl.DataFrame:
    """`columns` of the CSV `data` as text."""
    return read_csv_bytes(data, separator, source=source, name=name, columns=columns)


def _rules(entry: Entry, code: str, yy: str, comparison: list[str], kept: list[str]) -> Rules:
    """Every kept column a count; each declared part never above its whole, at every year of the file."""
    expected = entry.columns()
    parts = {
        at_year(whole, y): tuple(at_year(p, y) for p in ps)
        for y in (yy, *comparison)
        for whole, ps in expected.parts.items()
    }
    return Rules(
        kinds={c: "count" for c in kept},
        levels=("COM", "ARM"),
        code_column=code,
        parts=parts,
        part_tolerance=expected.part_tolerance,
    )


def _notes(raw: pl.DataFrame, width: int, code: str, yy: str, columns: tuple, long: pl.DataFrame) -> list[str]:
    """What a data officer should know about this file (`width` columns in its header)."""
    comparison, kept, main_kept, absent = columns
    notes = [f"census year {census_year(yy)}: {len(main_kept)} variables staged"]
    if comparison:
        notes.append(
            "comparison years read from the header: "
            + ", ".join(
                f"{census_year(y)} ({sum(1 for c in kept if _year_digits(c) == y)} variables)" for y in comparison
            )
        )
    for column in absent:
        notes.append(f"{column} not in this vintage: indicators that need it will be null (not_available)")
    arm = raw.filter(pl.col(code).str.contains(ARM_CODE)).height
    if arm:
        notes.append(
            f"{arm} arrondissement municipal row(s) (751xx, 6938x, 132xx) staged at level ARM, apart from "
            "their city, which the file already counts as a commune: never added to it"
        )
    empty = long.filter(pl.col("status") == NOT_AVAILABLE)
    if empty.height:
        codes = sorted(empty["code"].unique().to_list())
        shown = ", ".join(codes[:5]) + ("…" if len(codes) > 5 else "")
        notes.append(f"{empty.height} empty cell(s) in {len(codes)} row(s) ({shown}) staged as null (not_available)")
    other = width - 1 - len(kept)
    if other:
        notes.append(f"{other} other column(s) of the file not staged (not in the catalogue)")
    return notes


SOURCES = (
    SourceSpec(
        "census",
        ("rp_population", "rp_families", "rp_housing", "rp_employment", "rp_education"),
        stage,
        label="Insee, recensement {year}",
        demo=gen_census.write,
    ),
)
