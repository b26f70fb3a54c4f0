"""Running one prediction task with a live status panel: task id, state, elapsed time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from components.model_picker import ModelChoice
from components.store import history_problem_sentence
from whatif.client import ModelClient, PredictionResult, TaskStatus
from whatif.errors import APIError
from whatif.history import HistoryKey, HistoryUnavailable, Run, RunStore
from whatif.runs import run_fields
from whatif.schema import RowValidationError


def predict_with_progress(
    client: ModelClient, rows: Sequence[Mapping[str, Any]], path: str, bucket: str
) -> tuple[PredictionResult | None, str | None]:
    """Submit ``rows`` as one task and wait, showing progress. Returns (result, None) or (None, sentence)."""
    with st.status("Submitting the task...", expanded=True) as panel:
        line = st.empty()
        try:
            task_id = client.submit(rows, path, bucket)
            line.markdown(f"Task `{task_id}` · **STARTED** · 0.0 s")

            def show(status: TaskStatus, elapsed_s: float) -> None:
                line.markdown(f"Task `{task_id}` · **{status.state}** · {elapsed_s:.1f} s")
                if not status.ready:
                    panel.update(label=f"Waiting for the model... {elapsed_s:.0f} s")

            result = client.wait(task_id, on_status=show)
        except RowValidationError as invalid:
            panel.update(label="Some values are not valid", state="error")
            return None, f"Some values are not valid: {invalid}."
        except APIError as error:
            panel.update(label="The prediction failed", state="error")
            return None, str(error)
        if len(result.predictions) != len(rows):
            panel.update(label="The answer does not fit the request", state="error")
            return None, (
                f"The server returned {len(result.predictions)} prediction(s) for {len(rows)} row(s) "
                f"in task {task_id}; it may not be a compatible API, so nothing was saved."
            )
        panel.update(
            label=f"Predicted in {result.elapsed_s * 1000:.0f} ms ({result.polls} poll"
            f"{'s' if result.polls != 1 else ''})",
            state="complete",
            expanded=False,
        )
        return result, None


def predict_and_record(
    client: ModelClient,
    store: RunStore,
    key: HistoryKey,
    choice: ModelChoice,
    values: Mapping[str, Any],
    row: Mapping[str, Any],
    session_id: str,
) -> tuple[Run | None, str | None]:
    """Predict the form's row with progress and store the run as this session's: (run, None) or (None, sentence)."""
    result, error = predict_with_progress(client, [row], choice.path, choice.bucket)
    if result is None:
        return None, error
    fields = run_fields(choice.schema, values, row, result.predictions.to_dict("records")[0])
    try:
        run = store.add(
            key,
            **fields,
            task_id=result.task_id,
            elapsed_ms=result.elapsed_s * 1000,
            model_name=choice.name,
            model_version=choice.version,
            session_id=session_id,
        )
    except HistoryUnavailable as problem:
        unsaved = f"The model predicted {fields['label']} but the run was not saved"
        sentence = history_problem_sentence(problem)
        return None, f"{unsaved}: {sentence[0].lower()}{sentence[1:]}"
    return run, None
