"""The memory bound of parallel staging (`sources.memory`): estimates from the files, a budget threads share."""

from __future__ import annotations

import threading
import time
import zipfile

from sources import memory
from sources.memory import DEFAULT_BYTES_PER_TEXT_BYTE, MemoryBudget, estimate, text_bytes


def test_text_bytes_of_a_zip_are_its_members_inflated_sizes(tmp_path):
    archive = tmp_path / "base.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.CSV", "CODGEO;P22_POP\n" + "01001;100\n" * 1000)  # 15 + 10 x 1,000 = 10,015 bytes
        z.writestr("meta.CSV", "a;b\n")  # 4 bytes
    plain = tmp_path / "s_ben_com_f.csv"
    plain.write_bytes(b"x" * 300)
    assert archive.stat().st_size < 10_019  # compressed: the estimate is not the size on disk
    assert text_bytes(archive) == 10_019  # 10,015 + 4
    assert text_bytes(plain) == 300
    assert estimate("census", [archive, plain, tmp_path / "absent"]) == (10_019 + 300) * 32  # census: 32 per byte
    assert estimate("a_new_parser", [plain]) == 300 * DEFAULT_BYTES_PER_TEXT_BYTE


def test_a_reservation_waits_until_it_fits_beside_the_others():
    budget = MemoryBudget(100)
    events: list[str] = []
    first_in = threading.Event()

    def first():
        with budget.reserve(60):
            events.append("first in")
            first_in.set()
            time.sleep(0.3)
            events.append("first out")

    def second():
        first_in.wait()
        with budget.reserve(60):  # 60 + 60 > 100: only once the first is out
            events.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert events == ["first in", "first out", "second in"]
    assert budget.held == 0


def test_small_reservations_run_together_and_a_huge_one_runs_alone():
    budget = MemoryBudget(100)
    with budget.reserve(30) as a, budget.reserve(50) as b:  # 30 + 50 = 80 <= 100: both at once
        assert (a, b, budget.held) == (30, 50, 80)
    with budget.reserve(250) as huge:  # above the budget: clamped to all of it, so it runs alone
        assert huge == 100 and budget.held == 100
    assert budget.held == 0


def test_the_budget_is_read_from_the_settings(monkeypatch):
    monkeypatch.setenv("ABS_STAGING_MEMORY_MB", "3")
    monkeypatch.setattr(memory, "_budget", None)
    assert memory.staging_budget().limit == 3 * 2**20
    assert memory.staging_budget() is memory.staging_budget()
