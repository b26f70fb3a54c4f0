"""The connection to the prediction API: profiles, the sidebar switch, one client per session.

With nothing configured the app talks to the embedded reference server (started once per
process, sample models, random secret). Profiles from secrets or the environment, and one
edited on the Settings page, appear in the sidebar.

The embedded server comes up in a background thread while the page shows its frame, the
sidebar and a "Preparing the demo models..." status. Heavy modules (pandas, requests, FastAPI,
scikit-learn) are imported when first needed, not when this module is, so that status shows
about as soon as a bare Streamlit page would.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import streamlit as st

from whatif.config import default_store
from whatif.profiles import Profile, default_profile_name, load_profiles

if TYPE_CHECKING:
    from whatif.client import ModelClient
    from whatif.server.embedded import EmbeddedServer

SESSION_PROFILE_KEY = "app_session_profile"
SIDEBAR_KEY = "sidebar_profile"
DEMO_HISTORY_KEY = "local-demo-api"
APP_LONG_POLL_S = 1.0  # short, so the progress panel's elapsed time moves every second
PREPARING_DEMO = "Preparing the demo models..."
DEMO_STORE_KEY = "app_demo_store"  # the demo API's store, when this run used it (for the warm-up)
WARM_UP_DELAY_S = 3.0  # after the first page's run: the browser loads and draws it meanwhile (0.5-1.5 s here)
STATUS_TICK_S = 1.0  # how often the status's elapsed time moves (and a click in the sidebar is noticed)


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


def start_server(store: str, **options: Any) -> EmbeddedServer:
    """``whatif.server.embedded.start_server``, imported on first use (FastAPI and pandas: ~0.7 s)."""
    from whatif.server.embedded import start_server as start

    return start(store, **options)


class DemoLaunch:
    """The embedded demo API coming up in a background thread; ``server()`` waits for it."""

    def __init__(self, store: str, start: Callable[[str], EmbeddedServer]) -> None:
        self.store = store
        self._done = threading.Event()
        self._server: EmbeddedServer | None = None
        self._problem: Exception | None = None
        self._thread = threading.Thread(target=self._run, args=(start,), name="whatif-demo-start", daemon=True)
        self._thread.start()

    def _run(self, start: Callable[[str], EmbeddedServer]) -> None:
        try:
            self._server = start(self.store)
        except Exception as exc:  # handed to whoever waits, in the script thread
            self._problem = exc
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        """True once the server answers or its start failed."""
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait at most ``timeout_s`` (None: until done); True when done."""
        return self._done.wait(timeout_s)

    def server(self) -> EmbeddedServer:
        """The running server (waiting for it); raises what made its start fail."""
        self._done.wait()
        if self._problem is not None:
            raise self._problem
        if self._server is None:
            raise RuntimeError("The local demo API's start thread ended without a server; see the log above.")
        return self._server


@st.cache_resource(show_spinner=False)
def demo_launch(store: str) -> DemoLaunch:
    """One embedded reference server per process (and per store folder), started in the background.

    Its models are warmed up after the first page (``warm_up_demo_models``), not during it.
    """
    return DemoLaunch(store, lambda folder: start_server(folder, warm_up=False))


def wait_with_status(
    launch: DemoLaunch, *, tick_s: float = STATUS_TICK_S, clock: Callable[[], float] = time.monotonic
) -> None:
    """Show "Preparing the demo models..." with the seconds waited until ``launch`` is done, then remove it."""
    if launch.ready:
        return
    started = clock()
    slot = st.empty()
    status = slot.status(PREPARING_DEMO, expanded=True)
    status.caption(
        "The local demo API is starting. At the very first start it trains the sample models and "
        f"saves them in {launch.store}; later starts only load them."
    )
    while not launch.wait(tick_s):
        # each update also lets Streamlit notice a click meanwhile (a rerun ends this wait, not the launch)
        status.update(label=f"{PREPARING_DEMO} {clock() - started:.0f} s", expanded=True)
    slot.empty()


def embedded_server(store: str) -> EmbeddedServer:
    """The embedded demo API for ``store``, waiting for it with a visible status; DemoApiUnavailable
    (one sentence) when its model store cannot be written. A failed start is not kept: the next run tries again."""
    launch = demo_launch(store)
    wait_with_status(launch)
    try:
        server = launch.server()
    except OSError as exc:  # a folder that cannot be created or written, a full disk
        demo_launch.clear(store)
        raise DemoApiUnavailable(
            f"The local demo API cannot start because its model store {store} cannot be written "
            f"({exc.strerror or exc}); set WHATIF_HOME (or WHATIF_STORE) to a writable folder and restart the app."
        ) from exc
    except Exception:
        demo_launch.clear(store)
        raise
    st.session_state[DEMO_STORE_KEY] = store
    return server


def warm_up_demo_models(delay_s: float = WARM_UP_DELAY_S) -> None:
    """Load the demo API's models in the background, ``delay_s`` after a page was drawn (once per server).

    Not during the page, nor right after it: loading imports scikit-learn and skops (1.5-3 s of CPU
    holding the GIL), and Streamlit, in this same process, is still sending the page and the
    scripts the browser needs to draw it. Does nothing unless this run used the demo API; never waits.
    """
    store = st.session_state.pop(DEMO_STORE_KEY, None)
    if isinstance(store, str) and (launch := demo_launch(store)).ready:
        launch.server().warm_up(delay_s)


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
    from whatif.client import ModelClient  # pandas, numpy, requests: imported once the frame is drawn

    current: tuple[str, ModelClient] | None = st.session_state.get("app_client")
    if current is not None and current[0] == profile.fingerprint:
        return current[1]
    client = ModelClient(
        profile.url,
        secret=profile.secret,
        user_id=profile.user_id,
        email=profile.email,
        token_lifetime_s=profile.token_lifetime_s,
        poll_deadline_s=profile.poll_deadline_s,
        long_poll_s=APP_LONG_POLL_S,
    )
    if current is not None:
        current[1].close()
    st.session_state["app_client"] = (profile.fingerprint, client)
    return client


# session state of results that belong to the API they came from (keyed by model path, which another
# API may have too): an analysis, a scored file, a bulk what-if, a suite's report, a counterfactual
API_RESULT_PREFIXES = ("whatif_explore_", "batch_job_", "whatif_bulk_result_", "checks_report_", "checks_run_error_")
API_KEY = "app_results_api"


def forget_results_of_another_api(profile: Profile) -> None:
    """When the sidebar switches to another API (or user), drop the results made through the one before,
    so a model with the same path there never shows them as its own."""
    api = f"{profile.name}|{profile.url}|{profile.user_id}"
    before = st.session_state.get(API_KEY)
    st.session_state[API_KEY] = api
    if before is None or before == api:
        return
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(API_RESULT_PREFIXES)]:
        del st.session_state[key]


def connection_sidebar() -> Connection:
    """The sidebar's API switch; returns the active connection (the demo API if the chosen one is unusable).

    The switch is drawn before the connection is resolved, so the sidebar shows while the demo API
    starts (its status is drawn in the main area, where the page will be).
    """
    profiles = all_profiles()
    names = [p.name for p in profiles]
    if st.session_state.get(SIDEBAR_KEY) not in names:
        st.session_state[SIDEBAR_KEY] = default_profile_name(profiles, app_secrets())
    with st.sidebar:
        chosen = st.selectbox(
            "API",
            names,
            key=SIDEBAR_KEY,
            help="Profiles come from .streamlit/secrets.toml, WHATIF_API_URL, and the Settings page.",
        )
        notes = st.container()  # filled below, once the connection is known
    profile = resolve(profiles[names.index(chosen)])
    try:
        client = client_for(profile)
    except ValueError as unusable:  # no secret, a URL without http://...: say so, and keep the app usable
        notes.error(
            f"{chosen} cannot be used: {unusable} Using the local demo API meanwhile.", icon=":material/key_off:"
        )
        profile = resolve(next(p for p in profiles if p.is_demo))
        client = client_for(profile)
    forget_results_of_another_api(profile)
    if profile.is_demo:
        notes.caption(":material/dns: Local demo API: the embedded reference server with sample models.")
    else:
        notes.caption(f":material/cloud: {client.endpoints.origin} as user {profile.user_id}")
    return Connection(profile, client)
