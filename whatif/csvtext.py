"""The CSV files analysts upload, as spreadsheets write them: comma, semicolon or tab separated.

A semicolon-separated file is how spreadsheets in many European locales save CSV, and those
write decimal commas (``30,5``). In a semicolon file with no point decimals anywhere, a column
whose numbers all use a decimal comma (whole numbers and empty cells aside) is read with decimal
points. A file that writes ``30.5`` somewhere, or a column that also holds text, is left as it
is: ``12,500`` there stays text (and is refused as a number) rather than becoming 12.5.
"""

from __future__ import annotations

import csv
import io
import re

DELIMITERS = ",;\t"
_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")
_WHOLE = re.compile(r"[-+]?\d+")
_DECIMAL_POINT = re.compile(r"[-+]?\d*\.\d+")


def delimiter_of(text: str) -> str:
    """The separator the header line uses most: comma, semicolon or tab (comma if none)."""
    header = text.lstrip().partition("\n")[0]
    return max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","


def read_lines(text: str) -> list[list[str]]:
    """The file's non-blank lines as lists of cells (header first). Raises csv.Error when it is not CSV text."""
    if "\x00" in text:  # an Excel workbook or another binary file given a .csv name
        raise csv.Error("it is a binary file, not CSV text (a spreadsheet must be saved as CSV first)")
    text = text.lstrip("\ufeff").lstrip()
    delimiter = delimiter_of(text)
    lines = [line for line in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in line)]
    if delimiter == ";" and len(lines) > 1:
        _use_decimal_points(lines)
    return lines


def _use_decimal_points(lines: list[list[str]]) -> None:
    """In place: decimal commas -> points, in the data columns that are decimal-comma numbers only."""
    if any(_DECIMAL_POINT.fullmatch(cell.strip()) for line in lines[1:] for cell in line):
        return  # the file writes decimal points: a comma between digits is not one
    width = max(len(line) for line in lines)
    for column in range(width):
        cells = [line[column].strip() for line in lines[1:] if column < len(line) and line[column].strip()]
        if any(_DECIMAL_COMMA.fullmatch(c) for c in cells) and all(
            _DECIMAL_COMMA.fullmatch(c) or _WHOLE.fullmatch(c) for c in cells
        ):
            for line in lines[1:]:
                if column < len(line):
                    line[column] = line[column].replace(",", ".")
