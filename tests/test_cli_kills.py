"""The real `abs-diag` command in a subprocess, killed: it stops promptly, says so, keeps the store and the
publication, and leaves no process behind (Prefect's temporary server included)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from storage.publication import Publication

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    """A Prefect home whose database is already migrated (a fresh one takes ~13 s at the first server start)."""
    home = tmp_path_factory.mktemp("prefect-home")
    subprocess.run([sys.executable, "-c", "import asyncio\nfrom prefect.server.database import "
                    "provide_database_interface\nasyncio.run(provide_database_interface().create_db())"],
                   env=_env(home), check=True, timeout=120, capture_output=True)
    return home


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ABS_"))}
    return env | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                  "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "INFO",  # the retry line says when to strike
                  "PYTHONPATH": str(REPO)}


class CutBody(BaseHTTPRequestHandler):
    """Announces 100 000 bytes, sends 10 and hangs up: a network error, retried by the refresh task after a
    long wait."""

    requests = 0

    def do_GET(self):  # noqa: N802
        type(self).requests += 1
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def cut_mirror():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CutBody)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root, except lock files, what a failed download leaves by design beside the raw
    file (`.rejected` bytes, a `.part`) and the pending area of a run killed before it could drop it."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in (".lock", ".readers", "manifest.json")
            and not p.name.endswith((".part", ".rejected"))
            and p.relative_to(root).parts[0] != "pending"}  # a killed run's area: the next refresh cleans it


def store_state(root: Path) -> tuple[dict, dict]:
    """The store's files and its manifest, without the failures it records (`last_failure`: the refresh
    records why a source failed, by design)."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    entries = {key: {k: v for k, v in record.items() if k != "last_failure"}
               for key, record in manifest.get("entries", {}).items()}
    return tree_hashes(root), entries


class Run:
    """The command in a subprocess; its stderr collected by a thread."""

    def __init__(self, args: list[str], home: Path, cwd: Path):
        self.process = subprocess.Popen([sys.executable, "-m", "flows.cli", *args], env=_env(home), cwd=cwd,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.ps = psutil.Process(self.process.pid)
        self.stderr = ""
        self.stdout = ""
        # both streams read by threads: a process left behind holding a pipe must fail the test, not hang it
        self._readers = [threading.Thread(target=self._read, args=(name,), daemon=True) for name in ("stdout", "stderr")]
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
            alive = [p for p in self.descendants.values() if _alive(p)]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)

    def kill_all(self) -> None:
        for p in [self.ps, *self.descendants.values()]:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.process.wait(timeout=10)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def store_and_publication(demo_store, tmp_path):
    """A copy of the demo store and a publication with one version, as a user would have them."""
    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    pub = Publication(tmp_path / "pub", "indicateurs")
    with pub.publishing({"flow": "test"}) as draft:
        (draft.path / "indicateurs-france.csv").write_text("code;valeur\nFR;1\n", encoding="utf-8")
    return data, pub


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_a_signal_during_a_retry_wait_stops_the_refresh_at_once_and_leaves_nothing_running(
        prefect_home, cut_mirror, store_and_publication, tmp_path, signum, code):
    data, pub = store_and_publication
    before = store_state(data), tree_hashes(pub.dir), pub.latest
    run = Run(["refresh", "--force", "--mirror", cut_mirror, "--data-dir", str(data), "--out", str(pub.root)],
              prefect_home, tmp_path)
    try:
        run.wait_for("next in", timeout=60)  # the downloader waits before its next attempt: "attempt 1/10, next in 0.5 s"
        assert any("uvicorn" in " ".join(p.cmdline()) for p in run.descendants.values())  # the temporary server
        sent = time.monotonic()
        run.process.send_signal(signum)
        assert run.finish(timeout=15) == code
        took = time.monotonic() - sent
    finally:
        if run.process.poll() is None:
            run.kill_all()
    assert took < 10, f"took {took:.1f} s to stop"
    assert run.survivors(within=10) == []
    assert not list(Path(tempfile.gettempdir()).glob(f"abs-diag-prefect-server-{run.process.pid}-*"))
    if signum != signal.SIGKILL:
        assert f"error: interrupted by {signal.Signals(signum).name}: stopped." in run.stderr
        assert "Traceback" not in run.stderr
    assert (store_state(data), tree_hashes(pub.dir), pub.latest) == before


def test_sigkill_of_a_report_leaves_no_prefect_server(prefect_home, demo_store, tmp_path):
    run = Run(["report", "--epci", "200029940", "--refresh", "never", "--data-dir", str(demo_store.root),
               "--out", str(tmp_path / "pub")], prefect_home, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not any("uvicorn" in " ".join(p.cmdline()) for p in run.descendants.values() if _alive(p)):
            assert run.process.poll() is None and time.monotonic() < deadline, run.stderr
            run.note_descendants()
            time.sleep(0.1)
        run.process.kill()
        assert run.finish(timeout=10) == -9
    finally:
        if run.process.poll() is None:
            run.kill_all()
    assert run.survivors(within=10) == []


def test_a_successful_report_prints_its_path_and_nothing_from_the_server(prefect_home, demo_store, tmp_path):
    run = Run(["report", "--epci", "200029940", "--refresh", "never", "--data-dir", str(demo_store.root),
               "--out", str(tmp_path / "pub")], prefect_home, tmp_path)
    try:
        assert run.finish(timeout=60) == 0, run.stderr
    finally:
        if run.process.poll() is None:
            run.kill_all()
    report = Publication(tmp_path / "pub", "territoires/epci-200029940").latest / "diagnostic-epci-200029940.html"
    assert run.stdout == f"{report}\n"
    assert "Traceback" not in run.stderr and "Error flushing" not in run.stderr
    assert run.survivors(within=5) == []
    assert not list(Path(tempfile.gettempdir()).glob(f"abs-diag-prefect-server-{run.process.pid}-*"))
