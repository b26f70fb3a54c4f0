"""``python -m whatif compare``: two models, or two versions of one, on one scenario or on a file of rows.

Both tasks are submitted at once, then waited for, so a comparison costs about one prediction's time.
Model B is on the same API as A unless ``--url-b`` names another (its secret from ``--secret-b`` or
``WHATIF_API_SECRET_B``, else A's). The table says what differs between the two schemas, both answers
and their difference (with ``--file``: the agreement, the confusion matrix, the score differences and
the rows where they disagree most); ``--format json`` holds all of that and every row sent to either
model with its answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

from whatif.analysis.compare import A, B, Comparison, Side, compare_rows, compare_scenario, read_rows, side_name
from whatif.client import Endpoints, ModelClient
from whatif.errors import APIError
from whatif.profiles import short_secret_warning

TABLE_ROWS = 20


def add_compare_parser(sub: Any, connection_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``compare`` command and its flags."""
    parser = sub.add_parser(
        "compare",
        help="compare two models or versions on a scenario or a file of rows (both tasks at once)",
        description="Compare model A (--path) with model B (--path-b) on one scenario (--data) or on every row "
        "of a CSV (--file). Both tasks are sent at once.",
    )
    connection_flags(parser)
    parser.add_argument("--path", required=True, help="model A's path, e.g. 1/4/model-groups/2/1.json")
    parser.add_argument("--bucket", required=True, help="model A's bucket, e.g. storage.datrics.ai")
    parser.add_argument("--path-b", required=True, help="model B's path, e.g. 1/4/model-groups/2/2.json")
    parser.add_argument("--bucket-b", help="model B's bucket (default: --bucket)")
    parser.add_argument("--url-b", help="model B's API when it is another one (default: A's)")
    parser.add_argument("--secret-b", help="model B's API secret (prefer WHATIF_API_SECRET_B; default: A's)")
    parser.add_argument("--user-id-b", help="model B's user id (default: A's)")
    parser.add_argument("--email-b", help="model B's e-mail (default: A's)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        help='the scenario as JSON form values of A: \'{"average_monthly_income": '
        "1500}'; inputs left out take A's defaults",
    )
    source.add_argument("--file", type=Path, help="a CSV of rows (A's inputs; categories by label or code)")
    parser.add_argument("--sweep", metavar="F", help="with --data: also sweep input F for both models (same tasks)")
    parser.add_argument("--score-class", help="classifiers: the class label whose probability is compared")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run_compare(args: argparse.Namespace, client: ModelClient) -> int:
    """Compare the two models the flags name and print the comparison."""
    if args.sweep and args.file is not None:
        raise ValueError("--sweep goes with --data (one scenario), not with --file.")
    with ExitStack() as stack:
        client_b = _client_b(args, client)
        if client_b is not client:
            stack.enter_context(client_b)
        bucket_b = args.bucket_b or args.bucket
        schema_a = client.schema(args.path, args.bucket)
        try:
            schema_b = client_b.schema(args.path_b, bucket_b)
        except APIError as exc:  # say which model: A's schema was read through another API, or the same one
            raise ValueError(f"Model B ({args.path_b}) cannot be read: {_lower_first(str(exc))}") from exc
        name_a = side_name(schema_a, args.path)
        side_a = Side(client, args.path, args.bucket, schema_a, name_a)
        side_b = Side(client_b, args.path_b, bucket_b, schema_b, side_name(schema_b, args.path_b, other=name_a))
        started = time.perf_counter()
        if args.file is not None:
            rows = read_rows(schema_a, schema_b, args.file.read_bytes())
            result = compare_rows(side_a, side_b, rows, score_class=args.score_class)
        else:
            result = compare_scenario(
                side_a,
                side_b,
                _scenario(args.data, schema_a, schema_b),
                sweep_feature=args.sweep,
                score_class=args.score_class,
            )
        wall_s = time.perf_counter() - started
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        print(comparison_table(result))
    print(f"\n{len(result.sent):,} row(s) in {result.tasks} task(s), sent together, {wall_s:.2f} s", file=sys.stderr)
    return 0


def _client_b(args: argparse.Namespace, client: ModelClient) -> ModelClient:
    """A's client, or one for B's API when any of its flags differ."""
    secret_b = args.secret_b or os.environ.get("WHATIF_API_SECRET_B")
    if not (args.url_b or secret_b or args.user_id_b or args.email_b):
        return client
    if args.url_b and not secret_b:
        if Endpoints.from_url(args.url_b).origin != client.endpoints.origin:
            # never sign a token with A's secret for another server: that would hand A's credentials to B
            raise ValueError("Model B is on another API; give its own secret with WHATIF_API_SECRET_B (or --secret-b).")
    if secret_b and (too_short := short_secret_warning(secret_b)):
        print(f"warning: model B's {too_short[0].lower()}{too_short[1:]}", file=sys.stderr)
    return ModelClient(
        args.url_b or client.endpoints.predict_url,
        secret=secret_b or args.secret or os.environ.get("WHATIF_API_SECRET", ""),
        user_id=args.user_id_b or client.user_id,
        email=args.email_b or client.email,
        poll_deadline_s=client.poll_deadline_s,
    )


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _scenario(data: str, schema_a: Any, schema_b: Any) -> dict[str, Any]:
    """The ``--data`` object as A's form values, A's defaults for what it leaves out (values of inputs only B
    has are kept for B)."""
    try:
        values = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--data is not valid JSON ({exc.msg}); pass an object like '{{\"age\": 29}}'.") from None
    if isinstance(values, list) and len(values) == 1:
        values = values[0]
    if not isinstance(values, dict):
        raise ValueError("--data must be one JSON object mapping feature names to values.")
    names_a = {f.name for f in schema_a.features}
    names_b = {f.name for f in schema_b.features}
    unknown = [name for name in values if name not in names_a and name not in names_b]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is an input of neither model; leave it out of --data.")
    scenario = schema_a.coerce_values({k: v for k, v in values.items() if k in names_a}, fill_defaults=True)
    return {**scenario, **{k: v for k, v in values.items() if k not in names_a}}


def comparison_table(result: Comparison) -> str:
    """The comparison as text: the models, what differs, both answers (or the agreement), the reading."""
    lines = [f"{A}: {result.model_a}", f"{B}: {result.model_b}"]
    lines += [f"note: {sentence}" for sentence in result.differences]
    lines.append("")
    if result.kind == "compare_scenario":
        lines.append(result.summary.to_string(index=False))
        difference = result.facts.get("difference")
        if difference is not None:
            shown = f"{difference * 100:+.1f} pts" if result.scorer.task == "classification" else f"{difference:+,.4g}"
            lines.append(f"\nDifference ({B} - {A}) in {result.scorer.title}: {shown}")
        lines += ["", result.reading]
        if not result.curves.empty:
            curves = result.curves.pivot(index=["point", "value"], columns="side", values="score").reset_index()
            curves["difference"] = curves[B] - curves[A]
            lines += [
                "",
                f"Sweep of {result.facts.get('feature')}:",
                curves.drop(columns="point").to_string(index=False, max_rows=60),
            ]
        return "\n".join(lines)
    lines.append(result.reading)
    if not result.confusion.empty:
        matrix = result.confusion.pivot(index="a_class", columns="b_class", values="rows")
        matrix = matrix.reindex(
            index=list(dict.fromkeys(result.confusion["a_class"])),
            columns=list(dict.fromkeys(result.confusion["b_class"])),
        )
        matrix.index.name, matrix.columns.name = f"{A} \\ {B}", None
        lines += ["", "Confusion matrix (rows: A's class, columns: B's class):", matrix.to_string()]
    lines += [
        "",
        f"Where they disagree most (the first {min(TABLE_ROWS, len(result.disagreements))}):",
        _table(result.disagreements.head(TABLE_ROWS)),
    ]
    return "\n".join(lines)


def _table(frame: pd.DataFrame) -> str:
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")
