"""``python -m whatif models add|train``, run as a user runs them: a subprocess with WHATIF_* variables."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from whatif.schema_infer import feature_schema, prepare
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.samples import titanic_frame

ROOT = Path(__file__).resolve().parents[2]
TITANIC_CSV = ROOT / "whatif" / "server" / "data" / "titanic3.csv"
FEATURES = ["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A reference server on an empty store of this module's own."""
    running = start_server(tmp_path_factory.mktemp("cli-models-store"), build_samples=False, warm_up=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fitted model (skops and pickle), its JSON schema and its training CSV, as files."""
    folder = tmp_path_factory.mktemp("cli-models-files")
    frame = titanic_frame()
    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["survived"])
    out = {
        "skops": folder / "model.skops",
        "pickle": folder / "model.pkl",
        "schema": folder / "schema.json",
        "train": folder / "train.csv",
    }
    out["skops"].write_bytes(sio.dumps(model))
    out["pickle"].write_bytes(pickle.dumps(model))
    out["schema"].write_text(
        json.dumps(feature_schema(prepare(frame, "survived", FEATURES), target="survived").to_dict())
    )
    frame.to_csv(out["train"], index=False)
    return out


def run_cli(*args: str, server: EmbeddedServer, user_id: str = "1") -> subprocess.CompletedProcess[str]:
    """``python -m whatif ARGS`` against ``server``, as ``user_id``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATIF_API")}
    env.update(
        {
            "WHATIF_API_URL": server.predict_url,
            "WHATIF_API_SECRET": server.secret,
            "WHATIF_USER_ID": user_id,
            "WHATIF_USER_EMAIL": "demo@example.com",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "whatif", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_models_add_saves_a_new_model_then_a_version_and_models_still_lists_them(
    server: EmbeddedServer, files: dict[str, Path]
) -> None:
    first = run_cli("models", "add", "--model", str(files["skops"]), "--schema", str(files["schema"]),
                    "--name", "CLI model", server=server)  # fmt: skip
    assert first.returncode == 0, first.stderr
    path = re.search(r"--path (\S+) --bucket storage\.datrics\.ai", first.stdout)
    assert (
        path is not None
        and "Saved 'CLI model' version 1 (classification, target survived, 7 feature(s))" in first.stdout
    )

    second = run_cli("models", "add", "--model", str(files["skops"]), "--schema", str(files["train"]),
                     "--target", "survived", "--version-of", path.group(1), "--format", "json",
                     server=server)  # fmt: skip
    assert second.returncode == 0, second.stderr
    saved = json.loads(second.stdout)
    assert (saved["version"], saved["name"], saved["path"]) == (
        2,
        "CLI model",
        path.group(1).replace("/1.json", "/2.json"),
    )

    listed = run_cli("models", server=server)
    assert listed.returncode == 0, listed.stderr
    assert "CLI model" in listed.stdout and "  v1  " in listed.stdout and "  v2  " in listed.stdout
    assert server.secret not in first.stdout + first.stderr + second.stdout + listed.stdout


def test_models_train_prints_where_the_model_is_and_its_metrics_against_the_baseline(server: EmbeddedServer) -> None:
    done = run_cli("models", "train", "--file", str(TITANIC_CSV), "--target", "survived",
                   "--features", ",".join(FEATURES), "--kind", "pclass=category", "--name", "Titanic (CLI)",
                   server=server)  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert re.search(r"--path \d+/\d+/model-groups/\d+/1\.json --bucket storage\.datrics\.ai", done.stdout)
    assert "trained on 1,047 rows, measured on 262 held-out rows" in done.stdout
    for metric in ("accuracy", "roc_auc", "log_loss"):
        line = next(line for line in done.stdout.splitlines() if line.strip().startswith(metric))
        assert "vs baseline" in line and line.endswith("(better)"), line
    assert re.search(r"training task [0-9a-f-]+: done \(100%\)", done.stderr)  # the stages as they go


def test_refusals_and_failed_trainings_exit_1_with_one_sentence(
    server: EmbeddedServer, files: dict[str, Path], tmp_path: Path
) -> None:
    pickled = run_cli("models", "add", "--model", str(files["pickle"]), "--schema", str(files["schema"]),
                      "--name", "Pickled", server=server)  # fmt: skip
    one_class = tmp_path / "one_class.csv"
    pd.read_csv(TITANIC_CSV, na_values="?").assign(survived=0).to_csv(one_class, index=False)
    failed = run_cli("models", "train", "--file", str(one_class), "--target", "survived", "--features", "sex,age",
                     "--name", "Nothing to learn", server=server)  # fmt: skip
    missing = run_cli("models", "train", "--file", str(TITANIC_CSV), "--target", "survival", "--name", "Typo",
                      server=server)  # fmt: skip

    assert pickled.returncode == 1 and pickled.stdout == ""
    last_line = pickled.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: The API answered 422 Unprocessable Entity: The model file is a pickle, ")
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        "error: Training failed: The target 'survived' has only one value (0), so there is nothing to learn; "
        "pick another target or add rows with other values."
    )
    assert missing.returncode == 1 and "The CSV has no column 'survival'; its columns are" in missing.stderr


def test_models_add_needs_a_name_or_a_version(server: EmbeddedServer, files: dict[str, Path]) -> None:
    done = run_cli("models", "add", "--model", str(files["skops"]), "--schema", str(files["schema"]), server=server)

    assert done.returncode == 2
    assert "one of the arguments --name --version-of is required" in done.stderr
