"""pandera models of the staged long frames, and their failures turned into one readable error.

Each source declares its `Rules` (the kind of each of its columns, the levels it carries); `staged_model` builds
the pandera schema (polars backend). Every rule is first evaluated in one pass over the frame (`passes`: one
polars select of boolean aggregates, no copy of the table); only when a rule fails does pandera run, on an eager
DataFrame with `lazy=True`, so every failure is collected, then `SourceValidationError` names the file, the source
column, the rule and a few failing rows. Pandera stays the judge: the one-pass screen only decides whether the
frame needs it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from sources import catalogue
from sources.codes import CODE_PATTERNS
from sources.errors import Failure, SourceValidationError
from sources.values import KEY, STAGED_SCHEMA, STATUSES

if TYPE_CHECKING:  # pandera runs only on a frame that fails the one-pass screen: imported then (it takes 0.1 s)
    import pandera.polars as pa

# kind -> (lower bound, upper bound, additive). Bounds are plausibility limits, not targets.
KINDS: dict[str, tuple[float | None, float | None, bool]] = {
    "count": (0, None, True),  # people, households, dwellings, births, places: summed up the geography
    "amount": (0, None, False),  # euros per consumption unit (median, deciles)
    "rate": (0, 100, False),  # a percentage published by the source (poverty rate, shares)
    "signed_share": (-100, 100, False),  # an income share that may be negative (taxes)
    "ratio": (0, 1000, False),  # interdecile ratio
    "coverage": (0, 400, False),  # CAF places per 100 children: may exceed 100
    "income_share": (0, 200, False),  # share of disposable income: may exceed 100, taxes being negative
}


@dataclass(frozen=True)
class RowCheck:
    """A rule every row of the staged long frame must pass: a boolean expression over it (a null result passes,
    as pandera's default `ignore_na`), named by the rule an error message shows."""

    name: str
    expr: pl.Expr
    # the same rule on one value column of a wide file (`sources.wide.screen`): a function of the column's values,
    # and the variables it applies to; None: the rule reads more than a value
    cell: Callable[[pl.Expr], pl.Expr] | None = None
    variables: tuple[str, ...] = ()
    # the rule as one boolean aggregate for the screen (`passes`), when cheaper than `expr.all()`; None: that
    screen: pl.Expr | None = None

    def holds(self) -> pl.Expr:
        """True when every row passes (the screen's aggregate)."""
        return self.screen if self.screen is not None else self.expr.all()

    def as_check(self) -> pa.Check:
        import pandera.polars as pa

        return pa.Check(lambda data, e=self.expr: data.lazyframe.select(e), name=self.name)


@dataclass(frozen=True)
class Rules:
    """What a source's staged rows must satisfy."""

    kinds: dict[str, str]  # source column (staged `variable`) -> kind in KINDS
    levels: tuple[str, ...] = ("COM",)
    code_column: str = "CODGEO"  # the file's own name of the code column, for messages
    extra_checks: tuple[RowCheck, ...] = field(default_factory=tuple)
    # whole -> columns never above it in the same row (catalogue `parts`), within `part_tolerance`
    parts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    part_tolerance: float = 0.0

    def additive(self) -> set[str]:
        return {v for v, k in self.kinds.items() if KINDS[k][2]}

    def part_pairs(self) -> dict[str, tuple[str, ...]]:
        """The declared parts whose whole and parts are both columns of this file."""
        pairs = {w: tuple(p for p in parts if p in self.kinds) for w, parts in self.parts.items() if w in self.kinds}
        return {w: parts for w, parts in pairs.items() if parts}


FINITE_RULE = "a finite number (not NaN nor infinite)"
_KEY = ["level", "code", "year", "month"]


def _finite_check() -> RowCheck:
    # polars orders NaN above every number, so NaN would pass `value >= 0`: refuse it (and ±inf) first
    return RowCheck(FINITE_RULE, pl.col("value").is_null() | pl.col("value").is_finite())


def whole_number(rule: str) -> RowCheck:
    """Values that are counts of things published unrounded (equipments, births): a whole number each."""
    value = pl.col("value")
    return RowCheck(rule, value.is_null() | ~value.is_finite() | (value == value.round(0)))


def _fmt(x: float) -> str:
    return f"{x:,.0f}".replace(",", " ") if x == int(x) else f"{x:g}"


def _level_max_checks(rules: Rules) -> list[RowCheck]:
    """Counts and amounts above what any territory of that level holds in real France (catalogue.toml)."""
    checks = []
    for kind, by_level in catalogue.plausible_max().items():
        variables = sorted(v for v, k in rules.kinds.items() if k == kind)
        if not variables:
            continue
        for level in rules.levels:
            if level not in by_level:
                continue
            high = by_level[level]
            ok = (
                ~pl.col("variable").is_in(variables)
                | (pl.col("level") != level)
                | pl.col("value").is_null()
                | ~pl.col("value").is_finite()
                | (pl.col("value") <= high)
            )
            checks.append(RowCheck(f"{kind} at level {level} at most {_fmt(high)} (plausible for France)", ok))
    return checks


def part_rule(whole: str, tolerance: float) -> str:
    return f"never above {whole} in the same row" + (f" (+{tolerance:g} for rounding)" if tolerance else "")


def _part_checks(rules: Rules) -> list[RowCheck]:
    """Each part <= its whole in the same (level, code, year, month), where both hold a finite value."""
    checks = []
    for whole, parts in sorted(rules.part_pairs().items()):
        whole_value = pl.col("value").filter(pl.col("variable") == whole).first().over(_KEY)
        # null when either is null; a negative or non-finite whole is refused by its own rule, not by each part
        comparable = pl.col("value").is_finite() & whole_value.is_finite() & (whole_value >= 0)
        ok = (
            ~pl.col("variable").is_in(list(parts))
            | ~comparable.fill_null(False)
            | (pl.col("value") <= whole_value + rules.part_tolerance)
        )
        checks.append(RowCheck(part_rule(whole, rules.part_tolerance), ok))
    return checks


def _bounds_check(rules: Rules) -> list[RowCheck]:
    checks = []
    by_kind: dict[str, list[str]] = {}
    for variable, kind in rules.kinds.items():
        by_kind.setdefault(kind, []).append(variable)
    for kind, variables in sorted(by_kind.items()):
        lo, hi, _ = KINDS[kind]
        ok = pl.lit(True)
        if lo is not None:
            ok = ok & (pl.col("value") >= lo)
        if hi is not None:
            ok = ok & (pl.col("value") <= hi)
        # NaN and ±inf are reported once, by the finite rule
        expr = ~pl.col("variable").is_in(variables) | pl.col("value").is_null() | ~pl.col("value").is_finite() | ok
        label = f"{kind} within [{lo if lo is not None else '-inf'}, {hi if hi is not None else '+inf'}]"
        checks.append(RowCheck(label, expr))
    return checks


def _code_pattern_check(levels: tuple[str, ...]) -> RowCheck:
    expr = pl.lit(False)
    for level in levels:
        expr = expr | ((pl.col("level") == level) & pl.col("code").str.contains(CODE_PATTERNS[level]))
    # screened level by level: each pattern read on its level's codes only, not on every row (a row of another
    # level fails the screen's own check of the levels)
    screen = pl.all_horizontal(
        pl.col("level").is_in(list(levels)).all(),
        *[pl.col("code").filter(pl.col("level") == level).str.contains(CODE_PATTERNS[level]).all() for level in levels],
    )
    return RowCheck("code matches its level's pattern", expr, screen=screen)


def known_codes_check(valid: Mapping[int, Mapping[str, AbstractSet[str]]]) -> RowCheck:
    """Every COM/ARM code exists in the COG of its row (`cog` column): `valid[cog][level]` holds the codes."""
    expr, screens = pl.lit(True), []
    for cog, by_level in valid.items():
        for level, codes in by_level.items():
            here = (pl.col("cog") == cog) & (pl.col("level") == level)
            known = _codes_series(codes)
            expr = pl.when(here).then(pl.col("code").is_in(known)).otherwise(expr)  # membership: order does not matter
            # screened on the rows of that COG and level only: a branch of `expr` looks up every row's code (five
            # COGs and two levels: the CAF benefits' 175,000 rows looked up ten times, 49 against 12 ms)
            screens.append(pl.col("code").filter(here).is_in(known).all())
    screen = pl.all_horizontal(screens) if screens else None
    return RowCheck("code known to the COG of the file's geography", expr, screen=screen)


def _codes_series(codes: AbstractSet[str]) -> pl.Series:
    """`codes` as a polars Series; the geography's shared frozensets converted once (each entry of a refresh checks
    its codes against the same few COGs: tens of thousands of strings converted again each time otherwise)."""
    if isinstance(codes, frozenset):
        return _frozen_codes_series(codes)
    return pl.Series(list(codes), dtype=pl.String)


@functools.lru_cache(maxsize=64)
def _frozen_codes_series(codes: frozenset[str]) -> pl.Series:  # a frozenset's hash is computed once, then kept
    return pl.Series(list(codes), dtype=pl.String)


def row_checks(rules: Rules, known: RowCheck | None = None, *, parts: bool = True) -> list[RowCheck]:
    """The rules each row must pass, beyond its columns' own (kinds, levels, parts, the source's extra checks)."""
    checks = [
        _code_pattern_check(rules.levels),
        _finite_check(),
        *_bounds_check(rules),
        *_level_max_checks(rules),
        *(_part_checks(rules) if parts else []),
        *rules.extra_checks,
    ]
    return checks + ([known] if known is not None else [])


# the staged columns validation reads, typed as staged
COLUMN_TYPES = {c: STAGED_SCHEMA[c] for c in ("level", "code", "year", "month", "variable", "value", "status")}
NOT_NULL = ("level", "code", "year", "variable")
UNIQUE = KEY
YEARS, MONTHS = (1900, 2100), (1, 12)


def staged_model(rules: Rules, known: RowCheck | None = None) -> pa.DataFrameSchema:
    import pandera.polars as pa

    column_checks = {
        "level": pa.Check.isin(list(rules.levels)),
        "year": pa.Check.in_range(*YEARS),
        "month": pa.Check.in_range(*MONTHS),
        "variable": pa.Check.isin(sorted(rules.kinds)),
        # INVALID (neither a number nor a known marker) is not an allowed status: reported per column.
        "status": pa.Check.isin(list(STATUSES)),
    }
    columns = {
        name: pa.Column(dtype, column_checks.get(name), nullable=name not in NOT_NULL)
        for name, dtype in COLUMN_TYPES.items()
    }
    return pa.DataFrameSchema(
        columns, checks=[check.as_check() for check in row_checks(rules, known)], unique=UNIQUE, name="staged"
    )


def passes(frame: pl.DataFrame, rules: Rules, known: RowCheck | None = None) -> bool:
    """True when `frame` surely passes `staged_model`: every rule of it as one select of boolean aggregates.

    A screen, never the judge: it may be stricter than pandera (then pandera runs and decides), never laxer.
    A null rule result passes, as with pandera's `ignore_na`; `all()` skips nulls alike.
    """
    if any(frame.schema.get(name) != dtype for name, dtype in COLUMN_TYPES.items()):
        return False
    aggregates = [
        *_column_aggregates(rules),
        # distinct hashes mean distinct keys; a collision only sends the frame to pandera (a hash per row is
        # light where hashing the keys themselves takes a table of strings)
        pl.struct(UNIQUE).hash().n_unique() == pl.len(),
        *[check.holds() for check in row_checks(rules, known, parts=False)],
    ]
    try:
        results = frame.select(*[agg.alias(f"rule_{i}") for i, agg in enumerate(aggregates)]).row(0)
        # the key is unique from here on: each part row meets at most one row of each of its wholes
        return all(result is True for result in results) and _parts_hold(frame, rules)
    except pl.exceptions.PolarsError:  # a rule that cannot even run: pandera reports it
        return False


def _column_aggregates(rules: Rules) -> list[pl.Expr]:
    """The rules of the staged columns themselves: the key whole, a staged level, a year and month in range, a
    variable of the rules, a known status."""
    return [
        *[pl.col(name).is_not_null().all() for name in NOT_NULL],
        pl.col("level").is_in(list(rules.levels)).all(),
        pl.col("year").is_between(*YEARS).all(),
        pl.col("month").is_between(*MONTHS).all(),
        pl.col("variable").is_in(sorted(rules.kinds)).all(),
        pl.col("status").is_in(list(STATUSES)).all(),
    ]


def _parts_hold(frame: pl.DataFrame, rules: Rules) -> bool:
    """`_part_checks` by joins rather than one window per whole (the same rule, ten times faster): each part row
    next to the value of its whole in the same (level, code, year, month). Rows meet by a hash of that key: a
    collision can only add a comparison (and send the frame to pandera), never remove the right one."""
    pairs = rules.part_pairs()
    if not pairs:
        return True
    of_whole = pl.LazyFrame(
        [(part, whole) for whole, parts in pairs.items() for part in parts],
        schema={"variable": pl.String, "whole": pl.String},
        orient="row",
    )
    keyed = frame.lazy().select("variable", "value", row=pl.struct(_KEY).hash())
    wholes = keyed.filter(pl.col("variable").is_in(sorted(pairs)))
    wholes = wholes.select("row", whole="variable", whole_value="value")
    joined = keyed.join(of_whole, on="variable").join(wholes, on=["row", "whole"], how="left")
    value, whole_value = pl.col("value"), pl.col("whole_value")
    comparable = (value.is_finite() & whole_value.is_finite() & (whole_value >= 0)).fill_null(False)
    return joined.select((~comparable | (value <= whole_value + rules.part_tolerance)).all()).collect().item() is True


def validate(
    frame: pl.DataFrame,
    rules: Rules,
    *,
    source: str,
    file: str,
    raw_path: str | None = None,
    known: RowCheck | None = None,
    max_samples: int = 5,
) -> pl.DataFrame:
    """Validate a long frame (before staging); raise `SourceValidationError` with every failure."""
    if passes(frame, rules, known):
        return frame
    from pandera.errors import SchemaErrors

    frame = frame.sort(UNIQUE, maintain_order=True)  # failing rows are shown in key order
    try:
        staged_model(rules, known).validate(frame, lazy=True)
    except SchemaErrors as exc:
        raise SourceValidationError(
            source, file, _failures(exc.failure_cases, frame, rules, max_samples), raw_path
        ) from None
    return frame


def _key_label(row: dict) -> str:
    """The file row a staged row comes from: `COM 01001 2022` (a month for CAF files)."""
    return f"{row['level']} {row['code']} " + str(row["year"]) + (f"-{row['month']:02d}" if row.get("month") else "")


def _row_label(row: dict) -> str:
    shown = row["value"] if row["value"] is not None else (row["status"] or "empty")
    return f"{_key_label(row)} = {shown}"


def _failures(cases: pl.DataFrame, frame: pl.DataFrame, rules: Rules, max_samples: int) -> list[Failure]:
    out: dict[tuple[str, str], Failure] = {}
    seen: dict[tuple[str, str], set[str]] = {}
    wholes = {part_rule(w, rules.part_tolerance): w for w in rules.part_pairs()}
    for case in cases.iter_rows(named=True):
        check, column, index = case["check"], case["column"], case["index"]
        row = frame.row(index, named=True) if index is not None and index < frame.height else None
        if check == "multiple_fields_uniqueness":
            column, rule = rules.code_column, "unique key (code, year, variable): duplicated row"
        elif column == "status":
            column, rule = row["variable"] if row else "status", "a number or a known marker"
        elif column in ("code", "level") or check in _CODE_CHECKS:
            column, rule = rules.code_column, check
        elif column == "variable":
            column, rule = str(case["failure_case"]), "unexpected column"
        else:  # value bounds and the source's own dataframe checks: name the source column of the row
            column, rule = (row["variable"] if row else column or "value"), check
        key = (column, rule)
        failure = out.setdefault(key, Failure(column=column, rule=rule, count=0))
        if row and column == rules.code_column:
            # a bad or repeated code breaks every value of its file row: count and show the file rows
            label = _key_label(row)
            if label not in seen.setdefault(key, set()):
                seen[key].add(label)
                failure.count += 1
                if len(failure.samples) < max_samples:
                    failure.samples.append(label)
            continue
        failure.count += 1
        if len(failure.samples) < max_samples:
            sample = _row_label(row) if row else _short(case["failure_case"])
            if row and rule in wholes:
                sample += f" > {wholes[rule]} = {_whole_value(frame, row, wholes[rule])}"
            failure.samples.append(sample)
    return list(out.values())


def _whole_value(frame: pl.DataFrame, row: dict, whole: str):
    same = frame.filter(pl.col("variable") == whole, *[pl.col(k).eq_missing(row[k]) for k in _KEY])
    return same["value"][0] if same.height else "?"


_CODE_CHECKS = {"code matches its level's pattern", "code known to the COG of the file's geography"}


def _short(case) -> str:
    try:
        return json.dumps(json.loads(case), ensure_ascii=False)[:120]
    except (TypeError, ValueError):
        return str(case)[:120]


def missing_columns(
    columns: list[str], required: tuple[str, ...], *, source: str, file: str, raw_path: str | None
) -> None:
    """Required columns absent from the file: one failure per column, raised before anything else."""
    absent = [c for c in required if c not in columns]
    if absent:
        failures = [
            Failure(
                column=c,
                rule="required column missing from the file",
                count=1,
                samples=[f"header has {len(columns)} columns: {', '.join(columns[:8])}…"],
            )
            for c in absent
        ]
        raise SourceValidationError(source, file, failures, raw_path)
