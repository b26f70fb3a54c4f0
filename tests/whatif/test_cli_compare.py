"""``python -m whatif compare``, run as a user runs it: a subprocess with WHATIF_* variables, against the real
reference server (model B on the same API, or on a second one with its own secret)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.whatif.test_cli import ROOT
from whatif.analysis.runner import in_process_predict
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.registry import ModelRegistry
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, TITANIC_PATH, credit_frame

V1, V2 = CREDIT_PATHS
PAIR = ("--path", V1, "--bucket", DEMO_BUCKET, "--path-b", V2)


def compare(server: EmbeddedServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WHATIF_API")}
    environment.update(
        {
            "WHATIF_API_URL": server.predict_url,
            "WHATIF_API_SECRET": server.secret,
            "WHATIF_USER_ID": "1",
            "WHATIF_USER_EMAIL": "demo@example.com",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "whatif", "compare", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 applications with their true outcome (a column the command ignores)."""
    path = tmp_path_factory.mktemp("compare") / "applicants.csv"
    credit_frame().head(120).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def second_api(server: EmbeddedServer) -> Iterator[EmbeddedServer]:
    """Another API on the same models, with a secret of its own."""
    running = start_server(server.store, secret="another-api-secret-" + "x" * 24, workers=2)
    yield running
    running.stop()


def test_a_scenario_prints_both_answers_their_difference_and_the_sweep(server: EmbeddedServer) -> None:
    done = compare(
        server,
        *PAIR,
        "--data",
        '{"average_monthly_income": 1500, "employment_status": "Contract"}',
        "--sweep",
        "employment_status",
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["A: Credit approval · v1", "B: Credit approval · v2"]
    assert any(line.startswith("Difference (B - A) in P(approved): ") and line.endswith(" pts") for line in lines)
    assert "Sweep of employment_status:" in done.stdout and "Self-Employed" in done.stdout
    assert "in 2 task(s), sent together" in done.stderr
    assert server.secret not in done.stdout + done.stderr


def test_a_file_gives_agreement_and_a_confusion_matrix_equal_to_in_process_predictions(
    server: EmbeddedServer, rows_file: Path
) -> None:
    done = compare(server, *PAIR, "--file", str(rows_file), "--format", "json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["analysis"] == "compare_rows" and report["tasks"] == 2
    assert report["models"] == {"a": "Credit approval · v1", "b": "Credit approval · v2"}
    registry = ModelRegistry(server.store)
    request = credit_frame().head(120).drop(columns="approved")
    labels = {0: "rejected", 1: "approved"}
    class_a = in_process_predict(registry.load(DEMO_BUCKET, V1))(request)["prediction"].map(labels)
    class_b = in_process_predict(registry.load(DEMO_BUCKET, V2))(request)["prediction"].map(labels)
    assert report["facts"]["agreement"] == pytest.approx(float((class_a == class_b).mean()))
    expected = pd.crosstab(class_a, class_b)
    for cell in report["confusion"]:
        assert cell["rows"] == expected.get(cell["b_class"], {}).get(cell["a_class"], 0), cell
    assert len(report["disagreements"]) == 20 and len(report["summary"]) == 120
    assert len(report["rows"]) == 240, "every row sent to either model, with its answer"
    assert {row["side"] for row in report["rows"]} == {"A", "B"}


def test_the_table_of_a_file_has_the_matrix_and_the_rows_that_disagree_most(
    server: EmbeddedServer, rows_file: Path
) -> None:
    done = compare(server, *PAIR, "--file", str(rows_file))

    assert done.returncode == 0, done.stderr
    assert "agree on" in done.stdout and "Confusion matrix (rows: A's class, columns: B's class):" in done.stdout
    assert "Where they disagree most (the first 20):" in done.stdout


def test_model_b_on_another_api_with_its_own_secret(server: EmbeddedServer, second_api: EmbeddedServer) -> None:
    done = compare(
        server,
        *PAIR,
        "--data",
        "{}",
        "--url-b",
        second_api.predict_url,
        "--format",
        "json",
        WHATIF_API_SECRET_B=second_api.secret,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["facts"]["class_a"] in ("approved", "rejected") and report["tasks"] == 2
    assert second_api.secret not in done.stdout + done.stderr

    # B's own secret but a wrong one: B's API refuses it, in one sentence naming model B
    wrong = compare(
        server,
        *PAIR,
        "--data",
        "{}",
        "--url-b",
        second_api.predict_url,
        WHATIF_API_SECRET_B="not-the-secret-of-b-" + "y" * 20,
    )
    assert wrong.returncode == 1 and wrong.stderr.startswith(
        f"error: Model B ({V2}) cannot be read: the API answered 401"
    ), wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr


def test_mistakes_are_one_sentence_and_exit_1(server: EmbeddedServer, rows_file: Path) -> None:
    unknown = compare(server, *PAIR, "--data", '{"age": 30}')
    assert (
        unknown.returncode == 1
        and unknown.stderr == "error: 'age' is an input of neither model; leave it out of --data.\n"
    )
    kinds = compare(
        server, "--path", TITANIC_PATH, "--bucket", DEMO_BUCKET, "--path-b", "1/4/model-groups/3/1.json", "--data", "{}"
    )
    assert kinds.returncode == 1 and "same kind of answer" in kinds.stderr
    assert len(kinds.stderr.strip().splitlines()) == 1
    both = compare(server, *PAIR, "--file", str(rows_file), "--sweep", "order_amount")
    assert both.returncode == 1 and "--sweep goes with --data" in both.stderr
    usage = compare(server, "--path", V1, "--bucket", DEMO_BUCKET, "--data", "{}")
    assert usage.returncode == 2 and "--path-b" in usage.stderr


def test_model_b_on_another_api_without_its_own_secret_is_refused_before_any_request(server: EmbeddedServer) -> None:
    """A's secret must never sign a token sent to another server: nothing is sent, one sentence says what to give."""
    import socket
    import threading

    heard: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(5)

    def listen() -> None:
        try:
            conn, _ = listener.accept()
            heard.append(conn.recv(65536))
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    other = f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1/proxy/pipeline/model/predict"
    done = compare(server, *PAIR, "--url-b", other, "--data", "{}")
    listener.close()
    thread.join(5)
    assert done.returncode == 1 and "WHATIF_API_SECRET_B" in done.stderr
    assert not heard  # no request, so no token, reached the other server
