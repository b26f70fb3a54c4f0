"""Two models, or two versions of one, on the same inputs: side by side, their difference, where they disagree.

The two models may live on two different APIs and may not take the same inputs:

- ``schema_differences`` names, in sentences, what differs: an input one of them lacks (the
  other side gets its default), an input whose kind, categories, codes or range differ, and
  classes that differ;
- ``align_rows`` turns the form rows of A into request rows for each side: an input B lacks is
  left out of B's rows, an input only B has gets B's default (or the file's column when the rows
  hold one), and categories are matched BY LABEL, never by code or position;
- ``predict_both`` submits every task of A and of B first, THEN waits for them all, so a
  comparison takes about one prediction's time, not two;
- ``compare_scenario`` compares one scenario (and, with a sweep feature, both one-input sweeps,
  sent in the same two tasks); ``compare_rows`` compares many rows: agreement, the confusion
  matrix of A's class against B's, the score differences and the rows where they disagree most.

Classes are matched by label too: the score of a row is the probability of the same class LABEL
on both sides (``probability_0`` of one model may be ``probability_1`` of the other).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError
from whatif.analysis.frames import (
    BOOKKEEPING_PREFIX,
    check_points,
    check_score_class,
    checked_scenario,
    checked_values,
    feature_named,
    listed,
    percent,
    request_frame,
    shown_value,
    value_text,
)
from whatif.analysis.grids import feature_grid, is_numeric
from whatif.analysis.result import AnalysisResult, _records
from whatif.analysis.runner import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ROWS,
    SIZE_SAMPLE_ROWS,
    SUBMITTING,
    Progress,
    _answer_columns,
    rows_ranges,
)
from whatif.analysis.score import Scorer, scorer_for
from whatif.client import PredictionResult, Rows, TaskStatus
from whatif.csvtext import read_lines
from whatif.errors import APIError
from whatif.rowsfile import read_form_rows
from whatif.runs import PROBABILITY_PREFIX, positive_class
from whatif.schema import Feature, FeatureSchema, RowValidationError

A, B = "A", "B"
MAX_DISAGREEMENTS = 20  # rows of the "where they disagree most" table
SWEEP_POINTS = 40


class TaskClient(Protocol):
    """What a side needs of its API client (``whatif.client.ModelClient``): submit now, wait later."""

    def submit(self, rows: Rows, path: str, bucket: str, return_only_prediction: bool = False) -> str: ...

    def wait(
        self, task_id: str, timeout: float | None = None, on_status: Callable[[TaskStatus, float], None] | None = None
    ) -> PredictionResult: ...


@dataclass(frozen=True)
class Side:
    """One of the two models compared: where it is (client, path, bucket), its schema, and its name for people."""

    client: TaskClient
    path: str
    bucket: str
    schema: FeatureSchema
    name: str


def side_name(schema: FeatureSchema, path: str, other: str | None = None) -> str:
    """How a model is named for people: "Credit approval · v2" (its path without a name); when ``other`` (the
    other side's name) is the same, " (B)" is added, so the two never read alike."""
    name = schema.name or path
    if schema.version is not None:
        name = f"{name} · v{schema.version}"
    return f"{name} ({B})" if other is not None and other == name else name


SideProgress = Callable[[str, Progress], None]
"""Called with "A" or "B" and that side's ``Progress`` before each submit and after every poll."""


@dataclass(frozen=True)
class Comparison(AnalysisResult):
    """A comparison of two models: an ``AnalysisResult`` whose ``scorer`` is A's and whose score is the
    probability of ``facts["score_label"]`` (or the predicted value) on both sides.

    ``sent``: one row per row sent to EITHER model (``side`` A or B, ``model``, ``row`` 0..n-1), its request
    columns (the union of both sides': a side's columns are empty on the other side's rows), the answer,
    its predicted ``label`` and ``score``. ``summary``: for a scenario, one row per side; for rows, one row
    per row compared. ``curves``: the sweeps, tidy (``side, model, point, value, score, label``).
    ``confusion``: A's class x B's class, tidy (``a_class, b_class, rows, share``). ``disagreements``: the
    rows where they disagree most, with A's inputs. ``differences``: sentences naming what differs between
    the two schemas.
    """

    model_a: str = ""
    model_b: str = ""
    differences: tuple[str, ...] = ()
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    confusion: pd.DataFrame = field(default_factory=pd.DataFrame)
    disagreements: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_json(self) -> dict[str, Any]:
        """``AnalysisResult.to_json`` with the two models, the differences, the curves, the matrix, the table."""
        out = super().to_json()
        out["models"] = {"a": self.model_a, "b": self.model_b}
        out["differences"] = list(self.differences)
        out["curves"] = _records(self.curves)
        out["confusion"] = _records(self.confusion)
        out["disagreements"] = _records(self.disagreements)
        return out


# ---- what differs between the two schemas ------------------------------------------------------------------
def schema_differences(
    schema_a: FeatureSchema, schema_b: FeatureSchema, name_a: str = A, name_b: str = B, provided: Iterable[str] = ()
) -> list[str]:
    """Sentences naming what differs between two schemas, in the order an analyst needs them.

    An input only B has is filled with B's default on every row (unless it is in ``provided``: the rows
    hold a column for it); an input only A has is sent to A alone; an input whose kind, categories, codes
    or training range differ; classes whose labels or codes differ; a different task or target.
    """
    out: list[str] = []
    given = set(provided)
    if schema_a.task != schema_b.task:
        out.append(
            f"{name_a} is a {schema_a.task} and {name_b} a {schema_b.task}: only models that predict the "
            "same kind of answer can be compared."
        )
    elif schema_a.target and schema_b.target and schema_a.target != schema_b.target:
        out.append(
            f"{name_a} predicts {schema_a.target!r} and {name_b} predicts {schema_b.target!r}; "
            "check that they answer the same question."
        )
    names_a = {f.name for f in schema_a.features}
    names_b = {f.name for f in schema_b.features}
    defaults_b = schema_b.defaults()
    only_b = [f for f in schema_b.features if f.name not in names_a]
    filled = [f"{f.name!r} ({value_text(f, defaults_b[f.name])})" for f in only_b if f.name not in given]
    if filled:
        out.append(
            f"{name_b} has {_inputs(filled)} that {name_a} lacks, filled with {name_b}'s default on every "
            f"row: {listed(filled, len(filled))}."
        )
    from_rows = [repr(f.name) for f in only_b if f.name in given]
    if from_rows:
        out.append(
            f"{name_b} has {_inputs(from_rows)} that {name_a} lacks, taken from the rows' own "
            f"{'column' if len(from_rows) == 1 else 'columns'}: {listed(from_rows, len(from_rows))}."
        )
    only_a = [repr(f.name) for f in schema_a.features if f.name not in names_b]
    if only_a:
        it = "it" if len(only_a) == 1 else "them"
        out.append(
            f"{name_b} has no input {listed(only_a, len(only_a))}: {'it is' if it == 'it' else 'they are'} "
            f"sent to {name_a} only, so changing {it} cannot move {name_b}'s answer."
        )
    for feature_a in schema_a.features:
        if feature_a.name in names_b:
            out.extend(_feature_differences(feature_a, schema_b.feature(feature_a.name), schema_b, name_a, name_b))
    out.extend(_class_differences(schema_a, schema_b, name_a, name_b))
    return out


def _some(items: Sequence[str], most: int = 3) -> str:
    """Items joined by semicolons, the first ``most`` of them: "a: 0 in v1, 1 in v2; b: 1 in v1, 0 in v2"."""
    more = f"; and {len(items) - most} more" if len(items) > most else ""
    return "; ".join(items[:most]) + more


def _inputs(names: Sequence[str]) -> str:
    return "an input" if len(names) == 1 else f"{len(names)} inputs"


def _kind(feature: Feature) -> str:
    if feature.type == "one_hot":
        return "a one-hot group"
    if feature.is_categorical:
        return "a category"
    return {"number": "a number", "integer": "a whole number", "boolean": "true/false"}.get(feature.type, feature.type)


def _categorical(feature: Feature) -> bool:
    return feature.type == "one_hot" or feature.is_categorical


def _choices(feature: Feature) -> list[str]:
    """A category's or one-hot group's labels, as the form shows them."""
    if feature.type == "one_hot":
        return feature.choices
    return list(feature.labels.values())


def _feature_differences(fa: Feature, fb: Feature, schema_b: FeatureSchema, name_a: str, name_b: str) -> list[str]:
    name = fa.name
    out: list[str] = []
    default_b = value_text(fb, schema_b.defaults()[name])
    if _kind(fa) != _kind(fb):
        how = "values are matched by label" if _categorical(fa) or _categorical(fb) else "values are converted"
        out.append(
            f"{name!r} is {_kind(fa)} in {name_a} but {_kind(fb)} in {name_b}: {how}, and where one does "
            f"not fit, {name_b} gets its default, {default_b}."
        )
    if _categorical(fa) and _categorical(fb):
        choices_a, choices_b = _choices(fa), _choices(fb)
        lower_b = {c.casefold() for c in choices_b}
        lower_a = {c.casefold() for c in choices_a}
        only_a = [c for c in choices_a if c.casefold() not in lower_b]
        only_b = [c for c in choices_b if c.casefold() not in lower_a]
        if only_a:
            out.append(
                f"{name!r} has {_choice_words(only_a)} {listed([repr(c) for c in only_a])} in {name_a} that "
                f"{name_b} lacks: where a row has {'it' if len(only_a) == 1 else 'one'}, {name_b} gets its "
                f"default, {default_b}."
            )
        if only_b:
            out.append(
                f"{name!r} has {_choice_words(only_b)} {listed([repr(c) for c in only_b])} in {name_b} that "
                f"{name_a} lacks, so {name_b} never gets {'it' if len(only_b) == 1 else 'them'} here."
            )
        if fa.is_categorical and fb.is_categorical:
            codes_b = {label.casefold(): code for code, label in fb.labels.items()}
            recoded = [
                f"{label}: {code} in {name_a}, {codes_b[label.casefold()]} in {name_b}"
                for code, label in fa.labels.items()
                if label.casefold() in codes_b and codes_b[label.casefold()] != code
            ]
            if recoded:
                out.append(
                    f"{name!r} codes its categories differently ({_some(recoded)}); values are matched "
                    "by label, not by code."
                )
    elif is_numeric(fa) and is_numeric(fb):
        if fa.type == "number" and fb.type == "integer":
            out.append(
                f"{name!r} is a number in {name_a} but a whole number in {name_b}: {name_b} gets the values rounded."
            )
        if (
            fa.min is not None
            and fa.max is not None
            and fb.min is not None
            and fb.max is not None
            and not np.allclose([fa.min, fa.max], [fb.min, fb.max], rtol=1e-6, atol=1e-9)
        ):
            out.append(
                f"{name!r} was trained on {_number(fa.min)} to {_number(fa.max)} in {name_a} and on "
                f"{_number(fb.min)} to {_number(fb.max)} in {name_b}: values outside one range are guesses "
                "of that model."
            )
    return out


def _choice_words(choices: Sequence[str]) -> str:
    return "the choice" if len(choices) == 1 else "the choices"


def _number(value: Any) -> str:
    number = float(value)
    return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.4g}"


def _class_differences(schema_a: FeatureSchema, schema_b: FeatureSchema, name_a: str, name_b: str) -> list[str]:
    if schema_a.task != "classification" or schema_b.task != "classification":
        return []
    if not schema_a.classes or not schema_b.classes:
        return []
    labels_a = [schema_a.class_label(c) for c in schema_a.classes]
    labels_b = [schema_b.class_label(c) for c in schema_b.classes]
    folded_b = {label.casefold() for label in labels_b}
    common = [label for label in labels_a if label.casefold() in folded_b]
    out: list[str] = []
    if {label.casefold() for label in labels_a} != folded_b:
        agree = f"so they can agree only on {listed(common)}" if common else "so they never predict the same class"
        out.append(
            f"The classes differ: {name_a} predicts {listed(labels_a)} and {name_b} {listed(labels_b)}; "
            f"classes are matched by label, {agree}."
        )
    code_b = {schema_b.class_label(c).casefold(): str(c) for c in schema_b.classes}
    recoded = [
        f"{schema_a.class_label(c)}: {c} in {name_a}, {code_b[schema_a.class_label(c).casefold()]} in {name_b}"
        for c in schema_a.classes
        if schema_a.class_label(c).casefold() in code_b and code_b[schema_a.class_label(c).casefold()] != str(c)
    ]
    if recoded:
        out.append(
            f"The two code their classes differently ({_some(recoded)}); classes are matched by label, not by code."
        )
    return out


# ---- the rows each side gets -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Aligned:
    """The rows of a comparison as each side gets them.

    ``request_a`` / ``request_b``: request frames (each side's ``input_columns``), one row per row compared,
    in the same order. ``defaulted``: per input of B, how many rows got B's default because A has no such
    input or A's value has no match in B (a category B lacks).
    """

    request_a: pd.DataFrame
    request_b: pd.DataFrame
    defaulted: dict[str, int]


def align_rows(schema_a: FeatureSchema, schema_b: FeatureSchema, rows: pd.DataFrame) -> Aligned:
    """Form rows of A's schema -> request rows for A and for B.

    ``rows`` holds one column per feature of A (coerced form values, as ``read_form_rows`` gives them) and
    may hold columns for inputs only B has (then B gets those values, coerced by B's schema). Every other
    input of B gets B's default. A value of a shared input goes to B through its label: a category or
    one-hot choice by its label (any case), true/false as itself, a number as itself (rounded for a whole
    number); one that B cannot take becomes B's default, counted in ``defaulted``.
    """
    names_a = {f.name for f in schema_a.features}
    missing = [f.name for f in schema_a.features if f.name not in rows.columns]
    if missing:
        raise AnalysisError(f"The rows have no column {missing[0]!r}; give one column per input of the first model.")
    form_a = {f.name: rows[f.name].tolist() for f in schema_a.features}
    request_a = request_frame(schema_a, form_a)
    defaults_b = schema_b.defaults()
    form_b: dict[str, list[Any]] = {}
    defaulted: dict[str, int] = {}
    for fb in schema_b.features:
        if fb.name in names_a:
            fa = schema_a.feature(fb.name)
            table: dict[Any, Any] = {}
            mapped = []
            for value in rows[fb.name].tolist():  # each distinct value translated once
                key = _key(value)
                if key not in table:
                    table[key] = _translate(fa, fb, value)
                mapped.append(table[key])
            misses = sum(1 for value in mapped if value is _NO_MATCH)
            form_b[fb.name] = [defaults_b[fb.name] if value is _NO_MATCH else value for value in mapped]
        elif fb.name in rows.columns:
            form_b[fb.name] = _coerced_column(fb, rows[fb.name])
            misses = 0
        else:
            form_b[fb.name] = [defaults_b[fb.name]] * len(rows)
            misses = len(rows)
        if misses:
            defaulted[fb.name] = misses
    return Aligned(request_a, request_frame(schema_b, form_b), defaulted)


_NO_MATCH = object()


def _key(value: Any) -> Any:
    """A hashable key telling apart True, 1 and 1.0 (which a dict would merge)."""
    return (type(value).__name__, value)


def _label_of(feature: Feature, value: Any) -> str:
    if feature.is_categorical:
        return feature.label_of(value)
    if feature.type == "boolean":
        return "true" if value else "false"
    return str(value)


def _translate(fa: Feature, fb: Feature, value: Any) -> Any:
    """A's form value for the same-named input of B, or ``_NO_MATCH``."""
    if fb.type == "one_hot" or fb.is_categorical:
        label = _label_of(fa, value).strip().casefold()
        options: list[tuple[str, Any]] = (
            [(choice, choice) for choice in fb.choices]
            if fb.type == "one_hot"
            else [(text, int(code)) for code, text in fb.labels.items()]
        )
        matches = [form_value for text, form_value in options if text.strip().casefold() == label]
        if matches:
            return matches[0]
        if not _categorical(fa) and fa.type != "boolean":  # a plain number may be one of B's codes
            return _coerce_or_no_match(fb, value)
        return _NO_MATCH
    if fb.type == "boolean":
        return _coerce_or_no_match(fb, value if fa.type == "boolean" else _label_of(fa, value))
    # B takes a number
    if fa.type == "boolean":
        return int(bool(value))
    if fa.type == "one_hot":
        return _coerce_or_no_match(fb, value)  # a label such as "3" may be a number
    if fb.type == "integer" and isinstance(value, float) and not value.is_integer():
        value = int(round(value))
    return _coerce_or_no_match(fb, value)


def _coerce_or_no_match(feature: Feature, value: Any) -> Any:
    try:
        return feature.coerce(value)
    except ValueError:
        return _NO_MATCH


def _coerced_column(feature: Feature, column: pd.Series) -> list[Any]:
    """A column of form values coerced by ``feature``; AnalysisError naming the first row that does not fit."""
    table: dict[Any, Any] = {}
    out = []
    for number, value in enumerate(column.tolist(), 1):
        key = _key(value)
        if key not in table:
            try:
                table[key] = feature.coerce(value)
            except ValueError as exc:
                raise AnalysisError(
                    f"Row {number} does not fit the model: {feature.name!r} {exc}; fix or drop that row."
                ) from None
        out.append(table[key])
    return out


def read_rows(
    schema_a: FeatureSchema, schema_b: FeatureSchema, data: bytes, limit: int = DEFAULT_MAX_ROWS
) -> pd.DataFrame:
    """A CSV's rows as A's form values, plus a column for each input only B has that the file holds.

    Raises ``whatif.rowsfile.RowsFileError`` (one or two sentences) as ``read_form_rows`` does.
    """
    rows = read_form_rows(schema_a, data, limit=limit)
    names_a = {f.name for f in schema_a.features}
    header = {cell.strip() for cell in read_lines(data.decode("utf-8-sig"))[0]}
    for feature in schema_b.features:
        if feature.name in names_a:
            continue
        if feature.name in header or set(feature.input_columns) <= header:
            rows[feature.name] = read_form_rows(FeatureSchema((feature,)), data, limit=limit)[feature.name]
    return rows


# ---- both tasks at once ------------------------------------------------------------------------------------
def predict_both(
    side_a: Side,
    side_b: Side,
    rows_a: pd.DataFrame,
    rows_b: pd.DataFrame,
    *,
    on_progress: SideProgress | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    timeout_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The answers of A to ``rows_a`` and of B to ``rows_b`` (request rows), each index 0..n-1, in order.

    Every task of A and of B is SUBMITTED first (each side split at ``max_rows`` rows, or fewer when its
    rows are wide, only when needed), THEN each is waited for, so the two models work at the same time and
    the comparison takes about as long as the slower side's prediction. ``timeout_s``: how long to wait for
    each task (None: the client's poll deadline). Raises AnalysisError naming the side that failed.
    """
    started = clock()
    if len(rows_a) == 0 or len(rows_b) == 0:
        raise AnalysisError("There are no rows to compare; give at least one row.")

    def report(label: str, progress: Progress) -> None:
        if on_progress is not None:
            on_progress(label, progress)

    submitted: list[tuple[str, Side, int, int, int, int, int, str]] = []
    for label, side, rows in ((A, side_a, rows_a), (B, side_b, rows_b)):
        ranges = rows_ranges(len(rows), rows_per_task(rows, max_rows))
        for number, (start, end) in enumerate(ranges, 1):
            report(label, Progress(len(rows), None, SUBMITTING, clock() - started, number, len(ranges)))
            try:
                task_id = side.client.submit(rows.iloc[start:end], side.path, side.bucket, return_only_prediction=True)
            except (APIError, RowValidationError) as exc:
                raise _side_error(side, exc) from exc
            submitted.append((label, side, len(rows), number, len(ranges), start, end, task_id))
    parts: dict[str, list[pd.DataFrame]] = {A: [], B: []}
    for label, side, total_rows, number, total, start, end, task_id in submitted:

        def on_status(
            status: TaskStatus,
            _elapsed: float,
            label: str = label,
            total_rows: int = total_rows,
            number: int = number,
            total: int = total,
        ) -> None:
            report(label, Progress(total_rows, status.task_id, status.state, clock() - started, number, total))

        try:
            result = side.client.wait(task_id, timeout=timeout_s, on_status=on_status)
            parts[label].append(_answer_columns(result.predictions, end - start, task_id))
        except (APIError, AnalysisError) as exc:
            raise _side_error(side, exc) from exc
    answers = [
        pd.concat(parts[label], ignore_index=True) if len(parts[label]) > 1 else parts[label][0] for label in (A, B)
    ]
    return answers[0], answers[1]


def rows_per_task(
    rows: pd.DataFrame, max_rows: int = DEFAULT_MAX_ROWS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> int:
    """At most ``max_rows``, and few enough that a task's JSON body stays under ``max_body_bytes`` (as
    ``BatchPredictor.rows_per_task``)."""
    sample = rows.head(SIZE_SAMPLE_ROWS)
    body = json.dumps(sample.to_dict(orient="records"), default=str)
    per_row = len(body) / max(1, len(sample)) * 1.1
    return max(1, min(max_rows, int(max_body_bytes // per_row)))


def tasks_for(rows_a: pd.DataFrame, rows_b: pd.DataFrame, max_rows: int = DEFAULT_MAX_ROWS) -> int:
    """How many tasks ``predict_both`` sends for these request rows (for a preview)."""
    return sum(len(rows_ranges(len(rows), rows_per_task(rows, max_rows))) for rows in (rows_a, rows_b) if len(rows))


def _side_error(side: Side, exc: Exception) -> AnalysisError:
    """One sentence: which model failed, and the client's own sentence."""
    text = str(exc).strip()
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    text = text if text.endswith((".", "!", "?")) else text + "."
    return AnalysisError(f"{side.name} could not answer: {text}")


# ---- reading each side's answers by label ------------------------------------------------------------------
@dataclass(frozen=True)
class _Read:
    """One side's answers read by label: predicted labels, probabilities per label, values (regression)."""

    scorer: Scorer
    labels: np.ndarray  # object: the predicted class's label (a regression's value as text)
    probabilities: pd.DataFrame  # columns: class labels; empty for a regression
    values: np.ndarray  # float: the predicted value (regression); NaN for a classifier


def _read(schema: FeatureSchema, answers: pd.DataFrame) -> _Read:
    try:
        scorer = scorer_for(schema, answers)
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    if scorer.task == "regression":
        values = pd.to_numeric(answers["prediction"], errors="coerce").to_numpy(dtype=float)
        return _Read(
            scorer, scorer.predicted_class(answers).to_numpy(dtype=object), pd.DataFrame(index=answers.index), values
        )
    keys = scorer.predicted_class(answers)
    labels = keys.map(schema.class_label).to_numpy(dtype=object)
    columns: dict[str, pd.Series] = {}
    for key in scorer.classes:
        column = PROBABILITY_PREFIX + key
        label = schema.class_label(key)
        if column in answers.columns:
            values_of = pd.to_numeric(answers[column], errors="coerce").astype(float)
        else:  # no probabilities: the predicted class is certain
            values_of = (keys == key).astype(float)
        columns[label] = columns[label] + values_of if label in columns else values_of
    probabilities = pd.DataFrame(columns, index=answers.index)
    return _Read(scorer, labels, probabilities, np.full(len(answers), np.nan))


def _label_order(schema_a: FeatureSchema, schema_b: FeatureSchema, read_a: _Read, read_b: _Read) -> list[str]:
    """Every class label of either side: A's in its order, then B's others."""
    order: list[str] = []
    for labels in (
        [schema_a.class_label(c) for c in schema_a.classes],
        list(read_a.probabilities.columns),
        [schema_b.class_label(c) for c in schema_b.classes],
        list(read_b.probabilities.columns),
        list(read_a.labels),
        list(read_b.labels),
    ):
        for label in labels:
            if label is not None and str(label) not in order:
                order.append(str(label))
    return order


def _score_label(schema_a: FeatureSchema, read_a: _Read, score_class: str | None, most_common: bool) -> str:
    """The class label whose probability is the score on both sides."""
    labels = list(read_a.probabilities.columns)
    if score_class is not None:
        wanted = str(score_class).strip()
        by_label = [label for label in labels if label.casefold() == wanted.casefold()]
        if by_label:
            return by_label[0]
        key = read_a.scorer._class_key(score_class)
        if key is not None:
            return schema_a.class_label(key)
        raise AnalysisError(f"{score_class!r} is not a class of the first model; choose one of {', '.join(labels)}.")
    keys = list(read_a.scorer.classes)
    if len(keys) <= 2:
        return schema_a.class_label(positive_class(schema_a, dict.fromkeys(keys, 0.0)))
    if most_common:
        return str(pd.Series(read_a.labels).mode().iloc[0])
    return str(read_a.labels[0])


def _probability_of(read: _Read, label: str) -> np.ndarray:
    """P(label) per row; NaN when the side has no such class (its classes are named otherwise)."""
    matches = [column for column in read.probabilities.columns if column.casefold() == label.casefold()]
    if not matches:
        return np.full(len(read.labels), np.nan)
    return read.probabilities[matches[0]].to_numpy(dtype=float)


def _by_labels(read: _Read, order: Sequence[str]) -> np.ndarray:
    """Probabilities over ``order`` (a class the side lacks: probability 0), rows x labels."""
    folded = {column.casefold(): column for column in read.probabilities.columns}
    out = np.zeros((len(read.labels), len(order)))
    for j, label in enumerate(order):
        column = folded.get(label.casefold())
        if column is not None:
            out[:, j] = read.probabilities[column].to_numpy(dtype=float)
    return np.nan_to_num(out)


def _comparison_scorer(read_a: _Read, label: str | None) -> Scorer:
    scorer = read_a.scorer
    if scorer.task == "regression" or label is None:
        return scorer
    key = next((k for k in scorer.classes if k == label), scorer.score_class)
    return Scorer("classification", key, scorer.classes, f"P({label})", scorer.threshold)


# ---- one scenario ------------------------------------------------------------------------------------------
def compare_scenario(
    a: Side,
    b: Side,
    scenario: Mapping[str, Any],
    *,
    sweep_feature: str | None = None,
    points: int = SWEEP_POINTS,
    score_class: str | None = None,
    on_progress: SideProgress | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> Comparison:
    """Both models on one scenario (A's form values; values of inputs only B has may be given too), side by side.

    With ``sweep_feature`` (an input of A), the same scenario with that input moved over its grid
    (``points`` points, every level of a category) is sent too, IN THE SAME task of each side: two tasks
    in all, submitted together. ``summary``: one row per side (``side, model, prediction, score`` and one
    ``P(<label>)`` column per class label). ``facts``: both scores, their ``difference`` (B - A), both
    classes, and along a sweep where they differ most.
    """
    _check_tasks(a, b)
    names_a = {f.name for f in a.schema.features}
    names_b = {f.name for f in b.schema.features}
    unknown = [name for name in scenario if name not in names_a and name not in names_b]
    if unknown:
        raise AnalysisError(f"{unknown[0]!r} is an input of neither model; leave it out of the scenario.")
    check_score_class(a.schema, score_class)  # a typo costs no task
    base = checked_scenario(a.schema, {k: v for k, v in scenario.items() if k in names_a})
    form: dict[str, list[Any]] = {f.name: [base[f.name]] for f in a.schema.features}
    grid: list[Any] = []
    swept: Feature | None = None
    if sweep_feature is not None:
        check_points(points)
        swept = feature_named(a.schema, sweep_feature)
        grid = checked_values(swept, feature_grid(swept, base[swept.name], points))
        for f in a.schema.features:
            form[f.name] += grid if f.name == swept.name else [base[f.name]] * len(grid)
    rows = pd.DataFrame(form)
    for name, value in scenario.items():
        if name not in names_a:
            rows[name] = [value] * len(rows)
    aligned = align_rows(a.schema, b.schema, rows)
    answers_a, answers_b = predict_both(
        a, b, aligned.request_a, aligned.request_b, on_progress=on_progress, max_rows=max_rows
    )
    read_a, read_b = _read(a.schema, answers_a), _read(b.schema, answers_b)
    classifier = read_a.scorer.task == "classification"
    label = _score_label(a.schema, read_a, score_class, most_common=False) if classifier else None
    score_a, score_b = _scores(read_a, read_b, label)
    differences = tuple(
        schema_differences(a.schema, b.schema, a.name, b.name, provided=[n for n in scenario if n not in names_a])
    )
    differences += _label_missing(read_a, read_b, label, a.name, b.name)
    order = _label_order(a.schema, b.schema, read_a, read_b) if classifier else []
    summary = pd.DataFrame(
        [_side_row(A, a.name, read_a, score_a[0], order), _side_row(B, b.name, read_b, score_b[0], order)]
    )
    facts: dict[str, Any] = {
        "model_a": a.name,
        "model_b": b.name,
        "score_label": label,
        "score_a": _finite(score_a[0]),
        "score_b": _finite(score_b[0]),
        "difference": _finite(score_b[0] - score_a[0]),
        "class_a": None if not classifier else str(read_a.labels[0]),
        "class_b": None if not classifier else str(read_b.labels[0]),
        "same_class": None if not classifier else bool(read_a.labels[0] == read_b.labels[0]),
        "defaulted": dict(aligned.defaulted),
    }
    curves = pd.DataFrame(columns=["side", "model", "point", "value", "score", "label"])
    bookkeeping: dict[str, list[Any]] = {"point": [None], "value": [None]}
    if swept is not None:
        shown = [shown_value(swept, v) for v in grid]
        size = len(grid)
        curves = pd.DataFrame(
            {
                "side": [A] * size + [B] * size,
                "model": [a.name] * size + [b.name] * size,
                "point": list(range(size)) * 2,
                "value": shown * 2,
                "score": np.concatenate([score_a[1:], score_b[1:]]),
                "label": np.concatenate([read_a.labels[1:], read_b.labels[1:]]),
            }
        )
        facts.update(
            _sweep_facts(swept, shown, score_a[1:], score_b[1:], read_a.labels[1:], read_b.labels[1:], classifier)
        )
        facts["current_value"] = shown_value(swept, base[swept.name])
        bookkeeping = {"point": [None, *range(size)], "value": [None, *shown]}
    scorer = _comparison_scorer(read_a, label)
    return Comparison(
        kind="compare_scenario",
        scorer=scorer,
        scenario=base,
        scenario_score=float(score_a[0]),
        scenario_class=facts["class_a"],
        sent=_sent(a, b, aligned, answers_a, answers_b, read_a, read_b, score_a, score_b, bookkeeping),
        summary=summary,
        reading=_scenario_reading(a, b, read_a, read_b, score_a, score_b, label, facts, swept),
        tasks=tasks_for(aligned.request_a, aligned.request_b, max_rows),
        facts=facts,
        model_a=a.name,
        model_b=b.name,
        differences=differences,
        curves=curves,
    )


def _check_tasks(a: Side, b: Side) -> None:
    if a.schema.task != b.schema.task:
        raise AnalysisError(
            f"{a.name} is a {a.schema.task} and {b.name} a {b.schema.task}: only models that predict "
            "the same kind of answer can be compared; pick another pair."
        )


def _scores(read_a: _Read, read_b: _Read, label: str | None) -> tuple[np.ndarray, np.ndarray]:
    if label is None:
        return read_a.values, read_b.values
    return _probability_of(read_a, label), _probability_of(read_b, label)


def _label_missing(read_a: _Read, read_b: _Read, label: str | None, name_a: str, name_b: str) -> tuple[str, ...]:
    if label is None or np.isfinite(_probability_of(read_b, label)).any():
        return ()
    return (
        f"{name_b} has no class {label!r} ({name_a}'s score class), so its score cannot be compared; pick a "
        "class both predict.",
    )


def _side_row(side: str, name: str, read: _Read, score: float, order: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"side": side, "model": name, "prediction": str(read.labels[0]), "score": _finite(score)}
    if read.scorer.task == "regression":
        row["prediction"] = _finite(read.values[0])
    folded = {column.casefold(): column for column in read.probabilities.columns}
    for label in order:
        column = folded.get(label.casefold())
        row[f"P({label})"] = None if column is None else _finite(read.probabilities[column].iloc[0])
    return row


def _sweep_facts(
    feature: Feature,
    shown: list[Any],
    curve_a: np.ndarray,
    curve_b: np.ndarray,
    labels_a: np.ndarray,
    labels_b: np.ndarray,
    classifier: bool,
) -> dict[str, Any]:
    gap = np.abs(curve_b - curve_a)
    widest = int(np.nanargmax(gap)) if np.isfinite(gap).any() else None
    return {
        "feature": feature.name,
        "points": len(shown),
        "max_abs_difference": None if widest is None else _finite(gap[widest]),
        "value_at_max_difference": None if widest is None else shown[widest],
        "mean_abs_difference": _finite(np.nanmean(gap)) if np.isfinite(gap).any() else None,
        "classes_differ_at": int((labels_a != labels_b).sum()) if classifier else None,
    }


def _scenario_reading(
    a: Side,
    b: Side,
    read_a: _Read,
    read_b: _Read,
    score_a: np.ndarray,
    score_b: np.ndarray,
    label: str | None,
    facts: Mapping[str, Any],
    swept: Feature | None,
) -> str:
    if label is None:  # regression
        value_a, value_b = read_a.values[0], read_b.values[0]
        change = value_b - value_a
        how = "the same" if _value(change) == "0" else f"{_value(abs(change))} {'higher' if change > 0 else 'lower'}"
        first = (
            (f"{a.name} predicts {_value(value_a)} and {b.name} predicts {_value(value_b)}: {b.name} is {how}.")
            if how != "the same"
            else (f"{a.name} and {b.name} both predict {_value(value_a)}.")
        )
    else:
        same = read_a.labels[0] == read_b.labels[0]
        verdict = "the same class" if same else "different classes"
        first = (
            f"{a.name} says {read_a.labels[0]} (P({label}) {_pct(score_a[0])}) and {b.name} says "
            f"{read_b.labels[0]} ({_pct(score_b[0])}): {verdict}"
        )
        change = score_b[0] - score_a[0]
        if np.isfinite(change):
            points = abs(change) * 100
            first += (
                "."
                if points < 0.05
                else (f"; {b.name}'s P({label}) is {points:.1f} pts {'higher' if change > 0 else 'lower'}.")
            )
        else:
            first += "."
    if swept is None or facts.get("max_abs_difference") is None:
        return first
    widest = facts["value_at_max_difference"]
    gap = facts["max_abs_difference"]
    same = gap * 100 < 0.05 if label is not None else _value(gap) == "0"
    if same:
        return first + f" Along {swept.name} they give the same answer at every value."
    gap_text = f"{gap * 100:.1f} pts" if label is not None else _value(gap)
    second = f" Along {swept.name} they differ most at {_short(widest)}: {gap_text}"
    if label is not None:
        count = facts.get("classes_differ_at") or 0
        second += (
            f"; they predict different classes at {count} of {facts['points']} values"
            if count
            else "; they predict the same class at every value"
        )
    return first + second + "."


# ---- many rows ---------------------------------------------------------------------------------------------
def compare_rows(
    a: Side,
    b: Side,
    rows: pd.DataFrame,
    *,
    score_class: str | None = None,
    on_progress: SideProgress | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    top: int = MAX_DISAGREEMENTS,
) -> Comparison:
    """Both models on every row of ``rows`` (A's form values, as ``read_rows`` gives them).

    Classifiers: ``facts`` hold the agreement (the share of rows whose predicted class LABEL is the same),
    the mean and largest absolute difference of P(score label); ``confusion`` counts A's class against B's
    (every label of either side, zeros included); ``disagreements`` are the ``top`` rows where they
    disagree most: rows whose classes differ first, then by the distance between their class probabilities
    (half the sum of the absolute differences over the labels, from 0 to 1). Regressions: both values per row,
    the mean and largest absolute difference, the mean difference (B - A) and their correlation.
    ``summary``: one row per row compared (``row`` counts from 1, as a file's data lines): both answers, their
    difference, then A's inputs as the page shows them (a category's label).
    """
    check_score_class(a.schema, score_class)  # a typo costs no task
    _check_tasks(a, b)
    if len(rows) == 0:
        raise AnalysisError("There are no rows to compare; give at least one row.")
    rows = _coerced_rows(a.schema, rows.reset_index(drop=True))
    names_a = {f.name for f in a.schema.features}
    provided = [f.name for f in b.schema.features if f.name not in names_a and f.name in rows.columns]
    aligned = align_rows(a.schema, b.schema, rows)
    answers_a, answers_b = predict_both(
        a, b, aligned.request_a, aligned.request_b, on_progress=on_progress, max_rows=max_rows
    )
    read_a, read_b = _read(a.schema, answers_a), _read(b.schema, answers_b)
    classifier = read_a.scorer.task == "classification"
    label = _score_label(a.schema, read_a, score_class, most_common=True) if classifier else None
    score_a, score_b = _scores(read_a, read_b, label)
    difference = score_b - score_a
    gap = np.abs(difference)
    number = np.arange(1, len(rows) + 1)
    differences = tuple(schema_differences(a.schema, b.schema, a.name, b.name, provided=provided))
    differences += _label_missing(read_a, read_b, label, a.name, b.name)
    differences += _unmatched(aligned, a.schema, b.schema, b.name, len(rows))
    facts: dict[str, Any] = {
        "model_a": a.name,
        "model_b": b.name,
        "rows": len(rows),
        "score_label": label,
        "defaulted": dict(aligned.defaulted),
    }
    widest = int(np.nanargmax(gap)) if np.isfinite(gap).any() else None
    facts.update(
        {
            "mean_abs_difference": _finite(np.nanmean(gap)) if widest is not None else None,
            "max_abs_difference": None if widest is None else _finite(gap[widest]),
            "max_difference_row": None if widest is None else int(number[widest]),
            "mean_difference": _finite(np.nanmean(difference)) if widest is not None else None,
        }
    )
    confusion = pd.DataFrame(columns=["a_class", "b_class", "rows", "share"])
    if classifier:
        order = _label_order(a.schema, b.schema, read_a, read_b)
        agree = read_a.labels == read_b.labels
        distance = 0.5 * np.abs(_by_labels(read_a, order) - _by_labels(read_b, order)).sum(axis=1)
        summary = pd.DataFrame(
            {
                "row": number,
                "a_class": read_a.labels,
                "b_class": read_b.labels,
                "agree": agree,
                "a_score": score_a,
                "b_score": score_b,
                "difference": difference,
                "distance": distance,
            }
        )
        confusion = _confusion(read_a.labels, read_b.labels, order, a.schema, b.schema, read_a, read_b)
        facts.update(
            {
                "agreement": float(agree.mean()),
                "agreeing_rows": int(agree.sum()),
                "classes_a": _present(order, read_a),
                "classes_b": _present(order, read_b),
            }
        )
        ranked = summary.assign(_order=~agree).sort_values(
            ["_order", "distance", "row"], ascending=[False, False, True], kind="stable"
        )
        ranked = ranked.drop(columns="_order")
    else:
        summary = pd.DataFrame(
            {"row": number, "a_value": read_a.values, "b_value": read_b.values, "difference": difference}
        )
        correlation = (
            float(np.corrcoef(read_a.values, read_b.values)[0, 1])
            if len(rows) > 2 and np.nanstd(read_a.values) > 0 and np.nanstd(read_b.values) > 0
            else None
        )
        facts.update({"agreement": None, "correlation": _finite(correlation) if correlation is not None else None})
        ranked = summary.assign(_gap=gap).sort_values(["_gap", "row"], ascending=[False, True], kind="stable")
        ranked = ranked.drop(columns="_gap")
    inputs = _inputs_shown(a.schema, rows)
    disagreements = ranked.head(top).merge(inputs, on="row", how="left")
    summary = summary.merge(inputs, on="row", how="left")
    scorer = _comparison_scorer(read_a, label)
    return Comparison(
        kind="compare_rows",
        scorer=scorer,
        scenario={},
        scenario_score=math.nan,
        scenario_class=None,
        sent=_sent(a, b, aligned, answers_a, answers_b, read_a, read_b, score_a, score_b, {}),
        summary=summary,
        reading=_rows_reading(a, b, facts, confusion, classifier),
        tasks=tasks_for(aligned.request_a, aligned.request_b, max_rows),
        facts=facts,
        model_a=a.name,
        model_b=b.name,
        differences=differences,
        confusion=confusion,
        disagreements=disagreements.reset_index(drop=True),
    )


def _coerced_rows(schema: FeatureSchema, rows: pd.DataFrame) -> pd.DataFrame:
    """A's form values coerced per feature (each distinct value once); AnalysisError naming the first bad row."""
    missing = [f.name for f in schema.features if f.name not in rows.columns]
    if missing:
        raise AnalysisError(f"The rows have no column {missing[0]!r}; give one column per input of the first model.")
    out = rows.copy()
    for feature in schema.features:
        out[feature.name] = _coerced_column(feature, rows[feature.name])
    return out


def _unmatched(
    aligned: Aligned, schema_a: FeatureSchema, schema_b: FeatureSchema, name_b: str, total: int
) -> tuple[str, ...]:
    """Sentences for shared inputs whose values B could not take on some rows (they got B's default)."""
    names_a = {f.name for f in schema_a.features}
    out = []
    for name, count in aligned.defaulted.items():
        if name in names_a:
            default = value_text(schema_b.feature(name), schema_b.defaults()[name])
            out.append(
                f"{count:,} of the {total:,} rows have a value of {name!r} that {name_b} cannot take; "
                f"{name_b} got its default, {default}, there."
            )
    return tuple(out)


def _present(order: Sequence[str], read: _Read) -> list[str]:
    folded = {column.casefold() for column in read.probabilities.columns}
    return [label for label in order if label.casefold() in folded or label in set(read.labels)]


def _confusion(
    labels_a: np.ndarray,
    labels_b: np.ndarray,
    order: Sequence[str],
    schema_a: FeatureSchema,
    schema_b: FeatureSchema,
    read_a: _Read,
    read_b: _Read,
) -> pd.DataFrame:
    """Tidy counts of A's class x B's class over every label each side has (zeros included)."""
    rows_labels = _present(order, read_a)
    columns_labels = _present(order, read_b)
    counts = pd.crosstab(
        pd.Series(labels_a, name="a_class").astype(str), pd.Series(labels_b, name="b_class").astype(str)
    )
    counts = counts.reindex(index=rows_labels, columns=columns_labels, fill_value=0)
    tidy = counts.stack().rename("rows").reset_index()
    tidy.columns = ["a_class", "b_class", "rows"]
    tidy["rows"] = tidy["rows"].astype(int)
    tidy["share"] = tidy["rows"] / max(1, len(labels_a))
    return tidy


def _inputs_shown(schema: FeatureSchema, rows: pd.DataFrame) -> pd.DataFrame:
    """A's inputs of every row as the page shows them (a category's label), with ``row`` counting from 1."""
    shown = {"row": np.arange(1, len(rows) + 1)}
    for feature in schema.features:
        column = rows[feature.name]
        if feature.is_categorical or feature.type == "boolean":
            shown[feature.name] = column.map(lambda v, f=feature: value_text(f, v)).to_numpy()
        else:
            shown[feature.name] = column.to_numpy()
    frame = pd.DataFrame(shown)
    taken = {"row", "a_class", "b_class", "agree", "a_score", "b_score", "difference", "distance", "a_value", "b_value"}
    return frame.rename(columns={c: BOOKKEEPING_PREFIX + c for c in frame.columns if c in taken and c != "row"})


def _rows_reading(a: Side, b: Side, facts: Mapping[str, Any], confusion: pd.DataFrame, classifier: bool) -> str:
    total = facts["rows"]
    if classifier:
        agreement = facts["agreement"]
        first = (
            f"{a.name} and {b.name} agree on {percent(agreement)} of the {total:,} rows ({facts['agreeing_rows']:,})."
        )
        off = confusion[(confusion["a_class"] != confusion["b_class"]) & (confusion["rows"] > 0)]
        if not off.empty:
            worst = off.sort_values("rows", ascending=False, kind="stable").iloc[0]
            first += (
                f" Most often they differ where {a.name} says {worst['a_class']} and {b.name} "
                f"{worst['b_class']} ({int(worst['rows']):,} rows)."
            )
        if facts.get("mean_abs_difference") is not None:
            first += (
                f" P({facts['score_label']}) differs by {facts['mean_abs_difference'] * 100:.1f} pts on "
                f"average, at most {facts['max_abs_difference'] * 100:.1f} pts (row "
                f"{facts['max_difference_row']})."
            )
        return first
    if facts.get("mean_abs_difference") is None:
        return f"The models gave no usable values for the {total:,} rows."
    mean = facts["mean_difference"]
    if _value(facts["max_abs_difference"]) == "0":
        return f"{a.name} and {b.name} predict the same value for every one of the {total:,} rows."
    return (
        f"Over {total:,} rows {b.name} predicts {_value(abs(mean))} {'more' if mean >= 0 else 'less'} than "
        f"{a.name} on average; the absolute difference is {_value(facts['mean_abs_difference'])} on average "
        f"and at most {_value(facts['max_abs_difference'])} (row {facts['max_difference_row']})."
    )


# ---- the rows sent, with both answers ----------------------------------------------------------------------
def _sent(
    a: Side,
    b: Side,
    aligned: Aligned,
    answers_a: pd.DataFrame,
    answers_b: pd.DataFrame,
    read_a: _Read,
    read_b: _Read,
    score_a: np.ndarray,
    score_b: np.ndarray,
    bookkeeping: Mapping[str, Sequence[Any]],
) -> pd.DataFrame:
    """Every row sent to either side: ``side, model, row``, its request columns, the answer, ``label, score``."""
    parts = []
    for side, name, request, answers, read, score in (
        (A, a.name, aligned.request_a, answers_a, read_a, score_a),
        (B, b.name, aligned.request_b, answers_b, read_b, score_b),
    ):
        taken = set(request.columns) | set(answers.columns)
        extra = {
            "side": [side] * len(request),
            "model": [name] * len(request),
            "row": np.arange(len(request)),
            **{key: list(values) for key, values in bookkeeping.items()},
        }
        head = pd.DataFrame({(BOOKKEEPING_PREFIX + k if k in taken else k): v for k, v in extra.items()})
        tail = pd.DataFrame(
            {
                (BOOKKEEPING_PREFIX + k if k in taken else k): v
                for k, v in {"label": read.labels, "score": score}.items()
            }
        )
        answer_columns = answers[[c for c in answers.columns if c not in request.columns]].reset_index(drop=True)
        parts.append(pd.concat([head, request.reset_index(drop=True), answer_columns, tail], axis=1))
    return pd.concat(parts, ignore_index=True)


# ---- formatting --------------------------------------------------------------------------------------------
def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value * 100:.0f} %"


def _value(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    text = f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return "0" if text in ("-0", "0") else text


def _short(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    number = float(value)
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    text = f"{number:.3g}"
    return "0" if text == "-0" else text


__all__ = [
    "A",
    "B",
    "MAX_DISAGREEMENTS",
    "Aligned",
    "Comparison",
    "Side",
    "SideProgress",
    "TaskClient",
    "align_rows",
    "compare_rows",
    "compare_scenario",
    "predict_both",
    "read_rows",
    "schema_differences",
    "side_name",
    "tasks_for",
]
