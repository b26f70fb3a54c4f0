"""Run the reference server in this process, on a free loopback port.

The app uses this as its default API (nothing configured, no network), and the tests use it
to talk to a real server over real HTTP.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from whatif.server.main import ModelWarmer, create_app
from whatif.server.routes import PREDICT_PATH
from whatif.server.settings import ServerSettings

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedServer:
    """A running in-process server; ``secret`` is kept out of ``repr``."""

    origin: str
    store: Path
    secret: str = field(repr=False)
    settings: ServerSettings = field(repr=False)
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _warmer: ModelWarmer = field(repr=False)

    @property
    def predict_url(self) -> str:
        """The predict URL as the platform would show it."""
        return self.origin + PREDICT_PATH

    @property
    def running(self) -> bool:
        """True while the server thread serves."""
        return self._thread.is_alive() and not self._server.should_exit

    def warm_up(self, delay_s: float = 0.0) -> None:
        """Load every model in the background in ``delay_s`` seconds (once), if ``start_server(warm_up=False)``
        held it back."""
        self._warmer.start(delay_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving (and warming up) and wait for the threads to end."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._warmer.stop(timeout_s)


def start_server(
    store: Path | str,
    *,
    secret: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout_s: float = 30.0,
    warm_up: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    task_clock: Callable[[], float] = time.time,
    **settings: Any,
) -> EmbeddedServer:
    """Start the server in a daemon thread and return once it answers.

    ``secret`` defaults to a fresh random one; other keyword arguments are ServerSettings
    fields (``task_delay_s``, ``workers``, ``max_rows``...). With ``warm_up=False`` the models
    are loaded when first asked for, or all at once by ``EmbeddedServer.warm_up()``: the app
    does that after its first page, which the warm-up would otherwise slow down. ``clock`` and
    ``sleep`` time the start-up; ``task_clock`` (Unix time) stamps and expires tasks.
    """
    secret = secret or secrets.token_urlsafe(32)
    config = ServerSettings(api_secret=secret, store=Path(store), **settings)  # type: ignore[arg-type]
    app = create_app(config, warm_up_now=warm_up, task_clock=task_clock)
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it every keep-alive answer waits ~40 ms for a delayed ACK (Nagle)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=30)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="whatif-api", daemon=True)
    thread.start()
    deadline = clock() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or clock() > deadline:
            raise RuntimeError("The embedded prediction server did not start; see the log above.")
        sleep(0.01)
    origin = f"http://{host}:{bound_port}"
    logger.info("embedded AutoModel API at %s (store %s)", origin, store)
    return EmbeddedServer(
        origin=origin,
        store=Path(store),
        secret=secret,
        settings=config,
        _server=server,
        _thread=thread,
        _warmer=app.state.warmer,
    )
