"""What every page needs from the front door (app.py): explicit navigation and the connection.

The app keeps its pages in ``pages/`` (the top level of the repository is fixed), and Streamlit treats
an app with a ``pages/`` folder as a legacy multipage app until some session calls ``st.navigation``
(documented: "As soon as any session of your app executes the st.navigation command, your app will
ignore the pages/ directory (across all sessions)"). So the first runs of a server process can be
legacy ones, with a navigation that lists the files of ``pages/``:

- at the front page, app.py runs as the legacy home page; its own ``st.navigation`` then replaces
  that navigation, and as it comes before anything app.py draws, the frame's widgets get the same ids
  as in every later run (a widget drawn before it would lose a first visitor's first change);
- at a deep link (``/batch``), the page runs by itself, without app.py; ``app_connection``, which
  every page calls first, sees that and reruns through app.py (public commands only, below). So the
  list of pages lives here, for app.py and for that rerun.

``tests/pages/test_navigation.py`` checks both as a first visitor of a new process.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from components.connection import Connection, DemoApiUnavailable, connection_sidebar

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage

CONNECTION_KEY = "app_connection"
RERUN_KEY = "app_rerun_through_front_door"  # set while a page's rerun through app.py is under way
PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"


def app_pages() -> list[StreamlitPage]:
    """The app's pages for ``st.navigation``, in the sidebar's order (paths relative to app.py)."""
    return [
        st.Page("pages/what_if.py", title="What-if", icon=":material/tune:", default=True),
        st.Page("pages/batch.py", title="Batch", icon=":material/table_view:"),
        st.Page("pages/saved_models.py", title="Saved models", icon=":material/inventory_2:"),
        st.Page("pages/sanity_checks.py", title="Sanity checks", icon=":material/fact_check:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ]


def app_connection() -> Connection:
    """The connection app.py resolved for this run; pages call it first.

    A page that Streamlit's legacy mode runs by itself (see the module's docstring) calls
    ``st.navigation`` instead, which ends the legacy mode for every session, and reruns: the rerun
    goes through app.py; should it not, the page goes on by itself rather than rerun again. A script
    that is its own entry point (a test's stand-in page) resolves the connection itself.
    """
    scripts = _running_scripts()
    alone = bool(scripts) and all(script.parent == PAGES_DIR for script in scripts)  # no app.py around it
    if alone and not st.session_state.pop(RERUN_KEY, False):
        st.session_state[RERUN_KEY] = True
        st.navigation(app_pages())
        st.rerun()
    st.session_state.pop(RERUN_KEY, None)
    if CONNECTION_KEY not in st.session_state:
        st.session_state[CONNECTION_KEY] = connection_sidebar()
    connection: Connection = st.session_state[CONNECTION_KEY]
    return connection


def _running_scripts() -> list[Path]:
    """The scripts Streamlit is running in this thread, innermost first.

    Streamlit runs app.py and each page as a module named ``__main__`` with its ``__file__``, the
    page inside app.py's ``navigation.run()``.
    """
    scripts = []
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_globals.get("__name__") == "__main__" and frame.f_globals.get("__file__"):
            scripts.append(Path(frame.f_globals["__file__"]).resolve())
        frame = frame.f_back
    return scripts


@contextmanager
def setup_problems_in_one_sentence() -> Iterator[None]:
    """Show the setup problems raised inside as one sentence each, not a traceback: the demo API
    that cannot start (its model store cannot be written) and the run history that cannot be opened.

    The history's modules (pandas, SQLAlchemy: ~0.5 s) are imported only when something was raised,
    so the front door draws the frame without waiting for them.
    """
    try:
        yield
    except DemoApiUnavailable as problem:
        st.error(str(problem), icon=":material/dns:")
    except Exception as problem:
        from components.store import history_problem_sentence
        from whatif.history import HistoryUnavailable

        if not isinstance(problem, HistoryUnavailable):
            raise
        st.error(history_problem_sentence(problem), icon=":material/database:")
