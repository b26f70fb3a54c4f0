"""The API's routes: the documented submit and poll, and the models, schema and sample-rows extensions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

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
from whatif.server.tasks import QueueFull, TaskRunner
from whatif.server.validation import parse_body, parse_flag, rows_to_frame
from whatif.server.work import prediction_work

T = TypeVar("T")
PREDICT_PATH = "/api/v1/proxy/pipeline/model/predict"
SCHEMA_PATH = "/api/v1/proxy/pipeline/model/schema"
SAMPLE_PATH = "/api/v1/proxy/pipeline/model/sample"
MAX_SAMPLE_ROWS = 50
MODELS_PATH = "/api/v1/models"


async def get_settings(request: Request) -> ServerSettings:
    """The server's settings."""
    settings: ServerSettings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> ModelRegistry:
    """The model store."""
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_runner(request: Request) -> TaskRunner:
    """The task runner."""
    runner: TaskRunner = request.app.state.runner
    return runner


Settings = Annotated[ServerSettings, Depends(get_settings)]
Registry = Annotated[ModelRegistry, Depends(get_registry)]
Runner = Annotated[TaskRunner, Depends(get_runner)]


async def current_user(settings: Settings, authorization: Annotated[str | None, Header()] = None) -> User:
    """The caller, from its bearer token."""
    return authenticate(authorization, settings.api_secret.get_secret_value(), settings.require_exp)


CurrentUser = Annotated[User, Depends(current_user)]
ModelPath = Annotated[str, Query(description="model descriptor path, e.g. 1/4/model-groups/1/1.json")]
Bucket = Annotated[str, Query(description="bucket (a folder of the model store)")]

router = APIRouter()


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
            raise Problem(403, "not_your_model",
                          f"Model '{path}' belongs to user {owner}, and this token is for user {user.id}.")
        return read(bucket, path)
    except InvalidLocation as exc:
        raise Problem(400, exc.code, f"Invalid model location: {exc}.") from None
    except ModelNotFound as exc:
        raise Problem(404, exc.code, f"Model not found: {exc}.") from None
    except NoSampleRows as exc:
        raise Problem(404, exc.code, f"Model '{path}' has no sample rows saved (it was saved without them); "
                                     "start from its defaults instead.") from None
    except StoreError as exc:
        raise Problem(500, exc.code, f"The model cannot be used: {exc}.") from None


def parse_and_check(body: bytes, model: LoadedModel, max_rows: int) -> tuple[list[dict[str, Any]], Any]:
    """Parse and check the rows off the event loop: 10,000 rows take tens of milliseconds."""
    rows = parse_body(body)
    return rows, rows_to_frame(model.schema, rows, max_rows)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    too_large = Problem(413, "body_too_large",
                        f"The body is larger than the limit of {limit:,} bytes; send fewer rows.")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(PREDICT_PATH, summary="Start a prediction task")
async def submit_prediction(
    request: Request, user: CurrentUser, settings: Settings, registry: Registry, runner: Runner,
    path: ModelPath, bucket: Bucket, return_only_prediction: str = "False",
) -> dict[str, str]:
    """Validate the rows at once, queue the task and answer its id."""
    only_prediction = parse_flag(return_only_prediction)
    model = await run_in_threadpool(load_owned_model, registry, user, bucket, path)
    body = await read_body(request, settings.max_body_bytes)
    rows, frame = await run_in_threadpool(parse_and_check, body, model, settings.max_rows)
    try:
        task = runner.submit(user.id, len(rows), prediction_work(model, frame, rows, only_prediction))
    except QueueFull:
        raise Problem(503, "queue_full", "The server has too many prediction tasks queued; try again shortly.",
                      {"Retry-After": "1"}) from None
    return {"id": task.id, "state": task.state}


@router.get(PREDICT_PATH + "/info/{task_id}", summary="The state of a task (and its result)")
async def task_info(
    task_id: str, user: CurrentUser, settings: Settings, runner: Runner,
    wait: Annotated[float, Query(ge=0, description="long poll: answer when ready or after this many seconds")] = 0,
) -> dict[str, Any]:
    """STARTED, then SUCCESS with ``result`` or FAILURE with ``error``; 404 for unknown or others' tasks."""
    task = runner.get(task_id, user.id)
    if task is None:
        raise Problem(404, "task_not_found",
                      f"Task {task_id[:64]} is not known: it never existed, has expired, or belongs to another user.")
    if wait > 0:
        await runner.wait_ready(task, min(wait, settings.max_wait_s))
    return task.answer()


@router.get(SCHEMA_PATH, summary="The feature schema of a saved model (extension)")
def model_schema(user: CurrentUser, registry: Registry, path: ModelPath, bucket: Bucket) -> dict[str, Any]:
    """The schema of PROTOCOL.md section 3, with the model's metrics and description."""
    descriptor = owned_descriptor(registry, user, bucket, path)
    schema = dict(descriptor.get("schema", {}))
    schema.update({"metrics": descriptor.get("metrics", {}), "description": descriptor.get("description", ""),
                   "created": descriptor.get("created", ""), "path": path, "bucket": bucket})
    return schema


class SampleRowsAnswer(BaseModel):
    """A few real rows of a model's held-out data, each a request row, with their true targets."""

    path: str = Field(description="the model's descriptor path, as asked")
    bucket: str = Field(description="the model's bucket, as asked")
    target: str = Field(description="the name of what the model predicts ('' when its schema names none)")
    available: int = Field(description="how many sample rows the model has saved (at most this many are answered)")
    rows: list[dict[str, int | float | bool]] = Field(
        description="request rows, exactly as a predict request sends them: every input column of the schema, "
                    "one-hot groups as their 0/1 columns (all 0 = the group's 'none' choice)")
    targets: list[int | float | str | None] = Field(
        description="the true target of each row, in the same order (null where not known)")


@router.get(SAMPLE_PATH, summary="A few real held-out rows of a saved model, with their true targets (extension)")
def model_sample_rows(
    user: CurrentUser, registry: Registry, path: ModelPath, bucket: Bucket,
    n: Annotated[int, Query(ge=1, le=MAX_SAMPLE_ROWS, description="how many rows, from 1 to 50")] = 5,
) -> SampleRowsAnswer:
    """The first ``n`` saved sample rows (the same ones each time); 404 for a model saved without any."""
    samples = _owned(registry.sample_rows, user, bucket, path)
    return SampleRowsAnswer(path=path, bucket=bucket, target=samples.target, available=len(samples.rows),
                            rows=samples.rows[:n], targets=samples.targets[:n])


@router.get(MODELS_PATH, summary="The caller's saved models and their versions (extension)")
def saved_models(user: CurrentUser, registry: Registry) -> dict[str, Any]:
    """Every model group the caller owns, with each version's path, bucket, task, target and metrics."""
    return {"models": registry.list_models(user.id)}
