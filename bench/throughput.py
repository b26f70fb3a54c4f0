"""Throughput of the prediction API: rows per second in one big task, and tasks per second under load.

(a) One 10,000-row Titanic task through the API (``ModelClient.predict`` with
    ``return_only_prediction`` False and True; serialisation both ways included) versus
    ``predict_frame`` on the same rows in this process; the API time is split into submit,
    server task, and result delivery.
(b) 16 concurrent one-row clients (threads, each its own ModelClient) against servers with
    2 and 4 prediction workers: tasks per second and latency.

Targets are printed beside the figures; nothing fails on time.

    .venv/bin/python bench/throughput.py [--rows 10000] [--runs 5] [--clients 16] [--per-client 25]
                                         [--workers 2,4] [--server-process]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import Server, median, percentile, running_server, verdict
from _machine import describe_machine
from pydantic import TypeAdapter

from whatif.client import ModelClient, _records, parse_predictions
from whatif.server.registry import LoadedModel, ModelRegistry, predict_frame
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH, titanic_frame
from whatif.server.validation import parse_body, rows_to_frame
from whatif.server.work import prediction_work

ROWS_SEED = 20261126
TARGET_SHARE = 0.70
PREDICT_TIMEOUT_S = 60.0


def bench_rows(n: int, seed: int = ROWS_SEED) -> pd.DataFrame:
    """``n`` Titanic input rows, sampled from titanic3 with a fixed seed, age and fare jittered."""
    base = titanic_frame().drop(columns="survived")
    rng = np.random.default_rng(seed)
    rows = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
    rows["age"] = np.clip(rows["age"] + rng.normal(0, 3, n), 0.17, 80).round(1)
    rows["fare"] = np.clip(rows["fare"] * rng.uniform(0.8, 1.2, n), 0, 512.3292).round(4)
    return rows


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


# ---- (a) one big task ---------------------------------------------------------------------------
@dataclass
class BigRun:
    """One 10,000-row prediction through the API, split into parts (seconds)."""

    total: float
    submit: float
    wait: float
    server_task: float  # server clock: task accepted -> result records built (queue + predict)
    delivery: float  # task finished -> client holds the DataFrame (encode, send, decode, parse)


def api_once(client: ModelClient, rows: pd.DataFrame, only_prediction: bool) -> BigRun:
    """Submit ``rows``, wait for the result, and time the parts."""
    t0 = time.perf_counter()
    task_id = client.submit(rows, TITANIC_PATH, DEMO_BUCKET, return_only_prediction=only_prediction)
    t1 = time.perf_counter()
    result = client.wait(task_id, timeout=PREDICT_TIMEOUT_S)
    t2, wall2 = time.perf_counter(), time.time()
    if len(result.predictions) != len(rows):
        raise RuntimeError(f"expected {len(rows)} predictions, got {len(result.predictions)}")
    raw = result.raw
    server_task = float(raw.get("finished_at", 0) - raw.get("submitted_at", 0))
    # both clocks are this machine's time.time(): the server stamps finished_at
    delivery = wall2 - float(raw.get("finished_at", wall2))
    return BigRun(t2 - t0, t1 - t0, t2 - t1, server_task, delivery)


def median_run(runs: Sequence[BigRun]) -> BigRun:
    """The run with the median total time (the upper one of an even count)."""
    return sorted(runs, key=lambda r: r.total)[len(runs) // 2]


def big_task(server: Server, store: Path, rows: pd.DataFrame, runs: int) -> None:
    """Print rows/s through the API (both result layouts) against predict_frame in-process."""
    client = ModelClient(server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL)
    loaded = ModelRegistry(store).load(DEMO_BUCKET, TITANIC_PATH)
    n = len(rows)
    try:
        predict_frame(loaded, rows)  # warm-up
        inproc = median([timed(lambda: predict_frame(loaded, rows))[0] for _ in range(runs)])
        results: dict[bool, list[BigRun]] = {}
        for only in (False, True):
            api_once(client, rows, only)  # warm-up
            results[only] = [api_once(client, rows, only) for _ in range(runs)]
        # client-side pieces, measured apart on the same data
        encode = median([timed(lambda: json.dumps(_records(rows), allow_nan=False).encode())[0] for _ in range(runs)])
        sample = client.predict(rows, TITANIC_PATH, DEMO_BUCKET, timeout=PREDICT_TIMEOUT_S).raw
        body = json.dumps(sample)
        decode = median([timed(lambda: json.loads(body))[0] for _ in range(runs)])
        parse = median([timed(lambda: parse_predictions(sample))[0] for _ in range(runs)])
        # server-side parts, measured apart in this process with the server's own functions
        server = server_parts(loaded, json.dumps(_records(rows)).encode(), sample, runs)
    finally:
        client.close()

    print(f"(a) one task of {n:,} rows, median of {runs} runs (after 1 warm-up)")
    print(f"    in-process predict_frame: {inproc * 1000:8.1f} ms = {n / inproc:>10,.0f} rows/s")
    print(
        "    through the API (the median run)       | total ms |   rows/s | vs in-proc | submit | wait | "
        "server task | delivery"
    )
    for only, label in ((False, "return_only_prediction=False"), (True, "return_only_prediction=True")):
        r = median_run(results[only])
        print(
            f"    {label:<38} | {r.total * 1000:8.1f} | {n / r.total:8,.0f} | {inproc / r.total:10.0%} | "
            f"{r.submit * 1000:6.0f} | {r.wait * 1000:4.0f} | {r.server_task * 1000:11.0f} | "
            f"{r.delivery * 1000:8.0f}"
        )
    print(
        "    (ms. submit: client encode, POST, server parse and checks. wait: submit's answer -> DataFrame.\n"
        "     server task: server clock, task accepted -> result records built (queue, predict, records); it\n"
        "     starts inside submit, so it overlaps both. delivery: task done -> client holds the DataFrame\n"
        "     (answer JSON encode, transfer, client decode, DataFrame).)"
    )
    print(
        f"    client-side parts (return_only_prediction=False), measured apart: encode rows {encode * 1000:.0f} ms,"
        f"\n      decode answer JSON {decode * 1000:.0f} ms ({len(body) / 1e6:.1f} MB), "
        f"build DataFrame {parse * 1000:.0f} ms"
    )
    print(
        "    server-side parts, measured apart:\n      "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in server.items())
    )
    for only in (False, True):
        share = inproc / median_run(results[only]).total
        print(
            f"    target: API >= {TARGET_SHARE:.0%} of in-process rows/s (return_only_prediction={only}): "
            f"{share:.0%} -> {verdict(share >= TARGET_SHARE)}"
        )


def server_parts(loaded: LoadedModel, body: bytes, answer: dict[str, Any], runs: int) -> dict[str, float]:
    """Median seconds of the server's steps for one big task, called directly (no HTTP)."""
    rows = parse_body(body)
    frame = rows_to_frame(loaded.schema, rows, len(rows))
    adapter = TypeAdapter(dict[str, Any])  # what FastAPI's response field does for dict[str, Any]
    steps: dict[str, Callable[[], Any]] = {
        "parse JSON body": lambda: parse_body(body),
        "check rows": lambda: rows_to_frame(loaded.schema, rows, len(rows)),
        "predict + records (False)": prediction_work(loaded, frame, rows, False),
        "predict + records (True)": prediction_work(loaded, frame, rows, True),
        "encode answer (False)": lambda: adapter.dump_json(adapter.validate_python(answer)),
    }
    return {name: median([timed(step)[0] for _ in range(runs)]) for name, step in steps.items()}


# ---- (b) many small tasks -----------------------------------------------------------------------
@dataclass
class LoadResult:
    """Latencies (seconds) of the successful timed predictions, failures, wall time, and the cold burst."""

    latencies: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)  # each client's first, untimed prediction
    failures: int = 0
    wall_s: float = 0.0


def _predict_one(client: ModelClient, row: dict[str, Any]) -> float | None:
    """Seconds for one one-row prediction, or None (reported) when it failed."""
    try:
        return timed(lambda: client.predict([row], TITANIC_PATH, DEMO_BUCKET, timeout=PREDICT_TIMEOUT_S))[0]
    except Exception as exc:  # count, never fail the bench
        print(f"    prediction failed: {type(exc).__name__}: {str(exc)[:160]}", file=sys.stderr)
        return None


def one_client(
    server: Server,
    rows: list[dict[str, Any]],
    per_client: int,
    start: threading.Barrier,
    ready: threading.Barrier,
    out: LoadResult,
    lock: threading.Lock,
) -> None:
    """One user on its own ModelClient: one untimed prediction, then ``per_client`` timed ones in a row."""
    client = ModelClient(server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL)
    mine: list[float] = []
    failures = 0
    cold: float | None = None
    try:
        start.wait(30)
        cold = _predict_one(client, rows[0])  # all clients at once on a fresh server: a cold start
        ready.wait(PREDICT_TIMEOUT_S)
        for i in range(per_client):
            elapsed = _predict_one(client, rows[i % len(rows)])
            if elapsed is None:
                failures += 1
            else:
                mine.append(elapsed)
    finally:
        client.close()
        with lock:
            out.latencies.extend(mine)
            out.cold.extend([] if cold is None else [cold])
            out.failures += failures


def load_test(server: Server, rows: pd.DataFrame, clients: int, per_client: int) -> LoadResult:
    """``clients`` threads: a common cold first prediction, then ``per_client`` each, timed from a common start."""
    records = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows.head(500).to_dict("records")
    ]
    out, lock = LoadResult(), threading.Lock()
    start, ready = threading.Barrier(clients + 1), threading.Barrier(clients + 1)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [
            pool.submit(one_client, server, records[c::clients] or records, per_client, start, ready, out, lock)
            for c in range(clients)
        ]
        start.wait(30)
        ready.wait(PREDICT_TIMEOUT_S)
        started = time.perf_counter()
        for future in futures:
            future.result(timeout=per_client * PREDICT_TIMEOUT_S)
        out.wall_s = time.perf_counter() - started
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run both throughput benches and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows in the big task (server limit 10,000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of the big task, per layout")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients in (b)")
    parser.add_argument("--per-client", type=int, default=25, help="predictions per client in (b)")
    parser.add_argument("--workers", default="2,4", help="server prediction workers to try in (b), comma-separated")
    parser.add_argument("--skip-a", action="store_true", help="skip (a), the big task")
    parser.add_argument("--skip-b", action="store_true", help="skip (b), the concurrent clients")
    parser.add_argument(
        "--server-process",
        action="store_true",
        help="run the server in a child process instead of a thread of this one",
    )
    args = parser.parse_args(argv)
    in_process = not args.server_process
    where = "a thread of this process" if in_process else "a child process"
    workers = [int(w) for w in args.workers.split(",") if w.strip()]

    print(describe_machine())
    print(f"throughput: Titanic model (histogram gradient boosting, 150 iterations), server in {where}")
    bench_started = time.perf_counter()
    rows = bench_rows(args.rows)
    with tempfile.TemporaryDirectory(prefix="whatif-bench-") as tmp:
        store = Path(tmp)
        if not args.skip_a:
            with running_server(store, in_process=in_process, workers=2) as server:
                big_task(server, store, rows, max(1, args.runs))
        if not args.skip_b:
            total = args.clients * args.per_client
            print()
            print(f"(b) {args.clients} concurrent clients x {args.per_client} one-row predictions = {total} tasks")
            print("    each on a fresh server; every client first makes one untimed prediction, all at once (the cold")
            print("    start: the model is not loaded yet), then the timed ones; latency in ms")
            print(
                "    workers |  tasks/s | wall s | lat med | lat p95 | lat mean | lat max | fail | "
                "cold first: med / max"
            )
            for w in workers:
                with running_server(store, in_process=in_process, workers=w) as server:
                    result = load_test(server, rows, args.clients, args.per_client)
                lat_ms = [x * 1000 for x in result.latencies]
                cold_ms = [x * 1000 for x in result.cold]
                rate = len(result.latencies) / result.wall_s if result.wall_s else float("nan")
                mean = sum(lat_ms) / len(lat_ms) if lat_ms else float("nan")
                print(
                    f"    {w:>7} | {rate:8.1f} | {result.wall_s:6.1f} | {median(lat_ms):7.0f} | "
                    f"{percentile(lat_ms, 95):7.0f} | {mean:8.0f} | {max(lat_ms, default=float('nan')):7.0f} | "
                    f"{result.failures:>4} | {median(cold_ms):6.0f} / {max(cold_ms, default=float('nan')):.0f}",
                    flush=True,
                )
    print(f"bench took {time.perf_counter() - bench_started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
