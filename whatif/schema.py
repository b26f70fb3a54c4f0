"""The feature schema of a model: what its inputs are and which values they take.

One structure (PROTOCOL.md section 3) drives the form, validation and analyses. It can be
loaded from the server's schema route, a datrics-json style model file, a CSV of training
data, or an example request body such as the seed's ``MODEL_REQUEST_DATA``.

Form values and request rows differ only for one-hot groups: a form holds one value per
feature (``employment_status = "Employed"``), a request row holds the model's input columns
(``employment_status_Employed = 1``, the other columns 0). ``to_row`` goes from the first to
the second, ``from_row`` back.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from whatif.csvtext import read_lines

FeatureType = Literal["number", "integer", "boolean", "one_hot"]
FEATURE_TYPES: frozenset[str] = frozenset({"number", "integer", "boolean", "one_hot"})
TaskType = Literal["classification", "regression"]

QUANTILE_KEYS = ("p05", "p25", "p50", "p75", "p95")  # the optional training percentiles of a numeric feature

_TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})


class SchemaError(ValueError):
    """A schema source could not be read as a feature schema."""


_Loader = TypeVar("_Loader", bound=Callable[..., Any])


def _as_schema_error(loader: _Loader) -> _Loader:
    """Whatever a malformed source makes a loader trip over becomes one SchemaError sentence."""

    @functools.wraps(loader)
    def load(*args: Any, **kwargs: Any) -> Any:
        try:
            return loader(*args, **kwargs)
        except SchemaError:
            raise
        except UnicodeDecodeError:
            raise SchemaError("the file is not UTF-8 text") from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, csv.Error) as exc:
            raise SchemaError(f"the file does not describe features the way a schema does ({exc})") from None

    return cast(_Loader, load)


class RowValidationError(ValueError):
    """One or more form values are not valid; ``errors`` maps each field to one sentence."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {msg}" for name, msg in self.errors.items()))


@dataclass(frozen=True)
class Feature:
    """One input of the model as the analyst sees it (a one-hot group is one feature)."""

    name: str
    type: FeatureType
    min: float | None = None
    max: float | None = None
    default: Any = None
    labels: dict[str, str] = field(default_factory=dict)
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    none_label: str | None = None
    step: float | None = None
    # optional training statistics of a numeric feature, for analyses (grids, noise, distances);
    # a schema without them (any real Datrics one) falls back to min and max
    quantiles: dict[str, float] = field(default_factory=dict)  # keys of QUANTILE_KEYS, p05 to p95
    spread: float | None = None  # standard deviation (or scaled MAD) of the training values

    @property
    def is_categorical(self) -> bool:
        """True for label-encoded integers, whose values are limited to their codes."""
        return self.type == "integer" and bool(self.labels)

    @property
    def input_columns(self) -> list[str]:
        """The request columns this feature becomes."""
        return list(self.columns.values()) if self.type == "one_hot" else [self.name]

    @property
    def choices(self) -> list[str]:
        """For a one-hot group: its labels, the all-zero label last when it exists."""
        options = list(self.columns)
        if self.none_label is not None:
            options.append(self.none_label)
        return options

    def label_of(self, code: Any) -> str:
        """The label of a label-encoded code, or the code itself as text."""
        return self.labels.get(_code_key(code), str(code))

    def out_of_range(self, value: Any) -> bool:
        """True when a numeric value lies outside the training range (allowed, but flagged)."""
        if self.type not in ("number", "integer") or self.is_categorical:
            return False
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return (self.min is not None and value < self.min) or (self.max is not None and value > self.max)

    def help_text(self) -> str:
        """A one-line help: the description and the training range or domain."""
        parts = [self.description] if self.description else []
        if self.is_categorical:
            parts.append("Codes: " + ", ".join(f"{code} = {label}" for code, label in self.labels.items()))
        elif self.type in ("number", "integer") and self.min is not None and self.max is not None:
            parts.append(f"Training range {_fmt(self.min)} to {_fmt(self.max)}")
        elif self.type == "one_hot":
            parts.append("Sent as columns " + ", ".join(self.columns.values()))
        return ". ".join(parts)

    def coerce(self, value: Any) -> Any:
        """Turn a form or file value into this feature's value, or raise ValueError (a sentence)."""
        if self.type == "one_hot":
            return self._coerce_choice(value)
        if self.type == "boolean":
            return _coerce_bool(value)
        if self.is_categorical and isinstance(value, str) and (code := self._code_of_label(value)) is not None:
            return code
        try:
            number = _coerce_number(value)
        except ValueError:
            if not (self.is_categorical and isinstance(value, str) and value.strip()):
                raise
            raise ValueError(
                f"{value!r} is none of the labels {', '.join(self.labels.values())} (codes {', '.join(self.labels)})"
            ) from None
        if self.type == "integer":
            if number != int(number):
                raise ValueError(f"expected a whole number, got {_fmt(number)}")
            code = int(number)
            if self.is_categorical and _code_key(code) not in self.labels:
                raise ValueError(f"{code} is not one of the allowed codes {', '.join(self.labels)}")
            return code
        return number

    def _code_of_label(self, text: str) -> int | None:
        """The code whose label is ``text`` (any case), when ``text`` is a label rather than a code."""
        wanted = text.strip().casefold()
        if wanted in self.labels:  # a code written as text: "1"
            return None
        codes = [code for code, label in self.labels.items() if label.casefold() == wanted]
        return int(codes[0]) if len(codes) == 1 else None

    def _coerce_choice(self, value: Any) -> str:
        text = "" if value is None else str(value).strip()
        if text in self.columns or (self.none_label is not None and text == self.none_label):
            return text
        by_column = {column: label for label, column in self.columns.items()}
        if text in by_column:
            return by_column[text]
        raise ValueError(f"{text!r} is not one of {', '.join(map(repr, self.choices))}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of PROTOCOL.md section 3 (empty fields left out)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        for key in ("min", "max", "default", "step", "none_label"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in ("labels", "columns", "description", "quantiles"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.spread is not None:
            out["spread"] = self.spread
        return out

    @classmethod
    @_as_schema_error
    def from_dict(cls, data: Mapping[str, Any]) -> Feature:
        """Read one feature of a schema; raise SchemaError when it makes no sense."""
        name = str(data.get("name", "")).strip()
        if not name:
            raise SchemaError("a feature has no name")
        kind = str(data.get("type", "number"))
        if kind in ("float", "double", "numeric"):
            kind = "number"
        if kind in ("int", "category", "categorical"):
            kind = "integer"
        if kind == "bool":
            kind = "boolean"
        if kind not in FEATURE_TYPES:
            raise SchemaError(f"feature {name!r} has unknown type {kind!r}")
        columns = {str(k): str(v) for k, v in dict(data.get("columns") or {}).items()}
        if kind == "one_hot" and not columns:
            raise SchemaError(f"one-hot feature {name!r} lists no columns")
        labels = {_code_key(k): str(v) for k, v in dict(data.get("labels") or {}).items()}
        not_codes = [code for code in labels if not re.fullmatch(r"-?\d+", code)]
        if not_codes:
            raise SchemaError(
                f"feature {name!r} labels codes that are not whole numbers ({not_codes[0]!r}); the "
                "labels of a label-encoded feature map its codes, such as 0 and 1, to names"
            )
        return cls(
            name=name,
            type=kind,  # type: ignore[arg-type]
            min=_opt_float(data.get("min")),
            max=_opt_float(data.get("max")),
            default=data.get("default"),
            labels=labels,
            description=str(data.get("description") or ""),
            columns=columns,
            none_label=(None if data.get("none_label") is None else str(data["none_label"])),
            step=_opt_float(data.get("step")),
            quantiles=_quantiles(name, data.get("quantiles")),
            spread=_spread(name, data.get("spread")),
        )


@dataclass(frozen=True)
class FeatureSchema:
    """A model's features and what it predicts."""

    features: tuple[Feature, ...]
    name: str = ""
    version: int | None = None
    task: TaskType = "classification"
    target: str = ""
    classes: tuple[Any, ...] = ()
    class_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise SchemaError("the schema names a feature twice")
        columns = self.input_columns
        if len(set(columns)) != len(columns):
            raise SchemaError("two features send the same request column")

    # ---- reading -------------------------------------------------------------------------
    @classmethod
    @_as_schema_error
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSchema:
        """Read the JSON structure of PROTOCOL.md section 3 (the server's schema route)."""
        if not isinstance(data, Mapping):
            raise SchemaError("a schema must be a JSON object")
        raw_features = data.get("features")
        if not isinstance(raw_features, list) or not raw_features:
            raise SchemaError("the schema has no 'features' list")
        task = str(data.get("task") or "classification")
        if task not in ("classification", "regression"):
            raise SchemaError(f"unknown task type {task!r}")
        version = data.get("version")
        return cls(
            features=tuple(Feature.from_dict(f) for f in raw_features),
            name=str(data.get("name") or ""),
            version=int(version) if version is not None else None,
            task=task,  # type: ignore[arg-type]
            target=str(data.get("target") or ""),
            classes=tuple(data.get("classes") or ()),
            class_labels={_code_key(k): str(v) for k, v in dict(data.get("class_labels") or {}).items()},
        )

    @classmethod
    @_as_schema_error
    def from_json(cls, text: str | bytes) -> FeatureSchema:
        """Read any JSON source: a schema, a datrics-json model file, or an example request body."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"the file is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        if isinstance(data, list):
            return cls.from_example_request(data)
        if isinstance(data, dict) and "features" in data:
            return cls.from_dict(data)
        if isinstance(data, dict) and ("transformed_data_columns" in data or "columns" in data):
            return cls.from_datrics_json(data)
        raise SchemaError("the JSON is neither a feature schema, a datrics-json model nor a list of example rows")

    @classmethod
    @_as_schema_error
    def from_datrics_json(cls, model: Mapping[str, Any]) -> FeatureSchema:
        """Read a datrics-json style model file (keys ``transformed_data_columns``, ``dtypes``...)."""
        columns = list(model.get("transformed_data_columns") or model.get("columns") or [])
        target = str((model.get("required_arguments") or {}).get("target_variable") or "")
        columns = [c for c in columns if c != target]
        if not columns:
            raise SchemaError("the datrics-json model lists no input columns")
        dtypes = dict(model.get("dtypes") or {})
        samples = _column_layout_rows(model.get("sample_data"))
        categories = dict(model.get("supported_category_values") or {})
        features = []
        for column in columns:
            values = [row[column] for row in samples if row.get(column) is not None]
            dtype = str(dtypes.get(column, "")).lower()
            if column in categories and categories[column]:
                codes = list(categories[column])
                labels = {_code_key(i): str(v) for i, v in enumerate(codes)}
                features.append(Feature(column, "integer", 0, len(codes) - 1, 0, labels))
            elif dtype.startswith("bool"):
                features.append(Feature(column, "boolean", default=bool(values[0]) if values else False))
            else:
                features.append(_numeric_feature(column, values, integer=dtype.startswith("int")))
        meta = model.get("meta") or {}
        task = "regression" if "regress" in json.dumps(meta).lower() else "classification"
        return cls(
            features=tuple(_group_one_hot(features, samples)),
            name=str(meta.get("name") or meta.get("model_type") or "") if isinstance(meta, dict) else "",
            task=task,  # type: ignore[arg-type]
            target=target,
        )

    @classmethod
    @_as_schema_error
    def from_example_request(cls, rows: Sequence[Mapping[str, Any]]) -> FeatureSchema:
        """Infer a schema from example request rows such as the seed's ``MODEL_REQUEST_DATA``.

        Ranges come from the examples, so they are narrow; columns named ``prefix_Label``
        holding only 0 and 1 become a one-hot group.
        """
        if not rows or not all(isinstance(r, Mapping) for r in rows):
            raise SchemaError("an example request must be a non-empty list of row objects")
        names: list[str] = []
        for row in rows:
            names.extend(str(k) for k in row if str(k) not in names)
        features = [_infer_feature(n, [r.get(n) for r in rows if r.get(n) is not None]) for n in names]
        # a handful of examples gives no training range: keep the values as defaults only
        # (0 in an example says nothing of whether the feature is a whole number: "number")
        unranged = [
            f if f.type not in ("integer", "number") else Feature(f.name, "number", default=f.default)
            for f in _group_one_hot(features, rows)
        ]
        return cls(features=tuple(unranged), name="Inferred from example rows")

    @classmethod
    @_as_schema_error
    def from_csv(
        cls, source: str | Path | bytes | io.IOBase, target: str | None = None, max_labels: int = 20
    ) -> FeatureSchema:
        """Infer a schema from a CSV of training data: ranges, medians and modes as defaults.

        Text columns with at most ``max_labels`` values become label-encoded categoricals
        (codes in sorted order of their labels, as scikit-learn's LabelEncoder assigns them).
        """
        rows = _read_csv_rows(source)
        if not rows:
            raise SchemaError("the CSV has no data rows")
        names = [n for n in rows[0] if n and n != target]
        features = []
        for name in names:
            raw = [r.get(name) for r in rows]
            values = [v for v in raw if v not in (None, "", "?", "NA", "nan", "NaN")]
            numbers = [_try_number(v) for v in values]
            if values and all(n is not None for n in numbers):
                features.append(_infer_feature(name, numbers))
            elif 0 < len(set(values)) <= max_labels:
                ordered = sorted({str(v) for v in values})
                mode = max(ordered, key=[str(v) for v in values].count)
                labels = {str(i): label for i, label in enumerate(ordered)}
                features.append(Feature(name, "integer", 0, len(ordered) - 1, ordered.index(mode), labels))
            # free text (names, tickets) cannot be a model input: left out
        if not features:
            raise SchemaError("no usable numeric or categorical column in the CSV")
        return cls(features=tuple(_group_one_hot(features, rows)), name="Inferred from CSV", target=target or "")

    # ---- using -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON structure of PROTOCOL.md section 3."""
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "target": self.target,
            "features": [f.to_dict() for f in self.features],
        }
        if self.classes:
            out["classes"] = list(self.classes)
        if self.class_labels:
            out["class_labels"] = dict(self.class_labels)
        return out

    @property
    def input_columns(self) -> list[str]:
        """The request columns, in order: one-hot groups expanded."""
        return [column for f in self.features for column in f.input_columns]

    def feature(self, name: str) -> Feature:
        """The feature called ``name``; KeyError when there is none."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        """Form values for a fresh form: each feature's default, else a sensible middle."""
        return {f.name: _default_of(f) for f in self.features}

    def coerce_values(self, values: Mapping[str, Any], *, fill_defaults: bool = False) -> dict[str, Any]:
        """Check and coerce form values; raise RowValidationError naming every bad field."""
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        known = {f.name for f in self.features}
        for name in values:
            if name not in known:
                errors[str(name)] = "is not a feature of this model"
        for f in self.features:
            if f.name not in values or values[f.name] is None or values[f.name] == "":
                if fill_defaults:
                    out[f.name] = _default_of(f)
                else:
                    errors[f.name] = "is missing"
                continue
            try:
                out[f.name] = f.coerce(values[f.name])
            except ValueError as exc:
                errors[f.name] = str(exc)
        if errors:
            raise RowValidationError(errors)
        return out

    def to_row(self, values: Mapping[str, Any], *, fill_defaults: bool = False) -> dict[str, Any]:
        """Form values -> one request row: coerced, one-hot groups expanded to 0/1 columns."""
        coerced = self.coerce_values(values, fill_defaults=fill_defaults)
        row: dict[str, Any] = {}
        for f in self.features:
            value = coerced[f.name]
            if f.type == "one_hot":
                row.update({column: int(label == value) for label, column in f.columns.items()})
            else:
                row[f.name] = value
        return row

    def from_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A request row (or a result record) -> form values: one-hot columns collapsed.

        Raises RowValidationError when a group has more than one column set, or a column
        is missing.
        """
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for f in self.features:
            if f.type != "one_hot":
                if f.name in row:
                    values[f.name] = row[f.name]
                else:
                    errors[f.name] = "is missing"
                continue
            missing = [c for c in f.columns.values() if c not in row]
            if missing:
                errors[f.name] = f"column {missing[0]} is missing"
                continue
            not_flags = [c for c in f.columns.values() if not _is_flag(row[c])]
            if not_flags:
                errors[f.name] = f"column {not_flags[0]} has {row[not_flags[0]]!r}, which is not 0 or 1"
                continue
            hot = [label for label, column in f.columns.items() if _coerce_bool(row[column])]
            if len(hot) > 1:
                errors[f.name] = f"more than one column is set ({', '.join(hot)})"
            elif hot:
                values[f.name] = hot[0]
            elif f.none_label is not None:
                values[f.name] = f.none_label
            else:
                errors[f.name] = "no column is set and the group has no 'none' choice"
        if errors:
            raise RowValidationError(errors)
        return values

    def fingerprint(self) -> str:
        """What runs are compared under: the task, the classes and their labels, each feature's name,
        kind, codes and columns (not its range, default or statistics). Two schemas whose runs chart alike share it."""
        essence = {
            "task": self.task,
            "classes": [str(c) for c in self.classes],
            "class_labels": self.class_labels,
            "features": [[f.name, f.type, f.labels, f.columns, f.none_label] for f in self.features],
        }
        return hashlib.sha1(json.dumps(essence, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def class_label(self, value: Any) -> str:
        """The readable label of a predicted class."""
        return self.class_labels.get(_code_key(value), str(value))


# ---- helpers ---------------------------------------------------------------------------------
def _code_key(code: Any) -> str:
    """Codes are JSON object keys: 1, 1.0, "1" and "1.0" are the same code."""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    if isinstance(code, str) and _WHOLE_DECIMAL.fullmatch(code):
        code = code.split(".")[0]
    return str(code)


_WHOLE_DECIMAL = re.compile(r"-?\d+\.0+")


def _fmt(x: float) -> str:
    return f"{x:g}"


def _opt_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def _quantiles(name: str, data: Any) -> dict[str, float]:
    """The optional training percentiles of a feature: known keys only, finite and in increasing order."""
    if not data:
        return {}
    if not isinstance(data, Mapping):
        raise SchemaError(f"feature {name!r} has quantiles that are not an object of percentiles like p05 and p95")
    out: dict[str, float] = {}
    for key in QUANTILE_KEYS:  # other keys (a newer writer's p99) are left out, not refused
        if data.get(key) is not None:
            value = float(data[key])
            if not math.isfinite(value):
                raise SchemaError(f"feature {name!r} has a quantile {key} that is not a finite number")
            out[key] = int(value) if value.is_integer() else value
    values = list(out.values())
    if any(later < earlier for earlier, later in zip(values, values[1:], strict=False)):
        raise SchemaError(f"feature {name!r} has quantiles that do not increase from p05 to p95")
    return out


def _spread(name: str, value: Any) -> float | None:
    spread = _opt_float(value)
    if spread is not None and not (math.isfinite(spread) and spread >= 0):
        raise SchemaError(f"feature {name!r} has a spread that is not a finite number of at least 0")
    return spread


def _truthy(value: Any) -> bool:
    try:
        return float(value) != 0
    except (TypeError, ValueError):
        return str(value).strip().lower() in _TRUE_WORDS


def _coerce_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got true/false")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range (10**400)
            raise ValueError("must be a finite number (this one is too large)") from None
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError("must be a finite number (not NaN or infinity)")
    return int(number) if number.is_integer() and not isinstance(value, float) else number


def _is_flag(value: Any) -> bool:
    """True for what a one-hot column may hold: 0 or 1 (or true/false, yes/no)."""
    try:
        _coerce_bool(value)
    except ValueError:
        return False
    return True


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _try_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _numeric_feature(name: str, values: Sequence[Any], integer: bool = False) -> Feature:
    numbers = [n for n in (_try_number(v) for v in values) if n is not None]
    if not numbers:
        return Feature(name, "integer" if integer else "number", default=0)
    is_int = integer or all(float(n).is_integer() for n in numbers)
    lo, hi, mid = min(numbers), max(numbers), _median(numbers)
    if is_int:
        return Feature(name, "integer", int(lo), int(hi), int(round(mid)))
    return Feature(name, "number", lo, hi, round(mid, 6))


def _infer_feature(name: str, values: Sequence[Any]) -> Feature:
    if values and all(isinstance(v, bool) for v in values):
        return Feature(name, "boolean", default=values[0])
    return _numeric_feature(name, values)


def _group_one_hot(features: list[Feature], rows: Sequence[Mapping[str, Any]] = ()) -> list[Feature]:
    """Turn 0/1 integer columns named ``prefix_Label`` into one-hot groups.

    Two or more such columns sharing a prefix (cut at an underscore, the longest prefix
    first, so ``employment_status_Self-Employed`` groups under ``employment_status``) form
    one feature; its all-zero case is kept as the choice "Other" (PROTOCOL.md section 3).
    Columns that are 1 together in any of ``rows`` (``has_car``, ``has_house``) are flags, not a group.
    """

    def exclusive(members: list[Feature]) -> bool:
        return all(sum(_truthy(row.get(m.name, 0) or 0) for m in members) <= 1 for row in rows)

    binary = [
        f
        for f in features
        if f.type == "integer"
        and not f.labels
        and "_" in f.name
        and f.min is not None
        and f.max is not None
        and 0 <= f.min <= f.max <= 1
    ]
    candidates = {"_".join(f.name.split("_")[:cut]) for f in binary for cut in range(1, f.name.count("_") + 1)}
    groups: dict[str, list[Feature]] = {}
    taken: set[str] = set()
    for prefix in sorted(candidates, key=lambda p: (-len(p), p)):
        members = [f for f in binary if f.name.startswith(prefix + "_") and f.name not in taken]
        if len(members) >= 2 and exclusive(members):
            groups[prefix] = members
            taken.update(f.name for f in members)
    if not groups:
        return features
    out: list[Feature] = []
    for f in features:
        group = next((p for p, members in groups.items() if f in members), None)
        if group is None:
            out.append(f)
        elif f is groups[group][0]:
            columns = {m.name[len(group) + 1 :]: m.name for m in groups[group]}
            hot = [label for label, m in zip(columns, groups[group], strict=True) if m.default == 1]
            none_label = "Other" if "Other" not in columns else "None of these"
            out.append(
                Feature(group, "one_hot", default=hot[0] if hot else none_label, columns=columns, none_label=none_label)
            )
    return out


def _default_of(f: Feature) -> Any:
    if f.default is not None:
        try:
            return f.coerce(f.default)
        except ValueError:
            pass
    if f.type == "one_hot":
        return f.choices[-1]
    if f.type == "boolean":
        return False
    if f.is_categorical:
        return int(next(iter(f.labels)))
    if f.min is not None and f.max is not None:
        mid = (f.min + f.max) / 2
        return int(round(mid)) if f.type == "integer" else mid
    return 0


def _column_layout_rows(data: Any) -> list[dict[str, Any]]:
    """pandas' column layout ``{"col": {"0": v}}`` (or a list of records) -> list of rows."""
    if isinstance(data, list):
        return [dict(r) for r in data if isinstance(r, Mapping)]
    if not isinstance(data, Mapping) or not data:
        return []
    index: list[str] = []
    for column in data.values():
        if isinstance(column, Mapping):
            index.extend(k for k in column if k not in index)
    return [{name: (col.get(i) if isinstance(col, Mapping) else None) for name, col in data.items()} for i in index]


TARGET_NAMES = ("target", "label", "y")


def guess_target(source: str | bytes, model_target: str = "") -> tuple[str | None, str]:
    """The column of a training CSV that is probably the target, and why: (None, "") when none is.

    In order: a column named like the model's target, one called target, label or y (any case),
    else the last column when it holds only 0 and 1 (a binary outcome, as most exports put it last).
    """
    rows = _read_csv_rows(source if isinstance(source, bytes) else source.encode())
    columns = [c for c in (rows[0] if rows else {}) if c]
    by_lower = {c.lower(): c for c in columns}
    if model_target and model_target.lower() in by_lower:
        return by_lower[model_target.lower()], "it is named like the model's target"
    for name in TARGET_NAMES:
        if name in by_lower:
            return by_lower[name], f"a column called {name!r} is usually the target"
    if columns:
        last = {str(r.get(columns[-1], "")).strip() for r in rows} - {""}
        if last and last <= {"0", "1", "0.0", "1.0"}:
            return columns[-1], "the last column holds only 0 and 1, like a binary outcome"
    return None, ""


def csv_columns(source: str | bytes) -> list[str]:
    """The header of a CSV (comma, semicolon or tab separated)."""
    rows = _read_csv_rows(source if isinstance(source, bytes) else source.encode())
    return [c for c in (rows[0] if rows else {}) if c]


def _read_csv_rows(source: str | Path | bytes | io.IOBase) -> list[dict[str, str]]:
    if isinstance(source, bytes):
        text = source.decode("utf-8-sig")
    elif isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        text = Path(source).read_text(encoding="utf-8-sig")
    elif isinstance(source, str):
        text = source
    else:
        raw = source.read()
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else str(raw)
    header, *lines = read_lines(text) or [[]]
    return [dict(zip(header, line, strict=False)) for line in lines]
