"""The connection to the prediction API: profiles, the sidebar switch, one client per session.

With nothing configured the app talks to the embedded reference server (started once per
process, sample models, random secret). Profiles from secrets or the environment, and one
edited on the Settings page, appear in the sidebar.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from whatif.client import ModelClient
from whatif.config import default_store
from whatif.profiles import Profile, default_profile_name, load_profiles
from whatif.server.embedded import EmbeddedServer, start_server

SESSION_PROFILE_KEY = "app_session_profile"
SIDEBAR_KEY = "sidebar_profile"
DEMO_HISTORY_KEY = "local-demo-api"
APP_LONG_POLL_S = 1.0  # short, so the progress panel's elapsed time moves every second


@dataclass(frozen=True)
class Connection:
    """The active API: its profile (with a real URL and secret) and a client for it."""

    profile: Profile
    client: ModelClient

    @property
    def history_key(self) -> str:
        """Which history runs belong to: stable across restarts (the demo's port is not)."""
        return DEMO_HISTORY_KEY if self.profile.is_demo else self.client.endpoints.predict_url

    @property
    def predict_url(self) -> str:
        """The predict URL, for snippets and the saved-models page."""
        return self.client.endpoints.predict_url


class DemoApiUnavailable(Exception):
    """The embedded demo API cannot start (its model store cannot be written); str() says what to do."""


@st.cache_resource(show_spinner="Starting the local demo API with its sample models...")
def embedded_server(store: str) -> EmbeddedServer:
    """One embedded reference server per process (and per store folder)."""
    try:
        return start_server(store)
    except OSError as exc:  # a folder that cannot be created or written, a full disk
        raise DemoApiUnavailable(
            f"The local demo API cannot start because its model store {store} cannot be written "
            f"({exc.strerror or exc}); set WHATIF_HOME (or WHATIF_STORE) to a writable folder and restart the app."
        ) from exc


def app_secrets() -> Mapping[str, Any]:
    """``st.secrets`` as a dict, or {} when there is no secrets file."""
    try:
        return st.secrets.to_dict()
    except Exception:  # no secrets.toml: Streamlit raises on first access
        return {}


def all_profiles() -> list[Profile]:
    """Configured profiles, the one from the Settings page, and the demo API."""
    profiles = load_profiles(app_secrets(), os.environ)
    edited = st.session_state.get(SESSION_PROFILE_KEY)
    if isinstance(edited, Profile):
        profiles.insert(0, edited)
    return profiles


def resolve(profile: Profile) -> Profile:
    """The demo profile gets the embedded server's URL and secret (starting it if needed)."""
    if not profile.is_demo or profile.url:
        return profile
    server = embedded_server(str(default_store()))
    return profile.with_changes(url=server.predict_url, secret=server.secret)


def client_for(profile: Profile) -> ModelClient:
    """This session's client for ``profile``: kept while the profile is unchanged (pooled connections),
    replaced and closed when it changes. Raises ValueError when the profile cannot make a client."""
    current: tuple[str, ModelClient] | None = st.session_state.get("app_client")
    if current is not None and current[0] == profile.fingerprint:
        return current[1]
    client = ModelClient(
        profile.url, secret=profile.secret, user_id=profile.user_id, email=profile.email,
        token_lifetime_s=profile.token_lifetime_s, poll_deadline_s=profile.poll_deadline_s,
        long_poll_s=APP_LONG_POLL_S,
    )
    if current is not None:
        current[1].close()
    st.session_state["app_client"] = (profile.fingerprint, client)
    return client


def connection_sidebar() -> Connection:
    """The sidebar's API switch; returns the active connection (the demo API if the chosen one is unusable)."""
    profiles = all_profiles()
    names = [p.name for p in profiles]
    if st.session_state.get(SIDEBAR_KEY) not in names:
        st.session_state[SIDEBAR_KEY] = default_profile_name(profiles, app_secrets())
    with st.sidebar:
        chosen = st.selectbox("API", names, key=SIDEBAR_KEY, help="Profiles come from .streamlit/secrets.toml, "
                              "WHATIF_API_URL, and the Settings page.")
        profile = resolve(profiles[names.index(chosen)])
        try:
            client = client_for(profile)
        except ValueError as unusable:  # no secret, a URL without http://...: say so, and keep the app usable
            st.error(f"{chosen} cannot be used: {unusable} Using the local demo API meanwhile.",
                     icon=":material/key_off:")
            profile = resolve(next(p for p in profiles if p.is_demo))
            client = client_for(profile)
        if profile.is_demo:
            st.caption(":material/dns: Local demo API: the embedded reference server with sample models.")
        else:
            st.caption(f":material/cloud: {client.endpoints.origin} as user {profile.user_id}")
    return Connection(profile, client)
