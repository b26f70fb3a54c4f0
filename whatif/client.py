"""A client for AutoModel prediction APIs (Datrics style): submit rows, wait for the task.

It speaks the documented protocol (PROTOCOL.md section 1) and does what the documented
client does not (section 4): short-lived tokens, timeouts on every request, retries only
where they are safe, long poll where the server offers it, every known result layout, and
errors that are one sentence a user can act on (``whatif.errors``).

    client = ModelClient("http://127.0.0.1:8000/api/v1/proxy/pipeline/model/predict",
                         secret=..., user_id="1", email="demo@example.com")
    result = client.predict([{"pclass": 0, "sex": 0, ...}], path="1/4/model-groups/1/1.json",
                            bucket="storage.datrics.ai")
    result.predictions  # a DataFrame, one row per input row
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self, TypeAlias
from urllib.parse import quote, urlsplit

import jwt
import numpy as np
import pandas as pd
import requests
from jwt.algorithms import HMACAlgorithm
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from whatif.errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    ExtensionUnavailable,
    TaskFailed,
    TaskTimeout,
    status_error_class,
)
from whatif.protocol import (
    DEMO_BUCKET,
    DEMO_EMAIL,
    FAILED_STATES,
    PREDICT_PATH,
    SUCCESS,
    TASK_ID_KEYS,
    TASK_INFO,
    SavedVersionAnswer,
    SubmitAnswer,
    TrainingTaskInfo,
)
from whatif.schema import FeatureSchema, RowValidationError, SchemaError

logger = logging.getLogger(__name__)

DEFAULT_PREDICT_PATH = PREDICT_PATH
DEFAULT_EMAIL = DEMO_EMAIL  # the demo user's; the documented token always carries an email claim
SUCCESS_STATE = SUCCESS
RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 10.0
PROGRESS_POLL_S = 1.0  # how often a training's progress is asked for while someone watches it

Rows: TypeAlias = Sequence[Mapping[str, Any]] | pd.DataFrame
Clock: TypeAlias = Callable[[], float]
Sleep: TypeAlias = Callable[[float], None]


# ---- authentication ---------------------------------------------------------------------------
class _QuietHS256(HMACAlgorithm):
    """HS256 without PyJWT's InsecureKeyLengthWarning on every token signed with a short secret.

    The CLI and the Settings page say it once instead (``whatif.profiles.short_secret_warning``);
    a warnings filter would be process-wide, and ``catch_warnings`` is not thread-safe.
    """

    def check_key_length(self, key: bytes) -> str | None:
        return None


_TOKEN_SIGNER = jwt.PyJWS()
_TOKEN_SIGNER.unregister_algorithm("HS256")
_TOKEN_SIGNER.register_algorithm("HS256", _QuietHS256(HMACAlgorithm.SHA256))


class JWTAuth(AuthBase):
    """Signs each request with a short-lived HS256 token carrying ``userId`` and ``email``.

    Tokens carry ``iat`` and ``exp`` so a leaked one is useless soon; one is re-used until
    it is close to expiry. The secret and tokens never appear in ``repr`` or logs.
    ``wall_clock`` (seconds since the epoch) dates the tokens; a test may pass a fake one.
    """

    def __init__(
        self, secret: str, user_id: str, email: str, lifetime_s: float = 300.0, wall_clock: Clock = time.time
    ) -> None:
        if not secret:
            raise ValueError("An API secret is needed to sign tokens; set WHATIF_API_SECRET.")
        self._secret = secret
        self.user_id = str(user_id)
        self.email = email
        self.lifetime_s = float(lifetime_s)
        self._wall_clock = wall_clock
        self._token = ""
        self._token_exp = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid token, minted anew when the cached one has less than a fifth of its life."""
        with self._lock:
            now = self._wall_clock()
            if now > self._token_exp - self.lifetime_s / 5:
                issued = int(now)
                self._token_exp = issued + self.lifetime_s
                claims = {
                    "userId": self.user_id,
                    "email": self.email,
                    "iat": issued,
                    "exp": int(math.ceil(self._token_exp)),
                }
                payload = json.dumps(claims, separators=(",", ":")).encode()  # as jwt.encode writes it
                self._token = _TOKEN_SIGNER.encode(payload, self._secret, algorithm="HS256")
            return self._token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["authorization"] = f"Bearer {self.token()}"
        return request

    def __repr__(self) -> str:
        return f"JWTAuth(user_id={self.user_id!r}, email={self.email!r}, secret='***')"


# ---- retries ------------------------------------------------------------------------------------
class _ApiRetry(Retry):
    """urllib3 retries with the rules of PROTOCOL.md section 4.

    A GET is retried on connection errors, 429 and 5xx. A POST (a submit) is retried only
    when it cannot have created a task: the connection failed before it was sent, or the
    server refused it with 429/503 and a Retry-After. Waits told by Retry-After are capped.
    The waits between tries go through ``sleep_fn`` (``time.sleep`` unless the client was given
    another), so a test can see them without spending them.
    """

    sleep_fn: Sleep = staticmethod(time.sleep)

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)  # urllib3 makes a new Retry after every try: keep the sleep
        retry.sleep_fn = self.sleep_fn
        return retry

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            self.sleep_fn(retry_after)
            return True
        return False

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.respect_retry_after_header and response and self.sleep_for_retry(response):
            return
        backoff = self.get_backoff_time()
        if backoff > 0:
            self.sleep_fn(backoff)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST":
            return bool(self.total) and status_code in (429, 503) and has_retry_after
        return super().is_retry(method, status_code, has_retry_after)

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), MAX_RETRY_AFTER_S)


def _retry_policy(max_retries: int, sleep: Sleep = time.sleep) -> Retry:
    retry = _ApiRetry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=0.1,
        backoff_max=2.0,
        backoff_jitter=0.05,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.sleep_fn = sleep
    return retry


# ---- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskStatus:
    """One answer of the task-info route."""

    task_id: str
    state: str
    raw: dict[str, Any]

    @property
    def ready(self) -> bool:
        """True when the task will not change any more."""
        return self.state == SUCCESS_STATE or self.state in FAILED_STATES


@dataclass(frozen=True)
class PredictionResult:
    """A finished prediction: one row of ``predictions`` per input row, in order."""

    task_id: str
    predictions: pd.DataFrame
    raw: dict[str, Any]
    submitted_at: float
    finished_at: float
    polls: int

    @property
    def elapsed_s(self) -> float:
        """Seconds from submit to the answer that carried the result."""
        return self.finished_at - self.submitted_at


@dataclass(frozen=True)
class ModelVersion:
    """One saved version of a model, and where the API finds it."""

    version: int
    path: str
    bucket: str
    task: str = ""
    target: str = ""
    created: str = ""
    name: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    # a trained version's baseline metrics and row counts (empty / None for other models)
    baseline: dict[str, float] = field(default_factory=dict)
    rows_trained: int | None = None
    rows_held_out: int | None = None
    description: str = ""
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class SavedModel:
    """A saved model (a model group) with its versions, newest last."""

    name: str
    group: str
    project: str
    versions: tuple[ModelVersion, ...]

    @property
    def latest(self) -> ModelVersion:
        """The newest version."""
        return self.versions[-1]


class RouteNotOffered(ExtensionUnavailable):
    """The connected API does not offer this extension (it answered 404/405 for the route itself)."""


@dataclass(frozen=True)
class SavedVersion:
    """A model version the server has just saved (uploaded or trained), and how good it is."""

    path: str
    bucket: str
    version: int
    name: str
    group: str
    project: str
    created: str
    task: str
    target: str
    features: tuple[str, ...]
    metrics: dict[str, float]
    baseline: dict[str, float]  # the majority-class or mean model on the same held-out rows; empty for uploads
    rows_trained: int
    rows_held_out: int

    @classmethod
    def from_answer(cls, answer: Any) -> SavedVersion:
        """Read a ``SavedVersionAnswer``; APIResponseError when it is not one."""
        try:
            saved = SavedVersionAnswer.model_validate(answer)
        except ValidationError:
            raise APIResponseError(
                "The server's answer about the saved model is not what this API sends; it may not be a compatible API."
            ) from None
        return cls(
            path=saved.path,
            bucket=saved.bucket,
            version=saved.version,
            name=saved.name,
            group=saved.group,
            project=saved.project,
            created=saved.created,
            task=saved.task,
            target=saved.target,
            features=tuple(saved.features),
            metrics=dict(saved.metrics),
            baseline=dict(saved.baseline),
            rows_trained=saved.rows_trained,
            rows_held_out=saved.rows_held_out,
        )


@dataclass(frozen=True)
class TrainingStatus:
    """One answer about a training task: its progress and stage, then the saved version or why it failed."""

    task_id: str
    state: str
    progress: float
    stage: str
    result: SavedVersion | None = None
    error: str | None = None  # one sentence, on FAILURE

    @property
    def finished(self) -> bool:
        """True when the task will not change any more."""
        return self.state == SUCCESS_STATE or self.state in FAILED_STATES


@dataclass(frozen=True)
class SampleRows:
    """Real rows of a model's held-out data, to start a what-if from.

    ``rows`` are request rows, sendable as they are (one-hot groups as their 0/1 columns;
    ``FeatureSchema.from_row`` turns one into form values); ``targets[i]`` is the true value
    of ``rows[i]``, None where unknown.
    """

    rows: list[dict[str, Any]]
    targets: list[Any]
    target: str = ""  # what the model predicts ("" when unknown)
    available: int = 0  # how many sample rows the server holds for the model

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame, with the true values in a column named after the target."""
        return pd.DataFrame.from_records(self.rows).assign(**{self.target or "target": self.targets})


URL_EXAMPLE = "give it as the platform shows it, e.g. https://api.example.com/api/v1/proxy/pipeline/model/predict."


@dataclass(frozen=True)
class Endpoints:
    """The URLs of one API, derived from the predict URL the platform shows."""

    predict_url: str
    api_root: str
    origin: str

    @classmethod
    def from_url(cls, url: str) -> Endpoints:
        """Accept the predict URL as the platform shows it, or a bare origin."""
        # The URL as typed is never repeated in an error: it may carry a password or a token.
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 - raises on a port that is not a number from 0 to 65535
        except ValueError as exc:  # its text quotes the port, which may be a piece of a password
            what = "its port is not a number from 0 to 65535" if "Port" in str(exc) else "its host cannot be read"
            raise ValueError(f"The API URL is not a valid URL: {what}; {URL_EXAMPLE}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"The API URL must start with http:// or https:// and name a host; {URL_EXAMPLE}")
        if any(character.isspace() for character in parts.netloc):
            raise ValueError(f"The API URL's host name contains a space; {URL_EXAMPLE}")
        if parts.username or parts.password:  # it would be shown and logged with the URL
            raise ValueError(
                "The API URL must not contain a user name or password; the API secret signs the requests instead."
            )
        origin = f"{parts.scheme}://{parts.netloc}"
        path = parts.path.rstrip("/")
        if path.endswith("/info"):
            path = path[: -len("/info")]
        if not path:
            path = DEFAULT_PREDICT_PATH
        cut = path.find("/api/v1")
        api_root = origin + (path[: cut + len("/api/v1")] if cut >= 0 else "/api/v1")
        return cls(predict_url=origin + path, api_root=api_root, origin=origin)

    @property
    def schema_url(self) -> str:
        """The schema extension, beside the predict route."""
        return self.predict_url.rsplit("/", 1)[0] + "/schema"

    @property
    def models_url(self) -> str:
        """The saved-models extension."""
        return self.api_root + "/models"

    @property
    def sample_url(self) -> str:
        """The sample-rows extension, beside the predict route."""
        return self.predict_url.rsplit("/", 1)[0] + "/sample"

    @property
    def upload_url(self) -> str:
        """The model-upload extension (POST, multipart)."""
        return self.api_root + "/models"

    @property
    def train_url(self) -> str:
        """The training extension (POST, multipart)."""
        return self.api_root + "/models/train"

    def train_info_url(self, task_id: str) -> str:
        """The state of one training task."""
        return f"{self.train_url}/{quote(task_id, safe='')}"

    def info_url(self, task_id: str) -> str:
        """The task-info route of one task."""
        return f"{self.predict_url}/info/{quote(task_id, safe='')}"


# ---- the client ---------------------------------------------------------------------------------
class ModelClient:
    """Talks to one AutoModel prediction API as one user.

    Everything that waits or reads the time goes through ``clock`` (monotonic seconds: poll
    deadlines and intervals), ``sleep`` (the pauses between polls and between retries) and
    ``wall_clock`` (seconds since the epoch: ``submitted_at``/``finished_at`` and the tokens'
    dates), so a test can pass fakes and spend no real time on waits.
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str,
        user_id: str = "1",
        email: str = DEFAULT_EMAIL,
        token_lifetime_s: float = 300.0,
        poll_deadline_s: float = 60.0,
        long_poll_s: float = 10.0,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = 30.0,
        max_retries: int = 4,
        first_poll_interval_s: float = 0.05,
        max_poll_interval_s: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        wall_clock: Clock = time.time,
    ) -> None:
        self.endpoints = Endpoints.from_url(url)
        self.user_id = str(user_id)
        self.email = email
        self.poll_deadline_s = poll_deadline_s
        self.long_poll_s = long_poll_s
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.first_poll_interval_s = first_poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._auth = JWTAuth(secret, self.user_id, email, token_lifetime_s, wall_clock=wall_clock)
        self._session = requests.Session()
        self._session.auth = self._auth
        adapter = HTTPAdapter(max_retries=_retry_policy(max_retries, sleep), pool_maxsize=32)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._submitted_at: dict[str, float] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ModelClient:
        """Build a client from ``WHATIF_API_URL``, ``WHATIF_API_SECRET``, ``WHATIF_USER_ID``, ``WHATIF_USER_EMAIL``."""
        env = os.environ if environ is None else environ
        settings: dict[str, Any] = {
            "url": env.get("WHATIF_API_URL", ""),
            "secret": env.get("WHATIF_API_SECRET", ""),
            "user_id": env.get("WHATIF_USER_ID", "1"),
            "email": env.get("WHATIF_USER_EMAIL", DEFAULT_EMAIL),
        }
        settings.update({k: v for k, v in overrides.items() if v is not None})
        if not settings["url"]:
            raise ValueError("No API URL: set WHATIF_API_URL or pass --url.")
        if not settings["secret"]:
            raise ValueError("No API secret: set WHATIF_API_SECRET.")
        url = settings.pop("url")
        return cls(url, **settings)

    def __repr__(self) -> str:
        return (
            f"ModelClient(url={self.endpoints.predict_url!r}, user_id={self.user_id!r}, "
            f"email={self.email!r}, secret='***')"
        )

    def __enter__(self) -> ModelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    # ---- the documented protocol ----
    def submit(self, rows: Rows, path: str, bucket: str, return_only_prediction: bool = False) -> str:
        """Start a prediction task for ``rows``; return its task id at once."""
        records = _records(rows)
        body = json.dumps(records, allow_nan=False).encode()
        params = {
            "path": path,
            "bucket": bucket,
            "return_only_prediction": "True" if return_only_prediction else "False",
        }
        started = self._wall_clock()
        response = self._request(
            "POST",
            self.endpoints.predict_url,
            params=params,
            data=body,
            headers={"content-type": "application/json;charset=UTF-8"},
            what=f"Submitting rows to model {path!r} in bucket {bucket!r}",
        )
        answer = self._json(response, "The submit answer")
        task_id = submitted_task_id(answer)
        if not task_id:
            raise APIResponseError(
                f"The server accepted the rows but its answer has no task id ({_snippet(response.text)}); "
                "check that the URL is the model's predict URL."
            )
        if len(self._submitted_at) > 1000:
            self._submitted_at.clear()
        self._submitted_at[task_id] = started
        logger.info("submitted %d row(s) to %s as task %s", len(records), path, task_id)
        return task_id

    def status(self, task_id: str, wait_s: float = 0.0) -> TaskStatus:
        """The task's state now, or as soon as it is ready within ``wait_s`` (long poll)."""
        params = {"wait": f"{wait_s:.3f}".rstrip("0").rstrip(".")} if wait_s > 0 else None
        response = self._request(
            "GET",
            self.endpoints.info_url(task_id),
            params=params,
            extra_read_s=wait_s,
            what=f"Reading the state of task {task_id}",
        )
        answer = self._json(response, f"The state of task {task_id}")
        state = task_state(answer)
        if state is None:
            raise APIResponseError(
                f"The server's answer about task {task_id} has no state ({_snippet(response.text)}); "
                "check that the URL is the model's predict URL."
            )
        return TaskStatus(task_id=task_id, state=state, raw=answer)

    def wait(
        self,
        task_id: str,
        timeout: float | None = None,
        on_status: Callable[[TaskStatus, float], None] | None = None,
    ) -> PredictionResult:
        """Poll until the task is ready; return its result or raise TaskFailed / TaskTimeout.

        Asks for a long poll on every call; when the server answers early without the task
        being ready (it does not know ``wait``), sleeps a short, growing, jittered interval.
        ``on_status(status, elapsed_s)`` is called after every poll (for progress displays).
        """
        deadline_s = self.poll_deadline_s if timeout is None else timeout
        start = self._clock()
        submitted_at = self._submitted_at.get(task_id, self._wall_clock())
        interval = self.first_poll_interval_s
        polls = 0
        while True:
            remaining = deadline_s - (self._clock() - start)
            wait_s = max(0.0, min(self.long_poll_s, remaining))
            asked = self._clock()
            status = self.status(task_id, wait_s=wait_s)
            polls += 1
            elapsed = self._clock() - start
            if on_status is not None:
                on_status(status, elapsed)
            if status.state == SUCCESS_STATE:
                self._submitted_at.pop(task_id, None)
                return PredictionResult(
                    task_id, parse_predictions(status.raw), status.raw, submitted_at, self._wall_clock(), polls
                )
            if status.state in FAILED_STATES:
                self._submitted_at.pop(task_id, None)
                detail = failure_detail(status.raw)
                raise TaskFailed(
                    f"Prediction task {task_id} ended in {status.state}: {detail}; "
                    "check the input values or ask the model's owner.",
                    task_id=task_id,
                    state=status.state,
                    detail=detail,
                )
            remaining = deadline_s - elapsed
            if remaining <= 0:
                raise TaskTimeout(
                    f"Timed out after {elapsed:.1f} s waiting for task {task_id} (last state "
                    f"{status.state}); the server may be busy: try again or raise the poll deadline.",
                    task_id=task_id,
                    waited_s=elapsed,
                )
            if self._clock() - asked < wait_s / 2:
                # the server answered early: it has no long poll, so back off before asking again
                self._sleep(min(remaining, interval * random.uniform(0.8, 1.2)))
                interval = min(interval * 1.6, self.max_poll_interval_s)

    def predict(
        self,
        rows: Rows,
        path: str,
        bucket: str,
        return_only_prediction: bool = False,
        timeout: float | None = None,
        on_status: Callable[[TaskStatus, float], None] | None = None,
    ) -> PredictionResult:
        """Submit ``rows`` and wait for the predictions."""
        task_id = self.submit(rows, path, bucket, return_only_prediction)
        return self.wait(task_id, timeout=timeout, on_status=on_status)

    # ---- extensions of our reference server ----
    def list_models(self) -> list[SavedModel]:
        """The saved models this user may call (extension ``GET /api/v1/models``)."""
        response = self._request("GET", self.endpoints.models_url, what="Listing saved models")
        answer = self._json(response, "The saved-models list", extension="a saved-models list")
        items = answer.get("models") if isinstance(answer, dict) else answer
        if not isinstance(items, list):
            raise APIResponseError(
                "The saved-models list is not a list of models; the server may not be a compatible API."
            )
        return [_saved_model(item) for item in items if isinstance(item, dict)]

    def schema(self, path: str, bucket: str) -> FeatureSchema:
        """The feature schema of one saved model (extension ``GET .../model/schema``)."""
        response = self._request(
            "GET",
            self.endpoints.schema_url,
            params={"path": path, "bucket": bucket},
            what=f"Reading the schema of model {path!r}",
        )
        answer = self._json(response, f"The schema of model {path!r}", extension="a model-schema route")
        try:
            return FeatureSchema.from_dict(answer)
        except SchemaError as bad:
            raise APIResponseError(f"The server's schema of model {path!r} cannot be used: {bad}.") from None

    def sample_rows(self, path: str, bucket: str, n: int = 5) -> SampleRows:
        """A few real held-out rows of one saved model, with their true targets (extension ``GET .../model/sample``).

        ``n`` is from 1 to 50 (our server's bound); a model saved without sample rows raises
        NotFoundError with code ``no_sample_rows``, a server without the route ExtensionUnavailable.
        """
        response = self._request(
            "GET",
            self.endpoints.sample_url,
            params={"path": path, "bucket": bucket, "n": str(n)},
            what=f"Reading sample rows of model {path!r}",
        )
        answer = self._json(
            response,
            f"The sample rows of model {path!r}",
            extension="sample rows of models",
            instead="fill the form by hand or from a file of rows instead",
        )
        rows = answer.get("rows") if isinstance(answer, dict) else None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise APIResponseError(
                f"The sample rows of model {path!r} are not a list of rows ({_snippet(response.text)}); "
                "the server may not be a compatible API."
            )
        targets = answer.get("targets")
        if not isinstance(targets, list) or len(targets) != len(rows):
            targets = [None] * len(rows)  # rows without their true values are still real rows
        available = answer.get("available")
        return SampleRows(
            rows=rows,
            targets=targets,
            target=str(answer.get("target") or ""),
            available=available if type(available) is int else len(rows),
        )

    # ---- adding models (extensions of our reference server) ----
    def accepts_uploads(self) -> bool:
        """True when the API takes new models (``accepts_uploads`` in ``GET /api/v1/models``).

        False when the answer does not say so (a real platform) or the route is missing;
        other failures (a wrong secret, no connection) raise as usual.
        """
        response = self._request("GET", self.endpoints.models_url, what="Listing saved models")
        try:
            answer = self._json(response, "The saved-models list", extension="a saved-models list")
        except ExtensionUnavailable:
            return False
        return isinstance(answer, dict) and answer.get("accepts_uploads") is True

    def add_model(
        self,
        model: bytes,
        schema: bytes,
        schema_filename: str,
        *,
        name: str | None = None,
        version_of: str | None = None,
        target: str | None = None,
        bucket: str = DEMO_BUCKET,
        description: str = "",
        metrics: Mapping[str, float] | None = None,
    ) -> SavedVersion:
        """Save a fitted skops model with its schema (JSON, or a training CSV with ``target``).

        As a new model (``name``) or a new version of the model whose version ``version_of`` is
        the path of. Every refusal raises an APIStatusError with the server's sentence; a server
        without the route raises RouteNotOffered.
        """
        fields = _form_fields(
            name=name,
            version_of=version_of,
            target=target,
            bucket=bucket,
            description=description,
            metrics=json.dumps(dict(metrics)) if metrics else None,
        )
        files = {
            "model": ("model.skops", model, "application/octet-stream"),
            "schema": (schema_filename, schema, _content_type(schema_filename)),
        }
        response = self._request(
            "POST", self.endpoints.upload_url, data=fields, files=files, what="Uploading the model"
        )
        answer = self._json(response, "The upload's answer", extension="uploads of models", missing=RouteNotOffered)
        return SavedVersion.from_answer(answer)

    def start_training(
        self,
        csv: bytes,
        target: str,
        *,
        name: str | None = None,
        version_of: str | None = None,
        features: Sequence[str] | None = None,
        kinds: Mapping[str, str] | None = None,
        task: str | None = None,
        bucket: str = DEMO_BUCKET,
        filename: str = "data.csv",
        description: str = "",
    ) -> str:
        """Start training a model on ``csv`` (saved as a new model or a new version); return the task id."""
        fields = _form_fields(
            target=target,
            name=name,
            version_of=version_of,
            features=",".join(features) if features else None,
            kinds=json.dumps(dict(kinds)) if kinds else None,
            task=task,
            bucket=bucket,
            description=description,
        )
        response = self._request(
            "POST",
            self.endpoints.train_url,
            data=fields,
            files={"file": (filename, csv, "text/csv")},
            what="Starting a training",
        )
        answer = self._json(response, "The training's answer", extension="training of models", missing=RouteNotOffered)
        task_id = submitted_task_id(answer)
        if not task_id:
            raise APIResponseError(
                f"The server accepted the training but its answer has no task id ({_snippet(response.text)})."
            )
        logger.info("started training task %s", task_id)
        return task_id

    def training_status(self, task_id: str, wait_s: float = 0.0) -> TrainingStatus:
        """The training's state now, or as soon as it finishes within ``wait_s`` (long poll)."""
        params = {"wait": f"{wait_s:.3f}".rstrip("0").rstrip(".")} if wait_s > 0 else None
        response = self._request(
            "GET",
            self.endpoints.train_info_url(task_id),
            params=params,
            extra_read_s=wait_s,
            what=f"Reading the state of training task {task_id}",
        )
        answer = self._json(
            response, f"The state of training task {task_id}", extension="training of models", missing=RouteNotOffered
        )
        try:
            info = TrainingTaskInfo.model_validate(answer)
        except ValidationError:
            raise APIResponseError(
                f"The server's answer about training task {task_id} is not a training state "
                f"({_snippet(response.text)}); it may not be a compatible API."
            ) from None
        return TrainingStatus(
            task_id=task_id,
            state=info.state,
            progress=info.progress,
            stage=info.stage,
            result=SavedVersion.from_answer(info.result.model_dump()) if info.result is not None else None,
            error=(info.error.message or info.error.type) if info.error is not None else None,
        )

    def train(
        self,
        csv: bytes,
        target: str,
        *,
        name: str | None = None,
        version_of: str | None = None,
        features: Sequence[str] | None = None,
        kinds: Mapping[str, str] | None = None,
        task: str | None = None,
        bucket: str = DEMO_BUCKET,
        filename: str = "data.csv",
        description: str = "",
        on_progress: Callable[[TrainingStatus], None] | None = None,
        deadline_s: float = 300.0,
    ) -> SavedVersion:
        """Start a training and long-poll it until it ends: the saved version, or TaskFailed with the
        server's sentence (TaskTimeout after ``deadline_s``). ``on_progress`` sees every answer (one
        about every ``PROGRESS_POLL_S`` seconds while it runs)."""
        task_id = self.start_training(
            csv,
            target,
            name=name,
            version_of=version_of,
            features=features,
            kinds=kinds,
            task=task,
            bucket=bucket,
            filename=filename,
            description=description,
        )
        return self.wait_for_training(task_id, on_progress=on_progress, deadline_s=deadline_s)

    def wait_for_training(
        self,
        task_id: str,
        *,
        on_progress: Callable[[TrainingStatus], None] | None = None,
        deadline_s: float = 300.0,
    ) -> SavedVersion:
        """Long-poll a training task until it ends (see ``train``)."""
        start = self._clock()
        interval = self.first_poll_interval_s
        # a long poll answers when the task ends, not when it progresses: shorter ones when progress is shown
        longest_s = min(self.long_poll_s, PROGRESS_POLL_S) if on_progress is not None else self.long_poll_s
        while True:
            remaining = deadline_s - (self._clock() - start)
            wait_s = max(0.0, min(longest_s, remaining))
            asked = self._clock()
            status = self.training_status(task_id, wait_s=wait_s)
            if on_progress is not None:
                on_progress(status)
            if status.state == SUCCESS_STATE and status.result is not None:
                return status.result
            if status.finished:
                detail = status.error or "the server gave no reason"
                raise TaskFailed(f"Training failed: {detail}", task_id=task_id, state=status.state, detail=detail)
            elapsed = self._clock() - start
            if elapsed >= deadline_s:
                raise TaskTimeout(
                    f"Timed out after {elapsed:.0f} s waiting for training task {task_id} (last stage "
                    f"{status.stage}); it may still finish: look for the model in the list, or wait longer.",
                    task_id=task_id,
                    waited_s=elapsed,
                )
            if self._clock() - asked < wait_s / 2:  # no long poll on this server: back off between polls
                self._sleep(min(deadline_s - elapsed, interval * random.uniform(0.8, 1.2)))
                interval = min(interval * 1.6, self.max_poll_interval_s)

    # ---- plumbing ----
    def _request(
        self, method: str, url: str, *, what: str, extra_read_s: float = 0.0, **kwargs: Any
    ) -> requests.Response:
        timeout = (self.connect_timeout_s, self.read_timeout_s + extra_read_s)
        started = self._clock()
        try:
            response = self._session.request(method, url, timeout=timeout, **kwargs)
        except requests.exceptions.Timeout as exc:
            raise APITimeoutError(
                f"{what} failed: {self.endpoints.origin} did not answer within "
                f"{timeout[1]:.0f} s; check that the server is up, or try again later."
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            if _broke_after_sending(exc):
                after = (
                    "the task may have been created, so look for it before submitting again"
                    if method == "POST"
                    else "try again"
                )
                raise APIConnectionError(
                    f"{what} failed: the connection to {self.endpoints.origin} broke after the request was "
                    f"sent; {after}."
                ) from exc
            reason = "connection refused" if "refused" in str(exc).lower() else "no connection could be made"
            raise APIConnectionError(
                f"Cannot connect to {self.endpoints.origin} ({reason}); "
                "check the API URL and that the server is running."
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise APIConnectionError(f"{what} failed: {type(exc).__name__}; check the API URL.") from exc
        logger.debug("%s %s -> %s in %.3f s", method, url, response.status_code, self._clock() - started)
        return response

    def _json(
        self,
        response: requests.Response,
        what: str,
        extension: str | None = None,
        instead: str = "enter the model path and bucket and load the schema from a file instead",
        missing: type[ExtensionUnavailable] = ExtensionUnavailable,
    ) -> Any:
        """The JSON body of a good answer; every other answer becomes one APIError.

        ``extension`` names an optional route: a 404/405/501 that is not one of our server's
        own "not found" answers means the server lacks it, and ``instead`` says what to do.
        """
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        status = response.status_code
        if (
            extension
            and status in (404, 405, 501)
            and not (isinstance(body, dict) and body.get("code") in _ROUTE_FOUND_CODES)
        ):
            raise missing(f"This API does not offer {extension} ({status} at {response.url.split('?')[0]}); {instead}.")
        if status >= 400:
            raise _status_error(response, body)
        if body is None:
            raise APIResponseError(
                f"{what} was not JSON (status {status}, {_snippet(response.text)}); "
                "check that the URL points at the prediction API."
            )
        return body


# ---- parsing helpers (public: the app and tests use them) -----------------------------------
def parse_predictions(answer: Any) -> pd.DataFrame:
    """The predictions in a SUCCESS answer as a DataFrame, whatever layout the server used.

    Accepts a list of records, pandas' column layout ``{"col": {"0": v}}``, a dict of
    columns, a ``{"predictions": ...}``/``{"data": ...}``/``{"result": ...}`` wrapper, a
    bare list of values (one ``prediction`` column), and any of these as a JSON string.
    """
    data = answer
    for _ in range(4):
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise APIResponseError(f"The task result is text, not predictions ({data[:60]!r}).") from None
        if isinstance(data, dict):
            key = next((k for k in ("result", "predictions", "data") if k in data), None)
            if key is not None:
                data = data[key]
                continue
        break
    if isinstance(data, list):
        if all(isinstance(r, dict) for r in data):
            return pd.DataFrame.from_records(data)
        return pd.DataFrame({"prediction": data})
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        frame = pd.DataFrame(data)
        try:
            frame.index = frame.index.astype(int)
            frame = frame.sort_index()
        except (TypeError, ValueError):
            pass
        return frame.reset_index(drop=True)
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        return pd.DataFrame(data)
    raise APIResponseError("The task succeeded but its result holds no predictions the client can read.")


def submitted_task_id(answer: Any) -> str | None:
    """The task id in a submit answer: our protocol's ``SubmitAnswer``, else any key of ``TASK_ID_KEYS``."""
    try:
        return SubmitAnswer.model_validate(answer).id
    except ValidationError:  # another server's layout: a numeric id, "task_id", "task-id", no state
        return _task_id(answer) if isinstance(answer, dict) else None


def task_state(answer: Any) -> str | None:
    """The state in a task-info answer, upper-cased; None when the answer has none.

    Our protocol's ``TaskInfo`` first; any object with a ``state`` (PENDING, RETRY, a custom
    state, a lower-case one) is read too, since other servers report Celery's states as they are.
    """
    try:
        return TASK_INFO.validate_python(answer).state
    except ValidationError:
        if isinstance(answer, dict) and "state" in answer:
            return str(answer["state"]).upper()
        return None


def failure_detail(answer: Mapping[str, Any]) -> str:
    """A short text of why a task failed, from any of the known failure layouts."""
    for key in ("error", "result", "exc", "detail"):
        value = answer.get(key)
        if isinstance(value, dict):
            kind = value.get("type") or value.get("exc_type") or ""
            message = value.get("message") or value.get("exc_message") or ""
            if isinstance(message, list):
                message = " ".join(map(str, message))
            if kind or message:
                return f"{kind}: {message}".strip(": ") if kind else str(message)
        elif isinstance(value, str) and value.strip():
            return _last_line(value)
    if isinstance(answer.get("traceback"), str):
        return _last_line(answer["traceback"])
    return "the server gave no reason"


def _broke_after_sending(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the server was reached and the connection dropped mid-exchange (not refused)."""
    text = str(exc)
    return (
        "RemoteDisconnected" in text
        or "Connection aborted" in text
        or "ProtocolError" in text
        or "reset by peer" in text
    ) and "refused" not in text.lower()


def _last_line(text: str) -> str:
    """The useful line of a traceback: its last non-empty one."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else text[:300]


def _task_id(answer: Mapping[str, Any]) -> str | None:
    for key in TASK_ID_KEYS:
        if answer.get(key):
            return str(answer[key])
    return None


_NOT_FINITE = "is empty or not a finite number (NaN or infinity); fill it in"


def _records(rows: Rows) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts; a NaN or infinity is refused here with the row and field."""
    if isinstance(rows, pd.DataFrame):
        frame = rows.rename(columns=str)
        records = frame.to_dict("records")  # pandas gives plain Python values, but for object columns
        if any(dtype == np.dtype(object) for dtype in frame.dtypes):
            records = [{k: _native(v) for k, v in r.items()} for r in records]
        numbers = frame.select_dtypes("number")  # NaN found per column, not per cell: 10,000 rows stay fast
        bad_cells = zip(*np.nonzero(~np.isfinite(numbers.to_numpy(dtype=float))), strict=True)
        errors = {f"row {i}, {numbers.columns[j]}": _NOT_FINITE for i, j in bad_cells}
    else:
        records = [{str(k): _native(v) for k, v in dict(r).items()} for r in rows]
        errors = {
            f"row {i}, {name}": _NOT_FINITE
            for i, record in enumerate(records)
            for name, value in record.items()
            if isinstance(value, float) and not math.isfinite(value)
        }
    if not records:
        raise RowValidationError({"rows": "there are no rows to predict"})
    if errors:
        raise RowValidationError(errors)
    return records


_PLAIN_TYPES = frozenset({int, float, str, bool, type(None)})


def _native(value: Any) -> Any:
    """numpy scalars -> Python scalars, so json can write them (plain values pass untouched, fast)."""
    if type(value) in _PLAIN_TYPES:
        return value
    return value.item() if hasattr(value, "item") and not isinstance(value, str | bytes) else value


# 404 codes of a route that exists but found no model (or no sample rows): not a missing extension
_ROUTE_FOUND_CODES = frozenset({"model_not_found", "no_sample_rows", "task_not_found"})


def _form_fields(**fields: str | None) -> dict[str, str]:
    """Form fields to send: the ones with a value."""
    return {key: value for key, value in fields.items() if value}


def _content_type(filename: str) -> str:
    return "text/csv" if filename.lower().endswith((".csv", ".tsv", ".txt")) else "application/json"


def _snippet(text: str, limit: int = 80) -> str:
    """The first bytes of a body, with an HTML page's title when it has one."""
    if not text or not text.strip():
        return "an empty body"
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title or text.lstrip().startswith("<"):
        shown = title.group(1).strip() if title else re.sub(r"\s+", " ", text.strip())[:limit]
        return f"an HTML page: {shown[:limit]!r}"
    shown = re.sub(r"\s+", " ", text.strip())[:limit]
    return f"body starts {shown!r}"


_STATUS_ADVICE = {
    400: "check the path, bucket and options",
    401: "check the API secret, user id and e-mail",
    403: "use a model saved under your own user id",
    404: "check the model path and bucket",
    413: "send fewer rows",
    422: "fix the values named and try again",
    429: "wait a moment and try again",
}


def _status_error(response: requests.Response, body: Any) -> APIStatusError:
    """One sentence for an error answer: what the server said, and what to do."""
    status = response.status_code
    code = body.get("code") if isinstance(body, dict) else None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI-style validation list
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    said = str(detail).rstrip(".") if detail else (response.reason if body is not None else _snippet(response.text))
    if status >= 500:
        advice = (
            "the API or a proxy in front of it is failing; try again later"
            if body is None
            else "try again later, or tell the API's administrator"
        )
        if status == 503 and response.headers.get("Retry-After"):
            advice = f"the server is busy; try again in {response.headers['Retry-After']} s"
    else:
        advice = _STATUS_ADVICE.get(status, "check the request")
        if status == 429 and response.headers.get("Retry-After"):
            advice = f"try again in {response.headers['Retry-After']} s"
    # our server's sentences already say what to do; only a bare reason needs advice added
    said = said if ";" in said else f"{said}; {advice}"
    message = f"The API answered {status} {response.reason or ''}".rstrip() + f": {said}."
    return status_error_class(status)(message, status_code=status, body=body, code=code)


def _saved_model(item: Mapping[str, Any]) -> SavedModel:
    versions = tuple(
        ModelVersion(
            version=int(v.get("version", 0)),
            path=str(v.get("path", "")),
            bucket=str(v.get("bucket", "")),
            task=str(v.get("task", "")),
            target=str(v.get("target", "")),
            created=str(v.get("created", "")),
            name=str(v.get("name", item.get("name", ""))),
            metrics=dict(v.get("metrics") or {}),
            baseline=dict(v.get("baseline") or {}),
            rows_trained=v["rows_trained"] if type(v.get("rows_trained")) is int else None,
            rows_held_out=v["rows_held_out"] if type(v.get("rows_held_out")) is int else None,
            description=str(v.get("description") or ""),
            features=tuple(str(f) for f in v.get("features") or () if isinstance(f, str)),
        )
        for v in item.get("versions", [])
        if isinstance(v, dict)
    )
    return SavedModel(
        name=str(item.get("name", "")),
        group=str(item.get("group", "")),
        project=str(item.get("project", "")),
        versions=tuple(sorted(versions, key=lambda v: v.version)),
    )


__all__ = [
    "APIError",
    "Endpoints",
    "JWTAuth",
    "ModelClient",
    "ModelVersion",
    "PredictionResult",
    "RouteNotOffered",
    "SampleRows",
    "SavedModel",
    "SavedVersion",
    "TaskStatus",
    "TrainingStatus",
    "failure_detail",
    "parse_predictions",
    "submitted_task_id",
    "task_state",
]
