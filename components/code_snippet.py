"""'Show code': the current form's request as Python and curl, with the secret as a placeholder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from components.connection import Connection
from components.model_picker import ModelChoice
from whatif.snippets import client_snippet, curl_snippet, python_snippet


def code_snippet(connection: Connection, choice: ModelChoice, row: Mapping[str, Any]) -> None:
    """Tabs with the exact request of the form; the secret is never in them."""
    profile = connection.profile
    args = (connection.predict_url, choice.path, choice.bucket, [dict(row)], profile.user_id, profile.email)
    python_tab, client_tab, curl_tab = st.tabs(["Python (requests)", "Python (whatif client)", "curl"])
    python_tab.code(python_snippet(*args), language="python")
    client_tab.code(client_snippet(*args), language="python")
    curl_tab.code(curl_snippet(*args), language="bash")
    st.caption(
        "Replace `<API_SECRET>` with the API secret (the client snippet reads it from `WHATIF_API_SECRET`); "
        "keep it out of code and logs. Each snippet runs as pasted once the secret is set."
    )
