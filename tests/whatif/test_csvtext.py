"""Uploaded CSV text as spreadsheets write it, and no value silently changed."""

from __future__ import annotations

import csv

import pytest

from whatif.csvtext import read_lines


def test_a_semicolon_file_with_decimal_commas_reads_as_numbers() -> None:
    assert read_lines("age;fare;sex\n30,5;7,25;male\n22;80;female\n") == [
        ["age", "fare", "sex"],
        ["30.5", "7.25", "male"],
        ["22", "80", "female"],
    ]


@pytest.mark.parametrize(
    "text",
    [
        "age;income\n30.5;12,500\n",  # the file writes decimal points: 12,500 is not 12.5
        "name;age\n3,4;30\nbob;22\n",  # a text column keeps its commas
        'age,fare\n"30,5",7\n',  # a comma file: a quoted comma is the value as written
    ],
)
def test_a_comma_between_digits_is_left_alone_unless_the_file_writes_decimal_commas(text: str) -> None:
    cells = {cell for line in read_lines(text) for cell in line}
    assert {"12,500", "3,4", "30,5"} & cells


def test_tab_files_and_a_byte_order_mark_are_read() -> None:
    assert read_lines("\ufeffage\tfare\n30\t7.25\n") == [["age", "fare"], ["30", "7.25"]]


def test_a_binary_file_is_not_csv() -> None:
    with pytest.raises(csv.Error, match="binary file"):
        read_lines("PK\x03\x04\x00\x00")
