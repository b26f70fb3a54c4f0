"""Building the sample models: what the demo's first start pays, and what a later start pays.

Each run is a fresh Python process (as a first ``make run`` is) that builds the sample models into
an empty temporary store with ``ensure_sample_models``, timed from the call (the lazy scikit-learn
imports included) to the last file saved; then calls it again on the complete store (a later start).
After that, still in the child and with the imports warm, it builds them once more into another
empty store (the difference from the first build is what the imports cost) and times each model's
builder alone (training and metrics, no saving) to show which model costs what. Printed: per run
and the median, with the target (a first start builds them in under 10 s on this machine) as
``met`` / ``MISSED``; nothing fails on time. The tests only check that the models are built the
same way every time and reused.

    .venv/bin/python bench/samples.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from _common import ROOT, median, verdict
from _machine import describe_machine

TARGET_FIRST_START_S = 10.0


def child(store: str) -> dict[str, Any]:
    """Build the samples into ``store`` (empty), then again (complete), then warm; time each builder warm."""
    from whatif.server import samples
    from whatif.server.registry import ModelRegistry

    registry = ModelRegistry(store)
    started = time.perf_counter()
    built = samples.ensure_sample_models(registry)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = samples.ensure_sample_models(registry)
    exists_ms = (time.perf_counter() - started) * 1000
    with tempfile.TemporaryDirectory(prefix="whatif-bench-samples-warm-") as warm_store:
        started = time.perf_counter()
        samples.ensure_sample_models(ModelRegistry(warm_store))
        warm_s = time.perf_counter() - started
    builders: dict[str, Callable[[], Any]] = {
        "titanic": samples.titanic_model,
        "credit v1": lambda: samples.credit_model(1),
        "credit v2": lambda: samples.credit_model(2),
        "diabetes": samples.diabetes_model,
    }
    models_s = {}
    for name, build in builders.items():
        started = time.perf_counter()
        build()
        models_s[name] = time.perf_counter() - started
    return {
        "built": len(built),
        "again": len(again),
        "first_s": first_s,
        "exists_ms": exists_ms,
        "warm_s": warm_s,
        "models_s": models_s,
    }


def run_child() -> dict[str, Any]:
    """One run in a fresh interpreter, on a temporary store removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="whatif-bench-samples-") as store:
        done = subprocess.run(
            [sys.executable, __file__, "--child", store],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the build failed: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sample-model bench and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes, each building into an empty store")
    parser.add_argument("--child", metavar="STORE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0

    print(describe_machine())
    print(f"samples: {args.runs} fresh process(es), each building the sample models into an empty store")
    runs = []
    for n in range(1, max(1, args.runs) + 1):
        result = run_child()
        runs.append(result)
        models = ", ".join(f"{name} {s:.2f} s" for name, s in result["models_s"].items())
        print(
            f"  run {n}: {result['built']} model(s) built in {result['first_s']:.2f} s (warm: "
            f"{result['warm_s']:.2f} s); a complete store: {result['exists_ms']:.1f} ms ({result['again']} built); "
            f"builders alone, warm: {models}",
            flush=True,
        )
    first = median([r["first_s"] for r in runs])
    exists = median([r["exists_ms"] for r in runs])
    print()
    print(
        f"first start (empty store), median: {first:.2f} s (min {min(r['first_s'] for r in runs):.2f} s, "
        f"max {max(r['first_s'] for r in runs):.2f} s)"
    )
    print(f"the same build with the imports warm, median: {median([r['warm_s'] for r in runs]):.2f} s")
    print(f"later start (complete store), median: {exists:.1f} ms")
    for name in runs[0]["models_s"]:
        alone_s = median([r["models_s"][name] for r in runs])
        print(f"  {name:<10} builder alone (train + metrics, warm), median {alone_s:.2f} s")
    print(
        f"target: first start builds the sample models in < {TARGET_FIRST_START_S:.0f} s: {first:.2f} s -> "
        f"{verdict(first < TARGET_FIRST_START_S)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
