"""What changed between two publications of the same territory, as pure functions of what each publication kept:
its long indicator table (the Parquet export) and the sources it read (the build record, or the manifest copy).

    compare(old, new, thresholds) -> Diff

- **Sources**: a new vintage of a source (census 2021 -> 2022), a new year of figures within the same vintage
  (the CAF's file now reaching December 2024), a file revised by its publisher (same vintage and year, other
  bytes), a source added or dropped; and the COG the two tables are expressed in.
- **Geography**: the places (communes, EPCI...) present in one table and not in the other: merged communes
  disappear, restored ones appear. Their values are not compared.
- **Values**: every indicator of a place present in both whose value moved by at least its threshold
  (`transforms/diff_thresholds.toml`: points for rates, percent for counts), and every value that appeared or
  disappeared: a secret or missing value that became a number (or the reverse) is said as such, never as a
  change from or to 0. Two empty values whose reason changed (secret -> not available) are listed too.
- **Flags** that appeared, disappeared, rose (vigilance -> priorité) or fell, and the **needs profile** of each
  commune: the set of its flagged indicators, listed when it changed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import polars as pl

from transforms.export import IDENTITY

THRESHOLDS_PATH = Path(__file__).with_name("diff_thresholds.toml")
KEY = ["level", "code", "indicator"]
PLACE = ["level", "code"]
FLAG_RANK = {"vigilance": 1, "priorité": 2}
TOLERANCE = 1e-9  # float noise: a move of exactly the threshold is listed

ValueChange = Literal["moved", "became_available", "became_missing", "reason_changed"]
FlagChange = Literal["appeared", "disappeared", "raised", "lowered"]
SourceKind = Literal["new_vintage", "earlier_vintage", "new_year", "revised_file", "added", "removed"]


# -- thresholds -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    change: Literal["points", "percent"]  # absolute difference, or relative difference in % of the old value
    threshold: float


@dataclass(frozen=True)
class Thresholds:
    """Per unit a rule; per indicator a threshold overriding its unit's (in that unit's kind of change)."""

    units: dict[str, Rule]
    indicators: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = THRESHOLDS_PATH) -> Thresholds:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        units = {}
        for unit, rule in data.get("units", {}).items():
            if rule.get("change") not in ("points", "percent") or not _non_negative(rule.get("threshold")):
                raise ValueError(
                    f"{path.name}: [units] {unit}: change is 'points' or 'percent' and threshold a "
                    f"number >= 0, not {rule}"
                )
            units[unit] = Rule(rule["change"], float(rule["threshold"]))
        indicators = data.get("indicators", {})
        bad = [k for k, v in indicators.items() if not _non_negative(v)]
        if bad:
            raise ValueError(f"{path.name}: [indicators] thresholds are numbers >= 0: {', '.join(bad)}")
        return cls(units, {k: float(v) for k, v in indicators.items()})

    def rule(self, indicator: str, unit: str) -> Rule:
        base = self.units.get(unit, Rule("percent", 5.0))  # a unit the file does not know: the counts' rule
        if indicator in self.indicators:
            return replace(base, threshold=self.indicators[indicator])
        return base

    def overridden(self, items: list[str], known_indicators: Collection[str] = frozenset()) -> Thresholds:
        """`["percent=2", "population=1"]` (a unit or an indicator id, `=`, a number >= 0); a name that is
        neither, or a bad number, is a ValueError that says which."""
        units, indicators = dict(self.units), dict(self.indicators)
        for item in items:
            name, sep, number = item.partition("=")
            name = name.strip()
            try:
                threshold = float(number.replace(",", "."))
            except ValueError:
                threshold = -1.0
            if not sep or threshold < 0:
                raise ValueError(f"--threshold {item!r}: write NAME=NUMBER (a number >= 0), e.g. percent=2")
            if name in units:
                units[name] = replace(units[name], threshold=threshold)
            elif name in known_indicators:
                indicators[name] = threshold
            else:
                raise ValueError(
                    f"--threshold {item!r}: {name!r} is neither a unit ({', '.join(sorted(units))}) nor an indicator id"
                )
        return Thresholds(units, indicators)

    def frame(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """`pairs` (indicator, unit) with the rule of each: change ('points' | 'percent') and threshold."""
        rows = [(i, u, *_rule_tuple(self.rule(i, u))) for i, u in pairs.unique().iter_rows()]
        return pl.DataFrame(
            rows,
            schema={"indicator": pl.String, "unit": pl.String, "move_unit": pl.String, "threshold": pl.Float64},
            orient="row",
        )


def _non_negative(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _rule_tuple(rule: Rule) -> tuple[str, float]:
    return rule.change, rule.threshold


# -- what a publication kept ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRead:
    """One source a publication read: its catalogue vintage, the latest year of its figures (when known) and
    the sha256 of the files it was staged from."""

    source: str
    vintage: str
    title: str = ""
    year: int | None = None
    geography: str = ""
    inputs: str = ""  # sha256 of the staged files, joined: another digest is another file

    @classmethod
    def of(cls, data: dict) -> SourceRead:
        year = data.get("year")
        return cls(
            source=str(data["source"]),
            vintage=str(data["vintage"]),
            title=data.get("title") or "",
            year=int(year) if year is not None else None,
            geography=data.get("geography") or "",
            inputs=data.get("inputs") or "",
        )


@dataclass(frozen=True)
class Published:
    """What the comparison reads of one publication."""

    table: pl.DataFrame  # the long indicator table (level, code, indicator, value, status, flag, ...)
    sources: tuple[SourceRead, ...] = ()
    cog: str = ""  # the target COG of the table ("2025"), '' when the publication did not record it


# -- the result -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceChange:
    source: str
    title: str
    kind: SourceKind
    old: SourceRead | None
    new: SourceRead | None


@dataclass(frozen=True)
class ProfileChange:
    """A commune whose set of flagged indicators changed."""

    code: str
    name: str
    added: tuple[str, ...]  # indicators flagged now, not before
    removed: tuple[str, ...]  # flagged before, not now
    before: int  # how many flagged indicators before / now
    after: int


@dataclass(frozen=True)
class Diff:
    sources: list[SourceChange]
    cog: tuple[str, str]  # (old, new)
    places_removed: pl.DataFrame  # level, code, name: in the old table only
    places_added: pl.DataFrame  # in the new table only
    indicators_removed: pl.DataFrame  # indicator, label: in the old table only
    indicators_added: pl.DataFrame
    changes: pl.DataFrame  # one row per place and indicator whose value or flag changed (CHANGE_COLUMNS)
    profiles: list[ProfileChange]
    labels: dict[str, str]  # indicator -> label (of the new table, else the old)

    @property
    def empty(self) -> bool:
        return not (
            self.sources
            or self.cog[0] != self.cog[1]
            or self.places_removed.height
            or self.places_added.height
            or self.indicators_removed.height
            or self.indicators_added.height
            or self.changes.height
            or self.profiles
        )


CHANGE_COLUMNS = [
    *IDENTITY,
    "old_year",
    "new_year",
    "old_value",
    "new_value",
    "old_status",
    "new_status",
    "move",
    "move_unit",
    "threshold",
    "value_change",
    "old_flag",
    "new_flag",
    "flag_change",
]


def compare(old: Published, new: Published, thresholds: Thresholds | None = None) -> Diff:
    thresholds = thresholds or Thresholds.load()
    old_table, new_table = _normalised(old.table), _normalised(new.table)
    places_removed, places_added = _only_in(old_table, new_table, PLACE), _only_in(new_table, old_table, PLACE)
    common = old_table.select(PLACE).unique().join(new_table.select(PLACE).unique(), on=PLACE)
    old_common, new_common = old_table.join(common, on=PLACE), new_table.join(common, on=PLACE)
    labels = dict(old_table.select("indicator", "label").unique("indicator").iter_rows()) | dict(
        new_table.select("indicator", "label").unique("indicator").iter_rows()
    )
    return Diff(
        sources=source_changes(old.sources, new.sources),
        cog=(old.cog, new.cog),
        places_removed=_names(places_removed, old_table),
        places_added=_names(places_added, new_table),
        indicators_removed=_indicators_only_in(old_table, new_table),
        indicators_added=_indicators_only_in(new_table, old_table),
        changes=value_and_flag_changes(old_common, new_common, thresholds),
        profiles=profile_changes(old_common, new_common),
        labels=labels,
    )


def _normalised(table: pl.DataFrame) -> pl.DataFrame:
    """The columns the comparison reads, with the optional ones made present (an older export may lack some)."""
    optional = {
        "name": pl.String,
        "theme_label": pl.String,
        "label": pl.String,
        "unit": pl.String,
        "status": pl.String,
        "flag": pl.String,
        "year": pl.Int32,
    }
    missing = [c for c in ("level", "code", "indicator", "value") if c not in table.columns]
    if missing:
        raise ValueError(f"the indicator table has no column {', '.join(missing)}")
    table = table.with_columns(pl.lit(None, dtype).alias(c) for c, dtype in optional.items() if c not in table.columns)
    return table.select(*KEY, "value", *optional).with_columns(
        pl.col("value").cast(pl.Float64), pl.col("year").cast(pl.Int32), pl.col("label").fill_null(pl.col("indicator"))
    )


def _only_in(table: pl.DataFrame, other: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    return table.select(columns).unique().join(other.select(columns).unique(), on=columns, how="anti")


def _names(places: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    names = table.select(*PLACE, "name").unique(PLACE)
    return places.join(names, on=PLACE, how="left").sort(PLACE)


def _indicators_only_in(table: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
    only = _only_in(table, other, ["indicator"])
    return only.join(table.select("indicator", "label").unique("indicator"), on="indicator").sort("indicator")


# -- sources ----------------------------------------------------------------------------------------------------


def source_changes(old: tuple[SourceRead, ...], new: tuple[SourceRead, ...]) -> list[SourceChange]:
    """Per source read by either publication, what changed (nothing: not listed)."""
    before, after = {s.source: s for s in old}, {s.source: s for s in new}
    out = []
    for source in sorted(before.keys() | after.keys()):
        a, b = before.get(source), after.get(source)
        kind = _source_kind(a, b)
        read = b or a
        if kind and read is not None:
            out.append(SourceChange(source, read.title or source, kind, a, b))
    return out


def _source_kind(a: SourceRead | None, b: SourceRead | None) -> SourceKind | None:
    if a is None:
        return "added"
    if b is None:
        return "removed"
    if a.vintage != b.vintage:
        return "new_vintage" if b.vintage > a.vintage else "earlier_vintage"
    if a.year is not None and b.year is not None and a.year != b.year:
        return "new_year"
    if a.inputs and b.inputs and a.inputs != b.inputs:
        return "revised_file"
    return None


# -- values and flags -------------------------------------------------------------------------------------------


def value_and_flag_changes(old: pl.DataFrame, new: pl.DataFrame, thresholds: Thresholds) -> pl.DataFrame:
    """Rows of places and indicators in both tables whose value moved beyond its threshold, appeared,
    disappeared or changed its reason, or whose flag changed (CHANGE_COLUMNS, sorted by place and indicator)."""
    before = old.select(*KEY, old_value="value", old_status="status", old_flag="flag", old_year="year")
    joined = new.rename({"value": "new_value", "status": "new_status", "flag": "new_flag", "year": "new_year"}).join(
        before, on=KEY, how="inner"
    )
    rules = thresholds.frame(joined.select("indicator", "unit"))
    joined = joined.join(rules, on=["indicator", "unit"], how="left")
    joined = joined.with_columns(move=_move()).with_columns(value_change=_value_change(), flag_change=_flag_change())
    changed = joined.filter(pl.col("value_change").is_not_null() | pl.col("flag_change").is_not_null())
    return changed.select(CHANGE_COLUMNS).sort(["level", "code", "indicator"])


def _move() -> pl.Expr:
    """The move of a value present on both sides: a difference (points) or a relative change in % (null from 0,
    where no percentage exists); null when either side is empty."""
    old, new = pl.col("old_value"), pl.col("new_value")
    relative = pl.when(old != 0).then((new - old) / old.abs() * 100)
    return pl.when(pl.col("move_unit") == "points").then(new - old).otherwise(relative)


def _value_change() -> pl.Expr:
    old, new = pl.col("old_value"), pl.col("new_value")
    from_zero = (pl.col("move_unit") == "percent") & (old == 0) & (new != 0)
    moved = (pl.col("move").abs() >= pl.col("threshold") - TOLERANCE) | from_zero
    reason = ~pl.col("old_status").eq_missing(pl.col("new_status"))
    return (
        pl.when(old.is_null() & new.is_not_null())
        .then(pl.lit("became_available"))
        .when(old.is_not_null() & new.is_null())
        .then(pl.lit("became_missing"))
        .when(old.is_not_null() & moved)
        .then(pl.lit("moved"))
        .when(reason)
        .then(pl.lit("reason_changed"))
    )


def _flag_change() -> pl.Expr:
    old = pl.col("old_flag").replace_strict(FLAG_RANK, default=0, return_dtype=pl.Int8).fill_null(0)
    new = pl.col("new_flag").replace_strict(FLAG_RANK, default=0, return_dtype=pl.Int8).fill_null(0)
    return (
        pl.when((old == 0) & (new > 0))
        .then(pl.lit("appeared"))
        .when((old > 0) & (new == 0))
        .then(pl.lit("disappeared"))
        .when(new > old)
        .then(pl.lit("raised"))
        .when(new < old)
        .then(pl.lit("lowered"))
    )


# -- needs profiles ---------------------------------------------------------------------------------------------


def profile_changes(old: pl.DataFrame, new: pl.DataFrame) -> list[ProfileChange]:
    """Communes (in both tables) whose set of flagged indicators changed, by code."""
    before, after = _flagged(old), _flagged(new)
    names = dict(new.filter(pl.col("level") == "COM").select("code", "name").unique("code").iter_rows())
    out = []
    for code in sorted(set(names)):
        a, b = before.get(code, set()), after.get(code, set())
        if a != b:
            out.append(
                ProfileChange(code, names[code] or code, tuple(sorted(b - a)), tuple(sorted(a - b)), len(a), len(b))
            )
    return out


def _flagged(table: pl.DataFrame) -> dict[str, set[str]]:
    rows = table.filter((pl.col("level") == "COM") & pl.col("flag").is_not_null()).select("code", "indicator")
    out: dict[str, set[str]] = {}
    for code, indicator in rows.iter_rows():
        out.setdefault(code, set()).add(indicator)
    return out
