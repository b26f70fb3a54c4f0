"""Fixtures of the model-upload and training pages: a store the app may write to, and an API without the routes.

Training and adding models write into the model store; the other AppTests share one store (linked, not
copied, see conftest.py), so these tests get a copy of their own. ``api_without_uploads`` is a real HTTP
server on loopback that forwards everything to the reference server except the upload and training routes,
which answer 404 as a platform without them would, and whose saved-models list says nothing of uploads.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from streamlit.testing.v1 import AppTest

from components import connection
from tests.pages.support import APP, TIMEOUT_S
from whatif.server.embedded import EmbeddedServer, start_server

MODELS_ROUTE = "/api/v1/models"
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@pytest.fixture()
def writable_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: EmbeddedServer, demo_servers: list[EmbeddedServer]
) -> Iterator[Path]:
    """A fresh WHATIF_HOME whose model store is a copy of the sample models: saving there changes no other test."""
    home = tmp_path / "whatif-home"
    home.mkdir()
    shutil.copytree(server.store, home / "store", ignore=shutil.ignore_patterns("*.lock"))
    monkeypatch.setenv("WHATIF_HOME", str(home))

    def start_and_remember(*args: Any, **kwargs: Any) -> EmbeddedServer:
        demo_servers.append(start_server(*args, **kwargs))
        return demo_servers[-1]

    monkeypatch.setattr(connection, "start_server", start_and_remember)
    yield home
    for demo in demo_servers:
        demo.stop()


@pytest.fixture()
def writable_app(writable_home: Path) -> AppTest:
    """The app on the local demo API over a store of its own (not run yet)."""
    return AppTest.from_file(APP, default_timeout=TIMEOUT_S)


def model_files(home: Path) -> list[str]:
    """Every file of the model store, relative to it (to see that nothing was written)."""
    store = home / "store"
    return sorted(p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file() and p.suffix != ".lock")


class _Forward(BaseHTTPRequestHandler):
    upstream = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: the requests carry tokens."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._forward("GET")

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path.rstrip("/")
        if path == MODELS_ROUTE or path.startswith(MODELS_ROUTE + "/train"):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(404, {"detail": "Not Found"})
            return
        self._forward("POST")

    def _forward(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        answer = requests.request(method, self.upstream + self.path, headers=headers, data=body, timeout=30)
        if method == "GET" and urlsplit(self.path).path.rstrip("/") == MODELS_ROUTE and answer.ok:
            listing = answer.json()
            listing.pop("accepts_uploads", None)  # a platform's list does not mention uploads
            self._answer(answer.status_code, listing)
            return
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def api_without_uploads(server: EmbeddedServer) -> Iterator[str]:
    """The predict URL of an API that has the saved-models list but neither upload nor training routes."""
    upstream = urlsplit(server.predict_url)
    handler = type("Forward", (_Forward,), {"upstream": f"{upstream.scheme}://{upstream.netloc}"})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=proxy.serve_forever, name="no-uploads-api", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{proxy.server_address[1]}{upstream.path}"
    proxy.shutdown()
    proxy.server_close()
    thread.join(10)
