"""The step every publishing flow ends its draft with: what changed since the previous version (`reports.diff`),
written beside the new report, and summarised in a Prefect markdown artifact once the version is published."""

from __future__ import annotations

import re
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import publication
from reports import diff as D


@task(name="diff-with-previous", cache_policy=NO_CACHE)
def write_changes(publish_dir: str, name: str, draft_folder: str, version: str) -> dict | None:
    """The diff of the draft against the publication's `latest`, written into the draft: {"lines": French
    summary, "page": file name, "files": file names}; None when there is no previous version to compare with, or
    when it cannot be read (said in the log: the new version is published without its diff)."""
    try:
        result = D.diff_with_previous(publication(publish_dir, name), Path(draft_folder), version)
    except D.DiffError as exc:
        get_run_logger().warning("no diff with the previous version of %s: %s", name, exc)
        return None
    if result is None:
        return None
    get_run_logger().info("diff with the previous version: %s", result.summary.replace("\n", " | "))
    return {
        "lines": D.summary_lines(result.diff, result.old, result.new),
        "page": result.page.name,
        "files": [p.name for p in result.paths.values()],
    }


def changes_artifact(name: str, folder: Path, changes: dict | None) -> None:
    """After the commit (the page's path is final): the markdown artifact `changements-<publication>`."""
    if changes is None:
        return
    key = "changements-" + re.sub(r"[^a-z0-9]+", "-", name.split("/", 1)[-1].lower()).strip("-")
    create_markdown_artifact(
        key=key,
        markdown=D.summary_markdown(changes["lines"], folder / changes["page"], changes["files"]),
        description="What changed since the previous version of this publication",
    )
