"""The tornado, sweep and interaction charts, read from their Vega-Lite specs (the sample models run in-process)."""

from __future__ import annotations

import json
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
    FLIP_COLOR,
    FLIPS_LABEL,
    HIGHER_COLOR,
    ICE_LABEL,
    LOWER_COLOR,
    SCENARIO_LABEL,
    STEADY_LABEL,
    interaction_chart,
    interaction_effect_chart,
    short_value,
    sweep_chart,
    tick_points,
    tornado_chart,
)
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DIABETES_PATH, TITANIC_PATH, titanic_frame


def layers(spec: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each layer of a chart's spec with the rows it draws."""
    return [(layer, spec["datasets"][layer["data"]["name"]]) for layer in spec["layer"]]


def mark(layer: dict[str, Any]) -> str:
    return layer["mark"] if isinstance(layer["mark"], str) else layer["mark"]["type"]


def texts(spec: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The text layers of a chart with their rows."""
    return [(layer, rows) for layer, rows in layers(spec) if mark(layer) == "text"]


def assert_fits_the_width_with_the_legend_below(spec: dict[str, Any]) -> None:
    """Stretched to the column's width, its height the plot's own; every legend under the plot, uncut."""
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
    legends = [
        channel["legend"]
        for layer in spec["layer"]
        for channel in layer.get("encoding", {}).values()
        if isinstance(channel, dict) and channel.get("legend")
    ]
    assert legends and all(legend["orient"] == "bottom" and legend["labelLimit"] == 0 for legend in legends)


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


def test_values_are_written_to_about_three_significant_figures() -> None:
    assert [short_value(v) for v in (0.1667, 512.3292, 14.4542, 1234.6, 28.0, 80, -0.0001, "0.1667", "male")] == [
        "0.167",
        "512",
        "14.5",
        "1,235",
        "28",
        "80",
        "-0.0001",
        "0.167",
        "male",
    ]
    assert tick_points(5, 6) == [0, 1, 2, 3, 4] and tick_points(30, 6) == [0, 6, 12, 17, 23, 29]


def test_tornado_bars_run_from_low_to_high_sorted_by_swing_with_flips_apart(titanic: dict[str, AnalysisResult]) -> None:
    result = titanic["tornado"]
    spec = tornado_chart(result).to_dict()
    drawn = layers(spec)
    bars, rows = drawn[0]

    assert mark(bars) == "bar" and bars["encoding"]["x"]["field"] == "low" and bars["encoding"]["x2"]["field"] == "high"
    assert bars["encoding"]["y"]["sort"] == result.summary["feature"].tolist()
    assert bars["encoding"]["y"]["axis"]["labelLimit"] >= 240
    assert bars["encoding"]["x"]["title"] == "P(survived)" and bars["encoding"]["x"]["axis"]["format"] == "%"
    color = bars["encoding"]["color"]
    assert color["scale"] == {"domain": [FLIPS_LABEL, STEADY_LABEL], "range": [FLIP_COLOR, color["scale"]["range"][1]]}
    assert (FLIPS_LABEL, STEADY_LABEL) == ("can flip the class", "cannot flip it")
    assert color["legend"]["title"] == "Moved alone, this input"
    assert FLIP_COLOR not in (HIGHER_COLOR, LOWER_COLOR), "flipping has its own colour, not a direction's"
    flipping = {row["feature"] for row in rows if row["effect"] == FLIPS_LABEL}
    assert flipping == set(result.facts["flipping"]) and "sex" in flipping
    assert_fits_the_width_with_the_legend_below(spec)

    # the input's value at each end of its bar, to 3 figures
    ends = {layer["encoding"]["x"]["field"]: (layer, rows) for layer, rows in texts(spec) if layer["encoding"].get("y")}
    (low, low_rows), (high, _) = ends["low"], ends["high"]
    assert low["encoding"]["text"]["field"] == "low_text" and low["mark"]["align"] == "right"
    assert high["encoding"]["text"]["field"] == "high_text" and high["mark"]["align"] == "left"
    for row in low_rows:
        assert row["low_text"] == short_value(row["value_at_low"])
        assert row["high_text"] == short_value(row["value_at_high"])
    fare = next(row for row in low_rows if row["feature"] == "fare")
    assert len(fare["high_text"].replace(".", "")) <= 3

    # the scenario's rule and the threshold's, each labelled above the plot
    rules = [(layer, rows) for layer, rows in drawn if mark(layer) == "rule"]
    assert [rows[0]["score"] for _, rows in rules] == [pytest.approx(result.scenario_score), 0.5]
    labels = [rows[0]["text"] for layer, rows in texts(spec) if "y" not in layer["encoding"]]
    assert labels == [f"this scenario {result.scenario_score * 100:.0f} %", "threshold 50 %"]
    assert all(layer["mark"]["y"] < 0 for layer, _ in texts(spec) if "y" not in layer["encoding"])


def test_a_regression_tornado_has_no_percent_axis_no_flip_legend_and_no_threshold(server: EmbeddedServer) -> None:
    schema = loaded(server, DIABETES_PATH).schema
    result = sensitivity(schema, schema.defaults(), local_predict(server, DIABETES_PATH), points=5)
    spec = tornado_chart(result).to_dict()
    (bars, _), *_ = layers(spec)
    assert bars["encoding"]["x"]["axis"]["format"] != "%" and bars["encoding"]["x"]["title"] == "Predicted progression"
    assert "field" not in bars["encoding"]["color"], "one colour: a regression has no class to flip"
    assert [mark(layer) for layer, _ in layers(spec)].count("rule") == 1
    assert [rows[0]["text"] for layer, rows in texts(spec) if "y" not in layer["encoding"]] == [
        f"this scenario {result.scenario_score:,.4g}"
    ]


def test_sweep_draws_ice_lines_the_bold_average_the_range_the_threshold_and_the_current_value(
    titanic: dict[str, AnalysisResult],
) -> None:
    result = titanic["age"]
    spec = sweep_chart(result).to_dict()
    drawn = layers(spec)
    marks = [mark(layer) for layer, _ in drawn]
    assert marks == ["rect", "line", "line", "point", "rule", "text"]

    (band, band_rows), (ice, ice_rows), (main, main_rows), (ring, ring_rows), (rule, rule_rows), (label, _) = drawn
    assert [band_rows[0]["low"], band_rows[0]["high"]] == result.facts["training_range"]
    assert ice["encoding"]["detail"]["field"] == "curve" and {r["line"] for r in ice_rows} == {ICE_LABEL}
    assert len({r["curve"] for r in ice_rows}) == 20 and ice["mark"]["strokeWidth"] < 1
    assert {r["line"] for r in main_rows} == {SCENARIO_LABEL, AVERAGE_LABEL}
    assert main["encoding"]["y"]["title"] == "P(survived)" and main["encoding"]["y"]["axis"]["format"] == "%"
    assert main["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert ring_rows[0]["value"] == SEED_PASSENGER["age"] and ring_rows[0]["curve"] == "scenario"
    assert ring_rows[0]["score"] == pytest.approx(result.scenario_score)
    assert rule_rows[0]["score"] == 0.5

    # the legend draws each curve as a stroke of its own colour, under the chart, uncut
    legend = main["encoding"]["color"]["legend"]
    assert legend["symbolType"] == "stroke" and legend["symbolOpacity"] == 1 and legend["labelLimit"] == 0
    assert main["encoding"]["color"]["scale"]["range"] == ["#1f6fb2", "#111111", "#9aa5b1"]
    assert_fits_the_width_with_the_legend_below(spec)
    # the threshold says what it is, at the right end of its line
    assert rule_rows[0]["text"] == "predicted class changes here (50 %)" == BOUNDARY_LABEL + " (50 %)"
    assert label["encoding"]["text"]["field"] == "text" and label["encoding"]["x"] == {"value": "width"}
    assert label["encoding"]["y"]["field"] == "score" and label["mark"]["align"] == "right"


def test_a_category_sweep_is_drawn_over_its_levels(titanic: dict[str, AnalysisResult]) -> None:
    spec = sweep_chart(titanic["pclass"]).to_dict()
    drawn = layers(spec)
    assert [mark(layer) for layer, _ in drawn] == ["tick", "tick", "circle", "point", "rule", "text"]
    dots = drawn[2][0]
    assert dots["encoding"]["x"]["type"] == "nominal" and dots["encoding"]["x"]["sort"] == ["1st", "2nd", "3rd"]
    assert drawn[3][1][0]["value"] == "1st", "the ring is on the scenario's class"
    assert drawn[1][0]["mark"]["thickness"] > drawn[0][0]["mark"]["thickness"], "the average is the bold tick"
    assert dots["encoding"]["color"]["legend"]["symbolType"] == "circle", "dots and ticks: filled symbols"


def test_a_centred_regression_sweep_has_neither_percents_nor_threshold(server: EmbeddedServer) -> None:
    schema = loaded(server, DIABETES_PATH).schema
    background = pd.DataFrame([schema.defaults()] * 3)
    result = sweep(
        schema,
        schema.defaults(),
        local_predict(server, DIABETES_PATH),
        "bmi",
        points=6,
        background=background,
        centred=True,
    )
    drawn = layers(sweep_chart(result).to_dict())
    assert "rule" not in [mark(layer) for layer, _ in drawn] and "text" not in [mark(layer) for layer, _ in drawn]
    line = next(layer for layer, _ in drawn if mark(layer) == "line")
    assert line["encoding"]["y"]["title"] == "Change in Predicted progression"
    assert line["encoding"]["y"]["axis"]["format"] != "%"


def test_interaction_heatmap_marks_the_scenario_and_the_decision_boundary(server: EmbeddedServer) -> None:
    schema = loaded(server, CREDIT_PATHS[1]).schema
    result = interaction(
        schema,
        schema.defaults(),
        local_predict(server, CREDIT_PATHS[1]),
        ("order_amount", "average_monthly_income"),
        points=12,
    )
    spec = interaction_chart(result).to_dict()
    drawn = layers(spec)
    (cells, cell_rows), (edge, edge_rows), (ring, ring_rows) = drawn

    assert mark(cells) == "rect" and cells["encoding"]["color"]["field"] == "score"
    scale = cells["encoding"]["color"]["scale"]
    assert scale["domainMid"] == 0.5 and scale["domain"] == [0, 1], "colours part at the threshold"
    assert scale["scheme"] == "blueorange" and scale["reverse"] is True, "orange below it, blue above, as elsewhere"
    assert cells["encoding"]["color"]["legend"]["values"] == [0, 0.5, 1]
    assert cells["encoding"]["x"]["title"] == "order_amount"
    assert cells["encoding"]["y"]["title"] == "average_monthly_income"
    assert len(cell_rows) == len(result.summary)
    assert edge["mark"]["fillOpacity"] == 0 and edge["encoding"]["stroke"]["scale"]["domain"] == [BOUNDARY_LABEL]
    assert len(edge_rows) == int(result.summary["boundary"].sum()) > 0
    x0, y0 = result.facts["scenario_point"]
    assert len(ring_rows) == 1 and (ring_rows[0]["x_point"], ring_rows[0]["y_point"]) == (x0, y0)
    assert_fits_the_width_with_the_legend_below(spec)
    assert spec["title"]["text"] == "P(approved) over the two inputs", "the long names would not fit half a page"
    assert "outlined" in spec["title"]["subtitle"]


def test_interaction_effect_uses_a_diverging_scale_centred_on_zero(titanic: dict[str, AnalysisResult]) -> None:
    result = titanic["map"]
    spec = interaction_effect_chart(result).to_dict()
    (cells, rows), (ring, _) = layers(spec)
    scale = cells["encoding"]["color"]["scale"]
    assert cells["encoding"]["color"]["field"] == "interaction" and scale["domainMid"] == 0
    largest = result.summary["interaction"].abs().max()
    assert scale["domain"] == [pytest.approx(-largest), pytest.approx(largest)]
    assert cells["encoding"]["color"]["title"] == "Interaction on P(survived)"
    assert "pts" in cells["encoding"]["color"]["legend"]["labelExpr"], "a difference of probabilities in points"
    assert spec["title"]["text"] == "Interaction alone (points)"
    assert mark(ring) == "point"


def test_both_maps_label_the_same_grid_values_to_three_figures(titanic: dict[str, AnalysisResult]) -> None:
    result = titanic["map"]
    score_map, effect_map = (
        layers(chart(result).to_dict())[0][0] for chart in (interaction_chart, interaction_effect_chart)
    )
    assert interaction_chart(result).to_dict()["title"]["text"] == "P(survived) over age × fare"
    for channel, most in (("x", 6), ("y", 10)):
        axis = score_map["encoding"][channel]["axis"]
        assert axis == effect_map["encoding"][channel]["axis"], "the same ticks on both maps"
        assert score_map["encoding"][channel]["field"] == f"{channel}_point"
        grid = result.summary.drop_duplicates(f"{channel}_point").sort_values(f"{channel}_point")[channel].tolist()
        assert axis["values"] == tick_points(len(grid), most) and axis["labelOverlap"] is False
        assert axis["labelExpr"].endswith("[datum.value]")
        written = json.loads(axis["labelExpr"].removesuffix("[datum.value]"))
        assert written == [short_value(v) for v in grid] and all(len(w.replace(".", "")) <= 4 for w in written)
    assert score_map["encoding"]["x"]["sort"] == "ascending" and score_map["encoding"]["y"]["sort"] == "descending"
