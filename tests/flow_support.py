"""Helpers of the flow tests: run a flow and read back its state and artifacts from the test server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from sources.demo import MIRROR_ROOT


def run(flow, *args, **params):
    """The final state of one run of `flow` (never raises: failed runs are asserted on)."""
    return flow(*args, **params, return_state=True)


def artifacts(state) -> dict[str, object]:
    """key -> data of the artifacts the run created (tables decoded from JSON)."""
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    out = {}
    for artifact in found:
        data = artifact.data
        if artifact.type == "table" and isinstance(data, str):
            data = json.loads(data)
        out[artifact.key] = data
    return out


def mirror_copy(tmp: Path) -> Path:
    """A copy of the demo mirror that a test may alter."""
    root = tmp / "mirror"
    shutil.copytree(MIRROR_ROOT, root)
    return root
