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
from whatif.profiles import DEMO_PROFILE, Profile, default_profile_name, load_profiles
from whatif.server.embedded import EmbeddedServer, start_server

SESSION_PROFILE_KEY = "app_session_profile"
CUSTOM_PROFILE = "Custom (this session)"
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


@st.cache_resource(show_spinner="Starting the local demo API with its sample models...")
def embedded_server(store: str) -> EmbeddedServer:
    """One embedded reference server per process (and per store folder)."""
    return start_server(store)


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
    """One client per profile setting and session, so connections are pooled."""
    clients: dict[str, ModelClient] = st.session_state.setdefault("app_clients", {})
    if profile.fingerprint not in clients:
        clients[profile.fingerprint] = ModelClient(
            profile.url, secret=profile.secret, user_id=profile.user_id, email=profile.email,
            token_lifetime_s=profile.token_lifetime_s, poll_deadline_s=profile.poll_deadline_s,
            long_poll_s=APP_LONG_POLL_S,
        )
    return clients[profile.fingerprint]


def connection_sidebar() -> Connection:
    """The sidebar's API switch; returns the active connection."""
    profiles = all_profiles()
    names = [p.name for p in profiles]
    if st.session_state.get(SIDEBAR_KEY) not in names:
        st.session_state[SIDEBAR_KEY] = default_profile_name(profiles, app_secrets())
    with st.sidebar:
        chosen = st.selectbox("API", names, key=SIDEBAR_KEY, help="Profiles come from .streamlit/secrets.toml, "
                              "WHATIF_API_URL, and the Settings page.")
        profile = resolve(profiles[names.index(chosen)])
        if profile.is_demo:
            st.caption(":material/dns: Local demo API: the embedded reference server with sample models.")
        else:
            st.caption(f":material/cloud: {profile.url.split('/api/')[0]} as user {profile.user_id}")
        if not profile.secret:
            st.warning("This profile has no API secret; add one on the Settings page.", icon=":material/key_off:")
    return Connection(profile, client_for(profile))


def demo_profile_selected() -> bool:
    """True when the sidebar points at the demo API."""
    return st.session_state.get(SIDEBAR_KEY) == DEMO_PROFILE
