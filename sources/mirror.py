"""A local mirror server: serves a folder laid out as `HOST/PATH` exactly as `ABS_MIRROR` expects.

`https://www.insee.fr/fr/statistiques/fichier/123/x.csv` is looked up as `<root>/www.insee.fr/fr/statistiques/
fichier/123/x.csv` (the query string is kept in the request log but not in the lookup). A folder below a host
folder is served as a zip of its files, built deterministically, so the embedded demo keeps readable text files
and still goes over the wire in the real archive format. Responses carry an ETag (sha256 of the body) and honour
If-None-Match (werkzeug), so conditional GETs behave as upstream.

Only regular files under the root are served: a path through a symbolic link is not found (a link planted in
the folder could lead anywhere on the machine), and links are left out of folder zips. The root itself and its
host folders are never zipped; a folder zip is written to a temporary file, never held whole in memory, and a
folder holding more than MAX_ZIP_INPUT bytes is refused.

What a path serves is worked out once per state of its files (their names, sizes and modification times): the
folder's zip is kept in a temporary folder of the server with its ETag, a file's ETag beside its state. So a
conditional GET of something unchanged (a refresh with nothing new upstream) is answered at once, without zipping
or hashing again, and a changed file gets a new body and ETag at the next request.

Used by `abs-diag demo` and by the tests; a data officer can serve a mirror of real files the same way.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # werkzeug is imported by the server only: the demo generators use `zip_folder` without it
    from werkzeug.wrappers import Request, Response

ZIP_DATE = (2025, 1, 1, 0, 0, 0)
CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".json": "application/json",
    ".zip": "application/zip",
}
MAX_ZIP_INPUT = 2_000_000_000  # bytes of files a folder zip may take in
CHUNK = 1 << 20


class FolderTooLarge(Exception):
    pass


def folder_files(folder: Path) -> list[Path]:
    """The regular files under `folder`, sorted, without following or including symbolic links."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            path = Path(dirpath, name)
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
    return sorted(found)


def write_folder_zip(folder: Path, out: IO[bytes], max_input: int | None = None) -> None:
    """The files of `folder` as a zip with fixed dates and order (same files, same bytes), streamed file by file;
    FolderTooLarge beyond `max_input` bytes of files (MAX_ZIP_INPUT)."""
    files = folder_files(folder)
    max_input = MAX_ZIP_INPUT if max_input is None else max_input
    total = sum(p.stat().st_size for p in files)
    if total > max_input:
        raise FolderTooLarge(f"{folder} holds {total} bytes, more than {max_input} to zip")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = path.stat().st_size  # as writestr sets it: same bytes as the in-memory build
            with path.open("rb") as src, zf.open(info, "w") as dest:
                shutil.copyfileobj(src, dest, CHUNK)


def zip_folder(folder: Path) -> bytes:
    """The files of `folder` as a zip with fixed dates and order: same files, same bytes."""
    buffer = io.BytesIO()
    write_folder_zip(folder, buffer)
    return buffer.getvalue()


def _sha256_of(f: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: f.read(CHUNK), b""):
        digest.update(block)
    f.seek(0)
    return digest.hexdigest()


def file_state(target: Path) -> tuple:
    """What a served body depends on: a file's size and times, a folder's files' names, sizes and times."""
    if target.is_dir():
        return tuple(_stat_key(p, p.relative_to(target).as_posix()) for p in folder_files(target))
    return _stat_key(target, "")


def _stat_key(path: Path, name: str) -> tuple:
    st = path.stat()
    return name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


@dataclass(frozen=True)
class Served:
    """The body a path serves for one state of its files: the file itself, or the folder's zip kept by the app."""

    state: tuple
    body: Path
    etag: str
    size: int
    content_type: str


@dataclass
class MirrorApp:
    root: Path
    log: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _served: dict[Path, Served] = field(default_factory=dict)  # per target: its body for the state last seen
    _building: dict[Path, threading.Lock] = field(default_factory=dict)  # one build at a time per target
    _zips: tempfile.TemporaryDirectory | None = None  # where folder zips are kept (deleted with the app)

    def __post_init__(self):
        self.root = Path(self.root).resolve()  # the mirror folder may itself be a link; nothing below it may

    def target(self, path: str) -> Path | None:
        """The file or folder `path` names under the root, or None: outside it, through a link, the root or a
        host folder (a mirror is never zipped whole), or anything but a regular file or a folder."""
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in (".", "..") or "\\" in p or "\0" in p for p in parts):
            return None
        target = self.root
        for part in parts:
            target = target / part
            try:
                mode = target.lstat().st_mode
            except OSError:
                return None
            if stat.S_ISLNK(mode):
                return None
        if stat.S_ISDIR(mode):
            return target if len(parts) >= 2 else None
        return target if stat.S_ISREG(mode) else None

    def open(self, path: str) -> tuple[IO[bytes], str] | None:
        """An open file holding the body of `path` (a file, or a folder's zip) and its Content-Type, or None."""
        target = self.target(path)
        if target is None:
            return None
        served = self.served(target)
        return served.body.open("rb"), served.content_type

    def served(self, target: Path) -> Served:
        """The body of `target` for the current state of its files: the one kept when unchanged, else built
        (a folder zipped; FolderTooLarge beyond MAX_ZIP_INPUT) and kept."""
        with self._lock:
            building = self._building.setdefault(target, threading.Lock())
        with building:
            state = file_state(target)
            with self._lock:
                kept = self._served.get(target)
            if kept is not None and kept.state == state:
                return kept
            served = self._build(target, state)
            with self._lock:
                self._served[target] = served
            return served

    def _build(self, target: Path, state: tuple) -> Served:
        if not target.is_dir():
            with target.open("rb") as f:
                etag = _sha256_of(f)[:32]
            content_type = CONTENT_TYPES.get(target.suffix.lower(), "application/octet-stream")
            return Served(state, target, etag, target.stat().st_size, content_type)
        with self._lock:
            if self._zips is None:
                self._zips = tempfile.TemporaryDirectory(prefix="abs-mirror-")
            folder = Path(self._zips.name)
        # a new file per build: a response still streaming the previous zip keeps its own open file
        fd, name = tempfile.mkstemp(dir=folder, suffix=".zip")
        with os.fdopen(fd, "w+b") as out:
            try:
                write_folder_zip(target, out)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise
            size = out.tell()
            out.seek(0)
            etag = _sha256_of(out)[:32]
        kept = self._served.get(target)
        if kept is not None and kept.body.parent == folder:
            kept.body.unlink(missing_ok=True)  # the older zip of this folder (open files of it stay readable)
        return Served(state, Path(name), etag, size, "application/zip")

    def body(self, path: str) -> tuple[bytes, str] | None:
        """The whole body of `path` and its Content-Type, or None (for tests and small files)."""
        found = self.open(path)
        if found is None:
            return None
        f, content_type = found
        with f:
            return f.read(), content_type

    def respond(self, request: Request, environ) -> Response:
        from werkzeug.wrappers import Response
        from werkzeug.wsgi import wrap_file

        target = self.target(request.path)
        if target is None:
            return Response("not found in the mirror", status=404, mimetype="text/plain")
        try:
            served = self.served(target)
        except FolderTooLarge as exc:
            return Response(f"too large to zip: {exc}", status=413, mimetype="text/plain")
        f = served.body.open("rb")
        response = Response(wrap_file(environ, f), content_type=served.content_type, direct_passthrough=True)
        response.content_length = served.size
        response.set_etag(served.etag)
        response.call_on_close(f.close)
        return response.make_conditional(request)

    def __call__(self, environ, start_response):
        from werkzeug.wrappers import Request

        request = Request(environ)
        response = self.respond(request, environ)
        with self._lock:
            self.log.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": request.query_string.decode(),
                    "status": response.status_code,
                    "if_none_match": request.headers.get("If-None-Match"),
                }
            )
        return response(environ, start_response)


@dataclass
class Mirror:
    url: str
    app: MirrorApp

    @property
    def log(self) -> list[dict]:
        return self.app.log


@contextmanager
def serve(root: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[Mirror]:
    """Serve `root` on a loopback port for the duration of the block."""
    app = MirrorApp(Path(root))
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the request log is `Mirror.log`, not the console
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Mirror(f"http://{host}:{server.port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=5)
