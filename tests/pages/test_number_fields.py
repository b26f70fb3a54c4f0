"""Number fields of the what-if form: what cannot be read is an error by the field and blocks Predict,
never a silent 0; a decimal comma is read as a point; labels carry no markup."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.support import demo_history, form_key, form_widgets, predict, run
from whatif.history import RunStore
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, TITANIC_PATH

AGE = form_key(TITANIC_PATH, "age")
SIBSP = form_key(TITANIC_PATH, "sibsp")


def caption_under(at: AppTest, key: str) -> str | None:
    """The caption drawn right under the widget ``key`` (in its column), or None."""

    def walk(node: Any) -> str | None:
        children = list(getattr(node, "children", {}).values())
        for index, child in enumerate(children):
            if getattr(child, "key", None) == key:
                after = children[index + 1] if index + 1 < len(children) else None
                return after.value if after is not None and after.type == "caption" else None
            found = walk(child)
            if found is not None:
                return found
        return None

    return walk(at.main)


def type_into(at: AppTest, key: str, text: str) -> AppTest:
    at.text_input(key=key).input(text)
    return run(at)


def predict_reason(at: AppTest) -> str:
    """Why Predict is disabled, as the page says it beside the button."""
    button = at.button(key="whatif_predict")
    assert button.disabled, "Predict is enabled"
    said = [c.value for c in at.caption if "Fix " in c.value]
    assert len(said) == 1, [c.value for c in at.caption]
    assert button.help and button.help in said[0]  # the disabled button's tooltip says it too
    return said[0]


@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ("", "enter a number"),
        ("abc", "'abc' is not a number"),
        ("1e309", "'1e309' is too large: numbers go up to about 1.8e308"),
    ],
)
def test_an_unreadable_number_is_an_error_by_its_field_and_predicts_nothing(
    app: AppTest, typed: str, sentence: str
) -> None:
    run(app)
    type_into(app, AGE, typed)

    assert app.text_input(key=AGE).value == typed  # kept as typed, never replaced by 0
    under = caption_under(app, AGE)
    assert under is not None and under.startswith(":red[") and f"age: {sentence}." in under
    assert f"Fix age: {sentence}." in predict_reason(app)
    # the form's value stays the last number read (not the text, not 0): the link holds it, and no
    # request is shown for a form that cannot be sent
    assert app.query_params["age"] == "28"
    assert not [c for c in app.code if "'age'" in c.value]


def test_a_decimal_comma_is_read_as_a_point_and_predicted_with(app: AppTest, run_store: RunStore) -> None:
    run(app)
    type_into(app, AGE, "1,5")
    assert app.text_input(key=AGE).value == "1.5"  # shown as read, so 15 is never mistaken for it
    assert caption_under(app, AGE) is None
    assert app.button(key="whatif_predict").disabled is False
    assert app.query_params["age"] == "1.5"

    predict(app)
    stored = run_store.runs(demo_history(TITANIC_PATH))
    assert [(r.inputs["age"], r.row["age"]) for r in stored] == [(1.5, 1.5)]


def test_an_ambiguous_comma_is_refused_with_how_to_write_it(app: AppTest) -> None:
    run(app)
    type_into(app, form_key(TITANIC_PATH, "fare"), "1,500")
    assert "Fix fare: '1,500' could mean 1500 or 1.5" in predict_reason(app)


def test_an_integer_field_refuses_a_fraction_and_reads_a_whole_one(app: AppTest, run_store: RunStore) -> None:
    run(app)
    type_into(app, SIBSP, "2.5")
    assert app.text_input(key=SIBSP).value == "2.5"
    assert "sibsp: must be a whole number, not 2.5." in (caption_under(app, SIBSP) or "")
    assert "Fix sibsp: must be a whole number, not 2.5." in predict_reason(app)

    type_into(app, SIBSP, "3.0")
    assert app.text_input(key=SIBSP).value == "3"
    assert app.button(key="whatif_predict").disabled is False
    predict(app)
    row = run_store.runs(demo_history(TITANIC_PATH))[-1].row
    assert row["sibsp"] == 3 and isinstance(row["sibsp"], int)


def test_every_field_to_fix_is_named_and_fixing_them_enables_predict(app: AppTest) -> None:
    run(app)
    type_into(app, AGE, "old")
    type_into(app, SIBSP, "")
    assert "Fix age: 'old' is not a number; sibsp: enter a number." in predict_reason(app)

    type_into(app, AGE, "40")
    assert "Fix sibsp: enter a number." in predict_reason(app)
    type_into(app, SIBSP, "1")
    assert app.button(key="whatif_predict").disabled is False
    assert not [c for c in app.caption if "Fix " in c.value]


def test_a_text_to_fix_survives_a_visit_to_another_model_and_reset_clears_it(app: AppTest) -> None:
    run(app)
    type_into(app, AGE, "abc")
    app.selectbox(key="whatif_model").set_value("Diabetes progression · v1")
    run(app)
    assert app.button(key="whatif_predict").disabled is False  # another model's form is fine

    app.selectbox(key="whatif_model").set_value("Titanic survival · v1")
    run(app)
    assert app.text_input(key=AGE).value == "abc"
    assert "Fix age: 'abc' is not a number." in predict_reason(app)

    app.button(key="whatif_reset").click()
    run(app)
    assert app.text_input(key=AGE).value == "28"
    assert caption_under(app, AGE) is None
    assert app.button(key="whatif_predict").disabled is False


def test_values_put_into_the_form_show_as_numbers_with_every_digit(app: AppTest) -> None:
    app.query_params.update(
        {"path": TITANIC_PATH, "bucket": DEMO_BUCKET, "age": "42.50", "fare": "211.3375", "sibsp": "1.0"}
    )
    run(app)
    widgets = form_widgets(app, TITANIC_PATH)
    assert (widgets["age"].value, widgets["fare"].value, widgets["sibsp"].value) == ("42.5", "211.3375", "1")
    assert app.button(key="whatif_predict").disabled is False


def test_labels_are_plain_text_and_long_names_may_wrap_at_underscores(app: AppTest) -> None:
    run(app)
    labels = {name: w.label for name, w in form_widgets(app, TITANIC_PATH).items()}
    assert labels["age"] == "age · Age in years" and labels["sibsp"] == "sibsp"
    assert not [label for label in labels.values() if ":" in label or "[" in label]  # no :gray[...] markup

    app.selectbox(key="whatif_model").set_value("Credit approval · v1")
    run(app)
    income = form_widgets(app, CREDIT_PATHS[0])["average_monthly_income"].label
    assert income == "average_\u200bmonthly_\u200bincome"  # a zero-width space: a line may break there
