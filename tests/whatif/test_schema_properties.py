"""Property tests of the feature schema: form values <-> request rows, coercion, JSON form.

Random schemas mix every feature kind of PROTOCOL.md section 3 (numbers with ranges,
integers, label-encoded categoricals, booleans, one-hot groups with and without a
"none" label); random form values are drawn with the value each should coerce to.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatif.schema import Feature, FeatureSchema, RowValidationError

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# feature names have no underscore, so a one-hot column "name_Label" never equals a feature name
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)
LABELS = st.from_regex(r"[A-Z][A-Za-z0-9-]{0,9}", fullmatch=True)
FINITE = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
TRUE_WORDS = [True, 1, 1.0, "true", "Yes", "y", "1", " on "]
FALSE_WORDS = [False, 0, 0.0, "false", "NO", "n", "0", "off"]
NOT_A_NUMBER = [math.nan, math.inf, -math.inf, "nan", "NaN", "inf", "-Infinity", "abc", "12abc", "1,5", "one", "0x10"]


@st.composite
def features(draw: st.DrawFn, name: str) -> Feature:
    kind = draw(st.sampled_from(["number", "integer", "categorical", "boolean", "one_hot", "one_hot_none"]))
    if kind == "number":
        low = draw(FINITE)
        high = low + draw(st.floats(min_value=0, max_value=1e6))
        default = draw(st.none() | st.floats(min_value=low, max_value=high))
        return Feature(name, "number", low, high, default, description=draw(st.text(max_size=20)))
    if kind == "integer":
        low = draw(st.integers(-(10**6), 10**6))
        high = low + draw(st.integers(0, 10**4))
        return Feature(name, "integer", low, high, draw(st.none() | st.integers(low, high)))
    if kind == "categorical":
        labels = draw(st.lists(LABELS, min_size=1, max_size=6, unique=True))
        codes = {str(code): label for code, label in enumerate(labels)}
        default = draw(st.none() | st.integers(0, len(labels) - 1))
        return Feature(name, "integer", 0, len(labels) - 1, default, codes)
    if kind == "boolean":
        return Feature(name, "boolean", default=draw(st.none() | st.booleans()))
    labels = draw(st.lists(LABELS, min_size=1, max_size=5, unique=True))
    none_label = draw(LABELS.filter(lambda label: label not in labels)) if kind == "one_hot_none" else None
    choices = labels + ([none_label] if none_label is not None else [])
    return Feature(
        name,
        "one_hot",
        columns={label: f"{name}_{label}" for label in labels},
        none_label=none_label,
        default=draw(st.none() | st.sampled_from(choices)),
    )


@st.composite
def schemas(draw: st.DrawFn) -> FeatureSchema:
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    task = draw(st.sampled_from(["classification", "regression"]))
    classes: tuple[int, ...] = ()
    if task == "classification":
        classes = tuple(draw(st.lists(st.integers(0, 5), max_size=3, unique=True)))
    return FeatureSchema(
        features=tuple(draw(features(name)) for name in names),
        name=draw(st.text(max_size=20)).strip(),
        version=draw(st.none() | st.integers(1, 100)),
        task=task,
        target=draw(NAMES.filter(lambda target: target not in names)),
        classes=classes,
        class_labels={str(c): draw(LABELS) for c in classes},
    )


def value_and_coerced(draw: st.DrawFn, feature: Feature) -> tuple[Any, Any]:
    """A valid form value for ``feature`` as a user or a file may write it, and its coerced value."""
    spelling = draw(st.sampled_from(["as is", "text", "padded text"]))

    def written(value: Any) -> Any:
        text = repr(value) if isinstance(value, float) else str(value)
        return {"as is": value, "text": text, "padded text": f"  {text} "}[spelling]

    if feature.type == "number":
        assert feature.min is not None and feature.max is not None
        in_range = st.floats(min_value=feature.min, max_value=feature.max)
        # a value outside the training range is flagged by the form, not refused
        number = draw(in_range | FINITE | st.integers(-(10**9), 10**9))
        return written(number), number
    if feature.type == "integer":
        if feature.is_categorical:
            code = draw(st.sampled_from(sorted(int(c) for c in feature.labels)))
        else:
            assert feature.min is not None and feature.max is not None
            code = draw(st.integers(int(feature.min) - 5, int(feature.max) + 5))
        whole = draw(st.sampled_from([code, float(code)]))
        return written(whole), code
    if feature.type == "boolean":
        truth = draw(st.booleans())
        return draw(st.sampled_from(TRUE_WORDS if truth else FALSE_WORDS)), truth
    label = draw(st.sampled_from(feature.choices))
    if label in feature.columns and draw(st.booleans()):
        return feature.columns[label], label  # a file may name the column instead of the label
    return written(label), label


Case = tuple[FeatureSchema, dict[str, Any], dict[str, Any]]  # schema, form values, coerced values


@st.composite
def schemas_with_values(draw: st.DrawFn) -> Case:
    schema = draw(schemas())
    raw: dict[str, Any] = {}
    coerced: dict[str, Any] = {}
    for feature in schema.features:
        raw[feature.name], coerced[feature.name] = value_and_coerced(draw, feature)
    return schema, raw, coerced


def assert_same_values(schema: FeatureSchema, got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal values of the type each feature promises (True == 1 would hide a lost boolean)."""
    assert got == expected
    for feature in schema.features:
        value = got[feature.name]
        if feature.type == "boolean":
            assert isinstance(value, bool)
        elif feature.type == "integer":
            assert type(value) is int
        elif feature.type == "one_hot":
            assert value in feature.choices
        else:
            assert isinstance(value, int | float) and not isinstance(value, bool)


# ---- properties ----------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(schemas_with_values())
def test_coercion_gives_the_value_the_user_meant(case: Case) -> None:
    schema, raw, coerced = case
    assert_same_values(schema, schema.coerce_values(raw), coerced)


@PROPERTY_SETTINGS
@given(schemas_with_values())
def test_a_row_goes_back_to_the_same_form_values(case: Case) -> None:
    schema, raw, coerced = case
    assert_same_values(schema, schema.from_row(schema.to_row(raw)), coerced)


@PROPERTY_SETTINGS
@given(schemas_with_values())
def test_a_row_has_exactly_the_model_columns_and_one_hot_groups_set_at_most_one(
    case: Case,
) -> None:
    schema, raw, coerced = case
    row = schema.to_row(raw)
    assert list(row) == schema.input_columns
    for feature in schema.features:
        if feature.type != "one_hot":
            continue
        bits = [row[column] for column in feature.columns.values()]
        assert set(bits) <= {0, 1}
        assert sum(bits) == (0 if coerced[feature.name] == feature.none_label else 1)
        if sum(bits):
            assert row[feature.columns[coerced[feature.name]]] == 1


@PROPERTY_SETTINGS
@given(schemas())
def test_a_fresh_form_is_a_valid_row(schema: FeatureSchema) -> None:
    defaults = schema.defaults()
    row = schema.to_row(defaults)
    assert list(row) == schema.input_columns
    assert schema.from_row(row) == schema.coerce_values(defaults)


@PROPERTY_SETTINGS
@given(schemas_with_values(), st.data())
def test_a_value_that_is_not_a_finite_number_is_refused_naming_its_field(
    case: Case,
    data: st.DataObject,
) -> None:
    schema, raw, _ = case
    feature = data.draw(st.sampled_from(schema.features))
    if feature.type in ("number", "integer"):
        labels = {label.casefold() for label in feature.labels.values()}  # a label is a valid value
        bad = data.draw(st.sampled_from([v for v in NOT_A_NUMBER if str(v).strip().casefold() not in labels]))
    elif feature.type == "boolean":
        bad = data.draw(st.sampled_from(["maybe", "2", 2, math.nan, "nan"]))
    else:
        bad = data.draw(LABELS.filter(lambda text: text not in feature.choices))
    with pytest.raises(RowValidationError) as info:
        schema.to_row({**raw, feature.name: bad})
    assert set(info.value.errors) == {feature.name}
    assert feature.name in str(info.value)


@PROPERTY_SETTINGS
@given(schemas_with_values(), st.data())
def test_a_missing_or_unknown_field_is_named(
    case: Case,
    data: st.DataObject,
) -> None:
    schema, raw, _ = case
    feature = data.draw(st.sampled_from(schema.features))
    blank = data.draw(st.sampled_from([None, ""]))
    with pytest.raises(RowValidationError) as info:
        schema.coerce_values({**raw, feature.name: blank, "zz_not_a_feature": 1})
    assert set(info.value.errors) == {feature.name, "zz_not_a_feature"}


@PROPERTY_SETTINGS
@given(schemas())
def test_the_json_form_round_trips(schema: FeatureSchema) -> None:
    assert FeatureSchema.from_dict(schema.to_dict()) == schema
    assert FeatureSchema.from_json(json.dumps(schema.to_dict())) == schema


# ---- examples ------------------------------------------------------------------------------------
CREDIT_ROW = {
    "order_amount": 700,
    "average_monthly_income": 0,
    "employment_status_Employed": 0,
    "employment_status_Self-Employed": 0,
    "employment_status_Contract": 0,
}


def test_the_seed_credit_example_becomes_a_one_hot_group_whose_all_zero_case_is_a_choice() -> None:
    schema = FeatureSchema.from_example_request([CREDIT_ROW])

    group = schema.feature("employment_status")
    assert group.type == "one_hot"
    assert group.columns == {
        "Employed": "employment_status_Employed",
        "Self-Employed": "employment_status_Self-Employed",
        "Contract": "employment_status_Contract",
    }
    assert group.none_label is not None and group.none_label not in group.columns
    assert group.choices == ["Employed", "Self-Employed", "Contract", group.none_label]
    assert schema.input_columns == list(CREDIT_ROW)
    assert schema.from_row(CREDIT_ROW)["employment_status"] == group.none_label
    assert schema.to_row(schema.from_row(CREDIT_ROW)) == CREDIT_ROW
    self_employed = schema.to_row({**schema.from_row(CREDIT_ROW), "employment_status": "Self-Employed"})
    assert self_employed == {**CREDIT_ROW, "employment_status_Self-Employed": 1}


def test_the_seed_credit_example_accepts_the_values_its_columns_suggest() -> None:
    schema = FeatureSchema.from_example_request([CREDIT_ROW])
    values = {"order_amount": "1250.50", "average_monthly_income": 3200, "employment_status": "Contract"}

    row = schema.to_row(values)

    assert row["order_amount"] == 1250.5
    assert row["average_monthly_income"] == 3200
    assert row["employment_status_Contract"] == 1


def titanic_csv() -> Path:
    inside = Path("/work/main/whatif/server/data/titanic3.csv")
    return inside if inside.exists() else Path("/work/shared/data/titanic3.csv")


@pytest.mark.skipif(not titanic_csv().exists(), reason="titanic3.csv is not available")
def test_the_titanic_csv_gives_label_encoded_sex_and_embarked() -> None:
    schema = FeatureSchema.from_csv(titanic_csv(), target="survived")

    assert schema.target == "survived"
    assert "survived" not in schema.input_columns
    assert "name" not in schema.input_columns  # free text is not a model input
    sex, embarked = schema.feature("sex"), schema.feature("embarked")
    assert sex.is_categorical and sex.labels == {"0": "female", "1": "male"}
    assert embarked.is_categorical and embarked.labels == {"0": "C", "1": "Q", "2": "S"}
    assert {"pclass", "age", "sibsp", "parch", "fare"} <= set(schema.input_columns)
    assert schema.feature("pclass").min == 1 and schema.feature("pclass").max == 3
    with pytest.raises(RowValidationError) as info:
        schema.to_row({**schema.defaults(), "embarked": 3})
    assert set(info.value.errors) == {"embarked"}


def test_a_number_too_large_for_a_float_is_refused_naming_its_field() -> None:
    """A JSON or CSV batch may hold a 400-digit integer; it must be a validation error, not a crash."""
    schema = FeatureSchema(features=(Feature("amount", "number", 0, 1000),))

    with pytest.raises(RowValidationError) as info:
        schema.coerce_values({"amount": 10**400})

    assert set(info.value.errors) == {"amount"}
