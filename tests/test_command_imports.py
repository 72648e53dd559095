"""What a command imports before it knows it needs it: a report downloads nothing, reads its settings without
pydantic-settings, and only a command that starts a Prefect server imports an HTTP client to wait for it (each of
those imports cost tens of milliseconds of every `abs-diag report` or `abs-diag indicators`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MODULES_OF_A_REPORT = (
    "flows.cli",
    "flows.local",
    "flows.steps",
    "reports.site",
    "sources.national",
    "sources.publishing",
    "sources.refresh",
    "storage.publication",
    "storage.settings",
    "storage.store",
    "transforms.pipeline",
)


def loaded_after_importing(modules: tuple[str, ...], names: tuple[str, ...]) -> list[str]:
    """Which of `names` a fresh interpreter holds once `modules` are imported."""
    code = f"import json, sys\nfor m in {modules!r}: __import__(m)\nprint(json.dumps([n for n in {names!r} if n in sys.modules]))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(run.stdout)


def test_the_modules_of_a_report_import_neither_the_downloader_nor_pydantic_settings():
    heavy = ("requests", "urllib3", "sources.download", "pydantic_settings", "asyncio")
    assert loaded_after_importing(MODULES_OF_A_REPORT, heavy) == []


def test_the_modules_of_indicators_import_no_http_client():
    """`abs-diag indicators` starts no Prefect server: `flows.lifecycle` imports urllib.request where it waits for
    one (the report's DOCX writer imports it anyway)."""
    modules = ("flows.cli", "flows.lifecycle", "transforms.indicator_exports", "transforms.series_export")
    assert loaded_after_importing(modules, ("urllib.request", "http.client", "ssl")) == []


def test_the_check_sees_a_module_that_imports_them():
    assert loaded_after_importing(("sources.download",), ("requests", "urllib3")) == ["requests", "urllib3"]


def os_threads_after_importing_numpy(env: dict[str, str]) -> int:
    """The threads of a fresh interpreter that imported `flows.cli`, then numpy (as a report does)."""
    code = "import os, flows.cli, numpy\nprint(len(os.listdir('/proc/self/task')))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return int(run.stdout)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in Linux's /proc")
def test_a_command_keeps_numpy_to_one_blas_thread_unless_told_otherwise():
    """numpy's OpenBLAS would start a thread per core that spins at import (0.1 s of CPU for no BLAS call)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert os_threads_after_importing_numpy(env) == 1
    if (os.cpu_count() or 1) > 1:  # the user's own setting is kept
        assert os_threads_after_importing_numpy({**env, "OPENBLAS_NUM_THREADS": "2"}) > 1


def test_a_command_does_not_look_for_pydantic_plugins_unless_told_to():
    """pydantic reads every installed package's metadata for plugins as its first model is made (about 12 ms)."""
    code = (
        "import flows.cli\nfrom pydantic.plugin import _loader\nfrom transforms.territories import Territory\n"
        "Territory(epci='200029940')\nprint(_loader._plugins is None)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    for value, looked_up in ((None, False), ("", True)):
        run = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=env if value is None else {**env, "PYDANTIC_DISABLE_PLUGINS": value},
        )
        assert run.stdout.strip() == str(not looked_up)


def test_a_malformed_territory_is_refused_before_polars_loads_or_a_picture_worker_is_forked(tmp_path):
    code = (
        "import atexit, json, os, runpy, sys\nforks = []\nos.register_at_fork(before=lambda: forks.append(1))\n"
        "atexit.register(lambda: print(json.dumps({'polars': 'polars' in sys.modules, 'forks': len(forks)})))\n"
        "sys.argv = ['abs-diag', 'report', '--epci', '123', '--data-dir', sys.argv[1], '--out', sys.argv[1]]\n"
        "runpy.run_module('flows.cli', run_name='__main__')"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2, run.stderr
    assert "not '123'" in run.stderr
    assert json.loads(run.stdout) == {"polars": False, "forks": 0}
