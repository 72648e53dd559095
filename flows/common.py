"""What the flows share: where the store and the publications are, how a failure becomes a result, the refresh a
report runs first, and the artifacts of a refresh."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run

from flows.local import LOCK_TIMEOUT, THREADS, flow_settings  # noqa: F401 (the flows import them from here)
from sources import refresh as sources_refresh
from sources.refresh import RefreshFailed, RefreshReport
from storage.publication import Publication
from storage.store import Store


def open_store(data_dir: str | None) -> Store:
    return Store(Path(data_dir)) if data_dir else Store()


def publication(publish_dir: str | None, name: str) -> Publication:
    return Publication(Path(publish_dir) if publish_dir else None, name)


def run_about(**parameters) -> dict:
    """What publication.json records of the run that wrote it."""
    return {
        "flow": flow_run.flow_name,
        "flow_run_id": flow_run.id,
        "flow_run_name": flow_run.name,
        "parameters": parameters,
    }


def exception_of(future: PrefectFuture) -> BaseException | None:
    """The error a finished task ended with (None if it completed)."""
    future.wait()
    if future.state.is_completed():
        return None
    outcome = future.result(raise_on_failure=False)
    if isinstance(outcome, BaseException):
        return outcome
    return RuntimeError(future.state.message or f"task ended {future.state.name}")


@task(name="prepare-store", cache_policy=NO_CACHE)
def prepare_store(policy: str, data_dir: str | None, mirror: str | None, budget: float | None = None) -> str:
    """The store a report reads, refreshed first when the policy asks for it ("always", or "missing" and a source
    never staged; `sources.refresh.ensure_staged`), nothing published. Returns the store's folder. budget: seconds
    each file may spend retrying."""
    store = open_store(data_dir)
    try:
        report = sources_refresh.ensure_staged(
            store, policy, mirror, lock_timeout=LOCK_TIMEOUT, threads=THREADS, budget=budget
        )
    except RefreshFailed as exc:
        refresh_artifacts(exc.report, [f"Nothing published: {exc}."])
        raise
    if report is not None:
        refresh_artifacts(report, ["Not published: the store was refreshed for a report."])
    return str(store.root)


def refresh_artifacts(report: RefreshReport, outcome: list[str]) -> None:
    create_markdown_artifact(
        key="refresh-summary",
        markdown=sources_refresh.summary_markdown(report, outcome),
        description="Per source: vintage, rows, secret cells, download, what changed",
    )
    rows = sources_refresh.failure_rows(report)
    if rows:
        create_table_artifact(
            key="refresh-failures", table=rows, description="Sources that could not be staged: broken rules or errors"
        )
