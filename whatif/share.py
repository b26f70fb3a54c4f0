"""Shareable links: the model and the form's values in the URL query (never the secret)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whatif.schema import FeatureSchema

MODEL_KEYS = ("path", "bucket")


def to_query(path: str, bucket: str, values: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters for a link that reopens this model with these values."""
    query = {"path": path, "bucket": bucket}
    for name, value in values.items():
        if name in MODEL_KEYS:
            continue  # a feature called "path" cannot shadow the model's path
        query[name] = _number_text(value) if isinstance(value, float) else str(value)
    return query


def _number_text(value: float) -> str:
    """The shortest text that reads back as the same float (42, 211.3375): the link predicts the same."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def model_from_query(query: Mapping[str, str]) -> tuple[str, str] | None:
    """(path, bucket) named by a link, or None."""
    path, bucket = query.get("path"), query.get("bucket")
    return (str(path), str(bucket)) if path and bucket else None


def values_from_query(query: Mapping[str, str], schema: FeatureSchema) -> tuple[dict[str, Any], dict[str, str]]:
    """The form values a link carries, and a message for each value that does not fit the schema."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for feature in schema.features:
        if feature.name in MODEL_KEYS or feature.name not in query:
            continue
        try:
            values[feature.name] = feature.coerce(query[feature.name])
        except ValueError as exc:
            problems[feature.name] = str(exc)
    return values, problems
