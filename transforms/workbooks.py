"""XLSX workbooks written atomically, their closing handed to a forked child process while a report goes on.

    with workbook(path, closer) as book:        an xlsxwriter Workbook; `path` appears whole when it is closed
    with closing_workbooks(fork) as closer:     every workbook closed (and in place) on leaving, or an error

xlsxwriter keeps a workbook's cells in memory and writes the file when it is closed: the XML of every sheet, then
the zip, in pure Python, about half of a workbook's time. A report forks a child at that moment: it inherits the
filled workbook and runs xlsxwriter only (never polars, whose thread pool does not survive a fork), while the
report builds its page and document. Leaving `closing_workbooks` waits for the children: each file then replaces
its target, or the report fails naming the file (a child that died, failed, or took more than `CLOSE_TIMEOUT_S`,
killed then: a report never waits forever). Without `fork` (one core, a thread other than the main one, a daemonic
process: `reports.pictures.pool_workers`), or without a closer, a workbook is closed in this process as before.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

CLOSE_TIMEOUT_S = 120.0  # France's largest territory's workbooks close in well under a second
# the XLSX writes text as text: `=HYPERLINK(...)` in a commune's name stays a name, never a live formula or link
XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


class WorkbookFailed(RuntimeError):
    """A workbook's closing child died, failed or hung: the file is not written and the report fails."""


class Closer:
    """Closes workbooks: in a forked child each (`fork`), or here and now."""

    def __init__(self, fork: bool):
        self.fork = fork
        self.pending: list[tuple[multiprocessing.process.BaseProcess, Path, Path]] = []

    def close(self, book, tmp: Path, target: Path) -> None:
        if not self.fork:
            book.close()
            _put_in_place(tmp, target)
            return
        child = multiprocessing.get_context("fork").Process(target=_close_and_leave, args=(book,), name=target.name)
        child.start()
        book.fileclosed = True  # this process's copy is written by the child, never here
        self.pending.append((child, tmp, target))

    def wait(self) -> None:
        """Every pending workbook in place, or WorkbookFailed naming the first that is not (the others removed)."""
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        failed = None
        for child, tmp, target in self.pending:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
                child.join()
                failed = failed or f"{target.name}: not written within {CLOSE_TIMEOUT_S:.0f} s"
            elif child.exitcode != 0:
                failed = failed or f"{target.name}: the process writing it ended with code {child.exitcode}"
            elif failed is None:
                _put_in_place(tmp, target)
            tmp.unlink(missing_ok=True)
        self.pending = []
        if failed:
            raise WorkbookFailed(failed)

    def abandon(self) -> None:
        """Stop every pending child and remove its file (the report failed before waiting)."""
        for child, tmp, _ in self.pending:
            child.kill()
            child.join()
            tmp.unlink(missing_ok=True)
        self.pending = []


@contextlib.contextmanager
def closing_workbooks(fork: bool) -> Iterator[Closer]:
    closer = Closer(fork)
    try:
        yield closer
    except BaseException:
        closer.abandon()
        raise
    closer.wait()


@contextlib.contextmanager
def workbook(target: Path, closer: Closer | None = None) -> Iterator:
    """An xlsxwriter Workbook to fill; on leaving the block it is closed by `closer` (here without one) and
    replaces `target` whole (`storage.files.atomic_path`'s rule); a failure leaves `target` as it was."""
    import xlsxwriter

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        book = xlsxwriter.Workbook(str(tmp), XLSX_OPTIONS)
        yield book
        (closer or Closer(fork=False)).close(book, tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _close_and_leave(book) -> None:
    """In the forked child: write the workbook, then leave at once. The exit handlers the child inherited are the
    report process's, not its own: one of Prefect's fails in a fork (its service was never started there), which
    made the child end with code 1 after writing a good file."""
    try:
        book.close()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


def _put_in_place(tmp: Path, target: Path) -> None:
    tmp.chmod(0o644)  # mkstemp creates 0600: published files must be readable
    os.replace(tmp, target)
