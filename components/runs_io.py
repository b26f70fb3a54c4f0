"""Export runs as CSV; import a CSV of runs or of input rows (predicted as one task)."""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from components.model_picker import ModelChoice
from components.store import history_problem_sentence
from components.task_progress import predict_with_progress
from whatif.client import ModelClient
from whatif.history import HistoryKey, HistoryUnavailable, RunStore, parse_runs_csv
from whatif.runs import run_fields
from whatif.schema import RowValidationError

IMPORTED_KEY = "whatif_imported_files"


def export_button(store: RunStore, key: HistoryKey, choice: ModelChoice) -> None:
    """A download of every run of this model version (made when clicked, not on every rerun)."""
    slug = re.sub(r"[^a-z0-9]+", "-", choice.title.lower()).strip("-")
    st.download_button("Export runs (CSV)", data=lambda: store.export_csv(key), file_name=f"whatif-runs-{slug}.csv",
                       mime="text/csv", icon=":material/download:", on_click="ignore", key="whatif_export",
                       width="stretch")


def import_uploader(store: RunStore, key: HistoryKey, choice: ModelChoice, client: ModelClient) -> str | None:
    """Import an uploaded CSV once; return a sentence saying what happened."""
    upload = st.file_uploader("Import a CSV of runs (an export) or of input rows", type=["csv"],
                              key=f"whatif_import_{choice.key}")
    if upload is None:
        return None
    done: set[str] = st.session_state.setdefault(IMPORTED_KEY, set())
    if upload.file_id in done:
        return None
    done.add(upload.file_id)
    schema = choice.schema
    try:
        kind, records = _parse(upload.getvalue(), choice)
    except ValueError as error:
        return f":red[{error}]"
    if kind == "runs":
        for record in records:
            record.setdefault("model_name", choice.name)
            record.setdefault("model_version", choice.version)
        try:
            count = store.add_many(key, records)
        except HistoryUnavailable as problem:
            return f":red[Nothing was imported from {upload.name}. {history_problem_sentence(problem)}]"
        return f"Imported {count} run(s) from {upload.name}."
    try:
        rows = [schema.to_row(values) for values in records]
    except RowValidationError as invalid:
        return f":red[The file has values that do not fit the model: {invalid}.]"
    result, error = predict_with_progress(client, rows, choice.path, choice.bucket)
    if result is None:
        return f":red[{error}]"
    runs = []
    for values, row, record in zip(records, rows, result.predictions.to_dict("records"), strict=True):
        runs.append({**run_fields(schema, values, row, record), "task_id": result.task_id,
                     "elapsed_ms": result.elapsed_s * 1000, "model_name": choice.name,
                     "model_version": choice.version, "source": "import"})
    try:
        store.add_many(key, runs)
    except HistoryUnavailable as problem:
        return f":red[The {len(runs)} row(s) were predicted but not saved. {history_problem_sentence(problem)}]"
    return f"Predicted and saved {len(runs)} row(s) from {upload.name} in one task."


def _parse(data: bytes, choice: ModelChoice) -> tuple[str, list[dict[str, Any]]]:
    """Runs or rows; rows may name the features or the request's one-hot columns."""
    schema = choice.schema
    try:
        return parse_runs_csv(data, [f.name for f in schema.features])
    except ValueError:
        if schema.input_columns == [f.name for f in schema.features]:
            raise
        kind, records = parse_runs_csv(data, schema.input_columns)
        if kind == "rows":
            return kind, [schema.from_row(r) for r in records]
        return kind, records
