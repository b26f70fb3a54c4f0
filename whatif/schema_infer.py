"""What a training CSV holds: each column's kind, the task its target asks for, and what stops training.

Pure pandas, no server and no Streamlit: the app shows the inferred kinds and the problems before
a user trains, and the reference server trains with the same functions (and refuses with the
same sentences), so what the page says is what the server does.

Kinds of a feature: ``number`` (any real value), ``integer`` (whole numbers), ``category``
(a few distinct values, text or numbers: label-encoded, codes in the sorted order of the
values, the values kept as the schema's labels) and ``boolean`` (two values: 0/1 or
true/false). Free text (names, tickets: more distinct values than a category takes) and
empty columns are not inferred as features at all.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from whatif.schema import QUANTILE_KEYS, Feature, FeatureSchema

KINDS = ("number", "integer", "category", "boolean")
TASKS = ("classification", "regression")
MISSING_MARKERS = ("", "?", "NA", "N/A", "n/a", "nan", "NaN", "null", "NULL", "None")
MIN_TRAINING_ROWS = 20  # rows with a target, at least: fewer leave no held-out rows worth measuring
MAX_CATEGORIES = 255  # histogram gradient boosting takes at most 255 values per categorical feature
MAX_INFERRED_CATEGORIES = 50  # a text column with more values is free text, not a feature (unless chosen)
MAX_CLASSES = 50
MAX_CLASSIFICATION_CODES = 10  # whole-number targets with at most this many values are classes
_TRUE_FALSE = frozenset({"true", "false"})


# ---- reading ---------------------------------------------------------------------------------
def read_training_csv(data: bytes | str) -> pd.DataFrame:
    """A training CSV (comma, semicolon or tab separated; ``?``, ``NA``, empty = missing) as a DataFrame.

    Raises ValueError with one sentence when the file is not text or not a table.
    """
    text = _text(data)
    separator = _separator(text)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=separator, na_values=list(MISSING_MARKERS), skipinitialspace=True, low_memory=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"The CSV cannot be read as a table ({reason[:160]}); check its separators and quotes."
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def csv_header(data: bytes | str) -> list[str]:
    """The column names of a CSV, read as ``read_training_csv`` reads them (rows are not parsed)."""
    text = _text(data)
    try:
        columns = pd.read_csv(io.StringIO(text), sep=_separator(text), nrows=0, skipinitialspace=True).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        raise ValueError("The CSV has no header line that can be read; its first line must name the columns.") from None
    return [str(c).strip() for c in columns]


def _text(data: bytes | str) -> str:
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise ValueError("The file is not UTF-8 text; save the table as a UTF-8 CSV.") from None
    if not text.strip():
        raise ValueError("The CSV is empty; it needs a header line and rows.")
    return text


def _separator(text: str) -> str:
    """Comma, semicolon or tab: whichever the header line holds most of."""
    header = text.lstrip().split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count)


# ---- inferring -------------------------------------------------------------------------------
def infer_task(target: pd.Series) -> Literal["classification", "regression"]:
    """Classification for text, true/false and whole numbers with at most 10 values; else regression."""
    values = target.dropna()
    if is_bool_dtype(values.dtype) or not is_numeric_dtype(values.dtype):
        return "classification"
    numbers = values.to_numpy(dtype=float)
    if np.all(numbers == np.floor(numbers)) and len(np.unique(numbers)) <= MAX_CLASSIFICATION_CODES:
        return "classification"
    return "regression"


def infer_kinds(frame: pd.DataFrame, target: str, features: Sequence[str] | None = None) -> dict[str, str]:
    """Each feature's kind, in column order, the target left out.

    Without ``features``: every column but the target that can be a feature (free text and
    empty columns are left out). With ``features``: exactly those that are columns, each
    given its likeliest kind (``training_problems`` says why one cannot be used).
    """
    chosen = usable_columns(frame, target) if features is None else [f for f in features if f in frame.columns]
    chosen_set = set(chosen)
    out = {}
    for column in frame.columns:
        if column in chosen_set and column != target:
            out[column] = _kind_of(frame[column]) or ("number" if frame[column].isna().all() else "category")
    return out


def usable_columns(frame: pd.DataFrame, target: str) -> list[str]:
    """The columns a model can learn from by default: all but the target, free text, empty columns and
    the row numbers a spreadsheet or pandas wrote without a header (``Unnamed: 0``)."""
    return [
        c
        for c in frame.columns
        if c != target and not str(c).startswith("Unnamed: ") and _kind_of(frame[c]) is not None
    ]


def _kind_of(series: pd.Series) -> str | None:
    """The likeliest kind of a column; None for free text and empty columns."""
    values = series.dropna()
    if values.empty:
        return None
    if is_bool_dtype(values.dtype):
        return "boolean"
    if is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float)
        distinct = np.unique(numbers)
        if len(distinct) == 2 and set(distinct.tolist()) == {0.0, 1.0}:
            return "boolean"
        return "integer" if np.all(numbers == np.floor(numbers)) else "number"
    text = values.astype(str).str.strip()
    distinct_count = text.nunique()
    if distinct_count == 2 and set(text.str.lower().unique()) == _TRUE_FALSE:
        return "boolean"
    if distinct_count > MAX_INFERRED_CATEGORIES or (distinct_count > 10 and distinct_count > len(text) / 2):
        return None  # names, tickets, free text: one value per row says nothing about others
    return "category"


# ---- what stops training ---------------------------------------------------------------------
def training_problems(
    frame: pd.DataFrame,
    target: str,
    features: Sequence[str] | None = None,
    task: str | None = None,
    kinds: Mapping[str, str] | None = None,
) -> list[str]:
    """Why a model cannot be trained on ``frame`` as asked, each a sentence; an empty list when it can.

    ``kinds`` overrides the inferred kind of some features (as the app's editor and the
    server's ``kinds`` field do).
    """
    if target not in frame.columns:
        return [f"The CSV has no column {target!r}; pick the target among {_some(frame.columns)}."]
    problems: list[str] = []
    if features is not None:
        problems += [
            f"The feature {f!r} is not a column of the CSV; pick features among its columns."
            for f in features
            if f not in frame.columns
        ]
        if target in features:
            problems.append(f"The target {target!r} cannot also be a feature; leave it out of the features.")
    chosen = [f for f in (usable_columns(frame, target) if features is None else features) if f in frame.columns]
    chosen = [f for f in chosen if f != target]
    if not chosen and not problems:
        problems.append("There is no column to learn from besides the target; add columns of numbers or categories.")
    problems += _target_problems(frame[target], target, task)
    inferred = infer_kinds(frame, target, chosen)
    for name in chosen:
        kind = (kinds or {}).get(name, inferred[name])
        problems += _feature_problems(frame[name], name, kind)
    return problems


def _target_problems(series: pd.Series, target: str, task: str | None) -> list[str]:
    known = series.dropna()
    if len(known) < MIN_TRAINING_ROWS:
        return [
            f"Only {len(known)} row(s) have a value for the target {target!r}; training needs at least "
            f"{MIN_TRAINING_ROWS}."
        ]
    if task is not None and task not in TASKS:
        return [f"The task {str(task)[:40]!r} is unknown; use classification or regression."]
    task = task or infer_task(series)
    distinct = known.astype(str).str.strip().unique() if not is_numeric_dtype(known.dtype) else known.unique()
    if len(distinct) == 1:
        return [
            f"The target {target!r} has only one value ({_value(distinct[0])}), so there is nothing to learn; "
            "pick another target or add rows with other values."
        ]
    if task == "classification" and len(distinct) > MAX_CLASSES:
        return [
            f"The target {target!r} has {len(distinct):,} different values, too many classes for a classification "
            f"(at most {MAX_CLASSES}); train a regression instead."
        ]
    if task == "regression" and (is_bool_dtype(known.dtype) or not is_numeric_dtype(known.dtype)):
        return [
            f"The target {target!r} holds text ({_value(known.iloc[0])}), which a regression cannot predict; "
            "train a classification instead."
        ]
    return []


def _feature_problems(series: pd.Series, name: str, kind: str) -> list[str]:
    values = series.dropna()
    if kind not in KINDS:
        return [f"Feature {name!r} has the kind {str(kind)[:30]!r}; use one of {', '.join(KINDS)}."]
    if values.empty:
        return [f"Feature {name!r} is entirely empty; leave it out."]
    numeric = is_numeric_dtype(values.dtype) and not is_bool_dtype(values.dtype)
    if kind in ("number", "integer") and not numeric:
        return [
            f"Feature {name!r} holds text ({_value(values.iloc[0])}), so it cannot be a number; make it a category."
        ]
    if kind == "integer":
        numbers = values.to_numpy(dtype=float)
        fractional = numbers != np.floor(numbers)
        if fractional.any():
            return [
                f"Feature {name!r} has fractions ({_value(numbers[fractional][0])}), so it cannot be an integer; "
                "make it a number."
            ]
    if kind == "boolean" and _boolean_codes(values) is None:
        return [
            f"Feature {name!r} does not hold only two values such as 0/1 or true/false, so it cannot be a "
            "boolean; make it a category."
        ]
    if kind == "category":
        distinct = values.nunique()
        if distinct > MAX_CATEGORIES:
            return [
                f"Feature {name!r} has {distinct:,} different values, too many for a category (at most "
                f"{MAX_CATEGORIES}); leave it out."
            ]
    return []


def _boolean_codes(values: pd.Series) -> pd.Series | None:
    """0.0/1.0 for a column of true/false, 0/1 or 'true'/'false' values (no missing ones); None otherwise."""
    if is_bool_dtype(values.dtype):
        return values.astype(float)
    if is_numeric_dtype(values.dtype):
        numbers = values.astype(float)
        return numbers if set(numbers.unique().tolist()) <= {0.0, 1.0} else None
    text = values.astype(str).str.strip().str.lower()
    if set(text.unique().tolist()) <= _TRUE_FALSE:
        return (text == "true").astype(float)
    return None


def _some(columns: Sequence[Any], limit: int = 12) -> str:
    names = [repr(str(c)) for c in list(columns)[:limit]]
    more = f" and {len(columns) - limit} more" if len(columns) > limit else ""
    return ", ".join(names) + more if names else "(no columns)"


def _value(value: Any) -> str:
    """A value quoted in a sentence: whole numbers without '.0', long text cut."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and len(value) > 30:
        return repr(value[:30] + "...")
    return repr(value)


# ---- preparing the data and its schema (the server's training and uploads use these) ---------
@dataclass(frozen=True)
class PreparedData:
    """A training CSV made ready for a model: numeric inputs, the target, and how values were encoded."""

    x: pd.DataFrame  # one float column per feature, in feature order (categories as codes, NaN = missing)
    y: pd.Series  # the target, rows with a missing target dropped (text classes as codes)
    task: Literal["classification", "regression"]
    kinds: dict[str, str]
    labels: dict[str, list[str]] = field(default_factory=dict)  # category feature -> its values, in code order
    class_labels: list[str] = field(default_factory=list)  # text target -> its classes, in code order

    @property
    def categorical(self) -> list[bool]:
        """Which inputs are categories (histogram gradient boosting's ``categorical_features``)."""
        return [self.kinds[name] == "category" for name in self.x.columns]


def prepare(
    frame: pd.DataFrame,
    target: str,
    features: Sequence[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    task: str | None = None,
) -> PreparedData:
    """Encode ``frame`` for training; raise ValueError with the first of ``training_problems`` first."""
    problems = training_problems(frame, target, features, task, kinds)
    if problems:
        raise ValueError(problems[0])
    known = frame[frame[target].notna()].reset_index(drop=True)
    chosen = [f for f in (usable_columns(frame, target) if features is None else features) if f != target]
    resolved = {**infer_kinds(known, target, chosen), **{k: v for k, v in (kinds or {}).items() if k in chosen}}
    x = pd.DataFrame(index=known.index)
    labels: dict[str, list[str]] = {}
    for name in chosen:
        x[name], names = _encoded(known[name], resolved[name])
        if names is not None:
            labels[name] = names
    chosen_task = task or infer_task(known[target])
    y, class_labels = _encoded_target(known[target], chosen_task)
    return PreparedData(x, y, chosen_task, {n: resolved[n] for n in chosen}, labels, class_labels)  # type: ignore[arg-type]


def _encoded(series: pd.Series, kind: str) -> tuple[pd.Series, list[str] | None]:
    """A feature as float numbers, and for a category its values in code order."""
    if kind == "category":
        known = series.dropna()
        if is_numeric_dtype(known.dtype) and not is_bool_dtype(known.dtype):
            ordered = sorted(set(known.astype(float).tolist()))
            codes = {value: i for i, value in enumerate(ordered)}
            encoded = series.astype(float).map(codes)
            return encoded.astype(float), [_number_label(v) for v in ordered]
        text = series.astype("string").str.strip()
        ordered_text = sorted(set(text.dropna().tolist()))
        codes_text = {value: i for i, value in enumerate(ordered_text)}
        return text.map(codes_text).astype(float), ordered_text
    if kind == "boolean":
        flags = _boolean_codes(series.dropna())
        out = pd.Series(np.nan, index=series.index, dtype=float)
        if flags is not None:
            out.loc[flags.index] = flags
        return out, None
    return pd.to_numeric(series, errors="coerce").astype(float), None


def _encoded_target(series: pd.Series, task: str) -> tuple[pd.Series, list[str]]:
    """The target as the model learns it: numbers, or text and true/false classes as codes 0, 1, ..."""
    if task == "regression":
        return series.astype(float), []
    if is_bool_dtype(series.dtype) or not is_numeric_dtype(series.dtype):
        text = series.astype(str).str.strip()
        ordered = sorted(set(text.tolist()))
        return text.map({value: i for i, value in enumerate(ordered)}).astype(int), ordered
    numbers = series.astype(float)
    if np.all(numbers == np.floor(numbers)):
        return numbers.astype(int), []
    return numbers, []


def _number_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def feature_schema(data: PreparedData, *, name: str = "", target: str = "") -> FeatureSchema:
    """The feature schema of prepared data: training ranges, medians or modes as defaults, p05..p95.

    Categories are integer features whose labels are the original values (codes in sorted
    order), as the sample models are; classes come from the target, labelled when it was text.
    """
    features = []
    for column in data.x.columns:
        values = data.x[column]
        kind = data.kinds[column]
        if kind == "category":
            labels = {str(i): label for i, label in enumerate(data.labels[column])}
            features.append(Feature(column, "integer", 0, len(labels) - 1, _mode(values), labels))
        elif kind == "boolean":
            features.append(Feature(column, "boolean", default=bool(_mode(values))))
        else:
            features.append(Feature(column, kind, **_statistics(values, integer=kind == "integer")))  # type: ignore[arg-type]
    classes: tuple[Any, ...] = ()
    class_labels: dict[str, str] = {}
    if data.task == "classification":
        classes = tuple(_native(c) for c in sorted(data.y.unique().tolist()))
        class_labels = {str(i): label for i, label in enumerate(data.class_labels)}
    return FeatureSchema(
        tuple(features), name=name, task=data.task, target=target, classes=classes, class_labels=class_labels
    )


def _statistics(values: pd.Series, integer: bool) -> dict[str, Any]:
    """min, max and median as the range and default, the 5th to 95th percentiles and the spread."""
    known = values.dropna()
    lo, hi, mid = float(known.min()), float(known.max()), float(known.median())
    spread = float(known.std()) if len(known) > 1 else 0.0
    statistics = {
        "quantiles": {key: round(float(known.quantile(int(key[1:]) / 100)), 4) for key in QUANTILE_KEYS},
        "spread": round(spread, 4) if math.isfinite(spread) else 0.0,
    }
    if integer:
        return {"min": int(lo), "max": int(hi), "default": int(round(mid)), **statistics}
    return {"min": round(lo, 4), "max": round(hi, 4), "default": round(mid, 4), **statistics}


def _mode(values: pd.Series) -> int:
    return int(values.dropna().mode().iloc[0])


def _native(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
