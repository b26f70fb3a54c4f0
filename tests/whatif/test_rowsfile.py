"""Rows uploaded for an analysis (ICE curves, Shapley backgrounds): read as the what-if page reads imports."""

from __future__ import annotations

import pytest

from whatif.rowsfile import RowsFileError, read_form_rows
from whatif.schema import Feature, FeatureSchema

SCHEMA = FeatureSchema(
    (
        Feature("age", "number", 0, 100, 30),
        Feature("children", "integer", 0, 9, 0),
        Feature("sex", "integer", 0, 1, 0, {"0": "female", "1": "male"}),
        Feature(
            "employment",
            "one_hot",
            columns={"Employed": "employment_Employed", "Retired": "employment_Retired"},
            none_label="Other",
        ),
        Feature("owner", "boolean", default=False),
    )
)


def test_commas_labels_and_a_one_hot_group_by_name() -> None:
    text = "id,age,children,sex,employment,owner,target\n7,41.5,2,male,Retired,yes,1\n8,22,0,0,Other,no,0\n"
    frame = read_form_rows(SCHEMA, text.encode())
    assert frame.to_dict("records") == [
        {"age": 41.5, "children": 2, "sex": 1, "employment": "Retired", "owner": True},
        {"age": 22.0, "children": 0, "sex": 0, "employment": "Other", "owner": False},
    ]


def test_semicolons_with_decimal_commas_and_a_one_hot_group_by_its_columns() -> None:
    text = "age;children;sex;employment_Employed;employment_Retired;owner\n41,5;2;1;1;0;0\n22,25;0;0;0;0;1\n"
    frame = read_form_rows(SCHEMA, text.encode("utf-8-sig"))
    assert list(frame["age"]) == [41.5, 22.25]
    assert list(frame["employment"]) == ["Employed", "Other"]  # no column set: the group's "Other"


def test_bad_values_are_named_by_line_and_field_and_no_row_is_used() -> None:
    lines = ["age,children,sex,employment,owner"] + ["abc,1.5,female,Employed,no" for _ in range(4)]
    with pytest.raises(RowsFileError) as refused:
        read_form_rows(SCHEMA, "\n".join(lines).encode())
    message = str(refused.value)
    assert message.startswith("Some values cannot be used, so no row was: line 2, age:")
    assert "line 2, children: expected a whole number" in message
    assert message.count("line ") == 5  # the first five, not all eight


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("age,children\n30,1\n", "no column for sex, employment, owner"),
        ("age,children,sex,employment,owner\n", "no data rows"),
        ("\x00\x01binary", "binary"),
    ],
)
def test_files_that_cannot_be_rows_are_one_sentence(text: str, words: str) -> None:
    with pytest.raises(RowsFileError, match=words):
        read_form_rows(SCHEMA, text.encode())


def test_too_many_rows_are_refused_with_the_limit() -> None:
    text = "age,children,sex,employment,owner\n" + "30,1,0,Other,no\n" * 11
    with pytest.raises(RowsFileError, match="11 rows; at most 10"):
        read_form_rows(SCHEMA, text.encode(), limit=10)
