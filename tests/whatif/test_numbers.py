"""Numbers typed into the form: what is read, what is refused with which sentence, and the text shown."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatif.numbers import format_number, parse_number

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)
FINITE = st.floats(allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("28", 28.0),
        ("14.4542", 14.4542),
        ("  7.5 ", 7.5),
        ("+3", 3.0),
        ("\u22122.5", -2.5),
        ("-0.5", -0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("2.5E-3", 0.0025),
        ("1,5", 1.5),
        ("0,125", 0.125),
        ("12,5", 12.5),
        ("1234,5", 1234.5),
        ("-1,5", -1.5),
        ("1.500", 1.5),  # a point is always a decimal point
    ],
)
def test_numbers_are_read_as_written_and_a_lone_decimal_comma_as_a_point(text: str, number: float) -> None:
    read = parse_number(text, integer=False)
    assert read == number and isinstance(read, float)


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("", "enter a number"),
        ("   ", "enter a number"),
        ("abc", "'abc' is not a number"),
        ("12abc", "'12abc' is not a number"),
        ("0x10", "'0x10' is not a number"),
        ("1_000", "'1_000' is not a number"),
        ("1e309", "'1e309' is too large: numbers go up to about 1.8e308"),
        ("-1e309", "'-1e309' is too far below zero: numbers go down to about -1.8e308"),
        ("1e-400", "'1e-400' is too close to zero to be told from 0: write 0, or a larger number"),
        ("inf", "must be a finite number, not 'inf'"),
        ("-Infinity", "must be a finite number, not '-Infinity'"),
        ("NaN", "must be a finite number, not 'NaN'"),
        ("1,500", "'1,500' could mean 1500 or 1.5: write 1500 without a comma, or 1.5 with a point"),
        (
            "1,234.5",
            "'1,234.5' has separators between its digits: write it with digits and one decimal point only, "
            "such as 1234.5",
        ),
        (
            "1.234,5",
            "'1.234,5' has separators between its digits: write it with digits and one decimal point only, "
            "such as 1234.5",
        ),
        (
            "1,234,567",
            "'1,234,567' has separators between its digits: write it with digits and one decimal point "
            "only, such as 1234567",
        ),
        (
            "1 500",
            "'1 500' has separators between its digits: write it with digits and one decimal point only, such as 1500",
        ),
    ],
)
def test_what_is_not_a_finite_number_is_refused_with_one_sentence(text: str, sentence: str) -> None:
    for integer in (False, True):
        with pytest.raises(ValueError) as refused:
            parse_number(text, integer=integer)
        assert str(refused.value) == sentence


def test_a_long_text_is_quoted_shortened() -> None:
    with pytest.raises(ValueError) as refused:
        parse_number("x" * 5000, integer=False)
    assert str(refused.value) == "'" + "x" * 23 + "…' is not a number"


@pytest.mark.parametrize(
    ("text", "number"),
    [("3", 3), ("3.0", 3), (" +7 ", 7), ("-2", -2), ("1e3", 1000), ("12345678901234567890", 12345678901234567890)],
)
def test_integer_features_read_whole_numbers_as_ints(text: str, number: int) -> None:
    read = parse_number(text, integer=True)
    assert read == number and isinstance(read, int)


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("2.5", "must be a whole number, not 2.5"),
        ("1,5", "must be a whole number, not 1.5"),
        ("1" * 400, "'11111111111111111111111…' is too large: numbers go up to about 1.8e308"),
    ],
)
def test_integer_features_refuse_fractions(text: str, sentence: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_number(text, integer=True)
    assert str(refused.value) == sentence


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (28.0, "28"),
        (14.4542, "14.4542"),
        (211.3375, "211.3375"),
        (-4.0, "-4"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e16, "1e+16"),
        (1.5e-7, "1.5e-07"),
        (3, "3"),
    ],
)
def test_the_form_shows_whole_numbers_without_decimals_and_hides_no_digit(value: float, text: str) -> None:
    assert format_number(value) == text


def test_integers_are_shown_as_integers() -> None:
    assert format_number(3.0, integer=True) == "3"


@PROPERTY_SETTINGS
@given(FINITE)
def test_every_finite_float_as_repr_g_or_shown_reads_back_as_itself(number: float) -> None:
    assert parse_number(repr(number)) == number
    assert parse_number(format_number(number)) == number
    assert parse_number(f"{number:g}") == float(f"{number:g}")


@PROPERTY_SETTINGS
@given(
    st.integers(min_value=0, max_value=10**9),
    st.from_regex(r"[0-9]{1,2}|[0-9]{4,9}", fullmatch=True),
    st.sampled_from(["", "-"]),
)
def test_a_decimal_comma_reads_as_the_decimal_point(whole: int, fraction: str, sign: str) -> None:
    assert parse_number(f"{sign}{whole},{fraction}") == float(f"{sign}{whole}.{fraction}")


@PROPERTY_SETTINGS
@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_every_integer_shown_reads_back_as_itself(number: int) -> None:
    assert parse_number(format_number(number, integer=True), integer=True) == number


@PROPERTY_SETTINGS
@given(st.text(alphabet="0123456789+-.,eE infINFaN\u2212 ", max_size=12) | st.text(max_size=12))
def test_whatever_is_read_is_finite_and_whatever_is_refused_is_one_sentence(text: str) -> None:
    for integer in (False, True):
        try:
            read = parse_number(text, integer=integer)
        except ValueError as refused:
            sentence = str(refused)
            assert sentence and "\n" not in sentence and not sentence.endswith(".")
            continue
        assert math.isfinite(read)
        assert isinstance(read, int) if integer else isinstance(read, float)
