"""The typed manifest reads and writes the JSON of `data/manifest.json` as it is, earlier releases' included."""

from __future__ import annotations

import json

from storage.manifest import EntryRecord, FileRecord, LastFailure, Manifest, StagedRecord
from storage.store import Store

FILE = {
    "etag": '"abc"',
    "fetched_at": "2026-12-04T02:05:35+00:00",
    "fetched_url": "http://127.0.0.1/x.csv",
    "final_url": None,
    "last_modified": None,
    "path": "/data/raw/caf_benefits/2024/x.csv",
    "sha256": "195c",
    "size": 38939,
    "status": "downloaded",
    "url": "https://data.caf.fr/x.csv",
}
STAGED = {
    "basis": {"code": "1d62", "geography": "e4f5"},
    "cog": 2025,
    "cog_offset": 1,
    "file": "staged/caf_benefits/2024-1a35.parquet",
    "geo_changes": [{"cog": 2021, "kind": "merged", "new": ["44088"], "old": "44100"}],
    "inputs": {"main": "195c"},
    "notes": ["a note"],
    "null_cells": {"secret": 3},
    "path": "/data/staged/x",
    "publisher": "CAF",
    "rows": 10,
    "secret_cells": 3,
    "source_cog": None,
    "staged_at": "2026-12-04",
    "title": "Cnaf : foyers allocataires",
}
TODAY = {
    "entries": {
        "caf_benefits/2024": {"files": {"main": FILE}, "source": "caf_benefits", "staged": STAGED, "vintage": "2024"}
    }
}


def test_a_manifest_of_this_release_is_written_back_as_it_was_read():
    manifest = Manifest.from_dict(TODAY)
    record = manifest.get("caf_benefits/2024")
    assert record.files["main"].size == 38939 and record.staged.rows == 10 and record.staged.cog_offset == 1
    assert manifest.to_dict() == TODAY


def test_keys_of_earlier_or_later_releases_are_kept_and_absent_keys_stay_absent():
    legacy = {
        "entries": {
            "filosofi/2021": {
                "source": "filosofi",
                "vintage": "2021",
                "staged": {"cog": 2024, "rows": 5, "a_later_key": [1]},
            },
            "births/2024": {"last_failure": {"at": "2026-11-24", "error": "boom"}},
        },
        "a_top_level_key": 1,
    }
    manifest = Manifest.from_dict(legacy)
    assert manifest.to_dict() == legacy
    staged = manifest.get("filosofi/2021").staged
    assert staged.file_geography == 2024 and staged.file is None  # before `source_cog`, before named tables
    assert manifest.get("births/2024").staged is None and manifest.get("births/2024").last_failure.error == "boom"
    assert list(manifest.staged()) == ["filosofi/2021"]


def test_records_built_by_the_code_write_the_keys_a_refresh_writes():
    staged = StagedRecord(rows=1, secret_cells=0, cog=2025, source_cog=None, cog_offset=1)
    written = staged.to_dict()
    assert written["cog_offset"] == 1 and written["source_cog"] is None  # written, even when None
    assert "file" not in written and "accepted_drop" not in written  # set by the switch, by --accept-drop
    entry = EntryRecord(source="x", vintage="1", files={"main": FileRecord.from_dict(FILE)}, staged=staged)
    assert set(entry.to_dict()) == {"source", "vintage", "files", "staged"}  # no `last_failure`: it succeeded
    failed = Manifest().get("x/1")  # an entry that never staged, then failed: only its failure is written
    failed.last_failure = LastFailure(at="now", error="boom")
    assert failed.to_dict() == {"last_failure": {"at": "now", "error": "boom"}}


def test_a_store_reads_and_writes_the_typed_manifest(tmp_path):
    store = Store(tmp_path)
    store.manifest_path.write_text(json.dumps(TODAY), encoding="utf-8")
    assert store.previous("caf_benefits/2024").staged.rows == 10
    assert store.latest_vintage("caf_benefits") == "2024"
    record = store.previous("caf_benefits/2024")
    record.staged.rows = 11
    assert store.previous("caf_benefits/2024").staged.rows == 10  # a copy: nothing changes until recorded
    store.record("caf_benefits/2024", record)
    on_disk = json.loads(store.manifest_path.read_text(encoding="utf-8"))
    assert on_disk["entries"]["caf_benefits/2024"]["staged"] == STAGED | {"rows": 11}


def test_a_parsed_record_shares_nothing_with_the_json_it_was_read_from():
    """Records are parsed once and copied (`Store.manifest`): changing the JSON afterwards changes no record."""
    data = json.loads(json.dumps(TODAY))
    data["entries"]["caf_benefits/2024"]["later_key"] = {"kept": [1]}
    manifest = Manifest.from_dict(data)
    entry = data["entries"]["caf_benefits/2024"]
    entry["staged"]["geo_changes"][0]["new"].append("44999")
    entry["staged"]["null_cells"]["secret"] = 99
    entry["files"]["main"]["sha256"] = "changed"
    entry["later_key"]["kept"].append(2)
    record = manifest.entries["caf_benefits/2024"]
    assert record.staged.geo_changes == [{"cog": 2021, "kind": "merged", "new": ["44088"], "old": "44100"}]
    assert record.staged.null_cells == {"secret": 3} and record.files["main"].sha256 == "195c"
    assert record.extra == {"later_key": {"kept": [1]}}
    assert manifest.to_dict()["entries"]["caf_benefits/2024"]["later_key"] == {"kept": [1]}


def test_a_written_record_shares_nothing_with_it_whatever_the_types_the_code_set():
    """JSON's dicts and lists are copied by the manifest itself, anything else (a tuple holding a list) whole."""
    staged = StagedRecord(notes=["a note"], null_cells={"secret": 3}, extra={"later": ({"kept": [1]},)})
    written = staged.to_dict()
    written["notes"].append("another")
    written["null_cells"]["secret"] = 99
    written["later"][0]["kept"].append(2)
    assert staged.notes == ["a note"] and staged.null_cells == {"secret": 3}
    assert staged.extra == {"later": ({"kept": [1]},)}
