"""A schema source that makes no sense is refused with one sentence naming what is wrong."""

from __future__ import annotations

import json

import pytest

from whatif.schema import FeatureSchema, SchemaError


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (
            {"features": [{"name": "sex", "type": "integer", "labels": {"female": "Female", "male": "Male"}}]},
            "feature 'sex' labels codes that are not whole numbers ('female')",
        ),
        ({"features": [{"name": "age", "type": "date"}]}, "feature 'age' has unknown type 'date'"),
        ({"features": [{"type": "number"}]}, "a feature has no name"),
        ({"features": [{"name": "job", "type": "one_hot"}]}, "one-hot feature 'job' lists no columns"),
    ],
)
def test_a_schema_file_that_makes_no_sense_says_why(source: dict, said: str) -> None:
    with pytest.raises(SchemaError, match=f"^{said.replace('(', '[(]').replace(')', '[)]')}"):
        FeatureSchema.from_json(json.dumps(source))


def test_labels_may_use_any_whole_number_code() -> None:
    schema = FeatureSchema.from_json(
        json.dumps(
            {"features": [{"name": "grade", "type": "integer", "labels": {"-1": "none", "0": "low", 1.0: "high"}}]}
        )
    )
    assert schema.features[0].labels == {"-1": "none", "0": "low", "1": "high"}


def test_a_file_that_is_not_text_is_named_as_such() -> None:
    with pytest.raises(SchemaError, match="not UTF-8 text"):
        FeatureSchema.from_json(b"\xff\xfe\x00binary")


def test_a_label_encoded_value_may_be_given_by_its_label_in_any_case() -> None:
    schema = FeatureSchema.from_json(
        json.dumps(
            {
                "features": [
                    {
                        "name": "embarked",
                        "type": "integer",
                        "labels": {"0": "Cherbourg", "1": "Queenstown", "2": "Southampton"},
                    },
                    {"name": "grade", "type": "integer", "labels": {"0": "2", "1": "1"}},
                ]
            }
        )
    )
    embarked, grade = schema.features
    assert [embarked.coerce(v) for v in ("southampton", " Queenstown ", "0", 2)] == [2, 1, 0, 2]
    assert grade.coerce("1") == 1  # a code written as text stays that code, even when a label reads "1"
    with pytest.raises(ValueError, match="'Paris' is none of the labels Cherbourg, Queenstown, Southampton"):
        embarked.coerce("Paris")


def test_a_semicolon_csv_with_decimal_commas_is_read_as_a_spreadsheet_wrote_it() -> None:
    schema = FeatureSchema.from_csv(b"pclass;sex;age;fare\n1;male;30,5;7,25\n3;female;22;80\n2;male;40;12,5\n")
    assert [(f.name, f.type) for f in schema.features] == [
        ("pclass", "integer"),
        ("sex", "integer"),
        ("age", "number"),
        ("fare", "number"),
    ]
    age, fare = schema.feature("age"), schema.feature("fare")
    assert (age.min, age.max, fare.min, fare.max) == (22.0, 40.0, 7.25, 80.0)
    assert schema.feature("sex").labels == {"0": "female", "1": "male"}
