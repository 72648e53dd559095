"""The fast paths of a refresh: the staged tables' sort by a packed integer key, a raw file not hashed again when
it is the one recorded, and a refresh with nothing new that loads neither the geography nor the heavy libraries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from sources import download
from sources.catalogue import FileSpec
from sources.download import fetch, make_session
from sources.values import sorted_by_key

ROOT = Path(__file__).resolve().parents[1]


# -- sorted_by_key -----------------------------------------------------------------------------------------------


def test_sorted_by_key_orders_rows_as_the_key_columns_do_nulls_first():
    frame = pl.DataFrame(
        {
            "level": ["COM", "ARM", "COM", "COM", "COM"],
            "code": ["02001", "75101", "01001", "01001", "01001"],
            "year": [2021, 2020, 2022, 2021, 2021],
            "month": [None, 1, None, None, 3],
            "variable": ["b", "a", "a", "b", "a"],
        },
        schema_overrides={"year": pl.Int32, "month": pl.Int8},
    )
    # by hand: ARM before COM ("A" < "C"); within COM 01001: 2021 before 2022; within 2021 the null month first
    # (month null "b" = row 3, then month 3 "a" = row 4); then 01001 2022 (row 2); 02001 last (row 0)
    expected_rows = [1, 3, 4, 2, 0]
    assert sorted_by_key(frame).rows() == [frame.row(i) for i in expected_rows]


def test_sorted_by_key_with_a_leading_flag_and_equal_keys_in_their_order():
    frame = pl.DataFrame({"moved": [True, False, False, True], "code": ["b", "b", "a", "a"], "n": [1, 2, 3, 4]})
    # by hand: False before True; within False "a" (row 2) then "b" (row 1); within True "a" (row 3), "b" (row 0)
    assert sorted_by_key(frame, ["moved", "code"])["n"].to_list() == [3, 2, 4, 1]
    same = pl.DataFrame({"code": ["x", "x", "w"], "n": [1, 2, 3]})
    assert sorted_by_key(same, ["code"])["n"].to_list() == [3, 1, 2]  # the two "x" rows keep their order


def test_sorted_by_key_falls_back_to_the_plain_sort_when_the_key_does_not_fit_64_bits():
    # five integer columns each spanning 2**20 values need 5 x 21 = 105 bits: sorted column by column instead
    big = 2**20
    frame = pl.DataFrame({f"k{i}": [big, 0, big, 0] for i in range(4)} | {"k4": [0, big, -1, 5]})
    # by hand: rows 1 and 3 have k0..k3 = 0 (first), ordered by k4: 5 (row 3) then 2**20 (row 1); then rows 0
    # and 2 (k0..k3 = 2**20) by k4: -1 (row 2) then 0 (row 0)
    assert sorted_by_key(frame, [f"k{i}" for i in range(5)])["k4"].to_list() == [5, big, -1, 0]


# -- a raw file recorded is not read again -----------------------------------------------------------------------


def _spec(httpserver) -> FileSpec:
    return FileSpec(url=httpserver.url_for("/f.csv"), format="csv")


@pytest.fixture
def served(httpserver):
    body = b"CODGEO;P22_POP\n01001;771\n"
    httpserver.expect_request("/f.csv", headers={"If-None-Match": '"v1"'}).respond_with_data("", status=304)
    httpserver.expect_request("/f.csv").respond_with_data(body, content_type="text/csv", headers={"ETag": '"v1"'})
    return httpserver


def test_an_unchanged_file_of_the_recorded_size_and_time_is_not_hashed_again(served, tmp_path, monkeypatch):
    dest = tmp_path / "f.csv"
    first = fetch(_spec(served), dest, session=make_session()).as_dict()
    assert first["status"] == "downloaded" and first["mtime_ns"] == dest.stat().st_mtime_ns

    def no_hash(path):
        raise AssertionError(f"{path} hashed again")

    monkeypatch.setattr(download, "sha256_of", no_hash)
    again = fetch(_spec(served), dest, first, session=make_session())
    assert again.status == "unchanged" and again.sha256 == first["sha256"]


def test_a_file_touched_since_it_was_recorded_is_hashed_before_it_is_trusted(served, tmp_path):
    dest = tmp_path / "f.csv"
    first = fetch(_spec(served), dest, session=make_session()).as_dict()
    dest.write_bytes(b"CODGEO;P22_POP\n01001;999\n")  # same size, other bytes, a later modification time
    os.utime(dest, ns=(first["mtime_ns"] + 10**9, first["mtime_ns"] + 10**9))
    again = fetch(_spec(served), dest, first, session=make_session())
    assert again.status == "downloaded"  # no validators sent for bytes that are not the recorded ones
    assert dest.read_bytes() == b"CODGEO;P22_POP\n01001;771\n"


# -- a refresh with nothing new ------------------------------------------------------------------------------------

NOTHING_NEW = """
import json, sys
from flows import local
from sources import refresh
outcome = local.refresh(mirror=sys.argv[1], data_dir=sys.argv[2], publish_dir=sys.argv[3], publish=False)
heavy = ("pandera", "great_tables", "prefect", "shapely", "pyproj", "reports", "transforms")
print(json.dumps({
    "statuses": sorted({r.status for r in outcome["report"].results}),
    "heavy": sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}),
    "geographies_loaded": len(refresh._geographies),
}))
"""


def test_a_refresh_with_nothing_new_loads_no_geography_and_no_heavy_library(demo_store, demo_mirror, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    command = [sys.executable, "-c", NOTHING_NEW, demo_mirror.url, str(data), str(tmp_path / "pub")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome == {"statuses": ["unchanged"], "heavy": [], "geographies_loaded": 0}
