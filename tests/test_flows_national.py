"""The `national` flow: batches fanned out on a local Dask cluster of two workers, or on threads; France computed
once; a failed batch publishes nothing; a partial run never replaces the complete publication."""

from __future__ import annotations

import gc
import re
import shutil

import pytest
from flow_support import artifacts, run

import reports.site
import transforms.pipeline
from flows.national import (
    _cost_lines,
    _freeze_what_lives_now,
    _without_worker_profiler,
    batch_timings,
    heaviest_first,
    national,
)
from flows.parameters import TaskRunnerSpec
from sources.national import StoreChanged, Unit, check_state, state_of, unknown_codes
from storage.files import write_json_atomic
from storage.publication import Publication
from storage.store import Store

pytestmark = pytest.mark.usefixtures("prefect_harness")

EPCIS = ["200067346", "200071678", "248500589"]  # Clisson Sèvre et Maine, Choletais, Pays de Saint-Fulgent
NAMES = ["CA Clisson Sèvre et Maine Agglo", "CA du Choletais", "CC du Pays de Saint-Fulgent - Les Essarts"]
DEPS = {"44": "Loire-Atlantique", "85": "Vendée"}


def test_three_epcis_and_two_departements_on_a_local_dask_cluster_of_two_workers(demo_store, tmp_path):
    runner = TaskRunnerSpec(kind="dask", n_workers=2, processes=False)
    state = run(
        national,
        runner=runner,
        epcis=EPCIS,
        departements=list(DEPS),
        batch_size=2,
        data_dir=str(demo_store.root),
        publish_dir=str(tmp_path),
        refresh="never",
        demo=True,
    )
    assert state.is_completed(), state.message

    folder = Publication(tmp_path, "national-partiel").latest  # some EPCI and départements: a partial run
    assert Publication(tmp_path, "national").latest is None
    assert state.result() == str(folder / "index.html")
    reports = sorted(p.name for p in folder.glob("diagnostic-*.html"))
    assert reports == sorted(
        [f"diagnostic-epci-{e}.html" for e in EPCIS]
        + ["diagnostic-departement-44.html", "diagnostic-departement-85.html"]
    )
    index = (folder / "index.html").read_text(encoding="utf-8")
    for name in NAMES + list(DEPS.values()):
        assert name in index  # the index written after every batch lists all five reports
    assert {"indicateurs-france.parquet", "indicateurs-france.csv"} <= {p.name for p in folder.iterdir()}
    assert not (folder / "indicateurs-france.xlsx").exists()  # XLSX per territory only

    found = artifacts(state)
    assert f"({(folder / 'index.html').as_uri()})" in found["national-index"]
    summary = found["national-summary"]
    assert "3 EPCI, 2 départements: 5 reports in 3 batch(es) on local Dask cluster of 2 workers (threads)" in summary
    # 5 units in batches of 2: three tasks, every one run by a worker of the Dask cluster
    ran = re.findall(r"- Dask worker (inproc://\S+): (\d) batch", summary)
    assert 1 <= len(ran) <= 2 and sum(int(n) for _, n in ran) == 3, summary
    assert "- thread " not in summary  # no batch ran outside the cluster
    # what a report took, per level; the départements' batch first: no batch holds both levels (EPCIs first, the
    # third batch would have been the last EPCI and département 44)
    assert re.search(r"- département reports: \d+\.\d s each in their batch \(\d+\.\d s of CPU\)\n", summary)
    assert re.search(r"- EPCI reports: \d+\.\d s each in their batch \(\d+\.\d s of CPU\)\n", summary)
    assert "EPCI and département reports" not in summary


def test_a_failed_batch_publishes_nothing_and_the_previous_national_publication_stays(
    demo_store, tmp_path, monkeypatch
):
    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    params = dict(
        epcis=EPCIS[:3],
        departements=[],
        batch_size=1,
        data_dir=str(data),
        publish_dir=str(tmp_path / "pub"),
        refresh="never",
    )
    first = run(national, **params)  # threads by default
    assert first.is_completed(), first.message
    pub = Publication(tmp_path / "pub", "national-partiel")
    latest = pub.latest

    build_site = reports.site.build_site

    def fails_for_two(store, selections, out_dir, **kwargs):
        if selections[0].epci in EPCIS[1:]:
            raise RuntimeError(f"no room left for {selections[0].epci}")
        return build_site(store, selections, out_dir, **kwargs)

    monkeypatch.setattr(reports.site, "build_site", fails_for_two)
    state = run(national, **params)

    assert state.is_failed()
    assert "2 of 3 batch(es) failed" in state.message
    assert pub.latest == latest and pub.versions() == [latest.name]
    summary = artifacts(state)["national-summary"]
    assert "# National diagnostics: not published" in summary and f"latest = {latest.name}" in summary
    assert f"{EPCIS[1]}: no room left for {EPCIS[1]}" in summary  # each failed batch is named
    assert f"{EPCIS[2]}: no room left for {EPCIS[2]}" in summary
    assert f"{EPCIS[0]}:" not in summary
    [failed] = [p for p in pub.dir.iterdir() if p.name.startswith("_failed-")]
    assert (failed / f"diagnostic-epci-{EPCIS[0]}.html").is_file()  # the batch that worked, set aside with it
    assert not list(pub.dir.glob(".table-*"))  # the table shared by the batches is removed


def test_a_damaged_store_fails_before_any_batch(demo_store, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    Store(data).staged_path("filosofi", "2021").write_bytes(b"not a parquet file")
    state = run(national, epcis=EPCIS[:1], data_dir=str(data), publish_dir=str(tmp_path / "pub"), refresh="never")
    assert state.is_failed() and "parquet" in state.message.lower()
    pub = Publication(tmp_path / "pub", "national-partiel")
    assert pub.latest is None and not list(pub.dir.glob("_failed-*/diagnostic-*"))  # no report was started


def test_a_complete_run_computes_france_once_and_a_partial_one_keeps_it_published(demo_store, tmp_path, monkeypatch):
    calls = []
    compute = transforms.pipeline.diagnostic_table_parts

    def counted(*args, **kwargs):
        calls.append(1)
        return compute(*args, **kwargs)

    # every computation of the table goes through its parts (`diagnostic_table` gathers them)
    monkeypatch.setattr(transforms.pipeline, "diagnostic_table_parts", counted)
    data = tmp_path / "store"  # a copy with no indicator table saved yet (`transforms.table_cache`)
    shutil.copytree(demo_store.root, data, ignore=shutil.ignore_patterns("cache"))
    params = dict(data_dir=str(data), publish_dir=str(tmp_path), refresh="never", demo=True)
    full = run(national, batch_size=2, **params)
    assert full.is_completed(), full.message
    complete = Publication(tmp_path, "national")
    folder = complete.latest
    n_reports = len(list(folder.glob("diagnostic-*.html")))
    assert n_reports > 4  # every EPCI and département of the demo geography, in at least 3 batches of 2
    assert len(calls) == 1  # France once, for every batch and the national tables

    partial = run(national, epcis=EPCIS[:1], departements=[], **params)
    assert partial.is_completed(), partial.message
    assert complete.latest == folder and complete.versions() == [folder.name]  # untouched
    partial_folder = Publication(tmp_path, "national-partiel").latest
    assert partial.result() == str(partial_folder / "index.html")
    assert [p.name for p in partial_folder.glob("diagnostic-*.html")] == [f"diagnostic-epci-{EPCIS[0]}.html"]
    assert "national-partiel" in artifacts(partial)["national-summary"]


def test_a_run_with_no_territory_is_refused_before_anything_runs(tmp_path):
    state = run(national, epcis=[], departements=[], data_dir=str(tmp_path / "d"), publish_dir=str(tmp_path / "p"))
    assert state.is_failed()
    assert "no territory to report: the EPCI and the département lists are both empty" in state.message
    assert not (tmp_path / "d").exists() and not (tmp_path / "p").exists()


def test_an_unknown_epci_stops_the_run_before_any_batch(demo_store, tmp_path):
    # 200000172 has a valid check digit but is not an EPCI of the demo geography
    state = run(
        national, epcis=["200000172"], data_dir=str(demo_store.root), publish_dir=str(tmp_path), refresh="never"
    )
    assert state.is_failed() and "EPCI not in the target geography: 200000172" in state.message
    assert Publication(tmp_path, "national").latest is None


def test_the_unknown_codes_are_named_level_by_level_and_only_they(demo_store):
    # the demo geography holds EPCI 200029940, commune 44043, département 85 and arrondissement 75101; 200000172 has
    # a valid check digit but is no EPCI there, and 99998, 99999, 13 and 13201 are not there either
    problems = unknown_codes(
        demo_store,
        epcis=["200029940", "200000172", "200000172"],
        communes=["99999", "44043", "99998"],
        departements=["13", "85"],
        arrondissements=["75101", "13201"],
    )
    assert problems == [
        "EPCI not in the target geography: 200000172",
        "commune not in the target geography: 99998, 99999",
        "département not in the target geography: 13",
        "arrondissement not in the target geography: 13201",
    ]
    assert unknown_codes(demo_store, epcis=["200029940"], communes=["44043"], departements=["85"]) == []
    assert unknown_codes(demo_store) == []


def test_the_runner_is_validated_before_anything_runs(tmp_path):
    state = run(national, runner={"kind": "threads", "address": "tcp://10.0.0.1:8786"}, data_dir=str(tmp_path / "d"))
    assert state.is_failed() and "address is the scheduler of a Dask cluster" in state.message
    assert not (tmp_path / "d").exists()


def test_a_refresh_switching_the_store_during_the_run_fails_it_loudly(demo_store, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    build_site = reports.site.build_site

    def refreshed_meanwhile(store, selections, out_dir, **kwargs):
        built = build_site(store, selections, out_dir, **kwargs)
        manifest = Store(data).manifest().to_dict()  # a refresh switches the store to a new state after the first batch
        next(iter(manifest["entries"].values()))["staged"]["staged_at"] = "2099-01-01T00:00:00+00:00"
        write_json_atomic(Store(data).manifest_path, manifest)
        return built

    monkeypatch.setattr(reports.site, "build_site", refreshed_meanwhile)
    state = run(
        national,
        runner=TaskRunnerSpec(max_workers=1),
        epcis=EPCIS[:2],
        departements=[],
        batch_size=1,
        data_dir=str(data),
        publish_dir=str(tmp_path / "pub"),
        refresh="never",
    )

    assert state.is_failed()
    assert "1 of 2 batch(es) failed" in state.message
    assert "the store was refreshed during the run: rerun" in state.message
    assert Publication(tmp_path / "pub", "national-partiel").latest is None  # nothing mixing two states published


def test_every_part_of_a_run_checks_it_reads_the_state_the_run_began_with(demo_store, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    store = Store(data)
    began = state_of(store)
    with store.pinned() as pinned:
        check_state(pinned, began)  # the same state: nothing to say
    write_json_atomic(store.manifest_path, store.manifest().to_dict() | {"refreshed": True})
    with store.pinned() as pinned, pytest.raises(StoreChanged, match="the store was refreshed during the run: rerun"):
        check_state(pinned, began)


def test_the_departements_go_first_each_level_in_its_order():
    e1, e2 = Unit("epci", "200067346", "A"), Unit("epci", "248500589", "B")
    d44, d85 = Unit("dep", "44", "Loire-Atlantique"), Unit("dep", "85", "Vendée")
    # a département's report costs about three EPCI reports: the longest tasks first, the short ones to finish
    assert heaviest_first([e1, d44, e2, d85]) == [d44, d85, e1, e2]
    assert heaviest_first([e2, e1]) == [e2, e1]  # one level: its order kept


def test_batch_timings_sum_each_level_and_set_a_batch_of_both_apart():
    finished = [
        {"levels": ["dep", "dep"], "wall_s": 20.0, "cpu_s": 19.0},
        {"levels": ["dep", "epci"], "wall_s": 14.0, "cpu_s": 13.4},
        {"levels": ["epci"], "wall_s": 4.0, "cpu_s": 3.5},
        {"levels": ["epci", "epci"], "wall_s": 8.5, "cpu_s": 7.0},
    ]
    timings = batch_timings(finished)
    assert timings == {
        "dep": {"batches": 1, "reports": 2, "wall_s": 20.0, "cpu_s": 19.0},
        "mixed": {"batches": 1, "reports": 2, "wall_s": 14.0, "cpu_s": 13.4},
        # 1 + 2 reports; 4.0 + 8.5 = 12.5 s of wall, 3.5 + 7.0 = 10.5 s of CPU
        "epci": {"batches": 2, "reports": 3, "wall_s": 12.5, "cpu_s": 10.5},
    }
    lines = _cost_lines(timings).splitlines()
    assert lines == [
        "- département reports: 10.0 s each in their batch (9.5 s of CPU)",  # 20 / 2, 19 / 2
        "- EPCI reports: 4.2 s each in their batch (3.5 s of CPU)",  # 12.5 / 3 = 4.17, 10.5 / 3
        "- EPCI and département reports: 7.0 s each in their batch (6.7 s of CPU)",  # 14 / 2, 13.4 / 2
    ]


def test_a_worker_process_runs_without_dask_profiler_and_freezes_what_lives_before_a_batch():
    distributed = pytest.importorskip("distributed")
    import dask

    assert dask.config.get("distributed.worker.profile.enabled") is True  # Dask's default, on
    frozen_here = gc.get_freeze_count()
    _freeze_what_lives_now()  # not in a worker: another batch may be building beside (threads): nothing frozen
    assert gc.get_freeze_count() == frozen_here
    with _without_worker_profiler():
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        in_worker = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
        frozen = client.submit(lambda: (_freeze_what_lives_now(), gc.get_freeze_count())[1], pure=False).result()
    assert list(in_worker.values()) == [False]  # handed to the worker process by its nanny
    assert frozen > 10_000  # the worker's imports and state at least (about 200,000 objects)
    assert dask.config.get("distributed.worker.profile.enabled") is True  # the flow's process left as it was
