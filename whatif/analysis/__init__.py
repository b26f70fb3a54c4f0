"""Analyses of one model beyond one prediction: sweeps, sensitivity, maps, Shapley values, robustness,
counterfactuals (DESIGN.md, "Analyses").

Every analysis is a pure function of (schema, scenario or rows, parameters, ``predict``), where
``predict`` is BATCHED: it takes many request rows and answers them all, as one task of the API
(``whatif.analysis.runner.BatchPredictor``) or in-process in tests (``runner.in_process_predict``).
The number of ``predict`` calls is the number of tasks, so analyses keep it to one.

    grids.py   values to try per feature kind, request frames, jitter, distances over logical features
    score.py   what a row's "score" is (a class's probability, or the predicted value) and class flips
    runner.py  the batched predict that talks to the API: split, progress, cache

Nothing here imports Streamlit: the pages show progress and draw results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import pandas as pd

Predict: TypeAlias = Callable[[pd.DataFrame], pd.DataFrame]
"""Batched predictions: REQUEST rows (columns ``schema.input_columns``, one-hot groups as their 0/1 columns)
in, one answer row per input row out, in the same order, index 0..n-1, with the column ``prediction`` and,
for classifiers, ``probability_<class>`` columns."""


class AnalysisError(ValueError):
    """An analysis could not be done; ``str(error)`` is one sentence saying what happened and what to do."""


__all__ = ["AnalysisError", "Predict"]
