"""What a training CSV holds (whatif.schema_infer): kinds, task, the sentences that stop training, the schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from whatif.schema import FeatureSchema
from whatif.schema_infer import (
    csv_header,
    feature_schema,
    infer_kinds,
    infer_task,
    prepare,
    read_training_csv,
    training_problems,
    usable_columns,
)

TITANIC_CSV = Path(__file__).resolve().parents[2] / "whatif" / "server" / "data" / "titanic3.csv"
SEED_FEATURES = ["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    """titanic3 as the server reads it ('?' is missing)."""
    return read_training_csv(TITANIC_CSV.read_bytes())


def test_titanic_columns_get_the_kinds_an_analyst_expects_and_free_text_is_left_out(titanic: pd.DataFrame) -> None:
    kinds = infer_kinds(titanic, "survived")

    assert kinds["pclass"] == "integer" and kinds["sibsp"] == "integer"
    assert kinds["age"] == "number" and kinds["fare"] == "number"  # missing ages ('?') do not make it text
    assert kinds["sex"] == "category" and kinds["embarked"] == "category"
    assert "survived" not in kinds
    for free_text in ("name", "ticket", "home.dest"):  # one value per passenger: not something to learn from
        assert free_text not in kinds
    assert list(kinds) == usable_columns(titanic, "survived")


def test_chosen_features_keep_their_order_and_a_chosen_free_text_column_is_explained(titanic: pd.DataFrame) -> None:
    assert list(infer_kinds(titanic, "survived", ["fare", "sex"])) == ["sex", "fare"]  # column order
    problems = training_problems(titanic, "survived", ["name", "sex"])
    assert problems == [
        "Feature 'name' has 1,307 different values, too many for a category (at most 255); leave it out."
    ]


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1, 1, 0], "classification"),
        (["yes", "no", "no", "yes"], "classification"),
        ([True, False, True, True], "classification"),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], "regression"),  # many whole numbers: an amount, not a class
        ([0.5, 1.25, 3.0, 2.0], "regression"),
    ],
)
def test_the_task_follows_the_target(values: list[object], task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_booleans_are_recognised_as_0_1_or_true_false_and_an_exported_index_is_no_feature() -> None:
    frame = pd.DataFrame({"flag": [0, 1] * 15, "word": ["true", "False"] * 15, "y": [0, 1, 1] * 10})
    exported = read_training_csv(frame.to_csv())  # with pandas' index as a first, unnamed column

    assert list(exported.columns) == ["Unnamed: 0", "flag", "word", "y"]
    assert infer_kinds(exported, "y") == {"flag": "boolean", "word": "boolean"}


def test_every_problem_is_one_sentence_naming_what_to_fix(titanic: pd.DataFrame) -> None:
    one_class = titanic.assign(survived=1)
    tiny = titanic.head(10)
    empty = titanic.assign(body=np.nan)

    assert training_problems(titanic, "survival") == [
        "The CSV has no column 'survival'; pick the target among 'pclass', 'survived', 'name', 'sex', 'age', "
        "'sibsp', 'parch', 'ticket', 'fare', 'cabin', 'embarked', 'boat' and 2 more."
    ]
    assert training_problems(one_class, "survived", SEED_FEATURES) == [
        "The target 'survived' has only one value (1), so there is nothing to learn; pick another target or add "
        "rows with other values."
    ]
    assert training_problems(tiny, "survived", SEED_FEATURES) == [
        "Only 10 row(s) have a value for the target 'survived'; training needs at least 20."
    ]
    assert training_problems(empty, "survived", ["body", "sex"]) == ["Feature 'body' is entirely empty; leave it out."]
    assert training_problems(titanic, "survived", ["sex"], kinds={"sex": "number"}) == [
        "Feature 'sex' holds text ('female'), so it cannot be a number; make it a category."
    ]
    assert training_problems(titanic, "survived", ["age"], kinds={"age": "integer"}) == [
        "Feature 'age' has fractions (55.5), so it cannot be an integer; make it a number."
    ]
    assert training_problems(titanic, "name", ["sex"], task="regression") == [
        "The target 'name' holds text ('Arnold-Franchi, Mrs. Josef (Jo...'), which a regression cannot predict; "
        "train a classification instead."
    ]
    assert training_problems(titanic, "survived", ["survived", "sex"]) == [
        "The target 'survived' cannot also be a feature; leave it out of the features."
    ]
    assert training_problems(titanic, "survived", SEED_FEATURES) == []


def test_the_schema_of_titanic_builds_the_what_if_form_with_labels_ranges_and_quantiles(titanic: pd.DataFrame) -> None:
    data = prepare(titanic, "survived", SEED_FEATURES, kinds={"pclass": "category"})
    schema = FeatureSchema.from_dict(feature_schema(data, name="Titanic", target="survived").to_dict())

    sex, pclass, age = schema.feature("sex"), schema.feature("pclass"), schema.feature("age")
    assert sex.labels == {"0": "female", "1": "male"} and sex.is_categorical
    assert pclass.labels == {"0": "1", "1": "2", "2": "3"}  # a chosen category keeps its values as labels
    assert (age.min, age.max, age.default) == (0.1667, 80.0, 28.0)
    assert list(age.quantiles) == ["p05", "p25", "p50", "p75", "p95"] and age.spread and age.spread > 0
    assert schema.task == "classification" and schema.classes == (0, 1) and schema.target == "survived"
    # the form's defaults make a row the server accepts, and a label typed in a form is understood
    row = schema.to_row(schema.defaults())
    assert set(row) == set(SEED_FEATURES)
    assert schema.to_row({**schema.defaults(), "sex": "female", "embarked": "C"})["embarked"] == 0
    # the model sees categories as codes, missing values as NaN (gradient boosting takes them)
    assert data.categorical == [True, True, False, False, False, False, True]
    assert data.x["age"].isna().sum() == titanic["age"].isna().sum()


def test_text_classes_become_codes_whose_labels_the_schema_keeps() -> None:
    frame = pd.DataFrame({"size": [1.0, 2.5, 3.0, 4.5] * 10, "answer": ["no", "yes", "yes", "maybe"] * 10})
    data = prepare(frame, "answer")
    schema = feature_schema(data, target="answer")

    assert sorted(set(data.y)) == [0, 1, 2]
    assert schema.classes == (0, 1, 2)
    assert schema.class_labels == {"0": "maybe", "1": "no", "2": "yes"}


def test_a_csv_that_is_not_a_table_is_one_sentence() -> None:
    with pytest.raises(ValueError, match=r"^The file is not UTF-8 text; save the table as a UTF-8 CSV\.$"):
        read_training_csv("a,b\n1,é\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"^The CSV cannot be read as a table \(.*\); check its separators"):
        read_training_csv('a,b\n1,2\n3,"4\n')
    assert csv_header(b"x;y;z\n1;2;3\n") == ["x", "y", "z"]
    assert list(read_training_csv("x\ty\n1\t?\n").columns) == ["x", "y"]
