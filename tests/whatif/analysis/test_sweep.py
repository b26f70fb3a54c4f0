"""One-input sweeps (ICE curves, partial dependence) in ONE task of the real server."""

from __future__ import annotations

import json
import re

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
from whatif.analysis.grids import feature_grid
from whatif.analysis.sweep import SUMMARY_COLUMNS, sweep
from whatif.client import ModelClient
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DIABETES_PATH, TITANIC_PATH, titanic_frame


def passengers(n: int, start: int = 100) -> pd.DataFrame:
    """Real titanic3 passengers as form values (the Titanic model's form values are its request columns)."""
    return titanic_frame().drop(columns="survived").iloc[start : start + n].reset_index(drop=True)


def curves_of(summary: pd.DataFrame) -> pd.DataFrame:
    """Scores as a table: one column per curve, one row per grid point."""
    return summary.pivot(index="point", columns="curve", values="score")


def test_ice_over_50_rows_is_one_task_and_the_average_is_the_mean_of_the_curves(
    server: EmbeddedServer, client: ModelClient
) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    predict, batch = api_predict(client, TITANIC_PATH)
    background = passengers(50)

    result = sweep(schema, SEED_PASSENGER, predict, "age", background=background)

    grid = feature_grid(schema.feature("age"), SEED_PASSENGER["age"], 40)
    assert predict.calls == [1 + len(grid) * 51] and batch.tasks_sent == 1 and result.tasks == 1
    assert list(result.summary.columns) == SUMMARY_COLUMNS
    curves = curves_of(result.summary)
    assert set(curves.columns) == {"scenario", "average", *(f"row {i}" for i in range(1, 51))}
    rows = curves[[f"row {i}" for i in range(1, 51)]]
    assert np.allclose(curves["average"], rows.mean(axis=1), atol=1e-12)
    assert result.summary.loc[result.summary["curve"] == "scenario", "value"].tolist() == grid

    # every curve is the model's answers for that row with age set to the grid's values
    scores = rescored(result, schema, local_predict(server, TITANIC_PATH))
    assert np.allclose(result.sent["score"], scores, atol=1e-9)
    row_7 = result.sent[result.sent["curve"] == "row 7"]
    assert (row_7["fare"] == background.loc[6, "fare"]).all() and row_7["age"].tolist() == grid
    assert np.allclose(rows["row 7"], scores[row_7.index])
    assert_rows_are_valid(result, schema)

    facts = result.facts
    scenario_curve = curves["scenario"]
    assert (facts["min_score"], facts["max_score"]) == (
        pytest.approx(scenario_curve.min()),
        pytest.approx(scenario_curve.max()),
    )
    assert facts["value_at_max"] == grid[int(np.argmax(scenario_curve.to_numpy()))]
    age = schema.feature("age")
    assert facts["training_range"] == [age.min, age.max] and facts["threshold"] == 0.5
    assert facts["curves"] == 50 and facts["feature"] == "age"
    assert "Averaged over 50 rows" in result.reading and result.reading.startswith("P(survived) is highest")
    average = curves["average"]
    peak = grid[int(np.argmax(average.to_numpy()))]
    assert (
        f"it ranges between {average.min() * 100:.0f} % and {average.max() * 100:.0f} % "
        f"(highest at age {float(peak):.3g})." in result.reading
    ), result.reading
    assert "0.1667" in map(str, grid) and not re.search(r"\d\.\d{4}", result.reading), "values to 3 figures"
    json.dumps(result.to_json())


def test_centred_curves_start_at_zero_and_their_average_is_the_centred_average(server: EmbeddedServer) -> None:
    schema = loaded(server, TITANIC_PATH).schema
    predict = local_predict(server, TITANIC_PATH)
    plain = sweep(schema, SEED_PASSENGER, predict, "fare", background=passengers(30), points=12)
    centred = sweep(schema, SEED_PASSENGER, predict, "fare", background=passengers(30), points=12, centred=True)

    flat, moved = curves_of(plain.summary), curves_of(centred.summary)
    assert np.allclose(moved.iloc[0], 0.0)
    rows = [c for c in flat.columns if c.startswith("row ")]
    assert np.allclose(moved[rows], flat[rows] - flat[rows].iloc[0], atol=1e-12)
    assert np.allclose(moved["average"], moved[rows].mean(axis=1), atol=1e-12)
    assert centred.facts["centred"] and centred.facts["max_score"] == plain.facts["max_score"], (
        "facts stay in score units"
    )


def test_curves_are_drawn_with_the_seed_and_fit_the_limit(server: EmbeddedServer) -> None:
    schema = loaded(server, TITANIC_PATH).schema
    predict = local_predict(server, TITANIC_PATH)
    background = passengers(300, start=0)

    first = sweep(schema, SEED_PASSENGER, predict, "age", background=background, max_curves=20, points=8)
    again = sweep(schema, SEED_PASSENGER, predict, "age", background=background, max_curves=20, points=8)
    other = sweep(schema, SEED_PASSENGER, predict, "age", background=background, max_curves=20, points=8, seed=1)

    def names(result: object) -> set[str]:
        return {c for c in result.summary["curve"] if c.startswith("row ")}  # type: ignore[attr-defined]

    assert len(names(first)) == 20 and names(first) == names(again) and names(first) != names(other)

    predict.calls.clear()
    with pytest.raises(AnalysisError) as refused:
        sweep(schema, SEED_PASSENGER, predict, "age", background=background, max_curves=300)
    size = len(feature_grid(schema.feature("age"), SEED_PASSENGER["age"], 40))
    fit = (10_000 - 1 - size) // size
    message = str(refused.value)
    assert f"300 curves of {size} points would send {1 + size * 301:,} rows" in message
    assert f"ask for at most {fit} curves" in message and one_sentence(message)
    assert predict.calls == [], "refused before anything is sent"
    sweep(schema, SEED_PASSENGER, predict, "age", background=background, max_curves=fit)  # exactly fits
    assert predict.calls == [1 + size * (fit + 1)]


def test_a_category_is_swept_over_its_labels(client: ModelClient) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    predict, batch = api_predict(client, TITANIC_PATH)

    result = sweep(schema, SEED_PASSENGER, predict, "sex")

    assert batch.tasks_sent == 1 and predict.calls == [3]
    assert result.summary["value"].tolist() == ["female", "male"] and set(result.summary["curve"]) == {"scenario"}
    assert result.summary["flips"].tolist() == [False, True]
    assert result.facts["training_range"] is None and result.facts["value_at_max"] == "female"
    assert result.facts["current_value"] == "female"
    assert "1 of 2 values turns the prediction from survived to died" in result.reading


def test_the_one_hot_group_is_swept_with_request_rows_as_background(client: ModelClient) -> None:
    schema = client.schema(CREDIT_PATHS[0], DEMO_BUCKET)
    sample = pd.DataFrame(client.sample_rows(CREDIT_PATHS[0], DEMO_BUCKET, n=12).rows)  # one-hot 0/1 columns
    predict, batch = api_predict(client, CREDIT_PATHS[0])

    result = sweep(schema, schema.defaults(), predict, "employment_status", background=sample)

    assert batch.tasks_sent == 1 and predict.calls == [1 + 4 * 13]
    assert result.summary.loc[result.summary["curve"] == "scenario", "value"].tolist() == [
        "Employed",
        "Self-Employed",
        "Contract",
        "Other",
    ]
    other = result.sent[result.sent["value"] == "Other"]
    assert (other[list(schema.feature("employment_status").columns.values())] == 0).all().all()
    assert (result.sent.loc[1:, "average_monthly_income"].iloc[4:8] == sample.loc[0, "average_monthly_income"]).all()


def test_a_regression_sweep_has_values_and_no_threshold(client: ModelClient) -> None:
    schema = client.schema(DIABETES_PATH, DEMO_BUCKET)
    predict, batch = api_predict(client, DIABETES_PATH)

    result = sweep(schema, schema.defaults(), predict, "bmi", points=15)

    assert batch.tasks_sent == 1
    assert result.facts["threshold"] is None and result.scenario_class is None
    assert not result.summary["flips"].any() and "%" not in result.reading
    assert result.facts["max_score"] > 100


def test_unknown_features_and_bad_background_rows_are_sentences(server: EmbeddedServer) -> None:
    schema = loaded(server, TITANIC_PATH).schema
    predict = Counted(local_predict(server, TITANIC_PATH))

    with pytest.raises(AnalysisError) as unknown:
        sweep(schema, SEED_PASSENGER, predict, "agee")
    assert str(unknown.value) == (
        "'agee' is not a feature of this model; choose one of pclass, sex, age, sibsp, parch, fare, embarked."
    )
    broken = passengers(5).astype({"age": object})
    broken.loc[3, "age"] = "old"
    with pytest.raises(AnalysisError, match=r"^Background row 4 does not fit the model: 'age' expected a number"):
        sweep(schema, SEED_PASSENGER, predict, "fare", background=broken)
    with pytest.raises(AnalysisError, match="no column 'embarked'"):
        sweep(schema, SEED_PASSENGER, predict, "fare", background=passengers(5).drop(columns="embarked"))
    with pytest.raises(AnalysisError, match="at least 2 points"):
        sweep(schema, SEED_PASSENGER, predict, "fare", points=1)
    assert predict.calls == []
    extra = passengers(3).assign(survived=1, name="x")  # a file's other columns are ignored
    assert sweep(schema, SEED_PASSENGER, predict, "fare", background=extra, points=5).facts["curves"] == 3
