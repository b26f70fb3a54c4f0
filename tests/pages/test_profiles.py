"""A configured profile that cannot work never takes the app down: the sidebar says why."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.support import run
from whatif.server.embedded import EmbeddedServer


@pytest.mark.parametrize(("url", "secret", "said"), [
    ("http://127.0.0.1:9/api/v1/proxy/pipeline/model/predict", "", "API secret is needed"),
    ("api.example.com/api/v1/proxy/pipeline/model/predict", "s" * 32, "must start with http"),
    ("ftp://admin:hunter2@api.example.com/api/v1/proxy/pipeline/model/predict", "s" * 32, "must start with http"),
])
def test_an_unusable_profile_falls_back_to_the_demo_api_with_a_sentence(app: AppTest, url: str, secret: str,
                                                                        said: str) -> None:
    app.secrets["whatif"] = {"default_profile": "broken",
                             "profiles": {"broken": {"url": url, "secret": secret, "user_id": "1"}}}
    run(app)
    errors = [e.value for e in app.sidebar.error]
    assert len(errors) == 1 and said in errors[0] and "demo API" in errors[0], errors
    assert "hunter2" not in errors[0]  # a refused URL is never repeated: it may carry a password
    assert app.selectbox(key="whatif_model").value.startswith("Titanic survival")  # the app still works


def test_settings_open_with_durations_from_secrets_outside_their_range(app: AppTest, server: EmbeddedServer) -> None:
    app.secrets["whatif"] = {"default_profile": "prod", "profiles": {"prod": {
        "url": server.predict_url, "secret": server.secret, "token_lifetime_s": 0, "poll_deadline_s": 7200}}}
    run(app.switch_page("pages/settings.py"))
    assert app.number_input(key="settings_token_lifetime").value == 10
    assert app.number_input(key="settings_poll_deadline").value == 3600
