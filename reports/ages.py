"""Population by age band (and sex when the census file has it) of the territory and of its département, summed
from the communes by the same code as every indicator (`transforms.compute`): secret or missing parts make a
value unknown, never a partial sum."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from reports.charts import AgeBand
from transforms.compute import Inputs, aggregate, commune_values
from transforms.territories import CustomTerritory, groups

SOURCE = "rp_population"
# the census age bands of base-cc-evol-struct-pop, by sex too (P_H0014 ... P_F90P are optional columns)
BANDS = {
    "0014": "0-14 ans",
    "1529": "15-29 ans",
    "3044": "30-44 ans",
    "4559": "45-59 ans",
    "6074": "60-74 ans",
    "7589": "75-89 ans",
    "90P": "90 ans ou plus",
}


def _variables() -> list[str]:
    return ["P_POP"] + [f"P_{prefix}{band}" for prefix in ("POP", "H", "F") for band in BANDS]


REFERENCE_LEVELS = ("EPCI", "DEP", "FRANCE")  # the places whose sums are stored per store state
SCHEMA = pl.Schema({"level": pl.String, "group": pl.String, "variable": pl.String, "value": pl.Float64})


def _needed(year: int) -> pl.DataFrame:
    return (
        pl.DataFrame({"variable": _variables()})
        .with_columns(
            source=pl.lit(SOURCE),
            term=pl.lit(f"{SOURCE}:") + pl.col("variable"),
            period=pl.lit("main"),
            year=pl.lit(year, pl.Int32),
        )
        .select("source", "variable", "term", "period", "year")
    )


def _summed(inputs: Inputs, membership_groups: pl.DataFrame, year: int) -> pl.DataFrame:
    """(level, group, variable, value): the census age variables of `inputs.membership` summed per group."""
    sums = aggregate(commune_values(inputs, _needed(year)), membership_groups)
    return sums.select(
        "level", "group", variable=pl.col("term").str.split_exact(":", 1).struct.field("field_1"), value="value"
    ).cast(SCHEMA)


def reference_age_sums(inputs: Inputs) -> pl.DataFrame:
    """The age sums of every EPCI, département and France (every commune of France summed once)."""
    year = inputs.main_year(SOURCE)
    if year is None:
        return pl.DataFrame(schema=SCHEMA)
    m = inputs.membership
    return _summed(inputs, groups(m).filter(pl.col("level").is_in(REFERENCE_LEVELS)), year)


def stored_reference_age_sums(store, inputs: Inputs) -> pl.DataFrame | None:
    """`reference_age_sums`, kept in the store's cache per store state (None when the census is not staged)."""
    from transforms.table_cache import cached_scan

    if inputs.main_year(SOURCE) is None:
        return None
    return cached_scan(store, "age-sums", lambda: reference_age_sums(inputs)).collect()


def age_sums(inputs: Inputs, customs: tuple[CustomTerritory, ...], places: list[tuple[str, str]]) -> dict:
    """{(level, code): {variable: value or None}} for the census main year: the stored sums of an EPCI, a
    département or France when the inputs have them (`reports.inputs`), the others summed from their communes."""
    year = inputs.main_year(SOURCE)
    if year is None:
        return {}
    out: dict = {place: {} for place in places}
    stored = getattr(inputs, "age_references", None)
    if stored is not None:
        _fill(out, stored.join(_places(places), on=["level", "group"], how="inner"))
        places = [p for p in places if p[0] not in REFERENCE_LEVELS]
    if places:
        _fill(out, _sums_of(inputs, customs, places, year))
    return out


def _places(places: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(places, schema={"level": pl.String, "group": pl.String}, orient="row")


def _fill(out: dict, sums: pl.DataFrame) -> None:
    for level, group, variable, value in sums.select("level", "group", "variable", "value").iter_rows():
        out[(level, group)][variable] = value


def _sums_of(inputs: Inputs, customs, places: list[tuple[str, str]], year: int) -> pl.DataFrame:
    """The sums of `places` from their communes only: summing every commune of France to draw two pyramids would
    be waste (and their census rows only, when the inputs can read part of a table)."""
    m = inputs.membership
    wanted_communes = m.join(
        groups(m, customs).join(_places(places), on=["level", "group"]).select("code").unique(), on="code", how="semi"
    )
    local = replace(inputs, membership=wanted_communes)
    rows_of = getattr(inputs, "rows_of", None)
    if rows_of is not None:
        rows = rows_of(SOURCE, wanted_communes["code"].to_list(), _variables())
        local = replace(local, staged={SOURCE: rows} if rows is not None else {})
    kept = tuple(c for c in customs if set(c.communes) <= set(wanted_communes["code"].to_list()))
    sums = _summed(local, groups(wanted_communes, kept), year)
    return sums.join(_places(places), on=["level", "group"], how="inner")


def age_bands(sums: dict, territory: tuple[str, str], reference: tuple[str, str]) -> tuple[list[AgeBand], bool]:
    """The bands in % of each population, and whether they are split by sex (every value known on both sides)."""
    own, ref = sums.get(territory, {}), sums.get(reference, {})

    def share(values: dict, variable: str) -> float | None:
        total, part = values.get("P_POP"), values.get(variable)
        return None if not total or part is None else 100 * part / total

    # a reference whose population is unknown (a secret part somewhere) is left out rather than hiding the sexes
    sides = (own, ref) if ref.get("P_POP") else (own,)
    by_sex = all(values.get(f"P_{s}{b}") is not None for values in sides for s in "HF" for b in BANDS)
    if by_sex:
        bands = [
            AgeBand(label, share(own, f"P_H{b}"), share(own, f"P_F{b}"), share(ref, f"P_H{b}"), share(ref, f"P_F{b}"))
            for b, label in BANDS.items()
        ]
    else:
        bands = [
            AgeBand(label, share(own, f"P_POP{b}"), None, share(ref, f"P_POP{b}"), None) for b, label in BANDS.items()
        ]
    return bands, by_sex
