"""The Batch page's charts: what each one draws is the scored rows' own numbers, binned or sampled here."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from whatif.analysis.bulk import classification_metrics, regression_metrics, score_rows
from whatif.charts_batch import (
    MAX_POINTS,
    class_counts,
    class_counts_chart,
    confusion_chart,
    confusion_frame,
    nice_number,
    predicted_actual_chart,
    score_bins,
    score_histogram,
)
from whatif.schema import Feature, FeatureSchema

CLASSIFIER = FeatureSchema(
    (Feature("x", "number", 0, 1, 0.5),),
    task="classification",
    target="y",
    classes=(0, 1),
    class_labels={"0": "no", "1": "yes"},
)
REGRESSION = FeatureSchema((Feature("x", "number", 0, 1, 0.5),), task="regression", target="y")


def probabilities(rows: pd.DataFrame) -> pd.DataFrame:
    p = rows["x"].to_numpy(dtype=float)
    return pd.DataFrame({"prediction": (p >= 0.5).astype(int), "probability_0": 1 - p, "probability_1": p})


def scored_classifier(n: int = 1_000):  # type: ignore[no-untyped-def]
    rows = pd.DataFrame({"x": np.linspace(0, 1, n)})
    return score_rows(CLASSIFIER, rows, probabilities)


def test_the_histogram_bins_every_row_between_0_and_1_and_draws_the_threshold() -> None:
    scored = scored_classifier()
    bins = score_bins(scored)
    assert len(bins) == 20 and int(bins["rows"].sum()) == 1_000
    assert bins["start"].iloc[0] == 0 and bins["end"].iloc[-1] == 1
    chart = score_histogram(scored, threshold=0.3).to_dict()
    assert chart["title"] == "P(yes) of the 1,000 rows scored"
    rule = [d for d in chart["datasets"].values() if d and "threshold" in d[0]]
    assert rule and rule[0][0]["threshold"] == 0.3 and rule[0][0]["label"] == "threshold 0.30"
    assert "threshold" not in str(score_histogram(scored).to_dict()["datasets"])


def test_a_regressions_histogram_spans_its_predictions() -> None:
    rows = pd.DataFrame({"x": np.linspace(0, 1, 101)})
    scored = score_rows(REGRESSION, rows, lambda r: pd.DataFrame({"prediction": 100 + 50 * r["x"]}))
    bins = score_bins(scored)
    assert bins["start"].iloc[0] == 100 and bins["end"].iloc[-1] == 150 and int(bins["rows"].sum()) == 101
    assert isinstance(score_histogram(scored), alt.LayerChart)


def test_the_class_counts_are_per_label_in_the_models_order() -> None:
    counts = class_counts(scored_classifier())
    assert list(counts["class"]) == ["no", "yes"] and list(counts["rows"]) == [500, 500]
    assert counts["share"].sum() == 1
    spec = class_counts_chart(scored_classifier()).to_dict()
    texts = [row["text"] for d in spec["datasets"].values() for row in d]
    assert "500 (50 %)" in texts


def test_the_confusion_grid_holds_the_matrix_and_each_true_classs_share() -> None:
    scored = scored_classifier(100)
    truth = pd.Series(["1"] * 50 + ["0"] * 50)  # the truth upside down: every prediction wrong but at 0.5
    metrics = classification_metrics(scored, truth)
    cells = confusion_frame(metrics)
    assert int(cells["rows"].sum()) == 100
    by = cells.set_index(["true", "predicted"])
    assert by.loc[("no", "yes"), "rows"] == 50 and by.loc[("yes", "no"), "rows"] == 50
    assert by.loc[("no", "yes"), "share"] == 1.0
    assert isinstance(confusion_chart(metrics), alt.LayerChart)


def test_the_scatter_keeps_at_most_its_points_and_says_so() -> None:
    n = MAX_POINTS + 500
    rows = pd.DataFrame({"x": np.linspace(0, 1, n)})
    scored = score_rows(REGRESSION, rows, lambda r: pd.DataFrame({"prediction": r["x"] * 2}))
    metrics = regression_metrics(scored, pd.Series(np.linspace(0, 2, n)))
    spec = predicted_actual_chart(metrics).to_dict()
    sizes = sorted(len(d) for d in spec["datasets"].values())
    assert sizes == [2, MAX_POINTS]  # the diagonal's two ends, the sampled points
    assert f"a random {MAX_POINTS:,} of {n:,} rows" in spec["title"]


def test_numbers_read_as_the_page_writes_them() -> None:
    assert [nice_number(v) for v in (0.81234, 12.4, 1234.6, None, float("nan"), 0.0)] == [
        "0.812",
        "12.4",
        "1,235",
        "n/a",
        "n/a",
        "0",
    ]
