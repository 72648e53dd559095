"""sources.download over real HTTP on 127.0.0.1 (pytest-httpserver): no mocked requests."""

from __future__ import annotations

import gzip
import hashlib
import io
import threading
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sources import download
from sources.catalogue import FileSpec
from sources.download import fetch, make_session, mirrored
from sources.errors import DownloadError

CSV = b"codgeo;pop\r\n01001;771\r\n01002;248\r\n"
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
    monkeypatch.delenv("ABS_RETRY_BUDGET", raising=False)
    yield
    download.STOP.clear()  # a test that stops the downloads must not stop those of the next one


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


def leftovers(folder: Path) -> list[str]:
    """Files beside the target other than the target itself: partial (`.part`) or refused (`.rejected`) bodies."""
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".part", ".rejected") or p.name.startswith("."))


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
    spec = FileSpec(
        url="https://data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv?delimiter=%3B", format="csv"
    )

    result = fetch(spec, tmp_path / "x.csv", session=fast_session())

    ((request, _),) = httpserver.log
    assert request.path == "/data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv"
    assert request.query_string == b"delimiter=%3B"
    assert result.url == spec.url
    assert result.fetched_url == (
        f"http://127.0.0.1:{httpserver.port}/data.caf.fr/api/explore/v2.1/catalog/datasets/x/exports/csv?delimiter=%3B"
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


@pytest.mark.parametrize(
    "retry_after, cap, least, most",
    [
        ("1", None, 0.95, 10.0),  # honoured: the backoff alone (0 s on a first retry) would be instant
        ("3600", 0.2, 0.15, 2.0),  # capped: a server asking for an hour does not block the run for an hour
    ],
)
def test_429_retry_after_is_honoured_and_capped(httpserver, tmp_path, monkeypatch, retry_after, cap, least, most):
    if cap is not None:
        monkeypatch.setattr(download, "RETRY_AFTER_CAP", cap)
    httpserver.expect_ordered_request("/f.csv").respond_with_data(
        "slow down", status=429, headers={"Retry-After": retry_after}
    )
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

    with pytest.raises(DownloadError, match="cut off") as info:
        fetch(spec_for(httpserver, "/f.csv"), dest, session=fast_session(retries=3))

    assert len(httpserver.log) == 4  # the whole body was asked for again: the first try and 3 retries
    assert "4 attempt(s)" in str(info.value)
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert no_part_files(tmp_path)


def test_gzip_content_encoding_is_not_mistaken_for_truncation(httpserver, tmp_path):
    # requests sends Accept-Encoding: gzip; a server may answer with a gzipped body whose Content-Length is the
    # COMPRESSED size. The file on disk is the decoded CSV and must not be refused as "cut off".
    body = CSV * 50
    packed = gzip.compress(body)
    httpserver.expect_request("/f.csv").respond_with_data(
        packed, content_type="text/csv", headers={"Content-Encoding": "gzip"}
    )
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
        CSV, content_type="text/csv", headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    )
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
        CSV, content_type="text/csv", headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    )
    httpserver.expect_ordered_request("/f.csv").respond_with_data(
        CSV, content_type="text/csv", headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    )
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
        CSV, content_type="text/csv", headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    )
    spec = spec_for(httpserver, "/f.csv")

    record = fetch(spec, tmp_path / "f.csv", session=fast_session()).as_dict()

    assert {
        "url",
        "fetched_url",
        "final_url",
        "size",
        "sha256",
        "etag",
        "last_modified",
        "fetched_at",
        "status",
    } <= set(record)
    assert record["url"] == spec.url == record["fetched_url"] == record["final_url"]  # no mirror, no redirect
    assert record["size"] == len(CSV) and record["sha256"] == sha(CSV)
    assert record["etag"] == ETAG and record["last_modified"] == LAST_MODIFIED
    assert record["status"] == "downloaded"
    assert record["fetched_at"].endswith("+00:00")  # ISO 8601, UTC


# 10. Timeouts -------------------------------------------------------------------------------------------------


def test_read_timeout_raises_quickly(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("ABS_READ_TIMEOUT", "0.3")  # read when the session is made
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
    # the stalled handlers answer once released: let them finish, so that the next test's server log is its own
    deadline = time.monotonic() + 5
    while len(httpserver.log) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert spec.url in str(info.value)
    assert elapsed < 3.0  # two 0.3 s reads, not two minutes
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime


# 11. Size caps -------------------------------------------------------------------------------------------------


def _bytes_seen(message: str) -> int:
    """The byte count an oversize error reports ("1 048 577 bytes received")."""
    import re

    return int(re.search(r"([\d ]+) bytes received", message).group(1).replace(" ", ""))


def test_a_gzip_body_is_capped_by_its_decoded_size_and_the_partial_file_deleted(httpserver, tmp_path):
    # 5 MB of zeros gzip to ~5 kB on the wire: the cap of 1 MB must count the bytes that reach the disk.
    decoded = b"0" * 5_000_000
    packed = gzip.compress(decoded)
    httpserver.expect_request("/bomb.csv").respond_with_data(
        packed, content_type="text/csv", headers={"Content-Encoding": "gzip"}
    )
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)
    spec = spec_for(httpserver, "/bomb.csv", max_download=1_000_000)

    with pytest.raises(DownloadError) as info:
        fetch(spec, dest, session=fast_session())

    message = str(info.value)
    assert len(packed) < 100_000  # the wire size alone would pass the cap
    assert spec.url in message and "limit of 1 000 000 bytes" in message and "max_download_mb" in message
    # stopped at the first chunk beyond the cap: more than 1 000 000, at most one chunk (1 MiB) more
    assert 1_000_000 < _bytes_seen(message) <= 1_000_000 + 1_048_576
    assert len(httpserver.log) == 1  # a file too large is not asked for again
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert leftovers(tmp_path) == []  # neither a .part nor a .rejected of the oversized body


def test_a_streamed_body_without_content_length_is_stopped_at_the_cap(httpserver, tmp_path):
    def endless(request: Request) -> Response:
        return Response((b"01001;771\n" * 10_000 for _ in range(100)), content_type="text/csv")  # 10 MB, chunked

    httpserver.expect_request("/stream.csv").respond_with_handler(endless)
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)

    with pytest.raises(DownloadError, match="limit of 2 000 000 bytes") as info:
        fetch(spec_for(httpserver, "/stream.csv", max_download=2_000_000), dest, session=fast_session())

    assert "Content-Length" not in httpserver.log[0][1].headers
    assert 2_000_000 < _bytes_seen(str(info.value)) <= 2_000_000 + 1_048_576
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert leftovers(tmp_path) == []


def test_a_content_length_above_the_cap_is_refused_before_reading(httpserver, tmp_path):
    httpserver.expect_request("/big.csv").respond_with_data(CSV * 100, content_type="text/csv")
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)

    with pytest.raises(DownloadError) as info:
        fetch(spec_for(httpserver, "/big.csv", max_download=1000), dest, session=fast_session())

    announced = f"{len(CSV) * 100:,}".replace(",", " ")  # 34 bytes x 100 = 3 400
    assert f"announces {announced} bytes (Content-Length), above the limit of 1 000 bytes" in str(info.value)
    assert len(httpserver.log) == 1
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert leftovers(tmp_path) == []


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def lying_zip(name: str, data: bytes, declared: int, crc: int | None = None) -> bytes:
    """A one-member zip whose headers declare `declared` bytes once inflated (and `crc`), whatever it holds."""
    import struct

    body = bytearray(zip_of({name: data}))
    local, central = body.find(b"PK\x03\x04"), body.find(b"PK\x01\x02")
    struct.pack_into("<I", body, local + 22, declared)  # local header: uncompressed size
    struct.pack_into("<I", body, central + 24, declared)  # central directory: uncompressed size
    if crc is not None:
        struct.pack_into("<I", body, local + 14, crc)
        struct.pack_into("<I", body, central + 16, crc)
    return bytes(body)


def test_a_zip_whose_members_declare_more_than_the_cap_is_refused(httpserver, tmp_path):
    # two members of 600 kB each: each fits the cap of 1 MB, together they do not
    body = zip_of({"a.csv": b"1" * 600_000, "b.csv": b"2" * 600_000})
    httpserver.expect_request("/f.zip").respond_with_data(body, content_type="application/zip")
    dest = tmp_path / "f.zip"
    mtime = write_previous(dest)

    with pytest.raises(DownloadError) as info:
        fetch(spec_for(httpserver, "/f.zip", "zip", max_unpacked=1_000_000), dest, session=fast_session())

    assert "the 2 members declare 1 200 000 bytes once inflated, above the limit of 1 000 000 bytes" in str(info.value)
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert no_part_files(tmp_path)  # the small refused zip is kept for inspection, as other refusals
    assert (tmp_path / "f.zip.rejected").read_bytes() == body


def test_a_zip_member_declaring_more_than_the_cap_is_named(httpserver, tmp_path):
    body = zip_of({"base-cc.CSV": b"0" * 2_500_000})
    httpserver.expect_request("/f.zip").respond_with_data(body, content_type="application/zip")

    with pytest.raises(DownloadError) as info:
        fetch(spec_for(httpserver, "/f.zip", "zip", max_unpacked=1_000_000), tmp_path / "f.zip", session=fast_session())

    assert "member 'base-cc.CSV' declares 2 500 000 bytes once inflated, above the limit of 1 000 000 bytes" in str(
        info.value
    )


def test_a_zip_bomb_whose_declared_size_lies_is_refused(httpserver, tmp_path):
    # 5 MB of zeros declared as 1 000 bytes: the declared size passes the cap; reading stops at 1 000 bytes and
    # the CRC (of the 5 MB) does not match them.
    body = lying_zip("bomb.csv", b"0" * 5_000_000, declared=1000)
    httpserver.expect_request("/f.zip").respond_with_data(body, content_type="application/zip")
    dest = tmp_path / "f.zip"
    mtime = write_previous(dest)

    with pytest.raises(DownloadError, match="'bomb.csv' is corrupt"):
        fetch(spec_for(httpserver, "/f.zip", "zip", max_unpacked=1_000_000), dest, session=fast_session())

    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime


def test_reading_a_lying_member_yields_no_more_than_it_declares(tmp_path):
    from sources.errors import ParseError
    from sources.reading import zip_member

    data = b"0" * 5_000_000
    path = tmp_path / "bomb.zip"
    # the CRC of the first 1 000 bytes: an archive consistent with its lie, zipfile has nothing to notice
    path.write_bytes(lying_zip("bomb.csv", data, declared=1000, crc=zlib.crc32(data[:1000])))
    assert zip_member(path, "bomb.csv", source="test", limit=1_000_000) == b"0" * 1000

    path.write_bytes(lying_zip("bomb.csv", data, declared=1000))  # the CRC of the 5 MB: refused
    with pytest.raises(ParseError, match="cannot read member 'bomb.csv'.*CRC"):
        zip_member(path, "bomb.csv", source="test", limit=1_000_000)


def test_reading_refuses_a_member_beyond_the_files_cap(tmp_path):
    from sources.errors import ParseError
    from sources.reading import read_csv_file

    path = tmp_path / "f.zip"
    path.write_bytes(zip_of({"data.csv": b"codgeo;pop\n" + b"01001;771\n" * 200_000}))  # 2 000 011 bytes
    spec = FileSpec(url="https://example.org/f.zip", format="zip", member="data.csv", max_unpacked=1_000_000)

    with pytest.raises(
        ParseError, match="member 'data.csv' declares 2 000 011 bytes once inflated, above the limit of 1 000 000 bytes"
    ):
        read_csv_file(path, spec, source="test")

    frame = read_csv_file(path, FileSpec(url=spec.url, format="zip", member="data.csv"), source="test")
    assert frame.shape == (200_000, 2) and frame["codgeo"][0] == "01001"


def test_reading_checks_utf8_in_pieces_and_falls_back_as_declared(tmp_path):
    from sources.errors import ParseError
    from sources.reading import read_csv_file

    path = tmp_path / "f.csv"
    path.write_bytes("codgeo;libelle\n01001;L'Abergement-Clémenciat\n".encode("latin-1"))
    strict = FileSpec(url="https://example.org/f.csv", format="csv")
    # the header is 15 bytes, "01001;L'Abergement-Cl" 21: the é is byte 36
    with pytest.raises(ParseError, match=r"not valid UTF-8 \(byte 0xe9 at position 36:"):
        read_csv_file(path, strict, source="test")
    latin = FileSpec(url=strict.url, format="csv", fallback_encoding="latin-1")
    assert read_csv_file(path, latin, source="test")["libelle"].to_list() == ["L'Abergement-Clémenciat"]

    path.write_bytes(b"\xef\xbb\xbf" + "codgeo;libelle\n01001;Clémenciat\n".encode())  # UTF-8 with BOM
    assert read_csv_file(path, strict, source="test").columns == ["codgeo", "libelle"]


def test_the_catalogue_gives_every_file_limits_that_refuse_a_bomb():
    from sources import catalogue

    for entry in catalogue.entries():
        for spec in entry.files:
            # generous for the real files (CAF exports up to ~100 MB) ...
            assert spec.max_download >= 200_000_000 and spec.max_unpacked >= 500_000_000
            # ... and below the 1 GiB gzip-decoded body and the 2.5 GB member seen in the fault tests
            assert spec.max_download < 1 << 30 and spec.max_unpacked < 2_500_000_000


# 12. Redirects -------------------------------------------------------------------------------------------------


def test_a_redirect_within_the_host_is_followed_and_the_final_url_recorded(httpserver, tmp_path):
    httpserver.expect_request("/old.csv").respond_with_data("", status=301, headers={"Location": "/new.csv"})
    httpserver.expect_request("/new.csv").respond_with_data(CSV, content_type="text/csv")
    spec = spec_for(httpserver, "/old.csv")

    result = fetch(spec, tmp_path / "f.csv", session=fast_session())

    assert result.url == result.fetched_url == spec.url
    assert result.final_url == f"http://127.0.0.1:{httpserver.port}/new.csv"
    assert result.as_dict()["final_url"] == result.final_url
    assert (tmp_path / "f.csv").read_bytes() == CSV


def test_a_redirect_to_another_host_is_refused(httpserver, tmp_path):
    # localhost is the same server under another host name: enough to be another host for the downloader
    elsewhere = f"http://localhost:{httpserver.port}/evil.csv"
    httpserver.expect_request("/moved.csv").respond_with_data("", status=302, headers={"Location": elsewhere})
    httpserver.expect_request("/evil.csv").respond_with_data(b"evil;1\n", content_type="text/csv")
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)

    with pytest.raises(DownloadError) as info:
        fetch(spec_for(httpserver, "/moved.csv"), dest, session=fast_session())

    assert f"to another host, {elsewhere}: not followed (allowed: 127.0.0.1;" in str(info.value)
    assert [r.path for r, _ in httpserver.log] == ["/moved.csv"]
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert leftovers(tmp_path) == []


def test_an_allowed_host_gets_no_validators_of_the_first(httpserver, tmp_path):
    elsewhere = f"http://localhost:{httpserver.port}/cdn.csv"
    httpserver.expect_ordered_request("/src.csv").respond_with_data(
        CSV, content_type="text/csv", headers={"ETag": ETAG}
    )
    httpserver.expect_ordered_request("/src.csv").respond_with_data("", status=302, headers={"Location": elsewhere})
    httpserver.expect_ordered_request("/cdn.csv").respond_with_data(CSV + b"01003;12\r\n", content_type="text/csv")
    spec = spec_for(httpserver, "/src.csv", redirect_hosts=("localhost",))
    dest = tmp_path / "f.csv"
    first = fetch(spec, dest, session=fast_session())

    second = fetch(spec, dest, first.as_dict(), session=fast_session())

    httpserver.check_assertions()
    (to_source, _), (to_cdn, _) = httpserver.log[1:]
    assert to_source.headers["If-None-Match"] == ETAG  # the source's own validator, to the source
    assert "If-None-Match" not in to_cdn.headers and to_cdn.headers["Host"] == f"localhost:{httpserver.port}"
    assert second.status == "downloaded" and second.final_url == elsewhere


def test_a_redirect_loop_is_a_clear_error_at_once(httpserver, tmp_path):
    httpserver.expect_request("/a.csv").respond_with_data("", status=302, headers={"Location": "/b.csv"})
    httpserver.expect_request("/b.csv").respond_with_data("", status=302, headers={"Location": "/a.csv"})
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)
    base = f"http://127.0.0.1:{httpserver.port}"

    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch(spec_for(httpserver, "/a.csv"), dest)  # the default session: no retry of a loop
    assert time.monotonic() - start < 2

    assert f"redirect loop: {base}/a.csv -> {base}/b.csv -> {base}/a.csv" in str(info.value)
    assert len(httpserver.log) == 2
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime


def test_too_many_redirects_is_a_clear_error(httpserver, tmp_path):
    for i in range(10):
        httpserver.expect_request(f"/r{i}.csv").respond_with_data(
            "", status=307, headers={"Location": f"/r{i + 1}.csv"}
        )

    with pytest.raises(DownloadError, match="more than 5 redirects"):
        fetch(spec_for(httpserver, "/r0.csv"), tmp_path / "f.csv")

    assert [r.path for r, _ in httpserver.log] == [f"/r{i}.csv" for i in range(6)]  # the first and 5 redirects


# 13. Retry budget ----------------------------------------------------------------------------------------------


def test_the_retry_budget_bounds_a_persistent_503(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("ABS_RETRY_BUDGET", "1")
    httpserver.expect_request("/down.csv").respond_with_data("maintenance", status=503)
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)

    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        # waits of 0.4-0.5 s, then 0.8-1.0 s: the second would end beyond 1 s, so two attempts only
        fetch(spec_for(httpserver, "/down.csv"), dest, session=make_session(backoff=0.4))
    elapsed = time.monotonic() - start

    message = str(info.value)
    assert "HTTP 503" in message and "and 2 attempt(s)" in message and "retry budget of 1 s" in message
    assert "ABS_RETRY_BUDGET" in message
    assert len(httpserver.log) == 2 and elapsed < 1.0
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert leftovers(tmp_path) == []


def test_a_retry_after_beyond_the_budget_gives_up_at_once(httpserver, tmp_path):
    httpserver.expect_request("/busy.csv").respond_with_data("busy", status=503, headers={"Retry-After": "30"})

    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"the next one, 30 s later, would exceed the retry budget of 5 s"):
        fetch(spec_for(httpserver, "/busy.csv"), tmp_path / "f.csv", budget=5)
    assert time.monotonic() - start < 1.0
    assert len(httpserver.log) == 1


def test_a_retry_wait_ends_at_once_when_the_run_is_stopped(httpserver, tmp_path):
    httpserver.expect_request("/stop.csv").respond_with_data("busy", status=503, headers={"Retry-After": "60"})
    threading.Timer(0.3, download.stop_downloads).start()

    start = time.monotonic()
    with pytest.raises(DownloadError, match="stopped while waiting to retry"):
        fetch(spec_for(httpserver, "/stop.csv"), tmp_path / "f.csv", budget=300)
    assert time.monotonic() - start < 1.0  # not the 60 s the server asked for
    assert leftovers(tmp_path) == []


def test_the_budget_must_be_a_number(monkeypatch):
    monkeypatch.setenv("ABS_RETRY_BUDGET", "five minutes")
    with pytest.raises(ValueError, match="ABS_RETRY_BUDGET must be a number of seconds, not 'five minutes'"):
        make_session()


# 14. Offline ---------------------------------------------------------------------------------------------------


def dead_port() -> int:
    """A loopback port nothing listens on (bound then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_port_fails_at_once_without_retrying(tmp_path):
    port = dead_port()
    dest = tmp_path / "f.csv"
    mtime = write_previous(dest)
    spec = FileSpec(url=f"http://127.0.0.1:{port}/f.csv", format="csv")

    start = time.monotonic()
    with pytest.raises(download.HostUnreachable) as info:
        fetch(spec, dest)  # the default session: 10 attempts and a 300 s budget, not used here
    assert time.monotonic() - start < 2

    assert str(info.value) == (
        f"cannot reach 127.0.0.1:{port} (connection refused): offline? use --mirror URL or ABS_MIRROR"
    )
    assert dest.read_bytes() == PREVIOUS and dest.stat().st_mtime_ns == mtime
    assert leftovers(tmp_path) == []


def test_preflight_names_the_unreachable_host_within_seconds():
    start = time.monotonic()
    with pytest.raises(download.HostUnreachable) as info:
        download.preflight(["https://abs-diag-test.invalid/fr/x.csv", "https://abs-diag-test.invalid/y.csv"])
    assert str(info.value) == (
        "cannot reach abs-diag-test.invalid (DNS: name not resolved): offline? use --mirror URL or ABS_MIRROR"
    )

    port = dead_port()
    with pytest.raises(download.HostUnreachable) as info:
        download.preflight(["https://www.insee.fr/fr/x.csv"], mirror=f"http://127.0.0.1:{port}")
    assert str(info.value) == (
        f"cannot reach the mirror 127.0.0.1:{port} (connection refused): is it running (abs-diag mirror)?"
    )
    assert time.monotonic() - start < 5


def test_preflight_of_a_live_mirror_asks_nothing(httpserver):
    download.preflight(
        ["https://www.insee.fr/a.csv", "https://data.caf.fr/b"], mirror=f"http://127.0.0.1:{httpserver.port}"
    )
    assert httpserver.log == []  # a TCP connection, no request


def test_an_offline_refresh_says_so_before_taking_the_store_lock(tmp_path):
    from sources.refresh import refresh
    from storage.store import Store

    store = Store(tmp_path / "store")
    port = dead_port()
    with store.lock(wait=0):  # a refresh that took the lock first would say "another refresh is writing"
        start = time.monotonic()
        with pytest.raises(download.HostUnreachable, match=f"cannot reach the mirror 127.0.0.1:{port}"):
            refresh(store=store, mirror=f"http://127.0.0.1:{port}")
        assert time.monotonic() - start < 5
    assert not store.manifest_path.exists()


def test_the_offline_refresh_flow_says_so_before_taking_the_store_lock(tmp_path, prefect_harness):
    from flow_support import run

    from flows.refresh import refresh
    from storage.store import Store

    store = Store(tmp_path / "store")
    port = dead_port()
    with store.lock(wait=0):
        state = run(refresh, mirror=f"http://127.0.0.1:{port}", data_dir=str(store.root), lock_timeout=60)
    assert state.is_failed()
    assert f"cannot reach the mirror 127.0.0.1:{port} (connection refused)" in state.message


def test_a_process_whose_main_thread_ends_does_not_sit_out_a_retry_wait(httpserver, tmp_path):
    # A worker thread waits 60 s to retry (Retry-After); the main thread then ends, as when a SIGTERM handler
    # raises in it: the interpreter joins the worker at exit, so the wait must end at once.
    import subprocess
    import sys
    import textwrap

    httpserver.expect_request("/exit.csv").respond_with_data("busy", status=503, headers={"Retry-After": "60"})
    script = textwrap.dedent(f"""
        import time
        from concurrent.futures import ThreadPoolExecutor
        from sources.catalogue import FileSpec
        from sources.download import fetch
        pool = ThreadPoolExecutor(1)
        pool.submit(fetch, FileSpec(url="{httpserver.url_for("/exit.csv")}", format="csv"),
                    __import__("pathlib").Path(r"{tmp_path}") / "f.csv", budget=300)
        time.sleep(1)  # the worker is waiting to retry
        raise SystemExit(3)
    """)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1], timeout=30)
    assert done.returncode == 3
    assert time.monotonic() - start < 10  # about 1 s and the interpreter's start, not 60 s
    assert [r.path for r, _ in httpserver.log] == ["/exit.csv"]
    assert leftovers(tmp_path) == []


def test_a_304_from_a_host_that_got_no_validators_is_not_unchanged(httpserver, tmp_path):
    # the source redirects a conditional request to an allowed host; that host answers 304 to a request that
    # carried no validator (they are never sent to another host): nothing says the file is unchanged
    elsewhere = f"http://localhost:{httpserver.port}/cdn304.csv"
    httpserver.expect_ordered_request("/src304.csv").respond_with_data(
        CSV, content_type="text/csv", headers={"ETag": ETAG}
    )
    httpserver.expect_ordered_request("/src304.csv").respond_with_data("", status=302, headers={"Location": elsewhere})
    httpserver.expect_ordered_request("/cdn304.csv").respond_with_data("", status=304)
    spec = spec_for(httpserver, "/src304.csv", redirect_hosts=("localhost",))
    dest = tmp_path / "f.csv"
    first = fetch(spec, dest, session=fast_session())

    with pytest.raises(DownloadError, match="HTTP 304"):
        fetch(spec, dest, first.as_dict(), session=fast_session())

    httpserver.check_assertions()
    assert dest.read_bytes() == CSV


# -- each member inflated once: the named ones by the parser, the others by the download's check ----------------


def _with_corrupt_first_member() -> bytes:
    """`small_zip()` with bytes flipped inside its first member's deflate data (base-cc-test.CSV)."""
    body = bytearray(small_zip())
    start = 30 + len("base-cc-test.CSV") + 5  # local header (30 bytes) + name, then a few bytes into the data
    for i in range(start, start + 8):
        body[i] ^= 0xFF
    return bytes(body)


def test_a_corrupt_member_the_parser_reads_is_refused_by_the_parser_not_inflated_twice(httpserver, tmp_path):
    from sources.errors import ParseError
    from sources.reading import zip_member

    httpserver.expect_request("/f.zip").respond_with_data(_with_corrupt_first_member(), content_type="application/zip")
    spec = spec_for(httpserver, "/f.zip", "zip", member="base-cc-test.CSV")
    dest = tmp_path / "f.zip"

    fetch(spec, dest, session=fast_session())  # the structure is sound; the named member is left to its reader

    with pytest.raises(ParseError) as info:
        zip_member(dest, "base-cc-test.CSV", source="test")
    assert "f.zip" in str(info.value) and "cannot read member 'base-cc-test.CSV'" in str(info.value)


def test_a_corrupt_member_no_parser_reads_is_still_refused_by_the_download(httpserver, tmp_path):
    # the corrupt member is the data file, but the catalogue names the meta file: the download inflates the other
    httpserver.expect_request("/f.zip").respond_with_data(_with_corrupt_first_member(), content_type="application/zip")
    spec = spec_for(httpserver, "/f.zip", "zip", member="meta_base-cc-test.CSV")
    dest = tmp_path / "f.zip"

    with pytest.raises(DownloadError, match="corrupt|not a readable zip"):
        fetch(spec, dest, session=fast_session())
    assert not dest.exists()


def test_a_lying_member_the_parser_reads_fails_on_its_crc_when_read(httpserver, tmp_path):
    from sources.errors import ParseError
    from sources.reading import zip_member

    # 5 MB of zeros declared as 1 000 bytes, with the CRC of the 5 MB: the read stops at 1 000 bytes, CRC differs
    body = lying_zip("bomb.csv", b"0" * 5_000_000, declared=1000)
    httpserver.expect_request("/f.zip").respond_with_data(body, content_type="application/zip")
    spec = spec_for(httpserver, "/f.zip", "zip", member="bomb.csv", max_unpacked=1_000_000)
    fetch(spec, tmp_path / "f.zip", session=fast_session())

    with pytest.raises(ParseError, match="cannot read member 'bomb.csv'.*CRC"):
        zip_member(tmp_path / "f.zip", "bomb.csv", source="test", limit=1_000_000)
