"""A hostile upstream for the fault matrix: the demo mirror behind a fault injector on 127.0.0.1, and the
fingerprints of a store and a publication taken before and after a run.

`FaultyMirror` serves a copy of the demo mirror; `faults[path]` replaces the answer for one upstream path with
what a failing or hostile server sends (an error status, a cut-off body, an HTML page, a redirect elsewhere, a
gzip bomb...). Content faults (a renamed column, a NaN, half the rows) are edits of the mirror copy's files:
the server then builds the archive from them exactly as it serves the good files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sources import catalogue
from sources.demo.files import entry_path
from sources.mirror import MirrorApp

# A fault gets the request, the good body and its content type, and the number of the request for that path
# (1 for the first); it returns the response to send, or None to serve the good file.
Fault = Callable[[Request, bytes, str, int], Response | None]


class FaultyMirror:
    def __init__(self, root: Path):
        self.app = MirrorApp(root)
        self.faults: dict[str, Fault] = {}
        self.hits: Counter[str] = Counter()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __call__(self, environ, start_response):
        request = Request(environ)
        fault = self.faults.get(request.path)
        if fault is not None:
            self.hits[request.path] += 1
            found = self.app.body(request.path)
            body, content_type = found if found else (b"", "application/octet-stream")
            response = fault(request, body, content_type, self.hits[request.path])
            if response is not None:
                return response(environ, start_response)
        return self.app(environ, start_response)


@contextmanager
def faulty_mirror(root: Path) -> Iterator[FaultyMirror]:
    mirror = FaultyMirror(root)
    server = make_server("127.0.0.1", 0, mirror, threaded=True)
    mirror.port = server.port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield mirror
    finally:
        server.shutdown()
        thread.join(timeout=5)


def upstream_path(source: str, vintage: str, role: str = "main") -> str:
    """The request path of an entry's file on the mirror (`/HOST/PATH`)."""
    parts = urlsplit(catalogue.get(source, vintage).file(role).url)
    return f"/{parts.netloc}{parts.path}"


def member_file(root: Path, source: str, vintage: str) -> Path:
    """The text file of an entry in a mirror copy: the file itself, or the member the catalogue names in its zip
    folder."""
    path = entry_path(root, source, vintage)
    if path.is_file():
        return path
    member = catalogue.get(source, vintage).file().member
    assert member and (path / member).is_file(), f"no member {member!r} in {path}"
    return path / member


# -- server faults -----------------------------------------------------------------------------------------------


def status_then_ok(status: int, times: int, headers: dict[str, str] | None = None) -> Fault:
    def fault(request, body, content_type, n):
        if n <= times:
            return Response(f"upstream says {status}", status=status, headers=headers or {})
        return None

    return fault


def always(status: int) -> Fault:
    return lambda request, body, content_type, n: Response(f"upstream says {status}", status=status)


def cut_body(request, body, content_type, n):
    response = Response(body[: len(body) // 2], content_type=content_type)
    response.headers["Content-Length"] = str(len(body))  # promised, never sent
    return response


def html_page(request, body, content_type, n):
    return Response("<!DOCTYPE html><html><body>Maintenance en cours</body></html>", content_type="text/html")


def garbage(request, body, content_type, n):
    return Response(b"PK\x03\x04" + os.urandom(2048), content_type=content_type)


def empty_body(request, body, content_type, n):
    return Response(b"", content_type=content_type)


def slow(seconds: float) -> Fault:
    def fault(request, body, content_type, n):
        time.sleep(seconds)
        return None

    return fault


def redirect_to(location: str) -> Fault:
    return lambda request, body, content_type, n: Response("", status=302, headers={"Location": location})


def gzip_bomb(decoded_bytes: int) -> Fault:
    """A small gzip body that decodes to `decoded_bytes` of zeros (Content-Encoding: gzip)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as gz:
        block = b"0" * (1 << 20)
        for _ in range(decoded_bytes // len(block)):
            gz.write(block)
    data = buffer.getvalue()

    def fault(request, body, content_type, n):
        return Response(data, content_type=content_type, headers={"Content-Encoding": "gzip"})

    return fault


def zip_bomb(member: str, declared_ok: bool = True) -> Fault:
    """A zip whose `member` expands to 64 MiB of zeros (from about 64 KiB); `declared_ok=False` also writes
    1 KiB as its uncompressed size in the central directory, as a bomb hiding from a size check would."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, b"0" * (64 << 20))
    data = buffer.getvalue()
    if not declared_ok:
        header = data.rfind(b"PK\x01\x02")  # the one central directory record
        assert data[header + 46 : header + 46 + len(member)] == member.encode()
        size_field = header + 24
        data = data[:size_field] + (1024).to_bytes(4, "little") + data[size_field + 4 :]

    def fault(request, body, content_type, n):
        return Response(data, content_type="application/zip")

    return fault


def zip_slip(member: str) -> Fault:
    """The good member, plus members whose names climb out of any extraction folder."""

    def fault(request, body, content_type, n):
        buffer = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(body)) as good, zipfile.ZipFile(buffer, "w") as zf:
            for info in good.infolist():
                zf.writestr(info, good.read(info))
            zf.writestr("../../../../tmp/abs-diag-zip-slip.txt", "pwned")
            zf.writestr("/etc/abs-diag-zip-slip.txt", "pwned")
        return Response(buffer.getvalue(), content_type="application/zip")

    return fault


# -- fingerprints ------------------------------------------------------------------------------------------------

LEFTOVER_SUFFIXES = (".part", ".tmp")
IDENTITY = ("url", "size", "sha256")  # of a file record of the manifest (paths are where the store was copied from)


def tree_digest(root: Path, skip: Callable[[Path], bool] = lambda p: False) -> dict[str, str]:
    """Relative path -> sha256 of every regular file (and target of every link) under `root`."""
    out = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if skip(path):
            continue
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def store_state(data: Path) -> dict:
    """What a failed run must leave as it was: raw files, staged tables, and every manifest record (the identity
    of its files and its staging) except the `last_failure` a failure adds. Rejected bytes kept apart (`.rejected`) and lock files are not part of it."""

    def skip(path: Path) -> bool:
        return (
            path.name in (".lock", ".readers", "manifest.json")
            or path.name.endswith(".rejected")
            or "lock" in path.name
            or path.relative_to(data).parts[0] == "pending"
        )  # see `leftovers`

    manifest_path = data / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    for record in manifest.get("entries", {}).values():
        record.pop("last_failure", None)
        # which bytes each raw file holds; when and how it was last checked upstream changes with every run
        record["files"] = {role: {k: file.get(k) for k in IDENTITY} for role, file in record.get("files", {}).items()}
    return {"files": tree_digest(data, skip), "manifest": manifest}


def publication_state(pub: Path) -> dict[str, str]:
    return tree_digest(
        pub,
        lambda p: (
            p.name == ".lock" or p.name.startswith("_failed-") or any(part.startswith("_failed-") for part in p.parts)
        ),
    )


def leftovers(*roots: Path) -> list[str]:
    """Temporary files, drafts and pending areas left behind (there must be none once a run has ended)."""
    found = []
    for root in roots:
        if not root.exists():
            continue
        for path in root.rglob("*"):
            name = path.name
            rel = path.relative_to(root)
            pending = rel.parts[0] == "pending" and len(rel.parts) > 1  # a refresh's area, switched in at its end
            if name.endswith(LEFTOVER_SUFFIXES) or name.startswith("_draft-") or pending:
                found.append(path.relative_to(root).as_posix())
    return sorted(found)
