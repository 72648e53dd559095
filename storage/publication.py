"""Publishing without ever losing the previous publication: versioned folders and an atomic `latest` link.

    <root>/<name>/
        2026-07-01T060012Z/            a complete publication; publication.json says what and by which run
        _draft-2026-07-02T060000Z/     a run writing now (it holds a lock on the folder): never pointed to
        _failed-2026-07-03T060000Z/    a run that failed or died; failure.txt says why: never pointed to
        latest -> 2026-07-01T060012Z   relative symbolic link, replaced by one rename(2)
        .lock

A run writes everything into its draft. Only when every step succeeded is the draft renamed to its version and
`latest` switched (a new link made beside the old one, then renamed over it: readers see the old or the new
publication, never a mix or nothing). A failure renames the draft (or the version folder whose switch of `latest`
failed) `_failed-…` with the reason; in both cases `latest` and every earlier version are untouched. A failure of
the publication itself (disk full, permissions) is a `PublishError` naming the step and the path.

A run that dies (killed, power cut) leaves its `_draft-…`, perhaps a `.latest-….tmp` link, a scratch file, or a
version folder whose switch of `latest` never happened (its `.committing-…` marker says so). The next `begin` sets
such drafts and versions aside as `_failed-…` (reason: interrupted) and removes the rest; a draft is known to be
alive by the `flock` its run holds on the folder for its whole life (the kernel releases it when the run dies),
so a live run's draft is never touched. A lock file serialises the version names, the switch and this cleaning
between runs publishing the same name at once.

`<root>` is `ABS_PUBLISH_DIR` (default `./publication`). Names used by the flows: `indicateurs` (the refresh's
national indicator tables), `national` (every EPCI and département), `national-partiel` (a national run limited
to some EPCI or départements), `territoires/<epci-SIREN | commune-CODE | groupe-NAME-HASH>` (a diagnostic).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from storage import locks
from storage.settings import load_settings

METADATA = "publication.json"
FAILURE = "failure.txt"
DRAFT, FAILED = "_draft-", "_failed-"
LATEST = "latest"
COMMITTING = ".committing-"  # + version: the commit of that version was under way
SCRATCH = ".scratch-"  # + version + "-" + name: a run's working file beside its draft, never published
INTERRUPTED = "interrupted: the run writing this publication ended before committing it (killed or crashed)"


class PublishError(OSError):
    """Publishing failed at `step` ("draft", "commit" or "switch of latest") on `path`; the previous publication
    is kept."""

    def __init__(self, name: str, step: str, path: Path | str, cause: BaseException | str, number: int | None = None):
        number = number or getattr(cause, "errno", None) or errno.EIO
        super().__init__(number, str(cause))
        self.name, self.step, self.path, self.cause_text = name, step, str(path), str(cause)

    def __str__(self) -> str:
        return (
            f"publication {self.name}: {self.step} failed on {self.path}: {self.cause_text} "
            f"(the previous publication is kept)"
        )

    def __reduce__(self):  # Prefect pickles the error of a failed run
        return PublishError, (self.name, self.step, self.path, self.cause_text, self.errno)


@dataclass
class Draft:
    """A publication being written: put files under `path`, then `Publication.commit` or `.fail` it."""

    name: str
    version: str
    path: Path
    about: dict = field(default_factory=dict)  # recorded in publication.json (run id, parameters, sources...)
    lock_fd: int | None = field(default=None, repr=False, compare=False)  # flock on the folder: this run is alive

    def release(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing the descriptor releases the flock
            self.lock_fd = None


class Publication:
    def __init__(self, root: Path | str | None, name: str):
        if not name or name.startswith(("/", ".")) or ".." in Path(name).parts:
            raise ValueError(f"a publication name is a relative folder name, not {name!r}")
        self.root = Path(root or load_settings().publish_dir).resolve()
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
        return sorted(
            p.name
            for p in self.dir.iterdir()
            if p.is_dir() and not p.is_symlink() and not p.name.startswith(("_", ".")) and (p / METADATA).exists()
        )

    def metadata(self, version: str | None = None) -> dict | None:
        folder = self.dir / version if version else self.latest
        if folder is None or not (folder / METADATA).exists():
            return None
        return json.loads((folder / METADATA).read_text(encoding="utf-8"))

    # -- writing -----------------------------------------------------------------------------------------------

    def begin(self, about: dict | None = None, now: datetime | None = None) -> Draft:
        """A new, empty draft folder with a version name no other run has or will take."""
        stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H%M%SZ")
        with self._step("draft", self.dir):
            self.dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            self._clean_leftovers()
            version, n = stamp, 1
            while any((self.dir / f"{prefix}{version}").exists() for prefix in ("", DRAFT, FAILED)):
                n += 1
                version = f"{stamp}-{n}"
            path = self.dir / f"{DRAFT}{version}"
            with self._step("draft", path):
                path.mkdir(parents=True)
                lock_fd = locks.hold_folder(path)
        return Draft(self.name, version, path, dict(about or {}), lock_fd)

    def scratch_path(self, draft: Draft, name: str) -> Path:
        """A working file of the run beside its draft (not published); removed by a later run if this one dies."""
        return self.dir / f"{SCRATCH}{draft.version}-{name}"

    def explain(self, draft: Draft, error: BaseException) -> BaseException:
        """The error to raise for a failure while the draft was written: an OS error (disk full, permissions)
        becomes a `PublishError` naming the draft; anything else is returned as it is."""
        if isinstance(error, OSError) and not isinstance(error, PublishError):
            explained = PublishError(self.name, "draft", getattr(error, "filename", None) or draft.path, error)
            explained.__cause__ = error
            return explained
        return error

    def commit(self, draft: Draft) -> Path:
        """Make the draft a version and point `latest` at it; returns the version folder."""
        if not draft.path.is_dir():
            raise FileNotFoundError(f"draft {draft.path} is gone: nothing to publish")
        files = sorted(p.relative_to(draft.path).as_posix() for p in draft.path.rglob("*") if p.is_file())
        final = self.dir / draft.version
        marker = self.dir / f"{COMMITTING}{draft.version}"
        with self._lock():
            previous = self.latest
            metadata = {
                "name": self.name,
                "version": draft.version,
                "published_at": _now(),
                "files": files,
                "previous": previous.name if previous else None,
                **draft.about,
            }
            with self._step("commit", draft.path / METADATA):
                marker.touch()  # a run killed before the switch leaves it: the next run sets the version aside
                (draft.path / METADATA).write_text(
                    json.dumps(metadata, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
                )
            with self._step("commit", final):
                os.rename(draft.path, final)
            draft.path = final  # from here on a failure must find the folder under its new name
            self._switch_latest(draft.version)
            marker.unlink(missing_ok=True)
        draft.release()
        return final

    def _switch_latest(self, version: str) -> None:
        link = self.dir / f".{LATEST}-{version}.tmp"
        with self._step("switch of latest", self.dir / LATEST):
            link.unlink(missing_ok=True)
            try:
                os.symlink(version, link)  # relative: the tree can be moved or served as it is
                os.replace(link, self.dir / LATEST)
            finally:
                link.unlink(missing_ok=True)  # gone after the replace; left behind if the switch failed
            _fsync_dir(self.dir)

    def fail(self, draft: Draft, reason: str | BaseException) -> Path:
        """Set the draft aside as `_failed-<version>` with the reason; `latest` is not touched."""
        if isinstance(reason, BaseException):
            reason = "".join(traceback.format_exception(reason))
        target = self.dir / f"{FAILED}{draft.version}"
        with self._lock():
            (self.dir / f"{COMMITTING}{draft.version}").unlink(missing_ok=True)
            if draft.path == self.dir / draft.version and self.latest == draft.path:
                draft.release()
                return draft.path  # the switch itself went through (a later step failed): it is published
            # a draft, or a version folder whose `latest` switch failed: set aside, never listed as a version
            if draft.path.is_dir():
                _set_aside(draft.path, target, reason)
                draft.path = target
        draft.release()
        return target

    @contextlib.contextmanager
    def publishing(
        self, about: dict | None = None, on_failure: Callable[[BaseException, Path], None] | None = None
    ) -> Iterator[Draft]:
        """`with pub.publishing() as draft:` write into draft.path; committed when the block succeeds (draft.path
        is then the version folder). A failure of the block or of the commit sets the draft aside (`fail`) and is
        raised again, an OS error as the `PublishError` that names the draft (`explain`); `on_failure(error,
        folder set aside)` runs first (to say why, with where the partial output went)."""
        draft = self.begin(about)
        try:
            yield draft
            self.commit(draft)
        except BaseException as raised:
            error = self.explain(draft, raised)
            failed = self.fail(draft, error)
            if on_failure is not None:
                on_failure(error, failed)
            if error is not raised:
                raise error from raised
            raise

    @contextlib.contextmanager
    def _step(self, step: str, path: Path) -> Iterator[None]:
        """An OS error (disk full, permission) in the block becomes a PublishError naming the step and path."""
        try:
            yield
        except PublishError:
            raise
        except OSError as exc:
            raise PublishError(self.name, step, path, exc) from exc

    def _clean_leftovers(self) -> None:
        """Leftovers of runs that died (called under the lock): their drafts, and versions whose switch of
        `latest` never happened, set aside as `_failed-…`; their temporary links and scratch files removed. A
        draft whose run is alive (it holds the folder's flock) and its files are left alone."""
        if not self.dir.is_dir():
            return
        alive = set()
        for path in sorted(self.dir.glob(f"{DRAFT}*")):
            version = path.name.removeprefix(DRAFT)
            if path.is_dir() and not locks.folder_is_held(path):
                _set_aside(path, self.dir / f"{FAILED}{version}", INTERRUPTED)
            elif path.is_dir():
                alive.add(version)
        for marker in self.dir.glob(f"{COMMITTING}*"):
            version = marker.name.removeprefix(COMMITTING)
            folder = self.dir / version
            if folder.is_dir() and self.latest != folder:
                _set_aside(folder, self.dir / f"{FAILED}{version}", f"{INTERRUPTED}, before `latest` moved")
            marker.unlink(missing_ok=True)
        for link in self.dir.glob(f".{LATEST}-*.tmp"):  # a switch is made under the lock: none is under way
            link.unlink(missing_ok=True)
        for scratch in self.dir.glob(f"{SCRATCH}*"):
            if not any(scratch.name.startswith(f"{SCRATCH}{version}-") for version in alive):
                scratch.unlink(missing_ok=True) if not scratch.is_dir() else shutil.rmtree(scratch)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with locks.exclusive(self.dir / ".lock"):  # held for milliseconds (renames), so waiting is fine
            yield


def describe(publication: Publication) -> str:
    """`national: latest = 2026-07-01T060012Z (3 versions)` or `national: nothing published yet`."""
    latest = publication.latest
    if latest is None:
        return f"{publication.name}: nothing published yet"
    return f"{publication.name}: latest = {latest.name} ({len(publication.versions())} version(s)) in {publication.dir}"


def _set_aside(path: Path, target: Path, reason: str) -> None:
    """Rename `path` to `target` (a `_failed-…` name) with the reason in failure.txt, written if the disk lets
    us: a full disk must not keep the failed output in a place where it could pass for a draft or a version."""
    with contextlib.suppress(OSError):
        (path / FAILURE).write_text(f"{_now()}\n{reason}\n", encoding="utf-8")
    os.rename(path, target)


def _fsync_dir(path: Path) -> None:
    """Make the renames durable (a power cut right after the switch keeps it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
