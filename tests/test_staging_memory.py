"""The memory bound of parallel staging (`sources.memory`): estimates from the files, a budget threads share."""

from __future__ import annotations

import threading
import time
import zipfile

import polars as pl

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
    assert estimate("census", [archive, plain, tmp_path / "absent"]) == (10_019 + 300) * 22  # census: 22 per byte
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


def test_a_watched_block_counts_the_waits_and_the_most_held_at_once():
    budget = MemoryBudget(100)
    with budget.reserve(10):  # held before the block: part of what it sees held at once
        with budget.watched() as use:
            first_in = threading.Event()

            def first():
                with budget.reserve(60):
                    first_in.set()
                    time.sleep(0.3)

            def second():
                first_in.wait()
                with budget.reserve(50):  # 10 + 60 + 50 > 100: waits about 0.3 s for the first
                    pass

            threads = [threading.Thread(target=first), threading.Thread(target=second)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(5)
            with budget.reserve(20):  # 10 + 20 fit at once: no wait
                pass
    assert use["waits"] == 1
    assert 0.2 <= use["waited_s"] < 5
    assert use["most_mib"] * memory.MIB == 70  # 10 + 60; then 10 + 50, then 10 + 20
    assert use["limit_mib"] * memory.MIB == 100


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


# -- the BPE fills a grid of communes x types whatever its file holds (its zeros): its estimate follows the grid --

BPE_HEADER = '"GEO";"GEO_OBJECT";"FACILITY_DOM";"FACILITY_SDOM";"FACILITY_TYPE";"BPE_MEASURE";"TIME_PERIOD";"OBS_VALUE"'
BPE_ROWS = [
    '"01001";"COM";"D";"D5";"D502";"FACILITIES";2024;2',
    '"01001";"COM";"D";"D5";"_T";"FACILITIES";2024;2',  # a subtotal: not a type of the grid
    '"2A004";"COM";"D";"D2";"D265";"FACILITIES";2024;5',
    '"2A004";"COM";"A";"A1";"A129";"FACILITIES";2024;1',
]
# the release's dictionary: three leaf types, the domain and sub-domain rows and a `_T` are not types of the grid
BPE_METADATA = "\n".join(
    [
        '"COD_VAR";"LIB_VAR";"COD_MOD";"LIB_MOD"',
        '"FACILITY_DOM";"Domaine";"D";"Santé"',
        '"FACILITY_SDOM";"Sous-domaine";"D5";"Action sociale"',
        '"FACILITY_TYPE";"Type";"D502";"EAJE"',
        '"FACILITY_TYPE";"Type";"D265";"Médecin"',
        '"FACILITY_TYPE";"Type";"A129";"Mairie"',
        '"FACILITY_TYPE";"Type";"_T";"Total"',
    ]
)


def bpe_archive(tmp_path, metadata: str | None) -> dict:
    path = tmp_path / "DS_BPE_CSV_FR.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("DS_BPE_2024_data.csv", "\n".join([BPE_HEADER, *BPE_ROWS]) + "\n")
        if metadata is not None:
            z.writestr("DS_BPE_2024_metadata.csv", metadata + "\n")
    return {"main": path}


def test_the_bpe_reserves_for_the_grid_of_communes_and_types_it_stages(tmp_path, geo):
    from sources import bpe, catalogue
    from sources.memory import BYTES_PER_GRID_CELL, entry_estimate

    entry, files = catalogue.get("bpe", "courant"), bpe_archive(tmp_path, BPE_METADATA)
    communes = len(geo.communes_at(2025))  # BPE 2024 is in COG 2025, the target: its communes
    assert bpe.grid_cells(entry, files, geo) == communes * 3  # D502, D265, A129 listed; `_T` is no type
    staged = bpe.stage(entry, files, geo).frame
    # the grid is what staging writes: one COM row per commune and type (2 published, the others zeros)
    assert staged.filter(pl.col("level") == "COM").height == communes * 3
    assert BYTES_PER_GRID_CELL["bpe"] == 130
    # the demo world's 21 communes make a small grid: the larger of it and the text's estimate
    by_text = text_bytes(files["main"]) * DEFAULT_BYTES_PER_TEXT_BYTE
    assert entry_estimate(entry, files, geo) == max(by_text, communes * 3 * 130)


def test_without_its_metadata_the_bpe_grid_counts_the_types_of_its_data(tmp_path, geo):
    from sources import bpe, catalogue

    entry = catalogue.get("bpe", "courant")
    files = bpe_archive(tmp_path, None)
    assert bpe.grid_cells(entry, files, geo) == len(geo.communes_at(2025)) * 3  # D502, D265, A129 in the rows
    assert bpe.grid_cells(entry, files, None) == 0  # no geography: the communes the file names, a few rows


def test_a_parser_without_a_grid_is_estimated_from_its_text_alone(tmp_path):
    plain = tmp_path / "s_ben_com_f.csv"
    plain.write_bytes(b"x" * 300)
    assert estimate("caf_benefits", [plain], grid_cells=1_000_000) == 300 * 33  # no grid factor: text only
    assert estimate("bpe", [plain], grid_cells=2) == 300 * DEFAULT_BYTES_PER_TEXT_BYTE  # 300 x 60 > 2 x 130
    # France: 111 KB of text (x 60: 6.4 MiB) for 35,000 communes x 24 types, measured at 87-92 MiB
    france = tmp_path / "DS_BPE_2024_data.csv"
    france.write_bytes(b"x" * 111_086)
    assert estimate("bpe", [france], grid_cells=35_000 * 24) == 840_000 * 130  # 109,200,000 bytes: 104 MiB
