"""The "score" of an answer row, as every analysis charts it, and its predicted class.

For a classifier the score is the probability of one class (the positive class of a binary
model, as the runs chart picks it; the scenario's predicted class of a multiclass model, or the
class the analyst chose); for a regression it is the predicted value. A class "flips" when a
row's predicted class differs from the scenario's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from whatif.runs import PROBABILITY_PREFIX, positive_class
from whatif.schema import FeatureSchema

BINARY_THRESHOLD = 0.5


@dataclass(frozen=True)
class Scorer:
    """How to read answers (``prediction``, ``probability_<class>``) as one number per row, and as classes."""

    task: Literal["classification", "regression"]
    score_class: str | None  # the class whose probability is the score (None for regression)
    classes: tuple[str, ...]  # class keys as in probability_<class>, e.g. ("0", "1")
    title: str  # axis title: "P(survived)" or "Predicted progression"
    threshold: float | None  # 0.5 for binary classifiers, None otherwise

    def score(self, answers: pd.DataFrame) -> pd.Series:
        """The score of every answer row (floats, NaN where an answer is not a number), index kept.

        A classifier that answers no probabilities scores 1.0 where it predicts the score class, else 0.0.
        """
        if self.task == "regression":
            return pd.to_numeric(answers["prediction"], errors="coerce").astype(float)
        column = PROBABILITY_PREFIX + str(self.score_class)
        if column in answers.columns:
            return pd.to_numeric(answers[column], errors="coerce").astype(float)
        return (self.predicted_class(answers) == self.score_class).astype(float)

    def predicted_class(self, answers: pd.DataFrame) -> pd.Series:
        """Each row's predicted class as a class key (str), index kept; for a regression, the value as text.

        The ``prediction`` column is read as a class key (1, 1.0 and "1" are class "1"); where it
        is missing or names no known class, the class of highest probability is taken instead.
        """
        if "prediction" in answers.columns:
            raw = answers["prediction"]
        else:
            raw = pd.Series([None] * len(answers), index=answers.index, dtype=object)
        if self.task == "regression":
            return raw.map(_value_text).astype(object)
        keys = raw.map(self._class_key).astype(object)
        probability_columns = [
            PROBABILITY_PREFIX + c for c in self.classes if PROBABILITY_PREFIX + c in answers.columns
        ]
        unknown = keys.isna()
        if unknown.any() and probability_columns:
            probabilities = answers.loc[unknown, probability_columns].apply(pd.to_numeric, errors="coerce")
            best = np.asarray(probabilities.fillna(-1.0).to_numpy(dtype=float).argmax(axis=1))
            keys[unknown] = [probability_columns[i][len(PROBABILITY_PREFIX) :] for i in best]
        return keys.where(keys.notna(), raw.map(_value_text)).astype(object)

    def flips(self, answers: pd.DataFrame, scenario_class: str) -> pd.Series:
        """True for every row whose predicted class differs from ``scenario_class``; all False for a regression."""
        if self.task == "regression":
            return pd.Series(False, index=answers.index, dtype=bool)
        scenario_key = self._class_key(scenario_class) or str(scenario_class)
        return (self.predicted_class(answers) != scenario_key).astype(bool)

    def _class_key(self, value: Any) -> str | None:
        """The class key a predicted value names, or None when it names none of ``classes``."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if hasattr(value, "item"):
            value = value.item()
        candidates = [str(value)]
        if isinstance(value, float) and value.is_integer():
            candidates.append(str(int(value)))
        if isinstance(value, str) and value.strip().endswith(".0"):
            candidates.append(value.strip()[:-2])
        if isinstance(value, bool):
            candidates += [str(int(value)), str(value).lower()]
        if not self.classes:
            return candidates[0]
        return next((c for c in candidates if c in self.classes), None)


def _value_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value.item() if hasattr(value, "item") else value)


def scorer_for(schema: FeatureSchema, answers: pd.DataFrame, score_class: str | None = None) -> Scorer:
    """The scorer for a model's answers; row 0 of ``answers`` is the scenario's.

    Classes come from the ``probability_<class>`` columns (else the schema's, else the predictions).
    The score class is ``score_class`` when given (ValueError when it is not a class), else for a
    binary model its positive class (``whatif.runs.positive_class``), else the scenario's predicted class.
    """
    if schema.task == "regression":
        return Scorer("regression", None, (), f"Predicted {schema.target or 'value'}", None)
    classes = tuple(str(c)[len(PROBABILITY_PREFIX) :] for c in answers.columns if str(c).startswith(PROBABILITY_PREFIX))
    if not classes:
        classes = tuple(str(c) for c in schema.classes)
    if not classes and "prediction" in answers.columns:
        classes = tuple(sorted({text for text in answers["prediction"].map(_value_text) if text is not None}))
    if not classes:
        raise ValueError(
            "The answers name no classes (no probability_ columns and no predictions), "
            "so no class can be scored; check the model's answers."
        )
    draft = Scorer("classification", None, classes, "", BINARY_THRESHOLD if len(classes) == 2 else None)
    if score_class is not None:
        chosen = draft._class_key(score_class) or class_of_label(schema, score_class, classes)
        if chosen is None:
            raise ValueError(
                f"{score_class!r} is not a class of this model; choose one of {classes_text(schema, classes)}."
            )
    elif len(classes) <= 2 or answers.empty:
        chosen = positive_class(schema, dict.fromkeys(classes, 0.0))
    else:
        chosen = str(draft.predicted_class(answers.iloc[:1]).iloc[0])
    return Scorer("classification", chosen, classes, f"P({schema.class_label(chosen)})", draft.threshold)


def class_of_label(schema: FeatureSchema, text: str, classes: tuple[str, ...] | None = None) -> str | None:
    """The class key whose label is ``text`` (any case: "survived" -> "1"), or None."""
    wanted = str(text).strip().casefold()
    for key in classes if classes is not None else tuple(str(c) for c in schema.classes):
        if schema.class_label(key).casefold() == wanted:
            return key
    return None


def classes_text(schema: FeatureSchema, classes: tuple[str, ...] | None = None) -> str:
    """ "died (0), survived (1)": the classes as a sentence names them, labels first."""
    keys = classes if classes is not None else tuple(str(c) for c in schema.classes)
    return ", ".join(f"{schema.class_label(k)} ({k})" if schema.class_label(k) != k else k for k in keys)


def format_score(scorer: Scorer, value: float) -> str:
    """A score as the page shows it: "71 %" for a probability, 4 significant digits for a value."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if scorer.task == "classification":
        return f"{value * 100:.0f} %"
    return f"{value:,.4g}"


def flip_text(schema: FeatureSchema, scorer: Scorer, scenario_class: str) -> str:
    """How a class flip reads: "from died to survived" for a binary model, "away from setosa" otherwise."""
    others = [c for c in scorer.classes if c != scenario_class]
    label = schema.class_label(scenario_class)
    if len(others) == 1:
        return f"from {label} to {schema.class_label(others[0])}"
    return f"away from {label}"
