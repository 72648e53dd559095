"""INSEE census bases by IRIS (RP `base-ic-*`): population, families, housing, activity of the residents.

A zip of one `;` CSV (`base-ic-evol-struct-pop-2022.CSV`, upper-case extension) and its `meta_` file. Header
`IRIS;COM;TYP_IRIS;LAB_IRIS;P22_POP;…` ([verified] for the population file, 76 columns), one row per IRIS: about
48,600 rows nationally (IRIS and pseudo-IRIS, supply-space-time-sources §5.3), `.` decimals (weighted estimates,
integers for small communes).

Quirks handled:
- IRIS codes are 9-character strings (`010010000`, `2A0040101`), never numbers; a commune not divided into IRIS
  has one pseudo-IRIS `<commune>0000` (TYP_IRIS `Z`);
- `COM` is the commune, or the arrondissement for Paris, Lyon and Marseille (`751083006` is in 75108): it must be
  the first five characters of the IRIS code, so the commune is never guessed from anything else;
- the file is in the IRIS geography of 1 January 2024 (§5.2, §7): IRIS rows are staged as published (level IRIS)
  and brought to the target communes through the IRIS reference of the same geography (`transforms/infra.py`);
- the year is read from the header (`P22_`), never assumed; staged names drop it (`P22_POP` -> `P_POP`);
- no secret marker in RP files: an empty cell is null `not_available`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import polars as pl

from sources.catalogue import Entry
from sources.census import _check_main_year, census_year, header_years, without_year
from sources.codes import CODE_PATTERNS
from sources.demo import gen_iris
from sources.errors import Failure, SourceValidationError
from sources.geography import Geography
from sources.reading import csv_file_bytes, read_csv_bytes
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import Rules, missing_columns
from sources.values import NOT_AVAILABLE
from sources.wide import one_year_long, read_numbers

IRIS, COM, TYPE = "IRIS", "COM", "TYP_IRIS"
LEVEL = "IRIS"


def check_iris_codes(raw: pl.DataFrame, *, source: str, file: str, raw_path: str) -> None:
    """IRIS codes of 9 characters whose first five are the row's commune (or arrondissement): else a failure
    naming the rows (a code read as a number, `10010000`, fails here)."""
    code, com = pl.col(IRIS).str.strip_chars(), pl.col(COM).str.strip_chars()
    failures = []
    malformed = raw.filter(~code.str.contains(CODE_PATTERNS["IRIS"]).fill_null(False))
    if malformed.height:
        failures.append(
            Failure(
                IRIS,
                "an IRIS code has 9 characters: the commune's code and 4 digits",
                malformed.height,
                [str(r) for r in malformed.select(IRIS, COM).head(5).rows()],
            )
        )
    elsewhere = raw.filter(code.str.contains(CODE_PATTERNS["IRIS"]).fill_null(False) & (code.str.slice(0, 5) != com))
    if elsewhere.height:
        failures.append(
            Failure(
                COM,
                "the commune (COM) is the first 5 characters of its IRIS code",
                elsewhere.height,
                [str(r) for r in elsewhere.select(IRIS, COM).head(5).rows()],
            )
        )
    if TYPE in raw.columns:
        pseudo = raw.filter((pl.col(TYPE) == "Z") & ~code.str.ends_with("0000"))
        if pseudo.height:
            failures.append(
                Failure(
                    TYPE,
                    "an IRIS of type Z (commune not divided into IRIS) is coded <commune>0000",
                    pseudo.height,
                    [str(r) for r in pseudo.select(IRIS, TYPE).head(5).rows()],
                )
            )
    if failures:
        raise SourceValidationError(source, file, failures, raw_path)


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    spec, path = entry.file(), files["main"]
    file, raw_path = spec.member or spec.name, str(path)
    data, name = csv_file_bytes(path, spec, source=entry.source)
    header = read_csv_bytes(data, spec.separator, source=entry.source, name=name, header_only=True).columns
    expected = entry.columns()
    kept = [c for c in (*expected.required, *expected.optional) if c in header]
    # every column read, the staged ones as numbers when every cell is one or empty (as `parse_wide` reads them),
    # the others as text (codes keep their zeros); else every column as text
    numbers = read_numbers(data, spec.separator, kept)
    raw = numbers if numbers is not None else read_csv_bytes(data, spec.separator, source=entry.source, name=name)
    missing_columns(header, (IRIS, COM, *expected.required), source=entry.source, file=file, raw_path=raw_path)
    yy = _check_main_year(entry, header_years(header), header, file, raw_path)
    check_iris_codes(raw, source=entry.source, file=file, raw_path=raw_path)
    absent = [c for c in expected.optional if c not in header]
    rules = Rules(
        kinds={c: "count" for c in kept},
        levels=(LEVEL,),
        code_column=IRIS,
        parts=expected.parts,
        part_tolerance=expected.part_tolerance,
    )
    index = {"level": pl.lit(LEVEL), "code": pl.col(IRIS).str.strip_chars()}
    year, rename = census_year(yy), {c: without_year(c) for c in kept}
    cog = entry.cog if entry.cog is not None else year + (entry.cog_offset or 0)
    # every rule screened on the file's rows, the long rows built in key order; else judged on the long rows
    # read as numbers, a file that fails a rule is melted from its text, for the long rows' errors
    text = None if numbers is None else partial(read_csv_bytes, data, spec.separator, source=entry.source, name=name)
    long, screened = one_year_long(
        raw, index, rules, rename, year, cog, geo, markers={}, empty=NOT_AVAILABLE, text=text
    )
    del data
    notes = _notes(raw, kept, absent, long, entry)
    # IRIS rows are not communes: `conclude` leaves them in the file's IRIS geography
    return conclude(
        long, entry, rules, geo, file=file, raw_path=raw_path, notes=notes, rename=rename, screened=screened
    )


def _notes(raw: pl.DataFrame, kept: list[str], absent: list[str], long: pl.DataFrame, entry: Entry) -> list[str]:
    pseudo = raw.filter(pl.col(IRIS).str.ends_with("0000")).height
    notes = [
        (
            f"{raw.height} IRIS rows (IRIS geography {entry.cog}): {raw.height - pseudo} IRIS of communes "
            f"divided into IRIS, {pseudo} communes not divided into IRIS (pseudo-IRIS <commune>0000); "
            f"{len(kept)} variables"
        )
    ]
    notes += [f"{c} not in this file: the infra-communal figures that need it are null (not_available)" for c in absent]
    empty = long.filter(pl.col("status") == NOT_AVAILABLE).height
    if empty:
        notes.append(f"{empty} empty cell(s) staged as null (not_available)")
    return notes


SOURCES = (
    SourceSpec(
        "iris_census",
        ("rp_iris_population", "rp_iris_families", "rp_iris_housing", "rp_iris_activity"),
        stage,
        label="Insee, recensement {year} par IRIS",
        demo=gen_iris.write,
    ),
)
