"""The `abs-diag` command."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from flows.lifecycle import command_session
from flows.local import wants_flow

# The commands run the Prefect flows in ephemeral mode (a temporary local server, no infrastructure). Set before
# Prefect is imported: no telemetry, a start-up timeout that a fresh database on a slow disk needs, and Prefect's
# own INFO lines (server start, task states) kept off the console; they still reach the run's logs.
for _name, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "sources,transforms,reports",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",  # `indicators` logs outside any flow run
    "DASK_LOGGING__DISTRIBUTED": "warning",  # a local Dask cluster (national --dask) logs every connection at INFO
}.items():
    os.environ.setdefault(_name, _value)
# What the libraries would do for nothing as they load (set before they are imported; a user's own value is kept):
# numpy's OpenBLAS starts a thread per core that spins waiting for work, and nothing here multiplies matrices (one
# thread: numpy's import 0.20 to 0.10 s of CPU, the idle core left to the report's picture workers); pydantic reads
# every installed package's metadata for plugins as its first model is made (about 12 ms), and none is used here
# (PYDANTIC_DISABLE_PLUGINS set empty loads them).
for _name, _value in {"OPENBLAS_NUM_THREADS": "1", "PYDANTIC_DISABLE_PLUGINS": "1"}.items():
    os.environ.setdefault(_name, _value)

# objects a report's process allocates between two runs of the cycle collector (`_collector_seldom`): garbage with
# cycles stays bounded, and a report sets off a handful of collections instead of some 250
REPORT_COLLECTION_THRESHOLD = 100_000

app = typer.Typer(
    help="Diagnostic territorial (ABS / CTG) à partir des données ouvertes de l'INSEE et de la CAF.",
    no_args_is_help=True,
    add_completion=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Store folder (raw downloads, staged tables, manifest). Default: $ABS_DATA_DIR or ./data."
    ),
]


def _store(data_dir: Path | None):
    from storage.store import Store

    return Store(data_dir) if data_dir else Store()


def _print_report(report) -> None:
    rows = report.table()
    header = ("source", "vintage", "rows", "secret cells", "download", "status")
    cells = [
        (r["source"], r["vintage"], _fmt(r["rows"]), _fmt(r["secret_cells"]), r["download"], r["status"]) for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *cells)]

    def line(values):
        return "  ".join(str(v).ljust(w) for v, w in zip(values, widths))

    typer.echo(line(header))
    typer.echo(line("-" * w for w in widths))
    for c in cells:
        typer.echo(line(c))
    for result in report.results:
        for note in result.notes if result.status == "staged" else []:
            typer.echo(f"  {result.source}/{result.vintage}: {note}")
    for failure in report.failed:
        typer.echo(f"\nFAILED {failure.source}/{failure.vintage}:\n{failure.error}", err=True)


def _fmt(n) -> str:
    return "-" if n is None else f"{n:,}".replace(",", " ")


PublishDir = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Publication folder (versioned folders and a `latest` link). Default: $ABS_PUBLISH_DIR or ./publication.",
    ),
]
Mirror = Annotated[str | None, typer.Option(help="Fetch https://HOST/PATH as MIRROR/HOST/PATH (also $ABS_MIRROR).")]
Baseline = Annotated[
    int | None,
    typer.Option(
        "--baseline",
        help="Year every evolution of the series starts from (the first year of the current CTG, e.g. "
        "2022). Default: the oldest year every yearly source holds.",
    ),
]
FlowRun = Annotated[
    bool,
    typer.Option(
        "--flow",
        help="Run as a Prefect flow run (on the configured server, else on a "
        "temporary local one). Default: a flow run only when PREFECT_API_URL is set.",
    ),
]


Epci = Annotated[str | None, typer.Option(help="SIREN of the EPCI (9 digits).")]
Commune = Annotated[
    str | None, typer.Option(help="Code of one commune (its ABS), or of an arrondissement of Paris, Lyon or Marseille.")
]
Communes = Annotated[str | None, typer.Option(help="Commune codes of a custom territory, comma-separated.")]
Name = Annotated[str | None, typer.Option(help="Name of the custom territory (with --communes).")]
Demo = Annotated[bool, typer.Option(help="Mark the report(s) as built on synthetic demo data.")]
Sources = Annotated[list[str] | None, typer.Option("--source", "-s", help="Refresh only this source (repeatable).")]
AcceptDrop = Annotated[
    list[str] | None,
    typer.Option(
        "--accept-drop",
        help="Stage this source even if its file covers less of the geography than declared or "
        "has fewer rows than the previous staging (repeatable; recorded in the manifest).",
    ),
]


@app.command()
def refresh(
    source: Sources = None,
    mirror: Mirror = None,
    force: Annotated[bool, typer.Option(help="Stage again even when upstream files are unchanged.")] = False,
    publish: Annotated[
        bool, typer.Option(help="Publish the national indicator tables when every source staged.")
    ] = True,
    data_dir: DataDir = None,
    out: PublishDir = None,
    accept_drop: AcceptDrop = None,
    flow: FlowRun = False,
) -> None:
    """Download, validate and stage the INSEE and CAF sources in the target geography (COG), then publish the
    national indicator tables (the `refresh` flow's steps, in this process unless a Prefect run is wanted)."""
    _check_sources(source, "")
    _check_sources(accept_drop, "--accept-drop: ")
    _check_folders(data_dir, out)
    _check_reachable(source, mirror)
    store = _store(data_dir)
    options = {"sources": source or None, "mirror": mirror, "force": force, "publish": publish}
    folders = {"data_dir": str(store.root), "publish_dir": _opt(out), "accept_drop": accept_drop or None}
    done = _refreshed(_run(flow, "refresh", **options, **folders), store)
    if done["published"]:
        typer.echo(f"published: {done['published']}")
    else:
        typer.echo(done["publication"])  # nothing new, or why nothing was published


def _check_sources(names: list[str] | None, option: str) -> None:
    """Exit 2 naming the sources the catalogue does not know."""
    from sources import catalogue

    unknown = sorted(set(names or []) - set(catalogue.sources()))
    if unknown:
        _refuse(f"{option}unknown source(s): {', '.join(unknown)} (known: {', '.join(catalogue.sources())})")


def _refreshed(outcome, store) -> dict:
    """A refresh's result, its report printed; exit 1 when a source could not be staged (nothing published)."""
    from sources.refresh import RefreshFailed

    if isinstance(outcome, RefreshFailed):
        _print_report(outcome.report)
        typer.echo(f"\nstore: {store.root}\nnothing published: {outcome}", err=True)
        raise typer.Exit(code=1)
    done = _completed(outcome)
    _print_report(done["report"])
    typer.echo(f"\nstore: {store.root}")
    return done


@app.command()
def indicators(
    epci: Epci = None,
    commune: Commune = None,
    communes: Communes = None,
    name: Name = None,
    all_levels: Annotated[bool, typer.Option("--all", help="Every commune, EPCI, département and France.")] = False,
    out: Annotated[Path, typer.Option(help="Output folder of the exports.")] = Path("out"),
    data_dir: DataDir = None,
    series: Annotated[
        bool,
        typer.Option(
            "--series",
            help="Export every year of each indicator (a long table with a year column) instead of the latest year.",
        ),
    ] = False,
    baseline: Baseline = None,
) -> None:
    """Compute the needs indicators and write them as Parquet, CSV (;, UTF-8 BOM) and XLSX with definitions."""
    from transforms.indicator_exports import export_indicator_files

    if sum(bool(x) for x in (epci, commune, communes, all_levels)) != 1:
        raise typer.BadParameter("give exactly one of --epci, --commune, --communes or --all")
    if baseline is not None and not series:
        _refuse("--baseline anchors the evolutions of the series: add --series")
    territory = (
        None if all_levels else _territory(epci, commune, communes, (name or "Territoire") if communes else None)
    )
    _check_folder(out, "--out")
    try:
        if series:
            from transforms.series_export import export_series

            table, paths = export_series(_store(data_dir), out, territory, baseline=baseline)
            typer.echo(f"{table.height} values over {table['year'].n_unique()} years")
            for fmt, path in paths.items():
                typer.echo(f"{fmt:<8} {path}")
            return
        exported = export_indicator_files(_store(data_dir), out, territory)
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"{exported.rows} values, {exported.flags} flags")
    for fmt, path in exported.paths.items():
        typer.echo(f"{fmt:<8} {path}")


@app.command()
def sources() -> None:
    """List the catalogue: every source, vintage, geography and URL."""
    from sources import catalogue

    for entry in catalogue.entries():
        cog = entry.cog if entry.cog is not None else f"year+{entry.cog_offset}"
        typer.echo(f"{entry.source:<20} {entry.vintage:<6} COG {cog:<8} {entry.title}")
        for spec in entry.files:
            typer.echo(f"{'':<20} {spec.role:<6} {spec.url}")


@app.command()
def mirror(
    folder: Annotated[Path, typer.Argument(help="A folder laid out as HOST/PATH (www.insee.fr/fr/statistiques/...).")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
) -> None:
    """Serve a local mirror of the upstream files, for ABS_MIRROR=http://127.0.0.1:PORT (Ctrl-C stops it)."""
    import time

    from sources.mirror import serve

    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder")
    with serve(folder, port=port) as served:
        typer.echo(f"serving {folder.resolve()} at {served.url}: export ABS_MIRROR={served.url}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("stopped")


def _check_folders(data_dir: Path | None, out: Path | None) -> None:
    """The store and publication folders (given or by default), refused before any flow runs when unusable."""
    settings = _settings()
    _check_folder(data_dir or settings.data_dir.resolve(), "--data-dir")
    _check_folder(out or settings.publish_dir.resolve(), "--out")


def _settings():
    """The ABS_* settings of the environment; a bad value (ABS_RETRY_BUDGET=abc) is refused before any flow."""
    from storage.settings import load_settings

    try:
        return load_settings()
    except ValueError as exc:
        _refuse(str(exc))


def _check_folder(path: Path, option: str) -> None:
    """Exit 2 when `path` cannot be the folder of `option`: a file, under a file, or where no file can be
    created. Nothing is created."""
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        _refuse(f"{option} {path}: {existing} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=existing).close()  # the real test: permissions, read-only mounts, ACLs
    except OSError as exc:
        _refuse(f"{option} {path}: cannot write in {existing} ({exc.strerror or exc})")


def _check_staged(data_dir: Path | None) -> None:
    """`--refresh never` on a store missing sources: say which, and how to fill it, before any flow runs."""
    from sources.refresh import missing_sources

    store = _store(data_dir)
    missing = missing_sources(store)
    if missing:
        _refuse(
            f"--refresh never, but {len(missing)} source(s) were never staged in the store {store.root} "
            f"({', '.join(missing)}): run `abs-diag refresh --data-dir {store.root}` first, "
            f"or leave out --refresh never"
        )


def _check_reachable(sources: list[str] | None, mirror: str | None) -> None:
    """Offline, or a mirror that is not running: one line within seconds, before any flow (exit 1)."""
    from sources.download import HostUnreachable, preflight
    from sources.refresh import entry_urls, plan

    geo_entries, others = plan(sources or None)
    try:
        preflight(entry_urls(geo_entries + others), mirror)
    except HostUnreachable as exc:
        typer.echo(f"error: {exc.reason}", err=True)
        raise typer.Exit(code=1) from None


def _refuse(message: str) -> NoReturn:
    """A wrong option: one line, exit code 2, before any flow runs."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _validated(model, options: dict[str, str] | None = None, **values):
    """`model(**values)`, or exit 2 with pydantic's reasons (fields named as their command-line options)."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as exc:
        reasons = []
        for error in exc.errors():
            field = (options or {}).get(str(error["loc"][0])) if error["loc"] else None
            message = error["msg"].removeprefix("Value error, ")
            reasons.append(f"{field}: {message}" if field else message)
        _refuse("; ".join(reasons))


def _territory(epci: str | None, commune: str | None, communes: str | None, name: str | None):
    """The territory of the options, validated before anything runs (exit 2 with the reason)."""
    from transforms.territories import Territory

    return _validated(Territory, epci=epci, commune=commune, communes=communes, name=name)


def _similar_codes(similar: str | None, territory) -> tuple[str, ...]:
    """The SIRENs of --similar, each checked (exit 2 naming a bad one); only an EPCI or a group of communes is
    compared with EPCIs."""
    if similar is None:
        return ()
    from sources.codes import check_siren

    if territory.commune is not None:
        _refuse("--similar compares an EPCI or a group of communes (--epci, --communes) with other EPCIs")
    codes = tuple(dict.fromkeys(c.strip() for c in similar.split(",") if c.strip()))
    if not codes:
        _refuse("--similar needs at least one SIREN")
    for code in codes:
        try:
            check_siren(code)
        except ValueError as exc:
            _refuse(f"--similar: {exc}")
    return codes


def _check_in_geography(data_dir: Path | None, **codes: list[str]) -> None:
    """Exit 2 naming the codes missing from the store's target geography. A store whose geography is not staged
    yet cannot tell: the flow checks again after its own refresh."""
    from flows.steps import unknown_codes_once  # the run checks the same codes again: answered at once

    try:
        problems = unknown_codes_once(_store(data_dir), **codes)
    except FileNotFoundError:
        return
    if problems:
        _refuse("; ".join(problems))


@app.command()
def report(
    epci: Epci = None,
    commune: Commune = None,
    communes: Communes = None,
    name: Name = None,
    refresh_first: Annotated[
        str, typer.Option("--refresh", help="missing (refresh first if a source was never staged), always or never.")
    ] = "missing",
    mirror: Mirror = None,
    demo: Demo = False,
    data_dir: DataDir = None,
    out: PublishDir = None,
    baseline: Baseline = None,
    evaluation: Annotated[
        Path | None,
        typer.Option(
            "--evaluation",
            help="CSV or YAML file of the indicators the CTG follows (indicateur, cible, sens, "
            "communes). Default: a set per theme.",
        ),
    ] = None,
    similar: Annotated[
        str | None,
        typer.Option(
            help="SIRENs of the EPCIs to compare the territory with, comma-separated (default: chosen by size class)."
        ),
    ] = None,
    flow: FlowRun = False,
) -> None:
    """Build and publish the diagnostic report of one territory (the `diagnostic` flow's steps, in this process
    unless a Prefect run is wanted)."""
    with _collector_seldom(flow):
        # a malformed option refused before the picture workers are forked (and before polars and numpy are loaded)
        territory = _territory(epci, commune, communes, name)
        similar_codes = _similar_codes(similar, territory)
        if refresh_first not in ("missing", "always", "never"):
            _refuse(f"--refresh is missing, always or never, not {refresh_first!r}")
        with _picture_workers_forked_now(flow):
            items = _evaluation_items(evaluation)
            _check_folders(data_dir, out)
            if refresh_first == "never":
                _check_staged(data_dir)
            _check_in_geography(data_dir, **territory.codes())
            _check_baseline(data_dir, baseline)
            if similar_codes:  # reading the geography again for no code took ~25 ms
                _check_in_geography(data_dir, epcis=list(similar_codes), communes=[], departements=[])
            folders = {"data_dir": _opt(data_dir), "publish_dir": _opt(out), "mirror": mirror, "refresh": refresh_first}
            options = {"demo": demo, "baseline": baseline, "evaluation": items, "similar": similar_codes}
            typer.echo(_completed(_run(flow, "diagnostic", territory, **folders, **options)))


@contextlib.contextmanager
def _collector_seldom(flow: bool) -> Iterator[None]:
    """Python's cyclic garbage collector run seldom while this process builds one report (its thresholds as they
    were afterwards).

    Nearly all a report allocates lives until it is written (the imports, the store's tables, the sections), and
    what it drops seldom holds a cycle: at the default threshold (a collection every 700 new objects) the collector
    walks live objects some 260 times for nothing. Every `REPORT_COLLECTION_THRESHOLD` objects instead: the process
    about 0.09 s of CPU less, its picture workers (forked with it) about 0.09 s less, the peak memory the same. A
    Prefect run (its server, its engine's threads) keeps the default."""
    if wants_flow(flow):
        yield
        return
    thresholds = gc.get_threshold()
    gc.set_threshold(REPORT_COLLECTION_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _picture_workers_forked_now(flow: bool):
    """The report's picture workers forked once its options are checked (`reports.pictures.workers_forked_now`):
    they load Skia and the fonts on the core that is idle while this process imports and reads the store. A
    Prefect run (its server, its engine's threads) forks them where it builds the report, as before."""
    if wants_flow(flow):
        return contextlib.nullcontext()
    from reports.pictures import workers_forked_now

    return workers_forked_now()


def _evaluation_items(path: Path | None):
    """The items of the user's evaluation file, or exit 2 naming the file, the line and the rule."""
    if path is None:
        return None
    from transforms.evaluation import EvaluationFileError, read_evaluation

    try:
        return list(read_evaluation(path))
    except EvaluationFileError as exc:
        _refuse(f"--evaluation {exc}")


def _check_baseline(data_dir: Path | None, baseline: int | None) -> None:
    """Exit 2 when the store's yearly sources hold no year `baseline` (a store not staged yet cannot tell: the
    report checks again after its refresh)."""
    if baseline is None:
        return
    from transforms import series as S
    from transforms.pipeline import scanned_inputs

    store = _store(data_dir)
    try:
        with store.pinned() as pinned:  # the years only: scans, not the staged tables in memory (2.3 GiB for France)
            S.check_baseline(baseline, S.yearly_years(scanned_inputs(pinned)))
    except FileNotFoundError:
        return
    except S.BaselineError as exc:
        _refuse(f"--baseline: {exc}")


@app.command()
def national(
    epci: Annotated[list[str] | None, typer.Option(help="Only this EPCI (repeatable). Default: every EPCI.")] = None,
    departement: Annotated[list[str] | None, typer.Option(help="Only this département (repeatable).")] = None,
    no_departements: Annotated[bool, typer.Option("--no-departements", help="EPCI reports only.")] = False,
    dask: Annotated[bool, typer.Option(help="Run the batches on a Dask cluster (local unless --address).")] = False,
    address: Annotated[
        str | None, typer.Option(help="Scheduler of an existing Dask cluster (tcp://host:8786).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Threads, or workers of a local Dask cluster.")] = 4,
    batch_size: Annotated[int, typer.Option(help="Territories per task.")] = 25,
    demo: Demo = False,
    mirror: Mirror = None,
    data_dir: DataDir = None,
    out: PublishDir = None,
) -> None:
    """Publish the diagnostic of every EPCI and département (the `national` flow, run locally). With --epci,
    --departement or --no-departements the run is partial: published as `national-partiel`, never replacing the
    complete `national` publication."""
    runner = _runner_spec(dask, address, workers)
    if not 1 <= batch_size <= 1000:
        _refuse(f"--batch-size is 1 to 1000 territories per task, not {batch_size}")
    if no_departements and departement:
        _refuse("--departement and --no-departements exclude each other")
    epcis, departements = _checked_codes(epci, departement)
    _check_folders(data_dir, out)
    _check_in_geography(data_dir, epcis=epcis, departements=departements)
    from flows.national import national as national_flow

    with command_session():
        state = national_flow(
            runner=runner,
            epcis=epcis or None,
            departements=[] if no_departements else (departements or None),
            batch_size=batch_size,
            data_dir=_opt(data_dir),
            publish_dir=_opt(out),
            mirror=mirror,
            demo=demo,
            return_state=True,
        )
    _exit_if_failed(state)
    typer.echo(state.result())


def _runner_spec(dask: bool, address: str | None, workers: int):
    """The task runner of `national`'s options (exit 2 with the reason, named as the options)."""
    from flows.parameters import TaskRunnerSpec

    if dask or address:
        names = {"n_workers": "--workers", "address": "--address"}
        return _validated(TaskRunnerSpec, names, kind="dask", address=address, n_workers=workers)
    return _validated(TaskRunnerSpec, {"max_workers": "--workers"}, max_workers=workers)


def _checked_codes(epcis: list[str] | None, departements: list[str] | None) -> tuple[list[str], list[str]]:
    """The SIRENs and département codes, normalised; exit 2 naming a bad one."""
    from sources.codes import check_departement, check_siren

    try:
        return [check_siren(code) for code in epcis or []], [check_departement(code) for code in departements or []]
    except ValueError as exc:
        _refuse(str(exc))


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the demo store is written.")] = Path(
        "demo-output/data"
    ),
    out: Annotated[Path, typer.Option("--out", help="Where the demo reports are published.")] = Path(
        "demo-output/publication"
    ),
) -> None:
    """The whole pipeline on the embedded synthetic sample, offline: the sources served by a local mirror are
    refreshed, then the report of every demo EPCI and département is built and published."""
    from flows.national import national as national_flow
    from flows.parameters import TaskRunnerSpec
    from flows.refresh import refresh as refresh_flow
    from sources.demo import MIRROR_ROOT
    from sources.mirror import serve

    _check_folders(data_dir, out)
    typer.echo("Données de démonstration SYNTHÉTIQUES (codes et noms réels, chiffres inventés).")
    store = _store(data_dir)
    folders: dict[str, Any] = {"data_dir": str(store.root), "publish_dir": str(out.resolve()), "demo": True}
    with command_session():
        with serve(MIRROR_ROOT) as mirror:
            typer.echo(f"demo mirror: {mirror.url} (ABS_MIRROR)")
            refreshed = refresh_flow(mirror=mirror.url, **folders, return_state=True)
        _refreshed(_flow_outcome(refreshed), store)
        state = national_flow(runner=TaskRunnerSpec(max_workers=2), refresh="never", **folders, return_state=True)
    _exit_if_failed(state)
    from reports.site import DEMO_EPCI, report_name
    from transforms.pipeline import Selection

    index = Path(state.result())
    typer.echo(f"index of the reports: {index}")
    typer.echo(f"report: {index.parent / report_name(Selection(epci=DEMO_EPCI))}")


FromVersion = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="The earlier version (a version name, `latest` or a version folder). Default: the one before --to.",
    ),
]
Thresholds = Annotated[
    list[str] | None,
    typer.Option(
        help="UNIT=NUMBER or INDICATOR=NUMBER: the smallest move listed (repeatable; default "
        "transforms/diff_thresholds.toml)."
    ),
]


@app.command()
def diff(
    epci: Epci = None,
    commune: Commune = None,
    communes: Communes = None,
    name: Name = None,
    national_tables: Annotated[
        bool, typer.Option("--national", help="The national publication (France's table).")
    ] = False,
    publication: Annotated[
        str | None,
        typer.Option(
            help="A publication by its folder name: indicateurs, national, national-partiel, territoires/epci-SIREN..."
        ),
    ] = None,
    from_version: FromVersion = None,
    to_version: Annotated[str | None, typer.Option("--to", help="The later version. Default: latest.")] = None,
    threshold: Thresholds = None,
    output: Annotated[Path, typer.Option(help="Folder of the page and exports.")] = Path("changements"),
    out: PublishDir = None,
) -> None:
    """Compare two versions of a publication (by default the two latest) and write what changed: sources,
    geography, values beyond their threshold, flags and needs profiles (a French page, CSV and Parquet)."""
    from reports import diff as D

    given = sum(bool(x) for x in (epci, commune, communes, national_tables, publication))
    if given != 1 and not (given == 0 and from_version and to_version):
        _refuse(
            "give one of --epci, --commune, --communes, --national or --publication "
            "(or two version folders with --from and --to)"
        )
    rules = _diff_rules(threshold)
    _check_folder(output, "--output")
    try:
        if given:
            pub_name, what = _diff_publication(epci, commune, communes, name, national_tables, publication)
            pub = D.existing_publication(out or _settings().publish_dir, pub_name, what)
            result = D.run_diff(pub, from_version, to_version, output, rules)
        else:  # two version folders (anything else was refused above)
            old, new = (D.read_version(Path(v)) for v in (from_version or "", to_version or ""))
            result = D.write_diff(old, new, output, rules)
    except ValueError as exc:  # D.DiffError, or a publication name that climbs out of the folder
        _refuse(str(exc))
    typer.echo(result.summary)
    for fmt, path in result.paths.items():
        typer.echo(f"{fmt:<8} {path}")


def _diff_rules(threshold: list[str] | None):
    """The thresholds of the diff with the user's overrides; exit 2 naming a bad one."""
    from transforms.diff import Thresholds
    from transforms.registry import indicators as all_indicators

    try:
        return Thresholds.load().overridden(threshold or [], {i.id for i in all_indicators()})
    except ValueError as exc:
        _refuse(str(exc))


def _diff_publication(epci, commune, communes, name, national_tables, publication) -> tuple[str, str]:
    """(publication name, how the error messages name it) of the `diff` options."""
    if national_tables:
        return "national", "la France (publication nationale)"
    if publication:
        return publication.strip("/"), f"« {publication} »"
    territory = _territory(epci, commune, communes, name)
    return territory.publication_name(), territory.label


def _run(flow: bool, name: str, *args, **options):
    """The result of the run `name` ("diagnostic" or "refresh"): a Prefect flow run when wanted (`wants_flow`),
    else the same steps in this process (`flows.local`). A failed run exits 1; a refresh's `RefreshFailed` is
    returned, for its report."""
    if not wants_flow(flow):
        from flows import local

        return _run_locally(getattr(local, name), *args, **options)
    from flows.diagnostic import diagnostic  # Prefect imported only now: it takes a second
    from flows.refresh import refresh

    flows: dict[str, Any] = {"diagnostic": diagnostic, "refresh": refresh}
    with command_session():
        state = flows[name](*args, **options, return_state=True)
    return _flow_outcome(state)


def _flow_outcome(state):
    """The result of a finished flow run; exit 1 when it failed, except for a refresh's `RefreshFailed`."""
    from sources.refresh import RefreshFailed

    outcome = state.result(raise_on_failure=False)
    if not isinstance(outcome, RefreshFailed):
        _exit_if_failed(state)
    return outcome


def _run_locally(function, *args, **kwargs):
    """`function` of `flows.local` under the command's signal handling, its log lines on stderr; an error is one
    line and exit 1, as a failed flow run is (a refresh's `RefreshFailed` is returned, for its report)."""
    from flows.local import console_logging
    from sources.refresh import RefreshFailed

    with command_session(server=False), console_logging():
        try:
            return function(*args, **kwargs)
        except RefreshFailed as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - any error of the run: one line and exit 1, as a failed flow run
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from None


def _opt(path: Path | None) -> str | None:
    return str(path.resolve()) if path else None


def _completed(outcome: dict | BaseException) -> dict:
    """The result of a run that `_exit_if_failed` (or `_run_locally`) let through: a failed run has exited."""
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _exit_if_failed(state) -> None:
    if not state.is_completed():
        error = state.result(raise_on_failure=False)
        typer.echo(f"error: {state.name}: {error if isinstance(error, BaseException) else state.message}", err=True)
        raise typer.Exit(code=1)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
