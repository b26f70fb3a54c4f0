"""The sample-rows extension: a few real held-out rows of a model, to start a what-if from.

Checked over real loopback HTTP with plain ``requests``: what comes back for each sample
model, the bounds of ``n``, the same refusals as the schema route, stores built before sample
rows existed (they get them at start), and models saved without rows (a 404 sentence).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import numpy as np
import pandas as pd
import pytest
import requests
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from whatif.client import ModelClient
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.registry import ModelRegistry, main
from whatif.server.samples import (
    CREDIT_PATHS,
    DEMO_BUCKET,
    DEMO_EMAIL,
    DEMO_USER,
    DIABETES_PATH,
    SAMPLE_PATHS,
    SAMPLE_ROW_COUNT,
    TITANIC_PATH,
    credit_frame,
    diabetes_data,
    ensure_sample_models,
    titanic_frame,
)

TIMEOUT_S = 10
SAMPLE_URL_PATH = "/api/v1/proxy/pipeline/model/sample"
REPO_ROOT = Path(__file__).resolve().parents[3]
TINY = FeatureSchema(
    (Feature("x1", "number", 0, 1, 0.5), Feature("x2", "number", 0, 1, 0.5)),
    name="Tiny",
    task="classification",
    target="y",
    classes=(0, 1),
)
TINY_ROWS = pd.DataFrame({"x1": [0.9, 0.1, 0.7], "x2": [0.2, 0.4, 0.8], "y": [1, 0, 1]})
# user 1's own models in another project of the upgraded store
SAVED_WITHOUT_ROWS = "1/5/model-groups/1/1.json"
SAVED_WITH_ROWS = "1/5/model-groups/2/1.json"
ROWS_LINKED_OUTSIDE = "1/5/model-groups/3/1.json"


def mint(secret: str, user_id: str = DEMO_USER) -> dict[str, str]:
    return {
        "authorization": "Bearer " + jwt.encode({"userId": user_id, "email": DEMO_EMAIL}, secret, algorithm="HS256")
    }


def sample(
    server: EmbeddedServer,
    path: str | None = TITANIC_PATH,
    *,
    n: Any = None,
    bucket: str = DEMO_BUCKET,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """GET the sample-rows route as the demo user (unless ``headers`` say otherwise)."""
    params = {k: v for k, v in (("path", path), ("bucket", bucket), ("n", n)) if v is not None}
    return requests.get(
        server.origin + SAMPLE_URL_PATH,
        params=params,
        headers=mint(server.secret) if headers is None else headers,
        timeout=TIMEOUT_S,
    )


def rows_of(server: EmbeddedServer, path: str = TITANIC_PATH, n: Any = None) -> dict[str, Any]:
    response = sample(server, path, n=n)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def schema_of(server: EmbeddedServer, path: str) -> FeatureSchema:
    response = requests.get(
        server.origin + "/api/v1/proxy/pipeline/model/schema",
        params={"path": path, "bucket": DEMO_BUCKET},
        headers=mint(server.secret),
        timeout=TIMEOUT_S,
    )
    assert response.status_code == 200, response.text
    return FeatureSchema.from_dict(response.json())


def source_data(path: str) -> pd.DataFrame:
    """The whole table a sample model was made from: request columns and the true target."""
    if path == TITANIC_PATH:
        return titanic_frame()
    if path in CREDIT_PATHS:
        return credit_frame()
    x, y = diabetes_data()
    return x.assign(progression=y)


def as_keys(frame: pd.DataFrame) -> set[tuple[float, ...]]:
    return set(map(tuple, frame.to_numpy(dtype=float).round(6).tolist()))


def stored_rows(store: Path) -> dict[str, bytes]:
    return {p.relative_to(store).as_posix(): p.read_bytes() for p in sorted(store.rglob("*.samples.jsonl"))}


# ---- what comes back ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", SAMPLE_PATHS)
def test_each_sample_model_gives_real_rows_of_its_schema_with_their_true_target(
    server: EmbeddedServer, path: str
) -> None:
    answer = rows_of(server, path, n=SAMPLE_ROW_COUNT)
    schema = schema_of(server, path)

    assert set(answer) == {"path", "bucket", "target", "available", "rows", "targets"}
    assert (answer["path"], answer["bucket"], answer["target"]) == (path, DEMO_BUCKET, schema.target)
    assert answer["available"] == len(answer["rows"]) == len(answer["targets"]) == SAMPLE_ROW_COUNT
    for row in answer["rows"]:
        assert list(row) == schema.input_columns, "a row is a request row: every input column, in order"
        assert schema.to_row(schema.from_row(row)) == row, "a row is valid as it is for the form"
    # each row with its target is a real row of the data the model was made from
    returned = pd.DataFrame(answer["rows"]).assign(**{schema.target: answer["targets"]})
    source = source_data(path)
    missing = as_keys(returned) - as_keys(source[[*schema.input_columns, schema.target]])
    assert not missing, f"{len(missing)} row(s) with their targets are not in the model's data: {missing}"


@pytest.mark.parametrize("path", SAMPLE_PATHS)
def test_sample_rows_predict_as_they_are_and_mostly_give_their_true_target(
    server: EmbeddedServer, client: ModelClient, path: str
) -> None:
    answer = rows_of(server, path, n=SAMPLE_ROW_COUNT)

    predicted = client.predict(answer["rows"], path, DEMO_BUCKET).predictions["prediction"].to_numpy()

    truth = np.asarray(answer["targets"])
    if path == DIABETES_PATH:
        metrics = requests.get(
            server.origin + "/api/v1/proxy/pipeline/model/schema",
            headers=mint(server.secret),
            params={"path": path, "bucket": DEMO_BUCKET},
            timeout=TIMEOUT_S,
        ).json()["metrics"]
        error = float(np.abs(predicted - truth).mean())
        assert error < 1.5 * metrics["mae"], f"mean error {error:.1f} on the sample rows, {metrics['mae']} on test"
    else:
        right = int((predicted == truth).sum())
        assert right > len(truth) / 2, f"only {right} of {len(truth)} sample rows predicted as their true class"


def test_credit_rows_send_the_employment_group_as_its_request_columns(server: EmbeddedServer) -> None:
    answer = rows_of(server, CREDIT_PATHS[0], n=SAMPLE_ROW_COUNT)
    group = schema_of(server, CREDIT_PATHS[0]).feature("employment_status")
    chosen = set()
    for row in answer["rows"]:
        assert "employment_status" not in row
        flags = [row[column] for column in group.columns.values()]
        assert set(flags) <= {0, 1} and sum(flags) <= 1, row
        chosen.add(next((label for label, column in group.columns.items() if row[column] == 1), group.none_label))
    assert len(chosen) >= 2, "twenty held-out applications hold more than one employment status"


# ---- n -----------------------------------------------------------------------------------------
def test_n_is_honoured_and_the_rows_are_the_same_each_time(server: EmbeddedServer) -> None:
    default, one, three, many = (rows_of(server, n=n) for n in (None, 1, 3, 50))
    assert len(default["rows"]) == 5 and len(default["targets"]) == 5
    assert len(one["rows"]) == 1
    assert len(many["rows"]) == many["available"] == SAMPLE_ROW_COUNT, "n above what is saved gives all there is"
    assert three["rows"] == many["rows"][:3] and three["targets"] == many["targets"][:3]
    assert rows_of(server, n=3) == three


@pytest.mark.parametrize("n", ["0", "51", "-1", "many"])
def test_n_outside_1_to_50_is_refused_with_a_sentence(server: EmbeddedServer, n: str) -> None:
    response = sample(server, n=n)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_parameter"
    assert "'n'" in response.json()["detail"]


# ---- the same refusals as the other routes -------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "bucket", "user_id", "status", "code", "mention"),
    [
        (TITANIC_PATH, DEMO_BUCKET, "2", 403, "not_your_model", "user 2"),
        ("2/4/model-groups/1/1.json", DEMO_BUCKET, DEMO_USER, 403, "not_your_model", "belongs to user 2"),
        ("1/4/model-groups/99/1.json", DEMO_BUCKET, DEMO_USER, 404, "model_not_found", "1/4/model-groups/99/1.json"),
        (TITANIC_PATH, "no-such-bucket", DEMO_USER, 404, "model_not_found", "no-such-bucket"),
        ("1/4/../../x.json", DEMO_BUCKET, DEMO_USER, 400, "invalid_path", "'..'"),
        (None, DEMO_BUCKET, DEMO_USER, 400, "missing_parameter", "'path'"),
    ],
    ids=["another-users-token", "another-users-model", "unknown-model", "unknown-bucket", "dotdot", "no-path"],
)
def test_refusals_match_the_schema_route(
    server: EmbeddedServer, path: str | None, bucket: str, user_id: str, status: int, code: str, mention: str
) -> None:
    response = sample(server, path, bucket=bucket, headers=mint(server.secret, user_id))
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert mention in response.json()["detail"]
    assert "rows" not in response.json()


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer not-a-token"}], ids=["no-token", "bad-token"])
def test_no_rows_without_a_valid_token(server: EmbeddedServer, headers: dict[str, str]) -> None:
    response = sample(server, headers=headers)
    assert response.status_code == 401
    assert "rows" not in response.json()


def test_the_openapi_document_describes_the_answer_and_the_bounds_of_n(server: EmbeddedServer) -> None:
    document = requests.get(server.origin + "/openapi.json", timeout=TIMEOUT_S).json()
    operation = document["paths"][SAMPLE_URL_PATH]["get"]
    n = next(p for p in operation["parameters"] if p["name"] == "n")
    assert (n["schema"]["minimum"], n["schema"]["maximum"], n["schema"]["default"]) == (1, 50, 5)
    answer_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    answer = document["components"]["schemas"][answer_ref.rsplit("/", 1)[1]]
    assert set(answer["required"]) == {"path", "bucket", "target", "available", "rows", "targets"}


# ---- stores built before sample rows, and models saved without them ----------------------------------
@pytest.fixture(scope="module")
def old_store(server: EmbeddedServer, model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample store as an earlier version left it (no sample rows), plus user 1's own models."""
    root = tmp_path_factory.mktemp("old-store")
    store = root / "store"
    shutil.copytree(model_store / DEMO_BUCKET, store / DEMO_BUCKET)
    for file in store.rglob("*.samples.jsonl"):
        file.unlink()
    registry = ModelRegistry(store)
    fitted = LogisticRegression().fit(TINY_ROWS[["x1", "x2"]], TINY_ROWS["y"])
    for name, rows in (("Without rows", None), ("With rows", TINY_ROWS), ("Rows linked outside", TINY_ROWS)):
        registry.save(fitted, TINY, bucket=DEMO_BUCKET, user=DEMO_USER, project="5", name=name, sample_rows=rows)
    linked = registry.sample_rows_file(DEMO_BUCKET, ROWS_LINKED_OUTSIDE)
    shutil.move(linked, root / "outside.samples.jsonl")
    linked.symlink_to(root / "outside.samples.jsonl")
    return store


@pytest.fixture(scope="module")
def upgraded_server(old_store: Path) -> Iterator[EmbeddedServer]:
    """The server of the new version started on the old store."""
    running = start_server(old_store)
    yield running
    running.stop()


def test_a_store_built_without_sample_rows_gets_them_without_a_rebuild(
    model_store: Path, server: EmbeddedServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(model_store / DEMO_BUCKET, store / DEMO_BUCKET)
    for file in store.rglob("*.samples.jsonl"):
        file.unlink()
    models_before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in store.rglob("*.skops")}

    assert ensure_sample_models(ModelRegistry(store)) == [], "no sample model is rebuilt"

    assert stored_rows(store) == stored_rows(model_store), "the rows added are those a fresh store has"
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in store.rglob("*.skops")} == models_before


def test_a_complete_store_is_checked_without_loading_scikit_learn(model_store: Path, server: EmbeddedServer) -> None:
    script = (
        "import sys; from whatif.server.registry import ModelRegistry; "
        "from whatif.server.samples import ensure_sample_models; "
        f"print(ensure_sample_models(ModelRegistry({str(model_store)!r})), 'sklearn' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATIF_")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "False"], "a store with every sample and its rows must start fast"


def test_an_upgraded_store_answers_sample_rows_at_once(upgraded_server: EmbeddedServer) -> None:
    for path in SAMPLE_PATHS:
        assert len(rows_of(upgraded_server, path)["rows"]) == 5, path


def test_a_model_saved_without_rows_says_so_in_a_sentence(upgraded_server: EmbeddedServer) -> None:
    response = sample(upgraded_server, SAVED_WITHOUT_ROWS)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "no_sample_rows"
    assert response.json()["detail"] == (
        f"Model '{SAVED_WITHOUT_ROWS}' has no sample rows saved (it was saved "
        "without them); start from its defaults instead."
    )


def test_a_model_saved_with_rows_gives_them_and_their_targets(upgraded_server: EmbeddedServer) -> None:
    answer = rows_of(upgraded_server, SAVED_WITH_ROWS, n=10)
    assert answer["rows"] == [{"x1": 0.9, "x2": 0.2}, {"x1": 0.1, "x2": 0.4}, {"x1": 0.7, "x2": 0.8}]
    assert (answer["targets"], answer["target"], answer["available"]) == ([1, 0, 1], "y", 3)


def test_sample_rows_linked_from_outside_the_store_are_refused(upgraded_server: EmbeddedServer) -> None:
    response = sample(upgraded_server, ROWS_LINKED_OUTSIDE)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_path" and "outside" in response.json()["detail"]


# ---- saving sample rows ------------------------------------------------------------------------------
def test_a_version_saved_again_without_rows_does_not_keep_the_old_rows(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    fitted = LogisticRegression().fit(TINY_ROWS[["x1", "x2"]], TINY_ROWS["y"])
    saved = registry.save(fitted, TINY, bucket=DEMO_BUCKET, user="1", project="4", name="Tiny", sample_rows=TINY_ROWS)
    assert registry.has_sample_rows(DEMO_BUCKET, saved["path"])
    registry.save(fitted, TINY, bucket=DEMO_BUCKET, user="1", project="4", group="1", version=1)
    assert not registry.has_sample_rows(DEMO_BUCKET, saved["path"]), "the rows of the model it replaced"


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        (TINY_ROWS.drop(columns="x2"), "Sample row 0 does not fit the model's schema (x2: is missing)"),
        (TINY_ROWS.assign(note="a"), "Sample row 0 has the column 'note', which is neither an input"),
        (
            TINY_ROWS.assign(x1=[0.5, float("nan"), 0.1]),
            "Sample row 1 does not fit the model's schema (x1: must be a finite number",
        ),
        (TINY_ROWS.head(0), "The sample rows are empty"),
    ],
)
def test_rows_that_do_not_fit_the_schema_are_refused_when_saving(tmp_path: Path, rows: pd.DataFrame, said: str) -> None:
    registry = ModelRegistry(tmp_path)
    fitted = LogisticRegression().fit(TINY_ROWS[["x1", "x2"]], TINY_ROWS["y"])
    with pytest.raises(ValueError, match=re.escape(said)):
        registry.save(fitted, TINY, bucket=DEMO_BUCKET, user="1", project="4", name="Tiny", sample_rows=rows)
    assert registry.list_models() == [], "nothing is saved"


def test_the_command_line_saves_sample_rows_from_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_file, schema_file, rows_file = tmp_path / "m.skops", tmp_path / "schema.json", tmp_path / "rows.csv"
    sio.dump(LogisticRegression().fit(TINY_ROWS[["x1", "x2"]], TINY_ROWS["y"]), model_file)
    schema_file.write_text(json.dumps(TINY.to_dict()))
    TINY_ROWS.to_csv(rows_file, index=False)

    assert (
        main(
            [
                "--store",
                str(tmp_path / "store"),
                "save",
                "--model",
                str(model_file),
                "--schema",
                str(schema_file),
                "--bucket",
                DEMO_BUCKET,
                "--user",
                "1",
                "--project",
                "4",
                "--name",
                "Tiny",
                "--sample-rows",
                str(rows_file),
            ]
        )
        == 0
    ), capsys.readouterr().err

    saved = ModelRegistry(tmp_path / "store").sample_rows(DEMO_BUCKET, "1/4/model-groups/1/1.json")
    assert (saved.rows[1], saved.targets) == ({"x1": 0.1, "x2": 0.4}, [1, 0, 1])
