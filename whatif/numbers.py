"""Numbers as an analyst types them into a form field, and as the form shows them.

A form field holds text; ``parse_number`` reads it or says in one sentence why it cannot,
so an empty or unreadable field is an error, never a silent 0. ``format_number`` writes a
value so that it reads back exactly (whole numbers without decimals, no digit hidden).

Rules of ``parse_number``:

- surrounding spaces, a leading ``+`` and the unicode minus sign (``−``) are fine;
  digits, one decimal point and an exponent (``1.5e3``) make a number;
- a decimal comma is read as a decimal point (``1,5`` is 1.5) when it is the only separator
  and cannot be a thousands separator (``0,125`` and ``12,5`` are decimals too). A comma followed
  by exactly three digits after one to three leading digits (``1,500``) could be either (1500 or
  1.5): it is refused, and so are digits grouped by thousands (``1,234.5``, ``1.234,5``,
  ``1,234,567``, ``1 500``); the sentence says how to write the number (``1500``, ``1234.5``).
  A point is always a decimal point (``1.500`` is 1.5);
- infinities, NaN and numbers beyond the float range (``1e309``, or ``1e-400`` which would be 0)
  are refused;
- for an integer feature a number with a fraction (``2.5``) is refused; ``3.0`` is 3.
"""

from __future__ import annotations

import math
import re
from typing import Literal, overload

MINUS_SIGNS = "\u2212\u2012\u2013\ufe63\uff0d"  # unicode minus, figure dash, en dash, small and full-width hyphen-minus
SHOWN_CHARS = 24  # characters of an unreadable text quoted in its sentence
WHOLE_DIGITS_MAX = 16  # whole floats up to 1e16 are written without an exponent, as repr does
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL_COMMA = re.compile(r"([+-]?[0-9]*),([0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_THOUSANDS_LIKE = re.compile(r"[+-]?[1-9][0-9]{0,2},[0-9]{3}", re.ASCII)
# digits in groups of three (1,234,567 or 1.234,5 or 1 500): refused, with the number written plainly
_GROUPED = re.compile(
    r"(?P<sign>[+-])?(?P<whole>[0-9]{1,3}(?P<sep>[,. '\u00a0\u202f])[0-9]{3}(?:(?P=sep)[0-9]{3})*)"
    r"(?:(?P<point>[.,])(?P<fraction>[0-9]+))?"
)
_NOT_FINITE = frozenset({"inf", "infinity", "nan", "∞"})


@overload
def parse_number(text: str, *, integer: Literal[True]) -> int: ...
@overload
def parse_number(text: str, *, integer: Literal[False] = ...) -> float: ...
@overload
def parse_number(text: str, *, integer: bool) -> float | int: ...
def parse_number(text: str, *, integer: bool = False) -> float | int:
    """Read a number typed into a form field; raise ValueError with one sentence when it is not one.

    An integer feature gets an ``int``, a number feature a ``float``.
    """
    cleaned = _clean(text)
    if not cleaned:
        raise ValueError("enter a number")
    if cleaned.lstrip("+-").lower() in _NOT_FINITE:
        raise ValueError(f"must be a finite number, not {_quoted(text)}")
    if not _NUMBER.fullmatch(cleaned):
        cleaned = _read_decimal_comma(text, cleaned)
    number = float(cleaned)
    if math.isinf(number):
        side = (
            "too far below zero: numbers go down to about -1.8e308"
            if number < 0
            else "too large: numbers go up to about 1.8e308"
        )
        raise ValueError(f"{_quoted(text)} is {side}")
    if number == 0 and re.search(r"[1-9]", re.split(r"[eE]", cleaned)[0]):
        raise ValueError(f"{_quoted(text)} is too close to zero to be told from 0: write 0, or a larger number")
    if not integer:
        return number
    if _INTEGER.fullmatch(cleaned):
        return int(cleaned)  # exactly, even beyond the 16 digits a float keeps
    if not number.is_integer():
        raise ValueError(f"must be a whole number, not {format_number(number)}")
    return int(number)


def format_number(value: float | int, *, integer: bool = False) -> str:
    """The text of a value as the form shows it: ``28`` not ``28.0``, ``14.4542`` not ``14.45``.

    It reads back as the same value with ``parse_number``: floats are written as ``repr``
    writes them (the shortest exact text), whole ones below 1e16 without the ``.0``.
    """
    if integer or isinstance(value, int):
        return str(int(value))
    if value.is_integer() and abs(value) < 10**WHOLE_DIGITS_MAX:
        return str(int(value))
    return repr(float(value))


def _clean(text: str) -> str:
    """The text without surrounding spaces, its minus signs written as ASCII hyphen-minus."""
    cleaned = text.strip()
    for sign in MINUS_SIGNS:
        cleaned = cleaned.replace(sign, "-")
    return cleaned


def _read_decimal_comma(text: str, cleaned: str) -> str:
    """``cleaned`` with a lone decimal comma as a point; ValueError for any other text that is no number."""
    if _THOUSANDS_LIKE.fullmatch(cleaned):
        whole, fraction = cleaned.split(",")
        as_point = format_number(float(f"{whole}.{fraction}"))
        raise ValueError(
            f"{_quoted(text)} could mean {whole}{fraction} or {as_point}: "
            f"write {whole}{fraction} without a comma, or {as_point} with a point"
        )
    if _DECIMAL_COMMA.fullmatch(cleaned):
        return cleaned.replace(",", ".")
    grouped = _GROUPED.fullmatch(cleaned)
    if grouped and grouped["point"] != grouped["sep"]:
        digits = re.sub(r"[^0-9]", "", grouped["whole"])
        suggestion = f"{grouped['sign'] or ''}{digits}" + (f".{grouped['fraction']}" if grouped["fraction"] else "")
        raise ValueError(
            f"{_quoted(text)} has separators between its digits: write it with digits and "
            f"one decimal point only, such as {suggestion}"
        )
    raise ValueError(f"{_quoted(text)} is not a number")


def _quoted(text: str) -> str:
    """The text as typed, quoted and shortened: a pasted page does not make a page-long sentence."""
    shown = text.strip()
    if len(shown) > SHOWN_CHARS:
        shown = shown[: SHOWN_CHARS - 1] + "…"
    return repr(shown)
