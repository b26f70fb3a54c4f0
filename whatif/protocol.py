"""The typed contract of the AutoModel prediction API (PROTOCOL.md), shared by server and client.

Route paths, state names and the answers of every route as pydantic models. The reference
server declares them as its ``response_model``s, so its OpenAPI document is the contract; the
client validates answers against them first and falls back to its lenient parsing for servers
(a real Datrics platform) that answer differently. Nothing here imports the server.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# ---- routes (PROTOCOL.md section 2) ----------------------------------------------------------------
PREDICT_PATH = "/api/v1/proxy/pipeline/model/predict"
TASK_INFO_PATH = PREDICT_PATH + "/info/{task_id}"
SCHEMA_PATH = "/api/v1/proxy/pipeline/model/schema"  # extension
SAMPLE_PATH = "/api/v1/proxy/pipeline/model/sample"  # extension
MODELS_PATH = "/api/v1/models"  # extension
MODEL_UPLOAD_PATH = MODELS_PATH  # extension: POST a fitted skops model and its schema (multipart)
TRAIN_PATH = MODELS_PATH + "/train"  # extension: POST a CSV to train a model on (multipart), a task
TRAIN_INFO_PATH = TRAIN_PATH + "/{task_id}"  # extension: the training task (long poll with ?wait=)

# ---- the demo user of the reference server and the seed page's example location ---------------
DEMO_USER = "1"
DEMO_EMAIL = "demo@example.com"
DEMO_BUCKET = "storage.datrics.ai"
EXAMPLE_MODEL_PATH = "1/4/model-groups/1/1.json"

# ---- task states (Celery's names) ----------------------------------------------------------------
STARTED = "STARTED"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
SERVER_STATES: tuple[str, ...] = (STARTED, SUCCESS, FAILURE)  # what the reference server reports
FAILED_STATES: frozenset[str] = frozenset({FAILURE, "REVOKED", "REJECTED"})
PENDING_STATES: frozenset[str] = frozenset({"PENDING", "RECEIVED", STARTED, "RETRY"})
TASK_ID_KEYS = ("id", "task_id", "task-id")  # where servers put the task id of a submit answer

# ---- request parameters --------------------------------------------------------------------------
PROBABILITY_PREFIX = "probability_"  # prediction columns: "prediction", then probability_<class>
TRUE_WORDS: tuple[str, ...] = ("true", "True", "1")
FALSE_WORDS: tuple[str, ...] = ("false", "False", "0")
FLAG_WORDS: tuple[str, ...] = TRUE_WORDS + FALSE_WORDS  # return_only_prediction, anything else is a 400
MAX_WAIT_S = 30.0  # the longest long poll (longer waits are cut to this, not refused)
MAX_SAMPLE_ROWS = 50
MAX_TRAINING_ROWS = 100_000  # rows of a training CSV at most (reference server)
# what a training task is doing, in order (TrainingTaskInfo.stage)
TRAINING_STAGES: tuple[str, ...] = ("queued", "reading the CSV", "training", "evaluating", "saving", "done")
# A bucket, and each part of a model path: plain names that cannot climb out of the model store.
# Anchored for JSON Schema (ECMA regex); Python callers use ``fullmatch`` so "\n" before the end
# is refused as it is there.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
MODEL_PATH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*\.json$"
_NAME = re.compile(NAME_PATTERN)
_MODEL_PATH = re.compile(MODEL_PATH_PATTERN)


def is_valid_bucket(bucket: str) -> bool:
    """True when ``bucket`` is a plain name (``NAME_PATTERN``), as the server requires."""
    return _NAME.fullmatch(bucket) is not None and bucket not in (".", "..")


def is_valid_model_path(path: str) -> bool:
    """True when ``path`` is a relative descriptor path of plain names ending in .json."""
    return _MODEL_PATH.fullmatch(path) is not None


# ---- answers -------------------------------------------------------------------------------------
class _Answer(BaseModel):
    """An answer: more fields than declared are allowed (servers may add some)."""

    model_config = ConfigDict(extra="allow")


class ErrorBody(_Answer):
    """Every error answer: one sentence and a machine code."""

    detail: str = Field(description="what went wrong and what to do, as one sentence")
    code: str = Field(description="a machine code, e.g. not_your_model, too_many_rows, task_not_found")


TaskState: TypeAlias = Literal["STARTED", "SUCCESS", "FAILURE"]


class SubmitAnswer(_Answer):
    """The answer to a submit: the task's id (poll it at ``TASK_INFO_PATH``)."""

    id: str = Field(min_length=1, description="the task id, unguessable")
    state: TaskState = Field(description="STARTED (queued or running); SUCCESS or FAILURE if already finished")


class TaskError(_Answer):
    """Why a task failed."""

    type: str = Field(description="the kind of error, e.g. ValueError")
    message: str = Field(description="the error's text")


class _TaskInfoBase(_Answer):
    id: str = Field(description="the task id")
    rows: int = Field(ge=0, description="how many rows were submitted")
    submitted_at: float = Field(description="when the task was accepted (Unix time, seconds)")


class TaskInfoStarted(_TaskInfoBase):
    """A task that is queued or running."""

    state: Literal["STARTED"]


class TaskInfoSuccess(_TaskInfoBase):
    """A finished task and its predictions."""

    state: Literal["SUCCESS"]
    finished_at: float = Field(description="when the task finished (Unix time, seconds)")
    result: list[dict[str, Any]] = Field(
        description="one record per request row, in order: the row's inputs (unless return_only_prediction) "
        f"plus 'prediction' and, for classifiers, '{PROBABILITY_PREFIX}<class>' for every class"
    )


class TaskInfoFailure(_TaskInfoBase):
    """A task that failed, and why."""

    state: Literal["FAILURE"]
    finished_at: float = Field(description="when the task failed (Unix time, seconds)")
    error: TaskError


TaskInfo: TypeAlias = Annotated[TaskInfoStarted | TaskInfoSuccess | TaskInfoFailure, Field(discriminator="state")]
TASK_INFO = TypeAdapter(TaskInfo)


class FeatureInfo(_Answer):
    """One feature of a model's schema (PROTOCOL.md section 3); empty fields are left out."""

    name: str
    type: Literal["number", "integer", "boolean", "one_hot"]
    min: float | None = None
    max: float | None = None
    default: Any = None
    step: float | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="code -> label of a label-encoded feature")
    columns: dict[str, str] = Field(default_factory=dict, description="choice -> 0/1 column of a one-hot group")
    none_label: str | None = Field(default=None, description="the label of a one-hot group's all-zero choice")
    description: str = ""
    quantiles: dict[str, float] = Field(default_factory=dict, description="training percentiles p05 ... p95")
    spread: float | None = Field(default=None, description="typical deviation of the training values")


class ModelSchemaAnswer(_Answer):
    """The feature schema of a saved model, with its metrics and where it is (extension)."""

    name: str = ""
    version: int | None = None
    task: Literal["classification", "regression"] = "classification"
    target: str = ""
    features: list[FeatureInfo]
    classes: list[int | float | str | bool] = Field(default_factory=list)
    class_labels: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    created: str = Field(default="", description="when the model was saved (ISO 8601)")
    path: str = Field(description="the model's descriptor path, as asked")
    bucket: str = Field(description="the model's bucket, as asked")


class SampleRowsAnswer(_Answer):
    """A few real rows of a model's held-out data, each a request row, with their true targets (extension)."""

    path: str = Field(description="the model's descriptor path, as asked")
    bucket: str = Field(description="the model's bucket, as asked")
    target: str = Field(description="the name of what the model predicts ('' when its schema names none)")
    available: int = Field(description="how many sample rows the model has saved (at most this many are answered)")
    rows: list[dict[str, int | float | bool]] = Field(
        description="request rows, exactly as a predict request sends them: every input column of the schema, "
        "one-hot groups as their 0/1 columns (all 0 = the group's 'none' choice)"
    )
    targets: list[int | float | str | None] = Field(
        description="the true target of each row, in the same order (null where not known)"
    )


class ModelVersionInfo(_Answer):
    """One saved version of a model, and where the API finds it."""

    version: int
    name: str = ""
    path: str
    bucket: str
    task: str = ""
    target: str = ""
    created: str = ""
    metrics: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    features: list[str] = Field(default_factory=list, description="the feature names")
    baseline: dict[str, float] = Field(
        default_factory=dict, description="a trained version's baseline metrics (majority class or mean)"
    )
    rows_trained: int | None = Field(default=None, description="rows a trained version was fitted on")
    rows_held_out: int | None = Field(default=None, description="rows its metrics were measured on")


class SavedModelInfo(_Answer):
    """A saved model (a model group) with its versions, oldest first."""

    name: str
    group: str
    project: str
    user: str
    bucket: str
    versions: list[ModelVersionInfo]


class SavedModelsAnswer(_Answer):
    """The saved models the caller may use (extension)."""

    models: list[SavedModelInfo]
    accepts_uploads: bool = Field(
        default=False,
        description=f"true when this API also takes new models: POST {MODEL_UPLOAD_PATH} and POST {TRAIN_PATH}",
    )


# ---- saving and training models (extension of the reference server) -----------------------------
class SavedVersionAnswer(_Answer):
    """A model version just saved (uploaded or trained): where it is and how good it is."""

    path: str = Field(description="the new version's descriptor path, e.g. 1/4/model-groups/5/1.json")
    bucket: str
    version: int = Field(ge=1)
    name: str
    group: str
    project: str
    created: str = Field(description="when it was saved (ISO 8601)")
    task: Literal["classification", "regression"]
    target: str = ""
    features: list[str] = Field(description="the feature names, in the form's order")
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="held-out metrics: accuracy, roc_auc, log_loss (classification) or r2, mae, rmse "
        "(regression); for an upload, whatever metrics were given",
    )
    baseline: dict[str, float] = Field(
        default_factory=dict,
        description="the same metrics of the majority-class (or mean) model on the same held-out rows; "
        "empty for an upload",
    )
    rows_trained: int = Field(default=0, ge=0, description="rows the model was fitted on (0 for an upload)")
    rows_held_out: int = Field(default=0, ge=0, description="rows the metrics were measured on (0 for an upload)")


class TrainingTaskInfo(_Answer):
    """A training task: STARTED with its progress, then SUCCESS with the saved version or FAILURE with why."""

    id: str
    state: TaskState
    progress: float = Field(ge=0, le=1, description="how far the task is, from 0 to 1")
    stage: str = Field(description="what it is doing: " + ", ".join(TRAINING_STAGES))
    submitted_at: float = Field(description="when the task was accepted (Unix time, seconds)")
    finished_at: float | None = Field(default=None, description="when it finished (Unix time, seconds)")
    result: SavedVersionAnswer | None = Field(default=None, description="on SUCCESS: the saved version")
    error: TaskError | None = Field(default=None, description="on FAILURE: why, as one sentence")
