"""The document's chart pictures drawn ahead by worker processes (reports.pictures): the same bytes as drawn in
the report's process, every picture the document draws announced in its order, and a worker that dies or hangs
fails the report instead of hanging it."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from datetime import UTC, datetime

import pytest

from reports import pictures, shared
from reports import site as reports_site
from reports.pictures import PicturesFailed, drawing_pictures, pool_workers, svg_to_png
from reports.site import DEMO_EPCI, build_site
from transforms.pipeline import Selection

BAR = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" viewBox="0 0 40 20">'
    '<rect x="{x}" y="2" width="10" height="16" fill="#2171b5"/></svg>'
)


def die(svg: str) -> bytes:
    """A worker killed while drawing (the OOM killer, a crash in the renderer)."""
    os._exit(9)


def hang(pid_file: str) -> bytes:
    """A worker stuck on a picture (its "SVG" is the file it writes its process id to)."""
    with open(pid_file, "w") as out:
        out.write(str(os.getpid()))
    time.sleep(600)
    return b""


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a killed child not yet reaped is a zombie
    except (FileNotFoundError, ProcessLookupError):  # gone, or reaped between the open and the read
        return False


def in_daemon(queue) -> None:
    queue.put(pool_workers())


@pytest.fixture
def two_workers(monkeypatch):
    """A pool of two workers whatever the machine running the tests has."""
    monkeypatch.setattr(pictures, "pool_workers", lambda: 2)


def test_pictures_drawn_ahead_are_those_drawn_here(two_workers):
    svgs = [BAR.format(x=x) for x in (2, 14, 26)]
    with drawing_pictures() as render:
        render.ahead(svgs)
        assert render.pool is not None and len(render.futures) == 3  # drawn by the pool, not here
        drawn = [render(svg) for svg in reversed(svgs)]
    assert drawn == [svg_to_png(svg) for svg in reversed(svgs)]
    assert drawn[0][:8] == b"\x89PNG\r\n\x1a\n" and len(set(drawn)) == 3


def test_a_picture_not_announced_is_drawn_here(two_workers):
    with drawing_pictures() as render:
        render.ahead([BAR.format(x=2)])
        assert render(BAR.format(x=20)) == svg_to_png(BAR.format(x=20))


def test_a_chart_resvg_cannot_draw_raises_resvg_error_not_a_pool_failure(two_workers):
    with drawing_pictures() as render:
        render.ahead(["<svg not closed"])
        with pytest.raises(ValueError):
            render("<svg not closed")


def test_a_worker_that_dies_fails_the_report(two_workers):
    start = time.monotonic()
    with pytest.raises(PicturesFailed, match="worker process died"):
        with drawing_pictures(draw=die) as render:
            render.ahead([BAR.format(x=2), BAR.format(x=8)])
            render(BAR.format(x=2))
    assert time.monotonic() - start < 30


def test_a_hung_worker_fails_after_the_timeout_and_is_stopped(two_workers, monkeypatch, tmp_path):
    monkeypatch.setattr(pictures, "PICTURE_TIMEOUT_S", 2.0)
    pid_file = str(tmp_path / "worker.pid")
    start = time.monotonic()
    with pytest.raises(PicturesFailed, match="more than 2 s"):
        with drawing_pictures(draw=hang) as render:
            render.ahead([pid_file])
            render(pid_file)
    assert time.monotonic() - start < 30  # it did not wait the 600 s of the picture
    worker = int(open(pid_file).read())
    deadline = time.monotonic() + 10
    while running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(worker)  # killed, not left drawing in the background


def pid_of_worker(svg: str) -> bytes:
    """The worker's process id, in place of a picture."""
    return str(os.getpid()).encode()


def test_workers_forked_at_the_start_are_those_of_the_next_block(two_workers):
    with pictures.workers_forked_now():
        forked = set(pictures._FORKED[0]._processes)
        assert len(forked) == 2  # forked at once, before any picture is asked for
        with drawing_pictures(draw=pid_of_worker) as render:
            svgs = [BAR.format(x=x) for x in range(8)]
            render.ahead(svgs)
            assert {int(render(svg)) for svg in svgs} <= forked
        assert pictures._FORKED == []  # taken by the block: the next block forks its own
        with drawing_pictures() as render:
            render.ahead([BAR.format(x=2)])
            assert render(BAR.format(x=2)) == svg_to_png(BAR.format(x=2))


def test_workers_forked_at_the_start_that_no_block_took_are_stopped(two_workers):
    with pytest.raises(RuntimeError, match="before any report"):
        with pictures.workers_forked_now():
            workers = list(pictures._FORKED[0]._processes)
            raise RuntimeError("the command failed before any report")
    assert pictures._FORKED == []
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in workers)


def test_ctrl_c_ends_a_worker_forked_at_the_start_at_once_and_quietly(two_workers):
    with pictures.workers_forked_now():
        pool = pictures._FORKED[0]
        assert pool.submit(int).result(timeout=30) == 0  # the workers are past their start
        worker = next(iter(pool._processes.values()))
        os.kill(worker.pid, signal.SIGINT)
        # the pool's own thread reaps a dead worker too (the pool is then broken): whichever of its join and ours
        # calls waitpid second reads no status, so the exit code is awaited until the other has set it
        deadline = time.monotonic() + 10
        while worker.exitcode is None and time.monotonic() < deadline:
            worker.join(timeout=0.1)
        # ended by the signal itself, as a kill would end it: no KeyboardInterrupt raised (and printed) in it
        assert worker.exitcode == -signal.SIGINT


def test_nothing_is_forked_at_the_start_without_a_pool(monkeypatch):
    monkeypatch.setattr(pictures, "pool_workers", lambda: 0)
    with pictures.workers_forked_now():
        assert pictures._FORKED == []


def test_no_pool_inside_a_daemonic_process():
    # a Dask worker is daemonic and may not have children: its pictures are drawn in its own process
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=in_daemon, args=(queue,), daemon=True)
    process.start()
    assert queue.get(timeout=30) == 0
    process.join(timeout=30)


def test_no_pool_outside_the_main_thread():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(pool_workers()))
    thread.start()
    thread.join(timeout=30)
    assert seen == [0]


def test_the_report_announces_every_picture_its_document_draws_in_order(demo_store, tmp_path, monkeypatch):
    announced, drawn = [], []

    class Recording(pictures.Pictures):
        drawn_ahead = True

        def ahead(self, svgs):
            announced.extend(svgs)

        def __call__(self, svg):
            drawn.append(svg)
            return super().__call__(svg)

    @contextlib.contextmanager
    def recording():
        yield Recording(None, svg_to_png)

    monkeypatch.setattr(reports_site, "drawing_pictures", recording)
    shared.TABLES.clear()
    when = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    build_site(demo_store, [Selection(epci=DEMO_EPCI)], tmp_path, demo=True, generated_at=when)
    # the demo EPCI's report has charts and maps: none drawn unannounced, none announced in vain
    assert len(drawn) > 10 and any('class="map' in svg[:400] for svg in drawn)
    # announced in the document's order, but the maps' first: their section is built first (Section.draws_first)
    maps = [svg for svg in drawn if 'class="map' in svg[:400]]
    assert announced == maps + [svg for svg in drawn if svg not in maps]
