"""What one prediction means for a what-if run: its label, its score, its probabilities."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from whatif.schema import FeatureSchema, RowValidationError

PROBABILITY_PREFIX = "probability_"


@dataclass(frozen=True)
class PredictionSummary:
    """A prediction reduced to what the page shows and the history stores."""

    prediction: Any
    label: str
    score: float
    probabilities: dict[str, float]


def positive_class(schema: FeatureSchema, probabilities: Mapping[str, float]) -> str:
    """The class whose probability is the run's score: the schema's last class, else the last one seen."""
    for candidate in [*(str(c) for c in reversed(schema.classes)), "1", "true", "True", "yes"]:
        if candidate in probabilities:
            return candidate
    return sorted(probabilities)[-1]


def score_title(schema: FeatureSchema, probabilities: Mapping[str, float] | None = None) -> str:
    """The y-axis title of the runs chart: P(<positive class>) or the predicted target."""
    if schema.task == "regression":
        return f"Predicted {schema.target or 'value'}"
    classes = probabilities or {str(c): 0.0 for c in schema.classes} or {"1": 0.0}
    return f"P({schema.class_label(positive_class(schema, classes))})"


def summarize(schema: FeatureSchema, record: Mapping[str, Any]) -> PredictionSummary:
    """Label, score and probabilities of one result record (``prediction``, ``probability_<class>``)."""
    prediction: Any = record.get("prediction")
    if hasattr(prediction, "item"):  # a numpy scalar from a DataFrame
        prediction = prediction.item()
    probabilities = {
        key[len(PROBABILITY_PREFIX) :]: float(value)
        for key, value in record.items()
        if key.startswith(PROBABILITY_PREFIX) and value is not None
    }
    if schema.task == "regression" or not probabilities:
        try:
            score = float(prediction)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            score = math.nan
        label = f"{score:,.4g}" if math.isfinite(score) else str(prediction)
        return PredictionSummary(prediction, label, score, {})
    score = probabilities[positive_class(schema, probabilities)]
    return PredictionSummary(prediction, schema.class_label(prediction), score, probabilities)


def run_fields(
    schema: FeatureSchema, values: Mapping[str, Any], row: Mapping[str, Any], record: Mapping[str, Any]
) -> dict[str, Any]:
    """The fields of a history run for one form row and its result record (no task data)."""
    summary = summarize(schema, record)
    return {
        "inputs": dict(values),
        "row": dict(row),
        "prediction": summary.prediction,
        "label": summary.label,
        "score": summary.score,
        "probabilities": summary.probabilities,
    }


_MISSING = object()


def inputs_differ(schema: FeatureSchema, run: Any, row: Mapping[str, Any]) -> bool:
    """Whether the form's request ``row`` differs from the one ``run`` (a history Run) was made with.

    An imported run has no request row: it is rebuilt from its inputs.
    """
    made_with = run.row
    if not made_with:
        try:
            made_with = schema.to_row(run.inputs)
        except RowValidationError:
            return True
    return dict(made_with) != dict(row)


def changed_mask(values: pd.DataFrame, baseline: Mapping[str, Any]) -> pd.DataFrame:
    """True where a run's input differs from the baseline's; numbers compare as numbers (1 == 1.0).

    Vectorised per column: hundreds of runs by a hundred features take a few milliseconds.
    """
    mask: dict[str, Any] = {}
    for column in values.columns:
        base = baseline.get(column, _MISSING)
        series = values[column]
        if base is _MISSING:
            mask[column] = np.ones(len(series), dtype=bool)
        elif (
            isinstance(base, int | float)
            and not isinstance(base, bool)
            and is_numeric_dtype(series.dtype)
            and not is_bool_dtype(series.dtype)
        ):
            mask[column] = ~np.isclose(series.to_numpy(dtype=float), float(base), rtol=0.0, atol=1e-9, equal_nan=True)
        else:
            mask[column] = (series.astype(str) != str(base)).to_numpy()
    return pd.DataFrame(mask, index=values.index)


def changed_names(mask: pd.DataFrame) -> list[str]:
    """Per run, the names of its changed inputs joined by commas ("" when none)."""
    names = np.asarray(mask.columns, dtype=object)
    return [", ".join(names[row]) for row in mask.to_numpy(dtype=bool)]


# ---- imports: every bad value of a file named with its row -----------------------------------------
_T = TypeVar("_T")
NAMED_PROBLEMS = 5  # a file wrong on every row would otherwise make a page-long sentence


def rows_to_predict(
    schema: FeatureSchema, records: Sequence[Mapping[str, Any]], *, as_columns: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Form values and request rows for a file of inputs (features, or the request's one-hot columns).

    Raises RowValidationError whose fields read "row N, feature", rows counted after the header.
    """

    def checked(record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        form = schema.coerce_values(schema.from_row(record) if as_columns else record)
        return form, schema.to_row(form)

    pairs = _each_row(records, checked)
    return [form for form, _ in pairs], [row for _, row in pairs]


def checked_runs(schema: FeatureSchema, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Runs from an export, their inputs coerced to this model's features and their scores finite.

    A run that does not fit (another model's export, a hand-edited value) would chart and
    restore wrongly, so the whole file is refused: RowValidationError naming row and field.
    """

    def checked(record: Mapping[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        try:
            inputs = schema.coerce_values(record["inputs"])
        except RowValidationError as invalid:
            errors.update(invalid.errors)
        if not math.isfinite(record["score"]):
            errors["score"] = "is not a finite number"
        if errors:
            raise RowValidationError(errors)
        return {**record, "inputs": inputs}

    return _each_row(records, checked)


def _each_row(records: Sequence[Mapping[str, Any]], check: Callable[[Mapping[str, Any]], _T]) -> list[_T]:
    """``check`` of every record; the problems of all rows raised together, named "row N, field"."""
    results: list[_T] = []
    errors: dict[str, str] = {}
    for number, record in enumerate(records, 1):
        try:
            results.append(check(record))
        except RowValidationError as invalid:
            errors.update({f"row {number}, {field}": problem for field, problem in invalid.errors.items()})
    if errors:
        raise RowValidationError(errors)
    return results


def describe_problems(invalid: RowValidationError) -> str:
    """The first few problems of a file, and how many more there are."""
    named = [f"{field}: {problem}" for field, problem in list(invalid.errors.items())[:NAMED_PROBLEMS]]
    more = len(invalid.errors) - len(named)
    return "; ".join(named) + (f" (and {more} more)" if more else "")
