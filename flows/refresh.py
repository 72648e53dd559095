"""The `refresh` flow: every source downloaded, validated and staged, then the national indicators published.

The COG entries run first, one after the other (each is checked against the previous one); every other source
then runs in parallel threads, each writing into the run's pending area; the store switches to the new state in
one step when they are all done (`sources.refresh.commit`). A network error is retried by the task (after the
HTTP session's own quick retries); a validation error is not. The store is locked for the whole run, so two refreshes started at once
take turns instead of interleaving their writes (the one waiting says so in its log).

When every source staged (or was unchanged upstream), the national indicator tables are written into a new
version of the `indicateurs` publication and `latest` switches to it, unless
- a catalogue source was never staged in the store (a refresh of some sources into a new store): the tables would
  miss its indicators, so nothing is published;
- the store's staged tables are those the current publication was computed from (its copy of the manifest says
  which: inputs, basis and staging time of every entry): nothing new. Tables staged by an earlier run that did
  not publish (`publish=False`, the inner refresh of `report` or `national`, a failed publication) are published
  by the next refresh, even when nothing changed upstream since.
When a source fails nothing is published and the artifacts say which source failed and why.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import exception_of, open_store, publication, run_about
from flows.parameters import Territory
from sources import refresh as sources_refresh
from sources.download import preflight
from storage.publication import describe
from sources.refresh import RefreshReport, SourceResult
from storage.store import Store, StoreBusy

THREADS = 4  # parallel downloads: polite to the publishers, enough to overlap parsing and waiting
# The downloader retries each file itself within its retry budget (ABS_RETRY_BUDGET, 300 s by default): a task
# retry on top would start the budget again, so network errors are not retried by the task.
NETWORK_RETRIES = 0
NETWORK_RETRY_DELAYS: list[int] = []
RETRY_JITTER = 0.2
# A refresh holding the store may sit out the retry budget of each COG file in turn (they run one after the
# other), then those of the other files, THREADS at a time: with the default budget of 300 s and 3 + 27 files,
# (3 + 27 / 4) x 300 s = about 2 900 s, plus the downloads. A refresh waiting for it gives up after two hours.
LOCK_TIMEOUT = 7200.0
PUBLICATION = "indicateurs"
STAGED_STATE = ("inputs", "basis", "staged_at")  # what a staged table was made from, and when


class RefreshFailed(RuntimeError):
    """Some sources could not be staged: nothing was published. Carries the report for whoever prints it."""

    def __init__(self, report: RefreshReport, message: str):
        super().__init__(message)
        self.report = report

    def __reduce__(self):  # Prefect pickles the error of a failed run: keep the report with it
        return type(self), (self.report, str(self))


def retry_on_network_error(task, task_run, state) -> bool:
    """Prefect retry condition: only downloads that may work later (see `sources.refresh.is_network_error`)."""
    try:
        state.result()
    except Exception as exc:  # the task's own error, raised again by result()
        return sources_refresh.is_network_error(exc)
    return False


@task(name="refresh-source", task_run_name="refresh-{source}-{vintage}", cache_policy=NO_CACHE,
      retries=NETWORK_RETRIES, retry_delay_seconds=NETWORK_RETRY_DELAYS, retry_jitter_factor=RETRY_JITTER,
      retry_condition_fn=retry_on_network_error)
def refresh_source(source: str, vintage: str, data_dir: str, mirror: str | None, force: bool,
                   run: str | None = None, accept_drop: list[str] | None = None) -> SourceResult:
    result = sources_refresh.refresh_one(source, vintage, open_store(data_dir), mirror=mirror, force=force, run=run,
                                         accept_drop=accept_drop)
    get_run_logger().info("%s/%s: %s (%s)", source, vintage, result.status, result.change)
    return result


@task(name="export-indicators", cache_policy=NO_CACHE)
def export_national(data_dir: str, out_dir: str, demo: bool = False) -> dict[str, str]:
    """The indicator table of France, computed and written as `indicateurs-france.{parquet,csv,xlsx}`: format ->
    path."""
    from transforms.pipeline import export_indicators

    _, paths = export_indicators(open_store(data_dir), Path(out_dir), None, demo=demo)
    return {fmt: str(p) for fmt, p in paths.items()}


def _outcome(future, source: str, vintage: str) -> SourceResult:
    error = exception_of(future)
    return future.result() if error is None else sources_refresh.failed_result(source, vintage, error)


@flow(name="refresh", task_runner=ThreadPoolTaskRunner(max_workers=THREADS))
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
    log = get_run_logger()
    store = open_store(data_dir)
    root = str(store.root)
    geo_entries, others = sources_refresh.plan(sources, vintages)  # an unknown source name stops here
    sources_refresh.check_accept_drop(accept_drop)
    preflight(sources_refresh.entry_urls(geo_entries + others), mirror)  # offline: said in seconds, before the lock
    pub = publication(publish_dir, PUBLICATION)
    outcome: list[str] = []
    log.info("refreshing %d entries into %s", len(geo_entries) + len(others), root)
    with _locked(store, lock_timeout):
        run = store.begin_run()  # the entries write into the run's pending area; the store switches below
        with _discarded_if_interrupted(run):
            results = _stage_all(run, geo_entries, others, mirror, force, accept_drop)
        report = RefreshReport(sources_refresh.commit(run, results))  # one step: readers see all or nothing

        if report.failed:
            keys = ", ".join(r.key for r in report.failed)
            outcome.append(f"Nothing published: {len(report.failed)} source(s) failed ({keys}).")
            outcome.append(f"Previous publication kept: {describe(pub)}.")
            _artifacts(report, outcome)
            raise RefreshFailed(report, f"{len(report.failed)} source(s) failed: {keys}; nothing was published")

        folder = None
        missing = sources_refresh.missing_sources(store) if publish else []
        if not publish:
            outcome.append("Not published (publish=false).")
        elif missing:
            outcome.append(f"Not published: {len(missing)} source(s) never staged in this store "
                           f"({', '.join(missing)}); the national tables would miss their indicators. "
                           f"Refresh every source first. Previous publication kept: {describe(pub)}.")
        elif pub.latest is not None and staged_state(store.manifest().to_dict()) == published_state(pub):
            outcome.append(f"Nothing new: the current publication was computed from the tables staged now "
                           f"({describe(pub)}).")
        else:
            folder = _publish(pub, report, store, run_about(sources=sources, vintages=vintages, force=force), demo)
            outcome.append(f"Published {folder} (`latest` now points to it; previous versions kept).")

    _artifacts(report, outcome)
    published = []
    for territory in reports or []:  # after the lock: a diagnostic reads the store, it does not refresh it
        from flows.diagnostic import diagnostic

        published.append(diagnostic(territory, data_dir=root, publish_dir=publish_dir, refresh="never"))
    return {"report": report, "published": str(folder) if folder else None, "publication": outcome[-1],
            "reports": published}


def _stage_all(run, geo_entries, others, mirror, force, accept_drop) -> list[SourceResult]:
    """Every entry staged into the run's pending area: the COG entries in order (the EPCI composition is checked
    against the communes), then the others in parallel tasks; a COG failure leaves the others not attempted."""
    root, results = str(run.root), []
    for entry in geo_entries:
        if any(r.status == "failed" for r in results):
            results.append(sources_refresh.not_attempted(entry, sources_refresh.GEOGRAPHY_FAILED))
            continue
        future = refresh_source.submit(entry.source, entry.vintage, root, mirror, force, run.id, accept_drop)
        results.append(_outcome(future, entry.source, entry.vintage))
    if any(r.status == "failed" for r in results):
        return results + [sources_refresh.not_attempted(e, sources_refresh.GEOGRAPHY_FAILED) for e in others]
    futures = refresh_source.map([e.source for e in others], [e.vintage for e in others], unmapped(root),
                                 unmapped(mirror), unmapped(force), unmapped(run.id), unmapped(accept_drop))
    return results + [_outcome(f, e.source, e.vintage) for f, e in zip(futures, others)]


@contextlib.contextmanager
def _discarded_if_interrupted(run) -> Iterator[None]:
    """An interrupted run (SIGTERM, Ctrl-C) drops its pending area: the store keeps its state, nothing is left.
    (A killed one leaves it to the next refresh, which cleans it.)"""
    try:
        yield
    except BaseException:
        run.discard()
        raise


def staged_state(manifest: dict) -> dict[str, dict]:
    """Entry key -> what its staged table was made from and when (entries never staged are left out)."""
    return {key: {k: record["staged"].get(k) for k in STAGED_STATE}
            for key, record in manifest.get("entries", {}).items() if record.get("staged")}


def published_state(pub) -> dict[str, dict] | None:
    """The staged state the current publication was computed from (its copy of the manifest); None if unknown."""
    copy = pub.latest / "manifest.json" if pub.latest else None
    if copy is None or not copy.is_file():
        return None
    return staged_state(json.loads(copy.read_text(encoding="utf-8")))


@contextlib.contextmanager
def _locked(store: Store, timeout: float) -> Iterator[None]:
    """The store's lock; when another refresh holds it, say so and wait up to `timeout` seconds."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(store.lock(wait=0))
        except StoreBusy:
            get_run_logger().warning("waiting for the refresh holding %s (up to %.0f s)", store.root, timeout)
            stack.enter_context(store.lock(wait=timeout))
        yield


def _publish(pub, report: RefreshReport, store, about: dict, demo: bool = False) -> Path:
    """The national indicator tables, the summary and the manifest as a new version of the publication."""
    draft = pub.begin(about)
    try:
        export_national(str(store.root), str(draft.path), demo)
        (draft.path / "sources.md").write_text(sources_refresh.summary_markdown(report), encoding="utf-8")
        shutil.copy2(store.manifest_path, draft.path / "manifest.json")
        folder = pub.commit(draft)
    except BaseException as exc:
        failed = pub.fail(draft, exc)
        _artifacts(report, [f"Publication failed: {exc}", f"Set aside in {failed}.",
                            f"Previous publication kept: {describe(pub)}."])
        raise pub.explain(draft, exc)  # an OS error (disk full, permissions) names the draft
    get_run_logger().info("published %s", folder)
    return folder


def _artifacts(report: RefreshReport, outcome: list[str]) -> None:
    create_markdown_artifact(key="refresh-summary", markdown=sources_refresh.summary_markdown(report, outcome),
                             description="Per source: vintage, rows, secret cells, download, what changed")
    rows = sources_refresh.failure_rows(report)
    if rows:
        create_table_artifact(key="refresh-failures", table=rows,
                              description="Sources that could not be staged: broken rules or errors")
