"""A configured profile that cannot work never takes the app down: the sidebar says why."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.support import captions, rendered_text, run
from whatif.profiles import edited_profile, load_profiles, secret_source_sentence
from whatif.server.embedded import EmbeddedServer


@pytest.mark.parametrize(
    ("url", "secret", "said"),
    [
        ("http://127.0.0.1:9/api/v1/proxy/pipeline/model/predict", "", "API secret is needed"),
        ("api.example.com/api/v1/proxy/pipeline/model/predict", "s" * 32, "must start with http"),
        ("ftp://admin:hunter2@api.example.com/api/v1/proxy/pipeline/model/predict", "s" * 32, "must start with http"),
    ],
)
def test_an_unusable_profile_falls_back_to_the_demo_api_with_a_sentence(
    app: AppTest, url: str, secret: str, said: str
) -> None:
    app.secrets["whatif"] = {
        "default_profile": "broken",
        "profiles": {"broken": {"url": url, "secret": secret, "user_id": "1"}},
    }
    run(app)
    errors = [e.value for e in app.sidebar.error]
    assert len(errors) == 1 and said in errors[0] and "demo API" in errors[0], errors
    assert "hunter2" not in errors[0]  # a refused URL is never repeated: it may carry a password
    assert app.selectbox(key="whatif_model").value.startswith("Titanic survival")  # the app still works


def test_settings_open_with_durations_from_secrets_outside_their_range(app: AppTest, server: EmbeddedServer) -> None:
    app.secrets["whatif"] = {
        "default_profile": "prod",
        "profiles": {
            "prod": {"url": server.predict_url, "secret": server.secret, "token_lifetime_s": 0, "poll_deadline_s": 7200}
        },
    }
    run(app.switch_page("pages/settings.py"))
    assert app.number_input(key="settings_token_lifetime").value == 10
    assert app.number_input(key="settings_poll_deadline").value == 3600


def test_a_typed_secret_reads_as_a_sentence_and_a_short_one_is_warned_about(app: AppTest) -> None:
    run(app)
    run(app.switch_page("pages/settings.py"))
    assert not app.warning  # the demo API's generated secret is long enough

    app.text_input(key="settings_secret").input("short-secret")
    app.form_submit_button[0].click()
    run(app)
    assert (
        ":material/lock: The current secret was typed on this page, is kept for this browser session only and is "
        "never shown." in captions(app)
    )
    assert not any("comes from entered" in c for c in captions(app))
    warnings = [w.value for w in app.warning]
    assert len(warnings) == 1 and warnings[0].startswith("This secret is shorter than 32 bytes"), warnings
    assert "short-secret" not in rendered_text(app)


def test_every_source_of_a_secret_reads_as_its_own_sentence(server: EmbeddedServer) -> None:
    secrets = {
        "whatif": {
            "profiles": {
                "prod": {"url": server.predict_url, "secret": server.secret},
                "no-secret": {"url": server.predict_url},
            }
        }
    }
    environ = {"WHATIF_API_URL": server.predict_url, "WHATIF_API_SECRET": server.secret}
    profiles = load_profiles(secrets, environ)
    typed = edited_profile(
        profiles[0],
        url=server.predict_url,
        user_id="1",
        email="demo@example.com",
        typed_secret="typed-" * 6,
        token_lifetime_s=300,
        poll_deadline_s=60,
    )
    sources = {p.secret_source for p in [*profiles, typed]}
    assert sources == {"secrets.toml", "", "environment", "generated", "entered"}
    sentences = {secret_source_sentence(source) for source in sources}
    assert len(sentences) == len(sources)
    assert all(s[0].isupper() and s.endswith(".") and "comes from entered" not in s for s in sentences), sentences
