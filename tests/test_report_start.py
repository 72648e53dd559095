"""What makes a report start drawing its pictures early and spend less of its own time: the sections that draw
first, libraries imported when first used, the garbage collector skipping what lived before the reports."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from pathlib import Path

from reports.sections import ReportData, Section, build_sections
from reports.site import _collector_skips_what_lives_now

ROOT = Path(__file__).resolve().parents[1]


def _data() -> ReportData:
    return ReportData(view="v", inputs=None, geography="", comparison_year=None, quality=[], data_years={}, rules=None)


def test_a_section_that_draws_first_is_built_first_and_numbered_in_reading_order():
    told = []
    sections = (
        Section("a", "Un", (), lambda: {}, "<p>a</p>"),
        Section("b", "Absent", (), lambda: None, "never", draws_first=True),  # builds nothing: no number
        Section("c", "Trois", (), lambda: {}, "<p>c</p>"),
        Section("d", "Cartes", (), lambda: {}, "<p>d</p>", draws_first=True),
    )
    built = build_sections(sections, _data(), on_built=lambda s: told.append((s.id, str(s.body))))
    # told as built: « d » (draws first) before « a » and « c », which keep their order; « b » never told
    assert told == [("d", "<p>d</p>"), ("a", "<p>a</p>"), ("c", "<p>c</p>")]
    # numbered in reading order among the built ones: a=1, c=2, d=3 (« b » left out)
    assert [(s.number, s.id) for s in built] == [(1, "a"), (2, "c"), (3, "d")]


def test_without_a_section_that_draws_first_the_build_order_is_the_reading_order():
    told = []
    sections = tuple(Section(i, i.upper(), (), lambda: {}, f"<p>{i}</p>") for i in ("x", "y", "z"))
    built = build_sections(sections, _data(), on_built=lambda s: told.append(s.id))
    assert told == ["x", "y", "z"]
    assert [(s.number, s.id) for s in built] == [(1, "x"), (2, "y"), (3, "z")]


def _generation_of(thing) -> int | None:
    """The collected generation (0, 1, 2) `thing` is in, None when in none (frozen)."""
    return next((g for g in range(3) if any(o is thing for o in gc.get_objects(generation=g))), None)


def test_the_collector_skips_what_lived_before_and_walks_it_again_after():
    assert gc.get_freeze_count() == 0
    before = [1]  # a list is tracked by the collector
    assert _generation_of(before) is not None
    with _collector_skips_what_lives_now():
        assert gc.get_freeze_count() > 0
        assert _generation_of(before) is None  # frozen: no collection walks it
        during = [2]
        assert _generation_of(during) is not None  # made during the reports: collected as usual
    assert gc.get_freeze_count() == 0
    assert _generation_of(before) == 2  # thawed into the oldest generation


def test_the_collector_is_left_alone_off_the_main_thread_and_when_someone_froze_already():
    counts = []

    def in_a_thread():
        with _collector_skips_what_lives_now():
            counts.append(gc.get_freeze_count())

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert counts == [0]  # reports built side by side: nothing frozen

    before = [1]
    gc.freeze()  # as a national batch's worker does
    try:
        with _collector_skips_what_lives_now():
            pass
        # not thawed by the report (the count itself may drop: a frozen object is still freed when unreferenced)
        assert gc.get_freeze_count() > 0
        assert _generation_of(before) is None
    finally:
        gc.unfreeze()


def test_the_report_modules_import_great_tables_and_babel_dates_only_when_used():
    code = "import sys, reports.site; print(sorted(m for m in ('great_tables', 'babel.dates') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
