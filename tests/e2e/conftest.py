"""Browser fixtures: Debian's chromium for Playwright, and the app as real Streamlit processes.

Each app process gets its own WHATIF_HOME (model store and run history) and its own log file,
so a test can look at what the process wrote to disk and to its log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import IN_CI
from whatif.server.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 2000}  # tall: Streamlit scrolls inside its own container
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

# Streamlit reruns take a moment and the demo API builds its sample models on first use.
expect.set_options(timeout=30_000)


def chromium_path() -> str | None:
    """CHROMIUM_PATH when set, else Debian's binary (the one without the wrapper script first)."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).is_file() else None
    return next((c for c in CHROMIUM_CANDIDATES if Path(c).is_file()), None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Drive Debian's chromium; no browser is ever downloaded."""
    path = chromium_path()
    if path is None:
        where = os.environ.get("CHROMIUM_PATH") or " or ".join(CHROMIUM_CANDIDATES)
        reason = (
            f"No chromium binary at {where}; install Debian's chromium (apt-get install chromium) "
            "or set CHROMIUM_PATH. Never `playwright install`."
        )
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return {**browser_type_launch_args, "executable_path": path, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A tall viewport so full-page screenshots show the whole app."""
    return {**browser_context_args, "viewport": VIEWPORT, "accept_downloads": True}


@dataclass
class StreamlitApp:
    """One running ``streamlit run app.py`` process."""

    url: str
    home: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def log(self) -> str:
        """Everything the process has written to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate and wait (it takes 2-3 s); kill if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            return answer.status == 200 and answer.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


def start_app(
    name: str,
    workdir: Path,
    extra_env: Mapping[str, str] | None = None,
    attempts: int = 3,
    extra_args: Sequence[str] = (),
) -> StreamlitApp:
    """Start the app on a free loopback port with its own WHATIF_HOME; return once it is healthy.

    ``extra_args`` go to ``streamlit run`` (e.g. ``--secrets.files PATH``)."""
    home = Path(tempfile.mkdtemp(prefix=f"whatif-e2e-{name}-home-", dir=workdir))
    env = {
        **os.environ,
        "WHATIF_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        **(extra_env or {}),
    }
    for attempt in range(1, attempts + 1):
        port = free_port()
        log_path = workdir / f"streamlit-{name}-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamlit",
                    "run",
                    "app.py",
                    "--server.headless",
                    "true",
                    "--server.port",
                    str(port),
                    "--server.address",
                    "127.0.0.1",
                    *extra_args,
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        app = StreamlitApp(f"http://127.0.0.1:{port}", home, log_path, process)
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if _healthy(app.url):
                return app
            time.sleep(0.2)
        exited = process.poll()
        app.stop()
        if "is not available" in app.log() and attempt < attempts:
            continue  # another process took the free port between our check and Streamlit's bind
        why = (
            f"exited with code {exited}"
            if exited is not None
            else f"did not answer {app.url}/_stcore/health with ok within {HEALTH_TIMEOUT_S:.0f} s"
        )
        pytest.fail(f"The Streamlit app ({name}) {why}. Its log ({log_path}):\n{app.log()}", pytrace=False)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Homes and logs of the app processes of this run."""
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def demo_app(e2e_dir: Path) -> Iterator[StreamlitApp]:
    """The app with nothing configured: the local demo API (embedded server, sample models)."""
    app = start_app("demo", e2e_dir)
    yield app
    app.stop()


def env_profile(predict_url: str, secret: str) -> dict[str, str]:
    """The environment an analyst sets to point the app at a real API."""
    return {
        "WHATIF_API_URL": predict_url,
        "WHATIF_API_SECRET": secret,
        "WHATIF_USER_ID": "1",
        "WHATIF_USER_EMAIL": "demo@example.com",
    }


@pytest.fixture(scope="session")
def wrong_secret() -> str:
    return "wrong-secret-" + os.urandom(12).hex()


@pytest.fixture(scope="session")
def wrong_secret_app(e2e_dir: Path, server: EmbeddedServer, wrong_secret: str) -> Iterator[StreamlitApp]:
    """The app configured by environment for the test process's reference server, with a wrong secret."""
    app = start_app("wrong-secret", e2e_dir, env_profile(server.predict_url, wrong_secret))
    yield app
    app.stop()


@pytest.fixture(scope="session")
def env_app(e2e_dir: Path, server: EmbeddedServer) -> Iterator[StreamlitApp]:
    """The app configured by environment for the test process's reference server, with its secret."""
    app = start_app("env", e2e_dir, env_profile(server.predict_url, server.secret))
    yield app
    app.stop()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the screenshots of the main states go (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
