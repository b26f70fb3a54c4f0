"""A model with 100 features: the form stays usable, and filtering or paging never loses a value."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.pages.support import captions, model_key, run

PATH = "1/4/model-groups/9/1.json"
BUCKET = "storage.datrics.ai"
FEATURES = [f"feature_{i:03d}" for i in range(100)]
EXAMPLE_BODY = [{name: 10.0 + i for i, name in enumerate(FEATURES)}]  # no 0/1 columns: none look one-hot
KEY = model_key(PATH, BUCKET)


def shown_features(at: AppTest) -> set[str]:
    """The features whose input is on the page now."""
    prefix = f"whatif_form_{KEY}_"
    return {w.key[len(prefix) :] for w in at.text_input if w.key and w.key.startswith(prefix)}


def paste_wide_schema(at: AppTest) -> AppTest:
    """Enter the model by hand, with its schema from a pasted example request body."""
    run(at)
    at.toggle(key="whatif_model_by_hand").set_value(True)
    run(at)
    at.text_input(key="whatif_path").input(PATH)
    at.text_input(key="whatif_bucket").input(BUCKET)
    at.radio(key="whatif_schema_source").set_value("Paste an example request body")
    run(at)
    at.text_area(key="whatif_schema_paste").input(json.dumps(EXAMPLE_BODY))
    return run(at)


def test_a_hundred_features_get_a_filter_and_pages_and_keep_hidden_values(app: AppTest) -> None:
    paste_wide_schema(app)
    filter_box = app.text_input(key=f"whatif_filter_{KEY}")
    assert "100 features" in filter_box.placeholder
    first_page = shown_features(app)
    assert 0 < len(first_page) < 100 and "feature_000" in first_page
    assert app.button(key="whatif_predict").disabled is False

    app.text_input(key=f"whatif_form_{KEY}_feature_005").input("123.5")
    run(app)

    app.text_input(key=f"whatif_filter_{KEY}").input("feature_09")
    run(app)
    assert shown_features(app) == {f"feature_{i:03d}" for i in range(90, 100)}
    assert any("10 of 100 features shown" in c for c in captions(app))
    assert app.query_params["feature_005"] == "123.5"  # hidden, and still part of the what-if
    app.text_input(key=f"whatif_form_{KEY}_feature_097").input("-4")
    run(app)

    app.text_input(key=f"whatif_filter_{KEY}").input("")
    run(app)
    assert shown_features(app) == first_page
    assert app.text_input(key=f"whatif_form_{KEY}_feature_005").value == "123.5"
    assert app.query_params["feature_097"] == "-4"
    assert len(app.query_params) == 2 + 100  # path, bucket and every feature


def test_every_feature_can_be_reached_without_typing_a_filter(app: AppTest) -> None:
    paste_wide_schema(app)
    reached = set(shown_features(app))
    pages = [w for w in app.segmented_control if w.key == f"whatif_form_page_{KEY}"]
    if pages:  # one page of features at a time: visit each
        for page in pages[0].options:
            app.segmented_control(key=f"whatif_form_page_{KEY}").set_value(page)
            run(app)
            reached |= shown_features(app)
    else:  # all features drawn at once, in groups
        assert len(shown_features(app)) == 100
    assert reached == set(FEATURES)
