"""`abs-diag mirror` (sources.mirror) over real HTTP on 127.0.0.1: regular files under its folder only, folder
zips of the demo layout, conditional GETs."""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import zipfile
from pathlib import Path

import pytest
import requests

from sources import mirror as mirror_module
from sources.mirror import serve, zip_folder

CSV = b"codgeo;pop\n01001;771\n"


@pytest.fixture
def layout(tmp_path) -> Path:
    """A mirror folder: one host, a plain file, a folder served as a zip, and a secret outside the mirror."""
    root = tmp_path / "mirror"
    files = root / "www.insee.fr" / "fr" / "fichier"
    (files / "base-cc_csv.zip").mkdir(parents=True)
    (files / "x.csv").write_bytes(CSV)
    (files / "base-cc_csv.zip" / "base-cc.CSV").write_bytes(CSV * 3)
    (files / "base-cc_csv.zip" / "meta_base-cc.CSV").write_bytes(b"COD_VAR;LIB_VAR\n")
    (tmp_path / "secret.txt").write_bytes(b"root:x:0:0:secret\n")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.txt").write_bytes(b"private key\n")
    return root


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (no client-side normalisation of `..`)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_file_is_served_with_an_etag_and_answers_304_to_it(layout):
    with serve(layout) as mirror:
        first = requests.get(f"{mirror.url}/www.insee.fr/fr/fichier/x.csv", timeout=5)
        again = requests.get(
            f"{mirror.url}/www.insee.fr/fr/fichier/x.csv", timeout=5, headers={"If-None-Match": first.headers["ETag"]}
        )
    assert first.status_code == 200 and first.content == CSV
    assert first.headers["Content-Length"] == str(len(CSV))
    assert first.headers["ETag"] == f'"{hashlib.sha256(CSV).hexdigest()[:32]}"'
    assert again.status_code == 304 and again.content == b""


def test_a_folder_below_a_host_is_served_as_the_zip_of_its_files(layout):
    folder = layout / "www.insee.fr" / "fr" / "fichier" / "base-cc_csv.zip"
    with serve(layout) as mirror:
        response = requests.get(f"{mirror.url}/www.insee.fr/fr/fichier/base-cc_csv.zip", timeout=5)
        again = requests.get(
            f"{mirror.url}/www.insee.fr/fr/fichier/base-cc_csv.zip",
            timeout=5,
            headers={"If-None-Match": response.headers["ETag"]},
        )
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
    assert response.content == zip_folder(folder)  # deterministic: the same bytes as the tests' materialise()
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert zf.namelist() == ["base-cc.CSV", "meta_base-cc.CSV"]
        assert zf.read("base-cc.CSV") == CSV * 3
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/", "/www.insee.fr", "/www.insee.fr/"])
def test_the_root_and_the_host_folders_are_never_zipped(layout, path):
    with serve(layout) as mirror:
        response = requests.get(mirror.url + path, timeout=5)
    assert response.status_code == 404 and response.text == "not found in the mirror"


def test_a_link_to_a_file_outside_the_mirror_is_not_served(layout, tmp_path):
    planted = layout / "www.insee.fr" / "fr" / "fichier" / "passwd.csv"
    planted.symlink_to(tmp_path / "secret.txt")
    with serve(layout) as mirror:
        response = requests.get(f"{mirror.url}/www.insee.fr/fr/fichier/passwd.csv", timeout=5)
    assert response.status_code == 404 and b"secret" not in response.content


def test_a_link_to_a_folder_outside_the_mirror_is_neither_served_nor_zipped(layout, tmp_path):
    (layout / "www.insee.fr" / "fr" / "private").symlink_to(tmp_path / "private", target_is_directory=True)
    with serve(layout) as mirror:
        as_zip = requests.get(f"{mirror.url}/www.insee.fr/fr/private", timeout=5)
        through = requests.get(f"{mirror.url}/www.insee.fr/fr/private/key.txt", timeout=5)
        parent = requests.get(f"{mirror.url}/www.insee.fr/fr", timeout=5)
    assert as_zip.status_code == 404 and through.status_code == 404
    # the folder holding the link is zipped without what the link leads to
    with zipfile.ZipFile(io.BytesIO(parent.content)) as zf:
        names = zf.namelist()
    assert names == ["fichier/base-cc_csv.zip/base-cc.CSV", "fichier/base-cc_csv.zip/meta_base-cc.CSV", "fichier/x.csv"]


def test_links_inside_a_zipped_folder_are_left_out(layout, tmp_path):
    folder = layout / "www.insee.fr" / "fr" / "fichier" / "base-cc_csv.zip"
    (folder / "passwd.CSV").symlink_to(tmp_path / "secret.txt")
    (folder / "copy.CSV").symlink_to(folder / "base-cc.CSV")  # even one that stays inside: links are not data
    with serve(layout) as mirror:
        response = requests.get(f"{mirror.url}/www.insee.fr/fr/fichier/base-cc_csv.zip", timeout=5)
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert zf.namelist() == ["base-cc.CSV", "meta_base-cc.CSV"]


@pytest.mark.parametrize(
    "path",
    [
        "/www.insee.fr/../../secret.txt",
        "/www.insee.fr/fr/../../../secret.txt",
        "/www.insee.fr/fr/fichier/%2e%2e/%2e%2e/%2e%2e/../secret.txt",
        "//etc/passwd",
    ],
)
def test_dot_dot_never_leaves_the_mirror(layout, path):
    with serve(layout) as mirror:
        status, body = raw_get(mirror.url, path)
    assert status == 404 and b"secret" not in body and b"root:" not in body


def test_a_mirror_folder_that_is_itself_a_link_is_served(layout, tmp_path):
    link = tmp_path / "mirror-link"
    link.symlink_to(layout, target_is_directory=True)
    with serve(link) as mirror:
        response = requests.get(f"{mirror.url}/www.insee.fr/fr/fichier/x.csv", timeout=5)
    assert response.status_code == 200 and response.content == CSV


def test_a_folder_zip_is_written_to_disk_not_held_in_memory(layout):
    folder = layout / "www.insee.fr" / "fr" / "fichier" / "big"
    folder.mkdir()
    (folder / "a.bin").write_bytes(os.urandom(300_000))  # incompressible: the zip is larger than 300 kB
    app = mirror_module.MirrorApp(layout)

    body, content_type = app.open("/www.insee.fr/fr/fichier/big")
    with body:
        assert content_type == "application/zip"
        assert Path(body.name).parent == Path(app._zips.name)  # a file of the server's temporary folder
        assert body.read() == zip_folder(folder)


def test_a_folder_beyond_the_zip_limit_is_refused(layout, monkeypatch):
    monkeypatch.setattr(mirror_module, "MAX_ZIP_INPUT", 50)  # base-cc.CSV alone is 63 bytes
    with serve(layout) as mirror:
        response = requests.get(f"{mirror.url}/www.insee.fr/fr/fichier/base-cc_csv.zip", timeout=5)
        file = requests.get(f"{mirror.url}/www.insee.fr/fr/fichier/x.csv", timeout=5)
    assert response.status_code == 413 and "more than 50 to zip" in response.text
    assert file.status_code == 200  # plain files are not zipped: no such limit


def test_the_request_log_records_each_answer(layout):
    with serve(layout) as mirror:
        requests.get(f"{mirror.url}/www.insee.fr/fr/fichier/x.csv?v=1", timeout=5)
        requests.get(f"{mirror.url}/", timeout=5)
    assert [(e["path"], e["query"], e["status"]) for e in mirror.log] == [
        ("/www.insee.fr/fr/fichier/x.csv", "v=1", 200),
        ("/", "", 404),
    ]


def test_an_unchanged_folder_is_zipped_once_and_a_changed_one_again(layout, monkeypatch):
    """A refresh with nothing new asks again with the ETag: the zip kept for the folder's state answers it."""
    zipped = []
    write = mirror_module.write_folder_zip
    monkeypatch.setattr(
        mirror_module, "write_folder_zip", lambda folder, out: zipped.append(folder) or write(folder, out)
    )
    url = "/www.insee.fr/fr/fichier/base-cc_csv.zip"
    with serve(layout) as mirror:
        first = requests.get(mirror.url + url, timeout=5)
        etag = {"If-None-Match": first.headers["ETag"]}
        again = requests.get(mirror.url + url, timeout=5, headers=etag)
        whole = requests.get(mirror.url + url, timeout=5)
        (layout / "www.insee.fr/fr/fichier/base-cc_csv.zip/base-cc.CSV").write_bytes(CSV * 4)
        changed = requests.get(mirror.url + url, timeout=5, headers=etag)
    assert first.status_code == 200 and again.status_code == 304 and whole.content == first.content
    assert len(zipped) == 2  # the first request and the one after the change; none for the two between
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
    with zipfile.ZipFile(io.BytesIO(changed.content)) as z:
        assert z.read("base-cc.CSV") == CSV * 4


def test_a_changed_file_gets_a_new_etag(layout):
    path, longer = layout / "www.insee.fr/fr/fichier/x.csv", CSV + b"01002;12\n"
    with serve(layout) as mirror:
        first = requests.get(f"{mirror.url}/www.insee.fr/fr/fichier/x.csv", timeout=5)
        path.write_bytes(longer)
        changed = requests.get(
            f"{mirror.url}/www.insee.fr/fr/fichier/x.csv", timeout=5, headers={"If-None-Match": first.headers["ETag"]}
        )
    assert changed.status_code == 200 and changed.content == longer
    assert changed.headers["ETag"] == f'"{hashlib.sha256(longer).hexdigest()[:32]}"'
