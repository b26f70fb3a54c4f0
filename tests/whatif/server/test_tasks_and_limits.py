"""The task runner's limits (queue, TTL, failures) and a refusal of unsafe model files,
checked on the TaskRunner itself and over HTTP on servers started with small limits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.linear_model import LogisticRegression

from tests.conftest import SEED_TITANIC_ROW
from whatif.client import ModelClient
from whatif.errors import TaskFailed
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.registry import ModelRegistry, UnsafeModel
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH
from whatif.server.tasks import FAILURE, STARTED, SUCCESS, QueueFull, Task, TaskRunner

TIMEOUT_S = 10
Work = Callable[[], list[dict[str, Any]]]


def returning(value: int) -> Work:
    return lambda: [{"prediction": value}]


def blocked_until(gate: threading.Event) -> Work:
    def work() -> list[dict[str, Any]]:
        assert gate.wait(10), "the test never opened the gate"
        return [{"prediction": 1}]

    return work


def finished(task: Task) -> Task:
    assert task.done.wait(10), f"task {task.id} did not finish"
    return task


@pytest.fixture()
def runner() -> Iterator[TaskRunner]:
    running = TaskRunner(workers=1, queue_size=2, ttl_s=60, max_finished=100)
    yield running
    running.shutdown()


# ---- TaskRunner ---------------------------------------------------------------------------------
def test_a_task_is_started_until_its_result_is_ready(runner: TaskRunner) -> None:
    gate = threading.Event()
    task = runner.submit("1", 1, blocked_until(gate))
    assert runner.get(task.id, "1") is task
    assert task.answer()["state"] == STARTED and "result" not in task.answer()
    gate.set()
    answer = finished(task).answer()
    assert answer["state"] == SUCCESS and answer["result"] == [{"prediction": 1}]
    assert answer["finished_at"] >= answer["submitted_at"]


def test_full_queue_raises_queue_full_and_frees_up_when_tasks_finish(runner: TaskRunner) -> None:
    gate = threading.Event()
    running_and_queued = [runner.submit("1", 1, blocked_until(gate)) for _ in range(2)]
    assert runner.active == 2
    with pytest.raises(QueueFull):
        runner.submit("1", 1, returning(0))
    gate.set()
    for task in running_and_queued:
        assert finished(task).state == SUCCESS
    assert finished(runner.submit("1", 1, returning(7))).result == [{"prediction": 7}]
    assert runner.active == 0


def test_tasks_of_one_owner_are_invisible_to_another(runner: TaskRunner) -> None:
    task = finished(runner.submit("1", 1, returning(1)))
    assert runner.get(task.id, "1") is task
    assert runner.get(task.id, "2") is None
    assert runner.get("no-such-id", "1") is None


class FakeClock:
    """Unix time that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_finished_tasks_are_forgotten_after_the_ttl() -> None:
    clock = FakeClock()
    short_lived = TaskRunner(workers=1, queue_size=4, ttl_s=600, max_finished=100, clock=clock)
    try:
        task = finished(short_lived.submit("1", 1, returning(1)))
        clock.now += 599
        assert short_lived.get(task.id, "1") is task
        clock.now += 2
        assert short_lived.get(task.id, "1") is None
        assert len(short_lived) == 0
    finally:
        short_lived.shutdown()


def test_a_running_task_is_not_forgotten_however_long_it_takes() -> None:
    clock = FakeClock()
    short_lived = TaskRunner(workers=1, queue_size=4, ttl_s=60, max_finished=1, clock=clock)
    gate = threading.Event()
    try:
        task = short_lived.submit("1", 1, blocked_until(gate))
        clock.now += 3600
        assert short_lived.get(task.id, "1") is task, "the TTL counts from the end of a task"
        gate.set()
        assert finished(task).state == SUCCESS
        assert task.finished_at == clock.now
        assert short_lived.get(task.id, "1") is task
    finally:
        gate.set()
        short_lived.shutdown()


def test_only_the_newest_finished_tasks_are_kept_beyond_max_finished() -> None:
    bounded = TaskRunner(workers=1, queue_size=10, ttl_s=60, max_finished=2)
    try:
        tasks = [finished(bounded.submit("1", 1, returning(i))) for i in range(5)]
        assert [bounded.get(t.id, "1") is not None for t in tasks] == [False, False, False, True, True]
        assert len(bounded) == 2
    finally:
        bounded.shutdown()


def test_a_failing_task_reports_type_and_message_and_the_worker_keeps_working(runner: TaskRunner) -> None:
    def broken() -> list[dict[str, Any]]:
        raise ValueError("row 3 has no fare")

    failed = finished(runner.submit("1", 1, broken))
    answer = failed.answer()
    assert answer["state"] == FAILURE
    assert answer["error"] == {"type": "ValueError", "message": "row 3 has no fare"}
    assert "result" not in answer
    # the single worker survived: the next task runs
    assert finished(runner.submit("1", 1, returning(5))).result == [{"prediction": 5}]
    assert runner.active == 0


def test_a_failure_message_is_kept_short(runner: TaskRunner) -> None:
    def verbose() -> list[dict[str, Any]]:
        raise RuntimeError("x" * 10_000)

    error = finished(runner.submit("1", 1, verbose)).error
    assert error is not None and error["type"] == "RuntimeError" and len(error["message"]) <= 500


# ---- over HTTP ----------------------------------------------------------------------------------
def headers_for(server: EmbeddedServer, user_id: str = DEMO_USER) -> dict[str, str]:
    token = jwt.encode({"userId": user_id, "email": DEMO_EMAIL}, server.secret, algorithm="HS256")
    return {"authorization": f"Bearer {token}", "content-type": "application/json;charset=UTF-8"}


def submit(server: EmbeddedServer, rows: list[dict[str, Any]], path: str = TITANIC_PATH) -> requests.Response:
    return requests.post(
        server.predict_url,
        params={"path": path, "bucket": DEMO_BUCKET},
        data=json.dumps(rows),
        headers=headers_for(server),
        timeout=TIMEOUT_S,
    )


def info(server: EmbeddedServer, task_id: str, wait_s: float = 0) -> requests.Response:
    return requests.get(
        f"{server.predict_url}/info/{task_id}",
        params={"wait": wait_s},
        headers=headers_for(server),
        timeout=TIMEOUT_S + wait_s,
    )


@pytest.fixture()
def one_slot_server(server: EmbeddedServer, model_store: Path) -> Iterator[EmbeddedServer]:
    """One task at a time, each taking 0.5 s."""
    running = start_server(model_store, build_samples=False, workers=1, queue_size=1, task_delay_s=0.5)
    yield running
    running.stop()


@pytest.fixture()
def task_clock() -> FakeClock:
    """The Unix time the forgetful server's tasks are stamped and expired by."""
    return FakeClock()


@pytest.fixture()
def forgetful_server(server: EmbeddedServer, model_store: Path, task_clock: FakeClock) -> Iterator[EmbeddedServer]:
    """Finished tasks are kept 60 s of ``task_clock``."""
    running = start_server(model_store, build_samples=False, task_ttl_s=60, task_clock=task_clock)
    yield running
    running.stop()


def test_full_queue_answers_503_with_retry_after(one_slot_server: EmbeddedServer) -> None:
    first = submit(one_slot_server, [SEED_TITANIC_ROW])
    assert first.status_code == 200
    refused = submit(one_slot_server, [SEED_TITANIC_ROW])
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["code"] == "queue_full"
    assert "try again" in refused.json()["detail"]
    assert info(one_slot_server, first.json()["id"], wait_s=5).json()["state"] == "SUCCESS"
    again = submit(one_slot_server, [SEED_TITANIC_ROW])
    assert again.status_code == 200, "the server takes work again once the queue has room"


def test_client_waits_out_a_full_queue(one_slot_server: EmbeddedServer) -> None:
    """Retry-After is honoured by our client: a second predict succeeds instead of failing."""
    assert submit(one_slot_server, [SEED_TITANIC_ROW]).status_code == 200
    with ModelClient(
        one_slot_server.predict_url,
        secret=one_slot_server.secret,
        user_id=DEMO_USER,
        email=DEMO_EMAIL,
        poll_deadline_s=20,
    ) as client:
        result = client.predict([SEED_TITANIC_ROW], TITANIC_PATH, DEMO_BUCKET)
    assert len(result.predictions) == 1


def test_expired_task_answers_404(forgetful_server: EmbeddedServer, task_clock: FakeClock) -> None:
    task_id = submit(forgetful_server, [SEED_TITANIC_ROW]).json()["id"]
    assert info(forgetful_server, task_id, wait_s=5).json()["state"] == "SUCCESS"
    task_clock.now += 59
    assert info(forgetful_server, task_id).status_code == 200
    task_clock.now += 2
    gone = info(forgetful_server, task_id)
    assert gone.status_code == 404
    assert gone.json()["code"] == "task_not_found"
    assert "expired" in gone.json()["detail"]


# ---- models that must not be loaded, and models that fail --------------------------------------
class HandRolledClassifier(LogisticRegression):
    """A model class off the store's allow-list: loading it would run this module's code."""


TWO_FEATURES = FeatureSchema(
    (Feature("x1", "number", 0, 1, 0.5), Feature("x2", "number", 0, 1, 0.5)),
    name="Tiny",
    task="classification",
    target="y",
    classes=(0, 1),
)


def training_data(columns: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.uniform(0, 1, size=(60, columns)), columns=[f"x{i + 1}" for i in range(columns)])
    return x, (x["x1"] > 0.5).to_numpy().astype(int)


@pytest.fixture(scope="module")
def odd_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with a safe model, a model of a non-allow-listed class, and a model that cannot predict."""
    registry = ModelRegistry(tmp_path_factory.mktemp("odd-store"))
    x, y = training_data()
    safe = registry.save(
        LogisticRegression().fit(x, y), TWO_FEATURES, bucket=DEMO_BUCKET, user=DEMO_USER, project="4", name="Safe"
    )
    unsafe = registry.save(
        HandRolledClassifier().fit(x, y),
        TWO_FEATURES,
        bucket=DEMO_BUCKET,
        user=DEMO_USER,
        project="4",
        name="Hand rolled",
    )
    x3, y3 = training_data(columns=3)
    # trained on three columns, described with two: it fails when it predicts, not when it loads
    mismatched = registry.save(
        LogisticRegression().fit(x3, y3),
        TWO_FEATURES,
        bucket=DEMO_BUCKET,
        user=DEMO_USER,
        project="4",
        name="Mismatched",
    )
    return {"registry": registry, "safe": safe["path"], "unsafe": unsafe["path"], "mismatched": mismatched["path"]}


@pytest.fixture(scope="module")
def odd_server(odd_store: dict[str, Any]) -> Iterator[EmbeddedServer]:
    running = start_server(odd_store["registry"].root, build_samples=False)
    yield running
    running.stop()


def test_registry_refuses_a_model_file_with_a_type_off_the_allow_list(odd_store: dict[str, Any]) -> None:
    registry: ModelRegistry = odd_store["registry"]
    safe = registry.load(DEMO_BUCKET, odd_store["safe"]).estimator
    assert safe.predict_proba(pd.DataFrame({"x1": [0.9], "x2": [0.1]})).shape == (1, 2)
    with pytest.raises(UnsafeModel, match="HandRolledClassifier"):
        registry.load(DEMO_BUCKET, odd_store["unsafe"])


def test_submit_to_an_unsafe_model_answers_a_clear_error(odd_server: EmbeddedServer, odd_store: dict[str, Any]) -> None:
    response = submit(odd_server, [{"x1": 0.2, "x2": 0.4}], path=odd_store["unsafe"])
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert answer["code"] == "unsafe_model"
    assert "not allowed" in answer["detail"] and "HandRolledClassifier" in answer["detail"]
    assert "Traceback" not in response.text
    ok = submit(odd_server, [{"x1": 0.2, "x2": 0.4}], path=odd_store["safe"])
    assert ok.status_code == 200, "the other models of the store keep working"
    assert info(odd_server, ok.json()["id"], wait_s=5).json()["state"] == "SUCCESS"


def test_a_model_that_fails_to_predict_gives_failure_with_type_and_message(
    odd_server: EmbeddedServer, odd_store: dict[str, Any]
) -> None:
    created = submit(odd_server, [{"x1": 0.2, "x2": 0.4}], path=odd_store["mismatched"])
    assert created.status_code == 200, "the rows match the schema, so the submit is accepted"
    answer = info(odd_server, created.json()["id"], wait_s=5).json()
    assert answer["state"] == "FAILURE"
    assert answer["error"]["type"] == "ValueError"
    assert "feature" in answer["error"]["message"]
    with ModelClient(
        odd_server.predict_url, secret=odd_server.secret, user_id=DEMO_USER, email=DEMO_EMAIL, poll_deadline_s=10
    ) as client:
        with pytest.raises(TaskFailed, match="ValueError"):
            client.predict([{"x1": 0.2, "x2": 0.4}], odd_store["mismatched"], DEMO_BUCKET)
        assert len(client.predict([{"x1": 0.9, "x2": 0.4}], odd_store["safe"], DEMO_BUCKET).predictions) == 1


def test_long_polls_hold_no_threads_so_other_requests_still_answer(model_store: Path) -> None:
    slow = start_server(model_store, task_delay_s=10, queue_size=200, build_samples=False)
    try:
        token = jwt.encode({"userId": "1", "email": "demo@example.com"}, slow.secret, algorithm="HS256")
        headers = {"authorization": f"Bearer {token}"}
        task_id = requests.post(
            slow.predict_url,
            params={"path": TITANIC_PATH, "bucket": DEMO_BUCKET},
            json=[SEED_TITANIC_ROW],
            headers=headers,
            timeout=10,
        ).json()["id"]

        def long_poll() -> None:
            requests.get(f"{slow.predict_url}/info/{task_id}", params={"wait": 6}, headers=headers, timeout=30)

        polls = [threading.Thread(target=long_poll) for _ in range(60)]  # more than the default 40 threads
        for poll in polls:
            poll.start()
        time.sleep(1)
        models = requests.get(slow.origin + "/api/v1/models", headers=headers, timeout=4)
        assert models.status_code == 200  # with a thread per long poll this waited for the polls to end
        for poll in polls:
            poll.join()
    finally:
        slow.stop()
