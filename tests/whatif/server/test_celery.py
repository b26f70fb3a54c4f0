"""The reference server on Celery workers over Redis, with real processes on loopback.

API processes (``python -m whatif.server --backend celery``) and workers (``celery -A
whatif.server.worker worker``) are started as subprocesses, on the machine's Redis under a key
prefix of this test run's own (removed at the end), or, for the tests that stop Redis, on a
redis-server of the test's own. Every answer is checked against the model run in-process.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pandas as pd
import pytest
import redis
import requests

from tests.conftest import IN_CI, SEED_TITANIC_ROW
from whatif.server.local_cluster import Process, drive_load, start_api, start_redis, start_worker, wait_until
from whatif.server.registry import ModelRegistry, predict_frame
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH, ensure_sample_models

pytestmark = pytest.mark.slow

PREDICT = "/api/v1/proxy/pipeline/model/predict"
SECRET = "celery-test-secret-" + secrets.token_hex(16)


def token(user_id: str = DEMO_USER) -> dict[str, str]:
    """The authorization header of ``user_id``."""
    return {"authorization": "Bearer " + jwt.encode({"userId": user_id, "email": DEMO_EMAIL}, SECRET, "HS256")}


def rows_of(count: int, start: float = 0.0) -> list[dict[str, Any]]:
    """Distinct Titanic rows (ages and fares differ), so answers cannot be confused."""
    return [{**SEED_TITANIC_ROW, "age": 1 + (start + i) % 70, "fare": 5.0 + start + i * 1.25} for i in range(count)]


def submit(api: Process, rows: list[dict[str, Any]], user_id: str = DEMO_USER) -> requests.Response:
    """POST the rows to the Titanic model through ``api``."""
    return requests.post(
        api.origin + PREDICT,
        params={"path": TITANIC_PATH, "bucket": DEMO_BUCKET},
        json=rows,
        headers=token(user_id),
        timeout=30,
    )


def info(api: Process, task_id: str, wait_s: float = 0, user_id: str = DEMO_USER) -> requests.Response:
    """GET the task's info through ``api``, long-polling ``wait_s``."""
    return requests.get(
        f"{api.origin}{PREDICT}/info/{task_id}", params={"wait": wait_s}, headers=token(user_id), timeout=60
    )


def finished(api: Process, task_id: str, deadline_s: float = 60) -> dict[str, Any]:
    """The task's answer once SUCCESS or FAILURE (long polls, so no sleeping here)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        answer = info(api, task_id, wait_s=10)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["state"] != "STARTED":
            return body
    raise AssertionError(f"task {task_id} did not finish within {deadline_s} s")


def expected(store: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answer the model gives in-process: each row plus its prediction columns."""
    model = ModelRegistry(store).load(DEMO_BUCKET, TITANIC_PATH)
    predictions = predict_frame(model, pd.DataFrame(rows)).to_dict("records")
    return [{**row, **p} for row, p in zip(rows, predictions, strict=True)]


def same_records(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    """Equal records, numbers to 1e-9."""
    return len(got) == len(want) and all(
        g.keys() == w.keys() and all(abs(float(g[k]) - float(w[k])) < 1e-9 for k in w)
        for g, w in zip(got, want, strict=True)
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store with the sample models, built once (API processes and workers share it)."""
    root = tmp_path_factory.mktemp("celery-store")
    ensure_sample_models(ModelRegistry(root))
    return root


@pytest.fixture()
def processes() -> Iterator[list[Process]]:
    """Every process a test starts goes here and is stopped after it."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


def settings_env(store: Path, broker: str, prefix: str, **more: Any) -> dict[str, str]:
    """The variables API processes and workers share."""
    env = {
        "WHATIF_STORE": str(store),
        "WHATIF_BROKER_URL": broker,
        "WHATIF_KEY_PREFIX": prefix,
        "WHATIF_API_SECRET": SECRET,
        "WHATIF_BUILD_SAMPLES": "false",
    }
    env.update({f"WHATIF_{key.upper()}": str(value) for key, value in more.items()})
    return env


def test_two_api_processes_answer_for_each_others_tasks_with_the_in_process_answers(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    env = settings_env(store, *shared_redis)
    processes += [start_worker(env, tmp_path, name="w1"), start_api(env, tmp_path, name="a")]
    processes.append(start_api(env, tmp_path, name="b"))
    worker, api_a, api_b = processes
    rows = rows_of(40)

    answer = submit(api_a, rows)
    assert answer.status_code == 200, answer.text
    task_id = answer.json()["id"]
    done = finished(api_b, task_id)

    assert done["state"] == "SUCCESS" and done["rows"] == 40
    assert same_records(done["result"], expected(store, rows))
    assert done["finished_at"] >= done["submitted_at"] > 0
    # another user's token gets the same 404 as an unknown id, from either API process
    for api in (api_a, api_b):
        assert info(api, task_id, user_id="2").status_code == 404
        assert info(api, "no-such-task").status_code == 404
    assert f"Task whatif.predict[{task_id}] received" in worker.log()


def test_a_long_poll_answers_when_the_task_finishes_not_at_its_time_out(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    env = settings_env(store, *shared_redis, task_delay=1.0)
    processes += [start_worker(env, tmp_path), start_api(env, tmp_path)]
    api = processes[1]
    task_id = submit(api, rows_of(1)).json()["id"]

    started = time.monotonic()
    answer = info(api, task_id, wait_s=25).json()
    waited = time.monotonic() - started

    assert answer["state"] == "SUCCESS"
    assert waited < 5, f"the long poll took {waited:.1f} s for a 1 s task: it did not answer when the task ended"


def test_submit_answers_503_with_retry_after_while_the_queue_is_full(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    # no worker: tasks wait in the queue
    env = settings_env(store, *shared_redis, queue_size=2)
    processes.append(start_api(env, tmp_path))
    api = processes[0]
    accepted = [submit(api, rows_of(1)) for _ in range(2)]
    refused = submit(api, rows_of(1))

    assert [a.status_code for a in accepted] == [200, 200]
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["code"] == "queue_full"
    # waiting tasks are STARTED (queued or running), as the documented client expects
    assert info(api, accepted[0].json()["id"]).json()["state"] == "STARTED"

    # once a worker takes them, they finish, and the queue accepts again
    processes.append(start_worker(env, tmp_path))
    assert all(finished(api, a.json()["id"])["state"] == "SUCCESS" for a in accepted)
    assert submit(api, rows_of(1)).status_code == 200


def test_rows_and_results_never_reach_a_log(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    env = settings_env(store, *shared_redis)
    processes += [start_worker(env, tmp_path), start_api(env, tmp_path)]
    worker, api = processes
    marker = 987.654321
    task_id = submit(api, [{**SEED_TITANIC_ROW, "fare": marker}]).json()["id"]
    done = finished(api, task_id)
    probability = done["result"][0]["probability_1"]

    for process in (worker, api):
        text = process.log()
        assert "987.654" not in text and SECRET not in text
        assert repr(probability)[:8] not in text


def test_a_model_file_a_worker_cannot_load_ends_in_failure_with_a_sentence(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    # the worker's copy of the store is damaged (another machine, a bad sync): the API's is fine
    broken = tmp_path / "worker-store"
    shutil.copytree(store, broken)
    for model_file in (broken / DEMO_BUCKET).rglob("*.skops"):
        model_file.write_bytes(b"not a model")
    processes.append(start_worker(settings_env(broken, *shared_redis), tmp_path))
    api = start_api(settings_env(store, *shared_redis), tmp_path)
    processes.append(api)

    done = finished(api, submit(api, rows_of(2)).json()["id"])

    assert done["state"] == "FAILURE"
    assert done["error"]["type"] == "UnreadableModel"
    assert done["error"]["message"].endswith("it is damaged or not a skops file; save the model again")
    # an expected failure is the answer's sentence, not a traceback in the worker's log
    worker_log = processes[0].log()
    assert "Traceback" not in worker_log and "damaged or not a skops file" not in worker_log


def test_a_task_whose_worker_is_killed_is_delivered_again_and_finishes(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    slow = settings_env(store, *shared_redis, task_delay=30, redeliver_after_s=3)
    dying = start_worker(slow, tmp_path, name="dying", pool="prefork", concurrency=1)  # the documented pool
    processes += [dying, start_api(slow, tmp_path)]
    api = processes[1]
    rows = rows_of(5, start=7)
    task_id = submit(api, rows).json()["id"]
    wait_until(lambda: f"[{task_id}] received" in dying.log(), 30, "the first worker taking the task")

    dying.kill()  # SIGKILL mid-task: no acknowledgement was sent
    processes.append(start_worker(settings_env(store, *shared_redis, redeliver_after_s=3), tmp_path, name="rescuer"))
    done = finished(api, task_id, deadline_s=60)

    assert done["state"] == "SUCCESS"
    assert same_records(done["result"], expected(store, rows))


def test_an_api_process_killed_after_accepting_a_task_loses_nothing(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    env = settings_env(store, *shared_redis, task_delay=1.0)
    api_a = start_api(env, tmp_path, name="a")
    processes += [api_a, start_api(env, tmp_path, name="b"), start_worker(env, tmp_path)]
    api_b = processes[1]
    rows = rows_of(3, start=11)
    task_id = submit(api_a, rows).json()["id"]

    api_a.kill()
    done = finished(api_b, task_id)

    assert done["state"] == "SUCCESS"
    assert same_records(done["result"], expected(store, rows))
    assert info(api_b, task_id, user_id="2").status_code == 404


def test_redis_down_answers_503_at_once_and_service_resumes_when_it_is_back(
    store: Path, processes: list[Process], tmp_path: Path
) -> None:
    if shutil.which("redis-server") is None:
        sentence = "redis-server is needed for this test (it stops and restarts a Redis of its own)."
        if IN_CI:
            pytest.fail(sentence)
        pytest.skip(sentence)
    own = start_redis(tmp_path)
    env = settings_env(store, own.origin, "whatif:")
    processes += [own, start_worker(env, tmp_path), start_api(env, tmp_path)]
    api = processes[2]
    before = submit(api, rows_of(1)).json()["id"]
    assert finished(api, before)["state"] == "SUCCESS"

    own.kill()
    started = time.monotonic()
    refused = submit(api, rows_of(1))
    poll = info(api, before)
    took = time.monotonic() - started

    assert refused.status_code == 503 and poll.status_code == 503
    sentence = refused.json()["detail"]
    assert f"127.0.0.1:{own.port}" in sentence and "try again" in sentence and sentence.count(". ") == 0
    assert refused.headers["Retry-After"]
    assert took < 20, f"the API took {took:.1f} s to say Redis is down"

    processes.append(start_redis(tmp_path, port=own.port))  # back, empty (it keeps nothing on disk)
    rows = rows_of(4, start=3)

    def accepted() -> bool:
        return submit(api, rows).status_code == 200

    wait_until(accepted, 30, "the API accepting tasks again")
    task_id = submit(api, rows).json()["id"]
    done = finished(api, task_id)
    assert done["state"] == "SUCCESS" and same_records(done["result"], expected(store, rows))


def test_finished_tasks_expire_after_the_task_time_to_live(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    env = settings_env(store, *shared_redis, task_ttl_s=120)
    processes += [start_worker(env, tmp_path), start_api(env, tmp_path)]
    api = processes[1]
    task_id = submit(api, rows_of(1)).json()["id"]
    assert finished(api, task_id)["state"] == "SUCCESS"

    url, prefix = shared_redis
    client = redis.Redis.from_url(url)
    keys = [k.decode() for k in client.scan_iter(match=f"{prefix}*{task_id}")]
    assert len(keys) == 2, keys  # Celery's result and the owner record beside it
    assert all(0 < client.ttl(key) <= 120 for key in keys)


def test_two_api_processes_and_two_workers_under_load_lose_and_cross_nothing(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    env = settings_env(store, *shared_redis)
    processes += [start_worker(env, tmp_path, name=f"w{i}") for i in (1, 2)]
    processes += [start_api(env, tmp_path, name=f"a{i}") for i in (1, 2)]
    apis = [p for p in processes if p.name.startswith("a")]

    report = drive_load(
        [api.origin + PREDICT for api in apis],
        SECRET,
        clients=8,
        per_client=5,
        path=TITANIC_PATH,
        bucket=DEMO_BUCKET,
        row=SEED_TITANIC_ROW,
    )

    assert (report.lost, report.crossed, report.foreign_visible) == (0, 0, 0), report.errors[:3]
    assert report.tasks == 40
    workers = [p for p in processes if p.name.startswith("w")]
    assert all(" received" in w.log() for w in workers), "both workers took tasks"


def test_a_key_prefix_without_a_separator_works_as_one_with_it(
    store: Path, shared_redis: tuple[str, str], processes: list[Process], tmp_path: Path
) -> None:
    # Celery adds "_" to a prefix that does not end in ":", "_", "-" or "."; the API must find its keys all the same
    url, prefix = shared_redis
    env = settings_env(store, url, prefix.rstrip(":"), task_delay=0.5)
    processes += [start_worker(env, tmp_path), start_api(env, tmp_path)]
    api = processes[1]
    rows = rows_of(2, start=5)
    task_id = submit(api, rows).json()["id"]

    started = time.monotonic()
    done = info(api, task_id, wait_s=20).json()

    assert done["state"] == "SUCCESS" and same_records(done["result"], expected(store, rows))
    assert time.monotonic() - started < 10
