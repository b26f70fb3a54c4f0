"""CSV export and import of runs, and import of input rows predicted as one task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.support import (
    APP,
    TIMEOUT_S,
    demo_history,
    form_key,
    metric,
    model_key,
    new_home,
    predict,
    run,
    runs_table,
)
from whatif.history import RunStore
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, TITANIC_PATH

TITANIC_ROWS = "pclass,sex,age,sibsp,parch,fare,embarked\n0,0,30,0,0,80,0\n2,1,40,0,0,8,2\n1,0,5,1,2,30,2\n"


def upload(at: AppTest, path: str, name: str, data: bytes) -> AppTest:
    """Drop a file on the model's import box."""
    at.file_uploader(key=f"whatif_import_{model_key(path)}").set_value((name, data, "text/csv"))
    return run(at)


def show_every_input(at: AppTest, path: str = TITANIC_PATH) -> AppTest:
    """Let the runs table show the inputs that equal the baseline's too."""
    at.toggle(key=f"whatif_runs_all_inputs_{model_key(path)}").set_value(True)
    return run(at)


def messages(at: AppTest) -> list[str]:
    """The page's markdown texts (the import box reports there)."""
    return [m.value for m in at.markdown]


def exported_csv(downloads: list[dict[str, Any]]) -> tuple[str, str, str]:
    """(file name, mime type, text) of the newest export button, as a click would download it."""
    assert downloads, "no download button on the page"
    newest = downloads[-1]
    data = newest["data"]()
    return newest["file_name"], newest["mimetype"], data.decode() if isinstance(data, bytes) else str(data)


def test_exported_runs_import_into_another_history(
    app: AppTest,
    downloads: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: EmbeddedServer,
) -> None:
    predict(run(app))
    app.selectbox(key=form_key(TITANIC_PATH, "sex")).set_value(0)
    predict(app)
    name, mime, text = exported_csv(downloads)
    assert (name, mime) == ("whatif-runs-titanic-survival-v1.csv", "text/csv")
    lines = text.strip().splitlines()
    assert len(lines) == 3 and "pclass" in lines[0] and "label" in lines[0]
    original = runs_table(show_every_input(app))

    other_home = new_home(tmp_path / "other", server.store, monkeypatch)
    other = run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    assert not [d for d in other.dataframe if "Baseline" in d.value.columns]
    upload(other, TITANIC_PATH, name, text.encode())
    assert f"Imported 2 run(s) from {name}." in messages(other)
    imported = runs_table(show_every_input(other))
    columns = ["Run", "Prediction", "Score", "pclass", "sex", "age", "fare", "embarked"]
    pd.testing.assert_frame_equal(imported[columns], original[columns], check_dtype=False)  # 28 is 28.0
    assert metric(other)[1] == metric(app)[1]

    run(other)  # the same upload is not imported twice
    assert len(runs_table(other)) == 2
    store = RunStore.from_url(RunStore.default_url(other_home))
    try:
        assert [r.source for r in store.runs(demo_history(TITANIC_PATH))] == ["import", "import"]
    finally:
        store.close()


def test_input_rows_are_predicted_in_one_task(app: AppTest, run_store: RunStore) -> None:
    run(app)
    upload(app, TITANIC_PATH, "passengers.csv", TITANIC_ROWS.encode())
    assert "Predicted and saved 3 row(s) from passengers.csv in one task." in messages(app)
    table = runs_table(app)
    assert list(table["Run"]) == [3, 2, 1]
    assert list(table["age"]) == [5, 40, 30]
    assert list(table["embarked"]) == ["Southampton", "Southampton", "Cherbourg"]
    assert set(table["Prediction"]) <= {"died", "survived"}
    runs = run_store.runs(demo_history(TITANIC_PATH))
    assert len({r.task_id for r in runs}) == 1 and runs[0].task_id
    assert {r.source for r in runs} == {"import"}


CREDIT_REQUEST_HEADER = (
    "order_amount,average_monthly_income,employment_status_Employed,"
    "employment_status_Self-Employed,employment_status_Contract\n"
)


def upload_credit_requests(at: AppTest, *lines: str) -> AppTest:
    """Open Credit approval v2 and import rows named by the request's one-hot columns."""
    run(at)
    at.selectbox(key="whatif_model").set_value("Credit approval · v2 (latest)")
    run(at)
    rows = CREDIT_REQUEST_HEADER + "".join(line + "\n" for line in lines)
    return upload(at, CREDIT_PATHS[1], "requests.csv", rows.encode())


def test_rows_may_name_the_one_hot_request_columns(app: AppTest, run_store: RunStore) -> None:
    upload_credit_requests(app, "500,4000,1,0,0", "9000,0,0,0,0")
    assert "Predicted and saved 2 row(s) from requests.csv in one task." in messages(app)
    assert list(runs_table(app)["employment_status"]) == ["Other", "Employed"]
    runs = run_store.runs(demo_history(CREDIT_PATHS[1]))
    assert [r.inputs["employment_status"] for r in runs] == ["Employed", "Other"]


def test_a_csv_without_the_model_features_is_refused_with_a_sentence(app: AppTest, run_store: RunStore) -> None:
    run(app)
    upload(app, TITANIC_PATH, "wrong.csv", b"order_amount,average_monthly_income\n500,4000\n")
    refused = [m for m in messages(app) if m.startswith(":red[")]
    assert len(refused) == 1 and "lacks the columns" in refused[0] and "pclass" in refused[0]
    assert run_store.count(demo_history(TITANIC_PATH)) == 0
    assert not app.error


def test_rows_may_give_categories_by_their_labels(app: AppTest) -> None:
    run(app)
    rows = "pclass,sex,age,sibsp,parch,fare,embarked\n1st,Female,30,0,0,80,cherbourg\n3rd,male,40,0,0,8,Southampton\n"
    upload(app, TITANIC_PATH, "labels.csv", rows.encode())
    assert "Predicted and saved 2 row(s) from labels.csv in one task." in messages(app)
    table = runs_table(show_every_input(app))
    assert list(table["pclass"]) == ["3rd", "1st"] and list(table["embarked"]) == ["Southampton", "Cherbourg"]


def test_a_file_with_bad_values_names_each_row_and_imports_nothing(app: AppTest, run_store: RunStore) -> None:
    run(app)
    good = "0,0,30,0,0,80,0\n"
    rows = "pclass,sex,age,sibsp,parch,fare,embarked\n" + good * 299 + "0,0,abc,0,0,80,Paris\n"
    upload(app, TITANIC_PATH, "passengers.csv", rows.encode())
    assert (
        ":red[Nothing was imported: passengers.csv has values that do not fit the model: row 300, age: expected "
        "a number, got 'abc'; row 300, embarked: 'Paris' is none of the labels Cherbourg, Queenstown, "
        "Southampton (codes 0, 1, 2).]"
    ) in messages(app)
    many = "pclass,sex,age,sibsp,parch,fare,embarked\n" + "0,0,old,0,0,80,0\n" * 8
    upload(app, TITANIC_PATH, "many.csv", many.encode())
    [said] = [m for m in messages(app) if "many.csv" in m]
    assert said.count("expected a number") == 5 and said.endswith("(and 3 more).]")
    assert run_store.count(demo_history(TITANIC_PATH)) == 0


def test_exported_runs_that_do_not_fit_the_model_are_refused(app: AppTest, run_store: RunStore) -> None:
    run(app)
    header = (
        "run,created_at,name,baseline,model,version,prediction,label,score,pclass,sex,age,sibsp,parch,fare,embarked\n"
    )
    runs = header + "1,,,False,T,1,1,survived,0.9,0,0,30,0,0,80,0\n2,,,False,T,1,1,survived,inf,9,0,30,0,0,80,0\n"
    upload(app, TITANIC_PATH, "edited.csv", runs.encode())
    assert any(
        "edited.csv has values that do not fit the model: row 2, pclass: 9 is not one of the allowed codes "
        "0, 1, 2; row 2, score: is not a finite number" in m
        for m in messages(app)
    )
    assert run_store.count(demo_history(TITANIC_PATH)) == 0


def test_one_hot_columns_must_hold_0_or_1(app: AppTest, run_store: RunStore) -> None:
    upload_credit_requests(app, "500,4000,1,0,0", "9000,0,x,0,0", "700,100,1,1,0")
    assert any(
        "row 2, employment_status: column employment_status_Employed has 'x', which is not 0 or 1; row 3, "
        "employment_status: more than one column is set (Employed, Self-Employed)" in m
        for m in messages(app)
    )
    assert run_store.count(demo_history(CREDIT_PATHS[1])) == 0


def test_importing_the_same_export_again_skips_the_runs_already_here(
    app: AppTest, downloads: list[dict[str, Any]], run_store: RunStore
) -> None:
    predict(run(app))
    app.selectbox(key=form_key(TITANIC_PATH, "sex")).set_value(0)
    predict(app)
    name, _, text = exported_csv(downloads)

    upload(app, TITANIC_PATH, name, text.encode())
    assert (
        f"Imported 0 run(s) from {name}; 2 runs were already here (same inputs, answer and time), skipped."
        in messages(app)
    )
    assert len(run_store.runs(demo_history(TITANIC_PATH))) == 2


def test_an_imported_run_on_the_card_says_when_it_was_made_not_a_task_time(
    app: AppTest,
    downloads: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: EmbeddedServer,
) -> None:
    predict(run(app))
    predict(app)  # the same inputs twice: the second run's change against the baseline is none
    name, _, text = exported_csv(downloads)

    new_home(tmp_path / "other", server.store, monkeypatch)
    other = upload(run(AppTest.from_file(APP, default_timeout=TIMEOUT_S)), TITANIC_PATH, name, text.encode())
    made = [c.value for c in other.caption if c.value.startswith("Imported run, made ")]
    assert made and " ms · task" not in " ".join(c.value for c in other.caption)
    assert metric(other)[2] == "0.0 pts"  # no "+0.0 pts": nothing changed
    assert list(runs_table(other)["By"]) == ["imported", "imported"]
