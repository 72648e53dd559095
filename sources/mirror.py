"""A local mirror server: serves a folder laid out as `HOST/PATH` exactly as `ABS_MIRROR` expects.

`https://www.insee.fr/fr/statistiques/fichier/123/x.csv` is looked up as `<root>/www.insee.fr/fr/statistiques/
fichier/123/x.csv` (the query string is kept in the request log but not in the lookup). A folder is served as a
zip of its files, built deterministically, so the embedded demo keeps readable text files and still goes over the
wire in the real archive format. Responses carry an ETag and honour If-None-Match (werkzeug), so conditional GETs
behave as upstream.

Used by `abs-diag demo` and by the tests; a data officer can serve a mirror of real files the same way.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ZIP_DATE = (2025, 1, 1, 0, 0, 0)
CONTENT_TYPES = {".csv": "text/csv; charset=utf-8", ".xlsx": "application/vnd.openxmlformats-officedocument"
                 ".spreadsheetml.sheet", ".json": "application/json", ".zip": "application/zip"}


def zip_folder(folder: Path) -> bytes:
    """The files of `folder` as a zip with fixed dates and order: same files, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buffer.getvalue()


@dataclass
class MirrorApp:
    root: Path
    log: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def body(self, path: str) -> tuple[bytes, str] | None:
        target = (self.root / path.lstrip("/")).resolve()
        if self.root.resolve() not in target.parents and target != self.root.resolve():
            return None  # no escaping the mirror folder
        if target.is_dir():
            return zip_folder(target), "application/zip"
        if target.is_file():
            return target.read_bytes(), CONTENT_TYPES.get(target.suffix.lower(), "application/octet-stream")
        return None

    def __call__(self, environ, start_response):
        request = Request(environ)
        found = self.body(request.path)
        if found is None:
            response = Response("not found in the mirror", status=404, mimetype="text/plain")
        else:
            data, content_type = found
            response = Response(data, content_type=content_type)
            response.set_etag(hashlib.sha256(data).hexdigest()[:32])
            response = response.make_conditional(request)
        with self._lock:
            self.log.append({"method": request.method, "path": request.path,
                             "query": request.query_string.decode(), "status": response.status_code,
                             "if_none_match": request.headers.get("If-None-Match")})
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
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the request log is `Mirror.log`, not the console
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Mirror(f"http://{host}:{server.port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=5)
