"""References (EPCI, département, France), evolutions since the comparison census and need flags.

Flags are direction-aware and configurable (`FlagRules`):
- `vigilance`: the territory is worse than its département by at least `vigilance_gap` (relative, default 5 %:
  a smaller gap is within the uncertainty of the census and of rounded CAF counts, and flagging it would bury the
  real signals); a département is compared with France;
- `priorité`: it is worse than both its département and France by at least `priority_gap` (relative, default
  10 %: a poverty rate of 15.4 % against 14.0 % is 10 % higher).
"Worse" is higher for `higher_is_need` indicators and lower for `lower_is_need` ones, and away from the reference
either way for `two_sided` ones (population growth: the report says « écart marqué »); `neutral` indicators are
never flagged, nor is a value that is null, borrowed from the EPCI, or compared with a null reference. Counts
(unit `count`: places, births...) are never flagged either: a volume is not comparable with a bigger territory's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache, partial
from typing import NamedTuple

import numpy as np
import polars as pl

from transforms import reasons as R
from transforms.ahead import ahead
from transforms.compute import PLACE_ORDER, Inputs
from transforms.placed import RANKED, Placed
from transforms.registry import THEMES, Indicator, indicators
from transforms.territories import FRANCE, CustomTerritory, principal_department

VIGILANCE = "vigilance"
PRIORITY = "priorité"


@dataclass(frozen=True)
class FlagRules:
    vigilance_gap: float = 0.05
    priority_gap: float = 0.10


def _references(pop: pl.DataFrame, inputs: Inputs, customs: tuple[CustomTerritory, ...]) -> pl.DataFrame:
    """(level, code) -> (epci, dep) whose values serve as references (`pop`: code, population of the communes)."""
    m = inputs.membership
    epci_dep = principal_department(m, pop)
    rows = [
        m.select(level=pl.lit("COM"), code="code", ref_epci_code="epci", ref_dep_code="dep"),
        epci_dep.select(level=pl.lit("EPCI"), code="epci", ref_epci_code=pl.lit(None, pl.String), ref_dep_code="dep"),
        m.select("dep")
        .unique()
        .select(
            level=pl.lit("DEP"), code="dep", ref_epci_code=pl.lit(None, pl.String), ref_dep_code=pl.lit(None, pl.String)
        ),
    ]
    if inputs.arrondissements is not None:  # an arrondissement: its city's EPCI and département
        rows.append(
            inputs.arrondissements.select(level=pl.lit("ARM"), code="code", ref_epci_code="epci", ref_dep_code="dep")
        )
    for t in customs:
        members = m.filter(pl.col("code").is_in(list(t.communes))).with_columns(epci=pl.lit(t.code))
        dep = principal_department(members, pop)
        rows.append(
            dep.select(
                level=pl.lit("TERRITORY"), code="epci", ref_epci_code=pl.lit(None, pl.String), ref_dep_code="dep"
            )
        )
    return pl.concat(rows)


def _names(inputs: Inputs, customs: tuple[CustomTerritory, ...]) -> pl.DataFrame:
    m = inputs.membership
    deps = m["dep"].unique().sort().to_list()  # 0.6 ms for France, against 3.1 ms for a set of its 34,941 codes
    rows = [
        m.select(level=pl.lit("COM"), code="code", name="name"),
        pl.DataFrame(
            {"level": "EPCI", "code": list(inputs.epci_names), "name": list(inputs.epci_names.values())},
            schema={"level": pl.String, "code": pl.String, "name": pl.String},
        ),
        pl.DataFrame(
            {"level": "DEP", "code": deps, "name": [inputs.dep_names.get(d, f"Département {d}") for d in deps]}
        ),
        pl.DataFrame({"level": ["FRANCE"], "code": [FRANCE], "name": ["France"]}),
        *(
            [inputs.arrondissements.select(level=pl.lit("ARM"), code="code", name="name")]
            if inputs.arrondissements is not None
            else []
        ),
        pl.DataFrame(
            {"level": "TERRITORY", "code": [t.code for t in customs], "name": [t.name for t in customs]},
            schema={"level": pl.String, "code": pl.String, "name": pl.String},
        ),
    ]
    return pl.concat(rows)


# what an indicator's unit makes of an evolution (`_meta`'s `_kind`): a count grows by % a year, a rate moves by
# points, an index or a mean by a difference
EVOLUTION_KINDS = ("percent_per_year", "points", "difference")
# `_kind` -> the name of its unit, as a category (`as_categories`)
EVOLUTION_UNITS = pl.Series("evolution_unit", EVOLUTION_KINDS, pl.Enum(sorted(EVOLUTION_KINDS)))
# an indicator's direction as the sign of a worse gap (`_meta`'s `_dir`); two-sided: the sign of its own gap
DIRECTION_SIGNS = {"higher_is_need": 1, "lower_is_need": -1, "two_sided": 2}
TWO_SIDED = 2


def _evolution_kind(unit: str) -> int:
    return 0 if unit == "count" else 1 if unit in ("percent", "per100") else 2


def _growth(n_years: int | None) -> pl.Expr:
    """A count's evolution (`_kind` 0): its growth in % a year, null where the comparison is not positive or the
    number of years unknown."""
    v, c = pl.col("value"), pl.col("value_comparison")
    if not n_years:
        return pl.lit(None, pl.Float64).alias("growth")
    return pl.when(c > 0).then(((v / c) ** (1 / n_years) - 1) * 100).alias("growth")


def _evolutions(rows: pl.DataFrame, n_years: int | None) -> pl.Series:
    """Each row's evolution: points for rates, a difference for indexes and means (the value minus the comparison,
    null where either is), annual growth for counts (`_growth`; the indicator's `_kind`, a column of `rows`). Its
    unit is `EVOLUTION_UNITS[_kind]` where it is known (`_finished`). The difference is taken on every row, the
    growth on the count rows holding both values alone (about one in eleven of those in France: its power costs
    more than every difference) and put at their positions (4.4 to 2.0-2.2 ms a slice of 2^18 rows, one thread)."""
    v, c = pl.col("value"), pl.col("value_comparison")
    difference = rows.select(evolution=v - c).to_series()
    counts = (
        rows.lazy()
        .select("value", "value_comparison", "_kind")
        .with_row_index("_at")
        .filter((pl.col("_kind") == 0) & v.is_not_null() & c.is_not_null())
        .select("_at", _growth(n_years))
        .collect()
    )
    return difference.scatter(counts["_at"], counts["growth"])


# a row's local reference: its département's value, France's for a département (`_is_dep`: a boolean of the place)
_LOCAL_REFERENCE = pl.when(pl.col("_is_dep")).then(pl.col("ref_france")).otherwise(pl.col("ref_dep"))


def _flag_parts() -> dict[str, pl.Expr]:
    """The columns `_flag` reads (`_local` reference, `_sign` of a worse gap), computed once: an expression
    repeated inside the flag's is evaluated again at each use, on millions of rows. The indicator's direction is
    read as an integer of `_meta` (`_dir`), and whether the place is a département as a boolean of its place
    (`_is_dep`): comparing millions of strings costs more than the flag itself."""
    # a two-sided indicator is "worse" in the direction it departs from its local reference; France must then be
    # departed from in the same direction for a priorité
    local = _LOCAL_REFERENCE
    away = pl.when(pl.col("value") >= local).then(1.0).otherwise(-1.0)
    direction = pl.col("_dir")
    sign = pl.when(direction == TWO_SIDED).then(away).otherwise(direction.cast(pl.Float64))
    return {"_local": local, "_sign": sign}


def _gap(name: str) -> dict[str, pl.Expr]:
    """Against the reference `name` (`_local`, `ref_france`): the value's gap in the bad direction (`_gap*`) and the
    float noise it must exceed (`_noise*`: 1e-9 of max(|ref|, 1), a NaN reference counting as 1), read by
    `_worse`."""
    ref = pl.col(name).abs()
    return {
        f"_gap{name}": pl.col("_sign") * (pl.col("value") - pl.col(name)),
        f"_noise{name}": 1e-9 * pl.when(ref >= 1.0).then(ref).otherwise(1.0).fill_nan(1.0),
    }


def _worse(name: str, gap: float) -> pl.Expr:
    """Whether the value is worse than the reference `name` by at least `gap` of |ref| (the columns of `_gap`)."""
    # the 1e-9 tolerance keeps float noise (two ways of summing the same figures) from raising a flag, and lets a
    # gap of exactly `gap` count ("at least": 15.4 % against 14.0 % is 10 % higher)
    noise, difference = pl.col(f"_noise{name}"), pl.col(f"_gap{name}")
    return (difference > noise) & (difference >= gap * pl.col(name).abs() - noise)


# a flag's code (`_flag`) -> its name, as a category (`as_categories`)
FLAGS = pl.Series("flag", [None, VIGILANCE, PRIORITY], pl.Enum(sorted([VIGILANCE, PRIORITY])))


def _flag(rules: FlagRules) -> pl.Expr:
    """The code of the flag in `FLAGS` (module docstring: 2 `priorité`, 1 `vigilance`, 0 none: `FLAGS`' null), from
    the columns of `_flag_parts` and `_gap`: a small integer, named by one gather (building millions of strings
    costs more). Read on the `FLAGGABLE` rows alone, whose value, status, unit, direction and local reference are
    not checked again."""
    # a département has no département above it: it is compared with France alone (`_local`)
    return (
        pl.when(
            pl.col("ref_france").is_not_null()
            & _worse("_local", rules.priority_gap)
            & _worse("ref_france", rules.priority_gap)
        )
        .then(pl.lit(2, pl.UInt32))
        .when(_worse("_local", rules.vigilance_gap))
        .then(pl.lit(1, pl.UInt32))
        .otherwise(pl.lit(0, pl.UInt32))
        .alias("flag")
    )


# the rows `_flag` may flag: a known value of a rate with a direction, and a local reference (the département's, or
# France's for a département); a count (`_kind` 0: places, population) against its département's count says
# nothing about need: only rates compare
FLAGGABLE = (
    pl.col("value").is_not_null()
    & pl.col("status").is_null()
    & (pl.col("_kind") != 0)
    & (pl.col("_dir") != 0)
    & _LOCAL_REFERENCE.is_not_null()
)


@cache
def _flag_steps(
    rules: FlagRules,
) -> tuple[dict[str, pl.Expr], dict[str, pl.Expr], pl.Expr, dict[str, pl.Expr], pl.Expr]:
    """The expressions of `_flag_codes`' query, built once (0.3 ms a slice of France)."""
    smaller = min(rules.vigilance_gap, rules.priority_gap)
    return _flag_parts(), _gap("_local"), _worse("_local", smaller), _gap("ref_france"), _flag(rules)


def _flag_codes(rows: pl.DataFrame, rules: FlagRules) -> pl.Series:
    """`_flag` of every row (its code in `FLAGS`, 0: none), computed on the `FLAGGABLE` rows alone (a few of every
    ten: the other rows have none whatever the gaps) and put at their positions in a column of zeros: codes
    without nulls, so naming them is a gather without a validity to carry."""
    # a flag needs the value worse than the local reference by the smaller gap at least: the rows that are not
    # (about four in five) are left before France's gap is taken. One lazy query: the rows kept by filters (no
    # positions found then gathered), the parts, gaps and flag planned and run together (6.6 to 4.5 ms a slice of
    # France, one thread)
    parts, local_gap, worse_than_local, france_gap, flag = _flag_steps(rules)
    flaggable = (
        rows.lazy()
        .select("_is_dep", "value", "status", "ref_dep", "ref_france", "_dir", "_kind")
        .with_row_index("_at")
        .filter(FLAGGABLE)
        .with_columns(**parts)
        .with_columns(**local_gap)
        .filter(worse_than_local)
        .with_columns(**france_gap)
        .select("_at", flag)
        .collect()
    )
    codes = np.zeros(rows.height, np.uint32)
    codes[flaggable["_at"].to_numpy()] = flaggable["flag"].to_numpy()
    return pl.Series("flag", codes)


def compare_parts(
    result: pl.DataFrame | Placed,
    inputs: Inputs,
    customs: tuple[CustomTerritory, ...] = (),
    rules: FlagRules = FlagRules(),
    n_years: int | None = None,
    comparison_year: int | None = None,
    provenance: pl.DataFrame | None = None,
    categories: bool = True,
) -> Iterator[pl.DataFrame]:
    """The long output table, a slice of rows at a time (`CHUNK_ROWS`, in order: a caller may write each slice as
    it comes, never holding the whole table): values with names, references, evolution and flags, its text
    columns as categories (`as_categories`: `transforms.table_cache.as_text` gives the text), or as text when
    `categories` is False (gathered as text at once: no codes made then turned into text); with
    `provenance` (indicator, year, source: `transforms.pipeline.provenance`), each row's `year` (a published
    figure's own year first) and `source` last. `result`: `compute`'s rows, best as a `Placed` (in order, places
    and indicators as positions: `compute_placed`); a frame is put in order first.

    Millions of rows: a place's attributes (references, name) and an indicator's (label, unit...) are looked up by
    position in tables of a few tens of thousands of rows, and reference values by position in the table itself,
    rather than by joins on strings. What each step computes lives for one slice."""
    items = indicators()
    placed = result if isinstance(result, Placed) else _placed_of(result, items)
    if placed.ids != tuple(i.id for i in items):
        raise ValueError("compare_parts: the rows' indicators are not the catalogue's")
    table = placed.rows
    # slices of whole runs of the catalogue: where every place has every indicator, each slice's indicators are
    # the same run, and their columns one frame shared by every slice (`_IndicatorRows`)
    step = max(CHUNK_ROWS - CHUNK_ROWS % len(items), len(items))
    places = placed.places.with_row_index("_place")
    values = _Values(table, len(items), places.height)
    refs = _references(_population(places, values, placed.ids), inputs, customs)
    attributes = _place_attributes(places, refs, _names(inputs, customs))
    # only the columns used are gathered (millions of rows each)
    attributes = attributes.select(
        "level", "code", "ref_epci_code", "ref_dep_code", "_epci_place", "_dep_place", "name", _is_dep=_IS_DEP
    )
    meta = _meta(items, provenance)
    names = (FLAGS, EVOLUTION_UNITS)
    if categories:
        attributes, meta = as_categories(attributes), as_categories(meta)
        # every known reason a category, whichever the table holds: one type of reasons for every table
        known = [R.reason_of(rank) for rank in range(len(R.RANKS) + 1)]  # "unknown" past the list
        reasons = pl.concat([placed.words, pl.Series(known, dtype=pl.String)])
        placed = replace(placed, words=placed.words.cast(_categories_of(reasons)))
    else:
        names = (FLAGS.cast(pl.String), EVOLUTION_UNITS.cast(pl.String))
    levels = _LevelRows(attributes["level"], min(step, table.height), len(items))
    france_rows = places.filter(pl.col("level") == "FRANCE")["_place"]
    france_place = france_rows[0] if france_rows.len() else None
    meta = meta.with_columns(_ref_france=values.of_place(france_place))
    finish = partial(
        _finished,
        per_place=_PlaceRows(attributes, values),
        levels=levels,
        per_indicator=_IndicatorRows(meta, step),
        values=values,
        france_place=france_place,
        rules=rules,
        years=(n_years, comparison_year),
        placed=placed,
        names=names,
    )
    slices = (table.slice(start, step) for start in range(0, max(table.height, 1), step))
    yield from ahead(finish, slices, AHEAD)


class _IndicatorRows:
    """The indicators' columns (`meta`) of a slice's rows: a gather of `meta` by the rows' `_ind`, or, where the
    slice's indicators run as a repeated run of the catalogue (every place of the slice has every indicator: the
    whole table in France), a slice of one frame of that run, made once and shared by every such slice (its text
    columns are not copied: 7 of the table's 16 text columns, 357 MiB of 16-byte views in France)."""

    def __init__(self, meta: pl.DataFrame, rows: int) -> None:
        self.meta = meta
        # the catalogue's positions repeated: 0.06 against 1.5 ms for `arange % height` over a slice of France
        repeats = -(-rows // meta.height)
        self.run = pl.Series("_ind", np.tile(np.arange(meta.height, dtype=np.uint32), repeats)[:rows])
        self.columns = meta[self.run]

    def __call__(self, ind: pl.Series) -> pl.DataFrame:
        if ind.len() <= self.run.len() and ind.equals(self.run.head(ind.len()), check_names=False):
            return self.columns.head(ind.len())
        return self.meta[ind]


class _PlaceRows:
    """The places' columns a slice's rows take: their text (code, reference codes, name), gathered by the rows'
    places, and by numpy, as arrays of a few tens of thousands of places read at the rows' places, the position of
    their references' values (`_Values.blocks`) and whether each is a département."""

    def __init__(self, attributes: pl.DataFrame, values: _Values) -> None:
        self.text = attributes.select("code", "ref_epci_code", "ref_dep_code", "name")
        self.epci = values.blocks(attributes["_epci_place"])
        self.dep = values.blocks(attributes["_dep_place"])
        self.is_dep = attributes["_is_dep"].to_numpy()


class _SliceRows:
    """A slice's places and indicators, which arrays by place (a few tens of thousands of places) are read at by
    numpy. Where the slice is whole places, each with every indicator (every slice of France), a place's item is
    repeated over its block of rows and a place's block of values laid out by one broadcast sum (a slice of France:
    0.12 ms, against 0.45 ms for a gather at each row's place then a sum)."""

    def __init__(self, place: pl.Series, ind: pl.Series, n_indicators: int) -> None:
        self.at, self.ind, self.n = place.to_numpy(), ind.to_numpy(), n_indicators
        # rows are in (place, indicator) order, one per pair at most: a block of n rows whose first and last
        # rows are one place is that place's every indicator
        at = self.at
        whole = at.size % n_indicators == 0 and bool((at[::n_indicators] == at[n_indicators - 1 :: n_indicators]).all())
        self.places = at[::n_indicators] if whole else None

    def of_places(self, items: np.ndarray) -> np.ndarray:
        """`items` (one per place) at each row's place."""
        if self.places is None:
            return items[self.at]
        return np.repeat(items[self.places], self.n)

    def positions(self, blocks: _Blocks) -> pl.Series:
        """The position of each row's indicator in its place's block of values, null where it has none (a
        numpy masked array made a Series with nulls: 0.08 ms a slice, where a block of nulls appended to the values
        would copy the value column)."""
        if self.places is None:
            first = blocks.first[self.at] + self.ind
        else:
            first = (blocks.first[self.places][:, None] + np.arange(self.n, dtype=blocks.first.dtype)).ravel()
        return pl.Series(np.ma.masked_array(first, self.of_places(blocks.missing)))


class _LevelRows:
    """The `level` column of a slice's rows (in place order), as slices of one column per level made once and shared
    by every slice: a run of rows of one level (every commune of France but Paris, Lyon and Marseille, the EPCIs)
    is a slice of that level's column, not a 16-byte view written per row (51 MiB of fresh pages in France: 13,349
    page faults). A level's column is as long as its longest run of places can have rows (a place has a row per
    indicator at most), up to the longest slice: France's 92 rows, not 262,108."""

    def __init__(self, levels: pl.Series, rows: int, n_indicators: int) -> None:
        self.levels = levels  # each place's level, by `_place`
        changes = levels.ne_missing(levels.shift(1)).arg_true().to_numpy()
        self.changes = changes[changes > 0]  # the places where a run of one level starts, but the first
        self.rows: dict[object, int] = {}  # each level's column length
        bounds = [0, *self.changes.tolist(), levels.len()]
        for start, end in zip(bounds, bounds[1:], strict=False):
            level = levels[start]
            self.rows[level] = min(rows, max(self.rows.get(level, 0), (end - start) * n_indicators))
        self.columns: dict[object, pl.Series] = {}

    def __call__(self, place: pl.Series) -> pl.Series:
        places = place.to_numpy()
        if places.size == 0:
            return self.levels.clear()
        starts = self.changes[(self.changes > places[0]) & (self.changes <= places[-1])]
        edges = [0, *np.searchsorted(places, starts).tolist(), places.size]
        runs = [self._column(int(places[a])).head(b - a) for a, b in zip(edges, edges[1:], strict=False)]
        return runs[0] if len(runs) == 1 else pl.concat(runs, rechunk=False)

    def _column(self, place: int) -> pl.Series:
        """The column of the level of `place` (text or category, as `levels`)."""
        level = self.levels[place]
        if level not in self.columns:
            self.columns[level] = self.levels.gather(pl.repeat(place, self.rows[level], dtype=pl.UInt32, eager=True))
        return self.columns[level]


def as_categories(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with its text columns as categories (an enum of each column's values, in their sorted order: a sort
    on a category orders its rows as on the text). Millions of rows gathered from a few tens of thousands of names
    then copy a 4-byte code each instead of a 16-byte string view (a gather of 3.3 M rows from 37,000 names, one
    polars thread: 8.4 ms against 28.7 ms)."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(frame[name].cast(_categories_of(frame[name])) for name in text)


def _categories_of(text: pl.Series) -> pl.Enum:
    return pl.Enum(text.drop_nulls().unique().sort())


def _population(places: pl.DataFrame, values: _Values, ids: tuple[str, ...]) -> pl.DataFrame:
    """(code, population) of every commune (`compute.population`, read at its position in `values`: 8 to 2 ms
    against a filter of the table's rows; null where it has none, which `principal_department` counts as none)."""
    communes = places.filter(pl.col("level") == "COM")
    if "population" not in ids:
        return communes.select("code", population=pl.lit(None, pl.Float64))
    return communes.select("code", population=values.of_indicator(communes["_place"], ids.index("population")))


def _placed_of(result: pl.DataFrame, items: tuple[Indicator, ...]) -> Placed:
    """`compute`'s frame as a `Placed`: its rows in order (`_in_order`), reasons as codes."""
    table, places = _in_order(result, items)
    reasons = pl.concat([table[name] for name in RANKED]).drop_nulls().unique().sort()
    words = reasons.extend_constant(None, 1)
    enum = pl.Enum(reasons.to_list())
    coded = {name: table[name].cast(enum).to_physical().cast(pl.UInt32).fill_null(reasons.len()) for name in RANKED}
    rows = table.with_columns(
        _place=pl.col("_place").cast(pl.UInt32), _ind=pl.col("_ind").cast(pl.UInt32), **coded
    ).select("_place", "_ind", *[c for c in table.columns if c not in ("level", "code", "indicator", "_place", "_ind")])
    schema = {"group" if name == "code" else name: dtype for name, dtype in result.schema.items()}
    ids = tuple(i.id for i in items)
    return Placed(rows, places.sort("_place").select("level", "code"), ids, words, schema)


_IS_DEP = pl.col("level") == "DEP"  # a place's attribute: whether it is a département (`_LOCAL_REFERENCE`)
AHEAD = 2  # slices `compare_parts` finishes at once
CHUNK_ROWS = 1 << 18  # rows finished at a time by `compare_parts` (about 260,000: France's table in 13 slices; three
# slices in flight, about 70 MiB each: twice as many cost no more time and held 150 MiB more of the publication's peak)


def _finished(
    table: pl.DataFrame,
    per_place: _PlaceRows,
    levels: _LevelRows,
    per_indicator: _IndicatorRows,
    values: _Values,
    france_place: int | None,
    rules: FlagRules,
    years: tuple[int | None, int | None],
    placed: Placed,
    names: tuple[pl.Series, pl.Series],
) -> pl.DataFrame:
    """A slice of the ordered table (rows of `placed`) with its place's and indicator's columns, references,
    evolution and flag (`france_place`: France's place, whose value of each indicator is `_ref_france` of the
    indicators' columns; `years`: the number of years between the censuses, the comparison census year; `names`:
    the flags' and the evolution units' names, `FLAGS` and `EVOLUTION_UNITS` as categories or as text)."""
    n_years, comparison_year = years
    flags, evolution_units = names
    place, ind = table["_place"], table["_ind"]
    rows = _SliceRows(place, ind, per_indicator.meta.height)
    text = per_place.text[place]
    indicator_columns = per_indicator(ind)
    named = _named(table, levels(place), text, indicator_columns, placed)
    ref_france = _france_reference(table, indicator_columns["_ref_france"], france_place)
    ref_dep = values.gather(rows.positions(per_place.dep)).alias("ref_dep")
    kind = indicator_columns["_kind"]
    evolution = _evolutions(pl.DataFrame([table["value"], table["value_comparison"], kind]), n_years)
    is_dep = pl.Series("_is_dep", rows.of_places(per_place.is_dep))
    flag_rows = pl.DataFrame(
        [named["value"], named["status"], ref_dep, ref_france, indicator_columns["_dir"], kind, is_dep]
    )
    provenance = "year" in per_indicator.meta.columns
    years_of_rows = pl.DataFrame([table["value_comparison"], table["published_year"], kind, evolution]).select(
        comparison_year=pl.when(pl.col("value_comparison").is_not_null()).then(pl.lit(comparison_year, pl.Int32)),
        # the unit's name gathered by `_kind` where there is an evolution (no column of names to mask)
        _unit=pl.when(pl.col("evolution").is_not_null()).then("_kind"),
        # a published figure's own year first
        **({"year": pl.coalesce(pl.col("published_year"), indicator_columns["year"])} if provenance else {}),
    )
    columns = [
        *(column for name, column in named.items() if not (provenance and name == "published_year")),
        text["ref_epci_code"],
        text["ref_dep_code"],
        values.gather(rows.positions(per_place.epci)).alias("ref_epci"),
        ref_dep,
        ref_france,
        *(column for column in indicator_columns if not column.name.startswith("_") and column.name not in _NAMED),
        text["name"],
        years_of_rows["comparison_year"],
        evolution,
        evolution_units.gather(years_of_rows["_unit"]).alias("evolution_unit"),
        _gathered(flags, _flag_codes(flag_rows, rules)).alias("flag"),
    ]
    if provenance:
        columns += [years_of_rows["year"], indicator_columns["source"]]
    return pl.DataFrame(columns)


PROVENANCE = ("year", "source")  # the columns of `provenance` a row takes from its indicator
# the indicators' columns `_named` places, and those a row takes from `provenance` at the end
_NAMED = ("indicator", *PROVENANCE)


def _gathered(column: pl.Series, positions: pl.Series) -> pl.Series:
    """`column` at `positions` (null at a null position), gathered as a frame's rows: `Series.gather` runs as an
    expression, which costs about 0.35 ms more for a slice of France's 262,108 rows (words, flags, values: 1.1 to
    0.75 ms, one thread) but for positions mostly null (the evolution units': 1.15 against 1.25 ms)."""
    return column.to_frame()[positions].to_series()


def _france_reference(table: pl.DataFrame, france_values: pl.Series, france_place: int | None) -> pl.Series:
    """France's value of each row's indicator (`france_values`, in the rows' order), null on France's own rows:
    the column as given where the slice holds none of them (every slice of France's table but the last)."""
    place = table["_place"]
    if france_place is None or place.is_empty() or not place[0] <= france_place <= place[-1]:  # rows in place order
        return france_values.alias("ref_france")
    at_france = pl.col("_place") == pl.lit(france_place, pl.Int64)
    return table.select(ref_france=pl.when(at_france).then(None).otherwise(france_values)).to_series()


def _named(
    table: pl.DataFrame, level: pl.Series, per_place: pl.DataFrame, per_indicator: pl.DataFrame, placed: Placed
) -> dict[str, pl.Series]:
    """`compute`'s columns of a slice of `placed`'s rows, by name in its order: its place's level and code, its
    indicator, its reasons named (`placed.words`), as categories or text."""
    named = {"level": level, "group": per_place["code"], "indicator": per_indicator["indicator"]}
    columns = {}
    for name, dtype in placed.schema.items():
        if name in named:
            column = named[name]
        elif name in RANKED:
            column = _gathered(placed.words, table[name])
        else:
            column = table[name].cast(dtype)
        columns["code" if name == "group" else name] = column.alias("code" if name == "group" else name)
    return columns


def _meta(items: tuple[Indicator, ...], provenance: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per indicator in the catalogue's order: its output columns, and as small integers its direction
    (`_dir`, `DIRECTION_SIGNS`, 0 neutral) and what its unit makes of an evolution (`_kind`, `EVOLUTION_KINDS`,
    named in `EVOLUTION_UNITS`);
    then its `PROVENANCE` columns when `provenance` gives them (null for an indicator it does not name)."""
    meta = pl.DataFrame(
        {
            "indicator": [i.id for i in items],
            "theme": [i.theme for i in items],
            "theme_label": [THEMES[i.theme] for i in items],
            "label": [i.label for i in items],
            "unit": [i.unit for i in items],
            "direction": [i.direction for i in items],
            "_dir": pl.Series([DIRECTION_SIGNS.get(i.direction, 0) for i in items], dtype=pl.Int8),
            "_kind": pl.Series([_evolution_kind(i.unit) for i in items], dtype=pl.Int8),
        }
    )
    if provenance is None:
        return meta
    return meta.join(provenance.select("indicator", *PROVENANCE), on="indicator", how="left", maintain_order="left")


def _place_attributes(places: pl.DataFrame, refs: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """One row per place, in the order of `_place`: its reference codes, the places of its references, its name."""
    epci = places.filter(pl.col("level") == "EPCI").select(ref_epci_code="code", _epci_place="_place")
    dep = places.filter(pl.col("level") == "DEP").select(ref_dep_code="code", _dep_place="_place")
    place_refs, place_names = _aligned(places, refs), _aligned(places, names)
    if place_refs is not None and place_names is not None:  # one row per place already: no duplicate to drop
        return (
            places.hstack(place_refs)
            .hstack(place_names)
            .join(epci, on="ref_epci_code", how="left", maintain_order="left")
            .join(dep, on="ref_dep_code", how="left", maintain_order="left")
        )
    return (
        places.join(refs, on=["level", "code"], how="left")
        .join(names, on=["level", "code"], how="left")
        .join(epci, on="ref_epci_code", how="left")
        .join(dep, on="ref_dep_code", how="left")
        .unique("_place", keep="first")
        .sort("_place")
    )


def _aligned(places: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame | None:
    """The columns of `facts` but level and code, one row per place in the order of `places` (null for a place
    `facts` does not list), where every level of `facts` is one run of rows (None otherwise). A run of places of one
    level (France's arrondissements are runs among its communes) that `facts` lists in the same order at the rows
    not read yet is read by position: a join on two text columns costs about 5 ms for France's 36,000 places; any
    other run is joined on its codes (the first fact of a code)."""
    listed = _level_runs(facts)
    if listed is None:
        return None
    columns = facts.drop("level", "code")
    read = dict.fromkeys(listed, 0)  # the rows of each level's run of `facts` read by position so far
    pieces, start = [], 0
    for level, length in _runs(places["level"]):
        codes = places["code"].slice(start, length)
        start += length
        if level not in listed:
            pieces.append(columns.clear(length))
            continue
        first, rows = listed[level]
        at, left = first + read[level], rows - read[level]
        if length <= left and facts["code"].slice(at, length).equals(codes):
            pieces.append(columns.slice(at, length))
            read[level] += length
        else:
            own = facts.slice(first, rows).drop("level").unique("code", keep="first", maintain_order=True)
            pieces.append(codes.to_frame().join(own, on="code", how="left", maintain_order="left").drop("code"))
    return pl.concat(pieces) if pieces else columns.clear()


def _runs(levels: pl.Series) -> list[tuple[str, int]]:
    """The runs of one level in `levels`, in order: (level, rows)."""
    runs = levels.rle()
    return list(zip(runs.struct.field("value").to_list(), runs.struct.field("len").to_list(), strict=True))


def _level_runs(frame: pl.DataFrame) -> dict[str, tuple[int, int]] | None:
    """Each level's (first row, rows) in `frame`, where every level is one run of rows; None otherwise."""
    runs = _runs(frame["level"])
    if len({level for level, _ in runs}) < len(runs):
        return None
    starts = np.cumsum([0, *(length for _, length in runs[:-1])]).tolist()
    return {level: (start, length) for (level, length), start in zip(runs, starts, strict=True)}


class _Values:
    """Every place's value of every indicator by position (`_place * n_indicators + _ind`: where every place has
    every indicator, the value column as it is laid out, not copied), read at positions numpy computes from the
    places' blocks (`_SliceRows.positions`: a slice of France's places' columns and two references 6.3 to 5.1 ms,
    one thread, against a gather of each row's reference places then a polars expression for each reference)."""

    def __init__(self, table: pl.DataFrame, n_indicators: int, n_places: int) -> None:
        self.n_indicators = n_indicators
        if table.height == n_places * n_indicators:
            self.values = table["value"].rechunk()  # a gather from chunks costs several times more
        else:
            self.values = pl.Series("value", [], pl.Float64).extend_constant(None, n_places * n_indicators)
            self.values.scatter(table["_place"] * n_indicators + table["_ind"], table["value"])

    def blocks(self, places: pl.Series) -> _Blocks:
        """Where each place's values start, for places given by position (null: none)."""
        first = places.fill_null(0).cast(pl.UInt32).to_numpy() * np.uint32(self.n_indicators)
        return _Blocks(first, places.is_null().to_numpy())

    def gather(self, positions: pl.Series) -> pl.Series:
        """The values at `positions` (`_SliceRows.positions`), null at a null position."""
        return _gathered(self.values, positions)

    def of_indicator(self, places: pl.Series, ind: int) -> pl.Series:
        """The value of indicator `ind` at each of `places`."""
        return self.values.gather(places.cast(pl.UInt32) * self.n_indicators + ind)

    def of_place(self, place: int | None) -> pl.Series:
        """Every indicator's value at `place` (nulls for None), in the catalogue's order."""
        if place is None:
            return pl.Series("value", [None] * self.n_indicators, pl.Float64)
        return self.values.slice(place * self.n_indicators, self.n_indicators)


class _Blocks(NamedTuple):
    """Per place, the position of its first value (`_Values`) and whether it has none (a null place)."""

    first: np.ndarray
    missing: np.ndarray


def _in_order(table: pl.DataFrame, items: tuple[Indicator, ...]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows by place (communes and arrondissements, territories, EPCIs, départements, France; by code), then
    by indicator in the catalogue's order, with their place's rank (`_place`) and their indicator's (`_ind`); and
    the places (level, code, _place). Sorted on one integer, the places being found as runs of rows (a few tens of
    thousands, not millions)."""
    level_order = PLACE_ORDER
    runs = table.select(pl.struct("level", "code").rle_id().cast(pl.Int64)).to_series()
    places = (
        table.filter(runs.diff().fill_null(1) != 0)  # the first row of each run
        .select("level", "code", _level=pl.col("level").replace_strict(level_order, return_dtype=pl.Int8))
        .with_row_index("_run")
        .sort("_level", "code")
        .with_columns(_place=pl.struct("_level", "code").rle_id().cast(pl.Int64))  # a place's runs share it
        .sort("_run")
    )
    # an indicator's position in the catalogue: the physical value of an enum of the catalogue's ids (an id not in
    # it is refused, as `replace_strict` would)
    position = pl.col("indicator").cast(pl.Enum([i.id for i in items])).to_physical().cast(pl.Int64)
    table = table.with_columns(_place=places["_place"].gather(runs), _ind=position)
    ordered = _sorted_by(table, (table["_place"] * len(items) + table["_ind"]).to_numpy())
    return ordered, places.select("level", "code", "_place").unique("_place", keep="first")


MAX_PIECES = 10_000  # above it, `_sorted_by` gathers the rows rather than chaining slices of the table


def _sorted_by(table: pl.DataFrame, key: np.ndarray) -> pl.DataFrame:
    """`table` in the order of `key` (non-negative integers below a few million).

    When every key is unique, the order is found by numpy's stable sort (a merge of sorted runs). `compute` gives
    its rows in this order already, but for the arrondissements appended after them: the table is then a chain of
    a few slices of itself (no copy of millions of rows), else gathered. Keys repeated: a sort."""
    if key.size == 0:
        return table
    order = np.argsort(key, kind="stable")  # a merge of a few sorted runs, in linear time
    if (np.diff(key[order]) == 0).any():
        return table.sort(pl.Series(key))
    starts = np.flatnonzero(np.diff(order) != 1) + 1  # where the next row is not the one after
    if starts.size > MAX_PIECES:
        return table[pl.Series(order)]
    bounds = [0, *starts.tolist(), key.size]
    return pl.concat([table.slice(int(order[a]), b - a) for a, b in zip(bounds, bounds[1:], strict=False)])


__all__ = ["FlagRules", "compare_parts", "VIGILANCE", "PRIORITY", "R"]
