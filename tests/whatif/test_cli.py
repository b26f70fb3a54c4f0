"""The command line, run as a user runs it: a subprocess with WHATIF_* variables."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.conftest import DEMO_BUCKET, SEED_TITANIC_ROW, TITANIC_PATH
from whatif.client import JWTAuth
from whatif.profiles import short_secret_warning
from whatif.server.embedded import EmbeddedServer, start_server

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, server: EmbeddedServer | None = None, secret: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATIF_API")}
    if server is not None:
        env.update(
            {
                "WHATIF_API_URL": server.predict_url,
                "WHATIF_API_SECRET": secret or server.secret,
                "WHATIF_USER_ID": "1",
                "WHATIF_USER_EMAIL": "demo@example.com",
            }
        )
    return subprocess.run(
        [sys.executable, "-m", "whatif", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_predict_prints_predictions(server: EmbeddedServer) -> None:
    done = run_cli(
        "predict",
        "--path",
        TITANIC_PATH,
        "--bucket",
        DEMO_BUCKET,
        "--data",
        json.dumps([SEED_TITANIC_ROW]),
        "--format",
        "json",
        server=server,
    )
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert records[0]["prediction"] in (0, 1) and "probability_1" in records[0]
    assert server.secret not in done.stdout + done.stderr


def test_predict_from_csv_file(server: EmbeddedServer, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("pclass,sex,age,sibsp,parch,fare,embarked\n0,0,29,0,0,211.3375,2\n2,1,40,0,0,7.25,2\n")
    done = run_cli(
        "predict",
        "--path",
        TITANIC_PATH,
        "--bucket",
        DEMO_BUCKET,
        "--file",
        str(rows),
        "--only-prediction",
        "--format",
        "csv",
        server=server,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "prediction,probability_0,probability_1" and len(lines) == 3


def test_models_lists_versions(server: EmbeddedServer) -> None:
    done = run_cli("models", server=server)
    assert done.returncode == 0, done.stderr
    assert "Credit approval" in done.stdout and "v2" in done.stdout
    assert "--path 1/4/model-groups/2/2.json" in done.stdout


def test_wrong_secret_is_one_line_and_exit_1(server: EmbeddedServer) -> None:
    done = run_cli("models", server=server, secret="wrong-secret-wrong-secret-wrong-secret")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "secret" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_missing_settings_say_what_to_set() -> None:
    done = run_cli("models")
    assert done.returncode == 1 and "WHATIF_API_URL" in done.stderr


# ---- a short secret: said once, never a warning per token -------------------------------------
SHORT_SECRET = "short-secret"  # 12 bytes; HS256 wants 32


@pytest.fixture(scope="module")
def short_secret_server(server: EmbeddedServer) -> Iterator[EmbeddedServer]:
    """A reference server on the sample store whose API secret is too short."""
    running = start_server(server.store, secret=SHORT_SECRET, workers=1)
    yield running
    running.stop()


# the server runs in this process, where pytest has reset auth.py's filter of PyJWT's warning on each token checked
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_short_secret_is_said_once_on_stderr_and_the_prediction_still_runs(
    short_secret_server: EmbeddedServer,
) -> None:
    done = run_cli(
        "predict",
        "--path",
        TITANIC_PATH,
        "--bucket",
        DEMO_BUCKET,
        "--data",
        json.dumps([SEED_TITANIC_ROW]),
        "--format",
        "json",
        server=short_secret_server,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["prediction"] in (0, 1)
    assert done.stderr.count("shorter than 32 bytes") == 1, done.stderr
    assert done.stderr.startswith("warning: This secret is shorter than 32 bytes")
    assert "InsecureKeyLengthWarning" not in done.stderr  # PyJWT's own, once per token
    assert SHORT_SECRET not in done.stdout + done.stderr


def test_a_long_secret_gets_no_warning(server: EmbeddedServer) -> None:
    done = run_cli("models", server=server)
    assert done.returncode == 0, done.stderr
    assert "shorter than" not in done.stderr and "warning" not in done.stderr.lower(), done.stderr


def test_the_short_secret_sentence_says_what_to_do_and_spares_long_secrets() -> None:
    sentence = short_secret_warning(SHORT_SECRET)
    assert sentence is not None and "shorter than 32 bytes" in sentence and "system administrator" in sentence
    assert SHORT_SECRET not in sentence and str(len(SHORT_SECRET)) not in sentence
    assert short_secret_warning(secrets.token_urlsafe(32)) is None  # the demo API's kind of secret
    assert short_secret_warning("x" * 32) is None and short_secret_warning("") is None


def test_signing_with_a_short_secret_raises_no_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        token = JWTAuth(SHORT_SECRET, "1", "demo@example.com").token()
    assert [str(w.message) for w in caught] == []
    with warnings.catch_warnings():  # checking it with PyJWT would warn in turn
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        claims = jwt.decode(token, SHORT_SECRET, algorithms=["HS256"])  # still a valid HS256 token
    assert claims["userId"] == "1" and claims["email"] == "demo@example.com" and claims["exp"] > claims["iat"]


def test_the_server_checks_tokens_of_a_short_secret_without_a_warning_per_request() -> None:
    # in a process of its own: pytest resets warning filters set at import (auth.py's) around each test
    check = (
        f"from whatif.client import JWTAuth; from whatif.server.auth import authenticate\n"
        f"token = JWTAuth({SHORT_SECRET!r}, '1', 'demo@example.com').token()\n"
        f"for _ in range(3): assert authenticate('Bearer ' + token, {SHORT_SECRET!r}).id == '1'\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "InsecureKeyLengthWarning" not in done.stderr, done.stderr


# ---- predict: a large file goes in tasks of the server's row limit, with a progress line per task ----
def test_predict_splits_a_large_file_into_tasks_with_progress_on_stderr(server: EmbeddedServer, tmp_path: Path) -> None:
    import io

    import pandas as pd

    from whatif.server.registry import ModelRegistry, predict_frame
    from whatif.server.samples import titanic_frame

    frame = titanic_frame().drop(columns="survived")
    rows = pd.concat([frame] * 20, ignore_index=True).head(25_000)
    rows["age"] = (rows["age"] + (rows.index % 37) / 4).round(2)  # rows differ, so the order is checked
    path = tmp_path / "passengers.csv"
    rows.to_csv(path, index=False)
    done = run_cli(
        "predict",
        "--path",
        TITANIC_PATH,
        "--bucket",
        DEMO_BUCKET,
        "--file",
        str(path),
        "--only-prediction",
        "--format",
        "csv",
        server=server,
    )
    assert done.returncode == 0, done.stderr
    answers = pd.read_csv(io.StringIO(done.stdout))
    local = predict_frame(ModelRegistry(server.store).load(DEMO_BUCKET, TITANIC_PATH), rows)
    assert len(answers) == 25_000
    assert (answers["prediction"].to_numpy() == local["prediction"].to_numpy()).all()
    assert abs(answers["probability_1"].to_numpy() - local["probability_1"].to_numpy()).max() < 1e-9
    lines = done.stderr.strip().splitlines()
    assert [line.split(" · ")[:2] for line in lines] == [
        ["0 of 25,000 rows", "task 1 of 3"],
        ["10,000 of 25,000 rows", "task 2 of 3"],
        ["20,000 of 25,000 rows", "task 3 of 3"],
        ["25,000 of 25,000 rows", "done"],
    ]
    assert "left" in lines[1] and server.secret not in done.stdout + done.stderr


def test_predict_of_a_small_file_is_one_task_without_a_progress_line(server: EmbeddedServer, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("pclass,sex,age,sibsp,parch,fare,embarked\n0,0,29,0,0,211.3375,2\n")
    done = run_cli("predict", "--path", TITANIC_PATH, "--bucket", DEMO_BUCKET, "--file", str(rows), server=server)
    assert done.returncode == 0, done.stderr
    assert "task 1 of" not in done.stderr and "1 row(s), task " in done.stderr
