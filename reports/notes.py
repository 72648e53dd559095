"""Footnote marks: why a cell is empty (or carries a borrowed value), in a few letters the reader finds again
under the table with the French reason of `transforms.reasons.LABELS_FR`."""

from __future__ import annotations

from collections.abc import Iterable

from transforms import reasons as R

# reason -> mark shown in the cell; short French abbreviations, stable across every table of every report
MARKS = {
    R.SECRET: "s",
    R.NOT_AVAILABLE: "nd",
    R.MISSING: "m",
    R.NON_RECALCULABLE: "nr",
    R.NOT_SIGNIFICANT: "ns",
    R.ZERO_DENOMINATOR: "so",
    R.NOT_AGGREGABLE: "na",
    R.NOT_PUBLISHED: "np",
    R.EPCI_FALLBACK: "e",
    R.NO_EPCI: "he",
    R.DEFINITION_CHANGE: "dc",
    R.PARTIAL_SECRET: "hs",
    R.CITY_ONLY: "v",
}
UNKNOWN_MARK = "?"
UNKNOWN_LABEL = "motif non précisé par la source"
# reasons that come with a value (the cell shows the value and the mark)
WITH_VALUE = {R.EPCI_FALLBACK, R.PARTIAL_SECRET}


def mark(reason: str | None) -> str:
    """The mark of a reason; '' for no reason."""
    if reason is None:
        return ""
    return MARKS.get(reason, UNKNOWN_MARK)


def label(reason: str) -> str:
    return R.LABELS_FR.get(reason, UNKNOWN_LABEL)


def cell_reason(value: float | None, status: str | None) -> str | None:
    """The reason a cell shows a mark for: every empty cell has one, a filled cell only when its value is borrowed.

    A null value without a status would be a bug upstream; it is shown as `missing` rather than as a blank."""
    if value is None:
        return status or R.MISSING
    return status if status in WITH_VALUE else None


def legend(reasons: Iterable[str | None]) -> list[tuple[str, str]]:
    """(mark, French label) for each distinct reason, in the order of MARKS (the same order under every table)."""
    present = {r for r in reasons if r is not None}
    known = [(MARKS[r], label(r)) for r in MARKS if r in present]
    unknown = present - set(MARKS)
    return known + ([(UNKNOWN_MARK, UNKNOWN_LABEL)] if unknown else [])
