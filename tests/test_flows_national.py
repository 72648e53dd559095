"""The `national` flow: batches fanned out on a local Dask cluster of two workers, or on threads; a failed batch
publishes nothing."""

from __future__ import annotations

import re
import shutil

import pytest
from flow_support import artifacts, run

from flows.national import national
from flows.parameters import TaskRunnerSpec
from sources.publication import Publication
from sources.store import Store

pytestmark = pytest.mark.usefixtures("prefect_harness")

EPCIS = ["200067346", "200071678", "248500589"]  # Clisson Sèvre et Maine, Choletais, Pays de Saint-Fulgent
NAMES = ["CA Clisson Sèvre et Maine Agglo", "CA du Choletais", "CC du Pays de Saint-Fulgent - Les Essarts"]
DEPS = {"44": "Loire-Atlantique", "85": "Vendée"}


def test_three_epcis_and_two_departements_on_a_local_dask_cluster_of_two_workers(demo_store, tmp_path):
    runner = TaskRunnerSpec(kind="dask", n_workers=2, processes=False)
    state = run(national, runner=runner, epcis=EPCIS, departements=list(DEPS), batch_size=2,
                data_dir=str(demo_store.root), publish_dir=str(tmp_path), refresh="never", demo=True)
    assert state.is_completed(), state.message

    folder = Publication(tmp_path, "national").latest
    assert state.result() == str(folder / "index.html")
    reports = sorted(p.name for p in folder.glob("diagnostic-*.html"))
    assert reports == sorted([f"diagnostic-epci-{e}.html" for e in EPCIS]
                             + ["diagnostic-departement-44.html", "diagnostic-departement-85.html"])
    index = (folder / "index.html").read_text(encoding="utf-8")
    for name in NAMES + list(DEPS.values()):
        assert name in index  # the index written after every batch lists all five reports
    assert {"indicateurs-france.parquet", "indicateurs-france.csv", "indicateurs-france.xlsx"} <= \
        {p.name for p in folder.iterdir()}

    found = artifacts(state)
    assert f"({(folder / 'index.html').as_uri()})" in found["national-index"]
    summary = found["national-summary"]
    assert "3 EPCI, 2 départements: 5 reports in 3 batch(es) on local Dask cluster of 2 workers (threads)" in summary
    # 5 units in batches of 2: three tasks, every one run by a worker of the Dask cluster
    ran = re.findall(r"- Dask worker (inproc://\S+): (\d) batch", summary)
    assert 1 <= len(ran) <= 2 and sum(int(n) for _, n in ran) == 3, summary
    assert "- thread " not in summary  # no batch ran outside the cluster


def test_a_failed_batch_publishes_nothing_and_the_previous_national_publication_stays(demo_store, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    params = dict(epcis=EPCIS[:2], departements=[], batch_size=1, data_dir=str(data),
                  publish_dir=str(tmp_path / "pub"), refresh="never")
    first = run(national, **params)  # threads by default
    assert first.is_completed(), first.message
    pub = Publication(tmp_path / "pub", "national")
    latest = pub.latest

    Store(data).staged_path("filosofi", "2021").write_bytes(b"not a parquet file")  # a damaged store
    state = run(national, **params)

    assert state.is_failed()
    assert "2 of 2 batch(es) failed" in state.message
    assert pub.latest == latest and pub.versions() == [latest.name]
    summary = artifacts(state)["national-summary"]
    assert "# National diagnostics: not published" in summary and f"latest = {latest.name}" in summary
    assert EPCIS[0] in summary and EPCIS[1] in summary  # each failed batch is named


def test_an_unknown_epci_stops_the_run_before_any_batch(demo_store, tmp_path):
    # 200000172 has a valid check digit but is not an EPCI of the demo geography
    state = run(national, epcis=["200000172"], data_dir=str(demo_store.root), publish_dir=str(tmp_path),
                refresh="never")
    assert state.is_failed() and "EPCI not in the target geography: 200000172" in state.message
    assert Publication(tmp_path, "national").latest is None


def test_the_runner_is_validated_before_anything_runs(tmp_path):
    state = run(national, runner={"kind": "threads", "address": "tcp://10.0.0.1:8786"}, data_dir=str(tmp_path / "d"))
    assert state.is_failed() and "address is the scheduler of a Dask cluster" in state.message
    assert not (tmp_path / "d").exists()
