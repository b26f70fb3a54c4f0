"""The what-if page's speed: script time per rerun with a 100-feature model and many stored
runs (Streamlit AppTest), and the cold start of ``streamlit run app.py`` until the page answers.

Targets (printed beside the figures, never enforced): under 300 ms a rerun at 10,000 runs;
cold start under 8 s, embedded server and sample models included.

    .venv/bin/python bench/ui.py [--reruns 10] [--runs 1000 10000] [--skip-cold-start]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import describe_machine  # noqa: E402

FEATURES = 100
BUCKET = "storage.datrics.ai"
CHROMIUM = "/usr/lib/chromium/chromium" if Path("/usr/lib/chromium/chromium").exists() else "/usr/bin/chromium"


def save_wide_model(home: Path) -> str:
    """A 100-feature ridge regression saved for the demo user; returns its path."""
    import numpy as np
    from sklearn.linear_model import Ridge

    from whatif.schema import Feature, FeatureSchema
    from whatif.server.registry import ModelRegistry

    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, FEATURES))
    y = x @ rng.normal(size=FEATURES)
    names = [f"f{i:03d}" for i in range(FEATURES)]
    schema = FeatureSchema(tuple(Feature(n, "number", -3.0, 3.0, 0.0, description=f"Synthetic input {n}")
                                 for n in names), name="Wide synthetic (bench)", task="regression", target="y")
    import pandas as pd

    saved = ModelRegistry(home / "store").save(Ridge().fit(pd.DataFrame(x, columns=names), y), schema,
                                               bucket=BUCKET, user="1", project="9", name=schema.name)
    return str(saved["path"])


def fill_history(home: Path, path: str, runs: int) -> None:
    """``runs`` stored runs of the wide model, as the app would have saved them."""
    from whatif.history import HistoryKey, RunStore

    store = RunStore.from_url(RunStore.default_url(home))
    key = HistoryKey("local-demo-api", "1", BUCKET, path)
    have = store.count(key)
    batch = [{"inputs": {f"f{i:03d}": (n % 7) / 3 for i in range(FEATURES)},
              "row": {f"f{i:03d}": (n % 7) / 3 for i in range(FEATURES)},
              "prediction": float(n % 11), "label": f"{n % 11}", "score": float(n % 11), "probabilities": {},
              "task_id": f"bench-{n}", "elapsed_ms": 10.0, "model_name": "Wide synthetic (bench)",
              "model_version": 1} for n in range(have, runs)]
    if batch:
        store.add_many(key, batch)


def rerun_times(home: Path, path: str, reruns: int) -> list[float]:
    """Seconds per AppTest rerun of the what-if page with the wide model selected."""
    from streamlit.testing.v1 import AppTest

    os.environ["WHATIF_HOME"] = str(home)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["path"], at.query_params["bucket"] = path, BUCKET
    at.run()
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception[0].message}")
    times = []
    for i in range(reruns):
        widget = next(w for w in at.number_input if w.key and w.key.endswith("_f000"))
        widget.set_value(round(0.1 * (i + 1), 2))
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
    return times


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cold_start(home: Path) -> tuple[float, float | None]:
    """Seconds from ``streamlit run`` until /_stcore/health answers, and until a browser shows the form.

    The browser is started first and not counted: the figure is the app's, not Chromium's.
    """
    port = free_port()
    env = {**os.environ, "WHATIF_HOME": str(home)}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1"]
    with contextlib.ExitStack() as stack:
        tab = None
        if Path(CHROMIUM).exists():
            from playwright.sync_api import sync_playwright

            p = stack.enter_context(sync_playwright())
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            stack.callback(browser.close)
            tab = browser.new_page()
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.callback(process.wait, 10)
        stack.callback(process.terminate)
        health = None
        while time.perf_counter() - started < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as answer:
                    if answer.read() == b"ok":
                        health = time.perf_counter() - started
                        break
            except OSError:
                time.sleep(0.05)
        if health is None:
            raise RuntimeError("streamlit did not answer within 60 s")
        if tab is None:
            return health, None
        tab.goto(f"http://127.0.0.1:{port}/")
        tab.get_by_role("button", name="Predict").wait_for(timeout=60_000)
        return health, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reruns", type=int, default=10)
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--skip-cold-start", action="store_true")
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()
    print(describe_machine())
    print(f"\nWhat-if page, {FEATURES}-feature model, AppTest rerun after changing one input "
          f"({args.reruns} reruns; target < 300 ms at 10,000 runs)")
    print(f"{'stored runs':>12} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}")
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        path = save_wide_model(home)
        for runs in sorted(args.runs):
            fill_history(home, path, runs)
            times = sorted(rerun_times(home, path, args.reruns))
            p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
            print(f"{runs:>12,} {statistics.median(times) * 1000:>10.0f} {p90 * 1000:>8.0f} {times[-1] * 1000:>8.0f}")
    if args.skip_cold_start:
        return
    print(f"\nCold start of `streamlit run app.py` until the what-if form shows in a browser (the browser "
          f"started beforehand), median of {args.cold_runs}; target < 8 s")
    fresh, warm = [], []
    for _ in range(args.cold_runs):
        with tempfile.TemporaryDirectory() as folder:
            fresh.append(cold_start(Path(folder)))
            warm.append(cold_start(Path(folder)))
    for label, results in (("fresh WHATIF_HOME (sample models built)", fresh), ("next start (store exists)", warm)):
        health = statistics.median(h for h, _ in results)
        pages = [p for _, p in results if p is not None]
        shown = f"{statistics.median(pages):.1f} s (max {max(pages):.1f})" if pages else "n/a (no chromium)"
        print(f"  {label:<42} health {health:.1f} s, form {shown}")


if __name__ == "__main__":
    main()
