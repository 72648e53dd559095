"""What the flows share: where the store and the publications are, and how a failure becomes a result."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run

from storage.publication import Publication
from storage.store import Store


def open_store(data_dir: str | None) -> Store:
    return Store(Path(data_dir)) if data_dir else Store()


def publication(publish_dir: str | None, name: str) -> Publication:
    return Publication(Path(publish_dir) if publish_dir else None, name)


def run_about(**parameters) -> dict:
    """What publication.json records of the run that wrote it."""
    return {"flow": flow_run.flow_name, "flow_run_id": flow_run.id, "flow_run_name": flow_run.name,
            "parameters": parameters}


def exception_of(future: PrefectFuture) -> BaseException | None:
    """The error a finished task ended with (None if it completed)."""
    future.wait()
    if future.state.is_completed():
        return None
    outcome = future.result(raise_on_failure=False)
    if isinstance(outcome, BaseException):
        return outcome
    return RuntimeError(future.state.message or f"task ended {future.state.name}")


@task(name="missing-sources", cache_policy=NO_CACHE)
def missing_sources(data_dir: str | None) -> list[str]:
    from sources.refresh import missing_sources as missing

    return missing(open_store(data_dir))


def ensure_data(policy: str, data_dir: str | None, mirror: str | None) -> None:
    """Refresh the store first when the policy asks for it ("always", or "missing" and a source never staged)."""
    if policy == "never":
        from sources.refresh import missing_sources as never_staged

        store = open_store(data_dir)
        missing = never_staged(store)
        if missing:  # said at once, instead of a table missing deep in the computation
            raise ValueError(f"refresh=never, but {len(missing)} source(s) were never staged in the store "
                             f"{store.root} ({', '.join(missing)}): run the refresh flow (`abs-diag refresh`) first")
        return
    missing = missing_sources(data_dir)
    if policy == "missing" and not missing:
        return
    from flows.refresh import refresh

    get_run_logger().info("refreshing the store first (%s)", f"never staged: {', '.join(missing)}" if missing else policy)
    refresh(data_dir=data_dir, mirror=mirror, publish=False)
