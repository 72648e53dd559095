"""How long every indicator takes for every commune, EPCI, département and France of a France-sized input.

    python -m benchmarks.france                    # 34,900 communes, 1,250 EPCIs, 101 départements
    python -m benchmarks.france --communes 2000    # smaller
    python -m benchmarks.france --store DATA_DIR   # a staged store's table, read and written as a publication does

The input is synthetic and built in memory (no store, no download): the staged long tables the engine reads, in
the exact staged schema and sorted as staging writes them (`sources.values.KEY`), with every variable the catalogue needs (read from `indicators.toml`, so a new indicator
is benchmarked too), two census years (2022, and 2016 with its P_ counts only as in the real communal bases),
births and deaths 2016-2022, CAF benefits December 2024, Filosofi 2021 at the commune (small communes secret), EPCI, département and France levels, and the CAF coverage
and places files (communes of 10,000 inhabitants or more, EPCIs, départements, France). What is timed is what
`transforms.pipeline.diagnostic_table` does: compute every level, then references, evolutions and flags.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

import polars as pl

from sources.values import KEY, SECRET, STAGED_SCHEMA
from transforms.compute import CENSUS_PREFIX, Inputs, compute
from transforms.pipeline import diagnostic_table
from transforms.registry import PUBLISHED_SOURCES, indicators
from transforms.territories import FRANCE

CENSUS_YEARS = (2022, 2016)
CIVIL_YEARS = range(2016, 2023)
CAF_YEAR = 2024
BIG_COMMUNE = 10_000  # the CAF publishes coverage and places for communes above it

# Each count as a share of the population (times a random factor between 0.5 and 1.5); others default to 5 %.
SHARES = {
    "P_POP": 1.0,
    "P_PMEN": 0.97,
    "P_MEN": 0.45,
    "C_MEN": 0.45,
    "P_RP": 0.45,
    "P_RP_VOIT1P": 0.38,
    "P_RP_PROP": 0.26,
    "P_RP_LOC": 0.18,
    "P_LOG": 0.52,
    "P_ACT1564": 0.46,
    "P_F1564": 0.31,
    "P_FACT1564": 0.22,
    "P_FACTOCC1564": 0.19,
    "C_FAM": 0.28,
    "C_COUPAENF": 0.12,
    "P_NSCOL15P": 0.70,
    "P_NSCOL15P_DIPLMIN": 0.15,
    "P_POP0019": 0.23,
    "P_POP6074": 0.17,
    "P_POP65P": 0.21,
    "P_POP75P": 0.09,
    "P_POP80P": 0.06,
    "P_POP80P_PSEUL": 0.025,
    "P_POP1824": 0.08,
    "P_SCOL1824": 0.04,
    "indfoy_ndur": 0.14,
    "indnbp_ndur": 0.33,
    "NAIS": 0.011,
    "DECE": 0.009,
    "ACTOCC": 0.42,
    "ACTOCC_LIEU_CONNU": 0.41,
    "ACTOCC_MEME_COM": 0.12,
    "ACTOCC_HORS_EPCI": 0.12,
    "ACTOCC_ETRANGER": 0.005,
}
# equipment counts (BPE, France services): a few per 10,000 inhabitants
EQUIPMENT_SHARE = 0.0004
# the yearly sources of one year that are not the census, the births or the CAF benefits
OTHER_YEARS = {"bpe": 2024, "france_services": 2024, "mobility": 2022}
PUBLISHED_RANGES = {  # (low, high) of a published figure
    "MED": (17_000, 30_000),
    "TP60": (4, 30),
    "RD": (2.2, 4.5),
    "PIMP": (35, 75),
    "PPSOC": (2, 12),
    "txcouv": (30, 95),
    "txcouv_eaje": (5, 45),
    "txcouv_am_ind": (5, 60),
    "txcouv_gad_ind": (0, 8),
    "txcouv_prescol": (0, 10),
}


def geography(n_communes: int, n_epci: int, n_dep: int, seed: int = 1) -> pl.DataFrame:
    """code, name, dep, reg, epci, population: communes spread evenly over départements and EPCIs."""
    rng = random.Random(seed)
    deps = [f"{d:02d}" for d in range(1, min(n_dep, 96) + 1)] + [f"97{d}" for d in range(1, n_dep - 95)]
    per_dep = -(-n_communes // len(deps))
    rows = []
    for i in range(n_communes):
        dep = deps[i // per_dep]
        rank = i % per_dep
        # consecutive communes form an EPCI; a few EPCIs straddle two départements, as some do
        epci = f"2{i * n_epci // n_communes:08d}"
        # a heavy tail like France's: most communes below 1,000 inhabitants, a few above 100,000
        population = int(50 + 250_000 * rng.random() ** 9)
        rows.append((f"{dep}{rank:03d}" if len(dep) == 2 else f"{dep}{rank:02d}", dep, epci, population))
    frame = pl.DataFrame(
        rows, schema={"code": pl.String, "dep": pl.String, "epci": pl.String, "population": pl.Int64}, orient="row"
    )
    no_epci = frame["code"].head(4).to_list()  # a few communes in no EPCI (islands)
    return frame.with_columns(
        name=pl.col("code"),
        reg=pl.lit("00"),
        epci=pl.when(pl.col("code").is_in(no_epci)).then(None).otherwise(pl.col("epci")),
    ).select("code", "name", "dep", "reg", "epci", "population")


def _long(wide: pl.DataFrame, source: str, index: list[str], columns: list[str]) -> pl.DataFrame:
    long = wide.unpivot(on=columns, index=index, variable_name="variable", value_name="value")
    defaults = {
        "source": pl.lit(source),
        "vintage": pl.lit("bench"),
        "month": pl.lit(None, pl.Int8),
        "status": pl.lit(None, pl.String),
        "geo_change": pl.lit(None, pl.String),
    }
    long = long.with_columns(**{k: v for k, v in defaults.items() if k not in long.columns})
    return long.select([pl.col(c).cast(t) for c, t in STAGED_SCHEMA.items()])


def _counts(communes: pl.DataFrame, variables: list[str], scale: pl.Expr, rng: random.Random) -> pl.DataFrame:
    n = communes.height
    return communes.select(
        "code",
        *[
            (scale * SHARES.get(v, 0.05) * pl.Series(v, [0.5 + rng.random() for _ in range(n)])).round(2).alias(v)
            for v in variables
        ],
    )


def _published(codes: list[str], level: str, variables: list[str], rng: random.Random) -> pl.DataFrame:
    data: dict[str, list[str] | list[float]] = {"code": codes, "level": [level] * len(codes)}
    for v in variables:
        low, high = PUBLISHED_RANGES.get(v, (0, 100))
        data[v] = [round(low + (high - low) * rng.random(), 1) for _ in codes]
    return pl.DataFrame(data)


def _variables() -> dict[str, set[str]]:
    """source -> every variable the catalogue reads from it (terms, and published figures at every level)."""
    needed: dict[str, set[str]] = {}
    for ind in indicators():
        for term in ind.terms:
            needed.setdefault(term.source, set()).add(term.variable)
        if ind.published:
            for source in PUBLISHED_SOURCES[ind.published.source].values():
                needed.setdefault(source, set()).add(ind.published.variable)
    return needed


def _years(source: str) -> list[tuple[int, pl.Expr]] | None:
    """(year, scale of the counts) of a commune source; None for a published source (made apart)."""
    pop = pl.col("population").cast(pl.Float64)
    if source.startswith(CENSUS_PREFIX):
        return [(y, pop * (1.0 if y == CENSUS_YEARS[0] else 0.96)) for y in CENSUS_YEARS]
    if source in ("births", "deaths"):
        return [(y, pop) for y in CIVIL_YEARS]
    if source == "caf_benefits":
        return [(CAF_YEAR, pop)]
    if source in OTHER_YEARS:  # equipment: EQUIPMENT_SHARE of the population (variables default to 5 %)
        return [(OTHER_YEARS[source], pop * (1.0 if source == "mobility" else EQUIPMENT_SHARE / 0.05))]
    return None


def _commune_counts(geo: pl.DataFrame, source: str, columns: list[str], rng: random.Random) -> pl.DataFrame | None:
    """The staged commune counts of one source, every year of it."""
    years = _years(source)
    if years is None:
        return None
    parts = []
    for year, scale in years:
        # like the real communal bases, the comparison year has the P_ counts only (no C_ sample counts)
        present = [c for c in columns if year == max(y for y, _ in years) or not c.startswith("C_")]
        wide = _counts(geo, present, scale, rng).with_columns(
            level=pl.lit("COM"), year=pl.lit(year), month=pl.lit(12 if source == "caf_benefits" else None)
        )
        parts.append(_long(wide, source, ["code", "level", "year", "month"], present))
    return pl.concat(parts)


def _published_level(
    geo: pl.DataFrame, family: str, level: str, source: str, columns: list[str], rng: random.Random
) -> pl.DataFrame:
    """A publisher's own figures at one level (CAF communes: the big ones only; small communes secret in
    Filosofi but for their median)."""
    epcis = geo["epci"].drop_nulls().unique().sort().to_list()
    levels = {"COM": geo["code"].to_list(), "EPCI": epcis, "DEP": geo["dep"].unique().sort().to_list()}
    big = geo.filter(pl.col("population") >= BIG_COMMUNE)["code"].to_list()
    codes = big if (level == "COM" and family != "filosofi") else levels.get(level, [FRANCE])
    wide = _published(codes, level, columns, rng).with_columns(year=pl.lit(2021 if family == "filosofi" else 2023))
    if family == "caf_places":  # places are counts: scale them with the territory
        wide = wide.with_columns(pl.col("tot_offre") * (30 if level == "COM" else 300))
    long = _long(wide, source, ["code", "level", "year"], columns)
    if family == "filosofi" and level == "COM":
        small = geo.filter(pl.col("population") < 2_000)["code"].to_list()
        hidden = pl.col("code").is_in(small) & (pl.col("variable") != "MED")
        long = long.with_columns(
            value=pl.when(hidden).then(None).otherwise(pl.col("value")),
            status=pl.when(hidden).then(pl.lit(SECRET)).otherwise(pl.col("status")),
        )
    return long


def generate(n_communes: int = 34_900, n_epci: int = 1_250, n_dep: int = 101, seed: int = 1) -> Inputs:
    """A France-sized Inputs with every variable the catalogue reads."""
    rng = random.Random(seed)
    geo = geography(n_communes, n_epci, n_dep, seed)
    needed = _variables()
    staged: dict[str, pl.DataFrame] = {}
    for source, variables in sorted(needed.items()):
        counts = _commune_counts(geo, source, sorted(variables), rng)
        if counts is not None:
            staged[source] = counts
    for family, sources in PUBLISHED_SOURCES.items():
        for level, source in sources.items():
            long = _published_level(geo, family, level, source, sorted(needed[source]), rng)
            staged[source] = pl.concat([staged[source], long]) if source in staged else long  # filosofi: 4 levels
    staged = {s: frame.sort(KEY) for s, frame in staged.items()}  # as staging writes them (sources/geography.py)
    vintages = {s: str(CENSUS_YEARS[0]) if s.startswith(CENSUS_PREFIX) else "bench" for s in staged}
    epcis = geo["epci"].drop_nulls().unique().sort().to_list()
    return Inputs(
        staged=staged, vintages=vintages, membership=geo.drop("population"), epci_names={e: f"EPCI {e}" for e in epcis}
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(n_communes: int, n_epci: int, n_dep: int) -> dict:
    start = time.perf_counter()
    inputs = generate(n_communes, n_epci, n_dep)
    generated = time.perf_counter()
    rss_inputs = peak_rss_mib()
    cpu = time.process_time()
    table = diagnostic_table(None, inputs=inputs)
    done = time.perf_counter()
    cpu = time.process_time() - cpu
    peak = peak_rss_mib()
    # the indicators alone (every level, before references, evolutions and flags), timed again on their own
    compute_cpu = time.process_time()
    compute(inputs)
    compute_s, compute_cpu = time.perf_counter() - done, time.process_time() - compute_cpu
    staged_rows = sum(f.height for f in inputs.staged.values())
    return {
        "communes": inputs.membership.height,
        "epcis": inputs.membership["epci"].n_unique() - 1,
        "departements": inputs.membership["dep"].n_unique(),
        "indicators": len(indicators()),
        "staged_rows": staged_rows,
        "table_rows": table.height,
        "flags": table["flag"].is_not_null().sum(),
        "generate_s": generated - start,
        "diagnostic_s": done - generated,
        "diagnostic_cpu_s": cpu,
        "compute_s": compute_s,
        "compute_cpu_s": compute_cpu,
        "table_mib": table.estimated_size("mb"),
        "peak_rss_after_generation_mib": rss_inputs,
        "peak_rss_mib": peak,
        "table": table,
    }


def run_store(root: str) -> None:
    """The table of a staged store as a publication computes it: only the staged rows the indicators read, its
    parts streamed to a Parquet file (`transforms.table_cache.save_parts`), never the whole table in memory."""
    import tempfile
    from pathlib import Path

    from storage.store import Store
    from transforms.pipeline import diagnostic_table_parts
    from transforms.table_cache import save_parts

    start, cpu = time.perf_counter(), time.process_time()
    with Store(Path(root)).pinned() as store, tempfile.TemporaryDirectory() as folder:
        rows = save_parts(diagnostic_table_parts(store), Path(folder) / "table-x.parquet").select(pl.len())
        n_rows = rows.collect().item()
    print(
        f"table of {root}: {n_rows:,} rows read from the staged store and written to Parquet in "
        f"{time.perf_counter() - start:.1f} s (CPU {time.process_time() - cpu:.1f} s on all threads), "
        f"peak RSS {peak_rss_mib():,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communes", type=int, default=34_900)
    parser.add_argument("--epcis", type=int, default=1_250)
    parser.add_argument("--departements", type=int, default=101)
    parser.add_argument("--store", help="time the table of this staged store instead (as a publication does)")
    args = parser.parse_args()
    if args.store:
        run_store(args.store)
        return
    out = run(args.communes, args.epcis, args.departements)
    print(
        f"input: {out['communes']:,} communes, {out['epcis']:,} EPCIs, {out['departements']} départements, "
        f"{out['indicators']} indicators, {out['staged_rows']:,} staged rows (generated in {out['generate_s']:.1f} s)"
    )
    print(
        f"diagnostic table: {out['table_rows']:,} rows, {out['flags']:,} flags, {out['diagnostic_s']:.1f} s "
        f"(CPU {out['diagnostic_cpu_s']:.1f} s on all threads; compute + references, evolutions, flags)"
    )
    print(
        f"of which every indicator at every level (transforms.compute.compute, timed again alone): "
        f"{out['compute_s']:.1f} s (CPU {out['compute_cpu_s']:.1f} s); the table itself: {out['table_mib']:,.0f} MiB"
    )
    print(
        f"peak RSS: {out['peak_rss_after_generation_mib']:,.0f} MiB after generation, "
        f"{out['peak_rss_mib']:,.0f} MiB after the diagnostic table"
    )


if __name__ == "__main__":
    main()
