"""Counterfactuals: the smallest changes to a scenario that reach a goal, found in a few large batches.

The peers search row by row (DiCE's genetic search, MOC's 175 generations, Growing Spheres'
shrinking layers); through a slow asynchronous API every round trip counts, so this search sends
a few LARGE batches instead, each ONE call of ``predict`` (ANALYSES.md, "Counterfactuals"):

1. explore (about 5,000 rows): the scenario (row 0), every single-feature change over a fine grid,
   random two- and three-feature changes, and growing-sphere samples at a few radii (random
   directions among the movable numbers scaled by each one's spread, categories switched more
   often further out); a space small enough is tried whole;
2. refine: for the cheapest candidates that reach the goal (one per set of changed features),
   "put changed features back" variants (every subset for up to 6 changes; each one, all but each
   one and random shares beyond) and line searches from the scenario's values to the candidate's
   (for each changed number, and for all of them together); while fewer alternatives than asked
   for are known, more exploration rides along in the same task. When nothing reached the goal,
   this round explores further out and around the candidates closest to it instead;
3. refine again only while the alternatives still get cheaper, within ``max_tasks`` calls and
   ``max_rows`` rows in all.

Candidates are rows of an ENCODED matrix, one float column per LOGICAL feature (numbers as
themselves, codes, one-hot groups and booleans as the index of their level), so generation,
clipping, costs and de-duplication are numpy work; every row sent goes through
``frames.request_frame``. Fixed features never move; numbers stay within their box (the bounds
given, else the training range widened to hold the scenario's value; a direction closes one side
at the scenario's value) and are rounded to a readable step; integers stay whole.

Cost: a Gower-style distance over logical features (a one-hot group counts once): a number's
|change| / its spread (the range without statistics), 1 for any other changed feature, averaged
over the features; ties go to fewer changed features. Alternatives are chosen greedily: each
changes a DIFFERENT set of features than those chosen before; a set holding a cheaper set that
meets the goal is left out (MOC would call it dominated: more changes for no less cost), and a set
far (Jaccard) from those chosen is preferred to a slightly cheaper one close to them. Every
alternative's answer is the one its task gave; nothing is interpolated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.frames import (
    BOOKKEEPING_PREFIX,
    MAX_ROWS,
    check_score_class,
    checked_scenario,
    feature_named,
    listed,
    request_frame,
    value_text,
)
from whatif.analysis.grids import feature_grid, feature_spread, is_numeric, levels
from whatif.analysis.result import AnalysisResult
from whatif.analysis.score import BINARY_THRESHOLD, Scorer, format_score, scorer_for
from whatif.runs import PROBABILITY_PREFIX
from whatif.schema import Feature, FeatureSchema

MAX_COUNT = 10  # alternatives one search may return
MAX_TASKS = 10
MIN_ROWS = 100  # a search of fewer rows cannot even try every single change of a small model
EXPLORE_ROWS = 5_000  # the first round, and a wider exploration when nothing reached the goal
GRID_POINTS = 20  # evenly spaced values of a number's box tried alone (plus the schema's grid)
NEAR_STEPS = (0.1, 0.25, 0.5, 1.0)  # small moves either side of the scenario's value, in spreads
MULTI_SHARE = 0.3  # of the first round: random two- and three-feature changes
OVERSAMPLE = 1.5  # random rows generated per row of budget: rounded to their steps, some coincide
SPHERE_LAYERS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # growing-sphere radii, in spreads (layer i: i-th to i+1-th)
WIDE_LAYERS = (4.0, 8.0)  # further out, when nothing reached the goal in the first round
SEED_SETS = 30  # cheapest sets of changed features refined in a round
CHOICE_SETS = 300  # cheapest sets of changed features the alternatives are chosen from
PUT_BACK_ALL_UP_TO = 6  # a candidate changing at most this many features gets every put-back subset tried
RANDOM_PUT_BACKS = 24  # random put-back variants of a candidate changing more features than that
LINE_POINTS = 8  # points of each line search, strictly between the scenario's value and the candidate's
TOLERANCE = 1e-12
SUMMARY_COLUMNS = ["rank", "changes", "n_changes", "cost", "score", "predicted"]
_OTHER_WORDS = frozenset(
    {
        "other",
        "other class",
        "another",
        "another class",
        "the other class",
        "any other class",
        "opposite",
        "the opposite",
        "flip",
        "flipped",
        "different",
        "a different class",
    }
)


@dataclass(frozen=True)
class Goal:
    """What the alternatives must reach.

    ``kind``: "class" (the model predicts ``target_class``, a class key as in ``probability_<class>``),
    "other_class" (any class but the scenario's) or "range" (a regression's prediction within
    [``low``, ``high``], either end open). A classifier's target class must also beat the others
    by ``margin`` (a binary model: its probability at least the threshold 0.5 + margin), so an
    alternative does not sit on the boundary where any noise flips it back.
    """

    kind: Literal["class", "other_class", "range"]
    target_class: str | None = None
    low: float | None = None
    high: float | None = None
    margin: float = 0.02


_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:e[-+]?\d+)?|[-+]?\.\d+(?:e[-+]?\d+)?"
_BELOW = re.compile(
    rf"^(?:under|below|less than|lower than|at most|no more than|up to|max(?:imum)?|<=?|≤)\s*"
    rf"({_NUMBER})$"
)
_ABOVE = re.compile(
    rf"^(?:over|above|more than|greater than|higher than|at least|no less than|min(?:imum)?|>=?|≥)"
    rf"\s*({_NUMBER})$"
)
_BETWEEN = re.compile(rf"^(?:between|from)?\s*({_NUMBER})\s*(?:and|to|\.\.|-|–)\s*({_NUMBER})$")


def goal_from_text(schema: FeatureSchema, text: str) -> Goal:
    """A goal as an analyst writes it: a class label or key ("survived", "1"), "another class", or for a
    regression a range ("under 150", "over 200", "between 100 and 150", "100-150"); AnalysisError otherwise."""
    said = " ".join(str(text).strip().casefold().split())
    if schema.task == "regression":
        if (match := _BELOW.match(said)) is not None:
            return Goal("range", high=_number(match.group(1)))
        if (match := _ABOVE.match(said)) is not None:
            return Goal("range", low=_number(match.group(1)))
        if (match := _BETWEEN.match(said)) is not None:
            low, high = sorted((_number(match.group(1)), _number(match.group(2))))
            return Goal("range", low=low, high=high)
        raise AnalysisError(
            f"Say the goal of a regression as a range of its prediction, such as 'under 150', "
            f"'over 200' or 'between 100 and 150', not {text!r}."
        )
    if said in _OTHER_WORDS or not said:
        return Goal("other_class")
    for key in (str(c) for c in schema.classes):
        if said in (_class_key(key).casefold(), schema.class_label(key).casefold()):
            return Goal("class", target_class=_class_key(key))
    if not schema.classes:  # a schema without classes: the text is the key, checked against the answers
        return Goal("class", target_class=_class_key(str(text).strip()))
    raise AnalysisError(
        f"{text!r} is not a class of this model; choose one of {_classes_text(schema)}, or 'another class'."
    )


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _class_key(value: Any) -> str:
    """1, 1.0, "1" and "1.0" are the class key "1"."""
    text = str(value.item() if hasattr(value, "item") else value).strip()
    return text[:-2] if text.endswith(".0") and text[:-2].lstrip("-").isdigit() else text


def _classes_text(schema: FeatureSchema) -> str:
    return ", ".join(
        f"{schema.class_label(c)} ({_class_key(c)})" if schema.class_label(c) != _class_key(c) else _class_key(c)
        for c in schema.classes
    )


def goal_text(schema: FeatureSchema, goal: Goal, scenario_class: str | None = None, classes: Sequence[str] = ()) -> str:
    """The goal as a reading says it: "survived", "a prediction other than died", "progression under 150"."""
    if goal.kind == "class":
        return schema.class_label(goal.target_class)
    if goal.kind == "other_class":
        others = [c for c in classes if c != scenario_class]
        if len(others) == 1:
            return schema.class_label(others[0])
        if scenario_class is None:
            return "another class"
        return f"a prediction other than {schema.class_label(scenario_class)}"
    what = schema.target or "the prediction"
    if goal.low is not None and goal.high is not None:
        return f"{what} between {goal.low:,.4g} and {goal.high:,.4g}"
    if goal.high is not None:
        return f"{what} under {goal.high:,.4g}"
    return f"{what} over {goal.low:,.4g}"


def counterfactuals(
    schema: FeatureSchema,
    scenario: Mapping[str, Any],
    predict: Predict,
    *,
    goal: Goal | None = None,
    fixed: Sequence[str] = (),
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    directions: Mapping[str, Literal["up", "down"]] | None = None,
    count: int = 3,
    seed: int = 0,
    max_tasks: int = 4,
    max_rows: int = 25_000,
    score_class: str | None = None,
) -> AnalysisResult:
    """Up to ``count`` small, different changes of ``scenario`` that reach ``goal``, in at most ``max_tasks``
    calls of ``predict`` and ``max_rows`` rows in all (each call one task: at most 10,000 rows).

    ``goal``: default "other_class" for classifiers; a regression needs a range. ``fixed``:
    features that must not change. ``bounds``: per number, the (low, high) it may take, either end
    None for its training range (widened to hold the scenario's value). ``directions``: per number,
    "up" or "down" only. ``seed`` makes the random parts of the search repeatable.

    Every alternative was predicted by the model in the search (its answer is the task's, never
    extrapolated) and meets the goal with its margin. ``summary``: one row per alternative (rank,
    changes as text, n_changes, cost, score, predicted, then its form values). ``sent``: every row
    sent with its answer and bookkeeping (round, candidate, parent, source, changed, n_changes,
    cost, goal_gap, meets_goal, score, flips). ``facts``: goal, found, alternatives, closest (the
    candidate nearest the goal when none reached it), tasks, rows, fixed, bounds, directions, rounds.
    """
    _check_counts(count, max_tasks, max_rows)
    check_score_class(schema, score_class)
    base = checked_scenario(schema, scenario)
    held = _fixed_names(schema, fixed)
    goal = _checked_goal(schema, goal)
    space = _Space.build(schema, base, held, dict(bounds or {}), dict(directions or {}))
    search = _Search(schema, space, predict, goal, count, max_rows, np.random.default_rng(seed))
    search.run(max_tasks, score_class)
    return search.result(held, dict(bounds or {}), dict(directions or {}))


# ---- checks ------------------------------------------------------------------------------------------------------
def _whole(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


def _check_counts(count: int, max_tasks: int, max_rows: int) -> None:
    if not _whole(count) or not 1 <= count <= MAX_COUNT:
        raise AnalysisError(f"Ask for 1 to {MAX_COUNT} alternatives (a whole number), not {count!r}.")
    if not _whole(max_tasks) or not 1 <= max_tasks <= MAX_TASKS:
        raise AnalysisError(
            f"A counterfactual search may take 1 to {MAX_TASKS} tasks (a whole number), not {max_tasks!r}."
        )
    if not _whole(max_rows) or max_rows < MIN_ROWS:
        raise AnalysisError(
            f"A counterfactual search needs a budget of at least {MIN_ROWS} rows (a whole number), not {max_rows!r}."
        )


def _fixed_names(schema: FeatureSchema, fixed: Sequence[str]) -> list[str]:
    names = [fixed] if isinstance(fixed, str) else list(fixed)  # one name given alone is one name
    held = [feature_named(schema, str(name)).name for name in names]
    if len(set(held)) == len(schema.features):
        raise AnalysisError("Every feature is held fixed, so nothing can change; free at least one.")
    return [f.name for f in schema.features if f.name in set(held)]


def _checked_goal(schema: FeatureSchema, goal: Goal | None) -> Goal:
    """The goal to search for, or AnalysisError when it does not fit the model."""
    if goal is None:
        if schema.task == "regression":
            raise AnalysisError(
                "A regression needs a goal range, such as 'under 150' or 'over 200'; say which predictions to reach."
            )
        return Goal("other_class")
    if goal.kind not in ("class", "other_class", "range"):
        raise AnalysisError(f"A goal is a class, another class or a range, not {goal.kind!r}.")
    if not isinstance(goal.margin, int | float) or isinstance(goal.margin, bool) or not 0 <= goal.margin < 0.5:
        raise AnalysisError(
            f"The goal's margin is a probability from 0 to below 0.5, such as 0.02, not {goal.margin!r}."
        )
    if goal.kind == "range":
        if schema.task != "regression":
            raise AnalysisError(
                "A range goal is for regressions; this model is a classifier, so ask for a class or for another class."
            )
        ends = [end for end in (goal.low, goal.high) if end is not None]
        if not ends:
            raise AnalysisError("A range goal needs a low end, a high end or both, such as 'under 150'.")
        if any(isinstance(end, bool) or not isinstance(end, int | float) or not math.isfinite(end) for end in ends):
            raise AnalysisError("The ends of a range goal must be finite numbers.")
        if goal.low is not None and goal.high is not None and goal.low > goal.high:
            raise AnalysisError(
                f"The goal range runs from {goal.low:,.4g} up to {goal.high:,.4g}: its low end is "
                "above its high end; swap them."
            )
        return goal
    if schema.task == "regression":
        raise AnalysisError("A regression has no classes; give its goal as a range, such as 'under 150'.")
    if goal.kind == "class":
        if goal.target_class is None or not str(goal.target_class).strip():
            raise AnalysisError("A class goal needs the class to reach; name one of the model's classes.")
        key = _class_key(goal.target_class)
        if schema.classes and key not in {_class_key(c) for c in schema.classes}:
            raise AnalysisError(
                f"{goal.target_class!r} is not a class of this model; choose one of {_classes_text(schema)}."
            )
        return Goal("class", target_class=key, margin=float(goal.margin))
    return Goal("other_class", margin=float(goal.margin))


# ---- the encoded space -------------------------------------------------------------------------------------------
@dataclass
class _Space:
    """Candidates as an encoded matrix (rows x logical features): numbers as values, other kinds as level indexes."""

    schema: FeatureSchema
    names: list[str]
    numeric: np.ndarray  # bool per feature: a number or plain integer
    integer: np.ndarray  # bool per feature: whole values only
    movable: np.ndarray  # bool per feature: not fixed
    base: np.ndarray  # the scenario, encoded
    low: np.ndarray  # box per feature (levels: 0 .. n - 1)
    high: np.ndarray
    step: np.ndarray  # numbers: the rounding step (integers 1); other kinds 1
    decimals: np.ndarray  # numbers: decimals that step needs
    spread: np.ndarray  # numbers: the size of a typical change, for spheres; other kinds 1
    cost_scale: np.ndarray  # numbers: what one unit of cost is
    levels: list[list[Any]]  # per feature: its levels (form values), [] for numbers
    singles: list[np.ndarray] = field(default_factory=list)  # per feature: encoded values tried alone

    @classmethod
    def build(
        cls,
        schema: FeatureSchema,
        base: Mapping[str, Any],
        held: Sequence[str],
        bounds: Mapping[str, tuple[float | None, float | None]],
        directions: Mapping[str, str],
    ) -> _Space:
        """The space of allowed changes; AnalysisError for bounds or directions that make no sense."""
        for name in (*bounds, *directions):
            feature_named(schema, str(name))
        features = schema.features
        k = len(features)
        space = cls(
            schema,
            [f.name for f in features],
            np.array([is_numeric(f) for f in features], dtype=bool),
            np.array([f.type == "integer" for f in features], dtype=bool),
            np.array([f.name not in set(held) for f in features], dtype=bool),
            np.zeros(k),
            np.zeros(k),
            np.zeros(k),
            np.ones(k),
            np.zeros(k, dtype=np.int64),
            np.ones(k),
            np.ones(k),
            [],
        )
        for j, f in enumerate(features):
            value = base[f.name]
            if not is_numeric(f):
                if f.name in bounds or f.name in directions:
                    which = "Bounds" if f.name in bounds else "Directions"
                    raise AnalysisError(
                        f"{which} apply to numbers, and {f.name!r} is a category; hold it fixed or leave it free."
                    )
                space.levels.append(levels(f))
                space.base[j] = space.levels[j].index(value)
                space.high[j] = len(space.levels[j]) - 1
                continue
            space.levels.append([])
            space.base[j] = float(value)
            spread = feature_spread(f) or (abs(float(value)) or 1.0)
            space.spread[j] = spread
            space.cost_scale[j] = _cost_scale(f, float(value))
            space.step[j], space.decimals[j] = (1.0, 0) if f.type == "integer" else _rounding(f, spread)
            space.low[j], space.high[j] = _box(
                f, float(value), spread, bounds.get(f.name), directions.get(f.name), held=f.name in set(held)
            )
        space.singles = [space._single_values(j, features[j]) if space.movable[j] else np.zeros(0) for j in range(k)]
        return space

    @property
    def k(self) -> int:
        return len(self.names)

    def _single_values(self, j: int, feature: Feature) -> np.ndarray:
        """Encoded values tried for feature j alone: every other level, or a fine grid of the number's box."""
        if not self.numeric[j]:
            return np.array([i for i in range(len(self.levels[j])) if i != self.base[j]], dtype=float)
        low, high, value = self.low[j], self.high[j], self.base[j]
        near = [value + sign * share * self.spread[j] for share in NEAR_STEPS for sign in (-1, 1)]
        schema_grid = [float(v) for v in feature_grid(feature, value, GRID_POINTS)]
        tried = np.array([*np.linspace(low, high, GRID_POINTS), *schema_grid, *near, low, high], dtype=float)
        column = self.tidy_column(j, tried)
        return np.unique(column[column != value])

    def tidy_column(self, j: int, values: np.ndarray) -> np.ndarray:
        """Values of number j rounded to its step (a value within half a step of the scenario's snaps back to it),
        then clipped to its box."""
        step, value = self.step[j], self.base[j]
        rounded = np.round(np.round(values / step) * step, int(self.decimals[j]))
        rounded = np.where(np.abs(values - value) < step / 2, value, rounded)
        return np.clip(rounded, self.low[j], self.high[j])

    def tidy(self, matrix: np.ndarray) -> np.ndarray:
        """Candidates made allowed: fixed features at the scenario's value, numbers rounded and in their box,
        level indexes whole and in range."""
        out = np.array(matrix, dtype=float, copy=True)
        if out.size == 0:
            return out.reshape(0, self.k)
        for j in range(self.k):
            if not self.movable[j]:
                out[:, j] = self.base[j]
            elif self.numeric[j]:
                out[:, j] = self.tidy_column(j, out[:, j])
            else:
                out[:, j] = np.clip(np.round(out[:, j]), 0, len(self.levels[j]) - 1)
        return out + 0.0  # -0.0 becomes 0.0: the same row, and the same key when de-duplicating

    def allowed(self, matrix: np.ndarray) -> np.ndarray:
        """True for rows that keep every fixed feature and every number within its box (a last safety net)."""
        fixed_kept = (matrix[:, ~self.movable] == self.base[~self.movable]).all(axis=1)
        numbers = self.numeric & self.movable
        inside = ((matrix[:, numbers] >= self.low[numbers]) & (matrix[:, numbers] <= self.high[numbers])).all(axis=1)
        whole = (matrix[:, self.integer | ~self.numeric] == np.round(matrix[:, self.integer | ~self.numeric])).all(
            axis=1
        )
        return np.asarray(fixed_kept & inside & whole, dtype=bool)

    def changed(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(matrix != self.base, dtype=bool)

    def cost(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cost, number of changed features) per row: Gower-style, numbers by |change| / scale, others 1 if changed."""
        difference = np.abs(matrix - self.base)
        shares = np.where(self.numeric, difference / self.cost_scale, (difference != 0).astype(float))
        return shares.sum(axis=1) / self.k, (difference != 0).sum(axis=1)

    def form_columns(self, matrix: np.ndarray) -> dict[str, Any]:
        """Form columns (coerced values per logical feature) of encoded rows, for ``frames.request_frame``."""
        columns: dict[str, Any] = {}
        for j, name in enumerate(self.names):
            column = matrix[:, j]
            if self.numeric[j]:
                columns[name] = column.astype(np.int64) if self.integer[j] else column.astype(float)
            else:
                columns[name] = np.asarray(self.levels[j], dtype=object)[column.astype(np.int64)]
        return columns

    def form_row(self, vector: np.ndarray) -> dict[str, Any]:
        """One encoded row as plain form values."""
        out: dict[str, Any] = {}
        for j, name in enumerate(self.names):
            if self.numeric[j]:
                out[name] = int(vector[j]) if self.integer[j] else float(vector[j])
            else:
                level = self.levels[j][int(vector[j])]
                out[name] = level.item() if hasattr(level, "item") else level
        return out


def _cost_scale(feature: Feature, value: float) -> float:
    """A number's unit of cost: its spread when the schema has statistics, else its range, else its size."""
    if (feature.spread or 0) > 0 or {"p25", "p75"} <= set(feature.quantiles):
        spread = feature_spread(feature)
        if spread:
            return spread
    if feature.min is not None and feature.max is not None and feature.max > feature.min:
        return float(feature.max - feature.min)
    return abs(value) or 1.0


def _rounding(feature: Feature, spread: float) -> tuple[float, int]:
    """(step, decimals) a changed number is rounded to: the form's step when it is small next to the spread
    (ages in whole years), else about a hundredth of the spread."""
    if feature.step is not None and 0 < feature.step <= spread / 4:
        step = float(feature.step)
    else:
        step = 10.0 ** math.floor(math.log10(spread / 100))
    decimals = max(0, -math.floor(math.log10(step)) + 1)
    return step, decimals


def _box(
    feature: Feature,
    value: float,
    spread: float,
    bound: tuple[float | None, float | None] | None,
    direction: str | None,
    *,
    held: bool,
) -> tuple[float, float]:
    """Where a number may go: the bounds given, else its training range widened to hold the scenario's value
    (4 spreads either side without a range); a direction closes one side at the scenario's value."""
    low_bound, high_bound = _checked_bound(feature.name, bound)
    if direction is not None and direction not in ("up", "down"):
        raise AnalysisError(f"The direction of {feature.name!r} is 'up' or 'down', not {direction!r}.")
    if held:
        if (low_bound is not None and value < low_bound) or (high_bound is not None and value > high_bound):
            raise AnalysisError(
                f"{feature.name!r} is held fixed at {value:g}, outside its bounds; free it or widen the bounds."
            )
        return value, value
    low = (
        low_bound
        if low_bound is not None
        else min(value, feature.min if feature.min is not None else value - 4 * spread)
    )
    high = (
        high_bound
        if high_bound is not None
        else max(value, feature.max if feature.max is not None else value + 4 * spread)
    )
    if direction == "up":
        low = max(low, value)
    elif direction == "down":
        high = min(high, value)
    if feature.type == "integer":
        low, high = math.ceil(low), math.floor(high)
    if low > high:
        where = f" {direction} from {value:g}" if direction else ""
        kind = "whole number" if feature.type == "integer" else "value"
        raise AnalysisError(f"No {kind} of {feature.name!r} lies within its bounds{where}; widen the bounds.")
    return float(low), float(high)


def _checked_bound(name: str, bound: Any) -> tuple[float | None, float | None]:
    if bound is None:
        return None, None
    try:
        low, high = bound
    except (TypeError, ValueError):
        raise AnalysisError(f"The bounds of {name!r} are a pair (low, high), either end None, not {bound!r}.") from None
    for end in (low, high):
        if end is not None and (
            isinstance(end, bool) or not isinstance(end, int | float | np.number) or not math.isfinite(float(end))
        ):
            raise AnalysisError(f"The bounds of {name!r} must be finite numbers or None, not {end!r}.")
    if low is not None and high is not None and low > high:
        raise AnalysisError(
            f"The bounds of {name!r} run from {low:g} up to {high:g}: the low end is above the high end; swap them."
        )
    return (None if low is None else float(low)), (None if high is None else float(high))


# ---- goal --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Judge:
    """How far past the goal each answer is (goal_gap >= 0 meets it), read from the model's answers only."""

    goal: Goal
    scorer: Scorer
    scenario_class: str | None

    def gap(self, answers: pd.DataFrame, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(goal_gap, meets_goal) per answer row, ``predicted`` its class keys; NaN answers are -inf and never meet
        it."""
        if self.goal.kind == "range":
            value = pd.to_numeric(answers["prediction"], errors="coerce").to_numpy(dtype=float)
            low = -math.inf if self.goal.low is None else self.goal.low
            high = math.inf if self.goal.high is None else self.goal.high
            gap = np.nan_to_num(np.minimum(value - low, high - value), nan=-math.inf)
            return gap, gap >= 0
        predicted = predicted.astype(str)
        targets = (
            [str(self.goal.target_class)]
            if self.goal.kind == "class"
            else [c for c in self.scorer.classes if c != self.scenario_class]
        )
        columns = [PROBABILITY_PREFIX + c for c in self.scorer.classes]
        probabilities = None
        if columns and all(c in answers.columns for c in columns):
            probabilities = answers[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        gap = np.full(len(answers), -math.inf)
        met = np.zeros(len(answers), dtype=bool)
        for target in targets:
            if probabilities is None or target not in self.scorer.classes:
                mine = np.where(predicted == target, 1.0, -1.0)  # no probabilities: the class alone
            else:
                i = self.scorer.classes.index(target)
                others = np.delete(probabilities, i, axis=1)
                best_other = others.max(axis=1) if others.shape[1] else np.zeros(len(answers))
                if len(self.scorer.classes) == 2:  # beat the threshold: p >= 0.5 + margin
                    mine = probabilities[:, i] - BINARY_THRESHOLD - self.goal.margin
                else:  # beat every other class by the margin
                    mine = probabilities[:, i] - best_other - self.goal.margin
                mine = np.nan_to_num(mine, nan=-math.inf)
            mine = np.where(np.abs(mine) < TOLERANCE, 0.0, mine)  # 0.52 - 0.5 - 0.02 is 0, not -1e-17
            gap = np.maximum(gap, mine)
            met |= (mine >= 0) & (predicted == target)
        return gap, met


# ---- the search --------------------------------------------------------------------------------------------------
@dataclass
class _Round:
    matrix: np.ndarray
    source: list[str]
    parent: np.ndarray  # candidate id each row was refined from, -1 for none


class _Search:
    """The rounds of one search and everything they sent and got back (per row sent, in order)."""

    def __init__(
        self,
        schema: FeatureSchema,
        space: _Space,
        predict: Predict,
        goal: Goal,
        count: int,
        max_rows: int,
        rng: np.random.Generator,
    ) -> None:
        self.schema, self.space, self.predict, self.goal = schema, space, predict, goal
        self.count, self.max_rows, self.rng = count, max_rows, rng
        self.requests: list[pd.DataFrame] = []
        self.answers: list[pd.DataFrame] = []
        self.sources: list[str] = []
        self.seen: set[bytes] = set()
        self.tasks = 0
        self.judge: _Judge | None = None
        self.scenario_met = False
        self.rounds: list[dict[str, Any]] = []
        self._chosen: tuple[int, list[int]] = (-1, [])
        # per row sent, grown by each round
        self.matrix = np.zeros((0, space.k))
        self.round_of = np.zeros(0, dtype=np.int64)
        self.parent = np.zeros(0, dtype=np.int64)
        self.allowed = np.zeros(0, dtype=bool)  # a candidate within every rule (row 0, the scenario, is not one)
        self.cost = np.zeros(0)
        self.n_changes = np.zeros(0, dtype=np.int64)
        self.predicted = np.zeros(0, dtype=object)  # class keys (classifiers)
        self.gap = np.zeros(0)
        self.met = np.zeros(0, dtype=bool)

    @property
    def rows(self) -> int:
        return len(self.matrix)

    # -- sending
    def send(self, plan: _Round, limit: int) -> None:
        """Tidy, de-duplicate (against everything sent before) and send at most ``limit`` rows of one round, in
        their order, as ONE call of ``predict``; then judge the answers (once the judge is known)."""
        space = self.space
        first = self.rows == 0
        matrix = space.tidy(plan.matrix)
        keep = space.allowed(matrix)
        if first:  # row 0 is the scenario itself, even when the bounds exclude its values
            matrix[0] = space.base
            keep[0] = True
        fresh = []
        for i in np.flatnonzero(keep):
            key = matrix[i].tobytes()
            if key not in self.seen:
                self.seen.add(key)
                fresh.append(i)
        room = min(limit, MAX_ROWS, self.max_rows - self.rows)
        chosen = np.asarray(fresh[:room], dtype=np.int64)
        if len(chosen) == 0:
            return
        matrix = matrix[chosen]
        request = request_frame(self.schema, space.form_columns(matrix))
        answers = self.predict(request)
        self.tasks += 1
        if len(answers) != len(request):
            raise AnalysisError(
                f"The model answered {len(answers):,} rows for the {len(request):,} sent, so answers "
                "cannot be matched to rows; run the analysis again."
            )
        self.requests.append(request)
        self.answers.append(answers.reset_index(drop=True))
        self.sources += [plan.source[i] for i in chosen]
        allowed = np.ones(len(chosen), dtype=bool)
        allowed[0] = allowed[0] and not first
        cost, n_changes = space.cost(matrix)
        self.matrix = np.vstack([self.matrix, matrix])
        self.round_of = np.concatenate([self.round_of, np.full(len(chosen), len(self.requests), dtype=np.int64)])
        self.parent = np.concatenate([self.parent, plan.parent[chosen]])
        self.allowed = np.concatenate([self.allowed, allowed])
        self.cost = np.concatenate([self.cost, cost])
        self.n_changes = np.concatenate([self.n_changes, n_changes])
        if self.judge is not None:
            self._judge_last_round()

    def _judge_last_round(self) -> None:
        """Goal gap, meets-goal and predicted class of the rows of the last round."""
        assert self.judge is not None
        answers = self.answers[-1]
        allowed = self.allowed[-len(answers) :]
        predicted = _predicted_keys(self.judge.scorer, answers)
        gap, met = self.judge.gap(answers, predicted)
        self.predicted = np.concatenate([self.predicted, predicted])
        self.gap = np.concatenate([self.gap, gap])
        self.met = np.concatenate([self.met, met & allowed])

    # -- the rounds
    def run(self, max_tasks: int, score_class: str | None) -> None:
        budget = min(EXPLORE_ROWS, self.max_rows, MAX_ROWS)
        self.send(self.explore(budget), budget)
        first = self.answers[0]
        try:
            scorer = scorer_for(
                self.schema,
                first,
                score_class
                if score_class is not None
                else (self.goal.target_class if self.goal.kind == "class" else None),
            )
        except ValueError as exc:
            raise AnalysisError(str(exc)) from None
        scenario_class = None if scorer.task == "regression" else str(scorer.predicted_class(first.iloc[:1]).iloc[0])
        if self.goal.kind == "class" and self.goal.target_class not in scorer.classes:
            raise AnalysisError(
                f"{self.goal.target_class!r} is not a class of this model; choose one of {', '.join(scorer.classes)}."
            )
        if self.goal.kind == "other_class" and score_class is None and len(scorer.classes) == 2:
            other = next(c for c in scorer.classes if c != scenario_class)
            scorer = scorer_for(self.schema, first, other)  # the class to reach is the one to watch
        self.judge = _Judge(self.goal, scorer, scenario_class)
        self._judge_last_round()
        head = first.iloc[:1]
        self.scenario_met = bool(self.judge.gap(head, _predicted_keys(scorer, head))[1][0])
        self._note_round("explore")
        if self.scenario_met:
            return
        last, before = "explore", self._objective()
        while self.tasks < max_tasks and self.rows < self.max_rows:
            now = self._objective()
            if last != "explore" and now >= before:
                break  # the last round found nothing better: another would not either
            room = min(MAX_ROWS, self.max_rows - self.rows)
            plan, kind = (self.refine(room), "refine") if self.met.any() else (self.explore_wider(room), "wide")
            tasks = self.tasks
            before = now
            self.send(plan, room)
            if self.tasks == tasks:
                break  # nothing new to try
            self._note_round(kind)
            last = kind

    def _objective(self) -> tuple[float, float]:
        """What a round must lower to earn another: (minus the alternatives found, their total cost); without any,
        (1, minus the best goal gap)."""
        chosen = self.choose()
        if chosen:
            return (-float(len(chosen)), float(self.cost[chosen].sum()))
        allowed = self.allowed
        best = float(self.gap[allowed].max()) if allowed.any() else -math.inf
        return (1.0, -best)

    def _note_round(self, kind: str) -> None:
        chosen = self.choose()
        self.rounds.append(
            {
                "round": len(self.requests),
                "kind": kind,
                "rows": int(len(self.requests[-1])),
                "found": len(chosen),
                "best_cost": float(self.cost[chosen[0]]) if chosen else None,
            }
        )

    # -- choosing
    def best_per_set(self) -> list[int]:
        """The cheapest candidate meeting the goal for each set of changed features, cheapest first."""
        order = np.flatnonzero(self.met)
        if len(order) == 0:
            return []
        order = order[np.lexsort((order, self.n_changes[order], self.cost[order]))]
        changed = self.space.changed(self.matrix[order])
        keys = np.packbits(changed, axis=1)
        best: dict[bytes, int] = {}
        for position, i in enumerate(order):
            best.setdefault(keys[position].tobytes(), int(i))
        return list(best.values())

    def choose(self) -> list[int]:
        """Up to ``count`` candidates, each changing another set of features. A set holding a cheaper (or as cheap)
        set that meets the goal only adds changes (MOC would call it dominated) and is left out: it catches the
        tiny changes of irrelevant features a sphere sample carries along. Of the rest, greedily, the lowest cost
        divided by (0.5 + 0.5 x the Jaccard distance of its set to the nearest chosen set), fewer changes on ties."""
        if self._chosen[0] == self.rows:
            return list(self._chosen[1])
        masks: dict[int, int] = {}
        cheaper: list[int] = []
        candidates: list[int] = []
        for i in self.best_per_set()[:CHOICE_SETS]:  # cheapest first: a set's cheaper subsets come before it
            mask = sum(1 << int(j) for j in np.flatnonzero(self.matrix[i] != self.space.base))
            if not any(subset & mask == subset for subset in cheaper):
                candidates.append(i)
                masks[i] = mask
            cheaper.append(mask)
        chosen: list[int] = []
        while candidates and len(chosen) < self.count:

            def priority(i: int) -> tuple[float, int, float, int]:
                near = min(
                    (1 - (masks[i] & masks[c]).bit_count() / (masks[i] | masks[c]).bit_count() for c in chosen),
                    default=1.0,
                )
                return (float(self.cost[i]) / (0.5 + 0.5 * near), int(self.n_changes[i]), float(self.cost[i]), i)

            pick = min(candidates, key=priority)
            chosen.append(pick)
            candidates.remove(pick)
        self._chosen = (self.rows, chosen)
        return list(chosen)

    def closest(self) -> int | None:
        """The candidate nearest the goal (highest goal gap, then lowest cost), or None when none was allowed."""
        allowed = np.flatnonzero(self.allowed)
        if len(allowed) == 0:
            return None
        order = np.lexsort((allowed, self.n_changes[allowed], self.cost[allowed], -self.gap[allowed]))
        return int(allowed[order[0]])

    # -- plans
    def explore(self, budget: int) -> _Round:
        """The first round: the scenario, single changes, random two- and three-feature changes, growing spheres;
        the whole space when it is small enough."""
        space = self.space
        base = space.base[None, :]
        options = [
            np.concatenate([[space.base[j]], space.singles[j]]) if space.movable[j] else space.base[j : j + 1]
            for j in range(space.k)
        ]
        total = math.prod(len(o) for o in options)
        if total <= budget:
            grid = np.array(np.meshgrid(*options, indexing="ij")).reshape(space.k, -1).T
            return _Round(grid, ["scenario", *["every combination"] * (len(grid) - 1)], np.full(len(grid), -1))
        singles = []
        for j in np.flatnonzero(space.movable):
            block = np.repeat(base, len(space.singles[j]), axis=0)
            block[:, j] = space.singles[j]
            singles.append(block)
        single = np.vstack(singles) if singles else np.zeros((0, space.k))
        if len(single) > budget * 0.6:  # a very wide model: a random share of its single changes
            single = single[np.sort(self.rng.choice(len(single), int(budget * 0.6), replace=False))]
        left = int(max(0, budget - 1 - len(single)) * OVERSAMPLE)  # rounding makes some rows alike
        multi = self.multi_changes(int(left * MULTI_SHARE))
        spheres = self.spheres(self.space.base, left - len(multi), SPHERE_LAYERS)
        mixed = np.vstack([multi, spheres])
        mixed_sources = np.array(
            ["two or three changes"] * len(multi) + ["growing sphere"] * len(spheres), dtype=object
        )
        shuffled = self.rng.permutation(len(mixed))  # the rows beyond the budget are cut from both kinds alike
        matrix = np.vstack([base, single, mixed[shuffled]])
        sources = ["scenario", *["one change"] * len(single), *mixed_sources[shuffled].tolist()]
        return _Round(matrix, sources, np.full(len(matrix), -1))

    def multi_changes(self, n: int) -> np.ndarray:
        """``n`` rows changing two or three random movable features, each to a random value it is tried at alone."""
        space = self.space
        movable = np.flatnonzero(space.movable & np.array([len(s) > 0 for s in space.singles]))
        if len(movable) < 2 or n <= 0:
            return np.zeros((0, space.k))
        sizes = self.rng.integers(2, min(3, len(movable)) + 1, size=n)
        order = np.argsort(self.rng.random((n, len(movable))), axis=1)
        picked = order < sizes[:, None]  # rows x movable: the first `size` of a random order
        rows = np.repeat(space.base[None, :], n, axis=0)
        for column, j in enumerate(movable):
            mine = picked[:, column]
            rows[mine, j] = self.rng.choice(space.singles[j], size=int(mine.sum()))
        return rows

    def spheres(self, centre: np.ndarray, n: int, layers: Sequence[float], switch_scale: float = 4.0) -> np.ndarray:
        """``n`` growing-sphere samples around ``centre``: uniform in spherical layers of the movable numbers
        (radii in spreads), categories switched with probability radius / ``switch_scale`` (at most 1/2)."""
        space = self.space
        if n <= 0:
            return np.zeros((0, space.k))
        numbers = np.flatnonzero(space.movable & space.numeric)
        categories = np.flatnonzero(space.movable & ~space.numeric)
        rows = np.repeat(centre[None, :], n, axis=0)
        layer = self.rng.integers(0, len(layers) - 1, size=n)
        inner, outer = np.asarray(layers)[layer], np.asarray(layers)[layer + 1]
        d = max(1, len(numbers))
        inside = (inner / outer) ** d  # the share of the ball within the inner radius (no overflow for many numbers)
        radius = outer * (self.rng.random(n) * (1 - inside) + inside) ** (1 / d)
        if len(numbers):
            direction = self.rng.normal(size=(n, len(numbers)))
            direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
            rows[:, numbers] += direction * radius[:, None] * space.spread[numbers]
        switch = np.minimum(0.5, radius / switch_scale)
        for j in categories:
            n_levels = len(space.levels[j])
            if n_levels < 2:
                continue
            flip = self.rng.random(n) < switch
            shift = self.rng.integers(1, n_levels, size=n)
            rows[flip, j] = (rows[flip, j] + shift[flip]) % n_levels
        return rows

    def explore_wider(self, budget: int) -> _Round:
        """When nothing reached the goal: spheres further out, samples around the candidates closest to it, and
        random rows anywhere in the box."""
        space = self.space
        n_far, n_near = budget // 3, budget // 3
        far = self.spheres(space.base, n_far, WIDE_LAYERS, switch_scale=2.0)
        allowed = np.flatnonzero(self.allowed)
        nearest = allowed[np.argsort(-self.gap[allowed], kind="stable")][:20]
        around = [
            self.spheres(self.matrix[i], max(1, n_near // max(1, len(nearest))), (0.0, 0.5, 1.0)) for i in nearest
        ]
        near = np.vstack(around) if around else np.zeros((0, space.k))
        parents = np.repeat(nearest, [len(a) for a in around]) if around else np.zeros(0, dtype=np.int64)
        anywhere = self.anywhere(budget - len(far) - len(near))
        matrix = np.vstack([far, near, anywhere])
        sources = ["wider sphere"] * len(far) + ["around the closest"] * len(near) + ["anywhere"] * len(anywhere)
        return _Round(matrix, sources, np.concatenate([np.full(len(far), -1), parents, np.full(len(anywhere), -1)]))

    def anywhere(self, n: int) -> np.ndarray:
        """``n`` rows with every movable feature drawn at random within its box or levels."""
        space = self.space
        rows = np.repeat(space.base[None, :], max(0, n), axis=0)
        for j in np.flatnonzero(space.movable):
            if space.numeric[j]:
                rows[:, j] = self.rng.uniform(space.low[j], space.high[j], size=len(rows))
            else:
                rows[:, j] = self.rng.integers(0, len(space.levels[j]), size=len(rows))
        return rows

    def refine(self, budget: int) -> _Round:
        """For the alternatives chosen so far, then the cheapest other sets meeting the goal: put changed features
        back (every subset of a few changes; each one, all but each one and random shares of many), and line
        searches from the scenario's values, for each changed number (of a few) and for all of them together.
        While fewer alternatives than asked for are known, exploration fills the rest of the task."""
        space = self.space
        chosen = self.choose()
        seeds = list(dict.fromkeys([*chosen, *self.best_per_set()]))[: max(SEED_SETS, len(chosen))]
        blocks: list[np.ndarray] = []
        sources: list[str] = []
        parents: list[int] = []
        t = np.arange(1, LINE_POINTS + 1) / (LINE_POINTS + 1)
        for i in seeds:
            candidate = self.matrix[i]
            changed = np.flatnonzero(candidate != space.base)
            restore = _put_back_masks(len(changed), self.rng)
            backs = np.repeat(candidate[None, :], len(restore), axis=0)
            for row, mask in enumerate(restore):
                backs[row, changed[mask]] = space.base[changed[mask]]
            lines = []
            for j in changed[space.numeric[changed]] if len(changed) <= PUT_BACK_ALL_UP_TO else ():
                line = np.repeat(candidate[None, :], LINE_POINTS, axis=0)
                line[:, j] = space.base[j] + t * (candidate[j] - space.base[j])
                lines.append(line)
            numbers = changed[space.numeric[changed]]
            if len(numbers) > 1 or (len(numbers) and len(numbers) < len(changed)):
                together = np.repeat(candidate[None, :], LINE_POINTS, axis=0)
                together[:, numbers] = space.base[numbers] + t[:, None] * (candidate[numbers] - space.base[numbers])
                lines.append(together)
            line_rows = np.vstack(lines) if lines else np.zeros((0, space.k))
            blocks += [backs, line_rows]
            sources += ["put back"] * len(backs) + ["line search"] * len(line_rows)
            parents += [i] * (len(backs) + len(line_rows))
        if len(chosen) < self.count:
            used = sum(len(b) for b in blocks)
            extra = max(0, min(EXPLORE_ROWS, budget) - used)
            more = np.vstack(
                [self.multi_changes(extra // 2), self.spheres(space.base, extra - extra // 2, SPHERE_LAYERS)]
            )
            blocks.append(more)
            sources += ["more exploration"] * len(more)
            parents += [-1] * len(more)
        matrix = np.vstack(blocks) if blocks else np.zeros((0, space.k))
        return _Round(matrix, sources, np.asarray(parents, dtype=np.int64))

    # -- the result
    def result(self, held: list[str], bounds: Mapping[str, Any], directions: Mapping[str, Any]) -> AnalysisResult:
        assert self.judge is not None
        space, schema, scorer = self.space, self.schema, self.judge.scorer
        answers = pd.concat(self.answers, ignore_index=True)
        request = pd.concat(self.requests, ignore_index=True)
        score = scorer.score(answers).to_numpy(dtype=float)
        predicted = self.predicted
        scenario_class = self.judge.scenario_class
        flips = (predicted != predicted[0]) if scenario_class is not None else np.zeros(len(answers), dtype=bool)
        chosen = [] if self.scenario_met else self.choose()
        closest = None if chosen or self.scenario_met else self.closest()
        bookkeeping = {
            "round": self.round_of,
            "candidate": np.arange(self.rows),
            "parent": self.parent,
            "source": self.sources,
            "changed": _changed_text(space.changed(self.matrix), space.names),
            "n_changes": self.n_changes,
            "cost": self.cost,
            "goal_gap": self.gap,
            "meets_goal": self.met,
            "score": score,
            "flips": np.asarray(flips, dtype=bool),
        }
        taken = set(request.columns) | set(answers.columns)
        extra = pd.DataFrame({(BOOKKEEPING_PREFIX + k if k in taken else k): v for k, v in bookkeeping.items()})
        answer_columns = answers[[c for c in answers.columns if c not in request.columns]]
        sent = pd.concat([request, answer_columns, extra], axis=1)

        entries = [self._entry(i, rank, request, answers, score, predicted) for rank, i in enumerate(chosen, 1)]
        closest_entry = None if closest is None else self._entry(closest, None, request, answers, score, predicted)
        classes = scorer.classes
        goal_words = goal_text(schema, self.goal, scenario_class, classes)
        base = space.form_row(space.base)
        facts = {
            "goal": {
                "kind": self.goal.kind,
                "target_class": self.goal.target_class,
                "label": None if self.goal.target_class is None else schema.class_label(self.goal.target_class),
                "low": self.goal.low,
                "high": self.goal.high,
                "margin": self.goal.margin if self.goal.kind != "range" else None,
                "text": goal_words,
            },
            "found": len(entries),
            "alternatives": entries,
            "closest": closest_entry,
            "scenario_meets_goal": self.scenario_met,
            "tasks": self.tasks,
            "rows": self.rows,
            "fixed": list(held),
            "bounds": {name: [None if e is None else float(e) for e in pair] for name, pair in bounds.items()},
            "directions": dict(directions),
            "rounds": self.rounds,
        }
        summary = self._summary(entries)
        reading = _reading(
            schema,
            scorer,
            goal_words,
            entries,
            closest_entry,
            self.scenario_met,
            float(score[0]),
            bool(held or bounds or directions),
        )
        return AnalysisResult(
            kind="counterfactual",
            scorer=scorer,
            scenario=base,
            scenario_score=float(score[0]),
            scenario_class=scenario_class,
            sent=sent,
            summary=summary,
            reading=reading,
            tasks=self.tasks,
            facts=facts,
        )

    def _entry(
        self,
        i: int,
        rank: int | None,
        request: pd.DataFrame,
        answers: pd.DataFrame,
        score: np.ndarray,
        predicted: np.ndarray,
    ) -> dict[str, Any]:
        """One alternative (or the closest candidate) as plain JSON values, its answer exactly the task's."""
        space, schema = self.space, self.schema
        values = space.form_row(self.matrix[i])
        base = space.form_row(space.base)
        changes = {name: [base[name], values[name]] for name in space.names if values[name] != base[name]}
        shares = np.where(space.numeric, np.abs(self.matrix[i] - space.base) / space.cost_scale, 1.0)
        change_costs = {name: float(shares[space.names.index(name)]) for name in changes}
        shown = {
            name: [value_text(schema.feature(name), old), value_text(schema.feature(name), new)]
            for name, (old, new) in changes.items()
        }
        text = "; ".join(f"{name} {old} → {new}" for name, (old, new) in shown.items())
        # column by column: a row of ints and floats read as one Series would turn the codes into floats
        row = {str(c): _plain(request[c].iat[i]) for c in request.columns}  # exactly the row sent
        answer = {str(c): _plain(answers[c].iat[i]) for c in answers.columns}
        label = (
            schema.class_label(predicted[i])
            if self.judge and self.judge.scenario_class is not None
            else answer.get("prediction")
        )
        return {
            "rank": rank,
            "candidate": i,
            "round": int(self.round_of[i]),
            "values": values,
            "row": row,
            "answer": answer,
            "changes": changes,
            "shown": shown,
            "change_costs": change_costs,
            "text": text,
            "n_changes": int(self.n_changes[i]),
            "cost": float(self.cost[i]),
            "score": float(score[i]),
            "predicted": label,
            "goal_gap": float(self.gap[i]),
        }

    def _summary(self, entries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        own = {name: (BOOKKEEPING_PREFIX + name if name in self.space.names else name) for name in SUMMARY_COLUMNS}
        records = []
        for entry in entries:
            record = {
                own["rank"]: entry["rank"],
                own["changes"]: entry["text"],
                own["n_changes"]: entry["n_changes"],
                own["cost"]: entry["cost"],
                own["score"]: entry["score"],
                own["predicted"]: entry["predicted"],
            }
            records.append({**record, **entry["values"]})
        return pd.DataFrame.from_records(records, columns=[*own.values(), *self.space.names])


def _put_back_masks(m: int, rng: np.random.Generator) -> np.ndarray:
    """Which of ``m`` changed features to put back, one row per variant: every non-empty proper subset when
    ``m`` is small, else each one alone, all but each one, and random quarters, halves and three quarters
    (a model of many inputs gets sparser round after round)."""
    if m <= 1:
        return np.zeros((0, m), dtype=bool)
    if m <= PUT_BACK_ALL_UP_TO:
        codes = np.arange(1, (1 << m) - 1)
        return ((codes[:, None] >> np.arange(m)) & 1).astype(bool)
    alone = np.eye(m, dtype=bool)
    shares = np.repeat([0.25, 0.5, 0.75], RANDOM_PUT_BACKS // 3)
    random = rng.random((len(shares), m)) < shares[:, None]
    return np.vstack([alone, ~alone, random])


def _predicted_keys(scorer: Scorer, answers: pd.DataFrame) -> np.ndarray:
    """``scorer.predicted_class`` of every answer row, read once per distinct prediction (its per-row reading
    costs about 0.1 s per 10,000 rows); rows whose prediction names no class are left to the scorer itself."""
    if scorer.task == "regression" or "prediction" not in answers.columns or answers.empty:
        return (
            np.asarray(scorer.predicted_class(answers), dtype=object)
            if scorer.task != "regression"
            else np.full(len(answers), None, dtype=object)
        )
    codes, uniques = pd.factorize(answers["prediction"])
    per_unique = np.asarray(
        scorer.predicted_class(pd.DataFrame({"prediction": np.asarray(uniques, dtype=object)})), dtype=object
    )
    known = np.array([key in scorer.classes for key in per_unique], dtype=bool)
    keys = np.full(len(answers), None, dtype=object)
    readable = codes >= 0
    readable[readable] = known[codes[readable]]
    keys[readable] = per_unique[codes[readable]]
    if not readable.all():
        keys[~readable] = np.asarray(scorer.predicted_class(answers.loc[~readable]), dtype=object)
    return keys


def _changed_text(changed: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The names of the changed features of each row, "age, fare", written once per distinct set."""
    if len(changed) == 0:
        return np.zeros(0, dtype=object)
    packed = np.packbits(changed, axis=1)
    codes, _ = pd.factorize(pd.Series([row.tobytes() for row in packed], dtype=object))  # hashing, not sorting
    first = np.unique(codes, return_index=True)[1]
    texts = np.array([", ".join(np.asarray(names, dtype=object)[changed[i]]) for i in first], dtype=object)
    return texts[codes]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _change_words(schema: FeatureSchema, entry: Mapping[str, Any]) -> str:
    """ "pclass to 1st and age to 12" """
    parts = [f"{name} to {value_text(schema.feature(name), new)}" for name, (_old, new) in entry["changes"].items()]
    return listed(parts, most=4)


def _reading(
    schema: FeatureSchema,
    scorer: Scorer,
    goal_words: str,
    entries: Sequence[Mapping[str, Any]],
    closest: Mapping[str, Any] | None,
    scenario_met: bool,
    scenario_score: float,
    limited: bool,
) -> str:
    """One or two sentences: the ways found, or that none was and how close the search came."""
    if scenario_met:
        return (
            f"The scenario already gives {goal_words} ({scorer.title} {format_score(scorer, scenario_score)}), "
            "so there is nothing to change."
        )
    if entries:
        ways = ", or ".join(
            f"{_change_words(schema, e)} ({e['n_changes']} change{'s' if e['n_changes'] != 1 else ''})" for e in entries
        )
        return f"{len(entries)} way{'s' if len(entries) != 1 else ''} to get {goal_words}: change {ways}."
    where = "within the bounds" if limited else "within the training ranges"
    if closest is None:
        return f"No change {where} gives {goal_words}, and no allowed change could be tried."
    return (
        f"No change {where} gives {goal_words}; the closest tried reaches {scorer.title} "
        f"{format_score(scorer, closest['score'])} by changing {listed(list(closest['changes']))}."
    )
