"""The charts of Shapley contributions and robustness, read from their Vega-Lite specs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from whatif.analysis import Predict
from whatif.analysis.contributions import contributions
from whatif.analysis.result import AnalysisResult
from whatif.analysis.robustness import robustness
from whatif.charts_explain import (
    BASE_LABEL,
    FLIPS_LABEL,
    KEEPS_LABEL,
    LOWERS_LABEL,
    PREDICTION_LABEL,
    RAISES_LABEL,
    robustness_chart,
    robustness_features_chart,
    waterfall_chart,
)
from whatif.schema import Feature, FeatureSchema

NAMES = ("income", "debt", "age", "tenure", "savings")
CLASSIFIER = FeatureSchema(
    (Feature("income", "number", 0.0, 10.0, 5.0, spread=2.0), Feature("debt", "number", 0.0, 10.0, 5.0, spread=2.0),
     Feature("age", "integer", 18, 90, 40, spread=12.0), Feature("tenure", "number", 0.0, 10.0, 2.0, spread=2.0),
     Feature("savings", "number", 0.0, 10.0, 1.0, spread=2.0)),
    name="toy", task="classification", target="approved", classes=(0, 1),
    class_labels={"0": "rejected", "1": "approved"})
REGRESSION = FeatureSchema(CLASSIFIER.features, name="toy value", task="regression", target="limit")


def weights(rows: pd.DataFrame) -> np.ndarray:
    x = rows[list(NAMES)].to_numpy(dtype=float)
    return (0.9 * (x[:, 0] - 5) - 1.1 * (x[:, 1] - 5) + 0.02 * (x[:, 2] - 40) + 0.3 * x[:, 0] * x[:, 3] / 10
            + 0.1 * x[:, 4])


def classifier(rows: pd.DataFrame) -> pd.DataFrame:
    p = 1 / (1 + np.exp(-weights(rows)))
    return pd.DataFrame({"prediction": (p >= 0.5).astype(int), "probability_0": 1 - p, "probability_1": p})


def regression(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"prediction": 1000 + 100 * weights(rows)})


SCENARIO = {"income": 5.5, "debt": 5.0, "age": 40, "tenure": 2.0, "savings": 3.0}
BACKGROUND = pd.DataFrame([{"income": 3.0, "debt": 6.0, "age": 30, "tenure": 1.0, "savings": 0.0},
                           {"income": 7.0, "debt": 2.0, "age": 60, "tenure": 8.0, "savings": 5.0},
                           {"income": 4.0, "debt": 4.0, "age": 45, "tenure": 3.0, "savings": 1.0}])


def layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec["layer"])


def mark_of(layer: dict[str, Any]) -> str:
    mark = layer["mark"]
    return str(mark["type"] if isinstance(mark, dict) else mark)


def data_of(spec: dict[str, Any], layer: dict[str, Any]) -> list[dict[str, Any]]:
    data = layer.get("data") or spec["data"]  # data shared by every layer sits on the layer chart
    return list(spec["datasets"][data["name"]])


def shap_result(schema: FeatureSchema, predict: Predict, budget: int = 10_000) -> AnalysisResult:
    return contributions(schema, SCENARIO, predict, background=BACKGROUND, budget=budget)


# ---- waterfall -----------------------------------------------------------------------------------------
def test_waterfall_walks_from_the_background_average_to_the_prediction() -> None:
    result = shap_result(CLASSIFIER, classifier)
    spec = waterfall_chart(result).to_dict()

    bars = next(layer for layer in layers(spec) if mark_of(layer) == "bar")
    rows = data_of(spec, bars)
    assert [r["feature"] for r in rows] == result.summary["feature"].tolist()  # largest first
    assert rows[0]["start"] == pytest.approx(result.facts["base_score"])
    assert rows[-1]["end"] == pytest.approx(result.scenario_score, abs=1e-9)
    for before, after in zip(rows, rows[1:], strict=False):
        assert after["start"] == pytest.approx(before["end"])
    assert {r["effect"] for r in rows} == {RAISES_LABEL, LOWERS_LABEL}
    assert all((r["effect"] == RAISES_LABEL) == (r["contribution"] >= 0) for r in rows)
    assert bars["encoding"]["color"]["scale"]["domain"] == [RAISES_LABEL, LOWERS_LABEL]
    assert bars["encoding"]["x"]["title"] == "P(approved)" and bars["encoding"]["x"]["axis"]["format"] == "%"
    order = bars["encoding"]["y"]["sort"]
    assert order[0] == BASE_LABEL and order[-1] == PREDICTION_LABEL and len(order) == len(NAMES) + 2
    labels = [r["text"] for r in data_of(spec, next(layer for layer in layers(spec) if mark_of(layer) == "text"))]
    assert all(text.endswith(" pts") and text[0] in "+-" for text in labels)
    assert not any(mark_of(layer) == "rule" and "x2" in layer["encoding"] for layer in layers(spec))  # exact: no errors


def test_sampled_waterfall_has_error_bars_and_a_regression_a_plain_axis() -> None:
    result = shap_result(REGRESSION, regression, budget=90)  # 2^5 x 3 = 96 rows would be exact
    assert result.facts["method"] == "sampled" and result.facts["permutations"] == 4
    spec = waterfall_chart(result).to_dict()

    errors = [layer for layer in layers(spec) if mark_of(layer) == "rule" and "x2" in layer["encoding"]]
    assert len(errors) == 1
    rows = data_of(spec, errors[0])
    assert all(r["error_high"] - r["error_low"] == pytest.approx(2 * r["std_error"]) for r in rows)
    bars = next(layer for layer in layers(spec) if mark_of(layer) == "bar")
    assert bars["encoding"]["x"]["title"] == "Predicted limit" and bars["encoding"]["x"]["axis"]["format"] != "%"


# ---- robustness ----------------------------------------------------------------------------------------
def test_robustness_histogram_draws_the_jittered_scores_the_band_the_scenario_and_the_threshold() -> None:
    result = robustness(CLASSIFIER, SCENARIO, classifier, copies=400, epsilon=0.3, per_feature_copies=30)
    assert 0 < result.facts["flips"] < 400
    spec = robustness_chart(result).to_dict()

    histogram = next(layer for layer in layers(spec) if mark_of(layer) == "bar")
    rows = data_of(spec, histogram)
    assert len(rows) == 400  # the jittered copies only, not the identical or per-feature rows
    assert sum(r["effect"] == FLIPS_LABEL for r in rows) == result.facts["flips"]
    assert histogram["encoding"]["x"]["bin"] == {"maxbins": 40} and histogram["encoding"]["x"]["axis"]["format"] == "%"
    assert histogram["encoding"]["color"]["scale"]["domain"] == [FLIPS_LABEL, KEEPS_LABEL]
    band = next(layer for layer in layers(spec) if mark_of(layer) == "rect")
    assert data_of(spec, band) == [{"p05": result.facts["score_p05"], "p95": result.facts["score_p95"],
                                    "text": "5th to 95th percentile"}]
    rules = data_of(spec, next(layer for layer in layers(spec) if mark_of(layer) == "rule"))
    assert {r["what"]: r["score"] for r in rules} == {"this scenario": result.scenario_score, "threshold": 0.5}


def test_robustness_of_a_regression_has_no_threshold_and_feature_ranges() -> None:
    result = robustness(REGRESSION, SCENARIO, regression, copies=200, epsilon=0.2, per_feature_copies=20)
    spec = robustness_chart(result).to_dict()

    rules = data_of(spec, next(layer for layer in layers(spec) if mark_of(layer) == "rule"))
    assert [r["what"] for r in rules] == ["this scenario"]

    features = robustness_features_chart(result).to_dict()
    bars = next(layer for layer in layers(features) if mark_of(layer) == "bar")
    assert bars["encoding"]["x"]["field"] == "score_p05" and bars["encoding"]["x2"]["field"] == "score_p95"
    assert [r["feature"] for r in data_of(features, bars)] == result.summary["feature"].tolist()


def test_feature_flip_rates_as_bars_with_their_wilson_intervals() -> None:
    result = robustness(CLASSIFIER, SCENARIO, classifier, copies=200, epsilon=0.3, per_feature_copies=60)
    spec = robustness_features_chart(result).to_dict()

    bars = next(layer for layer in layers(spec) if mark_of(layer) == "bar")
    rows = data_of(spec, bars)
    assert [r["feature"] for r in rows] == result.summary["feature"].tolist()
    assert rows[0]["flip_rate"] == max(r["flip_rate"] for r in rows) > 0
    assert bars["encoding"]["x"]["axis"]["format"] == "%"
    assert bars["encoding"]["y"]["sort"] == result.summary["feature"].tolist()
    interval = next(layer for layer in layers(spec) if mark_of(layer) == "rule")
    assert (interval["encoding"]["x"]["field"], interval["encoding"]["x2"]["field"]) == ("flip_low", "flip_high")
    assert all(r["flip_low"] <= r["flip_rate"] <= r["flip_high"] for r in rows)


def test_a_check_without_per_feature_rows_draws_an_empty_feature_chart() -> None:
    result = robustness(CLASSIFIER, SCENARIO, classifier, copies=20, per_feature_copies=0)
    spec = robustness_features_chart(result).to_dict()

    assert data_of(spec, next(layer for layer in layers(spec) if mark_of(layer) == "bar")) == []
