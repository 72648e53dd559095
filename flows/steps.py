"""The bodies of the `diagnostic` and `refresh` runs, written once, and the steps they are made of.

A body takes a runner as its first argument: `flows.common.PrefectRunner` in a Prefect flow run (each step runs
as the task its `@step` names, the many sources on the flow's task runner, the summaries as artifacts of the run),
`flows.local.LocalRunner` for a command run without a Prefect server (each step called in this process, the many
sources on a thread pool, the summaries in the log). Both run the lines below, so the two cannot drift: same
order, locks, publication (draft, commit, or failure set aside), diff written into each version, messages.

A step is a plain function of plain arguments (paths as strings: a task's arguments cross to its worker); what it
logs goes to the run's logger in a flow run. This module never imports Prefect.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from flows.local import LOCK_TIMEOUT, THREADS
from sources import refresh as sources_refresh
from sources.memory import staging_budget
from sources.publishing import INDICATORS, failed_outcome, publish_decision, write_refresh_record
from sources.refresh import RefreshFailed, RefreshReport, SourceResult
from storage.publication import Publication, describe
from storage.settings import Settings, load_settings
from storage.store import Store, reads_one_state

if TYPE_CHECKING:  # the reports' and indicators' libraries load in the steps that use them: a refresh with
    # nothing new to publish never imports them (they take most of its start-up)
    from transforms.evaluation import EvaluationItem
    from transforms.territories import Territory

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class Runner(Protocol):
    """How a body's steps run: `flows.common.PrefectRunner` or `flows.local.LocalRunner`."""

    @property
    def log(self) -> logging.Logger | logging.LoggerAdapter: ...

    def call(self, step: Callable[..., Any], *args: Any) -> Any:
        """The step's result (its error raised)."""

    def map(self, step: Callable[..., Any], items: list[tuple], *common: Any) -> list[Any]:
        """`step(*item, *common)` for every item, at once where the runner can: per item its result or the error
        it ended with. An interruption stops waiting at once."""

    def about(self, flow: str, **parameters: Any) -> dict:
        """What publication.json records of the run."""

    def markdown(self, key: str, markdown: str, description: str | None = None) -> None: ...

    def link(self, key: str, link: str, link_text: str, description: str) -> None: ...

    def table(self, key: str, rows: list[dict], description: str) -> None: ...


@dataclass(frozen=True)
class StepSpec:
    """The task a step runs as in a flow run: its name and Prefect task options (retries...)."""

    name: str
    task_options: dict[str, Any]


STEPS: dict[Callable[..., Any], StepSpec] = {}


def step(name: str, **task_options: Any) -> Callable[[F], F]:
    """Mark a function as a step: the name (and Prefect task options) of the task it runs as in a flow run."""

    def mark(function: F) -> F:
        STEPS[function] = StepSpec(name, task_options)
        return function

    return mark


def spec_of(function: Callable[..., Any]) -> StepSpec:
    try:
        return STEPS[function]
    except KeyError:
        raise TypeError(f"{function.__qualname__} is not a step: mark it with @flows.steps.step(name)") from None


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run's logger inside a flow or task run (its lines reach the run's log), else this module's."""
    prefect_logging = sys.modules.get("prefect.logging")  # loaded only when Prefect runs: never imported here
    if prefect_logging is not None:
        with contextlib.suppress(Exception):  # outside a run: MissingContextError
            return prefect_logging.get_run_logger()
    return log


def flow_settings(data_dir: str | None, publish_dir: str | None, mirror: str | None) -> Settings:
    """The settings a run uses, read once at its entry: its parameters where given, else the environment
    (ABS_DATA_DIR, ABS_PUBLISH_DIR, ABS_MIRROR, ABS_RETRY_BUDGET). An empty mirror means none, as before."""
    given = {
        "data_dir": Path(data_dir) if data_dir else None,
        "publish_dir": Path(publish_dir) if publish_dir else None,
        "mirror": mirror,
    }
    return load_settings().model_copy(update={name: value for name, value in given.items() if value is not None})


def open_store(data_dir: str | None) -> Store:
    return Store(Path(data_dir)) if data_dir else Store()


def publication(publish_dir: str | None, name: str) -> Publication:
    return Publication(Path(publish_dir) if publish_dir else None, name)


# -- the steps ---------------------------------------------------------------------------------------------------


@step("prepare-store")
def prepare_store(
    policy: str, data_dir: str | None, mirror: str | None, budget: float | None = None
) -> tuple[str, RefreshReport | None]:
    """The store a report reads, refreshed first when the policy asks for it ("always", or "missing" and a source
    never staged; `sources.refresh.ensure_staged`), nothing published: its folder and the refresh's report (None
    when not refreshed); `RefreshFailed` when a source could not be staged. budget: seconds each file may retry."""
    store = open_store(data_dir)
    report = sources_refresh.ensure_staged(
        store, policy, mirror, lock_timeout=LOCK_TIMEOUT, threads=THREADS, budget=budget
    )
    return str(store.root), report


@step("check-territory")
def check_codes(territory: Territory, data_dir: str) -> None:
    """The codes of `territory` are in the store's target geography (a typo fails before anything is begun)."""
    problems = unknown_codes_once(open_store(data_dir), **territory.codes())
    if problems:
        raise ValueError("; ".join(problems))


_UNKNOWN: dict[tuple, list[str]] = {}  # see unknown_codes_once


@reads_one_state
def unknown_codes_once(store: Store, **codes: list[str]) -> list[str]:
    """`sources.national.unknown_codes`, its answer kept per process for the same codes and the same staged
    geography (its files' paths, sizes and times of change, as `sources.refresh.load_geography` keeps the
    geography): `abs-diag report` checks the territory before its run, the run again once its store is ready (about
    25 ms of CPU each on France). A geography staged again, or not staged, is checked again."""
    from sources.national import unknown_codes

    stamps = _geography_stamps(store)
    if stamps is None:
        return unknown_codes(store, **codes)
    key = (stamps, tuple((level, tuple(sorted(values))) for level, values in sorted(codes.items())))
    if key not in _UNKNOWN:
        if len(_UNKNOWN) >= 16:  # a long-lived process checking many territories keeps only the latest
            _UNKNOWN.clear()
        _UNKNOWN[key] = unknown_codes(store, **codes)
    return list(_UNKNOWN[key])


def _geography_stamps(store: Store) -> tuple | None:
    """(path, size, time of change) of each staged table of the target geography; None when one is not staged."""
    from sources import catalogue

    vintage = str(catalogue.default_cog())
    stamps = []
    for source in sources_refresh.GEOGRAPHY_SOURCES:
        path = store.staged_path(source, vintage)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        stamps.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)


@step("build-report")
def build_report(
    territory: Territory,
    data_dir: str,
    out_dir: str,
    demo: bool,
    baseline: int | None = None,
    evaluation: list[EvaluationItem] | None = None,
    similar: tuple[str, ...] = (),
) -> dict[str, list[str]]:
    """The report, its index and exports, as paths relative to `out_dir` (the draft is renamed on commit)."""
    from reports import site as reports_site

    out = Path(out_dir)
    site = reports_site.build_site(
        open_store(data_dir),
        [territory],
        out,
        demo=demo,
        generated_at=datetime.now(UTC),
        baseline=baseline,
        evaluation=tuple(evaluation or ()),
        similar=tuple(similar),
    )

    def relative(paths):
        return [str(Path(p).relative_to(out)) for p in paths]

    return {"reports": relative(site.reports), "index": relative([site.index]), "exports": relative(site.exports)}


@step("diff-with-previous")
def write_changes(publish_dir: str, name: str, draft_folder: str, version: str) -> dict | None:
    """The diff of the draft against the publication's `latest`, written into the draft: {"lines": French
    summary, "page": file name, "files": file names}; None when there is no previous version to compare with, or
    when it cannot be read (said in the log: the new version is published without its diff)."""
    from reports import diff as D

    try:
        result = D.diff_with_previous(publication(publish_dir, name), Path(draft_folder), version)
    except D.DiffError as exc:
        run_logger().warning("no diff with the previous version of %s: %s", name, exc)
        return None
    if result is None:
        return None
    run_logger().info("diff with the previous version: %s", result.summary.replace("\n", " | "))
    return {
        "lines": D.summary_lines(result.diff, result.old, result.new),
        "page": result.page.name,
        "files": [p.name for p in result.paths.values()],
    }


def retry_on_network_error(task, task_run, state) -> bool:
    """Prefect retry condition: only downloads that may work later (see `sources.refresh.is_network_error`)."""
    try:
        state.result()
    except Exception as exc:  # the task's own error, raised again by result()
        return sources_refresh.is_network_error(exc)
    return False


# The downloader retries each file itself within its retry budget (ABS_RETRY_BUDGET, 300 s by default): a task
# retry on top would start the budget again, so network errors are not retried by the task.
NETWORK_RETRIES = {"retries": 0, "retry_delay_seconds": [], "retry_jitter_factor": 0.2}


@step(
    "refresh-source",
    task_run_name="refresh-{source}-{vintage}",
    **NETWORK_RETRIES,
    retry_condition_fn=retry_on_network_error,
)
def refresh_source(
    source: str,
    vintage: str,
    data_dir: str,
    mirror: str | None,
    force: bool,
    run: str | None = None,
    accept_drop: list[str] | None = None,
    budget: float | None = None,
) -> SourceResult:
    store = open_store(data_dir)
    options: dict[str, Any] = dict(mirror=mirror, force=force, run=run, accept_drop=accept_drop, budget=budget)
    result = sources_refresh.refresh_one(source, vintage, store, **options)
    run_logger().info("%s/%s: %s (%s)", source, vintage, result.status, result.change)
    return result


@step("export-indicators")
def export_national(data_dir: str, out_dir: str, demo: bool = False) -> dict[str, str]:
    """The indicator table of France, computed and written as `indicateurs-france.{parquet,csv}`: format ->
    path."""
    from transforms.indicator_exports import export_indicator_files

    exported = export_indicator_files(open_store(data_dir), Path(out_dir), None, demo=demo)
    return {fmt: str(p) for fmt, p in exported.paths.items()}


@step("report-tables")
def cache_report_tables(data_dir: str) -> int:
    """What every report of a store state reads and only a whole-France computation gives, computed once per store
    state and kept in the store's cache, so that the first report after a refresh computes none of it: the series
    of every territory (`reports.series_data`) and the age sums of every EPCI, département and France
    (`reports.inputs`). The series' rows."""
    from reports.inputs import report_inputs
    from reports.series_data import cache_france_series

    with open_store(data_dir).pinned() as store:
        rows = cache_france_series(store)
        report_inputs(store)  # its age sums of the references, saved in the store's cache
        return rows


# -- what every publishing run says --------------------------------------------------------------------------------


def prepared_store(runner: Runner, policy: str, settings: Settings) -> str:
    """The `prepare-store` step, its refresh (if any) summarised for the run."""
    try:
        root, report = runner.call(
            prepare_store, policy, str(settings.data_dir), settings.mirror, settings.retry_budget
        )
    except RefreshFailed as exc:
        refresh_summary(runner, exc.report, [f"Nothing published: {exc}."])
        raise
    if report is not None:
        refresh_summary(runner, report, ["Not published: the store was refreshed for a report."])
    return root


def refresh_summary(runner: Runner, report: RefreshReport, outcome: list[str]) -> None:
    runner.markdown(
        "refresh-summary",
        sources_refresh.summary_markdown(report, outcome),
        "Per source: vintage, rows, secret cells, download, what changed",
    )
    rows = sources_refresh.failure_rows(report)
    if rows:
        runner.table("refresh-failures", rows, "Sources that could not be staged: broken rules or errors")


def not_published(runner: Runner, key: str, title: str, pub: Publication) -> Callable[[BaseException, Path], None]:
    """The `on_failure` of a publication: why `title` was not published, where its partial output went."""

    def say(error: BaseException, failed: Path) -> None:
        kept = describe(pub)
        facts = (title, error, failed, kept)
        runner.log.error("%s not published: %s; partial output set aside in %s; previous publication kept: %s", *facts)
        runner.markdown(
            key,
            f"# {title}: not published\n\n```\n{error}\n```\n\n"
            f"- The partial output is set aside in `{failed}`.\n- Previous publication kept: {kept}.\n",
        )

    return say


def changes_artifact(runner: Runner, name: str, folder: Path, changes: dict | None) -> None:
    """After the commit (the page's path is final): the summary `changements-<publication>` of the diff."""
    if changes is not None:
        from reports import diff as D

        runner.markdown(
            artifact_key("changements", name),
            D.summary_markdown(changes["lines"], folder / changes["page"], changes["files"]),
            "What changed since the previous version of this publication",
        )


def artifact_key(prefix: str, name: str) -> str:
    """`diagnostic`, `territoires/epci-200067346` -> `diagnostic-epci-200067346` (artifact keys are lowercase
    letters, digits and dashes)."""
    return f"{prefix}-" + re.sub(r"[^a-z0-9]+", "-", name.split("/", 1)[-1].lower()).strip("-")


# -- the diagnostic of one territory ------------------------------------------------------------------------------


def diagnostic(
    runner: Runner,
    territory: Territory,
    data_dir: str | None = None,
    publish_dir: str | None = None,
    mirror: str | None = None,
    refresh: str = "missing",
    demo: bool = False,
    baseline: int | None = None,
    evaluation: list[EvaluationItem] | None = None,
    similar: tuple[str, ...] = (),
) -> str:
    """Build and publish the diagnostic of `territory` (parameters: `flows.diagnostic.diagnostic`), with the diff
    against the previous version written beside it; returns the published report's path."""
    settings = flow_settings(data_dir, publish_dir, mirror)  # read once, passed down to the steps
    root = prepared_store(runner, refresh, settings)
    runner.call(check_codes, territory, root)
    pub = publication(str(settings.publish_dir), territory.publication_name())
    key = artifact_key("diagnostic", pub.name)
    about = runner.about(
        "diagnostic",
        territory=territory.model_dump(exclude_none=True),
        demo=demo,
        baseline=baseline,
        evaluation=[item.model_dump() for item in evaluation or []],
    )
    with pub.publishing(about, on_failure=not_published(runner, key, f"Diagnostic of {territory.label}", pub)) as draft:
        runner.log.info("diagnostic of %s into %s", territory.label, draft.path)
        options = (demo, baseline, evaluation, tuple(similar))
        built = runner.call(build_report, territory, root, str(draft.path), *options)
        changes = runner.call(write_changes, str(settings.publish_dir), pub.name, str(draft.path), draft.version)
    report = draft.path / built["reports"][0]  # draft.path is the version folder once committed
    changes_artifact(runner, pub.name, draft.path, changes)
    runner.link(
        key, report.as_uri(), f"Diagnostic {territory.label}", f"Published in {draft.path}; `latest` points to it"
    )
    runner.log.info("published %s", report)
    return str(report)


# -- the refresh ---------------------------------------------------------------------------------------------------


def refresh(
    runner: Runner,
    sources: list[str] | None = None,
    vintages: dict[str, str] | None = None,
    force: bool = False,
    mirror: str | None = None,
    data_dir: str | None = None,
    publish_dir: str | None = None,
    publish: bool = True,
    reports: list[Territory] | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
    demo: bool = False,
    accept_drop: list[str] | None = None,
) -> dict:
    """Refresh the sources, publish the national indicators, rebuild the diagnostics of `reports` (parameters and
    result: `flows.refresh.refresh`); raises `RefreshFailed` when a source could not be staged."""
    from sources.download import preflight  # the downloader (requests) only where something is downloaded

    settings = flow_settings(data_dir, publish_dir, mirror)  # read once, passed down to the steps
    store, mirror = open_store(str(settings.data_dir)), settings.mirror
    geo_entries, others = sources_refresh.plan(sources, vintages)  # an unknown source name stops here
    sources_refresh.check_accept_drop(accept_drop)
    preflight(sources_refresh.entry_urls(geo_entries + others), mirror)  # offline: said in seconds, before the lock
    pub = publication(str(settings.publish_dir), INDICATORS)
    runner.log.info("refreshing %d entries into %s", len(geo_entries) + len(others), store.root)
    folder = None
    with sources_refresh.locked(store, lock_timeout, runner.log):
        report = _stage_all(runner, store, (geo_entries, others), (mirror, force, accept_drop, settings.retry_budget))
        if report.failed:
            refresh_summary(runner, report, failed_outcome(report, pub))
            raise RefreshFailed.of(report)
        decision = publish_decision(store, pub, publish)
        if decision.publish:
            about = runner.about("refresh", sources=sources, vintages=vintages, force=force)
            folder = _publish(runner, pub, report, store, about, demo)
    outcome = decision.reason or f"Published {folder} (`latest` now points to it; previous versions kept)."
    refresh_summary(runner, report, [outcome])
    # after the lock: a diagnostic reads the store, it does not refresh it
    published = [
        diagnostic(runner, t, data_dir=str(store.root), publish_dir=str(settings.publish_dir), refresh="never")
        for t in reports or []
    ]
    folder_name = str(folder) if folder else None
    return {"report": report, "published": folder_name, "publication": outcome, "reports": published}


def _stage_all(runner: Runner, store: Store, entries: tuple[list, list], staging: tuple) -> RefreshReport:
    """Every entry staged into a new pending area, in the order of every refresh (the COG entries one after the
    other, then the others at once), then the store switched in one step: readers see all or nothing. An
    interrupted run (SIGTERM, Ctrl-C) drops its pending area; a killed one leaves it to the next refresh, which
    cleans it. `staging`: (mirror, force, accept_drop, retry budget) for every step."""
    run = store.begin_run()
    mirror, force, accept_drop, budget = staging
    options = (str(run.root), mirror, force, run.id, accept_drop, budget)

    def stage_many(batch) -> list[SourceResult]:
        outcomes = runner.map(refresh_source, [(e.source, e.vintage) for e in batch], *options)
        return [
            sources_refresh.failed_result(e.source, e.vintage, out) if isinstance(out, BaseException) else out
            for e, out in zip(batch, outcomes)
        ]

    with _discarded_if_interrupted(run), staging_budget().watched() as use:
        results = sources_refresh.stage_in_order(*entries, lambda entry: stage_many([entry])[0], stage_many)
    runner.log.info(
        "staging memory budget: %d entries waited %.1f s in all; at most %.0f of %.0f MiB reserved at once",
        *(use[k] for k in ("waits", "waited_s", "most_mib", "limit_mib")),
    )
    return RefreshReport(sources_refresh.commit(run, results))


@contextlib.contextmanager
def _discarded_if_interrupted(run) -> Iterator[None]:
    try:
        yield
    except BaseException:
        run.discard()
        raise


def _publish(runner: Runner, pub: Publication, report: RefreshReport, store: Store, about: dict, demo: bool) -> Path:
    """The national indicator tables, the summary and the manifest as a new version of the publication."""

    def not_published(error: BaseException, failed: Path) -> None:
        refresh_summary(
            runner,
            report,
            [f"Publication failed: {error}", f"Set aside in {failed}.", f"Previous publication kept: {describe(pub)}."],
        )

    with pub.publishing(about, on_failure=not_published) as draft:
        runner.call(export_national, str(store.root), str(draft.path), demo)
        runner.call(cache_report_tables, str(store.root))
        write_refresh_record(draft.path, report, store)
        changes = runner.call(write_changes, str(pub.root), pub.name, str(draft.path), draft.version)
    changes_artifact(runner, pub.name, draft.path, changes)
    runner.log.info("published %s", draft.path)
    return draft.path
