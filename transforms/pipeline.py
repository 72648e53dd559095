"""From the staged store to the indicator table of any territory: load, compute every level, compare, select."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import cast

import polars as pl

from sources.codes import city_of_arrondissement
from sources.registry import report_label
from storage.store import Store, reads_one_state
from transforms.arrondissements import arrondissement_membership, placed_with_arrondissements
from transforms.compare import FlagRules, compare_parts
from transforms.compute import Inputs
from transforms.indicator_inputs import pruned_inputs, scans_of
from transforms.infra import load_infra
from transforms.registry import PUBLISHED_SOURCES, Indicator, indicators
from transforms.territories import CustomTerritory, Territory

# Staged tables the reports read besides the indicators' sources (the main places of work of a territory).
CONTEXT_SOURCES = {"rp_population", "mobility_destinations"}


def needed_sources(items: tuple[Indicator, ...]) -> list[str]:
    return sorted({s for i in items for s in i.sources} | CONTEXT_SOURCES)


@reads_one_state
def load_inputs(store: Store, items: tuple[Indicator, ...] | None = None) -> Inputs:
    """The latest staged vintage of every source the indicators read (a source never staged is left out), all
    from one state of the store (a refresh switching it meanwhile is not seen half-way)."""
    vintages = latest_vintages(store, items or indicators())
    staged = {source: store.read_staged(source, vintage) for source, vintage in vintages.items()}
    return Inputs(staged=staged, vintages=vintages, **geography_fields(store), infra=load_infra(store))


@reads_one_state
def indicator_inputs(store: Store, items: tuple[Indicator, ...] | None = None) -> Inputs:
    """`load_inputs` as the indicator table reads it: of each staged table, only the columns and the rows of the
    variables the indicators read (`transforms.indicator_inputs`), read through lazy scans; no IRIS tables."""
    items = items or indicators()
    vintages = latest_vintages(store, items)
    scans = {source: store.scan_staged(source, vintage) for source, vintage in vintages.items()}
    inputs = Inputs(staged={}, vintages=vintages, **geography_fields(store))
    return pruned_inputs(inputs, scans, items)


def scanned_inputs(store: Store, items: tuple[Indicator, ...] | None = None) -> Inputs:
    """`load_inputs` with lazy scans of the staged files for tables (read by whoever collects them, within the
    caller's pinned state: `transforms.series.series_inputs` reads them a year at a time); no IRIS tables."""
    vintages = latest_vintages(store, items or indicators())
    scans = {source: store.scan_staged(source, vintage) for source, vintage in vintages.items()}
    return Inputs(staged=cast(dict, scans), vintages=vintages, **geography_fields(store))


def latest_vintages(store: Store, items: tuple[Indicator, ...]) -> dict[str, str]:
    """source -> its latest staged vintage, for every source the indicators (and the reports) read."""
    vintages = {}
    for source in needed_sources(items):
        try:
            vintages[source] = store.latest_vintage(source)
        except FileNotFoundError:
            continue
    return vintages


def geography_fields(store: Store) -> dict:
    """The `Inputs` fields of the target geography: membership, EPCI and département names, arrondissements."""
    from sources.refresh import load_geography  # sources.refresh imports the downloader (requests): not at import

    geo = load_geography(store)
    epci = geo.epci.filter(pl.col("epci") != "ZZZZZZZZZ").select("epci", "epci_name").unique("epci")
    try:
        dep_names = dict(store.read_staged("cog_departements").select("dep", "name").iter_rows())
    except FileNotFoundError:  # names are a nicety: "Département 44" until the COG archive is staged
        dep_names = {}
    return {
        "membership": geo.membership(),
        "epci_names": dict(epci.iter_rows()),
        "dep_names": dep_names,
        "arrondissements": arrondissement_membership(geo),
    }


def provenance(inputs: Inputs, items: tuple[Indicator, ...]) -> pl.DataFrame:
    """Per indicator: its reference year and the sources with their years, as the report prints them."""
    rows = []
    for ind in items:
        if ind.kind == "published":
            publisher = ind.published_term.source
            family = PUBLISHED_SOURCES[publisher]
            source = next((s for s in family.values() if s in inputs.staged), None)
            year = inputs.main_year(source) if source else None
            rows.append((ind.id, year, report_label(publisher, year)))
            continue
        sources = list(dict.fromkeys(t.source for t in ind.terms))
        years = {s: inputs.main_year(s) for s in sources}
        if ind.kind in ("natural", "migration", "growth"):
            main, comp = inputs.main_year("rp_population"), inputs.comparison_year("rp_population")
            labels = [f"Insee, recensements {comp} et {main}"]
            if ind.kind != "growth":
                labels.append(f"Insee, état civil {comp}-{main - 1}" if main and comp else "Insee, état civil")
            rows.append((ind.id, main, " ; ".join(labels)))
            continue
        label = " ; ".join(dict.fromkeys(report_label(s, years[s]) for s in sources))
        rows.append((ind.id, years[sources[0]], label))
    return pl.DataFrame(rows, schema={"indicator": pl.String, "year": pl.Int32, "source": pl.String}, orient="row")


# The report modules call a territory their selection: the same model, validated where it entered.
Selection = Territory


def diagnostic_table(
    store: Store | None,
    customs: tuple[CustomTerritory, ...] = (),
    rules: FlagRules = FlagRules(),
    inputs: Inputs | None = None,
) -> pl.DataFrame:
    """`diagnostic_table_parts` in one frame, their text columns as text (gathered as text by `compare_parts`:
    no categories turned into text afterwards): the table every reader sees."""
    parts = list(diagnostic_table_parts(store, customs, rules, inputs, categories=False))
    return pl.concat(parts, rechunk=False) if len(parts) > 1 else parts[0]


def diagnostic_table_parts(
    store: Store | None,
    customs: tuple[CustomTerritory, ...] = (),
    rules: FlagRules = FlagRules(),
    inputs: Inputs | None = None,
    categories: bool = True,
) -> Iterator[pl.DataFrame]:
    """The diagnostic table as consecutive slices of its rows (`transforms.compare.compare_parts`: a caller may
    write each as it comes, never holding the whole table), its text columns as categories (saved as text by
    `transforms.table_cache.save_parts`), or as text when `categories` is False. Every indicator for every
    commune, EPCI, département, France (and the custom territories); the store is read unless the inputs are given
    (None: given). Only the staged rows the indicators read are read from files (`transforms.indicator_inputs`):
    from the store, or from the given inputs when they read their tables lazily (a report's)."""
    items = indicators()
    if inputs is None:
        if store is None:
            raise ValueError("diagnostic_table needs a store or its inputs")
        inputs = indicator_inputs(store, items)
    elif (scans := scans_of(inputs)) is not None:
        inputs = pruned_inputs(inputs, scans, items)
    main, comp = inputs.main_year("rp_population"), inputs.comparison_year("rp_population")
    prov = provenance(inputs, items)
    # positions and codes (the strings are built once, by compare), Paris, Lyon, Marseille's arrondissements (level
    # ARM) among the communes
    result = placed_with_arrondissements(inputs, customs, items)
    # the staged tables are not read past this point: let them go before the millions of rows of the table
    inputs = replace(inputs, staged={})
    n_years = (main - comp) if main and comp else None
    yield from compare_parts(result, inputs, customs, rules, n_years, comp, prov, categories)


def select(table: pl.DataFrame, inputs_membership: pl.DataFrame, selection: Selection) -> pl.DataFrame:
    """The rows a territory's diagnostic shows: its communes, itself, its EPCI(s), département(s) and France."""
    m = inputs_membership
    if selection.arrondissement and selection.commune is not None:  # an arrondissement is always a commune code
        return select_arrondissement(table, m, selection.commune)
    if selection.epci:
        communes = m.filter(pl.col("epci") == selection.epci)
        if communes.is_empty():
            raise ValueError(f"EPCI {selection.epci} is not in the target COG's EPCI composition")
        own = (pl.col("level") == "EPCI") & (pl.col("code") == selection.epci)
    elif selection.commune:
        communes = m.filter(pl.col("code") == selection.commune)
        if communes.is_empty():
            raise ValueError(f"commune {selection.commune} is not in the target COG")
        own = pl.lit(False)
    elif selection.departement:
        communes = m.filter(pl.col("dep") == selection.departement)
        if communes.is_empty():
            raise ValueError(f"département {selection.departement} is not in the target COG")
        own = pl.lit(False)  # its DEP row is kept below with the départements of its communes
    else:
        group = selection.group
        if group is None:  # the selection's validation makes it name exactly one territory
            raise ValueError("the selection names no territory")
        communes = m.filter(pl.col("code").is_in(list(group.communes)))
        own = (pl.col("level") == "TERRITORY") & (pl.col("code") == group.code)
    codes = communes["code"].to_list()
    epcis = [e for e in communes["epci"].unique().to_list() if e]
    deps = communes["dep"].unique().to_list()
    keep = (
        ((pl.col("level") == "COM") & pl.col("code").is_in(codes))
        | own
        | ((pl.col("level") == "EPCI") & pl.col("code").is_in(epcis))
        | ((pl.col("level") == "DEP") & pl.col("code").is_in(deps))
        | (pl.col("level") == "FRANCE")
    )
    return table.filter(keep)


def select_arrondissement(table: pl.DataFrame, membership: pl.DataFrame, code: str) -> pl.DataFrame:
    """An arrondissement's rows: itself (ARM), its whole city (COM), the city's EPCI, its département and France."""
    city = city_of_arrondissement(code)
    own = table.filter((pl.col("level") == "ARM") & (pl.col("code") == code))
    if own.is_empty():
        raise ValueError(f"arrondissement {code} is not in the target COG")
    city_row = membership.filter(pl.col("code") == city)
    epcis = [e for e in city_row["epci"].to_list() if e]
    deps = own["ref_dep_code"].drop_nulls().unique().to_list() or city_row["dep"].to_list()
    keep = (
        ((pl.col("level") == "ARM") & (pl.col("code") == code))
        | ((pl.col("level") == "COM") & (pl.col("code") == city))
        | ((pl.col("level") == "EPCI") & pl.col("code").is_in(epcis))
        | ((pl.col("level") == "DEP") & pl.col("code").is_in(deps))
        | (pl.col("level") == "FRANCE")
    )
    return table.filter(keep)


@reads_one_state
def export_indicators(
    store: Store, out_dir, selection: Selection | None = None, rules: FlagRules = FlagRules(), demo: bool = False
):
    """Compute every level, keep the selected territory's rows (everything when None), write the exports.

    The exports are marked synthetic when `demo` is set or the store holds demo mirror files."""
    from pathlib import Path

    from sources.demo.synthetic import store_is_synthetic
    from transforms.export import FORMATS, FRANCE_FORMATS, write_exports
    from transforms.table_cache import diagnostic_table_cached

    demo = demo or store_is_synthetic(store)

    customs = selection.customs if selection else ()
    # France's table is read from the store's cache (the staged tables are loaded only when it must be computed)
    table = diagnostic_table_cached(store, customs, rules, compute=diagnostic_table)
    formats: tuple[str, ...]
    if selection is None:
        stem, formats = "indicateurs-france", FRANCE_FORMATS
    else:
        from sources.refresh import load_geography

        table = select(table, load_geography(store).membership(), selection)
        stem, formats = f"indicateurs-{selection.stem}", FORMATS
    return table, write_exports(table, Path(out_dir), stem, demo=demo, formats=formats)


@reads_one_state
def save_france_table(store: Store, out_dir, table_path, demo: bool = False) -> None:
    """The indicator table of every commune, EPCI, département and France, computed once: saved as Parquet at
    `table_path` (for the national batches) and written as the national indicator tables in `out_dir`. Read
    from the store's cache, computed and streamed there first when missing: never held whole beside its exports."""
    from pathlib import Path

    from sources.demo.synthetic import store_is_synthetic
    from storage.files import atomic_path
    from transforms.export import FRANCE_FORMATS, write_exports, write_exports_of_file
    from transforms.table_cache import cache_path, scan_france_table

    demo = demo or store_is_synthetic(store)  # a store refreshed from the demo mirror, even without --demo

    scan = scan_france_table(store, lambda: diagnostic_table_parts(store))
    with atomic_path(Path(table_path)) as tmp:
        scan.sink_parquet(tmp)
    cached = cache_path(store)
    if cached.is_file():
        write_exports_of_file(cached, Path(out_dir), "indicateurs-france", demo=demo)
    else:  # a store that cannot be written to: the table computed in memory
        write_exports(scan.collect(), Path(out_dir), "indicateurs-france", demo=demo, formats=FRANCE_FORMATS)
