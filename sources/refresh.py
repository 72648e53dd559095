"""Refresh the store: download every selected source, validate it, stage it in the target geography.

The COG entries come first (every other source is validated against them and brought into them). A source whose
files are all unchanged upstream (HTTP 304) and already staged from the same bytes is not staged again. A source
that fails keeps its previous staged table; the others go on, and the run reports every failure at the end.

`refresh()` runs everything in one process. The Prefect flow (`flows/refresh.py`) calls the same pieces one
entry at a time: `plan()`, then `stage_in_order()` (the order both share) with `refresh_one()` per entry (it
raises, so that a task can retry network errors), `failed_result()` / `not_attempted()` for what did not stage,
`commit()` to switch the store, and `summary_markdown()` / `failure_rows()` for its artifacts. `ensure_staged()`
is the refresh a report runs first when its store misses a source.

Both write into the run's pending area (`storage.store.Run`) and switch the store to the new state in one step at
the end: a reader never sees the census of this run beside the CAF file of the previous one. A failed source keeps
its previous state (its `last_failure` is recorded); bytes it refused are kept apart as `raw/.../<name>.rejected`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from sources import catalogue, coverage, registry
from sources.catalogue import Entry
from sources.errors import DownloadError, ParseError, SourceError, SourceValidationError, StoreWriteError
from sources.geography import Geography
from sources.memory import entry_estimate, staging_budget
from sources.staging import Staged
from storage.manifest import EntryRecord, FileRecord, LastFailure, StagedRecord
from storage.store import Run, Store, StoreBusy

if TYPE_CHECKING:
    import requests

    from sources.download import Download

# The downloader (requests: about 50 ms of imports) is imported by the functions that download: a report loads the
# target geography from here (`load_geography`) and downloads nothing.

log = logging.getLogger(__name__)

GEOGRAPHY_SOURCES = ("cog_communes", "cog_events", "epci")
GEOGRAPHY_FAILED = "not attempted: the target geography (COG) could not be staged"

# A plain Store.record rewrites the whole manifest: entries refreshed in parallel threads take turns.
_MANIFEST_LOCK = threading.Lock()


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
    change: str = ""  # what changed since the previous refresh, in a few words
    error_kind: str | None = None  # "validation", "parse", "download", "not attempted" (failed results only)
    failures: list[dict] = field(default_factory=list)  # broken rules of a validation error (Failure.as_dict)
    file: str | None = None  # the file that broke the rules

    @property
    def key(self) -> str:
        return f"{self.source}/{self.vintage}"

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
            {
                "source": r.source,
                "vintage": r.vintage,
                "rows": r.rows,
                "secret_cells": r.secret_cells,
                "download": r.download_status,
                "status": r.status,
            }
            for r in self.results
        ]


_geographies: dict[tuple, Geography] = {}  # the last geographies loaded, by their staged files: see load_geography
_geographies_lock = threading.Lock()


def load_geography(store: Store, target: int | None = None) -> Geography:
    """The target geography staged in `store`. The entries of a refresh share one (its derived COGs and passages
    are computed once, not per entry): it is kept by the path, size and time of its three staged tables."""
    target = target or catalogue.default_cog()
    vintage = str(target)
    paths = [store.staged_path(source, vintage) for source in GEOGRAPHY_SOURCES]
    if not all(p.exists() for p in paths):  # read_staged says which table is missing
        communes, events, epci = [store.read_staged(s, vintage) for s in GEOGRAPHY_SOURCES]
        return Geography(communes, events, epci, target)
    key = (target, *[(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths])
    with _geographies_lock:
        if key not in _geographies:
            if len(_geographies) >= 4:
                _geographies.pop(next(iter(_geographies)))
            communes, events, epci = [pl.read_parquet(p) for p in paths]
            _geographies[key] = Geography(communes, events, epci, target)
        return _geographies[key]


def plan(names: list[str] | None = None, vintages: dict[str, str] | None = None) -> tuple[list[Entry], list[Entry]]:
    """(the target COG entries, in the order they must be staged; every other selected entry)."""
    target = str(catalogue.default_cog())
    chosen = catalogue.select(names, vintages)
    geo_entries = [catalogue.get(s, target) for s in GEOGRAPHY_SOURCES]
    return geo_entries, [e for e in chosen if e.source not in GEOGRAPHY_SOURCES]


def geography_for(entry: Entry, store: Store) -> Geography | None:
    """What an entry is checked against: nothing for the COG lists themselves, the communes just staged for the
    EPCI composition, the whole target geography for every other source."""
    target = catalogue.default_cog()
    if entry.source in ("cog_communes", "cog_events"):
        return None
    if entry.source == "epci":
        return Geography(
            store.read_staged("cog_communes", str(target)),
            store.read_staged("cog_events", str(target)),
            pl.DataFrame(),
            target,
        )
    return load_geography(store, target)


def refresh(
    names: list[str] | None = None,
    *,
    store: Store | None = None,
    mirror: str | None = None,
    force: bool = False,
    session: requests.Session | None = None,
    progress: bool | None = None,
    vintages: dict[str, str] | None = None,
    accept_drop: list[str] | None = None,
    lock_timeout: float = 5.0,
    threads: int = 1,
    budget: float | None = None,
) -> RefreshReport:
    """Refresh the selected sources (all when None); the target COG entries are always included.

    accept_drop: sources whose file may cover less than declared, or have fewer rows than the previous staging
    (`sources.coverage`); the accepted drop is recorded in the manifest. lock_timeout: seconds to wait for
    another refresh to finish. threads: the entries after the COG staged that many at a time. budget: seconds
    each file may spend retrying (ABS_RETRY_BUDGET when None)."""
    from sources.download import make_session, preflight

    check_accept_drop(accept_drop)
    store = store or Store()
    session = session or make_session(budget=budget)
    geo_entries, others = plan(names, vintages)
    preflight(entry_urls(geo_entries + others), mirror)  # offline: say so in seconds, before taking the lock
    options = dict(mirror=mirror, force=force, progress=progress if threads == 1 else False, accept_drop=accept_drop)
    with locked(store, lock_timeout):
        run = store.begin_run()  # every write below goes to the run's pending area, the store switches at the end

        def stage_one(entry: Entry) -> SourceResult:
            return refresh_entry(entry, run, session=session, geo=lambda: geography_for(entry, run), **options)

        def stage_many(entries: list[Entry]) -> list[SourceResult]:
            geo = functools.partial(load_geography, run)  # loaded by the first entry with something to stage

            def one(entry):
                return refresh_entry(entry, run, session=session if threads == 1 else None, geo=geo, **options)

            if threads == 1:
                return [one(entry) for entry in entries]
            with ThreadPoolExecutor(max_workers=threads) as pool:  # each entry makes its own HTTP session
                return list(pool.map(one, entries))

        results = commit(run, stage_in_order(geo_entries, others, stage_one, stage_many))
    return RefreshReport(results)


def stage_in_order(geo_entries: list[Entry], others: list[Entry], stage_one, stage_many) -> list[SourceResult]:
    """The order of every refresh: the COG entries one after the other (`stage_one(entry)`; the EPCI composition is
    checked against the communes just staged), then every other entry (`stage_many(entries)`, which may run them
    at once). A COG failure leaves the entries after it not attempted."""
    results: list[SourceResult] = []
    for entry in geo_entries:
        if any(r.status == "failed" for r in results):
            results.append(not_attempted(entry, GEOGRAPHY_FAILED))
        else:
            results.append(stage_one(entry))
    if any(r.status == "failed" for r in results):
        return results + [not_attempted(entry, GEOGRAPHY_FAILED) for entry in others]
    return results + stage_many(others)


@contextlib.contextmanager
def locked(store: Store, timeout: float, logger: logging.Logger | logging.LoggerAdapter = log):
    """The store's lock; when another refresh holds it, say so (to `logger`: a flow run's logger puts it in the
    run's log) and wait up to `timeout` seconds."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(store.lock(wait=0))
        except StoreBusy:
            logger.warning("waiting for the refresh holding %s (up to %.0f s)", store.root, timeout)
            stack.enter_context(store.lock(wait=timeout))
        yield


class RefreshFailed(RuntimeError):
    """Some sources could not be staged: nothing was published. Carries the report for whoever prints it."""

    def __init__(self, report: RefreshReport, message: str):
        super().__init__(message)
        self.report = report

    @classmethod
    def of(cls, report: RefreshReport) -> RefreshFailed:
        keys = ", ".join(r.key for r in report.failed)
        return cls(report, f"{len(report.failed)} source(s) failed: {keys}; nothing was published")

    def __reduce__(self):  # Prefect pickles the error of a failed run: keep the report with it
        return type(self), (self.report, str(self))


def ensure_staged(
    store: Store,
    policy: str,
    mirror: str | None = None,
    lock_timeout: float = 5.0,
    threads: int = 1,
    budget: float | None = None,
) -> RefreshReport | None:
    """What a report needs before it reads the store, by the policy: "always" refreshes every source, "missing"
    only when a source was never staged, "never" refuses a store missing a source (said at once, instead of a
    table missing deep in the computation). The report of the refresh run (None if none), nothing published;
    `RefreshFailed` when a source could not be staged."""
    missing = missing_sources(store)
    if policy == "never":
        if missing:
            raise ValueError(
                f"refresh=never, but {len(missing)} source(s) were never staged in the store "
                f"{store.root} ({', '.join(missing)}): run the refresh flow (`abs-diag refresh`) first"
            )
        return None
    if policy == "missing" and not missing:
        return None
    log.info("refreshing the store first (%s)", f"never staged: {', '.join(missing)}" if missing else policy)
    report = refresh(
        store=store, mirror=mirror, lock_timeout=lock_timeout, threads=threads, progress=False, budget=budget
    )
    if report.failed:
        raise RefreshFailed.of(report)
    return report


def entry_urls(entries: list[Entry]) -> list[str]:
    """The upstream URLs of the entries' files (for the reachability check before a refresh)."""
    return [spec.url for entry in entries for spec in entry.files]


def commit(run: Run, results: list[SourceResult]) -> list[SourceResult]:
    """Switch the store to the run's state (staged tables, raw files, failures recorded). If the switch cannot be
    written, every source of the run fails with that error and the store keeps its previous state."""
    try:
        run.commit()
    except StoreWriteError as exc:
        log.error("%s", exc)
        return [r if r.status == "failed" else failed_result(r.source, r.vintage, exc) for r in results]
    return results


def refresh_one(
    source: str,
    vintage: str,
    store: Store,
    *,
    mirror: str | None = None,
    force: bool = False,
    run: str | None = None,
    accept_drop: list[str] | None = None,
    budget: float | None = None,
) -> SourceResult:
    """Stage one catalogue entry with its own HTTP session (safe to run beside others); raises SourceError.

    `run`: the id of the refresh's pending area (`Store.begin_run`), switched in by `commit()` when every entry
    is done; None stages the entry in a run of its own, under the store's lock, switched in at once."""
    from sources.download import make_session

    check_accept_drop(accept_drop)
    entry = catalogue.get(source, vintage)
    if run is None:
        with store.lock(wait=5), _own_run(store) as pending:
            return refresh_one(
                source,
                vintage,
                store,
                mirror=mirror,
                force=force,
                run=pending.id,
                accept_drop=accept_drop,
                budget=budget,
            )
    pending = store.open_run(run)
    return stage_entry(
        entry,
        pending,
        session=make_session(budget=budget),
        mirror=mirror,
        force=force,
        geo=functools.partial(geography_for, entry, pending),  # loaded only if there is something to stage
        progress=False,
        accept_drop=accept_drop,
    )


def check_accept_drop(names: list[str] | None) -> None:
    """An override for a source the catalogue does not know is a typo: refuse it before anything runs."""
    unknown = sorted(set(names or []) - set(catalogue.sources()))
    if unknown:
        raise KeyError(f"--accept-drop: unknown source(s) {unknown}; known: {', '.join(catalogue.sources())}")


@contextlib.contextmanager
def _own_run(store: Store):
    """A run of one entry: switched in when it ends, a SourceError included (its failure is recorded)."""
    run = store.begin_run()
    try:
        yield run
    except SourceError:
        run.commit()
        raise
    except BaseException:
        run.discard()
        raise
    run.commit()


def refresh_entry(entry: Entry, store: Store, **kwargs) -> SourceResult:
    """`stage_entry`, with a failure turned into a failed result (the previous staged table is kept)."""
    try:
        return stage_entry(entry, store, **kwargs)
    except SourceError as exc:
        return failed_result(entry.source, entry.vintage, exc)


def stage_entry(
    entry: Entry,
    store: Store,
    *,
    session: requests.Session | None = None,
    mirror: str | None = None,
    force: bool = False,
    geo: Geography | Callable[[], Geography | None] | None = None,
    progress: bool | None = None,
    accept_drop: list[str] | None = None,
) -> SourceResult:
    """Download the entry's files (conditional GET), validate and stage them unless nothing changed.

    `geo`: what the entry is checked against (`geography_for`), or a function giving it, called only when the
    entry is staged (an entry with nothing new does not load the geography).

    `store` is the refresh's `Run` (a plain Store: a run of this entry alone, switched in when it ends). On a
    SourceError the run records `last_failure`, the bytes refused go to `<name>.rejected` and the error is raised
    again; the previously staged table of the entry and its raw files are left as they were.
    """
    from sources.download import make_session

    if not isinstance(store, Run):
        with store.lock(wait=5), _own_run(store) as run:
            return stage_entry(entry, run, session=session, mirror=mirror, force=force, geo=geo, progress=progress)
    session = session or make_session()
    previous = store.previous(entry.key)
    result = SourceResult(entry.source, entry.vintage, "failed")
    downloads: dict[str, Download] = {}
    try:
        _download(entry, store, previous, downloads, session=session, mirror=mirror, progress=progress)
        result.downloads = [d.status for d in downloads.values()]
        inputs = {role: d.sha256 for role, d in downloads.items()}
        basis = staging_basis(store, entry)
        before = previous.staged
        if not force and before is not None and _unchanged(store, entry, before, downloads, inputs, basis):
            result.status, result.rows = "unchanged", before.rows
            result.secret_cells, result.notes, result.change = before.secret_cells, before.notes, "no change"
            _record(store, entry, downloads, before)
            return result
        # parsing holds the table a few times over: entries staged at once stay within the memory budget
        geography = geo() if callable(geo) else geo  # shared by the entries: loaded once, outside the budget
        files = {role: Path(d.path) for role, d in downloads.items()}
        with staging_budget().reserve(entry_estimate(entry, files, geography)):
            _stage_downloaded(entry, store, previous, downloads, (inputs, basis), geography, accept_drop, result)
    except SourceError as exc:
        refused = [Path(d.path) for d in downloads.values() if d.status == "downloaded"] if _refuses_bytes(exc) else []
        error = _pointing_to(exc, store.reject(entry, refused))
        log.error("%s", error)
        error.downloads = result.downloads  # what was fetched before it failed, for the summary
        _record_failure(store, entry, error)
        if error is exc:
            raise
        raise error from exc
    return result


def _download(entry: Entry, store: Run, previous: EntryRecord, downloads: dict, **fetching) -> None:
    """Each file of the entry fetched (conditional GET) into `downloads` by role, as it arrives: a failure on a
    later file leaves the earlier ones there, for the bytes to set aside."""
    from sources.download import fetch

    for spec in entry.files:
        dest = store.raw_path(entry, spec)
        prev_file = previous.files[spec.role].to_dict() if spec.role in previous.files else None
        with _writing(f"{entry.key}: download of {spec.url}", dest):
            store.download_path(entry, spec)
            downloads[spec.role] = fetch(spec, dest, prev_file, **fetching)


def _unchanged(store: Run, entry: Entry, staged_before: StagedRecord, downloads: dict, inputs: dict, basis) -> bool:
    """Nothing new upstream, the same staging code and geography, and the staged table still there."""
    return (
        all(d.status == "unchanged" for d in downloads.values())
        and staged_before.inputs == inputs
        and staged_before.basis == basis
        and store.staged_path(entry.source, entry.vintage).exists()
    )


def _stage_downloaded(
    entry: Entry,
    store: Run,
    previous: EntryRecord,
    downloads: dict,
    inputs_basis: tuple,
    geo: Geography | None,
    accept_drop: list[str] | None,
    result: SourceResult,
) -> None:
    """Parse, validate, check the coverage of and write the entry's table; record it in the run's manifest."""
    inputs, basis = inputs_basis
    staged: Staged = registry.stage(entry, {r: Path(d.path) for r, d in downloads.items()}, geo)
    # a truncated file validates cell by cell: its coverage and row count give it away
    accepted = coverage.check(entry, staged, geo, store, accept=entry.source in (accept_drop or ()))
    with _writing(f"{entry.key}: staging", store.staged_path(entry.source, entry.vintage)):
        path = store.write_staged(entry.source, entry.vintage, staged.frame)
    summary = StagedRecord(
        **staged.summary(),
        inputs=inputs,
        basis=basis,
        staged_at=_now(),
        path=str(path),  # the run's pending table: the switch names it by its content
        # the staged table is in the target COG; the file's own geography is `source_cog` (or year + offset)
        cog=catalogue.default_cog(),
        source_cog=entry.cog,
        cog_offset=entry.cog_offset,
        title=entry.title,
        publisher=entry.publisher,
        accepted_drop=accepted or None,
    )
    _record(store, entry, downloads, summary)
    result.status, result.rows, result.secret_cells = "staged", summary.rows, summary.secret_cells
    result.notes = staged.notes
    result.change = describe_change(previous, summary) + ("; drop accepted (--accept-drop)" if accepted else "")


@contextlib.contextmanager
def _writing(step: str, path: Path):
    """An OSError while writing (disk full, read-only folder, file too large) as a StoreWriteError that names the
    step and the path: the entry fails like a validation failure and the other entries go on."""
    import requests

    try:
        yield
    except OSError as exc:
        if isinstance(exc, requests.RequestException):  # requests' errors are OSErrors too: not a write
            raise
        raise StoreWriteError.of(step, path, exc) from exc


def _refuses_bytes(exc: SourceError) -> bool:
    """The files were downloaded whole but what they hold was refused: keep them as `.rejected`."""
    return isinstance(exc, (SourceValidationError, ParseError))


def _pointing_to(exc: SourceError, moved: dict[str, str]) -> SourceError:
    """`exc`, naming where a refused file was kept rather than the pending path it was read from."""
    if not any(old in str(exc) for old in moved):
        return exc
    error = copy.copy(exc)
    message = str(exc)
    for old, new in moved.items():
        message = message.replace(old, new)
        if getattr(error, "raw_path", None) == old:
            error.raw_path = new
    error.args = (message,)
    return error


def _record_failure(store: Store, entry: Entry, exc: SourceError) -> None:
    try:
        with _MANIFEST_LOCK:
            record = store.previous(entry.key)
            record.last_failure = LastFailure(at=_now(), error=str(exc))
            store.record(entry.key, record)
    except OSError as write_error:  # the disk may be full: the failure itself is what the run reports
        log.error("%s: the failure could not be recorded: %s", entry.key, write_error)


def failed_result(source: str, vintage: str, exc: BaseException) -> SourceResult:
    """A failed entry as the summary shows it, from the error that stopped it."""
    if isinstance(exc, SourceValidationError):
        kind = "validation"
    elif isinstance(exc, ParseError):
        kind = "parse"
    elif isinstance(exc, DownloadError):
        kind = "download"
    elif isinstance(exc, StoreWriteError):
        kind = "write"
    else:
        kind = type(exc).__name__
    return SourceResult(
        source,
        vintage,
        "failed",
        downloads=list(getattr(exc, "downloads", [])),
        error=str(exc),
        error_kind=kind,
        failures=[f.as_dict() for f in getattr(exc, "failures", [])],
        file=getattr(exc, "file", None),
        change="not staged: the previous table is kept",
    )


def not_attempted(entry: Entry, reason: str) -> SourceResult:
    return SourceResult(
        entry.source,
        entry.vintage,
        "failed",
        error=reason,
        error_kind="not attempted",
        change="not staged: the previous table is kept",
    )


# HTTP statuses worth asking again later: the server is busy or down, the file itself may be fine.
_TRANSIENT_HTTP = re.compile(r"^HTTP (429|5\d\d)\b")


def is_network_error(exc: BaseException) -> bool:
    """A download that may work a few minutes later: no answer, a cut-off body, 429 or 5xx after the session's
    own retries. A 404, an HTML page, a bad checksum or a validation error will not: they are not retried."""
    if not isinstance(exc, DownloadError):
        return False
    import requests

    if isinstance(exc.__cause__, requests.RequestException):
        return True
    return bool(_TRANSIENT_HTTP.match(exc.reason)) or exc.reason.startswith("the body was cut off")


@cache
def code_version() -> str:
    """A digest of the code a staged table depends on (`registry.staging_files`: the parsers and the helpers they
    stage with): a release that changes it re-stages unchanged files on the next refresh; one that changes only
    the downloader, the store or the reports does not."""
    return code_digest(registry.staging_files())


def code_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def staging_basis(store: Store, entry: Entry) -> dict[str, str | None]:
    """What a staged table depends on besides its own files: the geography it was brought into, the code."""
    geography = None
    if entry.source not in GEOGRAPHY_SOURCES:
        target = str(catalogue.default_cog())
        shas = [_main_input(store.previous(f"{s}/{target}").staged) for s in GEOGRAPHY_SOURCES]
        geography = hashlib.sha256("|".join(map(str, shas)).encode()).hexdigest()[:16]
    return {"geography": geography, "code": code_version()}


def _main_input(staged: StagedRecord | None) -> str | None:
    return staged.inputs.get("main") if staged else None


def describe_change(previous: EntryRecord, staged: StagedRecord) -> str:
    """What a new staging changed since the previous one recorded in the manifest."""
    before = previous.staged
    if before is None or before.rows is None:
        return "first staging"
    files = sorted(role for role, sha in staged.inputs.items() if before.inputs.get(role) != sha)
    basis_before, basis = before.basis, staged.basis
    why = [
        w
        for k, w in (("geography", "a new geography (COG)"), ("code", "new pipeline code"))
        if basis_before.get(k) != basis.get(k)
    ]
    again = "staged again from the same file(s)" + (f" for {' and '.join(why)}" if why else "")
    parts = [f"new upstream file ({', '.join(files)})" if files else again]
    for label, key in (("rows", "rows"), ("secret cells", "secret_cells")):
        old, new = getattr(before, key), getattr(staged, key)
        if old is not None and new is not None and old != new:
            delta = f"{new - old:+,}".replace(",", " ")
            parts.append(f"{label} {fmt_int(old)} → {fmt_int(new)} ({delta})")
    old_geo, new_geo = len(before.geo_changes), len(staged.geo_changes)
    if old_geo != new_geo:
        parts.append(f"geography changes {old_geo} → {new_geo}")
    if len(parts) == 1 and files:
        parts.append("same rows and secret cells")
    return "; ".join(parts)


def summary_markdown(report: RefreshReport, outcome: list[str] | None = None) -> str:
    """The refresh summary as Markdown: one row per source, then the failures and what was (not) published."""
    lines = ["# Refresh of the sources", ""]
    staged = sum(r.status == "staged" for r in report.results)
    unchanged = sum(r.status == "unchanged" for r in report.results)
    lines.append(
        f"{len(report.results)} sources: {staged} staged, {unchanged} unchanged upstream, {len(report.failed)} failed."
    )
    lines += [
        "",
        "| source | vintage | rows | secret cells | download | status | since the previous refresh |",
        "|---|---|---:|---:|---|---|---|",
    ]
    for r in report.results:
        lines.append(
            f"| {r.source} | {r.vintage} | {fmt_int(r.rows)} | {fmt_int(r.secret_cells)} "
            f"| {r.download_status} | {r.status} | {_cell(r.change)} |"
        )
    if report.failed:
        lines += ["", "## Failures", ""]
        for r in report.failed:
            lines += [f"### {r.key} ({r.error_kind})", "", "```", r.error or "", "```", ""]
    if outcome:
        lines += ["", "## Publication", ""] + [f"- {line}" for line in outcome]
    return "\n".join(lines).rstrip() + "\n"


def failure_rows(report: RefreshReport) -> list[dict]:
    """One row per broken rule (validation) or per failed source (anything else), for a table artifact."""
    rows = []
    for r in report.failed:
        base = {"source": r.source, "vintage": r.vintage, "kind": r.error_kind, "file": r.file or ""}
        if r.failures:
            rows += [
                base
                | {"column": f["column"], "rule": f["rule"], "rows": f["count"], "samples": "; ".join(f["samples"])}
                for f in r.failures
            ]
        else:
            first = (r.error or "").splitlines()[0] if r.error else ""
            rows.append(base | {"column": "", "rule": first, "rows": None, "samples": ""})
    return rows


def fmt_int(n: int | None) -> str:
    return "-" if n is None else f"{n:,}".replace(",", " ")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _record(store: Store, entry: Entry, downloads: dict, staged: StagedRecord) -> None:
    where = store.record_path(entry.key) if isinstance(store, Run) else store.manifest_path
    with _MANIFEST_LOCK, _writing(f"{entry.key}: recording in the manifest", where):
        store.record(
            entry.key,
            EntryRecord(
                source=entry.source,
                vintage=entry.vintage,
                files={role: FileRecord.from_dict(d.as_dict()) for role, d in downloads.items()},
                staged=staged,
            ),
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def missing_sources(store: Store) -> list[str]:
    """Catalogue sources with no staged vintage in the store (a store never refreshed: all of them)."""
    missing = []
    for source in catalogue.sources():
        try:
            store.latest_vintage(source)
        except FileNotFoundError:
            missing.append(source)
    return missing
