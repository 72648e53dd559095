"""INSEE BPE (Base permanente des équipements): number of equipments per territory and equipment type.

The national aggregated file `DS_BPE_CSV_FR.zip` (supply-space-time-sources §1.2) is one long `;` CSV, string
fields quoted, numbers not: `GEO, GEO_OBJECT, FACILITY_DOM, FACILITY_SDOM, FACILITY_TYPE, BPE_MEASURE,
TIME_PERIOD, OBS_VALUE` (BPE 2025 adds `UNIT_MEASURE, OBS_STATUS, UNIT_MULT`; columns are selected by name).

**The URL is overwritten at every release**: the vintage is only visible in the data member's name
(`DS_BPE_data.csv` for BPE 2023 and the Melodi copy, `DS_BPE_2024_data.csv`, `DS_BPE_2025_data.csv`) and in
`TIME_PERIOD`. The catalogue entry therefore gives a member *pattern* (`params.member_pattern`, a full match that
no metadata member satisfies): exactly one member must match, the year in its name (when it has one) must be the
file's single `TIME_PERIOD`, and the staged rows carry that year. A new release at the same URL is a new upstream
file: it is staged again and its year is in the staging notes and in the report's « données YYYY ». BPE N is in
the geography of 1 January N+1 (`cog_offset = 1`); a release whose geography is after the target COG cannot be
brought back to it and is refused, naming the year, so the previous table is kept.

Quirks handled:
- only `BPE_MEASURE == FACILITIES` is staged (other measures dropped with a count);
- subtotals `_T` (in FACILITY_DOM, FACILITY_SDOM or FACILITY_TYPE) are dropped: only leaf types are staged, or
  each equipment would be counted up to three times; a leaf type must belong to its sub-domain and domain;
- levels COM, ARM, EPCI, DEP, REG and FRANCE are staged (France as `FR`), other zonings (ARR, BV2022, UU2020,
  AAV2020, ZE2020) dropped with a count; EPCI `ZZZZZZZZZ` (no EPCI) dropped;
- arrondissements (751xx, 6938x, 132xx) stay at level ARM: the city's COM row already counts them (never added);
- an empty OBS_VALUE is a secret, never 0; OBS_STATUS (BPE 2025) is read with the SDMX codes of état civil;
- **only equipped communes have rows**: a (commune, type) pair absent from the file is 0 (§1.2, verified). The
  zeros are staged explicitly at level COM, for every commune of the file's geography and every type the file
  holds at some level; a type absent from the whole file (a code of another vintage, such as `D509` before BPE
  2025) is not staged, so indicators reading it are null `not_available`, never 0. ARM rows are staged as
  published (the observatory and the indicators read communes only).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import polars as pl

from sources.catalogue import Entry
from sources.demo import gen_bpe
from sources.errors import Failure, ParseError, SourceValidationError
from sources.etat_civil import OBS_NOT_AVAILABLE, OBS_SECRET
from sources.geography import Geography, drop_other_zonings
from sources.reading import csv_file_bytes, read_csv_bytes, read_csv_file
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import Rules, known_codes_check, missing_columns, validate, whole_number
from sources.values import LEVELS, NOT_AVAILABLE, SECRET, finish, parse_cells, sorted_by_key
from sources.wide import row_cog

MEASURE = "FACILITIES"
TOTAL = "_T"
FRANCE_CODE = "FR"
VALUE = "OBS_VALUE"
# A leaf equipment type (`D502`), its sub-domain (`D5`) and domain (`D`): letters A-G today, any letter tolerated
TYPE_PATTERN, SDOM_PATTERN, DOM_PATTERN = r"^[A-Z]\d{3}$", r"^[A-Z]\d$", r"^[A-Z]$"
# Types the indicators read that earlier releases do not have (type -> first BPE year): absent from an earlier
# file, they are said in the notes and their indicators are null `not_available` (supply-space-time-sources §1.4:
# D509 micro-crèches is absent from the BPE 2024 dictionary, read from BPE 2025 files).
LATER_TYPES = {"D509": 2025}
# The cities whose arrondissements (level ARM) the file also lists
PARIS, LYON, MARSEILLE = "75056", "69123", "13055"


def data_member(path: Path, pattern: str, *, source: str) -> tuple[str, int | None]:
    """The one data member matching the catalogue's pattern, and the year its name carries (None without)."""
    regex = re.compile(pattern)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile as exc:
        raise ParseError(source, path.name, f"not a zip archive: {exc}") from exc
    matches = [n for n in names if regex.fullmatch(n)]
    if len(matches) != 1:
        raise ParseError(
            source,
            path.name,
            f"expected exactly one data member matching {pattern!r}, found "
            f"{matches or 'none'}; the archive holds {names}",
        )
    found = regex.fullmatch(matches[0])
    assert found is not None  # matched just above
    year = found.groupdict().get("year")
    return matches[0], int(year) if year else None


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    spec, path = entry.file(), files["main"]
    member, name_year = data_member(path, entry.params["member_pattern"], source=entry.source)
    raw_path = str(path)
    raw = read_csv_file(path, spec, source=entry.source, member=member)
    columns = entry.columns()
    missing_columns(raw.columns, columns.required, source=entry.source, file=member, raw_path=raw_path)

    def fail(column: str, rule: str, count: int, samples: list[str]) -> SourceValidationError:
        return SourceValidationError(entry.source, member, [Failure(column, rule, count, samples[:5])], raw_path)

    absent = [c for c in columns.optional if c not in raw.columns]
    frame = raw.select(
        *[pl.col(c).str.strip_chars() for c in (*columns.required, *columns.optional) if c in raw.columns],
        *[pl.lit(None, pl.String).alias(c) for c in absent],
    )
    year = _year(frame, member, name_year, fail)
    cog = _cog(entry, year, geo, member, frame.height, fail)
    notes = [f"BPE {year}: member {member}, TIME_PERIOD {year}; communes in the geography of 1 January {cog}"]
    frame, kept_notes = _facilities(frame, fail)
    notes += kept_notes
    frame, level_notes = _levels(frame, fail)
    notes += level_notes
    long = _long(frame, year)
    notes += _status_notes(long)
    types = sorted(long["variable"].unique().to_list())
    rules = Rules(
        kinds={t: "count" for t in types},
        levels=LEVELS,
        code_column="GEO",
        extra_checks=(whole_number("a whole number of equipments"),),
    )
    try:
        # the published rows are judged; the zeros added below pass every rule by construction (a commune of the
        # file's geography, a type of the file, 0, a (commune, type) pair absent from the file): the grid of
        # France (840,000 rows) is neither validated nor sorted (BPE 0.65 to 0.09 s of CPU)
        _validate(long, entry, rules, geo, file=member, raw_path=raw_path)
        long, zero_notes = _with_zeros(long, types, year, _communes(long, geo, cog))
        notes += zero_notes + _arm_notes(long)
        notes.append(f"{len(types)} equipment types staged; the BPE counts equipments, not places")
        notes += [
            f"type {t} (from BPE {first}) absent from BPE {year}: its indicators are null (not_available)"
            for t, first in LATER_TYPES.items()
            if t not in types and year < first
        ]
        return conclude(long, entry, rules, geo, file=member, raw_path=raw_path, notes=notes, screened=True)
    except SourceValidationError as exc:  # a failure on a type names the file's own column and the type
        raise _naming_types(exc, types) from None


def grid_cells(entry: Entry, files: dict[str, Path], geo: Geography | None) -> int:
    """The cells of the grid the staged table fills (`_zeros`): the target's communes times the leaf types of the
    release, listed by its metadata member (`COD_VAR == FACILITY_TYPE`), or read from the data member when the
    metadata does not list them. The memory bound of staging (`sources.memory`) reserves for them."""
    if geo is None:
        return 0
    path = files["main"]
    member, _ = data_member(path, entry.params["member_pattern"], source=entry.source)
    types = _listed_types(path, member, entry) or _data_types(path, member, entry)
    return len(geo.communes_at(geo.target)) * types


def _listed_types(path: Path, member: str, entry: Entry) -> int:
    """The leaf types the release's metadata member lists (0 without one: an older or reshaped archive)."""
    metadata = member.replace("_data.csv", "_metadata.csv")
    with zipfile.ZipFile(path) as zf:
        if metadata == member or metadata not in zf.namelist():
            return 0
    frame = read_csv_file(path, entry.file(), source=entry.source, member=metadata)
    if not {"COD_VAR", "COD_MOD"} <= set(frame.columns):
        return 0
    codes = frame.filter(pl.col("COD_VAR") == "FACILITY_TYPE")["COD_MOD"]
    return codes.filter(codes.str.contains(TYPE_PATTERN)).n_unique()


def _data_types(path: Path, member: str, entry: Entry) -> int:
    """The distinct leaf types of the data member itself (one column read; 0 without it: staging says why)."""
    data, name = csv_file_bytes(path, entry.file(), source=entry.source, member=member)
    separator = entry.file().separator
    if "FACILITY_TYPE" not in read_csv_bytes(data, separator, source=entry.source, name=name, header_only=True).columns:
        return 0
    frame = read_csv_bytes(data, separator, source=entry.source, name=name, columns=["FACILITY_TYPE"])
    codes = frame["FACILITY_TYPE"].str.strip_chars()
    return codes.filter(codes.str.contains(TYPE_PATTERN)).n_unique()


def _naming_types(exc: SourceValidationError, types: list[str]) -> SourceValidationError:
    failures = [
        Failure(f"{VALUE} (FACILITY_TYPE {f.column})" if f.column in types else f.column, f.rule, f.count, f.samples)
        for f in exc.failures
    ]
    return SourceValidationError(exc.source, exc.file, failures, exc.raw_path)


def _cog(entry: Entry, year: int, geo: Geography | None, member: str, rows: int, fail) -> int:
    """The geography of the file's communes, which must not be after the target COG."""
    cog = entry.cog_for_year(year)
    if geo is not None and cog > geo.target:
        raise fail(
            "TIME_PERIOD",
            f"a geography at most the target COG {geo.target}",
            rows,
            [
                f"{member}: BPE {year} is in the geography of 1 January {cog}, after the target COG "
                f"{geo.target}; its communes cannot be brought back to it (the previous table is kept)"
            ],
        )
    return cog


def _year(frame: pl.DataFrame, member: str, name_year: int | None, fail) -> int:
    """The file's single TIME_PERIOD, a year, equal to the year in the member's name when it has one."""
    periods = frame.group_by("TIME_PERIOD").len().sort("TIME_PERIOD", nulls_last=True).rows()
    if len(periods) != 1 or not re.fullmatch(r"\d{4}", periods[0][0] or ""):
        raise fail(
            "TIME_PERIOD",
            "one year (YYYY) for the whole file",
            frame.height,
            [f"{p!r}: {n} row(s)" for p, n in periods],
        )
    year = int(periods[0][0])
    if name_year is not None and name_year != year:
        raise fail(
            "TIME_PERIOD",
            f"the year of the member's name ({name_year})",
            frame.height,
            [f"{member} holds TIME_PERIOD {year}"],
        )
    return year


def _facilities(frame: pl.DataFrame, fail) -> tuple[pl.DataFrame, list[str]]:
    """Rows counting facilities, leaf types only; each leaf type inside its sub-domain and domain."""
    notes = []
    other = frame.filter(pl.col("BPE_MEASURE").fill_null("") != MEASURE)
    if other.height:
        found = ", ".join(f"{m} {n}" for m, n in other.group_by("BPE_MEASURE").len().sort("BPE_MEASURE").rows())
        notes.append(f"{other.height} row(s) of other measures dropped ({found}); {MEASURE} staged")
    frame = frame.filter(pl.col("BPE_MEASURE") == MEASURE)
    dims = ("FACILITY_DOM", "FACILITY_SDOM", "FACILITY_TYPE")
    subtotal = pl.any_horizontal(*[pl.col(c).fill_null("") == TOTAL for c in dims])
    if n := frame.filter(subtotal).height:
        notes.append(f"{n} subtotal row(s) ({TOTAL} in a domain, sub-domain or type) dropped: leaf types only")
    frame = frame.filter(~subtotal)
    dom, sdom, typ = (pl.col(c).fill_null("") for c in dims)
    consistent = (
        typ.str.contains(TYPE_PATTERN)
        & sdom.str.contains(SDOM_PATTERN)
        & dom.str.contains(DOM_PATTERN)
        & typ.str.starts_with(sdom)
        & sdom.str.starts_with(dom)
    )
    bad = frame.filter(~consistent)
    if bad.height:
        raise fail(
            "FACILITY_TYPE",
            "a type (A123) inside its sub-domain (A1) and domain (A)",
            bad.height,
            [f"GEO {g}: {d} / {s} / {t}" for g, d, s, t in bad.select("GEO", *dims).head(5).rows()],
        )
    return frame, notes


def _levels(frame: pl.DataFrame, fail) -> tuple[pl.DataFrame, list[str]]:
    """Keep the staged levels (France as FR); other zonings and the no-EPCI pseudo-code dropped with a count."""
    frame, notes = drop_other_zonings(frame, LEVELS, fail, "FACILITY_TYPE")
    france = sorted(frame.filter(pl.col("GEO_OBJECT") == "FRANCE")["GEO"].drop_nulls().unique().to_list())
    if len(france) > 1:
        raise fail("GEO", "one France-level code", len(france), [f"FRANCE codes: {', '.join(france)}"])
    if france:
        notes.append(f"France level: GEO {france[0]} staged as {FRANCE_CODE}")
    level, geo = pl.col("GEO_OBJECT"), pl.col("GEO")
    code = (
        pl.when(level == "FRANCE")
        .then(pl.lit(FRANCE_CODE))
        .when(level.is_in(["COM", "ARM"]) & geo.str.contains(r"^\d{4}$"))
        .then(geo.str.zfill(5))
        .when(level.is_in(["DEP", "REG"]) & geo.str.contains(r"^\d$"))
        .then(geo.str.zfill(2))
        .otherwise(geo)
    )
    frame = frame.with_columns(code=code)
    if padded := frame.filter((level != "FRANCE") & (pl.col("code") != geo)).height:
        notes.append(f"{padded} code(s) read without their leading zero were zero-padded")
    return frame, notes


def _long(frame: pl.DataFrame, year: int) -> pl.DataFrame:
    """Staged rows: an empty OBS_VALUE is a secret (never 0); OBS_STATUS, when present, may say why."""
    value, status = parse_cells(pl.col(VALUE), markers={}, empty=SECRET)
    obs = pl.col("OBS_STATUS").fill_null("")
    flagged = (
        pl.when(obs.is_in(sorted(OBS_SECRET)))
        .then(pl.lit(SECRET))
        .when(obs.is_in(sorted(OBS_NOT_AVAILABLE)))
        .then(pl.lit(NOT_AVAILABLE))
    )
    final = pl.coalesce(flagged, status)
    return frame.select(
        level="GEO_OBJECT",
        code="code",
        year=pl.lit(year, pl.Int32),
        variable="FACILITY_TYPE",
        value=pl.when(final.is_null()).then(value).otherwise(pl.lit(None, pl.Float64)),
        status=final,
    )


def _status_notes(long: pl.DataFrame) -> list[str]:
    notes = []
    for reason in (SECRET, NOT_AVAILABLE):
        if n := long.filter(pl.col("status") == reason).height:
            notes.append(f"{n} empty or flagged cell(s) staged null '{reason}', never 0")
    return notes


def _communes(long: pl.DataFrame, geo: Geography | None, cog: int) -> list[str]:
    """The communes of the file's geography (from the COG), or those the file names when no geography is given."""
    if geo is not None:
        return sorted(geo.communes_at(cog))
    return sorted(long.filter(pl.col("level") == "COM")["code"].unique().to_list())


def _validate(
    long: pl.DataFrame, entry: Entry, rules: Rules, geo: Geography | None, *, file: str, raw_path: str
) -> None:
    """Every staged rule on the file's rows, each code in the COG of its row, as `staging.conclude` checks them."""
    typed = finish(long, entry.source, entry.vintage, sort=False).drop("source", "vintage")
    typed = typed.with_columns(cog=row_cog(entry))
    known = known_codes_check(geo.known_codes(set(typed["cog"].unique().to_list()))) if geo is not None else None
    validate(typed, rules, source=entry.source, file=file, raw_path=raw_path, known=known)


def _with_zeros(long: pl.DataFrame, types: list[str], year: int, communes: list[str]) -> tuple[pl.DataFrame, list[str]]:
    """The validated rows in key order, every (commune, type) pair absent from the file staged as 0: the BPE lists
    equipped communes only. The commune rows are the grid of `communes` x `types` (both sorted: the grid is in key
    order), the file's values put in their cells; the other levels sorted around it."""
    com = pl.col("level") == "COM"
    present = long.filter(com)
    grid = _commune_grid(present, types, year, communes)
    others = sorted_by_key(long.filter(~com), ["level", "code", "year", "variable"])
    before = pl.col("level") < "COM"  # the order of the level names, as `sorted_by_key` ranks them
    frame = pl.concat([others.filter(before), grid, others.filter(~before)])
    absent = grid.height - present.height
    if absent == 0:
        return frame, []
    empty = sorted(set(communes) - set(present["code"].to_list()))
    shown = f"; communes without any equipment: {', '.join(empty[:5])}{'…' if len(empty) > 5 else ''}" if empty else ""
    note = (
        f"{absent} (commune, type) pair(s) absent from the file staged as 0 (the BPE lists equipped "
        f"communes only){shown}"
    )
    return frame, [note]


def _commune_grid(present: pl.DataFrame, types: list[str], year: int, communes: list[str]) -> pl.DataFrame:
    """One COM row per (commune, type), commune after commune, types in order: 0, or the file's cell where it has
    one. Each commune row of a validated file is in exactly one cell: its code is known in its COG (a commune of
    `communes`), its type is one of `types` (read from the file), its key unique."""
    width, size = len(types), len(communes) * len(types)
    commune_of = np.repeat(np.arange(len(communes)), width)
    type_of = np.tile(np.arange(width), len(communes))
    numbered = present.join(pl.DataFrame({"code": communes}).with_row_index("commune"), on="code").join(
        pl.DataFrame({"variable": types}).with_row_index("type"), on="variable"
    )
    cell = numbered.select(place=pl.col("commune").cast(pl.Int64) * width + pl.col("type").cast(pl.Int64))["place"]
    return pl.DataFrame(
        {
            "level": pl.repeat("COM", size, eager=True),
            "code": pl.Series(communes, dtype=pl.String).gather(commune_of),
            "year": pl.repeat(year, size, dtype=pl.Int32, eager=True),
            "variable": pl.Series(types, dtype=pl.String).gather(type_of),
            "value": pl.zeros(size, pl.Float64, eager=True).scatter(cell, numbered["value"]),
            "status": pl.repeat(None, size, dtype=pl.String, eager=True).scatter(cell, numbered["status"]),
        }
    )


def _arm_notes(long: pl.DataFrame) -> list[str]:
    """Arrondissements stay apart; say where they do not add up to their city's row (they should, exactly)."""
    arm = long.filter(pl.col("level") == "ARM")
    if arm.is_empty():
        return []
    city = (
        pl.when(pl.col("code").str.starts_with("751"))
        .then(pl.lit(PARIS))
        .when(pl.col("code").str.starts_with("6938"))
        .then(pl.lit(LYON))
        .otherwise(pl.lit(MARSEILLE))
    )
    sums = arm.group_by(city.alias("code"), "variable").agg(arm=pl.col("value").sum())
    # the cities' rows only: the commune rows are the grid of every commune (a join with all of them took 0.1 s)
    cities = long.filter((pl.col("level") == "COM") & pl.col("code").is_in([PARIS, LYON, MARSEILLE]))
    joined = sums.join(cities, on=["code", "variable"], how="left")
    differ = joined.filter(pl.col("value").is_not_null() & (pl.col("value") != pl.col("arm")))
    note = (
        f"{arm.height} arrondissement row(s) staged at level ARM, apart from their city, whose COM row already "
        "counts them: never added to it"
    )
    if differ.height:
        note += f"; {differ.height} (city, type) pair(s) where they do not sum to the city's row"
    return [note]


SOURCES = (SourceSpec("bpe", ("bpe",), stage, label="Insee, BPE {year}", demo=gen_bpe.write, grid_cells=grid_cells),)
