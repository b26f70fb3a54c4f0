"""What every page needs from the front door (app.py): explicit navigation and the connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from components.connection import Connection, DemoApiUnavailable, connection_sidebar

CONNECTION_KEY = "app_connection"


def use_explicit_navigation() -> None:
    """Leave Streamlit's old ``pages/`` auto-discovery at once.

    A process treats an app that has a ``pages/`` folder as an old-style multipage app until
    ``st.navigation`` first runs; the first visitor would then get auto-discovered pages, and a
    deep link would run a page without the front door. Switching the flag and rerunning makes
    every run go through app.py. (PagesManager is internal; Streamlit 1.67 behaves this way.)
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def app_connection() -> Connection:
    """The connection app.py resolved for this run (rerunning through app.py if a page ran alone)."""
    if CONNECTION_KEY not in st.session_state:
        use_explicit_navigation()
        st.session_state[CONNECTION_KEY] = connection_sidebar()
    connection: Connection = st.session_state[CONNECTION_KEY]
    return connection


@contextmanager
def setup_problems_in_one_sentence() -> Iterator[None]:
    """Show the setup problems raised inside as one sentence each, not a traceback: the demo API
    that cannot start (its model store cannot be written) and the run history that cannot be opened.

    The history's modules (pandas, SQLAlchemy: ~0.5 s) are imported only when something was raised,
    so the front door draws the frame without waiting for them.
    """
    try:
        yield
    except DemoApiUnavailable as problem:
        st.error(str(problem), icon=":material/dns:")
    except Exception as problem:
        from components.store import history_problem_sentence
        from whatif.history import HistoryUnavailable

        if not isinstance(problem, HistoryUnavailable):
            raise
        st.error(history_problem_sentence(problem), icon=":material/database:")
