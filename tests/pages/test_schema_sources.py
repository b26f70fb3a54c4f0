"""A model entered by hand, its schema from a CSV sample: the form follows the schema as it changes."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.pages.support import model_key, run

PATH = "1/4/model-groups/9/1.json"
BUCKET = "storage.datrics.ai"
KEY = model_key(PATH, BUCKET)
TRAINING_CSV = b"age,fare,survived\n30,10,1\n40,20,0\n50,35,1\n"


def form_fields(at: AppTest) -> dict[str, str]:
    """The number fields of the form and the text each shows."""
    prefix = f"whatif_form_{KEY}_"
    return {w.key[len(prefix) :]: w.value for w in at.text_input if w.key and w.key.startswith(prefix)}


def uploaded_schema(at: AppTest, kind: str, name: str, data: bytes) -> AppTest:
    """Enter the model by hand with its schema from an uploaded file (kind: "csv" or "json")."""
    source = {"csv": "Upload a CSV of training data", "json": "Upload a datrics-json model file"}[kind]
    run(at)
    at.toggle(key="whatif_model_by_hand").set_value(True)
    run(at)
    at.text_input(key="whatif_path").input(PATH)
    at.text_input(key="whatif_bucket").input(BUCKET)
    at.radio(key="whatif_schema_source").set_value(source)
    run(at)
    at.file_uploader(key=f"whatif_schema_upload_{kind}").set_value((name, data, "application/octet-stream"))
    return run(at)


def csv_schema(at: AppTest) -> AppTest:
    return uploaded_schema(at, "csv", "train.csv", TRAINING_CSV)


def test_the_target_of_a_training_csv_is_guessed_said_and_editable(app: AppTest) -> None:
    csv_schema(app)
    assert set(form_fields(app)) == {"age", "fare"}  # "survived" (0/1, last) is the target, not an input
    assert app.selectbox(key="whatif_schema_target").value == "survived"
    assert any("`survived` was taken as the target" in c.value for c in app.caption)
    app.text_input(key=f"whatif_form_{KEY}_age").input("61")
    run(app)

    app.selectbox(key="whatif_schema_target").set_value("(none: every column is an input)")
    run(app)
    assert set(form_fields(app)) == {"age", "fare", "survived"}
    assert form_fields(app)["age"] == "61"  # the value typed is kept when the schema changes
    app.selectbox(key="whatif_schema_target").set_value("survived")
    run(app)
    assert form_fields(app) == {"age": "61", "fare": form_fields(app)["fare"]}
    assert not app.error  # no "survived is not a feature of this model"
    assert app.button(key="whatif_predict").disabled is False
    assert "survived" not in app.query_params and app.query_params["age"] == "61"


def test_a_schema_file_with_text_codes_is_one_sentence(app: AppTest) -> None:
    schema = {"features": [{"name": "sex", "type": "integer", "labels": {"female": "Female", "male": "Male"}}]}
    uploaded_schema(app, "json", "schema.json", json.dumps(schema).encode())
    assert [e.value for e in app.error] == [
        "The schema could not be read: feature 'sex' labels codes that are not whole numbers ('female'); the labels "
        "of a label-encoded feature map its codes, such as 0 and 1, to names."
    ]
    assert not form_fields(app)
