"""The comparison charts, read from their Vega-Lite specs; the comparisons come from hand-written models behind a
client that answers in-process (no server: what is tested is what the charts draw)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.whatif.test_charts_explore import mark
from whatif.analysis.compare import A, B, Comparison, Side, compare_rows, compare_scenario
from whatif.charts_compare import (
    A_COLOR,
    AGREE_COLOR,
    B_COLOR,
    compare_sweep_chart,
    confusion_chart,
    difference_chart,
    model_labels,
    scatter_chart,
    scenario_chart,
)
from whatif.client import PredictionResult
from whatif.schema import Feature, FeatureSchema

CLASSIFIER = FeatureSchema(
    (
        Feature("x", "number", 0, 10, 5),
        Feature("kind", "one_hot", default="red", columns={"red": "kind_red", "blue": "kind_blue"}, none_label="other"),
    ),
    name="Toy",
    version=1,
    task="classification",
    target="y",
    classes=(0, 1),
    class_labels={"0": "no", "1": "yes"},
)
REGRESSION = FeatureSchema((Feature("x", "number", 0, 10, 5),), name="Line", version=1, task="regression", target="y")


class InProcess:
    """A client whose tasks are a formula of the rows, answered at once."""

    _ids = itertools.count(1)

    def __init__(self, answer: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
        self.answer = answer
        self.tasks: dict[str, pd.DataFrame] = {}

    def submit(self, rows: Any, path: str, bucket: str, return_only_prediction: bool = False) -> str:
        task_id = f"task-{next(self._ids)}"
        self.tasks[task_id] = pd.DataFrame(rows).reset_index(drop=True)
        return task_id

    def wait(self, task_id: str, timeout: float | None = None, on_status: Any = None) -> PredictionResult:
        now = time.time()
        return PredictionResult(task_id, self.answer(self.tasks.pop(task_id)), {}, now, now, 1)


def logistic(shift: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def answer(rows: pd.DataFrame) -> pd.DataFrame:
        p = 1 / (1 + np.exp(-(rows["x"].to_numpy(dtype=float) - shift - rows["kind_blue"].to_numpy())))
        return pd.DataFrame({"prediction": (p > 0.5).astype(int), "probability_0": 1 - p, "probability_1": p})

    return answer


def line(slope: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda rows: pd.DataFrame({"prediction": slope * rows["x"].to_numpy(dtype=float) + 1})


def sides(schema: FeatureSchema, answer_a: Any, answer_b: Any) -> tuple[Side, Side]:
    return (
        Side(InProcess(answer_a), "a.json", "bucket", schema, "Toy · v1"),
        Side(InProcess(answer_b), "b.json", "bucket", schema, "Toy · v2"),
    )


@pytest.fixture(scope="module")
def scenario() -> Comparison:
    a, b = sides(CLASSIFIER, logistic(5.0), logistic(4.0))
    return compare_scenario(a, b, {"x": 4.5, "kind": "red"}, sweep_feature="x", points=11)


@pytest.fixture(scope="module")
def rows() -> Comparison:
    a, b = sides(CLASSIFIER, logistic(5.0), logistic(4.0))
    frame = pd.DataFrame({"x": np.linspace(0, 10, 41), "kind": ["red", "blue"] * 20 + ["other"]})
    return compare_rows(a, b, frame)


def layers(spec: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each layer of a chart's spec with the rows it draws (layers that share their data have it at the top)."""
    return [(layer, spec["datasets"][layer.get("data", spec.get("data"))["name"]]) for layer in spec["layer"]]


def spec_of(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    return spec


def test_the_scenario_bars_pair_each_class_label_for_both_models(scenario: Comparison) -> None:
    spec = spec_of(scenario_chart(scenario))
    bars = [(layer, data) for layer, data in layers(spec) if mark(layer) == "bar"]
    assert len(bars) == 1
    layer, data = bars[0]
    label_a, label_b = model_labels(scenario)
    assert label_a == "A · Toy · v1" and label_b == "B · Toy · v2"
    drawn = {(row["model_label"], row["class"]): row["value"] for row in data}
    summary = scenario.summary.set_index("side")
    assert drawn[(label_a, "yes")] == pytest.approx(summary.loc[A, "P(yes)"])
    assert drawn[(label_b, "no")] == pytest.approx(summary.loc[B, "P(no)"])
    assert layer["encoding"]["color"]["scale"] == {"domain": [label_a, label_b], "range": [A_COLOR, B_COLOR]}
    assert layer["encoding"]["yOffset"]["field"] == "model_label"


def test_the_overlaid_sweep_draws_both_curves_the_rings_and_the_threshold(scenario: Comparison) -> None:
    spec = spec_of(compare_sweep_chart(scenario))
    marks = [mark(layer) for layer, _ in layers(spec)]
    assert marks[0] == "line" and "point" in marks and "rule" in marks
    line_layer, data = layers(spec)[0]
    assert {row["model_label"] for row in data} == set(model_labels(scenario))
    assert len(data) == 2 * scenario.facts["points"]
    ring = next(rows for layer, rows in layers(spec) if mark(layer) == "point")
    assert {row["value"] for row in ring} == {4.5} and len(ring) == 2, "a ring on each curve at the scenario"
    threshold = next(rows for layer, rows in layers(spec) if mark(layer) == "rule")
    assert threshold[0]["score"] == 0.5
    assert line_layer["encoding"]["y"]["scale"] == {"domain": [0, 1]}


def test_a_category_sweep_draws_dots_side_by_side() -> None:
    a, b = sides(CLASSIFIER, logistic(5.0), logistic(4.0))
    result = compare_scenario(a, b, {"x": 4.5, "kind": "blue"}, sweep_feature="kind")
    spec = spec_of(compare_sweep_chart(result))
    dots, data = layers(spec)[0]
    assert mark(dots) == "circle" and dots["encoding"]["xOffset"]["field"] == "model_label"
    assert [row["value"] for row in data if row["side"] == A] == ["red", "blue", "other"]


def test_the_confusion_matrix_counts_every_row_and_outlines_agreement(rows: Comparison) -> None:
    spec = spec_of(confusion_chart(rows))
    cells, data = layers(spec)[0]
    assert mark(cells) == "rect"
    assert sum(row["rows"] for row in data) == rows.facts["rows"] == 41
    outline = layers(spec)[1]
    assert {(row["a_class"], row["b_class"]) for row in outline[1]} == {("no", "no"), ("yes", "yes")}
    assert outline[0]["mark"]["stroke"] == AGREE_COLOR
    assert cells["encoding"]["x"]["title"] == "B · Toy · v2 predicts"
    assert cells["encoding"]["y"]["title"] == "A · Toy · v1 predicts"
    text = next(rows_ for layer, rows_ in layers(spec) if mark(layer) == "text")
    assert any(row["text"].endswith("%)") for row in text)


def test_the_difference_histogram_is_in_points_for_a_classifier(rows: Comparison) -> None:
    spec = spec_of(difference_chart(rows))
    bars, data = layers(spec)[0]
    assert np.allclose(sorted(row["difference"] for row in data), sorted(rows.summary["difference"] * 100))
    assert bars["encoding"]["x"]["title"] == "P(yes) of B minus A (pts)"
    assert layers(spec)[1][1] == [{"difference": 0.0}]


def test_a_regression_scatter_has_the_diagonal_of_equal_answers() -> None:
    a, b = sides(REGRESSION, line(2.0), line(2.5))
    result = compare_rows(a, b, pd.DataFrame({"x": [0.0, 2.0, 4.0, 8.0]}))
    spec = spec_of(scatter_chart(result))
    diagonal, points = layers(spec)[0], layers(spec)[1]
    assert mark(diagonal[0]) == "line" and diagonal[1][0]["a"] == diagonal[1][0]["b"]
    assert [(row["a"], row["b"]) for row in points[1]] == [(1.0, 1.0), (5.0, 6.0), (9.0, 11.0), (17.0, 21.0)]
    assert points[0]["encoding"]["x"]["title"] == "A · Toy · v1: Predicted y"
    assert result.facts["mean_difference"] == pytest.approx(np.mean([0, 1, 2, 4]))
    bars = spec_of(scenario_chart(compare_scenario(a, b, {"x": 2.0})))
    drawn = next(rows_ for layer, rows_ in layers(bars) if mark(layer) == "bar")
    assert sorted(row["value"] for row in drawn) == [5.0, 6.0]
