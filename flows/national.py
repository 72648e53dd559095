"""The `national` flow: the diagnostic of every EPCI and every département, fanned out over a task runner.

The indicator table of the whole of France is computed once: written as the national indicator tables of the
draft (`indicateurs-france.parquet`, `.csv`) and as a Parquet file beside the draft that every batch
reads instead of computing France again (13 s and 2.5 GiB each on the real data). The units (EPCI, département)
are cut into batches; each batch is one task that writes the reports of its units (`reports.site.build_site`).
The batches run on the task runner the `runner` parameter describes: threads of the flow's process by default, or
a Dask cluster (an existing scheduler, or a local cluster) when the work outgrows one machine; the publication
folder must then be on storage the workers share.

The whole run writes one new version of the `national` publication (reports, per-territory exports, the national
indicator tables, an index); `latest` moves to it only when every batch succeeded. A run limited to some EPCI or
départements publishes under `national-partiel` instead, so it never replaces the complete publication.

Every task reads the state of the store the run began with (`sources.national.check_state`): a refresh that
switches the store during the run fails the next task with "the store was refreshed during the run: rerun",
instead of a publication that mixes the tables of two refreshes.

A département's report is the group of all its communes (`reports` knows EPCIs, communes and groups of
communes): its medians are those the département row publishes, shown beside it as its reference.
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows import steps
from flows.common import PrefectRunner, exception_of
from flows.parameters import DepartementCode, RefreshPolicy, Siren, TaskRunnerSpec
from flows.steps import open_store
from reports import site as reports_site
from sources.national import Unit, batches, check_some_units, check_state, national_units, publication_name, state_of
from transforms.pipeline import save_france_table
from transforms.territories import Territory


class BatchesFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class BatchRun:
    """What every batch of a run reads and writes: the store at its pinned state, the draft, the France table."""

    data_dir: str
    state: str
    out_dir: str
    table_path: str
    demo: bool
    generated_at: datetime


@task(name="pin-store-state", cache_policy=NO_CACHE)
def pin_state(data_dir: str) -> str:
    """The state of the store every task of the run reads (a digest of its manifest)."""
    return state_of(open_store(data_dir))


@task(name="list-territories", cache_policy=NO_CACHE)
def list_units(data_dir: str, state: str, epcis: list[str] | None, departements: list[str] | None) -> list[Unit]:
    with open_store(data_dir).pinned() as store:
        check_state(store, state)
        return national_units(store, epcis, departements)


@task(name="indicator-table", cache_policy=NO_CACHE)
def france_table(data_dir: str, state: str, out_dir: str, table_path: str, demo: bool) -> None:
    """The indicator table of every commune, EPCI, département and France, computed once: saved at `table_path`
    for the batches, and written as the national indicator tables of the publication."""
    with open_store(data_dir).pinned() as store:
        check_state(store, state)
        save_france_table(store, out_dir, table_path, demo)


@task(name="build-reports", task_run_name="reports-{label}", cache_policy=NO_CACHE)
def build_batch(units: list[Unit], run: BatchRun, label: str) -> dict:
    """The batch's reports (relative to the draft) from the indicator table of France computed once by the flow,
    where it ran, and what it took: wall seconds and the CPU seconds of its process meanwhile (a Dask worker's own
    when it runs one task at a time; shared with the other batches when batches run on threads)."""
    _freeze_what_lives_now()
    started, cpu = time.perf_counter(), time.process_time()
    out = Path(run.out_dir)
    with open_store(run.data_dir).pinned() as store:
        check_state(store, run.state)
        site = reports_site.build_site(
            store,
            [Territory.of_unit(u.level, u.code) for u in units],
            out,
            demo=run.demo,
            generated_at=run.generated_at,
            table=Path(run.table_path),
        )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    where = _where()
    get_run_logger().info(
        "%d report(s) on %s in %.1f s (%.1f s of CPU): %s",
        len(site.reports),
        where,
        wall,
        cpu,
        ", ".join(u.code for u in units),
    )
    return {
        "reports": [str(p.relative_to(out)) for p in site.reports],
        "where": where,
        "levels": [u.level for u in units],
        "wall_s": wall,
        "cpu_s": cpu,
    }


def _freeze_what_lives_now() -> None:
    """Python's cyclic garbage collector told to skip what lives before a batch (the imports, Prefect's and Dask's
    state, the caches of `reports.shared`): a report allocates enough for one or two full collections, each walking
    the 330,000 objects of a Dask worker: 0.2 to 0.35 s of an EPCI report's 4.2 s of CPU, 0.02 to 0.05 s once they
    are frozen (10 EPCIs on France: 45.7 s of CPU, 40.9 s). Garbage is collected first, so none is frozen; a frozen
    object is still freed when nothing refers to it any more (only a cycle through it outlives it).

    Only in a worker process running one task at a time: elsewhere another batch may be building a report beside
    this one (threads, an in-process cluster), whose objects must stay collectable."""
    if _sole_task_of_a_worker_process():
        gc.collect()
        gc.freeze()


def _sole_task_of_a_worker_process() -> bool:
    try:
        from distributed import get_worker  # installed with the optional Dask runner only

        worker = get_worker()
    except (ImportError, ValueError):  # Dask not installed, or not inside a Dask worker
        return False
    return multiprocessing.parent_process() is not None and worker.state.nthreads == 1


def _without_worker_profiler() -> contextlib.AbstractContextManager:
    """Dask's statistical profiler off in the workers of a local cluster started meanwhile (a nanny hands its
    configuration to its worker): it samples the task thread 100 times a second for a dashboard this runner never
    opens, about 5% of a worker's CPU (44.7 s against 42.4 s for 10 EPCI reports on France)."""
    try:
        import dask
        import distributed  # noqa: F401 - installed with the optional Dask runner only; loads its defaults first
    except ImportError:
        return contextlib.nullcontext()
    # distributed's defaults must be in dask's configuration before the block: leaving it restores the configuration
    # as it was, and a `distributed` section created by the block would be removed whole (its defaults with it)
    return dask.config.set({"distributed.worker.profile.enabled": False})


def _where() -> str:
    """The Dask worker running this task, or the thread (logged: where did each batch run)."""
    try:
        from distributed import get_worker  # installed with the optional Dask runner only

        return f"Dask worker {get_worker().address}"
    except (ImportError, ValueError):  # Dask not installed, or not inside a Dask worker
        return f"thread {threading.current_thread().name}"


@task(name="build-index", cache_policy=NO_CACHE)
def build_index(out_dir: str, demo: bool, generated_at: datetime) -> str:
    """The index of every report of the run (batches wrote theirs concurrently: this one lists them all)."""
    index = Path(out_dir) / "index.html"
    index.write_text(reports_site.render_index(Path(out_dir), demo, generated_at), encoding="utf-8")
    return str(index)


@flow(name="national-batch")
def national_batch(unit_batches: list[list[Unit]], run: BatchRun) -> dict:
    """Every batch on this flow's task runner (set by `national`); fails naming every batch that failed.
    Returns the reports written and, per worker or thread, how many batches it ran."""
    labels = [f"{b[0].code}-{b[-1].code}" if len(b) > 1 else b[0].code for b in unit_batches]
    futures = build_batch.map(unit_batches, unmapped(run), labels)
    reports: list = []
    where: dict[str, int] = {}  # where the batches ran -> how many
    failures: list[str] = []
    finished: list[dict] = []
    for label, future in zip(labels, futures):
        error = exception_of(future)
        if error is None:
            done = future.result()
            finished.append(done)
            reports += done["reports"]
            where[done["where"]] = where.get(done["where"], 0) + 1
        else:
            failures.append(f"{label}: {error}")
    if failures:
        raise BatchesFailed(f"{len(failures)} of {len(labels)} batch(es) failed:\n" + "\n".join(failures))
    timings = batch_timings(finished)
    get_run_logger().info("batch timings: %s", json.dumps(timings))  # one line, read by benchmarks/france_run.py
    return {"reports": reports, "where": where, "timings": timings}


def batch_timings(finished: list[dict]) -> dict[str, dict]:
    """Per level ("epci", "dep"; "mixed" for a batch holding both): batches, reports, and the sum of their wall and
    CPU seconds (what a report costs where it is built, the worker's own overhead per task included)."""
    out: dict[str, dict] = {}
    for done in finished:
        levels = set(done["levels"])
        key = levels.pop() if len(levels) == 1 else "mixed"
        total = out.setdefault(key, {"batches": 0, "reports": 0, "wall_s": 0.0, "cpu_s": 0.0})
        total["batches"] += 1
        total["reports"] += len(done["levels"])
        total["wall_s"] += done["wall_s"]
        total["cpu_s"] += done["cpu_s"]
    return out


@flow(name="national")
def national(
    runner: TaskRunnerSpec = TaskRunnerSpec(),
    epcis: list[Siren] | None = None,
    departements: list[DepartementCode] | None = None,
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 25,
    data_dir: str | None = None,
    publish_dir: str | None = None,
    mirror: str | None = None,
    refresh: RefreshPolicy = "missing",
    demo: bool = False,
) -> str:
    """Publish the diagnostic of every EPCI and département (or of the `epcis` / `departements` given; an empty
    list means none of that level; both empty is refused); returns the published index. A complete run publishes
    `national`, a limited one `national-partiel`.

    runner: {"kind": "threads", "max_workers": 4} (default), {"kind": "dask", "address": "tcp://host:8786"} or
    {"kind": "dask", "n_workers": 8} for a local cluster. batch_size: units per task.
    """
    check_some_units(epcis, departements)
    steps_runner, settings = PrefectRunner(), steps.flow_settings(data_dir, publish_dir, mirror)  # read once
    root = steps.prepared_store(steps_runner, refresh, settings)
    state = pin_state(root)
    units = list_units(root, state, epcis, departements)
    unit_batches = batches(heaviest_first(units), batch_size)
    pub = steps.publication(str(settings.publish_dir), publication_name(epcis, departements))
    get_run_logger().info("%s in %d batch(es) on %s", _count(units), len(unit_batches), runner.label)
    about = steps_runner.about(
        "national", runner=runner.model_dump(), epcis=epcis, departements=departements, batch_size=batch_size, demo=demo
    )
    failed = steps.not_published(steps_runner, "national-summary", "National diagnostics", pub)
    with pub.publishing(about, on_failure=failed) as draft:
        table_path = pub.scratch_path(draft, "table.parquet")  # beside the draft: not part of the publication
        run = BatchRun(root, state, str(draft.path), str(table_path), demo, datetime.now(UTC))
        try:
            france_table(root, state, run.out_dir, run.table_path, demo)
            with _without_worker_profiler():
                done = national_batch.with_options(task_runner=runner.build())(unit_batches, run)
            build_index(run.out_dir, demo, run.generated_at)
            changes = steps_runner.call(
                steps.write_changes, str(settings.publish_dir), pub.name, run.out_dir, draft.version
            )
        finally:
            table_path.unlink(missing_ok=True)
    steps.changes_artifact(steps_runner, pub.name, draft.path, changes)
    _published_artifacts(steps_runner, draft.path, pub.name, units, len(unit_batches), runner.label, done)
    return str(draft.path / "index.html")


def heaviest_first(units: list[Unit]) -> list[Unit]:
    """The départements, then the EPCIs, each in their order: a département's report (every one of its communes)
    costs about three EPCI reports (10.5 s against 3.8 s of CPU on France), and running the longest tasks first
    leaves short ones to even out the workers' ends (else the last tasks, 25 départements each, kept one worker
    busy for minutes while the others had nothing left)."""
    return [u for u in units if u.level == "dep"] + [u for u in units if u.level != "dep"]


def _count(units: list[Unit]) -> str:
    n_epci = sum(u.level == "epci" for u in units)
    return f"{n_epci} EPCI, {len(units) - n_epci} départements"


def _published_artifacts(
    steps_runner: PrefectRunner, folder: Path, name: str, units: list[Unit], n_batches: int, runner: str, done: dict
) -> None:
    index = folder / "index.html"
    steps_runner.link(
        "national-index",
        index.as_uri(),
        "Index of the national diagnostics",
        f"{len(done['reports'])} reports published in {folder}",
    )
    ran_on = "".join(f"  - {where}: {n} batch(es)\n" for where, n in sorted(done["where"].items()))
    steps_runner.markdown(
        "national-summary",
        f"# National diagnostics\n\n- {_count(units)}: {len(done['reports'])} reports in {n_batches} batch(es) "
        f"on {runner}:\n{ran_on}"
        f"{_cost_lines(done['timings'])}"
        f"- Published in `{folder}` (`{name}`); `latest` points to it.\n"
        f"- National indicator tables: `indicateurs-france.parquet`, `.csv`.\n",
    )
    get_run_logger().info("published %s", folder)


LEVEL_NAMES = {"epci": "EPCI", "dep": "département", "mixed": "EPCI and département"}


def _cost_lines(timings: dict[str, dict]) -> str:
    """What a report took in its batch, per level: the throughput a larger run can expect per worker."""
    return "".join(
        f"- {LEVEL_NAMES[level]} reports: {t['wall_s'] / t['reports']:.1f} s each in their batch "
        f"({t['cpu_s'] / t['reports']:.1f} s of CPU)\n"
        for level, t in sorted(timings.items())
    )
