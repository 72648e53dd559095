"""`compute`'s rows before any string is built: numbers with the position of their place and of their indicator.

France's table has 3.3 million rows (37,000 places times 92 indicators). Building its strings (level, code,
indicator, reasons) costs more than computing it, and the comparison then needs places and indicators as positions
again: a `Placed` keeps them as positions (`_place` in `places`, `_ind` in `ids`) and its reasons as codes of
`words`, and whoever finishes the table (`transforms.compare`) names them once, a slice at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

# The order of the rows of `compute` (and of the diagnostic table, `transforms.compare`): by place, its level in
# this order (an arrondissement among the communes) then its code; then by indicator in the catalogue's order.
ARM = "ARM"  # an arrondissement of Paris, Lyon or Marseille (`transforms.arrondissements`)
COMMUNE_LEVELS = ("COM", ARM)  # the places that are communes: a commune, an arrondissement
PLACE_ORDER = {"COM": 0, ARM: 0, "TERRITORY": 1, "EPCI": 2, "DEP": 3, "FRANCE": 4}

RANKED = ("status", "status_comparison")  # `compute`'s columns of reasons, codes of `words` in a `Placed`
MAX_PIECES = 10_000  # above it, `merged` gathers the rows rather than chaining slices of them


@dataclass(frozen=True)
class Placed:
    """`rows`: `_place` and `_ind` (UInt32), then `compute`'s columns but level, group and indicator, in its order,
    by place then indicator (a place an indicator has no row for is skipped); the `RANKED` columns hold UInt32
    codes of `words` (its last word null: no reason). `places`: (level, code) in the place order; `ids` the
    indicators; `schema` the columns and types of `compute`'s frame (with `group` for the code)."""

    rows: pl.DataFrame
    places: pl.DataFrame
    ids: tuple[str, ...]
    words: pl.Series
    schema: dict

    def frame(self) -> pl.DataFrame:
        """The rows as `compute` gives them: level, group, indicator and reasons named."""
        place, ind = self.rows["_place"], self.rows["_ind"]
        named = {
            "level": self.places["level"].gather(place),
            "group": self.places["code"].gather(place),
            "indicator": pl.Series(self.ids, dtype=pl.String).gather(ind),
        }
        columns = []
        for name, dtype in self.schema.items():
            if name in named:
                column = named[name]
            elif name in RANKED:
                column = self.words.gather(self.rows[name])
            else:
                column = self.rows[name]
            columns.append(column.cast(dtype).alias(name))
        return pl.DataFrame(columns)

    def code_of(self, word: str) -> int:
        """The code of one reason in `words`."""
        return self.words.to_list().index(word)


def merged(first: Placed, second: Placed) -> Placed:
    """Both tables' rows in the place order (`PLACE_ORDER`, then code: arrondissements among the communes), as
    chained slices of their rows where the places follow each other (a handful of runs: no copy of millions of
    rows). Both must have the same indicators."""
    if first.ids != second.ids:
        raise ValueError("merged: the two tables do not have the same indicators")
    first, second = _same_words(first, second)
    places = pl.concat([first.places, second.places])
    rank = places["level"].replace_strict(PLACE_ORDER, return_dtype=pl.Int8)
    order = places.with_columns(_rank=rank).with_row_index("_old").sort("_rank", "code")["_old"].to_numpy()
    new_of_old = np.empty_like(order)
    new_of_old[order] = np.arange(order.size, dtype=order.dtype)
    n_first = first.places.height
    rows = pl.concat(
        [first.rows, second.rows.with_columns((pl.col("_place") + n_first).cast(pl.UInt32))],
        how="vertical_relaxed",
        rechunk=False,
    )
    counts = np.bincount(rows["_place"].to_numpy(), minlength=order.size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = _rows_in_order(rows, order, starts, counts)
    rows = rows.with_columns(_place=pl.Series(new_of_old.astype(np.uint32)).gather(rows["_place"]))
    return replace(first, rows=rows, places=places[pl.Series(order)])


def _rows_in_order(rows: pl.DataFrame, order: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> pl.DataFrame:
    """The rows of the places `order` (old positions), each place's rows being `counts` rows from `starts`."""
    breaks = np.flatnonzero(np.diff(order) != 1) + 1  # where the next place is not the one after
    if breaks.size > MAX_PIECES:
        index = np.concatenate([np.arange(starts[p], starts[p] + counts[p]) for p in order])
        return rows[pl.Series(index)]
    bounds = [0, *breaks.tolist(), order.size]
    pieces = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        first, last = order[a], order[b - 1]
        pieces.append(rows.slice(int(starts[first]), int(starts[last] + counts[last] - starts[first])))
    return pl.concat(pieces, rechunk=False)


def _same_words(first: Placed, second: Placed) -> tuple[Placed, Placed]:
    """Both tables with one list of words (their codes changed where the lists differ)."""
    if first.words.equals(second.words):
        return first, second
    known = [w for w in first.words.to_list() if w is not None]
    known += [w for w in second.words.drop_nulls().to_list() if w not in set(known)]
    words = pl.Series(known, dtype=pl.String).extend_constant(None, 1)
    return _recoded(first, words), _recoded(second, words)


def _recoded(table: Placed, words: pl.Series) -> Placed:
    position = {w: i for i, w in enumerate(words.to_list()) if w is not None}
    mapping = pl.Series([position.get(w, words.len() - 1) for w in table.words.to_list()], dtype=pl.UInt32)
    rows = table.rows.with_columns(**{name: mapping.gather(table.rows[name]) for name in RANKED})
    return replace(table, rows=rows, words=words)
