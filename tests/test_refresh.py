"""`abs-diag refresh` end to end against the demo mirror, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from sources import catalogue
from sources.demo import MIRROR_ROOT
from sources.demo.files import entry_path
from sources.mirror import serve
from sources.refresh import refresh
from storage.store import Store, StoreBusy


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory, demo_mirror):
    """One full refresh of every source into a fresh store, then a second one (nothing changed upstream)."""
    store = Store(tmp_path_factory.mktemp("store"))
    first = refresh(store=store, mirror=demo_mirror.url)
    requests_of_first = len(demo_mirror.log)
    second = refresh(store=store, mirror=demo_mirror.url)
    second_log = demo_mirror.log[requests_of_first:]
    return store, first, second, second_log


def test_every_catalogue_source_is_staged(refreshed):
    store, first, _, _ = refreshed
    assert first.failed == [], [f.error for f in first.failed]
    staged = {(r.source, r.vintage) for r in first.results if r.status == "staged"}
    assert staged == {(e.source, e.vintage) for e in catalogue.entries()}
    for entry in catalogue.entries():
        assert store.staged_path(entry.source, entry.vintage).exists()


def test_staged_tables_are_in_the_target_geography(refreshed):
    store, *_ = refreshed
    caf = store.read_staged("caf_benefits", "2024")
    codes_2023 = set(caf.filter((pl.col("year") == 2023) & (pl.col("level") == "COM"))["code"].to_list())
    assert "44100" not in codes_2023 and "44088" in codes_2023  # Monnières merged into 44088 (COG 2025)
    census = store.read_staged("rp_population", "2021")
    assert "44100" not in set(census["code"].to_list())


def test_a_second_refresh_downloads_nothing(refreshed):
    _, first, second, log = refreshed
    assert all(r.status == "unchanged" for r in second.results), second.table()
    assert all(r.download_status == "unchanged" for r in second.results)
    n_files = sum(len(e.files) for e in catalogue.entries())
    assert len(log) == n_files
    assert {entry["status"] for entry in log} == {304}, log
    assert all(entry["if_none_match"] for entry in log)
    # the summary keeps the figures of the staging it did not redo
    assert [r.rows for r in second.results] == [r.rows for r in first.results]


def test_the_manifest_records_files_and_staging(refreshed):
    store, *_ = refreshed
    manifest = json.loads(store.manifest_path.read_text(encoding="utf-8"))["entries"]
    record = manifest["caf_coverage_epci/2024"]
    assert set(record["files"]) == {"main", "hist"}
    main = record["files"]["main"]
    assert main["url"].startswith("https://data.caf.fr/api/explore/v2.1/catalog/datasets/txcouv_pe_epci/")
    assert main["fetched_url"].endswith(
        "/data.caf.fr/api/explore/v2.1/catalog/datasets/txcouv_pe_epci/exports/csv?delimiter=%3B"
    )
    assert len(main["sha256"]) == 64 and main["size"] > 0 and main["etag"] and main["fetched_at"]
    assert record["staged"]["rows"] > 0 and record["staged"]["inputs"]["main"] == main["sha256"]


def _broken_mirror(tmp_path, source: str, vintage: str, mutate) -> str:
    """A copy of the demo mirror where one file is altered by `mutate(path)`."""
    root = tmp_path / "mirror"
    shutil.copytree(MIRROR_ROOT, root)
    mutate(entry_path(root, source, vintage))
    return root


def test_a_source_failing_validation_keeps_its_previous_staging_and_the_run_says_why(tmp_path, demo_mirror):
    store = Store(tmp_path / "store")
    assert refresh(["caf_benefits"], store=store, mirror=demo_mirror.url).failed == []
    before = store.staged_path("caf_benefits", "2024").read_bytes()

    def negative_count(path):
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        cells = lines[1].split(";")
        cells[-1] = "-5"
        lines[1] = ";".join(cells)
        path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode("utf-8"))

    root = _broken_mirror(tmp_path, "caf_benefits", "2024", negative_count)
    with serve(root) as mirror:
        report = refresh(["caf_benefits"], store=store, mirror=mirror.url)
    [failure] = report.failed
    assert failure.source == "caf_benefits"
    assert "s_ben_com_f" in failure.error or "csv" in failure.error
    assert "within [0" in failure.error
    assert store.staged_path("caf_benefits", "2024").read_bytes() == before  # the previous staging is intact
    record = store.manifest().entries["caf_benefits/2024"]
    assert "within [0" in record.last_failure.error


def test_two_refreshes_at_once_do_not_share_the_store(tmp_path):
    store = Store(tmp_path / "store")
    with store.lock():
        with pytest.raises(StoreBusy):
            with Store(tmp_path / "store").lock(wait=0.3):
                pass


# -- the pieces the refresh flow calls ---------------------------------------------------------------------------


def test_only_network_errors_are_worth_retrying():
    import requests

    from sources.errors import DownloadError, Failure, SourceValidationError
    from sources.refresh import is_network_error

    try:
        raise DownloadError("https://x/f.csv", "no answer after retries: refused") from requests.ConnectionError()
    except DownloadError as exc:
        no_answer = exc
    assert is_network_error(no_answer)
    assert is_network_error(DownloadError("u", "HTTP 503 Service Unavailable"))
    assert is_network_error(DownloadError("u", "HTTP 429 Too Many Requests"))
    assert is_network_error(DownloadError("u", "the body was cut off 3 times: ..."))
    assert not is_network_error(DownloadError("u", "HTTP 404 Not Found"))
    assert not is_network_error(DownloadError("u", "an HTML page was served instead of csv"))
    assert not is_network_error(SourceValidationError("births", "f.csv", [Failure("NAIS", "count >= 0", 1)]))


def test_the_retry_condition_reads_the_error_of_the_failed_state():
    from prefect.states import Failed

    from flows.refresh import retry_on_network_error
    from sources.errors import DownloadError

    assert retry_on_network_error(None, None, Failed(data=DownloadError("u", "HTTP 502 Bad Gateway")))
    assert not retry_on_network_error(None, None, Failed(data=DownloadError("u", "HTTP 404 Not Found")))


def test_the_change_since_the_previous_refresh_in_words():
    from sources.refresh import describe_change
    from storage.manifest import EntryRecord, StagedRecord

    before = EntryRecord.from_dict(
        {"staged": {"rows": 1200, "secret_cells": 12, "inputs": {"main": "aaa", "hist": "bbb"}, "geo_changes": [{}]}}
    )
    assert describe_change(EntryRecord(), StagedRecord(rows=10)) == "first staging"
    # 1 250 - 1 200 = +50 rows; 12 - 3 = 9 secret cells fewer
    assert describe_change(
        before, StagedRecord(rows=1250, secret_cells=3, inputs={"main": "ccc", "hist": "bbb"}, geo_changes=[{}])
    ) == ("new upstream file (main); rows 1 200 → 1 250 (+50); secret cells 12 → 3 (-9)")
    assert describe_change(
        before, StagedRecord(rows=1200, secret_cells=12, inputs={"main": "aaa", "hist": "bbb"}, geo_changes=[{}, {}])
    ) == ("staged again from the same file(s); geography changes 1 → 2")
    assert describe_change(
        before, StagedRecord(rows=1200, secret_cells=12, inputs={"main": "aaa", "hist": "ddd"}, geo_changes=[{}])
    ) == ("new upstream file (hist); same rows and secret cells")


def test_missing_sources_lists_what_was_never_staged(tmp_path, demo_mirror):
    from sources.refresh import missing_sources

    store = Store(tmp_path / "store")
    assert missing_sources(store) == catalogue.sources()
    refresh(["births"], store=store, mirror=demo_mirror.url)
    assert missing_sources(store) == [
        s for s in catalogue.sources() if s not in ("births", "cog_communes", "cog_events", "epci")
    ]


def test_source_errors_survive_pickling():
    """Prefect pickles a failed run's exception: the errors must come back whole."""
    import pickle

    from sources.errors import DownloadError, Failure, ParseError, SourceValidationError

    errors = [
        DownloadError("https://x/y.csv", "HTTP 503 Service Unavailable", "<html>"),
        SourceValidationError(
            "filosofi", "cc.csv", [Failure("MED21", "amount within [0, +inf]", 1, ["COM 01001"])], "/r"
        ),
        ParseError("epci", "EPCI.xlsx", "no header row"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)


def test_a_new_pipeline_code_restages_unchanged_files_without_downloading(tmp_path, demo_mirror, monkeypatch):
    import sources.refresh as refresh_module

    store = Store(tmp_path / "store")
    assert refresh(["births"], store=store, mirror=demo_mirror.url).failed == []
    monkeypatch.setattr(refresh_module, "code_version", lambda: "a-new-release")
    second = refresh(["births"], store=store, mirror=demo_mirror.url)
    births = next(r for r in second.results if r.source == "births")
    assert births.download_status == "unchanged" and births.status == "staged"
    assert "new pipeline code" in births.change
