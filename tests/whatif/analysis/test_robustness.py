"""Robustness: jittered copies of a scenario in one task, flip rates with Wilson intervals, determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from tests.conftest import DEMO_BUCKET, SEED_TITANIC_ROW, TITANIC_PATH
from whatif.analysis import AnalysisError, Predict
from whatif.analysis.robustness import robustness, wilson_interval
from whatif.analysis.runner import BatchPredictor, in_process_predict
from whatif.client import ModelClient
from whatif.schema import FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.registry import LoadedModel, ModelRegistry
from whatif.server.samples import DIABETES_PATH

THIRD_CLASS_MAN = {"pclass": 2, "sex": 1, "age": 29, "sibsp": 0, "parch": 0, "fare": 8.05, "embarked": 2}
Z95 = 1.959963984540054


class Counting:
    """A Predict that counts its calls."""

    def __init__(self, predict: Predict) -> None:
        self.predict = predict
        self.calls = 0

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        return self.predict(rows)


def loaded(server: EmbeddedServer, path: str = TITANIC_PATH) -> LoadedModel:
    return ModelRegistry(server.store).load(DEMO_BUCKET, path)


def on_the_boundary(schema: FeatureSchema, predict: Predict) -> dict[str, float]:
    """A first-class man whose fare sits where the model's class changes (found by scanning fare, then bisecting)."""
    base = {"pclass": 0, "sex": 1, "age": 31.0, "sibsp": 0, "parch": 0, "embarked": 2}

    def classes(fares: np.ndarray) -> np.ndarray:
        rows = pd.DataFrame([schema.to_row({**base, "fare": float(f)}) for f in fares])
        return predict(rows)["prediction"].to_numpy()

    fares = np.linspace(5, 150, 581)
    predicted = classes(fares)
    change = int(np.flatnonzero(predicted[1:] != predicted[:-1])[0])
    low, high = fares[change], fares[change + 1]
    for _ in range(20):
        middle = (low + high) / 2
        if classes(np.array([middle]))[0] == predicted[change]:
            low = middle
        else:
            high = middle
    return {**base, "fare": float(high)}


# ---- Wilson interval ---------------------------------------------------------------------------------
def test_wilson_interval_matches_hand_computed_values() -> None:
    # 0 of 10: upper end z^2 / (n + z^2) = 3.8415 / 13.8415; 10 of 10: lower end n / (n + z^2)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(Z95**2 / (10 + Z95**2), abs=1e-12))
    assert wilson_interval(10, 10) == (pytest.approx(10 / (10 + Z95**2), abs=1e-12), 1.0)
    # 5 of 10: centre 0.5, half-width z / 1.384146 x sqrt(0.025 + 0.0096036) = 0.263406
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.236594, abs=1e-6), pytest.approx(0.763406, abs=1e-6))
    assert wilson_interval(0, 1000)[1] == pytest.approx(0.003827, abs=1e-6)
    assert all(math.isnan(end) for end in wilson_interval(0, 0))


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (1, 10), (5, 10), (4, 1000), (81, 263), (999, 1000)])
def test_wilson_interval_agrees_with_scipy(successes: int, trials: int) -> None:
    expected = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(successes, trials) == (
        pytest.approx(expected.low, abs=1e-9),
        pytest.approx(expected.high, abs=1e-9),
    )


# ---- against the real server ---------------------------------------------------------------------
def test_titanic_one_task_rows_in_the_domain_and_held_features_fixed(
    server: EmbeddedServer, client: ModelClient
) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    api = BatchPredictor(client, TITANIC_PATH, DEMO_BUCKET, connection_key="test-robustness")
    predict = Counting(api)

    result = robustness(
        schema,
        THIRD_CLASS_MAN,
        predict,
        copies=600,
        epsilon=0.3,
        hold=("fare", "parch"),
        categorical_flip_p=0.2,
        per_feature_copies=40,
        seed=3,
    )

    assert (predict.calls, api.tasks_sent, result.tasks) == (1, 1, 1)
    jittered_alone = ["pclass", "sex", "age", "sibsp", "embarked"]  # all but the two held
    assert result.facts["jittered_alone"] == jittered_alone
    assert result.rows == 1 + 5 + 600 + len(jittered_alone) * 40
    sent = result.sent
    assert sent["group"].value_counts().to_dict() == {
        "all": 600,
        **dict.fromkeys(jittered_alone, 40),
        "identical": 5,
        "scenario": 1,
    }
    assert (sent["fare"] == 8.05).all() and (sent["parch"] == 0).all()  # held
    for f in schema.features:
        column = sent[f.name]
        assert column.between(f.min, f.max).all(), f.name
        if f.type == "integer":
            assert (column == column.round()).all(), f.name
    assert sent["embarked"].nunique() == 3 and sent["age"].nunique() > 100  # categories and numbers moved
    for name in jittered_alone:  # a feature's own group moves that feature only
        own = sent[sent["group"] == name]
        others = [c for c in schema.input_columns if c != name]
        assert (own[others] == sent.loc[0, others]).all().all(), name
    # the flip rate is what the in-process model says about the very rows sent
    model_answers = in_process_predict(loaded(server))(sent[schema.input_columns])
    everywhere = (sent["group"] == "all").to_numpy()
    flipped = model_answers["prediction"].to_numpy()[everywhere] != model_answers["prediction"].iloc[0]
    assert result.facts["flips"] == int(flipped.sum()) > 0
    assert result.facts["flip_rate"] == pytest.approx(flipped.mean())
    assert (result.facts["flip_low"], result.facts["flip_high"]) == pytest.approx(
        wilson_interval(int(flipped.sum()), 600)
    )
    assert result.facts["deterministic"] is True
    scores = sent.loc[everywhere, "score"]
    assert result.facts["score_p05"] == pytest.approx(float(np.percentile(scores, 5)))
    assert result.facts["threshold_distance"] == pytest.approx(result.scenario_score - 0.5)


def test_a_scenario_on_the_boundary_flips_often_and_a_clear_one_never(
    server: EmbeddedServer, client: ModelClient
) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    edge = on_the_boundary(schema, in_process_predict(loaded(server)))
    api = BatchPredictor(client, TITANIC_PATH, DEMO_BUCKET, connection_key="test-robustness")

    shaky = robustness(schema, edge, api)
    clear = robustness(schema, SEED_TITANIC_ROW, api)  # a first-class woman: survives

    assert api.tasks_sent == 2
    assert shaky.facts["flip_rate"] > 0.2 and shaky.facts["moves_most"] == "fare"
    assert shaky.summary.iloc[0]["feature"] == "fare" and shaky.summary.iloc[0]["flip_rate"] > 0.2
    assert shaky.reading.startswith("The answer is ") and "nudging fare alone moves P(survived) most" in shaky.reading
    assert clear.facts["flips"] == 0 and clear.facts["flip_high"] < 0.005
    assert clear.reading.startswith(
        "The answer is stable: none of 1,000 nearby rows (95 % interval 0 % to 0.4 %) flip to died; nudging "
    )
    alone = len(clear.facts["jittered_alone"]) * clear.facts["per_feature_copies"]
    assert clear.rows == 1 + 5 + 1000 + alone and alone == 200  # the reading accounts for the rows sent
    assert "(200 more rows nudged one input at a time, 50 per input)." in clear.reading
    assert list(clear.summary.columns) == [
        "feature",
        "rows",
        "flips",
        "flip_rate",
        "flip_low",
        "flip_high",
        "score_p05",
        "score_p50",
        "score_p95",
        "score_std",
    ]


# ---- in-process ----------------------------------------------------------------------------------
def test_a_model_that_answers_identical_rows_differently_is_named(server: EmbeddedServer) -> None:
    model = loaded(server)
    exact = in_process_predict(model)
    rng = np.random.default_rng(0)

    def noisy(rows: pd.DataFrame) -> pd.DataFrame:
        answers = exact(rows)
        survived = (answers["probability_1"] + rng.normal(0, 0.02, len(answers))).clip(0, 1).round(6)
        return answers.assign(probability_1=survived, probability_0=1 - survived)

    shaky = robustness(model.schema, THIRD_CLASS_MAN, noisy, copies=100, per_feature_copies=10)
    steady = robustness(model.schema, THIRD_CLASS_MAN, exact, copies=100, per_feature_copies=10)

    assert shaky.facts["deterministic"] is False and steady.facts["deterministic"] is True
    assert shaky.reading.startswith("The model is not deterministic: 6 identical rows scored from ")
    assert "deterministic" not in steady.reading


def test_a_regression_reports_the_spread_of_its_value(server: EmbeddedServer) -> None:
    model = loaded(server, DIABETES_PATH)
    predict = Counting(in_process_predict(model))

    result = robustness(model.schema, model.schema.defaults(), predict, copies=300, epsilon=0.2, per_feature_copies=20)

    assert predict.calls == 1 and result.scenario_class is None
    assert math.isnan(result.facts["flip_rate"]) and result.facts["threshold"] is None
    assert result.facts["score_p05"] <= result.facts["score_p50"] <= result.facts["score_p95"]
    assert result.facts["score_p05"] < result.facts["score_p95"]
    spreads = (result.summary["score_p95"] - result.summary["score_p05"]).to_numpy()
    assert (spreads[:-1] >= spreads[1:]).all()  # ranked by how far each feature alone moves the value
    assert "sex" not in set(result.summary["feature"])  # a code cannot move without category switches
    assert result.reading.startswith("Nearby rows keep Predicted progression between ")
    assert (
        f"nudging {result.summary.iloc[0]['feature']} alone moves Predicted progression most "
        f"({20 * len(result.summary)} more rows nudged one input at a time, 20 per input)"
    ) in result.reading


def test_bad_parameters_are_sentences_before_anything_is_sent(server: EmbeddedServer) -> None:
    model = loaded(server)
    predict = Counting(in_process_predict(model))
    schema = model.schema

    for epsilon in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(AnalysisError, match="epsilon must be above 0 and at most 1"):
            robustness(schema, THIRD_CLASS_MAN, predict, epsilon=epsilon)
    with pytest.raises(AnalysisError, match="more than the 10,000 one task may hold"):
        robustness(schema, THIRD_CLASS_MAN, predict, copies=9_900)
    with pytest.raises(AnalysisError, match="'cabin' is not a feature"):
        robustness(schema, THIRD_CLASS_MAN, predict, hold=["cabin"])
    with pytest.raises(AnalysisError, match="at least 1 jittered copy"):
        robustness(schema, THIRD_CLASS_MAN, predict, copies=0)
    with pytest.raises(AnalysisError, match="from 0 to 1"):
        robustness(schema, THIRD_CLASS_MAN, predict, categorical_flip_p=2)
    assert predict.calls == 0
    # exactly one task's worth is allowed: 1 + 5 + copies + 4 numbers x 50
    assert robustness(schema, THIRD_CLASS_MAN, predict, copies=10_000 - 206).rows == 10_000


def test_without_per_feature_copies_only_the_jittered_copies_are_sent(server: EmbeddedServer) -> None:
    model = loaded(server)
    predict = Counting(in_process_predict(model))

    result = robustness(model.schema, THIRD_CLASS_MAN, predict, copies=50, per_feature_copies=0, hold="fare")

    assert result.rows == 1 + 5 + 50 and result.summary.empty and result.facts["jittered_alone"] == []
    assert (result.sent["fare"] == 8.05).all() and result.facts["held"] == ["fare"]
    assert result.facts["moves_most"] is None and result.reading.endswith("; no input was nudged alone.")
