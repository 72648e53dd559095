"""The `diagnostic` flow: the indicators and the report of one territory, published with a link artifact.

The territory (an EPCI, a commune, or a named list of communes) is a pydantic model: a malformed SIREN or commune
code fails the run before anything starts, and a deployment's server refuses it when the run is created; a code
missing from the target geography fails it before any publication is begun. The report is written into a new
version of the `territoires/<territory>` publication (`Territory.publication_name`); `latest` moves to it only
when everything was written, so a failed run leaves the previous diagnostic in place and its artifact says why.
The steps are `flows.steps.diagnostic`, which `abs-diag report` also runs without Prefect.
"""

from __future__ import annotations

from prefect import flow

from flows import steps
from flows.common import PrefectRunner
from flows.parameters import RefreshPolicy, Territory
from transforms.evaluation import EvaluationItem


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
    return steps.diagnostic(
        PrefectRunner(), territory, data_dir=data_dir, publish_dir=publish_dir, mirror=mirror, refresh=refresh,
        demo=demo, baseline=baseline, evaluation=evaluation, similar=similar,
    )  # fmt: skip
