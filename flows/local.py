"""The `report` and `refresh` commands run in this process, without Prefect, unless a flow run is wanted.

Starting Prefect's temporary server costs seconds to tens of seconds, more than the work of a report. So an
interactive command runs the very bodies the flows run (`flows.steps.diagnostic`, `flows.steps.refresh`) with a
`LocalRunner`: each step called here, the many sources on a thread pool, under the same locks, publications and
errors. Prefect is used only when a server is configured (`prefect_configured`: PREFECT_API_URL in the
environment or in the active Prefect profile) or the user asks for a flow run (`--flow`). Deployments run the
flows. This module never imports Prefect (importing it alone takes a second), and imports `flows.steps` (the
report's libraries, three seconds) only when a run starts.

What a local run does not have: a run in Prefect's UI and its artifacts (they go to this module's log at INFO; the
command prints the refresh summary and says why nothing was published). Its publication records
`"runner": "local"` and no flow run id.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

THREADS = 4  # parallel downloads: polite to the publishers, enough to overlap parsing and waiting
# A refresh holding the store may sit out the retry budget of each COG file in turn (they run one after the
# other), then those of the other files, THREADS at a time: with the default budget of 300 s and 3 + 27 files,
# (3 + 27 / 4) x 300 s = about 2 900 s, plus the downloads. A refresh waiting for it gives up after two hours.
LOCK_TIMEOUT = 7200.0

log = logging.getLogger(__name__)
LOGGERS = ("sources", "transforms", "reports", "storage", "flows")  # what a flow run shows on the console


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


class LocalRunner:
    """`flows.steps.Runner` in this process: a step is a call, parallel steps share a thread pool, the summaries
    meant for Prefect's UI go to the log at INFO, the publication records `"runner": "local"`."""

    log = log

    def call(self, step: Callable, *args: Any) -> Any:
        return step(*args)

    def map(self, step: Callable, items: list[tuple], *common: Any) -> list[Any]:
        from flows.steps import spec_of

        pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix=spec_of(step).name)
        futures = [pool.submit(step, *item, *common) for item in items]
        try:
            outcomes = [_outcome(future) for future in futures]
        except BaseException:  # interrupted: do not wait for threads asleep in a retry wait
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return outcomes

    def about(self, flow: str, **parameters: Any) -> dict:
        return {"flow": flow, "flow_run_id": None, "flow_run_name": None, "runner": "local", "parameters": parameters}

    def markdown(self, key: str, markdown: str, description: str | None = None) -> None:
        log.info("%s:\n%s", key, markdown)

    def link(self, key: str, link: str, link_text: str, description: str) -> None:
        log.info("%s: %s (%s)", link_text, link, description)

    def table(self, key: str, rows: list[dict], description: str) -> None:
        log.info("%s: %s", description, rows)


def _outcome(future) -> Any:
    """The step's result, or the error it ended with (as a failed task's)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - as the flow's failed task: its error becomes the step's result
        return exc


def diagnostic(territory, **options) -> str:
    """`flows.steps.diagnostic` in this process (options: those of the `diagnostic` flow); the report's path."""
    from flows import steps

    return steps.diagnostic(LocalRunner(), territory, **options)


def refresh(**options) -> dict:
    """`flows.steps.refresh` in this process (options: those of the `refresh` flow); raises `RefreshFailed` when a
    source could not be staged."""
    from flows import steps

    return steps.refresh(LocalRunner(), **options)
