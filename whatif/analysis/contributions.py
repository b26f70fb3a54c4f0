"""Shapley values of one prediction: how much each input moved the score away from a background average.

Interventional Shapley values over LOGICAL features (a one-hot group is one player, as is a
label-encoded feature): a "coalition" row takes the scenario's values for the features in the
coalition and a background row's values for the others; the value of a coalition is the mean
score of its rows over the background (ANALYSES.md, "Shapley values without the model in-process").

- EXACT when every coalition fits the row budget (2^k x background rows; k <= 10 with 8 rows):
  all of them in one batch, the Shapley weights applied in numpy.
- SAMPLED beyond: antithetic permutations (each one and its reverse); a permutation x a
  background row is a chain of k + 1 rows adding the scenario's values one feature at a time,
  as many chains as the budget holds, in one batch; the standard error of each value comes from
  the spread of the antithetic pairs.

Both add up to the scenario's score minus the background average (per chain for sampling).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.frames import (
    MAX_ROWS,
    ask,
    check_score_class,
    checked_scenario,
    request_frame,
    value_text,
)
from whatif.analysis.result import AnalysisResult
from whatif.analysis.score import Scorer, format_score
from whatif.schema import FeatureSchema, RowValidationError

SUMMARY_COLUMNS = ["feature", "value", "contribution", "std_error", "rank"]
MAX_EXACT_FEATURES = 30  # 2^30 coalitions is beyond any budget; checked before shifting bits


def contributions(
    schema: FeatureSchema,
    scenario: Mapping[str, Any],
    predict: Predict,
    *,
    background: pd.DataFrame | None = None,
    max_background: int = 8,
    budget: int = 10_000,
    seed: int = 0,
    score_class: str | None = None,
) -> AnalysisResult:
    """The Shapley value of each logical feature for the scenario's score, in ONE call of ``predict``.

    ``background``: FORM-value rows the scenario is compared with (a model's sample rows, an
    uploaded file; other columns ignored, rows that do not fit the schema left out); None compares
    with the schema's defaults as one row. At most ``max_background`` rows are used (a random
    choice by ``seed`` when there are more). ``budget``: the most coalition rows to send (the
    scenario's own row comes on top; never more than one task holds). ``summary``: feature,
    value (as shown), contribution, std_error (0 when exact), rank (1 = largest |contribution|),
    sorted by rank. ``facts``: method ("exact" or "sampled"), base_score (the background's mean
    score), prediction_score, sum_check (contributions minus (prediction - base), about 0),
    background_rows, background_left_out, and coalitions or permutations.
    """
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
        raise AnalysisError(f"The row budget must be a whole number of at least 1, not {budget!r}.")
    if isinstance(max_background, bool) or not isinstance(max_background, int | np.integer) or max_background < 1:
        raise AnalysisError(f"Use at least 1 background row, not {max_background!r}.")
    check_score_class(schema, score_class)
    base = checked_scenario(schema, scenario)
    rng = np.random.default_rng(seed)
    rows, left_out = _background_rows(schema, background, max_background, rng)
    k, b = len(schema.features), len(rows)
    limit = min(budget, MAX_ROWS - 1)  # the scenario's row on top must still fit in one task

    if k <= MAX_EXACT_FEATURES and (1 << k) * b <= limit:
        method = "exact"
        masks = ((np.arange(1 << k)[:, None] >> np.arange(k)) & 1).astype(bool)  # coalition x feature
        in_coalition = np.tile(masks, (b, 1))
        background_of = np.repeat(np.arange(b), 1 << k)
        extra: dict[str, Any] = {}
        draws = 1 << k
    else:
        method = "sampled"
        permutations = (limit // (b * (k + 1))) // 2 * 2
        if permutations < 2:
            raise AnalysisError(
                f"Sampling Shapley values of {k} features against {b} background rows needs at "
                f"least {2 * b * (k + 1):,} rows, more than the budget of {limit:,}; "
                f"{'raise the budget or ' if limit < MAX_ROWS - 1 else ''}use fewer background rows."
            )
        order = _antithetic_permutations(k, permutations, rng)
        rank = np.argsort(order, axis=1)  # rank[p, j]: the step at which permutation p adds feature j
        steps = np.arange(k + 1)
        # (permutation, background, step, feature): in the coalition once added, i.e. rank < step
        in_coalition = np.broadcast_to(
            rank[:, None, None, :] < steps[None, None, :, None], (permutations, b, k + 1, k)
        ).reshape(-1, k)
        background_of = np.tile(np.repeat(np.arange(b), k + 1), permutations)
        step_of = np.tile(steps, permutations * b)
        names = np.array([f.name for f in schema.features] + [""], dtype=object)
        added = order[np.repeat(np.arange(permutations), b * (k + 1)), np.maximum(step_of - 1, 0)]
        extra = {
            "permutation": np.repeat(np.arange(permutations), b * (k + 1)),
            "step": step_of,
            "added": np.where(step_of == 0, names[-1], names[added]),
        }
        draws = permutations

    form = _coalition_columns(schema, base, rows, in_coalition, background_of)
    bookkeeping = _bookkeeping(schema, in_coalition, background_of, extra)
    answered = ask(schema, predict, request_frame(schema, form), bookkeeping, score_class)
    scores = answered.score[1:]

    if method == "exact":
        value = scores.reshape(b, 1 << k).mean(axis=0)  # v(S): the mean over background rows
        phi = _exact_shapley(value, k)
        std_error = np.zeros(k)
        base_score = float(value[0])
    else:
        phi, std_error = _sampled_shapley(scores.reshape(permutations, b, k + 1), rank)
        base_score = float(scores.reshape(permutations, b, k + 1)[0, :, 0].mean())

    summary = _summary(schema, base, phi, std_error)
    prediction = answered.scenario_score
    facts = {
        "method": method,
        "base_score": base_score,
        "prediction_score": prediction,
        "sum_check": float(np.sum(phi) - (prediction - base_score)),
        "background_rows": b,
        "background_left_out": left_out,
        "budget": budget,
        "rows": len(answered.sent),
        ("coalitions" if method == "exact" else "permutations"): draws,
    }
    return AnalysisResult(
        kind="contributions",
        scorer=answered.scorer,
        scenario=base,
        scenario_score=prediction,
        scenario_class=answered.scenario_class,
        sent=answered.sent,
        summary=summary,
        reading=_reading(summary, answered.scorer, base_score, prediction, b, background is None, method),
        tasks=1,
        facts=facts,
    )


def _background_rows(
    schema: FeatureSchema, background: pd.DataFrame | None, most: int, rng: np.random.Generator
) -> tuple[list[dict[str, Any]], int]:
    """The coerced background rows to use (at most ``most``, chosen at random) and how many did not fit."""
    if background is None:
        return [schema.coerce_values(schema.defaults())], 0
    missing = [f.name for f in schema.features if f.name not in background.columns]
    if missing:
        raise AnalysisError(
            f"The background rows have no column {missing[0]!r}"
            f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; give rows with "
            "every feature of the model, as the form holds them."
        )
    names = [f.name for f in schema.features]
    fitting, first_problem = [], ""
    for record in background[names].to_dict(orient="records"):
        try:
            fitting.append(schema.coerce_values({name: _plain(v) for name, v in record.items()}))
        except RowValidationError as invalid:
            first_problem = first_problem or str(invalid)
    if not fitting:
        detail = f" (the first: {first_problem})" if first_problem else ""
        raise AnalysisError(
            f"None of the {len(background):,} background rows fits the model{detail}; give rows "
            "with a valid value for every feature."
        )
    left_out = len(background) - len(fitting)
    if len(fitting) > most:
        chosen = np.sort(rng.choice(len(fitting), size=most, replace=False))
        fitting = [fitting[i] for i in chosen]
    return fitting, left_out


def _plain(value: Any) -> Any:
    """A pandas missing value as None (so it reads as missing), numpy scalars as Python values."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value


def _antithetic_permutations(k: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` permutations of range(k) (``count`` even): random ones, each followed by its reverse."""
    half = np.argsort(rng.random((count // 2, k)), axis=1)
    return np.stack([half, half[:, ::-1]], axis=1).reshape(count, k)


def _coalition_columns(
    schema: FeatureSchema,
    scenario: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    in_coalition: np.ndarray,
    background_of: np.ndarray,
) -> dict[str, list[Any]]:
    """Form columns: row 0 the scenario, then each coalition row (scenario's values in, background's out).

    Every value is the scenario's or a background row's, both coerced already, so every row is
    valid for the schema without a row-by-row check.
    """
    columns: dict[str, list[Any]] = {}
    for j, f in enumerate(schema.features):
        own = np.empty(len(rows), dtype=object)
        own[:] = [row[f.name] for row in rows]
        values = own[background_of]
        values[in_coalition[:, j]] = scenario[f.name]
        columns[f.name] = [scenario[f.name], *values.tolist()]
    return columns


def _bookkeeping(
    schema: FeatureSchema, in_coalition: np.ndarray, background_of: np.ndarray, extra: Mapping[str, np.ndarray]
) -> dict[str, list[Any]]:
    """Per row sent: its part, the background row it starts from, the features at the scenario's value."""
    k = len(schema.features)
    names = [f.name for f in schema.features]
    if k <= 62:
        # the names of each distinct coalition joined once, not once per row
        codes = in_coalition.astype(np.int64) @ (1 << np.arange(k, dtype=np.int64))
        texts = {code: ", ".join(n for j, n in enumerate(names) if code >> j & 1) for code in np.unique(codes).tolist()}
        coalition = [texts[code] for code in codes.tolist()]
    else:
        coalition = [", ".join(n for n, m in zip(names, mask, strict=True) if m) for mask in in_coalition]
    out: dict[str, list[Any]] = {
        "part": ["scenario", *["coalition"] * len(background_of)],
        "background": [-1, *background_of.tolist()],
        "coalition": [", ".join(names), *coalition],
    }
    for name, values in extra.items():
        first: Any = -1 if values.dtype.kind in "iu" else ""
        out[name] = [first, *values.tolist()]
    return out


def _exact_shapley(value: np.ndarray, k: int) -> np.ndarray:
    """Shapley values from v(S) for all 2^k coalitions (S as a bit mask of features), vectorised.

    phi_j = sum over S without j of |S|! (k - |S| - 1)! / k! x (v(S + j) - v(S)).
    """
    factorial = np.array([math.factorial(n) for n in range(k + 1)], dtype=float)
    weight = factorial[:-1] * factorial[::-1][1:] / factorial[k]  # weight[s] = s! (k - s - 1)! / k!
    masks = np.arange(1 << k)
    phi = np.empty(k)
    for j in range(k):
        without = masks[(masks >> j & 1) == 0]
        size = np.bitwise_count(without.astype(np.uint64)).astype(np.int64)
        phi[j] = float(np.dot(weight[size], value[without | (1 << j)] - value[without]))
    return phi


def _sampled_shapley(chains: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapley estimates and standard errors from chains (permutation, background, step) and each feature's rank.

    Feature j's draw in a chain is the score after adding it minus the score before; the draws of
    a permutation are averaged over the background, then the permutation and its reverse are
    averaged (antithetic), and the standard error is that of the mean of the pairs.
    """
    gains = np.diff(chains, axis=2)  # (permutation, background, step - 1): gain of the feature added at that step
    per_feature = np.take_along_axis(gains, np.broadcast_to(rank[:, None, :], gains.shape), axis=2)
    per_permutation = per_feature.mean(axis=1)  # (permutation, feature)
    pairs = per_permutation.reshape(-1, 2, per_permutation.shape[1]).mean(axis=1)
    phi = pairs.mean(axis=0)
    if len(pairs) < 2:
        return phi, np.full(phi.shape, np.nan)
    return phi, pairs.std(axis=0, ddof=1) / math.sqrt(len(pairs))


def _summary(
    schema: FeatureSchema, scenario: Mapping[str, Any], phi: np.ndarray, std_error: np.ndarray
) -> pd.DataFrame:
    """One row per feature, sorted by |contribution| (schema order for ties)."""
    summary = pd.DataFrame(
        {
            "feature": [f.name for f in schema.features],
            "value": [value_text(f, scenario[f.name]) for f in schema.features],
            "contribution": phi.astype(float),
            "std_error": std_error.astype(float),
            "size": np.abs(phi),
            "schema_order": np.arange(len(phi)),
        }
    )
    summary = summary.sort_values(["size", "schema_order"], ascending=[False, True], na_position="last")
    summary["rank"] = np.arange(1, len(summary) + 1)
    return summary[SUMMARY_COLUMNS].reset_index(drop=True)


def _amount(scorer: Scorer, value: float) -> str:
    """A change of score: "38 points" for a probability, "12.3" for a value."""
    if scorer.task == "classification":
        points = abs(value) * 100
        return f"{points:.0f} points" if points >= 1 or points == 0 else f"{points:.1f} points"
    return f"{abs(value):,.4g}"


def _reading(
    summary: pd.DataFrame,
    scorer: Scorer,
    base: float,
    prediction: float,
    background_rows: int,
    defaults: bool,
    method: str,
) -> str:
    """One or two sentences: the feature that moved the score most from the background, then the next."""
    if defaults:
        start = f"the default row's {format_score(scorer, base)}"
    elif background_rows == 1:
        start = f"the background row's {format_score(scorer, base)}"
    else:
        start = f"the {background_rows} background rows' average of {format_score(scorer, base)}"
    if summary.empty or not np.isfinite(summary["contribution"]).all():
        return "The model gave no usable score for some coalition rows, so the contributions cannot be read."
    top = summary.iloc[0]
    if top["contribution"] == 0:
        return (
            f"No feature moves {scorer.title} away from {start}: "
            f"this scenario scores {format_score(scorer, prediction)} too."
        )
    way = "up" if top["contribution"] > 0 else "down"
    first = (
        f"{top['feature']} ({top['value']}) pushed {scorer.title} {way} by "
        f"{_amount(scorer, top['contribution'])} from {start}"
    )
    if len(summary) > 1 and summary.iloc[1]["contribution"] != 0:
        second = summary.iloc[1]
        verb = "added" if second["contribution"] > 0 else "took away"
        first += f"; {second['feature']} ({second['value']}) {verb} {_amount(scorer, second['contribution'])}"
    estimate = " (sampled estimates, each with a standard error)" if method == "sampled" else ""
    return f"{first}. Together the features bring it to {format_score(scorer, prediction)}{estimate}."
