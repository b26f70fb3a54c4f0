"""Settings: the API connection of this session, and a connection test."""

import streamlit as st

from components.connection import SESSION_PROFILE_KEY, SIDEBAR_KEY, client_for
from components.frame import app_connection
from whatif.diagnostics import check_connection
from whatif.profiles import (
    MAX_POLL_DEADLINE_S,
    MAX_TOKEN_LIFETIME_S,
    MIN_POLL_DEADLINE_S,
    MIN_TOKEN_LIFETIME_S,
    edited_profile,
    secret_source_sentence,
    short_secret_warning,
)

connection = app_connection()
profile = connection.profile

st.title("Settings")
st.caption(
    f"Active connection: **{profile.name}**. Changes here apply to this browser session only and are "
    "never written to disk."
)


def use_settings() -> None:
    """Switch this session to the profile in the form (a callback: it runs before the sidebar is drawn)."""
    state = st.session_state
    typed_secret = state.get("settings_secret", "")
    state["settings_secret"] = ""  # a typed secret does not linger in the form
    try:
        edited = edited_profile(
            profile,
            url=state["settings_url"],
            user_id=state["settings_user_id"],
            email=state["settings_email"],
            typed_secret=typed_secret,
            token_lifetime_s=float(state["settings_token_lifetime"]),
            poll_deadline_s=float(state["settings_poll_deadline"]),
        )
        client_for(edited)
    except ValueError as error:
        state["settings_problem"] = str(error)
        return
    state[SESSION_PROFILE_KEY] = edited
    state[SIDEBAR_KEY] = edited.name
    state["settings_problem"] = None


with st.form("settings_form", border=True):
    st.text_input(
        "Predict URL",
        value=profile.url,
        key="settings_url",
        help="As the platform's model info shows it: .../api/v1/proxy/pipeline/model/predict",
    )
    left, right = st.columns(2)
    left.text_input("User id", value=profile.user_id, key="settings_user_id")
    right.text_input("E-mail", value=profile.email, key="settings_email")
    st.text_input(
        "API secret",
        type="password",
        key="settings_secret",
        placeholder="Leave empty to keep the current secret (same URL, user and e-mail only)",
    )
    lock = ":material/lock:" if profile.secret else ":material/key_off:"
    st.caption(f"{lock} {secret_source_sentence(profile.secret_source)}")
    if too_short := short_secret_warning(profile.secret):
        st.warning(too_short, icon=":material/warning:")
    left, right = st.columns(2)
    left.number_input(
        "Token lifetime (s)",
        min_value=int(MIN_TOKEN_LIFETIME_S),
        max_value=int(MAX_TOKEN_LIFETIME_S),
        value=int(profile.token_lifetime_s),
        key="settings_token_lifetime",
    )
    right.number_input(
        "Poll deadline (s)",
        min_value=int(MIN_POLL_DEADLINE_S),
        max_value=int(MAX_POLL_DEADLINE_S),
        value=int(profile.poll_deadline_s),
        key="settings_poll_deadline",
    )
    st.form_submit_button(
        "Use these settings", type="primary", icon=":material/check:", on_click=use_settings, key="settings_use"
    )

if st.session_state.get("settings_problem"):
    st.error(st.session_state["settings_problem"], icon=":material/error:")

st.subheader("Test connection")
if st.button("Test connection", key="settings_test", icon=":material/network_check:"):
    for finding in check_connection(connection.client):
        icon = {True: ":material/check_circle:", False: ":material/cancel:", None: ":material/info:"}[finding.ok]
        color = {True: "green", False: "red", None: "gray"}[finding.ok]
        st.markdown(f":{color}[{icon} **{finding.check}**] {finding.message}")
