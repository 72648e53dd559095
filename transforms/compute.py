"""Compute every indicator for every commune, EPCI, département, France and custom territory in one pass.

One code path for all levels: commune values are summed per territory (sum of numerators over sum of
denominators), then divided. A territory with any unknown part (secret, missing...) gets null with that reason,
never a partial sum, with one exception: a rate above the commune level left empty by secret communes that hold
little of its population is computed without them and says so (`transforms.partial`). Published figures (medians, poverty rates, CAF coverage) are read per level from the
publisher's own file. Nothing is computed row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import polars as pl

from transforms import reasons as R
from transforms.infra import Infra
from transforms.partial import without_secret_communes
from transforms.registry import PUBLISHED_SOURCES, Indicator, Term, indicators
from transforms.territories import FRANCE, CustomTerritory, groups, principal_department

CENSUS_PREFIX = "rp_"
_POP = Term("rp_population", "P_POP")  # growth and its parts are rates of the census population


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

    def main_year(self, source: str) -> int | None:
        frame = self.staged.get(source)
        if frame is None or frame.is_empty():
            return None
        if source.startswith(CENSUS_PREFIX):
            return int(self.vintages[source])
        return int(frame.select(pl.max("year")).item())

    def comparison_year(self, source: str) -> int | None:
        """The census comparison year: the latest earlier census year at least 5 years before the main one."""
        frame = self.staged.get(source)
        main = self.main_year(source)
        if frame is None or main is None or not source.startswith(CENSUS_PREFIX):
            return None
        earlier = [y for y in frame["year"].unique().to_list() if y <= main - 5]
        return max(earlier) if earlier else None


def _census_years(inputs: Inputs) -> tuple[int | None, int | None]:
    return inputs.main_year("rp_population"), inputs.comparison_year("rp_population")


def _needed(items: tuple[Indicator, ...], inputs: Inputs) -> pl.DataFrame:
    """(source, variable, term, period, year) rows: every commune value the indicators read."""
    main_census, comp_census = _census_years(inputs)
    rows: list[tuple[str, str, str, str, int | None]] = []  # a missing census year stays a null year
    for ind in items:
        if ind.kind == "published":
            continue
        for t in ind.terms:
            if ind.kind in ("natural", "migration") and not t.source.startswith(CENSUS_PREFIX):
                if main_census and comp_census:  # births and deaths of the years between the two censuses
                    rows += [(t.source, t.variable, t.key, "range", y) for y in range(comp_census, main_census)]
                continue
            main = inputs.main_year(t.source)
            if main is not None:
                rows.append((t.source, t.variable, t.key, "main", main))
            comp = inputs.comparison_year(t.source)
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
    communes without saying so.
    """
    parts = []
    for source, wanted in needed.partition_by("source", as_dict=True).items():
        source = source[0]
        frame = inputs.staged.get(source)
        if frame is None:
            continue
        rows = frame.filter(pl.col("level") == "COM").join(
            wanted.select("variable", "year", "term", "period"), on=["variable", "year"], how="inner"
        )
        parts.append(
            rows.select(
                "code", "term", "period", "year", "value", "status", split=pl.col("geo_change").fill_null("") == "split"
            )
        )
    found = (
        pl.concat(parts)
        if parts
        else pl.DataFrame(
            schema={
                "code": pl.String,
                "term": pl.String,
                "period": pl.String,
                "year": pl.Int32,
                "value": pl.Float64,
                "status": pl.String,
                "split": pl.Boolean,
            }
        )
    )
    if "range" in needed["period"].to_list():  # several years summed into one commune value
        # a commune lacking one of the years is unknown, never the sum of the years it has
        years = needed.group_by("term", "period").agg(n_years=pl.col("year").n_unique())
        complete = pl.col("year").n_unique() == pl.col("n_years").first()
        found = (
            found.join(years, on=["term", "period"], how="left")
            .with_columns(_rank=R.rank(pl.col("status")))
            .group_by("code", "term", "period")
            .agg(
                value=pl.when((pl.col("value").null_count() == 0) & complete).then(pl.col("value").sum()),
                _unknown=pl.col("value").null_count() > 0,
                _complete=complete,
                _rank=pl.col("_rank").min(),
                split=pl.col("split").any(),
            )
            .with_columns(
                status=pl.when(pl.col("_unknown"))
                .then(R.reason(pl.col("_rank")))
                .when(~pl.col("_complete"))
                .then(pl.lit(R.MISSING))
            )
            .drop("_unknown", "_complete", "_rank")
        )
    # a commune without a row is one the publisher does not cover (the CAF files have no Mayotte commune), and a
    # (variable, year) no commune has is absent from that vintage: both `not_available`, never a silent 0
    expected = inputs.membership.select("code").join(needed.select("term", "period").unique(), how="cross")
    return expected.join(found.drop("year", strict=False), on=["code", "term", "period"], how="left").with_columns(
        status=pl.when(pl.col("value").is_null() & pl.col("status").is_null())
        .then(pl.lit(R.NOT_AVAILABLE))
        .otherwise(pl.col("status")),
        split=pl.col("split").fill_null(False),
    )


def aggregate(values: pl.DataFrame, membership_groups: pl.DataFrame) -> pl.DataFrame:
    """Sum commune values per (level, group): null with the worst reason when any part is unknown.

    A commune restored after the data's geography has no value of its own (`split`, null `non_recalculable`): its
    figures are inside its parent's, so it is skipped above the commune level. The parent (`split`, with a value)
    counts above the commune level; a parent whose value is unknown (secret, missing) keeps its reason all the way
    up. Both are shown null `non_recalculable` at their own level.
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


def _france(ind: Indicator, values: pl.DataFrame, n_years: int | None) -> pl.DataFrame:
    """France over the communes the indicator's sources cover, so that every territory has a reference.

    A commune is left out when one of the indicator's values is `not_available` there (Mayotte's empty census
    cells, no Mayotte commune in the CAF files): numerator and denominator then cover the same communes, and the
    status `partial_coverage` says France is incomplete. Other unknown parts (secret...) still make France unknown.
    """
    keys = [t.key for t in ind.terms] + ([_POP.key] if ind.kind in ("growth", "natural", "migration") else [])
    parts = values.filter(pl.col("term").is_in(keys))
    # coverage is judged on the values of the reference year (a variable missing from the comparison census must
    # not empty France of every commune: its evolution is simply unknown)
    uncovered = (
        parts.filter(pl.col("value").is_null() & (pl.col("status") == R.NOT_AVAILABLE) & (pl.col("period") != "comp"))
        .select("code")
        .unique()
    )
    covered = parts.join(uncovered, on="code", how="anti")
    france = covered.select("code").unique().with_columns(level=pl.lit("FRANCE"), group=pl.lit(FRANCE))
    if covered.is_empty():
        wide = pl.DataFrame({"level": ["FRANCE"], "group": [FRANCE]})
    else:
        wide = _wide(aggregate(covered, france))
    row = _computed(ind, wide, n_years)
    if not uncovered.is_empty():
        row = row.with_columns(
            status=pl.when(pl.col("value").is_not_null()).then(pl.lit(R.PARTIAL_COVERAGE)).otherwise(pl.col("status"))
        )
    return row


def _wide(agg: pl.DataFrame) -> pl.DataFrame:
    keyed = agg.with_columns(col=pl.col("term") + "|" + pl.col("period"))
    values = keyed.pivot(on="col", index=["level", "group"], values="value")
    statuses = keyed.pivot(on="col", index=["level", "group"], values="status")
    statuses = statuses.rename({c: f"{c}|s" for c in statuses.columns if c not in ("level", "group")})
    return values.join(statuses, on=["level", "group"], how="left")


def _sum(terms: tuple[Term, ...], period: str, columns: set[str]) -> tuple[pl.Expr, pl.Expr]:
    """(sum, worst status) of signed terms at `period`; a term absent everywhere counts as not available."""
    value, statuses = pl.lit(0.0), []
    for t in terms:
        col = f"{t.key}|{period}"
        if col not in columns:
            return pl.lit(None, pl.Float64), pl.lit(R.NOT_AVAILABLE)
        value = value + t.sign * pl.col(col)
        statuses.append(pl.col(f"{col}|s"))
    return value, pl.coalesce(*statuses) if statuses else pl.lit(None, pl.String)


def _ratio(ind: Indicator, num: pl.Expr, num_s: pl.Expr, den: pl.Expr, den_s: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    status = (
        pl.when(num_s.is_not_null())
        .then(num_s)
        .when(den_s.is_not_null())
        .then(den_s)
        .when(den == 0)
        .then(pl.lit(R.ZERO_DENOMINATOR))
        .when(den < ind.min_denominator)
        .then(pl.lit(R.NOT_SIGNIFICANT))
    )
    value = pl.when(status.is_null()).then(ind.scale * num / den)
    return value, status


def _computed(ind: Indicator, wide: pl.DataFrame, n_years: int | None) -> pl.DataFrame:
    cols = set(wide.columns)
    out = {}
    for period in ("main", "comp"):
        num, num_s = _sum(ind.numerator, period, cols)
        den, den_s = (
            _sum(ind.denominator, period, cols)
            if ind.denominator
            else (pl.lit(None, pl.Float64), pl.lit(None, pl.String))
        )
        if ind.kind == "count":
            value, status = num, num_s
        elif ind.kind == "ratio":
            value, status = _ratio(ind, num, num_s, den, den_s)
        else:
            value, status = _demography(ind, cols, n_years)
            if period == "comp":
                value, status = pl.lit(None, pl.Float64), pl.lit(R.NOT_AVAILABLE)
        out[period] = (value, status, num, den)
    main, comp = out["main"], out["comp"]
    return wide.select(
        "level",
        "group",
        indicator=pl.lit(ind.id),
        value=main[0],
        status=main[1],
        numerator=main[2] if ind.kind in ("count", "ratio") else pl.lit(None, pl.Float64),
        denominator=main[3] if ind.kind == "ratio" else pl.lit(None, pl.Float64),
        value_comparison=comp[0] if ind.evolution else pl.lit(None, pl.Float64),
        status_comparison=comp[1] if ind.evolution else pl.lit(R.DEFINITION_CHANGE),
    )


def _demography(ind: Indicator, cols: set[str], n_years: int | None) -> tuple[pl.Expr, pl.Expr]:
    """Annual growth, and its natural and apparent migratory parts, between the two census years."""
    p1, s1 = _sum((_POP,), "main", cols)
    p0, s0 = _sum((_POP,), "comp", cols)
    if not n_years:
        return pl.lit(None, pl.Float64), pl.lit(R.NOT_AVAILABLE)
    growth = ((p1 / p0) ** (1 / n_years) - 1) * 100
    pop_status = pl.coalesce(s1, s0)
    if ind.kind == "growth":
        return pl.when(pop_status.is_null() & (p0 > 0)).then(growth), pl.coalesce(
            pop_status, pl.when(p0 <= 0).then(pl.lit(R.ZERO_DENOMINATOR))
        )
    balance, bal_s = _sum(ind.numerator, "range", cols)
    natural = balance / n_years / ((p1 + p0) / 2) * 100
    status = pl.coalesce(pop_status, bal_s, pl.when(p0 <= 0).then(pl.lit(R.ZERO_DENOMINATOR)))
    value = natural if ind.kind == "natural" else growth - natural
    return pl.when(status.is_null()).then(value), status


def _published(ind: Indicator, inputs: Inputs, wanted: pl.DataFrame) -> pl.DataFrame:
    """The publisher's figure for each wanted (level, group); CAF coverage falls back on the EPCI's figure."""
    published = ind.published_term
    family = PUBLISHED_SOURCES[published.source]
    found = _published_rows(published, family, inputs)
    out = wanted.join(found, on=["level", "group"], how="left")
    if published.source == "caf_places" and "FRANCE" not in family:
        out = _france_places(out, found, inputs)
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
        out = _epci_fallback(out, found, inputs)
    return out.select(
        "level",
        "group",
        indicator=pl.lit(ind.id),
        value="value",
        status="status",
        numerator=pl.lit(None, pl.Float64),
        denominator=pl.lit(None, pl.Float64),
        value_comparison=pl.lit(None, pl.Float64),
        status_comparison=pl.lit(R.NOT_AVAILABLE),
        published_year=pl.col("year").cast(pl.Int32),
    )


def _published_rows(published: Term, family: dict[str, str], inputs: Inputs) -> pl.DataFrame:
    """(level, group, value, status, year) of the publisher's figure at each level, its latest year."""
    frames = []
    for level, source in family.items():
        frame = inputs.staged.get(source)
        if frame is None or frame.is_empty():
            continue
        year = int(frame.select(pl.max("year")).item())
        staged_level = {"COM": ["COM"], "EPCI": ["EPCI"], "DEP": ["DEP"], "FRANCE": ["FRANCE"]}[level]
        # a split parent's row also covers its restored communes: not the commune's own figure, but the commune
        # is in the file (so no EPCI fallback) and the reason is the geography change
        split = (pl.col("level") == "COM") & (pl.col("geo_change").fill_null("") == "split")
        frames.append(
            frame.filter(
                pl.col("level").is_in(staged_level)
                & (pl.col("variable") == published.variable)
                & (pl.col("year") == year)
            ).select(
                level=pl.lit(level),
                group=pl.col("code"),
                value=pl.when(split).then(None).otherwise(pl.col("value")),
                status=pl.when(split).then(pl.lit(R.NON_RECALCULABLE)).otherwise(pl.col("status")),
                year=pl.lit(year),
            )
        )
    if frames:
        return pl.concat(frames)
    return pl.DataFrame(
        schema={"level": pl.String, "group": pl.String, "value": pl.Float64, "status": pl.String, "year": pl.Int32}
    )


def _france_places(out: pl.DataFrame, found: pl.DataFrame, inputs: Inputs) -> pl.DataFrame:
    """France's places where no national dataset exists: the sum of the départements (places are counts)."""
    deps = found.filter(pl.col("level") == "DEP")
    # a département absent from the file (Mayotte) leaves France partial, and says so
    absent_deps = set(inputs.membership["dep"].to_list()) - set(deps["group"].to_list())
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
        )
        .with_columns(
            value=pl.coalesce("value", "value_fr"),
            status=pl.coalesce("status", "status_fr"),
            year=pl.coalesce("year", "year_fr"),
        )
        .drop("value_fr", "status_fr", "year_fr")
    )


def _epci_fallback(out: pl.DataFrame, found: pl.DataFrame, inputs: Inputs) -> pl.DataFrame:
    """A commune the CAF does not publish shows its EPCI's figure (`epci_fallback`), or says why it cannot."""
    epci_of = inputs.membership.select(group="code", epci="epci")
    epci_values = found.filter(pl.col("level") == "EPCI").select(
        epci="group", epci_value="value", epci_status="status", epci_year="year"
    )
    com = (
        out.filter(pl.col("level") == "COM")
        .join(epci_of, on="group", how="left")
        .join(epci_values, on="epci", how="left")
    )
    use_epci = pl.col("status") == R.NOT_PUBLISHED
    com = com.with_columns(
        value=pl.when(use_epci).then(pl.col("epci_value")).otherwise(pl.col("value")),
        year=pl.when(use_epci).then(pl.col("epci_year")).otherwise(pl.col("year")),
        status=pl.when(use_epci & pl.col("epci").is_null())
        .then(pl.lit(R.NO_EPCI))
        .when(use_epci & pl.col("epci_value").is_null())
        .then(pl.coalesce("epci_status", pl.lit(R.NOT_PUBLISHED)))
        .when(use_epci)
        .then(pl.lit(R.EPCI_FALLBACK))
        .otherwise(pl.col("status")),
    ).select(out.columns)
    return pl.concat([out.filter(pl.col("level") != "COM"), com])


def _redo(ind: Indicator, n_years: int | None, values: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """The indicator's rows of `groups` from these commune values (transforms.partial: without secret communes)."""
    return _computed(ind, _wide(aggregate(values, groups)), n_years)


def compute(
    inputs: Inputs, customs: tuple[CustomTerritory, ...] = (), items: tuple[Indicator, ...] | None = None
) -> pl.DataFrame:
    """Every indicator at every level: level, code, indicator, value, status, numerator, denominator, comparison."""
    items = items or indicators()
    membership_groups = groups(inputs.membership, customs)
    needed = _needed(items, inputs)
    values = commune_values(inputs, needed)
    # France is summed per indicator over the communes its sources cover (`_france`); the other levels here
    wide = _wide(aggregate(values, membership_groups.filter(pl.col("level") != "FRANCE")))
    main_census, comp_census = _census_years(inputs)
    n_years = (main_census - comp_census) if main_census and comp_census else None
    wanted = membership_groups.select("level", "group").unique()
    frames = []
    for ind in items:
        if ind.kind == "published":
            frames.append(_published(ind, inputs, wanted).with_columns(coverage=pl.lit(None, pl.Float64)))
        else:
            computed = pl.concat([_computed(ind, wide, n_years), _france(ind, values, n_years)])
            computed = without_secret_communes(ind, computed, values, membership_groups, partial(_redo, ind, n_years))
            frames.append(computed.with_columns(published_year=pl.lit(None, pl.Int32)))
    result = pl.concat(frames, how="diagonal_relaxed")  # by column name: `coverage` comes before or after
    return result.rename({"group": "code"}).sort("level", "code", "indicator")


def population(result: pl.DataFrame) -> pl.DataFrame:
    """Commune populations from a computed result (used to find an EPCI's main département)."""
    return result.filter((pl.col("level") == "COM") & (pl.col("indicator") == "population")).select(
        code="code", population="value"
    )


__all__ = ["Inputs", "compute", "aggregate", "commune_values", "principal_department", "population"]
