"""The chart pictures of the editable document, rendered ahead in a helper process while the report goes on.

Rendering a report's fifty charts to PNG (resvg, `reports.editable.svg_to_png`) is about half of its CPU time, and
resvg holds the GIL: threads would not help. So, as soon as a report's sections are built, their charts are handed
to one helper process (started once per process), which renders them while this process writes the exports, the
HTML page and the document's tables; the document then takes each picture as it comes, the same bytes as rendered
here. A picture the document needs before the helper began it is drawn here meanwhile: both processes draw, in
turns, none waits idle. The helper is a plain child Python running this file (`python reports/pictures.py`), fed SVGs on its
standard input and answering PNGs on its output, each as a length-prefixed message: unlike `multiprocessing`, it
never imports the caller's main script again (a script that builds reports would run twice).

No helper where it cannot help: a single-core machine, a daemon process (a Dask worker, whose cores are busy with
the other workers anyway), or `ABS_PICTURE_PROCESS=0`. The pictures are then rendered in this process, one by
one, as before; so they are too when the helper cannot be started or dies.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import struct
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO

HEADER = struct.Struct(">BI")  # a message: status (0 ok, 1 error), length of the bytes that follow
OK, ERROR = 0, 1


def helper_wanted() -> bool:
    """Whether a helper process may render the pictures here (see the module's docstring)."""
    if os.environ.get("ABS_PICTURE_PROCESS", "1").strip().lower() in ("0", "false", "no"):
        return False
    return (os.cpu_count() or 1) > 1 and not multiprocessing.current_process().daemon


def _read(stream: BinaryIO) -> tuple[int, bytes] | None:
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    status, size = HEADER.unpack(head)
    body = stream.read(size)
    return (status, body) if len(body) == size else None


def _send(stream: BinaryIO, status: int, body: bytes) -> None:
    stream.write(HEADER.pack(status, len(body)) + body)
    stream.flush()


class Helper:
    """One child process rendering SVGs one at a time, each answer completing its future. A thread hands the child
    the oldest SVG waiting and reads its PNG; a caller waiting for a picture takes the next SVG the child has not
    taken yet (`take_next`) and draws it itself: both processes work on the document's pictures, none waits idle."""

    def __init__(self):
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._waiting: deque[tuple[str, Future]] = deque()
        self._ready = threading.Condition()
        self._gone = False
        threading.Thread(target=self._work, name="abs-diag-pictures", daemon=True).start()

    def submit(self, svg: str) -> Future:
        future: Future = Future()
        with self._ready:
            if self._gone:
                raise BrokenPipeError("the picture helper is gone")
            self._waiting.append((svg, future))
            self._ready.notify()
        return future

    def take_next(self) -> tuple[str, Future] | None:
        """The oldest SVG the child has not taken yet (the caller draws it and completes its future), or None."""
        with self._ready:
            return self._waiting.popleft() if self._waiting else None

    def _work(self) -> None:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        try:
            while True:
                with self._ready:
                    while not self._waiting and not self._gone:
                        self._ready.wait()
                    if self._gone:
                        break
                    svg, future = self._waiting.popleft()
                _send(stdin, OK, svg.encode("utf-8"))
                message = _read(stdout)
                if message is None:
                    raise BrokenPipeError("the picture helper is gone")
                status, body = message
                if status == OK:
                    future.set_result(body)
                else:
                    future.set_exception(ValueError(body.decode("utf-8", "replace")))
        except OSError as exc:  # the helper died: what it owed is drawn by the callers
            future.set_exception(exc)
        with self._ready:
            self._gone = True
            while self._waiting:
                self._waiting.popleft()[1].set_exception(BrokenPipeError("the picture helper is gone"))

    def close(self) -> None:
        with self._ready:
            self._gone = True
            self._ready.notify()
        if self._process.stdin is not None:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()


_HELPER: Helper | None = None
_HELPER_LOCK = threading.Lock()


def _helper() -> Helper | None:
    global _HELPER
    if not helper_wanted():
        return None
    with _HELPER_LOCK:
        if _HELPER is None:
            try:
                _HELPER = Helper()
            except OSError:
                return None
            atexit.register(_HELPER.close)
        return _HELPER


class Pictures:
    """A `render` for `reports.editable.write_docx`: the PNG of each chart of `svgs`, rendered ahead in the
    helper process when there is one (each distinct chart once); any other SVG is rendered when asked for."""

    def __init__(self, svgs: list[str]):
        self._futures: dict[str, Future] = {}
        self._helper = helper = _helper()
        if helper is None:
            return
        try:
            for svg in dict.fromkeys(svgs):
                self._futures[svg] = helper.submit(svg)
        except OSError:  # the helper is gone: what was not sent is drawn here
            pass

    def __call__(self, svg: str) -> bytes:
        from reports.editable import svg_to_png

        future = self._futures.get(svg)
        if future is None or self._helper is None:
            return svg_to_png(svg)
        while not future.done() and (taken := self._helper.take_next()) is not None:
            _draw(*taken)  # rather than wait: the next picture the helper has not begun, drawn here
        try:
            return future.result()
        except OSError:  # the helper died: this process draws it (a bad SVG raises ValueError, as it would here)
            return svg_to_png(svg)


def _draw(svg: str, future: Future) -> None:
    from reports.editable import svg_to_png

    try:
        future.set_result(svg_to_png(svg))
    except Exception as exc:  # noqa: BLE001 - raised where the document asks for this picture
        future.set_exception(exc)


def serve(source: BinaryIO, sink: BinaryIO) -> None:
    """The helper's loop: each SVG read from `source` answered on `sink` with its PNG, or the error's text."""
    from reports.editable import svg_to_png

    while (message := _read(source)) is not None:
        try:
            _send(sink, OK, svg_to_png(message[1].decode("utf-8")))
        except Exception as exc:  # noqa: BLE001 - the caller writes its paragraph « Graphique non reproduit »
            _send(sink, ERROR, f"{type(exc).__name__}: {exc}".encode())


if __name__ == "__main__":  # the helper: `python reports/pictures.py`, started by `Helper`
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # the project, not reports/, first on the path
    serve(sys.stdin.buffer, sys.stdout.buffer)
