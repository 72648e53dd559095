"""The `refresh` flow: every source downloaded, validated and staged, then the national indicators published.

The COG entries run first, one after the other (each is checked against the previous one); every other source
then runs in parallel threads, each writing into the run's pending area (`sources.refresh.stage_in_order`); the
store switches to the new state in one step when they are all done. A network error is retried by the downloader
within its budget; a validation error is not. The store is locked for the whole run, so two refreshes started at
once take turns instead of interleaving their writes (the one waiting says so in its log). When every source
staged, the national indicator tables are published unless nothing is new (`sources.publishing`); when a source
fails nothing is published and the artifacts say which source failed and why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.changes import changes_artifact, write_changes
from flows.common import (
    LOCK_TIMEOUT,
    THREADS,
    exception_of,
    flow_settings,
    open_store,
    publication,
    refresh_artifacts,
    run_about,
)
from flows.diagnostic import diagnostic
from flows.parameters import Territory
from sources import refresh as sources_refresh
from sources.download import preflight
from sources.publishing import INDICATORS, failed_outcome, publish_decision, write_refresh_record
from sources.refresh import RefreshFailed, RefreshReport, SourceResult
from storage.publication import describe
from transforms.pipeline import export_indicators

__all__ = ["RefreshFailed", "refresh"]  # RefreshFailed: what the command catches to print the report

# The downloader retries each file itself within its retry budget (ABS_RETRY_BUDGET, 300 s by default): a task
# retry on top would start the budget again, so network errors are not retried by the task.
NETWORK_RETRIES = 0
NETWORK_RETRY_DELAYS: list[float] = []
RETRY_JITTER = 0.2


def retry_on_network_error(task, task_run, state) -> bool:
    """Prefect retry condition: only downloads that may work later (see `sources.refresh.is_network_error`)."""
    try:
        state.result()
    except Exception as exc:  # the task's own error, raised again by result()
        return sources_refresh.is_network_error(exc)
    return False


@task(
    name="refresh-source",
    task_run_name="refresh-{source}-{vintage}",
    cache_policy=NO_CACHE,
    retries=NETWORK_RETRIES,
    retry_delay_seconds=NETWORK_RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
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
    result = sources_refresh.refresh_one(
        source,
        vintage,
        open_store(data_dir),
        mirror=mirror,
        force=force,
        run=run,
        accept_drop=accept_drop,
        budget=budget,
    )
    get_run_logger().info("%s/%s: %s (%s)", source, vintage, result.status, result.change)
    return result


@task(name="export-indicators", cache_policy=NO_CACHE)
def export_national(data_dir: str, out_dir: str, demo: bool = False) -> dict[str, str]:
    """The indicator table of France, computed and written as `indicateurs-france.{parquet,csv}`: format ->
    path."""
    _, paths = export_indicators(open_store(data_dir), Path(out_dir), None, demo=demo)
    return {fmt: str(p) for fmt, p in paths.items()}


# typed as the base runner: `flow` expects TaskRunner[PrefectFuture], which a thread runner's concurrent futures
# cannot match exactly (the runner's type parameter is invariant)
TASK_RUNNER: TaskRunner[Any] = ThreadPoolTaskRunner(max_workers=THREADS)


@flow(name="refresh", task_runner=TASK_RUNNER)
def refresh(
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
    """Refresh the sources (all when `sources` is None; `vintages` pins one vintage per source, e.g.
    {"filosofi": "2021"}), then publish the national indicators and rebuild the diagnostics of `reports`.

    mirror: fetch https://HOST/PATH as MIRROR/HOST/PATH ($ABS_MIRROR when None). data_dir / publish_dir:
    $ABS_DATA_DIR / $ABS_PUBLISH_DIR when None. lock_timeout: seconds to wait for another refresh to finish.
    demo: the store holds the synthetic demo data: the published tables say so.
    accept_drop: sources whose file may cover less of the geography than declared, or hold fewer rows than the
    previous staging, without being refused; the drop is recorded in the manifest.

    Returns the report, `published` (the new version's folder, or None), `publication` (one line: what happened
    to the publication) and `reports` (the diagnostics rebuilt).
    """
    settings = flow_settings(data_dir, publish_dir, mirror)  # read once, passed down to the tasks
    store, mirror = open_store(str(settings.data_dir)), settings.mirror
    geo_entries, others = sources_refresh.plan(sources, vintages)  # an unknown source name stops here
    sources_refresh.check_accept_drop(accept_drop)
    preflight(sources_refresh.entry_urls(geo_entries + others), mirror)  # offline: said in seconds, before the lock
    pub = publication(str(settings.publish_dir), INDICATORS)
    log = get_run_logger()
    log.info("refreshing %d entries into %s", len(geo_entries) + len(others), store.root)
    folder = None
    with sources_refresh.locked(store, lock_timeout, log):
        report = _stage_all(store, geo_entries, others, (mirror, force, accept_drop, settings.retry_budget))
        if report.failed:
            refresh_artifacts(report, failed_outcome(report, pub))
            raise RefreshFailed.of(report)
        decision = publish_decision(store, pub, publish)
        if decision.publish:
            folder = _publish(pub, report, store, run_about(sources=sources, vintages=vintages, force=force), demo)
    outcome = decision.reason or f"Published {folder} (`latest` now points to it; previous versions kept)."
    refresh_artifacts(report, [outcome])
    # after the lock: a diagnostic reads the store, it does not refresh it
    published = [
        diagnostic(t, data_dir=str(store.root), publish_dir=str(settings.publish_dir), refresh="never")
        for t in reports or []
    ]
    return {
        "report": report,
        "published": str(folder) if folder else None,
        "publication": outcome,
        "reports": published,
    }


def _stage_all(store, geo_entries, others, staging: tuple) -> RefreshReport:
    """Every entry staged into a new pending area, in the order of every refresh (the COG entries one task after
    the other, then the others in parallel tasks), then the store switched in one step: readers see all or
    nothing. An interrupted run (SIGTERM, Ctrl-C) drops its pending area; a killed one leaves it to the next
    refresh, which cleans it. `staging`: (mirror, force, accept_drop, retry budget) for every task."""
    run = store.begin_run()
    mirror, force, accept_drop, budget = staging
    root, options = str(run.root), (mirror, force, run.id, accept_drop, budget)

    def stage_one(entry) -> SourceResult:
        return _outcome(refresh_source.submit(entry.source, entry.vintage, root, *options), entry)

    def stage_many(entries) -> list[SourceResult]:
        futures = refresh_source.map(
            [e.source for e in entries], [e.vintage for e in entries], unmapped(root), *(unmapped(o) for o in options)
        )
        return [_outcome(future, entry) for future, entry in zip(futures, entries)]

    with _discarded_if_interrupted(run):
        results = sources_refresh.stage_in_order(geo_entries, others, stage_one, stage_many)
    return RefreshReport(sources_refresh.commit(run, results))


def _outcome(future, entry) -> SourceResult:
    error = exception_of(future)
    return future.result() if error is None else sources_refresh.failed_result(entry.source, entry.vintage, error)


@contextlib.contextmanager
def _discarded_if_interrupted(run) -> Iterator[None]:
    try:
        yield
    except BaseException:
        run.discard()
        raise


def _publish(pub, report: RefreshReport, store, about: dict, demo: bool = False) -> Path:
    """The national indicator tables, the summary and the manifest as a new version of the publication."""

    def not_published(error: BaseException, failed: Path) -> None:
        refresh_artifacts(
            report,
            [f"Publication failed: {error}", f"Set aside in {failed}.", f"Previous publication kept: {describe(pub)}."],
        )

    with pub.publishing(about, on_failure=not_published) as draft:
        export_national(str(store.root), str(draft.path), demo)
        write_refresh_record(draft.path, report, store)
        changes = write_changes(str(pub.root), pub.name, str(draft.path), draft.version)
    changes_artifact(pub.name, draft.path, changes)
    get_run_logger().info("published %s", draft.path)
    return draft.path
