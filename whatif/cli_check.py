"""``python -m whatif check``: run a behavioural suite against one model version, as a CI step would.

The suite (``whatif.analysis.checks``) is sent as ONE task; the command prints one line per
check (PASS or FAIL, the fail rate with its 95 % interval, the worst example), or with
``--format json`` the report and every row sent with the model's answer. The exit code says
how it went, so a pipeline can stop on a failed check.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from whatif.analysis.checks import MAX_FILE_ROWS, CheckResult, Suite, SuiteReport, example_text, run_suite
from whatif.analysis.runner import BatchPredictor
from whatif.client import ModelClient
from whatif.rowsfile import read_form_rows
from whatif.schema import FeatureSchema

EXIT_PASSED, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
EXIT_CODES = f"""exit codes:
  {EXIT_PASSED}  every check passed
  {EXIT_ERROR}  an error (one sentence on stderr): a malformed suite, a file, the API...
  {EXIT_USAGE}  wrong usage (a missing or unknown flag)
  {EXIT_FAILED}  the suite ran and at least one check failed"""


def add_check_parser(sub: Any, connection_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``check`` command and its flags."""
    parser = sub.add_parser(
        "check",
        help="run a behavioural suite (expect / invariant / monotonic checks) on a model version",
        description="Run a suite of behavioural checks against a saved model version, in one batched task.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    connection_flags(parser)
    parser.add_argument("--suite", type=Path, required=True, help="the suite's JSON file")
    parser.add_argument("--path", required=True, help="model path, e.g. 1/4/model-groups/2/1.json")
    parser.add_argument("--bucket", required=True, help="model bucket, e.g. storage.datrics.ai")
    parser.add_argument(
        "--rows",
        type=Path,
        help=f"a CSV of rows (its first {MAX_FILE_ROWS}) for the checks "
        "without rows of their own, instead of the suite's rows",
    )
    parser.add_argument(
        "--schema", type=Path, help="the model's schema (JSON or a training CSV) when the API has no schema route"
    )
    parser.add_argument("--score-class", help="classifiers: the class whose probability is the score")
    parser.add_argument("--seed", type=int, default=0, help="seed of permutations and noise (default 0)")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run_check(args: argparse.Namespace, client: ModelClient) -> int:
    """Run the suite the flags name and print its report; 0 when every check passed, 3 when one failed."""
    suite = Suite.from_json(args.suite.read_bytes())
    schema = _schema(args, client)
    suite.validate(schema)
    rows = None
    if args.rows is not None:
        rows = read_form_rows(schema, args.rows.read_bytes())
        if len(rows) > MAX_FILE_ROWS:
            print(
                f"note: the suite runs on the first {MAX_FILE_ROWS} of the file's {len(rows):,} rows", file=sys.stderr
            )
    predict = BatchPredictor(client, args.path, args.bucket, connection_key=client.endpoints.origin)
    started = time.perf_counter()
    report = run_suite(schema, suite, predict, rows=rows, seed=args.seed, score_class=args.score_class)
    wall_s = time.perf_counter() - started
    if args.format == "json":
        print(json.dumps(report.to_json(with_rows=True), indent=2, default=str))
    else:
        print(report_table(report))
    print(f"\n{report.rows:,} row(s) in {predict.tasks_sent} task(s), {wall_s:.2f} s", file=sys.stderr)
    return EXIT_PASSED if report.all_passed else EXIT_FAILED


def report_table(report: SuiteReport) -> str:
    """The report as text: a title, one line per check, the verdict."""
    version = f" v{report.model_version}" if report.model_version is not None else ""
    lines = [
        f"Suite {json.dumps(report.suite, ensure_ascii=False)} on {report.model or 'the model'}{version}, "
        f"score {report.scorer.title}:"
    ]
    width = max(len(r.name) for r in report.checks)
    lines += [check_line(r, report, width) for r in report.checks]
    lines.append(report.reading)
    return "\n".join(lines)


def check_line(result: CheckResult, report: SuiteReport, width: int = 0) -> str:
    """``FAIL  name  monotonic  fail rate 33 % of 3 (95 % interval 6-79 %); worst: row 2: ...``."""
    verdict = "PASS" if result.passed else "FAIL"
    allowed = f", allowed {_percent(result.allowed_fail_rate)}" if result.allowed_fail_rate else ""
    line = (
        f"{verdict}  {result.name:<{width}}  {result.type:<9}  fail rate {_percent(result.fail_rate)} of "
        f"{result.cases:,} (95 % interval {_percent(result.fail_low)}-{_percent(result.fail_high)}){allowed}"
    )
    if result.examples:
        line += f"; worst: {example_text(result.examples[0], report.scorer)}"
    return line


def _percent(share: float) -> str:
    value = share * 100
    return f"{value:.0f} %" if value == 0 or value >= 10 or value != value else f"{value:.1f} %"


def _schema(args: argparse.Namespace, client: ModelClient) -> FeatureSchema:
    """The schema from ``--schema`` or the API's schema route."""
    if args.schema is not None:
        text = args.schema.read_bytes()
        return FeatureSchema.from_csv(text) if args.schema.suffix.lower() == ".csv" else FeatureSchema.from_json(text)
    return client.schema(args.path, args.bucket)
