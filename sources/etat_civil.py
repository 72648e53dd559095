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

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from sources import catalogue
from sources.catalogue import Entry
from sources.demo import gen_etat_civil
from sources.errors import Failure, SourceValidationError
from sources.geography import Geography, drop_other_zonings
from sources.reading import read_csv_file
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import (
    KINDS,
    YEARS,
    Rules,
    _code_pattern_check,
    known_codes_check,
    missing_columns,
    whole_number,
)
from sources.values import (
    LEVELS,
    MISSING,
    NOT_AVAILABLE,
    SECRET,
    STATUSES,
    run_lengths,
    runs,
    stripped,
    with_parsed_cells,
)
from sources.wide import row_cog

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
# columns read once per run of equal cells, each run's cell stripped there (the whole column never is)
READ_BY_RUNS = ("EC_MEASURE", "FREQ", "CONF_STATUS", "OBS_STATUS")


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
        *[_stripped(raw, c) for c in (*columns.required, *columns.optional) if c in raw.columns],
        *[pl.lit(None, pl.String).alias(c) for c in absent],
    )

    notes.append(_check_measure(frame, entry, fail))
    _check_frequency(frame, fail)
    frame, level_notes = _keep_levels(frame, fail)
    notes += level_notes
    year = _years(frame, fail)

    run, places, code_notes = _codes(frame)
    notes += code_notes
    cells, status_notes = _cells(frame, year)
    notes += status_notes
    if cells.height:
        first, last = cells.select(first=pl.col("year").min(), last=pl.col("year").max()).row(0)
        notes.append(f"years {first}-{last}")

    rules = Rules(
        kinds={VALUE: "count"},
        levels=LEVELS,
        code_column="GEO",
        extra_checks=(whole_number("a whole number of events"),),
    )
    rename = {VALUE: entry.params["variable"]}
    in_order = _screened_in_key_order(cells, run, places, rules, entry, geo)
    if in_order is not None:  # every rule holds: in key order, with its staged name
        in_order = in_order.with_columns(variable=pl.lit(rename[VALUE]))
        return conclude(
            in_order, entry, rules, geo, file=file, raw_path=raw_path, notes=notes, rename=rename, screened=True
        )
    long = _long(cells, run, places)
    return conclude(long, entry, rules, geo, file=file, raw_path=raw_path, notes=notes, rename=rename)


def _years(frame: pl.DataFrame, fail) -> pl.Series:
    """Each row's year (Int32): TIME_PERIOD, four digits once stripped, else the file is refused. A column whose every
    cell is four ASCII digits as it is (most files) is cast and no more: neither stripped nor matched by a regex
    (49 to 21 ms of CPU for the births of France, then 21 to 5 ms without looking for signs)."""
    text = frame.get_column("TIME_PERIOD")
    year = text.cast(pl.Int32, strict=False)
    # four bytes that cast to an integer of four digits: four ASCII digits (a sign or a space would leave three);
    # a year before 1000 takes the general way
    if ((text.str.len_bytes() == 4) & year.is_between(1000, 9999)).all():
        return year
    text = text.str.strip_chars()
    bad_years = frame.with_columns(TIME_PERIOD=text).filter(~text.fill_null("").str.contains(r"^\d{4}$"))
    if bad_years.height:
        raise fail(
            "TIME_PERIOD",
            "a year (YYYY)",
            bad_years.height,
            [f"GEO {g} = {t!r}" for g, t in bad_years.select("GEO", "TIME_PERIOD").rows()],
        )
    return text.cast(pl.Int32)


def _stripped(raw: pl.DataFrame, column: str) -> pl.Series:
    """A column stripped of its spaces. The value and the year are stripped where they are parsed (`_parsed`,
    `_years`), the measure, frequency and flags where their runs are read (`_check_measure`, `_check_frequency`,
    `_run_flags`: 12 to 5 ms of CPU for the births of France); the levels and places come in runs (a place's years,
    a level's places): `values.stripped` (110 to 20 ms of CPU for the births of France)."""
    cells = raw.get_column(column)
    return cells if column in (VALUE, "TIME_PERIOD", *READ_BY_RUNS) else stripped(cells)


def _check_measure(frame: pl.DataFrame, entry: Entry, fail) -> str:
    """One measure per file; for births it must be the catalogue's. Returns the note naming it."""
    # counted by runs (a file of one measure is one run): not a hash of each of its rows
    runs = frame.select(pl.col("EC_MEASURE").rle()).unnest("EC_MEASURE").with_columns(pl.col("value").str.strip_chars())
    counts = runs.group_by("value").agg(pl.col("len").sum()).sort("value", nulls_last=True).rows()
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
    """Annual data only: TIME_PERIOD is then a year. Judged once per run of equal cells (stripped), the rows read
    only when one is not annual."""
    runs = frame.get_column("FREQ").rle().struct.field("value").str.strip_chars()
    if (runs.is_null() | (runs == "A")).all():
        return
    text = pl.col("FREQ").str.strip_chars()
    other = frame.with_columns(FREQ=text).filter(text.is_not_null() & (text != "A"))
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


def _codes(frame: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame, list[str]]:
    """Codes as text with their leading zeros; France -> FR. Computed once per run of rows of one place (its
    years: `values.runs`, 46 to 8 ms of CPU for the births of France): each row's run, and the places, one row per
    run (`GEO_OBJECT`, `GEO`, `code`, `rows`: how many rows). A row's level and code are gathered from its place
    once the rows are in their staged order (`_screened_in_key_order`, `_long`), not before."""
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
    run, places = runs(frame, ["GEO_OBJECT", "GEO"])
    places = places.with_columns(code=code, rows=run_lengths(run, places.height))
    notes = []
    padded = places.filter((level != "FRANCE") & (pl.col("code") != geo))["rows"].sum()
    if padded:
        notes.append(f"{padded} code(s) read without their leading zero were zero-padded")
    pseudo = places.filter((level == "ARM") & geo.is_in(PSEUDO_ARM))
    if pseudo.height:
        which = ", ".join(sorted(pseudo["GEO"].unique().to_list()))
        notes.append(
            f"{pseudo['rows'].sum()} row(s) of arrondissement unknown ({which}) kept at level ARM; "
            "they are already counted in their city's commune row"
        )
    return run, places, notes


def _cells(frame: pl.DataFrame, year: pl.Series) -> tuple[pl.DataFrame, list[str]]:
    """Each row's `year`, `value` and `status`: the value, or null with the reason the status columns give."""
    conf, conf_codes = _run_flags(frame, "CONF_STATUS", _conf_flag)
    obs, obs_codes = _run_flags(frame, "OBS_STATUS", _obs_flag)
    # the cell parsed once (value, status), then the publisher's flags over its status
    cells = _parsed(pl.DataFrame([year.alias("year"), frame.get_column(VALUE).alias("_raw")]), "_raw")
    notes: list[str] = []
    flagged = pl.concat([conf, obs]).unique("row", keep="first", maintain_order=True)  # CONF_STATUS's first
    if flagged.height:
        cells, notes = _flagged(cells, flagged)
    unknown_conf = sorted(conf_codes - CONFIDENTIAL - NOT_CONFIDENTIAL - {""})
    unknown_obs = sorted(obs_codes - OBS_SECRET - OBS_NOT_AVAILABLE - OBS_VALUED - {""})
    if unknown_conf or unknown_obs:
        notes.append(
            f"unknown status code(s) read as a plain value: CONF_STATUS {unknown_conf}, OBS_STATUS {unknown_obs}"
        )
    return cells, notes


def _run_flags(frame: pl.DataFrame, column: str, flag: Callable[[pl.Expr], pl.Expr]) -> tuple[pl.DataFrame, set[str]]:
    """The rows flagged by their `column` (`row`, `flag`: `flag(cells)`, an empty text for a null cell), judged once
    per run of equal cells (most rows carry the same flag, most often none: judging every row and spreading the
    flags to every row cost 30 of the births' 35 ms of CPU here); and the column's distinct cells."""
    cells = pl.col("value").str.strip_chars().fill_null("")
    judged = frame.get_column(column).rle().struct.unnest()
    judged = judged.with_columns(start=pl.col("len").cum_sum() - pl.col("len"), cells=cells, flag=flag(cells))
    codes = set(judged.get_column("cells").unique().to_list())
    flagged = judged.filter(pl.col("flag").is_not_null())
    rows = pl.int_ranges("start", pl.col("start") + pl.col("len"), dtype=pl.UInt32)
    return flagged.select(row=rows, flag=pl.col("flag").cast(pl.String)).explode("row"), codes


def _conf_flag(conf: pl.Expr) -> pl.Expr:
    """A CONF_STATUS's reason: secret when confidential, else null."""
    return pl.when(conf.is_in(sorted(CONFIDENTIAL))).then(pl.lit(SECRET))


def _obs_flag(obs: pl.Expr) -> pl.Expr:
    """An OBS_STATUS's reason: secret when suppressed, not available for the codes of no value, else null."""
    return (
        pl.when(obs.is_in(sorted(OBS_SECRET)))
        .then(pl.lit(SECRET))
        .when(obs.is_in(sorted(OBS_NOT_AVAILABLE)))
        .then(pl.lit(NOT_AVAILABLE))
    )


def _flagged(cells: pl.DataFrame, flagged: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """`cells` with the publisher's flags (`flagged`: row, flag) as the status of their rows, the value made null,
    and the notes counting them."""
    row, flag = flagged.get_column("row"), flagged.get_column("flag")
    had_value = cells.get_column("value").gather(row).is_not_null()
    notes = []
    for reason in (SECRET, NOT_AVAILABLE):
        rows = flag == reason
        if count := rows.sum():
            hidden = (rows & had_value).sum()
            extra = f", {hidden} of them holding a value that was not staged" if hidden else ""
            notes.append(f"{count} cell(s) flagged by CONF_STATUS/OBS_STATUS staged null '{reason}'{extra}")
    status = cells.get_column("status").scatter(row, flag)
    return cells.with_columns(value=cells.get_column("value").scatter(row, None), status=status), notes


def _long(cells: pl.DataFrame, run: pl.Series, places: pl.DataFrame) -> pl.DataFrame:
    """The staged long rows in the file's order, each row's level and code its place's."""
    level, code = places.get_column("GEO_OBJECT").gather(run), places.get_column("code").gather(run)
    return cells.select(level=level, code=code, year="year", variable=pl.lit(VALUE), value="value", status="status")


def _parsed(cells: pl.DataFrame, raw: str) -> pl.DataFrame:
    """`values.with_parsed_cells` of `cells`' text column `raw`. A column whose every text casts as it is (a null
    number only where the text is null) is cast and no more: neither stripped nor given a status cell by cell
    (a number with spaces around, or a decimal comma, does not cast: such a column takes the general way)."""
    text = cells.get_column(raw)
    number = text.cast(pl.Float64, strict=False)
    if number.null_count() != text.null_count():
        return with_parsed_cells(cells.lazy(), raw, markers={}).collect()
    status = pl.when(pl.col(raw).is_null()).then(pl.lit(MISSING)).otherwise(pl.lit(None, pl.String))
    return cells.with_columns(value=number, status=status).drop(raw)


def _screened_in_key_order(
    cells: pl.DataFrame, run: pl.Series, places: pl.DataFrame, rules: Rules, entry: Entry, geo: Geography | None
) -> pl.DataFrame | None:
    """The staged long rows of `cells` in key order when every rule of `validation.passes` surely holds, else None
    (then `conclude` validates them and pandera's error names the file, column, rule and rows). Each row's place is
    its run's (`_codes`): the rules of a code are judged once per place, and the key is sorted as one integer per
    row, the place's rank among the places then the year, unique when the sorted integers are (the variable is
    one). The births of France: the unique key, codes and sort 0.3 s of CPU by rows, about 0.05 s by places. The
    rows' levels and codes are gathered from their places once in order (gathering them in the file's order, then
    the rows' texts again in key order, cost 20 ms more)."""
    if cells.is_empty() or set(rules.kinds) != {VALUE} or rules.part_pairs():
        return None
    places = places.select(level="GEO_OBJECT", code="code").with_columns(**_place_rules(rules))
    if entry.cog is not None:
        places = places.with_columns(cog=pl.lit(entry.cog, pl.Int32))
    year = cells.get_column("year")
    low, high = year.min(), year.max()
    if not all(result is True for result in places.select(_place_checks(rules, entry, geo)).row(0)):
        return None
    if not isinstance(low, int) or not isinstance(high, int) or not (YEARS[0] <= low <= high <= YEARS[1]):
        return None
    if cells.select(_row_checks(rules, places, run)).item() is not True:
        return None
    rank = _dense_rank(places).gather(run)
    key = (rank.cast(pl.UInt64) * (high - low + 1) + (year - low).cast(pl.UInt64)).to_numpy()
    # numpy's stable sort takes the runs of keys already in order (a place's years, a level's places) as they
    # come: 1.1 against 3.8 ms for the births of France (the keys are unique, so any sort gives the same order)
    by_key = np.argsort(key, kind="stable")
    ordered = key[by_key]
    if not (ordered[1:] > ordered[:-1]).all():  # a key met twice
        return None
    order = pl.Series(by_key.astype(np.uint32))
    place = run.gather(order)
    in_order = cells.gather(order).select(
        level=places.get_column("level").gather(place),
        code=places.get_column("code").gather(place),
        year="year",
        variable=pl.lit(VALUE),
        value="value",
        status="status",
    )
    if geo is not None and entry.cog is None:  # each row's COG is its year's: its codes checked on the rows
        cogs = in_order.select(row_cog(entry).unique()).to_series().to_list()
        known = known_codes_check(geo.known_codes(set(cogs)))
        if in_order.with_columns(cog=row_cog(entry)).select(known.holds()).item() is not True:
            return None
    return in_order


def _place_checks(rules: Rules, entry: Entry, geo: Geography | None) -> list[pl.Expr]:
    """The rules of a row's place, over the places (level, code): whole, a staged level, its level's pattern, known
    to the entry's COG (a COG by year: judged on the rows, `_row_checks`)."""
    level, code = pl.col("level"), pl.col("code")
    checks = [level.is_not_null().all(), code.is_not_null().all(), level.is_in(list(rules.levels)).all()]
    checks.append(_code_pattern_check(rules.levels).holds())
    if geo is not None and entry.cog is not None:
        known = known_codes_check(geo.known_codes({entry.cog}))
        checks.append(known.holds())
    return [check.alias(f"rule_{i}") for i, check in enumerate(checks)]


def _place_rules(rules: Rules) -> dict[str, pl.Expr]:
    """Per place: `_most`, the plausible maximum of a value at its level (catalogue), +inf where none."""
    most = {lvl: float(m) for lvl, m in catalogue.plausible_max().get(rules.kinds[VALUE], {}).items()}
    return {"_most": pl.col("level").replace_strict(most, default=float("inf"), return_dtype=pl.Float64)}


def _row_checks(rules: Rules, places: pl.DataFrame, run: pl.Series) -> pl.Expr:
    """Every rule of a row but its place's and its key's, as one aggregate over the rows (`run`: each row's
    place)."""
    value = pl.col("value")
    low, high = KINDS[rules.kinds[VALUE]][:2]
    holds = value.is_finite() & (value <= places.get_column("_most").gather(run))
    if low is not None:
        holds = holds & (value >= low)
    if high is not None:
        holds = holds & (value <= high)
    # the rules of a value judged as one expression over the rows (a null passes a rule, as in pandera: it passes
    # their conjunction unless another rule fails): one pass over the values, not one each (6 to 3 ms for France)
    by_row = [value.is_null() | holds, *[check.expr for check in rules.extra_checks if check.screen is None]]
    checks = [
        pl.col("year").is_not_null().all(),
        pl.col("status").is_in(list(STATUSES)).all(),
        pl.all_horizontal(by_row).all(),
        *[check.holds() for check in rules.extra_checks if check.screen is not None],
    ]
    return pl.all_horizontal(checks)


def _dense_rank(places: pl.DataFrame) -> pl.Series:
    """Each place's rank (from 0) among the distinct (level, code) of `places` in their order (the same rank for a
    place met in several runs; every level and code is set). Ranked as one struct (1.9 ms for France's 38,000
    places, where sorting by the two columns and numbering the changes cost 4.8 ms)."""
    return places.select(pl.struct("level", "code").rank("dense").cast(pl.UInt64) - 1).to_series()


SOURCES = (
    SourceSpec("etat_civil", ("births", "deaths"), stage, label="Insee, état civil {year}", demo=gen_etat_civil.write),
)
