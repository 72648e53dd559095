"""File locks (`flock`) of the store and the publications: released by the kernel when their process dies, so a
killed run never leaves a lock behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


class Busy(RuntimeError):
    """Another process holds the lock."""


@contextlib.contextmanager
def exclusive(path: Path, wait: float | None = None) -> Iterator[None]:
    """An exclusive lock on the file `path`: `Busy` if another process still holds it after `wait` seconds
    (None: wait as long as it takes)."""
    with path.open("a") as handle:
        if wait is None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        else:
            _take_before(handle, time.monotonic() + wait)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _take_before(handle, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Busy(str(handle.name)) from None
            time.sleep(0.2)


@contextlib.contextmanager
def shared(path: Path) -> Iterator[None]:
    """A shared lock on `path`; none when the file cannot be opened for writing (a read-only store is never
    written, so nothing can change under its readers)."""
    try:
        handle = path.open("a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def try_exclusive(path: Path) -> Iterator[bool]:
    """Yield whether an exclusive lock on `path` was taken at once (False: someone holds it)."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def hold_folder(path: Path) -> int:
    """An open descriptor holding an exclusive flock on the folder (released when closed or the process dies)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new folder: nobody else can hold it
    return fd


def folder_is_held(path: Path) -> bool:
    """Whether a live process holds the folder's flock (`hold_folder`)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
