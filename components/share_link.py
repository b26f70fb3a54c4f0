"""Shareable links: the URL query holds the model and the form values (never the secret)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from components.model_picker import OPEN_REQUEST_KEY, ModelChoice
from components.schema_form import set_values
from whatif.share import model_from_query, to_query, values_from_query

PENDING_KEY = "whatif_share_pending"
READ_KEY = "whatif_share_read"


def read_link_once() -> None:
    """On a session's first run, remember the model and values the URL carries."""
    if st.session_state.get(READ_KEY):
        return
    st.session_state[READ_KEY] = True
    query = {k: st.query_params[k] for k in st.query_params}
    model = model_from_query(query)
    if model:
        st.session_state[OPEN_REQUEST_KEY] = model
        st.session_state[PENDING_KEY] = query


def apply_link_values(choice: ModelChoice) -> None:
    """Fill the form from the link once its model is the chosen one; warn about values that don't fit."""
    query = st.session_state.get(PENDING_KEY)
    if not query or model_from_query(query) != (choice.path, choice.bucket):
        return
    st.session_state.pop(PENDING_KEY)
    values, problems = values_from_query(query, choice.schema)
    set_values(choice, values)
    if problems:
        st.warning(
            "The link has values that do not fit this model, kept at defaults: "
            + "; ".join(f"{name}: {msg}" for name, msg in problems.items()),
            icon=":material/link_off:",
        )


def sync_link(choice: ModelChoice, values: Mapping[str, Any]) -> str:
    """Put the model and values in the URL; return the full link."""
    query = to_query(choice.path, choice.bucket, values)
    if dict(st.query_params) != query:
        st.query_params.from_dict(query)
    base = (st.context.url or "").split("?")[0]
    return f"{base}?{urlencode(query)}"
