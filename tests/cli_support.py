"""The real `abs-diag` command in a subprocess, as a user runs it: its own Prefect home, its output collected, its
descendants (Prefect's temporary server) followed so that a test can kill it and check nothing survives."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def report_args(data_dir: Path, out: Path, *extra: str, epci: str = "200029940") -> list[str]:
    """`abs-diag report` of an EPCI from a staged store as it is (`--refresh never`), published under `out`."""
    return ["report", "--epci", epci, "--refresh", "never", "--data-dir", str(data_dir), "--out", str(out), *extra]


def migrated_prefect_home(home: Path) -> Path:
    """A Prefect home whose database is already migrated (a fresh one takes ~13 s at the first server start)."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import asyncio\nfrom prefect.server.database import "
            "provide_database_interface\nasyncio.run(provide_database_interface().create_db())",
        ],
        env=_env(home),
        check=True,
        timeout=120,
        capture_output=True,
    )
    return home


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ABS_"))}
    return env | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "INFO",  # the retry line says when to strike
        "PYTHONPATH": str(REPO),
    }


class Run:
    """The command in a subprocess; its stderr collected by a thread."""

    def __init__(self, args: list[str], home: Path, cwd: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", *args],
            env=_env(home),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ps = psutil.Process(self.process.pid)
        self.stderr = ""
        self.stdout = ""
        # both streams read by threads: a process left behind holding a pipe must fail the test, not hang it
        self._readers = [
            threading.Thread(target=self._read, args=(name,), daemon=True) for name in ("stdout", "stderr")
        ]
        for reader in self._readers:
            reader.start()
        self.descendants: dict[int, psutil.Process] = {}

    def _read(self, name: str):
        for line in getattr(self.process, name):
            setattr(self, name, getattr(self, name) + line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            self.note_descendants()
            assert self.process.poll() is None, f"ended before {text!r}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{self.stderr}"
            time.sleep(0.1)
        self.note_descendants()

    def note_descendants(self) -> None:
        try:
            for child in self.ps.children(recursive=True):
                self.descendants.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def survivors(self, within: float) -> list[psutil.Process]:
        """Descendants still alive `within` seconds after the command ended (a zombie counts as gone)."""
        deadline = time.monotonic() + within
        while True:
            alive = [p for p in self.descendants.values() if is_alive(p)]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)

    def kill_when(self, happened, timeout: float) -> None:
        """SIGKILL the command as soon as `happened()` is true (polled every 20 ms); it must still be running."""
        deadline = time.monotonic() + timeout
        try:
            while not happened():
                self.note_descendants()
                assert self.process.poll() is None, f"the command ended first:\n{self.stderr}"
                assert time.monotonic() < deadline, f"not reached within {timeout} s:\n{self.stderr}"
                time.sleep(0.02)
            self.process.kill()
            assert self.finish(timeout=15) == -9
        finally:
            if self.process.poll() is None:
                self.kill_all()

    def kill_all(self) -> None:
        for p in [self.ps, *self.descendants.values()]:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.process.wait(timeout=10)


def is_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
