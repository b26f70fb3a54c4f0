"""Altair charts of the explaining analyses (Shapley waterfall, robustness): pure functions, no Streamlit.

Each builder reads only an ``AnalysisResult`` (its ``summary``, ``facts``, ``sent`` and scorer),
so what the chart draws is what the CSV download and the command line's JSON hold.
"""

from __future__ import annotations

from typing import Any, cast

import altair as alt
import numpy as np
import pandas as pd

from whatif.analysis.result import AnalysisResult
from whatif.charts import BASELINE_COLOR, PREDICTED_COLOR

RAISES_COLOR = "#d6604d"  # as the SHAP waterfall: what pushes the score up in red, down in blue
LOWERS_COLOR = "#1f6fb2"
RAISES_LABEL, LOWERS_LABEL = "raises it", "lowers it"
FLIP_COLOR = "#d6604d"
KEEP_COLOR = "#8fb3d9"
FLIPS_LABEL, KEEPS_LABEL = "flips the class", "keeps the class"
BAND_COLOR = "#e8edf2"
SCENARIO_COLOR = PREDICTED_COLOR
BASE_LABEL, PREDICTION_LABEL = "background average", "this prediction"


def _is_probability(result: AnalysisResult) -> bool:
    return result.scorer.task == "classification"


def _score_axis(result: AnalysisResult) -> tuple[alt.Axis, str]:
    """The score axis (percent for probabilities) and its tooltip format."""
    if _is_probability(result):
        return alt.Axis(format="%"), ".1%"
    return alt.Axis(format=",.4~g"), ",.4~g"


def _change_text(result: AnalysisResult, value: float) -> str:
    """A contribution as a bar label: "+27 pts" for a probability, "+12.3" for a value."""
    if not np.isfinite(value):
        return "n/a"
    if _is_probability(result):
        return f"{value * 100:+.1f} pts" if abs(value) < 0.01 else f"{value * 100:+.0f} pts"
    return f"{value:+,.4g}"


# ---- Shapley waterfall -----------------------------------------------------------------------------
def waterfall_chart(result: AnalysisResult) -> alt.LayerChart:
    """From the background average (top) to this prediction (bottom): one bar per feature, largest first.

    Each bar starts where the previous one ended; red raises the score, blue lowers it. Sampled
    values carry a rule of +-1 standard error at the end of their bar. Dashed rules mark the
    background average and the prediction.
    """
    base = float(result.facts["base_score"])
    prediction = float(result.facts["prediction_score"])
    summary = result.summary.sort_values("rank")
    contribution = summary["contribution"].to_numpy(dtype=float)
    end = base + np.cumsum(contribution)
    data = pd.DataFrame({
        "label": [f"{f} = {v}" for f, v in zip(summary["feature"], summary["value"], strict=True)],
        "feature": summary["feature"].to_numpy(),
        "value": summary["value"].to_numpy(),
        "contribution": contribution,
        "std_error": summary["std_error"].to_numpy(dtype=float),
        "start": end - contribution,
        "end": end,
        "effect": np.where(contribution >= 0, RAISES_LABEL, LOWERS_LABEL),
        "text": [_change_text(result, c) for c in contribution],
    })
    data["error_low"] = data["end"] - data["std_error"]
    data["error_high"] = data["end"] + data["std_error"]
    title = result.scorer.title
    axis, fmt = _score_axis(result)
    order = [BASE_LABEL, *data["label"].tolist(), PREDICTION_LABEL]
    x_scale = alt.Scale(zero=False, nice=True)
    y = alt.Y("label:N", title=None, sort=order)
    bars = alt.Chart(data).mark_bar(height={"band": 0.7}, cornerRadius=2).encode(
        x=alt.X("start:Q", title=title, scale=x_scale, axis=axis),
        x2="end:Q",
        y=y,
        color=alt.Color("effect:N", title="This feature",
                        scale=alt.Scale(domain=[RAISES_LABEL, LOWERS_LABEL], range=[RAISES_COLOR, LOWERS_COLOR])),
        tooltip=[alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("value:N", title="Value"),
                 alt.Tooltip("contribution:Q", title="Contribution", format="+" + fmt),
                 alt.Tooltip("std_error:Q", title="Standard error", format=".3g"),
                 alt.Tooltip("start:Q", title="From", format=fmt), alt.Tooltip("end:Q", title="To", format=fmt)],
    )
    labels = alt.Chart(data).mark_text(align="left", dx=4, color="#333").encode(
        x=alt.X("right:Q", scale=x_scale), y=y, text="text:N",
    ).transform_calculate(right="max(datum.start, datum.end)")
    layers: list[Any] = [bars, labels]
    if result.facts.get("method") == "sampled":
        errors = alt.Chart(data).mark_rule(color="#333", strokeWidth=1.5).encode(
            x=alt.X("error_low:Q", scale=x_scale), x2="error_high:Q", y=y)
        layers.append(errors)
    ends = pd.DataFrame({"label": [BASE_LABEL, PREDICTION_LABEL], "score": [base, prediction],
                         "text": [f"{BASE_LABEL} {_score_text(result, base)}",
                                  f"{PREDICTION_LABEL} {_score_text(result, prediction)}"]})
    marks = alt.Chart(ends).mark_tick(thickness=3, color=SCENARIO_COLOR).encode(
        x=alt.X("score:Q", scale=x_scale), y=y, tooltip=[alt.Tooltip("label:N", title=""),
                                                         alt.Tooltip("score:Q", title=title, format=fmt)])
    rules = alt.Chart(ends).mark_rule(strokeDash=[6, 4], color=BASELINE_COLOR).encode(
        x=alt.X("score:Q", scale=x_scale))
    texts = alt.Chart(ends).mark_text(align="left", dx=6, color=SCENARIO_COLOR).encode(
        x=alt.X("score:Q", scale=x_scale), y=y, text="text:N")
    layers += [rules, marks, texts]
    return cast(alt.LayerChart, alt.layer(*layers).properties(height=alt.Step(26)))


def _score_text(result: AnalysisResult, value: float) -> str:
    if _is_probability(result):
        return f"{value * 100:.0f} %"
    return f"{value:,.4g}"


# ---- robustness ------------------------------------------------------------------------------------
def robustness_chart(result: AnalysisResult) -> alt.LayerChart:
    """The scores of the jittered copies as a histogram (rows that flip the class stacked apart), their
    5th to 95th percentile as a band, the scenario's score as a solid rule and the class threshold dashed."""
    sent = result.sent
    jittered = sent.loc[sent["group"] == "all"]
    flips = jittered["flips"].to_numpy(dtype=bool) if "flips" in jittered else np.zeros(len(jittered), dtype=bool)
    data = pd.DataFrame({"score": jittered["score"].to_numpy(dtype=float),
                         "effect": np.where(flips, FLIPS_LABEL, KEEPS_LABEL)})
    title = result.scorer.title
    axis, fmt = _score_axis(result)
    x_scale = alt.Scale(zero=False, nice=True)
    color: Any = alt.Color("effect:N", title="Nearby row",
                           scale=alt.Scale(domain=[FLIPS_LABEL, KEEPS_LABEL], range=[FLIP_COLOR, KEEP_COLOR])) \
        if _is_probability(result) else alt.value(KEEP_COLOR)
    facts = result.facts
    band_data = pd.DataFrame({"p05": [facts["score_p05"]], "p95": [facts["score_p95"]],
                              "text": ["5th to 95th percentile"]})
    band = alt.Chart(band_data).mark_rect(color=BAND_COLOR, opacity=0.8).encode(
        x=alt.X("p05:Q", scale=x_scale), x2="p95:Q",
        tooltip=[alt.Tooltip("p05:Q", title="5th percentile", format=fmt),
                 alt.Tooltip("p95:Q", title="95th percentile", format=fmt)])
    histogram = alt.Chart(data).mark_bar(opacity=0.9).encode(
        x=alt.X("score:Q", bin=alt.Bin(maxbins=40), title=title, scale=x_scale, axis=axis),
        y=alt.Y("count():Q", title="Nearby rows", stack=True),
        color=color,
        tooltip=[alt.Tooltip("count():Q", title="Rows"), alt.Tooltip("effect:N", title="Nearby row")],
    )
    marks = [{"score": float(result.scenario_score), "what": "this scenario", "dash": "solid", "line": 0}]
    if result.scorer.threshold is not None:  # its label a line lower, in case the two rules are close
        marks.append({"score": float(result.scorer.threshold), "what": "threshold", "dash": "dashed", "line": 14})
    rule_data = pd.DataFrame(marks)
    rules = alt.Chart(rule_data).mark_rule(strokeWidth=2).encode(
        x=alt.X("score:Q", scale=x_scale),
        color=alt.Color("what:N", scale=alt.Scale(domain=["this scenario", "threshold"],
                                                  range=[SCENARIO_COLOR, BASELINE_COLOR]), legend=None),
        strokeDash=alt.StrokeDash("dash:N", scale=alt.Scale(domain=["solid", "dashed"], range=[[1, 0], [6, 4]]),
                                  legend=None),
        tooltip=[alt.Tooltip("what:N", title=""), alt.Tooltip("score:Q", title=title, format=fmt)])
    texts = alt.Chart(rule_data).mark_text(align="left", baseline="top", dx=4, color="#333").encode(
        x=alt.X("score:Q", scale=x_scale), y=alt.Y("line:Q", scale=None), text="what:N")
    return cast(alt.LayerChart, alt.layer(band, histogram, rules, texts).resolve_scale(color="independent")
                .properties(height=260))


def robustness_features_chart(result: AnalysisResult) -> alt.LayerChart:
    """One bar per feature jittered alone: for a classifier the share of its rows that flip the class, with
    the 95 % Wilson interval as a rule; for a regression its scores' 5th to 95th percentile around the scenario's."""
    summary = result.summary.copy()
    order = summary["feature"].tolist()
    y = alt.Y("feature:N", title=None, sort=order)
    if _is_probability(result):
        data = summary[["feature", "rows", "flips", "flip_rate", "flip_low", "flip_high"]]
        top = max([0.05, *(float(v) for v in data["flip_high"] if np.isfinite(v))])  # at least 0 to 5 %
        bars = alt.Chart(data).mark_bar(color=FLIP_COLOR, height={"band": 0.7}, cornerRadius=2).encode(
            x=alt.X("flip_rate:Q", title="Share of its nearby rows that flip the class",
                    scale=alt.Scale(domain=[0, top]),
                    axis=alt.Axis(format="%")),
            y=y,
            tooltip=[alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("flips:Q", title="Flips"),
                     alt.Tooltip("rows:Q", title="Rows"), alt.Tooltip("flip_rate:Q", title="Flip rate", format=".1%"),
                     alt.Tooltip("flip_low:Q", title="95 % interval from", format=".1%"),
                     alt.Tooltip("flip_high:Q", title="to", format=".1%")],
        )
        interval = alt.Chart(data).mark_rule(color="#333").encode(x="flip_low:Q", x2="flip_high:Q", y=y)
        return cast(alt.LayerChart, alt.layer(bars, interval).properties(height=alt.Step(24)))
    axis, fmt = _score_axis(result)
    data = summary[["feature", "rows", "score_p05", "score_p50", "score_p95"]]
    x_scale = alt.Scale(zero=False, nice=True)
    bars = alt.Chart(data).mark_bar(color=KEEP_COLOR, height={"band": 0.7}, cornerRadius=2).encode(
        x=alt.X("score_p05:Q", title=f"{result.scorer.title}, 5th to 95th percentile", scale=x_scale, axis=axis),
        x2="score_p95:Q",
        y=y,
        tooltip=[alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("rows:Q", title="Rows"),
                 alt.Tooltip("score_p05:Q", title="5th percentile", format=fmt),
                 alt.Tooltip("score_p95:Q", title="95th percentile", format=fmt)],
    )
    rule = alt.Chart(pd.DataFrame({"score": [float(result.scenario_score)]})).mark_rule(
        color=SCENARIO_COLOR, strokeWidth=2).encode(x=alt.X("score:Q", scale=x_scale))
    return cast(alt.LayerChart, alt.layer(bars, rule).properties(height=alt.Step(24)))
