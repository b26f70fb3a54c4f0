"""Saved models: every model with its versions, metrics, features and API, and a way into the what-if page."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.pages import models_support
from tests.pages.support import form_widgets, rendered_text, run
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DIABETES_PATH, TITANIC_PATH

api_without_uploads = models_support.api_without_uploads  # a fixture


def tables_with(at: AppTest, *columns: str) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]


def test_each_model_shows_versions_metrics_features_and_api(app: AppTest) -> None:
    run(app)
    url = app.session_state["app_connection"].client.endpoints.predict_url
    run(app.switch_page("pages/saved_models.py"))
    assert [h.value for h in app.header] == ["New model", "Your models"]
    assert [s.value for s in app.subheader] == ["Titanic survival", "Credit approval", "Diabetes progression"]
    assert [t.label for t in app.tabs] == ["Train from a CSV", "Add a fitted model"] + ["Features", "API"] * 3

    versions = tables_with(app, "Version", "Path", "Bucket")
    assert [list(v["Path"]) for v in versions] == [[TITANIC_PATH], list(reversed(CREDIT_PATHS)), [DIABETES_PATH]]
    assert all(set(v["Bucket"]) == {DEMO_BUCKET} for v in versions)
    titanic, credit, diabetes = versions
    assert {"accuracy", "roc_auc"} <= set(titanic.columns) and {"accuracy", "roc_auc"} <= set(credit.columns)
    assert {"r2", "mae"} <= set(diabetes.columns)
    assert titanic["accuracy"].between(0.5, 1).all() and diabetes["r2"].between(0, 1).all()

    features = tables_with(app, "Feature", "Type", "Default")
    assert [list(f["Feature"]) for f in features] == [
        ["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"],
        ["order_amount", "average_monthly_income", "employment_status"],
        ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"],
    ]
    pclass = features[0].set_index("Feature").loc["pclass"]
    assert "0 = 1st" in pclass["Values"] and pclass["Description"] == "Ticket class"

    api = [m.value for m in app.markdown if m.value.startswith("**URL**")]
    assert len(api) == 3
    assert all(url in text and f"`{DEMO_BUCKET}`" in text for text in api)
    assert [TITANIC_PATH in api[0], CREDIT_PATHS[1] in api[1], DIABETES_PATH in api[2]] == [True] * 3
    curls = [c.value for c in app.code if c.language == "bash"]
    assert len(curls) == 3 and all("<API_SECRET>" in c and url in c for c in curls)


def test_the_version_picker_changes_the_api_details(app: AppTest) -> None:
    run(app)
    run(app.switch_page("pages/saved_models.py"))
    app.selectbox(key="saved_models_version_2").set_value(1)
    run(app)
    api = [m.value for m in app.markdown if m.value.startswith("**URL**")]
    assert CREDIT_PATHS[0] in api[1]


def test_open_in_what_if_goes_to_the_what_if_page_with_that_version(app: AppTest) -> None:
    run(app)
    run(app.switch_page("pages/saved_models.py"))
    app.selectbox(key="saved_models_version_2").set_value(1)
    run(app)
    app.button(key="saved_models_open_2").click()
    run(app)  # the button's st.switch_page is followed within this run
    assert [t.value for t in app.title] == ["What-if"]
    assert app.selectbox(key="whatif_model").value == "Credit approval · v1"
    assert app.toggle(key="whatif_model_by_hand").value is False
    assert set(form_widgets(app, CREDIT_PATHS[0])) == {"order_amount", "average_monthly_income", "employment_status"}


def test_a_user_without_models_is_told_so(app: AppTest, server: EmbeddedServer) -> None:
    app.secrets["whatif"] = {
        "profiles": {
            "newcomer": {
                "url": server.predict_url,
                "secret": server.secret,
                "user_id": "77",
                "email": "new@example.com",
            }
        }
    }
    run(app)
    run(app.switch_page("pages/saved_models.py"))
    assert [i.value for i in app.info] == ["User 77 has no saved models on this API."]


def test_an_api_without_upload_routes_says_so_and_keeps_the_list(
    app: AppTest, server: EmbeddedServer, api_without_uploads: str
) -> None:
    app.secrets["whatif"] = {
        "profiles": {
            "platform": {"url": api_without_uploads, "secret": server.secret, "user_id": "1", "email": "a@example.com"}
        }
    }
    run(app)
    run(app.switch_page("pages/saved_models.py"))
    notes = [c.value for c in app.caption if "does not offer adding or training models" in c.value]
    assert len(notes) == 1 and notes[0].count(".") == 1
    assert not app.file_uploader and not [b for b in app.button if b.key and b.key.startswith("saved_models_train")]
    assert [h.value for h in app.header] == ["Your models"]
    assert [s.value for s in app.subheader] == ["Titanic survival", "Credit approval", "Diabetes progression"]
    assert [t.label for t in app.tabs] == ["Features", "API"] * 3
    assert server.secret not in rendered_text(app)
