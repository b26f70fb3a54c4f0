"""A model entered by hand: its schema fills the form like a listed model's, and runs are compared under one schema."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.conftest import DEMO_BUCKET, SEED_TITANIC_ROW
from tests.pages.support import captions, chart_spec, charts, demo_history, form_values, predict, run, runs_table
from whatif.history import RunStore
from whatif.server.samples import TITANIC_PATH

SOURCES = {
    "server": "From the server",
    "paste": "Paste an example request body",
    "csv": "Upload a CSV of training data",
}
TITANIC_CSV = (
    "pclass,sex,age,sibsp,parch,fare,embarked,survived\n0,0,29,0,0,211.3,2,1\n2,1,40,0,0,8.05,2,0\n1,0,5,1,2,30,2,1\n"
)


def by_hand(at: AppTest, source: str) -> AppTest:
    """Switch to "Enter path and bucket by hand" and type the listed Titanic model's own path and bucket."""
    at.toggle(key="whatif_model_by_hand").set_value(True)
    run(at)
    at.text_input(key="whatif_path").input(TITANIC_PATH)
    at.text_input(key="whatif_bucket").input(DEMO_BUCKET)
    at.radio(key="whatif_schema_source").set_value(SOURCES[source])
    return run(at)


def values(at: AppTest) -> dict[str, object]:
    return form_values(at, TITANIC_PATH)


def test_the_saved_models_own_schema_by_hand_fills_its_defaults_and_shares_its_history(
    app: AppTest, run_store: RunStore
) -> None:
    run(app)
    listed = values(app)
    by_hand(app, "server")
    assert values(app) == listed  # defaults, never zeros
    predict(app)
    (made,) = run_store.runs(demo_history(TITANIC_PATH))
    assert made.inputs["age"] == listed["age"] and made.inputs["age"] != 0
    assert not any("history of their own" in c for c in captions(app))


def test_a_pasted_example_fills_the_form_with_its_values_and_keeps_its_own_history(
    app: AppTest, run_store: RunStore
) -> None:
    predict(run(app))  # a run of the saved model, labelled died/survived
    by_hand(app, "paste")
    app.text_area(key="whatif_schema_paste").input(json.dumps([SEED_TITANIC_ROW]))
    run(app)
    assert values(app) == {k: float(v) for k, v in SEED_TITANIC_ROW.items()}  # the example's values, as typed
    assert any("differs from the saved model's" in c for c in captions(app))
    predict(app)
    assert list(runs_table(app)["Run"]) == [1]  # compared only with runs of this schema
    assert set(runs_table(app)["Prediction"]) <= {"0", "1"}

    app.toggle(key="whatif_model_by_hand").set_value(False)
    run(app)
    assert len(runs_table(app)) == 1 and set(runs_table(app)["Prediction"]) <= {"died", "survived"}
    legend = chart_spec(charts(app)[-1])["layer"][1]["encoding"]["color"]["scale"]["domain"]
    assert legend == ["died", "survived"]  # the chart never mixes label sets
    assert [r.label for r in run_store.runs(demo_history(TITANIC_PATH))] in (["died"], ["survived"])


def test_a_training_csv_takes_the_models_target_out_of_the_inputs(app: AppTest) -> None:
    run(app)
    by_hand(app, "csv")
    app.file_uploader(key="whatif_schema_upload_csv").set_value(("titanic.csv", TITANIC_CSV.encode(), "text/csv"))
    run(app)
    assert "survived" not in values(app) and "age" in values(app)
    assert any("`survived` was taken as the target: it is named like the model's target" in c for c in captions(app))
    assert app.button(key="whatif_predict").disabled is False
