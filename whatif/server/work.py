"""What a prediction task does: run the model on the checked rows and lay out the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from whatif.server.registry import LoadedModel, predict_frame


def prediction_work(
    model: LoadedModel, frame: pd.DataFrame, rows: list[dict[str, Any]], only_prediction: bool
) -> Callable[[], list[dict[str, Any]]]:
    """A function that returns the result records, in the order of the request rows.

    Each record is the input row plus ``prediction`` (and ``probability_<class>``), or only
    the prediction columns when ``only_prediction``.
    """

    def work() -> list[dict[str, Any]]:
        predictions: list[dict[str, Any]] = predict_frame(model, frame).to_dict("records")
        if only_prediction:
            return predictions
        return [{**row, **prediction} for row, prediction in zip(rows, predictions, strict=True)]

    return work
