"""Two inputs at once: a map of the score over a grid of two features, and how much they interact.

The other features stay at the scenario's values. Each axis is the feature's grid (at most
``points`` values, the scenario's value always among them; a category's levels, at most 20),
so the rows holding one feature at its scenario value exist in the SAME batch and the
interaction of every cell, f(x, y) - f(x, y0) - f(x0, y) + f(x0, y0), needs no other task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.frames import (
    ask,
    check_points,
    check_score_class,
    checked_scenario,
    checked_values,
    feature_named,
    percent,
    repeated,
    request_frame,
    shown_value,
)
from whatif.analysis.grids import feature_grid, is_numeric, levels
from whatif.analysis.result import AnalysisResult
from whatif.analysis.score import Scorer, flip_text, format_score
from whatif.schema import Feature, FeatureSchema

MAX_LEVELS = 20  # levels of a categorical axis: more would make cells too thin to read
SUMMARY_COLUMNS = ["x", "y", "x_point", "y_point", "score", "predicted", "flips", "interaction", "boundary"]


def interaction(
    schema: FeatureSchema,
    scenario: Mapping[str, Any],
    predict: Predict,
    features: tuple[str, str],
    *,
    points: int = 30,
    score_class: str | None = None,
) -> AnalysisResult:
    """Map the score over a grid of two features around ``scenario``, in one call of ``predict``.

    ``summary``: one row per cell, x by x (y varying fastest):
    ``x``, ``y`` (numbers, or a category's labels), ``x_point``, ``y_point`` (grid positions),
    ``score``, ``predicted`` (the class label, or the value as text for a regression), ``flips``
    (class differs from the scenario's), ``interaction`` = f(x, y) - f(x, y0) - f(x0, y) + f(x0, y0)
    with (x0, y0) the scenario's values, and ``boundary`` (a neighbouring cell has another class).

    ``facts["h2"]`` is Friedman's H-squared of the pair computed over THIS GRID, not over a data
    sample: with f the map (others held at the scenario), F = f - mean(f), PD_x(x) = mean over the
    grid's y of f minus its mean, PD_y likewise, H² = sum (F - PD_x - PD_y)² / sum F² over the cells
    (each grid value weighs the same; None when the map is flat). It is the share of the map's
    variation that the two one-feature effects, added, do not explain, between 0 and 1.
    """
    check_points(points)
    check_score_class(schema, score_class)
    if len(features) != 2:
        raise AnalysisError(f"An interaction map needs exactly two features, not {len(features)}.")
    fx, fy = feature_named(schema, features[0]), feature_named(schema, features[1])
    if fx.name == fy.name:
        raise AnalysisError(f"An interaction map needs two different features; {fx.name!r} was given twice.")
    base = checked_scenario(schema, scenario)
    xs, ys = _axis(fx, base[fx.name], points), _axis(fy, base[fy.name], points)
    x0, y0 = xs.index(base[fx.name]), ys.index(base[fy.name])
    nx, ny = len(xs), len(ys)
    total = 1 + nx * ny

    form = repeated(base, schema, total)
    form[fx.name] = [base[fx.name], *np.repeat(np.asarray(xs, dtype=object), ny)]
    form[fy.name] = [base[fy.name], *(ys * nx)]
    x_shown, y_shown = [shown_value(fx, v) for v in xs], [shown_value(fy, v) for v in ys]
    bookkeeping = {"x": [None, *np.repeat(np.asarray(x_shown, dtype=object), ny)], "y": [None, *(y_shown * nx)]}
    answered = ask(schema, predict, request_frame(schema, form), bookkeeping, score_class)
    scorer = answered.scorer

    f = answered.score[1:].reshape(nx, ny)  # f[i, j] = score at (xs[i], ys[j])
    effect = f - f[:, [y0]] - f[[x0], :] + f[x0, y0]
    predicted = answered.predicted[1:].reshape(nx, ny)
    flips = answered.flips[1:].reshape(nx, ny)
    labels = np.asarray([_class_text(schema, scorer, p) for p in predicted.reshape(-1)], dtype=object)
    summary = pd.DataFrame(
        {
            "x": np.repeat(np.asarray(x_shown, dtype=object), ny),
            "y": y_shown * nx,
            "x_point": np.repeat(np.arange(nx), ny),
            "y_point": np.tile(np.arange(ny), nx),
            "score": f.reshape(-1),
            "predicted": labels,
            "flips": flips.reshape(-1),
            "interaction": effect.reshape(-1),
            "boundary": _boundary(predicted).reshape(-1)
            if scorer.task == "classification"
            else np.zeros(nx * ny, dtype=bool),
        }
    )
    h2 = h_squared(f)
    facts: dict[str, Any] = {
        "features": [fx.name, fy.name],
        "h2": h2,
        "threshold": scorer.threshold,
        "grid": [nx, ny],
        "rows": total,
        "max_abs_interaction": float(np.nanmax(np.abs(effect))) if np.isfinite(effect).any() else None,
        "scenario_point": [x0, y0],
    }
    if scorer.task == "classification":
        facts["share_flipped"] = float(flips.mean())
        facts["share_same_class"] = 1.0 - facts["share_flipped"]
        counts = pd.Series(labels).value_counts(normalize=True, sort=False)
        facts["class_shares"] = {str(k): float(v) for k, v in counts.items()}
    return AnalysisResult(
        kind="interaction",
        scorer=scorer,
        scenario=base,
        scenario_score=answered.scenario_score,
        scenario_class=answered.scenario_class,
        sent=answered.sent,
        summary=summary,
        reading=_reading(schema, fx, fy, h2, facts, scorer, answered.scenario_class, f),
        tasks=1,
        facts=facts,
    )


def _axis(feature: Feature, value: Any, points: int) -> list[Any]:
    """At most ``points`` grid values (a category: its levels, at most 20), the scenario's value among them."""
    if not is_numeric(feature):
        values = levels(feature)
        if len(values) > MAX_LEVELS:
            values = values[:MAX_LEVELS] if value in values[:MAX_LEVELS] else [*values[: MAX_LEVELS - 1], value]
        return checked_values(feature, values)
    asked = points
    grid = feature_grid(feature, value, asked)
    while len(grid) > points and asked > 2:  # the grid adds the range's ends and the scenario's value
        asked -= 1
        grid = feature_grid(feature, value, asked)
    if len(grid) > points:  # a very small map: evenly spaced values of the grid, the scenario's among them
        kept = [grid[i] for i in sorted({round(i) for i in np.linspace(0, len(grid) - 1, points)})]
        if value not in kept:
            kept[int(np.argmin([abs(v - value) for v in kept]))] = value
        grid = sorted(set(kept))
    return checked_values(feature, grid)


def h_squared(f: np.ndarray) -> float | None:
    """Friedman's H² of a two-feature map ``f[i, j]`` (each cell weighing the same); None when the map is flat.

    The share of the centred map's sum of squares that the additive fit PD_x(i) + PD_y(j) (row and
    column means, centred) leaves unexplained.
    """
    if not np.isfinite(f).all():
        return None
    joint = f - f.mean()
    pd_x = f.mean(axis=1, keepdims=True) - f.mean()
    pd_y = f.mean(axis=0, keepdims=True) - f.mean()
    total = float((joint**2).sum())
    if total <= 1e-24 * f.size:
        return None
    return float(((joint - pd_x - pd_y) ** 2).sum() / total)


def _boundary(predicted: np.ndarray) -> np.ndarray:
    """True for a cell whose class differs from its right, left, upper or lower neighbour's."""
    differs = np.zeros(predicted.shape, dtype=bool)
    across = predicted[1:, :] != predicted[:-1, :]
    along = predicted[:, 1:] != predicted[:, :-1]
    differs[1:, :] |= across
    differs[:-1, :] |= across
    differs[:, 1:] |= along
    differs[:, :-1] |= along
    return differs


def _class_text(schema: FeatureSchema, scorer: Scorer, predicted: Any) -> str:
    if predicted is None:
        return ""
    return schema.class_label(predicted) if scorer.task == "classification" else str(predicted)


def _strength(h2: float) -> str:
    if h2 < 0.05:
        return "hardly interact"
    if h2 < 0.2:
        return "interact a little"
    if h2 < 0.5:
        return "interact clearly"
    return "interact strongly"


def _reading(
    schema: FeatureSchema,
    fx: Feature,
    fy: Feature,
    h2: float | None,
    facts: Mapping[str, Any],
    scorer: Scorer,
    scenario_class: str | None,
    f: np.ndarray,
) -> str:
    """How strongly the two inputs interact, and how much of the map keeps the scenario's class."""
    pair = f"{fx.name} and {fy.name}"
    if h2 is None:
        return (
            f"{scorer.title} stays at {format_score(scorer, float(np.nanmean(f)))} over the whole map: "
            f"neither {fx.name} nor {fy.name} moves it here."
        )
    first = (
        f"{pair} {_strength(h2)} (H² = {h2:.2f}): {percent(h2)} of how {scorer.title} varies over the map "
        "is not the sum of their separate effects."
    )
    if scenario_class is None:
        return (
            first + f" It ranges from {format_score(scorer, float(np.nanmin(f)))} to "
            f"{format_score(scorer, float(np.nanmax(f)))}."
        )
    flip = flip_text(schema, scorer, scenario_class)
    if facts["share_flipped"] == 0:
        return first + f" Nowhere on the map does the prediction turn {flip}."
    return first + f" On {percent(facts['share_flipped'])} of the map the prediction turns {flip}."
