"""Training a model from a CSV, as a task: read, check, fit, measure against a baseline, save.

The same function runs on the API's threads (``TaskRunner``) and on Celery workers (the request
travels as JSON, the CSV as text in it). What it does:

- reads the CSV and checks it with ``whatif.schema_infer`` (the sentences the app shows first);
- holds out 20% of the rows (stratified by class for a classification), fixed seed;
- fits scikit-learn's histogram gradient boosting, categories handled natively
  (``categorical_features``), in steps so that the task's progress moves while it fits;
- measures accuracy, ROC AUC and log loss (classification) or R2, MAE and RMSE (regression)
  on the held-out rows, and the same for the baseline on the same rows: the class shares
  (it predicts the majority class) or the mean;
- saves the model with its schema (ranges, defaults, p05..p95, category labels) and 20
  complete held-out rows as its sample rows ("Real row" in the app).

A CSV that cannot be trained on ends the task with ``TrainingFailed``: one sentence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from whatif.protocol import MAX_TRAINING_ROWS
from whatif.schema_infer import PreparedData, feature_schema, prepare, read_training_csv
from whatif.server.registry import ModelRegistry

TRAIN_TASK = "whatif.train"  # the Celery task's name
PROGRESS_STATE = "PROGRESS"  # its custom Celery state while it runs, with {"progress", "stage"}
SEED = 20261126
HELD_OUT_SHARE = 0.2
MAX_ITER = 200  # boosting rounds
STEPS = 8  # the fit is done in this many steps, each one reporting progress
SAMPLE_ROW_COUNT = 20

Report = Callable[[float, str], None]


class TrainingFailed(Exception):
    """The CSV cannot be trained on as asked: ``str(error)`` is one sentence for the user."""

    expected = True  # a user's data, not a fault of the server: logged without a traceback


@dataclass(frozen=True)
class TrainingRequest:
    """What to train and where to save it: everything a worker needs, JSON-able."""

    csv_text: str = field(repr=False)
    target: str
    user: str
    project: str
    bucket: str
    name: str | None = None  # a new model with this name...
    group: str | None = None  # ...or a new version of this group of ``project``
    features: tuple[str, ...] | None = None
    kinds: dict[str, str] = field(default_factory=dict)
    task: str | None = None
    description: str = ""
    max_rows: int = MAX_TRAINING_ROWS

    def to_json(self) -> dict[str, Any]:
        """The request as JSON values (a Celery task's argument)."""
        out = asdict(self)
        out["features"] = list(self.features) if self.features is not None else None
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingRequest:
        """The request back from ``to_json``."""
        values = dict(data)
        if values.get("features") is not None:
            values["features"] = tuple(values["features"])
        return cls(**values)


def train_and_save(request: TrainingRequest, registry: ModelRegistry, report: Report | None = None) -> dict[str, Any]:
    """Train on the request's CSV and save the model: the ``SavedVersionAnswer`` of the new version.

    ``report(progress, stage)`` is called as the work goes (progress from 0 to 1).
    Raises TrainingFailed (one sentence) for a CSV that cannot be trained on.
    """
    say = report or (lambda _progress, _stage: None)
    say(0.02, "reading the CSV")
    data = read_and_prepare(request)
    rows = len(data.y)
    say(0.1, "training")
    x_train, x_test, y_train, y_test = split(data)
    model = fit(data, x_train, y_train, lambda done: say(0.1 + 0.7 * done, "training"))
    say(0.8, "evaluating")
    baseline_model = fit_baseline(data, x_train, y_train)
    metrics = measure(model, data.task, x_test, y_test)
    baseline = measure(baseline_model, data.task, x_test, y_test)
    say(0.9, "saving")
    schema = feature_schema(data, name=request.name or "", target=request.target)
    saved = registry.save(
        model,
        schema,
        bucket=request.bucket,
        user=request.user,
        project=request.project,
        name=request.name,
        group=request.group,
        metrics=metrics,
        description=request.description or describe(data, rows),
        sample_rows=sample_rows(x_test, y_test, request.target),
        training={"baseline": baseline, "rows_trained": len(y_train), "rows_held_out": len(y_test)},
    )
    return {
        **saved,
        "project": request.project,
        "created": registry.descriptor(saved["bucket"], saved["path"]).get("created", ""),
        "task": data.task,
        "target": request.target,
        "features": [f.name for f in schema.features],
        "metrics": metrics,
        "baseline": baseline,
        "rows_trained": len(y_train),
        "rows_held_out": len(y_test),
    }


def read_and_prepare(request: TrainingRequest) -> PreparedData:
    """The CSV read, checked and encoded; TrainingFailed with the first problem."""
    try:
        frame = read_training_csv(request.csv_text)
    except ValueError as exc:
        raise TrainingFailed(str(exc)) from None
    if len(frame) > request.max_rows:
        raise TrainingFailed(
            f"The CSV has {len(frame):,} rows, more than the limit of {request.max_rows:,}; train on a sample of it."
        )
    try:
        return prepare(frame, request.target, request.features, request.kinds, request.task)
    except ValueError as exc:
        raise TrainingFailed(str(exc)) from None


def split(data: PreparedData) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """A fifth of the rows held out (fixed seed), stratified by class when every class has two rows."""
    from sklearn.model_selection import train_test_split

    stratify = None
    if data.task == "classification":
        counts = data.y.value_counts()
        held_out = math.ceil(HELD_OUT_SHARE * len(data.y))
        if counts.min() >= 2 and held_out >= len(counts) and len(data.y) - held_out >= len(counts):
            stratify = data.y
    x_train, x_test, y_train, y_test = train_test_split(
        data.x, data.y, test_size=HELD_OUT_SHARE, random_state=SEED, stratify=stratify
    )
    if data.task == "classification" and y_train.nunique() < 2:
        raise TrainingFailed(
            "After holding out a fifth of the rows for measuring, the rows left for training have only one "
            "class; add rows of the other classes."
        )
    return x_train, x_test, y_train, y_test


def fit(data: PreparedData, x: pd.DataFrame, y: pd.Series, done: Callable[[float], None]) -> Any:
    """Histogram gradient boosting, categories native, grown in ``STEPS`` steps (warm start) so progress shows."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    kind = HistGradientBoostingClassifier if data.task == "classification" else HistGradientBoostingRegressor
    categorical = data.categorical
    model = kind(
        learning_rate=0.05,
        max_depth=3,  # shallow trees: honest on a few hundred rows, still good on 100,000
        l2_regularization=1.0,
        categorical_features=categorical if any(categorical) else None,
        early_stopping=False,
        warm_start=True,
        random_state=SEED,
    )
    for step in range(1, STEPS + 1):
        model.set_params(max_iter=MAX_ITER * step // STEPS)
        try:
            model.fit(x, y)
        except ValueError as exc:  # what the checks did not foresee, said as the model said it
            raise TrainingFailed(f"The model could not be fitted on this data ({str(exc)[:200]}).") from None
        done(step / STEPS)
    return model


def fit_baseline(data: PreparedData, x: pd.DataFrame, y: pd.Series) -> Any:
    """The model to beat: the class shares (so it predicts the majority class), or the mean."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    baseline = DummyClassifier(strategy="prior") if data.task == "classification" else DummyRegressor()
    return baseline.fit(x, y)


def measure(model: Any, task: str, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    """Held-out metrics: accuracy, roc_auc, log_loss, or r2, mae, rmse (4 decimals; a metric that
    cannot be computed on these rows, such as ROC AUC with one class held out, is left out)."""
    from sklearn import metrics

    out: dict[str, float] = {}
    if task == "regression":
        predicted = model.predict(x)
        out["r2"] = metrics.r2_score(y, predicted)
        out["mae"] = metrics.mean_absolute_error(y, predicted)
        out["rmse"] = math.sqrt(metrics.mean_squared_error(y, predicted))
        return _rounded(out)
    probabilities = model.predict_proba(x)
    classes = list(model.classes_)
    out["accuracy"] = metrics.accuracy_score(y, np.asarray(classes)[probabilities.argmax(axis=1)])
    try:
        if len(classes) == 2:
            out["roc_auc"] = metrics.roc_auc_score(y, probabilities[:, 1])
        else:
            out["roc_auc"] = metrics.roc_auc_score(y, probabilities, multi_class="ovr", average="macro", labels=classes)
    except ValueError:  # a class missing from the held-out rows
        pass
    out["log_loss"] = metrics.log_loss(y, probabilities, labels=classes)
    return _rounded(out)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(float(value), 4) for key, value in values.items() if math.isfinite(float(value))}


def sample_rows(x_test: pd.DataFrame, y_test: pd.Series, target: str) -> pd.DataFrame | None:
    """The first complete held-out rows with their true targets, in request form; None when none is complete."""
    complete = x_test[x_test.notna().all(axis=1)].head(SAMPLE_ROW_COUNT)
    if complete.empty:
        return None
    return complete.assign(**{target: y_test.loc[complete.index]}).reset_index(drop=True)


def describe(data: PreparedData, rows: int) -> str:
    """The saved model's description, when the user gave none."""
    kind = "classification" if data.task == "classification" else "regression"
    return f"Histogram gradient boosting ({kind}) trained on {rows:,} rows of an uploaded CSV, 20% held out."
