"""Start the reference server: ``python -m whatif.server --host H --port P --store DIR --secret S``."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from whatif.server.main import create_app
from whatif.server.routes import PREDICT_PATH
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH
from whatif.server.settings import ServerSettings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Flags win over WHATIF_* variables."""
    parser = argparse.ArgumentParser(
        prog="python -m whatif.server", description="The reference AutoModel prediction API with sample models."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", type=Path, help="model store root (WHATIF_STORE)")
    parser.add_argument("--secret", help="HS256 API secret (better: WHATIF_API_SECRET)")
    parser.add_argument("--demo", action="store_true", help="use a random secret and print how to call the API")
    parser.add_argument("--task-delay", type=float, help="artificial delay per task, in seconds")
    parser.add_argument("--workers", type=int, help="prediction worker threads")
    parser.add_argument(
        "--backend",
        choices=("threads", "celery"),
        help="where tasks run: this process's threads (default) or Celery workers "
        "(start them with: celery -A whatif.server.worker worker)",
    )
    parser.add_argument("--broker", help="Redis URL of the Celery broker and results (WHATIF_BROKER_URL)")
    parser.add_argument("--require-exp", action="store_true", help="refuse tokens without an exp claim")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Start serving; refuse to start without a secret unless ``--demo``."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides: dict[str, object] = {}
    secret = args.secret or os.environ.get("WHATIF_API_SECRET")
    if args.demo and not secret:
        secret = secrets.token_urlsafe(24)
    if not secret:
        print(
            "error: no API secret. Set WHATIF_API_SECRET (or --secret), or start with --demo for a random one.",
            file=sys.stderr,
        )
        return 2
    overrides["api_secret"] = secret
    flags = (
        ("store", args.store),
        ("task_delay_s", args.task_delay),
        ("workers", args.workers),
        ("backend", args.backend),
        ("broker_url", args.broker),
    )
    for key, value in flags:
        if value is not None:
            overrides[key] = value
    if args.require_exp:
        overrides["require_exp"] = True
    try:
        settings = ServerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        print(f"error: invalid setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    app = create_app(settings)
    url = f"http://{args.host}:{args.port}{PREDICT_PATH}"
    if args.demo:
        print(
            f"""
Demo AutoModel API with a random secret. In another shell:

  export WHATIF_API_URL={url}
  export WHATIF_API_SECRET={secret}
  export WHATIF_USER_ID={DEMO_USER} WHATIF_USER_EMAIL={DEMO_EMAIL}
  python -m whatif models
  python -m whatif predict --path {TITANIC_PATH} --bucket {DEMO_BUCKET} \\
      --data '[{{"pclass": 0, "sex": 0, "age": 29, "sibsp": 0, "parch": 0, "fare": 211.3375, "embarked": 2}}]'
""",
            flush=True,
        )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
