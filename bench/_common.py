"""Shared pieces of the benchmarks: the import path, a server to measure, and statistics.

Importing this module puts the project root on ``sys.path`` so ``whatif`` imports work
when a bench is run as ``.venv/bin/python bench/<name>.py`` from any directory.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import secrets
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
SERVER_START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Server:
    """Where a running server answers, and the secret its tokens are signed with."""

    predict_url: str
    secret: str
    where: str  # "thread" (in this process) or "process" (a child process)


def _serve_in_child(store: str, secret: str, settings: dict[str, Any], conn: Any, stop: Any) -> None:
    """Child-process body: start the embedded server, report its URL, serve until told to stop."""
    from whatif.server.embedded import start_server

    server = start_server(store, secret=secret, host=HOST, **settings)
    conn.send(server.predict_url)
    stop.wait(SERVER_START_TIMEOUT_S * 10)  # bounded: a forgotten child ends by itself
    server.stop()


@contextmanager
def running_server(store: Path, *, in_process: bool = True, **settings: Any) -> Iterator[Server]:
    """A reference server on 127.0.0.1 with ``settings`` (task_delay_s, workers...), stopped on exit.

    ``in_process=True`` runs it in a thread of this process, as the app does (clients and
    server then share one GIL); ``False`` runs it in a child process of its own.
    """
    if in_process:
        from whatif.server.embedded import start_server

        embedded = start_server(store, host=HOST, **settings)
        try:
            yield Server(embedded.predict_url, embedded.secret, "thread")
        finally:
            embedded.stop()
        return
    ctx = mp.get_context("spawn")
    secret = secrets.token_urlsafe(32)
    parent_conn, child_conn = ctx.Pipe()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve_in_child, args=(str(store), secret, settings, child_conn, stop), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not parent_conn.poll(0.1):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server process did not start; see its output above")
        yield Server(parent_conn.recv(), secret, "process")
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 10 values is the largest); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median; NaN when empty."""
    return statistics.median(values) if values else math.nan


def verdict(ok: bool) -> str:
    """How a target is shown next to a figure (a bench never fails on time)."""
    return "met" if ok else "MISSED"
