"""The CSV format of the history: an export of runs, and reading an upload (an export or rows of inputs).

``runs_csv`` writes what ``parse_runs_csv`` reads back as the same runs; ``cell`` and
``parse_cell`` are that round trip for one value, which is also what makes two runs "the same
run" when an export is imported twice (``RunStore.add_new``).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from typing import Any, Literal

from whatif.csvtext import read_lines
from whatif.history.records import (
    EXPORT_COLUMNS,
    PROBABILITY_PREFIX,
    Run,
    dumps,
    input_column,
    ordered_keys,
    parse_time,
)

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def runs_csv(runs: Sequence[Run]) -> str:
    """Runs as CSV text for a download, oldest first.

    Columns: run, created_at (ISO 8601, UTC), name, baseline, model, version, prediction,
    label, score, ``probability_<class>``..., then the inputs under their feature names.
    """
    classes = ordered_keys(r.probabilities for r in runs)
    features = ordered_keys(r.inputs for r in runs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*EXPORT_COLUMNS, *(PROBABILITY_PREFIX + c for c in classes), *(input_column(f) for f in features)])
    for seq, r in enumerate(runs, 1):
        writer.writerow(
            [
                seq,
                r.created_at.isoformat(),
                r.name,
                r.is_baseline,
                r.model_name,
                cell(r.model_version),
                cell(r.prediction),
                r.label,
                cell(r.score),
                *(cell(r.probabilities.get(c)) for c in classes),
                *(cell(r.inputs.get(f)) for f in features),
            ]
        )
    return out.getvalue()


def parse_runs_csv(
    text: str | bytes, feature_names: Sequence[str]
) -> tuple[Literal["runs", "rows"], list[dict[str, Any]]]:
    """Read an uploaded CSV: an export of runs, or rows of inputs to predict.

    Returns ("runs", records for ``RunStore.add_many``) when the CSV has prediction, label
    and score columns (an ``export_csv``, maybe of another history), else ("rows", one dict of
    inputs per line). Numbers become numbers (int when integral), True/False booleans, empty
    cells None, other text stays text. Raises ValueError, one sentence, when the file is
    empty, not CSV text, or lacks a feature column.
    """
    header, lines = _read_csv(text)
    kind: Literal["runs", "rows"] = "runs" if {"prediction", "label", "score"} <= set(header) else "rows"
    columns = {f: (input_column(f) if kind == "runs" else f) for f in feature_names}
    missing = [c for c in columns.values() if c not in header]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise ValueError(
            f"The CSV lacks the {noun} {', '.join(missing)}; it must have the model's features as columns."
        )
    position = {name: i for i, name in reversed(list(enumerate(header)))}  # first of duplicate names

    def text_of(line: list[str], column: str) -> str:
        i = position[column]
        return line[i] if i < len(line) else ""

    inputs = [{f: parse_cell(text_of(line, c)) for f, c in columns.items()} for line in lines]
    if kind == "rows":
        return kind, inputs
    classes = [c[len(PROBABILITY_PREFIX) :] for c in header if c.startswith(PROBABILITY_PREFIX)]
    records: list[dict[str, Any]] = []
    for number, (line, values) in enumerate(zip(lines, inputs, strict=True), 1):
        version = parse_cell(text_of(line, "version")) if "version" in position else None
        created = text_of(line, "created_at") if "created_at" in position else ""
        records.append(
            {
                "inputs": values,
                "row": {},  # the request row is not exported; the app rebuilds it from the inputs
                "prediction": parse_cell(text_of(line, "prediction")),
                "label": text_of(line, "label"),
                "score": _parse_float(text_of(line, "score"), number, "score"),
                "probabilities": {
                    c: _parse_float(p, number, PROBABILITY_PREFIX + c)
                    for c in classes
                    if (p := text_of(line, PROBABILITY_PREFIX + c)) != ""
                },
                "task_id": "",
                "elapsed_ms": None,
                "model_name": text_of(line, "model") if "model" in position else "",
                "model_version": version if isinstance(version, int) and not isinstance(version, bool) else None,
                "name": text_of(line, "name") if "name" in position else "",
                "source": "import",
                "created_at": parse_time(created),
            }
        )
    return kind, records


def cell(value: Any) -> str:
    """A CSV cell that parse_cell reads back as the same value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | int | float | str):
        return repr(value) if isinstance(value, float) else str(value)
    return dumps(value)


def parse_cell(text: str) -> Any:
    """CSV text -> int (integral numbers), float, bool (True/False), None (empty) or the text."""
    stripped = text.strip()
    if stripped == "":
        return None
    if stripped in ("True", "False"):
        return stripped == "True"
    if _NUMBER.fullmatch(stripped):
        number = float(stripped)
        if math.isfinite(number) and number.is_integer() and abs(number) < 2**53:
            return int(number)
        return number
    return text


def _parse_float(text: str, line: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"Row {line} of the CSV has {column} {text!r}, which is not a number.") from None


def _read_csv(text: str | bytes) -> tuple[list[str], list[list[str]]]:
    """Header and data lines of CSV text (comma, semicolon or tab separated; a BOM is fine)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("The file is not a CSV text file (it is not UTF-8 text).") from None
    try:
        lines = read_lines(text)
    except csv.Error as exc:
        raise ValueError(f"The file is not a readable CSV text file: {exc}.") from None
    if not lines:
        raise ValueError("The CSV is empty; it must have a header row with the model's features as columns.")
    header = [name.strip() for name in lines[0]]
    if len(lines) < 2:
        raise ValueError("The CSV has a header but no rows.")
    return header, lines[1:]
