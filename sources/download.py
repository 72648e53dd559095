"""The one downloader every source goes through.

- `ABS_MIRROR=http://127.0.0.1:PORT` fetches `https://HOST/PATH?QUERY` as `http://127.0.0.1:PORT/HOST/PATH?QUERY`.
- Streams to a temporary file beside the target and renames it atomically; a failed download leaves the previous
  file untouched.
- Retries connection errors, 429 (honouring `Retry-After`, capped) and 5xx with exponential backoff (urllib3).
- Conditional GET with the validators (ETag, Last-Modified) of the previous download: 304 means unchanged.
- Refuses truncated bodies, HTML error pages served with 200, corrupt zips and sha256/size mismatches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import zipfile
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from sources.catalogue import FileSpec
from sources.errors import DownloadError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0  # per socket read, not for the whole body
RETRY_AFTER_CAP = 120.0  # seconds: a server asking for an hour does not block a yearly run for an hour
BODY_ATTEMPTS = 3  # whole-body retries when the connection drops mid-stream
CHUNK = 1 << 20
PROGRESS_MIN_BYTES = 5 << 20
USER_AGENT = "abs-diag (https://github.com/abs-diag; open data pipeline)"


def mirrored(url: str, mirror: str | None = None) -> str:
    """The URL actually fetched: through `mirror` (or `ABS_MIRROR`) when set, path and query kept."""
    mirror = mirror if mirror is not None else os.environ.get("ABS_MIRROR")
    if not mirror:
        return url
    parts = urlsplit(url)
    target = f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"
    return f"{target}?{parts.query}" if parts.query else target


class CappedRetry(Retry):
    """urllib3 Retry whose Retry-After wait is capped (urllib3 honours any value, even an hour)."""

    def get_retry_after(self, response):  # type: ignore[override]
        value = super().get_retry_after(response)
        return None if value is None else min(value, RETRY_AFTER_CAP)


def make_session(retries: int = 5, backoff: float = 0.5) -> requests.Session:
    retry = CappedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        backoff_jitter=0.25,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


@dataclass(frozen=True)
class Download:
    """What the manifest records of one file."""

    url: str
    fetched_url: str
    path: str
    status: str  # "downloaded" or "unchanged"
    size: int
    sha256: str
    etag: str | None
    last_modified: str | None
    fetched_at: str

    def as_dict(self) -> dict:
        return asdict(self)


def fetch(
    spec: FileSpec,
    dest: Path,
    previous: dict | None = None,
    *,
    session: requests.Session | None = None,
    mirror: str | None = None,
    progress: bool | None = None,
) -> Download:
    """Download `spec.url` to `dest`, or confirm it is unchanged since `previous` (a manifest record)."""
    session = session or make_session()
    url = mirrored(spec.url, mirror)
    headers = {}
    if previous and dest.exists() and previous.get("sha256") == sha256_of(dest):
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]

    last_error: Exception | None = None
    for attempt in range(1, BODY_ATTEMPTS + 1):
        try:
            return _fetch_once(spec, url, dest, headers, previous, session, progress)
        except _BodyInterrupted as exc:  # the connection dropped mid-body: try the whole file again
            last_error = exc
            log.warning("%s: body interrupted (%s), attempt %d/%d", url, exc, attempt, BODY_ATTEMPTS)
    raise DownloadError(url, f"the body was cut off {BODY_ATTEMPTS} times: {last_error}")


class _BodyInterrupted(Exception):
    pass


def _fetch_once(spec, url, dest, headers, previous, session, progress) -> Download:
    try:
        response = session.get(url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    except requests.RequestException as exc:
        raise DownloadError(url, f"no answer after retries: {exc}") from exc

    with response:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if response.status_code == 304 and headers:  # 304 only answers a conditional request
            return Download(
                url=spec.url, fetched_url=url, path=str(dest), status="unchanged",
                size=previous["size"], sha256=previous["sha256"],
                etag=response.headers.get("ETag", previous.get("etag")),
                last_modified=response.headers.get("Last-Modified", previous.get("last_modified")),
                fetched_at=now,
            )
        if response.status_code != 200:
            raise DownloadError(url, f"HTTP {response.status_code} {response.reason}", _snippet(response))

        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        try:
            total = int(response.headers.get("Content-Length") or 0) or None
            with os.fdopen(fd, "wb") as out, _progress_bar(dest.name, total, progress) as bar:
                try:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        bar.update(len(chunk))
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
                    raise _BodyInterrupted(str(exc)) from exc
            received = response.raw.tell()  # bytes on the wire: Content-Length counts them before gzip decoding
            if total is not None and received != total:
                raise _BodyInterrupted(f"received {received} bytes, Content-Length said {total}")
            _check_content(spec, url, tmp, response.headers.get("Content-Type", ""))
            sha = digest.hexdigest()
            if spec.sha256 and sha != spec.sha256.lower():
                raise DownloadError(url, f"sha256 {sha} differs from the catalogue's {spec.sha256}")
            if spec.size and size != spec.size:
                raise DownloadError(url, f"size {size} differs from the catalogue's {spec.size}")
            os.replace(tmp, dest)
        except BaseException:
            _keep_rejected(tmp, dest)
            raise
    return Download(
        url=spec.url, fetched_url=url, path=str(dest), status="downloaded", size=size, sha256=sha,
        etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"), fetched_at=now,
    )


def _check_content(spec: FileSpec, url: str, path: Path, content_type: str) -> None:
    """Refuse an error page served with 200 and an archive that does not open."""
    with path.open("rb") as f:
        head = f.read(512)
    text_head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    looks_html = text_head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml"))
    if looks_html or ("html" in content_type.lower() and spec.format != "html"):
        raise DownloadError(url, f"an HTML page was served instead of {spec.format} (Content-Type {content_type!r})",
                            head[:200].decode("utf-8", "replace"))
    if spec.format == "zip":
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # corrupt deflate data raises zlib.error
            raise DownloadError(url, f"not a readable zip archive ({exc}); truncated download?") from exc
        if bad is not None:
            raise DownloadError(url, f"zip member {bad!r} is corrupt (CRC mismatch)")
    elif not head:
        raise DownloadError(url, "the file is empty")


def _keep_rejected(tmp: Path, dest: Path) -> None:
    """Keep a refused body beside the target for inspection (`<name>.rejected`), never in its place."""
    if tmp.exists():
        try:
            os.replace(tmp, dest.with_name(dest.name + ".rejected"))
        except OSError:
            tmp.unlink(missing_ok=True)


def _snippet(response: requests.Response) -> str:
    try:
        return response.raw.read(300, decode_content=True).decode("utf-8", "replace")
    except Exception:  # the body of an error is only a hint
        return ""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress_bar(name: str, total: int | None, progress: bool | None):
    """A tqdm bar on a terminal for long downloads; tqdm(disable=True) is a no-op otherwise."""
    from tqdm import tqdm

    show = progress if progress is not None else sys.stderr.isatty()
    disable = not show or (total is not None and total < PROGRESS_MIN_BYTES)
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, leave=False, disable=disable)
