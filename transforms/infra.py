"""Inside a commune: its IRIS and its priority neighbourhoods (QPV), from the staged IRIS and QPV sources.

The IRIS of a commune are those of the IRIS reference whose commune, brought to the target COG, is the commune
(or, for an arrondissement, whose commune is the arrondissement). The indicators computed per IRIS are declared
in `infra_indicators.toml`: a commune indicator's id with the IRIS terms that give it. Secret or missing parts
give a null with their reason, never 0; a rate under the indicator's minimum denominator is `not_significant`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import polars as pl

from sources import catalogue
from sources.codes import city_of_arrondissement
from transforms import reasons as R
from transforms.registry import Indicator, Term, get

INFRA_PATH = Path(__file__).with_name("infra_indicators.toml")
REFERENCE = "iris_reference"
QPV = "qpv"
# every source the infra-communal section reads (the long IRIS tables, the reference and the QPV list)
INFRA_SOURCES = (
    REFERENCE,
    "rp_iris_population",
    "rp_iris_families",
    "rp_iris_housing",
    "rp_iris_activity",
    "filosofi_iris_disp",
    QPV,
)


def iris_geography(source: str, vintage: str | None) -> int | None:
    """The IRIS geography of a staged IRIS table: the catalogue's geography of its file (None: not known)."""
    if vintage is None:
        return None
    try:
        return catalogue.get(source, vintage).cog
    except KeyError:
        return None


@dataclass(frozen=True)
class InfraIndicator:
    indicator: Indicator  # the commune indicator: label, unit, scale, minimum denominator, direction
    numerator: tuple[Term, ...] = ()
    denominator: tuple[Term, ...] = ()
    published: Term | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        terms = (*self.numerator, *self.denominator, *([self.published] if self.published else []))
        return tuple(dict.fromkeys(t.source for t in terms))


@cache
def infra_indicators() -> tuple[InfraIndicator, ...]:
    raw = tomllib.loads(INFRA_PATH.read_text(encoding="utf-8"))
    out = []
    for r in raw["indicator"]:
        out.append(
            InfraIndicator(
                indicator=get(r["id"]),
                numerator=tuple(Term.parse(t) for t in r.get("numerator", [])),
                denominator=tuple(Term.parse(t) for t in r.get("denominator", [])),
                published=Term.parse(r["published"]) if "published" in r else None,
            )
        )
    return tuple(out)


@dataclass
class Infra:
    """The staged infra-communal tables of one store state (a source never staged is absent)."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    vintages: dict[str, str] = field(default_factory=dict)

    def iris_of(self, code: str) -> pl.DataFrame:
        """The IRIS of a commune of the target COG (or of an arrondissement): code, name, type; by code."""
        ref = self.tables.get(REFERENCE)
        if ref is None:
            return pl.DataFrame(schema={"code": pl.String, "name": pl.String, "type": pl.String})
        mine = (pl.col("commune_target") == code) | (pl.col("commune") == code)
        return ref.filter(mine).select("code", "name", "type").sort("code")

    def divided(self, code: str) -> bool:
        """A commune divided into IRIS: it has an IRIS other than the pseudo-IRIS of type Z."""
        return self.iris_of(code).filter(pl.col("type") != "Z").height > 0

    def qpv_of(self, code: str) -> list[dict]:
        """The QPV of a commune (of a city: those of its arrondissements too): code, name and the other communes
        it lies across."""
        qpv = self.tables.get(QPV)
        if qpv is None:
            return []
        qpv = qpv.with_columns(_city=pl.col("commune").map_elements(city_of_arrondissement, return_dtype=pl.String))
        here = (pl.col("commune_target") == code) | (pl.col("commune") == code) | pl.col("_city").eq_missing(code)
        mine = qpv.filter(here)
        out = []
        for qp, name in mine.select("code", "name").unique(maintain_order=True).iter_rows():
            others = qpv.filter((pl.col("code") == qp) & ~here)
            out.append(
                {
                    "code": qp,
                    "name": name,
                    "others": sorted(others["commune_name"].fill_null(others["commune"]).to_list()),
                }
            )
        return out


def _cells(infra: Infra, iris: list[str], terms: tuple[Term, ...]) -> pl.DataFrame:
    """(code, term, value, status) of every IRIS and term; an IRIS without a row is not_available."""
    frames = []
    for t in terms:
        table = infra.tables.get(t.source)
        rows = (
            table.filter((pl.col("code").is_in(iris)) & (pl.col("variable") == t.variable)).select(
                "code", "value", "status"
            )
            if table is not None
            else pl.DataFrame(schema={"code": pl.String, "value": pl.Float64, "status": pl.String})
        )
        frame = pl.DataFrame({"code": iris}, schema={"code": pl.String}).join(rows, on="code", how="left")
        frames.append(
            frame.with_columns(
                term=pl.lit(t.key),
                sign=pl.lit(float(t.sign)),
                status=pl.when(pl.col("value").is_null()).then(pl.coalesce("status", pl.lit(R.NOT_AVAILABLE))),
            )
        )
    return pl.concat(frames)


def _summed(cells: pl.DataFrame, name: str) -> pl.DataFrame:
    """Per IRIS: the signed sum of its terms, null with the worst reason when any term is unknown."""
    return (
        cells.with_columns(_rank=R.rank(pl.col("status")))
        .group_by("code")
        .agg(
            (pl.when(pl.col("value").null_count() == 0).then((pl.col("value") * pl.col("sign")).sum())).alias(name),
            R.reason(pl.col("_rank").min()).alias(f"{name}_status"),
        )
    )


def iris_values(infra: Infra, iris: list[str], item: InfraIndicator) -> pl.DataFrame:
    """code, value, status, numerator, denominator of one indicator for the given IRIS."""
    ind = item.indicator
    if item.published is not None:
        cells = _cells(infra, iris, (item.published,))
        return cells.select(
            "code", "value", "status", numerator=pl.lit(None, pl.Float64), denominator=pl.lit(None, pl.Float64)
        )
    num = _summed(_cells(infra, iris, item.numerator), "numerator")
    if not item.denominator:
        return num.select(
            "code",
            value="numerator",
            status="numerator_status",
            numerator="numerator",
            denominator=pl.lit(None, pl.Float64),
        )
    den = _summed(_cells(infra, iris, item.denominator), "denominator")
    both = num.join(den, on="code")
    status = (
        pl.when(pl.col("numerator_status").is_not_null())
        .then(pl.col("numerator_status"))
        .when(pl.col("denominator_status").is_not_null())
        .then(pl.col("denominator_status"))
        .when(pl.col("denominator") == 0)
        .then(pl.lit(R.ZERO_DENOMINATOR))
        .when(pl.col("denominator") < ind.min_denominator)
        .then(pl.lit(R.NOT_SIGNIFICANT))
    )
    return both.with_columns(status=status).select(
        "code",
        value=pl.when(status.is_null()).then(ind.scale * pl.col("numerator") / pl.col("denominator")),
        status="status",
        numerator="numerator",
        denominator="denominator",
    )


def iris_table(infra: Infra, code: str) -> pl.DataFrame:
    """One row per IRIS of the commune and infra indicator: iris, name, type, indicator, value, status,
    numerator, denominator (indicators whose sources are not staged are left out)."""
    iris = infra.iris_of(code)
    codes = iris["code"].to_list()
    frames = []
    for item in infra_indicators():
        if not any(s in infra.tables for s in item.sources):
            continue
        frames.append(iris_values(infra, codes, item).with_columns(indicator=pl.lit(item.indicator.id)))
    if not frames or not codes:
        return pl.DataFrame()
    return iris.rename({"code": "iris"}).join(pl.concat(frames).rename({"code": "iris"}), on="iris", how="left")


def available(infra: Infra) -> list[InfraIndicator]:
    """The infra indicators whose sources are staged, in their declared order."""
    return [i for i in infra_indicators() if any(s in infra.tables for s in i.sources)]


def load_infra(store) -> Infra:
    """The latest staged vintage of every infra-communal source of the store."""
    infra = Infra()
    for source in INFRA_SOURCES:
        try:
            infra.vintages[source] = store.latest_vintage(source)
        except FileNotFoundError:
            continue
        infra.tables[source] = store.read_staged(source, infra.vintages[source])
    return infra


__all__ = [
    "INFRA_SOURCES",
    "Infra",
    "InfraIndicator",
    "available",
    "infra_indicators",
    "iris_geography",
    "iris_table",
    "iris_values",
    "load_infra",
]
