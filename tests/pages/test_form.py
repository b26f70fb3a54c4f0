"""The what-if form is built from each sample model's schema: widget kinds, labels and defaults."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.support import form_key, form_values, form_widgets, run
from whatif.client import ModelClient
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DIABETES_PATH, TITANIC_PATH

MODELS = {
    TITANIC_PATH: "Titanic survival · v1",
    CREDIT_PATHS[1]: "Credit approval · v2 (latest)",
    CREDIT_PATHS[0]: "Credit approval · v1",
    DIABETES_PATH: "Diabetes progression · v1",
}


def open_model(at: AppTest, path: str) -> AppTest:
    run(at)
    at.selectbox(key="whatif_model").set_value(MODELS[path])
    return run(at)


def test_the_model_picker_offers_every_sample_model_version(app: AppTest) -> None:
    run(app)
    assert app.selectbox(key="whatif_model").options == list(MODELS.values())
    assert app.selectbox(key="whatif_model").value == MODELS[TITANIC_PATH]


def test_titanic_form_has_label_selectboxes_and_number_fields_at_the_schema_defaults(
    app: AppTest, client: ModelClient
) -> None:
    open_model(app, TITANIC_PATH)
    widgets = form_widgets(app, TITANIC_PATH)
    assert set(widgets) == {"pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"}
    labels = {name: widgets[name].options for name in ("pclass", "sex", "embarked")}
    assert labels == {
        "pclass": ["1st", "2nd", "3rd"],
        "sex": ["female", "male"],
        "embarked": ["Cherbourg", "Queenstown", "Southampton"],
    }
    assert {name for name, w in widgets.items() if w.type == "text_input"} == {"age", "fare", "sibsp", "parch"}

    defaults = client.schema(TITANIC_PATH, DEMO_BUCKET).defaults()
    assert form_values(app, TITANIC_PATH) == defaults
    shown = {name: widgets[name].format_func(widgets[name].value) for name in ("pclass", "sex", "embarked")}
    assert shown == {"pclass": "3rd", "sex": "male", "embarked": "Southampton"}


@pytest.mark.parametrize("path", CREDIT_PATHS, ids=["v1", "v2"])
def test_credit_form_has_one_employment_status_selectbox_with_other(
    app: AppTest, client: ModelClient, path: str
) -> None:
    open_model(app, path)
    widgets = form_widgets(app, path)
    assert set(widgets) == {"order_amount", "average_monthly_income", "employment_status"}
    status = app.selectbox(key=form_key(path, "employment_status"))
    assert status.options == ["Employed", "Self-Employed", "Contract", "Other"]
    assert [w.type for w in widgets.values()].count("selectbox") == 1
    assert form_values(app, path) == client.schema(path, DEMO_BUCKET).defaults()


def test_diabetes_form_has_ten_inputs_at_the_schema_defaults(app: AppTest, client: ModelClient) -> None:
    open_model(app, DIABETES_PATH)
    widgets = form_widgets(app, DIABETES_PATH)
    assert len(widgets) == 10
    assert widgets["sex"].type == "selectbox" and widgets["sex"].options == ["1", "2"]
    assert sum(w.type == "text_input" for w in widgets.values()) == 9
    assert form_values(app, DIABETES_PATH) == client.schema(DIABETES_PATH, DEMO_BUCKET).defaults()


def test_each_model_keeps_its_own_values_and_reset_restores_the_defaults(app: AppTest, client: ModelClient) -> None:
    run(app)
    age = form_key(TITANIC_PATH, "age")
    app.text_input(key=age).input("61")
    app.selectbox(key=form_key(TITANIC_PATH, "sex")).set_value(0)
    run(app)
    open_model(app, DIABETES_PATH)
    app.selectbox(key="whatif_model").set_value(MODELS[TITANIC_PATH])
    run(app)
    assert app.text_input(key=age).value == "61"
    assert app.selectbox(key=form_key(TITANIC_PATH, "sex")).value == 0

    app.button(key="whatif_reset").click()
    run(app)
    assert form_values(app, TITANIC_PATH) == client.schema(TITANIC_PATH, DEMO_BUCKET).defaults()


def test_the_chosen_model_and_its_values_survive_a_visit_to_another_page(app: AppTest) -> None:
    open_model(app, DIABETES_PATH)
    app.text_input(key=form_key(DIABETES_PATH, "bmi")).input("33")
    run(app)
    run(app.switch_page("pages/settings.py"))
    run(app.switch_page("pages/what_if.py"))
    assert app.selectbox(key="whatif_model").value == MODELS[DIABETES_PATH], (
        "coming back to the What-if page, the model chosen before is forgotten"
    )
    assert app.text_input(key=form_key(DIABETES_PATH, "bmi")).value == "33"
