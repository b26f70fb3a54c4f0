"""'Show code' runs as shown: each snippet, with only the secret filled in, predicts against the reference server.

Each runs as a user would run it: a fresh process in a folder outside the repository; the curl
snippet in bash with a python3 that has nothing but its standard library.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEMO_BUCKET, IN_CI, SEED_TITANIC_ROW, TITANIC_PATH
from whatif.client import ModelClient
from whatif.server.embedded import EmbeddedServer
from whatif.snippets import SECRET_PLACEHOLDER, client_snippet, curl_snippet, python_snippet

ROOT = Path(__file__).resolve().parents[2]


def snippet_args(server: EmbeddedServer) -> tuple[Any, ...]:
    return server.predict_url, TITANIC_PATH, DEMO_BUCKET, [SEED_TITANIC_ROW], "1", "demo@example.com"


def user_environment(**extra: str) -> dict[str, str]:
    """The test's environment without anything that would find this repository's code for the snippet."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("WHATIF_API")}
    return {**env, **extra}


def filled_in(text: str, secret: str) -> str:
    """The snippet as a user runs it: the placeholder replaced by the secret, nothing else changed."""
    assert SECRET_PLACEHOLDER in text and secret not in text
    return text.replace(SECRET_PLACEHOLDER, secret)


@pytest.fixture()
def expected(client: ModelClient) -> dict[str, Any]:
    """The seed row's prediction, as the client gets it."""
    predictions = client.predict([SEED_TITANIC_ROW], TITANIC_PATH, DEMO_BUCKET).predictions
    return {
        "prediction": int(predictions["prediction"].iloc[0]),
        "probability_1": float(predictions["probability_1"].iloc[0]),
    }


def test_python_snippet_prints_the_prediction(server: EmbeddedServer, tmp_path: Path, expected: dict[str, Any]) -> None:
    script = tmp_path / "predict.py"
    script.write_text(filled_in(python_snippet(*snippet_args(server)), server.secret))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=user_environment(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    [record] = ast.literal_eval(done.stdout)
    assert record["prediction"] == expected["prediction"]
    assert record["probability_1"] == pytest.approx(expected["probability_1"])


def test_client_snippet_runs_outside_the_repository_once_the_project_is_installed(
    server: EmbeddedServer, tmp_path: Path, expected: dict[str, Any]
) -> None:
    text = client_snippet(*snippet_args(server))
    assert "pip install /path/to/this/repository" in text  # says how to get `whatif`
    script = tmp_path / "predict_with_client.py"
    script.write_text(filled_in(text, server.secret))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=user_environment(WHATIF_API_SECRET=server.secret),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "No module named 'whatif'" not in done.stderr, "install the project: pip install -e . (make test does)"
    assert done.returncode == 0, done.stderr
    header, values = (line.split() for line in done.stdout.strip().splitlines())  # a table of one row
    record = dict(zip(header, values, strict=True))
    assert set(SEED_TITANIC_ROW) <= record.keys(), done.stdout  # the inputs, then the prediction
    assert int(record["prediction"]) == expected["prediction"]
    assert float(record["probability_1"]) == pytest.approx(expected["probability_1"], abs=1e-6)


@pytest.fixture()
def stdlib_only_python3(tmp_path: Path) -> str:
    """A PATH whose ``python3`` has only the standard library (no PyJWT), then the usual PATH (curl, bash)."""
    if shutil.which("curl") is None:
        if IN_CI:
            pytest.fail("curl is missing: .ci/run installs it")
        pytest.skip("curl is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"
    python3.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')  # -S: no site-packages
    python3.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def run_bash(text: str, cwd: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", text], cwd=cwd, env=user_environment(PATH=path), capture_output=True, text=True, timeout=90
    )


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_curl_snippet_submits_polls_and_prints_the_result(
    server: EmbeddedServer, tmp_path: Path, stdlib_only_python3: str, expected: dict[str, Any]
) -> None:
    text = filled_in(curl_snippet(*snippet_args(server)), server.secret)
    done = run_bash(text, tmp_path, stdlib_only_python3)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    started, finished = json_lines(done.stdout)
    assert started["state"] == "STARTED" and finished["id"] == started["id"]
    assert finished["state"] == "SUCCESS", finished
    [record] = finished["result"]
    assert record["prediction"] == expected["prediction"]
    assert record["probability_1"] == pytest.approx(expected["probability_1"])


def test_curl_snippet_with_a_wrong_secret_prints_why_and_stops(
    server: EmbeddedServer, tmp_path: Path, stdlib_only_python3: str
) -> None:
    text = filled_in(curl_snippet(*snippet_args(server)), "not-the-secret-" * 3)
    done = run_bash(text, tmp_path, stdlib_only_python3)
    assert done.returncode == 0, done.stderr
    [answer] = json_lines(done.stdout)  # no task, so no polling
    assert "secret" in answer["detail"]
