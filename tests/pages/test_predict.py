"""Predict round trips against the embedded demo API: the result card, the runs chart and table."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.support import (
    captions,
    chart_data,
    chart_spec,
    charts,
    demo_history,
    form_key,
    metric,
    predict,
    reload,
    run,
    runs_table,
)
from whatif.history import RunStore
from whatif.server.samples import CREDIT_PATHS, DIABETES_PATH, TITANIC_PATH

OUT_OF_RANGE = "Outside the training range"


def probability_classes(at: AppTest) -> list[str]:
    """The classes of the result card's probability chart."""
    found = [frame for chart in charts(at) for frame in chart_data(chart) if "probability" in frame.columns]
    assert len(found) == 1, "expected one probability chart"
    return sorted(found[0]["class"])


def chart_runs(at: AppTest) -> list[int]:
    """The run numbers the runs chart draws."""
    found = [frame for chart in charts(at) for frame in chart_data(chart) if "seq" in frame.columns]
    assert len(found) == 1, "expected one runs chart"
    return sorted(int(s) for s in found[0]["seq"])


def test_predict_then_change_inputs_and_predict_again(app: AppTest, run_store: RunStore) -> None:
    run(app)
    assert any("No runs of this model yet" in i.value for i in app.info)

    predict(app)
    assert metric(app)[:2] == ("Prediction", "died")  # a 3rd class man of 28
    assert probability_classes(app) == ["died", "survived"]
    assert chart_runs(app) == [1]
    assert not app.error
    stored = run_store.runs(demo_history(TITANIC_PATH))
    assert [(r.label, r.inputs["sex"], r.inputs["pclass"]) for r in stored] == [("died", 1, 2)]

    app.selectbox(key=form_key(TITANIC_PATH, "sex")).set_value(0)  # female
    app.selectbox(key=form_key(TITANIC_PATH, "pclass")).set_value(0)  # 1st class
    predict(app)
    label, value, delta = metric(app)
    assert (label, value) == ("Prediction", "survived")
    assert delta.startswith("+") and "pts" in delta  # against run 1, the baseline
    table = runs_table(app)
    assert list(table["Run"]) == [2, 1]
    assert list(table["Prediction"]) == ["survived", "died"]
    assert list(table["sex"]) == ["female", "male"] and list(table["pclass"]) == ["1st", "3rd"]
    assert list(table["Baseline"]) == ["", "★"]
    assert chart_runs(app) == [1, 2]
    assert len(run_store.runs(demo_history(TITANIC_PATH))) == 2


def test_runs_are_still_there_after_a_reload(app: AppTest) -> None:
    predict(run(app))
    predict(app)

    reloaded = run(reload(app))
    assert list(runs_table(reloaded)["Run"]) == [2, 1]
    assert metric(reloaded)[:2] == ("Prediction", "died")


def test_out_of_range_value_is_flagged_and_still_predicted(app: AppTest, run_store: RunStore) -> None:
    run(app)
    assert not [c for c in captions(app) if OUT_OF_RANGE in c]

    app.text_input(key=form_key(TITANIC_PATH, "age")).input("200")
    run(app)
    flags = [c for c in captions(app) if OUT_OF_RANGE in c]
    assert len(flags) == 1 and flags[0].startswith(":orange[")
    assert app.button(key="whatif_predict").disabled is False

    predict(app)
    assert not app.error
    assert metric(app)[0] == "Prediction"
    assert [r.inputs["age"] for r in run_store.runs(demo_history(TITANIC_PATH))] == [200.0]


def test_regression_metric_shows_the_value_then_the_change_against_the_baseline(
    app: AppTest, run_store: RunStore
) -> None:
    run(app)
    app.selectbox(key="whatif_model").set_value("Diabetes progression · v1")
    predict(run(app))
    label, first, delta = metric(app)
    assert label == "Predicted progression"
    assert float(first.replace(",", "")) > 0 and delta == ""
    assert not [f for c in charts(app) for f in chart_data(c) if "probability" in f.columns]  # no class chart

    app.text_input(key=form_key(DIABETES_PATH, "bmi")).input("35")
    predict(app)
    label, second, delta = metric(app)
    assert label == "Predicted progression" and second != first
    baseline, newest = (r.score for r in run_store.runs(demo_history(DIABETES_PATH)))
    assert delta.endswith(" vs baseline")
    assert float(delta.split()[0].replace(",", "")) == pytest.approx(newest - baseline, rel=1e-3)
    assert chart_runs(app) == [1, 2]
    spec = [chart_spec(c) for c in charts(app) if any("seq" in f.columns for f in chart_data(c))]
    assert "Predicted progression" in str(spec)  # the y axis is the predicted value, not a probability


def test_credit_one_hot_choice_is_sent_as_its_columns(app: AppTest, run_store: RunStore) -> None:
    path = CREDIT_PATHS[1]
    run(app)
    app.selectbox(key="whatif_model").set_value("Credit approval · v2 (latest)")
    run(app)
    app.selectbox(key=form_key(path, "employment_status")).set_value("Other")
    app.text_input(key=form_key(path, "average_monthly_income")).input("0")
    predict(app)
    assert metric(app)[1] in {"approved", "rejected"}
    assert probability_classes(app) == ["approved", "rejected"]
    sent = run_store.runs(demo_history(path))[-1].row
    assert {k: v for k, v in sent.items() if k.startswith("employment_status_")} == {
        "employment_status_Employed": 0,
        "employment_status_Self-Employed": 0,
        "employment_status_Contract": 0,
    }

    snippets = [c.value for c in app.code if c.language == "python"]
    assert len(snippets) == 2  # requests, and this project's client
    assert 'API_SECRET = "<API_SECRET>"' in snippets[0] and 'os.environ["WHATIF_API_SECRET"]' in snippets[1]
    assert all("'employment_status_Contract': 0" in s and "'average_monthly_income': 0.0" in s for s in snippets)
