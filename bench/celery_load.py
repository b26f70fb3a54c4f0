"""Load on the Celery backend: 2 API processes and 2 workers, against one API process on its own threads.

32 clients x 25 one-row Titanic predictions, each submitted to one API process and long-polled
on the other (the in-process backend has one process, so both go to it). Every answer is
checked: lost (no SUCCESS), crossed (the answer's row is not the row sent), and another
user's token reading it (must be 404). Printed: tasks/s, median and p95 latency per
prediction (submit to result), for each set-up, in one run on this machine.

Needs Redis at WHATIF_BROKER_URL (default redis://127.0.0.1:6379/0); keys go under a prefix
of this run's own and are deleted at the end.

    .venv/bin/python bench/celery_load.py [--clients 32] [--per-client 25] [--delay 0] [--pool prefork]
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from pathlib import Path

import redis
from _common import median, percentile
from _machine import describe_machine

from whatif.server.local_cluster import LoadReport, Process, drive_load, start_api, start_worker
from whatif.server.registry import ModelRegistry
from whatif.server.samples import DEMO_BUCKET, TITANIC_PATH, ensure_sample_models

PREDICT = "/api/v1/proxy/pipeline/model/predict"
ROW = {"pclass": 0, "sex": 0, "age": 29, "sibsp": 0, "parch": 0, "fare": 211.3375, "embarked": 2}


def run(apis: list[Process], secret: str, clients: int, per_client: int) -> LoadReport:
    """The load through ``apis`` in turn."""
    return drive_load(
        [api.origin + PREDICT for api in apis],
        secret,
        clients=clients,
        per_client=per_client,
        path=TITANIC_PATH,
        bucket=DEMO_BUCKET,
        row=ROW,
    )


def line(name: str, report: LoadReport) -> str:
    """One row of the table."""
    ms = [s * 1000 for s in report.latencies_s]
    return (
        f"| {name} | {report.tasks} | {report.tasks_per_s:.1f} | {median(ms):.0f} | {percentile(ms, 95):.0f} "
        f"| {report.lost} | {report.crossed} | {report.foreign_visible} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=25)
    parser.add_argument("--delay", type=float, default=0.0, help="artificial task time (s), in workers")
    parser.add_argument("--pool", default="prefork", help="Celery worker pool (prefork, threads)")
    parser.add_argument("--concurrency", type=int, default=1, help="processes or threads per worker")
    args = parser.parse_args()
    broker = os.environ.get("WHATIF_BROKER_URL", "redis://127.0.0.1:6379/0")
    prefix = f"whatif_bench_{secrets.token_hex(4)}:"
    secret = secrets.token_urlsafe(32)
    print(describe_machine())
    print(
        f"{args.clients} clients x {args.per_client} predictions, task delay {args.delay} s, "
        f"workers: 2 x {args.pool} -c {args.concurrency}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        store, logs = Path(tmp) / "store", Path(tmp) / "logs"
        ensure_sample_models(ModelRegistry(store))
        env = {
            "WHATIF_STORE": str(store),
            "WHATIF_BROKER_URL": broker,
            "WHATIF_KEY_PREFIX": prefix,
            "WHATIF_API_SECRET": secret,
            "WHATIF_BUILD_SAMPLES": "false",
            "WHATIF_TASK_DELAY": str(args.delay),
            "WHATIF_QUEUE_SIZE": "10000",
        }
        reports: dict[str, LoadReport] = {}
        started: list[Process] = []
        try:
            threads_api = start_api({**env, "WHATIF_WORKERS": "2"}, logs, name="threads", backend="threads")
            started.append(threads_api)
            run([threads_api], secret, 4, 3)  # warm-up: models loaded
            reports["in-process threads (1 API, 2 threads)"] = run([threads_api], secret, args.clients, args.per_client)
            threads_api.stop()
            for i in (1, 2):
                started.append(
                    start_worker(env, logs, name=f"w{i}", pool=args.pool, concurrency=args.concurrency, ready_s=120)
                )
            apis = [start_api(env, logs, name=f"a{i}") for i in (1, 2)]
            started += apis
            run(apis, secret, 4, 3)
            reports["Celery (2 API, 2 workers)"] = run(apis, secret, args.clients, args.per_client)
        finally:
            for process in reversed(started):
                process.stop()
            client = redis.Redis.from_url(broker)
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
    print("| backend | tasks | tasks/s | median ms | p95 ms | lost | crossed | other user could read |")
    print("|---|---|---|---|---|---|---|---|")
    for name, report in reports.items():
        print(line(name, report))
        for error in report.errors[:3]:
            print("   ", error)


if __name__ == "__main__":
    main()
