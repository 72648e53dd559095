"""The chart pictures of the editable document: each SVG chart drawn as a PNG, ahead of the document.

    svg_to_png(svg)                        one picture, in this process: drawn by `reports.raster` (Skia), or by
                                           resvg where a chart uses SVG that module does not draw
    with drawing_pictures() as pictures:   pictures.ahead(svgs) starts drawing them in worker processes,
                                           pictures(svg) -> the PNG (drawn ahead, or here and now)

    with workers_forked_now():             the next block's workers forked at once (`abs-diag report`'s start)

The renderers hold the GIL while they draw (threads gain nothing) and the pictures are a large part of a report's
time, so a report hands each section's pictures to a standard-library process pool as soon as the section is built,
builds the next sections, writes its exports, page and document tables meanwhile, and picks each picture up when the
document reaches it. The workers are forked: they start in milliseconds and import nothing (Skia, the system's fonts
and resvg are loaded before the fork), and they only ever draw pictures (never polars, whose thread pool does not
survive a fork). A command that builds one report forks them as it starts instead (`workers_forked_now`): each
loads the renderers itself, on the core the command leaves idle until its first section is built, and the report's
own process never loads them. A worker that dies or a picture that takes more than `PICTURE_TIMEOUT_S` raises `PicturesFailed`
(the report fails, it never waits forever); a chart neither renderer can draw raises resvg's own error, as it would
in this process (the document then points to the chart in the HTML report).

Where forking is unsafe or pointless, the pictures are drawn in this process as before: one core, a daemonic
process (a Dask worker may not have children: the national batch spreads its reports over its workers instead), a
thread other than the main one (reports built by threads side by side), or a platform without `fork`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

log = logging.getLogger(__name__)

ZOOM = 1.5  # about 180 dpi at 16 cm: print quality
PICTURE_TIMEOUT_S = 120.0  # the largest map of France draws in well under a second
MAX_WORKERS = 2


class PicturesFailed(RuntimeError):
    """A picture worker died or hung: the report fails rather than waiting or silently dropping its charts."""


def svg_to_png(svg: str) -> bytes:
    """PNG bytes of an SVG chart at 1.5 times its size (about 180 dpi at 16 cm), on white: drawn by
    `reports.raster` (4 times faster), or by resvg where the chart uses SVG that module does not draw."""
    from reports import raster

    try:
        return raster.svg_to_png(svg, ZOOM)
    except raster.Unsupported as unsupported:
        log.debug("chart drawn by resvg: %s", unsupported)
    return resvg_png(svg)


def resvg_png(svg: str) -> bytes:
    """PNG bytes of an SVG chart at 1.5 times its size, drawn by resvg (any SVG it reads); raises ValueError."""
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_string=svg, zoom=ZOOM, background="#ffffff"))


def pool_workers() -> int:
    """How many worker processes may draw pictures here: 0 means draw them in this process."""
    if "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
        return 0
    if threading.current_thread() is not threading.main_thread():  # reports built side by side already share
        return 0  # the cores (the national batch's threads), and a fork copies the locks other threads hold
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, MAX_WORKERS)


class Pictures:
    """render(svg) -> PNG bytes: the picture drawn ahead when `ahead` announced it, else drawn here and now."""

    def __init__(self, pool: ProcessPoolExecutor | None, draw: Callable[[str], bytes]):
        self.pool, self.draw = pool, draw
        self.futures: dict[str, Future] = {}

    @property
    def drawn_ahead(self) -> bool:
        """Whether pictures announced with `ahead` are drawn by workers (else announcing them is of no use)."""
        return self.pool is not None

    def ahead(self, svgs: Iterable[str]) -> None:
        """Start drawing `svgs` in the workers, in this order (nothing without a pool)."""
        if self.pool is None:
            return
        for svg in svgs:
            if svg not in self.futures:
                self.futures[svg] = self.pool.submit(self.draw, svg)

    def __call__(self, svg: str) -> bytes:
        future = self.futures.get(svg)
        if future is None:  # no pool, or a chart nobody announced
            return self.draw(svg)
        try:
            return future.result(timeout=PICTURE_TIMEOUT_S)
        except BrokenProcessPool as error:
            raise PicturesFailed(f"a picture worker process died ({error}): the document is not written") from error
        except FutureTimeout as error:
            raise PicturesFailed(
                f"a chart picture took more than {PICTURE_TIMEOUT_S:.0f} s: the document is not written"
            ) from error


@contextlib.contextmanager
def drawing_pictures(draw: Callable[[str], bytes] = svg_to_png) -> Iterator[Pictures]:
    """The pictures of one document: those announced with `ahead` are drawn by worker processes meanwhile (in
    this process when asked for, where there is no pool: see `pool_workers`). `draw` must be a module-level
    function (it is pickled). Leaving the block stops the workers, cancelling pictures nobody asked for."""
    workers = pool_workers()
    if not workers:
        yield Pictures(None, draw)
        return
    if _FORKED:  # forked at the command's start (`workers_forked_now`): this block's now
        pool = _FORKED.pop()
    else:
        load_renderers()  # once here, inherited by the workers forked next
        pool = _pool(workers)
    try:
        yield Pictures(pool, draw)
    except BaseException:
        _stop(pool)  # a hung picture would keep shutdown() waiting
        raise
    pool.shutdown(wait=True, cancel_futures=True)


def load_renderers() -> None:
    """Skia, the system's fonts and resvg loaded in this process (the first picture would load them)."""
    import resvg_py  # noqa: F401 - imported once, before any picture

    from reports import raster

    raster.prepare()


def _pool(workers: int, initializer: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=initializer)


_FORKED: list[ProcessPoolExecutor] = []  # the workers `workers_forked_now` forked, until a block takes them


@contextlib.contextmanager
def workers_forked_now() -> Iterator[None]:
    """The workers of this process's next `drawing_pictures` block forked at once, each loading the renderers
    itself: a command that builds one report calls this as it starts, while its other core is idle (its own process
    then never loads Skia and the fonts, about 50 ms of its CPU, nor forks once it holds the report's data).
    Workers no block took are stopped on leaving; without a pool (`pool_workers`), nothing is forked."""
    workers = pool_workers()
    if not workers:
        yield
        return
    # the renderers' own imports that the report's process imports anyway (its tables, its document): imported
    # before the fork, the workers do not import them again each (numpy alone is about 0.15 s of CPU)
    import lxml.etree  # noqa: F401
    import numpy  # noqa: F401

    pool = _pool(workers, initializer=_early_worker)
    # forked before the command handles Ctrl-C (flows.lifecycle): blocked across the fork, so that it ends a worker
    # at once and quietly, as a kill would, and this process still receives it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pool.submit(int)  # a pool forks its workers with its first task
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _FORKED.append(pool)
    try:
        yield
    finally:
        if pool in _FORKED:
            _FORKED.remove(pool)
            _stop(pool)


def _early_worker() -> None:
    """A worker forked by `workers_forked_now`: Ctrl-C ends it quietly (Python's handler would print a traceback
    of KeyboardInterrupt in each worker), then the renderers loaded."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    load_renderers()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers, then let it go (ProcessPoolExecutor has no public way to stop a running task)."""
    for process in list((pool._processes or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
