"""Shapley contributions of one prediction: against the real server, a brute-force reference and closed forms."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from tests.conftest import DEMO_BUCKET, SEED_TITANIC_ROW, TITANIC_PATH
from whatif.analysis import AnalysisError, Predict
from whatif.analysis.contributions import contributions
from whatif.analysis.runner import BatchPredictor, in_process_predict
from whatif.client import ModelClient
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.registry import LoadedModel, ModelRegistry
from whatif.server.samples import CREDIT_PATHS

THIRD_CLASS_MAN = {"pclass": 2, "sex": 1, "age": 29, "sibsp": 0, "parch": 0, "fare": 8.05, "embarked": 2}


class Counting:
    """A Predict that counts its calls and the rows it was given."""

    def __init__(self, predict: Predict) -> None:
        self.predict = predict
        self.calls = 0
        self.rows = 0

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        self.rows += len(rows)
        return self.predict(rows)


def loaded(server: EmbeddedServer, path: str) -> LoadedModel:
    """The model the server answers with, loaded in this process from the same store."""
    return ModelRegistry(server.store).load(DEMO_BUCKET, path)


def brute_force_shapley(
    schema: FeatureSchema,
    predict: Predict,
    scenario: Mapping[str, Any],
    background: Sequence[Mapping[str, Any]],
    score: Callable[[pd.DataFrame], np.ndarray],
) -> dict[str, float]:
    """The textbook formula, written independently of the module: every subset S of the other features,
    weight |S|! (k - |S| - 1)! / k!, value of a coalition = mean score over the background rows, each row
    built and validated by ``schema.to_row``."""
    names = [f.name for f in schema.features]
    k = len(names)
    subsets = [frozenset(c) for size in range(k + 1) for c in itertools.combinations(names, size)]
    rows = [
        schema.to_row({n: (scenario[n] if n in subset else back[n]) for n in names})
        for subset in subsets
        for back in background
    ]
    scores = score(predict(pd.DataFrame(rows, columns=schema.input_columns)))
    value = {
        subset: float(np.mean(scores[i * len(background) : (i + 1) * len(background)]))
        for i, subset in enumerate(subsets)
    }
    phi = {}
    for name in names:
        total = 0.0
        for subset in subsets:
            if name in subset:
                continue
            weight = math.factorial(len(subset)) * math.factorial(k - len(subset) - 1) / math.factorial(k)
            total += weight * (value[subset | {name}] - value[subset])
        phi[name] = total
    return phi


def probability_of_one(answers: pd.DataFrame) -> np.ndarray:
    return answers["probability_1"].to_numpy(dtype=float)


def by_feature(summary: pd.DataFrame, column: str = "contribution") -> dict[str, float]:
    return dict(zip(summary["feature"], summary[column].astype(float), strict=True))


# ---- against the real server ---------------------------------------------------------------------
def test_titanic_exact_values_equal_the_textbook_formula_in_one_task(
    server: EmbeddedServer, client: ModelClient
) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    sample = client.sample_rows(TITANIC_PATH, DEMO_BUCKET, n=8)
    background = pd.DataFrame([schema.from_row(row) for row in sample.rows])
    api = BatchPredictor(client, TITANIC_PATH, DEMO_BUCKET, connection_key="test-contributions")
    predict = Counting(api)

    result = contributions(schema, THIRD_CLASS_MAN, predict, background=background)

    assert (predict.calls, api.tasks_sent, result.tasks) == (1, 1, 1)
    assert result.rows == 2**7 * 8 + 1 and result.facts["method"] == "exact"
    assert result.facts["coalitions"] == 128 and result.facts["background_rows"] == 8
    reference = brute_force_shapley(
        schema,
        in_process_predict(loaded(server, TITANIC_PATH)),
        THIRD_CLASS_MAN,
        background.to_dict(orient="records"),
        probability_of_one,
    )
    ours = by_feature(result.summary)
    assert ours.keys() == reference.keys()
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), name
    assert (result.summary["std_error"] == 0).all()
    # efficiency: the values add up to this prediction minus the background's average
    assert sum(ours.values()) == pytest.approx(result.scenario_score - result.facts["base_score"], abs=1e-9)
    assert abs(result.facts["sum_check"]) < 1e-9
    background_scores = probability_of_one(client.predict(sample.rows, TITANIC_PATH, DEMO_BUCKET).predictions)
    assert result.facts["base_score"] == pytest.approx(float(background_scores.mean()), abs=1e-12)
    assert result.scenario_class == "0" and result.scorer.title == "P(survived)"


def test_titanic_summary_reading_and_rows_sent(client: ModelClient) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    background = pd.DataFrame([schema.from_row(row) for row in client.sample_rows(TITANIC_PATH, DEMO_BUCKET, n=8).rows])
    api = BatchPredictor(client, TITANIC_PATH, DEMO_BUCKET, connection_key="test-contributions")

    result = contributions(schema, THIRD_CLASS_MAN, api, background=background)

    summary = result.summary
    assert list(summary.columns) == ["feature", "value", "contribution", "std_error", "rank"]
    assert summary["rank"].tolist() == list(range(1, 8))
    sizes = summary["contribution"].abs().to_numpy()
    assert (sizes[:-1] >= sizes[1:]).all()
    values = dict(zip(summary["feature"], summary["value"], strict=True))
    assert (values["sex"], values["pclass"], values["embarked"]) == ("male", "3rd", "Southampton")
    top = summary.iloc[0]
    assert top["feature"] == "sex" and top["contribution"] < 0  # a man in third class: sex costs most
    assert result.reading.startswith("sex (male) pushed P(survived) down by ")
    assert f"{round(abs(top['contribution']) * 100)} points" in result.reading
    sent = result.sent
    assert sent.loc[0, "part"] == "scenario" and (sent.loc[1:, "part"] == "coalition").all()
    # coalition 0 of each background row is that row, untouched; the full coalition is the scenario
    first = sent.iloc[1]
    assert first["coalition"] == "" and first["background"] == 0
    assert {c: first[c] for c in schema.input_columns} == pytest.approx(schema.to_row(background.iloc[0].to_dict()))
    full = sent[sent["coalition"] == ", ".join(f.name for f in schema.features)]
    assert len(full) == 8 + 1 and (full["score"] == result.scenario_score).all()


def test_credit_one_hot_group_is_one_player(server: EmbeddedServer, client: ModelClient) -> None:
    path = CREDIT_PATHS[0]
    schema = client.schema(path, DEMO_BUCKET)
    background = pd.DataFrame([schema.from_row(row) for row in client.sample_rows(path, DEMO_BUCKET, n=20).rows])
    scenario = {"order_amount": 900.0, "average_monthly_income": 2500.0, "employment_status": "Contract"}
    predict = Counting(BatchPredictor(client, path, DEMO_BUCKET, connection_key="test-contributions"))

    result = contributions(schema, scenario, predict, background=background, max_background=8)

    assert predict.calls == 1
    assert set(result.summary["feature"]) == {"order_amount", "average_monthly_income", "employment_status"}
    assert result.rows == 2**3 * 8 + 1 and result.facts["coalitions"] == 8  # 3 players, not 5 columns
    group = list(schema.feature("employment_status").columns.values())
    assert (result.sent[group].sum(axis=1) <= 1).all()  # every row sent holds one valid choice of the group
    with_scenario_job = result.sent["coalition"].str.contains("employment_status")
    assert (result.sent.loc[with_scenario_job, "employment_status_Contract"] == 1).all()
    chosen = result.sent.loc[result.sent["part"] == "coalition", "background"].unique()
    assert len(chosen) == 8
    used = [
        schema.from_row(
            result.sent[(result.sent["background"] == b) & (result.sent["coalition"] == "")].iloc[0].to_dict()
        )
        for b in chosen
    ]
    reference = brute_force_shapley(
        schema, in_process_predict(loaded(server, path)), scenario, used, probability_of_one
    )
    ours = by_feature(result.summary)
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), name
    assert dict(zip(result.summary["feature"], result.summary["value"], strict=True))["employment_status"] == "Contract"


# ---- sampled, in-process -------------------------------------------------------------------------
def numeric_schema(names: Sequence[str]) -> FeatureSchema:
    features = tuple(Feature(name, "number", -5.0, 5.0, 0.0) for name in names)
    return FeatureSchema(features, name="synthetic", task="regression", target="y")


def function_predict(schema: FeatureSchema, f: Callable[[np.ndarray], np.ndarray]) -> Predict:
    def predict(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"prediction": f(rows[schema.input_columns].to_numpy(dtype=float))})

    return predict


def test_fourteen_feature_linear_model_is_sampled_within_three_standard_errors_of_the_closed_form() -> None:
    names = [f"x{i}" for i in range(14)]
    schema = numeric_schema(names)
    rng = np.random.default_rng(7)
    train = rng.uniform(-3, 3, size=(200, 14))
    model = LinearRegression().fit(train, train @ rng.normal(0, 2, 14) + 1.5)
    predict = Counting(function_predict(schema, model.predict))
    background = pd.DataFrame(train[:8], columns=names)
    scenario = dict(zip(names, rng.uniform(-3, 3, 14).round(3).tolist(), strict=True))

    result = contributions(schema, scenario, predict, background=background, budget=5_000)

    assert result.facts["method"] == "sampled" and predict.calls == 1
    assert result.rows <= 5_000 + 1 and result.rows == 1 + result.facts["permutations"] * 8 * 15
    assert result.facts["permutations"] % 2 == 0  # antithetic pairs
    truth = model.coef_ * (np.array([scenario[n] for n in names]) - train[:8].mean(axis=0))
    ours, errors = by_feature(result.summary), by_feature(result.summary, "std_error")
    for name, value in zip(names, truth, strict=True):
        assert abs(ours[name] - value) <= 3 * errors[name] + 1e-9, name
    assert abs(result.facts["sum_check"]) < 1e-9


def test_sampled_values_of_an_interacting_model_fall_within_three_standard_errors_of_the_exact_ones() -> None:
    names = [f"x{i}" for i in range(12)]
    schema = numeric_schema(names)

    def f(x: np.ndarray) -> np.ndarray:  # three-way products and a max: antithetic pairs do not cancel them
        return (
            x[:, 0] * x[:, 1] * x[:, 2]
            + np.maximum(x[:, 3], x[:, 4] * x[:, 5])
            + 0.5 * x[:, 6] * x[:, 7] * x[:, 0]
            + x[:, 8:].sum(axis=1)
        )

    rng = np.random.default_rng(11)
    background = pd.DataFrame(rng.uniform(-2, 2, size=(2, 12)), columns=names)
    scenario = dict(zip(names, rng.uniform(-2, 2, 12).round(3).tolist(), strict=True))

    exact = contributions(schema, scenario, function_predict(schema, f), background=background, budget=9_000)
    predict = Counting(function_predict(schema, f))
    sampled = contributions(schema, scenario, predict, background=background, budget=2_000)

    assert (exact.facts["method"], sampled.facts["method"]) == ("exact", "sampled")
    assert exact.rows == 2**12 * 2 + 1 and sampled.rows <= 2_001 and predict.calls == 1
    truth, ours = by_feature(exact.summary), by_feature(sampled.summary)
    errors = by_feature(sampled.summary, "std_error")
    assert errors["x0"] > 0 and errors["x3"] > 0  # the interacting features are really sampled
    for name in names:
        assert abs(ours[name] - truth[name]) <= 3 * errors[name] + 1e-9, name
    assert abs(sampled.facts["sum_check"]) < 1e-9  # each chain adds up to the prediction minus its background row
    assert "sampled estimates" in sampled.reading


def test_without_background_the_scenario_is_compared_with_the_default_row(server: EmbeddedServer) -> None:
    model = loaded(server, TITANIC_PATH)
    predict = Counting(in_process_predict(model))

    result = contributions(model.schema, SEED_TITANIC_ROW, predict)

    assert result.facts["background_rows"] == 1 and result.rows == 2**7 + 1 and predict.calls == 1
    assert "from the default row's" in result.reading
    default_score = float(probability_of_one(predict(pd.DataFrame([model.schema.to_row(model.schema.defaults())])))[0])
    assert result.facts["base_score"] == pytest.approx(default_score)


def test_bad_parameters_are_sentences_before_anything_is_sent(server: EmbeddedServer) -> None:
    model = loaded(server, TITANIC_PATH)
    predict = Counting(in_process_predict(model))
    schema = model.schema
    background = pd.DataFrame([THIRD_CLASS_MAN] * 3)

    with pytest.raises(AnalysisError, match="no column 'fare'"):
        contributions(schema, THIRD_CLASS_MAN, predict, background=background.drop(columns="fare"))
    with pytest.raises(AnalysisError, match="None of the 3 background rows fits"):
        contributions(schema, THIRD_CLASS_MAN, predict, background=background.assign(pclass=7))
    with pytest.raises(AnalysisError, match="raise the budget or use fewer background rows"):
        contributions(schema, THIRD_CLASS_MAN, predict, background=background, budget=20)
    with pytest.raises(AnalysisError, match="not a class of this model"):
        contributions(schema, THIRD_CLASS_MAN, predict, score_class="maybe")
    with pytest.raises(AnalysisError, match="'age'"):
        contributions(schema, {**THIRD_CLASS_MAN, "age": "old"}, predict)
    assert predict.calls == 0


def test_rows_that_do_not_fit_are_left_out_and_counted(server: EmbeddedServer) -> None:
    model = loaded(server, TITANIC_PATH)
    background = pd.DataFrame([SEED_TITANIC_ROW, {**SEED_TITANIC_ROW, "pclass": 9}, {**SEED_TITANIC_ROW, "age": 50}])

    result = contributions(
        model.schema, THIRD_CLASS_MAN, in_process_predict(model), background=background.assign(survived=1)
    )  # a target column in an uploaded file is ignored

    assert (result.facts["background_rows"], result.facts["background_left_out"]) == (2, 1)


def test_exact_weights_for_seven_features_and_eight_rows_take_milliseconds(server: EmbeddedServer) -> None:
    model = loaded(server, TITANIC_PATH)
    schema = model.schema
    background = pd.DataFrame(
        [schema.from_row(r) for r in ModelRegistry(server.store).sample_rows(DEMO_BUCKET, TITANIC_PATH).rows[:8]]
    )
    answers = in_process_predict(model)(
        contributions(schema, THIRD_CLASS_MAN, in_process_predict(model), background=background).sent[
            schema.input_columns
        ]
    )

    def canned(rows: pd.DataFrame) -> pd.DataFrame:  # the model's answers without the model's time
        return answers

    timings = []
    for _ in range(3):
        started = time.perf_counter()
        contributions(schema, THIRD_CLASS_MAN, canned, background=background)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.25  # about 15 ms here: plan, frame, weights and summary, without the model
