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
    env: Mapping[str, str],
    log_dir: Path,
    *,
    name: str = "api",
    port: int | None = None,
    backend: str = "celery",
    ready_s: float = 60,
) -> Process:
    """``python -m whatif.server --backend celery`` (or ``threads``) on a free port; returns once it answers."""
    port = port or free_port()
    command = [sys.executable, "-m", "whatif.server", "--backend", backend, "--port", str(port), "--log-level", "info"]
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


@dataclass
class LoadReport:
    """What ``drive_load`` saw: every task's latency, and every answer that was wrong."""

    tasks: int
    seconds: float
    latencies_s: list[float]
    lost: int  # no SUCCESS within the deadline, or an error answer
    crossed: int  # an answer whose rows are not the rows its client sent
    foreign_visible: int  # another user's token could read the task
    errors: list[str] = field(default_factory=list)

    @property
    def tasks_per_s(self) -> float:
        """Finished tasks per second of wall time."""
        return self.tasks / self.seconds if self.seconds else 0.0


def drive_load(
    predict_urls: list[str],
    secret: str,
    *,
    clients: int,
    per_client: int,
    path: str,
    bucket: str,
    row: Mapping[str, float],
    user_id: str = "1",
    other_user_id: str = "2",
    deadline_s: float = 120.0,
) -> LoadReport:
    """``clients`` threads, each making ``per_client`` one-row predictions through the API processes in turn.

    Each prediction is submitted to one API process and read (long poll) from the next, its row
    made unique by its ``fare`` (client and index), so a crossed answer shows; after each, a
    token of ``other_user_id`` must get 404 for it.
    """
    import threading

    import jwt

    def headers(user: str) -> dict[str, str]:
        token = jwt.encode({"userId": user, "email": "load@example.com"}, secret, algorithm="HS256")
        return {"authorization": f"Bearer {token}"}

    mine, foreign = headers(user_id), headers(other_user_id)
    lock = threading.Lock()
    report = LoadReport(tasks=0, seconds=0.0, latencies_s=[], lost=0, crossed=0, foreign_visible=0)

    def one(session: requests.Session, client: int, index: int) -> None:
        fare = round(1000 + client * 1000 + index + 0.25, 2)
        submit_url = predict_urls[(client + index) % len(predict_urls)]
        poll_url = predict_urls[(client + index + 1) % len(predict_urls)]
        started = time.monotonic()
        answer = session.post(
            submit_url, params={"path": path, "bucket": bucket}, json=[{**row, "fare": fare}], headers=mine, timeout=30
        )
        if answer.status_code != 200:
            with lock:
                report.lost += 1
                report.errors.append(f"submit {answer.status_code}: {answer.text[:200]}")
            return
        task_id = answer.json()["id"]
        body: dict[str, object] = {}
        while time.monotonic() - started < deadline_s:
            body = session.get(f"{poll_url}/info/{task_id}", params={"wait": 10}, headers=mine, timeout=30).json()
            if body.get("state") != "STARTED":
                break
        took = time.monotonic() - started
        other = session.get(f"{poll_url}/info/{task_id}", headers=foreign, timeout=30).status_code
        with lock:
            report.foreign_visible += other != 404
            result = body.get("result")
            if body.get("state") != "SUCCESS" or not isinstance(result, list) or len(result) != 1:
                report.lost += 1
                report.errors.append(f"task {task_id}: {str(body)[:200]}")
            elif result[0].get("fare") != fare:
                report.crossed += 1
            else:
                report.tasks += 1
                report.latencies_s.append(took)

    def client_loop(client: int) -> None:
        with requests.Session() as session:
            for index in range(per_client):
                one(session, client, index)

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.monotonic() - began
    return report
