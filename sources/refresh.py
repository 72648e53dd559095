"""Refresh the store: download every selected source, validate it, stage it in the target geography.

The COG entries come first (every other source is validated against them and brought into them). A source whose
files are all unchanged upstream (HTTP 304) and already staged from the same bytes is not staged again. A source
that fails keeps its previous staged table; the others go on, and the run reports every failure at the end.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import requests

from sources import catalogue
from sources.catalogue import Entry
from sources.download import fetch, make_session
from sources.errors import SourceError
from sources.geography import Geography
from sources.staging import Staged
from sources.store import Store

log = logging.getLogger(__name__)

# parser name (catalogue `parser`) -> "module:function"; each function is stage(entry, files, geo) -> Staged
PARSERS = {
    "cog_communes": "sources.cog:stage_communes",
    "cog_events": "sources.cog:stage_events",
    "epci": "sources.cog:stage_epci",
    "cog_departements": "sources.cog:stage_departements",
    "census": "sources.census:stage",
    "filosofi": "sources.filosofi:stage",
    "etat_civil": "sources.etat_civil:stage",
    "caf_benefits": "sources.caf_benefits:stage",
    "caf_childcare": "sources.caf_childcare:stage",
}
GEOGRAPHY_SOURCES = ("cog_communes", "cog_events", "epci")


def parser(name: str):
    module, function = PARSERS[name].split(":")
    return getattr(importlib.import_module(module), function)


@dataclass
class SourceResult:
    source: str
    vintage: str
    status: str  # "staged", "unchanged" or "failed"
    downloads: list[str] = field(default_factory=list)  # "downloaded" / "unchanged" per file
    rows: int | None = None
    secret_cells: int | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def download_status(self) -> str:
        if not self.downloads:
            return "-"
        return "unchanged" if all(d == "unchanged" for d in self.downloads) else "downloaded"


@dataclass
class RefreshReport:
    results: list[SourceResult]

    @property
    def failed(self) -> list[SourceResult]:
        return [r for r in self.results if r.status == "failed"]

    def table(self) -> list[dict]:
        return [
            {"source": r.source, "vintage": r.vintage, "rows": r.rows, "secret_cells": r.secret_cells,
             "download": r.download_status, "status": r.status}
            for r in self.results
        ]


def load_geography(store: Store, target: int | None = None) -> Geography:
    target = target or catalogue.default_cog()
    vintage = str(target)
    return Geography(
        communes=store.read_staged("cog_communes", vintage),
        events=store.read_staged("cog_events", vintage),
        epci=store.read_staged("epci", vintage),
        target=target,
    )


def refresh(
    names: list[str] | None = None,
    *,
    store: Store | None = None,
    mirror: str | None = None,
    force: bool = False,
    session: requests.Session | None = None,
    progress: bool | None = None,
) -> RefreshReport:
    """Refresh the selected sources (all when None); the target COG entries are always included."""
    store = store or Store()
    session = session or make_session()
    target = str(catalogue.default_cog())
    chosen = catalogue.select(names)
    geo_entries = [catalogue.get(s, target) for s in GEOGRAPHY_SOURCES]
    others = [e for e in chosen if e.source not in GEOGRAPHY_SOURCES]
    results: list[SourceResult] = []
    with store.lock(wait=5):
        for entry in geo_entries:
            if any(r.status == "failed" for r in results):
                results.append(SourceResult(entry.source, entry.vintage, "failed",
                                            error="not attempted: the COG communes or events could not be staged"))
                continue
            partial = None
            if entry.source == "epci":  # the composition is checked against the communes just staged
                partial = Geography(store.read_staged("cog_communes", target),
                                    store.read_staged("cog_events", target), pl.DataFrame(), int(target))
            results.append(_refresh_one(entry, store, session, mirror, force, partial, progress))
        if any(r.status == "failed" for r in results):
            for entry in others:
                results.append(SourceResult(entry.source, entry.vintage, "failed",
                                            error="not attempted: the target geography (COG) could not be staged"))
            return RefreshReport(results)
        geo = load_geography(store, int(target))
        for entry in others:
            results.append(_refresh_one(entry, store, session, mirror, force, geo, progress))
    return RefreshReport(results)


def _refresh_one(entry: Entry, store: Store, session, mirror, force, geo, progress) -> SourceResult:
    previous = store.previous(entry.key)
    result = SourceResult(entry.source, entry.vintage, "failed")
    try:
        downloads = {}
        for spec in entry.files:
            dest = store.raw_path(entry, spec)
            prev_file = previous.get("files", {}).get(spec.role)
            downloads[spec.role] = fetch(spec, dest, prev_file, session=session, mirror=mirror, progress=progress)
        result.downloads = [d.status for d in downloads.values()]
        inputs = {role: d.sha256 for role, d in downloads.items()}
        staged_before = previous.get("staged", {})
        if (not force and all(d.status == "unchanged" for d in downloads.values())
                and staged_before.get("inputs") == inputs
                and store.staged_path(entry.source, entry.vintage).exists()):
            result.status, result.rows = "unchanged", staged_before.get("rows")
            result.secret_cells, result.notes = staged_before.get("secret_cells"), staged_before.get("notes", [])
            _record(store, entry, downloads, staged_before)
            return result
        staged: Staged = parser(entry.parser)(entry, {r: Path(d.path) for r, d in downloads.items()}, geo)
        store.write_staged(entry.source, entry.vintage, staged.frame)
        summary = staged.summary() | {
            "inputs": inputs, "staged_at": _now(), "path": str(store.staged_path(entry.source, entry.vintage)),
            "cog": entry.cog, "cog_offset": entry.cog_offset, "title": entry.title, "publisher": entry.publisher,
        }
        _record(store, entry, downloads, summary)
        result.status, result.rows, result.secret_cells = "staged", summary["rows"], summary["secret_cells"]
        result.notes = staged.notes
    except SourceError as exc:
        log.error("%s", exc)
        result.error = str(exc)
        record = store.previous(entry.key)
        record["last_failure"] = {"at": _now(), "error": str(exc)}
        store.record(entry.key, record)
    return result


def _record(store: Store, entry: Entry, downloads: dict, staged: dict) -> None:
    store.record(entry.key, {
        "source": entry.source, "vintage": entry.vintage,
        "files": {role: d.as_dict() for role, d in downloads.items()},
        "staged": staged,
    })


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
