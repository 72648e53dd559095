"""The flows and the commands' local runs share one body (`flows.steps`): same parameters, same steps in the same
order, the same publication; only the runner differs (tasks and artifacts, or calls and log lines)."""

from __future__ import annotations

import inspect
import json

import pytest
from flow_support import run
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import TaskRunSort

from flows import steps
from flows.diagnostic import diagnostic as diagnostic_flow
from flows.local import LocalRunner
from flows.refresh import refresh as refresh_flow
from storage.publication import Publication
from transforms.territories import Territory

pytestmark = pytest.mark.usefixtures("prefect_harness")

CLISSON = "200067346"


@pytest.mark.parametrize("flow, body", [(diagnostic_flow, steps.diagnostic), (refresh_flow, steps.refresh)])
def test_a_flow_takes_exactly_the_parameters_of_its_body(flow, body):
    def described(function, skip=()):
        return [(p.name, p.default) for p in inspect.signature(function).parameters.values() if p.name not in skip]

    assert described(flow.fn) == described(body, skip=("runner",))


class RecordingRunner(LocalRunner):
    """The local runner, noting the task name of every step it runs and the key of every summary."""

    def __init__(self):
        self.steps: list[str] = []
        self.keys: list[str] = []

    def call(self, step, *args):
        self.steps.append(steps.spec_of(step).name)
        return super().call(step, *args)

    def markdown(self, key, markdown, description=None):
        self.keys.append(key)

    def link(self, key, link, link_text, description):
        self.keys.append(key)


def _task_names(state) -> list[str]:
    """The task runs of a flow run, in the order they started, by task name."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )
    return [r.name for r in runs]


def test_a_local_report_runs_the_steps_of_the_flow_in_its_order_and_publishes_the_same(demo_store, tmp_path):
    options = dict(data_dir=str(demo_store.root), refresh="never", demo=True)
    local = RecordingRunner()
    local_report = steps.diagnostic(local, Territory(epci=CLISSON), publish_dir=str(tmp_path / "local"), **options)
    state = run(diagnostic_flow, Territory(epci=CLISSON), publish_dir=str(tmp_path / "flow"), **options)
    assert state.is_completed(), state.message

    # written by hand: the steps of a diagnostic, as tasks of the flow run and as calls of the local run
    expected = ["prepare-store", "check-territory", "build-report", "diff-with-previous"]
    assert local.steps == expected
    assert [name.rsplit("-", 1)[0] for name in _task_names(state)] == expected  # a task run is named NAME-NNN
    assert local.keys == [f"diagnostic-epci-{CLISSON}"]  # the link (no previous version: no diff summary)

    name = f"territoires/epci-{CLISSON}"
    abouts = [
        json.loads((Publication(tmp_path / where, name).latest / "publication.json").read_text(encoding="utf-8"))
        for where in ("local", "flow")
    ]
    assert [a["runner"] for a in abouts] == ["local", "prefect"]
    assert abouts[0]["flow_run_id"] is None and abouts[1]["flow_run_id"] == str(state.state_details.flow_run_id)
    assert abouts[0]["parameters"] == abouts[1]["parameters"]
    assert local_report.endswith(f"diagnostic-epci-{CLISSON}.html") and state.result().endswith(
        f"diagnostic-epci-{CLISSON}.html"
    )


def test_a_failed_local_publication_says_why_as_the_flow_does(demo_store, tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("reports.site.build_site", full_disk)
    local = RecordingRunner()
    with pytest.raises(OSError, match="No space left"):
        steps.diagnostic(
            local, Territory(epci=CLISSON), data_dir=str(demo_store.root), publish_dir=str(tmp_path), refresh="never"
        )
    assert local.steps == ["prepare-store", "check-territory", "build-report"]  # no diff of a failed draft
    assert local.keys == [f"diagnostic-epci-{CLISSON}"]  # the "not published" summary, under the flow's key
    pub = Publication(tmp_path, f"territoires/epci-{CLISSON}")
    assert pub.latest is None and [p.name[:8] for p in pub.dir.glob("_*")] == ["_failed-"]
