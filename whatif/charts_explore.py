"""Altair charts of the exploring analyses (tornado, sweep, interaction map): pure functions, no Streamlit.

Each builder reads only an ``AnalysisResult`` (its tidy ``summary``, ``facts`` and scorer), so
what the chart draws is what the CSV download and the command line's JSON hold.
"""

from __future__ import annotations

import math
from typing import Any, cast

import altair as alt
import numpy as np
import pandas as pd

from whatif.analysis.result import AnalysisResult
from whatif.charts import BASELINE_COLOR, PREDICTED_COLOR

FLIP_COLOR = "#d6604d"
STEADY_COLOR = "#8fb3d9"
SCENARIO_COLOR = PREDICTED_COLOR
AVERAGE_COLOR = "#111111"
ICE_COLOR = "#9aa5b1"
RANGE_COLOR = "#e8edf2"
FLIPS_LABEL, STEADY_LABEL = "flips the class", "does not flip it"
SCENARIO_LABEL, AVERAGE_LABEL, ICE_LABEL = "this scenario", "average (partial dependence)", "one row (ICE)"
BOUNDARY_LABEL = "predicted class changes here"


def _is_probability(result: AnalysisResult) -> bool:
    return result.scorer.task == "classification"


def _score_scale(result: AnalysisResult, *, centred: bool = False) -> tuple[alt.Scale, alt.Axis, str]:
    """The score axis: 0 to 100 % for probabilities, free for values and for centred curves; and its tooltip format."""
    if _is_probability(result):
        scale = alt.Scale(zero=False) if centred else alt.Scale(domain=[0, 1])
        return scale, alt.Axis(format="%"), ".1%"
    return alt.Scale(zero=False), alt.Axis(format=",.4~g"), ",.4~g"


def _label(value: Any) -> str:
    """A grid value as an axis label: 29 not 29.0, 211.3375 not 211.33750000000001."""
    if isinstance(value, float | np.floating):
        return f"{float(value):.10g}"
    return str(value)


# ---- tornado ---------------------------------------------------------------------------------------
def tornado_chart(result: AnalysisResult) -> alt.LayerChart:
    """A bar per feature from its lowest to its highest score, largest swing on top; a rule at the scenario's score.

    For classifiers the features that alone can change the predicted class are coloured apart
    (legend "flips the class").
    """
    data = result.summary[["feature", "low", "high", "swing", "value_at_low", "value_at_high", "current", "flips",
                           "rank"]].copy()
    data["effect"] = np.where(data["flips"].to_numpy(dtype=bool), FLIPS_LABEL, STEADY_LABEL)
    title = result.scorer.title
    scale, axis, fmt = _score_scale(result)
    order = data.sort_values("rank")["feature"].tolist()
    color: Any = alt.Color("effect:N", title="Changed alone, it",
                           scale=alt.Scale(domain=[FLIPS_LABEL, STEADY_LABEL], range=[FLIP_COLOR, STEADY_COLOR])) \
        if _is_probability(result) else alt.value(STEADY_COLOR)
    bars = alt.Chart(data).mark_bar(height={"band": 0.7}, cornerRadius=2).encode(
        x=alt.X("low:Q", title=title, scale=scale, axis=axis),
        x2="high:Q",
        y=alt.Y("feature:N", title=None, sort=order),
        color=color,
        tooltip=[alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("current:N", title="Now"),
                 alt.Tooltip("low:Q", title=f"Lowest {title}", format=fmt),
                 alt.Tooltip("value_at_low:N", title="at"),
                 alt.Tooltip("high:Q", title=f"Highest {title}", format=fmt),
                 alt.Tooltip("value_at_high:N", title="at"),
                 alt.Tooltip("swing:Q", title="Swing", format=fmt)],
    )
    rule_data = pd.DataFrame({"score": [float(result.scenario_score)], "text": ["this scenario"]})
    rule = alt.Chart(rule_data).mark_rule(strokeDash=[6, 4], color=BASELINE_COLOR).encode(
        x=alt.X("score:Q", scale=scale), tooltip=[alt.Tooltip("score:Q", title="This scenario", format=fmt)])
    return cast(alt.LayerChart, alt.layer(bars, rule).properties(height=alt.Step(24)))


# ---- sweep -----------------------------------------------------------------------------------------
def sweep_chart(result: AnalysisResult) -> alt.LayerChart:
    """The score along the swept feature: the scenario's curve, a ring at its current value, the training
    range shaded, the threshold for binary classifiers; thin grey ICE lines and a bold average with
    background rows. A category is drawn over its levels: the scenario as dots, rows and their average as ticks.
    """
    facts = result.facts
    feature = str(facts["feature"])
    centred = bool(facts.get("centred"))
    data = result.summary[["curve", "point", "value", "score", "flips"]].copy()
    data["line"] = data["curve"].map({"scenario": SCENARIO_LABEL, "average": AVERAGE_LABEL}).fillna(ICE_LABEL)
    title = f"Change in {result.scorer.title}" if centred else result.scorer.title
    scale, axis, fmt = _score_scale(result, centred=centred)
    current = facts.get("current_value")
    numeric = pd.api.types.is_numeric_dtype(data["value"])
    kinds = [kind for kind in (SCENARIO_LABEL, AVERAGE_LABEL, ICE_LABEL) if kind in set(data["line"])]
    palette = {SCENARIO_LABEL: SCENARIO_COLOR, AVERAGE_LABEL: AVERAGE_COLOR, ICE_LABEL: ICE_COLOR}
    color = alt.Color("line:N", title=None, scale=alt.Scale(domain=kinds, range=[palette[k] for k in kinds]))
    tooltip = [alt.Tooltip("curve:N", title="Curve"),
               alt.Tooltip(f"value:{'Q' if numeric else 'N'}", title=feature),
               alt.Tooltip("score:Q", title=title, format=fmt)]
    layers: list[Any] = []
    if numeric:
        x = alt.X("value:Q", title=feature, scale=alt.Scale(zero=False, nice=False))
        if facts.get("training_range"):
            low, high = facts["training_range"]
            band = pd.DataFrame({"low": [float(low)], "high": [float(high)], "text": ["training range"]})
            layers.append(alt.Chart(band).mark_rect(color=RANGE_COLOR, opacity=0.6).encode(
                x=alt.X("low:Q"), x2="high:Q", tooltip=[alt.Tooltip("text:N", title="Shaded")]))
        ice = data[data["line"] == ICE_LABEL]
        if not ice.empty:
            layers.append(alt.Chart(ice).mark_line(strokeWidth=0.8, opacity=0.35).encode(
                x=x, y=alt.Y("score:Q", title=title, scale=scale, axis=axis), detail="curve:N", color=color,
                tooltip=tooltip))
        main = data[data["line"] != ICE_LABEL]
        layers.append(alt.Chart(main).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
            x=x, y=alt.Y("score:Q", title=title, scale=scale, axis=axis), color=color,
            strokeWidth=alt.condition(alt.datum.line == AVERAGE_LABEL, alt.value(3.5), alt.value(2.2)),
            tooltip=tooltip))
        marker = _current_point(data, current, numeric=True)
    else:
        order = data.loc[data["curve"] == "scenario"].sort_values("point")["value"].tolist()
        x = alt.X("value:N", title=feature, sort=order, axis=alt.Axis(labelAngle=0))
        y = alt.Y("score:Q", title=title, scale=scale, axis=axis)
        for kind, thickness, opacity in ((ICE_LABEL, 1.0, 0.45), (AVERAGE_LABEL, 3.5, 1.0)):
            rows = data[data["line"] == kind]
            if not rows.empty:
                layers.append(alt.Chart(rows).mark_tick(thickness=thickness, size=34, opacity=opacity).encode(
                    x=x, y=y, color=color, tooltip=tooltip))
        scenario = data[data["line"] == SCENARIO_LABEL]
        layers.append(alt.Chart(scenario).mark_circle(size=140, opacity=1.0).encode(
            x=x, y=y, color=color, tooltip=tooltip))
        marker = _current_point(data, current, numeric=False)
    if marker is not None:
        layers.append(alt.Chart(marker).mark_point(size=260, strokeWidth=2.5, filled=False, color=AVERAGE_COLOR)
                      .encode(x=x, y=alt.Y("score:Q", scale=scale),
                              tooltip=[alt.Tooltip("value:N", title=f"{feature} now"),
                                       alt.Tooltip("score:Q", title=title, format=fmt)]))
    threshold = facts.get("threshold")
    if threshold is not None and not centred:
        rule_data = pd.DataFrame({"score": [float(threshold)], "text": [f"threshold {threshold:.0%}"]})
        layers.append(alt.Chart(rule_data).mark_rule(strokeDash=[6, 4], color=BASELINE_COLOR).encode(
            y=alt.Y("score:Q", scale=scale), tooltip=[alt.Tooltip("text:N", title="Decision")]))
    return cast(alt.LayerChart, alt.layer(*layers).properties(height=320))


def _current_point(data: pd.DataFrame, current: Any, *, numeric: bool) -> pd.DataFrame | None:
    """The scenario curve's point at the scenario's own value (the ring), or None when it is not on the grid."""
    scenario = data[data["curve"] == "scenario"]
    if numeric:
        if current is None or isinstance(current, bool):
            return None
        at = scenario[np.isclose(scenario["value"].to_numpy(dtype=float), float(current), rtol=0, atol=1e-9)]
    else:
        at = scenario[scenario["value"].astype(str) == str(current)]
    return at.head(1) if not at.empty else None


# ---- interaction -----------------------------------------------------------------------------------
def _map_data(result: AnalysisResult) -> tuple[pd.DataFrame, alt.X, alt.Y, list[Any]]:
    """The map's cells with text labels for the axes, kept in grid order."""
    data = result.summary.copy()
    data["x_label"] = data["x"].map(_label)
    data["y_label"] = data["y"].map(_label)
    x_name, y_name = result.facts["features"]
    x_order = data.sort_values("x_point").drop_duplicates("x_point")["x_label"].tolist()
    y_order = data.sort_values("y_point").drop_duplicates("y_point")["y_label"].tolist()
    x = alt.X("x_label:O", title=x_name, sort=x_order, axis=alt.Axis(labelOverlap="greedy", labelAngle=-45))
    y = alt.Y("y_label:O", title=y_name, sort=list(reversed(y_order)), axis=alt.Axis(labelOverlap="greedy"))
    tooltip = [alt.Tooltip("x_label:N", title=x_name), alt.Tooltip("y_label:N", title=y_name)]
    return data, x, y, tooltip


def _scenario_cell(result: AnalysisResult, data: pd.DataFrame, x: alt.X, y: alt.Y, names: list[Any]) -> alt.Chart:
    x0, y0 = result.facts["scenario_point"]
    cell = data[(data["x_point"] == x0) & (data["y_point"] == y0)].assign(text="this scenario")
    return alt.Chart(cell).mark_point(shape="circle", size=160, strokeWidth=2.5, filled=False,
                                      color=AVERAGE_COLOR).encode(
        x=x, y=y, tooltip=[alt.Tooltip("text:N", title="Marked"), *names])


def interaction_chart(result: AnalysisResult) -> alt.LayerChart:
    """A heatmap of the score over the two features, the scenario ringed; for classifiers the cells next
    to a change of predicted class are outlined (the decision boundary), and a binary model's colours
    diverge at its threshold."""
    data, x, y, names = _map_data(result)
    title = result.scorer.title
    probability = _is_probability(result)
    fmt = ".1%" if probability else ",.4~g"
    threshold = result.scorer.threshold
    if probability and threshold is not None:  # the two sides of the decision in two hues, pale near it
        color_scale = alt.Scale(scheme="redblue", domain=[0, 1], domainMid=float(threshold))
    elif probability:
        color_scale = alt.Scale(scheme="blues", domain=[0, 1])
    else:
        color_scale = alt.Scale(scheme="viridis")
    tooltip = [*names, alt.Tooltip("score:Q", title=title, format=fmt), alt.Tooltip("predicted:N", title="Prediction")]
    cells = alt.Chart(data).mark_rect().encode(
        x=x, y=y, color=alt.Color("score:Q", title=title, scale=color_scale,
                                  legend=alt.Legend(format="%" if probability else ",.4~g")),
        tooltip=tooltip)
    layers: list[Any] = [cells]
    if probability and bool(data["boundary"].any()):
        edge = data[data["boundary"]].assign(edge=BOUNDARY_LABEL)
        layers.append(alt.Chart(edge).mark_rect(fillOpacity=0, strokeWidth=1.2).encode(
            x=x, y=y, stroke=alt.Stroke("edge:N", title=None, scale=alt.Scale(domain=[BOUNDARY_LABEL],
                                                                               range=[AVERAGE_COLOR])),
            tooltip=tooltip))
    layers.append(_scenario_cell(result, data, x, y, names))
    return cast(alt.LayerChart, alt.layer(*layers).properties(height=360))


def interaction_effect_chart(result: AnalysisResult) -> alt.LayerChart:
    """The interaction alone, f(x, y) - f(x, y0) - f(x0, y) + f(x0, y0), on a diverging scale centred on 0.

    Zero along the scenario's row and column by construction; colour elsewhere is what the
    two features do together beyond their separate effects.
    """
    data, x, y, names = _map_data(result)
    probability = _is_probability(result)
    fmt = "+.1%" if probability else "+,.4~g"
    largest = float(np.nanmax(np.abs(data["interaction"].to_numpy(dtype=float)))) if len(data) else 0.0
    largest = largest if math.isfinite(largest) and largest > 0 else 1e-9
    title = f"Interaction on {result.scorer.title}"
    cells = alt.Chart(data).mark_rect().encode(
        x=x, y=y,
        color=alt.Color("interaction:Q", title=title,
                        scale=alt.Scale(scheme="redblue", domain=[-largest, largest], domainMid=0),
                        legend=alt.Legend(format="+%" if probability else "+,.4~g")),
        tooltip=[*names, alt.Tooltip("interaction:Q", title="Interaction", format=fmt),
                 alt.Tooltip("score:Q", title=result.scorer.title, format=fmt.lstrip("+"))],
    )
    return cast(alt.LayerChart, alt.layer(cells, _scenario_cell(result, data, x, y, names)).properties(height=360))

