"""Training a model from a CSV (POST /api/v1/models/train), on a real server over loopback, and on Celery workers.

Each server here has a model store of its own. Training titanic3 takes about a second.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from whatif.client import ModelClient, TrainingStatus
from whatif.errors import (
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    TaskFailed,
)
from whatif.protocol import TRAINING_STAGES
from whatif.schema import FeatureSchema
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.local_cluster import Process, start_api, start_worker
from whatif.server.registry import ModelRegistry
from whatif.server.tasks import TaskRunner, TrainingJob
from whatif.server.training import TrainingRequest, train_and_save

TITANIC_CSV = Path(__file__).resolve().parents[3] / "whatif" / "server" / "data" / "titanic3.csv"
SEED_FEATURES = ["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]
LOWER_IS_BETTER = {"log_loss", "mae", "rmse"}


@pytest.fixture(scope="module")
def titanic_csv() -> bytes:
    """titanic3 as a user would upload it (the project's copy of ../shared/data/titanic3.csv)."""
    return TITANIC_CSV.read_bytes()


@pytest.fixture(scope="module")
def diabetes_csv() -> bytes:
    """A regression CSV: scikit-learn's bundled diabetes data (no download), target 'progression'."""
    data = load_diabetes(as_frame=True, scaled=False)
    return data.data.assign(progression=data.target).to_csv(index=False).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A reference server on an empty store of this module's own."""
    running = start_server(tmp_path_factory.mktemp("training-store"), build_samples=False, warm_up=False)
    yield running
    running.stop()


def client_of(server: EmbeddedServer, user_id: str = "1") -> ModelClient:
    """A client of ``user_id``."""
    return ModelClient(server.predict_url, secret=server.secret, user_id=user_id, email=f"u{user_id}@example.com")


@pytest.fixture()
def client(server: EmbeddedServer) -> Iterator[ModelClient]:
    """A client of user 1."""
    with client_of(server) as c:
        yield c


@pytest.fixture()
def processes() -> Iterator[list[Process]]:
    """Every process a test starts goes here and is stopped (by its pid) after it."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


def snapshot(store: Path) -> dict[str, tuple[int, int]]:
    """Every file of the store with its size and modification time."""
    return {
        str(p.relative_to(store)): (p.stat().st_size, p.stat().st_mtime_ns) for p in store.rglob("*") if p.is_file()
    }


def beats_baseline(metrics: dict[str, float], baseline: dict[str, float]) -> list[str]:
    """The metrics in which the model is NOT better than the baseline (empty when it beats it in all)."""
    return [
        name
        for name, value in metrics.items()
        if not (value < baseline[name] if name in LOWER_IS_BETTER else value > baseline[name])
    ]


def test_titanic_trains_better_than_the_majority_class_and_its_schema_builds_the_what_if_form(
    client: ModelClient, titanic_csv: bytes
) -> None:
    seen: list[TrainingStatus] = []
    saved = client.train(
        titanic_csv, "survived", features=SEED_FEATURES, name="Titanic (trained)", on_progress=seen.append
    )

    assert set(saved.metrics) == {"accuracy", "roc_auc", "log_loss"} == set(saved.baseline)
    assert beats_baseline(saved.metrics, saved.baseline) == []
    assert saved.metrics["roc_auc"] > 0.8 and saved.baseline["roc_auc"] == 0.5
    assert (saved.rows_trained, saved.rows_held_out) == (1047, 262)  # 20% of 1,309 held out
    assert saved.path == "1/1/model-groups/1/1.json" and saved.version == 1 and saved.task == "classification"
    assert seen[-1].state == "SUCCESS" and seen[-1].progress == 1.0 and seen[-1].stage == "done"
    assert all(s.stage in TRAINING_STAGES and 0 <= s.progress <= 1 for s in seen)
    # the what-if form: built from the saved schema; its defaults and a typed label predict
    schema = client.schema(saved.path, saved.bucket)
    assert FeatureSchema.from_dict(schema.to_dict()) == schema
    assert schema.feature("sex").labels == {"0": "female", "1": "male"}
    assert schema.feature("embarked").labels == {"0": "C", "1": "Q", "2": "S"}
    assert set(schema.feature("age").quantiles) == {"p05", "p25", "p50", "p75", "p95"}
    row = schema.to_row({**schema.defaults(), "sex": "female", "pclass": 1})
    answer = client.predict([row], saved.path, saved.bucket).predictions
    assert 0 <= answer.loc[0, "probability_1"] <= 1
    # "Real row": held-out passengers with their true fate, sendable as they are
    real = client.sample_rows(saved.path, saved.bucket, n=5)
    assert len(real.rows) == 5 and set(real.targets) <= {0, 1} and real.target == "survived"
    assert len(client.predict(real.rows, saved.path, saved.bucket).predictions) == 5


def test_a_regression_csv_beats_the_mean_and_a_second_version_joins_the_first(
    client: ModelClient, diabetes_csv: bytes
) -> None:
    first = client.train(diabetes_csv, "progression", name="Diabetes (trained)")
    second = client.train(diabetes_csv, "progression", version_of=first.path, features=["bmi", "bp", "s5"])

    assert first.task == "regression" and set(first.metrics) == {"r2", "mae", "rmse"}
    assert beats_baseline(first.metrics, first.baseline) == [] and first.metrics["r2"] > 0.2
    assert (second.group, second.version, second.name) == (first.group, 2, "Diabetes (trained)")
    assert second.features == ("bmi", "bp", "s5")
    (model,) = [m for m in client.list_models() if m.group == first.group]
    versions = zip(model.versions, (first, second), strict=True)
    assert [(v.version, v.rows_trained, v.baseline == b.baseline) for v, b in versions] == [
        (1, 353, True),
        (2, 353, True),
    ]


def test_kinds_and_task_can_be_set_and_a_category_keeps_its_values_as_labels(
    client: ModelClient, titanic_csv: bytes
) -> None:
    saved = client.train(
        titanic_csv,
        "pclass",
        features=["sex", "age", "fare", "survived"],
        kinds={"survived": "category"},
        task="classification",
        name="Class from fare",
    )
    schema = client.schema(saved.path, saved.bucket)

    assert schema.classes == (1, 2, 3) and schema.feature("survived").labels == {"0": "0", "1": "1"}
    assert beats_baseline(saved.metrics, saved.baseline) == []  # a multiclass ROC AUC (one-vs-rest) too


BROKEN = {
    "a target with one class": (
        lambda csv: pd.read_csv(TITANIC_CSV, na_values="?").assign(survived=1).to_csv(index=False).encode(),
        "The target 'survived' has only one value (1), so there is nothing to learn; pick another target or add rows "
        "with other values.",
    ),
    "rows that do not parse": (
        lambda csv: b"pclass,sex,survived\n1,male,0\n2,female,1,extra,fields\n" + b"3,male,0\n" * 30,
        "The CSV cannot be read as a table (Error tokenizing data. C error: Expected 3 fields in line 3, saw 5); "
        "check its separators and quotes.",
    ),
    "a text feature set to number": (
        lambda csv: csv,
        "Feature 'sex' holds text ('female'), so it cannot be a number; make it a category.",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_csv_that_cannot_be_trained_on_ends_in_failure_with_a_sentence_and_saves_nothing(
    case: str, server: EmbeddedServer, client: ModelClient, titanic_csv: bytes
) -> None:
    make_csv, sentence = BROKEN[case]
    kinds = {"sex": "number"} if case == "a text feature set to number" else None
    before = snapshot(server.store)

    with pytest.raises(TaskFailed) as info:
        client.train(make_csv(titanic_csv), "survived", features=["pclass", "sex"], kinds=kinds, name="Broken")

    assert info.value.state == "FAILURE" and info.value.detail == sentence
    assert str(info.value) == f"Training failed: {sentence}"
    assert snapshot(server.store) == before


REFUSED_AT_ONCE = {
    "no such target": (
        BadRequestError,
        {"target": "survival", "name": "X"},
        "The CSV has no column 'survival'; its columns are 'pclass', 'survived', 'name'",
    ),
    "no such feature": (
        BadRequestError,
        {"target": "survived", "features": ["pclass", "deck"], "name": "X"},
        "The CSV has no column 'deck'",
    ),
    "a kind that is none": (
        BadRequestError,
        {"target": "survived", "kinds": {"sex": "text"}, "name": "X"},
        "The kinds are not a JSON object of features and kinds (number, integer, category, boolean)",
    ),
    "both a name and a version": (
        BadRequestError,
        {"target": "survived", "name": "X", "version_of": "1/1/model-groups/1/1.json"},
        "The form must give a name (to save a new model) or version_of",
    ),
    "a version of no model": (
        NotFoundError,
        {"target": "survived", "version_of": "1/1/model-groups/77/1.json"},
        "Model not found: no model at path '1/1/model-groups/77/1.json'",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_AT_ONCE))
def test_what_can_be_seen_at_once_is_refused_at_submit(
    case: str, server: EmbeddedServer, client: ModelClient, titanic_csv: bytes
) -> None:
    error, fields, sentence = REFUSED_AT_ONCE[case]
    before = snapshot(server.store)

    with pytest.raises(error) as info:
        client.start_training(titanic_csv, **fields)

    assert sentence in str(info.value)
    assert snapshot(server.store) == before


def test_a_file_that_is_not_text_is_refused_at_submit(client: ModelClient) -> None:
    with pytest.raises(BadRequestError, match="The file is not UTF-8 text"):
        client.start_training("pclass,sex\n1,é\n".encode("latin-1"), "sex", name="X")


def test_trainings_are_their_owners_and_are_not_prediction_tasks(
    server: EmbeddedServer, client: ModelClient, titanic_csv: bytes
) -> None:
    mine = client.train(titanic_csv, "survived", features=SEED_FEATURES, name="Mine")
    task_id = client.start_training(titanic_csv, "survived", features=SEED_FEATURES, version_of=mine.path)

    with client_of(server, "2") as other:
        with pytest.raises(PermissionDeniedError, match="belongs to user 1, and this token is for user 2"):
            other.start_training(titanic_csv, "survived", version_of=mine.path)
        with pytest.raises(NotFoundError, match=f"Training task {task_id} is not known"):
            other.training_status(task_id)
    with pytest.raises(NotFoundError, match=f"Task {task_id} is not known"):
        client.status(task_id)  # the prediction route does not answer for a training
    assert client.wait_for_training(task_id).version == 2


def test_too_many_rows_is_refused_at_submit_with_413(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, titanic_csv: bytes
) -> None:
    monkeypatch.setenv("WHATIF_MAX_TRAINING_ROWS", "1000")
    small = start_server(tmp_path / "store", build_samples=False, warm_up=False)
    try:
        with client_of(small) as client, pytest.raises(PayloadTooLargeError) as info:
            client.start_training(titanic_csv, "survived", name="Too many")
    finally:
        small.stop()

    assert "The CSV has about 1,309 rows, more than the limit of 1,000; train on a sample of it." in str(info.value)


def test_a_training_reports_its_stages_in_order(tmp_path: Path, titanic_csv: bytes) -> None:
    reports: list[tuple[float, str]] = []
    request = TrainingRequest(
        titanic_csv.decode(), "survived", user="1", project="1", bucket="b", name="T", features=tuple(SEED_FEATURES)
    )
    train_and_save(request, ModelRegistry(tmp_path), lambda progress, stage: reports.append((progress, stage)))

    stages = [stage for _, stage in reports]
    assert list(dict.fromkeys(stages)) == ["reading the CSV", "training", "evaluating", "saving"]
    assert stages.count("training") >= 5  # the fit moves the progress bar, not only its start and end
    progresses = [progress for progress, _ in reports]
    assert progresses == sorted(progresses) and 0 < progresses[0] and progresses[-1] < 1


def test_a_queued_training_answers_started_then_done(tmp_path: Path, titanic_csv: bytes) -> None:
    gate = threading.Event()
    runner = TaskRunner(1, 4, 60, 100, task_delay_s=1, sleep=lambda _: gate.wait(30))  # held before it starts
    request = TrainingRequest(
        titanic_csv.decode(), "survived", user="1", project="1", bucket="b", name="T", features=tuple(SEED_FEATURES)
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
        started = await runner.start_training("1", TrainingJob(request, ModelRegistry(tmp_path)))
        waiting = await runner.training_info(started["id"], "1", 0)
        gate.set()
        done = await runner.training_info(started["id"], "1", 30)
        return started, waiting, done

    try:
        # a loop of its own in a thread of its own: Playwright's sync API (browser tests earlier in the same
        # run) leaves an event loop running in the main thread, where asyncio.run refuses to start
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            started, waiting, done = pool.submit(asyncio.run, scenario()).result(timeout=120)
    finally:
        gate.set()
        runner.shutdown()

    assert started["state"] == "STARTED"
    assert waiting is not None and (waiting["state"], waiting["progress"], waiting["stage"]) == ("STARTED", 0, "queued")
    assert done is not None and (done["state"], done["progress"], done["stage"]) == ("SUCCESS", 1.0, "done")
    assert done["result"]["path"] == "1/1/model-groups/1/1.json" and done["finished_at"] >= done["submitted_at"]


@pytest.mark.slow
def test_training_runs_on_celery_workers_and_the_csv_never_reaches_a_log(
    tmp_path: Path,
    shared_redis: tuple[str, str],
    processes: list[Process],
    titanic_csv: bytes,
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    secret = "celery-training-" + secrets.token_hex(16)
    broker, prefix = shared_redis
    env = {
        "WHATIF_STORE": str(store),
        "WHATIF_BROKER_URL": broker,
        "WHATIF_KEY_PREFIX": prefix,
        "WHATIF_API_SECRET": secret,
        "WHATIF_BUILD_SAMPLES": "false",
    }
    processes += [start_worker(env, tmp_path), start_api(env, tmp_path)]
    worker, api = processes

    seen: list[TrainingStatus] = []
    with ModelClient(api.origin, secret=secret, user_id="1", email="u1@example.com") as client:
        saved = client.train(titanic_csv, "survived", features=SEED_FEATURES, name="On Celery", on_progress=seen.append)
        predicted = client.predict(client.sample_rows(saved.path, saved.bucket, n=3).rows, saved.path, saved.bucket)

    assert beats_baseline(saved.metrics, saved.baseline) == [] and saved.version == 1
    assert (store / saved.bucket / saved.path).is_file()
    assert len(predicted.predictions) == 3
    assert seen[-1].state == "SUCCESS" and all(s.stage in TRAINING_STAGES for s in seen)
    assert "Task whatif.train[" in worker.log()
    for process in (worker, api):
        text = process.log()
        assert "Allen, Miss. Elisabeth Walton" not in text and "211.3375" not in text and secret not in text
