"""What the Saved models page says about training: the training file's columns, metrics against the baseline,
and the versions of a model side by side (the CSV itself is read by ``whatif.schema_infer``, as the server reads it).

Pure pandas, no Streamlit: the page and the tests read the same tables and sentences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from whatif.charts_batch import nice_number
from whatif.protocol import MAX_TRAINING_ROWS
from whatif.schema import TARGET_NAMES

MAX_TRAIN_ROWS = MAX_TRAINING_ROWS  # the reference server's limits for a training CSV (the figures)
MAX_TRAIN_BYTES = 20 * 1024 * 1024
METRIC_TITLES = {
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "r2": "R²",
    "mae": "MAE",
    "rmse": "RMSE",
}
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})
BASELINE_OF_TASK = {
    "classification": "always predicts the most common class",
    "regression": "always predicts the mean of the training rows",
}


# ---- the file -----------------------------------------------------------------------------------
def guess_target_column(frame: pd.DataFrame) -> tuple[str, str]:
    """The column that is probably the target, and why: one named target, label or y; else the last column
    holding only 0 and 1 (an outcome such as survived or churned); else the last column."""
    columns = [str(c) for c in frame.columns]
    by_lower = {c.lower(): c for c in columns}
    for name in TARGET_NAMES:
        if name in by_lower:
            return by_lower[name], f"a column called {name!r} is usually the target"
    for name in reversed(columns):
        values = set(frame[name].dropna().unique().tolist())
        if pd.api.types.is_numeric_dtype(frame[name]) and values == {0, 1}:
            return name, "it holds only 0 and 1, like an outcome"
    return columns[-1], "it is the last column"


def size_problems(data: bytes, frame: pd.DataFrame) -> list[str]:
    """The server's size limits, said before anything is sent."""
    problems = []
    if len(data) > MAX_TRAIN_BYTES:
        problems.append(
            f"The file is {len(data) / 1024 / 1024:.1f} MB; training takes files up to "
            f"{MAX_TRAIN_BYTES // 1024 // 1024} MB."
        )
    if len(frame) > MAX_TRAIN_ROWS:
        problems.append(f"The file has {len(frame):,} rows; training takes up to {MAX_TRAIN_ROWS:,}.")
    return problems


def column_note(column: pd.Series) -> str:
    """A feature's values in a few words: examples, distinct values, share missing."""
    present = column.dropna()
    examples = ", ".join(_short(v) for v in present.drop_duplicates().head(3))
    missing = 1 - len(present) / len(column) if len(column) else 0.0
    parts = [f"e.g. {examples}" if examples else "no values", f"{present.nunique():,} distinct"]
    if missing:
        parts.append("under 1% missing" if missing < 0.01 else f"{missing:.0%} missing")
    return " · ".join(parts)


def task_reason(target: pd.Series, task: str) -> str:
    """Why the task was inferred as it was, in a sentence."""
    distinct = target.dropna().nunique()
    kind = "numbers" if pd.api.types.is_numeric_dtype(target) else "values"
    return f"`{target.name}` holds {distinct:,} distinct {kind}, so the task looks like {task}."


def _short(value: Any, limit: int = 18) -> str:
    text = nice_number(float(value)) if isinstance(value, float) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- metrics against the baseline ------------------------------------------------------------------
@dataclass(frozen=True)
class MetricComparison:
    """One metric of a trained model beside the baseline's on the same held-out rows."""

    key: str
    value: float
    baseline: float | None

    @property
    def title(self) -> str:
        return metric_title(self.key)

    @property
    def lower_is_better(self) -> bool:
        return self.key in LOWER_IS_BETTER

    @property
    def beats_baseline(self) -> bool | None:
        """True when the model does better than the baseline (None without a baseline)."""
        if self.baseline is None or not _finite(self.value) or not _finite(self.baseline):
            return None
        return self.value < self.baseline if self.lower_is_better else self.value > self.baseline

    @property
    def value_text(self) -> str:
        return nice_number(self.value)

    @property
    def delta_text(self) -> str | None:
        """ "+0.19 vs baseline 0.62" (the sign is the raw difference; the colour says which way is better)."""
        if self.baseline is None or not _finite(self.value) or not _finite(self.baseline):
            return None
        difference = self.value - self.baseline
        sign = "+" if difference >= 0 else "-"
        return f"{sign}{nice_number(abs(difference))} vs baseline {nice_number(self.baseline)}"

    @property
    def sentence(self) -> str:
        """ "accuracy 0.81 vs 0.62 baseline"."""
        base = f" vs {nice_number(self.baseline)} baseline" if self.baseline is not None else ""
        return f"{self.title} {self.value_text}{base}"


def metric_title(key: str) -> str:
    """A metric's name as the page writes it."""
    return METRIC_TITLES.get(key, key.replace("_", " ").capitalize())


def compare_metrics(metrics: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[MetricComparison]:
    """The model's metrics in the usual order (accuracy, ROC AUC, log loss; R², MAE, RMSE; then others)."""
    order = [k for k in METRIC_TITLES if k in metrics] + sorted(k for k in metrics if k not in METRIC_TITLES)
    out = []
    for key in order:
        value = _number(metrics.get(key))
        if value is None:
            continue
        out.append(MetricComparison(key, value, _number(baseline.get(key))))
    return out


def not_better_than_baseline(comparisons: Sequence[MetricComparison]) -> list[str]:
    """The metrics on which the model does no better than the baseline, by title."""
    return [c.title for c in comparisons if c.beats_baseline is False]


def held_out_note(task: str, rows_trained: int, rows_held_out: int) -> str:
    """Where the metrics come from, in a sentence."""
    baseline = BASELINE_OF_TASK.get(task, "always predicts the same answer")
    return (
        f"Measured on {rows_held_out:,} held-out rows the model did not see in training "
        f"(trained on {rows_trained:,}); the baseline {baseline}."
    )


# ---- versions side by side ------------------------------------------------------------------------------
BASELINE_SUFFIX = " baseline"


ROW_COUNT_METRICS = {"test_rows": "Rows held out"}  # counts some models keep among their metrics (sample models)


def versions_table(versions: Sequence[Any]) -> pd.DataFrame:
    """One row per version, newest first: when it was saved, its rows, each metric beside its baseline.

    ``versions`` are the client's ``ModelVersion``s; a version added as a fitted model, or listed by another
    API, has no baseline and no row counts: those cells are blank. Row counts are text ("1,047"), so an
    unknown one shows as nothing rather than as "None".
    """
    rows = []
    keys: list[str] = []
    for version in reversed(list(versions)):
        metrics = dict(getattr(version, "metrics", {}) or {})
        baseline = dict(getattr(version, "baseline", {}) or {})
        keys += [k for k in metrics if k not in keys and k not in ROW_COUNT_METRICS]
        rows.append((version, metrics, baseline))
    keys = [k for k in METRIC_TITLES if k in keys] + [k for k in keys if k not in METRIC_TITLES]
    has_baseline = {k for _, _, baseline in rows for k in baseline}
    table = []
    for version, metrics, baseline in rows:
        held_out = getattr(version, "rows_held_out", None) or metrics.get("test_rows")
        row: dict[str, Any] = {
            "Version": version.version,
            "Saved": saved_when(version.created),
            "Rows trained": _count(getattr(version, "rows_trained", None)),
            "Rows held out": _count(held_out),
        }
        for key in keys:
            row[key] = _number(metrics.get(key))
            if key in has_baseline:
                row[key + BASELINE_SUFFIX] = _number(baseline.get(key))
        row.update({"Target": version.target, "Path": version.path, "Bucket": version.bucket})
        table.append(row)
    return pd.DataFrame(table)


def _count(value: Any) -> str:
    number = _number(value)
    return f"{int(number):,}" if number else ""


def saved_when(created: str) -> str:
    """An ISO time as "2026-11-26 14:03 UTC" (as given when it cannot be read)."""
    if not created:
        return ""
    try:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return created
    zone = "" if moment.tzinfo is None else f" {moment.tzname() or ''}".rstrip()
    if zone in (" UTC+00:00", " +00:00"):
        zone = " UTC"
    return moment.strftime("%Y-%m-%d %H:%M") + zone


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
