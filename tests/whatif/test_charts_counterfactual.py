"""The counterfactual chart, read from its Vega-Lite spec (the sample models run in-process)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.whatif.analysis.explore_support import loaded, local_predict
from whatif.analysis.counterfactual import Goal, counterfactuals
from whatif.analysis.result import AnalysisResult
from whatif.charts_counterfactual import CLOSEST_LABEL, DATA_COLUMNS, counterfactual_chart, counterfactual_data
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import TITANIC_PATH

MAN = {"pclass": 2, "sex": 1, "age": 30, "sibsp": 0, "parch": 0, "fare": 8.05, "embarked": 2}


def drawn(result: AnalysisResult) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The chart's spec and the rows it draws (both layers share them)."""
    spec = counterfactual_chart(result).to_dict()
    return spec, spec["datasets"][spec["data"]["name"]]


@pytest.fixture(scope="module")
def found(server: EmbeddedServer) -> AnalysisResult:
    schema = loaded(server, TITANIC_PATH).schema
    return counterfactuals(schema, MAN, local_predict(server, TITANIC_PATH), goal=Goal("class", "1"))


def test_each_alternative_is_a_row_and_each_change_a_cell_old_to_new(found: AnalysisResult) -> None:
    spec, rows = drawn(found)

    alternatives = found.facts["alternatives"]
    assert len(rows) == sum(a["n_changes"] for a in alternatives) and found.facts["found"] >= 2
    for alternative in alternatives:
        mine = [row for row in rows if row["rank"] == alternative["rank"]]
        assert {row["feature"] for row in mine} == set(alternative["changes"])
        assert all(row["score"] == pytest.approx(alternative["score"]) for row in mine)
        label = mine[0]["row"]
        assert label.startswith(f"{alternative['rank']}. {alternative['n_changes']} change")
        assert label.endswith(f"({alternative['score'] * 100:.0f} %)")
    texts = {(row["rank"], row["feature"]): row["change"] for row in rows}
    for alternative in alternatives:  # codes shown by their labels, numbers short: what the summary says
        for name, (before, after) in alternative["shown"].items():
            assert texts[(alternative["rank"], name)] == f"{before} → {after}"
            assert f"{name} {before} → {after}" in alternative["text"]
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rect", "text"]
    y_order = spec["layer"][0]["encoding"]["y"]["sort"]
    assert y_order == [next(r["row"] for r in rows if r["rank"] == a["rank"]) for a in alternatives], "best first"
    x_order = spec["layer"][0]["encoding"]["x"]["sort"]
    assert x_order[: alternatives[0]["n_changes"]] == list(alternatives[0]["changes"]), "the best one's inputs first"


def test_a_category_change_costs_one_and_a_number_its_change_in_spreads(
    found: AnalysisResult, server: EmbeddedServer
) -> None:
    schema = loaded(server, TITANIC_PATH).schema
    data = counterfactual_data(found)
    assert list(data.columns) == DATA_COLUMNS
    for _, row in data.iterrows():
        feature = schema.feature(row["feature"])
        alternative = found.facts["alternatives"][row["rank"] - 1]
        old, new = alternative["changes"][row["feature"]]
        expected = 1.0 if feature.is_categorical else abs(new - old) / feature.spread
        assert row["cost_of_change"] == pytest.approx(expected)


def test_when_nothing_reaches_the_goal_the_closest_candidate_is_drawn_and_labelled(server: EmbeddedServer) -> None:
    schema = loaded(server, TITANIC_PATH).schema
    result = counterfactuals(
        schema,
        MAN,
        local_predict(server, TITANIC_PATH),
        goal=Goal("class", "1"),
        fixed=[f.name for f in schema.features if f.name != "embarked"],
    )

    _, rows = drawn(result)

    closest = result.facts["closest"]
    assert result.facts["found"] == 0 and len(rows) == 1
    assert rows[0]["row"] == f"{CLOSEST_LABEL} ({closest['score'] * 100:.0f} %)" and rows[0]["rank"] == 0
    assert rows[0]["change"] == f"Southampton → {closest['shown']['embarked'][1]}"


def test_a_search_that_could_try_nothing_draws_a_sentence(server: EmbeddedServer) -> None:
    schema = loaded(server, TITANIC_PATH).schema
    result = counterfactuals(schema, MAN, local_predict(server, TITANIC_PATH), goal=Goal("class", "0"))
    assert result.facts["scenario_meets_goal"]

    spec = counterfactual_chart(result).to_dict()

    assert spec["layer"][0]["mark"]["type"] == "text"
    assert counterfactual_data(result).empty
