"""INSEE Filosofi (revenus, pauvreté, niveau de vie), wide edition: `base-cc-filosofi-YYYY-geoNNNN_csv.zip`.

One zip, one CSV member per level (`cc_filosofi_2021_COM.csv`, `_EPCI`, `_DEP`, `_REG` and a France-level member
whose name changed between editions: `METRO` in 2016, `FE` or `FRANCE` since; the catalogue lists the candidates and
the archive's own member names decide, `france_member`). Every member has the same header: `CODGEO` then 27 year-suffixed columns (`MED21`,
`TP6021`, `TP60AGE121`...), separator `;`, decimal comma, `s` = secret, `nd` = not available (insee-sources §2.1).

Quirks handled:
- the COM member also holds the 45 arrondissements municipaux (level ARM) next to Paris, Lyon and Marseille;
- the secret rule publishes counts and the median of small communes next to `s` shares (§2.2): a row is never
  all-or-nothing, every cell carries its own status;
- communes restored after the tax year are `nd`; their parent still carries their households (decisions.md
  "Splits and restorations"): its counts stay (marked `split`), its medians and rates become non_recalculable;
- the file is in COG 2024: communes are brought into the target COG by `conclude`; EPCI rows are matched to the
  target EPCIs by code and kept only where the EPCI's territory did not change (decisions.md "Filosofi");
- no France-level member: France is null `not_available`, never derived from the communes.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import polars as pl

from sources.catalogue import Entry
from sources.cog import read_epci_members
from sources.demo import gen_filosofi
from sources.errors import Failure, ParseError, SourceError, SourceValidationError
from sources.geography import NO_EPCI, GeoChange, Geography
from sources.reading import decode, read_csv_file, read_csv_text, zip_first_present
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import Rules, missing_columns
from sources.values import NON_RECALCULABLE, NOT_AVAILABLE, SECRET, SPLIT, STAGED_SCHEMA, sorted_by_key
from sources.wide import one_year_long

CODE = "CODGEO"
MARKERS = {"s": SECRET, "nd": NOT_AVAILABLE}
# Arrondissements municipaux inside the COM member: Paris 751xx, Lyon 6938x, Marseille 132xx.
ARM_CODE = r"^(751\d\d|6938\d|132\d\d)$"
LEVELS = ("COM", "EPCI", "DEP", "REG", "FRANCE")

# Kind of each column, by its name without the year suffix.
_RATES = "PIMP TP60 TP60AGE1 TP60AGE2 TP60AGE3 TP60AGE4 TP60AGE5 TP60AGE6 TP60TOL1 TP60TOL2".split()
# Shares of disposable income: taxes (PIMPOT) are negative, so a share may exceed 100 (the real 2021 file has
# PACT21 = 107.1 and PTSA21 = 102.8 in 25318).
INCOME_SHARE = "income_share"
_INCOME_SHARES = ["PACT", "PTSA", "PCHO", "PBEN", "PPEN", "PPAT", "PPSOC", "PPFAM", "PPMINI", "PPLOGT"]
KINDS = (
    {
        "NBMENFISC": "count",
        "NBPERSMENFISC": "count",
        "MED": "amount",
        "D1": "amount",
        "D9": "amount",
        "PIMPOT": "signed_share",
        "RD": "ratio",
    }
    | {name: "rate" for name in _RATES}
    | {name: INCOME_SHARE for name in _INCOME_SHARES}
)


def year_suffix(columns: list[str]) -> str | None:
    """The two-digit year of a wide Filosofi header, read from its median column (`MED21` -> `21`)."""
    found = [m.group(1) for c in columns if (m := re.fullmatch(r"MED(\d\d)", c))]
    return found[0] if len(found) == 1 else None


def base_name(column: str, yy: str) -> str:
    """`TP60AGE121` -> `TP60AGE1`: the year is appended after the threshold, so strip exactly the suffix."""
    return column[: -len(yy)] if column.endswith(yy) else column


def rules_for(entry: Entry, level: str) -> Rules:
    yy = entry.params["yy"]
    columns = entry.columns()
    kinds = {c: KINDS[base_name(c, yy)] for c in (*columns.required, *columns.optional)}
    return Rules(
        kinds=kinds,
        levels=staged_levels(level),
        code_column=CODE,
        parts=columns.parts,
        part_tolerance=columns.part_tolerance,
    )


def staged_levels(level: str) -> tuple[str, ...]:
    """The staged levels of a member's rows: the COM member holds the arrondissements municipaux too."""
    return ("COM", "ARM") if level == "COM" else (level,)


# -- reading one level --------------------------------------------------------------------------------------------


def _check_header(entry: Entry, raw: pl.DataFrame, *, file: str, raw_path: str | None) -> tuple[list[str], list[str]]:
    """Year suffix and required columns; returns (columns to stage, notes)."""
    yy = entry.params["yy"]
    found = year_suffix(raw.columns)
    if found != yy:
        rule = (
            f"year suffix of the header ({found}) equals the catalogue's ({yy})"
            if found
            else f"the header names exactly one median column MED{yy}"
        )
        column = f"MED{found}" if found else f"MED{yy}"
        sample = [", ".join(raw.columns[:6]) + "…"]
        raise SourceValidationError(entry.source, file, [Failure(column, rule, 1, sample)], raw_path)
    if CODE not in raw.columns:
        raise SourceValidationError(
            entry.source, file, [Failure(CODE, "required column missing from the file", 1)], raw_path
        )
    columns = entry.columns()
    missing_columns(raw.columns, columns.required, source=entry.source, file=file, raw_path=raw_path)
    present = [c for c in (*columns.required, *columns.optional) if c in raw.columns]
    notes = []
    absent = [c for c in columns.optional if c not in raw.columns]
    if absent:
        notes.append(f"{file}: optional column(s) absent, not staged: {', '.join(absent)}")
    ignored = [c for c in raw.columns if c != CODE and c not in present]
    if ignored:
        notes.append(f"{file}: column(s) not used: {', '.join(ignored)}")
    return present, notes


def _level_rows(
    entry: Entry, raw: pl.DataFrame, level: str, *, file: str, raw_path: str | None
) -> tuple[pl.DataFrame, dict[str, pl.Expr], list[str]]:
    """The rows of one member to stage (EPCI: without the no-EPCI row) and their staged (level, code)."""
    notes: list[str] = []
    code = pl.col(CODE).str.strip_chars()
    if level == "COM":
        # the pattern matched once over the member's 35,000 codes, for the count and the rows' level (1 ms of CPU)
        is_arm = raw.select(code.str.contains(ARM_CODE)).to_series()
        level_expr = pl.when(pl.lit(is_arm)).then(pl.lit("ARM")).otherwise(pl.lit("COM"))
        arm = is_arm.sum()
        notes.append(
            f"{file}: {raw.height - arm} communes (COG {entry.cog}) and {arm} arrondissements municipaux "
            "(level ARM, never added to their city again)"
        )
    elif level == "FRANCE":
        if raw.height != 1:
            raise SourceValidationError(
                entry.source,
                file,
                [
                    Failure(
                        CODE,
                        "the France-level member holds exactly one row",
                        raw.height,
                        [str(c) for c in raw[CODE].to_list()[:5]],
                    )
                ],
                raw_path,
            )
        notes.append(f"{file}: France row (published code {raw[CODE][0]!r}) staged with code FR")
        code, level_expr = pl.lit("FR"), pl.lit("FRANCE")
    else:
        level_expr = pl.lit(level)
    if level == "EPCI":
        outside = raw.filter(code == NO_EPCI).height
        if outside:
            raw = raw.filter(code != NO_EPCI)
            notes.append(f"{file}: {outside} row(s) {NO_EPCI} (no EPCI) dropped")
    return raw, {"level": level_expr, "code": code}, notes


@dataclass
class _Member:
    """One level's member read and checked, before its cells are parsed and validated."""

    level: str
    file: str
    rows: pl.DataFrame  # the rows to stage (EPCI: without the no-EPCI row)
    index: dict[str, pl.Expr]  # their staged level and code
    rename: dict[str, str]  # the columns to stage -> their staged names
    notes: list[str]


def stage_frame(
    entry: Entry, raw: pl.DataFrame, level: str, geo: Geography | None, *, file: str, raw_path: str | None
) -> Staged:
    """Parse, validate and stage one level's member already read as an all-text frame."""
    return _staged(entry, _member(entry, raw, level, file=file, raw_path=raw_path), geo, raw_path)


def _member(entry: Entry, raw: pl.DataFrame, level: str, *, file: str, raw_path: str | None) -> _Member:
    columns, notes = _check_header(entry, raw, file=file, raw_path=raw_path)
    rows, index, more = _level_rows(entry, raw, level, file=file, raw_path=raw_path)
    notes += more
    if level == "COM":
        notes += _marker_notes(raw, columns, file)
    return _Member(level, file, rows, index, {c: base_name(c, entry.params["yy"]) for c in columns}, notes)


def _year_and_cog(entry: Entry) -> tuple[int, int]:
    year = 2000 + int(entry.params["yy"])
    return year, entry.cog if entry.cog is not None else year + (entry.cog_offset or 0)


def _staged(entry: Entry, member: _Member, geo: Geography | None, raw_path: str | None) -> Staged:
    rules = rules_for(entry, member.level)
    # every rule screened on the member's rows, the long rows built in key order; else judged on the long rows
    year, cog = _year_and_cog(entry)
    long, screened = one_year_long(member.rows, member.index, rules, member.rename, year, cog, geo, markers=MARKERS)
    return conclude(
        long,
        entry,
        rules,
        geo,
        file=member.file,
        raw_path=raw_path,
        notes=member.notes,
        rename=member.rename,
        screened=screened,
    )


def _staged_together(
    entry: Entry, members: list[_Member], geo: Geography | None, raw_path: str | None
) -> dict[str, Staged] | None:
    """Each member staged as `_staged` does, all of them parsed, screened and concluded as one frame: the work of
    a member of a few rows is building the expressions of its 27 columns (about 17 ms of CPU each for the
    départements, régions and France). None when the members' columns differ or a rule fails on some row: then
    each member is staged alone, and the first to fail gives the error naming its file, column, rule and rows."""
    if len({tuple(member.rename.items()) for member in members}) != 1:
        return None
    rename = members[0].rename
    rows = pl.concat([m.rows.select(**m.index, **{c: pl.col(c) for c in rename}) for m in members])
    levels = tuple(level for m in members for level in staged_levels(m.level))
    rules = replace(rules_for(entry, members[0].level), levels=levels)
    year, cog = _year_and_cog(entry)
    index = {"level": pl.col("level"), "code": pl.col("code")}
    long, screened = one_year_long(rows, index, rules, rename, year, cog, geo, markers=MARKERS)
    if not screened:
        return None
    staged = conclude(long, entry, rules, geo, file=members[0].file, raw_path=raw_path, rename=rename, screened=True)
    # the COM member's rows: its arrondissements' then its communes' (in key order); every member's first and last
    # rows found by one binary search each (one search per bound took 20 passes over the level names' views)
    level = staged.frame.get_column("level")
    starts = level.search_sorted(pl.Series([min(staged_levels(m.level)) for m in members]), side="left")
    ends = level.search_sorted(pl.Series([max(staged_levels(m.level)) for m in members]), side="right")
    out = {}
    for member, start, end in zip(members, starts, ends, strict=True):
        changes = staged.geo_changes if member.level == "COM" else []
        out[member.level] = Staged(staged.frame.slice(start, end - start), notes=member.notes, geo_changes=changes)
    return out


def stage_level_file(entry: Entry, path: Path, level: str = "COM", geo: Geography | None = None) -> Staged:
    """One level's CSV outside its zip (the real COM file kept in ../shared/data/insee), without the EPCI step."""
    spec = entry.file()
    text = decode(path.read_bytes(), spec, source=entry.source, name=path.name)
    raw = read_csv_text(text, spec.separator, source=entry.source, name=path.name)
    return stage_frame(entry, raw, level, geo, file=path.name, raw_path=str(path))


def _marker_notes(raw: pl.DataFrame, columns: list[str], file: str) -> list[str]:
    all_s, all_nd = (_rows_entirely(raw, columns, marker) for marker in ("s", "nd"))
    return [f"{file}: {all_s} row(s) entirely secret (s), {all_nd} row(s) entirely not available (nd)"]


def _rows_entirely(raw: pl.DataFrame, columns: list[str], marker: str) -> int:
    """The rows whose every cell of `columns` is `marker` once stripped, or empty (an empty cell does not break the
    row). Read column after column on the rows still in the running only: most rows leave at the first columns (the
    counts of households are rarely secret), where stripping every cell took 25 ms of CPU for France's communes.
    Once few rows are left, their other cells are read as one column (a filter per column cost about 50 µs even
    for a row or two: 4.6 to 2 ms for the two markers)."""

    def holds(column: str) -> pl.Expr:
        return (pl.col(column).str.strip_chars() == marker).fill_null(True)

    rows = raw.select(columns)
    for at, column in enumerate(columns):
        if rows.height <= _FEW_ROWS:
            cells = rows.select(columns[at:]).with_row_index("row").unpivot(index="row")
            return rows.height - cells.filter(~holds("value")).get_column("row").n_unique()
        rows = rows.filter(holds(column))
    return rows.height


_FEW_ROWS = 1000


# -- the whole archive -------------------------------------------------------------------------------------------


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    path = files["main"]
    members: list[_Member] = []
    france_absent: str | None = None
    notes_france: list[str] = []
    for level in LEVELS:
        try:
            member, france_note = _read_member(entry, path, level)
        except SourceError:
            for read in members:  # an earlier member's own error comes first, as when each is staged in turn
                _staged(entry, read, geo, str(path))
            raise
        if level == "FRANCE":
            notes_france = [france_note]
            if member is None:
                france_absent = france_note
                continue
        assert member is not None
        members.append(member)
    together = _staged_together(entry, members, geo, str(path))
    parts = together or {member.level: _staged(entry, member, geo, str(path)) for member in members}
    notes = [n for p in parts.values() for n in p.notes] + notes_france
    changes = [c for p in parts.values() for c in p.geo_changes]
    # each level's rows in key order (the COM member's ARM rows then its COM rows): put together in the order of
    # the level names, they are the whole in key order, without sorting it
    blocks = {level: part.frame for level, part in parts.items()}
    variables = _variables(list(blocks.values()))
    if france_absent is not None:  # decisions.md "Filosofi": France null, never derived from the communes
        blocks["FRANCE"] = _null_rows(entry, "FRANCE", ["FR"], variables(), NOT_AVAILABLE)
    if geo is not None:
        blocks["COM"], more, split = _restored_parents(entry, blocks["COM"], geo)
        notes += more
        changes += split
        if "epci_geography" not in files:
            raise ParseError(
                entry.source,
                path.name,
                "the EPCI composition of the file's geography (role "
                "epci_geography) is needed to match its EPCI to the target",
            )
        composition, label = read_epci_members(entry, entry.file("epci_geography"), files["epci_geography"])
        blocks["EPCI"], more = match_epci(entry, blocks["EPCI"], composition, geo, label=label, variables=variables)
        notes += more
    else:
        notes.append("no target geography given: communes and EPCI kept as published (COG not checked)")
    frame = pl.concat([blocks[level] for level in sorted(blocks)])
    return Staged(frame, notes=notes, geo_changes=changes)


def _variables(blocks: list[pl.DataFrame]) -> Callable[[], list[str]]:
    """The staged variables of `blocks`, sorted, read only when asked for (by France's or absent EPCIs' null rows):
    their distinct values among France's 981,000 long rows took 5 ms of CPU, for nothing when all are published."""

    @cache
    def variables() -> list[str]:
        return pl.concat([b.select("variable") for b in blocks])["variable"].unique().sort().to_list()

    return variables


def _read_member(entry: Entry, path: Path, level: str) -> tuple[_Member | None, str]:
    """The member of `level` read and checked (France's: None when the archive has none), and for France the note
    saying which member was chosen."""
    spec = entry.file()
    candidates = spec.members.get(level, ())
    note = ""
    if level == "FRANCE":
        member, note = france_member(path, candidates)
        if member is None:
            return None, note
    else:
        member = zip_first_present(path, candidates)
    if member is None:
        raise ParseError(entry.source, path.name, f"no {level} member: none of {list(candidates)} is in the archive")
    raw = read_csv_file(path, spec, source=entry.source, member=member)
    return _member(entry, raw, level, file=member, raw_path=str(path)), note


def france_member(path: Path, candidates: tuple[str, ...]) -> tuple[str | None, str]:
    """The France-level member among the names the archive really holds, and a note saying which.

    The candidates come in the catalogue's order of preference (France entière before metropolitan France): when
    the archive holds several, the first wins and the note names the others. None of them in the archive: None,
    with a note naming the names tried and the members the archive does hold (France is then null
    `not_available`, decisions.md "Filosofi")."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    present = [c for c in candidates if c in names]
    if not present:
        return None, (
            f"no France-level member in the archive (tried {', '.join(candidates)}; the archive holds "
            f"{', '.join(sorted(names))}): France is null not_available, never derived from the communes"
        )
    others = f" (also present, not used: {', '.join(present[1:])})" if len(present) > 1 else ""
    return present[0], f"France-level member: {present[0]}, chosen among {', '.join(candidates)}{others}"


def _null_rows(entry: Entry, level: str, codes: list[str], variables: list[str], status: str) -> pl.DataFrame:
    year = 2000 + int(entry.params["yy"])
    rows = [
        (entry.source, entry.vintage, level, code, year, None, v, None, status, None)
        for code in codes
        for v in variables
    ]
    return pl.DataFrame(rows, schema=STAGED_SCHEMA, orient="row")


def _restored_parents(
    entry: Entry, frame: pl.DataFrame, geo: Geography
) -> tuple[pl.DataFrame, list[str], list[GeoChange]]:
    """Communes `nd` because they did not exist in the tax year: their parent's row covers them too.

    The parent is found through the events (the restored code is one of its targets from the COG of the tax
    year). Its counts stay, marked `split` (valid above the commune only); its other values become
    non_recalculable, as `Geography.harmonise` does for a file in the older geography.
    """
    year = 2000 + int(entry.params["yy"])
    communes = _level_slice(frame, "COM")
    codes = communes.get_column("code")
    # the codes of the few rows `nd` are the candidates: no group of the commune rows by code
    nd = communes.select(pl.col("code").filter(pl.col("status") == NOT_AVAILABLE).unique()).to_series().to_list()
    restored = set()
    for code in set(nd) - geo.communes_at(year):
        start, end = _rows_of(codes, code)
        if communes.get_column("status").slice(start, end - start).eq_missing(NOT_AVAILABLE).all():
            restored.add(code)
    if not restored:
        return frame, [], []
    parents: dict[str, set[str]] = {}
    for change in geo.changes(year):  # the codes that changed since: a commune that did not has no new kid
        kids = (set(change.new) & restored) - {change.old}
        if kids:
            parents.setdefault(change.old, set()).update(kids)
    now = _changed_codes(geo, entry.cog)
    parent_codes = sorted({t for p in parents for t in now.get(p, (p,))})
    additive = [base_name(c, entry.params["yy"]) for c, k in rules_for(entry, "COM").kinds.items() if k == "count"]
    offset = _rows_of(frame.get_column("level"), "COM")[0]
    ranges = [(offset + start, offset + end) for start, end in (_rows_of(codes, code) for code in parent_codes)]
    frame = _with_parents_split(frame, ranges, additive)
    changes = [GeoChange(entry.cog or year, p, tuple(sorted({p, *kids})), SPLIT) for p, kids in sorted(parents.items())]
    notes = [
        f"{p} carries the households of {', '.join(sorted(kids))} (restored after {year}, published nd): its "
        "counts are kept for the levels above the commune, its medians and rates are non_recalculable"
        for p, kids in sorted(parents.items())
    ]
    return frame, notes, changes


def _level_slice(frame: pl.DataFrame, level: str) -> pl.DataFrame:
    """The rows of `level` in a frame in key order (a slice, not a copy)."""
    start, end = _rows_of(frame.get_column("level"), level)
    return frame.slice(start, end - start)


def _rows_of(sorted_values: pl.Series, value: str) -> tuple[int, int]:
    """The first row of `value` in a sorted column and the row after its last, found by binary search."""
    start, end = (sorted_values.search_sorted(value, side=side) for side in ("left", "right"))
    return int(start), int(end)


def _with_parents_split(frame: pl.DataFrame, ranges: list[tuple[int, int]], additive: list[str]) -> pl.DataFrame:
    """`frame` with the rows of each range (a parent's) marked `split`, their values but the counts (`additive`)
    non_recalculable. Those few rows are changed apart and put back between slices of the others: the columns of a
    million rows are not rewritten (40 ms of CPU for France's communes)."""
    pieces, done = [], 0
    blank = ~pl.col("variable").is_in(additive)
    for start, end in sorted(ranges):
        parent = frame.slice(start, end - start).with_columns(
            value=pl.when(blank).then(None).otherwise(pl.col("value")),
            status=pl.when(blank).then(pl.lit(NON_RECALCULABLE)).otherwise(pl.col("status")),
            geo_change=pl.lit(SPLIT),
        )
        pieces += [frame.slice(done, start - done), parent]
        done = end
    return pl.concat([*pieces, frame.slice(done)], rechunk=False)


def match_epci(
    entry: Entry,
    frame: pl.DataFrame,
    composition: pl.DataFrame,
    geo: Geography,
    *,
    label: str,
    variables: Callable[[], list[str]] | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """Bring the file's EPCI rows (its own geography) to the target EPCIs, by code.

    An EPCI keeps its published values only if its communes, mapped to target codes, are the target EPCI's
    communes (a merger of two of its own communes changes nothing); otherwise every value describes another
    territory and becomes non_recalculable. An EPCI unknown to the target is dropped; a target EPCI absent from
    the file gets not_available rows, one per variable of `variables()` (default: those of `frame`), put in key
    order (`frame` is in key order: dropping rows and changing values keep it, so it is sorted only then).
    The two compositions are compared as (EPCI, commune) pairs by joins (a Python set per EPCI built from
    France's 35,000 communes twice took 0.06 s of CPU).
    """
    in_epci = pl.col("epci") != NO_EPCI
    moves = _moves(_changed_codes(geo, entry.cog))
    before = composition.filter(in_epci).select("epci", "code").join(moves, on="code", how="left")
    # pairs repeated in either frame change nothing to the anti-joins: the few pairs they leave are made distinct
    # by `_codes_by_epci` (`unique` over France's 35,000 pairs took 1.5 ms of CPU each)
    before = before.select("epci", code=pl.coalesce("target", "code"))
    after = geo.epci.filter(in_epci).select("epci", "code")
    joined = _codes_by_epci(after.join(before, on=["epci", "code"], how="anti"))
    left = _codes_by_epci(before.join(after, on=["epci", "code"], how="anti"))

    is_epci = pl.col("level") == "EPCI"
    published = set(frame.filter(is_epci)["code"].unique().to_list())
    targets = set(after["epci"].unique().to_list())
    notes = []
    gone = sorted(published - targets)
    if gone:
        frame = frame.filter(~(is_epci & pl.col("code").is_in(gone)))
        notes.append(f"{len(gone)} EPCI of the file no longer exist in COG {geo.target}, dropped: {', '.join(gone)}")
    changed = sorted((published & targets) & (joined.keys() | left.keys()))
    if changed:
        touched = is_epci & pl.col("code").is_in(changed)
        frame = frame.with_columns(
            value=pl.when(touched).then(None).otherwise(pl.col("value")),
            status=pl.when(touched).then(pl.lit(NON_RECALCULABLE)).otherwise(pl.col("status")),
        )
        for c in changed:
            notes.append(
                f"EPCI {c}: territory changed between {label} and COG {geo.target} (joined: "
                f"{', '.join(joined.get(c, [])) or '-'}; left: {', '.join(left.get(c, [])) or '-'}): "
                "every value non_recalculable"
            )
    absent = sorted(targets - published)
    if absent:
        names = variables() if variables is not None else sorted(set(frame["variable"].to_list()))
        frame = sorted_by_key(pl.concat([frame, _null_rows(entry, "EPCI", absent, names, NOT_AVAILABLE)]))
        notes.append(f"{len(absent)} EPCI of COG {geo.target} absent from the file, not_available: {', '.join(absent)}")
    return frame, notes


def _changed_codes(geo: Geography, cog: int | None) -> dict[str, tuple[str, ...]]:
    """The commune codes of COG `cog` that changed since, and their target code(s) (`Geography.passage` without
    the tens of thousands of codes that stayed as they were); none when `cog` is unknown."""
    return {change.old: change.new for change in geo.changes(cog)} if cog is not None else {}


def _moves(changed: dict[str, tuple[str, ...]]) -> pl.DataFrame:
    """One row per (code, target code) of `changed`."""
    pairs = [(old, new) for old, targets in changed.items() for new in targets]
    return pl.DataFrame(pairs, schema={"code": pl.String, "target": pl.String}, orient="row")


def _codes_by_epci(pairs: pl.DataFrame) -> dict[str, list[str]]:
    """(epci, code) pairs, repeated or not, as each EPCI's sorted distinct codes."""
    return {epci: sorted(set(codes)) for epci, codes in pairs.group_by("epci").agg("code").iter_rows()}


SOURCES = (SourceSpec("filosofi", ("filosofi",), stage, label="Insee, Filosofi {year}", demo=gen_filosofi.write),)
