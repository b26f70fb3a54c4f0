"""Altair charts of the bulk what-if: pure functions, no Streamlit.

Each builder reads only an ``AnalysisResult`` of ``whatif.analysis.edits.bulk_whatif`` (its
``summary`` and ``facts``), so what the chart draws is what the CSV downloads and the command
line's JSON hold. Colours follow ``charts_explore``: the scores before the edits in a quiet
slate, after them in blue; a class change in purple.

The data handed to Vega-Lite is binned here (a histogram's bars, a cumulative curve's points
at fixed shares), so a file of 10,000 rows does not ship 20,000 points to the browser.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from whatif.analysis.result import AnalysisResult
from whatif.charts import BASELINE_COLOR
from whatif.charts_explain import histogram_domain
from whatif.charts_explore import FLIP_COLOR, HIGHER_COLOR, LOWER_COLOR, STEADY_COLOR, bottom_legend, fit_width

BEFORE_LABEL, AFTER_LABEL = "before the edits", "after the edits"
BEFORE_COLOR, AFTER_COLOR = STEADY_COLOR, HIGHER_COLOR
SAME_LABEL, CHANGED_LABEL = "kept its class", "changed class"
THRESHOLD_LABEL = "threshold"
CDF_POINTS = 201  # points per cumulative curve: every half percent of the rows
HEIGHT = 260


def _is_probability(result: AnalysisResult) -> bool:
    return result.scorer.task == "classification"


def _score_axis(result: AnalysisResult) -> tuple[alt.Axis, str]:
    if _is_probability(result):
        return alt.Axis(format="%", tickCount=6), ".1%"
    return alt.Axis(format=",.4~g", tickCount=6), ",.4~g"


def distribution_data(result: AnalysisResult, cumulative: bool = False) -> pd.DataFrame:
    """What the distribution chart draws.

    Histogram: one row per bin and side (``version``, ``low``, ``high``, ``rows``, ``share``), the
    same bins for both. Cumulative: per side, the score below which each share of the rows lies
    (``version``, ``score``, ``share``) at ``CDF_POINTS`` shares from 0 to 1.
    """
    before = result.summary["score_before"].to_numpy(dtype=float)
    after = result.summary["score_after"].to_numpy(dtype=float)
    sides = ((BEFORE_LABEL, before[np.isfinite(before)]), (AFTER_LABEL, after[np.isfinite(after)]))
    if cumulative:
        shares = np.linspace(0.0, 1.0, CDF_POINTS)
        parts = [
            pd.DataFrame(
                {"version": label, "score": np.quantile(values, shares, method="inverted_cdf"), "share": shares}
            )
            for label, values in sides
            if len(values)
        ]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["version", "score", "share"])
    low, high, step = histogram_domain(np.concatenate([before, after]), _is_probability(result))
    edges = np.arange(low, high + step / 2, step)
    if len(edges) < 2:
        edges = np.array([low, low + step])
    rows = []
    for label, values in sides:
        counts, _ = np.histogram(values, bins=edges)
        total = max(1, len(values))
        rows += [
            {"version": label, "low": float(a), "high": float(b), "rows": int(c), "share": c / total}
            for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
        ]
    return pd.DataFrame(rows)


def distribution_chart(result: AnalysisResult, cumulative: bool = False) -> alt.LayerChart:
    """The scores of every row before and after the edits, overlaid: two translucent histograms on the same
    bins, or two cumulative curves (the share of rows whose score is at most x). A binary classifier's
    threshold is a dashed rule."""
    data = distribution_data(result, cumulative)
    axis, fmt = _score_axis(result)
    title = result.scorer.title
    color = alt.Color(
        "version:N",
        scale=alt.Scale(domain=[BEFORE_LABEL, AFTER_LABEL], range=[BEFORE_COLOR, AFTER_COLOR]),
        legend=bottom_legend(None),
    )
    x_scale = alt.Scale(domain=[0, 1]) if _is_probability(result) and cumulative else alt.Scale(zero=False)
    if cumulative:
        marks = (
            alt.Chart(data)
            .mark_line(interpolate="step-after", strokeWidth=2)
            .encode(
                x=alt.X("score:Q", title=title, axis=axis, scale=x_scale),
                y=alt.Y(
                    "share:Q",
                    title="Share of rows with at most this score",
                    axis=alt.Axis(format="%"),
                    scale=alt.Scale(domain=[0, 1]),
                ),
                color=color,
                tooltip=[
                    alt.Tooltip("version:N", title="Rows"),
                    alt.Tooltip("score:Q", title=title, format=fmt),
                    alt.Tooltip("share:Q", title="Share at most", format=".1%"),
                ],
            )
        )
    else:
        marks = (
            alt.Chart(data)
            .mark_bar(opacity=0.55, binSpacing=0)
            .encode(
                x=alt.X("low:Q", title=title, axis=axis, scale=x_scale),
                x2="high:Q",
                y=alt.Y("rows:Q", title="Rows", stack=None),
                y2=alt.datum(0),
                color=color,
                tooltip=[
                    alt.Tooltip("version:N", title="Rows"),
                    alt.Tooltip("low:Q", title="From", format=fmt),
                    alt.Tooltip("high:Q", title="To", format=fmt),
                    alt.Tooltip("rows:Q", title="Rows", format=","),
                    alt.Tooltip("share:Q", title="Share", format=".1%"),
                ],
            )
        )
    layers: list[alt.Chart] = [marks]
    threshold = result.scorer.threshold
    if threshold is not None:
        rule = pd.DataFrame({"score": [float(threshold)], "label": [THRESHOLD_LABEL]})
        layers.append(
            alt.Chart(rule)
            .mark_rule(strokeDash=[4, 3], color=BASELINE_COLOR)
            .encode(x="score:Q", tooltip=[alt.Tooltip("label:N", title=" "), alt.Tooltip("score:Q", format=fmt)])
        )
    heading = "Cumulative share of rows" if cumulative else "Scores of every row"
    return fit_width(
        alt.layer(*layers), height=HEIGHT, title=alt.TitleParams(f"{heading}, before and after", anchor="start")
    )


def transition_data(result: AnalysisResult) -> pd.DataFrame:
    """One row per (class before, class after): ``before``, ``after``, ``rows``, ``share`` of all rows and
    ``kind`` (kept its class / changed class); empty for a regression."""
    transitions = result.facts.get("transitions") or {}
    total = sum(n for row in transitions.values() for n in row.values()) or 1
    rows = [
        {"before": a, "after": b, "rows": int(n), "share": n / total, "kind": SAME_LABEL if a == b else CHANGED_LABEL}
        for a, row in transitions.items()
        for b, n in row.items()
    ]
    return pd.DataFrame(rows, columns=["before", "after", "rows", "share", "kind"])


def transition_chart(result: AnalysisResult) -> alt.LayerChart:
    """The class-transition matrix as a heatmap: classes before the edits down, after them across; each cell's
    count written in it. Cells on the diagonal (kept the class) are slate, the others purple, darker for more rows.

    ValueError for a regression, which has no classes to move between.
    """
    if "transitions" not in result.facts:
        raise ValueError("A regression has no classes, so there is no transition matrix to draw.")
    data = transition_data(result)
    classes = list(result.facts["transitions"])
    most = max(1, int(data["rows"].max()) if len(data) else 1)
    data["strength"] = data["rows"] / most
    data["text"] = [f"{n:,}" for n in data["rows"]]
    data["dark"] = data["strength"] > 0.55
    x = alt.X("after:N", title="After the edits", sort=classes, axis=alt.Axis(orient="top", labelAngle=0))
    y = alt.Y("before:N", title="Before the edits", sort=classes)
    cells = (
        alt.Chart(data)
        .mark_rect(stroke="white", strokeWidth=2)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "kind:N",
                scale=alt.Scale(domain=[SAME_LABEL, CHANGED_LABEL], range=[STEADY_COLOR, FLIP_COLOR]),
                legend=bottom_legend(None),
            ),
            opacity=alt.Opacity("strength:Q", scale=alt.Scale(domain=[0, 1], range=[0.12, 1]), legend=None),
            tooltip=[
                alt.Tooltip("before:N", title="Before"),
                alt.Tooltip("after:N", title="After"),
                alt.Tooltip("rows:Q", title="Rows", format=","),
                alt.Tooltip("share:Q", title="Share", format=".1%"),
            ],
        )
    )
    text = (
        alt.Chart(data)
        .mark_text(fontSize=14, fontWeight="bold")
        .encode(x=x, y=y, text="text:N", color=alt.condition(alt.datum.dark, alt.value("white"), alt.value("#222222")))
    )
    height = max(120, 60 * len(classes))
    return fit_width(
        alt.layer(cells, text), height=height, title=alt.TitleParams("Classes before and after", anchor="start")
    )


def change_data(result: AnalysisResult) -> pd.DataFrame:
    """A histogram of each row's change of score (rows whose inputs the edits changed): ``low``, ``high``,
    ``rows``, ``direction`` (raises / lowers / no change)."""
    summary = result.summary[result.summary["inputs_changed"]]
    change = summary["change"].to_numpy(dtype=float)
    change = change[np.isfinite(change)]
    if not len(change):
        return pd.DataFrame(columns=["low", "high", "rows", "direction"])
    low, high, step = histogram_domain(change, probability=False)
    if _is_probability(result):
        low, high = max(low, -1.0), min(high, 1.0)
    edges = np.arange(low, high + step / 2, step)
    if len(edges) < 2:
        edges = np.array([low, low + step])
    counts, _ = np.histogram(np.clip(change, edges[0], edges[-1]), bins=edges)
    middle = (edges[:-1] + edges[1:]) / 2
    direction = np.where(middle > step / 2, "raises it", np.where(middle < -step / 2, "lowers it", "about the same"))
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:], "rows": counts.astype(int), "direction": direction})


def change_chart(result: AnalysisResult) -> alt.LayerChart:
    """How far each edited row's score moved: a histogram of the changes, blue up, orange down, a rule at 0."""
    data = change_data(result)
    axis = alt.Axis(format="+%" if _is_probability(result) else "+,.4~g", tickCount=6)
    fmt = "+.1%" if _is_probability(result) else "+,.4~g"
    bars = (
        alt.Chart(data)
        .mark_bar(binSpacing=0)
        .encode(
            x=alt.X("low:Q", title=f"Change of {result.scorer.title}", axis=axis, scale=alt.Scale(zero=False)),
            x2="high:Q",
            y=alt.Y("rows:Q", title="Rows"),
            y2=alt.datum(0),
            color=alt.Color(
                "direction:N",
                scale=alt.Scale(
                    domain=["raises it", "about the same", "lowers it"], range=[HIGHER_COLOR, STEADY_COLOR, LOWER_COLOR]
                ),
                legend=bottom_legend(None),
            ),
            tooltip=[
                alt.Tooltip("low:Q", title="From", format=fmt),
                alt.Tooltip("high:Q", title="To", format=fmt),
                alt.Tooltip("rows:Q", title="Rows", format=","),
            ],
        )
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color=BASELINE_COLOR).encode(x="x:Q")
    mean = result.facts.get("mean_change")
    layers: list[alt.Chart] = [bars, zero]
    if mean is not None and math.isfinite(mean):
        layers.append(
            alt.Chart(pd.DataFrame({"x": [float(mean)], "label": ["mean change"]}))
            .mark_rule(strokeDash=[4, 3], color="#111111")
            .encode(
                x="x:Q", tooltip=[alt.Tooltip("label:N", title=" "), alt.Tooltip("x:Q", title="Change", format=fmt)]
            )
        )
    return fit_width(
        alt.layer(*layers), height=HEIGHT, title=alt.TitleParams("Change of each edited row", anchor="start")
    )
