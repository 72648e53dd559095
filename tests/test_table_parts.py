"""A theme's indicators go into as few tables as fit the printed width with every row on one line (issue 13's
compact print): the width of a cell estimated from its text, and the packing of columns into tables. Widths and
expected parts written by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from reports import formats as F
from reports.tables import CELL_PAD_PX, FLAG_PX, GAP_PX, NOTE_CHAR_PX, VALUE_CHAR_PX, cell_width_px, pack

RATE = SimpleNamespace(id="part", label="Part des familles", unit="percent", kind="ratio", direction="higher_is_need")


def test_a_cell_is_as_wide_as_its_value_count_and_evolution():
    row = {"value": 12.5, "numerator": 1234.0, "evolution": None, "flag": None, "status": None}
    # « 12,5 % » is 6 characters (U+202F before %), « 1 234 » 5
    assert F.value(12.5, "percent") == f"12,5{F.NNBSP}%" and F.count(1234.0) == f"1{F.NNBSP}234"
    assert cell_width_px(row, RATE) == pytest.approx(CELL_PAD_PX + 6 * VALUE_CHAR_PX + GAP_PX + 5 * NOTE_CHAR_PX)
    flagged = row | {"flag": "priorité", "evolution": 1.2, "evolution_unit": "pt"}
    evolution = F.evolution(1.2, "pt", "percent")  # « ↗ +1,2 pt »
    assert cell_width_px(flagged, RATE) == pytest.approx(
        CELL_PAD_PX + FLAG_PX + 6 * VALUE_CHAR_PX + GAP_PX + 5 * NOTE_CHAR_PX + GAP_PX + len(evolution) * NOTE_CHAR_PX
    )


def test_columns_are_packed_in_order_into_the_fewest_tables_evened_out():
    # 200 + 200 = 400 fits 556, a third 200 would make 600: two tables of two
    assert pack([200, 200, 200, 100], 556, 8) == [[0, 1], [2, 3]]
    # greedy 100 x 5 = 500, then 500 alone; even halves would be 300 and 700 (> 556): the greedy parts stay
    assert pack([100, 100, 100, 100, 100, 500], 556, 8) == [[0, 1, 2, 3, 4], [5]]
    # ten narrow columns (500 in all) but at most eight a table: greedy 8 + 2, evened out to 5 + 5 (250 each)
    assert pack([50] * 10, 556, 8) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    # a column wider than the page gets a table of its own
    assert pack([600, 100], 556, 8) == [[0], [1]]
    assert pack([], 556, 8) == []
