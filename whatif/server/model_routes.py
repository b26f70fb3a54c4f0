"""Routes that add models (extension): upload a fitted model, and train one from a CSV as a task.

``POST /api/v1/models`` saves an uploaded skops model with its schema (``uploads.py``);
``POST /api/v1/models/train`` starts a training on the same workers as predictions
(``training.py``) and ``GET /api/v1/models/train/{id}`` follows it. Both forms are
multipart/form-data; the caller's token decides whose model it is, as everywhere else.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from whatif.protocol import (
    DEMO_BUCKET,
    MODEL_PATH_PATTERN,
    MODEL_UPLOAD_PATH,
    NAME_PATTERN,
    TRAIN_INFO_PATH,
    TRAIN_PATH,
    SavedVersionAnswer,
    SubmitAnswer,
    TrainingTaskInfo,
)
from whatif.schema_infer import KINDS, TASKS, csv_header
from whatif.server.auth import User
from whatif.server.problems import Problem
from whatif.server.registry import ModelRegistry
from whatif.server.routes import CurrentUser, Registry, Runner, Settings, errors, queue_failures_as_503
from whatif.server.tasks import TrainingJob
from whatif.server.training import TrainingRequest
from whatif.server.uploads import (
    FORM_SLACK_BYTES,
    UploadLimits,
    destination,
    file_field,
    load_uploaded_model,
    parse_metrics,
    read_form,
    save_upload,
    text_field,
    uploaded_schema,
)


class SharedPathRoute(APIRoute):
    """A route whose path other routes also serve (POST /api/v1/models beside the list's GET).

    Starlette answers a method no route takes with 405 and the ``Allow`` of the first route
    whose path matched; this router is included first, and its 405 lists every method the path
    takes, as HTTP (and the contract test) require.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            routes = scope["app"].router.routes
            methods = {m for r in routes if isinstance(r, APIRoute) and r.path == self.path for m in r.methods or ()}
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(methods))})
        await super().handle(scope, receive, send)


router = APIRouter(route_class=SharedPathRoute)


async def get_limits(request: Request) -> UploadLimits:
    """The server's upload limits."""
    limits: UploadLimits = request.app.state.upload_limits
    return limits


Limits = Annotated[UploadLimits, Depends(get_limits)]

_DESTINATION_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "save as a NEW model with this name"},
    "version_of": {
        "type": "string",
        "pattern": MODEL_PATH_PATTERN,
        "description": "or: the path of any version of one of your models, to save a NEW VERSION of it",
    },
    "bucket": {"type": "string", "pattern": NAME_PATTERN, "default": DEMO_BUCKET},
    "description": {"type": "string", "maxLength": 2000},
}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "a fitted model saved with skops, and its feature schema; give name OR version_of",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["model", "schema"],
                    "properties": {
                        "model": {"type": "string", "format": "binary", "description": "the .skops file"},
                        "schema": {
                            "type": "string",
                            "format": "binary",
                            "description": "a JSON feature schema (PROTOCOL.md section 3), or a training CSV",
                        },
                        "target": {"type": "string", "description": "the target column, when the schema is a CSV"},
                        "metrics": {"type": "string", "description": 'JSON object, e.g. {"accuracy": 0.8}'},
                        **_DESTINATION_FIELDS,
                    },
                }
            }
        },
    }
}
TRAIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "a CSV to train a model on, and what to predict; give name OR version_of",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "target"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the training CSV"},
                        "target": {"type": "string", "minLength": 1, "description": "the column to predict"},
                        "features": {
                            "type": "string",
                            "description": "comma-separated columns to learn from (default: every usable other one)",
                        },
                        "kinds": {
                            "type": "string",
                            "description": f"JSON object feature -> {' | '.join(KINDS)}, overriding the inferred kinds",
                        },
                        "task": {"type": "string", "enum": list(TASKS), "description": "default: inferred"},
                        **_DESTINATION_FIELDS,
                    },
                }
            }
        },
    }
}


def _errors(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``routes.errors`` with descriptions of what these routes refuse."""
    out = errors(*descriptions)
    for status, text in descriptions.items():
        out[status]["description"] = text
    return out


@router.post(
    MODEL_UPLOAD_PATH,
    status_code=201,
    summary="Save a fitted model (skops) and its schema as a new model or a new version (extension)",
    response_model=SavedVersionAnswer,
    openapi_extra=UPLOAD_BODY,
    responses=_errors(
        {
            400: "a field is missing or invalid (name XOR version_of, bucket, target of a CSV schema, metrics)",
            401: "no valid bearer token",
            403: "version_of names another user's model",
            404: "version_of names no saved model",
            413: "a file over its limit (model 50 MB, schema or CSV 20 MB by default)",
            422: "the model is a pickle, holds untrusted types or is not fitted; the schema cannot be read, "
            "does not fit the model's features, or its CSV cannot be trained on (no target, one class)",
            500: "the model store failed",
        }
    ),
)
async def upload_model(request: Request, user: CurrentUser, registry: Registry, limits: Limits) -> dict[str, Any]:
    """Check everything (the model through the allow-list), then save it; nothing is written on a refusal."""
    form = await read_form(request, limits.max_model_bytes + limits.max_csv_bytes + FORM_SLACK_BYTES)
    try:
        model, _ = await file_field(form, "model", limits.max_model_bytes, "the fitted model saved with skops")
        schema, schema_file = await file_field(form, "schema", limits.max_csv_bytes, "a JSON schema or training CSV")
        fields = {key: text_field(form, key) for key in ("target", "metrics", *_DESTINATION_FIELDS)}
    finally:
        await form.close()
    return await run_in_threadpool(_check_and_save, registry, user, model, schema, schema_file, fields)


def _check_and_save(
    registry: ModelRegistry, user: User, model: bytes, schema: bytes, schema_file: str, fields: dict[str, str | None]
) -> dict[str, Any]:
    where = destination(registry, user, fields["bucket"], fields["name"], fields["version_of"])
    metrics = parse_metrics(fields["metrics"])
    estimator = load_uploaded_model(model)
    feature_schema = uploaded_schema(schema, schema_file, fields["target"], estimator)
    return save_upload(registry, where, estimator, feature_schema, metrics, fields["description"] or "")


@router.post(
    TRAIN_PATH,
    summary="Start training a model on a CSV; it is saved as a new model or version (extension)",
    response_model=SubmitAnswer,
    openapi_extra=TRAIN_BODY,
    responses=_errors(
        {
            400: "a field is missing or invalid, the file is not UTF-8 text, or the target or a feature is not "
            "one of its columns",
            401: "no valid bearer token",
            403: "version_of names another user's model",
            404: "version_of names no saved model",
            413: "the CSV is over 20 MB or 100,000 rows (the server's limits)",
            500: "the model store failed",
            503: "too many tasks queued, or the task queue cannot be reached: try again after Retry-After seconds",
        }
    ),
)
async def start_training(
    request: Request, user: CurrentUser, registry: Registry, runner: Runner, limits: Limits
) -> dict[str, Any]:
    """Check what can be seen at once (400/403/404/413), then queue the training; follow it at TRAIN_INFO_PATH."""
    form = await read_form(request, limits.max_csv_bytes + FORM_SLACK_BYTES)
    try:
        csv, _ = await file_field(form, "file", limits.max_csv_bytes, "the training CSV")
        fields = {key: text_field(form, key) for key in ("target", "features", "kinds", "task", *_DESTINATION_FIELDS)}
    finally:
        await form.close()
    training = await run_in_threadpool(training_request, registry, user, csv, fields, limits)
    with queue_failures_as_503("tasks"):
        return await runner.start_training(user.id, TrainingJob(training, registry))


def training_request(
    registry: ModelRegistry, user: User, csv: bytes, fields: dict[str, str | None], limits: UploadLimits
) -> TrainingRequest:
    """The training as asked, after the checks that need no parsing of the rows; a 4xx Problem otherwise."""
    target = fields["target"]
    if target is None:
        raise Problem(400, "missing_field", "The form has no target; name the column the model should predict.")
    where = destination(registry, user, fields["bucket"], fields["name"], fields["version_of"])
    task = fields["task"]
    if task is not None and task not in TASKS:
        raise Problem(
            400, "invalid_task", f"The task {task[:40]!r} is unknown; use classification or regression (or none)."
        )
    kinds = _kinds(fields["kinds"])
    features = [f.strip() for f in (fields["features"] or "").split(",") if f.strip()] or None
    try:
        text = csv.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(400, "invalid_csv", "The file is not UTF-8 text; save the table as a UTF-8 CSV.") from None
    try:
        columns = csv_header(text)
    except ValueError as exc:
        raise Problem(400, "invalid_csv", str(exc)) from None
    named = [target, *(features or []), *kinds]
    unknown = next((name for name in named if name not in columns), None)
    if unknown is not None:
        shown = ", ".join(repr(c) for c in columns[:12]) + (" ..." if len(columns) > 12 else "")
        raise Problem(400, "unknown_column", f"The CSV has no column {unknown!r}; its columns are {shown}.")
    if features is not None and target in features:
        raise Problem(400, "target_is_feature", f"The target {target!r} cannot also be a feature; leave it out.")
    lines = text.count("\n") + (0 if text.endswith("\n") else 1) - 1
    if lines > limits.max_training_rows:
        raise Problem(
            413,
            "too_many_rows",
            f"The CSV has about {lines:,} rows, more than the limit of {limits.max_training_rows:,}; "
            "train on a sample of it.",
        )
    return TrainingRequest(
        csv_text=text,
        target=target,
        user=where.user,
        project=where.project,
        bucket=where.bucket,
        name=where.name,
        group=where.group,
        features=tuple(features) if features is not None else None,
        kinds=kinds,
        task=task,
        description=fields["description"] or "",
        max_rows=limits.max_training_rows,
    )


def _kinds(text: str | None) -> dict[str, str]:
    """The ``kinds`` field: a JSON object feature -> kind; 400 otherwise."""
    if text is None:
        return {}
    try:
        kinds = json.loads(text)
    except ValueError:
        kinds = None
    if not isinstance(kinds, dict) or not all(isinstance(v, str) and v in KINDS for v in kinds.values()):
        raise Problem(
            400,
            "invalid_kinds",
            f"The kinds are not a JSON object of features and kinds ({', '.join(KINDS)}); "
            'send them like {"pclass": "category"}.',
        )
    return {str(k): v for k, v in kinds.items()}


@router.get(
    TRAIN_INFO_PATH,
    summary="The state of a training task: progress and stage, then the saved version (extension)",
    response_model=TrainingTaskInfo,
    response_model_exclude_unset=True,
    responses=errors(400, 401, 404, 503),
)
async def training_info(
    task_id: str,
    user: CurrentUser,
    settings: Settings,
    runner: Runner,
    wait: Annotated[
        float, Query(ge=0, description="long poll: answer when finished or after this many seconds (at most 30)")
    ] = 0,
) -> dict[str, Any]:
    """STARTED with progress and stage, then SUCCESS with ``result`` or FAILURE with ``error``; 404 for others'."""
    with queue_failures_as_503("tasks"):
        answer = await runner.training_info(task_id, user.id, min(wait, settings.max_wait_s))
    if answer is None:
        raise Problem(
            404,
            "task_not_found",
            f"Training task {task_id[:64]} is not known (it never existed, has expired, or belongs to another "
            "user); start the training again.",
        )
    return answer
