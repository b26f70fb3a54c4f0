"""Settings: the API connection of this session, and a connection test."""

import streamlit as st

from components.connection import SESSION_PROFILE_KEY, SIDEBAR_KEY, client_for
from components.frame import app_connection
from whatif.diagnostics import check_connection

connection = app_connection()
profile = connection.profile

st.title("Settings")
st.caption(f"Active connection: **{profile.name}**. Changes here apply to this browser session only and are "
           "never written to disk.")

with st.form("settings_form", border=True):
    url = st.text_input("Predict URL", value=profile.url, key="settings_url",
                        help="As the platform's model info shows it: .../api/v1/proxy/pipeline/model/predict")
    left, right = st.columns(2)
    user_id = left.text_input("User id", value=profile.user_id, key="settings_user_id")
    email = right.text_input("E-mail", value=profile.email, key="settings_email")
    secret = st.text_input("API secret", type="password", key="settings_secret", value="",
                           placeholder="Leave empty to keep the current secret")
    if profile.secret_source == "generated":
        st.caption(":material/lock: The demo API's secret is generated at start and never shown.")
    elif profile.secret_source:
        source = "the environment" if profile.secret_source == "environment" else profile.secret_source
        st.caption(f":material/lock: The current secret comes from {source} and is never shown.")
    left, right = st.columns(2)
    lifetime = left.number_input("Token lifetime (s)", min_value=10, max_value=86400,
                                 value=int(profile.token_lifetime_s), key="settings_token_lifetime")
    deadline = right.number_input("Poll deadline (s)", min_value=1, max_value=3600,
                                  value=int(profile.poll_deadline_s), key="settings_poll_deadline")
    save = st.form_submit_button("Use these settings", type="primary", icon=":material/check:")

if save:
    edited = profile.with_changes(
        name="Custom (this session)", url=url.strip(), user_id=user_id.strip(), email=email.strip(),
        secret=secret or profile.secret, secret_source="entered" if secret else profile.secret_source,
        token_lifetime_s=float(lifetime), poll_deadline_s=float(deadline), is_demo=False)
    try:
        client_for(edited)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
    else:
        st.session_state[SESSION_PROFILE_KEY] = edited
        st.session_state[SIDEBAR_KEY] = edited.name
        st.rerun()

st.subheader("Test connection")
if st.button("Test connection", key="settings_test", icon=":material/network_check:"):
    for finding in check_connection(connection.client):
        icon = {True: ":material/check_circle:", False: ":material/cancel:", None: ":material/info:"}[finding.ok]
        color = {True: "green", False: "red", None: "gray"}[finding.ok]
        st.markdown(f":{color}[{icon} **{finding.check}**] {finding.message}")
