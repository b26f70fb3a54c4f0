"""Grids, request frames, jitter and distances of the analyses, on random schemas and on the sample models.

Random schemas mix every feature kind (numbers with and without training statistics or a range,
integers, label-encoded categoricals up to 60 codes, one-hot groups with and without a "none"
label, booleans); scenarios are random valid form values, sometimes outside the training range
(the form allows that).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatif.analysis import AnalysisError
from whatif.analysis.grids import (
    changed_features,
    feature_grid,
    feature_spread,
    gower_distance,
    is_numeric,
    jitter,
    levels,
    to_request_frame,
    with_changes,
)
from whatif.client import ModelClient
from whatif.schema import Feature, FeatureSchema, SchemaError
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DIABETES_PATH, TITANIC_PATH

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)  # no underscore: no clash with one-hot columns
LABELS = st.from_regex(r"[A-Z][A-Za-z0-9-]{0,9}", fullmatch=True)
LOWS = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
SPANS = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
POINTS = st.integers(2, 25)


def sorted_quantiles(draw: st.DrawFn, low: float, high: float, whole: bool = False) -> dict[str, float]:
    values = sorted(draw(st.lists(st.floats(min_value=low, max_value=high), min_size=5, max_size=5)))
    if whole:
        values = sorted(min(max(round(v), math.ceil(low)), math.floor(high)) for v in values)
    return dict(zip(("p05", "p25", "p50", "p75", "p95"), values, strict=True))


@st.composite
def features(draw: st.DrawFn, name: str) -> Feature:
    kind = draw(
        st.sampled_from(
            [
                "number",
                "number_stats",
                "number_unranged",
                "integer",
                "integer_stats",
                "integer_unranged",
                "categorical",
                "boolean",
                "one_hot",
                "one_hot_none",
            ]
        )
    )
    if kind.startswith("number"):
        if kind == "number_unranged":
            return Feature(name, "number")
        low = draw(LOWS)
        high = low + draw(SPANS)
        if kind == "number":
            return Feature(name, "number", low, high)
        return Feature(
            name,
            "number",
            low,
            high,
            quantiles=sorted_quantiles(draw, low, high),
            spread=draw(st.none() | st.floats(0, 1e6)),
        )
    if kind.startswith("integer"):
        if kind == "integer_unranged":
            return Feature(name, "integer")
        low = draw(st.integers(-(10**6), 10**6))
        high = low + draw(st.sampled_from([0, 1, 5, 9, 10, 11, 100, 10**4]))
        stats = sorted_quantiles(draw, low, high, whole=draw(st.booleans())) if kind == "integer_stats" else {}
        return Feature(name, "integer", low, high, quantiles=stats)
    if kind == "categorical":
        codes = draw(st.sampled_from([1, 2, 3, 7, 50, 51, 60]))
        first = draw(st.integers(-3, 3))
        return Feature(
            name, "integer", first, first + codes - 1, labels={str(first + i): f"L{i}" for i in range(codes)}
        )
    if kind == "boolean":
        return Feature(name, "boolean")
    labels = draw(st.lists(LABELS, min_size=1, max_size=5, unique=True))
    none_label = draw(LABELS.filter(lambda label: label not in labels)) if kind == "one_hot_none" else None
    return Feature(name, "one_hot", columns={label: f"{name}_{label}" for label in labels}, none_label=none_label)


@st.composite
def schemas(draw: st.DrawFn) -> FeatureSchema:
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    return FeatureSchema(features=tuple(draw(features(name)) for name in names))


def a_value(draw: st.DrawFn, feature: Feature) -> Any:
    """A valid form value, sometimes outside the training range."""
    if feature.type == "number":
        if feature.min is None or feature.max is None:
            return draw(st.floats(-1e6, 1e6) | st.integers(-1000, 1000))
        return draw(st.floats(feature.min, feature.max) | LOWS | st.integers(-1000, 1000))
    if feature.type == "integer":
        if feature.is_categorical:
            return draw(st.sampled_from([int(code) for code in feature.labels]))
        if feature.min is None or feature.max is None:
            return draw(st.integers(-(10**6), 10**6))
        return draw(
            st.integers(int(feature.min), int(feature.max)) | st.integers(int(feature.min) - 5, int(feature.max) + 5)
        )
    if feature.type == "boolean":
        return draw(st.booleans())
    return draw(st.sampled_from(feature.choices))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[FeatureSchema, dict[str, Any]]:
    schema = draw(schemas())
    return schema, {f.name: a_value(draw, f) for f in schema.features}


def within_range(feature: Feature, value: float) -> bool:
    return (feature.min is None or value >= feature.min) and (feature.max is None or value <= feature.max)


# ---- grids ---------------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(scenarios(), POINTS)
def test_every_grid_value_makes_a_valid_row_and_the_grid_holds_the_scenario_value(
    case: tuple[FeatureSchema, dict[str, Any]], points: int
) -> None:
    schema, scenario = case
    for feature in schema.features:
        grid = feature_grid(feature, scenario[feature.name], points)
        frame = to_request_frame(schema, [with_changes(scenario, {feature.name: v}) for v in grid])

        assert len(frame) == len(grid)
        assert list(frame.columns) == schema.input_columns
        assert len(set(grid)) == len(grid), "no value is tried twice"
        assert feature.coerce(scenario[feature.name]) in grid
        if is_numeric(feature):
            assert grid == sorted(grid)
            others = [v for v in grid if v != scenario[feature.name]]
            assert all(within_range(feature, v) for v in others), "only the scenario's own value may be outside"
        if feature.type == "integer":
            assert all(type(v) is int for v in grid), "integer grids are whole numbers"
        if feature.type == "integer" and not feature.is_categorical:
            assert len(grid) <= points + 1
        if feature.is_categorical:
            codes = [int(code) for code in feature.labels]
            if len(codes) <= 50:
                assert grid == codes, "every code"
            else:
                assert set(codes[:30]) <= set(grid) <= set(codes) and len(grid) <= 31
        if feature.type == "boolean":
            assert grid == [False, True]
        if feature.type == "one_hot":
            assert grid == feature.choices, "a one-hot group is ONE feature: one grid value per label"
            hot = frame[feature.input_columns].sum(axis=1).tolist()
            for label, count in zip(grid, hot, strict=True):
                assert count == (0 if label == feature.none_label else 1)
                if count:
                    assert frame.loc[grid.index(label), feature.columns[label]] == 1


@PROPERTY_SETTINGS
@given(scenarios(), POINTS)
def test_a_number_grid_spans_the_middle_of_the_data_and_keeps_the_range_ends(
    case: tuple[FeatureSchema, dict[str, Any]], points: int
) -> None:
    schema, scenario = case
    for feature in schema.features:
        if feature.type != "number" or feature.min is None or feature.max is None:
            continue
        grid = feature_grid(feature, scenario[feature.name], points)
        assert feature.min in grid and feature.max in grid
        if feature.quantiles:
            inner = [v for v in grid if v not in (feature.min, feature.max, scenario[feature.name])]
            slack = 1e-3 * (feature.quantiles["p95"] - feature.quantiles["p05"]) + 1e-9 * abs(feature.max)
            assert all(feature.quantiles["p05"] - slack <= v <= feature.quantiles["p95"] + slack for v in inner)


def test_grids_of_the_simple_kinds() -> None:
    age = Feature("age", "number", 0.17, 80, quantiles={"p05": 7.4, "p25": 22, "p50": 28, "p75": 35, "p95": 55})
    grid = feature_grid(age, 29, points=10)
    assert grid[0] == 0.17 and grid[-1] == 80 and 29 in grid
    assert [round(v, 2) for v in grid[1:-1] if v != 29] == [
        7.4,
        12.69,
        17.98,
        23.27,
        28.56,
        33.84,
        39.13,
        44.42,
        49.71,
        55.0,
    ]
    assert feature_grid(Feature("n", "integer", 0, 8), 3) == list(range(9)), "a small range: every whole number"
    wide = feature_grid(Feature("n", "integer", 0, 1000), 333, points=5)
    assert wide == [0, 250, 333, 500, 750, 1000]
    skewed = feature_grid(Feature("n", "integer", 0, 100, quantiles={"p05": 1, "p95": 11}), 50, points=5)
    assert skewed == [0, 1, 6, 11, 50, 100], "the middle of the data, the range ends and the scenario's value"


def test_a_feature_without_a_range_is_tried_around_the_scenario_value() -> None:
    assert feature_grid(Feature("x", "number"), 10.0, points=3) == [5.0, 10.0, 15.0]
    assert feature_grid(Feature("x", "number"), 0, points=3) == [-1.0, 0.0, 1.0]
    assert feature_grid(Feature("x", "number", min=0), -4.0, points=3) == [-4.0, 0.0], "kept within the bound known"
    assert feature_grid(Feature("n", "integer"), 0, points=4) == [-2, -1, 0, 1, 2]


def test_a_categorical_with_many_codes_is_swept_over_its_first_30_and_the_scenario_code() -> None:
    feature = Feature("zip", "integer", 0, 79, labels={str(i): f"Z{i}" for i in range(80)})
    assert feature_grid(feature, 70) == [*range(30), 70]
    assert feature_grid(feature, 5) == list(range(30))
    assert feature_grid(feature, "Z70") == [*range(30), 70], "a label is the same value as its code"


def test_a_scenario_value_that_is_not_valid_is_refused_with_the_feature_named() -> None:
    with pytest.raises(AnalysisError, match="'pclass'"):
        feature_grid(Feature("pclass", "integer", 0, 2, labels={"0": "1st", "1": "2nd", "2": "3rd"}), 7)
    with pytest.raises(ValueError, match="at least 2 points"):
        feature_grid(Feature("x", "number", 0, 1), 0.5, points=1)


def test_a_row_that_does_not_fit_is_refused_before_anything_is_sent() -> None:
    schema = FeatureSchema((Feature("age", "number", 0, 80), Feature("n", "integer", 0, 9)))
    with pytest.raises(AnalysisError, match=r"Row 2 .* feature 'n' expected a whole number, got 1.5") as info:
        to_request_frame(schema, [{"age": 3, "n": 1}, {"age": 3, "n": 1.5}])
    assert "\n" not in str(info.value)
    assert to_request_frame(schema, []).columns.tolist() == ["age", "n"]
    with pytest.raises(ValueError, match="'agee' is not a feature"):
        with_changes({"age": 3, "n": 1}, {"agee": 4})


# ---- spread ---------------------------------------------------------------------------------------------
def test_the_spread_falls_back_from_the_schema_to_quartiles_to_the_range() -> None:
    assert feature_spread(Feature("x", "number", 0, 100, spread=7.5, quantiles={"p25": 1, "p75": 2})) == 7.5
    assert feature_spread(Feature("x", "number", 0, 100, quantiles={"p25": 10, "p75": 23.49})) == pytest.approx(10.0)
    assert feature_spread(Feature("x", "number", 0, 100)) == 25
    assert feature_spread(Feature("x", "number", 0, 100, spread=0.0)) == 25, "a zero spread gives way"
    assert feature_spread(Feature("x", "number")) is None
    assert feature_spread(Feature("c", "integer", 0, 2, labels={"0": "a", "1": "b", "2": "c"})) is None
    assert feature_spread(Feature("b", "boolean")) is None


# ---- jitter ------------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(scenarios(), st.integers(0, 30), st.floats(0, 2), st.floats(0, 1), st.data())
def test_jitter_stays_in_the_domain_and_leaves_held_features_alone(
    case: tuple[FeatureSchema, dict[str, Any]], n: int, epsilon: float, flip_p: float, data: st.DataObject
) -> None:
    schema, scenario = case
    hold = set(data.draw(st.lists(st.sampled_from([f.name for f in schema.features]), unique=True)))
    rows = jitter(
        schema,
        scenario,
        n,
        epsilon,
        np.random.default_rng(data.draw(st.integers(0, 2**32))),
        hold=hold,
        categorical_flip_p=flip_p,
    )

    assert len(rows) == n
    frame = to_request_frame(schema, rows)  # every copy is a valid row
    assert len(frame) == n
    base = schema.coerce_values(scenario)
    for row in rows:
        for feature in schema.features:
            value = row[feature.name]
            if feature.name in hold:
                assert value == base[feature.name]
            elif is_numeric(feature):
                low = base[feature.name] if feature.min is None else min(feature.min, base[feature.name])
                high = base[feature.name] if feature.max is None else max(feature.max, base[feature.name])
                assert (feature.min is None or value >= low) and (feature.max is None or value <= high)
                if feature.type == "integer":
                    assert type(value) is int
            else:
                assert value in levels(feature)


def test_jitter_scales_the_noise_by_the_spread_and_flips_categories_as_told() -> None:
    schema = FeatureSchema(
        (
            Feature("income", "number", 0, 10_000, spread=1000.0),
            Feature("kids", "integer", 0, 9, spread=1.0),
            Feature("job", "one_hot", columns={"A": "job_A", "B": "job_B"}, none_label="None"),
            Feature("vip", "boolean"),
        )
    )
    scenario = {"income": 5000.0, "kids": 4, "job": "A", "vip": False}
    rows = jitter(schema, scenario, 4000, 0.1, np.random.default_rng(1))
    incomes = np.array([r["income"] for r in rows])
    assert incomes.std() == pytest.approx(100.0, rel=0.1), "epsilon 0.1 of a spread of 1,000"
    assert all(r["job"] == "A" and r["vip"] is False for r in rows), "categories stay without a flip probability"
    flipped = jitter(schema, scenario, 4000, 0.0, np.random.default_rng(2), categorical_flip_p=0.25)
    assert all(r["income"] == 5000.0 and r["kids"] == 4 for r in flipped), "epsilon 0 leaves numbers alone"
    share = np.mean([r["job"] != "A" for r in flipped])
    assert share == pytest.approx(0.25, abs=0.03)
    assert {r["job"] for r in flipped} == {"A", "B", "None"}, "the all-zero label is a level too"
    assert jitter(schema, scenario, 3, 0.1, np.random.default_rng(7)) == jitter(
        schema, scenario, 3, 0.1, np.random.default_rng(7)
    ), "the same generator state, the same rows"
    with pytest.raises(ValueError, match="'salary' is held"):
        jitter(schema, scenario, 3, 0.1, np.random.default_rng(0), hold={"salary"})


# ---- distances -------------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(scenarios(), st.data())
def test_gower_distance_is_zero_for_a_row_itself_and_symmetric(
    case: tuple[FeatureSchema, dict[str, Any]], data: st.DataObject
) -> None:
    schema, a = case
    b = {f.name: a_value(data.draw, f) for f in schema.features}
    assert gower_distance(schema, a, a) == 0.0
    assert changed_features(schema, a, a) == []
    assert gower_distance(schema, a, b) == gower_distance(schema, b, a)
    assert gower_distance(schema, a, b) >= 0.0
    changed = changed_features(schema, a, b)
    assert (gower_distance(schema, a, b) > 0) == bool(changed)
    categorical = [f.name for f in schema.features if not is_numeric(f)]
    assert gower_distance(schema, a, b) >= sum(name in changed for name in categorical) / len(schema.features)


@PROPERTY_SETTINGS
@given(scenarios(), st.data())
def test_a_one_hot_group_counts_once_in_a_distance(
    case: tuple[FeatureSchema, dict[str, Any]], data: st.DataObject
) -> None:
    schema, a = case
    groups = [f for f in schema.features if f.type == "one_hot" and len(f.choices) > 1]
    if not groups:
        return
    group = data.draw(st.sampled_from(groups))
    other = data.draw(st.sampled_from([c for c in group.choices if c != a[group.name]]))
    b = with_changes(a, {group.name: other})
    assert gower_distance(schema, a, b) == pytest.approx(1 / len(schema.features))
    assert changed_features(schema, a, b) == [group.name]


def test_gower_distance_on_the_credit_schema(client: ModelClient) -> None:
    schema = client.schema(CREDIT_PATHS[0], DEMO_BUCKET)
    amount = schema.feature("order_amount")
    assert amount.min is not None and amount.max is not None
    a = {"order_amount": amount.min, "average_monthly_income": 0, "employment_status": "Employed"}
    b = {"order_amount": amount.max, "average_monthly_income": 0, "employment_status": "Other"}
    assert gower_distance(schema, a, b) == pytest.approx((1 + 0 + 1) / 3), "3 logical features, not 5 columns"
    assert changed_features(schema, a, b) == ["order_amount", "employment_status"]
    assert changed_features(schema, a, {**a, "average_monthly_income": 0.0}) == [], "0 and 0.0 are the same"


# ---- the sample models -------------------------------------------------------------------------------------
def test_the_titanic_grids(client: ModelClient) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    scenario = schema.defaults()
    age = schema.feature("age")
    assert set(age.quantiles) == {"p05", "p25", "p50", "p75", "p95"} and age.spread is not None and age.spread > 0
    grid = feature_grid(age, scenario["age"])
    assert grid[0] == age.min and grid[-1] == age.max
    assert age.quantiles["p05"] in grid and age.quantiles["p95"] in grid
    assert feature_grid(schema.feature("pclass"), scenario["pclass"]) == [0, 1, 2]
    assert feature_grid(schema.feature("sibsp"), 1) == list(range(9))
    rows = [with_changes(scenario, {f.name: v}) for f in schema.features for v in feature_grid(f, scenario[f.name])]
    frame = to_request_frame(schema, rows)
    assert list(frame.columns) == ["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]
    assert len(frame) == len(rows)


def test_the_credit_one_hot_group_is_swept_as_one_feature(client: ModelClient) -> None:
    schema = client.schema(CREDIT_PATHS[1], DEMO_BUCKET)
    status = schema.feature("employment_status")
    grid = feature_grid(status, "Employed")
    assert grid == ["Employed", "Self-Employed", "Contract", "Other"]
    frame = to_request_frame(schema, [with_changes(schema.defaults(), {"employment_status": v}) for v in grid])
    assert frame[status.input_columns].to_numpy().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert status.quantiles == {} and status.spread is None


# ---- the schema's optional statistics ------------------------------------------------------------------------
def test_the_sample_models_record_statistics_of_their_numeric_features_only(client: ModelClient) -> None:
    titanic = client.schema(TITANIC_PATH, DEMO_BUCKET)
    with_stats = {f.name for f in titanic.features if f.quantiles and f.spread}
    assert with_stats == {"age", "sibsp", "parch", "fare"}
    diabetes = client.schema(DIABETES_PATH, DEMO_BUCKET)
    assert {f.name for f in diabetes.features if not f.quantiles} == {"sex"}
    for f in (*titanic.features, *diabetes.features):
        if f.quantiles:
            values = [f.quantiles[k] for k in ("p05", "p25", "p50", "p75", "p95")]
            assert values == sorted(values) and f.min <= values[0] and values[-1] <= f.max


SCHEMA_WITHOUT_STATS = FeatureSchema(
    (
        Feature("pclass", "integer", 0, 2, 2, {"0": "1st", "1": "2nd", "2": "3rd"}),
        Feature("age", "number", 0.1667, 80, 28),
        Feature(
            "employment_status",
            "one_hot",
            columns={"Employed": "employment_status_Employed", "Contract": "employment_status_Contract"},
            none_label="Other",
        ),
        Feature("vip", "boolean"),
    ),
    name="t",
    task="classification",
    target="survived",
    classes=(0, 1),
    class_labels={"0": "died", "1": "survived"},
)


def test_statistics_round_trip_and_leave_old_schemas_and_fingerprints_alone() -> None:
    data = SCHEMA_WITHOUT_STATS.to_dict()
    assert not any("quantiles" in f or "spread" in f for f in data["features"]), "old schemas are written as before"
    # computed with the schema module before statistics existed: runs saved then still compare alike
    assert SCHEMA_WITHOUT_STATS.fingerprint() == "74982a06d2c64703"
    data["features"][1].update(quantiles={"p05": 7.4, "p50": 28, "p95": 55.0, "p99": 70}, spread=12.9)
    with_stats = FeatureSchema.from_json(json.dumps(data))
    age = with_stats.feature("age")
    assert age.quantiles == {"p05": 7.4, "p50": 28, "p95": 55.0}, "unknown percentiles are left out"
    assert age.spread == 12.9
    assert FeatureSchema.from_dict(with_stats.to_dict()) == with_stats
    assert with_stats.fingerprint() == SCHEMA_WITHOUT_STATS.fingerprint()


@pytest.mark.parametrize(
    ("statistics", "problem"),
    [
        ({"quantiles": {"p05": 9, "p95": 1}}, "do not increase"),
        ({"quantiles": {"p05": "many"}}, "does not describe features"),
        ({"quantiles": [1, 2]}, "not an object of percentiles"),
        ({"spread": -1}, "spread"),
        ({"spread": "NaN"}, "spread"),
    ],
)
def test_statistics_that_make_no_sense_are_refused(statistics: dict[str, Any], problem: str) -> None:
    data = SCHEMA_WITHOUT_STATS.to_dict()
    data["features"][1].update(statistics)
    with pytest.raises(SchemaError, match=problem):
        FeatureSchema.from_dict(data)
