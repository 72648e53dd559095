"""Versioned publications: a new folder per run, `latest` switched only when the run succeeded."""

from __future__ import annotations

import errno
import json
import os
import pickle
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.publication import Publication, PublishError, describe

REPO = Path(__file__).resolve().parents[1]

NOW = datetime(2026, 7, 1, 4, 0, 12, tzinfo=UTC)


def publish(pub: Publication, text: str, now: datetime = NOW) -> str:
    draft = pub.begin({"flow": "test"}, now=now)
    (draft.path / "rapport.html").write_text(text, encoding="utf-8")
    return pub.commit(draft).name


def test_a_commit_makes_a_version_and_points_latest_at_it(tmp_path):
    pub = Publication(tmp_path, "territoires/epci-200067346")
    assert pub.latest is None and pub.versions() == [] and "nothing published yet" in describe(pub)
    version = publish(pub, "2026")
    assert version == "2026-07-01T040012Z"
    link = pub.dir / "latest"
    assert link.is_symlink() and os.readlink(link) == version  # relative: the tree can be moved
    assert (link / "rapport.html").read_text(encoding="utf-8") == "2026"
    meta = json.loads((link / "publication.json").read_text(encoding="utf-8"))
    assert meta == meta | {
        "name": "territoires/epci-200067346",
        "version": version,
        "files": ["rapport.html"],
        "previous": None,
        "flow": "test",
    }


def test_a_new_version_keeps_the_previous_one(tmp_path):
    pub = Publication(tmp_path, "national")
    first = publish(pub, "2026")
    second = publish(pub, "2027", now=NOW.replace(year=2027))
    assert pub.versions() == [first, second] and pub.latest.name == second
    assert (pub.dir / first / "rapport.html").read_text(encoding="utf-8") == "2026"
    assert pub.metadata()["previous"] == first


def test_two_runs_in_the_same_second_get_distinct_versions(tmp_path):
    pub = Publication(tmp_path, "national")
    assert [publish(pub, "a"), publish(pub, "b"), publish(pub, "c")] == [
        "2026-07-01T040012Z",
        "2026-07-01T040012Z-2",
        "2026-07-01T040012Z-3",
    ]


def test_a_failed_run_is_set_aside_and_latest_does_not_move(tmp_path):
    pub = Publication(tmp_path, "national")
    version = publish(pub, "2026")
    with pytest.raises(RuntimeError, match="source broken"):
        with pub.publishing() as draft:
            (draft.path / "rapport.html").write_text("half", encoding="utf-8")
            raise RuntimeError("source broken")
    assert pub.latest.name == version and pub.versions() == [version]
    [failed] = [p for p in pub.dir.iterdir() if p.name.startswith("_failed-")]
    assert "RuntimeError: source broken" in (failed / "failure.txt").read_text(encoding="utf-8")
    assert (pub.latest / "rapport.html").read_text(encoding="utf-8") == "2026"


def test_an_interrupted_run_leaves_a_draft_that_is_never_pointed_to(tmp_path):
    pub = Publication(tmp_path, "national")
    version = publish(pub, "2026")
    draft = pub.begin()  # the process dies here: no commit, no fail
    (draft.path / "rapport.html").write_text("half", encoding="utf-8")
    assert draft.path.name.startswith("_draft-")
    assert Publication(tmp_path, "national").latest.name == version
    assert Publication(tmp_path, "national").versions() == [version]


def test_commits_from_many_threads_leave_a_consistent_publication(tmp_path):
    pub = Publication(tmp_path, "national")
    errors = []

    def one(i: int):
        try:
            publish(Publication(tmp_path, "national"), str(i))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(pub.versions()) == 8  # no run overwrote another
    assert pub.latest.name in pub.versions() and (pub.latest / "rapport.html").exists()
    assert not [p for p in pub.dir.iterdir() if p.name.startswith((".latest-", "_draft-"))]


@pytest.mark.parametrize("name", ["", "/abs", "../up", "a/../../b", ".hidden"])
def test_a_publication_name_stays_inside_the_root(tmp_path, name):
    with pytest.raises(ValueError, match="relative folder name"):
        Publication(tmp_path, name)


def test_a_failed_switch_of_latest_sets_the_renamed_version_aside(tmp_path, monkeypatch):
    pub = Publication(tmp_path, "national")
    version = publish(pub, "2026")
    draft = pub.begin(now=NOW.replace(year=2027))
    (draft.path / "rapport.html").write_text("2027", encoding="utf-8")

    def no_symlink(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("storage.publication.os.symlink", no_symlink)
    with pytest.raises(OSError, match="disk full"):
        pub.commit(draft)  # the draft was renamed to its version, then the link could not be made
    assert draft.path == pub.dir / "2027-07-01T040012Z" and draft.path.is_dir()

    failed = pub.fail(draft, "disk full")
    assert failed == pub.dir / "_failed-2027-07-01T040012Z" and failed.is_dir() and draft.path == failed
    assert "disk full" in (failed / "failure.txt").read_text(encoding="utf-8")
    assert (failed / "rapport.html").read_text(encoding="utf-8") == "2027"
    assert pub.latest.name == version and pub.versions() == [version]  # never listed, never pointed to
    assert not [p for p in pub.dir.iterdir() if p.name.startswith(".latest-")]


def test_failing_a_version_that_latest_already_points_to_keeps_it(tmp_path):
    pub = Publication(tmp_path, "national")
    draft = pub.begin(now=NOW)
    folder = pub.commit(draft)
    assert pub.fail(draft, "a step after the switch failed") == folder  # published: not moved
    assert pub.latest == folder and pub.versions() == [folder.name]


# -- leftovers of dead runs, and errors of the publication itself --------------------------------------------


def _die_while_publishing(root, step: str) -> subprocess.CompletedProcess:
    """A real process that begins a draft of `national` and dies (SIGKILL-like `os._exit`) at `step`."""
    script = f"""
import os, sys
from storage.publication import Publication
pub = Publication({str(root)!r}, "national")
draft = pub.begin()
(draft.path / "rapport.html").write_text("half", encoding="utf-8")
pub.scratch_path(draft, "table.parquet").write_bytes(b"scratch")
if {step!r} == "switch":
    os.symlink = lambda *args: os._exit(9)  # dies after the rename, before `latest` moves
    pub.commit(draft)
os._exit(9)
"""
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)


def _names(pub: Publication) -> list[str]:
    return sorted(p.name for p in pub.dir.iterdir())


def test_the_next_publication_sets_aside_the_draft_of_a_dead_run(tmp_path):
    pub = Publication(tmp_path, "national")
    version = publish(pub, "2026")
    assert _die_while_publishing(tmp_path, "draft").returncode == 9
    [dead] = [n for n in _names(pub) if n.startswith("_draft-")]
    assert any(n.startswith(".scratch-") for n in _names(pub))

    second = publish(pub, "2027", now=NOW.replace(year=2027))
    failed = pub.dir / dead.replace("_draft-", "_failed-")
    assert "interrupted" in (failed / "failure.txt").read_text(encoding="utf-8")
    assert (failed / "rapport.html").read_text(encoding="utf-8") == "half"
    assert _names(pub) == sorted([".lock", version, second, failed.name, "latest"])
    assert pub.versions() == [version, second] and pub.latest.name == second


def test_a_run_killed_between_the_rename_and_the_switch_leaves_no_version_behind(tmp_path):
    pub = Publication(tmp_path, "national")
    version = publish(pub, "2026")
    assert _die_while_publishing(tmp_path, "switch").returncode == 9
    [orphan] = [v for v in pub.versions() if v != version]  # renamed, never pointed to
    assert pub.latest.name == version

    second = publish(pub, "2027", now=NOW.replace(year=2027))
    assert pub.versions() == [version, second] and pub.latest.name == second
    failed = pub.dir / f"_failed-{orphan}"
    assert "interrupted" in (failed / "failure.txt").read_text(encoding="utf-8")
    assert not [n for n in _names(pub) if n.startswith((".committing-", ".latest-", ".scratch-", "_draft-"))]


def test_the_draft_and_scratch_files_of_a_live_run_are_never_touched(tmp_path):
    pub = Publication(tmp_path, "national")
    live = pub.begin(now=NOW)  # a run writing now, in another Publication object (its flock is held)
    scratch = pub.scratch_path(live, "table.parquet")
    scratch.write_bytes(b"in use")
    (pub.dir / ".latest-dead.tmp").symlink_to("nowhere")  # a dead run's temporary link

    other = Publication(tmp_path, "national").begin(now=NOW)
    assert live.path.is_dir() and scratch.read_bytes() == b"in use"
    assert other.path != live.path and not (pub.dir / ".latest-dead.tmp").is_symlink()
    assert pub.commit(live) == pub.dir / live.version  # the live run publishes normally afterwards


def test_writing_the_draft_on_a_full_disk_names_the_draft(tmp_path):
    pub = Publication(tmp_path, "national")
    version = publish(pub, "2026")
    draft = pub.begin(now=NOW.replace(year=2027))
    (draft.path / "rapport.html").symlink_to("/dev/full")  # every write there fails with ENOSPC
    with pytest.raises(OSError) as raised:
        (draft.path / "rapport.html").write_text("x" * 10_000, encoding="utf-8")
    assert str(raised.value) == "[Errno 28] No space left on device"  # what the user saw: no path, no step
    error = pub.explain(draft, raised.value)
    assert isinstance(error, PublishError) and error.errno == errno.ENOSPC
    assert str(error) == (
        f"publication national: draft failed on {draft.path}: [Errno 28] No space left on "
        "device (the previous publication is kept)"
    )
    pub.fail(draft, error)
    assert pub.latest.name == version and pub.versions() == [version]
    assert pub.explain(draft, ValueError("bad")).args == ("bad",)  # not an OS error: unchanged


@pytest.mark.parametrize(
    "target, step, where", [("os.rename", "commit", "{final}"), ("os.symlink", "switch of latest", "{dir}/latest")]
)
def test_a_full_disk_at_commit_or_switch_names_the_step_and_keeps_the_previous_publication(
    tmp_path, monkeypatch, target, step, where
):
    pub = Publication(tmp_path, "national")
    version = publish(pub, "2026")
    draft = pub.begin(now=NOW.replace(year=2027))
    (draft.path / "rapport.html").write_text("2027", encoding="utf-8")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(f"storage.publication.{target}", full)
    with pytest.raises(PublishError) as raised:
        pub.commit(draft)
    monkeypatch.undo()
    path = where.format(final=pub.dir / draft.version, dir=pub.dir)
    assert str(raised.value) == (
        f"publication national: {step} failed on {path}: [Errno 28] No space left on "
        "device (the previous publication is kept)"
    )
    pub.fail(draft, raised.value)
    assert pub.latest.name == version and pub.versions() == [version]
    assert (pub.latest / "rapport.html").read_text(encoding="utf-8") == "2026"
    assert pickle.loads(pickle.dumps(raised.value)).args == raised.value.args  # Prefect pickles run errors
    assert str(pickle.loads(pickle.dumps(raised.value))) == str(raised.value)


def test_a_publication_folder_that_cannot_be_made_is_a_draft_error(tmp_path):
    (tmp_path / "national").write_text("a file where the folder should be", encoding="utf-8")
    with pytest.raises(PublishError, match=r"publication territoires/x: draft failed on .*national"):
        Publication(tmp_path / "national", "territoires/x").begin()
