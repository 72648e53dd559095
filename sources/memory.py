"""A bound on the memory of the entries a refresh stages at once (it stages several sources in parallel threads).

Staging holds an entry's long frame a few times over (melted, validated, harmonised, sorted, written): a
France-sized census theme takes a few hundred MiB, a small CAF file a few. Before parsing, an entry reserves its
estimate (`estimate`: the text its files inflate to, times a factor measured per parser; for a parser that fills a
grid whatever its file holds, such as the BPE's zeros, the cells of that grid) from one budget the threads share
(`ABS_STAGING_MEMORY_MB`, default `storage.settings.STAGING_MEMORY_MB`), and waits while it does not fit beside the
entries already staging. An entry larger than the whole budget stages alone. Downloads are not bounded: they stream
to disk.
"""

from __future__ import annotations

import threading
import time
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sources.catalogue import Entry
    from sources.geography import Geography

MIB = 1 << 20
# Peak resident bytes of staging one entry per byte of the text its files hold, by parser, measured on the
# France-sized mirror (`benchmarks/france_run.py --steps sources`: each entry staged, checked and written alone in
# a process of its own, its peak above the process with the geography loaded), rounded up by about a tenth: a wide
# file's cell becomes a long row of some 50 bytes, held a few times; a long file (Melodi, the flows of mobility)
# keeps one row per line; the contours are held as shapes. Others: the largest factor.
BYTES_PER_TEXT_BYTE = {
    "census": 22,  # rp_population/2021 416 MiB for 20.4 MiB of text (was 644 MiB before its rows were put in
    # place without a copy of the whole table)
    "caf_benefits": 33,  # 524-583 MiB for 19.4 MiB (was 781)
    "etat_civil": 12,  # births 296 MiB for 27.2 MiB
    "filosofi": 60,  # 208 MiB for 3.7 MiB (each level screened on its wide rows)
    "mobility": 8,  # 329 MiB for 47.5 MiB
    "contours": 23,  # 163-167 MiB for 8.0 MiB (195 before the layers were parsed as arrays, December 2026)
    "iris_census": 36,  # rp_iris_population 117 MiB for 4.9 MiB; the smaller themes about 60 MiB for 1.6-2.1 MiB
}
DEFAULT_BYTES_PER_TEXT_BYTE = max(BYTES_PER_TEXT_BYTE.values())
# A parser whose staged table outgrows its text: the BPE lists equipped communes only and stages a 0 for every
# other (commune, type) pair, so its peak follows that grid of cells (`SourceSpec.grid_cells`), not its file.
# Bytes per cell, measured on the France-sized mirror: 87-92 MiB above the process for 839,706 cells (35,000
# communes x 24 types: some 115 bytes each; 278-285 MiB before the grid was built in key order, December 2026)
# from 111 KB of text, which the text's factor put at 6 MiB. The real BPE's 190 types: about 0.8 GiB reserved.
BYTES_PER_GRID_CELL = {"bpe": 130}


def text_bytes(path: Path) -> int:
    """The bytes of text a downloaded file holds: a zip's members as they declare (the parser reads one or a
    few of them: an upper bound), any other file as it is."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    return path.stat().st_size


def estimate(parser: str, paths: Iterable[Path], grid_cells: int = 0) -> int:
    """Bytes of memory staging these files with `parser` takes at its peak, roughly: from their text, or from the
    `grid_cells` its table will hold when the parser fills a grid (`BYTES_PER_GRID_CELL`), whichever is larger."""
    factor = BYTES_PER_TEXT_BYTE.get(parser, DEFAULT_BYTES_PER_TEXT_BYTE)
    by_text = sum(text_bytes(p) for p in paths if p.exists()) * factor
    return max(by_text, grid_cells * BYTES_PER_GRID_CELL.get(parser, 0))


def entry_estimate(entry: Entry, files: dict[str, Path], geo: Geography | None) -> int:
    """`estimate` of an entry's downloaded files ({role: path}), with the grid its source module says it fills."""
    from sources.registry import by_parser  # the registry imports every source module: only when staging

    grid = by_parser(entry.parser).grid_cells
    cells = grid(entry, files, geo) if grid is not None and all(p.exists() for p in files.values()) else 0
    return estimate(entry.parser, files.values(), cells)


class MemoryBudget:
    """Bytes shared by threads: `reserve(n)` waits until `n` fits beside what the others hold. It counts the
    reservations that had to wait, the seconds they waited and the most it held at once (`watched`)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self.most = 0  # the most held at once since the last `watched` began
        self.waits = 0
        self.waited = 0.0  # seconds, summed over the reservations
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, amount: int) -> Iterator[int]:
        amount = min(amount, self.limit)  # larger than the whole budget: waits until it is alone
        with self._changed:
            if self.held + amount > self.limit:
                start = time.perf_counter()
                self._changed.wait_for(lambda: self.held + amount <= self.limit)
                self.waits, self.waited = self.waits + 1, self.waited + time.perf_counter() - start
            self.held += amount
            self.most = max(self.most, self.held)
        try:
            yield amount
        finally:
            with self._changed:
                self.held -= amount
                self._changed.notify_all()

    @contextmanager
    def watched(self) -> Iterator[dict]:
        """A dict filled when the block ends: the reservations that waited in it (`waits`), their seconds
        (`waited_s`), the most held at once (`most_mib`) and the budget (`limit_mib`)."""
        with self._changed:
            waits, waited, self.most = self.waits, self.waited, self.held
        use: dict = {}
        try:
            yield use
        finally:
            with self._changed:
                use |= {"waits": self.waits - waits, "waited_s": self.waited - waited}
                use |= {"most_mib": self.most / MIB, "limit_mib": self.limit / MIB}


_budget: MemoryBudget | None = None
_budget_lock = threading.Lock()


def staging_budget() -> MemoryBudget:
    """The process's staging budget, sized from the settings when first used."""
    global _budget
    with _budget_lock:
        if _budget is None:
            from storage.settings import load_settings

            _budget = MemoryBudget(load_settings().staging_memory_mb * MIB)
        return _budget
