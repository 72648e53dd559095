"""The `report` and `refresh` commands run in this process, without Prefect, unless a flow run is wanted.

Starting Prefect's temporary server costs seconds to tens of seconds, more than the work of a report. So an
interactive command runs the same plain functions as the flows' tasks, here, in the same order and under the same
locks, publications and errors (`diagnostic`, `refresh` below mirror `flows.diagnostic` and `flows.refresh` step
by step), and uses Prefect only when a server is configured (`prefect_configured`: PREFECT_API_URL in the
environment or in the active Prefect profile) or the user asks for a flow run (`--flow`). Deployments run the
flows. This module never imports Prefect: importing it alone takes a second.

What a local run does not have: a run in Prefect's UI and its artifacts (the command prints the refresh summary
and says why nothing was published). Its publication records `"runner": "local"` and no flow run id.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from storage.settings import Settings, load_settings

THREADS = 4  # parallel downloads: polite to the publishers, enough to overlap parsing and waiting
# A refresh holding the store may sit out the retry budget of each COG file in turn (they run one after the
# other), then those of the other files, THREADS at a time: with the default budget of 300 s and 3 + 27 files,
# (3 + 27 / 4) x 300 s = about 2 900 s, plus the downloads. A refresh waiting for it gives up after two hours.
LOCK_TIMEOUT = 7200.0

log = logging.getLogger(__name__)
LOGGERS = ("sources", "transforms", "reports", "storage", "flows")  # what a flow run shows on the console


def flow_settings(data_dir: str | None, publish_dir: str | None, mirror: str | None) -> Settings:
    """The settings a flow runs with, read once at its entry: its parameters where given, else the environment
    (ABS_DATA_DIR, ABS_PUBLISH_DIR, ABS_MIRROR, ABS_RETRY_BUDGET). An empty mirror means none, as before."""
    given = {
        "data_dir": Path(data_dir) if data_dir else None,
        "publish_dir": Path(publish_dir) if publish_dir else None,
        "mirror": mirror,
    }
    return load_settings().model_copy(update={name: value for name, value in given.items() if value is not None})


# -- when Prefect is used ------------------------------------------------------------------------------------------


def prefect_configured() -> bool:
    """A Prefect server is configured: PREFECT_API_URL in the environment, or in the active profile of
    $PREFECT_PROFILES_PATH (default $PREFECT_HOME/profiles.toml, ~/.prefect/profiles.toml), read without
    importing Prefect."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    return bool(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL"))


def wants_flow(asked: bool) -> bool:
    return asked or prefect_configured()


@contextlib.contextmanager
def console_logging() -> Iterator[None]:
    """The project's log lines on stderr, at the level a flow run shows them (PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL,
    which the command sets to WARNING unless given): a retry wait or a store lock wait is said as it happens."""
    level = os.environ.get("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s", datefmt="%H:%M:%S")
    )
    loggers = [logging.getLogger(name) for name in LOGGERS]
    previous = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(level)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, (lvl, propagate) in zip(loggers, previous):
            lg.removeHandler(handler)
            lg.setLevel(lvl)
            lg.propagate = propagate


def run_about(flow: str, **parameters) -> dict:
    """What publication.json records of a local run (a flow run records its id: `flows.common.run_about`)."""
    return {"flow": flow, "flow_run_id": None, "flow_run_name": None, "runner": "local", "parameters": parameters}


# -- the diagnostic of one territory (flows.diagnostic.diagnostic) --------------------------------------------------


def diagnostic(
    territory,
    data_dir: str | None = None,
    publish_dir: str | None = None,
    mirror: str | None = None,
    refresh: str = "missing",
    demo: bool = False,
    baseline: int | None = None,
    evaluation: list | None = None,
    similar: tuple[str, ...] = (),
) -> str:
    """Build and publish the diagnostic of `territory`, as the `diagnostic` flow does (with the diff against the
    previous version written beside it); returns the report's path."""
    from datetime import UTC, datetime

    from reports import site as reports_site
    from sources import refresh as sources_refresh
    from sources.national import unknown_codes
    from storage.publication import Publication, describe
    from storage.store import Store

    settings = flow_settings(data_dir, publish_dir, mirror)
    store = Store(settings.data_dir)
    sources_refresh.ensure_staged(
        store, refresh, settings.mirror, lock_timeout=LOCK_TIMEOUT, threads=THREADS, budget=settings.retry_budget
    )
    problems = unknown_codes(store, **territory.codes())
    if problems:
        raise ValueError("; ".join(problems))
    pub = Publication(settings.publish_dir, territory.publication_name())

    def not_published(error: BaseException, failed: Path) -> None:
        log.error(
            "diagnostic of %s not published: %s; partial output set aside in %s; previous publication kept: %s",
            territory.label,
            error,
            failed,
            describe(pub),
        )

    about = run_about(
        "diagnostic",
        territory=territory.model_dump(exclude_none=True),
        demo=demo,
        baseline=baseline,
        evaluation=[item.model_dump() for item in evaluation or []],
    )
    with pub.publishing(about, on_failure=not_published) as draft:
        log.info("diagnostic of %s into %s", territory.label, draft.path)
        site = reports_site.build_site(
            store,
            [territory],
            draft.path,
            demo=demo,
            generated_at=datetime.now(UTC),
            baseline=baseline,
            evaluation=tuple(evaluation or ()),
            similar=tuple(similar),
        )
        name = site.reports[0].name
        write_changes(pub, draft)
    report = draft.path / name  # draft.path is the version folder once committed
    log.info("published %s", report)
    return str(report)


# -- the refresh (flows.refresh.refresh) -------------------------------------------------------------------------


def refresh(
    sources: list[str] | None = None,
    force: bool = False,
    mirror: str | None = None,
    data_dir: str | None = None,
    publish_dir: str | None = None,
    publish: bool = True,
    lock_timeout: float = LOCK_TIMEOUT,
    demo: bool = False,
    accept_drop: list[str] | None = None,
) -> dict:
    """Refresh the sources and publish the national indicators, as the `refresh` flow does (same order, lock,
    publication decision and result: `report`, `published`, `publication`, `reports`); raises `RefreshFailed`
    when a source could not be staged."""
    from sources import refresh as sources_refresh
    from sources.download import preflight
    from sources.publishing import INDICATORS, failed_outcome, publish_decision
    from storage.publication import Publication
    from storage.store import Store

    settings = flow_settings(data_dir, publish_dir, mirror)
    store, mirror = Store(settings.data_dir), settings.mirror
    geo_entries, others = sources_refresh.plan(sources)
    sources_refresh.check_accept_drop(accept_drop)
    preflight(sources_refresh.entry_urls(geo_entries + others), mirror)
    pub = Publication(settings.publish_dir, INDICATORS)
    log.info("refreshing %d entries into %s", len(geo_entries) + len(others), store.root)
    folder = None
    with sources_refresh.locked(store, lock_timeout, log):
        report = _stage_all(store, geo_entries, others, (mirror, force, accept_drop, settings.retry_budget))
        if report.failed:
            for line in failed_outcome(report, pub):
                log.info("%s", line)
            raise sources_refresh.RefreshFailed.of(report)
        decision = publish_decision(store, pub, publish)
        if decision.publish:
            folder = _publish(pub, report, store, run_about("refresh", sources=sources, force=force), demo)
    outcome = decision.reason or f"Published {folder} (`latest` now points to it; previous versions kept)."
    return {"report": report, "published": str(folder) if folder else None, "publication": outcome, "reports": []}


def _stage_all(store, geo_entries, others, staging: tuple):
    """Every entry staged into a new pending area (the COG entries one after the other, then the others THREADS at
    a time, each by `sources.refresh.refresh_one` as the flow's task does), then the store switched in one step.
    An interrupted run drops its pending area without waiting for threads asleep in a retry wait."""
    from sources import refresh as sources_refresh

    run = store.begin_run()
    mirror, force, accept_drop, budget = staging

    def stage_one(entry):
        try:
            result = sources_refresh.refresh_one(
                entry.source,
                entry.vintage,
                type(store)(run.root),
                mirror=mirror,
                force=force,
                run=run.id,
                accept_drop=accept_drop,
                budget=budget,
            )
        except Exception as exc:  # noqa: BLE001 - as the flow's failed task: its error becomes the entry's result
            return sources_refresh.failed_result(entry.source, entry.vintage, exc)
        log.info("%s/%s: %s (%s)", entry.source, entry.vintage, result.status, result.change)
        return result

    pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="refresh-source")
    try:
        results = sources_refresh.stage_in_order(
            geo_entries, others, stage_one, lambda entries: list(pool.map(stage_one, entries))
        )
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        run.discard()
        raise
    pool.shutdown()
    return sources_refresh.RefreshReport(sources_refresh.commit(run, results))


def _publish(pub, report, store, about: dict, demo: bool) -> Path:
    """The national indicator tables, the summary and the manifest as a new version of the publication."""
    from sources.publishing import write_refresh_record
    from transforms.pipeline import export_indicators

    with pub.publishing(about) as draft:
        export_indicators(store, draft.path, None, demo=demo)
        write_refresh_record(draft.path, report, store)
        write_changes(pub, draft)
    log.info("published %s", draft.path)
    return draft.path


def write_changes(pub, draft) -> None:
    """What changed since the publication's previous version, written into the draft (`reports.diff`), as the flows'
    `diff-with-previous` task does; a previous version that cannot be read leaves the new one without its diff."""
    from reports import diff as D

    try:
        result = D.diff_with_previous(pub, draft.path, draft.version)
    except D.DiffError as exc:
        log.warning("no diff with the previous version of %s: %s", pub.name, exc)
        return
    if result is not None:
        log.info("diff with the previous version: %s", result.summary.replace("\n", " | "))
