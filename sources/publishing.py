"""When a refresh publishes the national indicator tables, and what goes with them.

The tables are published when every source staged and the store holds something the current publication was not
computed from, unless
- the run was asked not to publish;
- a catalogue source was never staged in the store (a refresh of some sources into a new store): the tables would
  miss its indicators;
- the store's staged tables are those the current publication was computed from (its copy of the manifest says
  which: inputs, basis and staging time of every entry): nothing new. Tables staged by a run that did not publish
  (`publish=False`, the refresh a report runs first, a failed publication) are published by the next refresh,
  even when nothing changed upstream since.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from sources.refresh import RefreshReport, missing_sources, summary_markdown
from storage.publication import describe

INDICATORS = "indicateurs"  # the publication of the national indicator tables
STAGED_STATE = ("inputs", "basis", "staged_at")  # what a staged table was made from, and when


@dataclass(frozen=True)
class PublishDecision:
    publish: bool
    reason: str  # why nothing is published (one line, for the summary and the command); "" when publishing


def publish_decision(store, pub, publish: bool = True) -> PublishDecision:
    """Whether the refresh that just staged `store` publishes into `pub` (see the module's docstring)."""
    if not publish:
        return PublishDecision(False, "Not published (publish=false).")
    missing = missing_sources(store)
    if missing:
        return PublishDecision(
            False,
            f"Not published: {len(missing)} source(s) never staged in this store "
            f"({', '.join(missing)}); the national tables would miss their indicators. "
            f"Refresh every source first. Previous publication kept: {describe(pub)}.",
        )
    if pub.latest is not None and staged_state(store.manifest().to_dict()) == published_state(pub.latest):
        return PublishDecision(
            False, f"Nothing new: the current publication was computed from the tables staged now ({describe(pub)})."
        )
    return PublishDecision(True, "")


def failed_outcome(report: RefreshReport, pub) -> list[str]:
    """What the summary says of a refresh in which some sources failed: nothing published."""
    keys = ", ".join(r.key for r in report.failed)
    return [
        f"Nothing published: {len(report.failed)} source(s) failed ({keys}).",
        f"Previous publication kept: {describe(pub)}.",
    ]


def staged_state(manifest: dict) -> dict[str, dict]:
    """Entry key -> what its staged table was made from and when (entries never staged are left out)."""
    return {
        key: {k: record["staged"].get(k) for k in STAGED_STATE}
        for key, record in manifest.get("entries", {}).items()
        if record.get("staged")
    }


def published_state(version: Path | None) -> dict[str, dict] | None:
    """The staged state a published version was computed from (its copy of the manifest); None if unknown."""
    copy = version / "manifest.json" if version else None
    if copy is None or not copy.is_file():
        return None
    return staged_state(json.loads(copy.read_text(encoding="utf-8")))


def write_refresh_record(folder: Path, report: RefreshReport, store) -> None:
    """Beside the national tables: the refresh summary (`sources.md`) and the manifest they were computed from."""
    (folder / "sources.md").write_text(summary_markdown(report), encoding="utf-8")
    shutil.copy2(store.manifest_path, folder / "manifest.json")
