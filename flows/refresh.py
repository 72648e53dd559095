"""The `refresh` flow: every source downloaded, validated and staged, then the national indicators published.

The COG entries run first, one after the other (each is checked against the previous one); every other source
then runs in parallel tasks, each writing into the run's pending area (`sources.refresh.stage_in_order`); the
store switches to the new state in one step when they are all done. A network error is retried by the downloader
within its budget; a validation error is not. The store is locked for the whole run, so two refreshes started at
once take turns instead of interleaving their writes (the one waiting says so in its log). When every source
staged, the national indicator tables are published unless nothing is new (`sources.publishing`); when a source
fails nothing is published and the artifacts say which source failed and why. The steps are
`flows.steps.refresh`, which `abs-diag refresh` also runs without Prefect.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows import steps
from flows.common import LOCK_TIMEOUT, THREADS, PrefectRunner, task_of
from flows.parameters import Territory
from flows.steps import retry_on_network_error
from sources.refresh import RefreshFailed

__all__ = ["RefreshFailed", "refresh", "refresh_source", "retry_on_network_error"]  # RefreshFailed: what the
# command catches to print the report

refresh_source = task_of(steps.refresh_source)  # the task each source runs as

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
    return steps.refresh(
        PrefectRunner(), sources=sources, vintages=vintages, force=force, mirror=mirror, data_dir=data_dir,
        publish_dir=publish_dir, publish=publish, reports=reports, lock_timeout=lock_timeout, demo=demo,
        accept_drop=accept_drop,
    )  # fmt: skip
