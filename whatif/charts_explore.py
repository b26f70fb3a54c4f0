"""Altair charts of the exploring analyses (tornado, sweep, interaction map): pure functions, no Streamlit.

Each builder reads only an ``AnalysisResult`` (its tidy ``summary``, ``facts`` and scorer), so
what the chart draws is what the CSV download and the command line's JSON hold.

One colour convention for every chart of a probability (here and in ``charts_explain``): blue is
towards the score's class (a higher score), orange away from it (a lower score); purple marks
what "flips the class", so it is never confused with either direction. Legends sit under the
charts, so a chart in half a page keeps its width for the data.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final, cast

import altair as alt
import numpy as np
import pandas as pd

from whatif.analysis.result import AnalysisResult
from whatif.charts import BASELINE_COLOR, PREDICTED_COLOR

HIGHER_COLOR = PREDICTED_COLOR  # blue: towards the score's class
LOWER_COLOR = "#e08214"  # orange: away from it
FLIP_COLOR = "#6a3d9a"  # purple: changes the predicted class
STEADY_COLOR = "#a9bacd"  # a quiet slate: moves the score, keeps the class
SCENARIO_COLOR = PREDICTED_COLOR
AVERAGE_COLOR = "#111111"
MARK_COLOR = "#333333"  # rules and labels that mark a value (this scenario)
NOTE_COLOR = "#666666"  # small annotations (the input values at a bar's ends)
ICE_COLOR = "#9aa5b1"
RANGE_COLOR = "#e8edf2"
DIVERGING_SCHEME: Final = "blueorange"  # reversed: orange for low scores, blue for high ones
FLIPS_LABEL, STEADY_LABEL = "can flip the class", "cannot flip it"
SCENARIO_LABEL, AVERAGE_LABEL, ICE_LABEL = "this scenario", "average (partial dependence)", "one row (ICE)"
BOUNDARY_LABEL = "predicted class changes here"
MAP_TICKS_ACROSS, MAP_TICKS_UP = 6, 10  # labelled grid values on a map's axes, the same on both maps


def _is_probability(result: AnalysisResult) -> bool:
    return result.scorer.task == "classification"


def fit_width(chart: alt.LayerChart | alt.FacetChart, **properties: Any) -> alt.LayerChart:
    """The chart with ``properties`` and autosize "fit-x": stretched to its column's width, while its height
    stays the plot's own (Streamlit's default "fit" would squeeze the plot to make room for a legend
    under it or a title above it)."""
    return cast(
        alt.LayerChart, chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"), **properties)
    )


def bottom_legend(title: str | None = None, **options: Any) -> alt.Legend:
    """A horizontal legend under the chart whose labels are never cut: the plot keeps the chart's width."""
    settings: dict[str, Any] = {
        "orient": "bottom",
        "direction": "horizontal",
        "labelLimit": 0,
        "titleLimit": 0,
        **options,
    }
    return alt.Legend(title=title, **settings)


def short_value(value: Any) -> str:
    """A value as a label: numbers to about 3 significant figures (0.1667 -> "0.167", 512.3292 -> "512",
    14.4542 -> "14.5", 1234.6 -> "1,235"), text as it is.

    Number-like text (a summary's value column holds the page's text) is read as a number first.
    """
    if isinstance(value, bool | np.bool_):
        return str(value)
    number: float | None = None
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
    if number is None:
        return str(value)
    if not math.isfinite(number):
        return "n/a"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    text = f"{number:.3g}"
    return "0" if text == "-0" else text


def score_text(result: AnalysisResult, value: float) -> str:
    """A score as a chart label: "9 %" for a probability, 4 significant figures for a value."""
    if not math.isfinite(value):
        return "n/a"
    if _is_probability(result):
        return f"{value * 100:.0f} %"
    return f"{value:,.4g}"


def _score_scale(result: AnalysisResult, *, centred: bool = False) -> tuple[alt.Scale, alt.Axis, str]:
    """The score axis: 0 to 100 % for probabilities, free for values and for centred curves; and its tooltip format."""
    if _is_probability(result):
        scale = alt.Scale(zero=False) if centred else alt.Scale(domain=[0, 1])
        return scale, alt.Axis(format="%"), ".1%"
    return alt.Scale(zero=False), alt.Axis(format=",.4~g"), ",.4~g"


def _label(value: Any) -> str:
    """A grid value as a tooltip: 29 not 29.0, 211.3375 not 211.33750000000001."""
    if isinstance(value, float | np.floating):
        return f"{float(value):.10g}"
    return str(value)


def marker_labels(marks: list[tuple[float, str]], low: float, high: float) -> pd.DataFrame:
    """Labels of vertical rules, drawn above the plot one line each (so two close rules never overprint):
    left-aligned from their rule, or right-aligned when the rule sits in the right quarter of [low, high]."""
    span = high - low if high > low else 1.0
    rows = []
    for line, (value, text) in enumerate(marks):
        right = (value - low) / span > 0.75
        rows.append(
            {
                "score": value,
                "text": text,
                "y": -4 - 13 * line,
                "align": "right" if right else "left",
                "dx": -4 if right else 4,
            }
        )
    return pd.DataFrame(rows)


def marker_text(labels: pd.DataFrame, scale: alt.Scale) -> list[alt.Chart]:
    """The text marks of ``marker_labels``, one layer per label: its line above the plot and its alignment
    are mark properties, so the labels do not share (and disturb) the chart's y scale."""
    return [
        alt.Chart(pd.DataFrame([row]))
        .mark_text(
            align=row["align"], baseline="bottom", dx=int(row["dx"]), y=int(row["y"]), fontSize=11, color=MARK_COLOR
        )
        .encode(x=alt.X("score:Q", scale=scale), text="text:N")
        for _, row in labels.iterrows()
    ]


# ---- tornado ---------------------------------------------------------------------------------------
def tornado_chart(result: AnalysisResult) -> alt.LayerChart:
    """A bar per feature from its lowest to its highest score, largest swing on top, the input's value at
    each end written beside it; a labelled rule at the scenario's score.

    For classifiers a dashed rule marks the threshold (crossing it is what "flips the class" means)
    and the features that alone can change the predicted class are coloured apart.
    """
    data = result.summary[
        ["feature", "low", "high", "swing", "value_at_low", "value_at_high", "current", "flips", "rank"]
    ].copy()
    data["effect"] = np.where(data["flips"].to_numpy(dtype=bool), FLIPS_LABEL, STEADY_LABEL)
    data["low_text"] = data["value_at_low"].map(short_value)
    data["high_text"] = data["value_at_high"].map(short_value)
    title = result.scorer.title
    probability = _is_probability(result)
    scale, axis, fmt = _score_scale(result)
    order = data.sort_values("rank")["feature"].tolist()
    color: Any = (
        alt.Color(
            "effect:N",
            scale=alt.Scale(domain=[FLIPS_LABEL, STEADY_LABEL], range=[FLIP_COLOR, STEADY_COLOR]),
            legend=bottom_legend("Moved alone, this input"),
        )
        if probability
        else alt.value(STEADY_COLOR)
    )
    y = alt.Y("feature:N", title=None, sort=order, axis=alt.Axis(labelLimit=240))
    bars = (
        alt.Chart(data)
        .mark_bar(height={"band": 0.7}, cornerRadius=2)
        .encode(
            x=alt.X("low:Q", title=title, scale=scale, axis=axis),
            x2="high:Q",
            y=y,
            color=color,
            tooltip=[
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("current:N", title="Now"),
                alt.Tooltip("low:Q", title=f"Lowest {title}", format=fmt),
                alt.Tooltip("value_at_low:N", title="at"),
                alt.Tooltip("high:Q", title=f"Highest {title}", format=fmt),
                alt.Tooltip("value_at_high:N", title="at"),
                alt.Tooltip("swing:Q", title="Swing", format=fmt),
            ],
        )
    )
    ends = [
        alt.Chart(data)
        .mark_text(align=cast(Any, align), dx=dx, fontSize=10, color=NOTE_COLOR)
        .encode(x=alt.X(f"{field}:Q", scale=scale), y=y, text=f"{field}_text:N")
        for field, align, dx in (("low", "right", -4), ("high", "left", 4))
    ]
    score = float(result.scenario_score)
    marks = [(score, f"{SCENARIO_LABEL} {score_text(result, score)}")]
    threshold = result.scorer.threshold if probability else None
    if threshold is not None:
        marks.append((float(threshold), f"threshold {score_text(result, float(threshold))}"))
    low, high = (0.0, 1.0) if probability else (float(data["low"].min()), float(data["high"].max()))
    labels = marker_labels(marks, low, high)
    layers: list[Any] = [bars, *ends]
    layers.append(
        alt.Chart(labels.iloc[:1])
        .mark_rule(strokeDash=[6, 4], color=MARK_COLOR)
        .encode(x=alt.X("score:Q", scale=scale), tooltip=[alt.Tooltip("score:Q", title="This scenario", format=fmt)])
    )
    if threshold is not None:
        layers.append(
            alt.Chart(labels.iloc[1:])
            .mark_rule(strokeDash=[2, 3], color=BASELINE_COLOR)
            .encode(x=alt.X("score:Q", scale=scale), tooltip=[alt.Tooltip("text:N", title="Decision")])
        )
    layers += marker_text(labels, scale=scale)
    return fit_width(alt.layer(*layers), height=alt.Step(24))


# ---- sweep -----------------------------------------------------------------------------------------
def sweep_chart(result: AnalysisResult) -> alt.LayerChart:
    """The score along the swept feature: the scenario's curve, a ring at its current value, the training
    range shaded, the threshold for binary classifiers (labelled: it is where the class changes); thin
    grey ICE lines and a bold average with background rows. A category is drawn over its levels: the
    scenario as dots, rows and their average as ticks. The legend draws each line as a stroke of its colour.
    """
    facts = result.facts
    feature = str(facts["feature"])
    centred = bool(facts.get("centred"))
    data = result.summary[["curve", "point", "value", "score", "flips"]].copy()
    data["line"] = data["curve"].map({"scenario": SCENARIO_LABEL, "average": AVERAGE_LABEL}).fillna(ICE_LABEL)
    title = f"Change in {result.scorer.title}" if centred else result.scorer.title
    scale, axis, fmt = _score_scale(result, centred=centred)
    current = facts.get("current_value")
    numeric = bool(pd.api.types.is_numeric_dtype(data["value"]))
    kinds = [kind for kind in (SCENARIO_LABEL, AVERAGE_LABEL, ICE_LABEL) if kind in set(data["line"])]
    palette = {SCENARIO_LABEL: SCENARIO_COLOR, AVERAGE_LABEL: AVERAGE_COLOR, ICE_LABEL: ICE_COLOR}
    symbols = (
        {"symbolType": "stroke", "symbolStrokeWidth": 3, "symbolSize": 300}
        if numeric
        else {"symbolType": "circle", "symbolSize": 120}
    )  # a category's curves are dots and ticks, not lines
    color = alt.Color(
        "line:N",
        scale=alt.Scale(domain=kinds, range=[palette[k] for k in kinds]),
        legend=bottom_legend(None, symbolOpacity=1, **symbols),
    )
    tooltip = [
        alt.Tooltip("curve:N", title="Curve"),
        alt.Tooltip(f"value:{'Q' if numeric else 'N'}", title=feature),
        alt.Tooltip("score:Q", title=title, format=fmt),
    ]
    layers: list[Any] = []
    if numeric:
        x = alt.X("value:Q", title=feature, scale=alt.Scale(zero=False, nice=False))
        if facts.get("training_range"):
            low, high = facts["training_range"]
            band = pd.DataFrame({"low": [float(low)], "high": [float(high)], "text": ["training range"]})
            layers.append(
                alt.Chart(band)
                .mark_rect(color=RANGE_COLOR, opacity=0.6)
                .encode(x=alt.X("low:Q"), x2="high:Q", tooltip=[alt.Tooltip("text:N", title="Shaded")])
            )
        ice = data[data["line"] == ICE_LABEL]
        if not ice.empty:
            layers.append(
                alt.Chart(ice)
                .mark_line(strokeWidth=0.8, opacity=0.35)
                .encode(
                    x=x,
                    y=alt.Y("score:Q", title=title, scale=scale, axis=axis),
                    detail="curve:N",
                    color=color,
                    tooltip=tooltip,
                )
            )
        main = data[data["line"] != ICE_LABEL]
        layers.append(
            alt.Chart(main)
            .mark_line(point=alt.OverlayMarkDef(size=18))
            .encode(
                x=x,
                y=alt.Y("score:Q", title=title, scale=scale, axis=axis),
                color=color,
                strokeWidth=alt.condition(alt.datum.line == AVERAGE_LABEL, alt.value(3.5), alt.value(2.2)),
                tooltip=tooltip,
            )
        )
        marker = _current_point(data, current, numeric=True)
    else:
        order = data.loc[data["curve"] == "scenario"].sort_values("point")["value"].tolist()
        x = alt.X("value:N", title=feature, sort=order, axis=alt.Axis(labelAngle=0))
        y = alt.Y("score:Q", title=title, scale=scale, axis=axis)
        for kind, thickness, opacity in ((ICE_LABEL, 1.0, 0.45), (AVERAGE_LABEL, 3.5, 1.0)):
            rows = data[data["line"] == kind]
            if not rows.empty:
                layers.append(
                    alt.Chart(rows)
                    .mark_tick(thickness=thickness, size=34, opacity=opacity)
                    .encode(x=x, y=y, color=color, tooltip=tooltip)
                )
        scenario = data[data["line"] == SCENARIO_LABEL]
        layers.append(
            alt.Chart(scenario).mark_circle(size=140, opacity=1.0).encode(x=x, y=y, color=color, tooltip=tooltip)
        )
        marker = _current_point(data, current, numeric=False)
    if marker is not None:
        layers.append(
            alt.Chart(marker)
            .mark_point(size=260, strokeWidth=2.5, filled=False, color=AVERAGE_COLOR)
            .encode(
                x=x,
                y=alt.Y("score:Q", scale=scale),
                tooltip=[
                    alt.Tooltip("value:N", title=f"{feature} now"),
                    alt.Tooltip("score:Q", title=title, format=fmt),
                ],
            )
        )
    threshold = facts.get("threshold")
    if threshold is not None and not centred:
        text = f"{BOUNDARY_LABEL} ({score_text(result, float(threshold))})"
        rule_data = pd.DataFrame({"score": [float(threshold)], "text": [text]})
        layers.append(
            alt.Chart(rule_data)
            .mark_rule(strokeDash=[6, 4], color=BASELINE_COLOR)
            .encode(y=alt.Y("score:Q", scale=scale), tooltip=[alt.Tooltip("text:N", title="Threshold")])
        )
        layers.append(
            alt.Chart(rule_data)
            .mark_text(align="right", baseline="bottom", dx=-4, dy=-3, fontSize=11, color=MARK_COLOR)
            .encode(x=alt.value("width"), y=alt.Y("score:Q", scale=scale), text="text:N")
        )
    return fit_width(alt.layer(*layers), height=320)


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
def tick_points(count: int, most: int) -> list[int]:
    """Which of ``count`` grid points get an axis label: all of them up to ``most``, else ``most`` evenly
    spread ones, the first and the last included."""
    if count <= most:
        return list(range(count))
    return sorted({int(i) for i in np.linspace(0, count - 1, most).round()})


def _grid_axis(data: pd.DataFrame, field: str, most: int, **options: Any) -> alt.Axis:
    """An axis over a map's grid points (``<field>_point``) labelled with their values to about 3 significant
    figures; which points are labelled is fixed here, so both maps label the same values and no label is cut."""
    points = data.drop_duplicates(f"{field}_point").sort_values(f"{field}_point")
    texts = {int(p): short_value(v) for p, v in zip(points[f"{field}_point"], points[field], strict=True)}
    lookup = json.dumps([texts.get(i, "") for i in range(max(texts) + 1)] if texts else [])
    ordered = sorted(texts)
    return alt.Axis(
        values=[ordered[i] for i in tick_points(len(ordered), most)],
        labelExpr=f"{lookup}[datum.value]",
        labelOverlap=False,
        **options,
    )


def _map_data(result: AnalysisResult) -> tuple[pd.DataFrame, alt.X, alt.Y, list[Any]]:
    """The map's cells placed by their grid points (kept in grid order, high values on top), the axes
    labelled with rounded values, and the full values for the tooltip."""
    data = result.summary.copy()
    data["x_label"] = data["x"].map(_label)
    data["y_label"] = data["y"].map(_label)
    x_name, y_name = result.facts["features"]
    x = alt.X("x_point:O", title=x_name, sort="ascending", axis=_grid_axis(data, "x", MAP_TICKS_ACROSS, labelAngle=0))
    y = alt.Y("y_point:O", title=y_name, sort="descending", axis=_grid_axis(data, "y", MAP_TICKS_UP))
    tooltip = [alt.Tooltip("x_label:N", title=x_name), alt.Tooltip("y_label:N", title=y_name)]
    return data, x, y, tooltip


def _map_title(text: str, subtitle: str) -> alt.TitleParams:
    """A map's title and a one-line subtitle: the two maps side by side get the same header height, so
    their plots stay level."""
    return alt.TitleParams(text, subtitle=subtitle, anchor="start", fontSize=14, subtitleColor=NOTE_COLOR)


def _pair_title(score: str, features: tuple[str, str] | list[str]) -> str:
    """ "P(survived) over age × fare"; "... over the two inputs" when the names would not fit half a page."""
    pair = f"{features[0]} × {features[1]}"
    return f"{score} over {pair}" if len(score) + len(pair) < 44 else f"{score} over the two inputs"


def _scenario_cell(result: AnalysisResult, data: pd.DataFrame, x: alt.X, y: alt.Y, names: list[Any]) -> alt.Chart:
    x0, y0 = result.facts["scenario_point"]
    cell = data[(data["x_point"] == x0) & (data["y_point"] == y0)].assign(text="this scenario")
    return (
        alt.Chart(cell)
        .mark_point(shape="circle", size=160, strokeWidth=2.5, filled=False, color=AVERAGE_COLOR)
        .encode(x=x, y=y, tooltip=[alt.Tooltip("text:N", title="Marked"), *names])
    )


def interaction_chart(result: AnalysisResult) -> alt.LayerChart:
    """A heatmap of the score over the two features, the scenario ringed; for classifiers the cells next
    to a change of predicted class are outlined (the decision boundary), and a binary model's colours
    diverge at its threshold: orange below (away from the class), blue above (towards it)."""
    data, x, y, names = _map_data(result)
    title = result.scorer.title
    probability = _is_probability(result)
    fmt = ".1%" if probability else ",.4~g"
    threshold = result.scorer.threshold
    if probability and threshold is not None:  # the two sides of the decision in two hues, pale near it
        color_scale = alt.Scale(scheme=DIVERGING_SCHEME, reverse=True, domain=[0, 1], domainMid=float(threshold))
    elif probability:
        color_scale = alt.Scale(scheme="blues", domain=[0, 1])
    else:
        color_scale = alt.Scale(scheme="viridis")
    tooltip = [*names, alt.Tooltip("score:Q", title=title, format=fmt), alt.Tooltip("predicted:N", title="Prediction")]
    cells = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "score:Q", title=title, scale=color_scale, legend=_score_legend(title, probability, threshold)
            ),
            tooltip=tooltip,
        )
    )
    layers: list[Any] = [cells]
    if probability and bool(data["boundary"].any()):
        edge = data[data["boundary"]].assign(edge=BOUNDARY_LABEL)
        layers.append(
            alt.Chart(edge)
            .mark_rect(fillOpacity=0, strokeWidth=1.2)
            .encode(
                x=x,
                y=y,
                fill=alt.value("transparent"),
                stroke=alt.Stroke(
                    "edge:N",
                    scale=alt.Scale(domain=[BOUNDARY_LABEL], range=[AVERAGE_COLOR]),
                    legend=bottom_legend(None, symbolType="square"),
                ),
                tooltip=tooltip,
            )
        )
    layers.append(_scenario_cell(result, data, x, y, names))
    notes = "ringed: this scenario" + ("; outlined: where the predicted class changes" if len(layers) > 2 else "")
    return fit_width(
        alt.layer(*layers), height=360, title=_map_title(_pair_title(title, result.facts["features"]), notes)
    )


def _score_legend(title: str, probability: bool, threshold: float | None) -> alt.Legend:
    """The map's colour legend under it; for a probability labelled at 0, the threshold (or 50 %) and 100 %."""
    if probability:
        middle = 0.5 if threshold is None else float(threshold)
        return bottom_legend(title, format="%", gradientLength=160, values=[0, middle, 1])
    return bottom_legend(title, format=",.4~g", gradientLength=160, tickCount=5)


def points_label_expr() -> str:
    """A Vega expression writing a probability difference in percentage points: "+5 pts", "0", "−10 pts"."""
    return (
        "datum.value == 0 ? '0' : (datum.value > 0 ? '+' : '\u2212') + format(abs(datum.value) * 100, '.2~r') + ' pts'"
    )


def interaction_effect_chart(result: AnalysisResult) -> alt.LayerChart:
    """The interaction alone, f(x, y) - f(x, y0) - f(x0, y) + f(x0, y0), on a diverging scale centred on 0
    (blue: the pair raises the score beyond their separate effects, orange: lowers it), in percentage
    points for a probability.

    Zero along the scenario's row and column by construction; colour elsewhere is what the
    two features do together beyond their separate effects.
    """
    data, x, y, names = _map_data(result)
    probability = _is_probability(result)
    fmt = "+.1%" if probability else "+,.4~g"
    largest = float(np.nanmax(np.abs(data["interaction"].to_numpy(dtype=float)))) if len(data) else 0.0
    largest = largest if math.isfinite(largest) and largest > 0 else 1e-9
    title = f"Interaction on {result.scorer.title}"
    legend = (
        bottom_legend(title, gradientLength=160, tickCount=5, labelExpr=points_label_expr())
        if probability
        else bottom_legend(title, format="+,.4~g", gradientLength=160, tickCount=5)
    )
    cells = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "interaction:Q",
                title=title,
                legend=legend,
                scale=alt.Scale(scheme=DIVERGING_SCHEME, reverse=True, domain=[-largest, largest], domainMid=0),
            ),
            tooltip=[
                *names,
                alt.Tooltip("interaction:Q", title="Interaction", format=fmt),
                alt.Tooltip("score:Q", title=result.scorer.title, format=fmt.lstrip("+")),
            ],
        )
    )
    heading = "Interaction alone (points)" if probability else "Interaction alone"
    return fit_width(
        alt.layer(cells, _scenario_cell(result, data, x, y, names)),
        height=360,
        title=_map_title(heading, "what the pair does beyond each input's own effect"),
    )
