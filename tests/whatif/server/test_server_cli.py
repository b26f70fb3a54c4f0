"""``python -m whatif.server``: refuses to start without a secret; ``--demo`` serves and says how to call it."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import jwt
import pytest
import requests

from tests.conftest import SEED_TITANIC_ROW
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH

REPO_ROOT = Path(__file__).resolve().parents[3]
PREDICT_PATH = "/api/v1/proxy/pipeline/model/predict"
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    """The environment without any WHATIF_* setting (a secret there would change the outcome)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATIF_")}
    env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    return env


def test_server_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "whatif.server", "--port", str(free_port()), "--store", str(tmp_path / "store")],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "secret" in done.stderr.lower() and "WHATIF_API_SECRET" in done.stderr, done.stderr
    assert not (tmp_path / "store").exists(), "nothing is built before the secret is checked"


class Output:
    """A child process's stdout, collected by a thread so the pipe never blocks the child."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self.text += line

    def wait_for(self, pattern: str, process: subprocess.Popen[str], timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                found = re.search(pattern, self.text)
            if found:
                return found
            assert process.poll() is None, f"the server exited with {process.returncode}:\n{self.text}"
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout_s} s in:\n{self.text}")


@pytest.fixture()
def demo_server(server: EmbeddedServer, model_store: Path) -> Iterator[tuple[subprocess.Popen[str], Output, int]]:
    """``python -m whatif.server --demo`` on the session's store (its samples are built already)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whatif.server",
            "--demo",
            "--port",
            str(port),
            "--store",
            str(model_store),
            "--log-level",
            "warning",
        ],
        cwd=REPO_ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process, Output(process), port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_listening(port: int, process: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {timeout_s} s")


def test_demo_server_prints_how_to_call_it_and_answers_the_seed_row(
    demo_server: tuple[subprocess.Popen[str], Output, int],
) -> None:
    process, output, port = demo_server
    url = f"http://127.0.0.1:{port}{PREDICT_PATH}"
    secret = output.wait_for(r"export WHATIF_API_SECRET=(\S+)", process, START_TIMEOUT_S).group(1)
    printed = output.text
    assert f"WHATIF_API_URL={url}" in printed
    assert "WHATIF_API_SECRET" in printed and TITANIC_PATH in printed and DEMO_BUCKET in printed

    wait_until_listening(port, process, START_TIMEOUT_S)
    token = jwt.encode({"userId": DEMO_USER, "email": DEMO_EMAIL}, secret, algorithm="HS256")
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json;charset=UTF-8"}
    created = requests.post(
        url,
        params={"path": TITANIC_PATH, "bucket": DEMO_BUCKET, "return_only_prediction": "False"},
        data=json.dumps([SEED_TITANIC_ROW]),
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 200, created.text
    answer = requests.get(f"{url}/info/{created.json()['id']}", params={"wait": 10}, headers=headers, timeout=20).json()
    assert answer["state"] == "SUCCESS", answer
    (record,) = answer["result"]
    assert record["prediction"] in (0, 1) and {k: record[k] for k in SEED_TITANIC_ROW} == SEED_TITANIC_ROW
