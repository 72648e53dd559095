"""A store refreshed from the demo mirror says itself that its figures are synthetic: every report, CSV, XLSX and
Parquet built from it is marked, with or without `--demo`; a store of other files is not."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime

import openpyxl
import polars as pl
import pytest
import requests

from reports.site import build_site, render_index
from sources.demo import MIRROR_ROOT
from sources.demo.synthetic import is_synthetic, served_hashes, store_is_synthetic, synthetic_files
from sources.mirror import serve
from storage.manifest import FileRecord, Manifest
from storage.store import Store
from transforms.export import DEMO_COLUMN_FR, DEMO_SHEET, DEMO_VALUE
from transforms.pipeline import Selection, export_indicators, save_france_table

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EPCI = "200071678"  # the demo's CA du Choletais
BOM = b"\xef\xbb\xbf"


def file_records(manifest: Manifest) -> list[tuple[str, str, FileRecord]]:
    return [(key, role, record) for key, entry in manifest.entries.items() for role, record in entry.files.items()]


def copy_store(store: Store, tmp_path, change) -> Store:
    """A copy of `store` whose manifest's file records went through `change(key, role, record)`."""
    copy = Store(tmp_path / "data")
    shutil.copytree(store.root, copy.root, ignore=shutil.ignore_patterns(".lock"))
    manifest = copy.manifest()
    for key, role, record in file_records(manifest):
        change(key, role, record)
    copy.manifest_path.write_text(json.dumps(manifest.to_dict()), encoding="utf-8")
    return copy


def other_bytes(key, role, record) -> None:
    """As if the file had been downloaded from elsewhere: another sha256, the rest alike."""
    record.sha256 = hashlib.sha256(b"not the demo: " + record.sha256.encode()).hexdigest()


@pytest.fixture(scope="module")
def real_looking(demo_store, tmp_path_factory) -> Store:
    return copy_store(demo_store, tmp_path_factory.mktemp("real-looking"), other_bytes)


def exports_say_synthetic(paths: dict) -> bool:
    """Every export format carries the mark, or none does (a half-marked set is a failure)."""
    parquet = pl.read_parquet(paths["parquet"])
    csv = pl.read_csv(paths["csv"].read_bytes()[len(BOM) :], separator=";", infer_schema=False)
    marks = {
        "parquet": "demo" in parquet.columns and parquet["demo"].to_list() == [True] * parquet.height,
        "csv": DEMO_COLUMN_FR in csv.columns and csv[DEMO_COLUMN_FR].unique().to_list() == [DEMO_VALUE],
    }
    if "xlsx" in paths:  # a territory's exports (France has Parquet and CSV only)
        book = openpyxl.load_workbook(paths["xlsx"], read_only=True)
        marks["xlsx"] = book.sheetnames[0] == DEMO_SHEET
        book.close()
    assert len(set(marks.values())) == 1, marks
    return marks["csv"]


def long_tables(exports: list) -> dict:
    """{format: path} of a report's long indicator tables (`indicateurs-<territory>.{parquet,csv,xlsx}`)."""
    return {p.suffix[1:]: p for p in exports if p.name.startswith("indicateurs-") and not p.stem.endswith("-large")}


def documents_say_synthetic(exports: list) -> bool:
    """The editable document's title and the wide workbook's first line carry the mark, or neither does."""
    from docx import Document

    docx = next(p for p in exports if p.suffix == ".docx")
    wide = next(p for p in exports if p.stem.endswith("-large"))
    book = openpyxl.load_workbook(wide, read_only=True)
    marks = {
        "docx": "démonstration" in Document(str(docx)).core_properties.title,
        "wide": str(book.worksheets[0]["A1"].value).startswith("DÉMONSTRATION"),
    }
    book.close()
    assert len(set(marks.values())) == 1, marks
    return marks["docx"]


def test_every_file_of_a_store_refreshed_from_the_demo_mirror_is_a_demo_file(demo_store):
    manifest = demo_store.manifest()
    records = file_records(manifest)
    assert len(records) > 20  # every source of the catalogue, the zips (folders of the mirror) among them
    assert synthetic_files(manifest) == sorted(f"{key} {role}" for key, role, _ in records)
    assert is_synthetic(manifest) and store_is_synthetic(demo_store)


def test_a_mirror_file_and_a_mirror_folder_are_known_by_their_bytes():
    # the COG communes file is served as it is; the 2022 census zip is a folder served as a zip built on the fly
    cog = MIRROR_ROOT / "www.insee.fr/fr/statistiques/fichier/8377162/v_commune_2025.csv"
    assert hashlib.sha256(cog.read_bytes()).hexdigest() in served_hashes()
    assert hashlib.sha256(cog.read_bytes() + b"\n").hexdigest() not in served_hashes()
    folder = "www.insee.fr/fr/statistiques/fichier/8581696/base-cc-evol-struct-pop-2022_csv.zip"
    assert (MIRROR_ROOT / folder).is_dir()
    with serve(MIRROR_ROOT) as mirror:
        body = requests.get(f"{mirror.url}/{folder}", timeout=10).content
    assert body[:2] == b"PK" and hashlib.sha256(body).hexdigest() in served_hashes()


def test_a_store_of_other_files_is_not_synthetic(real_looking):
    assert synthetic_files(real_looking.manifest()) == []
    assert not store_is_synthetic(real_looking)
    assert not is_synthetic(Manifest()) and not is_synthetic(Manifest.from_dict({"entries": {"x/1": {"files": {}}}}))


def test_one_demo_file_among_others_makes_the_store_synthetic(demo_store, tmp_path):
    keep = "cog_communes/2025"

    def all_but_one(key, role, record):
        if key != keep:
            other_bytes(key, role, record)

    mixed = copy_store(demo_store, tmp_path, all_but_one)
    assert synthetic_files(mixed.manifest()) == [f"{keep} main"]


def test_the_mark_ignores_where_the_files_came_from(demo_store, tmp_path):
    """Served by any server under any address: the bytes decide, not the URL."""

    def as_upstream(key, role, record):
        record.fetched_url = record.url

    assert store_is_synthetic(copy_store(demo_store, tmp_path, as_upstream))


def test_exports_of_the_demo_store_are_marked_without_demo(demo_store, real_looking, tmp_path):
    _, demo_paths = export_indicators(demo_store, tmp_path / "demo", Selection(epci=EPCI))
    assert exports_say_synthetic(demo_paths)
    _, real_paths = export_indicators(real_looking, tmp_path / "real", Selection(epci=EPCI))
    assert not exports_say_synthetic(real_paths)
    # `--demo` still marks whatever the store
    _, forced = export_indicators(real_looking, tmp_path / "forced", Selection(epci=EPCI), demo=True)
    assert exports_say_synthetic(forced)


def test_the_national_tables_of_the_demo_store_are_marked(demo_store, real_looking, tmp_path):
    save_france_table(demo_store, tmp_path / "demo", tmp_path / "demo.parquet")
    assert exports_say_synthetic({fmt: tmp_path / "demo" / f"indicateurs-france.{fmt}" for fmt in ("parquet", "csv")})
    assert not (tmp_path / "demo" / "indicateurs-france.xlsx").exists()  # XLSX per territory only
    save_france_table(real_looking, tmp_path / "real", tmp_path / "real.parquet")
    assert not exports_say_synthetic(
        {fmt: tmp_path / "real" / f"indicateurs-france.{fmt}" for fmt in ("parquet", "csv")}
    )


def test_reports_of_the_demo_store_say_synthetic_without_demo(demo_store, real_looking, tmp_path):
    demo = build_site(demo_store, [Selection(epci=EPCI)], tmp_path / "demo", generated_at=WHEN)
    page = demo.reports[0].read_text(encoding="utf-8")
    assert 'id="bandeau-demo"' in page and "Données synthétiques" in page and "(démonstration" in page
    assert 'id="bandeau-demo"' in demo.index.read_text(encoding="utf-8")
    assert exports_say_synthetic(long_tables(demo.exports)) and documents_say_synthetic(demo.exports)
    real = build_site(real_looking, [Selection(epci=EPCI)], tmp_path / "real", generated_at=WHEN)
    page = real.reports[0].read_text(encoding="utf-8")
    assert 'id="bandeau-demo"' not in page and "synthétiques" not in page
    assert 'id="bandeau-demo"' not in real.index.read_text(encoding="utf-8")
    assert not exports_say_synthetic(long_tables(real.exports)) and not documents_say_synthetic(real.exports)


def test_an_index_listing_a_synthetic_report_says_so(demo_store, real_looking, tmp_path):
    """A national run writes its index apart from the reports: a demo report in the folder marks it."""
    build_site(demo_store, [Selection(epci=EPCI)], tmp_path, generated_at=WHEN)
    assert 'id="bandeau-demo"' in render_index(tmp_path, False, WHEN)
    other = tmp_path / "other"
    build_site(real_looking, [Selection(epci=EPCI)], other, generated_at=WHEN)
    assert 'id="bandeau-demo"' not in render_index(other, False, WHEN)


def test_the_answer_is_recorded_in_the_store_per_state(demo_store, tmp_path, monkeypatch):
    """Zipping the demo folders takes most of a second: each store state is looked at once, its answer kept."""
    from sources.demo import synthetic

    demo = copy_store(demo_store, tmp_path / "demo", lambda *_: None)
    other = copy_store(demo_store, tmp_path / "other", other_bytes)
    assert store_is_synthetic(demo) and not store_is_synthetic(other)
    assert len(list((demo.root / "cache").glob("synthetic-*.json"))) == 1

    def not_again(manifest):
        raise AssertionError("the recorded answer should have been read")

    monkeypatch.setattr(synthetic, "is_synthetic", not_again)
    assert store_is_synthetic(demo) and not store_is_synthetic(other)  # read back, not looked at again

    # another state (one file of the demo replaced by other bytes) is another question: looked at afresh
    monkeypatch.undo()
    manifest = other.manifest()
    key, role, record = file_records(manifest)[0]
    record.sha256 = hashlib.sha256(
        (MIRROR_ROOT / "www.insee.fr/fr/statistiques/fichier/8377162/v_commune_2025.csv").read_bytes()
    ).hexdigest()
    other.manifest_path.write_text(json.dumps(manifest.to_dict()), encoding="utf-8")
    assert store_is_synthetic(other)


def test_a_store_that_cannot_be_written_to_is_still_answered(demo_store, tmp_path):
    demo = copy_store(demo_store, tmp_path, lambda *_: None)
    shutil.rmtree(demo.root / "cache", ignore_errors=True)
    (demo.root / "cache").write_text("a file where the cache folder would be")  # no answer can be written
    assert store_is_synthetic(demo) and store_is_synthetic(demo)
    assert (demo.root / "cache").read_text() == "a file where the cache folder would be"
