"""Altair charts of a scored file (the Batch page): pure functions, no Streamlit.

Each builder reads a ``ScoredRows`` or a metrics result of ``whatif.analysis.bulk`` and sends the
browser only what it draws: the score histogram is binned here (100,000 rows become 20 bars), the
predicted-against-actual scatter keeps at most ``MAX_POINTS`` points.
"""

from __future__ import annotations

import math
from typing import cast

import altair as alt
import numpy as np
import pandas as pd

from whatif.analysis.bulk import SCORE, ClassificationMetrics, RegressionMetrics, ScoredRows
from whatif.charts import CLASS_COLORS, PREDICTED_COLOR

HISTOGRAM_BINS = 20
MAX_POINTS = 5_000
MARK_COLOR = "#333333"
WIDTH_FIT = alt.AutoSizeParams(type="fit-x", contains="padding")


def score_bins(scored: ScoredRows, bins: int = HISTOGRAM_BINS) -> pd.DataFrame:
    """The histogram's bars: ``start``, ``end``, ``rows`` (a probability: 0 to 1 in ``bins`` steps)."""
    score = scored.frame[scored.column(SCORE)].to_numpy(dtype=float)
    score = score[np.isfinite(score)]
    probability = scored.scorer is not None and scored.scorer.task == "classification"
    if probability:
        low, high = 0.0, 1.0
    elif len(score):
        low, high = float(score.min()), float(score.max())
        if high <= low:
            low, high = low - 0.5, high + 0.5
    else:
        low, high = 0.0, 1.0
    counts, edges = np.histogram(score, bins=bins, range=(low, high))
    return pd.DataFrame({"start": edges[:-1], "end": edges[1:], "rows": counts.astype(int)})


def score_histogram(scored: ScoredRows, threshold: float | None = None) -> alt.LayerChart:
    """How many rows got each score, with the threshold drawn when given (binary classifiers)."""
    data = score_bins(scored)
    probability = scored.scorer is not None and scored.scorer.task == "classification"
    title = scored.scorer.title if scored.scorer is not None else "Score"
    axis = alt.Axis(format="%") if probability else alt.Axis(format="~s")
    bars = (
        alt.Chart(data)
        .mark_bar(color=PREDICTED_COLOR, opacity=0.85, binSpacing=1)
        .encode(
            x=alt.X("start:Q", bin="binned", title=title, axis=axis),
            x2="end:Q",
            y=alt.Y("rows:Q", title="Rows"),
            tooltip=[
                alt.Tooltip("start:Q", title="from", format=".3~f"),
                alt.Tooltip("end:Q", title="to", format=".3~f"),
                alt.Tooltip("rows:Q", title="rows", format=","),
            ],
        )
    )
    layers: list[alt.Chart] = [bars]
    if threshold is not None:
        rule = pd.DataFrame({"threshold": [threshold], "label": [f"threshold {threshold:.2f}"]})
        base = alt.Chart(rule)
        layers.append(base.mark_rule(color=MARK_COLOR, strokeDash=[4, 3]).encode(x="threshold:Q"))
        layers.append(
            base.mark_text(align="left", dx=4, dy=-4, baseline="top", color=MARK_COLOR).encode(
                x="threshold:Q", y=alt.value(0), text="label:N"
            )
        )
    return cast(
        alt.LayerChart,
        alt.layer(*layers).properties(
            title=f"{title} of the {scored.rows:,} rows scored", height=240, autosize=WIDTH_FIT
        ),
    )


def class_counts(scored: ScoredRows) -> pd.DataFrame:
    """Rows per predicted class label, in the model's class order: ``class``, ``rows``, ``share``."""
    labels = [scored.schema.class_label(c) for c in (scored.scorer.classes if scored.scorer else ())]
    counts = scored.frame[scored.column("predicted_label")].value_counts() if scored.rows else pd.Series(dtype=int)
    order = labels + [str(c) for c in counts.index if c not in labels]
    rows = [int(counts.get(label, 0)) for label in order]
    total = max(1, sum(rows))
    return pd.DataFrame({"class": order, "rows": rows, "share": [r / total for r in rows]})


def class_counts_chart(scored: ScoredRows) -> alt.LayerChart:
    """Horizontal bars: how many rows the model puts in each class, with the count and share written."""
    data = class_counts(scored)
    data["text"] = [f"{r:,} ({s * 100:.0f} %)" for r, s in zip(data["rows"], data["share"], strict=True)]
    colors = alt.Scale(domain=list(data["class"]), range=CLASS_COLORS[: len(data)] or [PREDICTED_COLOR])
    base = alt.Chart(data).encode(y=alt.Y("class:N", title=None, sort=None))
    bars = base.mark_bar(cornerRadiusEnd=3).encode(
        x=alt.X("rows:Q", title="Rows predicted", axis=alt.Axis(format="~s")),
        color=alt.Color("class:N", scale=colors, legend=None),
        tooltip=[alt.Tooltip("class:N"), alt.Tooltip("rows:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
    )
    text = base.mark_text(align="left", dx=4, color=MARK_COLOR).encode(x="rows:Q", text="text:N")
    return cast(
        alt.LayerChart,
        alt.layer(bars, text).properties(
            title="Rows per predicted class", height=max(80, 36 * len(data)), autosize=WIDTH_FIT
        ),
    )


def confusion_frame(metrics: ClassificationMetrics) -> pd.DataFrame:
    """The confusion matrix as tidy rows: ``true``, ``predicted``, ``rows``, ``share`` (of the true class)."""
    matrix = metrics.confusion
    records = []
    for true in matrix.index:
        total = int(matrix.loc[true].sum())
        for predicted in matrix.columns:
            count = int(matrix.loc[true, predicted])
            records.append(
                {
                    "true": str(true),
                    "predicted": str(predicted),
                    "rows": count,
                    "share": count / total if total else 0.0,
                    "correct": str(true) == str(predicted),
                }
            )
    return pd.DataFrame.from_records(records)


def confusion_chart(metrics: ClassificationMetrics) -> alt.LayerChart:
    """The confusion matrix as a grid: true class down, predicted across; each cell's count and row share."""
    data = confusion_frame(metrics)
    data["text"] = [f"{r:,} ({s * 100:.0f} %)" for r, s in zip(data["rows"], data["share"], strict=True)]
    order = [str(c) for c in metrics.confusion.columns]
    base = alt.Chart(data).encode(
        x=alt.X("predicted:N", title="Predicted", sort=order, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true:N", title="True", sort=order),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color(
            "share:Q", title="Share of the true class", scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=None
        ),
        tooltip=[
            alt.Tooltip("true:N"),
            alt.Tooltip("predicted:N"),
            alt.Tooltip("rows:Q", format=","),
            alt.Tooltip("share:Q", title="share of the true class", format=".1%"),
        ],
    )
    text = base.mark_text(fontSize=14).encode(
        text="text:N", color=alt.condition(alt.datum.share > 0.5, alt.value("white"), alt.value(MARK_COLOR))
    )
    side = max(70, 60 * len(order))
    return cast(alt.LayerChart, alt.layer(cells, text).properties(height=side, autosize=WIDTH_FIT))


def predicted_actual_chart(metrics: RegressionMetrics, max_points: int = MAX_POINTS, seed: int = 0) -> alt.LayerChart:
    """Predicted against actual, one point per row (a random ``max_points`` of them), the diagonal marking
    a perfect prediction."""
    points = metrics.points
    shown = points.sample(max_points, random_state=seed) if len(points) > max_points else points
    values = np.concatenate([points["actual"].to_numpy(dtype=float), points["predicted"].to_numpy(dtype=float)])
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    pad = (high - low) * 0.03 or 1.0
    domain = [low - pad, high + pad]
    scale = alt.Scale(domain=domain, nice=False, zero=False)
    dots = (
        alt.Chart(shown)
        .mark_circle(size=18, opacity=0.45, color=PREDICTED_COLOR)
        .encode(
            x=alt.X("actual:Q", title="Actual", scale=scale),
            y=alt.Y("predicted:Q", title="Predicted", scale=scale),
            tooltip=[
                alt.Tooltip("row:Q", format=","),
                alt.Tooltip("actual:Q", format=",.4~g"),
                alt.Tooltip("predicted:Q", format=",.4~g"),
            ],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"actual": domain, "predicted": domain}))
        .mark_line(color=MARK_COLOR, strokeDash=[4, 3])
        .encode(x="actual:Q", y="predicted:Q")
    )
    note = f"a random {max_points:,} of {len(points):,} rows" if len(points) > max_points else f"{len(points):,} rows"
    return cast(
        alt.LayerChart,
        alt.layer(dots, diagonal).properties(
            title=f"Predicted against actual ({note}; on the dashed line the prediction is exact)",
            height=320,
            autosize=WIDTH_FIT,
        ),
    )


def nice_number(value: float | None, digits: int = 3) -> str:
    """A metric as the page writes it: "0.812", "12.4", "n/a" for None or NaN."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0"
