"""Fixtures for the AppTest suite: a fresh data folder per test, the app, its history and downloads.

Every test gets its own WHATIF_HOME, so its run history starts empty (the app's run store and
embedded server are ``st.cache_resource``d per path). The model store inside it is a link to
the session's store, which the root conftest's ``server`` fixture builds once: building the
sample models takes seconds, starting another server on them a fraction of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from components import connection
from tests.pages.support import APP, TIMEOUT_S, new_home
from whatif.history import RunStore
from whatif.server.embedded import EmbeddedServer, start_server


@pytest.fixture(autouse=True)
def explicit_navigation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the app in AppTest as a server runs it once any session has called ``st.navigation``.

    AppTest resets Streamlit's internal pages-directory flag (``PagesManager.uses_pages_directory``)
    before every run, so with this app's ``pages/`` folder every run would start as a legacy
    multipage app, which a server does only in its first runs. The app copes with such runs using
    public commands only (``components/frame.py``; ``tests/pages/test_navigation.py`` runs it so, as
    a first visitor would), but the rerun it makes drops the button click the run carried, so a
    test's clicks would be lost. No setting or public API changes AppTest's reset (the last test of
    test_navigation.py shows this and fails once Streamlit changes it); hence this patch, in the
    tests only: the app touches no Streamlit internals.
    """
    if "uses_pages_directory" not in vars(PagesManager):
        pytest.fail(
            "Streamlit's PagesManager has no uses_pages_directory any more, so the explicit_navigation "
            "fixture (tests/pages/conftest.py) does nothing: run tests/pages/test_navigation.py and "
            "find how this Streamlit version decides on the pages/ folder."
        )
    original = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture()
def demo_servers() -> list[EmbeddedServer]:
    """The demo API servers the app started in this test (a test may stop one to see the app cope)."""
    return []


@pytest.fixture()
def app_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: EmbeddedServer, demo_servers: list[EmbeddedServer]
) -> Iterator[Path]:
    """This test's data folder; the demo servers the app starts on it are stopped afterwards."""
    started = demo_servers

    def start_and_remember(*args: Any, **kwargs: Any) -> EmbeddedServer:
        started.append(start_server(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(connection, "start_server", start_and_remember)
    yield new_home(tmp_path, server.store, monkeypatch)
    for demo in started:  # its cache entry is keyed by this test's folder: nobody asks for it again
        demo.stop()


@pytest.fixture()
def app(app_home: Path) -> AppTest:
    """The app, not run yet (set query params or secrets first)."""
    return AppTest.from_file(APP, default_timeout=TIMEOUT_S)


@pytest.fixture()
def run_store(app_home: Path) -> Iterator[RunStore]:
    """The history the app writes in this test's data folder."""
    store = RunStore.from_url(RunStore.default_url(app_home))
    yield store
    store.close()


@pytest.fixture()
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the app's download buttons would send, newest last.

    The export button passes a callable (made when clicked); AppTest keeps the media manager
    to itself, so this records each registered callable with its file name and type.
    """
    seen: list[dict[str, Any]] = []
    original = MediaFileManager.add_deferred

    def add_deferred(
        self: MediaFileManager,
        data_callable: Callable[[], Any],
        mimetype: str | None,
        coordinates: str,
        file_name: str | None = None,
        **kwargs: Any,
    ) -> str:
        seen.append({"data": data_callable, "mimetype": mimetype, "file_name": file_name})
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return seen
