"""The real deployment test (run by .ci/run after pytest): prefect.yaml deployed on a real Prefect server.

    python tests/deploy/check_deployment.py

1. `prefect server start` on 127.0.0.1 (a free port, a temporary PREFECT_HOME);
2. the process work pool, `prefect --no-prompt deploy --all` from the project folder, a worker;
3. the `diagnostic` deployment run for CA Clisson Sèvre et Maine Agglo against the demo mirror this script serves
   (ABS_MIRROR): the flow refreshes the empty store first, then publishes the report; wait for Completed; the
   published report and its link artifact exist;
4. a malformed SIREN is refused by the server when the run is created;
5. `yearly-refresh` carries its yearly cron schedule (Europe/Paris) and the scheduler created its next run.

Everything started is stopped at the end, whatever happened. Prints each step with its duration and the state of
every flow run; exits 1 with the server's and the worker's logs when a step fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

POOL = "abs-diag-process"
EPCI = "200067346"  # CA Clisson Sèvre et Maine Agglo
RUN_TIMEOUT = 600  # seconds for the diagnostic run (refresh of the demo store included)
PREFECT = [sys.executable, "-m", "prefect"]
T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", flush=True)


class CheckFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(args: list[str], env: dict, keep: str = "", timeout: float = 180) -> str:
    """A prefect command; a non-zero exit fails the check. Prints the output lines containing `keep`, or all of
    them when the command failed."""
    started = time.monotonic()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    output = (done.stdout + done.stderr).strip()
    say(f"$ prefect {' '.join(args[3:])}  ({time.monotonic() - started:.1f} s, exit {done.returncode})")
    lines = output.splitlines() if done.returncode else [line for line in output.splitlines() if keep in line]
    for line in lines:
        print(f"    {line.strip(' │')}", flush=True)
    if done.returncode != 0:
        raise CheckFailed(f"prefect {' '.join(args[3:])} exited with {done.returncode}")
    return output


@contextmanager
def background(args: list[str], env: dict, log: Path):
    """A long-running process in its own process group, stopped (TERM, then KILL) when the block ends."""
    with log.open("w") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_healthy(api: str, server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CheckFailed(f"prefect server exited with {server.returncode}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise CheckFailed(f"prefect server not healthy after {timeout} s")


def next_yearly_run(now: datetime) -> datetime:
    """The next 1 July 06:00 in Paris (cron "0 6 1 7 *", Europe/Paris), in UTC."""
    paris = ZoneInfo("Europe/Paris")
    for year in (now.year, now.year + 1):
        at = datetime(year, 7, 1, 6, 0, tzinfo=paris)
        if at > now:
            return at.astimezone(UTC)
    raise AssertionError("unreachable")


async def check(env: dict, publish_dir: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError

    async with get_client() as client:
        # -- the deployments and where they run ---------------------------------------------------------------
        names = ["refresh/yearly-refresh", "diagnostic/diagnostic", "national/national"]
        deployments = {n: await client.read_deployment_by_name(n) for n in names}
        for name, dep in deployments.items():
            directory = dep.pull_steps[0]["prefect.deployments.steps.set_working_directory"]["directory"]
            say(f"deployment {name}: pool {dep.work_pool_name}, working directory {directory}")
            if dep.work_pool_name != POOL or Path(directory).resolve() != ROOT:
                raise CheckFailed(f"{name} runs in {dep.work_pool_name}:{directory}, not {POOL}:{ROOT}")

        # -- a malformed SIREN is refused when the run is created ---------------------------------------------
        try:
            await run_deployment("diagnostic/diagnostic", parameters={"territory": {"epci": "20006734"}}, timeout=0)
        except PrefectHTTPStatusError as exc:
            say(
                f"malformed SIREN refused by the server: HTTP {exc.response.status_code}: "
                f"{exc.response.json().get('detail')}"
            )
        else:
            raise CheckFailed("the server accepted a diagnostic run for the SIREN '20006734'")

        # -- the diagnostic deployment, end to end -------------------------------------------------------------
        say("running diagnostic/diagnostic for EPCI 200067346 (the worker refreshes the empty store first)")
        started = time.monotonic()
        flow_run = await run_deployment(
            "diagnostic/diagnostic",
            timeout=RUN_TIMEOUT,
            poll_interval=2,
            parameters={"territory": {"epci": EPCI}, "demo": True},
        )
        say(
            f"diagnostic flow run {flow_run.name!r}: {flow_run.state.type.value} ({flow_run.state.name}) "
            f"after {time.monotonic() - started:.1f} s"
        )
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run.id]))
        )
        for run_ in [flow_run, *children]:
            flow = await client.read_flow(run_.flow_id)
            took = f"{run_.total_run_time.total_seconds():.1f} s" if run_.total_run_time else "-"
            say(f"  flow run {flow.name}/{run_.name}: {run_.state.type.value} ({run_.state.name}), ran {took}")
        if not flow_run.state.is_completed():
            raise CheckFailed(f"the diagnostic run ended {flow_run.state.name}: {flow_run.state.message}")

        report = publish_dir / "territoires" / f"epci-{EPCI}" / "latest" / f"diagnostic-epci-{EPCI}.html"
        if not report.is_file() or "Clisson" not in report.read_text(encoding="utf-8"):
            raise CheckFailed(f"no published report at {report}")
        say(f"published report: {report.resolve()} ({report.stat().st_size:,} bytes)")
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
        links = [a for a in artifacts if a.key == f"diagnostic-epci-{EPCI}"]  # Prefect stores links as Markdown
        if not links or report.resolve().as_uri() not in str(links[0].data):
            raise CheckFailed(f"no link artifact to the report: {[(a.key, a.data) for a in artifacts]}")
        say(f"link artifact {links[0].key}: {links[0].data}")

        # -- the yearly schedule -----------------------------------------------------------------------------
        yearly = deployments["refresh/yearly-refresh"]
        [schedule] = yearly.schedules
        cron = schedule.schedule
        say(f"yearly-refresh schedule: cron {cron.cron!r}, timezone {cron.timezone}, active {schedule.active}")
        if (cron.cron, cron.timezone, schedule.active) != ("0 6 1 7 *", "Europe/Paris", True):
            raise CheckFailed("yearly-refresh does not carry its yearly schedule")
        expected = next_yearly_run(datetime.now(UTC))
        deadline = time.monotonic() + 60
        while True:
            scheduled = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[yearly.id]))
            )
            if scheduled or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        times = sorted(r.expected_start_time for r in scheduled)
        say(f"runs the scheduler created for yearly-refresh: {[t.isoformat() for t in times]}")
        if not times or times[0] != expected:
            raise CheckFailed(f"expected the next yearly run at {expected.isoformat()}, found {times}")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="abs-diag-deploy-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(work / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",  # the yearly run appears in seconds, not a minute
        # the scheduler only creates runs within this horizon (default 100 days): a year covers the next 1 July
        "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": "P400D",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "ABS_DATA_DIR": str(work / "data"),
        "ABS_PUBLISH_DIR": str(work / "publication"),
    }
    os.environ.update(
        {k: env[k] for k in ("PREFECT_HOME", "PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK")}
    )
    from sources.demo import MIRROR_ROOT
    from sources.mirror import serve

    say(f"work folder {work}")
    with ExitStack() as stack:
        try:
            server_log, worker_log = work / "server.log", work / "worker.log"
            server = stack.enter_context(
                background([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, server_log)
            )
            wait_healthy(api, server)
            say(f"prefect server healthy at {api}")
            run([*PREFECT, "work-pool", "create", POOL, "--type", "process"], env, keep="Created work pool")
            run([*PREFECT, "--no-prompt", "deploy", "--all"], env, keep="successfully created")
            mirror = stack.enter_context(serve(MIRROR_ROOT))
            say(f"demo mirror at {mirror.url} (ABS_MIRROR of the worker)")
            worker = stack.enter_context(
                background([*PREFECT, "worker", "start", "--pool", POOL], env | {"ABS_MIRROR": mirror.url}, worker_log)
            )
            asyncio.run(check(env, work / "publication"))
            if worker.poll() is not None:
                raise CheckFailed(f"the worker exited with {worker.returncode}")
        except Exception as exc:
            say(f"FAILED: {exc}")
            if not isinstance(exc, CheckFailed):
                traceback.print_exc()
            for log in (work / "server.log", work / "worker.log"):
                if log.exists():
                    print(f"---- last lines of {log.name} ----\n" + "\n".join(log.read_text().splitlines()[-60:]))
            return 1
    shutil.rmtree(work, ignore_errors=True)  # kept for inspection only when the check failed
    say("deployment check passed (server, worker and mirror stopped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
