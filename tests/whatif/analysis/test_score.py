"""Scores, predicted classes and flips, on real answers of the sample models (and a hand-made multiclass case)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SEED_TITANIC_ROW
from whatif.analysis.grids import feature_grid, to_request_frame, with_changes
from whatif.analysis.score import format_score, scorer_for
from whatif.client import ModelClient
from whatif.schema import Feature, FeatureSchema
from whatif.server.samples import DEMO_BUCKET, DIABETES_PATH, TITANIC_PATH


def titanic_answers(client: ModelClient) -> tuple[FeatureSchema, pd.DataFrame]:
    """The seed passenger (row 0, a 1st-class woman who survives) and her sweep over class and sex."""
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    scenario = dict(SEED_TITANIC_ROW)
    rows = [scenario] + [with_changes(scenario, {"pclass": p, "sex": s}) for p in (0, 1, 2) for s in (0, 1)]
    answers = client.predict(
        to_request_frame(schema, rows), TITANIC_PATH, DEMO_BUCKET, return_only_prediction=True
    ).predictions
    return schema, answers


def test_a_binary_classifier_is_scored_by_the_probability_of_its_positive_class(client: ModelClient) -> None:
    schema, answers = titanic_answers(client)
    scorer = scorer_for(schema, answers)

    assert (scorer.task, scorer.score_class, scorer.classes) == ("classification", "1", ("0", "1"))
    assert scorer.title == "P(survived)"
    assert scorer.threshold == 0.5
    scores = scorer.score(answers)
    assert scores.tolist() == answers["probability_1"].astype(float).tolist()
    predicted = scorer.predicted_class(answers)
    assert predicted.tolist() == answers["prediction"].astype(str).tolist()
    assert ((scores > 0.5) == (predicted == "1")).all(), "the predicted class agrees with the threshold"
    assert predicted.iloc[0] == "1", "the seed passenger survives"
    flips = scorer.flips(answers, predicted.iloc[0])
    assert flips.tolist() == (predicted != "1").tolist()
    assert flips.any(), "a 3rd-class man does not survive: a flip"
    assert format_score(scorer, float(scores.iloc[0])) == f"{round(scores.iloc[0] * 100):.0f} %"


def test_the_analyst_may_score_the_other_class(client: ModelClient) -> None:
    schema, answers = titanic_answers(client)
    scorer = scorer_for(schema, answers, score_class="0")
    assert scorer.title == "P(died)"
    assert scorer.score(answers).tolist() == answers["probability_0"].astype(float).tolist()
    assert scorer_for(schema, answers, score_class=0).score_class == "0", "a class given as its value"
    assert scorer_for(schema, answers, score_class="Died").score_class == "0", "a class given as its label"
    with pytest.raises(ValueError, match=r"'7' is not a class of this model; choose one of died \(0\), survived \(1\)"):
        scorer_for(schema, answers, score_class="7")


def test_a_regression_is_scored_by_its_predicted_value(client: ModelClient) -> None:
    schema = client.schema(DIABETES_PATH, DEMO_BUCKET)
    scenario = schema.defaults()
    rows = [with_changes(scenario, {"bmi": v}) for v in feature_grid(schema.feature("bmi"), scenario["bmi"])]
    answers = client.predict(
        to_request_frame(schema, rows), DIABETES_PATH, DEMO_BUCKET, return_only_prediction=True
    ).predictions
    scorer = scorer_for(schema, answers)

    assert (scorer.task, scorer.score_class, scorer.classes, scorer.threshold) == ("regression", None, (), None)
    assert scorer.title == "Predicted progression"
    scores = scorer.score(answers)
    assert scores.tolist() == answers["prediction"].astype(float).tolist()
    assert scores.max() > scores.min(), "body mass index moves the prediction"
    assert not scorer.flips(answers, "whatever").any(), "a regression has no classes to flip"
    assert scorer.predicted_class(answers).tolist() == [str(v) for v in answers["prediction"].tolist()]
    assert format_score(scorer, 151.23456) == "151.2"
    assert format_score(scorer, 12345.6) == "1.235e+04"
    assert format_score(scorer, math.nan) == "n/a"


MULTICLASS = FeatureSchema(
    (Feature("x", "number", 0, 1),),
    task="classification",
    target="species",
    classes=("setosa", "versicolor", "virginica"),
    class_labels={"setosa": "Setosa", "versicolor": "Versicolor", "virginica": "Virginica"},
)


def multiclass_answers() -> pd.DataFrame:
    probabilities = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    frame = pd.DataFrame(probabilities, columns=[f"probability_{c}" for c in MULTICLASS.classes])
    frame.insert(0, "prediction", ["versicolor", "setosa", "virginica", None])  # an answer without its class
    return frame


def test_a_multiclass_model_is_scored_by_the_scenario_class_unless_told_otherwise() -> None:
    answers = multiclass_answers()
    scorer = scorer_for(MULTICLASS, answers)
    assert scorer.classes == ("setosa", "versicolor", "virginica")
    assert scorer.score_class == "versicolor", "row 0 is the scenario, and it predicts versicolor"
    assert scorer.title == "P(Versicolor)"
    assert scorer.threshold is None
    assert scorer.score(answers).tolist() == [0.7, 0.3, 0.2, 0.3]
    assert scorer.predicted_class(answers).tolist() == ["versicolor", "setosa", "virginica", "virginica"]
    assert scorer.flips(answers, "versicolor").tolist() == [False, True, True, True]

    chosen = scorer_for(MULTICLASS, answers, score_class="virginica")
    assert chosen.score(answers).tolist() == [0.1, 0.1, 0.7, 0.4]
    assert chosen.title == "P(Virginica)"


def test_numeric_class_values_in_any_spelling_name_the_same_class() -> None:
    schema = FeatureSchema((Feature("x", "number", 0, 1),), classes=(0, 1, 2))
    answers = pd.DataFrame(
        {
            "prediction": [2.0, "1", 0, "elephant"],
            "probability_0": [0.1, 0.2, 0.5, 0.2],
            "probability_1": [0.2, 0.6, 0.3, 0.7],
            "probability_2": [0.7, 0.2, 0.2, 0.1],
        }
    )
    scorer = scorer_for(schema, answers)
    assert scorer.score_class == "2"
    assert scorer.predicted_class(answers).tolist() == ["2", "1", "0", "1"], "an unknown answer: highest probability"


def test_a_classifier_without_probabilities_scores_its_predicted_class() -> None:
    schema = FeatureSchema((Feature("x", "number", 0, 1),), classes=(0, 1), class_labels={"1": "yes"})
    answers = pd.DataFrame({"prediction": [1, 0, 1]})
    scorer = scorer_for(schema, answers)
    assert (scorer.score_class, scorer.title) == ("1", "P(yes)")
    assert scorer.score(answers).tolist() == [1.0, 0.0, 1.0]
    assert scorer.flips(answers, "1").tolist() == [False, True, False]
    assert format_score(scorer, 1.0) == "100 %"
