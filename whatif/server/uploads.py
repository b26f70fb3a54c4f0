"""Saving an uploaded model as an asset: the seed's "Save model as asset", over the API.

An upload is a fitted model saved with skops and its feature schema: a JSON schema
(PROTOCOL.md section 3) or a training CSV with the target column named, from which the schema
is inferred as a training's would be (``whatif.schema_infer``). Everything is checked before
anything is written: the model is loaded with the trusted-types allow-list (a pickle or a type
outside scikit-learn, numpy and scipy is refused), it must be a fitted model, and the schema's
input columns must be exactly the model's features. Only then does ``ModelRegistry.save`` write
it (atomically), as a new model of the caller or a new version of one of the caller's models.

Also here: reading a multipart form under a size limit, and where a caller's new model goes.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from whatif.protocol import DEMO_BUCKET, MAX_TRAINING_ROWS, is_valid_bucket
from whatif.schema import FeatureSchema, SchemaError
from whatif.schema_infer import feature_schema, prepare, read_training_csv
from whatif.server.auth import User
from whatif.server.problems import Problem
from whatif.server.registry import (
    InvalidLocation,
    ModelNotFound,
    ModelRegistry,
    UnreadableModel,
    UnsafeModel,
    check_location,
    load_bytes_safely,
)
from whatif.server.routes import owned_descriptor, read_body

MB = 1024 * 1024
NEW_MODEL_PROJECT = "1"  # where a caller's new model goes unless they already have exactly one project
MAX_NAME_LENGTH = 200
FORM_SLACK_BYTES = 256 * 1024  # the form's text fields and part headers, beside its files


class UploadLimits(BaseSettings):
    """How large an upload or a training CSV may be (``WHATIF_MAX_MODEL_BYTES`` ... variables)."""

    model_config = SettingsConfigDict(env_prefix="WHATIF_", extra="ignore")

    max_model_bytes: int = Field(default=50 * MB, ge=1024, description="an uploaded skops file at most")
    max_csv_bytes: int = Field(default=20 * MB, ge=1024, description="a schema file or training CSV at most")
    max_training_rows: int = Field(default=MAX_TRAINING_ROWS, ge=20, description="rows of a training CSV at most")


# ---- the form --------------------------------------------------------------------------------
async def read_form(request: Request, limit: int) -> FormData:
    """The multipart form of ``request``, refused with 413 as soon as its body passes ``limit`` bytes."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise Problem(400, "invalid_form", "The body must be a multipart/form-data form; send the fields as files.")
    body = await read_body(request, limit)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    # without "app" in the scope, starlette raises the parser's error instead of answering for us
    scope = {key: value for key, value in request.scope.items() if key != "app"}
    try:
        form = await Request(scope, replay).form(max_files=4, max_fields=16)
    except Exception as exc:  # python-multipart's and starlette's parse errors
        raise Problem(
            400, "invalid_form", f"The body cannot be read as a multipart form ({str(exc)[:120]}); send form fields."
        ) from None
    return form


def text_field(form: FormData, name: str) -> str | None:
    """A text field's value, stripped; None when absent or empty."""
    value = form.get(name)
    if value is None:
        return None
    if isinstance(value, UploadFile):
        raise Problem(400, "invalid_form", f"The field '{name}' holds a file; send it as a text field.")
    return value.strip() or None


async def file_field(form: FormData, name: str, limit: int, what: str) -> tuple[bytes, str]:
    """A file field's bytes and file name; 400 when missing or empty, 413 past ``limit`` bytes."""
    value = form.get(name)
    if value is None:
        raise Problem(400, "missing_field", f"The form has no '{name}' field; add it: {what}.")
    if isinstance(value, UploadFile):
        if value.size is not None and value.size > limit:
            raise _too_large(name, value.size, limit)
        data, filename = await value.read(), value.filename or ""
    else:
        data, filename = value.encode(), ""
    if len(data) > limit:
        raise _too_large(name, len(data), limit)
    if not data.strip():
        raise Problem(400, "empty_file", f"The '{name}' file is empty; send {what}.")
    return data, filename


def _too_large(name: str, size: int, limit: int) -> Problem:
    return Problem(
        413,
        "file_too_large",
        f"The '{name}' file is {_size(size)}, more than the limit of {_size(limit)}; send a smaller file.",
    )


def _size(count: int) -> str:
    """A size as people read it: 1.2 MB, 35 KB, 800 bytes."""
    if count >= MB:
        return f"{count / MB:.1f} MB"
    return f"{count / 1024:.0f} KB" if count >= 1024 else f"{count} bytes"


# ---- where it goes ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Destination:
    """Where a new version is saved: a new model (``group`` None, ``name`` given) or a new version of ``group``."""

    bucket: str
    user: str
    project: str
    group: str | None
    name: str | None


def destination(
    registry: ModelRegistry, user: User, bucket: str | None, name: str | None, version_of: str | None
) -> Destination:
    """Check ``name`` XOR ``version_of`` and the caller's rights: 400 bad request, 403 not yours, 404 missing.

    A new model goes into the caller's project when they have exactly one, else project "1".
    """
    bucket = bucket or DEMO_BUCKET
    if not is_valid_bucket(bucket):
        raise Problem(
            400, "invalid_path", f"The bucket {bucket[:60]!r} is not a plain name; use one such as {DEMO_BUCKET}."
        )
    if (name is None) == (version_of is None):
        raise Problem(
            400,
            "name_or_version_of",
            "The form must give a name (to save a new model) or version_of (the path of a version of one of "
            "your models, to save a new version of it); give exactly one of them.",
        )
    if version_of is not None:
        owned_descriptor(registry, user, bucket, version_of)  # 400, 403, 404 as every other route
        parts = version_of.split("/")
        if len(parts) != 5 or parts[2] != "model-groups":
            raise Problem(
                400, "invalid_path", f"'{version_of[:80]}' is not a model version path like 1/4/model-groups/1/1.json."
            )
        return Destination(bucket, user.id, parts[1], parts[3], None)
    assert name is not None
    if len(name) > MAX_NAME_LENGTH:
        raise Problem(400, "invalid_name", f"The name is {len(name)} characters long; keep it to {MAX_NAME_LENGTH}.")
    try:
        check_location(bucket, f"{user.id}/{NEW_MODEL_PROJECT}/model-groups/1/1.json")
    except InvalidLocation as exc:
        raise Problem(400, exc.code, f"Models cannot be saved for this user id: {exc}.") from None
    projects = sorted(p.parent.name for p in (registry.root / bucket / user.id).glob("*/model-groups") if p.is_dir())
    return Destination(bucket, user.id, projects[0] if len(projects) == 1 else NEW_MODEL_PROJECT, None, name)


# ---- the model -------------------------------------------------------------------------------
def load_uploaded_model(data: bytes) -> Any:
    """The fitted model in an uploaded skops file, through the allow-list; 422 with a sentence otherwise."""
    if data[:1] == b"\x80":
        raise Problem(
            422,
            "pickle_refused",
            "The model file is a pickle, which this server never loads (a pickle can run any code); save the "
            "model with skops.io.dump and upload the .skops file.",
        )
    try:
        estimator = load_bytes_safely(data)
    except UnsafeModel as exc:
        raise Problem(
            422,
            exc.code,
            f"The model cannot be trusted: {exc}; only scikit-learn, numpy and scipy types are loaded, so save a "
            "plain scikit-learn model or pipeline.",
        ) from None
    except UnreadableModel as exc:
        raise Problem(
            422,
            "not_a_skops_file",
            f"The model file is not a skops file ({exc}); save the model with skops.io.dump and upload that file.",
        ) from None
    if not callable(getattr(estimator, "predict", None)):
        raise Problem(
            422,
            "not_a_model",
            f"The skops file holds a {type(estimator).__name__}, not a model with a predict method; upload a fitted "
            "model.",
        )
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError):
        raise Problem(
            422, "not_fitted", f"The {type(estimator).__name__} in the file is not fitted; fit it before saving it."
        ) from None
    return estimator


def model_task(estimator: Any) -> str | None:
    """classification, regression, or None when scikit-learn cannot tell."""
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    return None


def model_features(estimator: Any) -> list[str] | None:
    """The column names the model was fitted with, when it knows them."""
    names = getattr(estimator, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


# ---- the schema ------------------------------------------------------------------------------
def uploaded_schema(data: bytes, filename: str, target: str | None, estimator: Any) -> FeatureSchema:
    """The schema of an upload: read from JSON, or inferred from a training CSV; checked against the model."""
    task = model_task(estimator)
    if _is_csv(data, filename):
        schema = _schema_from_csv(data, target, estimator, task)
    else:
        try:
            schema = FeatureSchema.from_json(data)
        except SchemaError as exc:
            raise Problem(
                422, "invalid_schema", f"The schema cannot be used ({exc}); send one like GET .../model/schema answers."
            ) from None
        if target and not schema.target:
            schema = dataclasses.replace(schema, target=target)
    if task is not None and schema.task != task:
        kind = "classifier" if task == "classification" else "regressor"
        raise Problem(
            422, "task_mismatch", f"The schema says {schema.task}, but the model is a {kind}; set its task to {task}."
        )
    return _with_model_classes(matched_features(schema, estimator), estimator)


def _is_csv(data: bytes, filename: str) -> bool:
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if suffix in ("csv", "tsv", "txt"):
        return True
    if suffix == "json":
        return False
    return data.lstrip()[:1] not in (b"{", b"[")


def _schema_from_csv(data: bytes, target: str | None, estimator: Any, task: str | None) -> FeatureSchema:
    if not target:
        raise Problem(
            400,
            "missing_target",
            "The schema is a training CSV, so the form needs a target; name the column the model predicts.",
        )
    names = model_features(estimator)
    try:
        frame = read_training_csv(data)
        missing = [n for n in names or () if n not in frame.columns]
        if missing:
            raise Problem(
                422,
                "schema_mismatch",
                f"The training CSV lacks the model's feature '{missing[0]}'; upload the CSV the model was trained on.",
            )
        prepared = prepare(frame, target, names, task=task)
    except ValueError as exc:
        raise Problem(422, "training_data_problem", str(exc)) from None
    return feature_schema(prepared, target=target)


def matched_features(schema: FeatureSchema, estimator: Any) -> FeatureSchema:
    """``schema`` with its features in the model's order; 422 naming a missing or extra feature."""
    columns = schema.input_columns
    names = model_features(estimator)
    if names is None:
        count = getattr(estimator, "n_features_in_", None)
        if count is not None and int(count) != len(columns):
            raise Problem(
                422,
                "schema_mismatch",
                f"The model takes {int(count)} input column(s) and the schema gives {len(columns)} "
                f"({', '.join(columns[:8])}{', ...' if len(columns) > 8 else ''}); give the schema the model's inputs.",
            )
        return schema
    missing = [n for n in names if n not in columns]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise Problem(
            422,
            "schema_mismatch",
            f"The schema lacks the model's feature '{missing[0]}'{more}; add it to the schema.",
        )
    extra = [c for c in columns if c not in names]
    if extra:
        raise Problem(
            422,
            "schema_mismatch",
            f"The schema has the feature '{extra[0]}', which the model was not trained on; leave it out.",
        )
    ordered = sorted(schema.features, key=lambda f: min(names.index(c) for c in f.input_columns))
    reordered = dataclasses.replace(schema, features=tuple(ordered))
    if reordered.input_columns != names:
        raise Problem(
            422,
            "schema_mismatch",
            "The model's columns interleave the columns of a one-hot group with others; the schema cannot send "
            "them in the model's order.",
        )
    return reordered


def _with_model_classes(schema: FeatureSchema, estimator: Any) -> FeatureSchema:
    """A classifier's classes from the model itself (the schema's, when given, must be the same)."""
    classes = getattr(estimator, "classes_", None)
    if schema.task != "classification" or classes is None:
        return schema
    model_classes = tuple(c.item() if hasattr(c, "item") else c for c in classes)
    if schema.classes and {str(c) for c in schema.classes} != {str(c) for c in model_classes}:
        raise Problem(
            422,
            "schema_mismatch",
            f"The schema lists the classes {', '.join(map(str, schema.classes))}, but the model predicts "
            f"{', '.join(map(str, model_classes))}; fix the schema's classes.",
        )
    codes = all(isinstance(c, int) and not isinstance(c, bool) for c in model_classes)
    return dataclasses.replace(schema, classes=model_classes, class_labels=schema.class_labels if codes else {})


def parse_metrics(text: str | None) -> dict[str, float]:
    """The optional ``metrics`` field: a JSON object of metric name -> number; 400 otherwise."""
    if text is None:
        return {}
    try:
        metrics = json.loads(text)
    except ValueError:
        metrics = None
    if not isinstance(metrics, Mapping) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in metrics.values()
    ):
        raise Problem(
            400, "invalid_metrics", 'The metrics are not a JSON object of numbers; send them like {"accuracy": 0.8}.'
        )
    return {str(k): float(v) for k, v in metrics.items()}


# ---- saving ----------------------------------------------------------------------------------
def save_upload(
    registry: ModelRegistry,
    where: Destination,
    estimator: Any,
    schema: FeatureSchema,
    metrics: dict[str, float],
    description: str,
) -> dict[str, Any]:
    """Save the checked model; the ``SavedVersionAnswer`` of the new version."""
    try:
        saved = registry.save(
            estimator,
            schema,
            bucket=where.bucket,
            user=where.user,
            project=where.project,
            name=where.name,
            group=where.group,
            metrics=metrics,
            description=description,
        )
    except ModelNotFound as exc:  # the model was deleted between the check and the save
        raise Problem(404, exc.code, f"Model not found: {exc}.") from None
    return {
        **saved,
        "project": where.project,
        "created": registry.descriptor(saved["bucket"], saved["path"]).get("created", ""),
        "task": schema.task,
        "target": schema.target,
        "features": [f.name for f in schema.features],
        "metrics": metrics,
        "baseline": {},
        "rows_trained": 0,
        "rows_held_out": 0,
    }
