"""INSEE état civil per commune (Melodi): births `DS_ETAT_CIVIL_NAIS_COMMUNES`, deaths `DS_ETAT_CIVIL_DECES_COMMUNES`.

The zip holds `{DS}_data.csv` (chosen by its exact name) and `{DS}_metadata.csv`. The data file is long: one row
per (GEO, GEO_OBJECT, TIME_PERIOD), the count in OBS_VALUE (`79.0`), string fields possibly quoted. Columns are
selected by name (their order varies). The file is in the latest geography (COG 2025) for every year.

Quirks handled (insee-sources §4, decisions.md "Geography"):
- GEO_OBJECT levels COM, ARM, EPCI, DEP, REG and FRANCE are staged; the other zonings (ARR, BV2022, UU2020...)
  are dropped with a count. France's GEO (`F` in Melodi) is staged as `FR`.
- `693XX` / `132XX` (Lyon / Marseille, arrondissement unknown) stay ARM rows: INSEE already counts them in the
  city's COM row, so nothing is added anywhere.
- A code whose leading zero was lost (`1001`) is zero-padded.
- CONF_STATUS confidential -> null `secret`; OBS_STATUS "missing" codes -> null `not_available`; an empty
  OBS_VALUE without such a flag -> null `missing`.
- The file must hold a single measure. For births it must be the catalogue's (`LVB`, attested); the deaths code
  is not attested, so the file's single measure is accepted and named in a note.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sources.catalogue import Entry
from sources.demo import gen_etat_civil
from sources.errors import Failure, SourceValidationError
from sources.geography import Geography, drop_other_zonings
from sources.reading import read_csv_file
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import Rules, missing_columns, whole_number
from sources.values import LEVELS, NOT_AVAILABLE, SECRET, with_parsed_cells

PSEUDO_ARM = ("693XX", "132XX")
FRANCE_CODE = "F"  # Melodi's France entière (GEO=FRANCE-F in the API)
# EC_MEASURE codes attested for these files (insee-sources §4: an API call with EC_MEASURE=LVB). The deaths code
# of the catalogue (DTH) comes from a single third-party repository: a different single code is accepted.
ATTESTED_MEASURES = {"LVB"}
# SDMX CL_CONF_STATUS: C confidential, D/S secondary confidentiality, N not for publication, A/O/T primary.
CONFIDENTIAL = {"C", "D", "S", "N", "A", "O", "T"}
NOT_CONFIDENTIAL = {"F", "G"}
# SDMX CL_OBS_STATUS: Q "missing value; suppressed" is a secret; K/L/M/O/H mean no value for this cell.
OBS_SECRET = {"Q"}
OBS_NOT_AVAILABLE = {"K", "L", "M", "O", "H"}
OBS_VALUED = {"A", "B", "D", "E", "F", "G", "I", "N", "P", "S", "U", "V", "W"}

VALUE = "OBS_VALUE"


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    spec, path = entry.file(), files["main"]
    file, raw_path = spec.member or spec.name, str(path)
    raw = read_csv_file(path, spec, source=entry.source)
    columns = entry.columns()
    missing_columns(raw.columns, columns.required, source=entry.source, file=file, raw_path=raw_path)

    def fail(column: str, rule: str, count: int, samples: list[str]) -> SourceValidationError:
        return SourceValidationError(entry.source, file, [Failure(column, rule, count, samples[:5])], raw_path)

    notes: list[str] = []
    absent = [c for c in columns.optional if c not in raw.columns]
    if absent:
        notes.append(f"optional column(s) absent, treated as empty: {', '.join(absent)}")
    frame = raw.select(
        *[pl.col(c).str.strip_chars() for c in (*columns.required, *columns.optional) if c in raw.columns],
        *[pl.lit(None, pl.String).alias(c) for c in absent],
    )

    notes.append(_check_measure(frame, entry, fail))
    _check_frequency(frame, fail)
    frame, level_notes = _keep_levels(frame, fail)
    notes += level_notes
    bad_years = frame.filter(~pl.col("TIME_PERIOD").fill_null("").str.contains(r"^\d{4}$"))
    if bad_years.height:
        raise fail(
            "TIME_PERIOD",
            "a year (YYYY)",
            bad_years.height,
            [f"GEO {g} = {t!r}" for g, t in bad_years.select("GEO", "TIME_PERIOD").rows()],
        )

    frame, code_notes = _codes(frame)
    notes += code_notes
    long, status_notes = _long(frame)
    notes += status_notes
    if long.height:
        first, last = long.select(first=pl.col("year").min(), last=pl.col("year").max()).row(0)
        notes.append(f"years {first}-{last}")

    rules = Rules(
        kinds={VALUE: "count"},
        levels=LEVELS,
        code_column="GEO",
        extra_checks=(whole_number("a whole number of events"),),
    )
    return conclude(
        long, entry, rules, geo, file=file, raw_path=raw_path, notes=notes, rename={VALUE: entry.params["variable"]}
    )


def _check_measure(frame: pl.DataFrame, entry: Entry, fail) -> str:
    """One measure per file; for births it must be the catalogue's. Returns the note naming it."""
    counts = frame.group_by("EC_MEASURE").len().sort("EC_MEASURE", nulls_last=True).rows()
    found = [(m if m is not None else "(empty)", n) for m, n in counts]
    if len(found) != 1:
        raise fail("EC_MEASURE", "one measure per file", frame.height, [f"{m}: {n} row(s)" for m, n in found])
    measure = found[0][0]
    expected = entry.params["measure"]
    if measure == expected:
        attested = "attested" if expected in ATTESTED_MEASURES else "catalogue code, not attested in documentation"
        return f"EC_MEASURE {measure} ({attested})"
    if expected in ATTESTED_MEASURES:
        raise fail(
            "EC_MEASURE",
            f"the measure must be {expected} (catalogue params)",
            frame.height,
            [f"the file holds {measure}"],
        )
    return (
        f"EC_MEASURE {measure}: the catalogue expects {expected}, a code not attested for this file; "
        f"the file's single measure was accepted"
    )


def _check_frequency(frame: pl.DataFrame, fail) -> None:
    """Annual data only: TIME_PERIOD is then a year."""
    other = frame.filter(pl.col("FREQ").is_not_null() & (pl.col("FREQ") != "A"))
    if other.height:
        raise fail(
            "FREQ",
            "annual frequency (A)",
            other.height,
            [f"GEO {g} {t}: {f!r}" for g, t, f in other.select("GEO", "TIME_PERIOD", "FREQ").rows()],
        )


def _keep_levels(frame: pl.DataFrame, fail) -> tuple[pl.DataFrame, list[str]]:
    """Keep the staged levels; drop the other zonings with a count; one France code staged as FR."""
    frame, notes = drop_other_zonings(frame, LEVELS, fail, "TIME_PERIOD")

    france = sorted(frame.filter(pl.col("GEO_OBJECT") == "FRANCE")["GEO"].drop_nulls().unique().to_list())
    if len(france) > 1:
        if FRANCE_CODE not in france:
            raise fail("GEO", "one France-level code (F)", len(france), [f"FRANCE codes: {', '.join(france)}"])
        others = [c for c in france if c != FRANCE_CODE]
        frame = frame.filter((pl.col("GEO_OBJECT") != "FRANCE") | (pl.col("GEO") == FRANCE_CODE))
        notes.append(
            f"France level: GEO {FRANCE_CODE} staged as FR; other France zonings dropped ({', '.join(others)})"
        )
    elif france:
        notes.append(f"France level: GEO {france[0]} staged as FR")
    return frame, notes


def _codes(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Codes as text with their leading zeros; France -> FR."""
    level, geo = pl.col("GEO_OBJECT"), pl.col("GEO")
    code = (
        pl.when(level == "FRANCE")
        .then(pl.lit("FR"))
        .when(level.is_in(["COM", "ARM"]) & geo.str.contains(r"^\d{4}$"))
        .then(geo.str.zfill(5))
        .when(level.is_in(["DEP", "REG"]) & geo.str.contains(r"^\d$"))
        .then(geo.str.zfill(2))
        .otherwise(geo)
    )
    frame = frame.with_columns(code=code)
    notes = []
    padded = frame.filter((level != "FRANCE") & (pl.col("code") != geo)).height
    if padded:
        notes.append(f"{padded} code(s) read without their leading zero were zero-padded")
    pseudo = frame.filter((level == "ARM") & geo.is_in(PSEUDO_ARM))
    if pseudo.height:
        which = ", ".join(sorted(pseudo["GEO"].unique().to_list()))
        notes.append(
            f"{pseudo.height} row(s) of arrondissement unknown ({which}) kept at level ARM; "
            "they are already counted in their city's commune row"
        )
    return frame, notes


def _long(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Staged long rows: the value, or null with the reason the status columns give."""
    conf, obs = pl.col("_conf"), pl.col("_obs")
    flagged = (
        pl.when(conf.is_in(sorted(CONFIDENTIAL)))
        .then(pl.lit(SECRET))
        .when(obs.is_in(sorted(OBS_SECRET)))
        .then(pl.lit(SECRET))
        .when(obs.is_in(sorted(OBS_NOT_AVAILABLE)))
        .then(pl.lit(NOT_AVAILABLE))
    )
    cells = frame.lazy().select(
        level="GEO_OBJECT",
        code="code",
        year=pl.col("TIME_PERIOD").cast(pl.Int32),
        variable=pl.lit(VALUE),
        _raw=pl.col(VALUE),
        _conf=pl.col("CONF_STATUS").fill_null(""),
        _obs=pl.col("OBS_STATUS").fill_null(""),
    )
    # the cell parsed once (`with_parsed_cells`: value, status), then the publisher's flags over its status
    cells = with_parsed_cells(cells, "_raw", markers={}).with_columns(_flag=flagged)
    cells = cells.with_columns(_had_value=pl.col("value").is_not_null(), status=pl.coalesce("_flag", "status"))
    value = pl.when(pl.col("status").is_null()).then(pl.col("value")).otherwise(pl.lit(None, pl.Float64))
    columns = ["level", "code", "year", "variable", "value", "status", "_flag", "_had_value", "_conf", "_obs"]
    long = cells.with_columns(value=value).select(columns).collect()
    notes = []
    for reason in (SECRET, NOT_AVAILABLE):
        rows = long.filter(pl.col("_flag") == reason)
        if rows.height:
            hidden = rows.filter(pl.col("_had_value")).height
            extra = f", {hidden} of them holding a value that was not staged" if hidden else ""
            notes.append(f"{rows.height} cell(s) flagged by CONF_STATUS/OBS_STATUS staged null '{reason}'{extra}")
    unknown_conf = sorted(set(long["_conf"].unique().to_list()) - CONFIDENTIAL - NOT_CONFIDENTIAL - {""})
    unknown_obs = sorted(set(long["_obs"].unique().to_list()) - OBS_SECRET - OBS_NOT_AVAILABLE - OBS_VALUED - {""})
    if unknown_conf or unknown_obs:
        notes.append(
            f"unknown status code(s) read as a plain value: CONF_STATUS {unknown_conf}, OBS_STATUS {unknown_obs}"
        )
    return long.drop("_flag", "_had_value", "_conf", "_obs"), notes


SOURCES = (
    SourceSpec("etat_civil", ("births", "deaths"), stage, label="Insee, état civil {year}", demo=gen_etat_civil.write),
)
