"""Shared fixtures: the demo mirror (the fixture world), its geography, and the real INSEE files when present."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import polars as pl
import pytest

from sources import catalogue
from sources.demo import MIRROR_ROOT
from sources.demo.files import entry_path
from sources.geography import Geography
from sources.mirror import serve, zip_folder

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "insee"


def real_file(name: str) -> Path:
    """A real INSEE file of ../shared/data/insee, or a skip that says why."""
    path = REAL_DATA / name
    if not path.exists():
        pytest.skip(f"real INSEE file {name} not available: ../shared/data/insee is absent on this machine")
    return path


def materialise(source: str, vintage: str, role: str, tmp: Path) -> Path:
    """The demo file of a catalogue entry as a downloaded file would be (a folder becomes its zip)."""
    path = entry_path(MIRROR_ROOT, source, vintage, role)
    if path.is_dir():
        target = tmp / f"{source}-{vintage}-{role}-{path.name}"
        target.write_bytes(zip_folder(path))
        return target
    return path


@pytest.fixture
def demo_files(tmp_path):
    """demo_files(source, vintage) -> {role: path} for every file of that entry."""

    def files(source: str, vintage: str) -> dict[str, Path]:
        entry = catalogue.get(source, vintage)
        return {spec.role: materialise(source, vintage, spec.role, tmp_path) for spec in entry.files}

    return files


@pytest.fixture(scope="session")
def geo(tmp_path_factory) -> Geography:
    """The target geography (COG 2025) of the demo world, staged from its own files."""
    from sources.cog import stage_communes, stage_epci, stage_events

    tmp = tmp_path_factory.mktemp("geo")
    files = lambda s: {spec.role: materialise(s, "2025", spec.role, tmp) for spec in catalogue.get(s, "2025").files}  # noqa: E731
    communes = stage_communes(catalogue.get("cog_communes", "2025"), files("cog_communes")).frame
    events = stage_events(catalogue.get("cog_events", "2025"), files("cog_events")).frame
    partial = Geography(communes, events, pl.DataFrame(), 2025)
    epci = stage_epci(catalogue.get("epci", "2025"), files("epci"), partial).frame
    return Geography(communes, events, epci, 2025)


@pytest.fixture(scope="session")
def demo_mirror():
    """The demo mirror served on a loopback port (real HTTP); `.url` for ABS_MIRROR, `.log` of requests."""
    with serve(MIRROR_ROOT) as mirror:
        yield mirror


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One temporary Prefect server for every flow test of the session (requested by the flow test modules only,
    so the other tests never pay its ~11 s start). Heartbeats are off: each would add up to 1 s per flow run."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with prefect_test_harness(server_startup_timeout=60):
            yield


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory, demo_mirror):
    """A store refreshed from the demo mirror with the plain `refresh()` (no Prefect). Read it, never change it:
    a test that breaks a store copies this one."""
    from sources.refresh import refresh
    from storage.store import Store

    store = Store(tmp_path_factory.mktemp("demo-store"))
    report = refresh(store=store, mirror=demo_mirror.url)
    assert report.failed == [], [f.error for f in report.failed]
    return store


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory):
    """A Prefect home for the `abs-diag` commands the tests start in subprocesses (tests/cli_support.py)."""
    from cli_support import migrated_prefect_home

    return migrated_prefect_home(tmp_path_factory.mktemp("prefect-home"))
