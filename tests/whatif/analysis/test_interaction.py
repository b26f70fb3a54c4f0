"""Two-feature maps and Friedman's H² in ONE task of the real server; the interaction's arithmetic in-process."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from tests.whatif.analysis.explore_support import (
    SEED_PASSENGER,
    Counted,
    additive_or_product_schema,
    api_predict,
    assert_rows_are_valid,
    formula_predict,
    loaded,
    local_predict,
    one_sentence,
    rescored,
)
from whatif.analysis import AnalysisError
from whatif.analysis.interaction import SUMMARY_COLUMNS, h_squared, interaction
from whatif.client import ModelClient
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DIABETES_PATH, TITANIC_PATH


def score_map(summary: pd.DataFrame, column: str = "score") -> np.ndarray:
    """The map as a matrix m[i, j]: x's i-th value, y's j-th value."""
    return summary.pivot(index="x_point", columns="y_point", values=column).to_numpy(dtype=float)


def h_squared_by_least_squares(m: np.ndarray) -> float:
    """H² computed another way: 1 - R² of the best additive fit a_i + b_j (least squares on indicator columns)."""
    nx, ny = m.shape
    design = np.zeros((nx * ny, nx + ny))
    for i in range(nx):
        for j in range(ny):
            design[i * ny + j, i] = 1.0
            design[i * ny + j, nx + j] = 1.0
    target = m.reshape(-1)
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coefficients
    return float((residual**2).sum() / ((target - target.mean()) ** 2).sum())


def test_titanic_map_is_one_task_and_its_h2_is_the_grid_s(server: EmbeddedServer, client: ModelClient) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    predict, batch = api_predict(client, TITANIC_PATH)

    result = interaction(schema, SEED_PASSENGER, predict, ("age", "fare"))

    nx, ny = result.facts["grid"]
    assert predict.calls == [1 + nx * ny] and batch.tasks_sent == 1 and result.tasks == 1
    assert nx <= 30 and ny <= 30 and result.rows <= 901
    assert list(result.summary.columns) == SUMMARY_COLUMNS
    assert_rows_are_valid(result, schema)
    x0, y0 = result.facts["scenario_point"]
    scenario_cell = result.summary[(result.summary["x_point"] == x0) & (result.summary["y_point"] == y0)].iloc[0]
    assert (scenario_cell["x"], scenario_cell["y"]) == (SEED_PASSENGER["age"], SEED_PASSENGER["fare"])
    assert scenario_cell["score"] == pytest.approx(result.scenario_score)

    scores = rescored(result, schema, local_predict(server, TITANIC_PATH))
    m = score_map(result.summary)
    assert np.allclose(m.reshape(-1), scores[1:], atol=1e-9), "cells in order, x by x, y fastest"
    expected = m - m[:, [y0]] - m[[x0], :] + m[x0, y0]
    assert np.allclose(score_map(result.summary, "interaction"), expected, atol=1e-12)
    assert np.allclose(expected[x0, :], 0) and np.allclose(expected[:, y0], 0)

    h2 = result.facts["h2"]
    assert 0.0 <= h2 <= 1.0 and h2 > 0.01, "age and fare do interact in this boosted model"
    assert h2 == pytest.approx(h_squared_by_least_squares(m), abs=1e-9)
    assert result.facts["share_flipped"] == pytest.approx(result.summary["flips"].mean())
    assert result.facts["share_flipped"] + result.facts["share_same_class"] == pytest.approx(1.0)
    assert f"(H² = {h2:.2f})" in result.reading
    json.dumps(result.to_json())


def test_an_additive_model_has_no_interaction_anywhere() -> None:
    schema = additive_or_product_schema()
    rng = np.random.default_rng(5)
    x = pd.DataFrame({"a": rng.uniform(0, 10, 200), "b": rng.uniform(-5, 5, 200), "c": rng.integers(0, 21, 200)})
    model = LinearRegression().fit(x, 3 * x["a"] - 2 * x["b"] + 0.5 * x["c"] + rng.normal(0, 1, 200))
    predict = Counted(formula_predict(lambda rows: model.predict(rows[["a", "b", "c"]])))

    result = interaction(schema, {"a": 3.0, "b": 1.0, "c": 7}, predict, ("a", "b"), points=12)

    assert len(predict.calls) == 1
    assert np.abs(result.summary["interaction"]).max() < 1e-9
    assert result.facts["h2"] == pytest.approx(0.0, abs=1e-12)
    assert "hardly interact" in result.reading and "%" not in result.reading.split(":")[0]


def test_a_product_s_interaction_is_the_product_of_the_moves() -> None:
    schema = additive_or_product_schema()
    predict = formula_predict(lambda rows: rows["a"] * rows["b"] + rows["c"])
    scenario = {"a": 3.0, "b": 1.0, "c": 7}

    result = interaction(schema, scenario, predict, ("a", "b"), points=9)

    cells = result.summary
    assert np.allclose(cells["interaction"], (cells["x"].astype(float) - 3.0) * (cells["y"].astype(float) - 1.0))
    m = score_map(cells)
    assert result.facts["h2"] == pytest.approx(h_squared_by_least_squares(m))
    assert 0.0 < result.facts["h2"] <= 1.0
    assert h_squared(np.full((3, 4), 2.5)) is None, "a flat map has no variance to share out"


def test_categories_and_one_hot_groups_are_axes_of_levels(client: ModelClient) -> None:
    titanic = client.schema(TITANIC_PATH, DEMO_BUCKET)
    predict, batch = api_predict(client, TITANIC_PATH)
    classes = interaction(titanic, SEED_PASSENGER, predict, ("sex", "pclass"))
    assert batch.tasks_sent == 1 and predict.calls == [7]
    assert classes.summary[["x", "y"]].drop_duplicates().shape == (6, 2)
    assert set(classes.summary["x"]) == {"female", "male"} and set(classes.summary["y"]) == {"1st", "2nd", "3rd"}

    credit = client.schema(CREDIT_PATHS[1], DEMO_BUCKET)
    predict, batch = api_predict(client, CREDIT_PATHS[1])
    jobs = interaction(credit, credit.defaults(), predict, ("employment_status", "average_monthly_income"), points=10)
    assert batch.tasks_sent == 1 and jobs.facts["grid"][0] == 4
    assert list(dict.fromkeys(jobs.summary["x"])) == ["Employed", "Self-Employed", "Contract", "Other"]
    assert_rows_are_valid(jobs, credit)
    shares = jobs.facts["class_shares"]
    assert sum(shares.values()) == pytest.approx(1.0) and set(shares) <= {"approved", "rejected"}


def test_the_boundary_marks_cells_next_to_a_change_of_class(server: EmbeddedServer) -> None:
    schema = loaded(server, CREDIT_PATHS[1]).schema
    result = interaction(
        schema,
        schema.defaults(),
        local_predict(server, CREDIT_PATHS[1]),
        ("order_amount", "average_monthly_income"),
        points=15,
    )

    labels = result.summary.pivot(index="x_point", columns="y_point", values="predicted").to_numpy()
    boundary = score_map(result.summary, "boundary").astype(bool)
    nx, ny = labels.shape
    for i in range(nx):
        for j in range(ny):
            neighbours = [
                labels[a, b] for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)) if 0 <= a < nx and 0 <= b < ny
            ]
            assert boundary[i, j] == any(n != labels[i, j] for n in neighbours)
    assert boundary.any() and not boundary.all()


def test_a_wide_category_axis_keeps_20_levels_with_the_current_one() -> None:
    schema = FeatureSchema(
        (
            Feature("code", "integer", 0, 29, 0, labels={str(k): f"C{k}" for k in range(30)}),
            Feature("x", "number", 0, 1, 0.5),
        ),
        task="regression",
        target="y",
    )
    predict = formula_predict(lambda rows: rows["code"] * rows["x"])

    result = interaction(schema, {"code": 25, "x": 0.5}, predict, ("code", "x"), points=5)

    levels = list(dict.fromkeys(result.summary["x"]))
    assert len(levels) == 20 and levels[-1] == "C25" and levels[:19] == [f"C{k}" for k in range(19)]
    assert result.facts["grid"] == [20, len(set(result.summary["y"]))] and len(set(result.summary["y"])) <= 5


def test_a_regression_map_reads_values(client: ModelClient) -> None:
    schema = client.schema(DIABETES_PATH, DEMO_BUCKET)
    predict, batch = api_predict(client, DIABETES_PATH)
    result = interaction(schema, schema.defaults(), predict, ("bmi", "s5"), points=8)
    assert batch.tasks_sent == 1 and result.scorer.threshold is None
    assert "share_flipped" not in result.facts and not result.summary["boundary"].any()
    assert "It ranges from" in result.reading and 0.0 <= result.facts["h2"] <= 1.0


def test_wrong_pairs_are_sentences_and_cost_no_task(server: EmbeddedServer) -> None:
    schema = loaded(server, TITANIC_PATH).schema
    predict = local_predict(server, TITANIC_PATH)
    for pair, expected in (
        (("age", "agee"), "'agee' is not a feature of this model"),
        (("age", "age"), "two different features; 'age' was given twice"),
        (("age",), "exactly two features"),
    ):
        with pytest.raises(AnalysisError, match=expected) as refused:
            interaction(schema, SEED_PASSENGER, predict, pair)  # type: ignore[arg-type]
        assert one_sentence(str(refused.value))
    assert predict.calls == []
