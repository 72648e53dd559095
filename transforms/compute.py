"""Compute every indicator for every commune, EPCI, département, France and custom territory in one pass.

One code path for all levels: commune values are summed per territory (sum of numerators over sum of
denominators), then divided. A territory with any unknown part (secret, missing...) gets null with that reason,
never a partial sum, with one exception: a rate above the commune level left empty by secret communes that hold
little of its population is computed without them and says so (`transforms.partial`). Published figures (medians, poverty rates, CAF coverage) are read per level from the
publisher's own file. Nothing is computed row by row.

The commune values are one wide table (`transforms.commune_table`: a row per commune, a column per term), so
every level is a sum over at most one row per commune: France's 35,000 communes and 92 indicators take about a
second, where pivoting millions of long (commune, term) rows took sixteen.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from itertools import groupby
from queue import Queue
from typing import cast

import numpy as np
import polars as pl

from transforms import commune_table
from transforms import reasons as R
from transforms.commune_table import CommuneTable, rows_at_levels, rows_of_codes
from transforms.infra import Infra
from transforms.partial import Places, reference_keys, without_secret_communes
from transforms.placed import ARM, COMMUNE_LEVELS, PLACE_ORDER, RANKED, Placed
from transforms.registry import PUBLISHED_SOURCES, Indicator, Term, indicators
from transforms.territories import FRANCE, CustomTerritory, groups, principal_department

CENSUS_PREFIX = "rp_"
POPULATION_TERM = Term("rp_population", "P_POP")  # growth and its parts are rates of the census population


@dataclass
class Inputs:
    """What the computation reads: staged tables (latest vintage per source) and the target geography."""

    staged: dict[str, pl.DataFrame]  # source -> staged long frame
    vintages: dict[str, str]  # source -> vintage used
    membership: pl.DataFrame  # Geography.membership(): code, name, dep, reg, epci
    epci_names: dict[str, str] = field(default_factory=dict)
    dep_names: dict[str, str] = field(default_factory=dict)
    # transforms.arrondissements.arrondissement_membership: code, name, dep, reg, city, epci (None: not computed)
    arrondissements: pl.DataFrame | None = None
    infra: Infra | None = None  # the IRIS and QPV tables (transforms.infra), read by the commune report only
    # source -> (its table, its main year, its comparison year): asked for every indicator, read once per table
    _years: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def main_year(self, source: str) -> int | None:
        """The latest year of a source's table (a census: its vintage); None when it has no year."""
        return self._years_of(source)[0]

    def comparison_year(self, source: str) -> int | None:
        """The census comparison year: the latest earlier census year at least 5 years before the main one."""
        return self._years_of(source)[1]

    def _years_of(self, source: str) -> tuple[int | None, int | None]:
        """(main, comparison) years of a staged table, read again only when the table is another one (the dict of
        tables may be changed in place). Maxima, not the distinct years: France's 20 tables 30 to 6 ms."""
        frame = self.staged.get(source)
        if frame is None:
            return None, None
        known = self._years.get(source)
        if known is None or known[0] is not frame:
            known = self._years[source] = (frame, *self._read_years(source, frame["year"]))
        return known[1], known[2]

    def _read_years(self, source: str, years: pl.Series) -> tuple[int | None, int | None]:
        latest = years.max()
        if latest is None:
            return None, None
        if not source.startswith(CENSUS_PREFIX):
            return cast(int, latest), None
        main = int(self.vintages[source])
        return main, cast("int | None", years.filter(years <= main - 5).max())


def _census_years(inputs: Inputs) -> tuple[int | None, int | None]:
    return inputs.main_year("rp_population"), inputs.comparison_year("rp_population")


def _needed(items: tuple[Indicator, ...], inputs: Inputs) -> pl.DataFrame:
    """(source, variable, term, period, year) rows: every commune value the indicators read."""
    main_census, comp_census = _census_years(inputs)
    years = {s: (inputs.main_year(s), inputs.comparison_year(s)) for s in {t.source for i in items for t in i.terms}}
    rows: list[tuple[str, str, str, str, int | None]] = []  # a missing census year stays a null year
    for ind in items:
        if ind.kind == "published":
            continue
        for t in ind.terms:
            if ind.kind in ("natural", "migration") and not t.source.startswith(CENSUS_PREFIX):
                if main_census and comp_census:  # births and deaths of the years between the two censuses
                    rows += [(t.source, t.variable, t.key, "range", y) for y in range(comp_census, main_census)]
                continue
            main, comp = years[t.source]
            if main is not None:
                rows.append((t.source, t.variable, t.key, "main", main))
            if comp is not None:
                rows.append((t.source, t.variable, t.key, "comp", comp))
        if ind.kind in ("growth", "natural", "migration"):
            for t in (Term("rp_population", "P_POP"),):
                rows += [
                    (t.source, t.variable, t.key, "main", main_census),
                    (t.source, t.variable, t.key, "comp", comp_census),
                ]
    schema = {"source": pl.String, "variable": pl.String, "term": pl.String, "period": pl.String, "year": pl.Int32}
    return pl.DataFrame(rows, schema=schema, orient="row").unique()


def commune_values(inputs: Inputs, needed: pl.DataFrame) -> pl.DataFrame:
    """(code, term, period, value, status, split) for every commune of the target COG and every needed value.

    A commune with no row in a source is `not_available`, so no territory is ever summed over part of its
    communes without saying so. The long form of `transforms.commune_table` (the engine reads the wide one).
    """
    return commune_table.long(commune_table.build(inputs, needed))


def aggregate(values: pl.DataFrame, membership_groups: pl.DataFrame) -> pl.DataFrame:
    """Sum commune values per (level, group): null with the worst reason when any part is unknown.

    A commune restored after the data's geography has no value of its own (`split`, null `non_recalculable`): its
    figures are inside its parent's, so it is skipped above the commune level. The parent (`split`, with a value)
    counts above the commune level; a parent whose value is unknown (secret, missing) keeps its reason all the way
    up. Both are shown null `non_recalculable` at their own level.

    The long path, for a few places (the report's age pyramids): `compute` sums the wide commune table with the
    same rules (`CommuneTable.aggregate`), and a test holds both equal.
    """
    joined = values.join(membership_groups, on="code", how="inner")
    at_commune = pl.col("level") == "COM"
    joined = joined.with_columns(
        value=pl.when(at_commune & pl.col("split")).then(None).otherwise(pl.col("value")),
        status=pl.when(at_commune & pl.col("split")).then(pl.lit(R.NON_RECALCULABLE)).otherwise(pl.col("status")),
    ).filter(
        ~(~at_commune & pl.col("split") & pl.col("status").eq_missing(R.NON_RECALCULABLE))
    )  # restored: no own data
    return (
        joined.with_columns(_rank=pl.when(pl.col("value").is_null()).then(R.rank(pl.col("status"))))
        .group_by("level", "group", "term", "period")
        .agg(value=pl.when(pl.col("value").null_count() == 0).then(pl.col("value").sum()), _rank=pl.col("_rank").min())
        .with_columns(status=R.reason(pl.col("_rank")))
        .drop("_rank")
    )


def _france_sets(items: list[Indicator], table: CommuneTable) -> list[tuple[pl.DataFrame, list[Indicator], bool]]:
    """France's sums for every indicator, over the communes its sources cover, so that every territory has a
    reference: one (sums, the indicators they serve, whether communes were left out) per set of covered communes.

    A commune is left out when one of the indicator's values is `not_available` there (Mayotte's empty census
    cells, no Mayotte commune in the CAF files): numerator and denominator then cover the same communes, and the
    status `partial_coverage` says France is incomplete (`_france_rows`). Other unknown parts (secret...) still make
    France unknown. France's sums over one set of communes serve every indicator left with that set.
    """
    # coverage is judged on the values of the reference year (a variable missing from the comparison census must
    # not empty France of every commune: its evolution is simply unknown)
    absent = table.masks_of(R.NOT_AVAILABLE, reference_keys(table.keys))
    by_set: dict[bytes, tuple[np.ndarray, list[Indicator]]] = {}
    for ind in items:
        uncovered = np.zeros(table.frame.height, bool)
        for k in term_keys(ind, table):
            if k in absent:
                uncovered |= absent[k]
        by_set.setdefault(uncovered.tobytes(), (uncovered, []))[1].append(ind)
    sets = []
    for uncovered, inds in by_set.values():
        covered = table.keep(~uncovered) if uncovered.any() else table
        france = covered.frame.select("code", level=pl.lit("FRANCE"), group=pl.lit(FRANCE))
        empty = pl.DataFrame({"level": ["FRANCE"], "group": [FRANCE]})
        sums = empty if covered.frame.is_empty() else covered.aggregate(france)
        sets.append((sums, inds, bool(uncovered.any())))
    return sets


def _summed(sums: pl.DataFrame) -> bool:
    """Whether France's sums hold the terms' columns (not a France of no commune)."""
    return sums.width > 2


def _france_rows(
    sets: list[tuple[pl.DataFrame, list[Indicator], bool]],
    computed: dict[str, pl.DataFrame],
    n_places: int,
    n_years: int | None,
) -> dict[str, pl.DataFrame]:
    """France's row of every indicator of `sets` (`_france_sets`): its set's row in `computed` (the rows of the
    sums of every set that has them, in order, after `n_places` rows of other places), or computed apart for a
    France of no commune; `partial_coverage` where communes were left out."""
    rows: dict[str, pl.DataFrame] = {}
    position = n_places
    for sums, inds, partial_coverage in sets:
        if _summed(sums):
            found = {i.id: computed[i.id].slice(position, 1) for i in inds}
            position += 1
        else:
            found = _computed_many(inds, sums, n_years)
        for ind_id, row in found.items():
            if partial_coverage:
                status = pl.when(pl.col("value").is_not_null()).then(R.ranked(R.PARTIAL_COVERAGE))
                row = row.with_columns(status=status.otherwise(pl.col("status")))
            rows[ind_id] = row
    return rows


def _columns(keys: list[str], wide: pl.DataFrame) -> list[str]:
    """The value and rank columns of these keys that `wide` has."""
    return [c for k in keys for c in (k, k + commune_table.RANK) if c in wide.columns]


def term_keys(ind: Indicator, table: CommuneTable) -> list[str]:
    """The table's keys of every term the indicator reads, at every period (growth: the census population too)."""
    terms = {t.key for t in ind.terms} | (
        {POPULATION_TERM.key} if ind.kind in ("growth", "natural", "migration") else set()
    )
    return list(_keys_of_terms(frozenset(terms), table.keys))


@lru_cache(maxsize=1024)
def _keys_of_terms(terms: frozenset[str], keys: tuple[str, ...]) -> tuple[str, ...]:
    """`term_keys`, kept: asked for each indicator two or three times a computation (France: 162 calls splitting
    126 keys each, about 5 ms)."""
    return tuple(k for k in keys if k.rsplit("|", 1)[0] in terms)


# the literals of every indicator's expressions, made once (a literal of a dtype builds a Series: about 40 us)
_ZERO = pl.lit(0.0)
_NULL_VALUE = pl.lit(None, pl.Float64)
_NULL_RANK = pl.lit(None, pl.Int32)


def _sum(terms: tuple[Term, ...], period: str, columns: AbstractSet[str]) -> tuple[pl.Expr, pl.Expr]:
    """(sum, status rank) of signed terms at `period`: the first unknown term's reason; a term absent everywhere
    counts as not available."""
    value, statuses = _ZERO, []
    for t in terms:
        col = commune_table.key(t.key, period)
        if col not in columns:
            return _NULL_VALUE, R.ranked(R.NOT_AVAILABLE)
        value = value + t.sign * pl.col(col)
        statuses.append(pl.col(col + commune_table.RANK))
    return value, pl.coalesce(*statuses) if statuses else _NULL_RANK


def _ratio(ind: Indicator, num: pl.Expr, num_s: pl.Expr, den: pl.Expr, den_s: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    status = (
        pl.when(num_s.is_not_null())
        .then(num_s)
        .when(den_s.is_not_null())
        .then(den_s)
        .when(den == 0)
        .then(R.ranked(R.ZERO_DENOMINATOR))
        .when(den < ind.min_denominator)
        .then(R.ranked(R.NOT_SIGNIFICANT))
    )
    value = pl.when(status.is_null()).then(ind.scale * num / den)
    return value, status


# the indicators' selects run as a lazy query without optimisations: an eager select (polars' eager mode) of
# France's 81 indicators over 36,322 rows cost 86-93 ms of CPU (one thread), the same plan collected lazily 53-55 ms
_PLAIN = pl.QueryOptFlags.none()


def _selected(wide: pl.DataFrame, named: dict[str, pl.Expr]) -> pl.DataFrame:
    """(level, group, the `named` columns) of the rows of `wide` (`_PLAIN`)."""
    return wide.lazy().select("level", "group", **named).collect(optimizations=_PLAIN)


def _computed(ind: Indicator, wide: pl.DataFrame, n_years: int | None) -> pl.DataFrame:
    return _selected(wide, _expressions(ind, frozenset(wide.columns), n_years))


def _computed_many(items: list[Indicator], wide: pl.DataFrame, n_years: int | None) -> dict[str, pl.DataFrame]:
    """`_computed` of every indicator of `items` over the same rows, in one select (a select per indicator costs
    more to plan than to run on 37,000 rows), each frame ending with the `_UNSET` columns, null (one column shared
    by every frame: two `with_columns` per indicator cost about 20 ms for France)."""
    columns = frozenset(wide.columns)
    expressions = [_expressions(i, columns, n_years) for i in items]
    named = {f"{n}{_SEP}{name}": e[name] for n, e in enumerate(expressions) for name in _OUTPUT}
    # the columns by position: a lookup by name reads the names of the select's 650 columns
    level, group, *computed = _selected(wide, named).get_columns()
    unset = [pl.Series(name, [], dtype).extend_constant(None, level.len()) for name, dtype in _UNSET.items()]
    width = len(_OUTPUT)

    def frame(n: int) -> pl.DataFrame:
        own = computed[n * width : (n + 1) * width]
        return pl.DataFrame([level, group, *(c.alias(name) for c, name in zip(own, _OUTPUT, strict=True)), *unset])

    return {i.id: frame(n) for n, i in enumerate(items)}


_SEP = "\x00"  # between an indicator's position and a column's name in `_computed_many`'s select
_OUTPUT = ("indicator", "value", "status", "numerator", "denominator", "value_comparison", "status_comparison")
# the columns a summed indicator's rows end with, null but where set: a rate without its secret communes, a year
# of a published figure
_UNSET = {"coverage": pl.Float64, "published_year": pl.Int32}


@lru_cache(maxsize=1024)
def _expressions(ind: Indicator, cols: frozenset[str], n_years: int | None) -> dict[str, pl.Expr]:
    """The indicator's output columns (`_OUTPUT`) over rows holding the columns `cols` of a wide commune table
    (kept: the same expressions serve France's sums, the custom territories, the next computation). The caller
    must not change the dict."""
    out = {}
    for period in ("main", "comp"):
        num, num_s = _sum(ind.numerator, period, cols)
        den, den_s = _sum(ind.denominator, period, cols) if ind.denominator else (_NULL_VALUE, _NULL_RANK)
        if ind.kind == "count":
            value, status = num, num_s
        elif ind.kind == "ratio":
            value, status = _ratio(ind, num, num_s, den, den_s)
        else:
            value, status = _demography(ind, cols, n_years)
            if period == "comp":
                value, status = _NULL_VALUE, R.ranked(R.NOT_AVAILABLE)
        out[period] = (value, status.cast(pl.Int32), num, den)  # a reason's rank: named once in `_in_order`
    main, comp = out["main"], out["comp"]
    return {
        "indicator": pl.lit(ind.id),
        "value": main[0],
        "status": main[1],
        "numerator": main[2] if ind.kind in ("count", "ratio") else _NULL_VALUE,
        "denominator": main[3] if ind.kind == "ratio" else _NULL_VALUE,
        "value_comparison": comp[0] if ind.evolution else _NULL_VALUE,
        "status_comparison": comp[1] if ind.evolution else R.ranked(R.DEFINITION_CHANGE),
    }


def _demography(ind: Indicator, cols: AbstractSet[str], n_years: int | None) -> tuple[pl.Expr, pl.Expr]:
    """Annual growth, and its natural and apparent migratory parts, between the two census years."""
    p1, s1 = _sum((POPULATION_TERM,), "main", cols)
    p0, s0 = _sum((POPULATION_TERM,), "comp", cols)
    if not n_years:
        return _NULL_VALUE, R.ranked(R.NOT_AVAILABLE)
    growth = ((p1 / p0) ** (1 / n_years) - 1) * 100
    pop_status = pl.coalesce(s1, s0)
    if ind.kind == "growth":
        return pl.when(pop_status.is_null() & (p0 > 0)).then(growth), pl.coalesce(
            pop_status, pl.when(p0 <= 0).then(R.ranked(R.ZERO_DENOMINATOR))
        )
    balance, bal_s = _sum(ind.numerator, "range", cols)
    natural = balance / n_years / ((p1 + p0) / 2) * 100
    status = pl.coalesce(pop_status, bal_s, pl.when(p0 <= 0).then(R.ranked(R.ZERO_DENOMINATOR)))
    value = natural if ind.kind == "natural" else growth - natural
    return pl.when(status.is_null()).then(value), status


def _published(ind: Indicator, inputs: Inputs, wanted: _Wanted, at: _FoundAt) -> pl.DataFrame:
    """The publisher's figure for each wanted place, in their order; CAF coverage falls back on the EPCI's figure.
    `at`: the publisher's rows and where each wanted place finds its own (`_found_at`)."""
    published = ind.published_term
    family = PUBLISHED_SOURCES[published.source]
    figures = at.found.select("value", "status", "year")
    places = wanted.frame.select("level", "group")
    out = pl.concat([places, figures.gather(at.places[published.variable])], how="horizontal")
    if published.source == "caf_places" and "FRANCE" not in family:
        out = _france_places(out, at.found.filter(pl.col("variable") == published.variable), inputs)
    absent = pl.col("value").is_null() & pl.col("status").is_null()
    out = out.with_columns(
        status=pl.when(absent & (pl.col("level") == "TERRITORY"))
        .then(pl.lit(R.NOT_AGGREGABLE))
        # a commune absent from Filosofi (not covered) is not available; CAF files skip small communes on purpose
        .when(absent)
        .then(pl.lit(R.NOT_PUBLISHED if published.source.startswith("caf_") else R.NOT_AVAILABLE))
        .otherwise(pl.col("status"))
    )
    if ind.fallback == "epci":
        out = _epci_fallback(out, figures.gather(at.epcis[published.variable]), wanted.epci)
    return out.select(
        "level",
        "group",
        indicator=pl.lit(ind.id),
        value="value",
        status="status",
        numerator=_NULL_VALUE,
        denominator=_NULL_VALUE,
        value_comparison=_NULL_VALUE,
        status_comparison=pl.lit(R.NOT_AVAILABLE),
        published_year=pl.col("year").cast(pl.Int32),
    )


# the places that read a publisher's file of each level (an arrondissement: the ARM rows of the commune file)
_PLACE_LEVELS = {"COM": COMMUNE_LEVELS, "EPCI": ("EPCI",), "DEP": ("DEP",), "FRANCE": ("FRANCE",)}


@dataclass(frozen=True)
class _Wanted:
    """The places of a computation's published figures, found once for every publisher: `frame` (level, group) in
    their order, `rows` level -> (code, _row) of its places, `epci` the EPCI of each place (null but for a commune
    or an arrondissement in one; None when no indicator falls back on it)."""

    frame: pl.DataFrame
    rows: dict[str, pl.DataFrame]
    epci: pl.Series | None


def _wanted(places: pl.DataFrame, inputs: Inputs, items: tuple[Indicator, ...]) -> _Wanted:
    """`_Wanted` of `places` (level, group), the places' EPCI only when one of `items` falls back on it."""
    indexed = places.select("level", code="group").with_row_index("_row")
    rows = {level: part.drop("level") for (level,), part in indexed.partition_by("level", as_dict=True).items()}
    if not any(ind.kind == "published" and ind.fallback == "epci" for ind in items):
        return _Wanted(places, rows, None)
    epci_of = inputs.membership.select("code", "epci")
    if ARM in rows and inputs.arrondissements is not None:  # an arrondissement in its city's EPCI
        epci_of = pl.concat([epci_of, inputs.arrondissements.select("code", "epci")])
    epci = indexed.join(epci_of, on="code", how="left", maintain_order="left").select(
        epci=pl.when(pl.col("level").is_in(COMMUNE_LEVELS)).then(pl.col("epci"))
    )
    return _Wanted(places, rows, epci["epci"])


@dataclass(frozen=True)
class _FoundAt:
    """A publisher's rows (`found`: level, group, variable, value, status, year) and where the wanted places find
    them: variable -> the row of each place (`places`) and of each place's EPCI (`epcis`: empty unless an indicator
    falls back on it), null where there is none."""

    found: pl.DataFrame
    places: dict[str, pl.Series]
    epcis: dict[str, pl.Series]


def _found_at(
    variables: list[str], family: dict[str, str], inputs: Inputs, wanted: _Wanted, latest: dict, *, epcis: bool
) -> _FoundAt:
    """`_FoundAt` of a publisher's variables at the `wanted` places: each level's rows found at its places once, by
    the runs of their codes, for every indicator of the publisher (France: about the CPU of the join of every place
    per indicator and the two of its EPCI fallback it replaces). `epcis`: whether an indicator of the publisher
    falls back on the EPCI's figure (else its EPCI rows are not found: Filosofi 34 to 17 ms)."""
    found, at, rows = _published_rows(variables, family, inputs, latest, wanted)
    n_places = wanted.frame.height
    variable = found["variable"].cast(pl.Enum(variables)).to_physical().to_numpy()
    places = _rows_by_variable(variable[rows], at, rows, len(variables), n_places)
    if wanted.epci is None or not epcis:
        return _FoundAt(found, dict(zip(variables, places, strict=True)), {})
    at_epci = np.flatnonzero((found["level"] == "EPCI").to_numpy())
    epci_rows = pl.DataFrame(
        {"epci": found["group"].gather(at_epci), "_variable": variable[at_epci], "_found": at_epci}
    )
    pairs = wanted.epci.to_frame("epci").with_row_index("_place").join(epci_rows, on="epci", how="inner")
    by_epci = _rows_by_variable(
        pairs["_variable"].to_numpy(), pairs["_place"].to_numpy(), pairs["_found"].to_numpy(), len(variables), n_places
    )
    return _FoundAt(found, dict(zip(variables, places, strict=True)), dict(zip(variables, by_epci, strict=True)))


def _rows_by_variable(
    variable: np.ndarray, place: np.ndarray, row: np.ndarray, n_variables: int, n_places: int
) -> list[pl.Series]:
    """For each variable, the row of each place (null where it has none) from (variable, place, row) triples."""
    matrix = np.full((n_variables, n_places), -1, np.int64)
    matrix[variable, place] = row
    # a row of -1 (none) is made null by the cast itself (0.08 against 0.22 ms for France's places with a `set`)
    return [pl.Series("_found", rows).cast(pl.UInt32, strict=False) for rows in matrix]


def _latest_rows(inputs: Inputs, source: str, latest: dict) -> tuple[int, pl.DataFrame]:
    """(latest year, its rows) of a staged source, read once (`latest` keeps them): eleven published indicators
    read four levels of a few sources (Filosofi: a million rows in France)."""
    if source not in latest:
        frame = inputs.staged[source]
        year = int(frame.select(pl.max("year")).item())
        latest[source] = (year, frame.filter(pl.col("year") == year))
    return latest[source]


def _published_rows(
    variables: list[str], family: dict[str, str], inputs: Inputs, latest: dict, wanted: _Wanted
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """(the publisher's rows of these variables at each level, its latest year: level, group, variable, value,
    status, year; the wanted places that have one; the row of each of those places)."""
    frames, places, rows, height = [], [], [], 0
    for level, source in family.items():
        frame = inputs.staged.get(source)
        if frame is None or frame.is_empty():
            continue
        year, latest_rows = _latest_rows(inputs, source, latest)
        for place_level in _PLACE_LEVELS[level]:
            if place_level == ARM and ARM not in wanted.rows:
                continue
            part = _figures(rows_at_levels(latest_rows, (place_level,)), place_level, variables, year)
            if (at_places := wanted.rows.get(place_level)) is not None and part.height:
                place = rows_of_codes(part["group"], at_places)
                has = place >= 0
                places.append(place[has])
                rows.append(np.flatnonzero(has) + height)
            height += part.height
            frames.append(part)
    schema = {"level": pl.String, "group": pl.String, "variable": pl.String, "value": pl.Float64}
    # one chunk: each indicator's select of columns chunked apart rechunked them (Filosofi: 2.2 ms an indicator)
    found = (
        pl.concat(frames, rechunk=True)
        if frames
        else pl.DataFrame(schema=schema | {"status": pl.String, "year": pl.Int32})
    )
    none = np.empty(0, np.int64)
    return found, np.concatenate([none, *places]).astype(np.int64), np.concatenate([none, *rows])


def _figures(rows: pl.DataFrame, level: str, variables: list[str], year: int) -> pl.DataFrame:
    """(level, group, variable, value, status, year) of a publisher's staged rows of one level and these
    variables."""
    # a split parent's row also covers its restored communes: not the commune's own figure, but the commune is in
    # the file (so no EPCI fallback) and the reason is the geography change
    split = pl.lit(level in COMMUNE_LEVELS) & (pl.col("geo_change").fill_null("") == "split")
    return rows.filter(pl.col("variable").is_in(variables)).select(
        level=pl.lit(level),
        group=pl.col("code"),
        variable=pl.col("variable"),
        value=pl.when(split).then(None).otherwise(pl.col("value")),
        status=pl.when(split).then(pl.lit(R.NON_RECALCULABLE)).otherwise(pl.col("status")),
        year=pl.lit(year),
    )


def _france_places(out: pl.DataFrame, found: pl.DataFrame, inputs: Inputs) -> pl.DataFrame:
    """France's places where no national dataset exists: the sum of the départements (places are counts)."""
    deps = found.filter(pl.col("level") == "DEP")
    # a département absent from the file (Mayotte) leaves France partial, and says so
    absent_deps = set(inputs.membership["dep"].unique().to_list()) - set(deps["group"].to_list())
    total = deps.select(
        value=pl.when(pl.col("value").null_count() == 0).then(pl.col("value").sum()),
        status=R.worst(pl.col("status")),
        year=pl.col("year").max(),
    ).with_columns(
        status=pl.when(pl.col("value").is_not_null() & pl.lit(bool(absent_deps)))
        .then(pl.lit(R.PARTIAL_COVERAGE))
        .otherwise(pl.col("status"))
    )
    return (
        out.join(
            total.with_columns(level=pl.lit("FRANCE"), group=pl.lit(FRANCE)),
            on=["level", "group"],
            how="left",
            suffix="_fr",
            maintain_order="left",
        )
        .with_columns(
            value=pl.coalesce("value", "value_fr"),
            status=pl.coalesce("status", "status_fr"),
            year=pl.coalesce("year", "year_fr"),
        )
        .drop("value_fr", "status_fr", "year_fr")
    )


def _epci_fallback(out: pl.DataFrame, epci_figures: pl.DataFrame, epci: pl.Series | None) -> pl.DataFrame:
    """A commune the CAF does not publish shows its EPCI's figure (`epci_fallback`), or says why it cannot.
    `epci_figures`: (value, status, year) of each row's EPCI (`_FoundAt.epcis`), `epci` its code (`_Wanted.epci`)."""
    if epci is None:
        raise ValueError("the EPCI fallback needs the places' EPCI (`_wanted` of the indicators)")
    # the EPCI's figures as columns beside the row's (given to `when` as Series literals: 5.4 against 4.2 ms an
    # indicator in France)
    epci_columns = epci_figures.select(epci_value="value", epci_status="status", epci_year="year")
    use_epci = pl.col("level").is_in(COMMUNE_LEVELS) & (pl.col("status") == R.NOT_PUBLISHED)
    # lazily, so that `use_epci` is found once for the three columns (4.3 to about 2 ms an indicator in France)
    return (
        pl.concat([out, epci_columns, epci.to_frame("epci")], how="horizontal")
        .lazy()
        .with_columns(
            value=pl.when(use_epci).then(pl.col("epci_value")).otherwise(pl.col("value")),
            year=pl.when(use_epci).then(pl.col("epci_year")).otherwise(pl.col("year")),
            status=pl.when(use_epci & pl.col("epci").is_null())
            .then(pl.lit(R.NO_EPCI))
            .when(use_epci & pl.col("epci_value").is_null())
            .then(pl.coalesce("epci_status", pl.lit(R.NOT_PUBLISHED)))
            .when(use_epci)
            .then(pl.lit(R.EPCI_FALLBACK))
            .otherwise(pl.col("status")),
        )
        .drop("epci_value", "epci_status", "epci_year", "epci")
        .collect()
    )


def compute(
    inputs: Inputs,
    customs: tuple[CustomTerritory, ...] = (),
    items: tuple[Indicator, ...] | None = None,
    *,
    communes_only: bool = False,
) -> pl.DataFrame:
    """Every indicator at every level: level, code, indicator, value, status, numerator, denominator, comparison.
    `communes_only`: the commune rows alone, the same as in the whole result (`transforms.arrondissements` keeps
    no other: no sums above the commune, no France to compute)."""
    return compute_placed(inputs, customs, items, communes_only=communes_only).frame().rename({"group": "code"})


def compute_placed(
    inputs: Inputs,
    customs: tuple[CustomTerritory, ...] = (),
    items: tuple[Indicator, ...] | None = None,
    *,
    communes_only: bool = False,
    arrondissements: ArrondissementRows | None = None,
) -> Placed:
    """`compute`'s rows with their places and indicators as positions, reasons as codes (`transforms.placed`:
    the diagnostic table names them once, a slice at a time). `arrondissements`: places of level ARM computed among
    the communes, as communes of no group (`transforms.arrondissements`)."""
    items = items or indicators()
    membership_groups = groups(inputs.membership, customs)
    if communes_only:
        membership_groups = membership_groups.filter(pl.col("level") == "COM")
    places = _places(membership_groups, None if arrondissements is None else arrondissements.codes)
    # the publishers' figures read in a thread meanwhile (France: 0.15 s, mostly polars: the GIL released)
    with ThreadPoolExecutor(max_workers=1) as pool:
        published = pool.submit(_published_frames, items, inputs, places)
        frames, ordered = _summed_frames(
            inputs, items, membership_groups, places, communes_only=communes_only, arrondissements=arrondissements
        )
        frames |= published.result()
    frames = {ind.id: frames[ind.id] for ind in items}  # the first frame's columns give the result's order
    return _placed(frames, places, ordered)


# an arrondissement's code in a commune table beside the communes (`ArrondissementRows`): no commune code has it
ARRONDISSEMENT_KEY = "ARM:"


@dataclass(frozen=True)
class ArrondissementRows:
    """Arrondissements computed among the communes: `codes` theirs, sorted; `staged` every source's table with
    their ARM rows read as commune rows of the codes `ARRONDISSEMENT_KEY + code` (a staged commune row with an
    arrondissement's code stays apart); `communes` the commune rows of those tables found already (any source).
    Every source must give them the communes' years (`transforms.arrondissements`)."""

    codes: pl.Series
    staged: dict[str, pl.DataFrame]
    communes: dict[str, pl.DataFrame] = field(default_factory=dict)


def _commune_tables(
    inputs: Inputs, needed: pl.DataFrame, arrondissements: ArrondissementRows | None
) -> tuple[CommuneTable, pl.DataFrame | None]:
    """The communes' table and the arrondissements' rows at the commune level (`CommuneTable.commune_level`, level
    ARM), both from one commune table: its last rows are the arrondissements'."""
    if arrondissements is None:
        return commune_table.build(inputs, needed), None
    codes = pl.concat([inputs.membership["code"], (ARRONDISSEMENT_KEY + arrondissements.codes).alias("code")])
    world = replace(inputs, staged=arrondissements.staged, membership=codes.to_frame())
    both = commune_table.build(world, needed, arrondissements.communes)
    n = inputs.membership.height
    communes, arms = both.frame.head(n), both.frame.slice(n)
    # a key split only in an arrondissement is not split among the communes
    split_keys = frozenset(k for k in both.split_keys if communes[k + commune_table.SPLIT].any())
    arm_level = CommuneTable(arms, both.keys, both.split_keys).commune_level()
    return (
        CommuneTable(communes, both.keys, split_keys),
        arm_level.with_columns(level=pl.lit(ARM), group=arrondissements.codes),
    )


def _interleaved(first: pl.DataFrame, second: pl.DataFrame) -> pl.DataFrame:
    """Two frames sorted by `group` (no group in both) in one sorted frame, made of slices of both: no copy of
    their columns (a sort of France's 250 columns costs 16 ms)."""
    at = first["group"].search_sorted(second["group"], side="left").to_list()
    pieces, start = [], 0
    for position, run in groupby(range(len(at)), key=lambda i: at[i]):
        rows = list(run)
        pieces += [first.slice(start, position - start), second.slice(rows[0], len(rows))]
        start = position
    pieces.append(first.slice(start))
    return pl.concat([p for p in pieces if p.height], how="diagonal", rechunk=False)


def _published_frames(items: tuple[Indicator, ...], inputs: Inputs, places: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The rows of every published indicator (`_published`) at `places`, in their order: each publisher's rows of
    every variable found at the places once (`_found_at`)."""
    latest: dict = {}  # the published sources' latest rows, read once for every published indicator
    by_publisher: dict[str, list[Indicator]] = {}
    for ind in items:
        if ind.kind == "published":
            by_publisher.setdefault(ind.published_term.source, []).append(ind)
    wanted = _wanted(places, inputs, items)
    frames = {}
    for publisher, inds in by_publisher.items():
        variables = list(dict.fromkeys(i.published_term.variable for i in inds))
        fallback = any(i.fallback == "epci" for i in inds)
        at = _found_at(variables, PUBLISHED_SOURCES[publisher], inputs, wanted, latest, epcis=fallback)
        for ind in inds:
            frames[ind.id] = _published(ind, inputs, wanted, at).with_columns(coverage=_NULL_VALUE)
    return {ind.id: frames[ind.id] for ind in items if ind.id in frames}


def _summed_frames(
    inputs: Inputs,
    items: tuple[Indicator, ...],
    membership_groups: pl.DataFrame,
    places: pl.DataFrame,
    *,
    communes_only: bool,
    arrondissements: ArrondissementRows | None = None,
) -> tuple[dict[str, pl.DataFrame], frozenset[str]]:
    """The rows of every indicator summed from the commune values at `places`, and the ids of those whose rows
    are in the order of `places` already."""
    table, arm_rows = _commune_tables(inputs, _needed(items, inputs), arrondissements)
    # France is summed per indicator over the communes its sources cover (`_france`); the other levels here
    above = membership_groups.filter(~pl.col("level").is_in(["COM", "FRANCE"]))
    # in the order of the places (France, summed per indicator, comes last: `_with_france`): the communes come
    # first, in their order already when the target COG is sorted by code (then only the sums are sorted: France's
    # 250 columns sorted whole took 16 ms, 2 ms without the communes)
    communes = table.commune_level()
    if not communes["group"].is_sorted():
        communes = _in_place_order(communes)
    if arm_rows is not None:  # the arrondissements among the communes, by code
        communes = _interleaved(communes, arm_rows)
    wide = pl.concat([communes, _in_place_order(table.aggregate(above))], how="diagonal")
    main_census, comp_census = _census_years(inputs)
    n_years = (main_census - comp_census) if main_census and comp_census else None
    places_of_communes = Places(table, membership_groups)  # read only where a secret commune empties a rate
    frames: dict[str, pl.DataFrame] = {}
    summed = [ind for ind in items if ind.kind != "published"]
    sets = [] if communes_only else _france_sets(summed, table)
    # France's sums (a row per set of covered communes) computed in the select of the other places, after them: a
    # select of every indicator costs more to plan than to run
    every_row = pl.concat([wide, *(sums for sums, _, _ in sets if _summed(sums))], how="diagonal")
    computed_rows = _computed_many(summed, every_row, n_years)
    france = _france_rows(sets, computed_rows, wide.height, n_years)
    in_order = None  # whether the computed rows (then France's) are in the order of `places`: checked once
    ordered = set()  # the indicators whose rows are in that order
    for ind in summed:
        rows = computed_rows[ind.id].slice(0, wide.height)
        computed = _with_france(rows, france[ind.id]) if ind.id in france else rows
        if in_order is None:
            in_order = computed.height == places.height and computed.select("level", "group").equals(places)
        if not communes_only:  # the rule changes no commune's value
            redo, keys = partial(_computed, ind, n_years=n_years), term_keys(ind, table)
            computed = without_secret_communes(ind, computed, table, places_of_communes, redo, keys)
        if in_order:  # the rule rewrites rows where they are
            ordered.add(ind.id)
        frames[ind.id] = computed
    return frames, frozenset(ordered)


def _place_rank(level: str | pl.Expr) -> pl.Expr:
    level = pl.col(level) if isinstance(level, str) else level
    return level.replace_strict(PLACE_ORDER, return_dtype=pl.Int8)


def _in_place_order(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (level, group...) sorted by the place order (`PLACE_ORDER`, then group)."""
    return frame.sort(_place_rank("level"), "group")


def _places(membership_groups: pl.DataFrame, arrondissements: pl.Series | None) -> pl.DataFrame:
    """The distinct places (level, group) of `membership_groups`, and the `arrondissements` (their codes, level
    ARM) among the communes, in the place order (`_in_place_order`): each level's groups made distinct and sorted
    apart (the communes' are most often both already), the levels put in order and the arrondissements merged
    among the communes (France's 140,000 groups: 10 to 5 ms, where every pair was made distinct then sorted)."""
    levels = {level: part["group"] for (level,), part in membership_groups.partition_by("level", as_dict=True).items()}
    arms = (
        None
        if arrondissements is None
        else arrondissements.sort().to_frame("group").select(level=pl.lit(ARM), group="group")
    )
    if (
        not levels
        or any(group.null_count() for group in levels.values())
        or not levels.keys() <= PLACE_ORDER.keys()
        or (arms is not None and "COM" not in levels)
    ):
        places = membership_groups.select("level", "group").unique()
        return _in_place_order(places if arms is None else pl.concat([places, arms]))
    pieces = []
    for level in sorted(levels, key=PLACE_ORDER.__getitem__):
        group = levels[level]
        if not _distinct_and_sorted(group):
            group = group.unique().sort()
        piece = group.to_frame("group").select(level=pl.lit(level), group="group")
        pieces.append(piece.merge_sorted(arms, key="group") if level == "COM" and arms is not None else piece)
    return pl.concat(pieces)


def _distinct_and_sorted(values: pl.Series) -> bool:
    """Whether every value is greater than the one before it."""
    n = values.len()
    return values.is_sorted() and (n < 2 or bool((values.slice(1) != values.slice(0, n - 1)).all()))


def _with_france(rows: pl.DataFrame, france: pl.DataFrame) -> pl.DataFrame:
    """France's row after the others: it is the last place (rows in the place order without it)."""
    return pl.concat([rows, france])


def _in_order(frames: dict[str, pl.DataFrame], places: pl.DataFrame) -> pl.DataFrame:
    """Every indicator's rows in one frame, by place (`PLACE_ORDER`, code) and indicator (`frames` in the
    catalogue's order): `_placed`'s rows named."""
    return _placed(frames, places).frame()


def _placed(frames: dict[str, pl.DataFrame], places: pl.DataFrame, ordered: frozenset[str] = frozenset()) -> Placed:
    """Every indicator's rows by place and indicator (`_in_order`) as a `Placed`. Each indicator's rows are put in
    the order of `places`; each column is then a (place, indicator) matrix read row by row (numpy), floats with
    their nulls as NaN, reasons and other strings as codes of their few distinct values (reasons named by whoever
    finishes the table, the others here). Level, code and indicator are positions in the places and the ids.
    `ordered`: the ids whose frames are known to be in the order of `places` already (not checked again)."""
    schema = pl.concat([f.head(0) for f in frames.values()], how="diagonal_relaxed").schema
    ids = list(frames)
    aligned = [frames[i] if i in ordered else _aligned(frames[i], places) for i in ids]
    n_places, n_ids = places.height, len(ids)
    # a place an indicator has no row for (a row of nulls in its aligned frame) is skipped; most tables have every
    # row (their mask: 15 ms in France)
    present = _present(aligned, n_places)
    place = np.repeat(np.arange(n_places, dtype=np.uint32), n_ids)
    indicator = np.tile(np.arange(n_ids, dtype=np.uint32), n_places)
    columns = {
        "_place": pl.Series("_place", place if present is None else place[present]),
        "_ind": pl.Series("_ind", indicator if present is None else indicator[present]),
    }
    # a computed indicator's reasons are ranks (`_expressions`), a published one's strings
    words = _words([f[name] for f in aligned for name in RANKED])
    names = [(name, dtype) for name, dtype in schema.items() if name not in ("level", "group", "indicator")]
    # one (indicator, place) matrix per thread, written column after column: a fresh one per column costs its page
    # faults
    scratches: Queue[np.ndarray] = Queue()
    for _ in range(PLACED_THREADS):
        scratches.put(np.empty((n_ids, n_places)))

    def column(name: str, dtype: pl.DataType) -> pl.Series:
        if name in RANKED:
            return _reason_codes([f[name] for f in aligned], words, n_places, present).alias(name)
        pieces = [
            f[name].cast(dtype) if name in f.columns else pl.Series(name, [], dtype).extend_constant(None, f.height)
            for f in aligned
        ]
        scratch = scratches.get()
        try:
            return _stacked(pieces, n_places, present, scratch).cast(dtype).alias(name)
        finally:
            scratches.put(scratch)

    with ThreadPoolExecutor(max_workers=PLACED_THREADS) as pool:
        columns.update(zip((name for name, _ in names), pool.map(lambda nd: column(*nd), names), strict=True))
    codes = places.select("level", code="group")
    named = {name: pl.String if name in RANKED else dtype for name, dtype in schema.items()}
    return Placed(pl.DataFrame(columns), codes, tuple(ids), pl.Series(words, dtype=pl.String), named)


def _present(aligned: list[pl.DataFrame], n_places: int) -> np.ndarray | None:
    """Whether each (place, indicator) cell has a row, place by place (`_place_major`); None when every cell has."""
    if not any(f["indicator"].null_count() for f in aligned):
        return None
    return _place_major(np.concatenate([f["indicator"].is_not_null().to_numpy() for f in aligned]), n_places)


def _place_major(stack: np.ndarray, n_places: int) -> np.ndarray:
    """A stack of one array per indicator (a value per place) read place by place: place 0's indicators, then
    place 1's..."""
    matrix = stack.reshape(-1, n_places)
    out = np.empty((n_places, matrix.shape[0]), matrix.dtype)
    for start in range(0, n_places, _BLOCK):  # a block of places at a time: its cells stay in the cache
        out[start : start + _BLOCK] = matrix[:, start : start + _BLOCK].T
    return out.ravel()


PLACED_THREADS = 2  # columns `_placed` builds at once (France: 0.24-0.44 to 0.18-0.25 s, the same CPU)
_BLOCK = 2048  # places transposed at a time by `_place_major`


def _stacked(
    pieces: list[pl.Series], n_places: int, present: np.ndarray | None, scratch: np.ndarray | None = None
) -> pl.Series:
    """The pieces (one column per indicator, a row per place) read place by place, at the `present` cells (None:
    every cell). `scratch`: a float (indicator, place) matrix the pieces may be written into first."""
    if pieces and _FEW * sum(p.len() - p.null_count() for p in pieces) <= n_places * len(pieces):
        return _scattered(pieces, n_places, present)  # `coverage`: a value at a few secret gaps, if any
    if pieces and pieces[0].dtype == pl.Float64 and (matrix := _float_matrix(pieces, n_places, scratch)) is not None:
        return pl.Series(matrix if present is None else matrix[present], nan_to_null=True)
    if pieces and pieces[0].dtype in SMALL_INTEGERS and _sparse(pieces):  # the published indicators' year
        return _masked(pieces, n_places, present)
    stack = pl.concat(pieces, rechunk=True)

    def placed(array: np.ndarray) -> np.ndarray:
        array = _place_major(array, n_places)
        return array if present is None else array[present]

    if stack.dtype == pl.String:  # as codes of the distinct strings (a handful of reasons), a code past them for null
        words = stack.drop_nulls().unique().sort()
        codes = stack.cast(pl.Enum(words)).to_physical().cast(pl.UInt32).fill_null(words.len()).to_numpy()
        return words.extend_constant(None, 1).gather(pl.Series(placed(codes)))
    values = placed(stack.fill_null(0).to_numpy())
    nulls = pl.Series(placed(stack.is_null().to_numpy()))
    return (
        pl.Series(values).cast(stack.dtype).to_frame("v").select(pl.when(nulls).then(None).otherwise("v")).to_series()
    )


_FEW = 16  # pieces holding at most a sixteenth of the cells are scattered (`_scattered`)


def _scattered(pieces: list[pl.Series], n_places: int, present: np.ndarray | None) -> pl.Series:
    """`_stacked` of pieces holding few values: a column of nulls, the values written at their cells (a scatter
    costs about 30 ns a value, a matrix of every cell 2 ns a cell)."""
    n_ids = len(pieces)
    cells, values = [], []
    for j, piece in enumerate(pieces):
        if piece.null_count() < piece.len():
            cells.append(piece.is_not_null().arg_true().to_numpy().astype(np.int64) * n_ids + j)
            values.append(piece.drop_nulls())
    column = pl.Series(pieces[0].name, [], pieces[0].dtype).extend_constant(None, n_places * n_ids)
    if values:
        column = column.scatter(np.concatenate(cells), pl.concat(values))
    return column if present is None else column.filter(pl.Series(present))


def _masked(pieces: list[pl.Series], n_places: int, present: np.ndarray | None) -> pl.Series:
    """`_stacked` of integer pieces, mostly null: the few pieces holding a value written into a (place, indicator)
    matrix of values and one of nulls (France's published years 21-22 to 7-8 ms, where a matrix of floats was cast
    back)."""
    n_ids = len(pieces)
    dtype = pieces[0].clear().to_numpy().dtype  # of the values: a piece with nulls reads as floats
    values, held = np.zeros((n_places, n_ids), dtype), np.zeros((n_places, n_ids), bool)
    for j, piece in enumerate(pieces):
        if piece.null_count() < piece.len():
            values[:, j] = piece.fill_null(0).to_numpy()
            held[:, j] = piece.is_not_null().to_numpy()
    cells, known = values.ravel(), held.ravel()
    if present is not None:
        cells, known = cells[present], known[present]
    return pl.select(pl.when(pl.Series(known)).then(pl.Series(pieces[0].name, cells))).to_series()


def _words(pieces: list[pl.Series]) -> list[str | None]:
    """The reasons named by codes: every rank's (`reasons.reason_of`), then the other strings of the pieces of
    strings (a reason not in the list too), then None (no reason)."""
    words = [R.reason_of(rank) for rank in range(len(R.RANKS) + 1)]
    extra = set().union(*(p.drop_nulls().unique().to_list() for p in pieces if p.dtype == pl.String))
    return [*words, *sorted(extra - set(words)), None]


def _reason_codes(
    pieces: list[pl.Series], words: list[str | None], n_places: int, present: np.ndarray | None
) -> pl.Series:
    """`_stacked` of a column of reasons as codes of `words` (UInt32): a piece of ranks keeps its ranks (a rank is
    its reason's position in `words`), a piece of strings is coded."""
    enum, none = pl.Enum(cast(list[str], words[:-1])), len(words) - 1  # only the last word is None
    # only a piece of strings is coded on its own: the ranks are made codes in one pass over the column
    ranks = [p.cast(enum).to_physical().cast(pl.Int32) if p.dtype == pl.String else p.cast(pl.Int32) for p in pieces]
    # ranks and codes are never negative: read as UInt32 in place (a cast of 3.3 M rows costs 6 ms)
    codes = pl.concat(ranks, rechunk=True).fill_null(none).to_numpy().view(np.uint32)
    array = _place_major(codes, n_places)
    return pl.Series(array if present is None else array[present])


def _float_matrix(pieces: list[pl.Series], n_places: int, scratch: np.ndarray | None = None) -> np.ndarray | None:
    """Float pieces (one per indicator, a value per place) written straight into a (place, indicator) matrix, read
    row by row, null as NaN; None when a piece holds a NaN of its own (it would read as null). `scratch`: an
    (indicator, place) matrix to stack them in first (reused: a fresh one costs its page faults)."""
    if _sparse(pieces):
        return _sparse_matrix(pieces, n_places)
    shape = (len(pieces), n_places)
    stack = scratch if scratch is not None and scratch.shape == shape else np.empty(shape)
    nulls = [piece.null_count() for piece in pieces]
    for j, (piece, n_nulls) in enumerate(zip(pieces, nulls, strict=True)):
        if n_nulls == 0:
            stack[j] = piece.to_numpy()  # without a copy
        elif n_nulls == n_places:
            stack[j] = np.nan
    # the pieces with some nulls filled with NaN at once: each one's `to_numpy` costs about 7 ns a value (France's
    # value column 21-22 to 13 ms, with the pieces read as they are and the NaN counted once)
    if partial := [j for j, n_nulls in enumerate(nulls) if 0 < n_nulls < n_places]:
        filled = pl.concat([pieces[j] for j in partial], rechunk=True).fill_null(np.nan).to_numpy()
        stack[partial] = filled.reshape(len(partial), n_places)
    if np.count_nonzero(np.isnan(stack)) != sum(nulls):
        return None
    return _place_major(stack, n_places)


def _sparse(pieces: list[pl.Series]) -> bool:
    """Whether at most a quarter of the pieces hold a value (coverage, a comparison, a published year)."""
    return 4 * sum(p.null_count() < p.len() for p in pieces) <= len(pieces)


def _sparse_matrix(pieces: list[pl.Series], n_places: int) -> np.ndarray | None:
    """`_float_matrix` of pieces mostly null: a matrix of NaN, the few pieces holding a value written into their
    column (a strided write costs more than a transpose when every piece has values, less when few do)."""
    matrix = np.full((n_places, len(pieces)), np.nan)
    for j, piece in enumerate(pieces):
        if piece.null_count() == piece.len():
            continue
        values = piece.to_numpy()  # null as NaN
        if int(np.isnan(values).sum()) != piece.null_count():
            return None
        matrix[:, j] = values
    return matrix.ravel()


SMALL_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32)  # exact as Float64


def _aligned(frame: pl.DataFrame, places: pl.DataFrame) -> pl.DataFrame:
    """`frame` (one row per level and group) in the order of `places`; most frames already are."""
    if frame.height == places.height and frame.select("level", "group").equals(places):
        return frame
    return places.join(frame, on=["level", "group"], how="left", maintain_order="left")


def population(result: pl.DataFrame) -> pl.DataFrame:
    """Commune populations from a computed result (used to find an EPCI's main département)."""
    return result.filter((pl.col("level") == "COM") & (pl.col("indicator") == "population")).select(
        code="code", population="value"
    )


__all__ = ["Inputs", "compute", "aggregate", "commune_values", "principal_department", "population"]
