"""Choosing the model: from the saved-models list, or a typed path + bucket with a schema source."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from typing import Any

import streamlit as st

from components.connection import Connection
from whatif.client import ModelClient, SavedModel
from whatif.errors import APIError, ExtensionUnavailable
from whatif.schema import FeatureSchema, SchemaError, csv_columns, guess_target

OPEN_REQUEST_KEY = "whatif_open_model"  # (path, bucket) set by the Saved models page or a share link
KEPT_KEYS = ("whatif_model", "whatif_model_by_hand", "whatif_path", "whatif_bucket", "whatif_schema_source")
SCHEMA_SOURCES = (
    "From the server",
    "Upload a datrics-json model file",
    "Upload a CSV of training data",
    "Paste an example request body",
)
NO_TARGET = "(none: every column is an input)"
REFILL_FORM_KEY = "whatif_form_refill"  # set when a schema brings values of its own (a pasted example)


@dataclass(frozen=True)
class ModelChoice:
    """The chosen model version and its feature schema."""

    path: str
    bucket: str
    name: str
    version: int | None
    schema: FeatureSchema
    schema_key: str = ""  # "" for the saved model's schema, else the fingerprint of the one entered by hand

    @property
    def key(self) -> str:
        """A short stable id for widget keys."""
        return hashlib.sha1(f"{self.bucket}/{self.path}".encode()).hexdigest()[:8]

    @property
    def title(self) -> str:
        """Name and version as the analyst reads it."""
        return f"{self.name} · v{self.version}" if self.version is not None else self.name


@st.cache_data(ttl=60, show_spinner=False)
def saved_models(fingerprint: str, _client: ModelClient) -> list[SavedModel]:
    """The saved-models list of one connection, cached a minute."""
    return _client.list_models()


@st.cache_data(ttl=300, show_spinner=False)
def server_schema(fingerprint: str, path: str, bucket: str, _client: ModelClient) -> dict[str, Any]:
    """A model's schema from the server route, cached five minutes."""
    return _client.schema(path, bucket).to_dict()


def list_models_or_none(connection: Connection) -> tuple[list[SavedModel] | None, str | None, bool]:
    """(models, None, False); or (None, why, True) when the API lacks the list; or (None, why, False) on an error."""
    try:
        return saved_models(connection.profile.fingerprint, connection.client), None, False
    except ExtensionUnavailable as missing:
        return None, str(missing), True
    except APIError as error:
        return None, str(error), False


def keep_widget_state() -> None:
    """Streamlit forgets a widget's value while its page is not shown: keep a copy, put it back."""
    for key in KEPT_KEYS:
        shadow = f"whatif_kept_{key}"
        if key in st.session_state:
            st.session_state[shadow] = st.session_state[key]
        elif shadow in st.session_state:
            st.session_state[key] = st.session_state[shadow]


def choose_model(connection: Connection) -> ModelChoice | None:
    """The model picker; None until a model and its schema are known."""
    keep_widget_state()
    choice = _choose(connection)
    keep_widget_state()
    return choice


def _choose(connection: Connection) -> ModelChoice | None:
    models, problem, missing_extension = list_models_or_none(connection)
    requested = st.session_state.get(OPEN_REQUEST_KEY)
    if models:
        options = [(m, v) for m in models for v in reversed(m.versions)]
        known = {(v.path, v.bucket) for _, v in options}
        if requested:
            st.session_state["whatif_model_by_hand"] = tuple(requested) not in known
        by_hand = st.toggle("Enter path and bucket by hand", key="whatif_model_by_hand")
        if not by_hand:
            return _pick_from_list(connection, options, requested)
    elif problem and missing_extension:
        st.caption(problem)
    elif problem:  # wrong secret, unreachable API...: typing a path by hand would fail the same way
        st.error(problem, icon=":material/error:")
        st.caption(
            "This happened while loading the saved-models list. Check the connection in the sidebar or on "
            "the Settings page."
        )
        return None
    return _pick_by_hand(connection, requested)


def _pick_from_list(connection: Connection, options: list, requested: Any) -> ModelChoice | None:
    labels = [
        f"{m.name} · v{v.version}" + (" (latest)" if v is m.latest and len(m.versions) > 1 else "") for m, v in options
    ]
    if requested:
        match = [i for i, (_, v) in enumerate(options) if (v.path, v.bucket) == tuple(requested)]
        if match:
            st.session_state["whatif_model"] = labels[match[0]]
        st.session_state.pop(OPEN_REQUEST_KEY, None)
    if st.session_state.get("whatif_model") not in labels:
        st.session_state["whatif_model"] = labels[0]
    label = st.selectbox("Model", labels, key="whatif_model")
    model, version = options[labels.index(label)]
    schema = _schema_from_server(connection, version.path, version.bucket)
    if schema is None:
        return None
    return ModelChoice(version.path, version.bucket, model.name, version.version, schema)


def _schema_from_server(connection: Connection, path: str, bucket: str) -> FeatureSchema | None:
    try:
        return FeatureSchema.from_dict(server_schema(connection.profile.fingerprint, path, bucket, connection.client))
    except ExtensionUnavailable as missing:
        st.warning(f"{missing}", icon=":material/info:")
    except (APIError, SchemaError) as error:
        st.error(str(error), icon=":material/error:")
    return None


def _pick_by_hand(connection: Connection, requested: Any) -> ModelChoice | None:
    if requested:
        st.session_state["whatif_path"], st.session_state["whatif_bucket"] = requested
        st.session_state.pop(OPEN_REQUEST_KEY, None)
    left, right = st.columns([3, 2])
    path = left.text_input("Model path", key="whatif_path", placeholder="1/4/model-groups/1/1.json").strip()
    bucket = right.text_input("Bucket", key="whatif_bucket", placeholder="storage.datrics.ai").strip()
    source = st.radio("Feature schema", SCHEMA_SOURCES, key="whatif_schema_source", horizontal=True)
    saved = _saved_schema(connection, path, bucket) if path and bucket and source != SCHEMA_SOURCES[0] else None
    schema = _schema_from_source(connection, source, path, bucket, saved)
    if not (path and bucket):
        st.info("Enter the model's path and bucket, as the platform's model info shows them.", icon=":material/edit:")
        return None
    if schema is None:
        return None
    schema_key = "" if source == SCHEMA_SOURCES[0] else _history_of(schema, saved)
    if schema_key:
        st.caption(
            ":material/call_split: This schema differs from the saved model's, so its runs are kept in a "
            "history of their own (runs are only compared under one schema)."
        )
    return ModelChoice(path, bucket, schema.name or path, schema.version, schema, schema_key)


@st.cache_data(ttl=300, show_spinner=False)
def _saved_schema_or_none(fingerprint: str, path: str, bucket: str, _client: ModelClient) -> dict[str, Any] | None:
    """The server's schema of a typed path, or None where it cannot say (cached too: no call per rerun)."""
    try:
        return _client.schema(path, bucket).to_dict()
    except APIError:
        return None


def _saved_schema(connection: Connection, path: str, bucket: str) -> FeatureSchema | None:
    """The saved model's own schema, quietly: None where the server has none (or no schema route)."""
    saved = _saved_schema_or_none(connection.profile.fingerprint, path, bucket, connection.client)
    try:
        return FeatureSchema.from_dict(saved) if saved is not None else None
    except SchemaError:
        return None


def _history_of(schema: FeatureSchema, saved: FeatureSchema | None) -> str:
    """The model's own history ("") unless the server's saved schema compares runs differently: then the
    fingerprint. Where the server has no schema to differ from, a hand-entered schema is the model's own."""
    return schema.fingerprint() if saved is not None and saved.fingerprint() != schema.fingerprint() else ""


def _schema_from_source(
    connection: Connection, source: str, path: str, bucket: str, saved: FeatureSchema | None
) -> FeatureSchema | None:
    try:
        if source == SCHEMA_SOURCES[0]:
            return _schema_from_server(connection, path, bucket) if path and bucket else None
        if source == SCHEMA_SOURCES[3]:
            text = st.text_area(
                "Example request body (a JSON list of rows)",
                key="whatif_schema_paste",
                placeholder='[{"order_amount": 700, "employment_status_Employed": 0}]',
            )
            if text.strip() and text != st.session_state.get("whatif_schema_paste_used"):
                st.session_state["whatif_schema_paste_used"] = text
                st.session_state[REFILL_FORM_KEY] = True  # the example's values are what the form shows
            return FeatureSchema.from_json(text) if text.strip() else None
        kind = "json" if source == SCHEMA_SOURCES[1] else "csv"
        upload = st.file_uploader(source, type=[kind], key=f"whatif_schema_upload_{kind}")
        if upload is None:
            return None
        if kind == "json":
            return FeatureSchema.from_json(upload.getvalue())
        target = _target_column(upload.getvalue(), upload.file_id, saved.target if saved else "")
        return FeatureSchema.from_csv(upload.getvalue(), target=target)
    except SchemaError as error:
        st.error(f"The schema could not be read: {error}.", icon=":material/error:")
        return None


def _target_column(data: bytes, file_id: str, model_target: str) -> str | None:
    """The training CSV's target column: guessed once per file and said so, the choice editable."""
    try:
        columns = csv_columns(data)
        guess, why = guess_target(data, model_target)
    except (UnicodeDecodeError, ValueError, csv.Error):
        return None  # from_csv says what is wrong with the file
    key, guessed_for = "whatif_schema_target", "whatif_schema_target_file"
    if st.session_state.get(guessed_for) != file_id or st.session_state.get(key) not in [NO_TARGET, *columns]:
        st.session_state[key] = guess or NO_TARGET
        st.session_state[guessed_for] = file_id
    target = st.selectbox("Target column (left out of the inputs)", [NO_TARGET, *columns], key=key)
    if guess and target == guess:
        st.caption(f"`{guess}` was taken as the target: {why}. Choose another column if that is wrong.")
    return None if target == NO_TARGET else target
