"""sources.download over real HTTP on 127.0.0.1 (pytest-httpserver): no mocked requests."""

from __future__ import annotations

import gzip
import hashlib
import io
import threading
import time
import zipfile
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sources import download
from sources.catalogue import FileSpec
from sources.download import fetch, make_session, mirrored
from sources.errors import DownloadError

CSV = "codgeo;pop\r\n01001;771\r\n01002;248\r\n".encode()
PREVIOUS = b"codgeo;pop\r\n01001;700\r\n"


@pytest.fixture(scope="module")
def _server():
    # Own server so that it listens on 127.0.0.1 (the plugin's default host is "localhost") and is threaded
    # (a handler that sleeps must not block the retry that follows it).
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def httpserver(_server):
    yield _server
    _server.clear()


@pytest.fixture(autouse=True)
def _no_mirror(monkeypatch):
    monkeypatch.delenv("ABS_MIRROR", raising=False)


def fast_session(retries: int = 3):
    return make_session(retries=retries, backoff=0.01)


def spec_for(server: HTTPServer, path: str, fmt: str = "csv", **kw) -> FileSpec:
    return FileSpec(url=server.url_for(path), format=fmt, **kw)


def small_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("base-cc-test.CSV", "CODGEO;P22_POP\n" + "".join(f"{i:05d};{i * 7}\n" for i in range(1000, 1400)))
        zf.writestr("meta_base-cc-test.CSV", "COD_VAR;LIB_VAR\nP22_POP;Population\n")
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_previous(dest: Path) -> float:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(PREVIOUS)
    return dest.stat().st_mtime_ns


def no_part_files(folder: Path) -> bool:
    return not list(folder.glob("*.part"))


# 1. ABS_MIRROR ------------------------------------------------------------------------------------------------

def test_mirrored_maps_host_and_path_and_keeps_query():
    url = "https://data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv?delimiter=%3B"
    assert mirrored(url, "http://127.0.0.1:1234") == (
        "http://127.0.0.1:1234/data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv?delimiter=%3B"
    )
    assert mirrored(url, "http://127.0.0.1:1234/") == mirrored(url, "http://127.0.0.1:1234")
    assert mirrored(url, "") == url  # no mirror: the URL itself


def test_fetch_through_mirror_env_var(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("ABS_MIRROR", f"http://127.0.0.1:{httpserver.port}")
    httpserver.expect_request(
        "/data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv", query_string="delimiter=%3B"
    ).respond_with_data(CSV, content_type="text/csv")
    spec = FileSpec(url="https://data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv?delimiter=%3B",
                    format="csv")

    result = fetch(spec, tmp_path / "x.csv", session=fast_session())

    (request, _), = httpserver.log
    assert request.path == "/data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv"
    assert request.query_string == b"delimiter=%3B"
    assert result.url == spec.url
    assert result.fetched_url == (
        f"http://127.0.0.1:{httpserver.port}/data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv"
        "?delimiter=%3B"
    )
    assert (tmp_path / "x.csv").read_bytes() == CSV


# 2-3. Retries -------------------------------------------------------------------------------------------------

def test_500_then_200_is_retried(httpserver, tmp_path):
    httpserver.expect_ordered_request("/f.csv").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/f.csv").respond_with_data(CSV, content_type="text/csv")
    dest = tmp_path / "f.csv"

    result = fetch(spec_for(httpserver, "/f.csv"), dest, session=fast_session())

    httpserver.check_assertions()
    assert len(httpserver.log) == 2
    assert [r.status_code for _, r in httpserver.log] == [500, 200]
    assert dest.read_bytes() == CSV
    assert result.status == "downloaded" and result.sha256 == sha(CSV) and result.size == len(CSV)


@pytest.mark.parametrize("retry_after, cap, least, most", [
    ("1", None, 0.95, 10.0),  # honoured: the backoff alone (0 s on a first retry) would be instant
    ("3600", 0.2, 0.15, 2.0),  # capped: a server asking for an hour does not block the run for an hour
])
def test_429_retry_after_is_honoured_and_capped(httpserver, tmp_path, monkeypatch, retry_after, cap, least, most):
    if cap is not None:
        monkeypatch.setattr(download, "RETRY_AFTER_CAP", cap)
    httpserver.expect_ordered_request("/f.csv").respond_with_data("slow down", status=429,
                                                                  headers={"Retry-After": retry_after})
    httpserver.expect_ordered_request("/f.csv").respond_with_data(CSV, content_type="text/csv")
    dest = tmp_path / "f.csv"

    start = time.monotonic()
    fetch(spec_for(httpserver, "/f.csv"), dest, session=fast_session())
    elapsed = time.monotonic() - start

    httpserver.check_assertions()
    assert len(httpserver.log) == 2
    assert least <= elapsed < most
    assert dest.read_bytes() == CSV


# 4. Persistent failure, atomic replacement -------------------------------------------------------------------

def test_persistent_503_raises_and_keeps_previous_file(httpserver, tmp_path):
    httpserver.expect_request("/f.csv").respond_with_data("maintenance", status=503)
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)
    spec = spec_for(httpserver, "/f.csv")

    with pytest.raises(DownloadError) as info:
        fetch(spec, dest, session=fast_session(retries=2))

    assert spec.url in str(info.value) and "503" in str(info.value)
    assert info.value.url == spec.url
    assert "maintenance" in info.value.body  # the start of the error body is kept as a hint
    assert len(httpserver.log) == 3  # first try + 2 retries
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert no_part_files(tmp_path)


# 5. HTML page served with 200 ---------------------------------------------------------------------------------

HTML = b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body>Back soon</body></html>\n"


@pytest.mark.parametrize("fmt", ["csv", "zip"])
def test_html_page_with_200_is_refused_and_kept_as_rejected(httpserver, tmp_path, fmt):
    httpserver.expect_request(f"/f.{fmt}").respond_with_data(HTML, content_type="text/html; charset=utf-8")
    dest = tmp_path / f"f.{fmt}"

    with pytest.raises(DownloadError, match="HTML") as info:
        fetch(spec_for(httpserver, f"/f.{fmt}", fmt), dest, session=fast_session())

    assert "Maintenance" in info.value.body
    assert not dest.exists()
    assert (tmp_path / f"f.{fmt}.rejected").read_bytes() == HTML
    assert no_part_files(tmp_path)


def test_html_page_does_not_replace_previous_file(httpserver, tmp_path):
    # Content-Type lies (text/csv) but the body is an HTML page: the sniffing catches it.
    httpserver.expect_request("/f.csv").respond_with_data(HTML, content_type="text/csv")
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)

    with pytest.raises(DownloadError, match="HTML"):
        fetch(spec_for(httpserver, "/f.csv"), dest, session=fast_session())

    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert (tmp_path / "f.csv.rejected").read_bytes() == HTML


# 6. Truncated bodies ------------------------------------------------------------------------------------------

def test_good_zip_is_accepted(httpserver, tmp_path):
    body = small_zip()
    httpserver.expect_request("/f.zip").respond_with_data(body, content_type="application/zip")
    dest = tmp_path / "f.zip"

    result = fetch(spec_for(httpserver, "/f.zip", "zip"), dest, session=fast_session())

    assert dest.read_bytes() == body and result.sha256 == sha(body)


def test_zip_cut_in_half_is_refused(httpserver, tmp_path):
    body = small_zip()
    half = body[: len(body) // 2]
    # respond_with_data sets a Content-Length matching the half body: only the zip check can notice.
    httpserver.expect_request("/f.zip").respond_with_data(half, content_type="application/zip")
    dest = tmp_path / "f.zip"
    mtime = write_previous(dest)

    with pytest.raises(DownloadError, match="zip") as info:
        fetch(spec_for(httpserver, "/f.zip", "zip"), dest, session=fast_session())

    assert "not a readable zip" in str(info.value)
    assert httpserver.log[0][1].headers["Content-Length"] == str(len(half))
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert (tmp_path / "f.zip.rejected").read_bytes() == half


def test_zip_with_corrupt_deflate_data_is_refused(httpserver, tmp_path):
    body = bytearray(small_zip())
    # Flip bytes inside the first member's compressed data (local header is 30 bytes + name): the archive
    # structure is intact but inflating fails.
    start = 30 + len("base-cc-test.CSV") + 5
    for i in range(start, start + 8):
        body[i] ^= 0xFF
    httpserver.expect_request("/f.zip").respond_with_data(bytes(body), content_type="application/zip")
    dest = tmp_path / "f.zip"

    with pytest.raises(DownloadError, match="corrupt|zip"):
        fetch(spec_for(httpserver, "/f.zip", "zip"), dest, session=fast_session())

    assert not dest.exists()


def test_body_shorter_than_content_length_is_cut_off(httpserver, tmp_path):
    short = Response(CSV[:10], content_type="text/csv")
    short.headers["Content-Length"] = str(len(CSV))  # set after the body, else werkzeug recomputes it
    httpserver.expect_request("/f.csv").respond_with_response(short)
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)

    with pytest.raises(DownloadError, match="cut off"):
        fetch(spec_for(httpserver, "/f.csv"), dest, session=fast_session())

    assert len(httpserver.log) == download.BODY_ATTEMPTS  # the whole body was asked for again each time
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert no_part_files(tmp_path)


def test_gzip_content_encoding_is_not_mistaken_for_truncation(httpserver, tmp_path):
    # requests sends Accept-Encoding: gzip; a server may answer with a gzipped body whose Content-Length is the
    # COMPRESSED size. The file on disk is the decoded CSV and must not be refused as "cut off".
    body = CSV * 50
    packed = gzip.compress(body)
    httpserver.expect_request("/f.csv").respond_with_data(packed, content_type="text/csv",
                                                          headers={"Content-Encoding": "gzip"})
    dest = tmp_path / "f.csv"

    result = fetch(spec_for(httpserver, "/f.csv"), dest, session=fast_session())

    assert httpserver.log[0][1].headers["Content-Length"] == str(len(packed))
    assert dest.read_bytes() == body
    assert result.size == len(body) and result.sha256 == sha(body)


# 7. Conditional GET -------------------------------------------------------------------------------------------

ETAG = '"abc123"'
LAST_MODIFIED = "Wed, 01 Oct 2025 08:00:00 GMT"


def test_conditional_get_304_means_unchanged(httpserver, tmp_path):
    httpserver.expect_ordered_request("/f.csv").respond_with_data(
        CSV, content_type="text/csv", headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED})
    httpserver.expect_ordered_request(
        "/f.csv", headers={"If-None-Match": ETAG, "If-Modified-Since": LAST_MODIFIED}
    ).respond_with_data("", status=304)
    spec = spec_for(httpserver, "/f.csv")
    dest = tmp_path / "f.csv"

    first = fetch(spec, dest, session=fast_session())
    assert (first.etag, first.last_modified, first.status) == (ETAG, LAST_MODIFIED, "downloaded")
    first_request = httpserver.log[0][0]
    assert "If-None-Match" not in first_request.headers and "If-Modified-Since" not in first_request.headers
    mtime = dest.stat().st_mtime_ns

    second = fetch(spec, dest, first.as_dict(), session=fast_session())

    httpserver.check_assertions()
    request = httpserver.log[1][0]
    assert request.headers["If-None-Match"] == ETAG
    assert request.headers["If-Modified-Since"] == LAST_MODIFIED
    assert second.status == "unchanged"
    assert second.sha256 == first.sha256 == sha(CSV) and second.size == first.size
    assert dest.stat().st_mtime_ns == mtime and dest.read_bytes() == CSV


def test_altered_local_file_gets_an_unconditional_request(httpserver, tmp_path):
    httpserver.expect_ordered_request("/f.csv").respond_with_data(
        CSV, content_type="text/csv", headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED})
    httpserver.expect_ordered_request("/f.csv").respond_with_data(
        CSV, content_type="text/csv", headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED})
    spec = spec_for(httpserver, "/f.csv")
    dest = tmp_path / "f.csv"
    first = fetch(spec, dest, session=fast_session())
    dest.write_bytes(b"edited by hand\n")

    second = fetch(spec, dest, first.as_dict(), session=fast_session())

    httpserver.check_assertions()
    request = httpserver.log[1][0]
    assert "If-None-Match" not in request.headers and "If-Modified-Since" not in request.headers
    assert second.status == "downloaded" and dest.read_bytes() == CSV


def test_304_to_an_unconditional_request_is_not_unchanged(httpserver, tmp_path):
    # A misbehaving server (or mirror) answering 304 when no validator was sent must not make a missing or
    # altered file pass as "unchanged".
    httpserver.expect_request("/f.csv").respond_with_data("", status=304)
    previous = {"sha256": sha(CSV), "size": len(CSV), "etag": ETAG, "last_modified": LAST_MODIFIED}
    dest = tmp_path / "f.csv"  # absent: nothing to be unchanged

    with pytest.raises(DownloadError, match="304"):
        fetch(spec_for(httpserver, "/f.csv"), dest, previous, session=fast_session())

    assert not dest.exists()


# 8. Catalogue checksum and size --------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,word", [("sha256", "0" * 64, "sha256"), ("size", len(CSV) + 1, "size")])
def test_catalogue_sha256_or_size_mismatch_is_refused(httpserver, tmp_path, field, value, word):
    httpserver.expect_request("/f.csv").respond_with_data(CSV, content_type="text/csv")
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)

    with pytest.raises(DownloadError, match=f"{word} .* differs from the catalogue"):
        fetch(spec_for(httpserver, "/f.csv", **{field: value}), dest, session=fast_session())

    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert (tmp_path / "f.csv.rejected").read_bytes() == CSV


def test_catalogue_sha256_and_size_that_match_are_accepted(httpserver, tmp_path):
    httpserver.expect_request("/f.csv").respond_with_data(CSV, content_type="text/csv")
    dest = tmp_path / "f.csv"
    spec = spec_for(httpserver, "/f.csv", sha256=sha(CSV).upper(), size=len(CSV))

    assert fetch(spec, dest, session=fast_session()).sha256 == sha(CSV)
    assert dest.read_bytes() == CSV


# 9. Manifest record -------------------------------------------------------------------------------------------

def test_as_dict_is_a_manifest_record(httpserver, tmp_path):
    httpserver.expect_request("/f.csv").respond_with_data(
        CSV, content_type="text/csv", headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED})
    spec = spec_for(httpserver, "/f.csv")

    record = fetch(spec, tmp_path / "f.csv", session=fast_session()).as_dict()

    assert {"url", "fetched_url", "size", "sha256", "etag", "last_modified", "fetched_at", "status"} <= set(record)
    assert record["url"] == spec.url == record["fetched_url"]  # no mirror
    assert record["size"] == len(CSV) and record["sha256"] == sha(CSV)
    assert record["etag"] == ETAG and record["last_modified"] == LAST_MODIFIED
    assert record["status"] == "downloaded"
    assert record["fetched_at"].endswith("+00:00")  # ISO 8601, UTC


# 10. Timeouts -------------------------------------------------------------------------------------------------

def test_read_timeout_raises_quickly(httpserver, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "READ_TIMEOUT", 0.3)
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response(CSV, content_type="text/csv")

    httpserver.expect_request("/f.csv").respond_with_handler(stall)
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)
    spec = spec_for(httpserver, "/f.csv")

    start = time.monotonic()
    try:
        with pytest.raises(DownloadError, match="no answer") as info:
            fetch(spec, dest, session=fast_session(retries=1))
    finally:
        release.set()
    elapsed = time.monotonic() - start

    assert spec.url in str(info.value)
    assert elapsed < 3.0  # two 0.3 s reads, not two minutes
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
