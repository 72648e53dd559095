"""prefect.yaml matches the code: every entrypoint imports, its parameters validate, the schedules parse.
(The real deployment on a Prefect server is tests/deploy/check_deployment.py, run by .ci/run.)"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint
from prefect.server.schemas.schedules import CronSchedule as ServerCronSchedule

ROOT = Path(__file__).resolve().parents[1]
SPEC = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
DEPLOYMENTS = {d["name"]: d for d in SPEC["deployments"]}


def test_the_three_deployments_run_on_the_named_process_pool():
    assert set(DEPLOYMENTS) == {"yearly-refresh", "diagnostic", "national"}
    assert {d["work_pool"]["name"] for d in DEPLOYMENTS.values()} == {"abs-diag-process"}


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_the_entrypoint_imports_and_its_parameters_match_the_flow(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # entrypoints are relative to the project folder, as for `prefect deploy`
    deployment = DEPLOYMENTS[name]
    flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
    parameters = deployment.get("parameters", {})
    flow.validate_parameters(parameters | _required_examples(name))  # raises ParameterTypeError
    assert set(parameters) <= set(flow.parameters.properties)


def _required_examples(name: str) -> dict:
    """Values for the parameters a deployment leaves to each run (the territory of a diagnostic)."""
    return {"territory": {"epci": "200067346"}} if name == "diagnostic" else {}


def test_the_yearly_refresh_runs_once_a_year_after_the_june_census_release():
    [schedule] = DEPLOYMENTS["yearly-refresh"]["schedules"]
    CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # what `prefect deploy` sends
    assert schedule["active"] is True and schedule["timezone"] == "Europe/Paris"
    # the dates the server's scheduler computes from it
    cron = ServerCronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    paris = ZoneInfo("Europe/Paris")
    dates = asyncio.run(cron.get_dates(3, start=datetime(2026, 11, 23, tzinfo=paris)))
    runs = [d.astimezone(paris) for d in dates]
    assert [(r.year, r.month, r.day, r.hour, r.minute) for r in runs] == [
        (2027, 7, 1, 6, 0),
        (2028, 7, 1, 6, 0),
        (2029, 7, 1, 6, 0),
    ]


def test_the_flow_runs_work_in_the_folder_prefect_deploy_ran_from():
    [step] = SPEC["build"]
    assert step["prefect.deployments.steps.run_shell_script"] == {
        "id": "project-folder",
        "script": "pwd",
        "stream_output": False,
    }
    [pull] = SPEC["pull"]
    assert pull == {"prefect.deployments.steps.set_working_directory": {"directory": "{{ project-folder.stdout }}"}}


def test_a_wrong_default_in_prefect_yaml_would_be_caught(monkeypatch):
    from prefect.exceptions import ParameterTypeError

    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(DEPLOYMENTS["national"]["entrypoint"], use_placeholder_flow=False)
    with pytest.raises(ParameterTypeError, match="runner.kind"):
        flow.validate_parameters({"runner": {"kind": "spark"}})
