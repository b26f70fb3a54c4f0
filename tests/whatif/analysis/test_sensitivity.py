"""The tornado: every feature swept alone around the scenario, in ONE task of the real server."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from tests.whatif.analysis.explore_support import (
    SEED_PASSENGER,
    Counted,
    api_predict,
    assert_rows_are_valid,
    loaded,
    local_predict,
    one_sentence,
    rescored,
)
from whatif.analysis import AnalysisError
from whatif.analysis.grids import changed_features, feature_grid
from whatif.analysis.sensitivity import SUMMARY_COLUMNS, sensitivity
from whatif.client import ModelClient
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DIABETES_PATH, TITANIC_PATH


def test_titanic_tornado_is_one_task_and_matches_the_model_row_for_row(
    server: EmbeddedServer, client: ModelClient
) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    predict, batch = api_predict(client, TITANIC_PATH)

    result = sensitivity(schema, SEED_PASSENGER, predict)

    assert predict.calls == [result.rows] and batch.tasks_sent == 1 and result.tasks == 1
    assert result.rows == 1 + sum(len(feature_grid(f, SEED_PASSENGER[f.name], 10)) for f in schema.features)
    assert_rows_are_valid(result, schema)
    sent = result.sent
    assert sent.loc[0, schema.input_columns].to_dict() == pytest.approx(SEED_PASSENGER), "row 0 is the scenario"
    for _, row in sent.iloc[1:].iterrows():  # every other row changes its own feature, at most
        form = schema.from_row(row[schema.input_columns].to_dict())
        assert set(changed_features(schema, SEED_PASSENGER, form)) <= {row["feature"]}

    # the summary is the model's own answers to the same rows, read the same way
    scores = rescored(result, schema, local_predict(server, TITANIC_PATH))
    assert np.allclose(sent["score"].to_numpy(dtype=float), scores, atol=1e-9)
    for _, feature_row in result.summary.iterrows():
        mine = sent["feature"] == feature_row["feature"]
        assert feature_row["low"] == pytest.approx(scores[mine].min())
        assert feature_row["high"] == pytest.approx(scores[mine].max())
        at_low = sent.loc[mine].iloc[int(np.argmin(scores[mine]))]
        assert at_low["score"] == pytest.approx(feature_row["low"])
    assert result.scenario_score == pytest.approx(scores[0]) and result.scenario_class == "1"


def test_sex_is_the_strong_titanic_input_and_flips_the_class(client: ModelClient) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    predict, _ = api_predict(client, TITANIC_PATH)

    result = sensitivity(schema, SEED_PASSENGER, predict)

    summary = result.summary.set_index("feature")
    assert list(result.summary.columns) == SUMMARY_COLUMNS
    assert summary.loc["sex", "swing"] > 0.5 and bool(summary.loc["sex", "flips"])
    assert summary.loc["sex", "rank"] <= 2
    assert (summary.loc["sex", "value_at_low"], summary.loc["sex", "value_at_high"]) == ("male", "female")
    assert summary.loc["sex", "current"] == "female"
    assert result.summary["swing"].is_monotonic_decreasing
    assert result.summary["rank"].tolist() == list(range(1, len(schema.features) + 1))
    assert "sex" in result.facts["flipping"] and result.facts["features"] == 7
    assert result.reading.startswith(f"{result.summary['feature'].iloc[0]} moves P(survived) from ")
    assert "it is the input that matters most here" in result.reading and "from survived" in result.reading
    json.dumps(result.to_json())  # the command line's JSON holds every row


def test_a_one_hot_group_is_one_feature_of_the_credit_tornado(server: EmbeddedServer, client: ModelClient) -> None:
    schema = client.schema(CREDIT_PATHS[1], DEMO_BUCKET)
    scenario = schema.defaults()
    predict, batch = api_predict(client, CREDIT_PATHS[1])

    result = sensitivity(schema, scenario, predict)

    assert batch.tasks_sent == 1 and len(predict.calls) == 1
    assert result.summary["feature"].tolist().count("employment_status") == 1
    assert sorted(result.summary["feature"]) == ["average_monthly_income", "employment_status", "order_amount"]
    group = result.sent[result.sent["feature"] == "employment_status"]
    assert group["value"].tolist() == ["Employed", "Self-Employed", "Contract", "Other"]
    columns = group[list(schema.feature("employment_status").columns.values())]
    assert columns.sum(axis=1).tolist() == [1, 1, 1, 0], "one column at a time, none for Other"
    assert result.rows == 1 + sum(len(feature_grid(f, scenario[f.name], 10)) for f in schema.features)
    scores = rescored(result, schema, local_predict(server, CREDIT_PATHS[1]))
    row = result.summary.set_index("feature").loc["employment_status"]
    assert row["swing"] == pytest.approx(scores[group.index].max() - scores[group.index].min())


def test_a_regression_tornado_has_values_not_percents_and_no_flips(client: ModelClient) -> None:
    schema = client.schema(DIABETES_PATH, DEMO_BUCKET)
    predict, batch = api_predict(client, DIABETES_PATH)

    result = sensitivity(schema, schema.defaults(), predict, points=6, exclude=("sex",))

    assert batch.tasks_sent == 1
    assert result.scorer.threshold is None and result.scenario_class is None
    assert "sex" not in set(result.summary["feature"]) and result.facts["features"] == 9
    assert not result.summary["flips"].any() and result.facts["flipping"] == []
    assert "%" not in result.reading and "Predicted progression" in result.reading
    assert result.summary["high"].max() > 100, "a progression value, not a probability"


def test_a_wrong_name_or_nothing_to_vary_is_a_sentence_and_costs_no_task(server: EmbeddedServer) -> None:
    predict = local_predict(server, TITANIC_PATH)
    schema = loaded(server, TITANIC_PATH).schema

    with pytest.raises(AnalysisError) as unknown:
        sensitivity(schema, SEED_PASSENGER, predict, exclude=("agee",))
    assert str(unknown.value).startswith("'agee' is not a feature of this model; choose one of pclass, sex")
    with pytest.raises(AnalysisError, match="Every feature is excluded") as everything:
        sensitivity(schema, SEED_PASSENGER, predict, exclude=[f.name for f in schema.features])
    with pytest.raises(AnalysisError, match="'age' must be a finite number") as bad:
        sensitivity(schema, {**SEED_PASSENGER, "age": float("nan")}, predict)
    with pytest.raises(AnalysisError, match="not a class of this model") as wrong_class:
        sensitivity(schema, SEED_PASSENGER, predict, score_class="2")
    for error in (unknown, everything, bad, wrong_class):
        assert one_sentence(str(error.value)), str(error.value)
    assert predict.calls == []
    one_name = sensitivity(schema, SEED_PASSENGER, predict, exclude="sex")  # a name alone, not its letters
    assert "sex" not in set(one_name.summary["feature"]) and len(one_name.summary) == 6


def test_the_other_class_may_be_scored(server: EmbeddedServer) -> None:
    schema = loaded(server, TITANIC_PATH).schema
    survived = sensitivity(schema, SEED_PASSENGER, local_predict(server, TITANIC_PATH))
    died = sensitivity(schema, SEED_PASSENGER, local_predict(server, TITANIC_PATH), score_class="0")

    assert died.scorer.title == "P(died)"
    both = survived.summary.merge(died.summary, on="feature", suffixes=("", "_died"))
    assert np.allclose(both["swing"], both["swing_died"], atol=2e-6), "1 - p moves as far as p"
    assert np.allclose(both["low"], 1 - both["high_died"], atol=2e-6)


def wide_schema(features: int = 100) -> FeatureSchema:
    """A 100-feature model's schema: numbers with statistics, codes and one-hot groups."""
    parts = [Feature(f"x{i}", "number", 0, 10, 5, quantiles={"p05": 1, "p95": 9}) for i in range(features - 10)]
    parts += [Feature(f"c{i}", "integer", 0, 4, 0, labels={str(k): f"L{k}" for k in range(5)}) for i in range(5)]
    parts += [
        Feature(f"g{i}", "one_hot", columns={f"a{k}": f"g{i}_a{k}" for k in range(3)}, none_label="none", default="a0")
        for i in range(5)
    ]
    return FeatureSchema(tuple(parts), classes=(0, 1))


def test_a_100_feature_tornado_of_about_1000_rows_takes_the_python_side_little_time() -> None:
    schema = wide_schema()
    weights = np.random.default_rng(0).normal(size=len(schema.input_columns))

    def instant(rows: pd.DataFrame) -> pd.DataFrame:
        p = 1 / (1 + np.exp(-(rows.to_numpy(dtype=float) @ weights) / 30))
        return pd.DataFrame({"prediction": (p > 0.5).astype(int), "probability_0": 1 - p, "probability_1": p})

    predict = Counted(instant)
    sensitivity(schema, schema.defaults(), predict)  # warm the imports
    started = time.perf_counter()
    result = sensitivity(schema, schema.defaults(), predict)
    elapsed = time.perf_counter() - started

    assert 1000 <= result.rows <= 1300 and len(result.summary) == 100
    assert elapsed < 0.5, f"{elapsed:.3f} s for {result.rows} rows (measured about 0.03 s)"
    assert_rows_are_valid(result, schema)


def test_a_tornado_beyond_one_task_is_refused_before_anything_is_sent() -> None:
    schema = wide_schema(1000)
    predict = Counted(lambda rows: pd.DataFrame({"prediction": np.zeros(len(rows))}))
    with pytest.raises(AnalysisError, match=r"would send 1[0-9],[0-9]{3} rows, more than the 10,000 one task") as e:
        sensitivity(schema, schema.defaults(), predict)
    assert "fewer points" in str(e.value) and one_sentence(str(e.value)) and predict.calls == []
