"""The API's routes: the documented submit and poll, and the models, schema and sample-rows extensions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from whatif.protocol import (
    DEMO_BUCKET,
    EXAMPLE_MODEL_PATH,
    FLAG_WORDS,
    MAX_SAMPLE_ROWS,
    MAX_WAIT_S,
    MODEL_PATH_PATTERN,
    MODELS_PATH,
    NAME_PATTERN,
    PREDICT_PATH,
    SAMPLE_PATH,
    SCHEMA_PATH,
    TASK_INFO_PATH,
    ErrorBody,
    ModelSchemaAnswer,
    SampleRowsAnswer,
    SavedModelsAnswer,
    SubmitAnswer,
    TaskInfo,
)
from whatif.server.auth import User, authenticate
from whatif.server.problems import Problem
from whatif.server.registry import (
    InvalidLocation,
    LoadedModel,
    ModelNotFound,
    ModelRegistry,
    NoSampleRows,
    StoreError,
    check_location,
)
from whatif.server.settings import ServerSettings
from whatif.server.tasks import PredictionJob, QueueFull, QueueUnavailable, TaskQueue
from whatif.server.validation import parse_body, parse_flag, rows_to_frame

T = TypeVar("T")
__all__ = ["MAX_SAMPLE_ROWS", "MODELS_PATH", "PREDICT_PATH", "SAMPLE_PATH", "SCHEMA_PATH", "router"]


async def get_settings(request: Request) -> ServerSettings:
    """The server's settings."""
    settings: ServerSettings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> ModelRegistry:
    """The model store."""
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_runner(request: Request) -> TaskQueue:
    """Where tasks run: this process's threads or Celery workers."""
    runner: TaskQueue = request.app.state.runner
    return runner


Settings = Annotated[ServerSettings, Depends(get_settings)]
Registry = Annotated[ModelRegistry, Depends(get_registry)]
Runner = Annotated[TaskQueue, Depends(get_runner)]


# Declares the bearer scheme in the OpenAPI document only: ``authenticate`` reads the header itself,
# so that every malformed header gets its own 401 sentence.
_bearer = HTTPBearer(
    auto_error=False, bearerFormat="JWT", description="an HS256 JWT signed with the API secret, claims userId and email"
)


async def current_user(
    request: Request, settings: Settings, _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> User:
    """The caller, from its bearer token."""
    return authenticate(
        request.headers.get("authorization"), settings.api_secret.get_secret_value(), settings.require_exp
    )


CurrentUser = Annotated[User, Depends(current_user)]
# The constraints below are enforced by registry.check_location (with its own 400 sentence and code),
# from the same patterns; they are stated here so that the OpenAPI document shows them.
ModelPath = Annotated[
    str,
    Query(
        description="model descriptor path, e.g. 1/4/model-groups/1/1.json: plain names (letters, digits, '_', "
        "'-', '.'; not starting with '.' or '-') joined by '/', ending in .json",
        examples=[EXAMPLE_MODEL_PATH],
        json_schema_extra={"minLength": 1, "pattern": MODEL_PATH_PATTERN},
    ),
]
Bucket = Annotated[
    str,
    Query(
        description="bucket (a folder of the model store): one plain name",
        examples=[DEMO_BUCKET],
        json_schema_extra={"minLength": 1, "pattern": NAME_PATTERN},
    ),
]
ReturnOnlyPrediction = Annotated[
    str,
    Query(
        description="True: answer only the prediction columns; False: each input row plus them",
        json_schema_extra={"enum": list(FLAG_WORDS)},
    ),
]

ERROR_DESCRIPTIONS = {
    400: "a parameter is missing or invalid, or the body is not JSON",
    401: "no valid bearer token",
    403: "the model belongs to another user",
    404: "no such model (or sample rows), or no such task for this user",
    413: "too many rows, or the body is too large",
    422: "the rows do not fit the model's schema (the detail names the row and field)",
    429: "too many requests: wait for Retry-After (reserved for a rate limit in front of the server)",
    500: "the saved model cannot be used (a fault of the model store, not of the request)",
    503: "too many tasks queued, or the task queue cannot be reached: try again after Retry-After seconds",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of the error statuses a route can answer, all with the ErrorBody model."""
    return {
        status: {
            "model": ErrorBody,
            "description": ERROR_DESCRIPTIONS[status],
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in statuses
    }


EXAMPLE_ROW = {"pclass": 0, "sex": 0, "age": 29, "sibsp": 0, "parch": 0, "fare": 211.3375, "embarked": 2}
ROWS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "the rows to predict: a JSON array of row objects, feature name -> number (0/1 for one-hot columns); "
            "every row must have exactly the model's input columns"
        ),
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": {"anyOf": [{"type": "number"}, {"type": "boolean"}]},
                    },
                },
                "example": [EXAMPLE_ROW],
            }
        },
    }
}

router = APIRouter()


@contextmanager
def queue_failures_as_503(what: str) -> Iterator[None]:
    """A full queue or an unreachable one (Redis down) as the 503 answer with Retry-After and its sentence."""
    try:
        yield
    except QueueFull:
        raise Problem(
            503, "queue_full", f"The server has too many {what} queued; try again shortly.", {"Retry-After": "1"}
        ) from None
    except QueueUnavailable as exc:
        raise Problem(503, "queue_unavailable", str(exc), {"Retry-After": "5"}) from None


def load_owned_model(registry: ModelRegistry, user: User, bucket: str, path: str) -> LoadedModel:
    """The model at ``path`` if the caller owns it: 400 bad location, 403 not yours, 404 missing."""
    return _owned(registry.load, user, bucket, path)


def owned_descriptor(registry: ModelRegistry, user: User, bucket: str, path: str) -> dict[str, Any]:
    """The descriptor only (no fitted model loaded), with the same checks as ``load_owned_model``."""
    return _owned(registry.descriptor, user, bucket, path)


def _owned(read: Callable[[str, str], T], user: User, bucket: str, path: str) -> T:
    try:
        check_location(bucket, path)
        owner = path.split("/", 1)[0]
        if owner != user.id:
            raise Problem(
                403, "not_your_model", f"Model '{path}' belongs to user {owner}, and this token is for user {user.id}."
            )
        return read(bucket, path)
    except InvalidLocation as exc:
        raise Problem(400, exc.code, f"Invalid model location: {exc}.") from None
    except ModelNotFound as exc:
        raise Problem(404, exc.code, f"Model not found: {exc}.") from None
    except NoSampleRows as exc:
        raise Problem(
            404,
            exc.code,
            f"Model '{path}' has no sample rows saved (it was saved without them); start from its defaults instead.",
        ) from None
    except StoreError as exc:
        raise Problem(500, exc.code, f"The model cannot be used: {exc}.") from None


def parse_and_check(body: bytes, model: LoadedModel, max_rows: int) -> tuple[list[dict[str, Any]], Any]:
    """Parse and check the rows off the event loop: 10,000 rows take tens of milliseconds."""
    rows = parse_body(body)
    return rows, rows_to_frame(model.schema, rows, max_rows)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    too_large = Problem(
        413, "body_too_large", f"The body is larger than the limit of {limit:,} bytes; send fewer rows."
    )
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    PREDICT_PATH,
    summary="Start a prediction task",
    response_model=SubmitAnswer,
    openapi_extra=ROWS_BODY,
    responses=errors(400, 401, 403, 404, 413, 422, 429, 500, 503),
)
async def submit_prediction(
    request: Request,
    user: CurrentUser,
    settings: Settings,
    registry: Registry,
    runner: Runner,
    path: ModelPath,
    bucket: Bucket,
    return_only_prediction: ReturnOnlyPrediction = "False",
) -> dict[str, str]:
    """Validate the rows at once, queue the task and answer its id."""
    only_prediction = parse_flag(return_only_prediction)
    model = await run_in_threadpool(load_owned_model, registry, user, bucket, path)
    body = await read_body(request, settings.max_body_bytes)
    rows, frame = await run_in_threadpool(parse_and_check, body, model, settings.max_rows)
    job = PredictionJob(bucket, path, rows, only_prediction, model=model, frame=frame)
    with queue_failures_as_503("prediction tasks"):
        return await runner.start(user.id, job)


@router.get(
    TASK_INFO_PATH,
    summary="The state of a task (and its result)",
    response_model=TaskInfo,
    response_model_exclude_unset=True,
    responses=errors(400, 401, 404, 503),
)
async def task_info(
    task_id: str,
    user: CurrentUser,
    settings: Settings,
    runner: Runner,
    wait: Annotated[
        float,
        Query(
            ge=0,
            description=(
                f"long poll: answer when ready or after this many seconds (longer waits are cut to {MAX_WAIT_S:g})"
            ),
        ),
    ] = 0,
) -> dict[str, Any]:
    """STARTED, then SUCCESS with ``result`` or FAILURE with ``error``; 404 for unknown or others' tasks."""
    with queue_failures_as_503("prediction tasks"):
        answer = await runner.info(task_id, user.id, min(wait, settings.max_wait_s))
    if answer is None:
        raise Problem(
            404,
            "task_not_found",
            f"Task {task_id[:64]} is not known: it never existed, has expired, or belongs to another user.",
        )
    return answer


@router.get(
    SCHEMA_PATH,
    summary="The feature schema of a saved model (extension)",
    response_model=ModelSchemaAnswer,
    response_model_exclude_unset=True,
    responses=errors(400, 401, 403, 404, 500),
)
def model_schema(user: CurrentUser, registry: Registry, path: ModelPath, bucket: Bucket) -> dict[str, Any]:
    """The schema of PROTOCOL.md section 3, with the model's metrics and description."""
    descriptor = owned_descriptor(registry, user, bucket, path)
    schema = dict(descriptor.get("schema", {}))
    schema.update(
        {
            "metrics": descriptor.get("metrics", {}),
            "description": descriptor.get("description", ""),
            "created": descriptor.get("created", ""),
            "path": path,
            "bucket": bucket,
        }
    )
    return schema


@router.get(
    SAMPLE_PATH,
    summary="A few real held-out rows of a saved model, with their true targets (extension)",
    responses=errors(400, 401, 403, 404, 500),
)
def model_sample_rows(
    user: CurrentUser,
    registry: Registry,
    path: ModelPath,
    bucket: Bucket,
    n: Annotated[int, Query(ge=1, le=MAX_SAMPLE_ROWS, description="how many rows, from 1 to 50")] = 5,
) -> SampleRowsAnswer:
    """The first ``n`` saved sample rows (the same ones each time); 404 for a model saved without any."""
    samples = _owned(registry.sample_rows, user, bucket, path)
    return SampleRowsAnswer(
        path=path,
        bucket=bucket,
        target=samples.target,
        available=len(samples.rows),
        rows=samples.rows[:n],
        targets=samples.targets[:n],
    )


@router.get(
    MODELS_PATH,
    summary="The caller's saved models and their versions (extension)",
    response_model=SavedModelsAnswer,
    response_model_exclude_unset=True,
    responses=errors(401),
)
def saved_models(user: CurrentUser, registry: Registry) -> dict[str, Any]:
    """Every model group the caller owns, with each version's path, bucket, task, target and metrics."""
    return {"models": registry.list_models(user.id), "accepts_uploads": True}
