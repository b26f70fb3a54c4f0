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
from whatif.runs import checked_runs, describe_problems, rows_to_predict, run_fields
from whatif.schema import RowValidationError

IMPORTED_KEY = "whatif_imported_files"


def export_button(store: RunStore, key: HistoryKey, choice: ModelChoice) -> None:
    """A download of every run of this model version (made when clicked, not on every rerun)."""
    slug = re.sub(r"[^a-z0-9]+", "-", choice.title.lower()).strip("-")
    st.download_button(
        "Export runs (CSV)",
        data=lambda: store.export_csv(key),
        file_name=f"whatif-runs-{slug}.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key="whatif_export",
        width="stretch",
    )


def import_uploader(
    store: RunStore, key: HistoryKey, choice: ModelChoice, client: ModelClient, session_id: str
) -> str | None:
    """Import an uploaded CSV once, as this session's; return a sentence saying what happened."""
    upload = st.file_uploader(
        "Import a CSV of runs (an export) or of input rows", type=["csv"], key=f"whatif_import_{choice.key}"
    )
    if upload is None:
        return None
    done: set[str] = st.session_state.setdefault(IMPORTED_KEY, set())
    if upload.file_id in done:
        return None
    done.add(upload.file_id)
    schema = choice.schema
    try:
        kind, records, as_columns = _parse(upload.getvalue(), choice)
        if kind == "runs":
            runs = checked_runs(schema, records)
        else:
            values, rows = rows_to_predict(schema, records, as_columns=as_columns)
    except RowValidationError as invalid:
        return (
            f":red[Nothing was imported: {upload.name} has values that do not fit the model: "
            f"{describe_problems(invalid)}.]"
        )
    except ValueError as error:
        return f":red[{error}]"
    if kind == "runs":
        for run in runs:
            run["model_name"] = run.get("model_name") or choice.name
            run["model_version"] = run.get("model_version") or choice.version
            run["session_id"] = session_id
        try:
            count, skipped = store.add_new(key, runs)
        except HistoryUnavailable as problem:
            return f":red[Nothing was imported from {upload.name}. {history_problem_sentence(problem)}]"
        if skipped:
            already = "1 run was already here" if skipped == 1 else f"{skipped} runs were already here"
            return f"Imported {count} run(s) from {upload.name}; {already} (same inputs, answer and time), skipped."
        return f"Imported {count} run(s) from {upload.name}."
    result, error = predict_with_progress(client, rows, choice.path, choice.bucket)
    if result is None:
        return f":red[{error}]"
    runs = [
        {
            **run_fields(schema, form, row, record),
            "task_id": result.task_id,
            "elapsed_ms": result.elapsed_s * 1000,
            "model_name": choice.name,
            "model_version": choice.version,
            "source": "import",
            "session_id": session_id,
        }
        for form, row, record in zip(values, rows, result.predictions.to_dict("records"), strict=True)
    ]
    try:
        store.add_many(key, runs)
    except HistoryUnavailable as problem:
        return f":red[The {len(runs)} row(s) were predicted but not saved. {history_problem_sentence(problem)}]"
    return f"Predicted and saved {len(runs)} row(s) from {upload.name} in one task."


def _parse(data: bytes, choice: ModelChoice) -> tuple[str, list[dict[str, Any]], bool]:
    """Runs or rows, and whether the rows name the request's one-hot columns instead of the features."""
    schema = choice.schema
    names = [f.name for f in schema.features]
    try:
        return (*parse_runs_csv(data, names), False)
    except ValueError:
        if schema.input_columns == names:
            raise
        kind, records = parse_runs_csv(data, schema.input_columns)
        return kind, records, kind == "rows"
