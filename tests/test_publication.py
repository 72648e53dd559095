"""Versioned publications: a new folder per run, `latest` switched only when the run succeeded."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime

import pytest

from sources.publication import Publication, describe

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
    assert meta == meta | {"name": "territoires/epci-200067346", "version": version, "files": ["rapport.html"],
                           "previous": None, "flow": "test"}


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
        "2026-07-01T040012Z", "2026-07-01T040012Z-2", "2026-07-01T040012Z-3"]


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

    monkeypatch.setattr("sources.publication.os.symlink", no_symlink)
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
