"""Publishing without ever losing the previous publication: versioned folders and an atomic `latest` link.

    <root>/<name>/
        2026-07-01T060012Z/            a complete publication; publication.json says what and by which run
        _draft-2026-07-02T060000Z/     a run writing now, or one that was interrupted: never pointed to
        _failed-2026-07-03T060000Z/    a run that failed; failure.txt says why: never pointed to
        latest -> 2026-07-01T060012Z   relative symbolic link, replaced by one rename(2)
        .lock

A run writes everything into its draft. Only when every step succeeded is the draft renamed to its version and
`latest` switched (a new link made beside the old one, then renamed over it: readers see the old or the new
publication, never a mix or nothing). A failure renames the draft (or the version folder whose switch of `latest`
failed) `_failed-…` with the reason; a crash leaves `_draft-…`; in both cases `latest` and every earlier version
are untouched. A lock file serialises the version names and the switch between runs publishing the same name at
once.

`<root>` is `ABS_PUBLISH_DIR` (default `./publication`). Names used by the flows: `indicateurs` (the refresh's
national indicator tables), `national` (every EPCI and département), `national-partiel` (a national run limited
to some EPCI or départements), `territoires/<epci-SIREN | commune-CODE | groupe-NAME-HASH>` (a diagnostic).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

METADATA = "publication.json"
FAILURE = "failure.txt"
DRAFT, FAILED = "_draft-", "_failed-"
LATEST = "latest"


def publish_dir() -> Path:
    return Path(os.environ.get("ABS_PUBLISH_DIR", "publication")).resolve()


@dataclass
class Draft:
    """A publication being written: put files under `path`, then `Publication.commit` or `.fail` it."""

    name: str
    version: str
    path: Path
    about: dict = field(default_factory=dict)  # recorded in publication.json (run id, parameters, sources...)


class Publication:
    def __init__(self, root: Path | str | None, name: str):
        if not name or name.startswith(("/", ".")) or ".." in Path(name).parts:
            raise ValueError(f"a publication name is a relative folder name, not {name!r}")
        self.root = Path(root).resolve() if root else publish_dir()
        self.name = name
        self.dir = self.root / name

    # -- reading -----------------------------------------------------------------------------------------------

    @property
    def latest(self) -> Path | None:
        """The folder `latest` points to, or None before the first complete publication."""
        link = self.dir / LATEST
        return (self.dir / os.readlink(link)) if link.is_symlink() else None

    def versions(self) -> list[str]:
        """Complete versions, oldest first."""
        if not self.dir.exists():
            return []
        return sorted(p.name for p in self.dir.iterdir()
                      if p.is_dir() and not p.is_symlink() and not p.name.startswith(("_", "."))
                      and (p / METADATA).exists())

    def metadata(self, version: str | None = None) -> dict | None:
        folder = self.dir / version if version else self.latest
        if folder is None or not (folder / METADATA).exists():
            return None
        return json.loads((folder / METADATA).read_text(encoding="utf-8"))

    # -- writing -----------------------------------------------------------------------------------------------

    def begin(self, about: dict | None = None, now: datetime | None = None) -> Draft:
        """A new, empty draft folder with a version name no other run has or will take."""
        stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H%M%SZ")
        with self._lock():
            version, n = stamp, 1
            while any((self.dir / f"{prefix}{version}").exists() for prefix in ("", DRAFT, FAILED)):
                n += 1
                version = f"{stamp}-{n}"
            path = self.dir / f"{DRAFT}{version}"
            path.mkdir(parents=True)
        return Draft(self.name, version, path, dict(about or {}))

    def commit(self, draft: Draft) -> Path:
        """Make the draft a version and point `latest` at it; returns the version folder."""
        if not draft.path.is_dir():
            raise FileNotFoundError(f"draft {draft.path} is gone: nothing to publish")
        files = sorted(p.relative_to(draft.path).as_posix() for p in draft.path.rglob("*") if p.is_file())
        final = self.dir / draft.version
        with self._lock():
            previous = self.latest
            metadata = {"name": self.name, "version": draft.version, "published_at": _now(), "files": files,
                        "previous": previous.name if previous else None, **draft.about}
            (draft.path / METADATA).write_text(json.dumps(metadata, indent=2, ensure_ascii=False, default=str),
                                               encoding="utf-8")
            os.rename(draft.path, final)
            draft.path = final  # from here on a failure must find the folder under its new name
            link = self.dir / f".{LATEST}-{draft.version}.tmp"
            link.unlink(missing_ok=True)
            try:
                os.symlink(draft.version, link)  # relative: the tree can be moved or served as it is
                os.replace(link, self.dir / LATEST)
            finally:
                link.unlink(missing_ok=True)  # gone after the replace; left behind if the switch failed
            _fsync_dir(self.dir)
        return final

    def fail(self, draft: Draft, reason: str | BaseException) -> Path:
        """Set the draft aside as `_failed-<version>` with the reason; `latest` is not touched."""
        if isinstance(reason, BaseException):
            reason = "".join(traceback.format_exception(reason))
        target = self.dir / f"{FAILED}{draft.version}"
        with self._lock():
            if draft.path == self.dir / draft.version and self.latest == draft.path:
                return draft.path  # the switch itself went through (a later step failed): it is published
            # a draft, or a version folder whose `latest` switch failed: set aside, never listed as a version
            if draft.path.is_dir():
                (draft.path / FAILURE).write_text(f"{_now()}\n{reason}\n", encoding="utf-8")
                os.rename(draft.path, target)
                draft.path = target
        return target

    @contextlib.contextmanager
    def publishing(self, about: dict | None = None) -> Iterator[Draft]:
        """`with pub.publishing() as draft:` write into draft.path; committed only if the block succeeds."""
        draft = self.begin(about)
        try:
            yield draft
        except BaseException as exc:
            self.fail(draft, exc)
            raise
        self.commit(draft)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # held for milliseconds (renames), so waiting is fine
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def describe(publication: Publication) -> str:
    """`national: latest = 2026-07-01T060012Z (3 versions)` or `national: nothing published yet`."""
    latest = publication.latest
    if latest is None:
        return f"{publication.name}: nothing published yet"
    return f"{publication.name}: latest = {latest.name} ({len(publication.versions())} version(s)) in {publication.dir}"


def _fsync_dir(path: Path) -> None:
    """Make the renames durable (a power cut right after the switch keeps it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
