"""The HTML diagnostic: one self-contained page per territory, its indicator exports, and an index.

    build_site(store, selections, out_dir)   computes the indicators once, writes every report and the index
    render_report(table, inputs, selection, context)   one page, a pure function of its arguments

The page is a cover, then the sections of `reports.sections.SECTIONS` in their order, numbered. A report makes no
request when opened: its CSS is inline, its charts are inline SVG, it has no script.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from markupsafe import Markup

from reports import formats as F
from reports.editable import cover_of, pictures_of, write_docx
from reports.index import ReportRecord, render_index
from reports.inputs import report_inputs_of_state, reports_state
from reports.pictures import drawing_pictures
from reports.provenance import sources_read, target_cog
from reports.quality import source_quality, used_vintages
from reports.sections import SECTIONS, BuiltSection, ReportData, build_sections
from reports.sections.maps import SOURCE as CONTOURS
from reports.sections.maps import staged_contours
from reports.series_data import site_series, territory_series
from reports.shared import TABLES
from reports.similar import Similar, similar_territories
from reports.templating import css_string, environment, pipeline_version
from reports.view import TerritoryView, territory_view
from sources.demo.synthetic import store_is_synthetic
from storage.files import atomic_path
from storage.manifest import Manifest
from storage.store import Store, reads_one_state
from transforms.compare import FlagRules
from transforms.compute import Inputs
from transforms.export import write_exports
from transforms.pipeline import Selection, diagnostic_table, diagnostic_table_parts
from transforms.registry import indicators
from transforms.table_cache import diagnostic_table_cached, scan_france_table, territory_rows
from transforms.wide import write_wide_xlsx
from transforms.workbooks import closing_workbooks

__all__ = [
    "DEMO_EPCI",
    "ReportContext",
    "SiteResult",
    "build_site",
    "css_string",
    "pipeline_version",
    "render_index",
    "render_report",
    "report_name",
]

PUBLISHER_ORDER = {"Insee": 0, "Cnaf": 1}
# The demo report (`abs-diag demo`, README screenshots): CC Vendée Sèvre Autise, four communes, flags of both
# kinds, a département that is more than the EPCI.
DEMO_EPCI = "200029940"


@dataclass(frozen=True)
class ReportContext:
    """Everything a report shows that is not in the indicator table."""

    generated_at: datetime
    manifest: Manifest = field(default_factory=Manifest)  # the store manifest (sources, vintages, quality)
    version: str = ""  # version of the pipeline
    demo: bool = False  # synthetic data: a banner on every page
    rules: FlagRules = FlagRules()
    exports: tuple[tuple[str, str], ...] = ()  # (format, file name) of the exports beside the report
    state: str = ""  # the store state (reports.shared): what reports of that state share is computed once
    series: pl.DataFrame | None = None  # every territory's series (reports.series_data), None: no trend sections
    baseline: int | None = None  # the year the evolutions of the series start from
    evaluation: tuple = ()  # the indicators the CTG follows (transforms.evaluation); empty: the default set
    contours: pl.DataFrame | None = None  # staged commune contours for the maps (reports.maps); None: not staged
    similar_codes: tuple[str, ...] = ()  # EPCIs the user compares the territory with (`--similar`); () chooses
    similar: Similar | None = None  # this report's comparison (reports.similar)


@dataclass(frozen=True)
class Report:
    """One rendered page and the sections it holds."""

    html: str
    sections: list[BuiltSection]
    data: ReportData | None = None  # what the sections were built from (the editable document's cover)


@dataclass(frozen=True)
class SiteResult:
    reports: list[Path]
    index: Path
    exports: list[Path]
    records: list[ReportRecord] = field(default_factory=list)  # what each report is (the index lists these)


# -- one page ------------------------------------------------------------------------------------------------------


def _geography_note(manifest: Manifest) -> str:
    # a COG entry is recorded with its vintage (the record's field is optional for other uses)
    cogs = sorted(e.vintage for e in manifest.entries.values() if e.source == "cog_communes" and e.vintage is not None)
    return f"Géographie communale au 1er janvier {cogs[-1]} (COG {cogs[-1]})." if cogs else ""


def _comparison_year(view: TerritoryView) -> int | None:
    years = view.rows["comparison_year"].drop_nulls()
    return int(years.to_frame().max().item()) if years.len() else None


def _data_years(inputs: Inputs, quality) -> dict[str, str]:
    """source/vintage -> the latest year of the figures read, for each used source whose figures are of another
    year than its vintage (the Cnaf's 2024 files hold figures up to December 2023)."""
    out = {}
    for q in quality:
        year = inputs.main_year(q.source) if q.used else None
        if year is not None and str(year) != q.vintage:
            out[q.key] = str(year)
    return out


def _communes_per_epci(inputs: Inputs, view: TerritoryView) -> dict[str, int]:
    """How many of the territory's communes each of its EPCIs holds (an EPCI may lie across its border)."""
    codes = [p.code for p in view.communes]
    counts = inputs.membership.filter(pl.col("code").is_in(codes)).group_by("epci").len()
    return {e: n for e, n in counts.iter_rows() if e}


def report_data(view: TerritoryView, inputs: Inputs, context: ReportContext) -> ReportData:
    quality = source_quality(context.manifest, used_vintages(context.manifest, inputs.vintages))
    return ReportData(
        view=view,
        inputs=inputs,
        geography=_geography_note(context.manifest),
        comparison_year=_comparison_year(view),
        quality=quality,
        data_years=_data_years(inputs, quality),
        rules=context.rules,
        state=context.state,
        series=territory_series(context.series, inputs.membership, view.selection),
        baseline=context.baseline,
        evaluation=context.evaluation,
        contours=context.contours,
        similar=context.similar,
    )


def render_view(view: TerritoryView, inputs: Inputs, context: ReportContext) -> Report:
    """The page of one territory's view: its cover, then every registered section that applies, numbered."""
    data = report_data(view, inputs, context)
    return render_page(view, inputs, context, data, build_sections(SECTIONS, data))


def render_page(
    view: TerritoryView, inputs: Inputs, context: ReportContext, data: ReportData, sections: list[BuiltSection]
) -> Report:
    """The page of built `sections` (`render_view`'s second half: the cover needs `context.exports`)."""
    styles = dict.fromkeys(s.css for s in SECTIONS if s.css and any(b.id == s.id for b in sections))
    population = {p.key: (view.cell(p, "population") or {}).get("value") for p in view.units}
    page = (
        environment()
        .get_template("report.html.j2")
        .render(
            view=view,
            territory=view.territory,
            departement=view.departement,
            demo=context.demo,
            generated=F.long_date(context.generated_at),
            generated_iso=context.generated_at.isoformat(),
            version=context.version,
            units=[(p, population.get(p.key)) for p in view.units],
            n_communes=len(view.communes),
            by_epci=view.units_are_epcis,
            communes_per_epci=_communes_per_epci(inputs, view) if view.units_are_epcis else {},
            sources=sorted(
                (q for q in data.quality if q.used), key=lambda q: (PUBLISHER_ORDER.get(q.publisher, 9), q.title)
            ),
            data_years=data.data_years,
            geography=data.geography,
            exports=context.exports,
            title=page_title(view, context.demo),
            sections=sections,
            section_styles=[Markup(css) for css in styles],
        )
    )
    return Report(page, sections, data)


def render_report(table: pl.DataFrame, inputs: Inputs, selection: Selection, context: ReportContext) -> str:
    """The HTML page of one territory's diagnostic (nothing read or written: a pure function)."""
    return render_view(territory_view(table, inputs.membership, selection), inputs, context).html


def page_title(view: TerritoryView, demo: bool) -> str:
    return f"Diagnostic social de territoire : {view.territory.display}" + (
        " (démonstration, données synthétiques)" if demo else ""
    )


# -- the site ------------------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def report_name(selection: Selection) -> str:
    return f"diagnostic-{selection.stem}.html"


def _distinct_customs(selections: list[Selection]):
    customs = tuple(c for s in selections for c in s.customs)
    codes = [c.code for c in customs]
    if len(set(codes)) != len(codes):  # the indicator table keys territories by code: two would be summed as one
        raise ValueError(
            "custom territories built together need distinct codes (CustomTerritory(code=...)): "
            + ", ".join(sorted({c for c in codes if codes.count(c) > 1}))
        )
    return customs


def _diagnostic(store: Store, customs, rules: FlagRules, inputs: Inputs, state: str) -> pl.DataFrame:
    """The diagnostic table of the store's state, computed once per state and reused by later builds."""
    key = (customs, rules, tuple(i.id for i in indicators()))
    return TABLES.get(
        state, key, lambda: diagnostic_table_cached(store, customs, rules, inputs=inputs, compute=diagnostic_table)
    )


def _report_table(
    store: Store, given, selections: list[Selection], rules: FlagRules, inputs: Inputs, state: str
) -> pl.DataFrame:
    """The rows of the diagnostic table the reports of `selections` read: the table `given` (or the rows of the
    Parquet file it names), else the rows of the store's cached table of France (a filtered scan: the other
    communes are never read); with custom territories or other flag rules, the table computed for them."""
    wanted = territory_rows(inputs.membership, selections, every_epci=True)
    if isinstance(given, (str, Path)):
        return pl.scan_parquet(given).filter(wanted).collect()
    if given is not None:
        return given
    customs = _distinct_customs(selections)
    if customs or rules != FlagRules():
        return _diagnostic(store, customs, rules, inputs, state)
    # computed when the cache is cold (a code change, a refresh without publication): its slices streamed to the cache
    table = scan_france_table(store, lambda: diagnostic_table_parts(store, inputs=inputs))
    return table.filter(wanted).collect()


def _similar(table: pl.DataFrame, inputs: Inputs, view: TerritoryView, given: tuple[str, ...]) -> Similar | None:
    customs = view.selection.customs
    return similar_territories(
        table,
        inputs.membership,
        view.territory.level,
        view.territory.code,
        customs[0].communes if customs else (),
        given,
    )


def build_report(
    table: pl.DataFrame, inputs: Inputs, selection: Selection, base: ReportContext, out_dir: Path
) -> tuple[ReportRecord, list[Path]]:
    """Write one territory's exports, report and record; what was built, and the export files."""
    view = territory_view(table, inputs.membership, selection)
    context = replace(base, similar=_similar(table, inputs, view, base.similar_codes))
    data = report_data(view, inputs, context)  # the sections do not show the exports: built before them
    with drawing_pictures() as pictures:  # each section's pictures drawn by worker processes meanwhile (2+ cores)
        ahead = (lambda section: pictures.ahead(pictures_of([section]))) if pictures.drawn_ahead else None
        sections = build_sections(SECTIONS, data, on_built=ahead)
        # the workbooks closed by forked children meanwhile too, where the pictures are (transforms.workbooks)
        with closing_workbooks(fork=pictures.drawn_ahead) as closer:
            paths = write_exports(view.rows, out_dir, f"indicateurs-{selection.stem}", demo=base.demo, closer=closer)
            paths["xlsx large"] = write_wide_xlsx(
                view.rows, out_dir / f"indicateurs-{selection.stem}-large.xlsx", demo=base.demo, closer=closer
            )  # communes x indicators, one sheet per theme
            context = replace(context, exports=tuple((fmt.upper(), p.name) for fmt, p in paths.items()))
            report = render_page(view, inputs, context, data, sections)
            name = report_name(selection)
            _write(out_dir / name, report.html)
            paths["docx"] = _write_document(out_dir, selection, view, report, base, pictures)
    record = ReportRecord(
        file=name,
        territory=view.territory.display,
        kind=view.kind,
        title=page_title(view, base.demo),
        generated=F.long_date(base.generated_at),
        generated_at=base.generated_at.isoformat(),
        version=base.version,
        demo=base.demo,
        sections=tuple((s.number, s.id, s.title) for s in report.sections),
        exports=tuple(sorted(p.name for p in paths.values())),
        sources=sources_read(base.manifest, inputs),
        cog=target_cog(base.manifest),
    )
    record.write(out_dir)
    return record, list(paths.values())


def _write_document(out_dir: Path, selection: Selection, view: TerritoryView, report: Report, base, render) -> Path:
    """The report's editable document (`reports.editable`), its pictures drawn by `render`."""
    cover = cover_of(
        view,
        report.data,
        title=page_title(view, base.demo),
        generated=F.long_date(base.generated_at),
        version=base.version,
        demo=base.demo,
        html_name=report_name(selection),
    )
    return write_docx(out_dir / f"diagnostic-{selection.stem}.docx", cover, report.sections, render=render)


def _site_context(
    store: Store, inputs: Inputs, manifest: Manifest, state: str, selections: list[Selection], asked: ReportContext
) -> ReportContext:
    """What every report of the site shares: the context `asked` for, with the store's manifest, state (named by
    `reports_state`), series (the selections' rows) and contours; the baseline resolved."""
    customs = _distinct_customs(selections)
    wanted = territory_rows(inputs.membership, selections)
    series, baseline = site_series(store, inputs, customs, state, asked.baseline, wanted)
    contours = _staged_contours(store, wanted)
    return replace(asked, manifest=manifest, state=state, series=series, baseline=baseline, contours=contours)


def _staged_contours(store: Store, wanted: pl.Expr) -> pl.DataFrame | None:
    """The rows of the staged commune contours that `wanted` keeps (`reports.sections.maps.staged_contours` read
    through a filter: the maps of a territory draw its communes and the départements, not every commune of
    France), or None when they were never staged."""
    try:
        path = store.staged_path(CONTOURS, store.latest_vintage(CONTOURS))
    except FileNotFoundError:
        return None
    return pl.scan_parquet(path).filter(wanted).collect() if path.exists() else staged_contours(store)


@reads_one_state
def build_site(
    store: Store,
    selections: list[Selection],
    out_dir: Path,
    *,
    demo: bool = False,
    generated_at: datetime | None = None,
    rules: FlagRules = FlagRules(),
    table: pl.DataFrame | Path | None = None,
    baseline: int | None = None,
    evaluation: tuple = (),
    similar: tuple[str, ...] = (),
) -> SiteResult:
    """Compute the indicators once, then write each selection's report, exports and record, and the index.

    `table` is the full diagnostic_table of this store (with the selections' custom territories, computed with
    `rules`), or the Parquet file it was saved to (a national batch computes it once for every batch); without
    it, the table of this store state is computed once per process and reused (`reports.shared`).

    The reports and exports say the figures are synthetic when `demo` is set or the store holds demo mirror files.
    `baseline` anchors the evolutions of the series (default: the oldest year every yearly source holds) and
    `evaluation` lists the indicators of the CTG's yearly evaluation (transforms.evaluation; default set if empty).
    `similar`: the EPCIs each EPCI or custom territory is compared with (reports.similar chooses them when empty)."""
    with _collector_skips_what_lives_now():
        return _build_site(
            store, selections, Path(out_dir), demo, generated_at, rules, table, baseline, evaluation, similar
        )


def _build_site(
    store: Store,
    selections: list[Selection],
    out_dir: Path,
    demo: bool,
    generated_at: datetime | None,
    rules: FlagRules,
    table: pl.DataFrame | Path | None,
    baseline: int | None,
    evaluation: tuple,
    similar: tuple[str, ...],
) -> SiteResult:
    """`build_site`'s work (its arguments), the collector set by it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = store.manifest()
    state = reports_state(store, manifest)
    inputs = report_inputs_of_state(store, state)  # the staged tables a report reads, read when first asked for
    base = _site_context(
        store,
        inputs,
        manifest,
        state,
        selections,
        ReportContext(
            generated_at=generated_at or datetime.now(UTC),
            version=pipeline_version(),
            demo=demo or store_is_synthetic(store),
            rules=rules,
            baseline=baseline,
            evaluation=tuple(evaluation),
            similar_codes=tuple(similar),
        ),
    )
    table = _report_table(store, table, selections, rules, inputs, base.state)
    records, exports = [], []
    for selection in selections:
        record, paths = build_report(table, inputs, selection, base, out_dir)
        records.append(record)
        exports += paths
    index = out_dir / "index.html"
    _write(index, render_index(out_dir, base.demo, base.generated_at, records))
    return SiteResult(reports=[out_dir / r.file for r in records], index=index, exports=exports, records=records)


@contextlib.contextmanager
def _collector_skips_what_lives_now() -> Iterator[None]:
    """Python's cyclic garbage collector told to skip what lives before the reports (the imports: 150,000
    objects) while they are built, then to walk them again: a report allocates enough for several collections of
    the oldest generation, each walking every object of the process (0.3 to 0.5 s of a command's 2 s of CPU).
    Nothing is kept: a frozen object is still freed when nothing refers to it (only a cycle through it waits for
    the end of the block). Left alone where someone froze already (a national batch's worker) and off the main
    thread (reports built by threads side by side: the other's objects must stay collectable)."""
    if gc.get_freeze_count() or threading.current_thread() is not threading.main_thread():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
