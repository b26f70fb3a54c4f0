"""Submit-time checks of the request rows against the model's schema.

Every refusal names the row and the field, so a caller can fix its data. The checks are
vectorised over columns: 10,000 rows are checked in milliseconds.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from whatif.protocol import FALSE_WORDS, TRUE_WORDS
from whatif.schema import Feature, FeatureSchema
from whatif.server.problems import Problem


def parse_flag(value: str) -> bool:
    """``return_only_prediction``: true/false/True/False/1/0, anything else a 400."""
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise Problem(
        400,
        "invalid_parameter",
        f"return_only_prediction must be true or false (or True/False/1/0), not {value[:40]!r}.",
    )


def parse_body(body: bytes) -> Any:
    """The JSON body; a 400 when it is not JSON."""
    try:
        return json.loads(body)
    except RecursionError:
        raise Problem(
            400, "invalid_json", "The body nests too deeply to be rows; send a JSON array of row objects."
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" ({exc.msg} at line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise Problem(
            400, "invalid_json", f"The body is not valid JSON{where}; send a JSON array of row objects."
        ) from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the text {value[:30]!r}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def rows_to_frame(schema: FeatureSchema, rows: Any, max_rows: int) -> pd.DataFrame:
    """Check the parsed body against the schema and return it as a DataFrame of input columns."""
    if not isinstance(rows, list):
        raise Problem(422, "body_not_a_list", f"The body must be a JSON array of row objects, not {_kind(rows)}.")
    if not rows:
        raise Problem(422, "no_rows", "The body is an empty list; send at least one row.")
    if len(rows) > max_rows:
        raise Problem(
            413,
            "too_many_rows",
            f"{len(rows):,} rows is more than the limit of {max_rows:,} per request; split them up.",
        )
    expected = schema.input_columns
    expected_set = set(expected)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise Problem(422, "row_not_an_object", f"Row {i} is {_kind(row)}, not an object of feature values.")
        if row.keys() != expected_set:
            missing = [c for c in expected if c not in row]
            if missing:
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                raise Problem(422, "missing_feature", f"Row {i} is missing feature '{missing[0]}'{more}.")
            unknown = next(k for k in row if k not in expected_set)
            raise Problem(
                422,
                "unknown_feature",
                f"Row {i} has unknown feature '{unknown[:60]}'; this model takes {', '.join(expected)}.",
            )
    frame = pd.DataFrame.from_records(rows, columns=expected)
    for feature in schema.features:
        for column in feature.input_columns:
            frame[column] = _checked_column(frame[column], feature, column)
        if feature.type == "one_hot":
            hot = frame[feature.input_columns].sum(axis=1).to_numpy()
            if (hot > 1).any():
                i = int(np.argmax(hot > 1))
                raise Problem(
                    422,
                    "one_hot_conflict",
                    f"Row {i}: more than one of {', '.join(feature.input_columns)} is 1; set at most one.",
                )
    return frame


def _checked_column(values: pd.Series, feature: Feature, column: str) -> pd.Series:
    """The column as numbers, or a 422 naming the first bad row."""
    # pandas keeps text as a string dtype (not object) since 3.0: test for "not plain numbers"
    if is_bool_dtype(values.dtype) or not is_numeric_dtype(values.dtype):
        for i, value in enumerate(values.tolist()):
            if feature.type == "boolean" and isinstance(value, bool):
                continue
            if value is None:
                raise Problem(
                    422,
                    "not_finite",
                    f"Row {i}, field '{column}': null, NaN and infinity are not allowed; send a finite number.",
                )
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
                raise Problem(422, "out_of_range", f"Row {i}, field '{column}': the number is too large.")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Problem(422, "wrong_type", f"Row {i}, field '{column}': expected a number, got {_kind(value)}.")
        values = values.astype(float)
    numbers = values.to_numpy(dtype=float)
    bad = ~np.isfinite(numbers)
    if bad.any():
        i = int(np.argmax(bad))
        raise Problem(
            422,
            "not_finite",
            f"Row {i}, field '{column}': null, NaN and infinity are not allowed; send a finite number.",
        )
    if feature.type in ("integer", "one_hot", "boolean"):
        fractional = numbers != np.floor(numbers)
        if fractional.any():
            i = int(np.argmax(fractional))
            raise Problem(
                422, "not_an_integer", f"Row {i}, field '{column}': expected a whole number, got {numbers[i]:g}."
            )
    domain: list[float] | None = None
    if feature.type in ("one_hot", "boolean"):
        domain = [0, 1]
    elif feature.is_categorical:
        domain = [float(code) for code in feature.labels]
    if domain is not None:
        outside = ~np.isin(numbers, domain)
        if outside.any():
            i = int(np.argmax(outside))
            allowed = ", ".join(f"{k} ({v})" for k, v in feature.labels.items()) if feature.labels else "0 or 1"
            raise Problem(
                422,
                "out_of_domain",
                f"Row {i}, field '{column}': {numbers[i]:g} is not an allowed value; use {allowed}.",
            )
    return values
