"""Behavioural test suites (CheckList, Ribeiro et al. 2020): expect, invariant and monotonic checks.

A suite is a small JSON document a person writes and versions::

    {"version": 1, "name": "credit basics",
     "rows": [{"average_monthly_income": 3000, "employment_status": "Employed"}],
     "checks": [
       {"name": "income never hurts", "type": "monotonic", "feature": "average_monthly_income",
        "direction": "increasing", "tolerance": 0.01},
       {"name": "order amount ignored", "type": "invariant", "feature": "order_amount", "set": 1000},
       {"name": "rich applicant approved", "type": "expect", "class": "approved",
        "rows": [{"average_monthly_income": 9000}]}]}

- ``expect`` (minimum functionality): every row gets ``class`` (a class or its label), or a score
  within ``range`` [lo, hi] (``null`` for an open end; the value of a regression, the score
  class's probability of a classifier);
- ``invariant``: ``set`` the feature to a value, ``permute`` its values among the rows, or
  ``perturb`` it by Normal(0, share x its spread) noise; the score may move by at most ``tolerance``;
- ``monotonic``: sweep the feature over ``points`` (10) grid values per row; between consecutive
  values the score may go the wrong way by at most ``tolerance`` (non-strict: flat passes).

Rows are FORM values, partial rows filled with the schema's defaults, categories by code or label.
A check uses its own ``rows``, else the rows given to ``run_suite`` (an uploaded file, up to 200),
else the suite's ``rows``, else the schema's defaults as one row. The default tolerance is 0.01
of probability for a classifier and 1 % of the value before the change for a regression; a
tolerance written in the suite is in score units. A check passes when its fail rate is at most
``allowed_fail_rate`` (0 by default): unlike Giskard's tabular tests, not "more than half of the
rows pass", and with non-strict inequalities (ANALYSES.md, "Behavioural tests").

``run_suite`` sends the rows of ALL checks (each distinct row once) in ONE call of ``predict``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.analysis.frames import BOOKKEEPING_PREFIX, MAX_ROWS, check_score_class, request_frame, value_text
from whatif.analysis.grids import feature_grid, is_numeric, jitter
from whatif.analysis.result import _plain, _records
from whatif.analysis.robustness import wilson_interval
from whatif.analysis.score import Scorer, format_score, scorer_for
from whatif.schema import Feature, FeatureSchema, RowValidationError

SUITE_FORMAT_VERSION = 1
CHECK_TYPES = ("expect", "invariant", "monotonic")
DIRECTIONS = ("increasing", "decreasing")
CLASSIFIER_TOLERANCE = 0.01  # of probability
REGRESSION_TOLERANCE = 0.01  # a share of the value before the change
DEFAULT_POINTS = 10
MAX_POINTS = 100
MAX_FILE_ROWS = 200  # rows of an uploaded file a suite runs on (the first ones)
WORST_EXAMPLES = 3

CheckType = Literal["expect", "invariant", "monotonic"]

_COMMON_FIELDS = ("name", "type", "rows", "allowed_fail_rate", "description")
_FIELDS: dict[str, tuple[str, ...]] = {
    "expect": (*_COMMON_FIELDS, "class", "range"),
    "invariant": (*_COMMON_FIELDS, "feature", "set", "permute", "perturb", "tolerance"),
    "monotonic": (*_COMMON_FIELDS, "feature", "direction", "tolerance", "points"),
}
_SUITE_FIELDS = ("version", "name", "description", "rows", "checks")


class SuiteError(ValueError):
    """A suite that cannot be read or does not fit the model; ``str(error)`` is one sentence naming the check
    and the field."""


# ---- the suite -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One named check of a suite, as written (form values, not yet checked against a schema)."""

    name: str
    type: CheckType
    feature: str | None = None
    rows: tuple[dict[str, Any], ...] = ()  # the check's own rows; () uses the suite's
    expected_class: Any = None  # expect: "class"
    expected_range: tuple[float | None, float | None] | None = None  # expect: "range"
    change: Literal["set", "permute", "perturb"] | None = None  # invariant: how the feature changes
    value: Any = None  # invariant: the value of "set", or the noise share of "perturb"
    direction: Literal["increasing", "decreasing"] | None = None  # monotonic
    points: int = DEFAULT_POINTS  # monotonic: grid points per row
    tolerance: float | None = None  # None: the default for the model's task
    allowed_fail_rate: float = 0.0
    description: str = ""

    @classmethod
    def from_dict(cls, data: Any, position: int) -> Check:
        """Read one check (``position`` counts from 1, to name a check without a name); SuiteError otherwise."""
        if not isinstance(data, Mapping):
            raise SuiteError(f'Check {position} is not an object; write each check as {{"name": ..., "type": ...}}.')
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SuiteError(f'Check {position} has no "name"; give every check a name of its own.')
        name = name.strip()
        where = f"Check {_quoted(name)}"
        kind = data.get("type")
        if kind not in CHECK_TYPES:
            raise SuiteError(f'{where}: "type" must be "expect", "invariant" or "monotonic", not {_shown(kind)}.')
        unknown = [key for key in data if key not in _FIELDS[kind]]
        if unknown:
            raise SuiteError(
                f"{where}: the field {_quoted(str(unknown[0]))} means nothing to a {kind} check; "
                f"it may have {_names(_FIELDS[kind])}."
            )
        rows = _rows(data.get("rows"), f'{where}: "rows"') if "rows" in data else ()
        if "rows" in data and not rows:
            raise SuiteError(f'{where}: "rows" is an empty list; give at least one row, or leave it out.')
        allowed = _share(data.get("allowed_fail_rate", 0.0), where, "allowed_fail_rate")
        tolerance = None
        if data.get("tolerance") is not None:
            tolerance = _number(data["tolerance"], where, "tolerance", least=0.0)
        description = str(data.get("description") or "")
        common: dict[str, Any] = {
            "name": name,
            "type": kind,
            "rows": rows,
            "allowed_fail_rate": allowed,
            "tolerance": tolerance,
            "description": description,
        }
        if kind == "expect":
            return cls(**common, **_expectation(data, where))
        feature = data.get("feature")
        if not isinstance(feature, str) or not feature.strip():
            raise SuiteError(f'{where}: "feature" must name the input to change, such as "age".')
        common["feature"] = feature.strip()
        if kind == "invariant":
            return cls(**common, **_invariant_change(data, where))
        direction = data.get("direction")
        if direction not in DIRECTIONS:
            raise SuiteError(f'{where}: "direction" must be "increasing" or "decreasing", not {_shown(direction)}.')
        points = data.get("points", DEFAULT_POINTS)
        if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= MAX_POINTS:
            raise SuiteError(f'{where}: "points" must be a whole number from 2 to {MAX_POINTS}, not {_shown(points)}.')
        return cls(**common, direction=direction, points=points)

    def to_dict(self) -> dict[str, Any]:
        """The check as the suite's JSON writes it (fields at their defaults left out)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.description:
            out["description"] = self.description
        if self.feature is not None:
            out["feature"] = self.feature
        if self.type == "expect":
            if self.expected_range is not None:
                out["range"] = list(self.expected_range)
            else:
                out["class"] = self.expected_class
        elif self.type == "invariant":
            out[str(self.change)] = True if self.change == "permute" else self.value
        else:
            out["direction"] = self.direction
            if self.points != DEFAULT_POINTS:
                out["points"] = self.points
        if self.tolerance is not None:
            out["tolerance"] = self.tolerance
        if self.allowed_fail_rate:
            out["allowed_fail_rate"] = self.allowed_fail_rate
        if self.rows:
            out["rows"] = [dict(row) for row in self.rows]
        return out

    def what(self, schema: FeatureSchema | None = None) -> str:
        """What the check asks, in a few words: "average_monthly_income up: score not down"."""
        if self.type == "expect":
            if self.expected_range is not None:
                low, high = self.expected_range
                return (
                    f"score within [{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
                )
            label = schema.class_label(self.expected_class) if schema is not None else str(self.expected_class)
            return f"predicted {label}"
        if self.type == "invariant":
            how = {
                "set": f"set to {self.value}",
                "permute": "permuted among the rows",
                "perturb": f"perturbed by {self.value:g} of its spread"
                if isinstance(self.value, float | int)
                else "perturbed",
            }[str(self.change)]
            return f"{self.feature} {how}: score unchanged"
        verb = "does not fall" if self.direction == "increasing" else "does not rise"
        return f"as {self.feature} increases, the score {verb}"


@dataclass(frozen=True)
class Suite:
    """A named list of checks over shared rows; ``from_json`` reads one, ``validate`` fits it to a model."""

    name: str
    checks: tuple[Check, ...]
    rows: tuple[dict[str, Any], ...] = ()
    description: str = ""
    version: int = SUITE_FORMAT_VERSION

    @classmethod
    def from_json(cls, text: str | bytes) -> Suite:
        """Parse a suite's JSON text; SuiteError (one sentence) when it is not a well-formed suite."""
        try:
            if isinstance(text, bytes):
                text = text.decode("utf-8-sig")  # a BOM, as some editors write, is fine
            data = json.loads(text.lstrip("\ufeff"))
        except UnicodeDecodeError:
            raise SuiteError("The suite is not UTF-8 text; save it as a JSON file.") from None
        except json.JSONDecodeError as exc:
            raise SuiteError(
                f"The suite is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
            ) from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Suite:
        """Read a suite from its parsed JSON; SuiteError when it is malformed."""
        if not isinstance(data, Mapping):
            raise SuiteError('The suite must be a JSON object with "name" and "checks".')
        unknown = [key for key in data if key not in _SUITE_FIELDS]
        if unknown:
            raise SuiteError(
                f"The suite's field {_quoted(str(unknown[0]))} means nothing here; a suite has {_names(_SUITE_FIELDS)}."
            )
        version = data.get("version", SUITE_FORMAT_VERSION)
        if version != SUITE_FORMAT_VERSION or isinstance(version, bool):
            raise SuiteError(
                f'The suite\'s "version" is {_shown(version)}, and this version of the app reads '
                f"suites of version {SUITE_FORMAT_VERSION}."
            )
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SuiteError('The suite has no "name"; give it one, such as "credit basics".')
        rows = _rows(data.get("rows"), 'The suite\'s "rows"') if data.get("rows") is not None else ()
        raw_checks = data.get("checks")
        if not isinstance(raw_checks, list) or not raw_checks:
            raise SuiteError('The suite has no checks; add at least one to its "checks" list.')
        checks = tuple(Check.from_dict(item, i) for i, item in enumerate(raw_checks, 1))
        seen: set[str] = set()
        for check in checks:
            if check.name in seen:
                raise SuiteError(f"Check {_quoted(check.name)}: the name is used twice; give each check its own.")
            seen.add(check.name)
        return cls(name.strip(), checks, rows, str(data.get("description") or ""), SUITE_FORMAT_VERSION)

    def to_dict(self) -> dict[str, Any]:
        """The suite as JSON data (what ``from_dict`` reads back)."""
        out: dict[str, Any] = {"version": self.version, "name": self.name}
        if self.description:
            out["description"] = self.description
        if self.rows:
            out["rows"] = [dict(row) for row in self.rows]
        out["checks"] = [check.to_dict() for check in self.checks]
        return out

    def to_json(self) -> str:
        """The suite as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, default=_plain_value)

    def validate(self, schema: FeatureSchema) -> None:
        """SuiteError (one sentence naming the check and the field) when a row, feature, value or class does
        not fit ``schema``."""
        for number, row in enumerate(self.rows, 1):
            _form_row(schema, row, f"The suite's row {number}")
        for check in self.checks:
            _validate_check(schema, check)


# ---- reading helpers -----------------------------------------------------------------------------
def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _shown(value: Any) -> str:
    """A value from the JSON as the user wrote it: "up", 5, null."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _names(fields: Sequence[str]) -> str:
    quoted = [_quoted(f) for f in fields]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _number(value: Any, where: str, name: str, *, least: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or (least is not None and value < least)
    ):
        bound = f" of at least {least:g}" if least is not None else ""
        raise SuiteError(f"{where}: {_quoted(name)} must be a number{bound}, not {_shown(value)}.")
    return float(value)


def _share(value: Any, where: str, name: str) -> float:
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise SuiteError(f"{where}: {_quoted(name)} must be a share from 0 to 1 (0.05 for 5 %), not {_shown(value)}.")
    return number


def _rows(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(row, Mapping) for row in value):
        raise SuiteError(f'{where} must be a list of objects mapping inputs to values, like [{{"age": 30}}].')
    return tuple(dict(row) for row in value)


def _expectation(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    if ("class" in data) == ("range" in data):
        raise SuiteError(
            f'{where}: an expect check needs either "class" (the class every row must get) '
            'or "range" ([low, high] the score must stay within), and not both.'
        )
    if "class" in data:
        expected = data["class"]
        if expected is None or isinstance(expected, list | dict) or (isinstance(expected, str) and not expected):
            raise SuiteError(
                f'{where}: "class" must be a class or its label, such as 1 or "approved", not {_shown(expected)}.'
            )
        return {"expected_class": expected}
    span = data["range"]
    if not isinstance(span, list) or len(span) != 2 or all(end is None for end in span):
        raise SuiteError(f'{where}: "range" must be [low, high] (null for an open end), not {_shown(span)}.')
    low, high = (None if end is None else _number(end, where, "range") for end in span)
    if low is not None and high is not None and low > high:
        raise SuiteError(f'{where}: "range" goes from {low:g} down to {high:g}; write the low end first.')
    return {"expected_range": (low, high)}


def _invariant_change(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    given = [key for key in ("set", "permute", "perturb") if key in data]
    if len(given) != 1:
        raise SuiteError(
            f'{where}: an invariant check needs exactly one of "set" (a value), "permute" (true) '
            f'or "perturb" (noise as a share of the input\'s spread), not {len(given)}.'
        )
    change = given[0]
    value = data[change]
    if change == "permute" and value is not True:
        raise SuiteError(f'{where}: "permute" must be true, not {_shown(value)}.')
    if change == "perturb":
        value = _number(value, where, "perturb", least=0.0)
        if not 0.0 < value <= 10.0:
            raise SuiteError(
                f'{where}: "perturb" must be above 0 and at most 10 (a share of the input\'s '
                f"spread, such as 0.05), not {_shown(data[change])}."
            )
    if change == "set" and (value is None or isinstance(value, list | dict)):
        raise SuiteError(f'{where}: "set" must be one value of the input, not {_shown(value)}.')
    return {"change": change, "value": None if change == "permute" else value}


def _feature(schema: FeatureSchema, check: Check) -> Feature:
    try:
        return schema.feature(str(check.feature))
    except KeyError:
        raise SuiteError(
            f"Check {_quoted(check.name)}: feature {_quoted(str(check.feature))} is not an input of this model."
        ) from None


def _kind(feature: Feature) -> str:
    if feature.type == "one_hot" or feature.is_categorical:
        return "a category"
    return "true or false" if feature.type == "boolean" else "a number"


def _validate_check(schema: FeatureSchema, check: Check) -> None:
    where = f"Check {_quoted(check.name)}"
    for number, row in enumerate(check.rows, 1):
        _form_row(schema, row, f'{where}: row {number} of "rows"')
    if check.type == "expect":
        if check.expected_range is None and schema.task == "regression":
            raise SuiteError(
                f'{where}: "class" needs a classifier, and this model is a regression; use '
                '"range" for the values a row may get.'
            )
        if check.expected_range is None:
            class_key(schema, check.expected_class, where)
        return
    feature = _feature(schema, check)
    if check.type == "monotonic" and not is_numeric(feature):
        raise SuiteError(
            f"{where}: feature {_quoted(feature.name)} is {_kind(feature)}, which has no order to "
            "be monotonic in; use an invariant or expect check for it."
        )
    if check.change == "perturb" and not is_numeric(feature):
        raise SuiteError(
            f'{where}: "perturb" needs a numeric input, and {_quoted(feature.name)} is '
            f'{_kind(feature)}; use "set" or "permute" for it.'
        )
    if check.change == "set":
        try:
            feature.coerce(check.value)
        except ValueError as exc:
            raise SuiteError(
                f'{where}: "set" gives {_quoted(feature.name)} the value {_shown(check.value)}, '
                f"which does not fit it ({exc})."
            ) from None


def _form_row(schema: FeatureSchema, row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A row of form values coerced, missing features at their defaults; SuiteError naming the field."""
    try:
        return schema.coerce_values(row, fill_defaults=True)
    except RowValidationError as invalid:
        name, problem = next(iter(invalid.errors.items()))
        if problem == "is not a feature of this model":
            raise SuiteError(f"{where} has {_quoted(name)}, which is not an input of this model.") from None
        raise SuiteError(f"{where}: {_quoted(name)} {problem}.") from None


def class_key(schema: FeatureSchema, expected: Any, where: str = "The expected class") -> str:
    """The class key ("1") that a class or label ("approved", 1, "1", 1.0) names; SuiteError when none."""
    keys = [_key(c) for c in schema.classes] or list(schema.class_labels)
    text = _key(expected)
    if not keys or text in keys:
        return text
    by_label = [key for key in keys if schema.class_label(key).casefold() == str(expected).strip().casefold()]
    if len(by_label) == 1:
        return by_label[0]
    known = ", ".join(f"{key} ({schema.class_label(key)})" if schema.class_label(key) != key else key for key in keys)
    raise SuiteError(f'{where}: "class" {_shown(expected)} is not a class of this model; use one of {known}.')


def _key(value: Any) -> str:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") and text[:-2].lstrip("-").isdigit() else text


def _plain_value(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


# ---- the report ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    """How one check went: cases (rows), failures, the fail rate with its 95 % Wilson interval, worst examples.

    ``examples``: up to 3 cases, failures first, the worst first. Invariant and monotonic ones hold
    ``row`` (1-based, of the check's rows), ``feature``, ``before`` and ``after`` (the feature's
    values as shown), ``score_before``, ``score_after``, ``change`` and ``failed``; expect ones
    hold ``row``, ``values`` (the form row), ``expected``, ``got`` (a class label or a score),
    ``score`` and ``failed``.
    """

    name: str
    type: CheckType
    feature: str | None
    what: str
    passed: bool
    cases: int
    failures: int
    fail_rate: float
    fail_low: float
    fail_high: float
    allowed_fail_rate: float
    tolerance: float | None  # None: the regression default, 1 % of the value before the change
    tolerance_text: str
    examples: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out: dict[str, Any] = _plain(
            {
                key: getattr(self, key)
                for key in (
                    "name",
                    "type",
                    "feature",
                    "what",
                    "passed",
                    "cases",
                    "failures",
                    "fail_rate",
                    "fail_low",
                    "fail_high",
                    "allowed_fail_rate",
                    "tolerance",
                    "tolerance_text",
                )
            }
        )
        out["examples"] = [_plain(dict(example)) for example in self.examples]
        return out


@dataclass(frozen=True)
class SuiteReport:
    """A suite's outcome on one model: one ``CheckResult`` per check, and every row sent with its answer."""

    suite: str
    model: str
    model_version: int | None
    scorer: Scorer
    checks: tuple[CheckResult, ...]
    sent: pd.DataFrame = field(repr=False)  # request columns, answers, "checks" (which used the row), "score"
    rows_source: str  # "check rows", "file", "suite", or "defaults": where checks without rows took theirs
    tasks: int
    seed: int

    @property
    def rows(self) -> int:
        """Rows sent (each distinct row once)."""
        return len(self.sent)

    @property
    def passed(self) -> int:
        """How many checks passed."""
        return sum(result.passed for result in self.checks)

    @property
    def total(self) -> int:
        """How many checks ran."""
        return len(self.checks)

    @property
    def all_passed(self) -> bool:
        """True when every check passed."""
        return self.passed == self.total

    @property
    def reading(self) -> str:
        """One sentence: how many checks passed, and which failed."""
        failed = [result.name for result in self.checks if not result.passed]
        head = f"{self.passed} of {self.total} checks passed on {self.rows:,} rows in {self.tasks} task(s)"
        if not failed:
            return head + "."
        shown = ", ".join(_quoted(name) for name in failed[:4]) + (
            f" and {len(failed) - 4} more" if len(failed) > 4 else ""
        )
        return f"{head}; failed: {shown}."

    def to_json(self, *, with_rows: bool = False) -> dict[str, Any]:
        """The report as one JSON object (``rows_sent`` counts the rows); ``with_rows`` adds ``rows``: every row
        sent, with the model's answer, its ``score`` and the ``checks`` that used it."""
        out: dict[str, Any] = {
            "suite": self.suite,
            "model": {"name": self.model, "version": self.model_version},
            "score": {"title": self.scorer.title, "class": self.scorer.score_class, "threshold": self.scorer.threshold},
            "passed": self.passed,
            "total": self.total,
            "all_passed": self.all_passed,
            "rows_sent": self.rows,
            "tasks": self.tasks,
            "seed": self.seed,
            "rows_source": self.rows_source,
            "reading": self.reading,
            "checks": [result.to_json() for result in self.checks],
        }
        if with_rows:
            out["rows"] = _records(self.sent)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per check (for a table or a CSV): verdict, fail rate and interval, the worst example."""
        return pd.DataFrame(
            [
                {
                    "check": r.name,
                    "type": r.type,
                    "feature": r.feature,
                    "what": r.what,
                    "result": "PASS" if r.passed else "FAIL",
                    "passed": r.passed,
                    "cases": r.cases,
                    "failures": r.failures,
                    "fail_rate": r.fail_rate,
                    "fail_low": r.fail_low,
                    "fail_high": r.fail_high,
                    "allowed_fail_rate": r.allowed_fail_rate,
                    "tolerance": r.tolerance_text,
                    "worst": example_text(r.examples[0], self.scorer) if r.examples else "",
                }
                for r in self.checks
            ],
            columns=REPORT_COLUMNS,
        )


REPORT_COLUMNS = [
    "check",
    "type",
    "feature",
    "what",
    "result",
    "passed",
    "cases",
    "failures",
    "fail_rate",
    "fail_low",
    "fail_high",
    "allowed_fail_rate",
    "tolerance",
    "worst",
]


def example_text(example: Mapping[str, Any], scorer: Scorer) -> str:
    """One example as a line of text: "row 2: income 2000 -> 2500, P(approved) 71 % -> 64 % (-7 pts)"."""
    row = f"row {example.get('row')}"
    if "expected" in example:
        got = example["got"]
        got_text = score_text(scorer, got) if isinstance(got, float | int) and not isinstance(got, bool) else got
        return (
            f"{row}: expected {example['expected']}, got {got_text} "
            f"({scorer.title} {score_text(scorer, example.get('score', math.nan))})"
        )
    change = example.get("change", math.nan)
    return (
        f"{row}: {example['feature']} {example['before']} -> {example['after']}, {scorer.title} "
        f"{score_text(scorer, example['score_before'])} -> {score_text(scorer, example['score_after'])} "
        f"({_change_text(scorer, change)})"
    )


def score_text(scorer: Scorer, value: Any) -> str:
    """A score precise enough to judge a tolerance by: "71.3 %" for a probability, 4 significant digits else."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value * 100:.1f} %" if scorer.task == "classification" else format_score(scorer, value)


def _change_text(scorer: Scorer, change: float) -> str:
    if change is None or not math.isfinite(change):
        return "no usable score"
    if scorer.task == "classification":
        return f"{change * 100:+.1f} pts"
    return f"{change:+,.4g}"


# ---- running -----------------------------------------------------------------------------------------
@dataclass
class _Plan:
    """The rows a suite sends, each distinct form row once, and which checks use which."""

    schema: FeatureSchema
    index: dict[tuple[Any, ...], int] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    users: list[list[str]] = field(default_factory=list)

    def add(self, row: dict[str, Any], check: str) -> int:
        key = tuple(row[f.name] for f in self.schema.features)
        at = self.index.get(key)
        if at is None:
            at = self.index[key] = len(self.rows)
            self.rows.append(row)
            self.users.append([])
        if not self.users[at] or self.users[at][-1] != check:
            self.users[at].append(check)
        return at


@dataclass
class _Planned:
    """One check's cases: the positions of its rows in the plan."""

    check: Check
    rows: list[dict[str, Any]]  # the check's (coerced) rows
    before: list[int] = field(default_factory=list)  # invariant, expect: the row as it is
    after: list[int] = field(default_factory=list)  # invariant: the changed row
    changed: list[Any] = field(default_factory=list)  # invariant: the feature's new value per row
    grid: list[list[Any]] = field(default_factory=list)  # monotonic: the values tried per row
    swept: list[list[int]] = field(default_factory=list)  # monotonic: the rows per grid value


def run_suite(
    schema: FeatureSchema,
    suite: Suite,
    predict: Predict,
    *,
    rows: pd.DataFrame | None = None,
    seed: int = 0,
    score_class: str | None = None,
) -> SuiteReport:
    """Run every check of ``suite`` on the model behind ``predict``, all in ONE call of ``predict``.

    ``rows``: form rows (an uploaded file; its first 200 are used) for the checks without rows of
    their own, instead of the suite's rows. ``seed`` draws the permutations and the noise.
    Refused (AnalysisError, one sentence) beyond 10,000 rows, before anything is sent; a suite
    that does not fit the schema raises SuiteError.
    """
    check_score_class(schema, score_class)
    suite.validate(schema)
    base, source = _base_rows(schema, suite, rows)
    rng = np.random.default_rng(seed)
    plan = _Plan(schema)
    planned = [_plan_check(schema, check, base, plan, rng) for check in suite.checks]
    if len(plan.rows) > MAX_ROWS:
        raise AnalysisError(
            f"This suite would send {len(plan.rows):,} rows, more than the {MAX_ROWS:,} one task "
            "may hold; run it on fewer rows, or with fewer monotonic checks or points."
        )
    form = {f.name: [row[f.name] for row in plan.rows] for f in schema.features}
    request = request_frame(schema, form)
    answers = predict(request)
    if len(answers) != len(request):
        raise AnalysisError(
            f"The model answered {len(answers):,} rows for the {len(request):,} sent, so answers "
            "cannot be matched to rows; run the suite again."
        )
    answers = answers.reset_index(drop=True)
    try:
        scorer = scorer_for(schema, answers, score_class)
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    score = scorer.score(answers).to_numpy(dtype=float)
    predicted = scorer.predicted_class(answers).to_numpy(dtype=object)
    results = tuple(_result(schema, p, scorer, answers, score, predicted) for p in planned)
    taken = set(request.columns) | set(answers.columns)
    extra = {
        (BOOKKEEPING_PREFIX + name if name in taken else name): values
        for name, values in {"checks": ["; ".join(users) for users in plan.users], "score": score}.items()
    }
    sent = pd.concat(
        [
            request.reset_index(drop=True),
            answers[[c for c in answers.columns if c not in request.columns]],
            pd.DataFrame(extra),
        ],
        axis=1,
    )
    return SuiteReport(suite.name, schema.name, schema.version, scorer, results, sent, source, 1, seed)


def _base_rows(schema: FeatureSchema, suite: Suite, rows: pd.DataFrame | None) -> tuple[list[dict[str, Any]], str]:
    """The rows of checks without their own: the file's (first 200), else the suite's, else the defaults."""
    if rows is not None and len(rows):
        records = rows.head(MAX_FILE_ROWS).to_dict(orient="records")
        return [
            _form_row(schema, {str(k): v for k, v in record.items() if not _missing(v)}, f"Row {number} of the file")
            for number, record in enumerate(records, 1)
        ], "file"
    if suite.rows:
        return [_form_row(schema, row, f"The suite's row {n}") for n, row in enumerate(suite.rows, 1)], "suite"
    return [schema.coerce_values(schema.defaults())], "defaults"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plan_check(
    schema: FeatureSchema, check: Check, base: list[dict[str, Any]], plan: _Plan, rng: np.random.Generator
) -> _Planned:
    where = f"Check {_quoted(check.name)}"
    rows = (
        [_form_row(schema, row, f'{where}: row {n} of "rows"') for n, row in enumerate(check.rows, 1)]
        if check.rows
        else base
    )
    planned = _Planned(check, rows)
    if check.type == "expect":
        planned.before = [plan.add(row, check.name) for row in rows]
        return planned
    feature = schema.feature(str(check.feature))
    if check.type == "monotonic":
        for row in rows:
            grid = [feature.coerce(v) for v in feature_grid(feature, row[feature.name], check.points)]
            planned.grid.append(grid)
            planned.swept.append([plan.add({**row, feature.name: v}, check.name) for v in grid])
        return planned
    planned.changed = _changed_values(schema, check, feature, rows, rng)
    for row, value in zip(rows, planned.changed, strict=True):
        planned.before.append(plan.add(row, check.name))
        planned.after.append(plan.add({**row, feature.name: value}, check.name))
    return planned


def _changed_values(
    schema: FeatureSchema, check: Check, feature: Feature, rows: list[dict[str, Any]], rng: np.random.Generator
) -> list[Any]:
    """The feature's value in each changed row of an invariant check."""
    if check.change == "set":
        return [feature.coerce(check.value)] * len(rows)
    if check.change == "permute":
        if len(rows) < 2:
            raise AnalysisError(
                f"Check {_quoted(check.name)}: permuting {_quoted(feature.name)} needs at least 2 "
                'rows, and it has 1; give the suite "rows", or run it on a file of rows.'
            )
        # one cycle through a random order: every row takes ANOTHER row's value (a derangement)
        order = rng.permutation(len(rows))
        values = [None] * len(rows)
        for i, at in enumerate(order):
            values[at] = rows[order[(i + 1) % len(rows)]][feature.name]
        return values
    others = frozenset(f.name for f in schema.features) - {feature.name}
    return [jitter(schema, row, 1, float(check.value), rng, hold=others)[0][feature.name] for row in rows]


def _tolerances(scorer: Scorer, check: Check, before: np.ndarray) -> np.ndarray:
    if check.tolerance is not None:
        return np.full(len(before), check.tolerance)
    if scorer.task == "classification":
        return np.full(len(before), CLASSIFIER_TOLERANCE)
    return np.abs(before) * REGRESSION_TOLERANCE


def _tolerance_text(scorer: Scorer, check: Check) -> tuple[float | None, str]:
    if check.type == "expect":
        return None, ""
    if check.tolerance is not None:
        return check.tolerance, _change_text(scorer, check.tolerance).lstrip("+")
    if scorer.task == "classification":
        return CLASSIFIER_TOLERANCE, _change_text(scorer, CLASSIFIER_TOLERANCE).lstrip("+")
    return None, f"{REGRESSION_TOLERANCE * 100:g} % of the value"


def _result(
    schema: FeatureSchema,
    planned: _Planned,
    scorer: Scorer,
    answers: pd.DataFrame,
    score: np.ndarray,
    predicted: np.ndarray,
) -> CheckResult:
    check = planned.check
    if check.type == "expect":
        failed, badness, examples = _expect_cases(schema, planned, scorer, answers, score, predicted)
    else:
        failed, badness, examples = _change_cases(schema, planned, scorer, score)
    cases, failures = len(failed), int(np.count_nonzero(failed))
    low, high = wilson_interval(failures, cases)
    rate = failures / cases if cases else math.nan
    order = sorted(range(cases), key=lambda i: (not failed[i], -badness[i], i))[:WORST_EXAMPLES]
    tolerance, tolerance_text = _tolerance_text(scorer, check)
    return CheckResult(
        name=check.name,
        type=check.type,
        feature=check.feature,
        what=check.what(schema),
        passed=bool(cases) and rate <= check.allowed_fail_rate + 1e-12,
        cases=cases,
        failures=failures,
        fail_rate=rate,
        fail_low=low,
        fail_high=high,
        allowed_fail_rate=check.allowed_fail_rate,
        tolerance=tolerance,
        tolerance_text=tolerance_text,
        examples=tuple(examples[i] for i in order),
    )


def _expect_cases(
    schema: FeatureSchema,
    planned: _Planned,
    scorer: Scorer,
    answers: pd.DataFrame,
    score: np.ndarray,
    predicted: np.ndarray,
) -> tuple[list[bool], list[float], list[dict[str, Any]]]:
    check = planned.check
    at = np.asarray(planned.before, dtype=int)
    got_score = score[at]
    values = [_shown_row(schema, row) for row in planned.rows]
    if check.expected_range is not None:
        low, high = check.expected_range
        below = (low - got_score) if low is not None else np.full(len(at), -np.inf)
        above = (got_score - high) if high is not None else np.full(len(at), -np.inf)
        excess = np.where(np.isfinite(got_score), np.maximum(below, above), np.inf)
        failed = [bool(e > 0) for e in excess]
        expected = (
            f"{scorer.title} within [{'-inf' if low is None else score_text(scorer, low)}, "
            f"{'inf' if high is None else score_text(scorer, high)}]"
        )
        examples = [
            {
                "row": i + 1,
                "values": values[i],
                "expected": expected,
                "got": float(got_score[i]),
                "score": float(got_score[i]),
                "failed": failed[i],
            }
            for i in range(len(at))
        ]
        return failed, [float(e) for e in excess], examples
    wanted = class_key(schema, check.expected_class)
    got = [str(p) for p in predicted[at]]
    failed = [g != wanted for g in got]
    column = f"probability_{wanted}"
    if column in answers.columns:
        probability = pd.to_numeric(answers[column], errors="coerce").to_numpy(dtype=float)[at]
        badness = [1.0 - p if math.isfinite(p) else math.inf for p in probability]
    else:
        badness = [1.0 if f else 0.0 for f in failed]
    examples = [
        {
            "row": i + 1,
            "values": values[i],
            "expected": schema.class_label(wanted),
            "got": schema.class_label(got[i]),
            "score": float(got_score[i]),
            "failed": failed[i],
        }
        for i in range(len(at))
    ]
    return failed, badness, examples


def _change_cases(
    schema: FeatureSchema, planned: _Planned, scorer: Scorer, score: np.ndarray
) -> tuple[list[bool], list[float], list[dict[str, Any]]]:
    """Invariant and monotonic cases: each row's worst change beyond its tolerance."""
    check = planned.check
    feature = schema.feature(str(check.feature))
    failed: list[bool] = []
    badness: list[float] = []
    examples: list[dict[str, Any]] = []
    for i, row in enumerate(planned.rows):
        if check.type == "invariant":
            pairs = [(row[feature.name], planned.changed[i], score[planned.before[i]], score[planned.after[i]])]
        else:
            grid, at = planned.grid[i], planned.swept[i]
            pairs = [(grid[k], grid[k + 1], score[at[k]], score[at[k + 1]]) for k in range(len(grid) - 1)]
        before = np.asarray([p[2] for p in pairs], dtype=float)
        after = np.asarray([p[3] for p in pairs], dtype=float)
        change = after - before
        if check.type == "invariant":
            wrong = np.abs(change)
        else:
            wrong = -change if check.direction == "increasing" else change
        excess = wrong - _tolerances(scorer, check, before)
        excess = np.where(np.isfinite(excess), excess, np.inf)
        worst = int(np.argmax(excess)) if len(excess) else 0
        failed.append(bool(len(excess)) and bool(excess[worst] > 0))
        badness.append(float(excess[worst]) if len(excess) else -math.inf)
        value_before, value_after, score_before, score_after = (
            pairs[worst] if pairs else (None, None, math.nan, math.nan)
        )
        examples.append(
            {
                "row": i + 1,
                "feature": feature.name,
                "before": value_text(feature, value_before),
                "after": value_text(feature, value_after),
                "score_before": float(score_before),
                "score_after": float(score_after),
                "change": float(score_after - score_before),
                "failed": failed[-1],
                "values": _shown_row(schema, row),
            }
        )
    return failed, badness, examples


def _shown_row(schema: FeatureSchema, row: Mapping[str, Any]) -> dict[str, Any]:
    """A form row as a person reads it: categories by label, numbers as numbers."""
    return {f.name: (row[f.name] if is_numeric(f) else value_text(f, row[f.name])) for f in schema.features}


# ---- suggestions ---------------------------------------------------------------------------------------
def suggest_checks(schema: FeatureSchema, sensitivity_result: Any, irrelevant: Collection[str] = ()) -> list[Check]:
    """Checks worth writing down after a tornado: monotonic for every numeric input whose sweep (in the
    tornado's ``sent`` rows) only rose or only fell, and invariant for each input named ``irrelevant``.

    An irrelevant input is set to the value of its sweep that moved the score most (its most
    suspicious value). Flat sweeps get no monotonic check: they show no direction.
    """
    sent: pd.DataFrame = sensitivity_result.sent
    feature_column = _bookkept(sent, schema, "feature")
    value_column = _bookkept(sent, schema, "value")
    score_column = _bookkept(sent, schema, "score")
    scenario_score = float(sensitivity_result.scenario_score)
    named = {irrelevant} if isinstance(irrelevant, str) else set(irrelevant)
    for name in named:
        try:
            schema.feature(name)
        except KeyError:
            raise SuiteError(
                f"Feature {_quoted(name)} is not an input of this model, so it cannot be checked for invariance."
            ) from None
    checks: list[Check] = []
    for f in schema.features:
        swept = sent[sent[feature_column] == f.name]
        if swept.empty:
            continue
        if f.name in named:
            value = _most_moving(
                f, swept, value_column, score_column, scenario_score, sensitivity_result.scenario[f.name]
            )
            if value is not None:
                checks.append(
                    Check(name=f"{f.name} is ignored", type="invariant", feature=f.name, change="set", value=value)
                )
            continue
        if not is_numeric(f) or len(swept) < 2:
            continue
        ordered = swept.sort_values(value_column, kind="stable")
        steps = np.diff(ordered[score_column].to_numpy(dtype=float))
        if not len(steps) or not np.isfinite(steps).all():
            continue
        if (steps >= 0).all() and (steps > 0).any():
            direction: Literal["increasing", "decreasing"] = "increasing"
        elif (steps <= 0).all() and (steps < 0).any():
            direction = "decreasing"
        else:
            continue
        verb = "never lowers" if direction == "increasing" else "never raises"
        checks.append(
            Check(name=f"more {f.name} {verb} the score", type="monotonic", feature=f.name, direction=direction)
        )
    return checks


def _most_moving(
    feature: Feature, swept: pd.DataFrame, value_column: str, score_column: str, scenario_score: float, current: Any
) -> Any:
    """The value of a sweep, other than the scenario's, that moved the score most (ties: the farthest number)."""
    best: tuple[float, float] | None = None
    chosen = None
    for value, score in zip(swept[value_column], swept[score_column].astype(float), strict=True):
        value = value.item() if hasattr(value, "item") else value
        if feature.coerce(value) == current:
            continue
        moved = abs(score - scenario_score) if math.isfinite(score) else -1.0
        distance = abs(float(value) - float(current)) if is_numeric(feature) else 0.0
        if best is None or (moved, distance) > best:
            best, chosen = (moved, distance), value
    return chosen


def _bookkept(sent: pd.DataFrame, schema: FeatureSchema, name: str) -> str:
    """The column ``ask`` wrote a bookkeeping value under (prefixed when an input had the name)."""
    return BOOKKEEPING_PREFIX + name if name in schema.input_columns else name
