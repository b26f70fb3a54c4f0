"""``python -m whatif bulk``: edit every row of a file and see what the model does with them.

    python -m whatif bulk --path P --bucket B --file rows.csv --edit "average_monthly_income*=1.1" \\
        --edit "employment_status=Employed" [--where "age < 30"] [--format table|json|csv]

The original and edited rows go as ONE batched task (split only beyond the server's limits).
``table`` prints the reading, the class-transition matrix, the headline numbers and the rows
that moved most; ``json`` one object with the facts, every row before and after (``summary``)
and every row sent with the model's answer (``rows``); ``csv`` every row with its values,
scores and classes before and after. Every expected failure is one sentence on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from whatif.analysis.edits import (
    BOOTSTRAP_RESAMPLES,
    bulk_whatif,
    change_text,
    interval_text,
    movers_table,
    share_text,
    transition_frame,
)
from whatif.analysis.result import AnalysisResult
from whatif.analysis.runner import BatchPredictor
from whatif.client import ModelClient
from whatif.rowsfile import read_form_rows
from whatif.schema import FeatureSchema

MAX_FILE_ROWS = 50_000  # original + edited rows: 100,000 at most, ten tasks of the reference server


def add_bulk_parser(sub: Any, connection_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``bulk`` command and its flags."""
    parser = sub.add_parser(
        "bulk",
        help="edit every row of a file (income*=1.1, status=Employed...) and compare the answers",
        description="Apply edits to every row of a CSV (or the rows --where picks), send the original and edited "
        "rows in one batched task, and print how the answers moved.",
    )
    connection_flags(parser)
    parser.add_argument("--path", required=True, help="model path, e.g. 1/4/model-groups/2/1.json")
    parser.add_argument("--bucket", required=True, help="model bucket, e.g. storage.datrics.ai")
    parser.add_argument(
        "--file", type=Path, required=True, help=f"a CSV of rows with the model's inputs (at most {MAX_FILE_ROWS:,})"
    )
    parser.add_argument(
        "--edit",
        action="append",
        required=True,
        metavar="EDIT",
        help="an edit, repeatable, applied in order: f=v, f+=x, f-=x, f*=x, f:A->B (categories, "
        "labels or codes), clip(f)",
    )
    parser.add_argument(
        "--where",
        default="",
        help='only edit the rows matching this filter, e.g. "age < 30 and '
        'sex == female" (< <= > >= == !=, and, or, brackets)',
    )
    parser.add_argument(
        "--drop-outside",
        action="store_true",
        help="leave out the rows an edit pushes outside a feature's training range",
    )
    parser.add_argument(
        "--schema", type=Path, help="the model's schema (JSON or a training CSV) when the API has no schema route"
    )
    parser.add_argument("--score-class", help="classifiers: the class whose probability is the score")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap interval (default 0)")
    parser.add_argument(
        "--resamples",
        type=int,
        default=BOOTSTRAP_RESAMPLES,
        help=f"bootstrap resamples of the interval (default {BOOTSTRAP_RESAMPLES:,})",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="table: the summary; json: everything, every row before and after with the answers; "
        "csv: every row before and after",
    )


def run_bulk(args: argparse.Namespace, client: ModelClient) -> int:
    """Run the bulk what-if the flags ask for and print it."""
    schema = _schema(args, client)
    rows = read_form_rows(schema, args.file.read_bytes(), limit=MAX_FILE_ROWS)
    predict = BatchPredictor(client, args.path, args.bucket, connection_key=client.endpoints.origin)
    started = time.perf_counter()
    result = bulk_whatif(
        schema,
        rows,
        args.edit,
        predict,
        where=args.where or None,
        drop_outside=args.drop_outside,
        seed=args.seed,
        score_class=args.score_class,
        resamples=args.resamples,
    )
    wall_s = time.perf_counter() - started
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, default=str))
    elif args.format == "csv":
        print(result.summary.to_csv(index=False), end="")
    else:
        print(summary_text(result))
    print(f"\n{result.rows:,} row(s) in {predict.tasks_sent} task(s), {wall_s:.2f} s", file=sys.stderr)
    return 0


def summary_text(result: AnalysisResult) -> str:
    """The table format: the reading, the transition matrix, the numbers, the rows that moved most."""
    facts = result.facts
    scorer = result.scorer
    lines = [result.reading, ""]
    if "transitions" in facts:
        lines += ["Classes before (down) and after (across):", transition_frame(result).to_string(), ""]
        lines.append(
            f"Rows whose class changed: {facts['class_changed']:,} of {facts['rows']:,} "
            f"({share_text(facts['share_changed'])})"
        )
    interval = interval_text(scorer, facts["change_low"], facts["change_high"])
    lines.append(
        f"Mean change of {scorer.title}: {change_text(scorer, facts['mean_change'], True)} (95 % interval "
        f"{interval}, {facts['resamples']:,} paired bootstrap resamples)"
    )
    where = f" where {facts['where']}" if facts["where"] else ""
    lines.append(
        f"Rows: {facts['rows_in_file']:,} in the file, {facts['matched']:,} edited{where}, "
        f"{facts['inputs_changed']:,} with other inputs, {facts['outside']:,} pushed outside the training "
        f"range, {facts['left_out']:,} left out; {facts['rows_sent']:,} rows sent"
    )
    lines += [f"Note: {note}" for note in facts["notes"]]
    movers = movers_table(result)
    if len(movers):
        lines += ["", "Rows that moved most:", _movers_text(movers)]
    return "\n".join(lines)


def _movers_text(movers: pd.DataFrame) -> str:
    shown = movers.drop(columns=[c for c in ("matched", "outside", "inputs_changed") if c in movers.columns])
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _schema(args: argparse.Namespace, client: ModelClient) -> FeatureSchema:
    """The schema from ``--schema`` or the API's schema route."""
    if args.schema is not None:
        text = args.schema.read_bytes()
        return FeatureSchema.from_csv(text) if args.schema.suffix.lower() == ".csv" else FeatureSchema.from_json(text)
    return client.schema(args.path, args.bucket)
