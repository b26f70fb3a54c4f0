"""The connection to the prediction API: the embedded demo server unless one is configured."""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from whatif.client import ModelClient
from whatif.config import default_store
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.samples import DEMO_EMAIL, DEMO_USER


@dataclass(frozen=True)
class Connection:
    """Where predictions go; the secret stays inside the client."""

    label: str
    client: ModelClient
    is_demo: bool


@st.cache_resource(show_spinner="Starting the local demo API with its sample models...")
def embedded_server() -> EmbeddedServer:
    """One embedded reference server per process, with the sample models and a random secret."""
    return start_server(default_store())


def current_connection() -> Connection:
    """The configured API (WHATIF_API_URL + WHATIF_API_SECRET), else the embedded demo API."""
    if os.environ.get("WHATIF_API_URL") and os.environ.get("WHATIF_API_SECRET"):
        client = ModelClient.from_env()
        return Connection(client.endpoints.origin, client, is_demo=False)
    server = embedded_server()
    client = ModelClient(server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL)
    return Connection("Local demo API", client, is_demo=True)
