"""Which browser session this is, so a shared history can tell "my runs" from a colleague's.

The id is random (it names no one) and rides in the page's URL (``?session=...``), so a reload
of the tab keeps it; the share link leaves it out. A URL copied from the address bar into
another browser while the first is still open gets a new id: two open pages never share one.
"""

from __future__ import annotations

import re
import secrets
import threading

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

SESSION_PARAM = "session"
SESSION_STATE_KEY = "whatif_session_id"
_VALID = re.compile(r"[0-9a-f]{16}")

_owners: dict[str, str] = {}  # session id -> the Streamlit session that holds it, in this process
_owners_lock = threading.Lock()


def session_id() -> str:
    """This browser session's id: kept in session state, taken from the URL after a reload."""
    known = st.session_state.get(SESSION_STATE_KEY)
    if isinstance(known, str):
        return known
    from_url = st.query_params.get(SESSION_PARAM, "")
    chosen = from_url if _VALID.fullmatch(from_url) and _claim(from_url) else _new_id()
    st.session_state[SESSION_STATE_KEY] = chosen
    return chosen


def _new_id() -> str:
    while True:
        candidate = secrets.token_hex(8)
        if _claim(candidate):
            return candidate


def _claim(candidate: str) -> bool:
    """Take ``candidate`` for this Streamlit session unless another open page holds it."""
    ctx = get_script_run_ctx()
    me = ctx.session_id if ctx is not None else ""
    with _owners_lock:
        owner = _owners.get(candidate)
        if owner and owner != me and _is_open(owner):
            return False
        _owners[candidate] = me
    return True


def _is_open(streamlit_session: str) -> bool:
    """Whether a Streamlit session still has a browser connected (a reloaded tab's old one has not)."""
    if not Runtime.exists():  # AppTest, without a server: a test that hands the URL over means a reload
        return False
    return bool(Runtime.instance().is_active_session(streamlit_session))
