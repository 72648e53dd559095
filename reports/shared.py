"""What every report built on one state of the store shares, computed once per state and process.

The diagnostic table of France (every commune, EPCI, département and France) is the same for every report of a
store state, and France's age pyramid sums every commune of France: both are computed the first time a build asks
for them and reused by every later build on the same state (the national batch also hands its table to each
batch, `build_site(table=...)`). A state is named by `store_state`: the manifest, and the size and date of each
staged table read. Asking for another state drops what the previous one held (the table of France weighs hundreds
of MB)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import polars as pl

from storage.manifest import Manifest
from storage.store import Store


def store_state(store: Store, manifest: Manifest, vintages: dict[str, str]) -> str:
    """A name for what the store holds now; '' when a staged table cannot be looked at (nothing is then shared)."""
    digest = hashlib.sha256(str(store.root).encode())
    digest.update(json.dumps(manifest.to_dict(), sort_keys=True, default=str).encode())
    for source, vintage in sorted(vintages.items()):
        path = store.staged_path(source, vintage)
        try:
            stat = path.stat()
        except OSError:
            return ""
        digest.update(f"\n{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class PerState:
    """Values computed once per store state (at most `size` of them, the least recently used goes first).
    Threads asking for the same missing value wait for the first one to compute it."""

    def __init__(self, size: int):
        self.size = size
        self._state = ""
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def get(self, state: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        if not state:
            return compute()
        with self._lock:
            if state != self._state:
                self._state, self._values, self._computing = state, OrderedDict(), {}
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                if self._state == state and key in self._values:
                    return self._values[key]
            value = compute()
            with self._lock:
                if self._state == state:
                    self._values[key] = value
                    while len(self._values) > self.size:
                        self._values.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._state, self._values, self._computing = "", OrderedDict(), {}


TABLES = PerState(size=1)  # the diagnostic table of France (with the custom territories asked for)
AGE_SUMS = PerState(size=512)  # the age sums of each reference (a département, France): small


class CommuneRows:
    """Rows of a staged table that each report of a store state reads for its own communes (the home-work flows).
    The first report of a state reads its communes' rows from the file (a command builds one report); from the
    second on, the rows any report may read (`read_all`) are kept, in order of commune, and a report's are sliced
    out of them, in the table's order (a filtered read of France's 950,000 flows took 0.018 s of CPU a report)."""

    def __init__(self, size: int):
        self.kept = PerState(size)

    def of(
        self,
        state: str,
        key: Hashable,
        communes: list[str],
        read_all: Callable[[], pl.DataFrame],
        read_some: Callable[[list[str]], pl.DataFrame],
    ) -> pl.DataFrame:
        """The rows of `communes`: `read_some(communes)`, or the same rows sliced out of `read_all()` (a `code`
        column) when an earlier report of `state` asked for `key` already."""
        if not state:
            return read_some(communes)
        kept: _Kept = self.kept.get(state, key, _Kept)
        with kept.lock:
            kept.asked += 1
            if kept.asked > 1 and kept.rows is None:
                kept.rows = _by_commune(read_all())
            rows = kept.rows
        return read_some(communes) if rows is None else _slice(rows, communes)


class _Kept:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.asked = 0
        self.rows: pl.DataFrame | None = None  # in order of code, with each row's place in the table (`_row`)


def _by_commune(rows: pl.DataFrame) -> pl.DataFrame:
    rows = rows.with_row_index("_row")
    return rows if rows["code"].is_sorted() else rows.sort("code", maintain_order=True)


def _slice(rows: pl.DataFrame, communes: list[str]) -> pl.DataFrame:
    """The rows of `communes` (`rows` in order of code), in the table's order."""
    wanted = pl.Series(sorted(set(communes)), dtype=rows.schema["code"])
    starts = rows["code"].search_sorted(wanted, side="left").to_list()
    ends = rows["code"].search_sorted(wanted, side="right").to_list()
    positions = [n for start, end in zip(starts, ends) for n in range(start, end)]
    return rows[positions].sort("_row").drop("_row")
