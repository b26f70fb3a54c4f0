"""The tornado, sweep and interaction charts, read from their Vega-Lite specs (the sample models run in-process)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.whatif.analysis.explore_support import SEED_PASSENGER, loaded, local_predict
from whatif.analysis.interaction import interaction
from whatif.analysis.result import AnalysisResult
from whatif.analysis.sensitivity import sensitivity
from whatif.analysis.sweep import sweep
from whatif.charts_explore import (
    AVERAGE_LABEL,
    BOUNDARY_LABEL,
    FLIPS_LABEL,
    ICE_LABEL,
    SCENARIO_LABEL,
    interaction_chart,
    interaction_effect_chart,
    sweep_chart,
    tornado_chart,
)
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DIABETES_PATH, TITANIC_PATH, titanic_frame


def layers(spec: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each layer of a chart's spec with the rows it draws."""
    return [(layer, spec["datasets"][layer["data"]["name"]]) for layer in spec["layer"]]


def mark(layer: dict[str, Any]) -> str:
    return layer["mark"] if isinstance(layer["mark"], str) else layer["mark"]["type"]


@pytest.fixture(scope="module")
def titanic(server: EmbeddedServer) -> dict[str, AnalysisResult]:
    schema = loaded(server, TITANIC_PATH).schema
    predict = local_predict(server, TITANIC_PATH)
    background = titanic_frame().drop(columns="survived").head(20)
    return {
        "tornado": sensitivity(schema, SEED_PASSENGER, predict),
        "age": sweep(schema, SEED_PASSENGER, predict, "age", points=12, background=background),
        "pclass": sweep(schema, SEED_PASSENGER, predict, "pclass", background=background),
        "map": interaction(schema, SEED_PASSENGER, predict, ("age", "fare"), points=10),
    }


def test_tornado_bars_run_from_low_to_high_sorted_by_swing_with_flips_apart(
        titanic: dict[str, AnalysisResult]) -> None:
    result = titanic["tornado"]
    spec = tornado_chart(result).to_dict()
    (bars, rows), (rule, rule_rows) = layers(spec)

    assert mark(bars) == "bar" and bars["encoding"]["x"]["field"] == "low" and bars["encoding"]["x2"]["field"] == "high"
    assert bars["encoding"]["y"]["sort"] == result.summary["feature"].tolist()
    assert bars["encoding"]["x"]["title"] == "P(survived)" and bars["encoding"]["x"]["axis"]["format"] == "%"
    assert bars["encoding"]["color"]["scale"]["domain"][0] == FLIPS_LABEL
    flipping = {row["feature"] for row in rows if row["effect"] == FLIPS_LABEL}
    assert flipping == set(result.facts["flipping"]) and "sex" in flipping
    assert mark(rule) == "rule" and rule_rows[0]["score"] == pytest.approx(result.scenario_score)


def test_a_regression_tornado_has_no_percent_axis_and_no_flip_legend(server: EmbeddedServer) -> None:
    schema = loaded(server, DIABETES_PATH).schema
    result = sensitivity(schema, schema.defaults(), local_predict(server, DIABETES_PATH), points=5)
    (bars, _), _ = layers(tornado_chart(result).to_dict())
    assert bars["encoding"]["x"]["axis"]["format"] != "%" and bars["encoding"]["x"]["title"] == "Predicted progression"
    assert "field" not in bars["encoding"]["color"], "one colour: a regression has no class to flip"


def test_sweep_draws_ice_lines_the_bold_average_the_range_the_threshold_and_the_current_value(
        titanic: dict[str, AnalysisResult]) -> None:
    result = titanic["age"]
    spec = sweep_chart(result).to_dict()
    drawn = layers(spec)
    marks = [mark(layer) for layer, _ in drawn]
    assert marks == ["rect", "line", "line", "point", "rule"]

    (band, band_rows), (ice, ice_rows), (main, main_rows), (ring, ring_rows), (rule, rule_rows) = drawn
    assert [band_rows[0]["low"], band_rows[0]["high"]] == result.facts["training_range"]
    assert ice["encoding"]["detail"]["field"] == "curve" and {r["line"] for r in ice_rows} == {ICE_LABEL}
    assert len({r["curve"] for r in ice_rows}) == 20 and ice["mark"]["strokeWidth"] < 1
    assert {r["line"] for r in main_rows} == {SCENARIO_LABEL, AVERAGE_LABEL}
    assert main["encoding"]["y"]["title"] == "P(survived)" and main["encoding"]["y"]["axis"]["format"] == "%"
    assert main["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert ring_rows[0]["value"] == SEED_PASSENGER["age"] and ring_rows[0]["curve"] == "scenario"
    assert ring_rows[0]["score"] == pytest.approx(result.scenario_score)
    assert rule_rows[0]["score"] == 0.5


def test_a_category_sweep_is_drawn_over_its_levels(titanic: dict[str, AnalysisResult]) -> None:
    spec = sweep_chart(titanic["pclass"]).to_dict()
    drawn = layers(spec)
    assert [mark(layer) for layer, _ in drawn] == ["tick", "tick", "circle", "point", "rule"]
    dots = drawn[2][0]
    assert dots["encoding"]["x"]["type"] == "nominal" and dots["encoding"]["x"]["sort"] == ["1st", "2nd", "3rd"]
    assert drawn[3][1][0]["value"] == "1st", "the ring is on the scenario's class"
    assert drawn[1][0]["mark"]["thickness"] > drawn[0][0]["mark"]["thickness"], "the average is the bold tick"


def test_a_centred_regression_sweep_has_neither_percents_nor_threshold(server: EmbeddedServer) -> None:
    schema = loaded(server, DIABETES_PATH).schema
    background = pd.DataFrame([schema.defaults()] * 3)
    result = sweep(schema, schema.defaults(), local_predict(server, DIABETES_PATH), "bmi", points=6,
                   background=background, centred=True)
    drawn = layers(sweep_chart(result).to_dict())
    assert "rule" not in [mark(layer) for layer, _ in drawn]
    line = next(layer for layer, _ in drawn if mark(layer) == "line")
    assert line["encoding"]["y"]["title"] == "Change in Predicted progression"
    assert line["encoding"]["y"]["axis"]["format"] != "%"


def test_interaction_heatmap_marks_the_scenario_and_the_decision_boundary(server: EmbeddedServer) -> None:
    schema = loaded(server, CREDIT_PATHS[1]).schema
    result = interaction(schema, schema.defaults(), local_predict(server, CREDIT_PATHS[1]),
                         ("order_amount", "average_monthly_income"), points=12)
    drawn = layers(interaction_chart(result).to_dict())
    (cells, cell_rows), (edge, edge_rows), (ring, ring_rows) = drawn

    assert mark(cells) == "rect" and cells["encoding"]["color"]["field"] == "score"
    scale = cells["encoding"]["color"]["scale"]
    assert scale["domainMid"] == 0.5 and scale["domain"] == [0, 1], "colours part at the threshold"
    assert cells["encoding"]["x"]["title"] == "order_amount"
    assert cells["encoding"]["y"]["title"] == "average_monthly_income"
    assert len(cell_rows) == len(result.summary)
    assert edge["mark"]["fillOpacity"] == 0 and edge["encoding"]["stroke"]["scale"]["domain"] == [BOUNDARY_LABEL]
    assert len(edge_rows) == int(result.summary["boundary"].sum()) > 0
    x0, y0 = result.facts["scenario_point"]
    assert len(ring_rows) == 1 and (ring_rows[0]["x_point"], ring_rows[0]["y_point"]) == (x0, y0)


def test_interaction_effect_uses_a_diverging_scale_centred_on_zero(titanic: dict[str, AnalysisResult]) -> None:
    result = titanic["map"]
    (cells, rows), (ring, _) = layers(interaction_effect_chart(result).to_dict())
    scale = cells["encoding"]["color"]["scale"]
    assert cells["encoding"]["color"]["field"] == "interaction" and scale["domainMid"] == 0
    largest = result.summary["interaction"].abs().max()
    assert scale["domain"] == [pytest.approx(-largest), pytest.approx(largest)]
    assert cells["encoding"]["color"]["title"] == "Interaction on P(survived)"
    x_order = cells["encoding"]["x"]["sort"]
    assert x_order == [f"{v:.10g}" for v in dict.fromkeys(result.summary.sort_values("x_point")["x"])]
    assert mark(ring) == "point"
