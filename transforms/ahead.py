"""Work on the items of a sequence in threads, a few ahead of the caller, the results given back in order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ahead(work: Callable[[T], R], items: Iterable[T], threads: int = 2) -> Iterator[R]:
    """`work` of each item, in order, `threads` items at a time in threads (polars and numpy release the GIL: both
    cores busy), the next one computed while the caller takes this one (writes it, concatenates it). At most
    `threads` results are computed ahead of the caller. An error in an item is raised to the caller when it
    reaches that item."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) == threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
