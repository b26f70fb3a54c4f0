"""Command line: ``python -m whatif predict|models [add|train]|schema|analyse|check|bulk|compare``.

Settings come from flags or ``WHATIF_API_URL``, ``WHATIF_API_SECRET``, ``WHATIF_USER_ID``,
``WHATIF_USER_EMAIL``. Every expected failure prints one sentence and exits 1; ``check`` exits 3
when its suite ran and a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from whatif.cli_analyse import add_analyse_parser, run_analyse
from whatif.cli_bulk import add_bulk_parser, run_bulk
from whatif.cli_check import add_check_parser, run_check
from whatif.cli_compare import add_compare_parser, run_compare
from whatif.cli_models import add_models_parsers, run_models
from whatif.client import ModelClient
from whatif.errors import APIError
from whatif.profiles import short_secret_warning
from whatif.schema import RowValidationError, SchemaError


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="predict URL or API origin (WHATIF_API_URL)")
    parser.add_argument("--secret", help="API secret (prefer WHATIF_API_SECRET: flags show in `ps`)")
    parser.add_argument("--user-id", help="user id (WHATIF_USER_ID, default 1)")
    parser.add_argument("--email", help="e-mail (WHATIF_USER_EMAIL)")
    parser.add_argument("--timeout", type=float, default=60.0, help="poll deadline in seconds (default 60)")


def build_parser() -> argparse.ArgumentParser:
    """The CLI's flags."""
    parser = argparse.ArgumentParser(
        prog="python -m whatif", description="Call an AutoModel prediction API (Datrics style)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    predict = sub.add_parser("predict", help="predict rows with a saved model")
    _connection_flags(predict)
    predict.add_argument("--path", required=True, help="model path, e.g. 1/4/model-groups/1/1.json")
    predict.add_argument("--bucket", required=True, help="model bucket, e.g. storage.datrics.ai")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="rows as JSON: '[{\"feature\": value, ...}]'")
    source.add_argument("--file", type=Path, help="rows from a .csv or .json file")
    predict.add_argument("--only-prediction", action="store_true", help="return only the prediction columns")
    predict.add_argument("--format", choices=("table", "json", "csv"), default="table")
    models = sub.add_parser("models", help="list the saved models you may call; add or train one")
    _connection_flags(models)
    models.add_argument("--json", action="store_true", help="print JSON")
    add_models_parsers(models, _connection_flags)
    schema = sub.add_parser("schema", help="print a saved model's feature schema")
    _connection_flags(schema)
    schema.add_argument("--path", required=True)
    schema.add_argument("--bucket", required=True)
    add_analyse_parser(sub, _connection_flags)
    add_check_parser(sub, _connection_flags)
    add_bulk_parser(sub, _connection_flags)
    add_compare_parser(sub, _connection_flags)
    return parser


def read_rows(data: str | None, file: Path | None) -> list[dict[str, Any]]:
    """Rows from a JSON text, a JSON file or a CSV file."""
    if file is not None:
        if file.suffix.lower() == ".csv":
            return [dict(r) for r in pd.read_csv(file).to_dict("records")]
        data = file.read_text()
    try:
        rows = json.loads(data or "")
    except json.JSONDecodeError as exc:
        raise ValueError(f"The rows are not valid JSON ({exc.msg}); pass a list like '[{{\"age\": 29}}]'.") from None
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("The rows must be a JSON list of objects mapping feature names to values.")
    return rows


def make_client(args: argparse.Namespace) -> ModelClient:
    """A client from flags, falling back to the WHATIF_* variables; warns once on stderr if the secret is short."""
    secret = args.secret if args.secret is not None else os.environ.get("WHATIF_API_SECRET", "")
    if too_short := short_secret_warning(secret):
        print(f"warning: {too_short}", file=sys.stderr)
    return ModelClient.from_env(
        url=args.url, secret=args.secret, user_id=args.user_id, email=args.email, poll_deadline_s=args.timeout
    )


def run(args: argparse.Namespace) -> int:
    """Do the command; raise the expected errors for ``main`` to print."""
    if args.command == "predict":
        from whatif.analysis.bulk import predict_records_in_tasks  # a large file goes in tasks of the row limit

        rows = read_rows(args.data, args.file)
        with make_client(args) as client:
            frame, results = predict_records_in_tasks(
                client,
                rows,
                args.path,
                args.bucket,
                only_prediction=args.only_prediction,
                on_task=lambda p: print(p.text(), file=sys.stderr, flush=True),
            )
        if args.format == "json":
            print(frame.to_json(orient="records", indent=2))
        elif args.format == "csv":
            print(frame.to_csv(index=False), end="")
        else:
            print(frame.to_string(index=False))
        if len(results) == 1 and args.format == "table":
            result = results[0]
            print(
                f"\n{len(frame)} row(s), task {result.task_id}, {result.elapsed_s * 1000:.0f} ms, "
                f"{result.polls} poll(s)",
                file=sys.stderr,
            )
        return 0
    with make_client(args) as client:
        if args.command == "analyse":
            return run_analyse(args, client)
        if args.command == "check":
            return run_check(args, client)
        if args.command == "bulk":
            return run_bulk(args, client)
        if args.command == "compare":
            return run_compare(args, client)
        if args.command == "models" and getattr(args, "models_command", None):
            return run_models(args, client)
        if args.command == "models":
            models = client.list_models()
            if args.json:
                print(
                    json.dumps(
                        [
                            {
                                "name": m.name,
                                "group": m.group,
                                "project": m.project,
                                "versions": [v.__dict__ for v in m.versions],
                            }
                            for m in models
                        ],
                        indent=2,
                    )
                )
                return 0
            for m in models:
                print(f"{m.name}  (project {m.project}, group {m.group})")
                for v in m.versions:
                    metrics = ", ".join(f"{k} {val}" for k, val in v.metrics.items())
                    print(f"  v{v.version}  {v.task:<14}  --path {v.path} --bucket {v.bucket}  {metrics}")
            if not models:
                print("No saved models for this user.")
            return 0
        print(json.dumps(client.schema(args.path, args.bucket).to_dict(), indent=2))
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: exit 0 on success, 1 with one sentence on an expected failure."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except OSError as exc:  # a file that cannot be read or written (network errors are APIErrors)
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot use the file{where}: {exc.strerror or exc}; check the path.", file=sys.stderr)
        return 1
    except (APIError, RowValidationError, SchemaError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
