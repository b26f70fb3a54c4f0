"""The Compare page (and the what-if page's "Compare with another version"), run with AppTest against the demo API:
credit v1 against v2 by default, on a scenario (with both sweeps) and on a file; what the numbers say equals
in-process predictions; B on another API profile whose model lacks an input, named on the page."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.support import DEMO_HISTORY, TIMEOUT_S, captions, chart_data, charts, form_key, run
from tests.whatif.analysis.test_compare import fewer_model
from whatif.analysis.frames import request_frame
from whatif.analysis.runner import in_process_predict
from whatif.server.embedded import EmbeddedServer
from whatif.server.registry import ModelRegistry
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, credit_frame

PAGE = "pages/compare.py"
V1, V2 = CREDIT_PATHS
V1_LABEL, V2_LABEL = "Credit approval · v1", "Credit approval · v2 (latest)"
OTHER_USER = "79"  # the user of the second API profile: its only model lacks order_amount
ROWS = 80
VERSION_PAGE = str(Path(__file__).with_name("compare_version_page.py"))


def side_key(path: str, history: str = DEMO_HISTORY, user: str = "1") -> str:
    return hashlib.sha1(f"{history}/{user}/{DEMO_BUCKET}/{path}".encode()).hexdigest()[:8]


def field(path: str, feature: str) -> str:
    return f"compare_form_{side_key(path)}_{feature}"


def open_page(at: AppTest) -> AppTest:
    run(at)
    return run(at.switch_page(PAGE))


def local_probability(server: EmbeddedServer, path: str, form: dict[str, list[object]]) -> np.ndarray:
    registry = ModelRegistry(server.store)
    model = registry.load(DEMO_BUCKET, path)
    answers = in_process_predict(model)(request_frame(model.schema, form))
    return answers["probability_1"].to_numpy(dtype=float)


def metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta or "") for m in at.metric}


def test_the_page_opens_on_credit_v1_against_v2_and_compares_the_scenario(app: AppTest, server: EmbeddedServer) -> None:
    open_page(app)
    assert app.selectbox(key="compare_model_a").value == V1_LABEL
    assert app.selectbox(key="compare_model_b").value == V2_LABEL
    assert app.selectbox(key="compare_api_b").value == "Local demo API"
    assert any("take the same inputs and predict the same classes" in c for c in captions(app))

    app.text_input(key=field(V1, "average_monthly_income")).set_value("1500")
    app.selectbox(key=field(V1, "employment_status")).set_value("Contract")
    app.button(key="compare_run_scenario").click()
    run(app)

    amount = float(str(app.text_input(key=field(V1, "order_amount")).value))
    defaults: dict[str, list[object]] = {
        "order_amount": [amount],
        "average_monthly_income": [1500.0],
        "employment_status": ["Contract"],
    }
    p1, p2 = local_probability(server, V1, defaults)[0], local_probability(server, V2, defaults)[0]
    shown = metrics(app)
    label = lambda p: "approved" if p > 0.5 else "rejected"  # noqa: E731
    assert shown["A · Credit approval · v1"][0] == label(p1)
    assert shown["B · Credit approval · v2"][0] == label(p2)
    assert shown["Difference (B − A)"][0] == f"{(p2 - p1) * 100:+.1f} pts"
    assert shown["Difference (B − A)"][1] == ("same class" if label(p1) == label(p2) else "different classes")
    assert f"P(approved): {p1 * 100:.0f} %" in captions(app)
    assert any(c.startswith("2 rows sent in 2 tasks, submitted together; answered ") for c in captions(app))
    assert len(charts(app)) == 1, "the two answers' bars"
    assert not app.error


def test_a_sweep_overlays_both_models(app: AppTest) -> None:
    open_page(app)
    app.selectbox(key=f"compare_sweep_{side_key(V1)}").set_value("order_amount")
    app.button(key="compare_run_scenario").click()
    run(app)

    assert len(charts(app)) == 2
    sweep = pd.concat(chart_data(charts(app)[1]))
    assert set(sweep["model_label"].dropna()) == {"A · Credit approval · v1", "B · Credit approval · v2"}
    assert (sweep.dropna(subset=["point"]).groupby("side").size() > 10).all()
    assert any("Along order_amount" in m.value for m in app.markdown)


def test_the_form_starts_from_the_what_if_page_s_values(app: AppTest) -> None:
    run(app)
    app.selectbox(key="whatif_model").set_value(V1_LABEL)
    run(app)
    app.text_input(key=form_key(V1, "average_monthly_income")).set_value("4321")
    run(app)
    run(app.switch_page(PAGE))

    assert app.text_input(key=field(V1, "average_monthly_income")).value == "4321"
    app.button(key=f"compare_reset_{side_key(V1)}").click()
    run(app)
    assert app.text_input(key=field(V1, "average_monthly_income")).value != "4321"


def test_a_field_that_is_not_a_number_holds_the_compare_button(app: AppTest) -> None:
    open_page(app)
    app.text_input(key=field(V1, "order_amount")).set_value("lots")
    run(app)
    assert any("'lots' is not a number" in c for c in captions(app))
    assert app.button(key="compare_run_scenario").disabled


def test_a_file_gives_agreement_the_matrix_and_the_rows_that_disagree_most(
    app: AppTest, server: EmbeddedServer, downloads: list
) -> None:
    frame = credit_frame().head(ROWS)
    open_page(app)
    app.file_uploader(key="compare_rows_upload").set_value(
        ("applicants.csv", frame.to_csv(index=False).encode(), "text/csv")
    )
    run(app)
    assert f"{ROWS} rows from applicants.csv." in captions(app)
    app.button(key="compare_run_rows").click()
    run(app)

    request = frame.drop(columns="approved")
    registry = ModelRegistry(server.store)
    answers = [in_process_predict(registry.load(DEMO_BUCKET, path))(request) for path in (V1, V2)]
    agree = float((answers[0]["prediction"] == answers[1]["prediction"]).mean())
    gaps = (answers[1]["probability_1"] - answers[0]["probability_1"]).abs()
    shown = metrics(app)
    assert shown["Agreement"][0] == f"{agree * 100:.1f} %"
    assert shown["Mean |difference| of P(approved)"][0] == f"{gaps.mean() * 100:.1f} pts"
    assert shown["Largest |difference| of P(approved)"][0] == f"{gaps.max() * 100:.1f} pts"
    table = next(d.value for d in app.dataframe if "A says" in d.value.columns)
    assert len(table) == 20 and {"Row", "B says", "P(approved) by A (%)", "employment_status"} <= set(table.columns)
    matrix = pd.concat(chart_data(charts(app)[-2]))
    assert int(matrix.drop_duplicates(["a_class", "b_class"])["rows"].sum()) == ROWS
    assert {d["file_name"] for d in downloads} >= {"compare-rows.csv", "compare-rows-sent.csv"}
    every_row = pd.read_csv(
        pd.io.common.BytesIO(next(d for d in downloads if d["file_name"] == "compare-rows.csv")["data"]())
    )
    assert len(every_row) == ROWS and {"a_class", "b_class", "difference", "order_amount"} <= set(every_row.columns)


def test_a_bad_file_is_said_under_the_uploader(app: AppTest) -> None:
    open_page(app)
    app.file_uploader(key="compare_rows_upload").set_value(("bad.csv", b"order_amount\n100\n", "text/csv"))
    run(app)
    assert any("has no column for average_monthly_income" in c for c in captions(app))
    assert app.button(key="compare_run_rows").disabled


@pytest.fixture()
def other_api(app_home: Path, server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An API profile from the environment: the test server as user 79, whose one model lacks order_amount."""
    estimator, schema = fewer_model()
    saved = ModelRegistry(server.store).save(
        estimator,
        schema,
        bucket=DEMO_BUCKET,
        user=OTHER_USER,
        project="1",
        name=schema.name,
        description="for tests/pages/test_compare",
    )
    for name, value in {
        "WHATIF_API_URL": server.predict_url,
        "WHATIF_API_SECRET": server.secret,
        "WHATIF_USER_ID": OTHER_USER,
        "WHATIF_USER_EMAIL": "other@example.com",
    }.items():
        monkeypatch.setenv(name, value)
    yield saved["path"]


def test_model_b_on_another_api_profile_and_a_missing_input_named(app: AppTest, other_api: str) -> None:
    open_page(app)  # the sidebar's API is the environment's profile (user 79): model A is its model
    assert app.selectbox(key="compare_model_a").value == "Credit fewer inputs · v1"
    app.selectbox(key="compare_api_b").set_value("Local demo API")
    run(app)
    app.selectbox(key="compare_model_b").set_value(V1_LABEL)
    run(app)

    notes = " ".join(m.value for m in app.markdown)
    assert (
        "Credit approval · v1 has an input that Credit fewer inputs · v1 lacks, filled with Credit approval "
        "· v1's default on every row: 'order_amount' (702)."
    ) in notes
    assert "'employment_status' is a category in Credit fewer inputs · v1 but a one-hot group" in notes
    app.button(key="compare_run_scenario").click()
    run(app)
    assert not app.error
    assert set(metrics(app)) == {"A · Credit fewer inputs · v1", "B · Credit approval · v1", "Difference (B − A)"}


def test_compare_with_another_version_from_the_what_if_page(app_home: Path, server: EmbeddedServer) -> None:
    at = AppTest.from_file(VERSION_PAGE, default_timeout=TIMEOUT_S)
    run(at)
    at.selectbox(key="whatif_model").set_value(V1_LABEL)
    run(at)
    other = at.selectbox(key=f"whatif_compare_other_{side_key_of_choice(V1)}")
    assert other.options[0] == V2_LABEL, "the other version of this model first"
    at.button(key=f"whatif_compare_run_{side_key_of_choice(V1)}").click()
    run(at)

    values: dict[str, list[object]] = {
        name: [float(str(at.text_input(key=form_key(V1, name)).value))]
        for name in ("order_amount", "average_monthly_income")
    }
    values["employment_status"] = [at.selectbox(key=form_key(V1, "employment_status")).value]
    p1, p2 = local_probability(server, V1, values)[0], local_probability(server, V2, values)[0]
    shown = metrics(at)
    assert set(shown) == {"A · Credit approval · v1", "B · Credit approval · v2"}, "two metrics: a narrow column"
    assert shown["B · Credit approval · v2"][1] == f"{(p2 - p1) * 100:+.1f} pts vs A"
    assert any(c.startswith("2 rows sent in 2 tasks") for c in captions(at))

    at.text_input(key=form_key(V1, "average_monthly_income")).set_value("100")
    run(at)
    assert any("Out of date" in c for c in captions(at)), "the result stays, marked out of date"


def side_key_of_choice(path: str) -> str:
    """``ModelChoice.key``: the what-if page's widget keys of a model."""
    return hashlib.sha1(f"{DEMO_BUCKET}/{path}".encode()).hexdigest()[:8]
