"""Many callers at once: every answer belongs to its own request, and none is lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from whatif.client import ModelClient
from whatif.server.embedded import EmbeddedServer
from whatif.server.registry import ModelRegistry, predict_frame
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH

THREADS = 16
PER_THREAD = 25


def distinct_row(thread: int, i: int) -> dict[str, Any]:
    """A row no other (thread, i) sends: age and fare both encode the pair, inside the training range."""
    k = thread * PER_THREAD + i
    return {
        "pclass": k % 3,
        "sex": k % 2,
        "age": round(1 + k * 0.19, 2),
        "sibsp": k % 4,
        "parch": k % 3,
        "fare": round(5 + k * 1.25, 2),
        "embarked": (k // 3) % 3,
    }


def predict_in_thread(server: EmbeddedServer, thread: int) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """The thread's rows, each predicted on its own: (sent row, task id, answer record)."""
    answers = []
    with ModelClient(
        server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL, poll_deadline_s=60
    ) as client:
        for i in range(PER_THREAD):
            row = distinct_row(thread, i)
            result = client.predict([row], TITANIC_PATH, DEMO_BUCKET, return_only_prediction=False)
            (record,) = result.predictions.to_dict("records")
            answers.append((row, result.task_id, record))
    return answers


def test_parallel_predictions_each_get_their_own_answer(server: EmbeddedServer, model_store: Path) -> None:
    rows = [distinct_row(t, i) for t in range(THREADS) for i in range(PER_THREAD)]
    assert len({(r["age"], r["fare"]) for r in rows}) == THREADS * PER_THREAD
    model = ModelRegistry(model_store).load(DEMO_BUCKET, TITANIC_PATH)
    expected = {
        (r["age"], r["fare"]): p
        for r, p in zip(rows, predict_frame(model, pd.DataFrame(rows)).to_dict("records"), strict=True)
    }

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        per_thread = list(pool.map(lambda t: predict_in_thread(server, t), range(THREADS)))

    answers = [answer for thread_answers in per_thread for answer in thread_answers]
    assert len(answers) == THREADS * PER_THREAD, "every prediction came back"
    assert len({task_id for _, task_id, _ in answers}) == len(answers), "every prediction had its own task"
    for row, task_id, record in answers:
        echoed = {k: record[k] for k in row}
        assert echoed == pytest.approx(row), f"task {task_id} answered another request's row: {echoed} != {row}"
        want = expected[(row["age"], row["fare"])]
        assert record["prediction"] == want["prediction"], f"task {task_id}"
        assert record["probability_1"] == pytest.approx(want["probability_1"], abs=1e-9), f"task {task_id}"
