"""Start from a real row: fill the form with a row of the model's held-out data, as the What-If Tool does."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.connection import Connection
from components.model_picker import ModelChoice
from components.schema_form import current_values, set_values
from whatif.client import ModelClient, SampleRows
from whatif.errors import APIError
from whatif.schema import RowValidationError

ROWS_ASKED = 20  # a handful to step through; the button takes the next one each time


@st.cache_data(ttl=300, show_spinner=False)
def _sample_rows(fingerprint: str, path: str, bucket: str, _client: ModelClient) -> SampleRows:
    """A model's held-out rows from the server, cached five minutes per connection."""
    return _client.sample_rows(path, bucket, n=ROWS_ASKED)


def _note_key(choice: ModelChoice) -> str:
    return f"whatif_real_row_note_{choice.key}"


def real_row_button(connection: Connection, choice: ModelChoice) -> None:
    """The button: each press fills the form with the next real row."""
    st.button(
        "Real row",
        key="whatif_real_row",
        icon=":material/person_search:",
        width="stretch",
        on_click=_start_from_next_real_row,
        args=(connection, choice),
        help="Fill the form with a real row of the model's held-out data (rows it did not train on); "
        "press again for the next one.",
    )


def real_row_note(choice: ModelChoice, values: dict[str, Any]) -> None:
    """Which real row the form holds and its true answer (while the form still holds it); or why there is none."""
    note: tuple[str, str, dict[str, Any]] | None = st.session_state.get(_note_key(choice))
    if note is None:
        return
    kind, text, filled = note
    if kind != "row":
        st.session_state.pop(_note_key(choice))  # said once
        st.warning(text, icon=":material/info:")
    elif filled == values:
        st.caption(f":material/person_search: {text}")


def _start_from_next_real_row(connection: Connection, choice: ModelChoice) -> None:
    state = st.session_state
    try:
        sample = _sample_rows(connection.profile.fingerprint, choice.path, choice.bucket, connection.client)
    except APIError as error:  # ExtensionUnavailable too: a server without sample rows says so
        _problem(choice, str(error))
        return
    if not sample.rows:
        _problem(choice, "The server has no real rows of this model; start from its defaults.")
        return
    index_key = f"whatif_real_row_index_{choice.key}"
    index = (state.get(index_key, -1) + 1) % len(sample.rows)
    state[index_key] = index
    try:
        values = choice.schema.from_row(sample.rows[index])
    except RowValidationError as invalid:
        _problem(choice, f"The server's real row does not fit this schema: {invalid}.")
        return
    set_values(choice, values)
    state[_note_key(choice)] = ("row", _describe(choice, sample, index), current_values(choice).copy())


def _problem(choice: ModelChoice, sentence: str) -> None:
    st.session_state[_note_key(choice)] = ("problem", sentence, {})


def _describe(choice: ModelChoice, sample: SampleRows, index: int) -> str:
    """ "Real row 3 of 20 of the held-out data; its true survived is died." """
    where = f"Real row {index + 1} of {len(sample.rows)} of the model's held-out data"
    truth: Any = sample.targets[index] if index < len(sample.targets) else None
    if truth is None:
        return f"{where}. Press **Predict** to see what the model says."
    if choice.schema.task == "regression" and isinstance(truth, int | float):
        shown = f"{truth:,.4g}"
    else:
        shown = choice.schema.class_label(truth)
    target = sample.target or choice.schema.target or "value"
    return f"{where}; its true {target} is **{shown}**. Press **Predict** to compare."
