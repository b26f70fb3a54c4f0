"""The CSV files analysts upload, as spreadsheets write them: comma, semicolon or tab separated.

A semicolon-separated file is how spreadsheets in many European locales save CSV, and those
write decimal commas (``30,5``): with semicolons, a cell that is a number with a decimal comma
is read as that number.
"""

from __future__ import annotations

import csv
import io
import re

DELIMITERS = ",;\t"
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


def delimiter_of(text: str) -> str:
    """The separator the header line uses most: comma, semicolon or tab (comma if none)."""
    header = text.lstrip().partition("\n")[0]
    return max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","


def read_lines(text: str) -> list[list[str]]:
    """The file's non-blank lines as lists of cells (header first). Raises csv.Error on broken quoting."""
    if "\x00" in text:  # an Excel workbook or another binary file given a .csv name
        raise csv.Error("it is a binary file, not CSV text (a spreadsheet must be saved as CSV first)")
    text = text.lstrip("\ufeff").lstrip()
    delimiter = delimiter_of(text)
    lines = [line for line in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in line)]
    if delimiter == ";":
        lines = [[cell.replace(",", ".") if _DECIMAL_COMMA.match(cell) else cell for cell in line] for line in lines]
    return lines
