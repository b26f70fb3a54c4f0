"""What every analysis returns: the rows it sent with the model's answers, a tidy summary, a reading.

One shape for all analyses, so a chart builder, a CSV download, the command line's JSON and a
test all read the same thing (DESIGN.md, "Analyses").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from whatif.analysis.score import Scorer


@dataclass(frozen=True)
class AnalysisResult:
    """The outcome of one analysis around one scenario.

    ``sent``: every row sent to the model (its request columns), the model's answer for it
    (``prediction``, ``probability_<class>``) and the analysis' own bookkeeping columns
    (``feature``, ``value``...), in the order sent. ``summary``: one row per point, feature or
    pair, whatever the chart draws. ``facts``: the headline numbers (an H-squared, a flip rate
    with its interval...), JSON-ready.
    """

    kind: str
    scorer: Scorer
    scenario: dict[str, Any]
    scenario_score: float
    scenario_class: str | None
    sent: pd.DataFrame
    summary: pd.DataFrame
    reading: str
    tasks: int
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """How many rows the analysis sent."""
        return len(self.sent)

    def to_json(self) -> dict[str, Any]:
        """One JSON object: what was asked, the headline facts, the summary and every row sent with its answer."""
        return {
            "analysis": self.kind,
            "scenario": _plain(self.scenario),
            "score": {
                "title": self.scorer.title,
                "class": self.scorer.score_class,
                "threshold": self.scorer.threshold,
                "scenario": _plain(self.scenario_score),
                "scenario_class": self.scenario_class,
            },
            "reading": self.reading,
            "tasks": self.tasks,
            "facts": _plain(self.facts),
            "summary": _records(self.summary),
            "rows": _records(self.sent),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as plain JSON values (NaN as null)."""
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    """A JSON-ready copy: numpy scalars to Python, NaN and infinities to None, containers walked."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
