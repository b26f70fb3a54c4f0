"""Which browser this is, so a shared history can tell "my runs" from a colleague's.

The id is random (it names no one) and kept in a cookie of this app's own (``whatif_session``,
30 days), so a reload, another tab or tomorrow's visit from the same browser is the same
session, while another browser, or a colleague who opens a copied link, gets an id of its own.
Nothing of it is in the URL or the share link. Streamlit reads cookies when a page connects
and cannot set them, so a first visit gets a new id and the page stores it with a line of
JavaScript; without cookies every page load is a new session.
"""

from __future__ import annotations

import re
import secrets

import streamlit as st

SESSION_COOKIE = "whatif_session"
SESSION_STATE_KEY = "whatif_session_id"
COOKIE_DAYS = 30
_VALID = re.compile(r"[0-9a-f]{16}")


def session_id() -> str:
    """This browser's id: from session state, else its cookie, else a new one (stored in the browser)."""
    known = st.session_state.get(SESSION_STATE_KEY)
    if isinstance(known, str) and _VALID.fullmatch(known):
        return known
    from_cookie = _cookie()
    chosen = from_cookie if _VALID.fullmatch(from_cookie) else secrets.token_hex(8)
    st.session_state[SESSION_STATE_KEY] = chosen
    return chosen


def remember_session_in_browser() -> None:
    """Store this page's id in the browser's cookie where the browser did not send it (a first visit)."""
    chosen = session_id()
    if _cookie() == chosen:
        return
    max_age_s = COOKIE_DAYS * 24 * 3600
    # the id is 16 hex digits made here: nothing of the user's reaches this script
    st.sidebar.html(
        f"<script>document.cookie = '{SESSION_COOKIE}={chosen}; path=/; max-age={max_age_s}; "
        "SameSite=Strict';</script>",
        unsafe_allow_javascript=True,
        width="content",
    )


def _cookie() -> str:
    """The id the browser sent when this page connected ("" when none, or in a test without a browser)."""
    try:
        return str(st.context.cookies.get(SESSION_COOKIE, ""))
    except (KeyError, RuntimeError):
        return ""
