"""Helpers of the store tests: a mirror that holds one answer back, two upstream changes, and views of a store."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sources import catalogue
from sources.demo import MIRROR_ROOT
from sources.demo.files import entry_path
from sources.mirror import MirrorApp
from storage.store import Store


def url_path(source: str, vintage: str, role: str = "main") -> str:
    """The path a mirror is asked for a catalogue file (`https://HOST/PATH` -> `/HOST/PATH`)."""
    url = next(s.url for s in catalogue.get(source, vintage).files if s.role == role)
    return "/" + url.split("://", 1)[1].split("?", 1)[0]


class GatedMirror:
    """The mirror of `root`, except that the answer for `path` waits until `release` is set: before its body, or
    after its first half (`half=True`, the rest promised by Content-Length). `reached` is set when it is asked."""

    def __init__(self, root: Path, path: str, half: bool = False):
        self.app, self.path, self.half = MirrorApp(Path(root)), path, half
        self.reached, self.release = threading.Event(), threading.Event()

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path != self.path:
            return self.app(environ, start_response)
        self.reached.set()
        body, content_type = self.app.body(request.path)
        if not self.half:
            self.release.wait(120)
            return Response(body, content_type=content_type)(environ, start_response)

        def halves():
            yield body[: len(body) // 2]
            self.release.wait(120)
            yield body[len(body) // 2 :]

        response = Response(halves(), content_type=content_type, direct_passthrough=True)
        response.headers["Content-Length"] = str(len(body))
        return response(environ, start_response)


@contextmanager
def serve_app(app) -> Iterator[str]:
    """Serve a WSGI app on a loopback port; its URL. A gate still closed at the end is opened."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        if isinstance(app, GatedMirror):
            app.release.set()
        server.shutdown()
        thread.join(timeout=5)


def mirror_copy(tmp: Path) -> Path:
    root = tmp / "mirror"
    shutil.copytree(MIRROR_ROOT, root)
    return root


def _edit_cell(path: Path, column: str, change, encoding: str = "utf-8") -> str:
    """Change `column` in the first row where `change(value)` returns a new value; that row's first cell."""
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines()
    index = lines[0].split(";").index(column)
    for i, line in enumerate(lines[1:], start=1):
        cells = line.split(";")
        new = change(cells[index])
        if new is not None:
            cells[index] = new
            lines[i] = ";".join(cells)
            path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode(encoding))
            return cells[0] if cells[0][:2] != "20" else cells[1]
    raise AssertionError(f"no row of {path} to change in {column}")


def change_census(root: Path) -> str:
    """One person less aged 75 or more in the first commune that has some (a part, never above its whole)."""
    csv = entry_path(root, "rp_population", "2022") / "base-cc-evol-struct-pop-2022.CSV"
    return _edit_cell(csv, "P22_POP75P", lambda v: str(int(float(v)) - 1) if v and float(v) >= 1 else None)


def change_caf(root: Path) -> str:
    """Five RSA households less in the first commune that has ten or more (people stay above households)."""
    csv = entry_path(root, "caf_benefits", "2024")
    return _edit_cell(csv, "indfoy_rsa", lambda v: str(int(float(v)) - 5) if v and float(v) >= 10 else None)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(store: Store) -> dict[str, str]:
    """Relative path -> sha256 of the manifest and of every raw and staged file (what a refresh may change)."""
    files = [store.manifest_path] + sorted(
        p for d in ("raw", "staged") for p in (store.root / d).rglob("*") if p.is_file()
    )
    return {str(p.relative_to(store.root)): sha256(p) for p in files if p.exists()}


def raw_mismatches(store: Store) -> list[str]:
    """The files of the manifest whose raw file is missing or differs from the sha256 it records."""
    bad = []
    for key, record in json.loads(store.manifest_path.read_text(encoding="utf-8"))["entries"].items():
        entry = catalogue.get(*key.split("/", 1))
        for spec in entry.files:
            info = record.get("files", {}).get(spec.role)
            path = store.raw_path(entry, spec)
            if info and (not path.is_file() or sha256(path) != info["sha256"]):
                bad.append(f"{key} {spec.role}")
    return bad


def leftovers(store: Store) -> list[str]:
    """Pending areas and temporary files of interrupted writes left in the store."""
    found = [
        str(p.relative_to(store.root))
        for p in store.root.rglob("*")
        if p.name.startswith(".") and p.name.endswith((".part", ".tmp"))
    ]
    pending = store.root / "pending"
    return found + ([str(p.relative_to(store.root)) for p in pending.iterdir()] if pending.is_dir() else [])
