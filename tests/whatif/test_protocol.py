"""The typed contract (whatif.protocol): the server's real answers fit it, the client reads it and more."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import SEED_TITANIC_ROW
from whatif.client import JWTAuth, submitted_task_id, task_state
from whatif.protocol import (
    DEMO_BUCKET,
    DEMO_EMAIL,
    DEMO_USER,
    PROBABILITY_PREFIX,
    TASK_INFO,
    ErrorBody,
    SubmitAnswer,
    TaskInfoFailure,
    TaskInfoStarted,
    TaskInfoSuccess,
    is_valid_bucket,
    is_valid_model_path,
)
from whatif.server.embedded import EmbeddedServer
from whatif.server.registry import InvalidLocation, check_location
from whatif.server.samples import TITANIC_PATH
from whatif.server.tasks import TaskRunner

TIMEOUT_S = 10


def _headers(server: EmbeddedServer) -> dict[str, str]:
    return {"authorization": f"Bearer {JWTAuth(server.secret, DEMO_USER, DEMO_EMAIL).token()}"}


def test_the_servers_answers_fit_the_protocol_models(server: EmbeddedServer) -> None:
    """Submit, task info (until SUCCESS) and an error, as any caller sees them on the wire."""
    headers = _headers(server)
    submitted = requests.post(
        server.predict_url,
        params={"path": TITANIC_PATH, "bucket": DEMO_BUCKET},
        json=[SEED_TITANIC_ROW],
        headers=headers,
        timeout=TIMEOUT_S,
    )
    assert submitted.status_code == 200
    task_id = SubmitAnswer.model_validate(submitted.json()).id
    info = TASK_INFO.validate_python(
        requests.get(
            f"{server.predict_url}/info/{task_id}", params={"wait": 5}, headers=headers, timeout=TIMEOUT_S + 5
        ).json()
    )
    assert isinstance(info, TaskInfoSuccess)
    assert info.result[0]["prediction"] in (0, 1)
    assert {f"{PROBABILITY_PREFIX}0", f"{PROBABILITY_PREFIX}1"} <= set(info.result[0])
    missing = requests.get(f"{server.predict_url}/info/no-such-task", headers=headers, timeout=TIMEOUT_S)
    assert missing.status_code == 404
    assert ErrorBody.model_validate(missing.json()).code == "task_not_found"


def test_a_failed_task_reports_the_failure_layout() -> None:
    """A model that raises gives FAILURE with error {type, message} and its end time."""
    runner = TaskRunner(workers=1, queue_size=2, ttl_s=60, max_finished=10)

    def broken() -> list[dict[str, float]]:
        raise ValueError("the model file is damaged")

    try:
        task = runner.submit(DEMO_USER, 1, broken)
        assert task.done.wait(TIMEOUT_S)
        info = TASK_INFO.validate_python(task.answer())
    finally:
        runner.shutdown()
    assert isinstance(info, TaskInfoFailure)
    assert (info.error.type, info.error.message) == ("ValueError", "the model file is damaged")


@pytest.mark.parametrize(
    ("answer", "task_id"),
    [
        ({"id": "a1", "state": "STARTED"}, "a1"),  # ours
        ({"id": 42}, "42"),  # a numeric id, no state
        ({"task_id": "b2"}, "b2"),
        ({"task-id": "c3", "state": "PENDING"}, "c3"),
        ({"id": "", "task_id": "d4"}, "d4"),
        ({"state": "STARTED"}, None),
        (["a1"], None),
    ],
)
def test_the_client_reads_a_task_id_from_any_known_submit_layout(answer: object, task_id: str | None) -> None:
    assert submitted_task_id(answer) == task_id


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        ({"id": "a1", "state": "STARTED", "rows": 1, "submitted_at": time.time()}, "STARTED"),  # ours
        ({"state": "pending"}, "PENDING"),  # a Celery state as another server writes it
        ({"state": "RETRY", "task_id": "x"}, "RETRY"),
        ({"status": "SUCCESS"}, None),
        ("SUCCESS", None),
    ],
)
def test_the_client_reads_a_state_from_any_task_info(answer: object, state: str | None) -> None:
    assert task_state(answer) == state


def test_a_started_task_fits_its_model() -> None:
    info = TASK_INFO.validate_python({"id": "a1", "state": "STARTED", "rows": 3, "submitted_at": 1.0})
    assert isinstance(info, TaskInfoStarted)


@pytest.mark.parametrize(
    ("bucket", "path", "valid"),
    [
        (DEMO_BUCKET, TITANIC_PATH, True),
        (DEMO_BUCKET + "\n", TITANIC_PATH, False),  # a "$" alone would match before a final newline
        (DEMO_BUCKET, "1/4/model-groups/1\n/1.json", False),
        ("..", TITANIC_PATH, False),
        (DEMO_BUCKET, "1/../1.json", False),
        (DEMO_BUCKET, "/etc/1.json", False),
        (DEMO_BUCKET, "1/4/model-groups/1/1.txt", False),
        ("", TITANIC_PATH, False),
    ],
)
def test_the_documented_patterns_are_what_the_server_enforces(bucket: str, path: str, valid: bool) -> None:
    """The OpenAPI document's patterns for bucket and path accept exactly what check_location accepts."""
    assert (is_valid_bucket(bucket) and is_valid_model_path(path)) is valid
    if valid:
        check_location(bucket, path)
    else:
        with pytest.raises(InvalidLocation):
            check_location(bucket, path)
