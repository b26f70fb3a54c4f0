"""The Batch page: upload a file, score it in the background, read the scores, measure the model, open a row.

Scoring runs in a thread of the app's own; a test presses *Score the file*, waits for the job
(``ScoringJob.wait``) and runs the page again, as the progress panel's poll would.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components import batch_view
from components.batch_view import ScoringJob
from tests.pages.support import chart_data, charts, form_values, model_key, run
from whatif.analysis.runner import BatchPredictor
from whatif.client import ModelClient
from whatif.server.samples import DIABETES_PATH, TITANIC_PATH, diabetes_data, titanic_frame

PAGE = "pages/batch.py"
JOB_S = 60


def titanic_csv(rows: int | None = None) -> bytes:
    frame = titanic_frame()
    if rows is not None:
        frame = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True).head(rows)
    return frame.to_csv(index=False).encode()


def open_batch(at: AppTest, model: str | None = None) -> AppTest:
    run(at)
    run(at.switch_page(PAGE))
    if model is not None:
        at.selectbox(key="whatif_model").set_value(model)
        run(at)
    return at


def upload(at: AppTest, path: str, name: str, data: bytes) -> AppTest:
    at.file_uploader(key=f"batch_upload_{model_key(path)}").set_value((name, data, "text/csv"))
    return run(at)


def job_of(at: AppTest, path: str) -> ScoringJob:
    job: ScoringJob = at.session_state[f"batch_job_{model_key(path)}_"]
    return job


def score(at: AppTest, path: str) -> AppTest:
    """Press Score the file, wait for the background job, run the page as the progress poll would."""
    at.button(key=f"batch_score_{model_key(path)}").click()
    run(at)
    assert job_of(at, path).wait(JOB_S), "the scoring job did not end"
    return run(at)


def metrics_shown(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def submits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of every task submitted by anyone in this process (the page's thread included)."""
    seen: list[int] = []
    original = ModelClient.submit

    def counted(self: ModelClient, rows: Any, *args: Any, **kwargs: Any) -> str:
        seen.append(len(rows))
        return original(self, rows, *args, **kwargs)

    monkeypatch.setattr(ModelClient, "submit", counted)
    return seen


# ---- before a file ----------------------------------------------------------------------------------------
def test_the_page_says_what_to_upload_and_waits_for_a_file(app: AppTest) -> None:
    open_batch(app)
    assert [t.value for t in app.title] == ["Batch"]
    key = model_key(TITANIC_PATH)
    assert app.button(key=f"batch_score_{key}").disabled
    assert any("`pclass`, `sex`, `age`" in c.value for c in app.caption)
    assert not app.metric and not charts(app)


def test_a_file_with_bad_values_is_refused_in_one_sentence_and_nothing_is_sent(
    app: AppTest, submits: list[int]
) -> None:
    open_batch(app)
    bad = b"pclass,sex,age,sibsp,parch,fare,embarked\n0,female,29,0,0,211.3,2\n5,male,abc,0,0,7.25,2\n"
    upload(app, TITANIC_PATH, "bad.csv", bad)
    assert [e.value for e in app.error] == [
        "Some values cannot be used, so no row was: line 3, pclass: 5 is not one of the allowed codes 0, 1, 2; "
        "line 3, age: expected a number, got 'abc'."
    ]
    assert app.button(key=f"batch_score_{model_key(TITANIC_PATH)}").disabled
    assert submits == []


# ---- scoring and the result -------------------------------------------------------------------------------
def test_a_labelled_file_is_scored_charted_measured_and_downloadable(
    app: AppTest, submits: list[int], downloads: list[dict[str, Any]]
) -> None:
    open_batch(app)
    upload(app, TITANIC_PATH, "titanic3.csv", titanic_csv())
    note = next(c.value for c in app.caption if "rows of 7 inputs" in c.value)
    assert "1,309 rows" in note and "1 task" in note and "`survived` holds the true values" in note
    score(app, TITANIC_PATH)

    assert submits == [1_309]
    assert any("1,309 rows of **titanic3.csv** scored in 1 task" in c.value for c in app.caption)
    drawn = charts(app)
    assert len(drawn) == 3  # the histogram, the rows per class, the confusion matrix
    bars = chart_data(drawn[0])[0]
    assert int(bars["rows"].sum()) == 1_309 and len(bars) == 20
    counts = chart_data(drawn[1])[0]
    assert list(counts["class"]) == ["died", "survived"] and int(counts["rows"].sum()) == 1_309

    table = next(d.value for d in app.dataframe if "probability_1" in d.value.columns)
    assert len(table) == 1_309 and {"row", "score", "predicted_label", "survived"} <= set(table.columns)
    assert set(table["pclass"]) == {"1st", "2nd", "3rd"}  # categories by label
    shown = metrics_shown(app)
    assert set(shown) == {"Accuracy", "ROC AUC", "Log loss", "Precision (survived)", "Recall (survived)"}
    assert 0.75 < float(shown["Accuracy"]) <= 1 and 0.8 < float(shown["ROC AUC"]) <= 1
    assert app.selectbox(key=f"batch_target_{model_key(TITANIC_PATH)}").value == "survived"
    slices = next(d.value for d in app.dataframe if "slice" in d.value.columns)
    assert set(slices["slice"]) == {"1st", "2nd", "3rd"} and int(slices["rows"].sum()) == 1_309
    assert list(slices["accuracy"]) == sorted(slices["accuracy"])  # worst first

    names = [d["file_name"] for d in downloads]
    assert "scored-1-4-model-groups-1-1.csv" in names and "scored-1-4-model-groups-1-1.parquet" in names
    csv = next(d for d in downloads if d["file_name"].endswith(".csv"))["data"]()
    frame = pd.read_csv(io.BytesIO(csv))
    assert len(frame) == 1_309 and list(frame["pclass"].unique()) != [] and set(frame["pclass"]) <= {0, 1, 2}
    parquet = next(d for d in downloads if d["file_name"].endswith(".parquet"))["data"]()
    assert len(pd.read_parquet(io.BytesIO(parquet))) == 1_309
    secret = app.session_state["app_connection"].profile.secret
    assert secret not in csv.decode()


def test_the_threshold_redraws_the_matrix_without_a_new_task(app: AppTest, submits: list[int]) -> None:
    open_batch(app)
    upload(app, TITANIC_PATH, "titanic3.csv", titanic_csv())
    score(app, TITANIC_PATH)
    before = chart_data(charts(app)[2])[0].set_index(["true", "predicted"])["rows"]
    accuracy = metrics_shown(app)["Accuracy"]
    app.slider(key=f"batch_threshold_{model_key(TITANIC_PATH)}").set_value(0.2)
    run(app)
    after = chart_data(charts(app)[2])[0].set_index(["true", "predicted"])["rows"]
    assert after.loc[("died", "survived")] > before.loc[("died", "survived")]
    assert int(after.sum()) == int(before.sum()) == 1_309
    assert metrics_shown(app)["Accuracy"] != accuracy
    assert submits == [1_309]  # the answers already there: no new task
    histogram = charts(app)[0]
    assert any(
        frame.get("threshold") is not None and list(frame["threshold"]) == [0.2] for frame in chart_data(histogram)
    )


def test_a_file_over_the_row_limit_goes_in_tasks_and_the_filter_narrows_the_table(
    app: AppTest, submits: list[int]
) -> None:
    open_batch(app)
    upload(app, TITANIC_PATH, "passengers.csv", titanic_csv(12_000))
    score(app, TITANIC_PATH)
    assert submits == [10_000, 2_000]
    assert any("12,000 rows of **passengers.csv** scored in 2 tasks" in c.value for c in app.caption)
    app.text_input(key=f"batch_filter_{model_key(TITANIC_PATH)}").input("sex = female and age > 60")
    run(app)
    table = next(d.value for d in app.dataframe if "probability_1" in d.value.columns)
    assert 0 < len(table) < 12_000 and set(table["sex"]) == {"female"} and (table["age"] > 60).all()
    assert any(c.value.startswith(f"{len(table):,} of 12,000 rows") for c in app.caption)
    app.text_input(key=f"batch_filter_{model_key(TITANIC_PATH)}").input("cabin = B5")
    run(app)
    assert any("'cabin' is not a column of the table" in c.value for c in app.caption)


def test_cancel_keeps_the_rows_scored_before_it(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    gate, first_sent = threading.Event(), threading.Event()

    class HeldBack(BatchPredictor):
        """The first task is answered only once the test has pressed Cancel."""

        def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
            answers = super().__call__(rows)
            first_sent.set()
            assert gate.wait(JOB_S)
            return answers

    monkeypatch.setattr(batch_view, "BatchPredictor", HeldBack)
    open_batch(app)
    upload(app, TITANIC_PATH, "passengers.csv", titanic_csv(25_000))
    key = model_key(TITANIC_PATH)
    app.button(key=f"batch_score_{key}").click()
    run(app)
    assert first_sent.wait(JOB_S)
    run(app)  # the progress poll: the bar, its line, Cancel
    assert any(p.proto.text.startswith("0 of 25,000 rows · task 1 of 3") for p in app.get("progress"))
    app.button(key=f"batch_cancel_{key}").click()
    run(app)
    assert any("Stopping after the task being answered" in c.value for c in app.caption)
    assert app.button(key=f"batch_score_{key}").disabled  # one scoring at a time
    gate.set()
    assert job_of(app, TITANIC_PATH).wait(JOB_S)
    run(app)
    assert [w.value for w in app.warning] == [
        "Stopped before task 2 of 3: rows 1-10,000 are scored and kept; score the file again for the rest."
    ]
    table = next(d.value for d in app.dataframe if "probability_1" in d.value.columns)
    assert len(table) == 10_000
    assert any("10,000 of 25,000 rows" in c.value for c in app.caption)
    assert not app.button(key=f"batch_score_{key}").disabled


def test_what_if_for_this_row_opens_the_form_with_the_rows_values(app: AppTest) -> None:
    open_batch(app)
    upload(app, TITANIC_PATH, "titanic3.csv", titanic_csv())
    score(app, TITANIC_PATH)
    key = model_key(TITANIC_PATH)
    app.number_input(key=f"batch_open_row_{key}").set_value(3)
    run(app)
    app.button(key=f"batch_what_if_{key}").click()
    run(app)
    assert [t.value for t in app.title] == ["What-if"]
    passenger = titanic_frame().iloc[2]
    shown = form_values(app, TITANIC_PATH)
    assert shown["age"] == pytest.approx(passenger["age"]) and shown["fare"] == pytest.approx(passenger["fare"])
    for name in ("pclass", "sex", "sibsp", "parch", "embarked"):
        assert shown[name] == int(passenger[name]), name


def test_a_regression_file_shows_r2_mae_rmse_and_predicted_against_actual(app: AppTest) -> None:
    open_batch(app, "Diabetes progression · v1")
    x, y = diabetes_data()
    upload(
        app, DIABETES_PATH, "patients.csv", x.assign(progression=y, id=np.arange(len(y))).to_csv(index=False).encode()
    )
    score(app, DIABETES_PATH)
    shown = metrics_shown(app)
    assert set(shown) == {"R²", "MAE", "RMSE"} and 0 < float(shown["R²"]) < 1
    assert len(charts(app)) == 2  # the histogram of predictions, predicted against actual
    assert app.selectbox(key=f"batch_target_{model_key(DIABETES_PATH)}").value == "progression"
    slices = next(d.value for d in app.dataframe if "slice" in d.value.columns)
    assert {"mae", "rmse", "r2"} <= set(slices.columns) and int(slices["rows"].sum()) == 442
    app.selectbox(key=f"batch_target_{model_key(DIABETES_PATH)}").set_value("id")  # a wrong column: still numbers
    run(app)
    assert float(metrics_shown(app)["R²"]) < 0


def test_a_file_without_true_values_says_how_to_get_metrics(app: AppTest) -> None:
    open_batch(app)
    frame = titanic_frame().drop(columns="survived").head(50)
    upload(app, TITANIC_PATH, "passengers.csv", frame.to_csv(index=False).encode())
    score(app, TITANIC_PATH)
    assert not app.metric
    assert any("Add the true values (a column named `survived`)" in c.value for c in app.caption)


def test_a_true_value_column_that_holds_no_classes_is_one_sentence(app: AppTest) -> None:
    open_batch(app)
    frame = titanic_frame().head(50).assign(note="maybe")
    upload(app, TITANIC_PATH, "passengers.csv", frame.to_csv(index=False).encode())
    score(app, TITANIC_PATH)
    app.selectbox(key=f"batch_target_{model_key(TITANIC_PATH)}").set_value("note")
    run(app)
    assert len(app.error) == 1
    assert app.error[0].value.startswith("The column 'note' has values that are none of the model's classes")


def test_after_scoring_every_row_can_be_edited_and_scored_again_on_the_batch_page(app: AppTest) -> None:
    """The Batch page's own bulk what-if: the scored file's rows, one edit, a reading of what changed."""
    open_batch(app)
    upload(app, TITANIC_PATH, "passengers.csv", titanic_csv(300))
    score(app, TITANIC_PATH)
    assert [h.value for h in app.subheader if h.value == "What if every row changed?"]
    app.text_area(key=f"whatif_bulk_edits_{model_key(TITANIC_PATH)}").input("pclass=1st")
    run(app)
    app.button(key=f"whatif_bulk_run_{model_key(TITANIC_PATH)}").click()
    run(app)
    readings = [m.value for m in app.markdown if m.value.startswith(":material/lightbulb:")]
    assert len(readings) == 1 and "survived" in readings[0], readings
    assert not app.error
