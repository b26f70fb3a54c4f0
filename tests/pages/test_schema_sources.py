"""A model entered by hand, its schema from a CSV sample: the form follows the schema as it changes."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.pages.support import model_key, run

PATH = "1/4/model-groups/9/1.json"
BUCKET = "storage.datrics.ai"
KEY = model_key(PATH, BUCKET)
TRAINING_CSV = b"age,fare,survived\n30,10,1\n40,20,0\n50,35,1\n"


def form_fields(at: AppTest) -> dict[str, float]:
    prefix = f"whatif_form_{KEY}_"
    return {w.key[len(prefix):]: w.value for w in at.number_input if w.key and w.key.startswith(prefix)}


def csv_schema(at: AppTest) -> AppTest:
    run(at)
    at.toggle(key="whatif_model_by_hand").set_value(True)
    run(at)
    at.text_input(key="whatif_path").input(PATH)
    at.text_input(key="whatif_bucket").input(BUCKET)
    at.radio(key="whatif_schema_source").set_value("Upload a CSV of training data")
    run(at)
    at.file_uploader(key="whatif_schema_upload_csv").set_value(("train.csv", TRAINING_CSV, "text/csv"))
    return run(at)


def test_leaving_out_the_target_drops_its_field_and_keeps_the_values_typed(app: AppTest) -> None:
    csv_schema(app)
    assert set(form_fields(app)) == {"age", "fare", "survived"}
    app.number_input(key=f"whatif_form_{KEY}_age").set_value(61.0)
    run(app)

    app.text_input(key="whatif_schema_target").input("survived")
    run(app)
    assert form_fields(app) == {"age": 61.0, "fare": form_fields(app)["fare"]}
    assert not app.error  # no "survived is not a feature of this model"
    assert app.button(key="whatif_predict").disabled is False
    assert "survived" not in app.query_params and app.query_params["age"] == "61"
