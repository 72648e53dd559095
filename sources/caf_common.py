"""Helpers shared by the CAF parsers: data.caf.fr (Opendatasoft v2.1) CSV exports.

The exports are UTF-8 with a BOM, `;`-separated, with the technical field names as header (caf-sources.md §0.2).
Every catalogue URL ends in `/exports/csv`, so files are named after their dataset id (`s_ben_com_f.csv`) in
messages rather than after the last URL segment.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import polars as pl

from sources.catalogue import Entry, FileSpec
from sources.errors import Failure, SourceValidationError
from sources.geography import Geography, _cut
from sources.reading import read_csv_bytes, read_csv_frame, utf8_bytes
from sources.values import NOT_AVAILABLE, melt, per_run, without_rows
from sources.wide import row_cog

# `YYYY`, `YYYY-MM`, `YYYYMM` or `YYYY-MM-DD` (dtreffre is a month-precision date; annee an int or a date).
PERIOD = r"^(\d{4})(?:-?(\d{2}))?(?:-(\d{2}))?$"
# CAF placeholder codes: `XX` (communes in no EPCI), `XXX` (no département): not localised, dropped.
PLACEHOLDER = r"^X+$"
# Paris, Lyon and Marseille are published by arrondissement municipal only.
ARM_PATTERN = r"^(751\d\d|6938\d|132\d\d)$"
CITIES = {"751": ("75056", "Paris"), "6938": ("69123", "Lyon"), "132": ("13055", "Marseille")}
# arrondissements municipaux of each city (COG: 75101-75120, 69381-69389, 13201-13216): a sum over fewer is partial
ARRONDISSEMENT_COUNT = {"75056": 20, "69123": 9, "13055": 16}


def read_export(entry: Entry, spec: FileSpec, path: Path) -> tuple[pl.DataFrame, str]:
    """An export as an all-text frame (BOM stripped, LF or CRLF) and the label naming it in messages."""
    data, label = export_bytes(entry, spec, path)
    return read_text(data, spec, source=entry.source, name=label), label


def export_bytes(entry: Entry, spec: FileSpec, path: Path) -> tuple[bytes, str]:
    """An export's bytes, checked UTF-8, and the label naming it in messages."""
    label = spec.name  # `s_ben_com_f.csv`: Opendatasoft exports are named after their dataset
    return utf8_bytes(path.read_bytes(), spec, source=entry.source, name=label), label  # the same rule as `decode`


def read_text(data: bytes, spec: FileSpec, *, source: str, name: str) -> pl.DataFrame:
    """The export's bytes as an all-text frame, its column names stripped."""
    frame = read_csv_bytes(data, spec.separator, source=source, name=name)
    frame.columns = [c.strip() for c in frame.columns]
    return frame


def read_numbers(data: bytes, spec: FileSpec, numeric: Callable[[list[str]], list[str]]) -> pl.DataFrame | None:
    """The export's bytes as `read_text` reads them, but for the columns `numeric` picks among the (stripped) names
    of the header, read as Float64 by the CSV reader; None when a cell of them is not a number to the reader, or
    the file is not one `read_text` reads without remark (then `read_text` gives the frame or the error).

    The reader parses a cell as `cast(pl.Float64)` parses its text (the same parser), after the quotes around it
    and the spaces before it: a text that casts is read as its number, and one read otherwise only with spaces
    before it, which the parsers strip before casting again. An empty cell is null, as `read_text`'s empty cells
    are. Casting the text of the CAF benefits' 23 columns of counts cost 50 ms of CPU, more than reading them
    (the read of the whole file 95 ms as text, 78 ms so)."""
    try:
        header = read_csv_frame(data, spec.separator, n_rows=0).columns
        names = {c.strip(): c for c in header}
        numbers = numeric(list(names))
        if len(names) != len(header) or len(header) < 2 or not numbers:  # refused or read as text by `read_text`
            return None
        frame = read_csv_frame(data, spec.separator, numbers=[names[c] for c in numbers])
    except pl.exceptions.PolarsError:
        return None
    if frame.is_empty():  # no row to gain on: judged as text
        return None
    frame.columns = list(names)
    return frame


def with_period(
    frame: pl.DataFrame, column: str, *, need_month: bool, source: str, file: str, raw_path: str | None
) -> pl.DataFrame:
    """Add `_year` (Int32) and `_month` (Int8, null for a bare year) parsed from `column`; refuse bad cells."""
    text = pl.col(column).str.strip_chars()
    # parsed once per run of equal cells (a file lists a period's communes together: five runs in 175,000 rows):
    # the regex on every row cost 62 of the 80 ms of CPU of the CAF benefits' periods
    out = per_run(
        frame,
        column,
        _year=text.str.extract(PERIOD, 1).cast(pl.Int32),
        _month=text.str.extract(PERIOD, 2).cast(pl.Int8),
    )
    # the two new columns cut in the pieces the file's columns are read in: a frame whose columns are cut otherwise
    # is copied whole into one piece by every later select or filter (12 ms of CPU each for the CAF benefits)
    lengths = frame.get_column(column).chunk_lengths()
    out = out.with_columns(_cut(out.get_column(name), lengths) for name in ("_year", "_month"))
    bad = pl.col("_year").is_null() | ~pl.col("_month").is_between(1, 12).fill_null(not need_month)
    if _any(out, bad):
        rule = "a period YYYY-MM, YYYY-MM-DD or YYYYMM" if need_month else "a year YYYY or a date YYYY-MM-DD"
        raise SourceValidationError(source, file, [_failure(out.filter(bad), column, rule)], raw_path)
    return out


def _any(frame: pl.DataFrame, condition: pl.Expr) -> bool:
    """Whether a row meets `condition`: the rows are filtered for a message only then (a filter of the CAF benefits'
    175,000 rows of 31 columns took 10 ms of CPU, finding none)."""
    return frame.select(condition.any()).item() is True


def _failure(rows: pl.DataFrame, column: str, rule: str, code: str | None = None) -> Failure:
    samples = []
    for row in rows.head(5).iter_rows(named=True):
        where = f"{code} {row[code]!r}: " if code and code in row else ""
        samples.append(f"{where}{column} = {row[column]!r}")
    return Failure(column=column, rule=rule, count=rows.height, samples=samples)


def require_december(
    frame: pl.DataFrame, column: str, code: str, *, source: str, file: str, raw_path: str | None
) -> None:
    """s_ben_com_f holds December figures only: any other month is refused, not filtered."""
    other = pl.col("_month") != 12
    if _any(frame, other):
        rule = "reference month must be December (YYYY-12): the dataset holds December figures only"
        raise SourceValidationError(source, file, [_failure(frame.filter(other), column, rule, code)], raw_path)


def drop_unlocalised(
    frame: pl.DataFrame, code: str, *, period: str, file: str, empty_too: bool
) -> tuple[pl.DataFrame, list[str]]:
    """Drop rows the CAF cannot localise: an empty code (if `empty_too`) and placeholders `XX`, `XXX`…

    They are excluded, never spread over the communes; the notes count them per period. The codes come stripped
    (the parsers strip them first: a second strip cost 4 ms of CPU for the CAF benefits).
    """
    # each mask computed once, and the frame filtered only for the kinds met (each filter read every row of every
    # column: 0.09 s of CPU for the CAF benefits' 175,000 rows and five empty codes)
    value = frame.get_column(code)
    empty = value.is_null() | (value == "")
    placeholder = value.str.contains(PLACEHOLDER).fill_null(False)
    notes = []
    kinds = [(placeholder, f"placeholder {code} code(s) ^X+$ (not localised)")]
    if empty_too:
        kinds.insert(0, (empty, f"an empty {code} (allocataires the CAF cannot localise)"))
    for mask, what in kinds:
        if mask.any():
            rows = frame.filter(mask)
            per = rows.group_by(period).len().sort(period).rows()
            detail = ", ".join(f"{p}: {n}" for p, n in per)
            codes = sorted({c for c in rows[code].to_list() if c})
            shown = f" ({', '.join(codes)})" if codes else ""
            notes.append(f"{file}: {rows.height} row(s) with {what}{shown} excluded, not spread; per year: {detail}")
    drop = placeholder | empty if empty_too else placeholder
    return without_rows(frame, drop), notes


def codes_known(rows: pl.DataFrame, entry: Entry, geo: Geography | None) -> bool:
    """Every COM and ARM code of `rows` (level, code, year) known to the COG of its row, the rule of
    `validation.known_codes_check` (a row without a COG is not judged by it): each distinct (COG, level, code)
    looked up once in the geography's sets. For files of a few hundred places over a dozen years (the CAF
    childcare communes): the check's lookup tables of 35,000 codes, built for each COG, cost more than the file."""
    if geo is None:
        return True
    places = rows.lazy().filter(pl.col("level").is_in(["COM", "ARM"])).select("level", "code", cog=row_cog(entry))
    distinct = places.drop_nulls("cog").unique().collect()
    known = geo.known_codes(set(distinct["cog"].to_list()))
    return all(code in known[cog][level] for level, code, cog in distinct.iter_rows())


def codes_known_to_every_cog(rows: pl.DataFrame, entry: Entry, geo: Geography | None) -> bool:
    """`codes_known` for many rows per COG (the CAF benefits: 35,000 communes in each of five Decembers): a code
    known to every COG of the rows at its level is known to its row's, looked up in their intersection (kept for
    the next file); the rows of the other codes (communes created, merged or restored meanwhile: a few) by
    `codes_known`. `validation.known_codes_check`'s screen builds a lookup of each COG's 35,000 codes per COG
    and level (16 ms of CPU for the CAF benefits of France, 4 ms so)."""
    if geo is None:
        return True
    known = geo.known_codes(set(rows.select(row_cog(entry).unique().drop_nulls()).to_series().to_list()))
    everywhere = pl.lit(False)
    for level in ("COM", "ARM"):
        sets = tuple(by_level.get(level) for by_level in known.values())
        if sets and all(isinstance(codes, frozenset) for codes in sets):
            codes = _intersection(sets)
            everywhere = everywhere | ((pl.col("level") == level) & pl.col("code").is_in(codes.implode()))
    return codes_known(rows.select("level", "code", "year").filter(~everywhere.fill_null(False)), entry, geo)


@functools.lru_cache(maxsize=8)
def _intersection(sets: tuple[frozenset[str], ...]) -> pl.Series:  # a frozenset's hash is computed once, then kept
    return pl.Series(list(frozenset.intersection(*sets)), dtype=pl.String)


def level_expr(code: str, level: str) -> pl.Expr:
    """COM files carry arrondissements (751xx, 6938x, 132xx) instead of their city: those rows are level ARM."""
    if level != "COM":
        return pl.lit(level)
    return pl.when(pl.col(code).str.contains(ARM_PATTERN)).then(pl.lit("ARM")).otherwise(pl.lit("COM"))


def city_of(code: pl.Expr) -> pl.Expr:
    expr = pl.lit(None, dtype=pl.String)
    for prefix, (city, _) in CITIES.items():
        expr = pl.when(code.str.starts_with(prefix)).then(pl.lit(city)).otherwise(expr)
    return expr


def add_city_sums(
    long: pl.DataFrame, additive: set[str], *, file: str, rounded: bool
) -> tuple[pl.DataFrame, list[str]]:
    """Sum the ARM rows of additive variables into their city's COM row (75056, 69123, 13055).

    The ARM rows are kept. A city whose COM row the file already carries (for that year) is left alone. A sum
    with a null arrondissement is null with that arrondissement's reason, and one lacking an arrondissement's row
    is null `not_available` (never a partial sum).
    """
    # in code order: a city's float sum then adds its arrondissements in one order, whatever order the rows came in
    arm = long.filter((pl.col("level") == "ARM") & pl.col("variable").is_in(sorted(additive))).sort(
        "code", maintain_order=True
    )
    if arm.is_empty():
        return long, []
    key = ["code", "year", "month", "variable"]
    sums = (
        arm.with_columns(code=city_of(pl.col("code")), arm=pl.col("code"))
        .group_by(key, maintain_order=True)
        .agg(
            n_arm=pl.col("arm").n_unique(),
            any_null=pl.col("value").is_null().any(),
            total=pl.col("value").sum(),
            first_status=pl.col("status").drop_nulls().first(),
        )
    )
    cities = [city for city, _ in CITIES.values()]
    present = long.filter((pl.col("level") == "COM") & pl.col("code").is_in(cities)).select(key)
    sums = sums.join(present, on=key, how="anti", nulls_equal=True).with_columns(
        partial=pl.col("n_arm") < pl.col("code").replace_strict(ARRONDISSEMENT_COUNT, return_dtype=pl.UInt32)
    )
    if sums.is_empty():
        return long, []
    city_rows = _city_rows(sums).select(long.columns)
    return pl.concat([long, city_rows], how="vertical_relaxed"), _city_notes(sums, file, rounded)


def city_sums_of_rows(
    frame: pl.DataFrame, code: str, index: dict[str, pl.Expr], columns: list[str], *, file: str, rounded: bool
) -> tuple[pl.DataFrame, list[str]]:
    """The rows and notes `add_city_sums` adds to the long frame of a wide text file (`melt(frame, index=index,
    columns=columns)`, every column additive), from the only file rows it reads: the arrondissements' and the
    cities' own. The long frame is neither built for it nor scanned (its 4 M rows filtered twice by level, code
    and variable: 0.11 s of CPU for the CAF benefits of France)."""
    cities = [city for city, _ in CITIES.values()]
    parts = frame.filter(pl.col(code).str.contains(ARM_PATTERN) | pl.col(code).is_in(cities))
    # columns read as numbers (`read_numbers`) melted as the text of their numbers: the values `melt` reads
    parts = parts.with_columns(pl.col(c).cast(pl.String) for c in columns if parts.schema[c] != pl.String)
    long = melt(parts, index=index, columns=columns, markers={})
    with_sums, notes = add_city_sums(long, set(columns), file=file, rounded=rounded)
    return with_sums.slice(long.height), notes


def _city_rows(sums: pl.DataFrame) -> pl.DataFrame:
    """A city's COM rows from the sums of its arrondissements: null with a reason when a part is null or absent."""
    return sums.select(
        level=pl.lit("COM"),
        code="code",
        year="year",
        month="month",
        variable="variable",
        value=pl.when(pl.col("any_null") | pl.col("partial")).then(None).otherwise(pl.col("total")),
        status=pl.when(pl.col("any_null"))
        .then(pl.col("first_status"))
        .when(pl.col("partial"))
        .then(pl.lit(NOT_AVAILABLE))
        .otherwise(None),
    )


def _city_notes(sums: pl.DataFrame, file: str, rounded: bool) -> list[str]:
    notes = []
    names = {city: name for city, name in CITIES.values()}
    how = " Each arrondissement is rounded to 5 by the CAF, so the city figure is a sum of rounded values."
    for city, n in sums.group_by("code").agg(pl.col("n_arm").max()).sort("code").rows():
        notes.append(
            f"{file}: {city} ({names[city]}) is published by arrondissement only: its COM rows are the "
            f"sum of its {n} arrondissements (ARM rows kept too).{how if rounded else ''}"
        )
        if n < ARRONDISSEMENT_COUNT[city]:
            notes.append(
                f"{file}: {city} ({names[city]}): {ARRONDISSEMENT_COUNT[city] - n} arrondissement(s) "
                "absent from some rows: those city values are null (not_available), never a partial sum."
            )
    return notes


def optional_absent_note(file: str, absent: list[str]) -> list[str]:
    if not absent:
        return []
    return [f"{file}: optional column(s) absent, not staged: {', '.join(absent)}"]
