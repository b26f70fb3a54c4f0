"""Bulk what-if: edit every row of a file (or the rows a filter picks) and see what the model does with them.

Edits are short texts, combinable and applied in order::

    average_monthly_income*=1.1        multiply (a number or a plain integer)
    order_amount+=500 / age-=5         add or subtract
    employment_status=Employed         set (a number, a category's label or code, a one-hot label, true/false)
    sex:male->female,female->male      map categories (labels or codes; every pair at once)
    clip(fare) / fare clip             bring numbers back within the training range

A filter (``where``) such as ``age < 30 and sex == female`` picks the rows the edits apply to.
It is read by a small hand-written parser (conditions ``feature op value`` with < <= > >= == !=,
joined by ``and`` / ``or``, in brackets if need be): the user's text is never evaluated, so it
can do nothing but compare.

``bulk_whatif`` sends the original rows and the edited ones in ONE call of ``predict`` (the
``BatchPredictor`` splits it into several tasks only beyond the server's limits). A row the
edits leave as it was is not sent twice: its answer after is its answer before. The result
holds every row before and after, the class-transition matrix, the share of rows whose class
changed, the mean change of the score with a paired bootstrap 95 % interval, the rows pushed
outside the training range, and the rows that moved most.
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.frames import BOOKKEEPING_PREFIX, check_score_class, listed, request_frame, value_text
from whatif.analysis.grids import is_numeric
from whatif.analysis.result import AnalysisResult
from whatif.analysis.score import Scorer, scorer_for
from whatif.schema import Feature, FeatureSchema

EditOp = Literal["set", "add", "mul", "map", "clip"]
EDIT_OPS: tuple[str, ...] = ("set", "add", "mul", "map", "clip")
COMPARISONS: tuple[str, ...] = ("<", "<=", ">", ">=", "==", "!=")
BOOTSTRAP_RESAMPLES = 2000
TOP_MOVERS = 10
MAX_TEXT = 2000  # characters of one edit or filter
MAX_DEPTH = 16  # brackets within brackets in a filter
WHOLE_LIMIT = 2**53  # integers beyond it are not exact as JSON numbers
EDIT_FORMS = "write it like income*=1.1, income+=500, status=Employed, sex:male->female or clip(age)"
_BOOTSTRAP_CELLS = 2_000_000  # resampled values drawn at once (16 MB)


# ---- edits ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    """One change of one feature: ``set`` it to ``value``, ``add`` ``value``, ``mul``tiply by ``value``,
    ``map`` its values by ``mapping`` (pairs of form values, applied together), or ``clip`` it to the training range.

    Values are form values as ``Feature.coerce`` makes them (a category's code, a one-hot group's label).
    """

    feature: str
    op: EditOp
    value: Any = None
    mapping: tuple[tuple[Any, Any], ...] = ()


def parse_edit(schema: FeatureSchema, text: str) -> Edit:
    """The edit a text describes, checked against the schema; AnalysisError (one sentence) otherwise.

    Forms: ``f=v``, ``f+=x``, ``f-=x``, ``f*=x``, ``f:A->B`` (several pairs separated by commas),
    ``clip(f)`` or ``f clip``. Values of categories may be labels (any case) or codes; values may
    be quoted.
    """
    raw = str(text)
    shown = _shown(raw)
    text = raw.strip()
    if not text:
        raise AnalysisError(f"An edit is empty; {EDIT_FORMS}.")
    if len(text) > MAX_TEXT:
        raise AnalysisError(f"An edit is {len(text):,} characters long, more than {MAX_TEXT:,}; {EDIT_FORMS}.")
    called = re.fullmatch(r"clip\s*\(\s*(.+?)\s*\)", text, re.IGNORECASE)
    if called is not None:
        feature = _edit_feature(schema, _unquoted(called.group(1)), shown)
        return checked_edit(schema, Edit(feature.name, "clip"), shown)
    trailing = re.fullmatch(r"(.+?)\s+clip", text, re.IGNORECASE)
    if trailing is not None and _feature_named(schema, _unquoted(trailing.group(1))) is not None:
        feature = _edit_feature(schema, _unquoted(trailing.group(1)), shown)
        return checked_edit(schema, Edit(feature.name, "clip"), shown)
    feature, token, rest = _split_edit(schema, text, shown)
    if token in ("+=", "-=", "*="):
        number = _number(rest)
        if number is None:
            raise AnalysisError(
                f"The edit {shown} cannot apply: {_shown(rest) if rest else 'nothing'} after "
                f"{token} is not a number; {EDIT_FORMS}."
            )
        op: EditOp = "mul" if token == "*=" else "add"
        return checked_edit(schema, Edit(feature.name, op, -number if token == "-=" else number), shown)
    if token == ":":
        return checked_edit(schema, Edit(feature.name, "map", mapping=_pairs(feature, rest, shown)), shown)
    if not rest:
        raise AnalysisError(
            f"The edit {shown} sets {feature.name} to nothing; write the value after =, like {_example_set(feature)}."
        )
    return checked_edit(schema, Edit(feature.name, "set", _form_value(feature, rest, shown)), shown)


def checked_edit(schema: FeatureSchema, edit: Edit, shown: str | None = None) -> Edit:
    """The edit when it can apply to its feature (values coerced); AnalysisError naming it otherwise."""
    feature = _edit_feature(schema, edit.feature, shown or _shown(edit_text(edit)))
    shown = shown or _shown(edit_text(edit, schema))
    if edit.op not in EDIT_OPS:
        raise AnalysisError(f"The edit {shown} has an unknown kind {edit.op!r}; use one of {', '.join(EDIT_OPS)}.")
    if edit.op in ("add", "mul"):
        if not is_numeric(feature):
            kind = _kind(feature)
            raise AnalysisError(
                f"The edit {shown} cannot apply: {feature.name} is {kind}, which cannot be "
                f"{'added to' if edit.op == 'add' else 'multiplied'}; set it "
                f"({_example_set(feature)}) or map it ({_example_map(feature)}) instead."
            )
        number = _number(edit.value)
        if number is None:
            raise AnalysisError(f"The edit {shown} cannot apply: {edit.value!r} is not a finite number.")
        return Edit(feature.name, edit.op, number)
    if edit.op == "clip":
        if not is_numeric(feature):
            raise AnalysisError(
                f"The edit {shown} cannot apply: {feature.name} is {_kind(feature)}, which has no range to clip to."
            )
        if feature.min is None and feature.max is None:
            raise AnalysisError(
                f"The edit {shown} cannot apply: the schema gives {feature.name} no training range to clip to."
            )
        return Edit(feature.name, "clip")
    if edit.op == "set":
        return Edit(feature.name, "set", _form_value(feature, edit.value, shown))
    if not edit.mapping:
        raise AnalysisError(f"The edit {shown} maps nothing; write pairs like {_example_map(feature)}.")
    pairs = tuple((_form_value(feature, a, shown), _form_value(feature, b, shown)) for a, b in edit.mapping)
    sources = [a for a, _ in pairs]
    twice = next((a for a in sources if sources.count(a) > 1), None)
    if twice is not None:
        raise AnalysisError(f"The edit {shown} maps {value_text(feature, twice)} twice; map each value once.")
    return Edit(feature.name, "map", mapping=pairs)


def edit_text(edit: Edit, schema: FeatureSchema | None = None) -> str:
    """The edit as text that ``parse_edit`` reads back into the same edit.

    With the schema, categories are written by their labels (``sex=male``), else by their codes (``sex=1``).
    """
    name = edit.feature
    if edit.op == "clip":
        return f"clip({name})"
    if edit.op == "add":
        number = float(edit.value)
        return f"{name}-={_number_text(-number)}" if number < 0 else f"{name}+={_number_text(number)}"
    if edit.op == "mul":
        return f"{name}*={_number_text(float(edit.value))}"
    feature = _feature_or_none(schema, name)
    if edit.op == "set":
        return f"{name}={_value_text(feature, edit.value)}"
    return f"{name}:" + ",".join(f"{_value_text(feature, a)}->{_value_text(feature, b)}" for a, b in edit.mapping)


def edit_phrase(schema: FeatureSchema, edit: Edit) -> str:
    """How a reading says an edit: "average_monthly_income rose 10 %", "employment_status were Employed"."""
    feature = schema.feature(edit.feature)
    name = feature.name
    if edit.op == "add":
        amount = float(edit.value)
        if amount == 0:
            return f"{name} stayed as it is"
        return f"{name} {'rose' if amount > 0 else 'fell'} by {abs(amount):,.10g}"
    if edit.op == "mul":
        factor = float(edit.value)
        if factor == 1:
            return f"{name} stayed as it is"
        if factor > 0:
            return f"{name} {'rose' if factor > 1 else 'fell'} {abs(factor - 1) * 100:.4g} %"
        return f"{name} were multiplied by {_number_text(factor)}"
    if edit.op == "clip":
        return f"{name} were kept within its training range"
    if edit.op == "set":
        return f"{name} were {value_text(feature, edit.value)}"
    pairs = [(value_text(feature, a), value_text(feature, b)) for a, b in edit.mapping]
    if len(pairs) == 1:
        return f"{name} were {pairs[0][1]} instead of {pairs[0][0]}"
    return f"{name} were mapped ({', '.join(f'{a} to {b}' for a, b in pairs)})"


def edits_phrase(schema: FeatureSchema, edits: Sequence[Edit]) -> str:
    """The edits joined as a sentence joins them: "a rose 10 % and b were Employed"."""
    return listed([edit_phrase(schema, e) for e in edits], most=len(edits) or 1)


def _split_edit(schema: FeatureSchema, text: str, shown: str) -> tuple[Feature, str, str]:
    """(feature, operator token, the rest) of ``f<op>rest``; the longest feature name that fits wins."""
    tokens = ("+=", "-=", "*=", "==", "=", ":")
    for feature in sorted(schema.features, key=lambda f: -len(f.name)):
        if not text.startswith(feature.name):
            continue
        rest = text[len(feature.name) :].lstrip()
        for token in tokens:
            if rest.startswith(token):
                return feature, "=" if token == "==" else token, rest[len(token) :].strip()
    match = re.match(r"\s*(.*?)\s*(\+=|-=|\*=|==|=|:)", text)
    if match is not None and match.group(1):
        feature = _edit_feature(schema, _unquoted(match.group(1)), shown)  # a quoted name, or another case
        token = match.group(2)
        return feature, "=" if token == "==" else token, text[match.end() :].strip()
    raise AnalysisError(f"The edit {shown} cannot be read; {EDIT_FORMS}.")


def _pairs(feature: Feature, text: str, shown: str) -> tuple[tuple[Any, Any], ...]:
    """``A->B,C->D`` as pairs of form values."""
    pairs = []
    for part in text.split(","):
        if not part.strip():
            continue
        sides = part.split("->")
        if len(sides) != 2 or not sides[0].strip() or not sides[1].strip():
            raise AnalysisError(
                f"The edit {shown} cannot be read: write each mapping as FROM->TO, like {_example_map(feature)}."
            )
        pairs.append((_form_value(feature, sides[0], shown), _form_value(feature, sides[1], shown)))
    if not pairs:
        raise AnalysisError(f"The edit {shown} maps nothing; write pairs like {_example_map(feature)}.")
    return tuple(pairs)


def _form_value(feature: Feature, value: Any, shown: str) -> Any:
    """A value written in an edit or a filter as the feature's form value; AnalysisError naming the edit otherwise."""
    if isinstance(value, str):
        value = _unquoted(value.strip())
        if feature.type == "one_hot":
            folded = [c for c in feature.choices if c.casefold() == value.casefold()]
            if len(folded) == 1:
                value = folded[0]
    try:
        return feature.coerce(value)
    except ValueError as exc:
        raise AnalysisError(f"{_what(shown)} cannot apply to {feature.name} ({_problem(exc)}).") from None


def _feature_named(schema: FeatureSchema, name: str) -> Feature | None:
    """The feature called ``name`` (in any case when only one fits), or None."""
    try:
        return schema.feature(name)
    except KeyError:
        pass
    folded = [f for f in schema.features if f.name.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def _edit_feature(schema: FeatureSchema, name: str, shown: str) -> Feature:
    feature = _feature_named(schema, name)
    if feature is not None:
        return feature
    names = [f.name for f in schema.features]
    raise AnalysisError(
        f"{_what(shown)} names {_shown(name)}, which is not a feature of this model; choose one of "
        f"{listed(names, most=12)}."
    )


def _what(shown: str) -> str:
    """ "The edit 'x'" or "The filter 'y'" for an error sentence (``shown`` may already be the full phrase)."""
    return shown if shown.startswith("The ") else f"The edit {shown}"


def _feature_or_none(schema: FeatureSchema | None, name: str) -> Feature | None:
    if schema is None:
        return None
    try:
        return schema.feature(name)
    except KeyError:
        return None


def _value_text(feature: Feature | None, value: Any) -> str:
    """A form value as an edit writes it: a unique label for a code (else the code), numbers shortest."""
    if feature is not None and feature.is_categorical:
        label = feature.label_of(value)
        try:
            if feature.coerce(label) == value:
                return label
        except ValueError:
            pass
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return _number_text(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _number_text(number: float) -> str:
    """The shortest text that reads back as the same number: 2 for 2.0, 1.1, 1e-07."""
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(float(number))


def _number(value: Any) -> float | None:
    """A finite number from a number or its text, else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(_unquoted(value.strip()) if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _unquoted(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _shown(text: str, most: int = 60) -> str:
    """User text quoted for an error sentence: one line, shortened."""
    one_line = " ".join(str(text).split())
    return repr(one_line if len(one_line) <= most else one_line[: most - 1] + "…")


def _problem(exc: Exception) -> str:
    return str(exc).strip().rstrip(".")


def _kind(feature: Feature) -> str:
    if feature.type == "one_hot":
        return "a one-hot group"
    if feature.type == "boolean":
        return "true or false"
    return "a category"


def _example_set(feature: Feature) -> str:
    levels = _levels(feature)
    value = levels[-1] if levels else feature.default if feature.default is not None else 0
    return f"{feature.name}={_value_text(feature, value)}"


def _example_map(feature: Feature) -> str:
    levels = _levels(feature)
    if len(levels) >= 2:
        return f"{feature.name}:{_value_text(feature, levels[0])}->{_value_text(feature, levels[1])}"
    return f"{feature.name}:A->B"


def _levels(feature: Feature) -> list[Any]:
    if feature.type == "boolean":
        return [False, True]
    if feature.type == "one_hot":
        return feature.choices
    if feature.is_categorical:
        return [int(code) for code in feature.labels]
    return []


# ---- filters ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """``feature op value``, the value a form value of the feature."""

    feature: str
    op: str
    value: Any


@dataclass(frozen=True)
class AllOf:
    """Every part holds (``and``)."""

    parts: tuple[Condition | AllOf | AnyOf, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds (``or``)."""

    parts: tuple[Condition | AllOf | AnyOf, ...]


Clause = Condition | AllOf | AnyOf
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Filter:
    """A parsed ``where``: which rows the edits apply to. ``text`` is what the user wrote."""

    text: str
    clause: Clause

    def mask(self, rows: pd.DataFrame) -> np.ndarray:
        """True for every row (form values) the filter picks, in order."""
        return _mask(self.clause, rows.reset_index(drop=True))

    def canonical(self, schema: FeatureSchema | None = None) -> str:
        """The filter written back (labels for categories with the schema): ``parse_where`` reads it as the same."""
        return _clause_text(self.clause, schema, top=True)


def parse_where(schema: FeatureSchema, text: str) -> Filter:
    """The filter a text describes; AnalysisError (one sentence) when it cannot be read or names no feature.

    Grammar: ``or`` of ``and`` of conditions ``feature op value`` or bracketed filters; op is one of
    < <= > >= == != (= reads as ==); a value is a number, a label or code, true/false, or quoted text.
    Nothing in the text is evaluated: it is split into words and compared.
    """
    raw = str(text)
    if not raw.strip():
        raise AnalysisError(f"The filter is empty; {_where_forms(schema)}.")
    if len(raw) > MAX_TEXT:
        raise AnalysisError(
            f"The filter is {len(raw):,} characters long, more than {MAX_TEXT:,}; {_where_forms(schema)}."
        )
    parser = _WhereParser(schema, raw)
    clause = parser.parse()
    return Filter(raw.strip(), clause)


def where_text(where: Filter | str | None) -> str:
    """The filter's text as written ("" for none)."""
    if where is None:
        return ""
    return where.text if isinstance(where, Filter) else str(where).strip()


_TOKEN = re.compile(
    r"""\s*(?:(?P<op><=|>=|==|!=|<|>|=)|(?P<bracket>[()])|(?P<quoted>"[^"]*"|'[^']*')|"""
    r"""(?P<word>[^\s()<>=!"']+)|(?P<bad>\S))"""
)
_KEYWORDS = ("and", "or")


@dataclass(frozen=True)
class _Token:
    kind: str  # op, bracket, quoted, word, end
    text: str


class _WhereParser:
    """Recursive descent over the filter's words; raises AnalysisError sentences, never evaluates anything."""

    def __init__(self, schema: FeatureSchema, text: str) -> None:
        self.schema = schema
        self.text = text
        self.shown = f"The filter {_shown(text)}"
        self.tokens = self._tokens(text)
        self.at = 0

    def _fail(self, problem: str) -> AnalysisError:
        return AnalysisError(f"{self.shown} cannot be read: {problem}; {_where_forms(self.schema)}.")

    def _tokens(self, text: str) -> list[_Token]:
        tokens = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:  # only trailing blanks are left
                break
            position = match.end()
            kind = match.lastgroup
            if kind is None:
                break
            value = match.group(kind)
            if kind == "bad":
                if value in "\"'":
                    raise self._fail("a quote is not closed")
                raise self._fail(f"{_shown(value)} is not a comparison (use < <= > >= == !=)")
            tokens.append(_Token(kind, value))
        tokens.append(_Token("end", ""))
        return tokens

    def _peek(self) -> _Token:
        return self.tokens[self.at]

    def _next(self) -> _Token:
        token = self.tokens[self.at]
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def _is_keyword(self, token: _Token, word: str) -> bool:
        return token.kind == "word" and token.text.casefold() == word

    def parse(self) -> Clause:
        clause = self._any(0)
        token = self._peek()
        if token.kind != "end":
            raise self._fail(f"{_shown(token.text)} is left over (join conditions with and / or)")
        return clause

    def _any(self, depth: int) -> Clause:
        parts = [self._all(depth)]
        while self._is_keyword(self._peek(), "or"):
            self._next()
            parts.append(self._all(depth))
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def _all(self, depth: int) -> Clause:
        parts = [self._atom(depth)]
        while self._is_keyword(self._peek(), "and"):
            self._next()
            parts.append(self._atom(depth))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def _atom(self, depth: int) -> Clause:
        token = self._peek()
        if token.kind == "bracket" and token.text == "(":
            if depth >= MAX_DEPTH:
                raise self._fail(f"brackets go more than {MAX_DEPTH} deep")
            self._next()
            clause = self._any(depth + 1)
            closing = self._next()
            if closing.kind != "bracket" or closing.text != ")":
                raise self._fail("a bracket is not closed")
            return clause
        return self._condition()

    def _condition(self) -> Condition:
        words: list[str] = []
        while self._peek().kind in ("word", "quoted") and not any(self._is_keyword(self._peek(), k) for k in _KEYWORDS):
            token = self._next()
            words.append(_unquoted(token.text) if token.kind == "quoted" else token.text)
        token = self._peek()
        if not words:
            what = "the end" if token.kind == "end" else _shown(token.text)
            raise self._fail(f"a condition is missing before {what}")
        if token.kind != "op":
            raise self._fail(f"{_shown(' '.join(words))} has no comparison after it")
        compare = self._next().text
        op = "==" if compare == "=" else compare
        name = " ".join(words)
        feature = _edit_feature(self.schema, name, self.shown)
        values: list[str] = []
        while self._peek().kind in ("word", "quoted") and not any(self._is_keyword(self._peek(), k) for k in _KEYWORDS):
            token = self._next()
            values.append(_unquoted(token.text) if token.kind == "quoted" else token.text)
        if not values:
            raise self._fail(f"a value is missing after {_shown(name + ' ' + op)}")
        return self._checked(feature, op, " ".join(values))

    def _checked(self, feature: Feature, op: str, text: str) -> Condition:
        if is_numeric(feature):
            number = _number(text)
            if number is None:
                raise AnalysisError(
                    f"{self.shown} cannot apply: {feature.name} is a number, so compare it with a "
                    f"number, not {_shown(text)}."
                )
            return Condition(feature.name, op, number)
        if op not in ("==", "!=") and not feature.is_categorical:
            raise AnalysisError(
                f"{self.shown} cannot apply: {feature.name} is {_kind(feature)}, so compare it with == or != only."
            )
        return Condition(feature.name, op, _form_value(feature, text, self.shown))


def _where_forms(schema: FeatureSchema) -> str:
    """How to write a filter, with the model's own features."""
    number = next((f for f in schema.features if is_numeric(f)), None)
    category = next((f for f in schema.features if not is_numeric(f)), None)
    examples = []
    if number is not None:
        middle = (
            number.default if isinstance(number.default, int | float) and not isinstance(number.default, bool) else 30
        )
        examples.append(f"{number.name} < {_number_text(float(middle))}")
    if category is not None:
        levels = _levels(category)
        examples.append(f"{category.name} == {_value_text(category, levels[0]) if levels else 'A'}")
    example = " and ".join(examples) or "age < 30"
    return f"write conditions like {example}, joined by and / or"


def _mask(clause: Clause, rows: pd.DataFrame) -> np.ndarray:
    if isinstance(clause, AllOf):
        masks = [_mask(part, rows) for part in clause.parts]
        return np.logical_and.reduce(masks) if masks else np.ones(len(rows), dtype=bool)
    if isinstance(clause, AnyOf):
        masks = [_mask(part, rows) for part in clause.parts]
        return np.logical_or.reduce(masks) if masks else np.zeros(len(rows), dtype=bool)
    column = rows[clause.feature]
    compare = _COMPARE[clause.op]
    if isinstance(clause.value, bool):
        return np.asarray(compare(column.astype(bool).to_numpy(), clause.value), dtype=bool)
    if isinstance(clause.value, int | float):
        return np.asarray(
            compare(pd.to_numeric(column, errors="coerce").to_numpy(dtype=float), float(clause.value)), dtype=bool
        )
    return np.asarray(compare(column.astype(object).to_numpy(), clause.value), dtype=bool)


def _clause_text(clause: Clause, schema: FeatureSchema | None, top: bool = False) -> str:
    if isinstance(clause, Condition):
        feature = _feature_or_none(schema, clause.feature)
        value = _value_text(feature, clause.value)
        if not re.fullmatch(r"[^\s()<>=!\"']+", value) or value.casefold() in _KEYWORDS:
            value = f'"{value}"' if '"' not in value else f"'{value}'"
        return f"{clause.feature} {clause.op} {value}"
    joiner = " and " if isinstance(clause, AllOf) else " or "
    text = joiner.join(_clause_text(part, schema) for part in clause.parts)
    return text if top else f"({text})"


# ---- applying edits ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EditedRows:
    """Rows before and after the edits, as form values (index 0..n-1), and what the edits did to them.

    ``matched``: the rows the filter picked (every row without one). ``changed``: the rows whose inputs
    differ after the edits. ``outside``: the rows an edit pushed outside the training range of a number
    (a row already outside it before is not counted for that feature); ``outside_by_feature`` counts them
    per feature. ``notes``: sentences on what the edits had to do (integers rounded).
    """

    original: pd.DataFrame
    edited: pd.DataFrame
    matched: np.ndarray
    changed: np.ndarray
    outside: np.ndarray
    outside_by_feature: dict[str, int]
    notes: tuple[str, ...]
    edits: tuple[Edit, ...]
    where: Filter | None

    def __len__(self) -> int:
        return len(self.original)


def apply_edits(
    schema: FeatureSchema, rows: pd.DataFrame, edits: Sequence[Edit | str], where: Filter | str | None = None
) -> EditedRows:
    """Apply ``edits`` in order to the rows ``where`` picks; AnalysisError (one sentence) when one cannot apply.

    ``rows`` holds form values (one column per feature, as ``read_form_rows`` gives them); they are
    checked first. Plain integers stay whole (rounded half up, said in ``notes``), categories stay
    valid codes and one-hot groups valid labels (only ``set`` and ``map`` change them, with checked values).
    """
    if not edits:
        raise AnalysisError(f"There is no edit to apply; add one, like {_example_edit(schema)}.")
    parsed = tuple(parse_edit(schema, e) if isinstance(e, str) else checked_edit(schema, e) for e in edits)
    condition = (
        parse_where(schema, where)
        if isinstance(where, str) and where.strip()
        else (where if isinstance(where, Filter) else None)
    )
    original = coerced_rows(schema, rows)
    matched = condition.mask(original) if condition is not None else np.ones(len(original), dtype=bool)
    if not matched.any():
        raise AnalysisError(
            f"The filter {_shown(condition.text if condition else '')} matches none of the "
            f"{len(original):,} rows, so no row would change; loosen it or leave it out."
        )
    edited = original.copy()
    notes: list[str] = []
    for edit in parsed:
        note = _apply(schema.feature(edit.feature), edit, edited, matched, schema)
        if note:
            notes.append(note)
    changed = np.zeros(len(original), dtype=bool)
    outside = np.zeros(len(original), dtype=bool)
    by_feature: dict[str, int] = {}
    for f in schema.features:
        before, after = original[f.name], edited[f.name]
        differs = (before != after).to_numpy(dtype=bool)
        changed |= differs
        if is_numeric(f) and (f.min is not None or f.max is not None):
            pushed = _out_of_range(f, after) & ~_out_of_range(f, before) & differs
            if pushed.any():
                by_feature[f.name] = int(pushed.sum())
                outside |= pushed
    return EditedRows(original, edited, matched, changed, outside, by_feature, tuple(notes), parsed, condition)


def coerced_rows(schema: FeatureSchema, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows' form values checked by each feature (each distinct value once); AnalysisError naming the
    first bad row and feature."""
    missing = [f.name for f in schema.features if f.name not in rows.columns]
    if missing:
        raise AnalysisError(
            f"The rows have no column for {listed(missing)}; they must hold the model's inputs as form values."
        )
    if len(rows) == 0:
        raise AnalysisError("There are no rows to edit; load a file with at least one row.")
    columns: dict[str, pd.Series] = {}
    for f in schema.features:
        known: dict[tuple[type, Any], Any] = {}
        values = []
        for number, value in enumerate(rows[f.name].tolist(), 1):
            key = (type(value), value)
            try:
                values.append(known[key])
                continue
            except (KeyError, TypeError):
                pass
            try:
                coerced = f.coerce(value)
            except ValueError as exc:
                raise AnalysisError(
                    f"Row {number} does not fit the model: {f.name} {_problem(exc)}; fix the file and load it again."
                ) from None
            try:
                known[key] = coerced
            except TypeError:
                pass
            values.append(coerced)
        columns[f.name] = _typed(f, values)
    return pd.DataFrame(columns)


def _typed(feature: Feature, values: Sequence[Any]) -> pd.Series:
    if feature.type == "boolean":
        return pd.Series(values, dtype=bool)
    if feature.type == "integer":
        return pd.Series(values, dtype="int64")
    if feature.type == "number":
        return pd.Series(values, dtype=float)
    return pd.Series(values, dtype=object)


def _apply(feature: Feature, edit: Edit, rows: pd.DataFrame, matched: np.ndarray, schema: FeatureSchema) -> str:
    """Apply one edit in place to the matched rows; a note when integers were rounded."""
    column = rows[feature.name]
    text = edit_text(edit, schema)
    if edit.op == "set":
        values = column.to_numpy(dtype=object).copy()
        values[matched] = edit.value
        rows[feature.name] = _typed(feature, list(values))
        return ""
    if edit.op == "map":
        mapping = dict(edit.mapping)
        values = column.to_numpy(dtype=object).copy()
        values[matched] = [mapping.get(v, v) for v in values[matched]]
        rows[feature.name] = _typed(feature, list(values))
        return ""
    numbers = column.to_numpy(dtype=float).copy()
    picked = numbers[matched]
    with np.errstate(over="ignore", invalid="ignore"):
        if edit.op == "add":
            picked = picked + float(edit.value)
        elif edit.op == "mul":
            picked = picked * float(edit.value)
        else:
            low = -math.inf if feature.min is None else float(feature.min)
            high = math.inf if feature.max is None else float(feature.max)
            if feature.type == "integer":
                low, high = (
                    (math.ceil(low) if math.isfinite(low) else low),
                    (math.floor(high) if math.isfinite(high) else high),
                )
            picked = np.clip(picked, low, high)
    if not np.isfinite(picked).all():
        bad = int((~np.isfinite(picked)).sum())
        raise AnalysisError(
            f"The edit {_shown(text)} cannot apply: it makes {bad:,} value(s) of {feature.name} too "
            "large to send; use a smaller amount."
        )
    note = ""
    if feature.type == "integer":
        whole = np.floor(picked + 0.5)
        rounded = int((whole != picked).sum())
        if (np.abs(whole) > WHOLE_LIMIT).any():
            raise AnalysisError(
                f"The edit {_shown(text)} cannot apply: it makes whole numbers of {feature.name} too "
                "large to send; use a smaller amount."
            )
        if rounded:
            note = f"{feature.name} is a whole number, so {rounded:,} value(s) were rounded after {text} (halves up)."
        numbers[matched] = whole
        rows[feature.name] = pd.Series(numbers.astype(np.int64), index=rows.index)
    else:
        numbers[matched] = picked
        rows[feature.name] = pd.Series(numbers, index=rows.index)
    return note


def _out_of_range(feature: Feature, values: pd.Series) -> np.ndarray:
    numbers = values.to_numpy(dtype=float)
    out = np.zeros(len(numbers), dtype=bool)
    if feature.min is not None:
        out |= numbers < feature.min
    if feature.max is not None:
        out |= numbers > feature.max
    return out


def _example_edit(schema: FeatureSchema) -> str:
    number = next((f for f in schema.features if is_numeric(f)), None)
    if number is not None:
        return f"{number.name}*=1.1"
    return _example_set(schema.features[0])


# ---- the bulk what-if -------------------------------------------------------------------------------------
def bulk_whatif(
    schema: FeatureSchema,
    rows: pd.DataFrame,
    edits: Sequence[Edit | str],
    predict: Predict,
    *,
    where: Filter | str | None = None,
    drop_outside: bool = False,
    seed: int = 0,
    score_class: str | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    top: int = TOP_MOVERS,
) -> AnalysisResult:
    """What the model answers for ``rows`` before and after ``edits``, in ONE call of ``predict``.

    The original rows (every one kept) and the edited rows (those whose inputs the edits changed)
    are sent together; ``drop_outside`` leaves out the rows an edit pushed outside a training range.

    ``summary``: one row per row analysed, in the file's order: ``row`` (1-based line of the rows
    given), ``matched``, ``outside``, ``inputs_changed``, ``<feature>_before`` / ``<feature>_after``
    for each edited feature, ``score_before``, ``score_after``, ``change`` and for classifiers
    ``class_before``, ``class_after`` (labels) and ``class_changed``. ``facts``: the transition
    matrix (``transitions[from][to]``, class labels), ``class_changed`` and ``share_changed``, the
    mean change with its paired bootstrap 95 % interval (``mean_change``, ``change_low``,
    ``change_high``; ``resamples`` resamples seeded by ``seed``), the rows outside and left out,
    ``top_movers`` (row numbers, largest change first) and ``notes``. ``sent``: every row sent with
    its answer, ``row``, ``version`` ("before" / "after") and ``score``.
    """
    check_score_class(schema, score_class)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise AnalysisError(f"The bootstrap needs a whole number of at least 1 resample, not {resamples!r}.")
    done = apply_edits(schema, rows, edits, where)
    n = len(done)
    keep = ~done.outside if drop_outside else np.ones(n, dtype=bool)
    if not keep.any():
        raise AnalysisError(
            f"The edits push every one of the {n:,} rows outside the training range, so none is left "
            "once they are left out; keep them or change the edits."
        )
    kept = np.flatnonzero(keep)
    again = kept[done.changed[kept]]
    form = {
        f.name: [*done.original[f.name].iloc[kept].tolist(), *done.edited[f.name].iloc[again].tolist()]
        for f in schema.features
    }
    request = request_frame(schema, form)
    answers = predict(request)
    if len(answers) != len(request):
        raise AnalysisError(
            f"The model answered {len(answers):,} rows for the {len(request):,} sent, so answers "
            "cannot be matched to rows; run the analysis again."
        )
    answers = answers.reset_index(drop=True)
    scorer = _scorer(schema, answers, score_class, len(kept))
    score = scorer.score(answers).to_numpy(dtype=float)
    predicted = scorer.predicted_class(answers).to_numpy(dtype=object)
    k = len(kept)
    after_position = np.arange(k)
    after_position[done.changed[kept]] = k + np.arange(len(again))
    before, after = score[:k], score[after_position]
    class_before, class_after = predicted[:k], predicted[after_position]
    classifier = scorer.task == "classification"

    summary = _summary(schema, done, kept, before, after, class_before, class_after, classifier)
    change = after - before
    low, high = paired_bootstrap(before, after, resamples=resamples, seed=seed)
    movers = _top_movers(summary, top)
    facts: dict[str, Any] = {
        "edits": [edit_text(e, schema) for e in done.edits],
        "where": where_text(done.where) or None,
        "rows_in_file": n,
        "rows": k,
        "matched": int(done.matched[kept].sum()),
        "inputs_changed": int(done.changed[kept].sum()),
        "rows_sent": len(request),
        "outside": int(done.outside.sum()),
        "outside_by_feature": dict(done.outside_by_feature),
        "left_out": n - k,
        "left_out_rows": [int(i) + 1 for i in np.flatnonzero(~keep)],
        "score": scorer.title,
        "score_class": scorer.score_class,
        "mean_before": _mean(before),
        "mean_after": _mean(after),
        "mean_change": _mean(change),
        "change_low": low,
        "change_high": high,
        "resamples": resamples,
        "seed": seed,
        "top_movers": movers,
        "notes": list(done.notes),
    }
    if classifier:
        facts.update(_class_facts(schema, scorer, class_before, class_after))
    sent = _sent(request, answers, kept, again, score, k)
    reading = _reading(schema, done, scorer, facts, drop_outside)
    return AnalysisResult(
        kind="bulk",
        scorer=scorer,
        scenario={"edits": facts["edits"], "where": facts["where"]},
        scenario_score=facts["mean_before"],
        scenario_class=None,
        sent=sent,
        summary=summary,
        reading=reading,
        tasks=int(getattr(predict, "tasks_sent", 1)),
        facts=facts,
    )  # a BatchPredictor splits 2N rows when needed


def _scorer(schema: FeatureSchema, answers: pd.DataFrame, score_class: str | None, originals: int) -> Scorer:
    """The scorer of the answers; a multiclass model without a chosen class scores the class most rows had before."""
    try:
        scorer = scorer_for(schema, answers, score_class)
        if scorer.task == "classification" and len(scorer.classes) > 2 and score_class is None:
            common = Counter(scorer.predicted_class(answers.iloc[:originals]).tolist()).most_common(1)
            if common:
                scorer = scorer_for(schema, answers, str(common[0][0]))
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    return scorer


def paired_bootstrap(
    before: np.ndarray,
    after: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """The ``confidence`` percentile interval of the mean of ``after - before``, resampling rows (pairs) with
    replacement ``resamples`` times (numpy, seeded); rows whose change is not a number are left out."""
    change = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    change = change[np.isfinite(change)]
    if len(change) == 0:
        return (math.nan, math.nan)
    if np.all(change == change[0]):
        return (float(change[0]), float(change[0]))
    rng = np.random.default_rng(seed)
    n = len(change)
    per_draw = max(1, _BOOTSTRAP_CELLS // n)
    means = []
    left = resamples
    while left > 0:
        draws = min(per_draw, left)
        means.append(change[rng.integers(0, n, size=(draws, n))].mean(axis=1))
        left -= draws
    alpha = (1 - confidence) / 2
    low, high = np.quantile(np.concatenate(means), [alpha, 1 - alpha])
    return (float(low), float(high))


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


def _summary(
    schema: FeatureSchema,
    done: EditedRows,
    kept: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    class_before: np.ndarray,
    class_after: np.ndarray,
    classifier: bool,
) -> pd.DataFrame:
    table: dict[str, Any] = {
        "row": kept + 1,
        "matched": done.matched[kept],
        "outside": done.outside[kept],
        "inputs_changed": done.changed[kept],
    }
    taken = {
        "row",
        "matched",
        "outside",
        "inputs_changed",
        "score_before",
        "score_after",
        "change",
        "class_before",
        "class_after",
        "class_changed",
    }
    for name in dict.fromkeys(e.feature for e in done.edits):
        feature = schema.feature(name)
        for side, frame in (("before", done.original), ("after", done.edited)):
            column = f"{name}_{side}"
            if column in taken:
                column = f"input_{column}"
            values = frame[name].iloc[kept]
            table[column] = (
                values.to_numpy() if is_numeric(feature) else [value_text(feature, v) for v in values.tolist()]
            )
    table.update({"score_before": before, "score_after": after, "change": after - before})
    if classifier:
        table["class_before"] = [schema.class_label(c) for c in class_before]
        table["class_after"] = [schema.class_label(c) for c in class_after]
        table["class_changed"] = class_before != class_after
    return pd.DataFrame(table)


def _top_movers(summary: pd.DataFrame, top: int) -> list[int]:
    """The row numbers of the ``top`` largest changes (in size; rows that did not move are left out)."""
    size = summary["change"].abs().fillna(0).to_numpy(dtype=float)
    order = np.argsort(-size, kind="stable")
    order = order[size[order] > 0][: max(0, top)]
    return [int(r) for r in summary["row"].to_numpy()[order]]


def _class_facts(
    schema: FeatureSchema, scorer: Scorer, class_before: np.ndarray, class_after: np.ndarray
) -> dict[str, Any]:
    keys = list(scorer.classes)
    for key in [*class_before, *class_after]:
        if key not in keys:
            keys.append(str(key))
    labels = [schema.class_label(k) for k in keys]
    pairs = Counter(zip(class_before.tolist(), class_after.tolist(), strict=True))
    transitions = {
        schema.class_label(a): {schema.class_label(b): int(pairs.get((a, b), 0)) for b in keys} for a in keys
    }
    flipped = int((class_before != class_after).sum())
    target = scorer.score_class
    return {
        "classes": labels,
        "transitions": transitions,
        "class_changed": flipped,
        "share_changed": flipped / len(class_before) if len(class_before) else math.nan,
        "to_score_class": int(((class_before != target) & (class_after == target)).sum()),
        "from_score_class": int(((class_before == target) & (class_after != target)).sum()),
    }


def _sent(
    request: pd.DataFrame, answers: pd.DataFrame, kept: np.ndarray, again: np.ndarray, score: np.ndarray, k: int
) -> pd.DataFrame:
    taken = set(request.columns) | set(answers.columns)
    bookkeeping = {
        "row": np.concatenate([kept, again]) + 1,
        "version": ["before"] * k + ["after"] * len(again),
        "score": score,
    }
    extra = pd.DataFrame({(BOOKKEEPING_PREFIX + n if n in taken else n): v for n, v in bookkeeping.items()})
    answer_columns = answers[[c for c in answers.columns if c not in request.columns]]
    return pd.concat([request.reset_index(drop=True), answer_columns, extra], axis=1)


# ---- reading ----------------------------------------------------------------------------------------------
def share_text(share: float) -> str:
    """A share as the readings write it: "3.7 %", "37 %", "0 %"."""
    if share is None or not math.isfinite(share):
        return "n/a"
    value = share * 100
    if value == 0 or value >= 10:
        return f"{value:.0f} %"
    return f"{value:.1f} %" if value >= 0.1 else f"{value:.2f} %"


def change_text(scorer: Scorer, value: float, signed: bool = False) -> str:
    """A change of the score: "4.1 points" of a probability, "12.3" of a value (with its sign when ``signed``)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if scorer.task == "classification":
        points = value * 100
        digits = 1 if abs(points) >= 0.1 or points == 0 else 2
        return f"{points:+.{digits}f} points" if signed else f"{points:.{digits}f} points"
    return f"{value:+,.4g}" if signed else f"{value:,.4g}"


def _movement(scorer: Scorer, facts: Mapping[str, Any]) -> str:
    mean, low, high = facts["mean_change"], facts["change_low"], facts["change_high"]
    title = scorer.title
    if not math.isfinite(mean):
        return f"{title} cannot be compared"
    if mean == 0 and low == 0 and high == 0:
        return f"{title} does not move"
    if low > 0:
        return (
            f"{title} rises {change_text(scorer, mean)} on average (95 % interval {_bare(scorer, low)} to "
            f"{_bare(scorer, high)})"
        )
    if high < 0:
        return (
            f"{title} falls {change_text(scorer, abs(mean))} on average (95 % interval "
            f"{_bare(scorer, abs(high))} to {_bare(scorer, abs(low))})"
        )
    return (
        f"{title} moves {change_text(scorer, mean, True)} on average (95 % interval "
        f"{_bare(scorer, low, True)} to {_bare(scorer, high, True)}, so it may not move at all)"
    )


def interval_text(scorer: Scorer, low: float, high: float) -> str:
    """A signed interval of changes with its unit once: "+3.6 to +4.6 points", "-1.2 to +0.4"."""
    unit = " points" if scorer.task == "classification" and math.isfinite(low) and math.isfinite(high) else ""
    return f"{_bare(scorer, low, True)} to {_bare(scorer, high, True)}{unit}"


def _bare(scorer: Scorer, value: float, signed: bool = False) -> str:
    """An end of an interval: the change without its unit."""
    return change_text(scorer, value, signed).removesuffix(" points")


def _reading(
    schema: FeatureSchema, done: EditedRows, scorer: Scorer, facts: Mapping[str, Any], drop_outside: bool
) -> str:
    """ "If average_monthly_income rose 10 %, 37 of 1,000 rows (3.7 %) would go from rejected to approved and 2
    the other way; P(approved) rises 4.1 points on average (95 % interval 3.6 to 4.6)." """
    k = facts["rows"]
    condition = ""
    if done.where is not None:
        condition = f" for the {int(done.matched.sum()):,} rows where {done.where.canonical(schema)}"
    head = f"If {edits_phrase(schema, done.edits)}{condition}"
    if facts["inputs_changed"] == 0:
        first = f"{head}, none of the {k:,} rows analysed would change, so no answer moves."
    elif scorer.task == "classification" and len(scorer.classes) == 2:
        target = scorer.score_class
        other = next(c for c in scorer.classes if c != target)
        up, down = facts["to_score_class"], facts["from_score_class"]
        start, end = schema.class_label(other), schema.class_label(target)
        if down > up:  # said the way most rows go
            up, down, start, end = down, up, end, start
        first = (
            f"{head}, {up:,} of {k:,} rows ({share_text(up / k)}) would go from {start} to {end} and "
            f"{down:,} the other way; {_movement(scorer, facts)}."
        )
    elif scorer.task == "classification":
        changed = facts["class_changed"]
        most = _most_common_move(facts["transitions"])
        often = f", most often from {most[0]} to {most[1]} ({most[2]:,})" if most else ""
        first = (
            f"{head}, {changed:,} of {k:,} rows ({share_text(changed / k)}) would change class{often}; "
            f"{_movement(scorer, facts)}."
        )
    else:
        first = f"{head}, {_movement(scorer, facts)} over {k:,} rows."
    pushed = facts["outside"]
    if not pushed:
        return first
    where = listed(list(facts["outside_by_feature"]))
    rows_word = "row was" if pushed == 1 else "rows were"
    left = " and left out" if drop_outside else " (kept; they can be left out)"
    return f"{first} {pushed:,} {rows_word} pushed outside the training range of {where}{left}."


def _most_common_move(transitions: Mapping[str, Mapping[str, int]]) -> tuple[str, str, int] | None:
    moves = [(a, b, n) for a, row in transitions.items() for b, n in row.items() if a != b and n > 0]
    return max(moves, key=lambda m: m[2]) if moves else None


# ---- tables for files -------------------------------------------------------------------------------------
def facts_table(result: AnalysisResult) -> pd.DataFrame:
    """The headline numbers as a two-column table (``measure``, ``value``), transitions as "from A to B" rows:
    what the summary download holds."""
    facts = result.facts
    rows: list[tuple[str, Any]] = [
        ("edits", "; ".join(facts["edits"])),
        ("where", facts["where"] or ""),
        ("rows in the file", facts["rows_in_file"]),
        ("rows analysed", facts["rows"]),
        ("rows the filter matched", facts["matched"]),
        ("rows whose inputs changed", facts["inputs_changed"]),
        ("rows pushed outside the training range", facts["outside"]),
        ("rows left out", facts["left_out"]),
        ("rows sent", facts["rows_sent"]),
        ("score", facts["score"]),
        ("mean score before", facts["mean_before"]),
        ("mean score after", facts["mean_after"]),
        ("mean change", facts["mean_change"]),
        ("mean change, 95 % interval low", facts["change_low"]),
        ("mean change, 95 % interval high", facts["change_high"]),
        ("bootstrap resamples", facts["resamples"]),
    ]
    if "transitions" in facts:
        rows += [
            ("rows whose class changed", facts["class_changed"]),
            ("share whose class changed", facts["share_changed"]),
        ]
        rows += [(f"from {a} to {b}", n) for a, row in facts["transitions"].items() for b, n in row.items()]
    rows += [("rows that moved most", " ".join(str(r) for r in facts["top_movers"]))]
    rows += [("note", note) for note in facts["notes"]]
    return pd.DataFrame(rows, columns=["measure", "value"])


def transition_frame(result: AnalysisResult) -> pd.DataFrame:
    """The transition matrix as a table: one row per class before, one column per class after (counts)."""
    transitions = result.facts.get("transitions") or {}
    frame = pd.DataFrame.from_dict(transitions, orient="index")
    frame.index.name = "before \\ after"
    return frame


def movers_table(result: AnalysisResult) -> pd.DataFrame:
    """The summary rows of the rows that moved most, largest change first."""
    order = {row: i for i, row in enumerate(result.facts["top_movers"])}
    movers = result.summary[result.summary["row"].isin(order)]
    return movers.assign(_order=movers["row"].map(order)).sort_values("_order").drop(columns="_order")
