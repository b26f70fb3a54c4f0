"""Altair charts of a comparison of two models (``whatif.analysis.compare``): pure functions, no Streamlit.

Each builder reads only a ``Comparison`` (its ``summary``, ``curves``, ``confusion`` and ``facts``), so
what a chart draws is what the CSV download and the command line's JSON hold. Model A is always drawn
in blue and model B in green, whichever chart; the legend names them ("A · Credit approval · v1").
"""

from __future__ import annotations

from typing import Any, Final

import altair as alt
import numpy as np
import pandas as pd

from whatif.analysis.compare import A, B, Comparison
from whatif.charts import BASELINE_COLOR, PREDICTED_COLOR
from whatif.charts_explore import MARK_COLOR, bottom_legend, fit_width

A_COLOR = PREDICTED_COLOR  # blue
B_COLOR = "#1b9e77"  # green: never one of the analyses' "raises" / "lowers" / "flips" colours
AGREE_COLOR = "#1b9e77"
CELL_SCHEME: Final = "blues"
HISTOGRAM_BINS = 30


def model_labels(result: Comparison) -> tuple[str, str]:
    """How the legends name the two models: "A · <name>" and "B · <name>" (two versions may share a name)."""
    return f"{A} · {result.model_a}", f"{B} · {result.model_b}"


def _classifier(result: Comparison) -> bool:
    return result.scorer.task == "classification"


def _model_color(result: Comparison, title: str | None = None) -> alt.Color:
    label_a, label_b = model_labels(result)
    return alt.Color(
        "model_label:N",
        scale=alt.Scale(domain=[label_a, label_b], range=[A_COLOR, B_COLOR]),
        legend=bottom_legend(title),
    )


def _with_model_labels(result: Comparison, frame: pd.DataFrame) -> pd.DataFrame:
    label_a, label_b = model_labels(result)
    return frame.assign(model_label=frame["side"].map({A: label_a, B: label_b}))


def _score_axis(result: Comparison) -> tuple[alt.Scale, alt.Axis, str]:
    if _classifier(result):
        return alt.Scale(domain=[0, 1]), alt.Axis(format="%"), ".1%"
    return alt.Scale(zero=False), alt.Axis(format=",.4~g"), ",.4~g"


# ---- one scenario --------------------------------------------------------------------------------------------
def scenario_chart(result: Comparison) -> alt.LayerChart:
    """Both answers to the scenario side by side: for a classifier, each class label's probability by A and by
    B (bars paired per label, the value written at the bar's end); for a regression, the two predicted values."""
    summary = result.summary
    if _classifier(result):
        columns = [c for c in summary.columns if str(c).startswith("P(") and str(c).endswith(")")]
        data = summary.melt(id_vars=["side", "model"], value_vars=columns, var_name="class", value_name="value")
        data["class"] = data["class"].str[2:-1]
        data = data.dropna(subset=["value"])
        x = alt.X("value:Q", title="Probability", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
        y = alt.Y("class:N", title=None, sort=list(dict.fromkeys(data["class"])), axis=alt.Axis(labelLimit=200))
        text_format = ".0%"
    else:
        data = summary[["side", "model", "prediction"]].rename(columns={"prediction": "value"})
        data["class"] = result.facts.get("score_label") or result.scorer.title
        x = alt.X("value:Q", title=result.scorer.title, scale=alt.Scale(zero=False), axis=alt.Axis(format=",.4~g"))
        y = alt.Y("class:N", title=None, axis=None)
        text_format = ",.4~g"
    data = _with_model_labels(result, data)
    label_a, label_b = model_labels(result)
    offset = alt.YOffset("model_label:N", sort=[label_a, label_b])
    tooltip = [
        alt.Tooltip("model_label:N", title="Model"),
        alt.Tooltip("class:N", title="Class"),
        alt.Tooltip("value:Q", title="Value", format=".1%" if _classifier(result) else ",.4~g"),
    ]
    bars = (
        alt.Chart(data)
        .mark_bar(cornerRadius=2, height={"band": 0.9})
        .encode(x=x, y=y, yOffset=offset, color=_model_color(result), tooltip=tooltip)
    )
    values = (
        alt.Chart(data)
        .mark_text(align="left", dx=4, fontSize=11, color=MARK_COLOR)
        .encode(x=x, y=y, yOffset=offset, text=alt.Text("value:Q", format=text_format))
    )
    rows = data["class"].nunique()
    return fit_width(alt.layer(bars, values), height=max(90, 64 * rows))


def compare_sweep_chart(result: Comparison) -> alt.LayerChart:
    """Both models' scores as one input moves over its grid, the other inputs as in the scenario: two curves
    (dots for a category), a ring on each at the scenario's value, and for a binary classifier the threshold."""
    facts = result.facts
    feature = str(facts.get("feature", "value"))
    data = _with_model_labels(result, result.curves[["side", "model", "point", "value", "score", "label"]].copy())
    scale, axis, fmt = _score_axis(result)
    title = result.scorer.title
    numeric = bool(pd.api.types.is_numeric_dtype(data["value"]))
    tooltip = [
        alt.Tooltip("model_label:N", title="Model"),
        alt.Tooltip(f"value:{'Q' if numeric else 'N'}", title=feature),
        alt.Tooltip("score:Q", title=title, format=fmt),
        alt.Tooltip("label:N", title="Predicted"),
    ]
    y = alt.Y("score:Q", title=title, scale=scale, axis=axis)
    layers: list[Any] = []
    if numeric:
        x = alt.X("value:Q", title=feature, scale=alt.Scale(zero=False, nice=False))
        layers.append(
            alt.Chart(data)
            .mark_line(point=alt.OverlayMarkDef(size=18), strokeWidth=2.4)
            .encode(x=x, y=y, color=_model_color(result), tooltip=tooltip)
        )
    else:
        order = data.loc[data["side"] == A].sort_values("point")["value"].tolist()
        x = alt.X("value:N", title=feature, sort=order, axis=alt.Axis(labelAngle=0))
        layers.append(
            alt.Chart(data)
            .mark_circle(size=150, opacity=0.9)
            .encode(x=x, y=y, xOffset=alt.XOffset("model_label:N"), color=_model_color(result), tooltip=tooltip)
        )
    current = facts.get("current_value")
    if current is not None:
        if numeric:
            at = data[np.isclose(data["value"].to_numpy(dtype=float), float(current), rtol=0, atol=1e-9)]
        else:
            at = data[data["value"].astype(str) == str(current)]
        if not at.empty:
            ring_x = x if numeric else alt.X("value:N", sort=order)
            encoding: dict[str, Any] = {
                "x": ring_x,
                "y": alt.Y("score:Q", scale=scale),
                "tooltip": [
                    alt.Tooltip("model_label:N", title="Model"),
                    alt.Tooltip("score:Q", title=f"{title} now", format=fmt),
                ],
            }
            if not numeric:
                encoding["xOffset"] = alt.XOffset("model_label:N")
            layers.append(
                alt.Chart(at).mark_point(size=260, strokeWidth=2.5, filled=False, color=MARK_COLOR).encode(**encoding)
            )
    threshold = result.scorer.threshold
    if threshold is not None and _classifier(result):
        rule = pd.DataFrame({"score": [float(threshold)], "text": [f"threshold {threshold:.0%}"]})
        layers.append(
            alt.Chart(rule)
            .mark_rule(strokeDash=[6, 4], color=BASELINE_COLOR)
            .encode(y=alt.Y("score:Q", scale=scale), tooltip=[alt.Tooltip("text:N", title="Decision")])
        )
        layers.append(
            alt.Chart(rule)
            .mark_text(align="right", baseline="bottom", dx=-4, dy=-3, fontSize=11, color=MARK_COLOR)
            .encode(x=alt.value("width"), y=alt.Y("score:Q", scale=scale), text="text:N")
        )
    return fit_width(alt.layer(*layers), height=320)


# ---- many rows -----------------------------------------------------------------------------------------------
def confusion_chart(result: Comparison) -> alt.LayerChart:
    """A's class (rows) against B's class (columns): each cell's count and share of the rows, darker for more;
    the cells where they agree outlined."""
    data = result.confusion.copy()
    data["agree"] = data["a_class"] == data["b_class"]
    data["text"] = [f"{rows:,} ({share:.0%})" for rows, share in zip(data["rows"], data["share"], strict=True)]
    rows_order = list(dict.fromkeys(data["a_class"]))
    columns_order = list(dict.fromkeys(data["b_class"]))
    x = alt.X(
        "b_class:N",
        title=f"{B} · {result.model_b} predicts",
        sort=columns_order,
        axis=alt.Axis(orient="top", labelAngle=0, labelLimit=200, titleLimit=0),
    )
    y = alt.Y(
        "a_class:N",
        title=f"{A} · {result.model_a} predicts",
        sort=rows_order,
        axis=alt.Axis(labelLimit=200, titleLimit=0),
    )
    most = max(1, int(data["rows"].max()) if len(data) else 1)
    cells = (
        alt.Chart(data)
        .mark_rect(stroke="white", strokeWidth=2)
        .encode(
            x=x,
            y=y,
            color=alt.Color("rows:Q", title="Rows", scale=alt.Scale(scheme=CELL_SCHEME, domain=[0, most]), legend=None),
            tooltip=[
                alt.Tooltip("a_class:N", title=f"{A} says"),
                alt.Tooltip("b_class:N", title=f"{B} says"),
                alt.Tooltip("rows:Q", title="Rows", format=","),
                alt.Tooltip("share:Q", title="Share", format=".1%"),
            ],
        )
    )
    outline = (
        alt.Chart(data[data["agree"]]).mark_rect(filled=False, stroke=AGREE_COLOR, strokeWidth=2.5).encode(x=x, y=y)
    )
    texts = (
        alt.Chart(data)
        .mark_text(fontSize=13)
        .encode(
            x=x,
            y=y,
            text="text:N",
            color=alt.condition(alt.datum.rows > most * 0.55, alt.value("white"), alt.value(MARK_COLOR)),
        )
    )
    return fit_width(alt.layer(cells, outline, texts), height=alt.Step(56))


def difference_chart(result: Comparison) -> alt.LayerChart:
    """How far B's score is from A's, row by row (B - A): a histogram, with a rule at no difference."""
    data = result.summary[["row", "difference"]].dropna()
    classifier = _classifier(result)
    if classifier:
        data = data.assign(difference=data["difference"] * 100)
        title = f"{result.scorer.title} of {B} minus {A} (pts)"
    else:
        title = f"{result.scorer.title}: {B} minus {A}"
    bars = (
        alt.Chart(data)
        .mark_bar(color=BASELINE_COLOR, opacity=0.85)
        .encode(
            x=alt.X("difference:Q", bin=alt.Bin(maxbins=HISTOGRAM_BINS), title=title),
            y=alt.Y("count():Q", title="Rows"),
            tooltip=[
                alt.Tooltip("difference:Q", bin=alt.Bin(maxbins=HISTOGRAM_BINS), title="Difference"),
                alt.Tooltip("count():Q", title="Rows"),
            ],
        )
    )
    zero = (
        alt.Chart(pd.DataFrame({"difference": [0.0]}))
        .mark_rule(strokeDash=[6, 4], color=MARK_COLOR)
        .encode(x="difference:Q")
    )
    return fit_width(alt.layer(bars, zero), height=220)


def scatter_chart(result: Comparison) -> alt.LayerChart:
    """Each row's answer by A (across) and by B (up), with the diagonal where they would be equal: for a
    regression the predicted values, for a classifier the score's probability."""
    classifier = _classifier(result)
    a_column, b_column = ("a_score", "b_score") if classifier else ("a_value", "b_value")
    data = (
        result.summary[["row", a_column, b_column, "difference"]]
        .dropna()
        .rename(columns={a_column: "a", b_column: "b"})
    )
    title = result.scorer.title
    if classifier:
        domain = [0.0, 1.0]
        axis = alt.Axis(format="%")
        fmt = ".1%"
    else:
        low = float(min(data["a"].min(), data["b"].min())) if len(data) else 0.0
        high = float(max(data["a"].max(), data["b"].max())) if len(data) else 1.0
        pad = (high - low) * 0.04 or 1.0
        domain = [low - pad, high + pad]
        axis = alt.Axis(format=",.4~g")
        fmt = ",.4~g"
    x = alt.X("a:Q", title=f"{A} · {result.model_a}: {title}", scale=alt.Scale(domain=domain, nice=False), axis=axis)
    y = alt.Y("b:Q", title=f"{B} · {result.model_b}: {title}", scale=alt.Scale(domain=domain, nice=False), axis=axis)
    points = (
        alt.Chart(data)
        .mark_circle(size=36, opacity=0.6, color=A_COLOR)
        .encode(
            x=x,
            y=y,
            tooltip=[
                alt.Tooltip("row:Q", title="Row"),
                alt.Tooltip("a:Q", title=A, format=fmt),
                alt.Tooltip("b:Q", title=B, format=fmt),
                alt.Tooltip("difference:Q", title=f"{B} - {A}", format=fmt),
            ],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"a": domain, "b": domain}))
        .mark_line(strokeDash=[6, 4], color=BASELINE_COLOR)
        .encode(x="a:Q", y="b:Q")
    )
    label = (
        alt.Chart(pd.DataFrame({"a": [domain[1]], "b": [domain[1]], "text": ["equal answers"]}))
        .mark_text(align="right", baseline="top", dx=-4, dy=4, fontSize=11, color=MARK_COLOR)
        .encode(x="a:Q", y="b:Q", text="text:N")
    )
    return fit_width(alt.layer(diagonal, points, label), height=360)
