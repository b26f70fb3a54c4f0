"""The bulk what-if section under a file's rows (``tests/pages/bulk_page_app.py`` stands in for the Batch page):
edits built with the pickers or typed, a filter, a run through the real reference server in one task, the
numbers equal to plain predictions, the charts, the rows that moved most, the downloads, and edit sets saved
and loaded on another model version."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components.explore import answer_cache
from tests.pages.support import captions, charts, model_key, run
from tests.whatif.analysis.test_runner import tasks_on
from whatif.analysis.edits import share_text
from whatif.analysis.grids import to_request_frame
from whatif.client import ModelClient
from whatif.edit_sets import EditSetStore
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DIABETES_PATH, credit_frame

PAGE = str(Path(__file__).resolve().parent / "bulk_page_app.py")
V1, V2 = CREDIT_PATHS
KEY = model_key(V1)
ROWS = 300


@pytest.fixture(autouse=True)
def no_answers_known() -> None:
    """Each test starts with no model answers cached in the process, so every run sends its task."""
    answer_cache().clear()


@pytest.fixture()
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: EmbeddedServer) -> str:
    url = f"sqlite:///{tmp_path}/history.sqlite"
    monkeypatch.setenv("WHATIF_BULK_TEST_URL", server.predict_url)
    monkeypatch.setenv("WHATIF_BULK_TEST_SECRET", server.secret)
    monkeypatch.setenv("WHATIF_BULK_TEST_DB", url)
    return url


@pytest.fixture()
def rows_csv(tmp_path: Path) -> Path:
    """300 applications as a user's file: the group's 0/1 columns and the target (ignored)."""
    path = tmp_path / "applications.csv"
    credit_frame(ROWS).to_csv(path, index=False)
    return path


def page(rows: Path, path: str = V1) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["bulk_test_path"] = path
    at.session_state["bulk_test_rows"] = str(rows)
    return run(at)


def add_edit(at: AppTest, feature: str, op: str, value: Any = None, key: str = KEY) -> AppTest:
    prefix = f"whatif_bulk_add_{key}"
    at.selectbox(key=f"{prefix}_feature").set_value(feature)
    run(at)
    at.selectbox(key=f"{prefix}_op_{feature}").set_value(op)
    run(at)
    if value is not None:
        widget_key = f"{prefix}_{feature}_{op}_value"
        if op in ("mul", "add", "sub"):
            at.text_input(key=widget_key).input(str(value))
        else:
            at.selectbox(key=widget_key).set_value(value)
    at.button(key=f"{prefix}_button").click()
    return run(at)


def press_run(at: AppTest, key: str = KEY) -> AppTest:
    at.button(key=f"whatif_bulk_run_{key}").click()
    return run(at)


def plain_share_changed(client: ModelClient) -> tuple[float, Counter]:
    schema = client.schema(V1, DEMO_BUCKET)
    original = [schema.from_row(r) for r in credit_frame(ROWS).drop(columns="approved").to_dict("records")]
    edited = [
        {**r, "average_monthly_income": r["average_monthly_income"] * 1.1, "employment_status": "Employed"}
        for r in original
    ]
    before = client.predict(to_request_frame(schema, original), V1, DEMO_BUCKET).predictions["prediction"]
    after = client.predict(to_request_frame(schema, edited), V1, DEMO_BUCKET).predictions["prediction"]
    return float((before != after).mean()), Counter(zip(before, after, strict=True))


def test_edits_built_with_the_pickers_run_in_one_task_and_match_plain_predictions(
    database: str, rows_csv: Path, server: EmbeddedServer, client: ModelClient, downloads: list[dict[str, Any]]
) -> None:
    at = page(rows_csv)
    assert at.button(key=f"whatif_bulk_run_{KEY}").disabled, "nothing to run before an edit"
    assert any("Add an edit above" in c for c in captions(at))
    add_edit(at, "average_monthly_income", "mul", "1.1")
    add_edit(at, "employment_status", "set", "Employed")
    assert at.text_area(key=edits_key_of()).value == "average_monthly_income*=1.1\nemployment_status=Employed"
    assert any(f"{ROWS} rows · {ROWS} change · {2 * ROWS} rows to send in one task" in c for c in captions(at))
    assert not at.button(key=f"whatif_bulk_run_{KEY}").disabled

    before = tasks_on(server)
    press_run(at)
    assert tasks_on(server) - before == 1
    share, pairs = plain_share_changed(client)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows whose class changed"] == share_text(share)
    assert metrics["Mean change of P(approved)"].startswith("+") and metrics["Mean change of P(approved)"].endswith(
        " pts"
    )
    assert metrics["Pushed outside the range"] == "0"
    assert any(c.startswith("95 % interval of the mean change: +") for c in captions(at))
    reading = next(m.value for m in at.markdown if "would go from" in m.value)
    assert f"{pairs[(0, 1)]:,} of {ROWS} rows" in reading and "rejected to approved" in reading
    assert len(charts(at)) == 2
    movers = at.dataframe[0].value
    assert len(movers) == 10 and "change (points)" in movers.columns
    assert any(f"{2 * ROWS} rows sent ({ROWS} before, {ROWS} edited) in 1 task" in c for c in captions(at))

    files = {d["file_name"]: d["data"]() for d in downloads}
    rows_file = next(v for k, v in files.items() if k.startswith("bulk-whatif-rows-"))
    table = pd.read_csv(io.BytesIO(rows_file))
    assert len(table) == ROWS and {"score_before", "score_after", "class_before", "class_after"} <= set(table.columns)
    assert table["class_changed"].mean() == pytest.approx(share)
    summary_file = next(v for k, v in files.items() if k.startswith("bulk-whatif-summary-"))
    numbers = pd.read_csv(io.BytesIO(summary_file)).set_index("measure")["value"]
    assert int(numbers["from rejected to approved"]) == pairs[(0, 1)]


def edits_key_of(path: str = V1) -> str:
    return f"whatif_bulk_edits_{model_key(path)}"


def test_typed_edits_and_a_filter_and_the_out_of_date_note(database: str, rows_csv: Path) -> None:
    at = page(rows_csv)
    at.text_area(key=edits_key_of()).input("order_amount*=0.5")
    at.text_input(key=f"whatif_bulk_where_{KEY}").input("employment_status == other")
    run(at)
    other = int(
        (
            credit_frame(ROWS)[[c for c in credit_frame(ROWS).columns if c.startswith("employment_status_")]].sum(
                axis=1
            )
            == 0
        ).sum()
    )
    assert any(
        f"{ROWS} rows · {other} match the filter · {other} change · {ROWS + other} rows to send" in c
        for c in captions(at)
    )
    press_run(at)
    reading = next(m.value for m in at.markdown if m.value.startswith(":material/lightbulb:"))
    assert f"If order_amount fell 50 % for the {other} rows where employment_status == Other" in reading
    at.text_area(key=edits_key_of()).input("order_amount*=0.4")
    run(at)
    assert any("Out of date: the edits changed since this ran" in c for c in captions(at))


@pytest.mark.parametrize(
    ("edits", "where", "says"),
    [
        ("income*=1.1", "", "'income', which is not a feature"),
        ("employment_status+=1", "", "one-hot group"),
        ("order_amount*=2", "order_amount <", "The filter 'order_amount <' cannot be read"),
        ("order_amount*=2", "order_amount > 1e9", "matches none"),
    ],
)
def test_edits_that_cannot_apply_say_why_and_nothing_runs(
    database: str, rows_csv: Path, edits: str, where: str, says: str
) -> None:
    at = page(rows_csv)
    at.text_area(key=edits_key_of()).input(edits)
    at.text_input(key=f"whatif_bulk_where_{KEY}").input(where)
    run(at)
    assert any(says in c for c in captions(at)), captions(at)
    assert at.button(key=f"whatif_bulk_run_{KEY}").disabled


def test_the_builder_refuses_a_value_that_is_not_a_number(database: str, rows_csv: Path) -> None:
    add_edit(at := page(rows_csv), "order_amount", "add", "lots")
    assert at.text_area(key=edits_key_of()).value == ""
    assert any("'lots' is not a number" in c for c in captions(at))


def test_an_edit_set_is_saved_and_loaded_on_another_model_version(
    database: str, rows_csv: Path, server: EmbeddedServer
) -> None:
    at = page(rows_csv)
    at.text_area(key=edits_key_of()).input("average_monthly_income*=1.1\nemployment_status=Employed")
    at.text_input(key=f"whatif_bulk_where_{KEY}").input("order_amount > 500")
    at.text_input(key=f"whatif_bulk_name_{KEY}").input("income up")
    run(at)
    at.button(key=f"whatif_bulk_save_{KEY}").click()
    run(at)
    assert any("Saved the edit set 'income up'" in c for c in captions(at))
    store = EditSetStore.from_url(database)
    try:
        saved = store.get(server.predict_url, "1", "income up")
    finally:
        store.close()
    assert saved is not None and saved.edits == ("average_monthly_income*=1.1", "employment_status=Employed")
    assert saved.where == "order_amount > 500"

    v2 = page(rows_csv, V2)
    key = model_key(V2)
    assert v2.text_area(key=edits_key_of(V2)).value == ""
    v2.selectbox(key=f"whatif_bulk_set_{key}").set_value("income up")
    run(v2)
    v2.button(key=f"whatif_bulk_load_{key}").click()
    run(v2)
    assert v2.text_area(key=edits_key_of(V2)).value == "average_monthly_income*=1.1\nemployment_status=Employed"
    assert v2.text_input(key=f"whatif_bulk_where_{key}").value == "order_amount > 500"
    press_run(v2, key)
    assert any(m.label == "Rows whose class changed" for m in v2.metric)

    v2.selectbox(key=f"whatif_bulk_set_{key}").set_value("income up")
    run(v2)
    v2.button(key=f"whatif_bulk_delete_{key}").click()
    run(v2)
    assert any("Deleted the edit set 'income up'" in c for c in captions(v2))
    assert not [s for s in v2.selectbox if s.key == f"whatif_bulk_set_{key}"], "no saved set left to pick"


def test_without_a_history_edit_sets_cannot_be_saved(
    database: str, rows_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHATIF_BULK_TEST_DB", "")
    at = page(rows_csv)
    assert any("edit sets cannot be saved" in c for c in captions(at))


def test_a_regression_shows_the_changes_instead_of_classes(database: str, tmp_path: Path, client: ModelClient) -> None:
    schema = client.schema(DIABETES_PATH, DEMO_BUCKET)
    rows = pd.DataFrame([schema.defaults()] * 50)
    bmi = schema.feature("bmi")
    assert bmi.min is not None and bmi.max is not None
    rows["bmi"] = [bmi.min + (bmi.max - bmi.min) * i / 49 for i in range(50)]
    path = tmp_path / "patients.csv"
    rows.to_csv(path, index=False)
    at = page(path, DIABETES_PATH)
    key = model_key(DIABETES_PATH)
    at.text_area(key=f"whatif_bulk_edits_{key}").input("bmi*=1.1")
    run(at)
    press_run(at, key)
    metrics = {m.label: m.value for m in at.metric}
    assert "Rows whose inputs changed" in metrics and "Rows whose class changed" not in metrics
    assert len(charts(at)) == 2
    pushed = sum(b * 1.1 > bmi.max for b in rows["bmi"])
    assert pushed > 0 and metrics["Pushed outside the range"] == str(pushed)
