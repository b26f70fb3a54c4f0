"""The run history, reached through ``st.connection("whatif_db", type="sql")``."""

from __future__ import annotations

import json
from collections.abc import Mapping

import streamlit as st

from components.connection import app_secrets
from whatif.config import home_dir
from whatif.history import RunStore


@st.cache_resource(show_spinner=False)
def _store_for(settings_json: str) -> RunStore:
    """One store per database and process (the tables and SQLite settings are set up once)."""
    return RunStore(st.connection("whatif_db", type="sql", **json.loads(settings_json)).engine)


def run_store() -> RunStore:
    """SQLite under WHATIF_HOME, unless secrets.toml has a ``[connections.whatif_db]`` database."""
    configured = app_secrets().get("connections", {}).get("whatif_db")
    if not isinstance(configured, Mapping) or not configured:
        configured = {"url": RunStore.default_url(home_dir())}
    # handed over explicitly (the same settings st.connection reads from secrets), as a hashable cache key
    return _store_for(json.dumps(dict(configured), sort_keys=True, default=str))
