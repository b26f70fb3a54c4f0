"""Start API processes, Celery workers and a Redis server as real processes on loopback.

For the tests and benchmarks that prove the pieces hold together on one machine (several API
processes, several workers, one Redis), and for trying the team set-up locally. Each process
runs in a session of its own, so stopping or killing it takes its children (a prefork worker's
pool) with it; its output goes to a log file that tests read.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    ready: Callable[[], bool],
    timeout_s: float,
    what: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once ``ready()`` is true; raise TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = clock() + timeout_s
    while not ready():
        if clock() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:g} s")
        sleep(0.05)


@dataclass
class Process:
    """A process started here, with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    origin: str = ""
    port: int = 0
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while it runs."""
        return self.popen.poll() is None

    def log(self) -> str:
        """Everything it has printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to its process group, then SIGKILL if it has not exited within ``timeout_s``."""
        self._signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to its whole process group (a crash: no clean-up runs), and wait for it."""
        self._signal(signal.SIGKILL)
        self.popen.wait(10)

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass


def _spawn(name: str, command: list[str], env: Mapping[str, str], log_dir: Path) -> Process:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    return Process(name=name, popen=popen, log_path=log_path, env=dict(env))


def start_api(
    env: Mapping[str, str], log_dir: Path, *, name: str = "api", port: int | None = None, ready_s: float = 60
) -> Process:
    """``python -m whatif.server --backend celery`` on a free port; returns once it answers."""
    port = port or free_port()
    command = [sys.executable, "-m", "whatif.server", "--backend", "celery", "--port", str(port), "--log-level", "info"]
    process = _spawn(name, command, env, log_dir)
    process.port, process.origin = port, f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if not process.alive():
            raise RuntimeError(f"API process {name} exited:\n{process.log()[-2000:]}")
        try:
            return requests.get(process.origin + "/openapi.json", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(answers, ready_s, f"API process {name} answering")
    return process


def start_worker(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    name: str = "worker",
    pool: str = "threads",
    concurrency: int = 2,
    ready_s: float = 60,
) -> Process:
    """``celery -A whatif.server.worker worker``; returns once it is ready to take tasks."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "whatif.server.worker",
        "worker",
        "--loglevel",
        "info",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--without-mingle",
        "--without-gossip",
    ]
    process = _spawn(name, command, env, log_dir)

    def ready() -> bool:
        if not process.alive():
            raise RuntimeError(f"worker {name} exited:\n{process.log()[-2000:]}")
        return " ready." in process.log()

    wait_until(ready, ready_s, f"worker {name} ready")
    return process


def start_redis(log_dir: Path, *, port: int | None = None, ready_s: float = 10) -> Process:
    """A Redis server of one's own (keeps nothing on disk), for tests that stop and restart it."""
    port = port or free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(log_dir)]
    process = _spawn(f"redis-{port}", command, {}, log_dir)
    process.port, process.origin = port, f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        if not process.alive():
            raise RuntimeError(f"redis-server exited:\n{process.log()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(answers, ready_s, "redis-server answering")
    return process
