"""Behavioural suites: a model with a KNOWN defect fails exactly the checks it should, in one task of the real
server; malformed suites are refused in one sentence; fail rates, Wilson intervals, tolerances by hand."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.whatif.analysis.explore_support import one_sentence
from tests.whatif.analysis.test_runner import tasks_on
from whatif.analysis import AnalysisError, Predict
from whatif.analysis.checks import (
    Check,
    Suite,
    SuiteError,
    SuiteReport,
    example_text,
    run_suite,
    suggest_checks,
)
from whatif.analysis.robustness import wilson_interval
from whatif.analysis.runner import BatchPredictor, in_process_predict
from whatif.analysis.sensitivity import sensitivity
from whatif.client import ModelClient
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.registry import ModelRegistry
from whatif.server.samples import DEMO_BUCKET

DEFECT_USER, DEFECT_PROJECT = "77", "1"  # a user of its own: the demo user's model list is left as it was
DIP = (40.0, 60.0)  # where the defective model's score FALLS as x rises

# The suite of the issue, on the credit sample model (rows as form values, categories by label).
CREDIT_SUITE: dict[str, Any] = {
    "version": 1,
    "name": "credit basics",
    "rows": [
        {"average_monthly_income": 1500, "order_amount": 500, "employment_status": "Employed"},
        {"average_monthly_income": 4000, "order_amount": 2000, "employment_status": "Contract"},
        {"average_monthly_income": 800, "order_amount": 300},
    ],
    "checks": [
        {
            "name": "income never hurts",
            "type": "monotonic",
            "feature": "average_monthly_income",
            "direction": "increasing",
            "tolerance": 0.01,
        },
        {
            "name": "order amount ignored",
            "type": "invariant",
            "feature": "order_amount",
            "set": 1000,
            "tolerance": 0.01,
        },
        {
            "name": "rich applicant approved",
            "type": "expect",
            "rows": [{"average_monthly_income": 9000, "order_amount": 200, "employment_status": "Employed"}],
            "class": 1,
        },
    ],
}


# ---- the model with a known defect ------------------------------------------------------------------
def defect_schema() -> FeatureSchema:
    """x: the score rises with it, except that it falls over 40 < x < 60; w: truly monotonic; z: ignored."""
    return FeatureSchema(
        (Feature("x", "number", 0, 100, 50), Feature("w", "number", 0, 10, 5), Feature("z", "number", 0, 1000, 0)),
        name="Known defect",
        version=1,
        task="classification",
        target="y",
        classes=(0, 1),
        class_labels={"0": "no", "1": "yes"},
    )


def defect_estimator() -> Any:
    """Gradient boosting on synthetic rows: P(yes) rises with x except over the dip, rises with w (a
    monotonic constraint, so it truly never falls), and z is constant in training, so no tree splits on it."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(7)
    n = 6000
    x, w = rng.uniform(0, 100, n), rng.uniform(0, 10, n)
    dip = (x > DIP[0]) & (x < DIP[1])
    logit = 0.06 * (x - 50) + 0.6 * (w - 5) - 3.0 * dip
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"x": x, "w": w, "z": np.zeros(n)})
    return HistGradientBoostingClassifier(max_iter=150, max_depth=3, monotonic_cst=[0, 1, 0], random_state=7).fit(
        frame, y
    )


@dataclass(frozen=True)
class DefectModel:
    path: str
    schema: FeatureSchema
    client: ModelClient
    local: Predict  # the same model in this process: the reference answers


@pytest.fixture(scope="module")
def defect(server: EmbeddedServer) -> Iterator[DefectModel]:
    """The defective model saved for this test into the session's store, under a user of its own."""
    registry = ModelRegistry(server.store)
    saved = registry.save(
        defect_estimator(),
        defect_schema(),
        bucket=DEMO_BUCKET,
        user=DEFECT_USER,
        project=DEFECT_PROJECT,
        name="Known defect",
        description="for test_checks",
    )
    local = in_process_predict(registry.load(DEMO_BUCKET, saved["path"]))
    with ModelClient(
        server.predict_url, secret=server.secret, user_id=DEFECT_USER, email="defect@example.com", poll_deadline_s=30
    ) as client:
        yield DefectModel(saved["path"], client.schema(saved["path"], DEMO_BUCKET), client, local)


DEFECT_ROWS = [
    {"x": 10, "w": 5, "z": 0},
    {"x": 30, "w": 4, "z": 250},
    {"x": 50, "w": 6, "z": 900},
    {"x": 80, "w": 5.5, "z": 10},
    {"x": 65, "w": 3},
]
DEFECT_SUITE: dict[str, Any] = {
    "version": 1,
    "name": "known defect",
    "rows": DEFECT_ROWS,
    "checks": [
        {"name": "x never hurts", "type": "monotonic", "feature": "x", "direction": "increasing"},
        {"name": "w never hurts", "type": "monotonic", "feature": "w", "direction": "increasing", "tolerance": 0},
        {"name": "z set", "type": "invariant", "feature": "z", "set": 1000, "tolerance": 0},
        {"name": "z permuted", "type": "invariant", "feature": "z", "permute": True, "tolerance": 0},
        {"name": "z perturbed", "type": "invariant", "feature": "z", "perturb": 0.5, "tolerance": 0},
        {
            "name": "low x and w said yes",
            "type": "expect",
            "rows": [{"x": 5, "w": 1}, {"x": 95, "w": 9}],
            "class": "yes",
        },
    ],
}


@pytest.fixture(scope="module")
def defect_report(server: EmbeddedServer, defect: DefectModel) -> tuple[SuiteReport, int, BatchPredictor]:
    """The defect suite run once against the server: (report, tasks the server saw, the predictor)."""
    predict = BatchPredictor(defect.client, defect.path, DEMO_BUCKET, connection_key="test_checks")
    before = tasks_on(server)
    report = run_suite(defect.schema, Suite.from_dict(DEFECT_SUITE), predict)
    return report, tasks_on(server) - before, predict


def by_name(report: SuiteReport) -> dict[str, Any]:
    return {result.name: result for result in report.checks}


def test_the_whole_suite_is_one_task_and_every_row_holds_the_model_s_answer(
    defect: DefectModel, defect_report: tuple[SuiteReport, int, BatchPredictor]
) -> None:
    report, server_tasks, predict = defect_report
    assert server_tasks == 1 and predict.tasks_sent == 1 and report.tasks == 1
    assert predict.rows_sent == report.rows == len(report.sent)
    request = report.sent[defect.schema.input_columns]
    assert not request.duplicated().any(), "each distinct row is sent once"
    expected = defect.local(request)
    assert np.allclose(
        report.sent["probability_1"].to_numpy(dtype=float),
        expected["probability_1"].to_numpy(dtype=float),
        atol=1e-6,
        rtol=0,
    )
    assert np.allclose(report.sent["score"], report.sent["probability_1"])
    shared = report.sent["checks"].str.contains("x never hurts") & report.sent["checks"].str.contains("z set")
    assert shared.any(), "the suite's rows are sent once for all the checks that use them"


def test_the_dip_fails_the_monotonic_check_on_x_with_the_fall_as_its_worst_example(
    defect: DefectModel, defect_report: tuple[SuiteReport, int, BatchPredictor]
) -> None:
    report = defect_report[0]
    result = by_name(report)["x never hurts"]
    assert not result.passed and result.cases == len(DEFECT_ROWS)
    assert result.failures == len(DEFECT_ROWS), "every row's sweep crosses the dip"
    assert (result.fail_low, result.fail_high) == pytest.approx(wilson_interval(5, 5))
    worst = result.examples[0]
    assert worst["failed"] and worst["change"] < -0.01
    before, after = float(worst["before"]), float(worst["after"])
    assert before < after and (DIP[0] < after < DIP[1] or DIP[0] < before < DIP[1] + 12), worst
    assert worst["score_after"] - worst["score_before"] == pytest.approx(worst["change"])
    assert len(result.examples) == 3
    text = example_text(worst, report.scorer)
    assert text.startswith(f"row {worst['row']}: x ") and "P(yes)" in text and "pts" in text


def test_the_truly_monotonic_input_passes_even_with_no_tolerance_and_the_ignored_one_is_invariant(
    defect_report: tuple[SuiteReport, int, BatchPredictor],
) -> None:
    results = by_name(defect_report[0])
    for name in ("w never hurts", "z set", "z permuted", "z perturbed"):
        assert results[name].passed, (name, results[name].examples)
        assert results[name].failures == 0 and results[name].fail_rate == 0
        assert results[name].fail_high == pytest.approx(wilson_interval(0, results[name].cases)[1])
    moved = [e for e in results["z permuted"].examples if e["before"] != e["after"]]
    assert moved, "permuting gives rows other rows' values"
    perturbed = results["z perturbed"].examples
    assert all(e["change"] == 0 for e in perturbed) and any(e["before"] != e["after"] for e in perturbed)


def test_a_wrong_expectation_fails_and_shows_the_row_what_was_expected_and_what_came(
    defect_report: tuple[SuiteReport, int, BatchPredictor],
) -> None:
    report = defect_report[0]
    result = by_name(report)["low x and w said yes"]
    assert not result.passed and (result.cases, result.failures) == (2, 1)
    worst = result.examples[0]
    assert worst["failed"] and worst["row"] == 1
    assert (worst["expected"], worst["got"]) == ("yes", "no")
    assert worst["values"] == {"x": 5, "w": 1, "z": 0}
    assert worst["score"] < 0.5
    assert result.examples[1]["failed"] is False and result.examples[1]["got"] == "yes"
    assert report.passed == 4 and report.total == 6 and not report.all_passed
    assert report.reading.startswith("4 of 6 checks passed") and '"x never hurts"' in report.reading


def test_the_monotonic_verdict_is_the_brute_force_one_row_by_row(
    defect: DefectModel, defect_report: tuple[SuiteReport, int, BatchPredictor]
) -> None:
    """Each row's sweep asked again in-process, one row at a time: the same failures."""
    from whatif.analysis.grids import feature_grid

    failing = 0
    x = defect.schema.feature("x")
    for row in DEFECT_ROWS:
        filled = defect.schema.coerce_values(row, fill_defaults=True)
        grid = feature_grid(x, filled["x"], 10)
        scores = [
            float(defect.local(pd.DataFrame([defect.schema.to_row({**filled, "x": v})]))["probability_1"][0])
            for v in grid
        ]
        failing += any(b - a < -0.01 for a, b in zip(scores, scores[1:], strict=False))
    assert by_name(defect_report[0])["x never hurts"].failures == failing


def test_suggestions_from_a_tornado_find_w_monotonic_leave_x_alone_and_make_z_invariant(defect: DefectModel) -> None:
    tornado = sensitivity(defect.schema, {"x": 30, "w": 5, "z": 0}, defect.local)
    suggested = suggest_checks(defect.schema, tornado, irrelevant=["z"])
    kinds = {(c.type, c.feature) for c in suggested}
    assert ("monotonic", "w") in kinds and ("invariant", "z") in kinds
    assert ("monotonic", "x") not in kinds, "x rises then falls: no direction to suggest"
    assert next(c for c in suggested if c.feature == "w").direction == "increasing"
    suite = Suite("suggested", tuple(suggested), tuple(DEFECT_ROWS))
    again = Suite.from_json(suite.to_json())
    assert again == suite
    report = run_suite(defect.schema, again, defect.local)
    assert report.all_passed, report.to_frame()
    with pytest.raises(SuiteError, match='"nope"'):
        suggest_checks(defect.schema, tornado, irrelevant=["nope"])


# ---- malformed suites --------------------------------------------------------------------------------
def credit_schema() -> FeatureSchema:
    from whatif.server.samples import credit_model

    return credit_model(1)[1]


@pytest.fixture(scope="module")
def credit() -> FeatureSchema:
    return credit_schema()


def changed(path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    """The credit suite with one field changed (or deleted)."""
    suite = copy.deepcopy(CREDIT_SUITE)
    target: Any = suite
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return suite


MALFORMED = [
    # (the suite, what the sentence must name)
    (
        changed(("checks", 0, "feature"), "incom"),
        ['Check "income never hurts": feature "incom" is not an input of this model.'],
    ),
    (changed(("checks", 0, "type"), "monotone"), ['Check "income never hurts"', '"type"', '"monotone"']),
    (changed(("checks", 0, "direction"), "up"), ['Check "income never hurts"', '"direction"', '"up"']),
    (changed(("checks", 0, "direction"), delete=True), ['Check "income never hurts"', '"direction"']),
    (changed(("checks", 0, "tolerance"), -0.1), ['Check "income never hurts"', '"tolerance"']),
    (changed(("checks", 0, "tolerance"), "small"), ['Check "income never hurts"', '"tolerance"']),
    (changed(("checks", 0, "tolerence"), 0.1), ['Check "income never hurts"', '"tolerence"']),
    (
        changed(("checks", 0, "feature"), "employment_status"),
        ['Check "income never hurts"', '"employment_status"', "category"],
    ),
    (changed(("checks", 0, "points"), 1), ['Check "income never hurts"', '"points"']),
    (changed(("checks", 0, "allowed_fail_rate"), 5), ['Check "income never hurts"', '"allowed_fail_rate"']),
    (changed(("checks", 1, "set"), "a lot"), ['Check "order amount ignored"', '"set"', '"order_amount"']),
    (changed(("checks", 1, "permute"), True), ['Check "order amount ignored"', '"set"', '"permute"']),
    (changed(("checks", 1, "set"), delete=True), ['Check "order amount ignored"', '"set"', '"perturb"']),
    (changed(("checks", 1, "feature"), delete=True), ['Check "order amount ignored"', '"feature"']),
    (
        changed(("checks", 2, "class"), "approvd"),
        ['Check "rich applicant approved"', '"class"', '"approvd"', "1 (approved)"],
    ),
    (changed(("checks", 2, "range"), [0.5, 0.9]), ['Check "rich applicant approved"', '"class"', '"range"']),
    (
        changed(("checks", 2, "rows"), [{"incom": 9000}]),
        ['Check "rich applicant approved"', "row 1", '"incom"', "not an input"],
    ),
    (
        changed(("checks", 2, "rows"), [{"average_monthly_income": "rich"}]),
        ['Check "rich applicant approved"', "row 1", '"average_monthly_income"'],
    ),
    (changed(("checks", 2, "rows"), []), ['Check "rich applicant approved"', '"rows"']),
    (changed(("checks", 2, "rows"), {"average_monthly_income": 9000}), ['Check "rich applicant approved"', '"rows"']),
    (changed(("checks", 2, "name"), "income never hurts"), ['Check "income never hurts"', "name"]),
    (changed(("checks", 2, "name"), delete=True), ["Check 3", '"name"']),
    (changed(("rows", 1, "employment_status"), "Retired"), ["row 2", '"employment_status"', "Retired"]),
    (changed(("version",), 2), ['"version"', "2"]),
    (changed(("checks",), []), ['"checks"']),
    (changed(("name",), delete=True), ['"name"']),
    (changed(("check",), []), ['"check"']),
]


@pytest.mark.parametrize(
    ("suite", "named"), MALFORMED, ids=lambda v: json.dumps(v)[:60] if isinstance(v, list) else None
)
def test_a_malformed_suite_is_refused_in_one_sentence_naming_the_check_and_the_field(
    credit: FeatureSchema, suite: dict[str, Any], named: list[str]
) -> None:
    with pytest.raises(SuiteError) as refused:
        Suite.from_json(json.dumps(suite)).validate(credit)
    message = str(refused.value)
    assert one_sentence(message), message
    for part in named:
        assert part in message, (part, message)


def test_text_that_is_not_json_is_refused_with_where_it_broke() -> None:
    with pytest.raises(SuiteError, match=r"not valid JSON .* line 2"):
        Suite.from_json('{"name": "x",\n "checks": [}')


def test_a_suite_file_saved_with_a_byte_order_mark_reads() -> None:
    text = json.dumps(CREDIT_SUITE)
    assert Suite.from_json(b"\xef\xbb\xbf" + text.encode()) == Suite.from_json(text) == Suite.from_json("\ufeff" + text)
    with pytest.raises(SuiteError, match="not UTF-8"):
        Suite.from_json(b"\xff\xfe{}")


def test_an_expectation_of_a_class_on_a_regression_is_refused(credit: FeatureSchema) -> None:
    schema = FeatureSchema((Feature("a", "number", 0, 1, 0),), task="regression", target="y")
    suite = Suite.from_dict({"name": "r", "checks": [{"name": "big", "type": "expect", "class": 1}]})
    with pytest.raises(SuiteError, match='Check "big": "class" needs a classifier'):
        suite.validate(schema)


# ---- rules by hand ---------------------------------------------------------------------------------------
def hand_schema() -> FeatureSchema:
    return FeatureSchema(
        (Feature("a", "integer", 0, 9, 0), Feature("b", "number", 0, 10, 1)),
        name="hand-made",
        task="regression",
        target="y",
    )


def formula(fn: Any) -> Predict:
    def predict(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"prediction": np.asarray(fn(rows.reset_index(drop=True)), dtype=float)})

    return predict


class Calls:
    def __init__(self, predict: Predict) -> None:
        self.predict, self.calls = predict, 0

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        return self.predict(rows)


def test_fail_rate_and_wilson_interval_of_2_failures_in_10_rows_by_hand() -> None:
    """b matters only where a > 7: setting b fails 2 of the 10 rows a = 0..9; Wilson 2/10 is 0.0567-0.5098."""
    suite = Suite.from_dict(
        {
            "name": "hand",
            "rows": [{"a": a, "b": 1} for a in range(10)],
            "checks": [
                {"name": "b ignored", "type": "invariant", "feature": "b", "set": 5, "tolerance": 0.5},
                {
                    "name": "b mostly ignored",
                    "type": "invariant",
                    "feature": "b",
                    "set": 5,
                    "tolerance": 0.5,
                    "allowed_fail_rate": 0.2,
                },
            ],
        }
    )
    predict = Calls(formula(lambda rows: 10 + np.where(rows["a"] > 7, rows["b"], 0)))
    report = run_suite(hand_schema(), suite, predict)
    strict, lenient = report.checks
    assert predict.calls == 1 and report.rows == 20
    assert (strict.cases, strict.failures, strict.fail_rate) == (10, 2, 0.2)
    assert strict.fail_low == pytest.approx(0.05668, abs=5e-5) and strict.fail_high == pytest.approx(0.50984, abs=5e-5)
    assert not strict.passed and lenient.passed, "a fail rate equal to the allowed one passes"
    assert [e["row"] for e in strict.examples[:2]] == [9, 10] and strict.examples[0]["change"] == 4
    frame = report.to_frame()
    assert frame["result"].tolist() == ["FAIL", "PASS"] and frame["fail_rate"].tolist() == [0.2, 0.2]
    assert frame.loc[0, "worst"].startswith("row 9: b 1 -> 5")


def test_the_default_tolerance_of_a_regression_is_one_percent_of_the_value_before() -> None:
    """value 100 a + b: moving b by 0.5 is 0.5 % of 100 (passes); by 2 at a = 1 is 2 % (fails), at a = 3 0.67 %."""
    suite = Suite.from_dict(
        {
            "name": "pct",
            "rows": [{"a": 1, "b": 1}, {"a": 3, "b": 1}],
            "checks": [
                {"name": "small", "type": "invariant", "feature": "b", "set": 1.5},
                {"name": "large", "type": "invariant", "feature": "b", "set": 3},
            ],
        }
    )
    report = run_suite(hand_schema(), suite, formula(lambda rows: 100 * rows["a"] + rows["b"]))
    small, large = report.checks
    assert small.passed and (large.failures, large.examples[0]["row"]) == (1, 1)
    assert small.tolerance is None and small.tolerance_text == "1 % of the value"


@pytest.mark.parametrize("direction", ["increasing", "decreasing"])
def test_a_flat_model_passes_a_monotonic_check_either_way_even_with_no_tolerance(direction: str) -> None:
    suite = Suite.from_dict(
        {
            "name": "flat",
            "checks": [{"name": "flat", "type": "monotonic", "feature": "b", "direction": direction, "tolerance": 0}],
        }
    )
    report = run_suite(hand_schema(), suite, formula(lambda rows: np.full(len(rows), 3.0)))
    assert report.all_passed and report.checks[0].cases == 1 and report.rows_source == "defaults"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 5), min_size=1, max_size=6), st.integers(0, 9), st.floats(0, 10))
def test_any_non_decreasing_step_function_passes_and_its_mirror_fails_unless_flat(
    steps: list[float], a: int, b: float
) -> None:
    """Non-strict: a staircase (flats included) never fails 'increasing'; turned over, it fails when it moves."""
    cuts = np.linspace(0, 10, len(steps) + 2)[1:-1]
    levels = np.concatenate([[0.0], np.cumsum(steps)])

    def stairs(rows: pd.DataFrame) -> np.ndarray:
        return 1000 + levels[np.searchsorted(cuts, rows["b"].to_numpy(dtype=float), side="right")]

    checks = [
        {"name": "up", "type": "monotonic", "feature": "b", "direction": "increasing", "tolerance": 0},
        {"name": "down", "type": "monotonic", "feature": "b", "direction": "decreasing", "tolerance": 0},
    ]
    report = run_suite(
        hand_schema(), Suite.from_dict({"name": "s", "rows": [{"a": a, "b": b}], "checks": checks}), formula(stairs)
    )
    up, down = report.checks
    assert up.passed
    swept = report.sent["score"].to_numpy()
    assert down.passed == (swept.max() == swept.min())


def test_rows_from_a_file_replace_the_suite_s_rows_but_not_a_check_s_own() -> None:
    suite = Suite.from_dict(
        {
            "name": "f",
            "rows": [{"a": 0}],
            "checks": [
                {"name": "shared", "type": "expect", "range": [0, None]},
                {"name": "own", "type": "expect", "range": [0, None], "rows": [{"a": 1}, {"a": 2}]},
            ],
        }
    )
    file_rows = pd.DataFrame({"a": list(range(10)) * 25, "b": [1.0] * 250})
    report = run_suite(hand_schema(), suite, formula(lambda rows: rows["a"]), rows=file_rows)
    assert report.rows_source == "file"
    assert [r.cases for r in report.checks] == [200, 2], "the file's first 200 rows, and the check's own 2"
    assert report.rows == 10, "each distinct row once"


def test_a_suite_beyond_one_task_is_refused_before_anything_is_sent() -> None:
    schema = FeatureSchema((Feature("p", "number", 0, 1, 0), Feature("q", "number", 0, 1, 0)), task="regression")
    suite = Suite.from_dict(
        {
            "name": "big",
            "rows": [{"q": i / 200} for i in range(200)],
            "checks": [{"name": "m", "type": "monotonic", "feature": "p", "direction": "increasing", "points": 100}],
        }
    )
    predict = Calls(formula(lambda rows: rows["p"]))
    with pytest.raises(AnalysisError) as refused:
        run_suite(schema, suite, predict)
    assert predict.calls == 0 and one_sentence(str(refused.value)), str(refused.value)
    assert "10,000" in str(refused.value) and re.search(r"would send 20,\d{3} rows", str(refused.value))


def test_permuting_one_row_is_refused_as_meaningless() -> None:
    suite = Suite.from_dict(
        {"name": "p", "checks": [{"name": "perm", "type": "invariant", "feature": "b", "permute": True}]}
    )
    with pytest.raises(AnalysisError, match='Check "perm": permuting "b" needs at least 2 rows') as refused:
        run_suite(hand_schema(), suite, formula(lambda rows: rows["b"]))
    assert one_sentence(str(refused.value))


def test_a_permutation_gives_every_row_another_row_s_value_and_follows_the_seed() -> None:
    rows = [{"a": i, "b": float(i)} for i in range(8)]
    suite = Suite.from_dict(
        {
            "name": "p",
            "rows": rows,
            "checks": [{"name": "perm", "type": "invariant", "feature": "b", "permute": True, "tolerance": 100}],
        }
    )
    reports = [run_suite(hand_schema(), suite, formula(lambda r: r["b"]), seed=seed) for seed in (1, 1, 2)]
    sent = [report.sent for report in reports]
    assert len(sent[0]) == 16, "each row as it is, then with another row's b"
    changed = sent[0].iloc[1::2]
    assert (changed["b"] != changed["a"]).all() and sorted(changed["b"]) == [float(i) for i in range(8)]
    assert sent[0]["b"].tolist() == sent[1]["b"].tolist(), "the same seed, the same permutation"
    assert sent[0]["b"].tolist() != sent[2]["b"].tolist()


def test_a_check_round_trips_through_json_and_says_what_it_asks(credit: FeatureSchema) -> None:
    suite = Suite.from_dict(CREDIT_SUITE)
    assert Suite.from_json(suite.to_json()) == suite
    assert [c.what(credit) for c in suite.checks] == [
        "as average_monthly_income increases, the score does not fall",
        "order_amount set to 1000: score unchanged",
        "predicted approved",
    ]
    assert Check.from_dict({"name": "r", "type": "expect", "range": [None, 0.3]}, 1).expected_range == (None, 0.3)
    approved = Suite.from_dict(changed(("checks", 2, "class"), "Approved"))
    approved.validate(credit)  # a label, any case


def test_a_score_class_that_is_not_a_class_is_refused(credit: FeatureSchema) -> None:
    with pytest.raises(AnalysisError, match="'maybe' is not a class"):
        run_suite(credit, Suite.from_dict(CREDIT_SUITE), formula(lambda r: r["order_amount"]), score_class="maybe")


def test_numbers_in_the_report_json_are_plain_and_finite(
    defect_report: tuple[SuiteReport, int, BatchPredictor],
) -> None:
    data = defect_report[0].to_json(with_rows=True)
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["checks"][0]["examples"][0]["row"] >= 1
    assert len(data["rows"]) == data["rows_sent"] and data["tasks"] == 1
    assert all(math.isfinite(r["score"]) for r in data["rows"])
