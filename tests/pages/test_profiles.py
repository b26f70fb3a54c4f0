"""A configured profile that cannot work never takes the app down: the sidebar says why."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.support import run


@pytest.mark.parametrize(("url", "secret", "said"), [
    ("http://127.0.0.1:9/api/v1/proxy/pipeline/model/predict", "", "API secret is needed"),
    ("api.example.com/api/v1/proxy/pipeline/model/predict", "s" * 32, "must start with http"),
])
def test_an_unusable_profile_falls_back_to_the_demo_api_with_a_sentence(app: AppTest, url: str, secret: str,
                                                                        said: str) -> None:
    app.secrets["whatif"] = {"default_profile": "broken",
                             "profiles": {"broken": {"url": url, "secret": secret, "user_id": "1"}}}
    run(app)
    errors = [e.value for e in app.sidebar.error]
    assert len(errors) == 1 and said in errors[0] and "demo API" in errors[0], errors
    assert app.selectbox(key="whatif_model").value.startswith("Titanic survival")  # the app still works
