"""The `refresh` flow against the demo mirror (real HTTP on 127.0.0.1), under the session's Prefect test server."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time

import polars as pl
import pytest
from flow_support import artifacts, mirror_copy, run
from store_support import GatedMirror, change_caf, change_census, leftovers, raw_mismatches, serve_app, url_path
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import flows.refresh as refresh_module
from flows.refresh import refresh
from flows.steps import step
from sources import catalogue
from sources.demo.files import entry_path
from sources.mirror import MirrorApp, serve
from sources.refresh import plan
from storage.publication import Publication
from storage.store import Store

pytestmark = pytest.mark.usefixtures("prefect_harness")

N_ENTRIES = len(catalogue.entries())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, demo_mirror):
    """A first refresh into an empty store, then a second one with nothing changed upstream."""
    tmp = tmp_path_factory.mktemp("refresh-flow")
    params = dict(mirror=demo_mirror.url, data_dir=str(tmp / "data"), publish_dir=str(tmp / "pub"))
    first = run(refresh, **params, reports=[{"epci": "200067346"}])
    first_artifacts = artifacts(first)
    published_first = Publication(tmp / "pub", "indicateurs").latest
    n_requests = len(demo_mirror.log)
    second = run(refresh, **params)
    return dict(
        tmp=tmp,
        first=first,
        second=second,
        first_artifacts=first_artifacts,
        second_artifacts=artifacts(second),
        published_first=published_first,
        second_log=demo_mirror.log[n_requests:],
    )


def test_a_first_refresh_stages_every_source_and_publishes_the_national_indicators(two_runs):
    assert two_runs["first"].is_completed(), two_runs["first"].message
    report = two_runs["first"].result()["report"]
    assert [r.status for r in report.results] == ["staged"] * N_ENTRIES
    folder = two_runs["published_first"]
    assert folder is not None and folder.name != "latest"
    assert not (folder / "indicateurs-france.xlsx").exists()  # France in Parquet and CSV; XLSX per territory
    for name in (
        "indicateurs-france.parquet",
        "indicateurs-france.csv",
        "sources.md",
        "manifest.json",
        "publication.json",
    ):
        assert (folder / name).is_file(), name
    meta = json.loads((folder / "publication.json").read_text(encoding="utf-8"))
    assert meta["flow"] == "refresh" and meta["previous"] is None
    assert meta["flow_run_id"] == str(two_runs["first"].state_details.flow_run_id)


def test_the_publication_keeps_the_series_of_france_for_the_reports(two_runs):
    from transforms import table_cache

    with Store(two_runs["tmp"] / "data").pinned() as store:
        series = table_cache.cache_path(store, "series")
        assert series.is_file()  # computed by the refresh: the first report reads it, never computes it
        assert series.with_name(series.stem.replace("series-", "series-years-") + ".json").is_file()
        # every level `transforms.compute` gives (the series has no arrondissement rows)
        assert pl.scan_parquet(series).select(pl.col("level").unique().sort()).collect()["level"].to_list() == [
            "COM",
            "DEP",
            "EPCI",
            "FRANCE",
        ]


def test_the_diagnostics_asked_for_are_rebuilt_after_the_refresh(two_runs):
    report = two_runs["tmp"] / "pub" / "territoires" / "epci-200067346" / "latest" / "diagnostic-epci-200067346.html"
    assert two_runs["first"].result()["reports"] == [str(report.resolve())]
    assert "CA Clisson Sèvre et Maine Agglo" in report.read_text(encoding="utf-8")


def test_the_summary_artifact_has_one_row_per_source_with_its_figures(two_runs):
    markdown = two_runs["first_artifacts"]["refresh-summary"]
    report = two_runs["first"].result()["report"]
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| source")]
    assert len(rows) == N_ENTRIES
    births = next(r for r in report.results if r.source == "births")
    n = f"{births.rows:,}".replace(",", " ")
    assert f"| births | 2024 | {n} | {births.secret_cells} | downloaded | staged | first staging |" in markdown
    assert f"{N_ENTRIES} sources: {N_ENTRIES} staged, 0 unchanged upstream, 0 failed." in markdown
    assert "Published " in markdown and "refresh-failures" not in two_runs["first_artifacts"]


def test_a_second_refresh_downloads_nothing_and_keeps_the_publication(two_runs):
    assert two_runs["second"].is_completed(), two_runs["second"].message
    report = two_runs["second"].result()["report"]
    assert {r.status for r in report.results} == {"unchanged"}
    assert {e["status"] for e in two_runs["second_log"]} == {304}
    markdown = two_runs["second_artifacts"]["refresh-summary"]
    assert markdown.count("| unchanged | unchanged | no change |") == N_ENTRIES
    assert "Nothing new: the current publication was computed from the tables staged now" in markdown
    pub = Publication(two_runs["tmp"] / "pub", "indicateurs")
    assert pub.versions() == [two_runs["published_first"].name]
    outcome = two_runs["second"].result()
    assert outcome["published"] is None and outcome["publication"].startswith("Nothing new: ")


def test_tables_staged_without_publishing_are_published_by_the_next_refresh(tmp_path, demo_mirror, monkeypatch):
    params = dict(mirror=demo_mirror.url, data_dir=str(tmp_path / "data"), publish_dir=str(tmp_path / "pub"))
    pub = Publication(tmp_path / "pub", "indicateurs")
    assert run(refresh, **params, publish=False).is_completed()  # e.g. the inner refresh of `report`
    assert pub.latest is None

    state = run(refresh, **params)  # nothing changed upstream, but nothing was ever published from these tables
    assert state.is_completed(), state.message
    assert {r.status for r in state.result()["report"].results} == {"unchanged"}
    first = pub.latest
    assert state.result()["published"] == str(first)
    staged = {k: r.staged.staged_at for k, r in Store(tmp_path / "data").manifest().entries.items()}
    copy = json.loads((first / "manifest.json").read_text(encoding="utf-8"))["entries"]
    assert {k: r["staged"]["staged_at"] for k, r in copy.items()} == staged

    # births staged again (force) but its publication fails: the store is ahead of the publication
    @step("export-indicators")
    def broken_export(data_dir, out_dir, demo=False):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr("flows.steps.export_national", broken_export)  # the step the body runs
        failed = run(refresh, **params, sources=["births"], force=True)
    assert failed.is_failed() and "disk full" in failed.message
    assert pub.latest == first and len([p for p in pub.dir.iterdir() if p.name.startswith("_failed-")]) == 1

    state = run(refresh, **params, sources=["births"])  # unchanged upstream: publishes what the failure did not
    assert state.is_completed(), state.message
    assert {r.status for r in state.result()["report"].results} == {"unchanged"}
    assert pub.versions() == [first.name, pub.latest.name] and pub.latest != first
    births = json.loads((pub.latest / "manifest.json").read_text(encoding="utf-8"))["entries"]["births/2024"]
    assert births["staged"]["staged_at"] == Store(tmp_path / "data").previous("births/2024").staged.staged_at
    assert births["staged"]["staged_at"] != copy["births/2024"]["staged"]["staged_at"]


def test_a_refresh_of_some_sources_into_a_new_store_publishes_nothing(tmp_path, demo_mirror):
    state = run(
        refresh,
        sources=["births"],
        mirror=demo_mirror.url,
        data_dir=str(tmp_path / "data"),
        publish_dir=str(tmp_path / "pub"),
    )
    assert state.is_completed(), state.message
    # the geography comes along with births: every other source is missing (catalogue sources - 4)
    missing = sorted(set(catalogue.sources()) - {"cog_communes", "cog_events", "epci", "births"})
    assert len(missing) == len(catalogue.sources()) - 4
    line = (
        f"Not published: {len(missing)} source(s) never staged in this store "
        f"({', '.join(s for s in catalogue.sources() if s in missing)}); the national tables would miss "
        f"their indicators."
    )
    assert state.result()["published"] is None and state.result()["publication"].startswith(line)
    assert line in artifacts(state)["refresh-summary"]
    assert Publication(tmp_path / "pub", "indicateurs").latest is None
    assert not (tmp_path / "pub" / "indicateurs").exists()  # not even a draft


def test_a_changed_upstream_file_is_staged_again_and_the_summary_says_what_changed(tmp_path, demo_mirror):
    data, pub_dir = tmp_path / "data", tmp_path / "pub"
    assert run(
        refresh, sources=["births"], mirror=demo_mirror.url, data_dir=str(data), publish_dir=str(pub_dir), publish=False
    ).is_completed()
    root = mirror_copy(tmp_path)
    births = entry_path(root, "births", "2024")
    data_csv = next(p for p in births.iterdir() if p.name.endswith("_data.csv"))
    lines = data_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    withdrawn = '"F";"LVB";"A";"01001";"COM";"A";"2010";7.0\n'
    assert withdrawn in lines
    before = Store(data).read_staged("births", "2024").height
    lines.remove(withdrawn)  # the publisher withdrew the 2010 births of one commune
    data_csv.write_text("".join(lines), encoding="utf-8")
    with serve(root) as mirror:
        state = run(
            refresh, sources=["births"], mirror=mirror.url, data_dir=str(data), publish_dir=str(pub_dir), publish=False
        )
    assert state.is_completed(), state.message
    markdown = artifacts(state)["refresh-summary"]
    # one commune-year observation less: one staged COM row less, nothing else moves
    after = before - 1
    fmt = lambda n: f"{n:,}".replace(",", " ")
    secret = Store(data).previous("births/2024").staged.secret_cells  # unchanged by the withdrawal
    assert (
        f"| births | 2024 | {fmt(after)} | {secret} | downloaded | staged | new upstream file (main); "
        f"rows {fmt(before)} → {fmt(after)} (-1) |"
    ) in markdown
    assert "| cog_communes | 2025 |" in markdown and "| unchanged | unchanged | no change |" in markdown


def _negative_population(root):
    """The second source of the parallel phase gets a negative population in one commune."""
    folder = entry_path(root, "rp_population", "2022")
    csv = folder / "base-cc-evol-struct-pop-2022.CSV"
    lines = csv.read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(";")
    cells[1] = "-5"
    lines[1] = ";".join(cells)
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cells[0]


def test_a_refresh_whose_second_source_fails_validation_publishes_nothing(tmp_path, demo_mirror):
    assert plan()[1][1].key == "rp_population/2022"  # the "second source" of this test
    data, pub_dir = tmp_path / "data", tmp_path / "pub"
    assert run(refresh, mirror=demo_mirror.url, data_dir=str(data), publish_dir=str(pub_dir)).is_completed()
    pub = Publication(pub_dir, "indicateurs")
    latest = pub.latest
    published_bytes = (latest / "indicateurs-france.parquet").read_bytes()

    root = mirror_copy(tmp_path)
    commune = _negative_population(root)
    with serve(root) as mirror:
        state = run(refresh, mirror=mirror.url, data_dir=str(data), publish_dir=str(pub_dir), force=True)

    assert state.is_failed()
    assert "1 source(s) failed: rp_population/2022; nothing was published" in state.message
    assert pub.latest == latest and pub.versions() == [latest.name]  # nothing new, `latest` untouched
    assert (latest / "indicateurs-france.parquet").read_bytes() == published_bytes
    assert not any(p.name.startswith("_") for p in pub.dir.iterdir())  # not even a draft was started
    found = artifacts(state)
    markdown = found["refresh-summary"]
    assert "| rp_population | 2022 | - | - | downloaded | failed | not staged: the previous table is kept |" in markdown
    assert "### rp_population/2022 (validation)" in markdown
    assert "Nothing published: 1 source(s) failed (rp_population/2022)." in markdown
    assert f"Previous publication kept: indicateurs: latest = {latest.name}" in markdown
    [row] = [r for r in found["refresh-failures"] if r["column"] == "P22_POP"]
    assert row["source"] == "rp_population" and row["kind"] == "validation" and row["rows"] == 1
    assert commune in row["samples"]
    # the other sources went on: every one but the failed one was staged again (force)
    report = state.result(raise_on_failure=False).report
    assert sum(r.status == "staged" for r in report.results) == N_ENTRIES - 1


def test_two_refreshes_at_once_take_turns_on_the_store(tmp_path, demo_mirror):
    params = dict(mirror=demo_mirror.url, data_dir=str(tmp_path / "data"), publish_dir=str(tmp_path / "pub"))
    start = len(demo_mirror.log)
    states = [None, None]

    def one(i):
        states[i] = run(refresh, **params)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(s is not None and s.is_completed() for s in states), [s and s.message for s in states]
    statuses = sorted({r.status for r in s.result()["report"].results}.pop() for s in states)
    assert statuses == ["staged", "unchanged"]  # the second waited for the first, then found nothing new
    log = demo_mirror.log[start:]
    n_files = sum(len(e.files) for e in catalogue.entries())
    assert sum(e["status"] == 200 for e in log) == n_files  # every file downloaded once, not twice
    manifest = Store(tmp_path / "data").manifest().entries
    assert len(manifest) == N_ENTRIES and all(record.staged is not None for record in manifest.values())
    assert len(Publication(tmp_path / "pub", "indicateurs").versions()) == 1


class Waiting(logging.Handler):
    """Keeps the run's "waiting for the refresh holding" lines and signals the first one."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records, self.seen = [], threading.Event()

    def emit(self, record):
        if record.getMessage().startswith("waiting for the refresh holding"):
            self.records.append(record)
            self.seen.set()


def test_a_refresh_waiting_for_the_store_says_so(tmp_path, demo_mirror):
    store = Store(tmp_path / "data")
    holding, waiting = threading.Event(), Waiting()

    def hold():  # like another refresh: holds the store until the waiting one has said so (30 s at most)
        with store.lock():
            holding.set()
            waiting.seen.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    flow_runs = logging.getLogger("prefect.flow_runs")  # the run logger's; it may not propagate to the root
    flow_runs.addHandler(waiting)
    try:
        state = run(
            refresh,
            sources=["births"],
            mirror=demo_mirror.url,
            data_dir=str(store.root),
            publish=False,
            lock_timeout=60,
        )
    finally:
        flow_runs.removeHandler(waiting)
    holder.join()
    assert state.is_completed(), state.message
    assert [(r.levelname, r.getMessage()) for r in waiting.records] == [
        ("WARNING", f"waiting for the refresh holding {store.root} (up to 60 s)")
    ]


def test_a_waiting_refresh_outlasts_the_network_retries_of_the_one_holding_the_store():
    import inspect

    from storage.settings import RETRY_BUDGET

    # worst case held: the retry budget (300 s) of each of the 3 COG files in turn, then of the 27 other files,
    # 4 at a time: (3 + 27 / 4) x 300 s = 2 925 s; the task does not retry on top of the downloader's budget
    default = inspect.signature(refresh.fn).parameters["lock_timeout"].default
    assert RETRY_BUDGET == 300 and default > 2925
    assert refresh_module.refresh_source.retries == 0


class FlakyMirror:
    """The demo mirror, except that the first `cuts` answers for `path` stop halfway through the body."""

    def __init__(self, root, path: str, cuts: int):
        self.app, self.path, self.cuts = MirrorApp(root), path, cuts

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path == self.path and self.cuts > 0:
            self.cuts -= 1
            body, content_type = self.app.body(request.path)
            response = Response(body[: len(body) // 2], content_type=content_type)
            response.headers["Content-Length"] = str(len(body))  # promised, never sent: the body is cut off
            self.app.log.append({"path": request.path, "status": "cut"})
            return response(environ, start_response)
        return self.app(environ, start_response)


def test_a_network_error_is_retried_by_the_downloader_and_then_succeeds(tmp_path, monkeypatch):
    from sources import download

    url = catalogue.get("births", "2024").file().url
    path = "/" + url.split("://", 1)[1].split("?", 1)[0]
    # the body is cut off twice: the downloader asks again within its retry budget (waits of 0.01 s, 0.02 s)
    app = FlakyMirror(mirror_copy(tmp_path), path, cuts=2)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(download, "BACKOFF", 0.01)
    try:
        state = run(
            refresh,
            sources=["births"],
            mirror=f"http://127.0.0.1:{server.port}",
            data_dir=str(tmp_path / "data"),
            publish=False,
        )
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert state.is_completed(), state.message
    births = [e["status"] for e in app.app.log if e["path"] == path]
    assert births == ["cut", "cut", 200]
    report = state.result()["report"]
    assert next(r for r in report.results if r.source == "births").status == "staged"


def test_an_unknown_source_is_refused_before_anything_is_downloaded(tmp_path, demo_mirror):
    start = len(demo_mirror.log)
    state = run(refresh, sources=["births", "naissances"], mirror=demo_mirror.url, data_dir=str(tmp_path / "d"))
    assert state.is_failed() and "unknown source(s) ['naissances']" in state.message
    assert demo_mirror.log[start:] == []


def test_a_reader_during_a_refresh_run_sees_the_previous_state_until_the_run_switches_the_store(demo_store, tmp_path):
    from transforms.pipeline import load_inputs

    store = Store(tmp_path / "data")
    shutil.copytree(demo_store.root, store.root)
    old = {s: store.read_staged(s) for s in ("rp_population", "caf_benefits")}
    root = mirror_copy(tmp_path)
    change_census(root)
    change_caf(root)
    app = GatedMirror(root, url_path("caf_benefits", "2024"))  # its answer waits for the test
    with serve_app(app) as url:
        states = {}
        worker = threading.Thread(
            target=lambda: states.update(
                state=run(
                    refresh,
                    sources=["rp_population", "caf_benefits"],
                    mirror=url,
                    data_dir=str(store.root),
                    publish=False,
                )
            )
        )
        worker.start()
        assert app.reached.wait(120)
        deadline = time.monotonic() + 60  # the new census is staged by another thread, into the run's pending area
        while not list((store.root / "pending").glob("*/staged/rp_population/2022.parquet")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        inputs = load_inputs(store)
        assert inputs.staged["rp_population"].equals(old["rp_population"])
        assert inputs.staged["caf_benefits"].equals(old["caf_benefits"])
        app.release.set()
        worker.join(120)
    assert states["state"].is_completed(), states["state"].message
    new = load_inputs(store).staged
    assert not new["rp_population"].equals(old["rp_population"]) and not new["caf_benefits"].equals(old["caf_benefits"])
    assert raw_mismatches(store) == [] and leftovers(store) == []
