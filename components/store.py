"""The run history, reached through ``st.connection("whatif_db", type="sql")``."""

from __future__ import annotations

import streamlit as st

from components.connection import app_secrets
from whatif.config import home_dir
from whatif.history import RunStore


@st.cache_resource(show_spinner=False)
def _store_for(url_hint: str) -> RunStore:
    configured = app_secrets().get("connections", {}).get("whatif_db", {})
    if configured:
        connection = st.connection("whatif_db", type="sql")
    else:
        connection = st.connection("whatif_db", type="sql", url=url_hint)
    return RunStore(connection.engine)


def run_store() -> RunStore:
    """The store of this process: SQLite under WHATIF_HOME unless secrets name another database."""
    return _store_for(RunStore.default_url(home_dir()))
