"""What analyses try and send: value grids per feature, request frames, jitter, distances.

Analyses work with FORM values, one per LOGICAL feature (a number, an integer code, a boolean,
a one-hot group's label such as ``"Employed"``), and send REQUEST rows built by
``to_request_frame``, which goes through ``FeatureSchema.to_row``: every row sent is valid for
the schema, so the server never refuses it. A one-hot group is one feature here, never its
columns one by one (a public port of Growing Spheres broke groups that way).

Numbers use the optional training statistics of a feature (``quantiles``, ``spread``) when the
schema has them, and fall back to its min and max otherwise (a Datrics schema has no statistics).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError
from whatif.schema import Feature, FeatureSchema, RowValidationError

MAX_CODES = 50  # a label-encoded feature with more codes is swept over its first SHOWN_CODES only
SHOWN_CODES = 30  # (the schema has no frequencies to pick the most common ones by)
IQR_PER_SD = 1.349  # the interquartile range of a normal distribution, in standard deviations


def is_numeric(feature: Feature) -> bool:
    """True for numbers and plain integers, whose values are ordered and have distances."""
    return feature.type in ("number", "integer") and not feature.is_categorical


def feature_grid(feature: Feature, scenario_value: Any, points: int = 10) -> list[Any]:
    """The form values to try for one feature, sorted, without duplicates, always with the scenario's value.

    - number: ``points`` evenly spaced values from the 5th to the 95th percentile when the schema
      has them, else from min to max, plus the range ends and the scenario's value;
    - integer: whole numbers only (every one when the range holds at most ``points``), at most
      ``points`` of them plus the scenario's value;
    - label-encoded categorical: every code (beyond 50 codes, the first 30 and the scenario's);
    - one-hot group: every label, the all-zero label included when the group has one;
    - boolean: False and True.

    A number or integer without a range (no min and max) is tried around the scenario's value,
    from half to one and a half times it (from -1 to 1 when it is 0; integers by at least
    ``points // 2`` either side), kept within the one bound known, if any.
    """
    if points < 2:
        raise ValueError(f"a grid needs at least 2 points, not {points}")
    value = _coerced(feature, scenario_value)
    if feature.type == "boolean":
        return [False, True]
    if feature.type == "one_hot":
        return feature.choices
    if feature.is_categorical:
        codes = [int(code) for code in feature.labels]
        if len(codes) > MAX_CODES:
            codes = codes[:SHOWN_CODES] + [value]
        return sorted(set(codes))
    if feature.type == "integer":
        return _integer_grid(feature, int(value), points)
    return _number_grid(feature, float(value), points)


def _number_grid(feature: Feature, value: float, points: int) -> list[float]:
    span = _percentile_span(feature) or _range_of(feature)
    if span is None:
        half = abs(value) * 0.5 or 1.0
        span = (value - half, value + half)
    tried = [_clip(v, feature.min, feature.max) for v in _tidy(np.linspace(span[0], span[1], points), span)]
    ends = [float(end) for end in (feature.min, feature.max) if end is not None]
    return sorted(set(tried + ends + [value]))


def _integer_grid(feature: Feature, value: int, points: int) -> list[int]:
    low = None if feature.min is None else math.ceil(feature.min)
    high = None if feature.max is None else math.floor(feature.max)
    inner = _percentile_span(feature)
    tried: Any
    if low is None or high is None:  # no range: whole numbers around the value, within the bound known
        half = max(round(abs(value) * 0.5), points // 2)
        tried = np.linspace(value - half, value + half, points)
    elif high < low:  # a range holding no whole number
        tried = []
    elif high - low + 1 <= points:
        tried = range(low, high + 1)
    elif inner is not None and (math.ceil(inner[0]), math.floor(inner[1])) != (low, high):
        # most of the grid where most of the data is, and the two ends of the range
        inside = np.linspace(max(low, math.ceil(inner[0])), min(high, math.floor(inner[1])), points - 2)
        tried = [low, *inside, high]
    else:
        tried = np.linspace(low, high, points)
    whole = {int(round(float(v))) for v in tried}
    whole = {v for v in whole if (low is None or v >= low) and (high is None or v <= high)}
    return sorted(whole | {value})


def _tidy(values: np.ndarray, span: tuple[float, float]) -> list[float]:
    """Grid values rounded to about a thousandth of their span (12.69, not 12.68888888888889), for tables and files."""
    width = span[1] - span[0]
    if not width > 0:
        return [float(v) for v in values]
    decimals = max(0, 3 - math.floor(math.log10(width)))
    return [round(float(v), decimals) for v in values]


def _range_of(feature: Feature) -> tuple[float, float] | None:
    """(min, max) when both are known."""
    if feature.min is None or feature.max is None:
        return None
    return (min(feature.min, feature.max), max(feature.min, feature.max))


def _percentile_span(feature: Feature) -> tuple[float, float] | None:
    """(5th, 95th percentile) within the range, when the schema has both."""
    if "p05" not in feature.quantiles or "p95" not in feature.quantiles:
        return None
    low = _clip(float(feature.quantiles["p05"]), feature.min, feature.max)
    high = _clip(float(feature.quantiles["p95"]), feature.min, feature.max)
    return (low, high) if low <= high else None


def _clip(value: float, low: float | None, high: float | None) -> float:
    if low is not None and value < low:
        return float(low)
    if high is not None and value > high:
        return float(high)
    return value


def _coerced(feature: Feature, value: Any) -> Any:
    try:
        return feature.coerce(value)
    except ValueError as exc:
        raise AnalysisError(
            f"The scenario's value of {feature.name!r} is not valid ({exc}); "
            "fix it in the form and run the analysis again."
        ) from None


def feature_spread(feature: Feature) -> float | None:
    """The typical size of a change of a numeric feature: its spread when the schema has one, else the
    interquartile range / 1.349, else (max - min) / 4, else None (and None for categories).

    A zero estimate (a constant column) gives way to the next one.
    """
    if not is_numeric(feature):
        return None
    if feature.spread is not None and feature.spread > 0:
        return float(feature.spread)
    quartiles = feature.quantiles
    if "p25" in quartiles and "p75" in quartiles and quartiles["p75"] > quartiles["p25"]:
        return (quartiles["p75"] - quartiles["p25"]) / IQR_PER_SD
    span = _range_of(feature)
    if span is not None and span[1] > span[0]:
        return (span[1] - span[0]) / 4
    return None


def to_request_frame(schema: FeatureSchema, form_rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Form rows -> the request frame to send: columns ``schema.input_columns``, one-hot groups as 0/1 columns.

    Every row goes through ``schema.to_row``; one that does not fit raises AnalysisError (a
    ValueError) naming the row and the feature, before anything is sent.
    """
    rows = []
    for number, values in enumerate(form_rows, 1):
        try:
            rows.append(schema.to_row(values))
        except RowValidationError as invalid:
            name, problem = next(iter(invalid.errors.items()))
            more = f" (and {len(invalid.errors) - 1} more)" if len(invalid.errors) > 1 else ""
            raise AnalysisError(
                f"Row {number} of the analysis does not fit the model: feature {name!r} "
                f"{problem}{more}; check the scenario's values."
            ) from None
    return pd.DataFrame.from_records(rows, columns=schema.input_columns)


def with_changes(scenario: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``scenario`` with ``changes`` applied; a change to a feature the scenario lacks is a ValueError."""
    unknown = [name for name in changes if name not in scenario]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a feature of the scenario")
    return {**scenario, **changes}


def gower_distance(schema: FeatureSchema, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """How far apart two form rows are, from 0 (same) to about 1, averaged over LOGICAL features.

    A number counts |a - b| / (max - min), or / its spread without a range (and relative to the
    values themselves without either); a category, one-hot group or boolean 0 when equal, else 1.
    A one-hot group counts once, however many columns it sends. Values outside the training range
    can make a number's share exceed 1.
    """
    left, right = schema.coerce_values(a), schema.coerce_values(b)
    shares = [_gower_share(f, left[f.name], right[f.name]) for f in schema.features]
    return sum(shares) / len(shares)


def _gower_share(feature: Feature, x: Any, y: Any) -> float:
    if x == y:
        return 0.0
    if not is_numeric(feature):
        return 1.0
    span = _range_of(feature)
    scale = span[1] - span[0] if span is not None and span[1] > span[0] else feature_spread(feature)
    if scale:
        return float(abs(x - y) / scale)
    return float(abs(x - y) / (abs(x) + abs(y)))  # no scale at all: the relative difference, within 0..1


def changed_features(schema: FeatureSchema, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The logical features whose values differ between two form rows (1 and 1.0 are the same), in schema order."""
    left, right = schema.coerce_values(a), schema.coerce_values(b)
    return [f.name for f in schema.features if left[f.name] != right[f.name]]


def levels(feature: Feature) -> list[Any]:
    """Every value of a categorical, one-hot or boolean feature (form values); [] for numbers."""
    if feature.type == "boolean":
        return [False, True]
    if feature.type == "one_hot":
        return feature.choices
    if feature.is_categorical:
        return [int(code) for code in feature.labels]
    return []


def jitter(
    schema: FeatureSchema,
    scenario: Mapping[str, Any],
    n: int,
    epsilon: float,
    rng: np.random.Generator,
    hold: AbstractSet[str] = frozenset(),
    categorical_flip_p: float = 0.0,
) -> list[dict[str, Any]]:
    """``n`` noisy copies of the scenario (form rows), for robustness checks.

    Every number not in ``hold`` moves by Normal(0, ``epsilon`` x its spread) (``feature_spread``;
    without one, x the value itself, or x 1 for 0), integers rounded, then clipped to the training
    range widened to include the scenario's own value. Categories, one-hot groups and booleans not
    held switch to another of their values, picked uniformly, with probability ``categorical_flip_p``.
    """
    if n < 0 or not math.isfinite(epsilon) or epsilon < 0:
        raise ValueError("jitter needs n >= 0 copies and a finite epsilon >= 0")
    if not 0.0 <= categorical_flip_p <= 1.0:
        raise ValueError(f"categorical_flip_p is a probability, not {categorical_flip_p}")
    base = schema.coerce_values(scenario)
    unknown = sorted(set(hold) - set(base))
    if unknown:
        raise ValueError(f"{unknown[0]!r} is held but is not a feature of the model")
    columns: dict[str, list[Any]] = {}
    for f in schema.features:
        value = base[f.name]
        if f.name in hold:
            columns[f.name] = [value] * n
        elif is_numeric(f):
            scale = feature_spread(f) or (abs(value) or 1.0)
            moved = value + rng.normal(0.0, epsilon * scale, size=n)
            low = -math.inf if f.min is None else min(f.min, value)
            high = math.inf if f.max is None else max(f.max, value)
            if f.type == "integer":
                low, high = (
                    (math.ceil(low) if math.isfinite(low) else low),
                    (math.floor(high) if math.isfinite(high) else high),
                )
                columns[f.name] = [int(v) for v in np.clip(np.round(moved), low, high)]
            else:
                columns[f.name] = [float(v) for v in np.clip(moved, low, high)]
        else:
            others = [level for level in levels(f) if level != value]
            if not others or categorical_flip_p == 0:
                columns[f.name] = [value] * n
                continue
            flipped = rng.random(n) < categorical_flip_p
            picks = rng.integers(len(others), size=n)
            columns[f.name] = [others[k] if flip else value for flip, k in zip(flipped, picks, strict=True)]
    return [{name: column[i] for name, column in columns.items()} for i in range(n)]
