"""Share links: the URL query opens a model with values, follows the form, and never holds the secret."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from streamlit.testing.v1 import AppTest

from tests.pages.support import form_key, form_widgets, predict, rendered_text, run
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, TITANIC_PATH

APP_URL = "http://localhost:8501"


def test_a_link_opens_the_model_with_its_values(app: AppTest) -> None:
    app.query_params.update({"path": TITANIC_PATH, "bucket": DEMO_BUCKET, "pclass": "0", "sex": "0", "age": "42"})
    run(app)
    assert app.selectbox(key="whatif_model").value == "Titanic survival · v1"
    widgets = form_widgets(app, TITANIC_PATH)
    assert (widgets["pclass"].value, widgets["sex"].value, widgets["age"].value) == (0, 0, "42")
    assert widgets["pclass"].format_func(0) == "1st" and widgets["sex"].format_func(0) == "female"
    assert not app.warning

    predict(app)  # the link's values are read once: they do not come back over the user's changes
    app.text_input(key=form_key(TITANIC_PATH, "age")).input("7")
    run(app)
    assert app.text_input(key=form_key(TITANIC_PATH, "age")).value == "7"


def test_a_link_to_an_older_version_selects_that_version(app: AppTest) -> None:
    app.query_params.update(
        {"path": CREDIT_PATHS[0], "bucket": DEMO_BUCKET, "employment_status": "Contract", "order_amount": "1500"}
    )
    run(app)
    assert app.selectbox(key="whatif_model").value == "Credit approval · v1"
    widgets = form_widgets(app, CREDIT_PATHS[0])
    assert (widgets["employment_status"].value, widgets["order_amount"].value) == ("Contract", "1500")


def test_link_values_that_do_not_fit_are_named_and_kept_at_defaults(app: AppTest) -> None:
    app.query_params.update({"path": TITANIC_PATH, "bucket": DEMO_BUCKET, "pclass": "7", "age": "old", "sex": "0"})
    run(app)
    assert len(app.warning) == 1
    warning = app.warning[0].value
    assert "pclass" in warning and "age" in warning and "sex" not in warning
    widgets = form_widgets(app, TITANIC_PATH)
    assert (widgets["pclass"].value, widgets["age"].value, widgets["sex"].value) == (2, "28", 0)


def test_the_query_follows_the_form_and_never_holds_the_secret(app: AppTest) -> None:
    app.context["url"] = APP_URL
    run(app)
    app.selectbox(key=form_key(TITANIC_PATH, "sex")).set_value(0)
    app.text_input(key=form_key(TITANIC_PATH, "fare")).input("71.5")
    predict(app)
    query = dict(app.query_params)
    assert query == {
        "path": TITANIC_PATH,
        "bucket": DEMO_BUCKET,
        "pclass": "2",
        "sex": "0",
        "age": "28",
        "sibsp": "0",
        "parch": "0",
        "fare": "71.5",
        "embarked": "2",
    }

    links = [c.value for c in app.code if c.value.startswith(APP_URL)]
    assert len(links) == 1
    assert {k: v[0] for k, v in parse_qs(urlsplit(links[0]).query).items()} == query

    app.selectbox(key="whatif_model").set_value("Diabetes progression · v1")
    run(app)
    assert app.query_params["path"] == "1/4/model-groups/3/1.json" and "bmi" in app.query_params

    secret = app.session_state["app_connection"].profile.secret
    assert len(secret) >= 32
    assert not [v for v in app.query_params.values() if secret in str(v)]
    assert secret not in rendered_text(app)
    for page in ("pages/saved_models.py", "pages/settings.py", "pages/what_if.py"):
        run(app.switch_page(page))
        assert secret not in rendered_text(app), page
        assert not [v for v in app.query_params.values() if secret in str(v)], page
