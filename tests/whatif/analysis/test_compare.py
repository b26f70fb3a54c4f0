"""Comparing two models or versions against the real reference server: credit v1 against v2 on the same rows
(agreement and confusion matrix equal those of in-process predictions), both tasks submitted before either is
waited for, classes and categories matched by label, a missing input named and filled with its default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.whatif.analysis.explore_support import one_sentence
from tests.whatif.analysis.test_runner import tasks_on
from whatif.analysis import AnalysisError, Predict
from whatif.analysis.compare import (
    MAX_DISAGREEMENTS,
    A,
    B,
    Side,
    align_rows,
    compare_rows,
    compare_scenario,
    predict_both,
    read_rows,
    schema_differences,
    side_name,
)
from whatif.analysis.frames import request_frame
from whatif.analysis.grids import feature_grid
from whatif.analysis.runner import Progress, in_process_predict
from whatif.client import ModelClient, PredictionResult, Rows
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.registry import ModelRegistry
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DIABETES_PATH, TITANIC_PATH, credit_frame, diabetes_data

VARIANT_USER, VARIANT_PROJECT = "78", "1"  # a user of its own: the demo user's model list stays as it was
V1, V2 = CREDIT_PATHS
ROWS = 400
# the variant codes employment as ONE label-encoded input, in another order than the one-hot group's columns
STATUS_CODES = {"0": "Other", "1": "Contract", "2": "Self-Employed", "3": "Employed"}


# ---- the models ---------------------------------------------------------------------------------------------
def local(server: EmbeddedServer, path: str) -> Predict:
    return in_process_predict(ModelRegistry(server.store).load(DEMO_BUCKET, path))


def credit_side(client: ModelClient, path: str) -> Side:
    schema = client.schema(path, DEMO_BUCKET)
    return Side(client, path, DEMO_BUCKET, schema, side_name(schema, path))


def credit_rows(schema: FeatureSchema, n: int = ROWS) -> pd.DataFrame:
    """``n`` applications of the credit table as form values (employment as its label)."""
    frame = credit_frame().drop(columns="approved").head(n)
    return pd.DataFrame([schema.from_row(row) for row in frame.to_dict(orient="records")])


@dataclass(frozen=True)
class Variants:
    """Credit models saved for these tests under a user of their own, and a client of that user."""

    client: ModelClient
    flipped: str  # v1's very model, trained on the flipped target: class 0 is "approved", 1 "rejected"
    fewer: str  # no order_amount; employment as one label-encoded input (codes in another order)


def flipped_model() -> tuple[Any, FeatureSchema]:
    """Credit v1 (same inputs, same pipeline) trained to predict REJECTION: probability_0 means approved."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from whatif.server.samples import credit_model

    frame = credit_frame()
    x, y = frame.drop(columns="approved"), 1 - frame["approved"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    schema = credit_model(1)[1]
    return model, FeatureSchema(
        schema.features,
        name="Credit flipped",
        version=1,
        task="classification",
        target="approved",
        classes=(0, 1),
        class_labels={"0": "approved", "1": "rejected"},
    )


def fewer_model() -> tuple[Any, FeatureSchema]:
    """Income and employment only (no order_amount); employment coded 0..3 by STATUS_CODES."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = credit_frame()
    status = np.full(len(frame), "Other", dtype=object)
    for name in ("Employed", "Self-Employed", "Contract"):
        status[frame[f"employment_status_{name}"].to_numpy() == 1] = name
    code_of = {label: int(code) for code, label in STATUS_CODES.items()}
    x = pd.DataFrame(
        {"average_monthly_income": frame["average_monthly_income"], "employment_status": [code_of[s] for s in status]}
    )
    model = HistGradientBoostingClassifier(max_iter=60, max_depth=3, random_state=1).fit(x, frame["approved"])
    features = (
        Feature("average_monthly_income", "number", 0, 30000, 2500),
        Feature("employment_status", "integer", 0, 3, 3, labels=dict(STATUS_CODES)),
    )
    return model, FeatureSchema(
        features,
        name="Credit fewer inputs",
        version=1,
        task="classification",
        target="approved",
        classes=(0, 1),
        class_labels={"0": "rejected", "1": "approved"},
    )


@pytest.fixture(scope="module")
def variants(server: EmbeddedServer) -> Iterator[Variants]:
    registry = ModelRegistry(server.store)
    paths = []
    for estimator, schema in (flipped_model(), fewer_model()):
        saved = registry.save(
            estimator,
            schema,
            bucket=DEMO_BUCKET,
            user=VARIANT_USER,
            project=VARIANT_PROJECT,
            name=schema.name,
            description="for test_compare",
        )
        paths.append(saved["path"])
    with ModelClient(
        server.predict_url, secret=server.secret, user_id=VARIANT_USER, email="variant@example.com", poll_deadline_s=30
    ) as client:
        yield Variants(client, *paths)


def variant_side(variants: Variants, path: str) -> Side:
    schema = variants.client.schema(path, DEMO_BUCKET)
    return Side(variants.client, path, DEMO_BUCKET, schema, side_name(schema, path))


class Recording:
    """A client that notes every submit and wait, in order, into a shared log."""

    def __init__(self, client: ModelClient, name: str, log: list[tuple[str, str]]) -> None:
        self.client, self.name, self.log = client, name, log

    def submit(self, rows: Rows, path: str, bucket: str, return_only_prediction: bool = False) -> str:
        task_id = self.client.submit(rows, path, bucket, return_only_prediction)
        self.log.append(("submit", self.name))
        return task_id

    def wait(self, task_id: str, timeout: float | None = None, on_status: Any = None) -> PredictionResult:
        self.log.append(("wait", self.name))
        return self.client.wait(task_id, timeout=timeout, on_status=on_status)


# ---- credit v1 against v2 -----------------------------------------------------------------------------------
def test_v1_against_v2_on_the_same_rows_agrees_with_in_process_predictions(
    server: EmbeddedServer, client: ModelClient
) -> None:
    a, b = credit_side(client, V1), credit_side(client, V2)
    rows = credit_rows(a.schema)
    before = tasks_on(server)

    result = compare_rows(a, b, rows)

    assert tasks_on(server) - before == 2 and result.tasks == 2, "one task per model"
    request = request_frame(a.schema, {f.name: rows[f.name].tolist() for f in a.schema.features})
    answers_a, answers_b = local(server, V1)(request), local(server, V2)(request)
    labels = {0: "rejected", 1: "approved"}
    class_a, class_b = answers_a["prediction"].map(labels), answers_b["prediction"].map(labels)
    assert result.facts["agreement"] == pytest.approx(float((class_a == class_b).mean()))
    assert 0.8 < result.facts["agreement"] < 1.0, "the two versions mostly, not always, agree"
    expected = pd.crosstab(class_a, class_b)
    matrix = result.confusion.pivot(index="a_class", columns="b_class", values="rows")
    for a_class in ("rejected", "approved"):
        for b_class in ("rejected", "approved"):
            assert matrix.loc[a_class, b_class] == expected.get(b_class, {}).get(a_class, 0), (a_class, b_class)
    assert result.confusion["rows"].sum() == ROWS
    difference = answers_b["probability_1"] - answers_a["probability_1"]
    assert result.facts["score_label"] == "approved"
    assert result.facts["mean_abs_difference"] == pytest.approx(float(difference.abs().mean()), abs=1e-9)
    assert result.facts["max_abs_difference"] == pytest.approx(float(difference.abs().max()), abs=1e-9)
    assert result.facts["max_difference_row"] == int(difference.abs().to_numpy().argmax()) + 1
    assert np.allclose(result.summary["difference"], difference, atol=1e-9)
    assert result.differences == (), "two versions of one model with the same inputs"

    top = result.disagreements
    assert len(top) == MAX_DISAGREEMENTS
    disagreeing = int((class_a != class_b).sum())
    assert not top["agree"].head(min(disagreeing, MAX_DISAGREEMENTS)).any(), "rows whose classes differ come first"
    first = top.head(min(disagreeing, MAX_DISAGREEMENTS))["distance"].to_numpy()
    assert (np.diff(first) <= 1e-12).all(), "then by how far apart their probabilities are"
    assert {"order_amount", "average_monthly_income", "employment_status"} <= set(top.columns), "A's inputs shown"
    assert set(top["employment_status"]) <= {"Employed", "Self-Employed", "Contract", "Other"}
    assert one_sentence(result.reading.split(". ")[0] + ".") and "agree on" in result.reading

    sent = result.sent
    assert (sent["side"] == A).sum() == ROWS and (sent["side"] == B).sum() == ROWS, "every row sent to each"
    json.dumps(result.to_json())  # JSON-ready as the CLI prints it


def test_both_tasks_are_submitted_before_either_is_waited_for(client: ModelClient) -> None:
    log: list[tuple[str, str]] = []
    plain_a, plain_b = credit_side(client, V1), credit_side(client, V2)
    a = Side(Recording(client, A, log), V1, DEMO_BUCKET, plain_a.schema, plain_a.name)
    b = Side(Recording(client, B, log), V2, DEMO_BUCKET, plain_b.schema, plain_b.name)

    compare_scenario(a, b, a.schema.defaults(), sweep_feature="average_monthly_income")

    assert log == [("submit", A), ("submit", B), ("wait", A), ("wait", B)]

    log.clear()
    rows = credit_rows(a.schema, 20)
    split = compare_rows(a, b, rows, max_rows=7)  # 3 tasks per side
    assert log == [("submit", A)] * 3 + [("submit", B)] * 3 + [("wait", A)] * 3 + [("wait", B)] * 3
    assert split.tasks == 6
    whole = compare_rows(plain_a, plain_b, rows)
    assert np.allclose(split.summary["a_score"], whole.summary["a_score"]), "answers re-joined in order"
    assert np.allclose(split.summary["b_score"], whole.summary["b_score"])


def test_progress_names_each_side_and_its_task(client: ModelClient) -> None:
    a, b = credit_side(client, V1), credit_side(client, V2)
    seen: list[tuple[str, Progress]] = []
    request = request_frame(a.schema, {k: [v] for k, v in a.schema.defaults().items()})

    answers_a, answers_b = predict_both(
        a, b, request, request, on_progress=lambda side, step: seen.append((side, step))
    )

    assert len(answers_a) == len(answers_b) == 1
    assert [side for side, step in seen if step.state == "SUBMITTING"] == [A, B]
    assert {side for side, step in seen if step.state == "SUCCESS"} == {A, B}
    assert all(step.task_id for side, step in seen if step.state == "SUCCESS")


def test_the_scenario_side_by_side_with_both_sweeps_in_the_same_two_tasks(
    server: EmbeddedServer, client: ModelClient
) -> None:
    a, b = credit_side(client, V1), credit_side(client, V2)
    scenario = {"order_amount": 900, "average_monthly_income": 1500, "employment_status": "Contract"}
    before = tasks_on(server)

    result = compare_scenario(a, b, scenario, sweep_feature="average_monthly_income", points=12)

    assert tasks_on(server) - before == 2 and result.tasks == 2
    grid = feature_grid(a.schema.feature("average_monthly_income"), 1500, 12)
    form = {
        "order_amount": [900] * (1 + len(grid)),
        "average_monthly_income": [1500, *grid],
        "employment_status": ["Contract"] * (1 + len(grid)),
    }
    request = request_frame(a.schema, form)
    p_a, p_b = local(server, V1)(request)["probability_1"], local(server, V2)(request)["probability_1"]
    side = result.summary.set_index("side")
    assert side.loc[A, "score"] == pytest.approx(p_a[0]) and side.loc[B, "score"] == pytest.approx(p_b[0])
    assert side.loc[A, "P(approved)"] == pytest.approx(p_a[0]) and side.loc[A, "P(rejected)"] == pytest.approx(
        1 - p_a[0], abs=1e-5
    )
    assert result.facts["difference"] == pytest.approx(p_b[0] - p_a[0])
    assert result.facts["class_a"] == ("approved" if p_a[0] > 0.5 else "rejected")
    curves = result.curves
    assert np.allclose(curves[curves["side"] == A]["score"], p_a[1:]) and np.allclose(
        curves[curves["side"] == B]["score"], p_b[1:]
    )
    assert curves[curves["side"] == A]["value"].tolist() == grid
    gaps = np.abs(p_b[1:].to_numpy() - p_a[1:].to_numpy())
    assert result.facts["max_abs_difference"] == pytest.approx(gaps.max())
    assert result.facts["value_at_max_difference"] == grid[int(gaps.argmax())]
    assert "average_monthly_income" in result.reading and result.model_b in result.reading


# ---- matched by label ---------------------------------------------------------------------------------------
def test_classes_are_matched_by_label_not_by_position(client: ModelClient, variants: Variants) -> None:
    a, b = credit_side(client, V1), variant_side(variants, variants.flipped)
    rows = credit_rows(a.schema, 300)

    result = compare_rows(a, b, rows)

    # the same model trained on the flipped target: by position (probability_1 against probability_1) they would
    # disagree on nearly every row; by label they are the same model
    assert result.facts["agreement"] >= 0.99
    assert result.facts["mean_abs_difference"] < 0.005
    matrix = result.confusion.set_index(["a_class", "b_class"])["rows"]
    assert matrix[("approved", "approved")] + matrix[("rejected", "rejected")] >= 297
    assert set(result.confusion["b_class"]) == {"approved", "rejected"}
    sent_b = result.sent[result.sent["side"] == B]
    by_position = sent_b["prediction"].to_numpy() == result.sent[result.sent["side"] == A]["prediction"].to_numpy()
    assert by_position.mean() < 0.05, "the raw class codes do disagree"
    assert any("code their classes differently" in s and "approved: 1 in" in s for s in result.differences)


def test_a_missing_input_is_named_and_filled_with_its_default(
    server: EmbeddedServer, client: ModelClient, variants: Variants
) -> None:
    fewer, v1 = variant_side(variants, variants.fewer), credit_side(client, V1)
    rows = credit_rows(v1.schema, 60)
    default = v1.schema.defaults()["order_amount"]

    result = compare_rows(fewer, v1, rows[["average_monthly_income", "employment_status"]])

    named = [s for s in result.differences if "'order_amount'" in s]
    assert named and "default" in named[0] and f"({default:g})" in named[0], result.differences
    sent_b = result.sent[result.sent["side"] == B]
    assert (sent_b["order_amount"] == default).all(), "B got its default on every row"
    assert result.facts["defaulted"] == {"order_amount": 60}
    request_b = sent_b[v1.schema.input_columns].reset_index(drop=True)
    expected = local(server, V1)(request_b)["probability_1"]
    assert np.allclose(result.summary["b_score"], expected)

    reverse = compare_rows(v1, fewer, rows)
    assert any("has no input 'order_amount'" in s and "sent to" in s for s in reverse.differences)
    assert "order_amount" not in reverse.sent[reverse.sent["side"] == B].dropna(axis=1, how="all").columns


def test_categories_go_from_a_one_hot_group_to_codes_by_label(client: ModelClient, variants: Variants) -> None:
    v1, fewer = credit_side(client, V1), variant_side(variants, variants.fewer)
    rows = credit_rows(v1.schema, 80)

    aligned = align_rows(v1.schema, fewer.schema, rows)

    codes = aligned.request_b["employment_status"].map(lambda code: STATUS_CODES[str(code)])
    assert codes.tolist() == rows["employment_status"].tolist(), "the same label, whatever its code"
    assert aligned.defaulted == {}
    assert list(aligned.request_a.columns) == v1.schema.input_columns
    assert list(aligned.request_b.columns) == fewer.schema.input_columns
    sentences = schema_differences(v1.schema, fewer.schema, "v1", "fewer")
    assert any("'employment_status' is a one-hot group in v1 but a category in fewer" in s for s in sentences)

    back = align_rows(
        fewer.schema, v1.schema, pd.DataFrame({"average_monthly_income": [900.0, 1800.0], "employment_status": [1, 0]})
    )
    assert v1.schema.from_row(back.request_b.iloc[0].to_dict())["employment_status"] == "Contract"
    assert v1.schema.from_row(back.request_b.iloc[1].to_dict())["employment_status"] == "Other"


def test_a_file_column_for_an_input_only_b_has_is_used(client: ModelClient, variants: Variants) -> None:
    fewer, v1 = variant_side(variants, variants.fewer), credit_side(client, V1)
    data = b"average_monthly_income,employment_status,order_amount\n1500,Employed,400\n900,Contract,2500\n"

    rows = read_rows(fewer.schema, v1.schema, data)
    result = compare_rows(fewer, v1, rows)

    assert rows["employment_status"].tolist() == [3, 1], "labels read as A's codes"
    assert result.sent[result.sent["side"] == B]["order_amount"].tolist() == [400, 2500]
    assert any("taken from the rows' own column" in s for s in result.differences)
    assert result.facts["defaulted"] == {}


# ---- differences and alignment by hand ------------------------------------------------------------------------
def hand_schemas() -> tuple[FeatureSchema, FeatureSchema]:
    a = FeatureSchema(
        (
            Feature("x", "number", 0, 10, 5),
            Feature("y", "integer", 0, 2, 1, labels={"0": "a", "1": "b", "2": "c"}),
            Feature("n", "number", 0, 100, 50),
        ),
        task="classification",
        classes=(0, 1),
        class_labels={"0": "no", "1": "yes"},
    )
    b = FeatureSchema(
        (
            Feature("y", "integer", 0, 3, 0, labels={"0": "b", "1": "a", "3": "d"}),
            Feature("z", "boolean", default=True),
            Feature("n", "integer", 0, 200, 50),
        ),
        task="classification",
        classes=(0, 1, 2),
        class_labels={"0": "yes", "1": "no", "2": "maybe"},
    )
    return a, b


def test_schema_differences_name_every_difference_in_sentences() -> None:
    a, b = hand_schemas()

    sentences = schema_differences(a, b, "v1", "v2")

    assert sentences[0] == "v2 has an input that v1 lacks, filled with v2's default on every row: 'z' (true)."
    assert "v2 has no input 'x': it is sent to v1 only, so changing it cannot move v2's answer." in sentences
    assert "'y' has the choice 'c' in v1 that v2 lacks: where a row has it, v2 gets its default, b." in sentences
    assert any(
        s.startswith("'y' codes its categories differently (a: 0 in v1, 1 in v2; b: 1 in v1, 0 in v2)")
        for s in sentences
    )
    assert any("'n' is a number in v1 but a whole number in v2" in s for s in sentences)
    assert any("'n' was trained on 0 to 100 in v1 and on 0 to 200 in v2" in s for s in sentences)
    assert any(s.startswith("The classes differ: v1 predicts no and yes and v2 yes, no and maybe") for s in sentences)
    assert all(s.endswith(".") and "\n" not in s for s in sentences)
    assert schema_differences(a, a) == []


def test_align_rows_fills_what_b_cannot_take_with_its_default() -> None:
    a, b = hand_schemas()
    rows = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 2], "n": [10.4, 20.6, 30.0]})

    aligned = align_rows(a, b, rows)

    assert aligned.request_b["y"].tolist() == [1, 0, 0], "a -> 1, b -> 0 (by label), c -> B's default"
    assert aligned.request_b["z"].tolist() == [True] * 3
    assert aligned.request_b["n"].tolist() == [10, 21, 30], "rounded for a whole number"
    assert aligned.defaulted == {"y": 1, "z": 3}
    assert "x" not in aligned.request_b.columns


def test_side_names_never_read_alike() -> None:
    a, _ = hand_schemas()
    named = FeatureSchema(a.features, name="Credit approval", version=2)
    assert side_name(named, "p") == "Credit approval · v2"
    assert side_name(named, "p", other="Credit approval · v2") == "Credit approval · v2 (B)"
    assert side_name(a, "1/4/x.json") == "1/4/x.json"


# ---- regressions and refusals -------------------------------------------------------------------------------
def test_a_regression_compared_with_itself_on_two_connections(server: EmbeddedServer, client: ModelClient) -> None:
    schema = client.schema(DIABETES_PATH, DEMO_BUCKET)
    with ModelClient(server.predict_url, secret=server.secret, poll_deadline_s=30) as other:
        a = Side(client, DIABETES_PATH, DEMO_BUCKET, schema, "Diabetes here")
        b = Side(other, DIABETES_PATH, DEMO_BUCKET, schema, "Diabetes there")
        x, _ = diabetes_data()
        result = compare_rows(a, b, x.head(40))
        scenario = compare_scenario(a, b, schema.defaults(), sweep_feature="bmi", points=8)

    assert result.facts["agreement"] is None and result.confusion.empty
    assert result.facts["max_abs_difference"] == 0 and result.facts["correlation"] == pytest.approx(1.0)
    assert {"a_value", "b_value", "difference"} <= set(result.summary.columns)
    assert result.reading == "Diabetes here and Diabetes there predict the same value for every one of the 40 rows."
    assert scenario.facts["difference"] == 0
    assert scenario.reading.endswith("Along bmi they give the same answer at every value.")
    json.dumps(result.to_json())
    json.dumps(scenario.to_json())


def test_a_classifier_and_a_regression_are_refused_in_one_sentence(client: ModelClient) -> None:
    diabetes = Side(client, DIABETES_PATH, DEMO_BUCKET, client.schema(DIABETES_PATH, DEMO_BUCKET), "Diabetes")
    titanic = Side(client, TITANIC_PATH, DEMO_BUCKET, client.schema(TITANIC_PATH, DEMO_BUCKET), "Titanic")
    with pytest.raises(AnalysisError) as refused:
        compare_scenario(titanic, diabetes, titanic.schema.defaults())
    assert one_sentence(str(refused.value)) and "same kind of answer" in str(refused.value)


def test_a_model_that_is_not_there_is_named_in_one_sentence(client: ModelClient) -> None:
    a = credit_side(client, V1)
    missing = Side(client, "1/4/model-groups/2/99.json", DEMO_BUCKET, a.schema, "Credit approval · v99")
    with pytest.raises(AnalysisError) as failed:
        compare_scenario(a, missing, a.schema.defaults())
    text = str(failed.value)
    assert text.startswith("Credit approval · v99 could not answer: ") and "404" in text
    assert "\n" not in text and text.endswith(".")


def test_nothing_to_compare_and_unknown_inputs_are_refused(client: ModelClient) -> None:
    a, b = credit_side(client, V1), credit_side(client, V2)
    with pytest.raises(AnalysisError, match="no rows"):
        compare_rows(a, b, credit_rows(a.schema).head(0))
    with pytest.raises(AnalysisError, match="'age' is an input of neither model"):
        compare_scenario(a, b, {**a.schema.defaults(), "age": 30})
    with pytest.raises(AnalysisError, match="'order_amount'"):
        compare_scenario(a, b, {**a.schema.defaults(), "order_amount": "lots"})
