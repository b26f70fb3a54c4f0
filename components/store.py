"""The run history, reached through ``st.connection("whatif_db", type="sql")``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
import streamlit as st

from components.connection import app_secrets
from whatif.config import home_dir
from whatif.history import HistoryUnavailable, RunStore, reporting_unavailable

HISTORY_PROBLEM_KEY = "whatif_history_problem"
WHERE_TO_FIX = (
    "check `[connections.whatif_db]` in .streamlit/secrets.toml or set WHATIF_HOME to a writable "
    "folder, then reload the page (runs already saved are kept)."
)


@st.cache_resource(show_spinner=False)
def _store_for(settings_json: str) -> RunStore:
    """One store per database and process (the tables and SQLite settings are set up once)."""
    return RunStore(st.connection("whatif_db", type="sql", **json.loads(settings_json)).engine)


def run_store() -> RunStore:
    """SQLite under WHATIF_HOME, unless secrets.toml has a ``[connections.whatif_db]`` database.

    Raises HistoryUnavailable when the database cannot be opened (app.py shows the sentence);
    a failure is not cached, so the next rerun tries again.
    """
    configured = app_secrets().get("connections", {}).get("whatif_db")
    if not isinstance(configured, Mapping) or not configured:
        configured = {"url": RunStore.default_url(home_dir())}
    # handed over explicitly (the same settings st.connection reads from secrets), as a hashable cache key
    settings_json = json.dumps(dict(configured), sort_keys=True, default=str)
    with reporting_unavailable(
        str(configured.get("url", "")), opening=True, shown_as="configured in [connections.whatif_db]"
    ):
        return _store_for(settings_json)


def history_problem_sentence(problem: HistoryUnavailable) -> str:
    """What the page says when the history fails: what happened, and where to fix it."""
    return f"{str(problem).rstrip('.')}; {WHERE_TO_FIX}"


def reporting(action: Callable[..., Any]) -> Callable[..., None]:
    """``action`` as a button callback: a history failure is kept for the page to show, not raised.

    (An exception in a callback would end the run with a traceback before the page is drawn.)
    """

    def callback(*args: Any, **kwargs: Any) -> None:
        try:
            action(*args, **kwargs)
        except HistoryUnavailable as problem:
            st.session_state[HISTORY_PROBLEM_KEY] = history_problem_sentence(problem)

    return callback


def show_history_problem() -> None:
    """The sentence a failed history action left, shown once."""
    sentence = st.session_state.pop(HISTORY_PROBLEM_KEY, None)
    if sentence:
        st.error(sentence, icon=":material/database:")


def history_engine() -> sa.Engine | None:
    """The run history's engine, where named documents (edit sets, suites) are kept; None when it cannot be
    opened (the page then works without saving them)."""
    try:
        return run_store().engine
    except HistoryUnavailable:
        return None
