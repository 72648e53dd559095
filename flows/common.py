"""What the Prefect flows share: the runner that runs the bodies of `flows.steps` as a flow run (each step as its
task, the summaries as artifacts), and how a failed task becomes a result."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prefect import get_run_logger, task, unmapped
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.tasks import Task

from flows.steps import LOCK_TIMEOUT, THREADS, flow_settings, open_store, publication, spec_of  # noqa: F401 (re-exported)

_TASKS: dict[Callable, Task] = {}


def task_of(step: Callable) -> Task:
    """The Prefect task a step runs as (`flows.steps.step` names it), made once per step."""
    if step not in _TASKS:
        spec = spec_of(step)
        _TASKS[step] = task(name=spec.name, cache_policy=NO_CACHE, **spec.task_options)(step)
    return _TASKS[step]


class PrefectRunner:
    """`flows.steps.Runner` inside a flow run: steps are tasks, parallel steps run on the flow's task runner, the
    summaries are artifacts of the run, and the publication records the run's id."""

    @property
    def log(self) -> logging.Logger | logging.LoggerAdapter:
        return get_run_logger()

    def call(self, step: Callable, *args: Any) -> Any:
        return task_of(step)(*args)

    def map(self, step: Callable, items: list[tuple], *common: Any) -> list[Any]:
        if not items:
            return []
        futures = task_of(step).map(*zip(*items), *(unmapped(value) for value in common))
        outcomes = []
        for future in futures:
            error = exception_of(future)
            outcomes.append(future.result() if error is None else error)
        return outcomes

    def about(self, flow: str, **parameters: Any) -> dict:
        return {
            "flow": flow,
            "flow_run_id": flow_run.id,
            "flow_run_name": flow_run.name,
            "runner": "prefect",
            "parameters": parameters,
        }

    def markdown(self, key: str, markdown: str, description: str | None = None) -> None:
        create_markdown_artifact(key=key, markdown=markdown, description=description)

    def link(self, key: str, link: str, link_text: str, description: str) -> None:
        create_link_artifact(key=key, link=link, link_text=link_text, description=description)

    def table(self, key: str, rows: list[dict], description: str) -> None:
        create_table_artifact(key=key, table=rows, description=description)


def exception_of(future: PrefectFuture) -> BaseException | None:
    """The error a finished task ended with (None if it completed)."""
    future.wait()
    if future.state.is_completed():
        return None
    outcome = future.result(raise_on_failure=False)
    if isinstance(outcome, BaseException):
        return outcome
    return RuntimeError(future.state.message or f"task ended {future.state.name}")
