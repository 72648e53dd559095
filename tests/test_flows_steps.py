"""The plain functions the flows wire, without Prefect: the staging order, the publish decision, the territory."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sources import catalogue
from sources.publishing import publish_decision, published_state, staged_state
from sources.refresh import GEOGRAPHY_FAILED, SourceResult, ensure_staged, plan, stage_in_order
from storage.files import write_json_atomic
from storage.publication import Publication
from storage.store import Store
from transforms.territories import Territory


def test_the_cog_goes_first_and_a_cog_failure_leaves_the_rest_not_attempted():
    geo, others = plan(["births"])
    staged = []

    def stage_one(entry):
        staged.append(entry.source)
        return SourceResult(entry.source, entry.vintage, "failed" if entry.source == "cog_events" else "staged")

    results = stage_in_order(geo, others, stage_one, lambda entries: pytest.fail("no COG: nothing else runs"))
    assert staged == ["cog_communes", "cog_events"]
    assert [(r.source, r.status, r.error) for r in results[2:]] == [
        ("epci", "failed", GEOGRAPHY_FAILED),
        ("births", "failed", GEOGRAPHY_FAILED),
    ]

    results = stage_in_order(
        geo,
        others,
        lambda e: SourceResult(e.source, e.vintage, "staged"),
        lambda entries: [SourceResult(e.source, e.vintage, "unchanged") for e in entries],
    )
    assert [r.source for r in results] == ["cog_communes", "cog_events", "epci", "births"]


def test_the_publish_decision(demo_store, tmp_path):
    pub = Publication(tmp_path, "indicateurs")
    assert publish_decision(demo_store, pub, publish=False).reason == "Not published (publish=false)."
    assert publish_decision(Store(tmp_path / "empty"), pub).reason.startswith("Not published: ")
    assert publish_decision(demo_store, pub).publish  # nothing published yet
    with pub.publishing() as draft:
        write_json_atomic(draft.path / "manifest.json", demo_store.manifest().to_dict())
    assert published_state(pub.latest) == staged_state(demo_store.manifest().to_dict())
    decision = publish_decision(demo_store, pub)
    assert not decision.publish and decision.reason.startswith("Nothing new: ")


def test_a_publication_failure_names_the_draft_and_sets_it_aside(tmp_path):
    pub, seen = Publication(tmp_path, "x"), []
    with pytest.raises(OSError, match="publication x: draft failed on"):
        with pub.publishing(on_failure=lambda error, folder: seen.append(folder.name)) as draft:
            raise PermissionError(13, "denied", str(draft.path / "a.csv"))
    assert pub.latest is None and seen[0].startswith("_failed-")
    assert "denied" in (pub.dir / seen[0] / "failure.txt").read_text(encoding="utf-8")


def test_refresh_never_refuses_a_store_missing_sources(tmp_path):
    with pytest.raises(ValueError, match=f"refresh=never, but {len(catalogue.sources())} source"):
        ensure_staged(Store(tmp_path), "never")


@pytest.mark.parametrize(
    "values, message",
    [
        ({"epci": "200067347"}, "check digit is wrong"),
        ({"departement": "4"}, "a département code is 01 to 95"),
        ({"communes": "44043,4406", "name": "G"}, "not '4406'"),
        ({"epci": "200067346", "departement": "44"}, "give exactly one of"),
    ],
)
def test_one_territory_model_checks_every_code_once(values, message):
    with pytest.raises(ValidationError, match=message):
        Territory(**values)
    assert Territory(communes=" 2a004, 44043", name="G").communes == ("2A004", "44043")
    assert Territory.of_unit("dep", "44").stem == "departement-44"


def test_the_territory_checked_twice_reads_the_geography_once_unless_it_was_staged_again(
    demo_store, tmp_path, monkeypatch
):
    import shutil

    import polars as pl

    from flows import steps
    from sources import national

    store = Store(shutil.copytree(demo_store.root, tmp_path / "store"))
    asked = []
    real = national.unknown_codes
    monkeypatch.setattr(national, "unknown_codes", lambda *a, **k: asked.append(k) or real(*a, **k))
    codes = {"epcis": ["200029940", "200000172"], "communes": []}  # 200000172: a valid SIREN, not in the demo

    missing = ["EPCI not in the target geography: 200000172"]
    assert steps.unknown_codes_once(store, **codes) == missing
    assert steps.unknown_codes_once(Store(store.root), **codes) == missing  # the run's own store object
    assert len(asked) == 1
    assert steps.unknown_codes_once(store, epcis=["200000172"], communes=[]) == missing  # other codes: read
    assert len(asked) == 2

    epci = store.staged_path("epci", str(catalogue.default_cog()))  # staged again: 200000172 now groups a commune
    table = pl.read_parquet(epci)
    table.with_columns(
        epci=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("200000172")).otherwise("epci")
    ).write_parquet(epci)
    assert steps.unknown_codes_once(store, **codes) == []
    assert len(asked) == 3
