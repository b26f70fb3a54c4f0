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
    BAND_LABEL,
    BASE_LABEL,
    FLIPS_LABEL,
    KEEPS_LABEL,
    LOWERS_LABEL,
    NEARBY_LABEL,
    NO_PER_INPUT_ROWS,
    PREDICTION_LABEL,
    nice_step,
    robustness_chart,
    robustness_features_chart,
    waterfall_chart,
)
from whatif.charts_explore import FLIP_COLOR, HIGHER_COLOR, LOWER_COLOR
from whatif.schema import Feature, FeatureSchema

NAMES = ("income", "debt", "age", "tenure", "savings")
CLASSIFIER = FeatureSchema(
    (
        Feature("income", "number", 0.0, 10.0, 5.0, spread=2.0),
        Feature("debt", "number", 0.0, 10.0, 5.0, spread=2.0),
        Feature("age", "integer", 18, 90, 40, spread=12.0),
        Feature("tenure", "number", 0.0, 10.0, 2.0, spread=2.0),
        Feature("savings", "number", 0.0, 10.0, 1.0, spread=2.0),
    ),
    name="toy",
    task="classification",
    target="approved",
    classes=(0, 1),
    class_labels={"0": "rejected", "1": "approved"},
)
REGRESSION = FeatureSchema(CLASSIFIER.features, name="toy value", task="regression", target="limit")


def weights(rows: pd.DataFrame) -> np.ndarray:
    x = rows[list(NAMES)].to_numpy(dtype=float)
    return (
        0.9 * (x[:, 0] - 5) - 1.1 * (x[:, 1] - 5) + 0.02 * (x[:, 2] - 40) + 0.3 * x[:, 0] * x[:, 3] / 10 + 0.1 * x[:, 4]
    )


def classifier(rows: pd.DataFrame) -> pd.DataFrame:
    p = 1 / (1 + np.exp(-weights(rows)))
    return pd.DataFrame({"prediction": (p >= 0.5).astype(int), "probability_0": 1 - p, "probability_1": p})


def regression(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"prediction": 1000 + 100 * weights(rows)})


SCENARIO = {"income": 5.5, "debt": 5.0, "age": 40, "tenure": 2.0, "savings": 3.0}
SURE = {"income": 7.0, "debt": 4.0, "age": 40, "tenure": 2.0, "savings": 3.0}  # P(approved) near 95 %: never flips
RAISES_LABEL = "raises P(approved)"
BACKGROUND = pd.DataFrame(
    [
        {"income": 3.0, "debt": 6.0, "age": 30, "tenure": 1.0, "savings": 0.0},
        {"income": 7.0, "debt": 2.0, "age": 60, "tenure": 8.0, "savings": 5.0},
        {"income": 4.0, "debt": 4.0, "age": 45, "tenure": 3.0, "savings": 1.0},
    ]
)


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


def assert_fits_the_width_with_the_legend_below(spec: dict[str, Any]) -> None:
    """Stretched to the column's width, its height the plot's own; every legend under the plot, uncut."""
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
    legends = [
        channel["legend"]
        for layer in layers(spec)
        for channel in layer.get("encoding", {}).values()
        if isinstance(channel, dict) and channel.get("legend")
    ]
    assert legends and all(legend["orient"] == "bottom" and legend["labelLimit"] == 0 for legend in legends)


def texts_of(spec: dict[str, Any]) -> list[str]:
    """Every text the chart writes with a text mark."""
    return [str(row["text"]) for layer in layers(spec) if mark_of(layer) == "text" for row in data_of(spec, layer)]


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
    color = bars["encoding"]["color"]
    assert color["scale"] == {"domain": [RAISES_LABEL, LOWERS_LABEL], "range": [HIGHER_COLOR, LOWER_COLOR]}
    assert color["legend"]["title"] == "This input"
    assert bars["encoding"]["x"]["title"] == "P(approved)" and bars["encoding"]["x"]["axis"]["format"] == "%"
    order = bars["encoding"]["y"]["sort"]
    assert order[0] == BASE_LABEL and order[-1] == PREDICTION_LABEL and len(order) == len(NAMES) + 2
    assert bars["encoding"]["y"]["axis"]["labelLimit"] >= 240, "labels such as 'embarked = Southampton' uncut"
    labels = [
        r["text"]
        for layer in layers(spec)
        if mark_of(layer) == "text"
        for r in data_of(spec, layer)
        if "contribution" in r
    ]
    assert len(labels) == len(NAMES) and all(text.endswith(" pts") and text[0] in "+-" for text in labels)
    assert not any(mark_of(layer) == "rule" and "x2" in layer["encoding"] for layer in layers(spec))  # exact: no errors
    assert_fits_the_width_with_the_legend_below(spec)


def test_waterfall_labels_near_the_right_edge_turn_left() -> None:
    result = shap_result(CLASSIFIER, classifier)
    spec = waterfall_chart(result).to_dict()
    base, prediction = result.facts["base_score"], result.facts["prediction_score"]

    ends = {
        r["label"]: (layer["mark"]["align"], r["text"])
        for layer in layers(spec)
        if mark_of(layer) == "text"
        for r in data_of(spec, layer)
        if "score" in r
    }
    assert ends[BASE_LABEL][1] == f"{base * 100:.0f} %" and ends[PREDICTION_LABEL][1] == f"{prediction * 100:.0f} %"
    bars = data_of(spec, next(layer for layer in layers(spec) if mark_of(layer) == "bar"))
    drawn = [base, prediction, *(r["start"] for r in bars), *(r["end"] for r in bars)]
    low, high = min(drawn), max(drawn)

    def near_the_right_edge(value: float) -> bool:
        return (value - low) / (high - low) > 0.85

    for label, score in ((BASE_LABEL, base), (PREDICTION_LABEL, prediction)):  # written left of the tick there
        assert ends[label][0] == ("right" if near_the_right_edge(score) else "left")
    turned = 0
    for layer in layers(spec):
        for row in data_of(spec, layer):
            if mark_of(layer) == "text" and "contribution" in row:
                right_end = max(row["start"], row["end"])
                left = near_the_right_edge(right_end)
                turned += left
                assert layer["mark"]["align"] == ("right" if left else "left")
                assert row["text_x"] == pytest.approx(min(row["start"], row["end"]) if left else right_end)
    assert turned >= 1, "the bar reaching the right edge has its label on its left"


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
    assert bars["encoding"]["color"]["scale"]["domain"] == ["raises Predicted limit", LOWERS_LABEL]


# ---- robustness ----------------------------------------------------------------------------------------
def histogram_of(spec: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    layer = next(layer for layer in layers(spec) if mark_of(layer) == "bar")
    return layer, data_of(spec, layer)


def test_bins_have_a_round_step() -> None:
    assert [nice_step(v) for v in (0.0037, 0.013, 0.02, 0.3, 7, 0)] == [0.005, 0.02, 0.02, 0.5, 10, 1.0]


def test_robustness_histogram_draws_the_jittered_scores_the_band_the_scenario_and_the_threshold() -> None:
    result = robustness(CLASSIFIER, SCENARIO, classifier, copies=400, epsilon=0.3, per_feature_copies=30)
    assert 0 < result.facts["flips"] < 400
    spec = robustness_chart(result).to_dict()

    histogram, rows = histogram_of(spec)
    assert sum(r["rows"] for r in rows) == 400  # the jittered copies only, not the identical or per-feature rows
    assert sum(r["rows"] for r in rows if r["effect"] == FLIPS_LABEL) == result.facts["flips"]
    widths = {round(r["bin_end"] - r["bin_start"], 12) for r in rows}
    assert len(widths) == 1, "one round step for every bin"
    for r in rows:  # stacked: each kind on top of the ones below it in the same bin
        assert r["above"] - r["below"] == r["rows"]
    x = histogram["encoding"]["x"]
    assert (x["field"], histogram["encoding"]["x2"]["field"]) == ("bin_start", "bin_end") and "bin" not in x
    assert x["axis"]["format"] in ("%", ".1%") and x["axis"]["tickCount"] >= 5
    color = histogram["encoding"]["color"]
    assert color["scale"]["domain"] == [FLIPS_LABEL, KEEPS_LABEL, BAND_LABEL]
    assert color["scale"]["range"][0] == FLIP_COLOR and FLIP_COLOR not in (HIGHER_COLOR, LOWER_COLOR)
    band = next(layer for layer in layers(spec) if mark_of(layer) == "rect")
    assert data_of(spec, band) == [
        {"p05": result.facts["score_p05"], "p95": result.facts["score_p95"], "effect": BAND_LABEL}
    ], "the band is named in the legend"
    rules = [data_of(spec, layer)[0] for layer in layers(spec) if mark_of(layer) == "rule"]
    assert [r["score"] for r in rules] == [result.scenario_score, 0.5]
    assert f"this scenario {result.scenario_score * 100:.0f} %" in texts_of(spec) and "threshold 50 %" in texts_of(spec)
    assert_fits_the_width_with_the_legend_below(spec)


def test_a_stable_scenario_s_histogram_is_zoomed_to_its_scores_and_names_the_far_threshold() -> None:
    result = robustness(CLASSIFIER, SURE, classifier, copies=400, epsilon=0.05, per_feature_copies=30)
    assert result.facts["flips"] == 0 and result.facts["score_p05"] > 0.8
    spec = robustness_chart(result).to_dict()

    histogram, rows = histogram_of(spec)
    low, high = histogram["encoding"]["x"]["scale"]["domain"]
    scores = [s for s, g in zip(result.sent["score"], result.sent["group"], strict=True) if g == "all"]
    assert low <= min(scores) and max(scores) <= high and high - low < 0.3 and low > 0.5, "zoomed to the scores"
    step = rows[0]["bin_end"] - rows[0]["bin_start"]
    assert len({r["bin_start"] for r in rows}) >= 10 and (high - low) / step <= 40, "bars with a width"
    assert [data_of(spec, layer)[0]["score"] for layer in layers(spec) if mark_of(layer) == "rule"] == [
        result.scenario_score
    ], "no threshold rule off the axis"
    edge = next(
        layer for layer in layers(spec) if mark_of(layer) == "text" and data_of(spec, layer)[0]["text"].startswith("←")
    )
    assert data_of(spec, edge)[0]["text"] == "← threshold 50 %" and edge["encoding"]["x"] == {"value": 0}


def test_robustness_of_a_regression_has_no_threshold_and_feature_ranges() -> None:
    result = robustness(REGRESSION, SCENARIO, regression, copies=200, epsilon=0.2, per_feature_copies=20)
    spec = robustness_chart(result).to_dict()

    rules = [data_of(spec, layer)[0] for layer in layers(spec) if mark_of(layer) == "rule"]
    assert [r["text"] for r in rules] == [f"this scenario {result.scenario_score:,.4g}"]
    assert not any("threshold" in text for text in texts_of(spec))
    assert histogram_of(spec)[0]["encoding"]["color"]["scale"]["domain"] == [NEARBY_LABEL, BAND_LABEL]

    features = robustness_features_chart(result).to_dict()
    bars = next(layer for layer in layers(features) if mark_of(layer) == "bar")
    assert bars["encoding"]["x"]["field"] == "score_p05" and bars["encoding"]["x2"]["field"] == "score_p95"
    assert [r["feature"] for r in data_of(features, bars)] == result.summary["feature"].tolist()
    assert features["title"]["text"] == "Each input nudged alone: range of Predicted limit"
    assert "subtitle" not in features["title"]


def test_feature_flip_rates_as_points_with_their_wilson_intervals() -> None:
    result = robustness(CLASSIFIER, SCENARIO, classifier, copies=200, epsilon=0.3, per_feature_copies=60)
    spec = robustness_features_chart(result).to_dict()

    points = next(layer for layer in layers(spec) if mark_of(layer) == "point")
    rows = data_of(spec, points)
    assert [r["feature"] for r in rows] == result.summary["feature"].tolist()
    assert rows[0]["flip_rate"] == max(r["flip_rate"] for r in rows) > 0
    assert points["encoding"]["x"]["field"] == "flip_rate" and points["mark"]["color"] == FLIP_COLOR
    assert points["encoding"]["y"]["sort"] == result.summary["feature"].tolist()
    interval = next(layer for layer in layers(spec) if mark_of(layer) == "rule")
    assert (interval["encoding"]["x"]["field"], interval["encoding"]["x2"]["field"]) == ("flip_low", "flip_high")
    assert interval["encoding"]["x"]["axis"]["format"] == "%"
    assert all(r["flip_low"] <= r["flip_rate"] <= r["flip_high"] for r in rows)
    assert texts_of(spec) == ["95 % interval"] and spec["title"]["text"] == "Each input nudged alone"
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}


def test_when_no_input_flips_alone_the_feature_chart_shows_each_input_s_score_range() -> None:
    result = robustness(CLASSIFIER, SURE, classifier, copies=200, epsilon=0.05, per_feature_copies=30)
    assert result.summary["flips"].sum() == 0
    spec = robustness_features_chart(result).to_dict()

    assert not any(mark_of(layer) == "point" for layer in layers(spec)), "no flip rates of 0 drawn as data"
    bars = next(layer for layer in layers(spec) if mark_of(layer) == "bar")
    assert (bars["encoding"]["x"]["field"], bars["encoding"]["x2"]["field"]) == ("score_p05", "score_p95")
    assert [r["feature"] for r in data_of(spec, bars)] == result.summary["feature"].tolist()
    assert spec["title"]["text"] == "Each input nudged alone: range of P(approved)"
    assert spec["title"]["subtitle"] == "No input nudged alone changed the class (0 of 30 rows each)"
    low, high = bars["encoding"]["x"]["scale"]["domain"]
    assert low <= min(r["score_p05"] for r in data_of(spec, bars)) and high - low < 0.3


def test_a_check_without_per_feature_rows_says_so_in_the_feature_chart() -> None:
    result = robustness(CLASSIFIER, SCENARIO, classifier, copies=20, per_feature_copies=0)
    spec = robustness_features_chart(result).to_dict()

    assert [mark_of(layer) for layer in layers(spec)] == ["text"] and texts_of(spec) == [NO_PER_INPUT_ROWS]
