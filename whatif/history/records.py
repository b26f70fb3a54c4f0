"""What a run is, and how its values are written as JSON and read back.

``HistoryKey`` says whose history a run belongs to and ``Run`` is one run as read back; the
JSON helpers are the one way run values are encoded (``dumps``) and decoded (``json_values``),
so what ``RunStore.add`` returns is exactly what a later read gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PROBABILITY_PREFIX = "probability_"
INPUT_PREFIX = "input_"
SOURCES: frozenset[str] = frozenset({"form", "import"})

# Column names of frame() and export_csv() that are not inputs. A feature with one of these
# names (a credit model's "score", a "name") gets the column "input_<feature>" instead, so
# the run's own fields and the inputs never share a column.
FRAME_COLUMNS = (
    "id",
    "seq",
    "created_at",
    "name",
    "is_baseline",
    "label",
    "prediction",
    "score",
    "session_id",
    "source",
)
EXPORT_COLUMNS = ("run", "created_at", "name", "baseline", "model", "version", "prediction", "label", "score")
RESERVED_COLUMNS: frozenset[str] = frozenset(FRAME_COLUMNS) | frozenset(EXPORT_COLUMNS)

# Query parameters of a URL that may carry a credential; dropped from HistoryKey.connection.
_SECRET_PARAM = re.compile(r"token|secret|key|pass|auth|sig|credential|jwt", re.IGNORECASE)


@dataclass(frozen=True)
class HistoryKey:
    """Whose history a run belongs to: connection, user and model version.

    ``connection`` is the API's predict URL (or a stable name such as the demo's); any user
    name, password or token-like query parameter in it is removed, so no secret is stored.
    ``schema`` is empty for the saved model's own schema, else a fingerprint of the schema the
    runs were made with (one entered by hand that differs), so runs are compared under one schema.
    """

    connection: str
    user_id: str
    bucket: str
    path: str
    schema: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "connection", without_credentials(str(self.connection)))
        object.__setattr__(self, "user_id", str(self.user_id))
        object.__setattr__(self, "bucket", str(self.bucket))
        object.__setattr__(self, "path", str(self.path))
        object.__setattr__(self, "schema", str(self.schema))


@dataclass(frozen=True)
class Run:
    """One what-if run: the form values, the row sent, and what the model answered."""

    id: int
    key: HistoryKey
    created_at: datetime
    model_name: str
    model_version: int | None
    inputs: dict[str, Any]
    row: dict[str, Any]
    prediction: Any
    label: str
    score: float
    probabilities: dict[str, float]
    task_id: str
    elapsed_ms: float | None
    name: str = ""
    is_baseline: bool = False
    source: str = "form"
    session_id: str = ""


def without_credentials(connection: str) -> str:
    """The URL without user name, password or token-like query parameters."""
    parts = urlsplit(connection)
    params = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in params if not _SECRET_PARAM.search(k)]
    if "@" not in parts.netloc and len(kept) == len(params):
        return connection  # nothing to remove: keep the URL exactly as given
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(kept), parts.fragment))


def input_column(feature: str) -> str:
    """The column of a feature in frame() and the export: its name, unless a run field has it."""
    if feature in RESERVED_COLUMNS or feature.startswith(PROBABILITY_PREFIX):
        return INPUT_PREFIX + feature
    return feature


def ordered_keys(dicts: Iterable[Mapping[str, Any]]) -> list[str]:
    """Keys of many dicts, in order of first appearance."""
    seen: dict[str, None] = {}
    for d in dicts:
        if d.keys() - seen.keys():
            seen.update(dict.fromkeys(d))
    return list(seen)


# ---- JSON: written by dumps, read by json_values ------------------------------------------------
def dumps(value: Any) -> str:
    """The JSON text a run value is stored as (compact; numpy scalars as plain numbers)."""
    return json.dumps(value, default=_to_jsonable, ensure_ascii=False, separators=(",", ":"))


def json_values(texts: Sequence[str | None]) -> list[Any]:
    """Stored JSON texts decoded, NULL as None: the one read path of the JSON columns.

    One ``json.loads`` for all of them: ten times faster than one call each, which is what a
    chart of 10,000 runs needs.
    """
    return list(json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]"))


def normalised(value: Any) -> Any:
    """``value`` as it will read back from the store (plain Python, JSON types)."""
    return json.loads(dumps(value))


def _to_jsonable(value: Any) -> Any:
    """What json cannot write itself: numpy/pandas scalars, timestamps."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"A {type(value).__name__} cannot be stored in the run history.")


# ---- times ------------------------------------------------------------------------------------------
def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken to be UTC already)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_time(text: str) -> datetime | None:
    """ISO 8601 text as an aware UTC datetime; None when empty or not a time."""
    try:
        return as_utc(datetime.fromisoformat(text.strip())) if text.strip() else None
    except ValueError:
        return None
