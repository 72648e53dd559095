"""The `diagnostic` flow: the indicators and the report of one territory, published with a link artifact.

The territory (an EPCI, a commune, or a named list of communes) is a pydantic model: a malformed SIREN or commune
code fails the run before anything starts, and a deployment's server refuses it when the run is created; a code
missing from the target geography fails it before any publication is begun. The report is written into a new
version of the `territoires/<territory>` publication (`Territory.publication_name`); `latest` moves to it only
when everything was written, so a failed run leaves the previous diagnostic in place and its artifact says why.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.changes import changes_artifact, write_changes
from flows.common import flow_settings, open_store, prepare_store, publication, run_about
from flows.parameters import RefreshPolicy, Territory
from reports import site as reports_site
from sources.national import unknown_codes
from storage.publication import describe
from transforms.evaluation import EvaluationItem


@task(name="check-territory", cache_policy=NO_CACHE)
def check_codes(territory: Territory, data_dir: str) -> None:
    """The codes of `territory` are in the store's target geography (a typo fails before anything is begun)."""
    problems = unknown_codes(open_store(data_dir), **territory.codes())
    if problems:
        raise ValueError("; ".join(problems))


@task(name="build-report", cache_policy=NO_CACHE)
def build_report(
    territory: Territory,
    data_dir: str,
    out_dir: str,
    demo: bool,
    baseline: int | None = None,
    evaluation: list[EvaluationItem] | None = None,
    similar: tuple[str, ...] = (),
) -> dict[str, list[str]]:
    """The report, its index and exports, as paths relative to `out_dir` (the draft is renamed on commit)."""
    out = Path(out_dir)
    site = reports_site.build_site(
        open_store(data_dir),
        [territory],
        out,
        demo=demo,
        generated_at=datetime.now(UTC),
        baseline=baseline,
        evaluation=tuple(evaluation or ()),
        similar=similar,
    )

    def relative(paths):
        return [str(Path(p).relative_to(out)) for p in paths]

    return {"reports": relative(site.reports), "index": relative([site.index]), "exports": relative(site.exports)}


@flow(name="diagnostic")
def diagnostic(
    territory: Territory,
    data_dir: str | None = None,
    publish_dir: str | None = None,
    mirror: str | None = None,
    refresh: RefreshPolicy = "missing",
    demo: bool = False,
    baseline: int | None = None,
    evaluation: list[EvaluationItem] | None = None,
    similar: tuple[str, ...] = (),
) -> str:
    """Build and publish the diagnostic of `territory`; returns the published report's path.

    refresh: "missing" refreshes the store first only if a source was never staged, "always" refreshes first,
    "never" uses the store as it is. demo: the report says its figures are synthetic. baseline: the year the
    evolutions of the series start from (the first year of the CTG; default: the oldest year every yearly source
    holds). evaluation: the indicators of the CTG's yearly evaluation (transforms.evaluation; default set if empty).
    similar: SIRENs of the EPCIs the territory is compared with (chosen by size class when empty).
    """
    settings = flow_settings(data_dir, publish_dir, mirror)  # read once, passed down to the tasks
    root = prepare_store(refresh, str(settings.data_dir), settings.mirror, settings.retry_budget)
    check_codes(territory, root)
    pub = publication(str(settings.publish_dir), territory.publication_name())
    key = artifact_key(pub.name)

    def not_published(error: BaseException, failed: Path) -> None:
        create_markdown_artifact(
            key=key,
            markdown=(
                f"# Diagnostic of {territory.label}: not published\n\n```\n{error}\n```\n\n"
                f"- The partial output is set aside in `{failed}`.\n- Previous publication kept: {describe(pub)}.\n"
            ),
        )

    about = run_about(
        territory=territory.model_dump(exclude_none=True),
        demo=demo,
        baseline=baseline,
        evaluation=[item.model_dump() for item in evaluation or []],
    )
    with pub.publishing(about, on_failure=not_published) as draft:
        get_run_logger().info("diagnostic of %s into %s", territory.label, draft.path)
        built = build_report(territory, root, str(draft.path), demo, baseline, evaluation, tuple(similar))
        changes = write_changes(str(settings.publish_dir), pub.name, str(draft.path), draft.version)
    report = draft.path / built["reports"][0]
    changes_artifact(pub.name, draft.path, changes)
    create_link_artifact(
        key=key,
        link=report.as_uri(),
        link_text=f"Diagnostic {territory.label}",
        description=f"Published in {draft.path}; `latest` points to it",
    )
    get_run_logger().info("published %s", report)
    return str(report)


def artifact_key(name: str) -> str:
    """`territoires/epci-200067346` -> `diagnostic-epci-200067346` (artifact keys are lowercase letters, digits
    and dashes)."""
    return "diagnostic-" + re.sub(r"[^a-z0-9]+", "-", name.split("/", 1)[-1].lower()).strip("-")
