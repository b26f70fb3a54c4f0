"""Add a model: a fitted scikit-learn model saved with skops, plus its feature schema (JSON) or the training
CSV it was fitted on (the server infers the schema from it), saved as a new model or a new version.

The server loads the file with its trusted-types allow-list before writing anything, so a pickle or an
unknown type is refused with a sentence, shown here as it is.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from components.connection import Connection
from components.model_picker import saved_models
from components.save_as import SaveTarget, save_as
from components.train_model import saved_version, sentence
from whatif.client import ModelClient, SavedModel, SavedVersion
from whatif.errors import APIError
from whatif.schema import csv_columns, guess_target

MAX_MODEL_MB = 50  # the reference server's limits (a larger file is refused there with a sentence)
MAX_SCHEMA_MB = 20
OUTCOME_KEY = "saved_models_add_outcome"  # (saved version or None, refusal sentence or None, connection fingerprint)


@dataclass(frozen=True)
class AddRequest:
    """What "Add the model" sends."""

    model: bytes
    schema: bytes
    schema_filename: str
    target: str | None
    save: SaveTarget


def add_section(connection: Connection, models: Sequence[SavedModel]) -> None:
    """The whole "Add a fitted model" tab."""
    top_left, top_right = st.columns(2)
    model_file = top_left.file_uploader(
        "Fitted model (.skops)",
        type=["skops"],
        key="saved_models_add_model",
        max_upload_size=MAX_MODEL_MB,
        help="A fitted scikit-learn estimator or pipeline saved with `skops.io.dump(model, 'model.skops')`. "
        "Pickle files are refused: loading one could run any code.",
    )
    schema_file = top_right.file_uploader(
        "Its feature schema (JSON) or its training data (CSV)",
        type=["json", "csv"],
        key="saved_models_add_schema",
        max_upload_size=MAX_SCHEMA_MB,
        help="The schema JSON as the schema route answers it, or the CSV the model was trained on: the "
        "server infers ranges, defaults and categories from it.",
    )
    request, why = _request(model_file, schema_file, models)
    pressed = st.button(
        "Add the model",
        key="saved_models_add_start",
        type="primary",
        icon=":material/upload:",
        disabled=request is None,
        help=why or f"Checks the model on the server and saves it {request.save.words if request else ''}.",
    )
    if pressed and request is not None:
        _add(connection, request)
    outcome = st.session_state.get(OUTCOME_KEY)
    if outcome is not None and outcome[2] == connection.profile.fingerprint:
        added, problem = outcome[0], outcome[1]
        if problem:
            st.error(problem, icon=":material/error:")
        elif added is not None:
            saved_version(added, key="saved_models_add_open")


def _request(
    model_file: UploadedFile | None, schema_file: UploadedFile | None, models: Sequence[SavedModel]
) -> tuple[AddRequest | None, str]:
    """The request once both files and a destination are given; else (None, what is missing)."""
    if model_file is None or schema_file is None:
        st.caption(
            "Upload the model and its schema (or training CSV). The model's input columns must match the "
            "schema's features, one for one."
        )
        return None, "Upload the model file and its schema or training CSV first."
    schema_name, schema = schema_file.name, schema_file.getvalue()
    target = None
    if schema_name.lower().endswith(".csv"):
        target = _target(schema, schema_file.file_id)
        if target is None:
            return None, "The training CSV has no header line to pick the target from."
    save = save_as("saved_models_add", models, PurePath(model_file.name).stem, model_file.file_id)
    if save.problem:
        st.caption(f":material/block: {save.problem}")
        return None, save.problem
    return AddRequest(model_file.getvalue(), schema, schema_name, target, save), ""


def _target(data: bytes, file_id: str) -> str | None:
    """The training CSV's target column, guessed once per file and editable."""
    try:
        columns = csv_columns(data)
        guess, _ = guess_target(data)
    except (UnicodeDecodeError, ValueError, csv.Error):
        return None
    if not columns:
        return None
    key = f"saved_models_add_target_{file_id}"
    if st.session_state.get(key) not in columns:
        st.session_state[key] = guess if guess in columns else columns[-1]
    return str(st.selectbox("Target column of the CSV (not a model input)", columns, key=key))


def _add(connection: Connection, request: AddRequest) -> None:
    """Send the model; keep the outcome for the reruns that follow; refresh the models list on success."""
    save = request.save
    added: SavedVersion | None = None
    problem: str | None = None
    with st.spinner("Checking the model and saving it..."):
        try:
            added = connection.client.add_model(
                request.model,
                request.schema,
                request.schema_filename,
                name=save.name,
                version_of=save.version_of,
                target=request.target,
                description=save.description,
                **({"bucket": save.bucket} if save.bucket else {}),
            )
        except APIError as error:
            problem = sentence(error)
    st.session_state[OUTCOME_KEY] = (added, problem, connection.profile.fingerprint)
    if added is not None:
        saved_models.clear()
        st.rerun()  # the list below shows the new model or version


@st.cache_data(ttl=60, show_spinner=False)
def _accepts_uploads(fingerprint: str, _client: ModelClient) -> bool:
    return _client.accepts_uploads()


def uploads_offered(connection: Connection) -> bool:
    """Whether the connected API takes uploaded and trained models (our reference server does; a platform not)."""
    try:
        return _accepts_uploads(connection.profile.fingerprint, connection.client)
    except APIError:  # the list above answered, so this is rare: say nothing more, offer no forms
        return False
