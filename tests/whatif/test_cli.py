"""The command line, run as a user runs it: a subprocess with WHATIF_* variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import DEMO_BUCKET, SEED_TITANIC_ROW, TITANIC_PATH
from whatif.server.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, server: EmbeddedServer | None = None, secret: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATIF_API")}
    if server is not None:
        env.update({"WHATIF_API_URL": server.predict_url, "WHATIF_API_SECRET": secret or server.secret,
                    "WHATIF_USER_ID": "1", "WHATIF_USER_EMAIL": "demo@example.com"})
    return subprocess.run([sys.executable, "-m", "whatif", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_predict_prints_predictions(server: EmbeddedServer) -> None:
    done = run_cli("predict", "--path", TITANIC_PATH, "--bucket", DEMO_BUCKET, "--data",
                   json.dumps([SEED_TITANIC_ROW]), "--format", "json", server=server)
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert records[0]["prediction"] in (0, 1) and "probability_1" in records[0]
    assert server.secret not in done.stdout + done.stderr


def test_predict_from_csv_file(server: EmbeddedServer, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("pclass,sex,age,sibsp,parch,fare,embarked\n0,0,29,0,0,211.3375,2\n2,1,40,0,0,7.25,2\n")
    done = run_cli("predict", "--path", TITANIC_PATH, "--bucket", DEMO_BUCKET, "--file", str(rows),
                   "--only-prediction", "--format", "csv", server=server)
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
