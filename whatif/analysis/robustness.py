"""Robustness: does the answer hold for rows just around the scenario, and is the model deterministic?

ONE batch: the scenario, 5 identical copies of it (a model that answers them differently is not
deterministic), ``copies`` jittered copies (``grids.jitter``: numbers moved by Normal(0, epsilon x
the feature's spread), integers rounded, clipped to the domain; categories flipped only when asked;
held features fixed) and, per feature that can move, ``per_feature_copies`` rows jittering that
feature alone, to see which one causes flips. Giskard's scan uses a fixed noise of 0.01 whatever
the scale and reports a bare rate; here the noise follows each feature's spread and the flip rate
comes with a Wilson interval (ANALYSES.md, "Robustness").
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.frames import (
    ask,
    check_rows,
    check_score_class,
    checked_scenario,
    feature_named,
    request_frame,
)
from whatif.analysis.grids import is_numeric, jitter, levels
from whatif.analysis.result import AnalysisResult
from whatif.analysis.score import Scorer, format_score
from whatif.schema import Feature, FeatureSchema

IDENTICAL_COPIES = 5
STABLE_BELOW = 0.05  # a flip rate Giskard's scan would flag from
FRAGILE_BELOW = 0.25
SUMMARY_COLUMNS = [
    "feature",
    "rows",
    "flips",
    "flip_rate",
    "flip_low",
    "flip_high",
    "score_p05",
    "score_p50",
    "score_p95",
    "score_std",
]


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / trials``; (nan, nan) without trials.

    Unlike the normal approximation it stays within [0, 1] and is not empty at 0 or ``trials``
    successes: center (p + z^2 / 2n) / (1 + z^2 / n), half-width z / (1 + z^2 / n) x
    sqrt(p (1 - p) / n + z^2 / 4n^2).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    if trials <= 0:
        return (math.nan, math.nan)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and {trials}, not {successes}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, n = successes / trials, trials
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at 0 or n successes one end is exactly 0 or 1; rounding would leave 2e-19 there
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == trials else min(1.0, center + half)
    return (low, high)


PER_FEATURE_MOST, PER_FEATURE_LEAST = 50, 10  # copies per feature jittered alone, by default


def robustness(
    schema: FeatureSchema,
    scenario: Mapping[str, Any],
    predict: Predict,
    *,
    copies: int = 1000,
    epsilon: float = 0.05,
    hold: Collection[str] = (),
    categorical_flip_p: float = 0.0,
    per_feature_copies: int | None = None,
    seed: int = 0,
    score_class: str | None = None,
) -> AnalysisResult:
    """How often rows near ``scenario`` change its predicted class, in ONE call of ``predict``.

    ``per_feature_copies`` None: 50 per feature for a few features, fewer for many (at least 10),
    so the per-feature rows stay about as many as the jittered copies (100 inputs: 10 each).

    ``sent``: the request rows with the answers, ``score``, ``flips`` and ``group`` ("scenario",
    "identical", "all" for the jittered copies, else the one feature jittered). ``summary``: one
    row per feature jittered alone (features held, and categories when ``categorical_flip_p`` is 0,
    cannot move and are left out), sorted by flip rate then score spread: rows, flips, flip_rate
    with its 95 % Wilson interval (flip_low, flip_high; NaN for a regression) and the scores'
    5th, 50th and 95th percentiles and standard deviation.
    """
    held = {feature_named(schema, name).name for name in ((hold,) if isinstance(hold, str) else hold)}
    can_move = [f for f in schema.features if f.name not in held and _can_move(f, categorical_flip_p)]
    if per_feature_copies is None:
        per_feature_copies = min(PER_FEATURE_MOST, max(PER_FEATURE_LEAST, copies // max(1, len(can_move))))
    _check_parameters(copies, epsilon, categorical_flip_p, per_feature_copies)
    check_score_class(schema, score_class)
    base = checked_scenario(schema, scenario)
    movable = can_move if per_feature_copies > 0 else []
    total = 1 + IDENTICAL_COPIES + copies + len(movable) * per_feature_copies
    check_rows(
        total,
        "This robustness check",
        f"ask for fewer copies (now {copies:,}) or fewer per feature (now {per_feature_copies:,})",
    )

    rng = np.random.default_rng(seed)
    rows = [base] * (1 + IDENTICAL_COPIES)
    rows += jitter(schema, base, copies, epsilon, rng, frozenset(held), categorical_flip_p)
    groups = ["scenario", *["identical"] * IDENTICAL_COPIES, *["all"] * copies]
    everything = frozenset(f.name for f in schema.features)
    for f in movable:
        rows += jitter(schema, base, per_feature_copies, epsilon, rng, everything - {f.name}, categorical_flip_p)
        groups += [f.name] * per_feature_copies
    form = {f.name: [row[f.name] for row in rows] for f in schema.features}
    answered = ask(schema, predict, request_frame(schema, form), {"group": groups}, score_class)
    scorer, sent = answered.scorer, answered.sent

    group = np.asarray(groups, dtype=object)
    classifier = answered.scenario_class is not None
    everywhere = _group_row("all", answered.score[group == "all"], answered.flips[group == "all"], classifier)
    summary = _summary(
        [
            _group_row(f.name, answered.score[group == f.name], answered.flips[group == f.name], classifier)
            for f in movable
        ]
    )
    deterministic = _deterministic(sent)
    flipped_to = _flipped_to(schema, answered.predicted[group == "all"], answered.flips[group == "all"])
    threshold = scorer.threshold
    facts = {
        "rows": total,
        "copies": copies,
        "epsilon": epsilon,
        "categorical_flip_p": categorical_flip_p,
        "per_feature_copies": per_feature_copies,
        "held": sorted(held),
        "jittered_alone": [f.name for f in movable],
        "flips": everywhere["flips"] if classifier else None,
        "flip_rate": everywhere["flip_rate"],
        "flip_low": everywhere["flip_low"],
        "flip_high": everywhere["flip_high"],
        "flipped_to": flipped_to,
        "score_p05": everywhere["score_p05"],
        "score_p50": everywhere["score_p50"],
        "score_p95": everywhere["score_p95"],
        "score_std": everywhere["score_std"],
        "threshold": threshold,
        "threshold_distance": None if threshold is None else float(answered.scenario_score - threshold),
        "deterministic": deterministic,
        "identical_scores": [float(s) for s in answered.score[: 1 + IDENTICAL_COPIES]],
        "moves_most": _moves_most(summary),
    }
    return AnalysisResult(
        kind="robustness",
        scorer=scorer,
        scenario=base,
        scenario_score=answered.scenario_score,
        scenario_class=answered.scenario_class,
        sent=sent,
        summary=summary,
        reading=_reading(schema, scorer, answered.scenario_score, answered.scenario_class, facts),
        tasks=1,
        facts=facts,
    )


def _check_parameters(copies: int, epsilon: float, categorical_flip_p: float, per_feature_copies: int) -> None:
    """AnalysisError sentences for parameters that make no sense, before anything is built."""
    if isinstance(copies, bool) or not isinstance(copies, int | np.integer) or copies < 1:
        raise AnalysisError(f"Ask for at least 1 jittered copy (a whole number), not {copies!r}.")
    if (
        isinstance(per_feature_copies, bool)
        or not isinstance(per_feature_copies, int | np.integer)
        or per_feature_copies < 0
    ):
        raise AnalysisError(f"Copies per feature must be a whole number of at least 0, not {per_feature_copies!r}.")
    if not isinstance(epsilon, int | float) or not math.isfinite(epsilon) or not 0 < epsilon <= 1:
        raise AnalysisError(
            f"The noise size epsilon must be above 0 and at most 1 (a share of each feature's "
            f"spread, such as 0.05), not {epsilon!r}."
        )
    if not isinstance(categorical_flip_p, int | float) or not 0 <= categorical_flip_p <= 1:
        raise AnalysisError(f"The chance of switching a category must be from 0 to 1, not {categorical_flip_p!r}.")


def _can_move(feature: Feature, categorical_flip_p: float) -> bool:
    """True when jitter can change this feature: a number, or a category with another level to switch to."""
    return is_numeric(feature) or (categorical_flip_p > 0 and len(levels(feature)) > 1)


def _group_row(name: str, score: np.ndarray, flips: np.ndarray, classifier: bool) -> dict[str, Any]:
    """Flip count, rate and Wilson interval, and score percentiles, of one group of rows."""
    finite = score[np.isfinite(score)]
    n, flipped = len(flips), int(np.count_nonzero(flips))
    low, high = wilson_interval(flipped, n) if classifier else (math.nan, math.nan)
    p05, p50, p95 = np.percentile(finite, [5, 50, 95]).tolist() if len(finite) else [math.nan] * 3
    return {
        "feature": name,
        "rows": n,
        "flips": flipped if classifier else 0,
        "flip_rate": flipped / n if classifier and n else math.nan,
        "flip_low": low,
        "flip_high": high,
        "score_p05": float(p05),
        "score_p50": float(p50),
        "score_p95": float(p95),
        "score_std": float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan,
    }


def _summary(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per-feature rows, the feature that flips most first, then the widest score spread, then schema order."""
    if not rows:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    summary = pd.DataFrame(rows)
    summary["spread"] = summary["score_p95"] - summary["score_p05"]
    summary["order"] = np.arange(len(summary))
    summary = summary.sort_values(["flip_rate", "spread", "order"], ascending=[False, False, True], na_position="last")
    return summary[SUMMARY_COLUMNS].reset_index(drop=True)


def _deterministic(sent: pd.DataFrame) -> bool:
    """True when the scenario and its identical copies got exactly the same answers (NaN equal to NaN)."""
    answers = sent.iloc[: 1 + IDENTICAL_COPIES][
        [c for c in sent.columns if c in ("prediction", "score") or str(c).startswith("probability_")]
    ]
    first = answers.iloc[0]
    return all(answers.iloc[i].equals(first) for i in range(1, len(answers)))


def _flipped_to(schema: FeatureSchema, predicted: np.ndarray, flips: np.ndarray) -> str | None:
    """The label of the class the flipped rows went to most often, or None without flips."""
    if not flips.any():
        return None
    classes, counts = np.unique(predicted[flips].astype(str), return_counts=True)
    return schema.class_label(classes[int(np.argmax(counts))])


def _moves_most(summary: pd.DataFrame) -> str | None:
    """The feature that flips the class most, else widens the score most; None when none moves anything."""
    if summary.empty:
        return None
    top = summary.iloc[0]
    if top["flips"] > 0:
        return str(top["feature"])
    spread = summary["score_p95"] - summary["score_p05"]
    return str(summary.loc[spread.idxmax(), "feature"]) if spread.max() > 0 else None


def _percent(rate: float) -> str:
    """0.004 -> "0.4 %", 0.25 -> "25 %", 0 -> "0 %"."""
    value = rate * 100
    if value == 0 or value >= 10:
        return f"{value:.0f} %"
    return f"{value:.1f} %"


def _reading(
    schema: FeatureSchema, scorer: Scorer, scenario_score: float, scenario_class: str | None, facts: Mapping[str, Any]
) -> str:
    """One or two sentences: how often nearby rows flip (with the interval), which input nudged alone moves
    the score most (and how many more rows that took, so the rows sent add up), and whether the model
    answered identical rows alike."""
    n = facts["copies"]
    most = facts["moves_most"]
    alone = facts["jittered_alone"]
    each = facts["per_feature_copies"]
    if not alone:
        what = "no input was nudged alone"
    else:
        rows = f"{len(alone) * each:,} more rows nudged one input at a time, {each:,} per input"
        what = (
            f"nudging {most} alone moves {scorer.title} most ({rows})"
            if most
            else f"nudging any one input alone leaves {scorer.title} where it is ({rows})"
        )
    if scenario_class is not None and math.isfinite(facts["flip_rate"]):
        rate = facts["flip_rate"]
        verdict = "stable" if rate < STABLE_BELOW else "fragile" if rate < FRAGILE_BELOW else "on a knife edge"
        others = [c for c in scorer.classes if c != scenario_class]
        other = facts["flipped_to"] or (schema.class_label(others[0]) if len(others) == 1 else "another class")
        interval = f"95 % interval {_percent(facts['flip_low'])} to {_percent(facts['flip_high'])}"
        share = "none" if rate == 0 else "all" if rate == 1 else _percent(rate)
        first = f"The answer is {verdict}: {share} of {n:,} nearby rows ({interval}) flip to {other}; {what}."
    else:
        first = (
            f"Nearby rows keep {scorer.title} between {format_score(scorer, facts['score_p05'])} and "
            f"{format_score(scorer, facts['score_p95'])} (5th to 95th percentile of {n:,}; this scenario: "
            f"{format_score(scorer, scenario_score)}); {what}."
        )
    if facts["deterministic"]:
        return first
    scores = facts["identical_scores"]
    return (
        f"The model is not deterministic: {IDENTICAL_COPIES + 1} identical rows scored from "
        f"{format_score(scorer, min(scores))} to {format_score(scorer, max(scores))}, so part of what "
        f"follows is its own noise. {first}"
    )
