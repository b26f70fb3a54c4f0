"""Scoring a file: up to 100,000 rows, one task per server row limit, and how the model does on them.

``read_rows_file`` reads a CSV (the what-if page's import rules, ``whatif.rowsfile``) or an Excel
sheet into form values, keeping the file's other columns (an ID, the target) as text.
``score_rows`` sends the rows in tasks of at most ``rows_per_task`` rows, ONE ``predict`` call per
task, one after another, reporting progress between and during tasks; a stop request is honoured
between tasks, and a task that fails ends the run with the rows scored so far kept and a sentence
naming the task and its rows. With the true values of a column of the file,
``classification_metrics``, ``regression_metrics`` and ``slice_metrics`` say how the model does,
with scikit-learn's metrics (a binary model's threshold moved without a new task).

Nothing here imports Streamlit.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.frames import listed, request_frame
from whatif.analysis.runner import DEFAULT_MAX_ROWS, BatchPredictor, Progress, rows_ranges
from whatif.analysis.score import Scorer, scorer_for
from whatif.client import ModelClient, PredictionResult
from whatif.csvtext import read_lines
from whatif.errors import APIError
from whatif.rowsfile import MAX_NAMED, SET_FLAGS, RowsFileError
from whatif.runs import PROBABILITY_PREFIX
from whatif.schema import Feature, FeatureSchema, RowValidationError

MAX_FILE_ROWS = 100_000
ROWS_PER_TASK = DEFAULT_MAX_ROWS  # the reference server's row limit
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
ROW, SCORE, PREDICTED_LABEL = "row", "score", "predicted_label"  # bookkeeping columns of a scored frame
BOOKKEEPING_PREFIX = "scored_"  # put before a bookkeeping name that a model input already uses
MISSING = "is missing"


# ---- reading a file -------------------------------------------------------------------------------
def excel_available() -> bool:
    """True when Excel sheets can be read here (pandas needs the optional ``openpyxl``)."""
    return importlib.util.find_spec("openpyxl") is not None


def read_rows_file(schema: FeatureSchema, data: bytes, filename: str, limit: int = MAX_FILE_ROWS) -> pd.DataFrame:
    """A CSV or Excel file's rows: the model's inputs as form values (one column per logical feature, in the
    schema's order), then the file's other columns as text (blank cells as "").

    The what-if page's import rules hold (``whatif.rowsfile.read_form_rows`` gives the same inputs and the
    same sentences): comma, semicolon with decimal commas, or tab; categories by code or label; a one-hot
    group by its own column or its 0/1 columns. A bad value refuses the whole file, naming the first five
    by line and field. It reads column by column, each distinct value checked once (100,000 Titanic rows:
    about 0.3 s, where ``read_form_rows`` takes 2 s). Raises RowsFileError (one or two sentences).
    """
    suffix = PurePath(filename or "").suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        lines = _excel_lines(data)
    elif suffix == ".xls":
        raise RowsFileError(
            "Old Excel files (.xls) cannot be read here; save the sheet as .xlsx or as CSV (UTF-8) and upload it again."
        )
    else:
        try:
            lines = read_lines(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise RowsFileError("The file is not UTF-8 text; save it as CSV (UTF-8) and upload it again.") from None
        except csv.Error as problem:
            raise RowsFileError(f"The file cannot be read as CSV: {problem}.") from None
    return form_frame(schema, lines, limit)


def _excel_lines(data: bytes) -> list[list[str]]:
    """The first sheet's non-blank rows as text cells (header first), as ``read_lines`` gives a CSV's."""
    if not excel_available():
        raise RowsFileError(
            "Excel files need the openpyxl package, which is not installed here; save the sheet "
            "as CSV (UTF-8) and upload that instead."
        )
    try:
        sheet = pd.read_excel(io.BytesIO(data), sheet_name=0, header=None, dtype=object)
    except Exception as problem:  # a broken or encrypted workbook: openpyxl and zipfile raise many kinds
        raise RowsFileError(
            f"The Excel file cannot be read ({type(problem).__name__}); save the sheet as CSV "
            "(UTF-8) and upload that instead."
        ) from None
    lines = [[_cell_text(v) for v in row] for row in sheet.itertuples(index=False, name=None)]
    return [line for line in lines if any(cell.strip() for cell in line)]


def _cell_text(value: Any) -> str:
    """An Excel cell as a CSV would hold it: blank for empty, 29 for a whole number, 29.5 otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def form_frame(schema: FeatureSchema, lines: list[list[str]], limit: int = MAX_FILE_ROWS) -> pd.DataFrame:
    """Lines of cells (header first, as ``whatif.csvtext.read_lines`` gives them) -> form values and other columns.

    Column by column, each distinct value coerced once by its feature; errors are then listed row by row
    exactly as ``read_form_rows`` lists them (in a row where a one-hot group's 0/1 columns are not one 1,
    only that group is named).
    """
    if len(lines) < 2:
        raise RowsFileError("The file has no data rows under its header line.")
    header, body = [cell.strip() for cell in lines[0]], lines[1:]
    if len(body) > limit:
        raise RowsFileError(f"The file has {len(body):,} rows; at most {limit:,} can be used here, so keep a sample.")
    missing = [f.name for f in schema.features if f.name not in header and not set(f.input_columns) <= set(header)]
    if missing:
        shown = ", ".join(missing[:MAX_NAMED]) + (" and more" if len(missing) > MAX_NAMED else "")
        raise RowsFileError(f"The file has no column for {shown}; its header must name the model's inputs.")
    where = {name: i for i, name in enumerate(header)}  # a name given twice: its last column, as a dict keeps it
    width = len(header)
    table = list(zip(*body, strict=True)) if all(len(cells) == width for cells in body) else None

    def column(name: str) -> list[str]:
        """A column's cells, stripped (each distinct text once): a short line's missing cells are blank."""
        i = where[name]
        cells: Sequence[str] = table[i] if table is not None else [c[i] if i < len(c) else "" for c in body]
        stripped = {text: text.strip() for text in set(cells)}
        return [stripped[text] for text in cells]

    values: dict[str, list[Any]] = {}
    row_errors: dict[int, list[tuple[str, str]]] = {}  # body index -> (field, sentence) in feature order
    group_failed: dict[int, tuple[str, str]] = {}  # body index -> the first one-hot group whose columns fail
    for feature in schema.features:
        if feature.type == "one_hot" and feature.name not in where:
            values[feature.name], failed = _hot_labels(feature, {c: column(c) for c in feature.columns.values()})
            for i in failed:
                group_failed.setdefault(i, (feature.name, _hot_sentence(feature)))
            continue
        values[feature.name], bad = _coerced(feature, column(feature.name))
        for i, sentence in bad:
            row_errors.setdefault(i, []).append((feature.name, sentence))
    problems: list[str] = []
    for i in sorted(set(row_errors) | set(group_failed)):
        errors = [group_failed[i]] if i in group_failed else row_errors[i]
        problems.extend(f"line {i + 2}, {name}: {sentence}" for name, sentence in errors)
        if len(problems) >= MAX_NAMED:
            break
    if problems:
        raise RowsFileError("Some values cannot be used, so no row was: " + "; ".join(problems[:MAX_NAMED]) + ".")
    used = {f.name for f in schema.features} | {c for f in schema.features for c in f.input_columns}
    others = {name: column(name) for name in where if name and name not in used}
    return pd.DataFrame({**values, **others})


def _coerced(feature: Feature, cells: list[str]) -> tuple[list[Any], list[tuple[int, str]]]:
    """The cells coerced by the feature (each distinct text once), and the (index, sentence) of bad ones."""
    known: dict[str, tuple[Any, str | None]] = {}
    for text in set(cells):
        if text == "":
            known[text] = (None, MISSING)
            continue
        try:
            known[text] = (feature.coerce(text), None)
        except ValueError as problem:
            known[text] = (None, str(problem))
    out = [known[text][0] for text in cells]
    if all(sentence is None for _, sentence in known.values()):
        return out, []
    return out, [(i, sentence) for i, text in enumerate(cells) if (sentence := known[text][1]) is not None]


def _hot_labels(feature: Feature, columns: Mapping[str, list[str]]) -> tuple[list[Any], list[int]]:
    """A one-hot group's label per row from its 0/1 columns, and the rows where they are not exactly one 1."""
    flags = {
        label: np.isin(np.asarray(columns[column], dtype=object), list(SET_FLAGS))
        for label, column in feature.columns.items()
    }
    count = np.sum(list(flags.values()), axis=0)
    labels = np.full(len(count), feature.none_label, dtype=object)
    for label, hot in flags.items():
        labels[hot] = label
    failed = (count > 1) | ((count == 0) if feature.none_label is None else np.zeros(len(count), dtype=bool))
    return list(labels), [int(i) for i in np.flatnonzero(failed)]


def _hot_sentence(feature: Feature) -> str:
    return f"exactly one of the columns {', '.join(feature.columns.values())} must be 1"


# ---- the target column ----------------------------------------------------------------------------
def other_columns(schema: FeatureSchema, rows: pd.DataFrame) -> list[str]:
    """The file's columns that are not the model's inputs: where the true values may be."""
    names = {f.name for f in schema.features}
    return [str(c) for c in rows.columns if c not in names]


def target_column(schema: FeatureSchema, rows: pd.DataFrame) -> str | None:
    """The column named as the schema's target (any case), if the file has one."""
    if not schema.target:
        return None
    wanted = schema.target.strip().casefold()
    return next((c for c in other_columns(schema, rows) if c.strip().casefold() == wanted), None)


def truth_values(schema: FeatureSchema, values: pd.Series, column: str = "") -> pd.Series:
    """A column of true values as the metrics read them: class keys ("0", "1") for a classifier, numbers for a
    regression; None (NaN) where a cell is blank. A class may be written as its key (1, 1.0, "1") or its label
    ("survived"). AnalysisError names the first five cells that are neither, by line."""
    texts = values.reset_index(drop=True).map(
        lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
    )
    name = column or str(values.name or "the target")
    if schema.task == "regression":
        numbers = pd.to_numeric(texts.where(texts != ""), errors="coerce")  # decimal commas: read_lines's rule
        bad = texts[(texts != "") & numbers.isna()]
        if len(bad):
            raise AnalysisError(
                f"The column {name!r} must hold numbers to compare with the predictions, but "
                f"{_cells(bad)} {'is' if len(bad) == 1 else 'are'} not; choose another column."
            )
        return numbers.astype(float)
    keys = _class_keys(schema)
    mapped = texts.map(lambda text: keys.get(text.casefold()) if text else None)
    bad = texts[(texts != "") & mapped.isna()]
    if len(bad):
        classes = ", ".join(
            f"{k} = {schema.class_label(k)}" if schema.class_label(k) != k else k
            for k in (str(c) for c in schema.classes)
        )
        raise AnalysisError(
            f"The column {name!r} has values that are none of the model's classes ({classes}): "
            f"{_cells(bad)}; choose another column."
        )
    return mapped.astype(object)


def _class_keys(schema: FeatureSchema) -> dict[str, str]:
    """Every way a file may write a class (key, 1.0, label, true/false for 1/0), case-folded -> the class key."""
    keys: dict[str, str] = {}
    for cls in schema.classes:
        key = str(cls.item() if hasattr(cls, "item") else cls)
        keys[key.casefold()] = key
        keys[schema.class_label(key).casefold()] = key
        if re.fullmatch(r"-?\d+", key):
            keys[f"{key}.0"] = key
        if key in ("0", "1"):
            keys["true" if key == "1" else "false"] = key
    return keys


def _cells(bad: pd.Series) -> str:
    shown = [f"{text!r} on line {int(i) + 2}" for i, text in bad.head(MAX_NAMED).items()]
    return listed(shown, MAX_NAMED) + (f" (and {len(bad) - MAX_NAMED:,} more)" if len(bad) > MAX_NAMED else "")


# ---- scoring ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreProgress:
    """Where ``score_rows`` is: rows and tasks done, the task being sent, the time so far."""

    rows_done: int
    rows_total: int
    tasks_done: int
    tasks_total: int
    elapsed_s: float
    state: str = "SENDING"  # "SENDING", then the task's states (PENDING, STARTED...), "DONE" after each task
    task_id: str | None = None

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None before the first task is done."""
        if self.rows_done <= 0 or self.elapsed_s <= 0:
            return None
        return (self.rows_total - self.rows_done) * self.elapsed_s / self.rows_done

    @property
    def fraction(self) -> float:
        return self.rows_done / self.rows_total if self.rows_total else 1.0

    def text(self, elapsed_s: float | None = None) -> str:
        """ "30,000 of 100,000 rows · task 4 of 10 · 3.1 s · about 7 s left" (``elapsed_s``: the time now)."""
        now = self.elapsed_s if elapsed_s is None else elapsed_s
        task = min(self.tasks_done + 1, self.tasks_total)
        doing = "done" if self.tasks_done == self.tasks_total else f"task {task} of {self.tasks_total}"
        parts = [f"{self.rows_done:,} of {self.rows_total:,} rows", doing, f"{now:.1f} s"]
        if self.eta_s is not None and self.tasks_done < self.tasks_total:
            left = max(0.0, self.eta_s - (now - self.elapsed_s))
            parts.append(f"about {_duration(left)} left")
        return " · ".join(parts)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


@dataclass(frozen=True)
class ScoredRows:
    """The rows of a file with the model's answers, in the file's order.

    ``frame``: ``row`` (1-based data row of the file), the inputs as form values, ``prediction``,
    ``probability_<class>``, ``score`` and, for classifiers, ``predicted_label``: only the rows scored, which
    are all of them when ``complete``. ``problem`` says in one sentence why not (a task failed, the run was
    stopped). ``tasks`` were answered of ``tasks_total``.
    """

    schema: FeatureSchema
    frame: pd.DataFrame
    complete: bool
    problem: str | None
    tasks: int
    tasks_total: int
    rows_total: int
    elapsed_s: float
    scorer: Scorer | None
    columns: dict[str, str] = field(default_factory=dict)  # bookkeeping name -> its column (row, score...)

    @property
    def rows(self) -> int:
        """Rows scored."""
        return len(self.frame)

    def column(self, name: str) -> str:
        """The frame's column of a bookkeeping name (``row``, ``score``, ``predicted_label``)."""
        return self.columns.get(name, name)

    def predicted(self) -> pd.Series:
        """The predicted class key of every scored row (classifiers), or the predicted value."""
        return self._predicted.copy()

    @cached_property
    def _predicted(self) -> pd.Series:  # read once: the metrics ask at every move of the threshold
        answers = self.frame[[c for c in self.frame.columns if _is_answer(c)]]
        if self.scorer is None or self.scorer.task == "regression":
            return pd.to_numeric(answers["prediction"], errors="coerce").astype(float)
        return self.scorer.predicted_class(answers)

    def probabilities(self) -> pd.DataFrame:
        """One column per class key (the ``probability_<class>`` answers), empty when the model gives none."""
        columns = [c for c in self.frame.columns if str(c).startswith(PROBABILITY_PREFIX)]
        out = self.frame[columns].astype(float)
        out.columns = [str(c)[len(PROBABILITY_PREFIX) :] for c in columns]
        return out


def _is_answer(column: Any) -> bool:
    return column == "prediction" or str(column).startswith(PROBABILITY_PREFIX)


def score_rows(
    schema: FeatureSchema,
    rows: pd.DataFrame,
    predict_task: Predict,
    *,
    rows_per_task: int = ROWS_PER_TASK,
    on_progress: Callable[[ScoreProgress], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    score_class: str | None = None,
) -> ScoredRows:
    """Score ``rows`` (form values, e.g. from ``read_rows_file``; other columns ignored) in tasks, one after another.

    ONE ``predict_task`` call per task of at most ``rows_per_task`` rows (a ``BatchPredictor``'s own limit by
    body size lowers it, so each call stays one task; its task states are reported as progress too).
    ``on_progress`` gets a ``ScoreProgress`` before each task, while it is waited for, and after it.
    ``should_stop`` is asked before each task: when it says True, the rows scored so far are kept and
    ``complete`` is False. A task that fails (or answers another number of rows) ends the run the same way,
    with a ``problem`` naming the task and its rows.
    """
    started = clock()
    missing = [f.name for f in schema.features if f.name not in rows.columns]
    if missing:
        raise AnalysisError(f"The rows have no column for {listed(missing)}; read them with read_rows_file.")
    inputs = rows[[f.name for f in schema.features]].reset_index(drop=True)
    total = len(inputs)
    if total == 0:
        raise AnalysisError("There are no rows to score.")
    if rows_per_task < 1:
        raise AnalysisError(f"A task needs at least one row, not {rows_per_task}.")
    request = request_frame(schema, {name: inputs[name].to_numpy(dtype=object) for name in inputs.columns})
    if isinstance(predict_task, BatchPredictor):
        rows_per_task = min(rows_per_task, predict_task.rows_per_task(request))
    ranges = rows_ranges(total, rows_per_task)
    parts: list[pd.DataFrame] = []
    done = 0
    problem: str | None = None

    def report(state: str, task_id: str | None = None) -> None:
        if on_progress is not None:
            on_progress(ScoreProgress(done, total, len(parts), len(ranges), clock() - started, state, task_id))

    relay_to = predict_task if isinstance(predict_task, BatchPredictor) else None
    earlier = relay_to.on_progress if relay_to is not None else None

    def relay(step: Progress) -> None:  # the BatchPredictor's task states, as progress of the whole file
        if earlier is not None:
            earlier(step)
        if step.state not in ("SUBMITTING", "CACHED"):
            report(step.state, step.task_id)

    if relay_to is not None:
        relay_to.on_progress = relay
    try:
        for number, (start, end) in enumerate(ranges, 1):
            if should_stop():
                problem = (
                    f"Stopped before task {number} of {len(ranges)}: {_kept(done)}; score the file again for the rest."
                )
                break
            report("SENDING")
            try:
                answers = predict_task(request.iloc[start:end].reset_index(drop=True))
            except (AnalysisError, APIError, RowValidationError) as failure:
                problem = (
                    f"Task {number} of {len(ranges)} (rows {start + 1:,}-{end:,}) failed: "
                    f"{_clause(failure)}; {_kept(done)}."
                )
                break
            if len(answers) != end - start:
                problem = (
                    f"Task {number} of {len(ranges)} (rows {start + 1:,}-{end:,}) was answered with "
                    f"{len(answers):,} rows for {end - start:,}, so they cannot be matched; {_kept(done)}."
                )
                break
            parts.append(answers.reset_index(drop=True))
            done = end
            report("DONE")
    finally:
        if relay_to is not None:
            relay_to.on_progress = earlier
    answers = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"prediction": []})
    scorer = _scorer(schema, answers, score_class)
    frame, columns = _scored_frame(schema, inputs.iloc[:done], answers, scorer)
    return ScoredRows(
        schema, frame, problem is None, problem, len(parts), len(ranges), total, clock() - started, scorer, columns
    )


def _kept(done: int) -> str:
    if done == 0:
        return "no row was scored"
    return f"rows 1-{done:,} are scored and kept"


def _clause(failure: Exception) -> str:
    """The error's sentence without its full stop, to go inside another sentence."""
    return str(failure).strip().rstrip(".")


def _scorer(schema: FeatureSchema, answers: pd.DataFrame, score_class: str | None) -> Scorer | None:
    """How to score the answers: a binary model's positive class; a multiclass model's most predicted class."""
    try:
        scorer = scorer_for(schema, answers, score_class)
    except ValueError as problem:
        if score_class is not None:
            raise AnalysisError(str(problem)) from None
        return None
    if score_class is None and scorer.task == "classification" and len(scorer.classes) > 2 and len(answers):
        most = scorer.predicted_class(answers).value_counts()
        if len(most):
            scorer = scorer_for(schema, answers, str(most.index[0]))
    return scorer


def _scored_frame(
    schema: FeatureSchema, inputs: pd.DataFrame, answers: pd.DataFrame, scorer: Scorer | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    taken = set(inputs.columns)
    columns = {name: (BOOKKEEPING_PREFIX + name if name in taken else name) for name in (ROW, SCORE, PREDICTED_LABEL)}
    frame = inputs.reset_index(drop=True)
    frame.insert(0, columns[ROW], np.arange(1, len(frame) + 1))
    answer_columns = answers[[c for c in answers.columns if _is_answer(c) and c not in taken]]
    frame = pd.concat([frame, answer_columns.reset_index(drop=True)], axis=1)
    if scorer is None:
        frame[columns[SCORE]] = np.full(len(frame), np.nan)
        return frame, columns
    frame[columns[SCORE]] = scorer.score(answers).to_numpy(dtype=float)
    if scorer.task == "classification":
        labels = {key: schema.class_label(key) for key in scorer.classes}
        frame[columns[PREDICTED_LABEL]] = (
            scorer.predicted_class(answers)
            .map(lambda key: labels.get(key, key) if key is not None else None)
            .to_numpy(dtype=object)
        )
    return frame, columns


# ---- how the model does -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassificationMetrics:
    """A classifier on the labelled rows: scikit-learn's metrics and the confusion matrix."""

    rows: int  # rows with a true class
    left_out: int  # scored rows without one (a blank cell)
    accuracy: float
    roc_auc: float | None  # None when the rows hold one class only, or the model gives no probabilities
    log_loss: float | None
    confusion: pd.DataFrame  # index: true class labels, columns: predicted class labels, counts
    threshold: float | None  # the score class's probability from which it is predicted (binary models)
    score_class: str | None
    precision: float | None = None  # of the score class (binary models)
    recall: float | None = None


@dataclass(frozen=True)
class RegressionMetrics:
    """A regression on the rows with a true value."""

    rows: int
    left_out: int
    r2: float | None  # None with fewer than two rows
    mae: float
    rmse: float
    points: pd.DataFrame  # actual, predicted, row: one row per labelled row


def _aligned(scored: ScoredRows, truth: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """The positions of scored rows that have a true value, and the true values of the scored rows."""
    values = truth.reset_index(drop=True)
    if len(values) < scored.rows:
        raise AnalysisError(
            f"There are {len(values):,} true values for {scored.rows:,} scored rows; they must come from the same file."
        )
    values = values.iloc[: scored.rows]
    return np.flatnonzero(values.notna().to_numpy()), values


def predicted_classes(scored: ScoredRows, threshold: float | None = None) -> pd.Series:
    """Each scored row's predicted class key: the model's own, or for a binary model with ``threshold`` the score
    class where its probability reaches the threshold and the other class elsewhere."""
    scorer = _classifier(scored)
    predicted = scored.predicted()
    if threshold is None or len(scorer.classes) != 2:
        return predicted
    other = next(c for c in scorer.classes if c != scorer.score_class)
    score = scored.frame[scored.column(SCORE)].to_numpy(dtype=float)
    chosen = np.where(score >= threshold, str(scorer.score_class), other)
    return pd.Series(chosen, index=predicted.index, dtype=object)


def _classifier(scored: ScoredRows) -> Scorer:
    if scored.scorer is None or scored.scorer.task != "classification":
        raise AnalysisError("These metrics are for classifiers; this model predicts numbers.")
    return scored.scorer


def classification_metrics(
    scored: ScoredRows, truth: pd.Series, threshold: float | None = None, score_class: str | None = None
) -> ClassificationMetrics:
    """Accuracy, ROC AUC, log loss and the confusion matrix of the scored rows that have a true class (``truth``:
    class keys from ``truth_values``, one per row of the file or of ``scored``, blank as None).

    ``threshold`` (binary models): predict the score class from this probability on, without a new task.
    ``score_class``: the positive class of ROC AUC, precision and recall (default: the scorer's).
    """
    from sklearn import metrics

    scorer = _classifier(scored)
    positive = str(score_class) if score_class is not None else scorer.score_class
    if positive not in scorer.classes:
        raise AnalysisError(f"{score_class!r} is not a class of this model; choose one of {', '.join(scorer.classes)}.")
    labelled, values = _aligned(scored, truth)
    if len(labelled) == 0:
        raise AnalysisError("No scored row has a true class, so there is nothing to compare the predictions with.")
    classes = list(scorer.classes)
    codes = range(len(classes))  # scikit-learn on class numbers: ten times faster than on texts (100,000 rows)
    actual = _codes(values.iloc[labelled], classes)
    predicted = _codes(predicted_classes(scored, threshold).iloc[labelled], classes)
    pos = classes.index(positive)
    probabilities = scored.probabilities()
    roc_auc = log_loss = None
    if set(classes) <= set(probabilities.columns) and len(classes) > 1:
        matrix = probabilities[classes].to_numpy(dtype=float)[labelled]
        log_loss = float(metrics.log_loss(actual, matrix, labels=list(codes)))
        present = set(np.unique(actual))
        if len(present) > 1:
            if len(classes) == 2:
                roc_auc = float(metrics.roc_auc_score(actual == pos, matrix[:, pos]))
            elif present == set(codes):
                roc_auc = float(metrics.roc_auc_score(actual, matrix, multi_class="ovr", labels=list(codes)))
    counts = metrics.confusion_matrix(actual, predicted, labels=list(codes))
    names = [scored.schema.class_label(c) for c in classes]
    confusion = pd.DataFrame(counts, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))
    precision = recall = None
    if len(classes) == 2:
        precision = float(metrics.precision_score(actual, predicted, pos_label=pos, zero_division=0))
        recall = float(metrics.recall_score(actual, predicted, pos_label=pos, zero_division=0))
    used = threshold if threshold is not None and len(classes) == 2 else None
    return ClassificationMetrics(
        len(labelled),
        scored.rows - len(labelled),
        float(metrics.accuracy_score(actual, predicted)),
        roc_auc,
        log_loss,
        confusion,
        used,
        positive,
        precision,
        recall,
    )


def _codes(keys: pd.Series, classes: list[str]) -> np.ndarray:
    """Class keys as their positions in ``classes`` (-1 for a key that is none of them)."""
    return np.asarray(pd.Categorical(keys.astype(str), categories=classes).codes, dtype=np.int64)


def regression_metrics(scored: ScoredRows, truth: pd.Series) -> RegressionMetrics:
    """R², MAE and RMSE of the scored rows that have a true value (``truth``: numbers, blank as NaN)."""
    from sklearn import metrics

    if scored.scorer is None or scored.scorer.task != "regression":
        raise AnalysisError("These metrics are for regressions; this model predicts classes.")
    labelled, values = _aligned(scored, truth)
    if len(labelled) == 0:
        raise AnalysisError("No scored row has a true value, so there is nothing to compare the predictions with.")
    actual = values.iloc[labelled].to_numpy(dtype=float)
    predicted = scored.predicted().iloc[labelled].to_numpy(dtype=float)
    r2 = float(metrics.r2_score(actual, predicted)) if len(labelled) > 1 else None
    points = pd.DataFrame(
        {"actual": actual, "predicted": predicted, "row": scored.frame[scored.column(ROW)].to_numpy()[labelled]}
    )
    return RegressionMetrics(
        len(labelled),
        scored.rows - len(labelled),
        r2,
        float(metrics.mean_absolute_error(actual, predicted)),
        float(math.sqrt(metrics.mean_squared_error(actual, predicted))),
        points,
    )


def slices_of(scored: ScoredRows, by: str, bins: int = 5) -> pd.Series:
    """Each scored row's slice of input ``by``: a categorical's label (a one-hot group's, true/false), a number's
    quantile bin ("22 to 29"), or its value when it takes at most ``bins`` values."""
    try:
        feature = scored.schema.feature(by)
    except KeyError:
        raise AnalysisError(
            f"{by!r} is not an input of this model; choose one of "
            f"{listed([f.name for f in scored.schema.features], 8)}."
        ) from None
    values = scored.frame[by]
    if feature.is_categorical:
        labels = {v: feature.label_of(v) for v in values.unique()}
        return values.map(labels).astype(object)
    if feature.type == "boolean":
        return values.map(lambda v: "true" if v else "false").astype(object)
    if feature.type == "one_hot":
        return values.astype(str).astype(object)
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    if numbers.nunique() <= bins:
        return numbers.map(lambda v: f"{v:g}").astype(object)
    cut = pd.qcut(numbers, q=bins, duplicates="drop")
    texts = {interval: f"{interval.left:.4g} to {interval.right:.4g}" for interval in cut.cat.categories}
    first = cut.cat.categories[0]
    texts[first] = f"{numbers.min():.4g} to {first.right:.4g}"  # qcut opens the first bin a little below the minimum
    return cut.map(texts).astype(object)


def slice_metrics(
    scored: ScoredRows, truth: pd.Series, by: str, bins: int = 5, threshold: float | None = None
) -> pd.DataFrame:
    """The metrics per slice of input ``by`` (``slices_of``), worst first, with their row counts.

    Classifiers: ``slice``, ``rows``, ``accuracy``, ``roc_auc``, ``log_loss`` (worst: lowest accuracy, then highest
    log loss). Regressions: ``slice``, ``rows``, ``mae``, ``rmse``, ``r2`` (worst: highest MAE). Only rows with a
    true value count, so the slices' rows add up to the metrics' ``rows``.
    """
    labelled, values = _aligned(scored, truth)
    slices = slices_of(scored, by, bins).iloc[labelled]
    order = list(dict.fromkeys(slices))  # the first seen first; the sort below puts the worst on top
    records = []
    for name in order:
        rows = labelled[(slices == name).to_numpy()]
        part = _subset(scored, rows)
        if scored.scorer is not None and scored.scorer.task == "classification":
            m = classification_metrics(part, values.iloc[rows], threshold)
            records.append(
                {"slice": name, "rows": m.rows, "accuracy": m.accuracy, "roc_auc": m.roc_auc, "log_loss": m.log_loss}
            )
        else:
            r = regression_metrics(part, values.iloc[rows])
            records.append({"slice": name, "rows": r.rows, "mae": r.mae, "rmse": r.rmse, "r2": r.r2})
    table = pd.DataFrame.from_records(records)
    if table.empty:
        return table
    if "accuracy" in table.columns:
        table = table.sort_values(["accuracy", "log_loss"], ascending=[True, False], na_position="last", kind="stable")
    else:
        table = table.sort_values("mae", ascending=False, kind="stable")
    return table.reset_index(drop=True)


def _subset(scored: ScoredRows, positions: np.ndarray) -> ScoredRows:
    frame = scored.frame.iloc[positions].reset_index(drop=True)
    part = ScoredRows(
        scored.schema,
        frame,
        True,
        None,
        scored.tasks,
        scored.tasks_total,
        len(frame),
        scored.elapsed_s,
        scored.scorer,
        scored.columns,
    )
    part.__dict__["_predicted"] = scored._predicted.iloc[positions].reset_index(drop=True)  # read once, not per slice
    return part


# ---- filtering the table ----------------------------------------------------------------------------
_CONDITION = re.compile(r"^\s*(?P<name>`[^`]+`|[^<>=!]+?)\s*(?P<op><=|>=|!=|==|=|<|>)\s*(?P<value>.*?)\s*$")
_SPLIT = re.compile(r"\s+and\s+|\s*;\s*", re.IGNORECASE)
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def filter_rows(frame: pd.DataFrame, text: str, schema: FeatureSchema | None = None) -> pd.DataFrame:
    """The rows of ``frame`` that meet every condition of ``text``: ``age > 60 and sex = male; score >= 0.5``.

    Conditions are joined by "and" or ";"; each is ``column op value`` with op one of = != < <= > >=. A column is
    named as in the table (any case; in backticks if its name has spaces). A category may be given by its code
    or its label; text compares regardless of case. AnalysisError (one sentence) when a condition cannot be read.
    """
    if not text.strip():
        return frame
    by_name = {str(c).casefold(): c for c in frame.columns}
    keep = np.ones(len(frame), dtype=bool)
    for condition in (c for c in _SPLIT.split(text.strip()) if c.strip()):
        match = _CONDITION.match(condition)
        if match is None:
            raise AnalysisError(
                f"{condition.strip()!r} cannot be read as a condition; write it as column, "
                "operator and value, e.g. age > 60 or sex = male."
            )
        name = match["name"].strip().strip("`").strip()
        column = by_name.get(name.casefold())
        if column is None:
            raise AnalysisError(
                f"{name!r} is not a column of the table; the columns are {listed([str(c) for c in frame.columns], 10)}."
            )
        op, value = match["op"], match["value"].strip().strip("'\"")
        keep &= _condition(frame[column], op, value, _feature(schema, str(column)), str(column))
    return frame[keep]


def _feature(schema: FeatureSchema | None, name: str) -> Feature | None:
    if schema is None:
        return None
    try:
        return schema.feature(name)
    except KeyError:
        return None


def _condition(values: pd.Series, op: str, text: str, feature: Feature | None, name: str) -> np.ndarray:
    compare = _OPS[op]
    if feature is not None and feature.is_categorical:
        try:
            wanted: Any = feature.coerce(text)
        except ValueError as problem:
            raise AnalysisError(f"{name} {op} {text}: {problem}.") from None
        return np.asarray(compare(values, wanted), dtype=bool)
    if pd.api.types.is_bool_dtype(values):
        lowered = text.casefold()
        if lowered not in ("true", "false", "1", "0"):
            raise AnalysisError(f"{name} {op} {text}: {name} is true or false.")
        return np.asarray(compare(values, lowered in ("true", "1")), dtype=bool)
    if pd.api.types.is_numeric_dtype(values):
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            raise AnalysisError(f"{name} {op} {text}: {name} holds numbers, and {text!r} is not one.") from None
        return np.asarray(compare(values.astype(float), number).fillna(False), dtype=bool)
    if op not in ("=", "==", "!="):
        raise AnalysisError(f"{name} {op} {text}: {name} holds text, which can only be compared with = or !=.")
    same = values.astype(str).str.casefold() == text.casefold()
    return np.asarray(same if op != "!=" else ~same, dtype=bool)


# ---- the command line's predict ----------------------------------------------------------------------
def predict_records_in_tasks(
    client: ModelClient,
    records: Sequence[Mapping[str, Any]],
    path: str,
    bucket: str,
    *,
    only_prediction: bool = False,
    max_rows: int = ROWS_PER_TASK,
    on_task: Callable[[ScoreProgress], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[pd.DataFrame, list[PredictionResult]]:
    """Request rows (as given, unchecked) answered in tasks of at most ``max_rows`` rows (fewer when the rows are
    wide: each task's body stays under the server's limit), one after another: (answers in order, each task's
    result).

    With more than one task, ``on_task`` gets a ``ScoreProgress`` before each task and after the last (a
    progress line: "20,000 of 25,000 rows · task 3 of 3 · 2.1 s · about 1 s left"). A task that fails raises
    AnalysisError naming it and its rows (with several tasks), or the client's own error (with one).
    """
    rows = list(records)
    sizer = BatchPredictor(client, path, bucket, connection_key="cli", max_rows=max_rows)
    per_task = sizer.rows_per_task(pd.DataFrame(rows[:200])) if rows else max_rows  # by a sample's JSON size
    ranges = rows_ranges(len(rows), per_task) or [(0, 0)]  # no rows: the client says so
    started = clock()
    parts: list[pd.DataFrame] = []
    results: list[PredictionResult] = []
    report = on_task if on_task is not None and len(ranges) > 1 else None
    for number, (start, end) in enumerate(ranges, 1):
        if report is not None:
            report(ScoreProgress(start, len(rows), number - 1, len(ranges), clock() - started))
        try:  # the rows as given (not a frame: a row missing a feature is the server's to refuse, as before)
            result = client.predict(rows[start:end], path, bucket, return_only_prediction=only_prediction)
        except (APIError, RowValidationError) as failure:
            if len(ranges) == 1:
                raise
            raise AnalysisError(
                f"Task {number} of {len(ranges)} (rows {start + 1:,}-{end:,}) failed: {_clause(failure)}."
            ) from failure
        parts.append(result.predictions.reset_index(drop=True))
        results.append(result)
    if report is not None:
        report(ScoreProgress(len(rows), len(rows), len(ranges), len(ranges), clock() - started, "DONE"))
    return pd.concat(parts, ignore_index=True), results
