"""The one downloader every source goes through.

- `ABS_MIRROR=http://127.0.0.1:PORT` fetches `https://HOST/PATH?QUERY` as `http://127.0.0.1:PORT/HOST/PATH?QUERY`.
- Streams to a temporary file beside the target and renames it atomically; a failed download leaves the previous
  file untouched and no partial file behind.
- Caps what a server can make us write: the body (counted after any `Content-Encoding: gzip` is decoded) and, for
  an archive, what its members declare; beyond the file's limits (catalogue) the download is refused.
- Retries connection drops, timeouts, cut-off bodies, 429 (honouring `Retry-After`, capped) and 5xx with
  exponential backoff, all within one retry budget per file (`ABS_RETRY_BUDGET`, seconds); the final error says
  how long it tried and how many times. Waits are short sleeps that `stop_downloads()` ends at once.
- A host that cannot be reached at all (DNS failure, connection refused) fails at once: `preflight()` checks the
  hosts of a refresh before it starts, so an offline run says so within seconds.
- Redirects are followed only within the source's host (the mirror's with a mirror) or the file's
  `redirect_hosts`; validators are never sent to another host; the final URL is recorded.
- Conditional GET with the validators (ETag, Last-Modified) of the previous download: 304 means unchanged.
- Refuses HTML error pages served with 200, corrupt zips and sha256/size mismatches (kept as `<name>.rejected`).
  The members the catalogue names are inflated once, by the parser, which checks their CRC as it reads them.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import random
import socket
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError
from urllib3.util.retry import Retry

from sources.catalogue import FileSpec
from sources.errors import DownloadError
from sources.reading import archive_too_large
from storage.settings import load_settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF = 2.0  # seconds before the first retry, doubled each time up to BACKOFF_MAX
BACKOFF_MAX = 60.0
RETRY_AFTER_CAP = 120.0  # seconds: a server asking for an hour does not block a yearly run for an hour
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
SLEEP_SLICE = 0.2  # waits are cut in slices so that a stop request is seen at once
CHUNK = 1 << 20
PROGRESS_MIN_BYTES = 5 << 20
USER_AGENT = "abs-diag (https://github.com/abs-diag; open data pipeline)"
OFFLINE_HINT = "offline? use --mirror URL or ABS_MIRROR"
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}

# Set by whoever stops the run (a SIGTERM/SIGINT handler): retry waits and body streams end at once.
STOP = threading.Event()


def stop_downloads() -> None:
    """Make every download of this process stop at its next chunk or wait slice (they raise DownloadError)."""
    STOP.set()


def _stop_at_exit() -> None:
    """When the main thread ends (a SIGTERM or Ctrl-C raised in it), stop the downloads of worker threads before
    the interpreter joins them: a thread pool is joined at exit, and would otherwise sit out a retry wait."""
    import concurrent.futures.thread  # noqa: F401  its own exit hook (join the workers) must run after ours

    register = getattr(threading, "_register_atexit", None)  # run, in reverse order, before threads are joined
    if register is not None:
        register(stop_downloads)


_stop_at_exit()


class HostUnreachable(DownloadError):
    """The host does not answer at all (DNS failure, connection refused): retrying for minutes would not help."""

    def __init__(self, url: str, why: str, mirror: bool = False):
        self.url, self.why, self.mirror, self.body = url, why, mirror, ""
        host = urlsplit(url).netloc
        if mirror:
            self.reason = f"cannot reach the mirror {host} ({why}): is it running (abs-diag mirror)?"
        else:
            self.reason = f"cannot reach {host} ({why}): {OFFLINE_HINT}"
        Exception.__init__(self, self.reason)

    def __reduce__(self):
        return (self.__class__, (self.url, self.why, self.mirror))


def mirrored(url: str, mirror: str | None = None) -> str:
    """The URL actually fetched: through `mirror` (or `ABS_MIRROR`) when set, path and query kept."""
    mirror = _mirror(mirror)
    if not mirror:
        return url
    parts = urlsplit(url)
    target = f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"
    return f"{target}?{parts.query}" if parts.query else target


def _mirror(mirror: str | None) -> str | None:
    return mirror if mirror is not None else load_settings().mirror


def retry_budget() -> float:
    """Seconds one file may spend retrying: `ABS_RETRY_BUDGET`, else RETRY_BUDGET (a bad value: ValueError)."""
    return load_settings().retry_budget


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # requests per file at most, the first one included
    backoff: float  # seconds before the first retry, doubled after each
    budget: float  # seconds from the first request after which no new attempt starts
    timeouts: tuple[float, float] = (10.0, 120.0)  # (connect, read) seconds of each request (storage.settings)


def retry_policy(retries: int | None = None, backoff: float | None = None, budget: float | None = None) -> RetryPolicy:
    """`retries` after the first attempt (MAX_ATTEMPTS - 1), within `budget` seconds (ABS_RETRY_BUDGET), each
    request with the settings' connect and read timeouts (ABS_CONNECT_TIMEOUT, ABS_READ_TIMEOUT)."""
    settings = load_settings()
    return RetryPolicy(
        attempts=(MAX_ATTEMPTS - 1 if retries is None else retries) + 1,
        backoff=BACKOFF if backoff is None else backoff,
        budget=settings.retry_budget if budget is None else budget,
        timeouts=(settings.connect_timeout, settings.read_timeout),
    )


def make_session(
    retries: int | None = None, backoff: float | None = None, budget: float | None = None
) -> requests.Session:
    """A session whose downloads follow `retry_policy(retries, backoff, budget)`. The retries are made by
    `fetch`, not by urllib3, so that one budget covers them all (and redirects are checked by `fetch` too)."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=Retry(total=0, redirect=False, raise_on_status=False))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.retry_policy = retry_policy(retries, backoff, budget)  # type: ignore[attr-defined]
    return session


@dataclass(frozen=True)
class Download:
    """What the manifest records of one file."""

    url: str
    fetched_url: str  # the URL asked for (through the mirror, if any)
    path: str
    status: str  # "downloaded" or "unchanged"
    size: int
    sha256: str
    etag: str | None
    last_modified: str | None
    fetched_at: str
    final_url: str | None = None  # the URL that answered, after redirects
    mtime_ns: int | None = None  # the file's modification time when its sha256 was last known to hold

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
    budget: float | None = None,
) -> Download:
    """Download `spec.url` to `dest`, or confirm it is unchanged since `previous` (a manifest record).

    budget: seconds this file may spend retrying (the session's, from ABS_RETRY_BUDGET, when None)."""
    session = session or make_session()
    policy = getattr(session, "retry_policy", None) or retry_policy()
    attempts = _Attempts(policy if budget is None else replace(policy, budget=budget))
    request = _Request(spec, mirrored(spec.url, mirror), _conditional_headers(previous, dest), bool(_mirror(mirror)))
    while True:
        if STOP.is_set():
            raise DownloadError(request.url, "stopped: the run is being stopped")
        attempts.count += 1
        try:
            return _fetch_once(request, dest, previous, session, progress)
        except _Transient as exc:
            wait = attempts.next_wait(request.url, exc)
            log.warning(
                "%s: %s; attempt %d/%d, next in %.1f s",
                request.url,
                exc.reason,
                attempts.count,
                attempts.policy.attempts,
                wait,
            )
            _sleep(wait, request.url)


@dataclass(frozen=True)
class _Request:
    spec: FileSpec
    url: str  # the first URL asked for (mirrored)
    headers: dict
    through_mirror: bool


class _Transient(Exception):
    """A failure that may pass if asked again a little later."""

    def __init__(self, reason: str, body: str = "", retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.body, self.retry_after = reason, body, retry_after


class _Attempts:
    """Counts the attempts at one file and decides whether (and how long) to wait before the next."""

    def __init__(self, policy: RetryPolicy):
        self.policy, self.count, self.start = policy, 0, time.monotonic()

    def next_wait(self, url: str, failure: _Transient) -> float:
        """Seconds to wait before the next attempt; DownloadError when the attempts or the budget are spent."""
        elapsed = time.monotonic() - self.start
        if failure.retry_after is not None:
            wait = min(failure.retry_after, RETRY_AFTER_CAP)
        else:
            wait = min(self.policy.backoff * 2 ** (self.count - 1), BACKOFF_MAX)
            wait += random.uniform(0, wait / 4)  # jitter: parallel downloads do not retry in step
        if self.count < self.policy.attempts and elapsed + wait <= self.policy.budget:
            return wait
        why = (
            f"{self.policy.attempts} attempts at most"
            if self.count >= self.policy.attempts
            else f"the next one, {wait:.0f} s later, would exceed the retry budget of {self.policy.budget:.0f} s"
            " (ABS_RETRY_BUDGET)"
        )
        error = DownloadError(
            url, f"{failure.reason}; gave up after {elapsed:.1f} s and {self.count} attempt(s): {why}", failure.body
        )
        raise error from failure.__cause__


def _sleep(seconds: float, url: str) -> None:
    """Wait in short slices so that `stop_downloads()` (or a signal handler in the main thread) ends it at once."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if STOP.wait(min(left, SLEEP_SLICE)):
            raise DownloadError(url, "stopped while waiting to retry: the run is being stopped")


def _conditional_headers(previous: dict | None, dest: Path) -> dict:
    """Validators of the previous download, only if the file on disk is still the one they describe."""
    headers = {}
    if previous and dest.exists() and _still_described(previous, dest):
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]
    return headers


def _still_described(previous: dict, path: Path) -> bool:
    """The file at `path` holds the bytes `previous` describes: its size and modification time unchanged since
    its sha256 was last known to hold (the file is not read again: a refresh with nothing new reads none of
    its hundreds of megabytes), else its sha256 computed again (a record of an earlier release, a file touched)."""
    stat = path.stat()
    if previous.get("mtime_ns") is not None and (previous.get("size"), previous["mtime_ns"]) == (
        stat.st_size,
        stat.st_mtime_ns,
    ):
        return True
    return previous.get("sha256") == sha256_of(path)


def _fetch_once(request: _Request, dest: Path, previous, session, progress) -> Download:
    response, final_url, validated = _get_following_redirects(request, session)
    url, spec = request.url, request.spec
    with response:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        headers = response.headers
        if response.status_code == 304 and validated:  # 304 only answers a conditional request
            return Download(
                url=spec.url,
                fetched_url=url,
                path=str(dest),
                status="unchanged",
                size=previous["size"],
                sha256=previous["sha256"],
                etag=headers.get("ETag", previous.get("etag")),
                last_modified=headers.get("Last-Modified", previous.get("last_modified")),
                fetched_at=now,
                final_url=final_url,
                mtime_ns=dest.stat().st_mtime_ns,
            )
        if response.status_code in RETRY_STATUSES:
            raise _Transient(
                f"HTTP {response.status_code} {response.reason}", _snippet(response), _retry_after(response)
            )
        if response.status_code != 200:
            raise DownloadError(url, f"HTTP {response.status_code} {response.reason}", _snippet(response))
        size, sha = _store_body(request, response, dest, progress)
    return Download(
        url=spec.url,
        fetched_url=url,
        path=str(dest),
        status="downloaded",
        size=size,
        sha256=sha,
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
        fetched_at=now,
        final_url=final_url,
        mtime_ns=dest.stat().st_mtime_ns,
    )


def _get(session: requests.Session, url: str, headers: dict, first_url: str, mirror: bool) -> requests.Response:
    """One GET, no redirect followed; a host that cannot be reached raises HostUnreachable, other failures of
    the connection _Transient."""
    policy = getattr(session, "retry_policy", None) or retry_policy()
    try:
        return session.get(url, headers=headers, stream=True, timeout=policy.timeouts, allow_redirects=False)
    except requests.ConnectionError as exc:
        why = unreachable_reason(exc)
        if why:
            raise HostUnreachable(url, why, mirror) from exc
        raise _Transient(f"no answer: {exc}") from exc
    except requests.Timeout as exc:  # ReadTimeout is not a ConnectionError
        raise _Transient(f"no answer: {exc}") from exc
    except requests.RequestException as exc:
        raise DownloadError(first_url, f"no answer: {exc}") from exc


def _get_following_redirects(request: _Request, session) -> tuple[requests.Response, str, bool]:
    """The response of the last URL of the redirect chain, that URL, and whether validators were sent to it."""
    chain = [request.url]
    origin = _host(request.url)
    current, headers = request.url, request.headers
    for _ in range(MAX_REDIRECTS + 1):
        response = _get(session, current, headers, request.url, request.through_mirror)
        if not response.is_redirect:
            return response, current, bool(headers)
        target = urljoin(current, response.headers["Location"])
        response.close()
        _check_redirect(request, current, target)
        if target in chain:
            raise DownloadError(request.url, f"redirect loop: {' -> '.join(chain + [target])}")
        chain.append(target)
        # validators belong to the host that issued them
        current, headers = target, (request.headers if _host(target) == origin else {})
    raise DownloadError(request.url, f"more than {MAX_REDIRECTS} redirects: {' -> '.join(chain)}")


def _check_redirect(request: _Request, current: str, target: str) -> None:
    allowed = {_host(request.url), *request.spec.redirect_hosts}
    if _host(target) not in allowed:
        raise DownloadError(
            request.url,
            f"redirected by {current} to another host, {target}: not followed "
            f"(allowed: {', '.join(sorted(allowed))}; catalogue `redirect_hosts`)",
        )
    if urlsplit(current).scheme == "https" and urlsplit(target).scheme != "https":
        raise DownloadError(request.url, f"redirected by {current} from https to {target}: not followed")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def unreachable_reason(exc: BaseException) -> str | None:
    """Why a connection failed, when it says the host cannot be reached at all (None otherwise)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, (NameResolutionError, socket.gaierror)):
            return "DNS: name not resolved"
        if isinstance(error, OSError) and error.errno in _UNREACHABLE_ERRNOS:
            return os.strerror(error.errno).lower()
        todo += [error.__cause__, error.__context__, getattr(error, "reason", None)]
        todo += [a for a in error.args if isinstance(a, BaseException)]
    return None


def preflight(urls: Iterable[str], mirror: str | None = None, timeout: float | None = None) -> None:
    """Open a TCP connection to each distinct host the `urls` would be fetched from (the mirror's only, with a
    mirror): HostUnreachable at once if one does not answer, instead of a refresh retrying for minutes. `timeout`:
    seconds per host (ABS_PREFLIGHT_TIMEOUT when None)."""
    timeout = load_settings().preflight_timeout if timeout is None else timeout
    through_mirror = bool(_mirror(mirror))
    hosts: dict[tuple[str, int], str] = {}
    for url in urls:
        fetched = urlsplit(mirrored(url, mirror))
        port = fetched.port or (443 if fetched.scheme == "https" else 80)
        hosts.setdefault((fetched.hostname or "", port), fetched.geturl())
    for (host, port), url in hosts.items():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except socket.gaierror as exc:
            raise HostUnreachable(url, "DNS: name not resolved", through_mirror) from exc
        except TimeoutError as exc:
            raise HostUnreachable(url, f"no connection within {timeout:.0f} s", through_mirror) from exc
        except OSError as exc:
            why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise HostUnreachable(url, why, through_mirror) from exc


def _store_body(request: _Request, response: requests.Response, dest: Path, progress) -> tuple[int, str]:
    """Stream the body to a temporary file, check it, move it onto `dest`: (size, sha256)."""
    spec, url = request.spec, request.url
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            size, sha = _stream(url, response, out, spec.max_download, _progress_bar(dest.name, response, progress))
    except BaseException:  # cut off, too large, stopped: nothing worth keeping
        tmp.unlink(missing_ok=True)
        raise
    try:
        _check_content(spec, url, tmp, response.headers.get("Content-Type", ""))
        if spec.sha256 and sha != spec.sha256.lower():
            raise DownloadError(url, f"sha256 {sha} differs from the catalogue's {spec.sha256}")
        if spec.size and size != spec.size:
            raise DownloadError(url, f"size {size} differs from the catalogue's {spec.size}")
        os.replace(tmp, dest)
    except BaseException:
        _keep_rejected(tmp, dest)
        raise
    return size, sha


def _stream(url: str, response: requests.Response, out, limit: int, bar) -> tuple[int, str]:
    """Write the (decoded) body to `out`, counting it against `limit`: (size, sha256)."""
    announced = int(response.headers.get("Content-Length") or 0) or None
    if announced is not None and announced > limit:
        raise DownloadError(
            url,
            f"the server announces {fmt_bytes(announced)} (Content-Length), above the limit "
            f"of {fmt_bytes(limit)} (catalogue max_download_mb); nothing was written",
        )
    digest, size = hashlib.sha256(), 0
    with bar:
        try:
            for chunk in response.iter_content(CHUNK):  # decoded: a gzip body counts as what it inflates to
                size += len(chunk)
                if size > limit:
                    raise DownloadError(
                        url,
                        f"the body exceeds the limit of {fmt_bytes(limit)} (catalogue "
                        f"max_download_mb): {fmt_bytes(size)} received when it was stopped; "
                        "the partial file was deleted",
                    )
                if STOP.is_set():
                    raise DownloadError(url, "stopped during the download: the run is being stopped")
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
        ) as exc:
            raise _Transient(f"the body was cut off ({exc})") from exc
    received = response.raw.tell()  # bytes on the wire: Content-Length counts them before gzip decoding
    if announced is not None and received != announced:
        raise _Transient(f"the body was cut off: received {received} bytes, Content-Length said {announced}")
    return size, digest.hexdigest()


def fmt_bytes(n: int) -> str:
    return f"{n:,} bytes".replace(",", " ")


def _check_content(spec: FileSpec, url: str, path: Path, content_type: str) -> None:
    """Refuse an error page served with 200 and an archive that does not open or inflates beyond its limit."""
    with path.open("rb") as f:
        head = f.read(512)
    text_head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    looks_html = text_head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml"))
    if looks_html or ("html" in content_type.lower() and spec.format != "html"):
        raise DownloadError(
            url,
            f"an HTML page was served instead of {spec.format} (Content-Type {content_type!r})",
            head[:200].decode("utf-8", "replace"),
        )
    if spec.format == "zip":
        _check_zip(spec, url, path)
    elif not head:
        raise DownloadError(url, "the file is empty")


def _check_zip(spec: FileSpec, url: str, path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            too_large = archive_too_large(zf, spec.max_unpacked)
            if too_large:
                raise DownloadError(url, too_large)
            unsafe = [name for name in zf.namelist() if _unsafe_member(name)]
            if unsafe:  # never extracted here, but no publisher ships such names: a tampered archive
                raise DownloadError(
                    url,
                    f"the archive holds member names that climb out of any folder (zip slip): "
                    f"{', '.join(repr(n) for n in unsafe[:3])}",
                )
            bad = _first_corrupt(zf, read_later=_members_read(spec))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # corrupt deflate data raises zlib.error
        raise DownloadError(url, f"not a readable zip archive ({exc}); truncated download?") from exc
    if bad is not None:
        raise DownloadError(url, f"zip member {bad!r} is corrupt (CRC mismatch)")


def _members_read(spec: FileSpec) -> set[str]:
    """The members the catalogue names for the parser: read by `sources.reading.zip_member`, which inflates them
    and checks their CRC as it reads (a corrupt one fails the entry, its bytes kept as `.rejected`)."""
    return ({spec.member} if spec.member else set()) | {name for names in spec.members.values() for name in names}


def _first_corrupt(zf: zipfile.ZipFile, read_later: set[str]) -> str | None:
    """The first member whose data do not inflate to its CRC, as `ZipFile.testzip`, but for the members the parser
    reads (`read_later`): each byte of the archive is inflated once, by the download's check or by the parser.
    zipfile stops each member at its declared size (checked before) and checks the CRC there."""
    for info in zf.infolist():
        if info.filename in read_later or info.is_dir():
            continue
        try:
            with zf.open(info) as member:
                while member.read(CHUNK):
                    pass
        except zipfile.BadZipFile:
            return info.filename
    return None


def _unsafe_member(name: str) -> bool:
    """An absolute member name, a drive letter or a `..` step (either separator)."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return Retry(0).parse_retry_after(value)  # seconds or an HTTP date
    except Exception:  # an unreadable header: plain backoff
        return None


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


def _progress_bar(name: str, response: requests.Response, progress: bool | None):
    """A tqdm bar on a terminal for long downloads; tqdm(disable=True) is a no-op otherwise."""
    from tqdm import tqdm

    total = int(response.headers.get("Content-Length") or 0) or None
    show = progress if progress is not None else sys.stderr.isatty()
    disable = not show or (total is not None and total < PROGRESS_MIN_BYTES)
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, leave=False, disable=disable)
