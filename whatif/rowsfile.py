"""A CSV of rows uploaded for an analysis (background rows, ICE curves), read as form values.

The what-if page's import rules hold: comma, semicolon (with decimal commas) or tab separated;
a one-hot group either by its name (a label per row) or by its 0/1 columns; categories by code
or label. A file with a bad value is refused as a whole, naming the first five bad values by
row and field, so nothing is computed on rows the user did not mean.
"""

from __future__ import annotations

import csv
from typing import Any

import pandas as pd

from whatif.csvtext import read_lines
from whatif.schema import Feature, FeatureSchema, RowValidationError

MAX_NAMED = 5
SET_FLAGS = frozenset({"1", "1.0", "true", "True", "TRUE"})  # a one-hot column that is set


class RowsFileError(ValueError):
    """The file cannot be used as rows of this model; str() is one or two sentences."""


def read_form_rows(schema: FeatureSchema, data: bytes, limit: int = 10_000) -> pd.DataFrame:
    """The file's rows as form values (one column per logical feature), at most ``limit`` rows.

    Columns the model does not use (an ID, the target) are ignored; a missing feature, a bad
    value or more than ``limit`` rows raise RowsFileError.
    """
    try:
        lines = read_lines(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise RowsFileError("The file is not UTF-8 text; save it as CSV (UTF-8) and upload it again.") from None
    except csv.Error as problem:
        raise RowsFileError(f"The file cannot be read as CSV: {problem}.") from None
    if len(lines) < 2:
        raise RowsFileError("The file has no data rows under its header line.")
    header, body = [cell.strip() for cell in lines[0]], lines[1:]
    if len(body) > limit:
        raise RowsFileError(f"The file has {len(body):,} rows; at most {limit:,} can be used here, so keep a sample.")
    missing = [f.name for f in schema.features if f.name not in header and not set(f.input_columns) <= set(header)]
    if missing:
        shown = ", ".join(missing[:MAX_NAMED]) + (" and more" if len(missing) > MAX_NAMED else "")
        raise RowsFileError(f"The file has no column for {shown}; its header must name the model's inputs.")
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, cells in enumerate(body, start=2):
        record = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)}
        try:
            rows.append(_form_values(schema, record))
        except RowValidationError as invalid:
            problems.extend(f"line {number}, {field}: {sentence}" for field, sentence in invalid.errors.items())
            if len(problems) >= MAX_NAMED:
                break
    if problems:
        raise RowsFileError("Some values cannot be used, so no row was: " + "; ".join(problems[:MAX_NAMED]) + ".")
    return pd.DataFrame(rows, columns=[f.name for f in schema.features])


def _form_values(schema: FeatureSchema, record: dict[str, str]) -> dict[str, Any]:
    """One line's form values: a one-hot group from its own column when the file has one, else from its 0/1 columns."""
    values: dict[str, Any] = {}
    for feature in schema.features:
        if feature.type == "one_hot" and feature.name not in record:
            values[feature.name] = _hot_label(feature, record)
        else:
            values[feature.name] = record.get(feature.name, "")
    return schema.coerce_values(values)


def _hot_label(feature: Feature, record: dict[str, str]) -> str:
    """The label of the one column of a one-hot group set to 1; a RowValidationError naming the group otherwise."""
    hot = [label for label, column in feature.columns.items() if record.get(column, "").strip() in SET_FLAGS]
    if len(hot) == 1:
        return hot[0]
    if not hot and feature.none_label is not None:
        return feature.none_label
    columns = ", ".join(feature.columns.values())
    raise RowValidationError({feature.name: f"exactly one of the columns {columns} must be 1"})
