"""Every page runs without an exception against the embedded demo API."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.pages.support import captions, run


def test_every_page_runs_and_the_what_if_page_names_the_demo_api(app: AppTest) -> None:
    run(app)
    assert [t.value for t in app.title] == ["What-if"]
    assert any("local demo API" in c for c in captions(app))
    assert app.selectbox(key="sidebar_profile").value == "Local demo API"

    run(app.switch_page("pages/saved_models.py"))
    assert [t.value for t in app.title] == ["Saved models"]
    assert [s.value for s in app.subheader] == ["Titanic survival", "Credit approval", "Diabetes progression"]

    run(app.switch_page("pages/settings.py"))
    assert [t.value for t in app.title] == ["Settings"]
    assert app.selectbox(key="sidebar_profile").value == "Local demo API"  # app.py ran around the page

    run(app.switch_page("pages/what_if.py"))
    assert [t.value for t in app.title] == ["What-if"]
    assert not app.error
