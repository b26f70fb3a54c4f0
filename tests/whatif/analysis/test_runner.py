"""The batched predict against the real reference server: one task per call, splits, cache, progress, errors."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SEED_TITANIC_ROW
from whatif.analysis import AnalysisError
from whatif.analysis.grids import jitter, to_request_frame
from whatif.analysis.runner import (
    AnswerCache,
    BatchPredictor,
    Progress,
    _answer_columns,
    in_process_predict,
    tasks_needed,
)
from whatif.client import ModelClient
from whatif.errors import APIError, PayloadTooLargeError, TaskTimeout, UnprocessableEntityError
from whatif.schema import FeatureSchema
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.registry import ModelRegistry
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH
from whatif.server.tasks import TaskRunner

CONNECTION = "loopback test server, user 1"


def one_sentence(text: str) -> bool:
    """What the app shows as it is: one line, one sentence, no traceback."""
    return "\n" not in text and "Traceback" not in text and text.endswith(".") and not re.search(r"\.\s+[A-Z]", text)


def titanic_rows(schema: FeatureSchema, n: int = 50, seed: int = 3) -> pd.DataFrame:
    """``n`` valid Titanic request rows around the seed passenger, classes and ports flipped now and then."""
    rows = jitter(schema, SEED_TITANIC_ROW, n, 0.5, np.random.default_rng(seed), categorical_flip_p=0.3)
    return to_request_frame(schema, rows)


def tasks_on(server: EmbeddedServer) -> int:
    """How many tasks the server holds (they are kept for ten minutes after they finish)."""
    runner: TaskRunner = server._server.config.app.state.runner  # the app object uvicorn serves
    return len(runner)


@pytest.fixture()
def rows(client: ModelClient) -> pd.DataFrame:
    return titanic_rows(client.schema(TITANIC_PATH, DEMO_BUCKET))


def predictor(client: ModelClient, **options: Any) -> BatchPredictor:
    return BatchPredictor(client, TITANIC_PATH, DEMO_BUCKET, connection_key=CONNECTION, **options)


def test_one_call_of_50_rows_is_one_task_whose_answers_are_the_model_s(
    server: EmbeddedServer, client: ModelClient, rows: pd.DataFrame
) -> None:
    predict = predictor(client)
    before = tasks_on(server)

    answers = predict(rows)

    assert (predict.tasks_sent, predict.rows_sent) == (1, 50)
    assert tasks_on(server) - before == 1, "the server saw one task"
    assert list(answers.columns) == ["prediction", "probability_0", "probability_1"], "inputs are not echoed"
    assert answers.index.tolist() == list(range(50))
    model = ModelRegistry(server.store).load(DEMO_BUCKET, TITANIC_PATH)
    expected = in_process_predict(model)(rows)
    assert answers["prediction"].tolist() == expected["prediction"].tolist()
    assert np.allclose(
        answers[["probability_0", "probability_1"]].to_numpy(dtype=float),
        expected[["probability_0", "probability_1"]].to_numpy(dtype=float),
        atol=1e-6,
        rtol=0,
    )
    assert answers["prediction"].nunique() == 2, "the rows are varied enough to get both answers"


def test_rows_beyond_max_rows_are_split_into_tasks_sent_one_after_another_and_joined_in_order(
    client: ModelClient, rows: pd.DataFrame
) -> None:
    whole = predictor(client)(rows)
    progress: list[Progress] = []
    split = predictor(client, max_rows=20, on_progress=progress.append)

    answers = split(rows)

    assert split.tasks_sent == 3 and split.rows_sent == 50
    pd.testing.assert_frame_equal(answers, whole)
    submits = [p for p in progress if p.state == "SUBMITTING"]
    assert [(p.task_number, p.tasks_total) for p in submits] == [(1, 3), (2, 3), (3, 3)]
    done = [p for p in progress if p.state == "SUCCESS"]
    assert [p.task_number for p in done] == [1, 2, 3]
    assert len({p.task_id for p in done}) == 3, "three distinct tasks"
    assert all(p.rows == 50 for p in progress)
    assert [p.elapsed_s for p in progress] == sorted(p.elapsed_s for p in progress), "time since the call began"
    assert tasks_needed(50, 20) == 3 and tasks_needed(0) == 0


def test_the_same_rows_are_answered_from_the_cache_without_a_task(
    server: EmbeddedServer, client: ModelClient, rows: pd.DataFrame
) -> None:
    cache = AnswerCache()
    progress: list[Progress] = []
    first = predictor(client, cache=cache)
    answers = first(rows)

    second = predictor(client, cache=cache, on_progress=progress.append)
    before = tasks_on(server)
    again = second(rows)

    assert second.tasks_sent == 0 and tasks_on(server) == before
    assert progress == [
        Progress(rows=50, task_id=None, state="CACHED", elapsed_s=progress[0].elapsed_s, task_number=0, tasks_total=0)
    ]
    pd.testing.assert_frame_equal(again, answers)
    again.loc[0, "probability_1"] = -1.0  # a caller's change does not reach the cache
    assert first(rows).loc[0, "probability_1"] == answers.loc[0, "probability_1"]
    assert first.tasks_sent == 1, "the predictor's own second call is cached too"

    other_model = BatchPredictor(client, CREDIT_PATHS[0], DEMO_BUCKET, connection_key=CONNECTION, cache=cache)
    assert cache.get(AnswerCache.key(CONNECTION, CREDIT_PATHS[0], DEMO_BUCKET, rows)) is None
    assert other_model.cache is cache
    changed = rows.copy()
    changed.loc[49, "age"] = changed.loc[49, "age"] + 1
    assert second(changed) is not None and second.tasks_sent == 1, "one changed value is another question"


def test_progress_names_the_task_and_its_states(client: ModelClient, rows: pd.DataFrame) -> None:
    progress: list[Progress] = []
    predictor(client, on_progress=progress.append)(rows.head(7))

    assert progress[0].state == "SUBMITTING" and progress[0].task_id is None
    assert progress[-1].state == "SUCCESS"
    waited = progress[1:]
    assert waited and all(p.task_id and p.task_id == progress[-1].task_id for p in waited)
    assert all((p.rows, p.task_number, p.tasks_total) == (7, 1, 1) for p in progress)


def test_a_row_the_server_refuses_is_one_sentence(client: ModelClient, rows: pd.DataFrame) -> None:
    bad = rows.copy()
    bad.loc[29, "pclass"] = 7  # no such ticket class: sent as it is, without to_request_frame's checks

    with pytest.raises(UnprocessableEntityError) as alone:
        predictor(client)(bad)
    assert one_sentence(str(alone.value)) and "pclass" in str(alone.value)

    split = predictor(client, max_rows=20)
    with pytest.raises(AnalysisError) as info:
        split(bad)
    text = str(info.value)
    assert text.startswith("Task 2 of 3 (rows 21-40 of 50) failed after 1 finished: The API answered 422")
    assert "'pclass'" in text and one_sentence(text)
    assert isinstance(info.value.__cause__, UnprocessableEntityError), "the client's error is kept as the cause"
    assert split.tasks_sent == 1, "the refused rows never became a task"


def test_answers_that_do_not_match_the_rows_sent_are_refused() -> None:
    answers = pd.DataFrame({"prediction": [0, 1], "probability_1": [0.2, 0.9], "age": [3, 4]}, index=[5, 6])
    assert _answer_columns(answers, 2, "t").to_dict("list") == {"prediction": [0, 1], "probability_1": [0.2, 0.9]}
    with pytest.raises(AnalysisError, match="answered 2 rows for the 3 rows of task t") as info:
        _answer_columns(answers, 3, "t")
    assert one_sentence(str(info.value))
    with pytest.raises(AnalysisError, match="no 'prediction' column"):
        _answer_columns(answers.drop(columns="prediction"), 2, "t")


# ---- a second server: a small row limit and slow tasks ----------------------------------------------------------
@pytest.fixture(scope="module")
def slow_server(model_store: Path, server: EmbeddedServer) -> Iterator[EmbeddedServer]:
    """The same store served with at most 20 rows a request and tasks that take 0.3 s."""
    running = start_server(model_store, max_rows=20, task_delay_s=0.3, workers=1, warm_up=False)
    yield running
    running.stop()


@pytest.fixture()
def slow_client(slow_server: EmbeddedServer) -> Iterator[ModelClient]:
    # long polls of 0.1 s: the client reports the state ten times a second (a 10 s long poll reports at the end)
    with ModelClient(
        slow_server.predict_url,
        secret=slow_server.secret,
        user_id=DEMO_USER,
        email=DEMO_EMAIL,
        poll_deadline_s=30,
        long_poll_s=0.1,
    ) as c:
        yield c


def test_max_rows_matches_the_server_s_limit(slow_client: ModelClient, client: ModelClient, rows: pd.DataFrame) -> None:
    with pytest.raises(PayloadTooLargeError) as info:
        predictor(slow_client)(rows)
    assert one_sentence(str(info.value))

    progress: list[Progress] = []
    split = predictor(slow_client, max_rows=20, on_progress=progress.append)
    answers = split(rows)
    assert split.tasks_sent == 3
    pd.testing.assert_frame_equal(answers, predictor(client)(rows))
    assert {p.state for p in progress} >= {"SUBMITTING", "STARTED", "SUCCESS"}, "a slow task is seen running"


def test_a_task_that_takes_too_long_is_the_client_s_timeout_or_names_its_task(
    slow_client: ModelClient, rows: pd.DataFrame
) -> None:
    with pytest.raises(TaskTimeout) as alone:
        predictor(slow_client, timeout_s=0.05)(rows.head(10))
    assert one_sentence(str(alone.value))

    with pytest.raises(AnalysisError, match=r"^Task 1 of 3 \(rows 1-20 of 50\) failed: Timed out") as info:
        predictor(slow_client, max_rows=20, timeout_s=0.05)(rows)
    assert isinstance(info.value.__cause__, TaskTimeout) and isinstance(info.value.__cause__, APIError)
    assert one_sentence(str(info.value))


# ---- the cache on its own ---------------------------------------------------------------------------------------
def test_the_cache_drops_the_least_recently_used_answers_beyond_its_rows() -> None:
    cache = AnswerCache(max_rows=10)
    frames = {name: pd.DataFrame({"prediction": range(size)}) for name, size in (("a", 4), ("b", 4), ("c", 4))}
    cache.put("a", frames["a"])
    cache.put("b", frames["b"])
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", frames["c"])
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert (len(cache), cache.rows) == (2, 8)
    cache.put("huge", pd.DataFrame({"prediction": range(11)}))
    assert cache.get("huge") is None and cache.rows == 8, "answers larger than the cache are not kept"
    cache.clear()
    assert (len(cache), cache.rows) == (0, 0)


def test_cache_keys_tell_connections_models_and_rows_apart(rows: pd.DataFrame) -> None:
    key = AnswerCache.key(CONNECTION, TITANIC_PATH, DEMO_BUCKET, rows)
    assert key == AnswerCache.key(CONNECTION, TITANIC_PATH, DEMO_BUCKET, rows.copy())
    assert (
        len(
            {
                key,
                AnswerCache.key("another server", TITANIC_PATH, DEMO_BUCKET, rows),
                AnswerCache.key(CONNECTION, CREDIT_PATHS[0], DEMO_BUCKET, rows),
                AnswerCache.key(CONNECTION, TITANIC_PATH, "other-bucket", rows),
                AnswerCache.key(CONNECTION, TITANIC_PATH, DEMO_BUCKET, rows.iloc[::-1]),
            }
        )
        == 5
    )


def test_the_cache_is_safe_to_share_between_threads() -> None:
    cache = AnswerCache(max_rows=50)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(300):
                key = f"{offset}-{i % 17}"
                cache.put(key, pd.DataFrame({"prediction": [i] * (1 + i % 5)}))
                got = cache.get(key)
                assert got is None or len(got) >= 1
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    held = [cache.get(key) for key in [f"{n}-{i}" for n in range(4) for i in range(17)]]
    assert cache.rows <= 50 and cache.rows == sum(len(frame) for frame in held if frame is not None)


def test_rows_too_wide_for_one_request_body_are_split_to_fit_the_server_s_limit(
    model_store: Path, server: EmbeddedServer, client: ModelClient, rows: pd.DataFrame
) -> None:
    """A server with a small body limit refuses one task of all the rows; the predictor splits them to fit."""
    small = start_server(model_store, max_body_bytes=4096)
    try:
        with ModelClient(small.predict_url, secret=small.secret, user_id=DEMO_USER, email=DEMO_EMAIL) as narrow:
            with pytest.raises(PayloadTooLargeError):
                narrow.submit(rows, TITANIC_PATH, DEMO_BUCKET)  # the 50 rows are over 4 KiB
            predict = BatchPredictor(narrow, TITANIC_PATH, DEMO_BUCKET, connection_key=CONNECTION, max_body_bytes=3500)
            answers = predict(rows)
    finally:
        small.stop()
    assert predict.tasks_sent > 1 and predict.rows_sent == len(rows)
    assert answers.equals(predictor(client)(rows))  # the same answers, in order, as one task on the big server
