"""``python -m whatif analyse sensitivity|sweep|interaction|contributions|robustness``.

The command line's side of "Explore this scenario": the same analyses as the app, each sent
as one batched task, printed as a table with the reading, or as one JSON object holding the
summary and every row sent with the model's answer for it (``--format json``), so a script or
a CI job can check it against a plain prediction.
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

from whatif.analysis import Predict
from whatif.analysis.counterfactual import Goal, goal_from_text
from whatif.analysis.result import AnalysisResult
from whatif.analysis.runner import BatchPredictor
from whatif.client import ModelClient
from whatif.errors import ExtensionUnavailable
from whatif.rowsfile import read_form_rows
from whatif.schema import FeatureSchema

ANALYSES = ("sensitivity", "sweep", "interaction", "contributions", "robustness", "counterfactual")
BACKGROUND_ROWS = 50  # the most real rows the sample route answers (the demo models keep 20)


def add_analyse_parser(sub: Any, connection_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``analyse`` command and its flags."""
    parser = sub.add_parser(
        "analyse",
        help="explore a scenario: sensitivity, sweep, interaction, contributions, "
        "robustness (one batched task each), counterfactual (at most 4)",
    )
    parser.add_argument("analysis", choices=ANALYSES)
    connection_flags(parser)
    parser.add_argument("--path", required=True, help="model path, e.g. 1/4/model-groups/1/1.json")
    parser.add_argument("--bucket", required=True, help="model bucket, e.g. storage.datrics.ai")
    parser.add_argument(
        "--data",
        default="{}",
        help='the scenario as JSON form values: \'{"age": 30, "sex": "female"}\'; '
        "features left out take the schema's defaults",
    )
    parser.add_argument(
        "--schema", type=Path, help="the model's schema (JSON or a training CSV) when the API has no schema route"
    )
    parser.add_argument("--feature", help="sweep: the input to move")
    parser.add_argument("--features", nargs=2, metavar=("F", "G"), help="interaction: the two inputs to map")
    parser.add_argument(
        "--noise", type=float, default=0.05, help="robustness: noise as a share of each input's spread (default 0.05)"
    )
    parser.add_argument(
        "--hold", nargs="*", default=[], metavar="F", help="sensitivity: inputs left out; robustness: inputs held fixed"
    )
    parser.add_argument(
        "--background",
        type=Path,
        help="sweep and contributions: a CSV of rows (ICE curves, Shapley background); "
        "contributions default to the server's real rows of the model when it has them",
    )
    parser.add_argument("--score-class", help="classifiers: the class whose probability is the score")
    goal = parser.add_mutually_exclusive_group()
    goal.add_argument("--target", help="counterfactual: the class to reach (a label or key; default: any other class)")
    goal.add_argument(
        "--target-range",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="counterfactual of a regression: bring the prediction between LO and HI",
    )
    parser.add_argument("--fixed", default="", help="counterfactual: inputs that must not change, comma-separated")
    parser.add_argument("--count", type=int, default=3, help="counterfactual: how many alternatives (1 to 10)")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run_analyse(args: argparse.Namespace, client: ModelClient) -> int:
    """Run the analysis the flags ask for and print it."""
    schema = _schema(args, client)
    scenario = schema.coerce_values(_scenario(args.data), fill_defaults=True)
    predict = BatchPredictor(client, args.path, args.bucket, connection_key=client.endpoints.origin)
    started = time.perf_counter()
    result = _analysis(args, schema, scenario, predict, client)
    wall_s = time.perf_counter() - started
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        print(result.reading)
        print()
        print(result.summary.to_string(index=False, max_rows=60))
    print(f"\n{result.rows:,} row(s) in {result.tasks} task(s), {wall_s:.2f} s", file=sys.stderr)
    return 0


def _analysis(
    args: argparse.Namespace, schema: FeatureSchema, scenario: dict[str, Any], predict: Predict, client: ModelClient
) -> AnalysisResult:
    """The analysis named by ``args.analysis`` on ``scenario``."""
    from whatif.analysis.contributions import contributions
    from whatif.analysis.counterfactual import counterfactuals
    from whatif.analysis.interaction import interaction
    from whatif.analysis.robustness import robustness
    from whatif.analysis.sensitivity import sensitivity
    from whatif.analysis.sweep import sweep

    if args.analysis == "sensitivity":
        return sensitivity(schema, scenario, predict, exclude=tuple(args.hold), score_class=args.score_class)
    if args.analysis == "sweep":
        if not args.feature:
            raise ValueError("A sweep needs the input to move: add --feature NAME.")
        background = read_form_rows(schema, args.background.read_bytes()) if args.background else None
        return sweep(schema, scenario, predict, args.feature, background=background, score_class=args.score_class)
    if args.analysis == "interaction":
        if not args.features:
            raise ValueError("An interaction map needs two inputs: add --features NAME OTHER.")
        return interaction(
            schema, scenario, predict, (args.features[0], args.features[1]), score_class=args.score_class
        )
    if args.analysis == "contributions":
        background = (
            read_form_rows(schema, args.background.read_bytes())
            if args.background
            else _real_rows(schema, client, args.path, args.bucket)
        )
        return contributions(schema, scenario, predict, background=background, score_class=args.score_class)
    if args.analysis == "counterfactual":
        return counterfactuals(
            schema,
            scenario,
            predict,
            goal=_goal(schema, args),
            fixed=[name.strip() for name in args.fixed.split(",") if name.strip()],
            count=args.count,
            score_class=args.score_class,
        )
    return robustness(
        schema, scenario, predict, epsilon=args.noise, hold=tuple(args.hold), score_class=args.score_class
    )


def _goal(schema: FeatureSchema, args: argparse.Namespace) -> Goal | None:
    """The counterfactual's goal from ``--target`` or ``--target-range``; None: any other class."""
    if args.target_range is not None:
        low, high = sorted(args.target_range)
        return Goal("range", low=low, high=high)
    if args.target:
        return goal_from_text(schema, args.target)
    return None


def _schema(args: argparse.Namespace, client: ModelClient) -> FeatureSchema:
    """The schema from ``--schema`` or the API's schema route."""
    if args.schema is not None:
        text = args.schema.read_bytes()
        return FeatureSchema.from_csv(text) if args.schema.suffix.lower() == ".csv" else FeatureSchema.from_json(text)
    return client.schema(args.path, args.bucket)


def _scenario(data: str) -> dict[str, Any]:
    """The ``--data`` JSON object (a one-row list is accepted too)."""
    try:
        values = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--data is not valid JSON ({exc.msg}); pass an object like '{{\"age\": 29}}'.") from None
    if isinstance(values, list) and len(values) == 1:
        values = values[0]
    if not isinstance(values, dict):
        raise ValueError("--data must be one JSON object mapping feature names to values.")
    return values


def _real_rows(schema: FeatureSchema, client: ModelClient, path: str, bucket: str) -> pd.DataFrame | None:
    """The server's real rows of the model as form values; None (the schema defaults) when it has none."""
    try:
        sample = client.sample_rows(path, bucket, n=BACKGROUND_ROWS)
    except ExtensionUnavailable:
        print(
            "note: the API offers no real rows of this model; the background is the schema's defaults", file=sys.stderr
        )
        return None
    rows = []
    for row in sample.rows:
        try:
            rows.append(schema.from_row(row))
        except ValueError:
            continue
    return pd.DataFrame(rows) if rows else None
