"""Helpers of the sensitivity, sweep and interaction tests: predicts that count their calls, models in-process."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from tests.conftest import SEED_TITANIC_ROW
from whatif.analysis import Predict
from whatif.analysis.grids import to_request_frame
from whatif.analysis.result import AnalysisResult
from whatif.analysis.runner import BatchPredictor, in_process_predict
from whatif.client import ModelClient
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.registry import LoadedModel, ModelRegistry
from whatif.server.samples import DEMO_BUCKET

SEED_PASSENGER = dict(SEED_TITANIC_ROW)  # a 29-year-old woman in 1st class: survives, unless she were a man


class Counted:
    """A Predict that counts its calls (= tasks) and the rows of each call."""

    def __init__(self, predict: Predict) -> None:
        self.predict = predict
        self.calls: list[int] = []

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(len(rows))
        return self.predict(rows)


def api_predict(client: ModelClient, path: str) -> tuple[Counted, BatchPredictor]:
    """The predict an analysis gets in the app: tasks of the real server (counted twice: calls and tasks)."""
    batch = BatchPredictor(client, path, DEMO_BUCKET, connection_key="test")
    return Counted(batch), batch


def loaded(server: EmbeddedServer, path: str) -> LoadedModel:
    return ModelRegistry(server.store).load(DEMO_BUCKET, path)


def local_predict(server: EmbeddedServer, path: str) -> Counted:
    """The same model run in this process: the reference answers to check an analysis' summary against."""
    return Counted(in_process_predict(loaded(server, path)))


def rescored(result: AnalysisResult, schema: FeatureSchema, predict: Predict) -> np.ndarray:
    """The scores of every row the analysis sent, asked again of ``predict`` (in-process)."""
    answers = predict(result.sent[schema.input_columns])
    return result.scorer.score(answers).to_numpy(dtype=float)


def assert_rows_are_valid(result: AnalysisResult, schema: FeatureSchema) -> None:
    """Every row sent is exactly what ``to_row`` makes of its own form values (so the server cannot refuse it)."""
    request = result.sent[schema.input_columns]
    forms = [schema.from_row(row) for row in request.to_dict(orient="records")]
    rebuilt = to_request_frame(schema, forms)
    assert np.allclose(rebuilt.to_numpy(dtype=float), request.to_numpy(dtype=float), rtol=0, atol=0)


def one_sentence(text: str) -> bool:
    """What the app shows as it is: one line, one sentence, no traceback."""
    return "\n" not in text and "Traceback" not in text and text.endswith(".") and not re.search(r"\.\s+[A-Z]", text)


def additive_or_product_schema() -> FeatureSchema:
    """Three plain numbers, for models written by hand."""
    return FeatureSchema(
        (Feature("a", "number", 0, 10, 3), Feature("b", "number", -5, 5, 1), Feature("c", "integer", 0, 20, 7)),
        name="hand-made",
        task="regression",
        target="y",
    )


def formula_predict(formula: Any) -> Predict:
    """A regression Predict computing ``formula(frame)`` per row."""

    def predict(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"prediction": np.asarray(formula(rows.reset_index(drop=True)), dtype=float)})

    return predict
