"""The `diagnostic` flow: the indicators and the report of one territory, published with a link artifact.

The territory (an EPCI, a commune, or a named list of communes) is a pydantic model: a malformed SIREN or commune
code fails the run before anything starts, and a deployment's server refuses it when the run is created; a code
missing from the target geography fails it before any publication is begun. The report is written into a new
version of the `territoires/<territory>` publication (see `publication_name`); `latest` moves to it only when
everything was written, so a failed run leaves the previous diagnostic in place and its artifact says why.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import ensure_data, open_store, publication, run_about
from flows.parameters import RefreshPolicy, Territory
from storage.publication import describe


def publication_name(territory: Territory) -> str:
    """`territoires/epci-<SIREN>`, `territoires/commune-<code>`, or for a group of communes
    `territoires/groupe-<slug of its name>-<8 hex digits of the SHA-256 of its sorted codes>`: a group never takes
    the folder of an EPCI or a commune, nor of another group with the same name (or a name with no Latin letter)."""
    if territory.communes is None:
        return f"territoires/{territory.selection().stem}"
    from transforms.pipeline import slug

    codes = ",".join(sorted(set(territory.communes)))
    digest = hashlib.sha256(codes.encode()).hexdigest()[:8]
    return f"territoires/groupe-{slug(territory.name)}-{digest}"


@task(name="build-report", cache_policy=NO_CACHE)
def build_report(territory: Territory, data_dir: str, out_dir: str, demo: bool) -> dict[str, list[str]]:
    """The report, its index and exports, as paths relative to `out_dir` (the draft is renamed on commit)."""
    from reports.site import build_site

    out = Path(out_dir)
    site = build_site(open_store(data_dir), [territory.selection()], out, demo=demo,
                      generated_at=datetime.now(UTC))
    relative = lambda paths: [str(Path(p).relative_to(out)) for p in paths]
    return {"reports": relative(site.reports), "index": relative([site.index]), "exports": relative(site.exports)}


def territory_problems(territory: Territory, store) -> list[str]:
    """The codes of `territory` missing from the store's target geography (see `sources.national.unknown_codes`)."""
    from sources.national import unknown_codes

    communes = territory.communes or ([territory.commune] if territory.commune else [])
    return unknown_codes(store, epcis=[territory.epci] if territory.epci else [], communes=communes)


@task(name="check-territory", cache_policy=NO_CACHE)
def check_codes(territory: Territory, data_dir: str) -> None:
    problems = territory_problems(territory, open_store(data_dir))
    if problems:
        raise ValueError("; ".join(problems))


@flow(name="diagnostic")
def diagnostic(
    territory: Territory,
    data_dir: str | None = None,
    publish_dir: str | None = None,
    mirror: str | None = None,
    refresh: RefreshPolicy = "missing",
    demo: bool = False,
) -> str:
    """Build and publish the diagnostic of `territory`; returns the published report's path.

    refresh: "missing" refreshes the store first only if a source was never staged, "always" refreshes first,
    "never" uses the store as it is. demo: the report says its figures are synthetic.
    """
    log = get_run_logger()
    ensure_data(refresh, data_dir, mirror)
    store = open_store(data_dir)
    check_codes(territory, str(store.root))
    name = publication_name(territory)
    key = _artifact_key(name)
    pub = publication(publish_dir, name)
    draft = pub.begin(run_about(territory=territory.model_dump(exclude_none=True), demo=demo))
    log.info("diagnostic of %s into %s", territory.label, draft.path)
    try:
        built = build_report(territory, str(store.root), str(draft.path), demo)
        folder = pub.commit(draft)
    except BaseException as raised:
        exc = pub.explain(draft, raised)  # disk full or permissions: named with the step and the path
        failed = pub.fail(draft, exc)
        create_markdown_artifact(key=key, markdown=(
            f"# Diagnostic of {territory.label}: not published\n\n```\n{exc}\n```\n\n"
            f"- The partial output is set aside in `{failed}`.\n- Previous publication kept: {describe(pub)}.\n"))
        if exc is not raised:
            raise exc from raised
        raise
    report = folder / built["reports"][0]
    create_link_artifact(key=key, link=report.as_uri(), link_text=f"Diagnostic {territory.label}",
                         description=f"Published in {folder}; `latest` points to it")
    log.info("published %s", report)
    return str(report)


def _artifact_key(name: str) -> str:
    """Artifact keys are lowercase letters, digits and dashes."""
    import re

    return "diagnostic-" + re.sub(r"[^a-z0-9]+", "-", name.split("/", 1)[-1].lower()).strip("-")
