"""One-input sweep: the score as one feature moves over its grid (ICE curves and partial dependence).

The scenario's curve holds every other feature at the scenario's values. With background rows
(sample rows, an uploaded file), each of up to ``max_curves`` of them is swept over the SAME
grid (its ICE curve) and the average of those curves is the partial dependence. Everything
goes in ONE batch: the scenario, its curve, then each background row's curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.frames import (
    MAX_ROWS,
    ask,
    check_points,
    check_score_class,
    checked_scenario,
    checked_values,
    feature_named,
    request_frame,
    shown_value,
    value_text,
)
from whatif.analysis.grids import feature_grid, is_numeric
from whatif.analysis.result import AnalysisResult
from whatif.analysis.score import Scorer, flip_text, format_score
from whatif.schema import Feature, FeatureSchema, RowValidationError

SCENARIO, AVERAGE = "scenario", "average"
SUMMARY_COLUMNS = ["curve", "point", "value", "score", "flips"]


def sweep(
    schema: FeatureSchema,
    scenario: Mapping[str, Any],
    predict: Predict,
    feature: str,
    *,
    points: int = 40,
    background: pd.DataFrame | None = None,
    max_curves: int = 200,
    centred: bool = False,
    seed: int = 0,
    score_class: str | None = None,
) -> AnalysisResult:
    """Sweep ``feature`` over a ``points``-point grid (every level of a category), in one call of ``predict``.

    ``background``: FORM-value rows (one column per feature; a file of request columns with
    one-hot 0/1 columns is read too; other columns, such as the target, are ignored). Up to
    ``max_curves`` of them, drawn with ``seed``, each give an ICE curve named ``"row <i>"``
    (``i`` counts the background's rows from 1); their mean is the ``"average"`` curve (partial
    dependence). ``centred``: every curve minus its own score at the first grid point.

    ``summary`` is tidy: ``curve, point, value, score, flips`` (``value`` is the number, or the
    label of a category; ``flips``: the predicted class differs from the scenario's; always
    False on the average, which has no class of its own). ``facts`` describe the scenario's
    curve in score units, centred or not. ``sent``: row 0 is the scenario (``curve`` None), then
    the curves' rows. Refused (AnalysisError) beyond 10,000 rows, before anything is sent.
    """
    check_points(points)
    check_score_class(schema, score_class)
    if isinstance(max_curves, bool) or not isinstance(max_curves, int) or max_curves < 0:
        raise AnalysisError(f"max_curves must be a whole number of at least 0, not {max_curves!r}.")
    swept = feature_named(schema, feature)
    base = checked_scenario(schema, scenario)
    grid = checked_values(swept, feature_grid(swept, base[swept.name], points))
    size = len(grid)
    picked = _picked(background, max_curves, seed)
    total = 1 + size * (1 + len(picked))
    if total > MAX_ROWS:
        fit = (MAX_ROWS - 1 - size) // size
        fix = (
            f"ask for at most {fit:,} curves" if fit > 0 else "the grid alone is too large"
        ) + f" at {size} points, or use fewer points"
        raise AnalysisError(
            f"{len(picked):,} curves of {size} points would send {total:,} rows, more than the "
            f"{MAX_ROWS:,} one task may hold; {fix}."
        )
    rows = _background_rows(schema, background, picked) if picked else []

    form: dict[str, Any] = {}
    for f in schema.features:
        if f.name == swept.name:
            form[f.name] = [base[f.name], *(grid * (1 + len(rows)))]
        else:
            own = np.empty(1 + len(rows), dtype=object)
            own[:] = [base[f.name], *(row[f.name] for row in rows)]
            form[f.name] = [base[f.name], *np.repeat(own, size)]
    names = [SCENARIO, *(f"row {position + 1}" for position in picked)]
    shown = [shown_value(swept, v) for v in grid]
    bookkeeping = {
        "curve": [None, *np.repeat(np.asarray(names, dtype=object), size)],
        "point": [None, *(list(range(size)) * len(names))],
        "value": [None, *(shown * len(names))],
    }
    answered = ask(schema, predict, request_frame(schema, form), bookkeeping, score_class)
    scorer = answered.scorer

    curves = answered.score[1:].reshape(len(names), size)
    flips = answered.flips[1:].reshape(len(names), size)
    drawn = curves - curves[:, :1] if centred else curves
    labels = list(names)
    if rows:
        drawn = np.vstack([drawn, drawn[1:].mean(axis=0)])
        flips = np.vstack([flips, np.zeros((1, size), dtype=bool)])
        labels.append(AVERAGE)
    summary = pd.DataFrame(
        {
            "curve": np.repeat(np.asarray(labels, dtype=object), size),
            "point": np.tile(np.arange(size), len(labels)),
            "value": shown * len(labels),
            "score": drawn.reshape(-1),
            "flips": flips.reshape(-1),
        }
    )
    facts = _facts(swept, grid, shown, curves[0], scorer, centred, len(rows), total)
    facts["current_value"] = shown_value(swept, base[swept.name])
    if rows:
        average = curves[1:].mean(axis=0)
        facts["average_min_score"], facts["average_max_score"] = (
            _finite(np.nanmin(average)),
            _finite(np.nanmax(average)),
        )
    return AnalysisResult(
        kind="sweep",
        scorer=scorer,
        scenario=base,
        scenario_score=answered.scenario_score,
        scenario_class=answered.scenario_class,
        sent=answered.sent,
        summary=summary,
        reading=_reading(schema, swept, base, shown, curves, flips[0], scorer, answered.scenario_class, len(rows)),
        tasks=1,
        facts=facts,
    )


def _picked(background: pd.DataFrame | None, max_curves: int, seed: int) -> list[int]:
    """Positions of the background rows to sweep: all of them, or ``max_curves`` drawn with ``seed``, in order."""
    if background is None or len(background) == 0 or max_curves == 0:
        return []
    if len(background) <= max_curves:
        return list(range(len(background)))
    drawn = np.random.default_rng(seed).choice(len(background), size=max_curves, replace=False)
    return sorted(int(i) for i in drawn)


def _background_rows(schema: FeatureSchema, background: pd.DataFrame | None, picked: list[int]) -> list[dict[str, Any]]:
    """The picked background rows as coerced form values; AnalysisError naming the first row that does not fit."""
    assert background is not None
    names = [f.name for f in schema.features]
    as_form = all(name in background.columns for name in names)
    if not as_form and not all(column in background.columns for column in schema.input_columns):
        missing = [name for name in names if name not in background.columns]
        raise AnalysisError(
            f"The background rows have no column {missing[0]!r}; give one column per feature "
            "of the model (or its request columns)."
        )
    records = background.iloc[picked].to_dict(orient="records")
    out = []
    for position, record in zip(picked, records, strict=True):
        try:
            values = {n: record[n] for n in names} if as_form else schema.from_row(record)
            out.append(schema.coerce_values(values))
        except RowValidationError as invalid:
            name, problem = next(iter(invalid.errors.items()))
            raise AnalysisError(
                f"Background row {position + 1} does not fit the model: {name!r} {problem}; fix or drop that row."
            ) from None
    return out


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


def _facts(
    feature: Feature,
    grid: list[Any],
    shown: list[Any],
    curve: np.ndarray,
    scorer: Scorer,
    centred: bool,
    curves: int,
    rows: int,
) -> dict[str, Any]:
    """The headline numbers of the scenario's curve (in score units, even when the chart is centred)."""
    scored = np.isfinite(curve)
    top = int(np.nanargmax(curve)) if scored.any() else None
    training_range = (
        [feature.min, feature.max]
        if is_numeric(feature) and feature.min is not None and feature.max is not None
        else None
    )
    return {
        "feature": feature.name,
        "min_score": _finite(np.nanmin(curve)) if scored.any() else None,
        "max_score": _finite(np.nanmax(curve)) if scored.any() else None,
        "value_at_max": None if top is None else shown[top],
        "training_range": training_range,
        "threshold": scorer.threshold,
        "points": len(grid),
        "curves": curves,
        "centred": centred,
        "rows": rows,
    }


def _reading(
    schema: FeatureSchema,
    feature: Feature,
    base: Mapping[str, Any],
    shown: list[Any],
    curves: np.ndarray,
    flips: np.ndarray,
    scorer: Scorer,
    scenario_class: str | None,
    background_curves: int,
) -> str:
    """Where the scenario's curve peaks and bottoms out, and what the average over background rows does."""
    curve = curves[0]
    if not np.isfinite(curve).any():
        return f"The model gave no usable score while {feature.name} was swept."
    name = feature.name
    now = value_text(feature, base[name])
    low_at, high_at = int(np.nanargmin(curve)), int(np.nanargmax(curve))
    low, high = format_score(scorer, curve[low_at]), format_score(scorer, curve[high_at])
    if low == high:
        first = f"{name} does not move {scorer.title} here: it stays at {high} over the whole sweep."
    else:
        first = (
            f"{scorer.title} is highest, {high}, at {name} = {_text(shown[high_at])} and lowest, {low}, at "
            f"{name} = {_text(shown[low_at])} (now {now})"
        )
        if scenario_class is not None and flips.any():
            count = int(flips.sum())
            first += (
                f"; {count} of {len(curve)} values {'turns' if count == 1 else 'turn'} the prediction "
                f"{flip_text(schema, scorer, scenario_class)}"
            )
        first += "."
    if not background_curves:
        return first
    average = np.nanmean(curves[1:], axis=0)
    if not np.isfinite(average).any():
        return first
    lowest, highest = format_score(scorer, np.nanmin(average)), format_score(scorer, np.nanmax(average))
    if lowest == highest:
        return f"{first} Averaged over {background_curves} rows it stays at {highest}."
    peak = _text(shown[int(np.nanargmax(average))])
    return (
        f"{first} Averaged over {background_curves} rows it ranges between {lowest} and {highest} "
        f"(highest at {name} {peak})."
    )


def _text(value: Any) -> str:
    """A grid value for the reading: a number to about 3 significant figures (0.1667 -> "0.167", 512.3292 ->
    "512", 1234.6 -> "1,235"), a category's label as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    number = float(value)
    if not np.isfinite(number):
        return "n/a"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    text = f"{number:.3g}"
    return "0" if text == "-0" else text
