"""Altair charts of predictions and runs: pure functions, no Streamlit calls."""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import pandas as pd

NEWEST_COLOR = "#111111"
BASELINE_COLOR = "#888888"


def probability_chart(probabilities: Mapping[str, float], class_labels: Mapping[str, str],
                      predicted: str | None = None) -> alt.Chart:
    """Horizontal bars of the class probabilities, the predicted class emphasised."""
    data = pd.DataFrame({
        "class": [class_labels.get(code, code) for code in probabilities],
        "probability": [float(p) for p in probabilities.values()],
    })
    data["predicted"] = data["class"] == predicted
    bars = alt.Chart(data).mark_bar(cornerRadiusEnd=3).encode(
        x=alt.X("probability:Q", title="Probability", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("class:N", title=None, sort=None),
        color=alt.Color("class:N", legend=None),
        opacity=alt.condition(alt.datum.predicted, alt.value(1.0), alt.value(0.45)),
        tooltip=[alt.Tooltip("class:N", title="Class"), alt.Tooltip("probability:Q", format=".1%")],
    )
    text = bars.mark_text(align="left", dx=4).encode(text=alt.Text("probability:Q", format=".1%"),
                                                      color=alt.value("#333"))
    return (bars + text).properties(height=alt.Step(28))


def runs_chart(runs: pd.DataFrame, *, score_title: str, baseline_score: float | None, newest_id: int | None,
               probability_scale: bool) -> alt.LayerChart:
    """Every run of the model: score by run number, coloured by prediction.

    ``runs`` has the columns ``id, seq, name, label, score, changed``; the caller passes a
    window (the newest few hundred runs), so the chart stays light at any history size.
    The baseline is a dashed rule, the newest run a ring, tooltips name the changed inputs.
    """
    data = runs[["id", "seq", "name", "label", "score", "changed"]].copy()
    data["changed"] = data["changed"].where(data["changed"] != "", "(same as baseline)")
    y_scale = alt.Scale(domain=[0, 1]) if probability_scale else alt.Scale(zero=False)
    y_axis = alt.Axis(format="%") if probability_scale else alt.Axis()
    base = alt.Chart(data).encode(
        x=alt.X("seq:Q", title="Run", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("score:Q", title=score_title, scale=y_scale, axis=y_axis),
    )
    tooltip = [alt.Tooltip("seq:Q", title="Run"), alt.Tooltip("name:N", title="Name"),
               alt.Tooltip("label:N", title="Prediction"),
               alt.Tooltip("score:Q", title=score_title, format=".1%" if probability_scale else ",.4g"),
               alt.Tooltip("changed:N", title="Changed vs baseline")]
    line = base.mark_line(color="#cccccc", strokeWidth=1)
    points = base.mark_circle(size=90, opacity=0.9).encode(
        color=alt.Color("label:N", title="Prediction"), tooltip=tooltip)
    layers: list[alt.Chart] = [line, points]
    if newest_id is not None:
        newest = base.transform_filter(alt.datum.id == int(newest_id)).mark_point(
            size=380, strokeWidth=2.5, color=NEWEST_COLOR, filled=False).encode(tooltip=tooltip)
        layers.append(newest)
    if baseline_score is not None:
        rule_data = pd.DataFrame({"score": [float(baseline_score)], "text": ["baseline"]})
        rule = alt.Chart(rule_data).mark_rule(strokeDash=[6, 4], color=BASELINE_COLOR).encode(y="score:Q")
        label = alt.Chart(rule_data).mark_text(align="left", dx=4, dy=-7, color=BASELINE_COLOR).encode(
            y="score:Q", x=alt.value(0), text="text:N")
        layers += [rule, label]
    return alt.layer(*layers).properties(height=320)
