"""The `national` flow: the diagnostic of every EPCI and every département, fanned out over a task runner.

The indicator table of the whole of France is computed once: written as the national indicator tables of the
draft (`indicateurs-france.parquet`, `.csv`, `.xlsx`) and as a Parquet file beside the draft that every batch
reads instead of computing France again (13 s and 2.5 GiB each on the real data). The units (EPCI, département)
are cut into batches; each batch is one task that writes the reports of its units (`reports.site.build_site`).
The batches run on the task runner the `runner` parameter describes: threads of the flow's process by default, or
a Dask cluster (an existing scheduler, or a local cluster) when the work outgrows one machine; the publication
folder must then be on storage the workers share.

The whole run writes one new version of the `national` publication (reports, per-territory exports, the national
indicator tables, an index); `latest` moves to it only when every batch succeeded. A run limited to some EPCI or
départements publishes under `national-partiel` instead, so it never replaces the complete publication.

A département's report is the group of all its communes (`reports` knows EPCIs, communes and groups of
communes): its medians are those the département row publishes, shown beside it as its reference.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.common import ensure_data, exception_of, open_store, publication, run_about
from flows.parameters import DepartementCode, RefreshPolicy, Siren, TaskRunnerSpec
from sources.national import Unit, batches, national_units
from storage.publication import describe

PUBLICATION = "national"
PARTIAL_PUBLICATION = "national-partiel"  # a run limited to some EPCI or départements


class BatchesFailed(RuntimeError):
    pass


def publication_name(epcis: list[str] | None, departements: list[str] | None) -> str:
    """`national` for every EPCI and département, `national-partiel` for a run limited to some of them."""
    return PUBLICATION if epcis is None and departements is None else PARTIAL_PUBLICATION


def check_some_units(epcis: list[str] | None, departements: list[str] | None) -> None:
    if epcis == [] and departements == []:
        raise ValueError("no territory to report: the EPCI and the département lists are both empty "
                         "(leave a list out (None) for every territory of that level)")


def selection_of(unit: Unit):
    """The report selection of a unit: the EPCI or the département itself (its own published figures)."""
    from transforms.pipeline import Selection

    if unit.level == "epci":
        return Selection(epci=unit.code)
    return Selection(departement=unit.code)


@task(name="list-territories", cache_policy=NO_CACHE)
def list_units(data_dir: str, epcis: list[str] | None, departements: list[str] | None) -> list[Unit]:
    return national_units(open_store(data_dir), epcis, departements)


@task(name="indicator-table", cache_policy=NO_CACHE)
def france_table(data_dir: str, out_dir: str, table_path: str, demo: bool) -> None:
    """The indicator table of every commune, EPCI, département and France, computed once: saved at `table_path`
    for the batches, and written as the national indicator tables of the publication."""
    from transforms.pipeline import save_france_table

    save_france_table(open_store(data_dir), out_dir, table_path, demo)


@task(name="build-reports", task_run_name="reports-{label}", cache_policy=NO_CACHE)
def build_batch(units: list[Unit], data_dir: str, out_dir: str, table_path: str, demo: bool,
                generated_at: datetime, label: str) -> dict:
    """The batch's reports (relative to `out_dir`) from the indicator table of France at `table_path` (computed
    once by the flow), and where it ran."""
    from reports.site import build_site

    out = Path(out_dir)
    site = build_site(open_store(data_dir), [selection_of(u) for u in units], out, demo=demo,
                      generated_at=generated_at, table=Path(table_path))
    where = _where()
    get_run_logger().info("%d report(s) on %s: %s", len(site.reports), where, ", ".join(u.code for u in units))
    return {"reports": [str(p.relative_to(out)) for p in site.reports], "where": where}


def _where() -> str:
    """The Dask worker running this task, or the thread (logged: where did each batch run)."""
    try:
        from distributed import get_worker

        return f"Dask worker {get_worker().address}"
    except ValueError:  # not inside a Dask worker
        return f"thread {threading.current_thread().name}"


@task(name="build-index", cache_policy=NO_CACHE)
def build_index(out_dir: str, demo: bool, generated_at: datetime) -> str:
    """The index of every report of the run (batches wrote theirs concurrently: this one lists them all)."""
    from reports.site import render_index

    index = Path(out_dir) / "index.html"
    index.write_text(render_index(Path(out_dir), demo, generated_at), encoding="utf-8")
    return str(index)


@flow(name="national-batch")
def national_batch(unit_batches: list[list[Unit]], data_dir: str, out_dir: str, table_path: str, demo: bool,
                   generated_at: datetime) -> dict:
    """Every batch on this flow's task runner (set by `national`); fails naming every batch that failed.
    Returns the reports written and, per worker or thread, how many batches it ran."""
    labels = [f"{b[0].code}-{b[-1].code}" if len(b) > 1 else b[0].code for b in unit_batches]
    futures = build_batch.map(unit_batches, unmapped(data_dir), unmapped(out_dir), unmapped(table_path),
                              unmapped(demo), unmapped(generated_at), labels)
    reports, where, failures = [], {}, []
    for label, future in zip(labels, futures):
        error = exception_of(future)
        if error is None:
            done = future.result()
            reports += done["reports"]
            where[done["where"]] = where.get(done["where"], 0) + 1
        else:
            failures.append(f"{label}: {error}")
    if failures:
        raise BatchesFailed(f"{len(failures)} of {len(labels)} batch(es) failed:\n" + "\n".join(failures))
    return {"reports": reports, "where": where}


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
    log = get_run_logger()
    check_some_units(epcis, departements)
    ensure_data(refresh, data_dir, mirror)
    root = str(open_store(data_dir).root)
    units = list_units(root, epcis, departements)
    unit_batches = batches(units, batch_size)
    pub = publication(publish_dir, publication_name(epcis, departements))
    draft = pub.begin(run_about(runner=runner.model_dump(), epcis=epcis, departements=departements,
                                batch_size=batch_size, demo=demo))
    generated_at = datetime.now(UTC)
    n_epci = sum(u.level == "epci" for u in units)
    log.info("%d EPCI and %d départements in %d batch(es) on %s", n_epci, len(units) - n_epci,
             len(unit_batches), runner.label)
    table_path = pub.scratch_path(draft, "table.parquet")  # beside the draft: not part of the publication
    try:
        france_table(root, str(draft.path), str(table_path), demo)
        done = national_batch.with_options(task_runner=runner.build())(
            unit_batches, root, str(draft.path), str(table_path), demo, generated_at)
        build_index(str(draft.path), demo, generated_at)
        folder = pub.commit(draft)
    except BaseException as raised:
        exc = pub.explain(draft, raised)  # disk full or permissions: named with the step and the path
        failed = pub.fail(draft, exc)
        create_markdown_artifact(key="national-summary", markdown=(
            f"# National diagnostics: not published\n\n```\n{exc}\n```\n\n"
            f"- The partial output is set aside in `{failed}`.\n- Previous publication kept: {describe(pub)}.\n"))
        if exc is not raised:
            raise exc from raised
        raise
    finally:
        table_path.unlink(missing_ok=True)
    index = folder / "index.html"
    create_link_artifact(key="national-index", link=index.as_uri(), link_text="Index of the national diagnostics",
                         description=f"{len(done['reports'])} reports published in {folder}")
    ran_on = "".join(f"  - {where}: {n} batch(es)\n" for where, n in sorted(done["where"].items()))
    create_markdown_artifact(key="national-summary", markdown=(
        f"# National diagnostics\n\n- {n_epci} EPCI, {len(units) - n_epci} départements: {len(done['reports'])} "
        f"reports in {len(unit_batches)} batch(es) on {runner.label}:\n{ran_on}"
        f"- Published in `{folder}` (`{pub.name}`); `latest` points to it.\n"
        f"- National indicator tables: `indicateurs-france.parquet`, `.csv`, `.xlsx`.\n"))
    log.info("published %s", folder)
    return str(index)
