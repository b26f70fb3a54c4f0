"""The app's speed as a user sees it: the first page after ``streamlit run``, next to a bare
Streamlit page measured in the same run, and the what-if page's rerun time with a 100-feature
model and many stored runs (Streamlit AppTest).

First page: from starting ``streamlit run`` until headless Chromium (Debian's, through
Playwright; started beforehand and not counted) shows the Predict button, for a bare page (a
title, one number input, one button, written to a temporary folder) and for this app with a
fresh data folder and again with the model store already built; interleaved, several rounds,
medians. For the app also: when its frame showed (the sidebar with the page links) and the
"Preparing the demo models..." status. ``--app DIR`` measures another checkout too (e.g. the
code before a change), in the same rounds.

Targets (printed beside the figures, never enforced): the app's frame within 1 s of the bare
page; its form within 2x the bare page once the store exists; a rerun under 300 ms at 10,000 runs.

    .venv/bin/python bench/ui.py [--rounds 5] [--app DIR ...] [--skip-first-page]
                                 [--reruns 10] [--runs 1000 10000] [--skip-reruns]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import describe_machine  # noqa: E402

FEATURES = 100
BUCKET = "storage.datrics.ai"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or next(
    (c for c in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(c).is_file()), "/usr/lib/chromium/chromium"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_TIMEOUT_S = 120.0
TARGET_FRAME_S = 1.0  # the app's frame at most this much later than the whole bare page
TARGET_FORM_RATIO = 2.0  # the app's form at most this many times the bare page, store built
TARGET_RERUN_MS = 300.0
BARE_PAGE = """import streamlit as st

st.title("Bare page")
st.number_input("A number", key="bare_number")
st.button("Predict", key="bare_predict")
"""
# Runs in the page before Streamlit's code: notes when each part first appears in the DOM (epoch ms).
FIRST_SEEN_JS = """(() => {
  const seen = {};
  window.__firstSeen = seen;
  const probes = {
    frame: () => document.querySelector('[data-testid="stSidebarNav"] a'),
    status: () => Array.from(document.querySelectorAll('[data-testid="stExpander"]'))
      .some(e => e.textContent.includes('Preparing the demo models')),
    form: () => Array.from(document.querySelectorAll('button'))
      .some(b => b.textContent.trim().endsWith('Predict')),
  };
  const check = () => {
    for (const [name, probe] of Object.entries(probes)) {
      if (!(name in seen) && probe()) seen[name] = Date.now();
    }
  };
  new MutationObserver(check).observe(document, {childList: true, subtree: true, characterData: true});
})();"""


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
    schema = FeatureSchema(
        tuple(Feature(n, "number", -3.0, 3.0, 0.0, description=f"Synthetic input {n}") for n in names),
        name="Wide synthetic (bench)",
        task="regression",
        target="y",
    )
    import pandas as pd

    saved = ModelRegistry(home / "store").save(
        Ridge().fit(pd.DataFrame(x, columns=names), y), schema, bucket=BUCKET, user="1", project="9", name=schema.name
    )
    return str(saved["path"])


def fill_history(home: Path, path: str, runs: int) -> None:
    """``runs`` stored runs of the wide model, as the app would have saved them."""
    from whatif.history import HistoryKey, RunStore

    store = RunStore.from_url(RunStore.default_url(home))
    key = HistoryKey("local-demo-api", "1", BUCKET, path)
    have = store.count(key)
    batch = [
        {
            "inputs": {f"f{i:03d}": (n % 7) / 3 for i in range(FEATURES)},
            "row": {f"f{i:03d}": (n % 7) / 3 for i in range(FEATURES)},
            "prediction": float(n % 11),
            "label": f"{n % 11}",
            "score": float(n % 11),
            "probabilities": {},
            "task_id": f"bench-{n}",
            "elapsed_ms": 10.0,
            "model_name": "Wide synthetic (bench)",
            "model_version": 1,
        }
        for n in range(have, runs)
    ]
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
        value = round(0.1 * (i + 1), 2)
        field = next((w for w in at.number_input if w.key and w.key.endswith("_f000")), None)
        if field is not None:
            field.set_value(value)
        else:  # number fields drawn as text boxes
            next(w for w in at.text_input if w.key and w.key.endswith("_f000")).input(str(value))
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
    return times


# ---- the first page -------------------------------------------------------------------------
@dataclass(frozen=True)
class FirstPage:
    """Seconds from starting ``streamlit run`` until each part showed (None: not seen)."""

    health: float
    form: float
    frame: float | None = None
    status: float | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bare_page_folder(base: Path) -> Path:
    """A folder with the bare page and this project's .streamlit/config.toml (same settings)."""
    folder = base / "bare"
    (folder / ".streamlit").mkdir(parents=True)
    (folder / "bare.py").write_text(BARE_PAGE)
    config = ROOT / ".streamlit" / "config.toml"
    if config.is_file():
        shutil.copy(config, folder / ".streamlit" / "config.toml")
    return folder


@contextlib.contextmanager
def streamlit_process(folder: Path, script: str, home: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``streamlit run script`` in ``folder`` on ``port``, with its own WHATIF_HOME; stopped and waited for."""
    env = {**os.environ, "WHATIF_HOME": str(home), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    for name in ("WHATIF_API_URL", "WHATIF_API_SECRET", "WHATIF_STORE"):
        env.pop(name, None)  # the app measured is the one with nothing configured
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


class PageNotShown(Exception):
    """The page did not show its Predict button in time; str() says what it showed instead."""


def first_page(browser: Any, folder: Path, script: str, home: Path) -> FirstPage:
    """Start ``streamlit run`` and open the page in a new browser context; time each part."""
    from playwright.sync_api import Error as PlaywrightError

    port = free_port()
    log = home.with_name(home.name + f"-{port}.log")
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        tab = context.new_page()
        tab.add_init_script(FIRST_SEEN_JS)
        started_epoch, started = time.time(), time.perf_counter()
        with streamlit_process(folder, script, home, port, log):
            health = None
            while time.perf_counter() - started < PAGE_TIMEOUT_S:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as answer:
                        if answer.read() == b"ok":
                            health = time.perf_counter() - started
                            break
                except OSError:
                    time.sleep(0.05)
            if health is None:
                raise PageNotShown(
                    f"streamlit did not answer within {PAGE_TIMEOUT_S:.0f} s; log: "
                    f"{log.read_text(errors='replace')[-500:]}"
                )
            tab.goto(f"http://127.0.0.1:{port}/")
            try:
                tab.get_by_role("button", name="Predict", exact=True).wait_for(timeout=PAGE_TIMEOUT_S * 1000)
            except PlaywrightError:
                text = " ".join(tab.locator("body").inner_text().split())[:300]
                raise PageNotShown(
                    f"no Predict button within {PAGE_TIMEOUT_S:.0f} s; the page showed: {text!r}; "
                    f"log: {log.read_text(errors='replace')[-500:]!r}"
                ) from None
            shown = time.perf_counter() - started
            seen: dict[str, float] = tab.evaluate("window.__firstSeen")
    finally:
        context.close()

    def since_start(name: str) -> float | None:
        return seen[name] / 1000 - started_epoch if name in seen else None

    return FirstPage(
        health=health, form=since_start("form") or shown, frame=since_start("frame"), status=since_start("status")
    )


@dataclass
class Measured:
    """The rounds of one row of the table."""

    label: str
    results: list[FirstPage]
    failures: int = 0

    def median(self, part: str) -> float | None:
        values = [getattr(r, part) for r in self.results if getattr(r, part) is not None]
        return statistics.median(values) if values else None

    def spread(self, part: str) -> str:
        values = [getattr(r, part) for r in self.results if getattr(r, part) is not None]
        return f"{min(values):.1f}-{max(values):.1f}" if values else "-"

    def seen(self, part: str) -> str:
        return f"{sum(getattr(r, part) is not None for r in self.results)}/{len(self.results)}"


def measure_first_pages(app_dirs: Sequence[Path], rounds: int, warmup_rounds: int) -> list[Measured]:
    """Bare page, then each app on a fresh data folder and again on the same folder; ``rounds`` times."""
    from playwright.sync_api import sync_playwright

    rows = {"bare": Measured("bare Streamlit page", [])}
    for app_dir in app_dirs:
        name = "this app" if app_dir == ROOT else str(app_dir)
        rows[f"{app_dir}:fresh"] = Measured(f"{name}, fresh data folder", [])
        rows[f"{app_dir}:exists"] = Measured(f"{name}, model store exists", [])
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        bare = bare_page_folder(Path(scratch))
        for number in range(warmup_rounds + rounds):
            timed = number >= warmup_rounds
            print(
                f"  round {number + 1 - warmup_rounds}/{rounds}" if timed else "  warm-up round (not counted)",
                flush=True,
            )
            runs = [("bare", bare, "bare.py", Path(tempfile.mkdtemp(dir=scratch)))]
            for app_dir in app_dirs:
                home = Path(tempfile.mkdtemp(prefix="whatif-home-", dir=scratch))
                runs += [(f"{app_dir}:fresh", app_dir, "app.py", home), (f"{app_dir}:exists", app_dir, "app.py", home)]
            for key, folder, script, home in runs:
                try:
                    result = first_page(browser, folder, script, home)
                except PageNotShown as problem:  # said, counted, and the bench goes on
                    print(f"    {rows[key].label}: {problem}", flush=True)
                    rows[key].failures += timed
                    continue
                if timed:
                    rows[key].results.append(result)
        browser.close()
    return list(rows.values())


def print_first_pages(rows: list[Measured], rounds: int) -> None:
    """The table, the ratios and the targets."""
    bare = rows[0].median("form")
    assert bare is not None
    print(
        f"\nFirst page: seconds from `streamlit run` until headless Chromium shows it (browser started "
        f"beforehand), median of {rounds} (min-max); frame = the sidebar's page links, status = "
        f'"Preparing the demo models...", form = the Predict button'
    )
    print(f"  {'':<44} {'health':>6} {'frame':>6} {'status':>11} {'form':>6} {'form min-max':>12} {'form/bare':>9}")
    for row in rows:
        frame, status, form, health = (row.median(p) for p in ("frame", "status", "form", "health"))
        status_text = f"{status:.1f} ({row.seen('status')})" if status is not None else "-"
        failed = f"  ({row.failures} round(s) without a form)" if row.failures else ""
        print(
            f"  {row.label:<44} {health or 0:>6.1f} {f'{frame:.1f}' if frame else '-':>6} {status_text:>11} "
            f"{form or 0:>6.1f} {row.spread('form'):>12} {(form or 0) / bare:>8.2f}x{failed}"
        )
    print("  targets:")
    for row in rows[1:]:
        frame, status = row.median("frame"), row.median("status")
        if not row.results:
            print(f"    {row.label}: no figures (the form never showed)")
            continue
        if status is None:
            print(
                f'    {row.label}: no "Preparing the demo models..." status seen (a blank page until the form) '
                f"-> MISSED"
            )
        else:
            late = max(frame or status, status) - bare
            print(
                f"    {row.label}: frame and status {late:+.1f} s after the bare page "
                f"(target <= +{TARGET_FRAME_S:.0f} s) -> {'met' if late <= TARGET_FRAME_S else 'MISSED'}"
            )
        if row.label.endswith("model store exists"):
            ratio = (row.median("form") or 0) / bare
            print(
                f"    {row.label}: form {ratio:.2f}x the bare page (target <= {TARGET_FORM_RATIO:.0f}x) -> "
                f"{'met' if ratio <= TARGET_FORM_RATIO else 'MISSED'}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of first pages (bare, fresh, store exists)")
    parser.add_argument("--warmup-rounds", type=int, default=1, help="untimed rounds first (disk caches, .pyc files)")
    parser.add_argument(
        "--app",
        type=Path,
        nargs="*",
        default=[],
        metavar="DIR",
        help="another checkout of this app to measure in the same rounds (e.g. before a change)",
    )
    parser.add_argument("--skip-first-page", action="store_true")
    parser.add_argument("--reruns", type=int, default=10)
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--skip-reruns", action="store_true")
    args = parser.parse_args()
    print(describe_machine())
    if not args.skip_first_page:
        if not Path(CHROMIUM).is_file():
            print(f"\nFirst page: skipped, no chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
        else:
            app_dirs = [ROOT, *(d.resolve() for d in args.app)]
            rows = measure_first_pages(app_dirs, args.rounds, args.warmup_rounds)
            print_first_pages(rows, args.rounds)
    if args.skip_reruns:
        return
    print(
        f"\nWhat-if page, {FEATURES}-feature model, AppTest rerun after changing one input "
        f"({args.reruns} reruns; target < {TARGET_RERUN_MS:.0f} ms at 10,000 runs)"
    )
    print(f"{'stored runs':>12} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}")
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        path = save_wide_model(home)
        for runs in sorted(args.runs):
            fill_history(home, path, runs)
            times = sorted(rerun_times(home, path, args.reruns))
            p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
            print(f"{runs:>12,} {statistics.median(times) * 1000:>10.0f} {p90 * 1000:>8.0f} {times[-1] * 1000:>8.0f}")


if __name__ == "__main__":
    main()
