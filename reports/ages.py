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


def age_sums(inputs: Inputs, customs: tuple[CustomTerritory, ...], places: list[tuple[str, str]]) -> dict:
    """{(level, code): {variable: value or None}} for the census main year."""
    year = inputs.main_year(SOURCE)
    if year is None:
        return {}
    needed = (
        pl.DataFrame({"variable": _variables()})
        .with_columns(
            source=pl.lit(SOURCE),
            term=pl.lit(f"{SOURCE}:") + pl.col("variable"),
            period=pl.lit("main"),
            year=pl.lit(year, pl.Int32),
        )
        .select("source", "variable", "term", "period", "year")
    )
    # only the communes these places hold: summing every commune of France to draw two pyramids would be waste
    m = inputs.membership
    wanted_communes = m.join(
        groups(m, customs)
        .join(
            pl.DataFrame(places, schema={"level": pl.String, "group": pl.String}, orient="row"), on=["level", "group"]
        )
        .select("code")
        .unique(),
        on="code",
        how="semi",
    )
    local = replace(inputs, membership=wanted_communes)
    kept = tuple(c for c in customs if set(c.communes) <= set(wanted_communes["code"].to_list()))
    sums = aggregate(commune_values(local, needed), groups(wanted_communes, kept))
    wanted = pl.DataFrame(places, schema={"level": pl.String, "group": pl.String}, orient="row")
    out: dict = {place: {} for place in places}
    for r in sums.join(wanted, on=["level", "group"], how="inner").iter_rows(named=True):
        out[(r["level"], r["group"])][r["term"].split(":", 1)[1]] = r["value"]
    return out


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
