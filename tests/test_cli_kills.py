"""The real `abs-diag` command in a subprocess, killed: it stops promptly, says so, keeps the store and the
publication, and leaves no process behind (Prefect's temporary server included)."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cli_support import Run, is_alive, report_args

from storage.publication import Publication


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
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.name not in (".lock", ".readers", "manifest.json")
        and not p.name.endswith((".part", ".rejected"))
        and p.relative_to(root).parts[0] != "pending"
    }  # a killed run's area: the next refresh cleans it


def store_state(root: Path) -> tuple[dict, dict]:
    """The store's files and its manifest, without the failures it records (`last_failure`: the refresh
    records why a source failed, by design)."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    entries = {
        key: {k: v for k, v in record.items() if k != "last_failure"}
        for key, record in manifest.get("entries", {}).items()
    }
    return tree_hashes(root), entries


@pytest.fixture
def store_and_publication(demo_store, tmp_path):
    """A copy of the demo store and a publication with one version, as a user would have them."""
    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    pub = Publication(tmp_path / "pub", "indicateurs")
    with pub.publishing({"flow": "test"}) as draft:
        (draft.path / "indicateurs-france.csv").write_text("code;valeur\nFR;1\n", encoding="utf-8")
    return data, pub


# --flow: a Prefect flow run on the command's temporary server; without it, the same steps in the command's process
@pytest.mark.parametrize(
    "signum, code, flow",
    [
        (signal.SIGTERM, 143, True),
        (signal.SIGINT, 130, True),
        (signal.SIGKILL, -9, True),
        (signal.SIGTERM, 143, False),
        (signal.SIGKILL, -9, False),
    ],
)
def test_a_signal_during_a_retry_wait_stops_the_refresh_at_once_and_leaves_nothing_running(
    prefect_home, cut_mirror, store_and_publication, tmp_path, signum, code, flow
):
    data, pub = store_and_publication
    before = store_state(data), tree_hashes(pub.dir), pub.latest
    run = Run(
        ["refresh", "--force", "--mirror", cut_mirror, "--data-dir", str(data), "--out", str(pub.root)]
        + (["--flow"] if flow else []),
        prefect_home,
        tmp_path,
    )
    try:
        run.wait_for(
            "next in", timeout=60
        )  # the downloader waits before its next attempt: "attempt 1/10, next in 0.5 s"
        servers = any("uvicorn" in " ".join(p.cmdline()) for p in run.descendants.values())
        assert servers == flow  # the temporary server of a flow run; none for a local run
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
    run = Run(report_args(demo_store.root, tmp_path / "pub", "--flow"), prefect_home, tmp_path)
    run.kill_when(
        lambda: any("uvicorn" in " ".join(p.cmdline()) for p in run.descendants.values() if is_alive(p)), timeout=30
    )
    assert run.survivors(within=10) == []


@pytest.mark.parametrize("flow", [True, False])
def test_a_successful_report_prints_its_path_and_nothing_from_the_server(prefect_home, demo_store, tmp_path, flow):
    run = Run(report_args(demo_store.root, tmp_path / "pub", *(["--flow"] if flow else [])), prefect_home, tmp_path)
    try:
        assert run.finish(timeout=60) == 0, run.stderr
    finally:
        if run.process.poll() is None:
            run.kill_all()
    about = json.loads(
        (Publication(tmp_path / "pub", "territoires/epci-200029940").latest / "publication.json").read_text(
            encoding="utf-8"
        )
    )
    assert (about["flow_run_id"] is not None) == flow  # a flow run is recorded; a local run says so
    report = Publication(tmp_path / "pub", "territoires/epci-200029940").latest / "diagnostic-epci-200029940.html"
    assert run.stdout == f"{report}\n"
    assert "Traceback" not in run.stderr and "Error flushing" not in run.stderr
    assert run.survivors(within=5) == []
    assert not list(Path(tempfile.gettempdir()).glob(f"abs-diag-prefect-server-{run.process.pid}-*"))
