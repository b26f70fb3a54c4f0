"""The bulk what-if's charts, read from their Vega-Lite specs: what they draw is what the result holds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from whatif.analysis.edits import bulk_whatif
from whatif.analysis.result import AnalysisResult
from whatif.charts_bulk import (
    AFTER_COLOR,
    AFTER_LABEL,
    BEFORE_COLOR,
    BEFORE_LABEL,
    CDF_POINTS,
    CHANGED_LABEL,
    SAME_LABEL,
    change_chart,
    change_data,
    distribution_chart,
    distribution_data,
    transition_chart,
    transition_data,
)
from whatif.charts_explore import FLIP_COLOR
from whatif.schema import Feature, FeatureSchema

CLASSIFIER = FeatureSchema(
    (
        Feature("income", "number", 0.0, 10.0, 5.0),
        Feature("debt", "number", 0.0, 10.0, 5.0),
        Feature("job", "one_hot", columns={"Employed": "job_Employed", "Contract": "job_Contract"}, none_label="Other"),
    ),
    name="toy",
    task="classification",
    target="approved",
    classes=(0, 1),
    class_labels={"0": "rejected", "1": "approved"},
)
REGRESSION = FeatureSchema(CLASSIFIER.features, name="toy value", task="regression", target="limit")


def logistic(rows: pd.DataFrame) -> pd.DataFrame:
    """A classifier by hand: more income, less debt and a job raise the approval."""
    z = rows["income"] - rows["debt"] + 1.5 * rows["job_Employed"] - 0.5
    p = 1 / (1 + np.exp(-z.to_numpy(dtype=float)))
    return pd.DataFrame({"prediction": (p >= 0.5).astype(int), "probability_0": 1 - p, "probability_1": p})


def linear(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"prediction": (100 * rows["income"] - 30 * rows["debt"]).to_numpy(dtype=float)})


def toy_rows(n: int = 400, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.uniform(0, 10, n).round(2),
            "debt": rng.uniform(0, 10, n).round(2),
            "job": rng.choice(["Employed", "Contract", "Other"], n),
        }
    )


@pytest.fixture(scope="module")
def classified() -> AnalysisResult:
    return bulk_whatif(CLASSIFIER, toy_rows(), ["income+=1", "job=Employed"], logistic)


@pytest.fixture(scope="module")
def regressed() -> AnalysisResult:
    return bulk_whatif(REGRESSION, toy_rows(), ["debt*=0.5"], linear, where="income < 5")


def spec(chart: Any) -> dict[str, Any]:
    return chart.to_dict()


def layer_marks(chart: Any) -> list[str]:
    return [
        layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec(chart)["layer"]
    ]


def test_the_histograms_count_every_row_before_and_after_on_the_same_bins(classified: AnalysisResult) -> None:
    data = distribution_data(classified)
    before, after = data[data["version"] == BEFORE_LABEL], data[data["version"] == AFTER_LABEL]
    assert before["rows"].sum() == after["rows"].sum() == 400
    assert before["low"].tolist() == after["low"].tolist(), "the same bins for both"
    assert before["share"].sum() == pytest.approx(1.0)
    summary = classified.summary
    first_bin_high = before["high"].iloc[0]
    assert before["rows"].iloc[0] == (summary["score_before"] < first_bin_high).sum()
    assert data["low"].min() >= 0 and data["high"].max() <= 1


def test_the_distribution_chart_overlays_two_colours_and_the_threshold(classified: AnalysisResult) -> None:
    drawn = spec(distribution_chart(classified))
    assert layer_marks(distribution_chart(classified)) == ["bar", "rule"]
    colour = drawn["layer"][0]["encoding"]["color"]["scale"]
    assert colour["domain"] == [BEFORE_LABEL, AFTER_LABEL] and colour["range"] == [BEFORE_COLOR, AFTER_COLOR]
    assert drawn["layer"][0]["encoding"]["y"]["stack"] is None, "overlaid, not stacked"
    assert drawn["layer"][0]["encoding"]["x"]["axis"]["format"] == "%"
    assert "before and after" in drawn["title"]["text"]


def test_the_cumulative_curves_run_from_0_to_1(classified: AnalysisResult) -> None:
    data = distribution_data(classified, cumulative=True)
    for label, values in (
        (BEFORE_LABEL, classified.summary["score_before"]),
        (AFTER_LABEL, classified.summary["score_after"]),
    ):
        curve = data[data["version"] == label]
        assert len(curve) == CDF_POINTS and curve["share"].iloc[-1] == 1.0
        assert curve["score"].is_monotonic_increasing
        assert curve["score"].iloc[-1] == pytest.approx(values.max())
        assert curve["score"].iloc[CDF_POINTS // 2] == pytest.approx(np.quantile(values, 0.5, method="inverted_cdf"))
    after_median = data[data["version"] == AFTER_LABEL]["score"].iloc[CDF_POINTS // 2]
    before_median = data[data["version"] == BEFORE_LABEL]["score"].iloc[CDF_POINTS // 2]
    assert after_median > before_median, "more income and a job: the curve moves right"
    assert layer_marks(distribution_chart(classified, cumulative=True)) == ["line", "rule"]


def test_the_transition_heatmap_draws_the_matrix(classified: AnalysisResult) -> None:
    data = transition_data(classified)
    matrix = classified.facts["transitions"]
    assert len(data) == 4 and data["rows"].sum() == 400
    for _, cell in data.iterrows():
        assert cell["rows"] == matrix[cell["before"]][cell["after"]]
        assert cell["kind"] == (SAME_LABEL if cell["before"] == cell["after"] else CHANGED_LABEL)
    changed = data.loc[data["kind"] == CHANGED_LABEL, "rows"].sum()
    assert changed == classified.facts["class_changed"] > 0
    chart = transition_chart(classified)
    assert layer_marks(chart) == ["rect", "text"]
    drawn = spec(chart)
    assert drawn["layer"][0]["encoding"]["color"]["scale"]["range"][1] == FLIP_COLOR
    assert drawn["layer"][0]["encoding"]["x"]["sort"] == ["rejected", "approved"]


def test_a_regression_draws_the_changes_and_has_no_matrix(regressed: AnalysisResult) -> None:
    with pytest.raises(ValueError, match="no transition matrix"):
        transition_chart(regressed)
    data = change_data(regressed)
    edited = int(regressed.summary["inputs_changed"].sum())
    assert data["rows"].sum() == edited == regressed.facts["matched"]
    assert set(data["direction"]) <= {"raises it", "about the same", "lowers it"}
    assert "raises it" in set(data["direction"]), "less debt raises the value"
    assert layer_marks(change_chart(regressed)) == ["bar", "rule", "rule"]
    distribution = spec(distribution_chart(regressed))
    assert len(distribution["layer"]) == 1, "no threshold for a regression"
    assert distribution["layer"][0]["encoding"]["x"]["axis"]["format"] == ",.4~g"


def test_the_charts_of_one_row(classified: AnalysisResult) -> None:
    one = bulk_whatif(CLASSIFIER, toy_rows(1), ["income+=1"], logistic)
    assert distribution_data(one)["rows"].sum() == 2
    assert len(distribution_data(one, cumulative=True)) == 2 * CDF_POINTS
    transition_chart(one).to_dict()
    change_chart(one).to_dict()
