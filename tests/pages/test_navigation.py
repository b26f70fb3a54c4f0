"""The app's own navigation, also for the first visitor of a server process, with ``pages/`` kept.

Streamlit treats an app with a ``pages/`` folder as a legacy multipage app until some session calls
``st.navigation``: a new server process's first runs can show one entry per file of ``pages/`` and run
a page by itself, without app.py. ``components/frame.py`` undoes such a run with public commands only
(``st.navigation``, then ``st.rerun``). Here the app runs as AppTest runs it by itself (the conftest's
``explicit_navigation`` fixture is switched off in this module): AppTest starts EVERY run in that
legacy mode, as if each were the first run of a new server process, so each test below is a first
visit.

The last test shows why the rest of the suite still keeps that fixture on: see its docstring.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components.connection import SIDEBAR_KEY
from tests.pages.support import predict, run

APP_PAGES = {
    "pages/what_if.py": "What-if",
    "pages/batch.py": "Batch",
    "pages/saved_models.py": "Saved models",
    "pages/sanity_checks.py": "Sanity checks",
    "pages/compare.py": "Compare",
    "pages/settings.py": "Settings",
}


@pytest.fixture()
def explicit_navigation() -> None:
    """Off in this module (it overrides the conftest's autouse fixture): Streamlit's own behaviour."""


def navigation(at: AppTest) -> list[str]:
    """The page titles of the navigation the last run sent, in order (what the sidebar lists)."""
    pages = getattr(at, "_registered_pages", None)
    assert pages is not None, (
        "AppTest no longer keeps the navigation of the last run in _registered_pages: "
        "find where this Streamlit version keeps it and read the page titles from there."
    )
    return [str(info.get("page_name")) for info in pages.values()]


def test_a_first_visit_to_the_front_page_gets_the_apps_navigation_and_frame(app: AppTest) -> None:
    run(app)

    assert navigation(app) == list(APP_PAGES.values())  # not "app" and one entry per file of pages/
    assert [t.value for t in app.title] == ["What-if"]
    assert app.sidebar.selectbox(key=SIDEBAR_KEY).value == "Local demo API"


@pytest.mark.parametrize(("page", "title"), APP_PAGES.items(), ids=[p.split("/")[1][:-3] for p in APP_PAGES])
def test_a_first_visit_by_a_deep_link_goes_through_the_front_door(app: AppTest, page: str, title: str) -> None:
    run(app.switch_page(page))

    assert navigation(app) == list(APP_PAGES.values())
    assert [t.value for t in app.title] == [title]
    assert app.sidebar.selectbox(key=SIDEBAR_KEY).value == "Local demo API"  # app.py's frame around the page


def test_why_the_suite_keeps_its_explicit_navigation_fixture(app: AppTest) -> None:
    """No supported way makes AppTest run this app as a server runs it after its first runs.

    AppTest resets Streamlit's pages-directory flag before every run (Streamlit 1.67,
    ``AppTest._run``: "Reset to ensure st.navigation works correctly regardless of prior test
    state"), so with a ``pages/`` folder every run starts as a legacy one: the page runs by itself
    and ``app_connection`` reruns it through app.py. A run stopped for a rerun resets the button
    clicks it carried (``SessionState.on_script_finished``: "SessionState still resets triggers
    either way"), so the click made here is lost. A server has such runs only before any page is
    drawn, when there is nothing to click. No setting changes either behaviour, hence the fixture.
    """
    run(app)

    predict(app)

    assert not app.metric, (
        "A click now survives AppTest's runs of this app without the conftest's explicit_navigation fixture: "
        "Streamlit changed. Remove that fixture from tests/pages/conftest.py, and this test."
    )


def test_the_frames_widgets_keep_their_identity_from_the_first_visit_on(app: AppTest) -> None:
    """A widget's value travels by its id. app.py run as the legacy home page gives the frame's widgets
    other ids than every later run, so a first visitor's first change there could be lost."""
    run(app)
    first = app.sidebar.selectbox(key=SIDEBAR_KEY).id

    run(app)

    assert app.sidebar.selectbox(key=SIDEBAR_KEY).id == first
