"""The Sanity checks page: a suite built with the form on the credit model, saved, run on v1 and v2 (one task
each, through the demo API), its report, its results compared across versions; a malformed suite is one
sentence; suggestions add checks; the suite and the report can be downloaded."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components.checks_view import UPLOAD_ROWS
from components.explore import answer_cache
from tests.pages.support import DEMO_HISTORY, captions, model_key, rendered_text, run
from whatif.history import RunStore
from whatif.server.samples import CREDIT_PATHS, DIABETES_PATH, TITANIC_PATH
from whatif.suites import NEWLY_FAILS, SuiteStore

PAGE = "pages/sanity_checks.py"
V1, V2 = CREDIT_PATHS
V1_LABEL, V2_LABEL = "Credit approval · v1", "Credit approval · v2 (latest)"
SUITE_NAME = "credit basics"
INCOME_CHECK, AMOUNT_CHECK = "income never hurts", "order amount ignored"
# the applicants of the credit suite of tests/whatif: v2's boosted trees let a higher income lower the
# second one's score, which v1's logistic regression never does
ROWS_CSV = (
    b"average_monthly_income,order_amount,employment_status\n1500,500,Employed\n4000,2000,Contract\n800,300,Employed\n"
)


@pytest.fixture(autouse=True)
def no_answers_known() -> None:
    """Each test starts with no model answers cached in the process, so every run sends its task."""
    answer_cache().clear()


@pytest.fixture()
def suite_store(app_home: Path) -> Iterator[SuiteStore]:
    """The suites and results the app keeps in this test's history database."""
    store = SuiteStore.from_url(RunStore.default_url(app_home))
    yield store
    store.close()


# ---- driving the page ------------------------------------------------------------------------------------
def open_page(at: AppTest, model: str = V1_LABEL) -> AppTest:
    run(at)
    run(at.switch_page(PAGE))
    at.selectbox(key="whatif_model").set_value(model)
    return run(at)


def path_of(model: str) -> str:
    return {
        V1_LABEL: V1,
        V2_LABEL: V2,
        "Titanic survival · v1": TITANIC_PATH,
        "Diabetes progression · v1": DIABETES_PATH,
    }[model]


def add_check(at: AppTest, model: str, kind: str, feature: str, name: str, **fields: Any) -> AppTest:
    """Fill the *Add a check* form and press *Add to the suite*."""
    prefix = f"checks_add_{model_key(path_of(model))}"
    at.radio(key=f"{prefix}_type").set_value(kind)
    run(at)
    if kind == "expect":  # a classifier's class; a regression has only a score range
        if "class" in fields:
            at.radio(key=f"{prefix}_expect").set_value("class")
            run(at)
            at.selectbox(key=f"{prefix}_class").set_value(fields["class"])
        if "low" in fields:
            at.number_input(key=f"{prefix}_low").set_value(fields["low"])
    else:
        at.selectbox(key=f"{prefix}_{kind}_feature").set_value(feature)
        run(at)
    if "set" in fields:
        at.number_input(key=f"{prefix}_set_{feature}").set_value(fields["set"])
    if "set_label" in fields:
        at.selectbox(key=f"{prefix}_set_{feature}").set_value(fields["set_label"])
    if "direction" in fields:
        at.radio(key=f"{prefix}_direction").set_value(fields["direction"])
    at.text_input(key=f"{prefix}_name").set_value(name)
    run(at)
    at.button(key=f"{prefix}_button").click()
    return run(at)


def build_credit_suite(at: AppTest) -> AppTest:
    at.text_input(key="checks_name").set_value(SUITE_NAME)
    run(at)
    add_check(at, V1_LABEL, "monotonic", "average_monthly_income", INCOME_CHECK, direction="increasing")
    return add_check(at, V1_LABEL, "invariant", "order_amount", AMOUNT_CHECK, set=1000)


def upload_rows(at: AppTest) -> AppTest:
    at.radio(key="checks_rows_source").set_value(UPLOAD_ROWS)
    run(at)
    at.file_uploader(key="checks_rows_upload").set_value(("applicants.csv", ROWS_CSV, "text/csv"))
    return run(at)


def run_suite(at: AppTest) -> AppTest:
    at.button(key="checks_run").click()
    return run(at)


# ---- reading it ------------------------------------------------------------------------------------------
def suite_text(at: AppTest) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(at.text_area(key="checks_text").value or "")
    return data


def headline(at: AppTest) -> str:
    (line,) = [m.value for m in at.markdown if "checks passed on" in m.value]
    return line


def table_with(at: AppTest, *columns: str) -> pd.DataFrame:
    (table,) = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    frame: pd.DataFrame = table
    return frame


def outcomes(at: AppTest) -> dict[str, str]:
    return dict(table_with(at, "Result", "Check").set_index("Check")["Result"])


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


# ---- tests -------------------------------------------------------------------------------------------------
def test_the_page_opens_on_a_new_suite_for_the_chosen_model(app: AppTest) -> None:
    open_page(app)
    assert app.title[0].value == "Sanity checks"
    assert [s.value for s in app.subheader] == ["Suite", "Run", "Across model versions"]
    assert app.selectbox(key="checks_suite").value == "New suite"
    assert suite_text(app) == {"version": 1, "name": "Credit approval checks", "checks": []}
    assert any("No checks yet" in c for c in captions(app)) and not errors(app)
    assert app.button(key="checks_run").disabled and app.button(key="checks_save").disabled


def test_a_suite_built_with_the_form_is_saved_run_on_two_versions_and_compared(
    app: AppTest, suite_store: SuiteStore
) -> None:
    open_page(app)
    build_credit_suite(app)
    assert suite_text(app) == {
        "version": 1,
        "name": SUITE_NAME,
        "checks": [
            {"name": INCOME_CHECK, "type": "monotonic", "feature": "average_monthly_income", "direction": "increasing"},
            {"name": AMOUNT_CHECK, "type": "invariant", "feature": "order_amount", "set": 1000},
        ],
    }
    assert any(f'Added "{AMOUNT_CHECK}"' in c for c in captions(app))
    assert any("2 checks, readable for Credit approval · v1" in c for c in captions(app))

    app.button(key="checks_save").click()
    run(app)
    assert app.selectbox(key="checks_suite").value == SUITE_NAME
    assert [s.name for s in suite_store.suites(DEMO_HISTORY, "1")] == [SUITE_NAME]

    upload_rows(app)
    assert "3 rows from the file." in captions(app)
    run_suite(app)
    assert headline(app).endswith(f'1 of 2 checks passed on Credit approval · v1: "{AMOUNT_CHECK}" failed')
    assert outcomes(app) == {INCOME_CHECK: "PASS", AMOUNT_CHECK: "FAIL"}
    report = table_with(app, "Result", "Check").set_index("Check")
    assert report.loc[AMOUNT_CHECK, "Failed cases"] == "3 of 3"
    assert report.loc[AMOUNT_CHECK, "Fail rate (95 % interval)"].startswith("100 % (")
    assert report.loc[INCOME_CHECK, "Fail rate (95 % interval)"].startswith("0 % (0–")
    assert any("rows sent in 1 task" in c and "the file's 3 rows" in c for c in captions(app))
    (failed,) = app.expander
    assert failed.label == f"FAIL · {AMOUNT_CHECK}: 3 of 3 cases failed"
    worst = table_with(app, "Change", "P(approved)", "Difference", "Other inputs of the row")
    assert len(worst) == 3 and worst["Change"].str.startswith("order_amount ").all()
    assert worst["Change"].str.endswith("→ 1000").all()
    assert not worst["Other inputs of the row"].str.contains("order_amount").any()
    assert worst["P(approved)"].str.fullmatch(r"\d+\.\d % → \d+\.\d %").all()
    (kept,) = suite_store.results(DEMO_HISTORY, "1", SUITE_NAME)
    assert (kept.model_version, kept.passed, kept.total, kept.key.path) == (1, 1, 2, V1)
    assert any("Run the suite on another version" in c for c in captions(app))

    app.selectbox(key="whatif_model").set_value(V2_LABEL)
    run(app)
    assert suite_text(app)["name"] == SUITE_NAME, "the suite stays when the model changes"
    upload_rows(app)
    run_suite(app)
    assert headline(app).endswith(
        f'0 of 2 checks passed on Credit approval · v2: "{INCOME_CHECK}" and "{AMOUNT_CHECK}" failed'
    )
    income_worst = [e for e in app.expander if e.label.startswith(f"FAIL · {INCOME_CHECK}")]
    assert len(income_worst) == 1
    versions = table_with(app, "Check", "v1", "v2").set_index("Check")
    assert list(versions.columns) == ["Type", "v1", "v2", "v2 change"]
    assert versions.loc[INCOME_CHECK].tolist() == ["monotonic", "passed", "failed", NEWLY_FAILS]
    assert versions.loc[AMOUNT_CHECK].tolist() == ["invariant", "failed", "failed", ""]
    markdown = [m.value for m in app.markdown]
    assert "**v1** passed 1 of 2 · **v2** passed 0 of 2" in markdown
    assert f'On v2, "{INCOME_CHECK}" :red[**newly fails**] (it passed on v1).' in markdown
    assert [r.model_version for r in suite_store.results(DEMO_HISTORY, "1", SUITE_NAME)] == [2, 1]


def test_a_malformed_suite_is_one_sentence_naming_the_check_and_the_field(app: AppTest) -> None:
    open_page(app)
    suite: dict[str, Any] = {
        "version": 1,
        "name": "broken",
        "checks": [{"name": INCOME_CHECK, "type": "monotonic", "feature": "average_monthly_income", "direction": "up"}],
    }
    app.text_area(key="checks_text").set_value(json.dumps(suite))
    run(app)
    assert errors(app) == [f'Check "{INCOME_CHECK}": "direction" must be "increasing" or "decreasing", not "up".']
    assert app.text_input(key="checks_name").value == "broken", "the name follows the text"
    assert app.button(key="checks_run").disabled and app.button(key="checks_save").disabled

    suite["checks"][0].update(direction="increasing", feature="income")
    app.text_area(key="checks_text").set_value(json.dumps(suite))
    run(app)
    assert errors(app) == [f'Check "{INCOME_CHECK}": feature "income" is not an input of this model.']
    app.text_area(key="checks_text").set_value('{"name": "x", "checks": [}')
    run(app)
    (sentence,) = errors(app)
    assert sentence.startswith("The suite is not valid JSON (") and "line 1" in sentence
    assert "Traceback" not in rendered_text(app)


def test_suggestions_add_a_monotonic_check_per_one_way_number_and_an_invariant_per_irrelevant_input(
    app: AppTest,
) -> None:
    open_page(app)
    key = model_key(V1)
    app.multiselect(key=f"checks_irrelevant_{key}").set_value(["order_amount"])
    app.button(key=f"checks_suggest_{key}").click()
    run(app)
    checks = {c["name"]: c for c in suite_text(app)["checks"]}
    income = checks["more average_monthly_income never lowers the score"]
    assert (income["type"], income["direction"]) == ("monotonic", "increasing")
    amount = checks["order_amount is ignored"]
    assert amount["type"] == "invariant" and isinstance(amount["set"], int | float)
    assert set(checks) == {income["name"], amount["name"]}, "the amount is named irrelevant, not monotonic"
    assert any("Added" in c and "order_amount is ignored" in c for c in captions(app))
    assert not errors(app)
    app.button(key=f"checks_suggest_{key}").click()  # again: nothing new to add
    run(app)
    assert len(suite_text(app)["checks"]) == 2
    assert any("already has" in c for c in captions(app))


def test_the_suite_and_the_report_are_offered_as_json_and_csv(app: AppTest, downloads: list[dict[str, Any]]) -> None:
    open_page(app)
    build_credit_suite(app)
    run_suite(app)  # on the schema's defaults: one row
    assert any("the schema's defaults (one row)" in c for c in captions(app))
    offered = {d["file_name"]: d for d in downloads}
    assert {"credit-basics.json", "credit-basics-report-v1.json", "credit-basics-report-v1.csv"} <= set(offered)
    assert json.loads(offered["credit-basics.json"]["data"]()) == suite_text(app)
    report = json.loads(offered["credit-basics-report-v1.json"]["data"]())
    assert (report["suite"], report["model"], report["passed"], report["total"]) == (
        SUITE_NAME,
        {"name": "Credit approval", "version": 1},
        1,
        2,
    )
    assert len(report["rows"]) == report["rows_sent"] > 2
    table = pd.read_csv(io.BytesIO(offered["credit-basics-report-v1.csv"]["data"]()))
    assert table.set_index("check")["result"].to_dict() == {INCOME_CHECK: "PASS", AMOUNT_CHECK: "FAIL"}
    secret = app.session_state["app_connection"].profile.secret
    everything = "".join(str(d["data"]()) for d in offered.values()) + rendered_text(app)
    assert secret not in everything


def test_a_history_that_cannot_be_opened_is_one_sentence_and_a_suite_still_runs(app: AppTest) -> None:
    app.secrets["connections"] = {"whatif_db": {"url": "sqlite:////no/such/folder/history.sqlite"}}
    run(app)
    run(app.switch_page(PAGE))
    (sentence,) = [e for e in errors(app) if "Suites can still be written" in e]
    assert sentence.startswith("The run history database sqlite:////no/such/folder/history.sqlite cannot be used")
    app.selectbox(key="whatif_model").set_value(V1_LABEL)
    run(app)
    build_credit_suite(app)
    assert app.button(key="checks_save").disabled
    run_suite(app)
    assert outcomes(app) == {INCOME_CHECK: "PASS", AMOUNT_CHECK: "FAIL"}
    assert "The run history cannot be used, so this result was not kept." in [w.value for w in app.warning]


def test_a_saved_suite_is_kept_across_pages_reloaded_by_name_and_deleted_with_its_results(
    app: AppTest, suite_store: SuiteStore
) -> None:
    open_page(app)
    build_credit_suite(app)
    app.button(key="checks_save").click()
    run(app)
    run_suite(app)
    run(app.switch_page("pages/saved_models.py"))  # another page, then back: Streamlit forgets unseen widgets
    run(app.switch_page(PAGE))
    assert app.selectbox(key="checks_suite").value == SUITE_NAME
    assert [c["name"] for c in suite_text(app)["checks"]] == [INCOME_CHECK, AMOUNT_CHECK], "the text survives"
    assert outcomes(app) == {INCOME_CHECK: "PASS", AMOUNT_CHECK: "FAIL"}, "so does the last report"

    app.selectbox(key="checks_suite").set_value("New suite")
    run(app)
    assert suite_text(app) == {"version": 1, "name": "Credit approval checks", "checks": []}
    app.selectbox(key="checks_suite").set_value(SUITE_NAME)
    run(app)
    assert suite_text(app)["name"] == SUITE_NAME and len(suite_text(app)["checks"]) == 2
    app.text_area(key="checks_text").set_value((app.text_area(key="checks_text").value or "").replace("1000", "1500"))
    run(app)
    assert any("Changed since it was saved" in c for c in captions(app))
    assert any("The suite changed since this ran" in c for c in captions(app))

    app.button(key="checks_delete").click()
    run(app)
    assert suite_store.suites(DEMO_HISTORY, "1") == [] and suite_store.results(DEMO_HISTORY, "1", SUITE_NAME) == []
    assert app.selectbox(key="checks_suite").value == "New suite"
    assert suite_text(app)["checks"] == []
    assert any(f'Deleted "{SUITE_NAME}"' in c for c in captions(app))


def test_category_and_class_checks_on_titanic_and_a_score_range_on_a_regression(app: AppTest) -> None:
    model = "Titanic survival · v1"
    open_page(app, model)
    add_check(app, model, "invariant", "pclass", "class is ignored", set_label=0)
    assert suite_text(app)["checks"] == [
        {"name": "class is ignored", "type": "invariant", "feature": "pclass", "set": 0}
    ]
    add_check(app, model, "expect", "", "", **{"class": "1"})  # no name typed: the one shown in grey
    assert suite_text(app)["checks"][1] == {"name": "every row is survived", "type": "expect", "class": 1}
    run_suite(app)
    assert set(outcomes(app)) == {"class is ignored", "every row is survived"}
    assert "the schema's defaults (one row)" in " ".join(captions(app))

    model = "Diabetes progression · v1"
    app.selectbox(key="whatif_model").set_value(model)
    run(app)
    assert suite_text(app)["name"] == "Titanic survival checks", "a suite with checks stays when the model changes"
    assert errors(app) == ['Check "class is ignored": feature "pclass" is not an input of this model.']
    app.button(key="checks_new").click()
    run(app)
    assert suite_text(app)["name"] == "Diabetes progression checks" and not errors(app)
    add_check(app, model, "expect", "", "progression not negative", low=0.0)
    assert suite_text(app)["checks"] == [{"name": "progression not negative", "type": "expect", "range": [0.0, None]}]
    run_suite(app)
    assert outcomes(app) == {"progression not negative": "PASS"}
