"""End-to-end latency of one prediction: our ModelClient (long poll) versus the seed's documented code.

For each server task time (``task_delay_s`` 0, 0.2 and 1 s) a reference server is started on
127.0.0.1 in a temporary store (the sample models are built at the first start), and N
one-row Titanic predictions are made with each client, alternating. Reported per client:
median and p95 of the end-to-end time minus the task time (the overhead), and HTTP requests
per prediction. Targets are printed beside the figures; nothing fails on time.

    .venv/bin/python bench/latency.py [--n 30] [--n-slow 10] [--delays 0,0.2,1] [--server-process]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import sleep
from typing import Any

import jwt
import requests
from _common import Server, median, percentile, running_server, verdict
from _machine import describe_machine

from whatif.client import ModelClient
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH

# the seed's MODEL_REQUEST_DATA: one Titanic passenger
SEED_ROWS = [{"pclass": 0, "sex": 0, "age": 29, "sibsp": 0, "parch": 0, "fare": 211.3375, "embarked": 2}]
TARGET_OVERHEAD_MS = 20.0
TARGET_RATIO = 10.0
RATIO_DELAY_S = 0.2
# bench additions to the seed's code, so a misbehaving server cannot hang the bench
SEED_REQUEST_TIMEOUT_S = 30.0
SEED_MAX_POLLS = 120


# ---- the seed's documented client ("Full code example"), copied ------------------------------
# Only changes: the module constants (API_BASE_URL, MODEL_PATH, MODEL_BUCKET,
# API_RETURN_ONLY_PREDICTIONS) are attributes, GETs are counted, and (bench safety) every
# request has a timeout and the poll loop gives up after SEED_MAX_POLLS. Like the seed, it
# uses bare requests.post/get: a new TCP connection per request.
def generate_access_token(user_data: dict[str, str], secret: str) -> str:
    """The seed's token: HS256 over userId and email, no exp."""
    return jwt.encode(user_data, secret, algorithm="HS256")


class SeedClient:
    """The seed page's create_prediction_task and poll_task_for_result, parameterised by URL."""

    def __init__(
        self, api_base_url: str, model_path: str, model_bucket: str, return_only_predictions: bool = False
    ) -> None:
        self.API_BASE_URL = api_base_url
        self.MODEL_PATH = model_path
        self.MODEL_BUCKET = model_bucket
        self.API_RETURN_ONLY_PREDICTIONS = return_only_predictions
        self.gets = 0

    def create_prediction_task(self, data: Any, token: str) -> str | None:
        """POST the rows with the query string exactly as the seed builds it; return the task id."""
        r = requests.post(
            # this URL you can get in datrics in model deployment info
            f"{self.API_BASE_URL}?path={self.MODEL_PATH}&bucket={self.MODEL_BUCKET}"
            f"&return_only_prediction={self.API_RETURN_ONLY_PREDICTIONS}",
            data=json.dumps(data),
            headers={
                "authorization": f"Bearer {token}",
                "content-type": "application/json;charset=UTF-8",
            },
            timeout=SEED_REQUEST_TIMEOUT_S,
        )
        return r.json().get("id")

    def poll_task_for_result(self, task_id: str, token: str) -> dict[str, Any]:
        """GET the task until SUCCESS, sleeping 1 s on STARTED; any other state is an error."""
        while True:
            r = requests.get(
                f"{self.API_BASE_URL}/info/{task_id}",
                headers={"authorization": f"Bearer {token}"},
                timeout=SEED_REQUEST_TIMEOUT_S,
            )
            self.gets += 1
            result = r.json()
            if result.get("state") == "SUCCESS":
                return result
            elif result.get("state") == "STARTED":
                if self.gets >= SEED_MAX_POLLS:
                    return {"error": "bench: gave up polling"}
                sleep(1)
            else:
                return {"error": result}


# ---- measuring ----------------------------------------------------------------------------------
@dataclass
class Samples:
    """End-to-end seconds and HTTP requests of each successful prediction, and failures."""

    elapsed_s: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    failures: int = 0


def ours_once(client: ModelClient) -> tuple[float, int]:
    """One prediction with our client: (seconds, HTTP requests)."""
    started = time.perf_counter()
    result = client.predict(SEED_ROWS, path=TITANIC_PATH, bucket=DEMO_BUCKET, timeout=30)
    elapsed = time.perf_counter() - started
    if len(result.predictions) != 1:
        raise RuntimeError(f"expected one prediction, got {len(result.predictions)}")
    return elapsed, result.polls + 1


def seed_once(seed: SeedClient, token: str) -> tuple[float, int]:
    """One prediction with the seed's code: (seconds, HTTP requests)."""
    seed.gets = 0
    started = time.perf_counter()
    task_id = seed.create_prediction_task(SEED_ROWS, token)
    if task_id is None:
        raise RuntimeError("the seed client got no task id")
    result = seed.poll_task_for_result(task_id, token)
    elapsed = time.perf_counter() - started
    if "error" in result:
        raise RuntimeError(f"the seed client got an error: {str(result['error'])[:200]}")
    return elapsed, 1 + seed.gets


def measure(server: Server, n: int, warmup: int) -> dict[str, Samples]:
    """Alternate ``n`` predictions with each client after ``warmup`` untimed ones each."""
    client = ModelClient(server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL)
    seed = SeedClient(server.predict_url, TITANIC_PATH, DEMO_BUCKET)
    token = generate_access_token({"userId": DEMO_USER, "email": DEMO_EMAIL}, server.secret)
    runs = {"ours": (lambda: ours_once(client)), "seed": (lambda: seed_once(seed, token))}
    samples = {name: Samples() for name in runs}
    try:
        for i in range(warmup + n):
            for name, run in runs.items():
                try:
                    elapsed, count = run()
                except Exception as exc:  # report, never fail the bench
                    samples[name].failures += 1
                    print(f"  {name}: prediction failed: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
                    continue
                if i >= warmup:
                    samples[name].elapsed_s.append(elapsed)
                    samples[name].requests.append(count)
    finally:
        client.close()
    return samples


def report_row(delay_s: float, name: str, s: Samples) -> tuple[str, float]:
    """A table row for one client at one task time, and its median overhead in ms."""
    overhead_ms = [(e - delay_s) * 1000 for e in s.elapsed_s]
    med, p95 = median(overhead_ms), percentile(overhead_ms, 95)
    req_mean = sum(s.requests) / len(s.requests) if s.requests else float("nan")
    req_max = max(s.requests) if s.requests else 0
    label = "ours (long poll)" if name == "ours" else "seed (sleep 1 s)"
    row = (
        f"{delay_s:>6.1f} | {label:<17} | {len(s.elapsed_s):>3} | {median(s.elapsed_s) * 1000:>10.1f} | "
        f"{med:>10.1f} | {p95:>10.1f} | {req_mean:>7.2f} / {req_max:<6} | {s.failures:>4}"
    )
    return row, med


def main(argv: Sequence[str] | None = None) -> int:
    """Run the latency bench and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30, help="timed predictions per client for task times < 1 s")
    parser.add_argument("--n-slow", type=int, default=10, help="timed predictions per client for task times >= 1 s")
    parser.add_argument("--warmup", type=int, default=2, help="untimed predictions per client first")
    parser.add_argument("--delays", default="0,0.2,1", help="server task times in seconds, comma-separated")
    parser.add_argument(
        "--server-process",
        action="store_true",
        help="run the server in a child process instead of a thread of this one",
    )
    args = parser.parse_args(argv)
    delays = [float(d) for d in args.delays.split(",") if d.strip()]

    print(describe_machine())
    print(
        f"latency: one Titanic row per prediction, server in a {'process' if args.server_process else 'thread'}, "
        f"{args.warmup} warm-up prediction(s) per client untimed; overhead = end-to-end - task time"
    )
    rows: list[str] = []
    medians: dict[tuple[float, str], float] = {}
    bench_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="whatif-bench-") as store:
        for delay in delays:
            n = max(1, args.n_slow if delay >= 1 else args.n)
            started = time.perf_counter()
            with running_server(Path(store), in_process=not args.server_process, task_delay_s=delay) as server:
                print(
                    f"  task time {delay:g} s: server up in {time.perf_counter() - started:.1f} s, "
                    f"{n} predictions per client...",
                    flush=True,
                )
                samples = measure(server, n, args.warmup)
            for name, s in samples.items():
                row, medians[(delay, name)] = report_row(delay, name, s)
                rows.append(row)

    print()
    print("task s | client            |   n | e2e med ms | ovh med ms | ovh p95 ms | req/pred avg/max | fail")
    print("-" * 99)
    for row in rows:
        print(row)
    print()
    for delay in delays:
        ours = medians.get((delay, "ours"), float("nan"))
        print(
            f"target: median overhead with long poll < {TARGET_OVERHEAD_MS:.0f} ms at task time {delay:g} s: "
            f"{ours:.1f} ms -> {verdict(ours < TARGET_OVERHEAD_MS)}"
        )
    if RATIO_DELAY_S in delays:
        ours, seed = medians[(RATIO_DELAY_S, "ours")], medians[(RATIO_DELAY_S, "seed")]
        ratio = seed / ours if ours > 0 else float("inf")
        print(
            f"overhead ratio seed/ours at {RATIO_DELAY_S:g} s: {seed:.1f} / {ours:.1f} ms = {ratio:.0f}x "
            f"(target >= {TARGET_RATIO:.0f}x) -> {verdict(ratio >= TARGET_RATIO)}"
        )
    print(f"bench took {time.perf_counter() - bench_started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
