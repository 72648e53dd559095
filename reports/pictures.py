"""The chart pictures of the editable document, rendered ahead in a helper process while the report goes on.

Rendering a report's fifty charts to PNG (resvg, `reports.editable.svg_to_png`) is about half of its CPU time, and
resvg holds the GIL: threads would not help. So, as soon as a report's sections are built, their charts are handed
to one helper process (started once per process, `spawn`: no copy of polars' threads), which renders them while
this process writes the exports, the HTML page and the document's tables; the document then takes each picture
as it comes. The pictures are the same bytes as rendered in this process.

No helper where it cannot help or cannot be: a single-core machine, a daemon process (a Dask worker may not have
children; its cores are busy with the other workers anyway), or `ABS_PICTURE_PROCESS=0`. The pictures are then
rendered in this process, one by one, as before; so they are too if the helper dies.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from reports.editable import svg_to_png

_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def helper_wanted() -> bool:
    """Whether a helper process may render the pictures here (see the module's docstring)."""
    if os.environ.get("ABS_PICTURE_PROCESS", "1").strip() in ("0", "false", "no"):
        return False
    return (os.cpu_count() or 1) > 1 and not multiprocessing.current_process().daemon


def _pool() -> ProcessPoolExecutor | None:
    global _POOL
    if not helper_wanted():
        return None
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return _POOL


class Pictures:
    """A `render` for `reports.editable.write_docx`: the PNG of each chart of `svgs`, rendered ahead in the
    helper process when there is one (each distinct chart once); any other SVG is rendered when asked for."""

    def __init__(self, svgs: list[str]):
        pool = _pool()
        self._futures: dict[str, Future] = {}
        if pool is None:
            return
        try:
            for svg in dict.fromkeys(svgs):
                self._futures[svg] = pool.submit(svg_to_png, svg)
        except (BrokenProcessPool, RuntimeError):  # the helper died (or the interpreter is exiting): here
            self._futures.clear()

    def __call__(self, svg: str) -> bytes:
        future = self._futures.get(svg)
        if future is None:
            return svg_to_png(svg)
        try:
            return future.result()
        except BrokenProcessPool:  # the helper died: this process draws it (a bad SVG raises as it would here)
            return svg_to_png(svg)
