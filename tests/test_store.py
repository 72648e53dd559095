"""Consistency of the store: readers see one state, `raw/` matches the manifest, a dead run's leftovers are cleaned,
and a file that cannot be written fails its source with the step and the path. Real HTTP on 127.0.0.1, real
processes, real write failures (RLIMIT_FSIZE)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from store_support import (
    GatedMirror,
    change_caf,
    change_census,
    leftovers,
    mirror_copy,
    raw_mismatches,
    serve_app,
    snapshot,
    url_path,
)

from sources import catalogue
from sources.demo.files import entry_path
from sources.mirror import serve
from sources.refresh import refresh
from storage.store import Store, StoreBusy
from transforms.pipeline import Selection, export_indicators, load_inputs

REPO = Path(__file__).resolve().parents[1]
CLISSON = "200067346"
N_ENTRIES = len(catalogue.entries())


def store_copy(demo_store: Store, tmp: Path) -> Store:
    """A copy of the demo store (every source staged once) that a test may refresh."""
    shutil.copytree(demo_store.root, tmp / "data")
    return Store(tmp / "data")


def pending_tables(store: Store) -> list[str]:
    return sorted(str(p.relative_to(store.root)) for p in (store.root / "pending").glob("*/staged/*/*.parquet"))


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- readers see one state -----------------------------------------------------------------------------------------


def test_a_report_built_while_a_refresh_is_half_way_shows_only_the_previous_state(demo_store, tmp_path):
    store = store_copy(demo_store, tmp_path)
    old = {s: store.read_staged(s) for s in ("rp_population", "caf_benefits")}
    old_table, _ = export_indicators(store, tmp_path / "before", Selection(epci=CLISSON))
    root = mirror_copy(tmp_path)
    change_census(root)
    change_caf(root)
    # the census (rp_population/2022) is staged before the CAF file, whose answer waits for the test
    app = GatedMirror(root, url_path("caf_benefits", "2024"))
    with serve_app(app) as url:
        done = {}
        worker = threading.Thread(
            target=lambda: done.update(report=refresh(["rp_population", "caf_benefits"], store=store, mirror=url))
        )
        worker.start()
        assert app.reached.wait(60)
        # half-way: the new census is staged in the run's pending area, the CAF file not yet downloaded
        assert any(p.startswith("pending/") and "rp_population/2022" in p for p in pending_tables(store))
        inputs = load_inputs(store)
        assert inputs.staged["rp_population"].equals(old["rp_population"])
        assert inputs.staged["caf_benefits"].equals(old["caf_benefits"])
        during, _ = export_indicators(store, tmp_path / "during", Selection(epci=CLISSON))
        assert during.equals(old_table)
        assert raw_mismatches(store) == []
        app.release.set()
        worker.join(60)
    assert done["report"].failed == [], [f.error for f in done["report"].failed]
    new = load_inputs(store).staged
    assert not new["rp_population"].equals(old["rp_population"]) and not new["caf_benefits"].equals(old["caf_benefits"])
    after, _ = export_indicators(store, tmp_path / "after", Selection(epci=CLISSON))
    assert not after.equals(old_table)
    assert raw_mismatches(store) == [] and leftovers(store) == []


def test_a_reader_keeps_the_state_it_pinned_while_a_refresh_switches_the_store(demo_store, tmp_path, demo_mirror):
    store = store_copy(demo_store, tmp_path)
    root = mirror_copy(tmp_path)
    change_caf(root)
    with store.pinned() as state:
        before = state.read_staged("caf_benefits")
        path = state.staged_path("caf_benefits", "2024")
        with serve(root) as mirror:
            assert refresh(["caf_benefits"], store=store, mirror=mirror.url).failed == []
        # the store switched; the pinned state still reads the table it named, kept while it is pinned
        assert store.staged_path("caf_benefits", "2024") != path and path.exists()
        assert state.read_staged("caf_benefits").equals(before)
        assert state.manifest() != store.manifest()
    assert not store.read_staged("caf_benefits").equals(before)
    # the next refresh, with no reader left, deletes the table no manifest names any more
    assert refresh(["births"], store=store, mirror=demo_mirror.url).failed == []
    assert not path.exists()
    named = {store.staged_path(*key.split("/")) for key in store.manifest().entries}
    assert set((store.root / "staged").rglob("*.parquet")) == named


def test_a_store_staged_before_tables_were_named_by_content_is_read_and_moved_over(demo_store, tmp_path, demo_mirror):
    store = store_copy(demo_store, tmp_path)
    manifest = json.loads(store.manifest_path.read_text(encoding="utf-8"))
    for key, record in manifest["entries"].items():  # the layout of earlier releases: staged/<source>/<vintage>
        source, vintage = key.split("/")
        legacy = store.root / "staged" / source / f"{vintage}.parquet"
        (store.root / record["staged"].pop("file")).rename(legacy)
        record["staged"]["path"] = str(legacy)
    store.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    assert load_inputs(store).staged["births"].equals(demo_store.read_staged("births"))

    assert refresh(["births"], store=store, mirror=demo_mirror.url, force=True).failed == []
    births = store.staged_path("births", "2024")
    assert births.parent == store.root / "staged" / "births" and births.name.startswith("2024-")
    assert [p.name for p in births.parent.iterdir()] == [births.name]  # the old table, named by nobody, is gone
    caf = store.root / "staged" / "caf_benefits" / "2024.parquet"  # not refreshed: still read where it was
    assert store.staged_path("caf_benefits", "2024") == caf and caf.exists()
    assert load_inputs(store).staged["caf_benefits"].equals(demo_store.read_staged("caf_benefits"))


# -- raw/ matches the manifest -----------------------------------------------------------------------------------


def test_a_refused_file_is_kept_apart_and_never_replaces_the_raw_file_of_the_kept_table(demo_store, tmp_path):
    store = store_copy(demo_store, tmp_path)
    entry = catalogue.get("caf_benefits", "2024")
    raw = store.raw_path(entry, entry.file())
    before_raw, before_table = raw.read_bytes(), store.staged_path("caf_benefits", "2024").read_bytes()
    root = mirror_copy(tmp_path)
    served = entry_path(root, "caf_benefits", "2024")
    lines = served.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[1].split(";")
    cells[-1] = "-5"  # a negative count: fetched whole, refused by validation
    lines[1] = ";".join(cells)
    served.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode("utf-8"))

    with serve(root) as mirror:
        [failure] = refresh(["caf_benefits"], store=store, mirror=mirror.url).failed
    rejected = raw.with_name(raw.name + ".rejected")
    assert raw.read_bytes() == before_raw and store.staged_path("caf_benefits", "2024").read_bytes() == before_table
    assert raw_mismatches(store) == []
    assert rejected.read_bytes() == served.read_bytes()  # the refused bytes, apart
    assert f"the downloaded file is kept for inspection: {rejected}" in failure.error
    assert store.previous("caf_benefits/2024").last_failure.error == failure.error
    assert leftovers(store) == []


# -- leftovers of dead runs ----------------------------------------------------------------------------------------

REFRESH_SCRIPT = """
import json, resource, sys
from pathlib import Path
from sources.refresh import refresh
from storage.store import Store
root, mirror, limit, force = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "force"
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
report = refresh(store=Store(Path(root)), mirror=mirror, force=force)
print(json.dumps([{"key": r.key, "status": r.status, "kind": r.error_kind, "error": r.error} for r in report.results]))
"""


def refresh_process(store: Store, url: str, *, file_size_limit: int = 0, force: bool = False) -> subprocess.Popen:
    """A refresh in a process of its own (a file larger than `file_size_limit` bytes cannot be written there)."""
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", REFRESH_SCRIPT, str(store.root), url, str(file_size_limit), "force" if force else ""],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def results_of(process: subprocess.Popen) -> dict[str, dict]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return {r["key"]: r for r in json.loads(out.strip().splitlines()[-1])}


def test_what_a_killed_refresh_left_is_cleaned_by_the_next_one_never_while_it_runs(demo_store, tmp_path, demo_mirror):
    store = store_copy(demo_store, tmp_path)
    before = snapshot(store)
    root = mirror_copy(tmp_path)
    change_census(root)
    app = GatedMirror(root, url_path("caf_benefits", "2024"), half=True)  # half of the body, then nothing
    with serve_app(app) as url:
        process = refresh_process(store, url)
        try:
            assert app.reached.wait(120), process.stderr.read() if process.poll() is not None else "not reached"
            wait_for(lambda: any(p.endswith(".part") for p in leftovers(store)))
            live = leftovers(store)
            assert any("rp_population/2022" in p for p in pending_tables(store))  # the new census, pending
            # while it runs, neither a reader nor a refresh waiting for the store touches its pending area
            assert load_inputs(store).staged["rp_population"].equals(demo_store.read_staged("rp_population"))
            with pytest.raises(StoreBusy):
                refresh(["births"], store=Store(store.root), mirror=demo_mirror.url)
            assert leftovers(store) == live
        finally:
            process.kill()  # SIGKILL: no cleanup of its own
            process.wait(30)
    assert snapshot(store) == before  # nothing of the dead run reached the store's state
    assert any(p.startswith("pending/") for p in live) and any(p.endswith(".part") for p in live)
    # temporary files as interrupted writes leave them beside their targets
    planted = [
        store.root / "raw" / "births" / "2024" / ".DS_ETAT_CIVIL_NAIS_COMMUNES_CSV_FR.x1.part",
        store.root / "staged" / "births" / ".2024.parquet.x2.tmp",
        store.root / ".manifest.json.x3.tmp",
    ]
    for path in planted:
        path.write_bytes(b"half")

    report = refresh(["births"], store=store, mirror=demo_mirror.url)
    assert report.failed == [] and leftovers(store) == []
    assert {k: v for k, v in snapshot(store).items() if k != "manifest.json"} == {
        k: v for k, v in before.items() if k != "manifest.json"
    }
    assert raw_mismatches(store) == []


def test_a_switch_interrupted_after_its_journal_is_finished_by_the_next_refresh(demo_store, tmp_path, demo_mirror):
    from sources.refresh import refresh_one

    store = store_copy(demo_store, tmp_path)
    root = mirror_copy(tmp_path)
    change_caf(root)
    with store.lock():
        run = store.begin_run()
        with serve(root) as mirror:
            assert refresh_one("caf_benefits", "2024", store, mirror=mirror.url, run=run.id).status == "staged"
        run.write_journal()  # the commit point: a kill here leaves the switch to the next run
    assert not store.read_staged("caf_benefits").equals(load_inputs(run).staged["caf_benefits"])  # not yet
    new_table = load_inputs(run).staged["caf_benefits"]

    assert refresh(["births"], store=store, mirror=demo_mirror.url).failed == []
    assert store.read_staged("caf_benefits").equals(new_table)
    entry = catalogue.get("caf_benefits", "2024")
    assert store.raw_path(entry, entry.file()).read_bytes() == entry_path(root, "caf_benefits", "2024").read_bytes()
    assert raw_mismatches(store) == [] and leftovers(store) == []


# -- a file that cannot be written ---------------------------------------------------------------------------------


def test_a_file_too_large_to_write_fails_its_source_with_the_step_and_the_path_and_the_others_go_on(
    demo_store, tmp_path
):
    store = store_copy(demo_store, tmp_path)
    births = catalogue.get("births", "2024")
    raw = store.raw_path(births, births.file())
    kept = {
        "raw": raw.read_bytes(),
        "table": store.staged_path("births", "2024").read_bytes(),
        "record": store.previous("births/2024"),
    }
    root = mirror_copy(tmp_path)
    # 200 000 random bytes in the births archive: above the 120 000-byte limit of the refreshing process, while
    # every other file of the store (the manifest, about 56 000 bytes, is the largest) stays below it
    (entry_path(root, "births", "2024") / "padding.bin").write_bytes(os.urandom(200_000))
    with serve(root) as mirror:
        results = results_of(refresh_process(store, mirror.url, file_size_limit=120_000, force=True))

    failure = results.pop("births/2024")
    assert failure["status"] == "failed" and failure["kind"] == "write"
    pending_raw = f"{store.root}/pending/"
    assert failure["error"].startswith(f"births/2024: download of {births.file().url}: cannot write {pending_raw}")
    assert (
        failure["error"]
        .split(": cannot write ")[1]
        .split(": [Errno")[0]
        .endswith("/raw/births/2024/DS_ETAT_CIVIL_NAIS_COMMUNES_CSV_FR")
    )
    assert "[Errno 27] File too large; the previous staged table and raw file are kept" in failure["error"]
    assert {r["status"] for r in results.values()} == {"staged"} and len(results) == N_ENTRIES - 1
    # births keeps its previous state; the failure is recorded
    record = store.previous("births/2024")
    assert record.last_failure.error == failure["error"]
    record.last_failure = None
    assert record.to_dict() == kept["record"].to_dict()
    assert raw.read_bytes() == kept["raw"] and store.staged_path("births", "2024").read_bytes() == kept["table"]
    assert raw_mismatches(store) == [] and leftovers(store) == []


def test_a_switch_that_cannot_be_written_fails_every_source_and_keeps_the_previous_state(
    demo_store, tmp_path, demo_mirror
):
    store = store_copy(demo_store, tmp_path)
    before = snapshot(store)
    # 48 000 bytes: every download and staged table fits (the largest, about 40 000), the manifest does not
    results = results_of(refresh_process(store, demo_mirror.url, file_size_limit=48_000, force=True))

    assert {r["status"] for r in results.values()} == {"failed"} and len(results) == N_ENTRIES
    error = results["births/2024"]["error"]
    assert results["births/2024"]["kind"] == "write"
    assert error.startswith(f"switching the store to the new state: cannot write {store.root}/pending/")
    assert "/commit.json: [Errno 27] File too large" in error
    assert snapshot(store) == before  # the store keeps its previous state, whole
    assert leftovers(store) != []  # the dead switch's pending area, until the next run

    report = refresh(store=store, mirror=demo_mirror.url)
    assert report.failed == [] and leftovers(store) == [] and raw_mismatches(store) == []
    assert pl.read_parquet(store.staged_path("births", "2024")).equals(demo_store.read_staged("births"))


def test_the_staged_records_and_vintages_are_read_from_the_manifest_without_the_other_records(tmp_path):
    entries = {
        "rp_population/2022": {"source": "rp_population", "vintage": "2022", "staged": {"rows": 3, "notes": ["a"]}},
        "rp_population/2021": {"source": "rp_population", "vintage": "2021", "staged": {"rows": 2}},
        "filosofi/2021": {"source": "filosofi", "vintage": "2021", "files": {"main": {"size": 10}}},  # not staged
        "births/2023": {"source": "births", "vintage": "2023", "staged": {}},  # an empty record: no table
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"entries": entries}), encoding="utf-8")
    with Store(tmp_path).pinned() as state:
        records = state.staged_records()
        assert records == {"rp_population/2022": {"rows": 3, "notes": ["a"]}, "rp_population/2021": {"rows": 2}}
        records["rp_population/2022"]["notes"].append("changed")  # a copy: the state's manifest keeps its notes
        assert state.staged_records()["rp_population/2022"]["notes"] == ["a"]
        assert state.staged_vintages("rp_population") == ["2021", "2022"]
        assert state.staged_vintages("filosofi") == []
        assert state.latest_vintage("rp_population") == "2022"
