"""Sensitivity (a tornado): how far each input, moved alone over its range, moves the score.

Every logical feature is swept over its grid (``grids.feature_grid``: about 10 values for a
number, every level of a category or one-hot group) with the other features held at the
scenario's values; all sweeps go in ONE batch, the scenario first. A bar from the lowest to
the highest score of a sweep catches effects that rise and fall (ANALYSES.md, "Grids").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.frames import (
    ask,
    check_points,
    check_rows,
    check_score_class,
    checked_scenario,
    checked_values,
    feature_named,
    listed,
    repeated,
    request_frame,
    shown_value,
    value_text,
)
from whatif.analysis.grids import feature_grid
from whatif.analysis.result import AnalysisResult
from whatif.analysis.score import Scorer, flip_text, format_score
from whatif.schema import FeatureSchema

SUMMARY_COLUMNS = ["feature", "low", "high", "swing", "value_at_low", "value_at_high", "current", "flips", "rank"]


def sensitivity(
    schema: FeatureSchema,
    scenario: Mapping[str, Any],
    predict: Predict,
    *,
    points: int = 10,
    exclude: Collection[str] = (),
    score_class: str | None = None,
) -> AnalysisResult:
    """Sweep each feature not in ``exclude`` alone around ``scenario``, in one call of ``predict``.

    ``summary``: one row per feature, sorted by ``swing`` (high - low) descending, with the
    values (as shown) where the score is lowest and highest, ``current`` (the scenario's value),
    ``flips`` (some value of the sweep changes the predicted class) and ``rank`` (1 = largest swing).
    ``sent``: row 0 is the scenario (``feature`` None), then each feature's sweep (``value``: the
    number tried, or the label of a category).
    """
    check_points(points)
    check_score_class(schema, score_class)
    excluded = {exclude} if isinstance(exclude, str) else set(exclude)  # one name given alone is one name
    for name in excluded:
        feature_named(schema, name)
    base = checked_scenario(schema, scenario)
    swept = [f for f in schema.features if f.name not in excluded]
    if not swept:
        raise AnalysisError("Every feature is excluded, so there is nothing to vary; leave at least one in.")
    grids = [checked_values(f, feature_grid(f, base[f.name], points)) for f in swept]
    total = 1 + sum(len(g) for g in grids)
    check_rows(total, "This sensitivity analysis", f"use fewer points per feature (now {points}) or exclude features")

    form = repeated(base, schema, total)
    names: list[Any] = [None] * total
    shown: list[Any] = [None] * total  # numbers as numbers, categories as labels (the CSV and JSON)
    texts: list[Any] = [None] * total  # every value as the page writes it (the summary)
    start = 1
    for f, grid in zip(swept, grids, strict=True):
        end = start + len(grid)
        form[f.name][start:end] = grid
        names[start:end] = [f.name] * len(grid)
        shown[start:end] = [shown_value(f, v) for v in grid]
        texts[start:end] = [value_text(f, v) for v in grid]
        start = end
    answered = ask(schema, predict, request_frame(schema, form), {"feature": names, "value": shown}, score_class)
    scorer = answered.scorer

    summary = _summary(
        names, texts, answered.score, answered.flips, {f.name: value_text(f, base[f.name]) for f in swept}
    )
    flipping = summary.loc[summary["flips"], "feature"].tolist()
    return AnalysisResult(
        kind="sensitivity",
        scorer=scorer,
        scenario=base,
        scenario_score=answered.scenario_score,
        scenario_class=answered.scenario_class,
        sent=answered.sent,
        summary=summary,
        reading=_reading(schema, summary, scorer, answered.scenario_class),
        tasks=1,
        facts={"features": len(swept), "flipping": flipping, "rows": total, "points": points},
    )


def _summary(
    names: list[Any], texts: list[Any], score: np.ndarray, flips: np.ndarray, current: Mapping[str, str]
) -> pd.DataFrame:
    """One row per feature from the swept rows (row 0, the scenario, left out), vectorised."""
    rows = pd.DataFrame({"feature": names[1:], "value": texts[1:], "score": score[1:], "flips": flips[1:]})
    order = list(dict.fromkeys(rows["feature"]))  # schema order, for ties
    scored = rows[rows["score"].notna()]
    grouped = scored.groupby("feature", sort=False)["score"]
    low_at, high_at = grouped.idxmin(), grouped.idxmax()
    summary = pd.DataFrame({"feature": order}).set_index("feature", drop=False)
    summary["low"] = scored.loc[low_at.to_numpy(), "score"].set_axis(low_at.index)
    summary["high"] = scored.loc[high_at.to_numpy(), "score"].set_axis(high_at.index)
    summary["swing"] = summary["high"] - summary["low"]
    summary["value_at_low"] = scored.loc[low_at.to_numpy(), "value"].set_axis(low_at.index)
    summary["value_at_high"] = scored.loc[high_at.to_numpy(), "value"].set_axis(high_at.index)
    summary["current"] = [current[name] for name in order]
    summary["flips"] = rows.groupby("feature", sort=False)["flips"].any().reindex(order).to_numpy(dtype=bool)
    summary["schema_order"] = np.arange(len(order))
    summary = summary.sort_values(["swing", "schema_order"], ascending=[False, True], na_position="last")
    summary["rank"] = np.arange(1, len(summary) + 1)
    return summary[SUMMARY_COLUMNS].reset_index(drop=True)


def _reading(schema: FeatureSchema, summary: pd.DataFrame, scorer: Scorer, scenario_class: str | None) -> str:
    """One or two sentences: the input that matters most, and which inputs alone change the class."""
    top = summary.iloc[0]
    if not np.isfinite(top["swing"]):
        return "The model gave no usable score for these sweeps, so no input can be ranked."
    if top["swing"] == 0:
        first = f"No input, moved alone, changes {scorer.title} from {format_score(scorer, top['low'])} here."
    else:
        first = (
            f"{top['feature']} moves {scorer.title} from {format_score(scorer, top['low'])} "
            f"to {format_score(scorer, top['high'])}; it is the input that matters most here."
        )
    if scenario_class is None:
        return first
    flipping = summary.loc[summary["flips"], "feature"].tolist()
    flip = flip_text(schema, scorer, scenario_class)
    if not flipping:
        return f"{first} No single input, changed alone, turns the prediction {flip}."
    named = listed(flipping)
    verb = "can turn" if len(flipping) == 1 else "can each turn"
    return f"{first} Changed alone, {named} {verb} the prediction {flip}."
