"""Altair charts of predictions and runs: pure functions, no Streamlit calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import altair as alt
import pandas as pd

NEWEST_COLOR = "#111111"
PREDICTED_COLOR = "#1f6fb2"
OTHER_COLOR = "#b8c2cc"
REGRESSION_COLOR = "#1f6fb2"
CLASS_COLORS = [
    "#d6604d",
    "#1f6fb2",
    "#f4a582",
    "#4daf4a",
    "#984ea3",
    "#ff7f00",
    "#a65628",
    "#f781bf",
    "#999999",
    "#66c2a5",
]
BASELINE_COLOR = "#888888"


def class_color(label: str, class_order: Sequence[str]) -> str:
    """The colour of a predicted class in the runs chart's legend (the same on the result card)."""
    order = list(class_order)
    if label in order and len(order) <= len(CLASS_COLORS):
        return CLASS_COLORS[order.index(label)]
    return PREDICTED_COLOR


def probability_chart(
    probabilities: Mapping[str, float],
    class_labels: Mapping[str, str],
    predicted: str | None = None,
    predicted_color: str = PREDICTED_COLOR,
) -> alt.Chart:
    """Horizontal bars of the class probabilities, the predicted class emphasised in its legend colour."""
    data = pd.DataFrame(
        {
            "class": [class_labels.get(code, code) for code in probabilities],
            "probability": [float(p) for p in probabilities.values()],
        }
    )
    data["predicted"] = data["class"] == predicted
    bars = (
        alt.Chart(data)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("probability:Q", title="Probability", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            y=alt.Y("class:N", title=None, sort=None),
            # one hue: the predicted class strong, the others grey (per-class hues made a faded winner look weak)
            color=alt.condition(alt.datum.predicted, alt.value(predicted_color), alt.value(OTHER_COLOR)),
            tooltip=[alt.Tooltip("class:N", title="Class"), alt.Tooltip("probability:Q", format=".1%")],
        )
    )
    text = bars.mark_text(align="left", dx=4).encode(
        text=alt.Text("probability:Q", format=".1%"), color=alt.value("#333")
    )
    return (bars + text).properties(height=alt.Step(28))


def runs_chart(
    runs: pd.DataFrame,
    *,
    score_title: str,
    baseline_score: float | None,
    newest_id: int | None,
    probability_scale: bool,
    class_order: Sequence[str] = (),
) -> alt.LayerChart:
    """Every run of the model: score by run number, coloured by prediction.

    ``runs`` has the columns ``id, seq, name, label, score, changed``; the caller passes a
    window (the newest few hundred runs), so the chart stays light at any history size.
    The baseline is a dashed rule, the newest run a ring, tooltips name the changed inputs.
    """
    data = runs[["id", "seq", "name", "label", "score", "changed"]].copy()
    data["changed"] = data["changed"].where(data["changed"] != "", "(same as baseline)")
    y_scale = alt.Scale(domain=[0, 1]) if probability_scale else alt.Scale(zero=False)
    y_axis = alt.Axis(format="%") if probability_scale else alt.Axis(format=",.4~g")
    base = alt.Chart(data).encode(
        x=alt.X("seq:Q", title="Run", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("score:Q", title=score_title, scale=y_scale, axis=y_axis),
    )
    tooltip = [
        alt.Tooltip("seq:Q", title="Run"),
        alt.Tooltip("name:N", title="Name"),
        alt.Tooltip("label:N", title="Prediction"),
        alt.Tooltip("score:Q", title=score_title, format=".1%" if probability_scale else ",.4g"),
        alt.Tooltip("changed:N", title="Changed vs baseline"),
    ]
    line = base.mark_line(color="#cccccc", strokeWidth=1)
    # a classifier's points are coloured by predicted class; a regression's value is already the y axis
    # (a fixed class order keeps each class's colour from run to run; the palette tells classes apart at a glance)
    domain = list(class_order) or sorted(data["label"].astype(str).unique())
    scale = alt.Scale(
        domain=domain, range=CLASS_COLORS[: max(len(domain), 1)] if len(domain) <= len(CLASS_COLORS) else alt.Undefined
    )
    color = alt.Color("label:N", title="Prediction", scale=scale) if probability_scale else alt.value(REGRESSION_COLOR)
    points = base.mark_circle(size=90, opacity=0.9).encode(color=color, tooltip=tooltip)
    layers: list[alt.Chart] = [line, points]
    if newest_id is not None:
        newest = (
            base.transform_filter(alt.datum.id == int(newest_id))
            .mark_point(size=380, strokeWidth=2.5, color=NEWEST_COLOR, filled=False)
            .encode(tooltip=tooltip)
        )
        layers.append(newest)
    if baseline_score is not None:
        rule_data = pd.DataFrame({"score": [float(baseline_score)], "text": ["baseline"]})
        rule = alt.Chart(rule_data).mark_rule(strokeDash=[6, 4], color=BASELINE_COLOR).encode(y="score:Q")
        label = (
            alt.Chart(rule_data)
            .mark_text(align="left", dx=4, dy=-7, color=BASELINE_COLOR)
            .encode(y="score:Q", x=alt.value(0), text="text:N")
        )
        layers += [rule, label]
    return cast(alt.LayerChart, alt.layer(*layers).properties(height=320))
