"""Altair charts of the explaining analyses (Shapley waterfall, robustness): pure functions, no Streamlit.

Each builder reads only an ``AnalysisResult`` (its ``summary``, ``facts``, ``sent`` and scorer),
so what the chart draws is what the CSV download and the command line's JSON hold. Colours follow
``charts_explore``: blue raises the score, orange lowers it, purple flips the class.
"""

from __future__ import annotations

import math
from typing import Any, cast

import altair as alt
import numpy as np
import pandas as pd

from whatif.analysis.result import AnalysisResult
from whatif.charts import BASELINE_COLOR
from whatif.charts_explore import (
    FLIP_COLOR,
    HIGHER_COLOR,
    LOWER_COLOR,
    MARK_COLOR,
    NOTE_COLOR,
    STEADY_COLOR,
    bottom_legend,
    fit_width,
    marker_labels,
    marker_text,
    score_text,
)

RAISES_COLOR, LOWERS_COLOR = HIGHER_COLOR, LOWER_COLOR
LOWERS_LABEL = "lowers it"  # the raising label names the score: "raises P(survived)"
KEEP_COLOR = STEADY_COLOR
FLIPS_LABEL, KEEPS_LABEL = "flips the class", "keeps the class"
NEARBY_LABEL = "nearby rows"  # a regression's histogram: no class to keep or flip
BAND_COLOR = "#dde4ec"
BAND_LABEL = "5th–95th percentile"
BASE_LABEL, PREDICTION_LABEL = "background average", "this prediction"
HISTOGRAM_BINS = 30  # about this many bins over the zoomed axis, on a round step
NO_PER_INPUT_ROWS = "No input was nudged alone in this check."


def _is_probability(result: AnalysisResult) -> bool:
    return result.scorer.task == "classification"


def _score_axis(result: AnalysisResult, span: float | None = None) -> tuple[alt.Axis, str]:
    """The score axis (percent for probabilities, with a decimal when ``span`` is under 5 points) and its
    tooltip format."""
    if _is_probability(result):
        fine = span is not None and span < 0.05
        return alt.Axis(format=".1%" if fine else "%", tickCount=6), ".1%"
    return alt.Axis(format=",.4~g", tickCount=6), ",.4~g"


def raises_label(result: AnalysisResult) -> str:
    """The legend entry of a contribution that raises the score: "raises P(survived)"."""
    return f"raises {result.scorer.title}"


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

    Each bar starts where the previous one ended; blue raises the score, orange lowers it. Sampled
    values carry a rule of +-1 standard error at the end of their bar. Dashed rules mark the
    background average and the prediction, their values written on their own rows. Labels near the
    right edge are turned to the left so none runs off the plot; the legend sits under it.
    """
    base = float(result.facts["base_score"])
    prediction = float(result.facts["prediction_score"])
    summary = result.summary.sort_values("rank")
    contribution = summary["contribution"].to_numpy(dtype=float)
    end = base + np.cumsum(contribution)
    raises = raises_label(result)
    data = pd.DataFrame(
        {
            "label": [f"{f} = {v}" for f, v in zip(summary["feature"], summary["value"], strict=True)],
            "feature": summary["feature"].to_numpy(),
            "value": summary["value"].to_numpy(),
            "contribution": contribution,
            "std_error": summary["std_error"].to_numpy(dtype=float),
            "start": end - contribution,
            "end": end,
            "effect": np.where(contribution >= 0, raises, LOWERS_LABEL),
            "text": [_change_text(result, c) for c in contribution],
        }
    )
    data["error_low"] = data["end"] - data["std_error"]
    data["error_high"] = data["end"] + data["std_error"]
    drawn = np.concatenate([data[["start", "end"]].to_numpy(dtype=float).ravel(), [base, prediction]])
    drawn = drawn[np.isfinite(drawn)]
    low, high = (float(drawn.min()), float(drawn.max())) if len(drawn) else (0.0, 1.0)
    span = high - low if high > low else 1.0
    left = np.minimum(data["start"], data["end"])
    right = np.maximum(data["start"], data["end"])
    turned = (right - low) / span > 0.85  # too near the right edge: the label goes left of the bar
    data["text_x"] = np.where(turned, left, right)
    data["text_side"] = np.where(turned, "left", "right")
    title = result.scorer.title
    axis, fmt = _score_axis(result)
    order = [BASE_LABEL, *data["label"].tolist(), PREDICTION_LABEL]
    x_scale = alt.Scale(zero=False, nice=True)
    y = alt.Y("label:N", title=None, sort=order, axis=alt.Axis(labelLimit=240))
    bars = (
        alt.Chart(data)
        .mark_bar(height={"band": 0.7}, cornerRadius=2)
        .encode(
            x=alt.X("start:Q", title=title, scale=x_scale, axis=axis),
            x2="end:Q",
            y=y,
            color=alt.Color(
                "effect:N",
                scale=alt.Scale(domain=[raises, LOWERS_LABEL], range=[RAISES_COLOR, LOWERS_COLOR]),
                legend=bottom_legend("This input"),
            ),
            tooltip=[
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("value:N", title="Value"),
                alt.Tooltip("contribution:Q", title="Contribution", format="+" + fmt),
                alt.Tooltip("std_error:Q", title="Standard error", format=".3g"),
                alt.Tooltip("start:Q", title="From", format=fmt),
                alt.Tooltip("end:Q", title="To", format=fmt),
            ],
        )
    )
    layers: list[Any] = [bars]
    for side, align, dx in (("right", "left", 4), ("left", "right", -4)):
        rows = data[data["text_side"] == side]
        if not rows.empty:
            layers.append(
                alt.Chart(rows)
                .mark_text(align=cast(Any, align), dx=dx, color=MARK_COLOR)
                .encode(x=alt.X("text_x:Q", scale=x_scale), y=y, text="text:N")
            )
    if result.facts.get("method") == "sampled":
        errors = (
            alt.Chart(data)
            .mark_rule(color=MARK_COLOR, strokeWidth=1.5)
            .encode(x=alt.X("error_low:Q", scale=x_scale), x2="error_high:Q", y=y)
        )
        layers.append(errors)
    ends = pd.DataFrame(
        {
            "label": [BASE_LABEL, PREDICTION_LABEL],
            "score": [base, prediction],
            "text": [score_text(result, base), score_text(result, prediction)],
        }
    )
    ends["side"] = np.where((ends["score"] - low) / span > 0.85, "left", "right")
    marks = (
        alt.Chart(ends)
        .mark_tick(thickness=3, color=MARK_COLOR)
        .encode(
            x=alt.X("score:Q", scale=x_scale),
            y=y,
            tooltip=[alt.Tooltip("label:N", title=""), alt.Tooltip("score:Q", title=title, format=fmt)],
        )
    )
    rules = alt.Chart(ends).mark_rule(strokeDash=[6, 4], color=BASELINE_COLOR).encode(x=alt.X("score:Q", scale=x_scale))
    layers += [rules, marks]
    for side, align, dx in (("right", "left", 7), ("left", "right", -7)):
        rows = ends[ends["side"] == side]
        if not rows.empty:
            layers.append(
                alt.Chart(rows)
                .mark_text(align=cast(Any, align), dx=dx, fontWeight="bold", color=MARK_COLOR)
                .encode(x=alt.X("score:Q", scale=x_scale), y=y, text="text:N")
            )
    return fit_width(alt.layer(*layers), height=alt.Step(26))


# ---- robustness ------------------------------------------------------------------------------------
def nice_step(rough: float) -> float:
    """The round bin width (1, 2, 2.5 or 5 times a power of ten) closest above ``rough``."""
    if not math.isfinite(rough) or rough <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough * (1 - 1e-12))


def histogram_domain(values: np.ndarray, probability: bool, bins: int = HISTOGRAM_BINS) -> tuple[float, float, float]:
    """The zoomed axis of a histogram and its bin step: the values' extent with a little padding, widened
    to whole steps (within 0 to 1 for a probability). Returns (low, high, step)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return (0.0, 1.0, 0.05) if probability else (0.0, 1.0, 0.1)
    low, high = float(finite.min()), float(finite.max())
    span = high - low
    if span <= 0:
        span = 0.01 if probability else max(abs(high) * 0.02, 1e-9)
    pad = 0.08 * span
    step = nice_step((span + 2 * pad) / bins)
    start, stop = math.floor((low - pad) / step) * step, math.ceil((high + pad) / step) * step
    if probability:
        start, stop = max(0.0, start), min(1.0, stop)
    return start, stop, step


def _binned(
    scores: np.ndarray, effects: np.ndarray, start: float, stop: float, step: float, kinds: list[str]
) -> pd.DataFrame:
    """Counts per bin and kind, stacked in ``kinds`` order: bin_start, bin_end, effect, rows, below, above
    (rows without a score are left out)."""
    finite = np.isfinite(scores)
    scores, effects = scores[finite], effects[finite]
    count = max(1, int(round((stop - start) / step)))
    edges = start + step * np.arange(count + 1)
    where = np.clip(np.floor((scores - start) / step + 1e-9).astype(int), 0, count - 1)
    rows = []
    for b in np.unique(where):
        below = 0
        for kind in kinds:
            n = int(np.count_nonzero((where == b) & (effects == kind)))
            if n:
                rows.append(
                    {
                        "bin_start": float(edges[b]),
                        "bin_end": float(edges[b + 1]),
                        "effect": kind,
                        "rows": n,
                        "below": below,
                        "above": below + n,
                    }
                )
                below += n
    return pd.DataFrame(rows, columns=["bin_start", "bin_end", "effect", "rows", "below", "above"])


def robustness_chart(result: AnalysisResult) -> alt.LayerChart:
    """The scores of the jittered copies as a histogram on an axis zoomed to them (rows that flip the class
    stacked apart, in purple), their 5th to 95th percentile as a named band, the scenario's score as a
    labelled rule. The class threshold is a dashed rule when it is near the scores; far from them it is
    written at the chart's edge ("threshold 50 % →") instead of stretching the axis until the bars vanish."""
    sent = result.sent
    jittered = sent.loc[sent["group"] == "all"]
    probability = _is_probability(result)
    scores = jittered["score"].to_numpy(dtype=float)
    flips = jittered["flips"].to_numpy(dtype=bool) if "flips" in jittered else np.zeros(len(jittered), dtype=bool)
    kinds = [FLIPS_LABEL, KEEPS_LABEL] if probability else [NEARBY_LABEL]
    effects = np.where(flips, FLIPS_LABEL, KEEPS_LABEL) if probability else np.full(len(scores), NEARBY_LABEL)
    score = float(result.scenario_score)
    threshold = result.scorer.threshold if probability else None
    extent = np.append(scores, score)
    if threshold is not None and math.isfinite(float(threshold)):
        finite = extent[np.isfinite(extent)]
        spread = float(finite.max() - finite.min()) if len(finite) else 0.0
        gap = max(float(finite.min()) - threshold, threshold - float(finite.max()), 0.0) if len(finite) else 1.0
        if gap <= max(0.5 * spread, 0.02):  # near the scores: drawn on the axis
            extent = np.append(extent, threshold)
    start, stop, step = histogram_domain(extent, probability)
    data = _binned(scores, effects, start, stop, step, kinds)
    title = result.scorer.title
    axis, fmt = _score_axis(result, stop - start)
    x_scale = alt.Scale(domain=[start, stop], nice=False, zero=False)
    facts = result.facts
    palette = [FLIP_COLOR, KEEP_COLOR] if probability else [KEEP_COLOR]
    color = alt.Color(
        "effect:N",
        scale=alt.Scale(domain=[*kinds, BAND_LABEL], range=[*palette, BAND_COLOR]),
        legend=bottom_legend("Nearby rows" if probability else None),
    )
    band_data = pd.DataFrame({"p05": [facts["score_p05"]], "p95": [facts["score_p95"]], "effect": [BAND_LABEL]})
    band = (
        alt.Chart(band_data)
        .mark_rect(opacity=0.8)
        .encode(
            x=alt.X("p05:Q", scale=x_scale),
            x2="p95:Q",
            color=color,
            tooltip=[
                alt.Tooltip("p05:Q", title="5th percentile", format=fmt),
                alt.Tooltip("p95:Q", title="95th percentile", format=fmt),
            ],
        )
    )
    histogram = (
        alt.Chart(data)
        .mark_bar(opacity=0.95, binSpacing=1)
        .encode(
            x=alt.X("bin_start:Q", title=title, scale=x_scale, axis=axis),
            x2="bin_end:Q",
            y=alt.Y("above:Q", title="Nearby rows"),
            y2="below:Q",
            color=color,
            tooltip=[
                alt.Tooltip("bin_start:Q", title="From", format=fmt),
                alt.Tooltip("bin_end:Q", title="to", format=fmt),
                alt.Tooltip("rows:Q", title="Rows"),
                alt.Tooltip("effect:N", title="Nearby rows"),
            ],
        )
    )
    marks = [(score, f"this scenario {score_text(result, score)}")]
    on_scale = threshold is not None and start <= threshold <= stop
    if on_scale:
        marks.append((float(threshold), f"threshold {score_text(result, float(threshold))}"))  # type: ignore[arg-type]
    labels = marker_labels(marks, start, stop)
    layers: list[Any] = [band, histogram]
    layers.append(
        alt.Chart(labels.iloc[:1])
        .mark_rule(strokeWidth=2, color=MARK_COLOR)
        .encode(x=alt.X("score:Q", scale=x_scale), tooltip=[alt.Tooltip("score:Q", title="This scenario", format=fmt)])
    )
    if on_scale:
        layers.append(
            alt.Chart(labels.iloc[1:])
            .mark_rule(strokeDash=[6, 4], strokeWidth=1.5, color=BASELINE_COLOR)
            .encode(x=alt.X("score:Q", scale=x_scale), tooltip=[alt.Tooltip("text:N", title="Decision")])
        )
    layers += marker_text(labels, scale=x_scale)
    if threshold is not None and not on_scale:
        above = threshold > stop
        named = f"threshold {score_text(result, float(threshold))}"
        edge = pd.DataFrame({"text": [f"{named} →" if above else f"← {named}"], "score": [float(threshold)]})
        layers.append(
            alt.Chart(edge)
            .mark_text(align="right" if above else "left", baseline="bottom", fontSize=11, color=NOTE_COLOR, y=-17)
            .encode(
                x=alt.value("width" if above else 0),
                text="text:N",
                tooltip=[alt.Tooltip("score:Q", title="Threshold, off this axis", format=fmt)],
            )
        )
    return fit_width(alt.layer(*layers), height=260)


def robustness_features_chart(result: AnalysisResult) -> alt.LayerChart:
    """Each input nudged alone (titled so). When some of those rows flip the class: a point at each input's
    flip rate and a rule for its 95 % Wilson interval (labelled once). When none flips, or for a
    regression: the 5th to 95th percentile of each input's scores as a bar, its median as a tick and the
    scenario's score as a rule, so a stable scenario still shows which input moves the score; the
    title says no input changed the class. Without per-input rows: a sentence saying so."""
    summary = result.summary.copy()
    if summary.empty:
        note = pd.DataFrame({"text": [NO_PER_INPUT_ROWS]})
        return fit_width(
            alt.layer(
                alt.Chart(note)
                .mark_text(align="left", fontSize=13, color=NOTE_COLOR)
                .encode(x=alt.value(0), y=alt.value(12), text="text:N")
            ),
            height=30,
        )
    order = summary["feature"].tolist()
    y = alt.Y("feature:N", title=None, sort=order, axis=alt.Axis(labelLimit=240))
    flips = summary["flips"].to_numpy(dtype=float)
    if _is_probability(result) and np.nansum(flips) > 0:
        data = summary[["feature", "rows", "flips", "flip_rate", "flip_low", "flip_high"]].assign(
            middle=lambda d: (d["flip_low"] + d["flip_high"]) / 2
        )
        top = max([0.05, *(float(v) for v in data["flip_high"] if np.isfinite(v))])  # at least 0 to 5 %
        x_scale = alt.Scale(domain=[0, top])
        tooltip = [
            alt.Tooltip("feature:N", title="Input"),
            alt.Tooltip("flips:Q", title="Flips"),
            alt.Tooltip("rows:Q", title="Rows"),
            alt.Tooltip("flip_rate:Q", title="Flip rate", format=".1%"),
            alt.Tooltip("flip_low:Q", title="95 % interval from", format=".1%"),
            alt.Tooltip("flip_high:Q", title="to", format=".1%"),
        ]
        interval = (
            alt.Chart(data)
            .mark_rule(color=NOTE_COLOR, strokeWidth=2)
            .encode(
                x=alt.X(
                    "flip_low:Q",
                    title="Share of its nearby rows that flip the class",
                    scale=x_scale,
                    axis=alt.Axis(format="%"),
                ),
                x2="flip_high:Q",
                y=y,
                tooltip=tooltip,
            )
        )
        points = (
            alt.Chart(data)
            .mark_point(filled=True, size=80, color=FLIP_COLOR, opacity=1)
            .encode(x=alt.X("flip_rate:Q", scale=x_scale), y=y, tooltip=tooltip)
        )
        named = (
            alt.Chart(data.head(1).assign(text="95 % interval"))
            .mark_text(fontSize=10, dy=-10, color=NOTE_COLOR)
            .encode(x=alt.X("middle:Q", scale=x_scale), y=y, text="text:N")
        )
        return fit_width(
            alt.layer(interval, points, named),
            height=alt.Step(28),
            title=alt.TitleParams("Each input nudged alone", anchor="start", fontSize=14),
        )
    title = result.scorer.title
    data = summary[["feature", "rows", "flips", "score_p05", "score_p50", "score_p95"]]
    score = float(result.scenario_score)
    spread = np.concatenate([data[["score_p05", "score_p95"]].to_numpy(dtype=float).ravel(), [score]])
    start, stop, _ = histogram_domain(spread, _is_probability(result))
    axis, fmt = _score_axis(result, stop - start)
    x_scale = alt.Scale(domain=[start, stop], nice=False, zero=False)
    tooltip = [
        alt.Tooltip("feature:N", title="Input"),
        alt.Tooltip("rows:Q", title="Rows"),
        alt.Tooltip("score_p05:Q", title="5th percentile", format=fmt),
        alt.Tooltip("score_p50:Q", title="median", format=fmt),
        alt.Tooltip("score_p95:Q", title="95th percentile", format=fmt),
    ]
    bars = (
        alt.Chart(data)
        .mark_bar(color=KEEP_COLOR, height={"band": 0.6}, cornerRadius=2)
        .encode(
            x=alt.X(
                "score_p05:Q", title=f"{title} of its nearby rows, 5th to 95th percentile", scale=x_scale, axis=axis
            ),
            x2="score_p95:Q",
            y=y,
            tooltip=tooltip,
        )
    )
    medians = (
        alt.Chart(data)
        .mark_tick(color=MARK_COLOR, thickness=2, size=14)
        .encode(x=alt.X("score_p50:Q", scale=x_scale), y=y, tooltip=tooltip)
    )
    labels = marker_labels([(score, f"this scenario {score_text(result, score)}")], start, stop)
    rule = alt.Chart(labels).mark_rule(color=MARK_COLOR, strokeDash=[6, 4]).encode(x=alt.X("score:Q", scale=x_scale))
    heading = f"Each input nudged alone: range of {title}"
    title_params = alt.TitleParams(heading, anchor="start", fontSize=14)
    if _is_probability(result):
        sizes = sorted({int(n) for n in data["rows"]})
        each = f"0 of {sizes[0]:,} rows each" if len(sizes) == 1 else "none of their rows"
        title_params = alt.TitleParams(
            heading,
            subtitle=f"No input nudged alone changed the class ({each})",
            anchor="start",
            fontSize=14,
            subtitleColor=NOTE_COLOR,
        )
    return fit_width(
        alt.layer(bars, medians, rule, *marker_text(labels, scale=x_scale)), height=alt.Step(24), title=title_params
    )
