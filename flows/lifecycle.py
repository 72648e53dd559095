"""How an `abs-diag` command that runs flows lives and dies.

- **Prefect's temporary server is our child.** Left to itself, Prefect starts its ephemeral API server as a plain
  subprocess and stops it from an `atexit` hook: a killed command (SIGKILL, or SIGTERM while a thread sleeps in a
  retry wait) leaves it running. `prefect_server()` starts the same server (`uvicorn` on Prefect's app factory, as
  `prefect.server.api.server.SubprocessASGIServer` does) with `PR_SET_PDEATHSIG`, so the kernel stops it when the
  command dies however it dies, and points `PREFECT_API_URL` at it. Its console output (uvicorn, and the
  "Error flushing events" tracebacks its services log when stopped with events in flight) goes to an anonymous
  temporary file (nothing left behind, even after SIGKILL), written out and named only when the server failed. A configured `PREFECT_API_URL` (a real server, the test
  harness) is used as it is.
- **SIGTERM and SIGINT stop the command within seconds.** The signal raises `Interrupted` in the main thread, so a
  run sets its draft aside; worker threads may sleep in a retry wait for minutes, so a watcher thread, woken by the
  signal itself (`signal.set_wakeup_fd`, which works even while the main thread is in a long C call), ends the
  process after `GRACE_SECONDS` whatever is left. Every write of the store and of a publication is atomic, and
  locks are `flock`s released by the kernel, so a hard stop loses nothing: at worst a draft is left, and the next
  publication sets it aside.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

GRACE_SECONDS = 5.0  # after a signal: time for the run to set its draft aside before the process ends anyway
SERVER_STOP_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Interrupted(BaseException):
    """SIGTERM or SIGINT reached the command (a BaseException, like KeyboardInterrupt: nothing may swallow it)."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class ServerFailed(RuntimeError):
    pass


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum


def interrupted_message(signum: int) -> str:
    return (
        f"interrupted by {signal.Signals(signum).name}: stopped. Staged tables and published versions are "
        "intact; an unfinished publication draft is set aside by the next run."
    )


# -- the temporary Prefect server ------------------------------------------------------------------------------


class Server:
    """Prefect's API server in a child process that dies with this one."""

    def __init__(self) -> None:
        self.log = tempfile.TemporaryFile()  # unlinked already: gone with the last descriptor, however we die
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for _ in range(5):  # another process may take the free port between our check and uvicorn's bind
            self.port = _free_port()
            self.process = process = self._spawn()
            if self._wait_healthy(process, deadline):
                return
            if process.returncode != 3:  # uvicorn's exit code when the port is taken
                break
        self.kill()
        raise ServerFailed(
            f"Prefect's temporary server did not start within {timeout:.0f} s "
            f"(exit code {process.returncode}); its log: {self.keep_log()}\n{self.log_tail()}"
        )

    def _spawn(self) -> subprocess.Popen:
        import prefect
        from prefect.settings import get_current_settings

        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        env.pop("PREFECT_API_URL", None)
        app = ["--app-dir", str(prefect.__module_path__.parent), "--factory", "prefect.server.api.server:create_app"]
        options = ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        command = [sys.executable, "-m", "uvicorn", *app, *options]
        # its own session: a Ctrl-C in the terminal reaches the command, which stops the server in order
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )

    def _wait_healthy(self, process: subprocess.Popen, deadline: float) -> bool:
        import urllib.request  # here: http.client and ssl took ~40 ms of commands that start no server

        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), SIGKILL if it is still there after SERVER_STOP_SECONDS."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=SERVER_STOP_SECONDS)

    def log_text(self) -> str:
        try:
            self.log.seek(0)
            return self.log.read().decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def keep_log(self) -> Path:
        """The server's output written to a named file, for a user to read."""
        handle, name = tempfile.mkstemp(prefix=f"abs-diag-prefect-server-{os.getpid()}-", suffix=".log")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(self.log_text())
        return Path(name)


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent(parent: int):
    """A `preexec_fn` asking the kernel to send SIGTERM to the child when its parent dies (Linux); a no-op
    elsewhere. If the parent died before the request took effect, the child exits at once."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _needs_own_server() -> bool:
    """No API configured and Prefect would start its ephemeral server: we start it instead."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    return settings.api.url is None and settings.server.ephemeral.enabled


@contextlib.contextmanager
def prefect_server() -> Iterator[Server | None]:
    """Prefect's temporary server as our child, `PREFECT_API_URL` pointing at it, for the duration of the block
    (None when an API URL is configured: that server is used)."""
    if not _needs_own_server():
        yield None
        return
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

    server = Server()
    try:
        server.start(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
        previous = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = server.api_url  # for the processes the run starts (local Dask workers)
        try:
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                yield server
                _drain_prefect_clients()  # the run's last events and logs reach the server before it stops
        finally:
            _restore_env("PREFECT_API_URL", previous)
    finally:
        failed = server.died()
        server.stop()
        if failed:
            print(f"Prefect's temporary server stopped during the run; its log: {server.keep_log()}", file=sys.stderr)
        server.log.close()


def _drain_prefect_clients() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=5)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


# -- signals ---------------------------------------------------------------------------------------------------


class _Watcher:
    """Woken by the signal itself; ends the process GRACE_SECONDS later unless the main thread is done first."""

    def __init__(self, on_hard_exit):
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self.done = threading.Event()
        self.on_hard_exit = on_hard_exit
        self.thread = threading.Thread(target=self._watch, name="abs-diag-signal-watcher", daemon=True)

    def _watch(self) -> None:
        try:
            data = os.read(self.read_fd, 1)
        except OSError:
            return
        if not data or self.done.is_set():
            return
        signum = data[0]
        if not self.done.wait(GRACE_SECONDS):
            self.on_hard_exit(signum)

    def close(self) -> None:
        self.done.set()
        with contextlib.suppress(OSError):
            os.write(self.write_fd, b"\0")  # wakes the thread so that it returns
        self.thread.join(timeout=1)
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_on_signals(on_hard_exit) -> Iterator[None]:
    """SIGTERM and SIGINT raise `Interrupted` in the main thread; `on_hard_exit(signum)` is called from another
    thread if the block has not ended GRACE_SECONDS after the signal. Outside the main thread: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watcher = _Watcher(on_hard_exit)
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGTERM, signal.SIGINT)}
    previous_fd = signal.set_wakeup_fd(watcher.write_fd, warn_on_full_buffer=False)
    watcher.thread.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
        watcher.close()


def _hard_exit(signum: int) -> None:
    _say(interrupted_message(signum))
    os._exit(exit_code(signum))


def _say(message: str) -> None:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()


@contextlib.contextmanager
def command_session(server: bool = True) -> Iterator[None]:
    """Around a command that runs flows: our own temporary Prefect server (unless `server` is False: a local run,
    `flows.local`), and a prompt stop on SIGTERM/SIGINT (exit 128 + the signal, one line saying so, and no process
    left behind)."""
    server_box: list[Server | None] = [None]

    def hard_exit(signum: int) -> None:  # the run did not unwind in time (a thread in a retry wait, a C call)
        if server_box[0] is not None:
            server_box[0].kill()
        _hard_exit(signum)

    try:
        with stop_on_signals(hard_exit):
            with prefect_server() if server else contextlib.nullcontext() as running:
                server_box[0] = running
                yield
    except Interrupted as exc:
        # os._exit: worker threads of the run may sleep for minutes in a retry wait, and the interpreter would
        # join them at exit. Everything written is atomic; the server was stopped on the way out.
        _hard_exit(exc.signum)
