"""Building one batch of form rows around a scenario, sending it once, and reading the answers back.

Shared by the analyses that vary a few features of one scenario (sensitivity, sweep, interaction).
They build their form rows column by column (a 100-feature tornado is about 1,000 rows) instead
of validating row by row with ``FeatureSchema.to_row``: the scenario is checked once, every value
tried is checked once with ``Feature.coerce``, and a row only combines checked values, so every
row sent is valid for the schema exactly as ``to_row`` would have made it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.runner import DEFAULT_MAX_ROWS
from whatif.analysis.score import Scorer, class_of_label, classes_text, scorer_for
from whatif.schema import Feature, FeatureSchema, RowValidationError

MAX_ROWS = DEFAULT_MAX_ROWS  # rows one task may hold: above it an analysis would cost several tasks
BOOKKEEPING_PREFIX = "analysis_"  # put before a bookkeeping column whose name a model input already uses


def checked_scenario(schema: FeatureSchema, scenario: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's form values coerced, or AnalysisError naming the first bad feature."""
    try:
        return schema.coerce_values(scenario)
    except RowValidationError as invalid:
        name, problem = next(iter(invalid.errors.items()))
        more = f" (and {len(invalid.errors) - 1} more)" if len(invalid.errors) > 1 else ""
        raise AnalysisError(
            f"The scenario does not fit the model: {name!r} {problem}{more}; "
            "fix it in the form and run the analysis again."
        ) from None


def feature_named(schema: FeatureSchema, name: str) -> Feature:
    """The feature called ``name``, or AnalysisError listing a few that exist."""
    try:
        return schema.feature(name)
    except KeyError:
        names = [f.name for f in schema.features]
        shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        raise AnalysisError(f"{name!r} is not a feature of this model; choose one of {shown}.") from None


def checked_values(feature: Feature, values: Sequence[Any]) -> list[Any]:
    """``values`` coerced by the feature (each checked once), or AnalysisError."""
    try:
        return [feature.coerce(v) for v in values]
    except ValueError as exc:
        raise AnalysisError(f"A value to try for {feature.name!r} does not fit the model ({exc}).") from None


def check_points(points: int, least: int = 2) -> None:
    """AnalysisError unless ``points`` is a whole number of at least ``least``."""
    if isinstance(points, bool) or not isinstance(points, int | np.integer) or points < least:
        raise AnalysisError(f"A grid needs a whole number of at least {least} points, not {points!r}.")


def check_score_class(schema: FeatureSchema, score_class: str | None) -> None:
    """Refuse, before anything is sent, a score class that is none of the schema's classes."""
    if score_class is None or schema.task == "regression" or not schema.classes:
        return
    keys = {_key(c) for c in schema.classes}
    if _key(score_class) not in keys and class_of_label(schema, score_class) is None:
        raise AnalysisError(f"{score_class!r} is not a class of this model; choose one of {classes_text(schema)}.")


def _key(value: Any) -> str:
    text = str(value.item() if hasattr(value, "item") else value).strip()
    return text[:-2] if text.endswith(".0") else text


def check_rows(rows: int, what: str, fix: str) -> None:
    """AnalysisError when ``rows`` exceed what one task may hold; ``fix`` says what to ask for instead."""
    if rows > MAX_ROWS:
        raise AnalysisError(f"{what} would send {rows:,} rows, more than the {MAX_ROWS:,} one task may hold; {fix}.")


def listed(names: Sequence[str], most: int = 4) -> str:
    """Names as a sentence lists them: "a", "a and b", "a, b and c", "a, b, c, d and 3 more"."""
    names = list(names)
    if len(names) > most:
        return ", ".join(names[:most]) + f" and {len(names) - most} more"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def percent(share: float) -> str:
    """A share as the pages write it: "23 %"."""
    return f"{share * 100:.0f} %"


def value_text(feature: Feature, value: Any) -> str:
    """A form value as the page shows it: a code's label, a one-hot label, true/false, a short number."""
    if feature.is_categorical:
        return feature.label_of(value)
    if feature.type == "boolean":
        return "true" if value else "false"
    if feature.type == "one_hot":
        return str(value)
    if isinstance(value, float):
        return f"{value:.10g}"  # 211.3375 stays 211.3375; 29.0 reads 29
    return str(value)


def shown_value(feature: Feature, value: Any) -> Any:
    """The value a summary holds for the x of a chart: the number itself for numbers, else its text."""
    if feature.type in ("number", "integer") and not feature.is_categorical:
        return value
    return value_text(feature, value)


def request_frame(schema: FeatureSchema, form_columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Form columns (one list per logical feature, values already coerced) -> the request frame.

    One-hot groups become their 0/1 columns; columns come in ``schema.input_columns`` order.
    """
    columns: dict[str, Any] = {}
    for f in schema.features:
        values = form_columns[f.name]
        if f.type == "one_hot":
            labels = np.asarray(values, dtype=object)
            for label, column in f.columns.items():
                columns[column] = (labels == label).astype(np.int64)
        else:
            columns[f.name] = values
    frame = pd.DataFrame(columns, columns=schema.input_columns)
    return frame.infer_objects()


def repeated(scenario: Mapping[str, Any], schema: FeatureSchema, n: int) -> dict[str, list[Any]]:
    """Form columns of ``n`` copies of the scenario, to overwrite in blocks."""
    return {f.name: [scenario[f.name]] * n for f in schema.features}


@dataclass(frozen=True)
class Answered:
    """One batch sent and answered: the frame of rows, answers and bookkeeping, and how to score it."""

    sent: pd.DataFrame
    scorer: Scorer
    score: np.ndarray  # float, per row sent
    flips: np.ndarray  # bool, per row sent: predicted class differs from the scenario's
    predicted: np.ndarray  # object, per row sent: predicted class key
    scenario_score: float
    scenario_class: str | None


def ask(
    schema: FeatureSchema,
    predict: Predict,
    request: pd.DataFrame,
    bookkeeping: Mapping[str, Any],
    score_class: str | None,
) -> Answered:
    """Send ``request`` (row 0 is the scenario) in ONE call of ``predict`` and read the answers.

    The scorer comes from the same answers, so the scenario's score and class and every other
    row's are read alike. ``sent`` holds the request columns, the answer columns, then the
    bookkeeping columns and ``score``, ``flips`` (prefixed ``analysis_`` where a name is taken).
    """
    answers = predict(request)
    if len(answers) != len(request):
        raise AnalysisError(
            f"The model answered {len(answers):,} rows for the {len(request):,} sent, so answers "
            "cannot be matched to rows; run the analysis again."
        )
    answers = answers.reset_index(drop=True)
    try:
        scorer = scorer_for(schema, answers, score_class)
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    score = scorer.score(answers).to_numpy(dtype=float)
    predicted = scorer.predicted_class(answers).to_numpy(dtype=object)
    scenario_class = None if scorer.task == "regression" else str(predicted[0])
    flips = (predicted != predicted[0]) if scenario_class is not None else np.zeros(len(answers), dtype=bool)
    taken = set(request.columns) | set(answers.columns)
    extra = {
        (BOOKKEEPING_PREFIX + name if name in taken else name): values
        for name, values in {**bookkeeping, "score": score, "flips": flips}.items()
    }
    answer_columns = answers[[c for c in answers.columns if c not in request.columns]]
    sent = pd.concat([request.reset_index(drop=True), answer_columns, pd.DataFrame(extra)], axis=1)
    return Answered(sent, scorer, score, np.asarray(flips, dtype=bool), predicted, float(score[0]), scenario_class)
