"""XLSX workbooks written atomically, their closing handed to a forked child process while a report goes on.

    with workbook(path, closer) as book:        an xlsxwriter Workbook; `path` appears whole when it is closed
                                                (filled and closed with the cycle collector paused: `collector_paused`)
    with closing_workbooks(fork) as closer:     every workbook closed (and in place) on leaving, or an error

xlsxwriter keeps a workbook's cells in memory and writes the file when it is closed: the XML of every sheet, then
the zip, in pure Python, about half of a workbook's time. A report forks a child at that moment: it inherits the
filled workbook and runs xlsxwriter only (never polars, whose thread pool does not survive a fork), while the
report builds its page and document. The cells themselves are written by the child too (the other half): a workbook
that will be closed by a child keeps a journal of its sheets' cell writes, autofits and column widths, in the order
they were asked for (`_Journal`), and the child replays it (its cycle collector off) before closing, so the file is
the same byte for byte (the shared strings are numbered in that order). Everything else (tables, formats, panes) is done here at once.
Leaving `closing_workbooks` waits for the children: each file then replaces its target, or the report fails naming
the file (a child that died, failed, or took more than `CLOSE_TIMEOUT_S`, killed then: a report never waits
forever). Without `fork` (one core, a thread other than the main one, a daemonic process:
`reports.pictures.pool_workers`), or without a closer, a workbook is filled and closed in this process as before.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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

    def close(self, book, tmp: Path, target: Path, journal: _Journal | None = None) -> None:
        """Close `book` (its `journal` of cells, if any, written first) into `tmp`, then in place at `target`."""
        if not self.fork:
            if journal is not None:
                journal.replay()
            book.close()
            _put_in_place(tmp, target)
            return
        child = multiprocessing.get_context("fork").Process(
            target=_close_and_leave, args=(book, journal), name=target.name
        )
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
    from transforms.xlsx_fast import FastWorkbook  # xlsxwriter imported when a workbook is written, not before

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        book = FastWorkbook(str(tmp), XLSX_OPTIONS)
        journal = _Journal(book) if closer is not None and closer.fork else None  # its cells written by the child
        with collector_paused():  # filled and closed
            yield book
            (closer or Closer(fork=False)).close(book, tmp, target, journal)
            # alive when the collector resumes, the cells were all walked by its first collection (a
            # département's wide workbook, 55,000 cells and 8,500 notes: 27-36 ms), then freed by a later one
            # (the workbook is a cycle): freed now, as a refcount frees them
            book.drop_contents()
            if journal is not None:
                journal.calls = []
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a sheet's cells are written: each cell is a new tuple the collector
    tracks, and France's largest territories' hundreds of thousands of them set off full collections that walk
    every object of the report again and again (a third of the cells' time). A cell holds no cycle: nothing is
    left for the collector to find afterwards. A collector already off stays off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _close_and_leave(book, journal: _Journal | None = None) -> None:
    """In the forked child: write the journal's cells and the workbook, then leave at once. The exit handlers the
    child inherited are the report process's, not its own: one of Prefect's fails in a fork (its service was never
    started there), which made the child end with code 1 after writing a good file."""
    try:
        gc.disable()  # the cells written here are tuples without cycles, and the child ends with the workbook
        if journal is not None:
            journal.replay()
        book.close()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


def _put_in_place(tmp: Path, target: Path) -> None:
    tmp.chmod(0o644)  # mkstemp creates 0600: published files must be readable
    os.replace(tmp, target)


# xlsxwriter's Worksheet methods that write or read cells (a table writes its cells), or set what `autofit` sets:
# every other method (formats, panes, comments) does not depend on the cells and runs at once. The public `write_*`
# methods call these; their order is kept, so the shared strings are numbered as without a journal.
JOURNALED = (
    "add_table",
    "_write",
    "_write_string",
    "_write_number",
    "_write_blank",
    "_write_formula",
    "_write_array_formula",
    "_write_datetime",
    "_write_boolean",
    "_write_url",
    "_write_rich_string",
    "autofit",
    "set_column",
    "set_column_pixels",
)


_JOURNALS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a journaled sheet -> its workbook's journal


def write_cells(sheet: Any, write: Callable[..., None], *args: Any) -> None:
    """`write(sheet, *args)`, a function writing cells of `sheet` through its public methods: now, or on a sheet
    whose cells are journaled, in the closing child in its turn (one entry in the journal, not one per cell: the
    report's process only hands the values over). `args` are then plain Python values: the child never runs
    polars."""
    journal = _JOURNALS.get(sheet)
    if journal is None:
        write(sheet, *args)
    else:
        journal.calls.append((sheet, write, args, {}))


class _Journal:
    """A workbook's cell writes, in order, kept to be done in the child that closes it (`Closer.close`).

    Each sheet the workbook adds gets the `JOURNALED` methods as recorders on the instance (the class's own methods
    stay untouched); `replay` removes them and calls the class's methods with the recorded arguments, in order.
    A journaled table is listed in its sheet's `tables` by its name until then: polars names a new table after the
    names the workbook already holds."""

    def __init__(self, book: Any) -> None:
        self.calls: list[tuple[Any, str | Callable[..., None], tuple, dict]] = []  # a method's name or write_cells
        self.sheets: list[Any] = []  # xlsxwriter Worksheets
        self.named: list[tuple[Any, dict]] = []  # (sheet, the name listed in its tables until replayed)
        add_worksheet = book.add_worksheet

        def add_journaled_worksheet(*args, **kwargs):
            sheet = add_worksheet(*args, **kwargs)
            self._record(sheet)
            return sheet

        book.add_worksheet = add_journaled_worksheet

    def _record(self, sheet: Any) -> None:
        calls = self.calls
        for name in JOURNALED:

            def recorder(*args, _name=name, **kwargs):
                calls.append((sheet, _name, args, kwargs))
                if _name == "add_table":
                    self._list_table(sheet, args, kwargs)
                return 0  # xlsxwriter's "written"; a failure is the child's, which fails naming the file

            setattr(sheet, name, recorder)
        self.sheets.append(sheet)
        _JOURNALS[sheet] = self

    def _list_table(self, sheet: Any, args: tuple, kwargs: dict) -> None:
        # after the cells (4 integers or "A1:D9"), a table's options are its only dict
        options = kwargs.get("options") or next((a for a in args if isinstance(a, dict)), {})
        if "name" in options:
            listed = {"name": options["name"]}
            sheet.tables.append(listed)
            self.named.append((sheet, listed))

    def replay(self) -> None:
        for sheet, listed in self.named:
            sheet.tables[:] = [t for t in sheet.tables if t is not listed]
        for sheet in self.sheets:
            for name in JOURNALED:
                vars(sheet).pop(name, None)
        for sheet in self.sheets:
            _JOURNALS.pop(sheet, None)
        for sheet, call, args, kwargs in self.calls:
            if isinstance(call, str):
                getattr(sheet, call)(*args, **kwargs)
            else:  # write_cells' function
                call(sheet, *args, **kwargs)
        self.calls = []
