"""``python -m whatif models add|train``: save a fitted model, or train one from a CSV, through the API.

    python -m whatif models add --model m.skops --schema s.json|train.csv [--target y] (--name N | --version-of PATH)
    python -m whatif models train --file data.csv --target y [--features a,b] (--name N | --version-of PATH)

Both print the new version's path, bucket and version (and, for a training, its held-out metrics
against the baseline); ``--format json`` prints the server's answer. ``python -m whatif models``
alone still lists the saved models.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from whatif.client import ModelClient, SavedVersion, TrainingStatus
from whatif.protocol import DEMO_BUCKET
from whatif.schema_infer import KINDS

# metrics where lower is better; the others (accuracy, roc_auc, r2) are better higher
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})


def add_models_parsers(
    models: argparse.ArgumentParser, connection_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """``models add`` and ``models train`` under the ``models`` command (which alone keeps listing)."""
    sub = models.add_subparsers(dest="models_command", metavar="{add,train}")
    # Flags that the bare ``models`` command also has are SUPPRESSed here unless given, so that
    # ``models --url X add ...`` keeps X (a subcommand's defaults would otherwise overwrite it).
    add = sub.add_parser(
        "add",
        help="save a fitted skops model and its schema as a new model or a new version",
        argument_default=argparse.SUPPRESS,
    )
    connection_flags(add)
    add.add_argument("--model", type=Path, required=True, default=None, help="the fitted model, saved with skops")
    add.add_argument(
        "--schema", type=Path, required=True, default=None, help="a JSON feature schema, or a training CSV (--target)"
    )
    add.add_argument("--target", default=None, help="the target column, when --schema is a training CSV")
    add.add_argument("--metrics", default=None, help="metrics to keep with the model, as JSON: '{\"accuracy\": 0.8}'")
    _destination_flags(add)
    train = sub.add_parser(
        "train",
        help="train a model on a CSV (histogram gradient boosting) and save it as a new model or a new version",
        argument_default=argparse.SUPPRESS,
    )
    connection_flags(train)
    train.add_argument("--file", type=Path, required=True, default=None, help="the training CSV")
    train.add_argument("--target", required=True, default=None, help="the column to predict")
    train.add_argument("--features", default=None, help="columns to learn from, comma-separated (default: all usable)")
    train.add_argument(
        "--kind",
        action="append",
        default=None,
        metavar="FEATURE=KIND",
        help=f"override an inferred kind ({', '.join(KINDS)}); repeat for several",
    )
    train.add_argument("--task", choices=("classification", "regression"), default=None, help="default: inferred")
    train.add_argument(
        "--deadline", type=float, default=300.0, help="seconds to wait for the training to finish (default 300)"
    )
    _destination_flags(train)


def _destination_flags(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--name", default=None, help="save as a NEW model with this name")
    where.add_argument(
        "--version-of", default=None, metavar="PATH", help="save as a new VERSION of the model with this version path"
    )
    parser.add_argument("--bucket", default=DEMO_BUCKET, help=f"bucket (default {DEMO_BUCKET})")
    parser.add_argument("--description", default="", help="a description kept with the model")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run_models(args: argparse.Namespace, client: ModelClient) -> int:
    """Do ``models add`` or ``models train``; raise the expected errors for the CLI's ``main`` to print."""
    if args.models_command == "add":
        saved = client.add_model(
            args.model.read_bytes(),
            args.schema.read_bytes(),
            args.schema.name,
            name=args.name,
            version_of=args.version_of,
            target=args.target,
            bucket=args.bucket,
            description=args.description,
            metrics=_metrics(args.metrics),
        )
    else:
        saved = client.train(
            args.file.read_bytes(),
            args.target,
            name=args.name,
            version_of=args.version_of,
            features=[f.strip() for f in args.features.split(",") if f.strip()] if args.features else None,
            kinds=_kinds(args.kind),
            task=args.task,
            bucket=args.bucket,
            filename=args.file.name,
            description=args.description,
            on_progress=None if args.format == "json" else _progress_printer(),
            deadline_s=args.deadline,
        )
    print(json.dumps(asdict(saved), indent=2) if args.format == "json" else describe_saved(saved))
    return 0


def describe_saved(saved: SavedVersion) -> str:
    """What was saved, where, and (for a training) its held-out metrics against the baseline."""
    lines = [
        f"Saved {saved.name!r} version {saved.version} ({saved.task}, target {saved.target or '-'}, "
        f"{len(saved.features)} feature(s))",
        f"  --path {saved.path} --bucket {saved.bucket}",
    ]
    if saved.rows_trained:
        lines.append(f"  trained on {saved.rows_trained:,} rows, measured on {saved.rows_held_out:,} held-out rows")
    for metric, value in saved.metrics.items():
        baseline = saved.baseline.get(metric)
        if baseline is None:
            lines.append(f"  {metric:<9} {value:.4g}")
            continue
        better = value < baseline if metric in LOWER_IS_BETTER else value > baseline
        lines.append(f"  {metric:<9} {value:.4g}  vs baseline {baseline:.4g}  ({'better' if better else 'NOT better'})")
    return "\n".join(lines)


def _progress_printer() -> Callable[[TrainingStatus], None]:
    """Prints each new stage on stderr (the answer goes to stdout)."""
    shown: list[str] = []

    def show(status: TrainingStatus) -> None:
        if not shown or shown[-1] != status.stage:
            shown.append(status.stage)
            print(f"training task {status.task_id}: {status.stage} ({status.progress:.0%})", file=sys.stderr)

    return show


def _metrics(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    try:
        metrics: Any = json.loads(text)
    except ValueError:
        metrics = None
    if not isinstance(metrics, dict):
        raise ValueError("--metrics must be a JSON object of names and numbers, like '{\"accuracy\": 0.8}'.")
    return metrics


def _kinds(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    kinds = {}
    for pair in pairs:
        feature, _, kind = pair.partition("=")
        if not feature.strip() or kind.strip() not in KINDS:
            raise ValueError(f"--kind takes FEATURE=KIND with a kind among {', '.join(KINDS)}, not {pair!r}.")
        kinds[feature.strip()] = kind.strip()
    return kinds
