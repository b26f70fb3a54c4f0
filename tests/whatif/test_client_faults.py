"""ModelClient against a real local HTTP server that misbehaves on purpose.

The fake API is a ``ThreadingHTTPServer`` on 127.0.0.1 that answers each route from a
per-test script and records every request it reads, so retries, waits, queries, headers
and bodies are checked on the wire rather than through mocks (PROTOCOL.md section 4).

Time is a ``FakeClock`` given to the client (its clock, its sleep and its wall clock) and
read by the fake API when it records a request: a wait the client makes moves the clock at
once, so deadlines, Retry-After and back-off are checked to the millisecond, with no real
seconds spent and no dependence on the machine's load.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from whatif.client import ModelClient, TaskStatus
from whatif.errors import (
    APIConnectionError,
    APIResponseError,
    ExtensionUnavailable,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    TaskFailed,
    TaskTimeout,
)

PREDICT_PATH = "/api/v1/proxy/pipeline/model/predict"
SCHEMA_PATH = "/api/v1/proxy/pipeline/model/schema"
MODELS_PATH = "/api/v1/models"
SECRET = "s3cret-that-must-never-leave-the-client-7f3a9c"
USER_ID = "1"
EMAIL = "analyst@example.com"
MODEL_PATH = "1/4/model-groups/1/1.json"
BUCKET = "storage.datrics.ai"
ROWS: list[dict[str, Any]] = [
    {"pclass": i % 3, "sex": i % 2, "age": 20.5 + i, "sibsp": 0, "parch": 0, "fare": 7.25 + i, "embarked": 2}
    for i in range(12)
]
# a permutation of 0..11: any reordering of the result rows changes it
EXPECTED_PREDICTIONS = [(7 * i) % 12 for i in range(12)]
RECORDS = [{"prediction": p, "probability_1": p / 100} for p in EXPECTED_PREDICTIONS]
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    "</body>\r\n</html>\r\n"
)


# ---- the scriptable fake API ---------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """One scripted answer; ``drop`` reads the request, then closes without answering."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def reply_json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return Reply(status, json.dumps(payload).encode(), all_headers)


def reply_text(text: str, status: int = 200, content_type: str = "text/html; charset=utf-8") -> Reply:
    return Reply(status, text.encode(), {"Content-Type": content_type})


DROP = Reply(drop=True)


@dataclass(frozen=True)
class Recorded:
    """One request as the server read it."""

    route: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # the test's clock when it was read


class FakeClock:
    """Seconds that move only when something sleeps on it: the client's waits cost no real time.

    Called, it is the client's monotonic clock; ``wall`` is its wall clock, which starts at the
    real time (so tokens dated by it are valid now) and moves with it; ``sleep`` is its sleep,
    and ``slept`` lists every wait, in order.
    """

    def __init__(self) -> None:
        self.now = 1000.0  # small numbers: sums of pauses stay exact to the microsecond
        self.slept: list[float] = []
        self._wall_start = time.time() - self.now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def wall(self) -> float:
        with self._lock:
            return self._wall_start + self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        """Time passing while nobody waits (a user reading the page)."""
        with self._lock:
            self.now += seconds


class FakeAPI:
    """Answers each route (submit, poll, models, schema, other) from its script.

    Each route's replies are used in order and the last one repeats, so
    ``script("poll", started)`` is a task that never finishes. An unscripted route
    answers 404 like a server that does not have it. Requests are timed by ``clock``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.origin = ""
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = {}
        self._recorded: list[Recorded] = []

    @property
    def url(self) -> str:
        """The predict URL, as the platform shows it."""
        return self.origin + PREDICT_PATH

    def script(self, route: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[route] = deque(replies)

    def requests(self, route: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self._recorded if route is None or r.route == route]

    @staticmethod
    def route_of(method: str, path: str) -> str:
        if method == "POST" and path == PREDICT_PATH:
            return "submit"
        if method == "GET" and path.startswith(PREDICT_PATH + "/info/"):
            return "poll"
        if method == "GET" and path == MODELS_PATH:
            return "models"
        if method == "GET" and path == SCHEMA_PATH:
            return "schema"
        return "other"

    def answer(self, request: Recorded) -> Reply:
        with self._lock:
            self._recorded.append(request)
            queue = self._scripts.get(request.route)
            if not queue:
                return reply_json({"detail": "Not Found"}, 404)
            return queue.popleft() if len(queue) > 1 else queue[0]


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAPI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real API behind a proxy
    disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart (delayed ACK)
    server: _FakeServer

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Recorded(
            route=FakeAPI.route_of(self.command, parts.path),
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=self.server.fake.clock(),
        )
        reply = self.server.fake.answer(request)
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> Iterator[FakeAPI]:
    fake = FakeAPI(clock)
    server = _FakeServer(("127.0.0.1", 0), _Handler)
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.origin = f"http://127.0.0.1:{server.server_port}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def make_client(api: FakeAPI, clock: FakeClock) -> Iterator[Callable[..., ModelClient]]:
    """Clients with small timeouts and quick polling on the test's fake clock, closed after the test."""
    clients: list[ModelClient] = []

    def make(url: str | None = None, **overrides: Any) -> ModelClient:
        settings: dict[str, Any] = {
            "secret": SECRET,
            "user_id": USER_ID,
            "email": EMAIL,
            "poll_deadline_s": 5.0,
            "long_poll_s": 0.5,
            "connect_timeout_s": 1.0,
            "read_timeout_s": 3.0,
            "max_retries": 2,
            "first_poll_interval_s": 0.01,
            "max_poll_interval_s": 0.05,
            "clock": clock,
            "sleep": clock.sleep,
            "wall_clock": clock.wall,
        }
        settings.update(overrides)
        client = ModelClient(url or api.url, **settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def created(task_id: str = "task-1") -> Reply:
    return reply_json({"id": task_id, "state": "STARTED"})


def state(name: str, **extra: Any) -> Reply:
    return reply_json({"state": name, **extra})


def success(result: Any = RECORDS) -> Reply:
    return reply_json({"state": "SUCCESS", "result": result})


def free_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- retries while polling -----------------------------------------------------------------------
def test_a_500_while_polling_is_retried_and_the_prediction_arrives(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    api.script("submit", created("t-500"))
    api.script("poll", reply_json({"detail": "worker crashed"}, 500), success())

    result = make_client().predict(ROWS, MODEL_PATH, BUCKET, timeout=5)

    assert result.predictions["prediction"].tolist() == EXPECTED_PREDICTIONS
    polls = api.requests("poll")
    assert len(polls) == 2  # the 500, then the retry that got the result
    assert all(p.path == f"{PREDICT_PATH}/info/t-500" for p in polls)


def test_a_503_with_retry_after_on_a_poll_is_honoured(api: FakeAPI, make_client: Callable[..., ModelClient]) -> None:
    api.script("submit", created())
    api.script("poll", reply_json({"detail": "busy"}, 503, {"Retry-After": "1"}), success())

    result = make_client().predict(ROWS, MODEL_PATH, BUCKET, timeout=5)

    assert result.predictions["prediction"].tolist() == EXPECTED_PREDICTIONS
    first, second = api.requests("poll")
    assert second.at - first.at == pytest.approx(1.0)  # asked again after the second the server said


def test_a_poll_whose_connection_drops_is_retried(api: FakeAPI, make_client: Callable[..., ModelClient]) -> None:
    api.script("submit", created())
    api.script("poll", DROP, success())

    result = make_client().predict(ROWS, MODEL_PATH, BUCKET, timeout=5)

    assert result.predictions["prediction"].tolist() == EXPECTED_PREDICTIONS
    assert len(api.requests("poll")) == 2


# ---- a submit is re-sent only when it cannot have created a task ---------------------------------
@pytest.mark.parametrize("status", [503, 429])
def test_a_submit_refused_with_retry_after_is_sent_again(
    api: FakeAPI, make_client: Callable[..., ModelClient], status: int
) -> None:
    api.script(
        "submit", reply_json({"detail": "busy", "code": "busy"}, status, {"Retry-After": "1"}), created("t-second-try")
    )

    task_id = make_client().submit(ROWS, MODEL_PATH, BUCKET)

    assert task_id == "t-second-try"
    first, second = api.requests("submit")
    assert first.body == second.body
    assert json.loads(second.body) == ROWS
    assert second.at - first.at == pytest.approx(1.0)


def test_a_submit_refused_with_retry_after_until_retries_run_out_raises(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    api.script("submit", reply_json({"detail": "slow down", "code": "rate_limited"}, 429, {"Retry-After": "0"}))

    with pytest.raises(RateLimitError) as info:
        make_client(max_retries=1).submit(ROWS, MODEL_PATH, BUCKET)

    assert "429" in str(info.value) and "slow down" in str(info.value)
    assert len(api.requests("submit")) == 2


@pytest.mark.parametrize(
    "reply",
    [reply_json({"detail": "model crashed"}, 500), reply_json({"detail": "overloaded"}, 503)],
    ids=["500", "503-without-retry-after"],
)
def test_a_submit_answered_with_a_server_error_is_not_sent_twice(
    api: FakeAPI, make_client: Callable[..., ModelClient], reply: Reply
) -> None:
    api.script("submit", reply)

    with pytest.raises(InternalServerError) as info:
        make_client().submit(ROWS, MODEL_PATH, BUCKET)

    assert info.value.status_code == reply.status
    assert str(reply.status) in str(info.value)
    assert len(api.requests("submit")) == 1


def test_a_submit_whose_connection_drops_after_the_body_was_read_is_not_sent_twice(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    api.script("submit", DROP)

    with pytest.raises(APIConnectionError) as info:
        make_client().submit(ROWS, MODEL_PATH, BUCKET)

    (only,) = api.requests("submit")
    assert json.loads(only.body) == ROWS  # the server got the rows: a resend could duplicate the task
    assert api.origin in str(info.value)


def test_a_dropped_submit_is_not_reported_as_a_server_that_cannot_be_reached(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    """The rows reached the server, so "check the API URL" is the wrong advice (see report)."""
    api.script("submit", DROP)

    with pytest.raises(APIConnectionError) as info:
        make_client().submit(ROWS, MODEL_PATH, BUCKET)

    message = str(info.value)
    assert "no connection could be made" not in message
    assert "check the API URL" not in message


# ---- answers that are not the API's JSON -----------------------------------------------------------
def test_an_html_502_on_submit_quotes_the_status_and_the_page_title(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    api.script("submit", reply_text(HTML_502, 502))

    with pytest.raises(InternalServerError) as info:
        make_client().submit(ROWS, MODEL_PATH, BUCKET)

    assert info.value.status_code == 502
    assert "502" in str(info.value)
    assert "'502 Bad Gateway'" in str(info.value)
    assert "<html>" not in str(info.value)
    assert len(api.requests("submit")) == 1


def test_an_html_502_on_every_poll_raises_once_retries_are_exhausted(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    api.script("submit", created())
    api.script("poll", reply_text(HTML_502, 502))

    with pytest.raises(InternalServerError) as info:
        make_client(max_retries=2).predict(ROWS, MODEL_PATH, BUCKET, timeout=5)

    assert "502" in str(info.value) and "502 Bad Gateway" in str(info.value)
    assert len(api.requests("poll")) == 3  # the first try and two retries


def test_a_502_without_a_title_quotes_the_first_bytes_of_the_body(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    api.script("submit", reply_text("upstream connect error or disconnect/reset before headers", 502, "text/plain"))

    with pytest.raises(InternalServerError) as info:
        make_client().submit(ROWS, MODEL_PATH, BUCKET)

    assert "502" in str(info.value)
    assert "upstream connect error" in str(info.value)


@pytest.mark.parametrize(
    ("body", "shown"),
    [("", "empty body"), ("OK", "'OK'"), ("<html><title>Welcome to nginx!</title></html>", "Welcome to nginx!")],
    ids=["empty", "text", "html"],
)
@pytest.mark.parametrize("where", ["submit", "poll"])
def test_a_200_that_is_not_json_is_an_api_response_error(
    api: FakeAPI, make_client: Callable[..., ModelClient], where: str, body: str, shown: str
) -> None:
    api.script("submit", reply_text(body, 200) if where == "submit" else created())
    api.script("poll", reply_text(body, 200))

    with pytest.raises(APIResponseError) as info:
        make_client().predict(ROWS, MODEL_PATH, BUCKET, timeout=5)

    assert "not JSON" in str(info.value)
    assert "200" in str(info.value)
    assert shown in str(info.value)


def test_a_submit_answer_without_a_task_id_is_an_api_response_error(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    api.script("submit", reply_json({"state": "STARTED"}))

    with pytest.raises(APIResponseError, match="no task id"):
        make_client().submit(ROWS, MODEL_PATH, BUCKET)


def test_a_closed_port_is_a_connection_error_naming_the_origin(
    make_client: Callable[..., ModelClient], clock: FakeClock
) -> None:
    origin = f"http://127.0.0.1:{free_port()}"
    client = make_client(origin + PREDICT_PATH, max_retries=1)

    with pytest.raises(APIConnectionError) as info:
        client.submit(ROWS, MODEL_PATH, BUCKET)

    assert str(info.value).startswith(f"Cannot connect to {origin}")
    assert "refused" in str(info.value)
    assert sum(clock.slept) < 1  # said at once: no more than the short back-off before the one retry


# ---- task states -------------------------------------------------------------------------------------
def test_a_task_that_never_finishes_times_out_naming_the_task(
    api: FakeAPI, make_client: Callable[..., ModelClient], clock: FakeClock
) -> None:
    api.script("submit", created("t-forever"))
    api.script("poll", state("STARTED"))

    started = clock()
    with pytest.raises(TaskTimeout) as info:
        make_client().predict(ROWS, MODEL_PATH, BUCKET, timeout=1.0)
    waited = clock() - started

    assert waited == pytest.approx(1.0)  # the last pause is cut to the deadline: not a moment longer
    assert info.value.waited_s == pytest.approx(1.0)
    assert "t-forever" in str(info.value) and "1.0 s" in str(info.value)
    assert info.value.task_id == "t-forever"


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/worker.py", line 42, in predict\n'
    "    model.predict(frame)\n"
    "ValueError: Input contains NaN in column 'age'\n"
)


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ({"state": "FAILURE", "traceback": TRACEBACK}, "ValueError: Input contains NaN in column 'age'"),
        ({"state": "FAILURE", "result": TRACEBACK}, "ValueError: Input contains NaN in column 'age'"),
        (
            {
                "state": "FAILURE",
                "result": {"exc_type": "KeyError", "exc_message": ["'fare'"], "exc_module": "builtins"},
            },
            "KeyError: 'fare'",
        ),
        (
            {"state": "FAILURE", "error": {"type": "FeatureMismatch", "message": "column sex is missing"}},
            "FeatureMismatch: column sex is missing",
        ),
        ({"state": "REVOKED"}, "REVOKED"),
        ({"state": "REJECTED", "result": "worker lost"}, "worker lost"),
    ],
    ids=["traceback", "traceback-as-result", "celery-exc", "error-object", "revoked", "rejected"],
)
def test_a_failed_task_raises_task_failed_with_the_reason(
    api: FakeAPI, make_client: Callable[..., ModelClient], answer: dict[str, Any], detail: str
) -> None:
    api.script("submit", created("t-fail"))
    api.script("poll", state("STARTED"), reply_json(answer))

    with pytest.raises(TaskFailed) as info:
        make_client().predict(ROWS, MODEL_PATH, BUCKET, timeout=5)

    assert info.value.task_id == "t-fail"
    assert info.value.state == answer["state"]
    assert "t-fail" in str(info.value)
    assert detail in str(info.value)
    assert "Traceback (most recent call last)" not in str(info.value)


def test_pending_received_retry_and_custom_states_mean_not_yet(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    not_yet = ["PENDING", "RECEIVED", "RETRY", "PROGRESS", "STARTED"]
    api.script("submit", created())
    api.script("poll", *(state(name) for name in not_yet), success())
    seen: list[str] = []

    def on_status(status: TaskStatus, elapsed_s: float) -> None:
        seen.append(status.state)

    result = make_client().predict(ROWS, MODEL_PATH, BUCKET, timeout=5, on_status=on_status)

    assert seen == [*not_yet, "SUCCESS"]
    assert result.polls == len(not_yet) + 1
    assert result.predictions["prediction"].tolist() == EXPECTED_PREDICTIONS


@pytest.mark.parametrize("key", ["id", "task_id", "task-id"])
def test_the_task_id_is_read_under_every_known_key(
    api: FakeAPI, make_client: Callable[..., ModelClient], key: str
) -> None:
    api.script("submit", reply_json({key: "abc-123"}))
    api.script("poll", success())

    result = make_client().predict(ROWS, MODEL_PATH, BUCKET, timeout=5)

    assert result.task_id == "abc-123"
    assert api.requests("poll")[0].path == f"{PREDICT_PATH}/info/abc-123"


# ---- result layouts --------------------------------------------------------------------------------
COLUMN_LAYOUT = {  # pandas' to_dict() layout, keys deliberately out of order ("10" sorts before "2")
    "prediction": {str(i): EXPECTED_PREDICTIONS[i] for i in reversed(range(12))},
    "probability_1": {str(i): RECORDS[i]["probability_1"] for i in reversed(range(12))},
}


@pytest.mark.parametrize(
    "answer",
    [
        {"state": "SUCCESS", "result": RECORDS},
        {"state": "SUCCESS", "result": COLUMN_LAYOUT},
        {"state": "SUCCESS", "result": {"predictions": RECORDS}},
        {"state": "SUCCESS", "predictions": RECORDS},
        {"state": "SUCCESS", "result": {"data": RECORDS}},
        {"state": "SUCCESS", "data": RECORDS},
        {"state": "SUCCESS", "result": EXPECTED_PREDICTIONS},
        {"state": "SUCCESS", "result": {"predictions": EXPECTED_PREDICTIONS}},
        {"state": "SUCCESS", "result": json.dumps(RECORDS)},
    ],
    ids=[
        "records",
        "pandas-columns",
        "predictions-wrapper",
        "top-level-predictions",
        "data-wrapper",
        "top-level-data",
        "bare-values",
        "wrapped-bare-values",
        "json-string",
    ],
)
def test_every_result_layout_gives_the_predictions_in_row_order(
    api: FakeAPI, make_client: Callable[..., ModelClient], answer: dict[str, Any]
) -> None:
    api.script("submit", created())
    api.script("poll", reply_json(answer))

    frame = make_client().predict(ROWS, MODEL_PATH, BUCKET, timeout=5).predictions

    assert len(frame) == len(ROWS)
    assert frame["prediction"].tolist() == EXPECTED_PREDICTIONS
    if "probability_1" in frame:
        assert frame["probability_1"].tolist() == [p / 100 for p in EXPECTED_PREDICTIONS]


# ---- what goes on the wire -----------------------------------------------------------------------
def test_the_token_is_a_short_lived_hs256_jwt_and_the_secret_never_leaves(
    api: FakeAPI, make_client: Callable[..., ModelClient], clock: FakeClock
) -> None:
    api.script("submit", created())
    api.script("poll", state("STARTED"), success())
    client = make_client()

    client.predict(ROWS, MODEL_PATH, BUCKET, timeout=5)

    recorded = api.requests()
    assert len(recorded) == 3
    for request in recorded:
        scheme, _, token = request.headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        assert jwt.get_unverified_header(token)["alg"] == "HS256"
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        assert claims["userId"] == USER_ID and claims["email"] == EMAIL
        assert claims["iat"] <= clock.wall() < claims["exp"]
        assert claims["exp"] - claims["iat"] <= 900
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, "another-secret-of-a-decent-length-0123", algorithms=["HS256"])
        on_the_wire = f"{request.path}?{request.query}{request.headers}".encode() + request.body
        assert SECRET.encode() not in on_the_wire
    assert SECRET not in repr(client)
    assert SECRET not in repr(client._session.auth)


def test_a_long_wait_signs_its_later_polls_with_a_fresh_token(
    api: FakeAPI, make_client: Callable[..., ModelClient], clock: FakeClock
) -> None:
    """A wait longer than a token's life does not end in 401: the client mints a new one in time."""
    api.script("submit", created())
    api.script("poll", state("STARTED"))
    client = make_client(token_lifetime_s=300.0)
    task_id = client.submit(ROWS, MODEL_PATH, BUCKET)

    client.status(task_id)
    clock.advance(239.0)  # less than 4/5 of the token's life: the same token
    client.status(task_id)
    clock.advance(2.0)  # past 4/5: a new one
    renewed_at = clock.wall()
    client.status(task_id)

    submit, *polls = api.requests()
    tokens = [r.headers["authorization"].partition(" ")[2] for r in (submit, *polls)]
    claims = [jwt.decode(t, SECRET, algorithms=["HS256"], leeway=600) for t in tokens]
    assert tokens[0] == tokens[1] == tokens[2] != tokens[3]
    assert claims[3]["iat"] == int(renewed_at)
    assert claims[3]["exp"] - claims[3]["iat"] == 300


@pytest.mark.parametrize(("only", "sent"), [(False, "False"), (True, "True")])
def test_the_submit_query_and_body_are_those_of_the_documented_client(
    api: FakeAPI, make_client: Callable[..., ModelClient], only: bool, sent: str
) -> None:
    api.script("submit", created())

    make_client().submit(ROWS, MODEL_PATH, BUCKET, return_only_prediction=only)

    (submit,) = api.requests("submit")
    assert submit.path == PREDICT_PATH
    assert submit.query == {"path": [MODEL_PATH], "bucket": [BUCKET], "return_only_prediction": [sent]}
    assert submit.headers["content-type"].startswith("application/json")
    assert json.loads(submit.body) == ROWS


def test_a_poll_asks_for_a_long_poll(api: FakeAPI, make_client: Callable[..., ModelClient]) -> None:
    api.script("submit", created())
    api.script("poll", success())

    make_client(long_poll_s=0.5).predict(ROWS, MODEL_PATH, BUCKET, timeout=5)

    (poll,) = api.requests("poll")
    assert 0 < float(poll.query["wait"][0]) <= 0.5


def test_the_client_backs_off_when_the_server_ignores_the_long_poll(
    api: FakeAPI, make_client: Callable[..., ModelClient], clock: FakeClock
) -> None:
    api.script("submit", created())
    api.script("poll", state("STARTED"))
    client = make_client(first_poll_interval_s=0.05, max_poll_interval_s=1.0, long_poll_s=10.0)

    with pytest.raises(TaskTimeout):
        client.predict(ROWS, MODEL_PATH, BUCKET, timeout=1.0)

    polls = api.requests("poll")
    assert 2 <= len(polls) < 25
    # every poll but the one at the deadline (nothing left to wait for) asks for a long poll
    assert all(float(p.query["wait"][0]) > 0 for p in polls[:-1])
    gaps = [b.at - a.at for a, b in zip(polls, polls[1:], strict=False)]
    assert gaps == pytest.approx(clock.slept)  # between two polls: one pause, nothing else
    assert 0.04 <= gaps[0] <= 0.06  # the first pause is the first interval (jittered)
    # each pause is longer than the one before (x1.6, jittered), but the last, cut short by the deadline
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:-1], strict=False))


# ---- optional routes -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reply", [None, reply_text("<html><title>404 Not Found</title></html>", 404)], ids=["json-404", "html-404"]
)
@pytest.mark.parametrize("call", ["list_models", "schema"])
def test_missing_extension_routes_tell_the_user_to_enter_path_and_bucket(
    api: FakeAPI, make_client: Callable[..., ModelClient], call: str, reply: Reply | None
) -> None:
    if reply is not None:
        api.script("models", reply)
        api.script("schema", reply)
    client = make_client()

    with pytest.raises(ExtensionUnavailable) as info:
        if call == "list_models":
            client.list_models()
        else:
            client.schema(MODEL_PATH, BUCKET)

    assert "enter the model path and bucket" in str(info.value)
    assert "404" in str(info.value)
    assert len(api.requests("models" if call == "list_models" else "schema")) == 1


def test_a_schema_route_that_knows_no_such_model_is_not_a_missing_extension(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    api.script("schema", reply_json({"detail": "No model at 1/9/x.json", "code": "model_not_found"}, 404))

    with pytest.raises(NotFoundError) as info:
        make_client().schema("1/9/x.json", BUCKET)

    assert "No model at 1/9/x.json" in str(info.value)
    (request,) = api.requests("schema")
    assert request.query == {"path": ["1/9/x.json"], "bucket": [BUCKET]}


def test_the_extension_routes_are_read_when_the_server_has_them(
    api: FakeAPI, make_client: Callable[..., ModelClient]
) -> None:
    api.script(
        "models",
        reply_json(
            {
                "models": [
                    {
                        "name": "Titanic",
                        "group": "1",
                        "project": "4",
                        "versions": [
                            {"version": 2, "path": "1/4/model-groups/1/2.json", "bucket": BUCKET},
                            {"version": 1, "path": MODEL_PATH, "bucket": BUCKET},
                        ],
                    },
                ]
            }
        ),
    )
    api.script(
        "schema",
        reply_json(
            {
                "name": "Titanic",
                "features": [
                    {"name": "age", "type": "number", "min": 0.17, "max": 80},
                    {"name": "sex", "type": "integer", "labels": {"0": "female", "1": "male"}},
                ],
            }
        ),
    )
    client = make_client()

    (model,) = client.list_models()
    schema = client.schema(MODEL_PATH, BUCKET)

    assert model.latest.path == "1/4/model-groups/1/2.json"
    assert schema.input_columns == ["age", "sex"]
