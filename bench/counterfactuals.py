"""Counterfactuals through the API: our search next to DiCE's model-agnostic ``random`` and ``genetic``.

For each server task delay (0 and 0.2 s by default) a reference server is started on 127.0.0.1
with a temporary store holding the sample models. On the Titanic model (``sex`` held fixed) and
the credit model (version 2, gradient boosting; nothing held fixed, so DiCE may break the
employment one-hot group), ``--scenarios`` rows of the model's data that it predicts as the
unfavourable class (died, rejected) are picked with a fixed seed. For each scenario, 3
alternatives are asked of:

- **ours**: ``whatif.analysis.counterfactual.counterfactuals(..., count=3)`` through a fresh
  ``BatchPredictor`` (fresh answer cache), in this process; tasks from ``tasks_sent``;
- **DiCE random / genetic** (dice-ml 0.12, ``desired_class="opposite"``, the same fixed features
  left out of ``features_to_vary``), run in a virtualenv of their own (``bench/.venv-dice``,
  from ``bench/requirements-dice.txt``, created here on first use: dice-ml 0.12 fails on pandas 3)
  by ``bench/_dice_worker.py``, whose model wrapper sends every ``predict_proba`` call to the same
  server as ONE task (HTTP with requests, long poll, PyJWT tokens). DiCE's wall time is measured
  inside the worker around ``generate_counterfactuals`` (start-up and imports not counted).

One measure for all three, computed here from the alternatives returned: validity (the
alternatives re-predicted in one plain task per method and model; the goal is any class but the
scenario's; rows the API would refuse and rows that change a fixed feature count as invalid),
features changed, Gower distance to the scenario, diversity (mean pairwise Jaccard distance of the
sets of changed features), the share of scenarios where one feature is changed by every
alternative, tasks and rows per scenario, wall time (median, p90).

Targets (printed, never enforced), at every delay: validity 100 %; at most 4 tasks; fewer
features changed on average than either DiCE method; alternatives changing different sets of
features; wall time below DiCE random's and at least 10 times below DiCE genetic's (medians).

    .venv/bin/python bench/counterfactuals.py [--scenarios 20] [--delays 0 0.2] [--skip-dice]
        [--methods random genetic] [--genetic-scenarios 5] [--dice-timeout 60]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import ROOT, median, percentile, running_server, verdict
from _machine import describe_machine

from whatif.analysis.counterfactual import counterfactuals
from whatif.analysis.grids import changed_features, feature_spread, gower_distance, is_numeric
from whatif.analysis.runner import BatchPredictor
from whatif.client import ModelClient
from whatif.schema import FeatureSchema, RowValidationError
from whatif.server.registry import ModelRegistry
from whatif.server.samples import (
    CREDIT_PATHS,
    DEMO_BUCKET,
    DEMO_EMAIL,
    DEMO_USER,
    TITANIC_PATH,
    credit_frame,
    ensure_sample_models,
    titanic_frame,
)

COUNT = 3  # alternatives asked of every method
SEED = 7  # which scenarios are picked
UNFAVOURABLE = "0"  # died, rejected: the scenarios' class; the goal is the other one
MAX_TASKS = 4
TARGET_GENETIC_RATIO = 10.0
SAME_TOLERANCE = 1e-4  # a number within this share of its spread of the scenario's value is unchanged
BENCH = Path(__file__).resolve().parent
DICE_VENV = BENCH / ".venv-dice"
DICE_REQUIREMENTS = BENCH / "requirements-dice.txt"
DICE_WORKER = BENCH / "_dice_worker.py"
DICE_PYTHON = DICE_VENV / "bin" / "python"
DICE_STAMP = DICE_VENV / "bench-requirements.txt"  # the requirements the venv was made from
METHODS = ("ours", "random", "genetic")


@dataclass(frozen=True)
class Model:
    """A model to search on: its path, schema, data (request columns and outcome) and fixed features."""

    label: str
    path: str
    schema: FeatureSchema
    data: pd.DataFrame
    outcome: str
    fixed: tuple[str, ...]

    @property
    def continuous(self) -> list[str]:
        """Request columns DiCE treats as continuous: the numbers (integers included) without codes."""
        return [f.name for f in self.schema.features if is_numeric(f)]

    @property
    def categorical(self) -> list[str]:
        """Request columns DiCE treats as categories: codes, and each one-hot column as a 0/1 category."""
        return [c for f in self.schema.features if not is_numeric(f) for c in f.input_columns]

    @property
    def integer_columns(self) -> list[str]:
        return [c for f in self.schema.features if f.type in ("integer", "one_hot", "boolean") for c in f.input_columns]

    @property
    def vary(self) -> list[str]:
        """Request columns DiCE may change (``features_to_vary``)."""
        return [c for f in self.schema.features if f.name not in self.fixed for c in f.input_columns]


@dataclass
class Search:
    """One method on one scenario: the alternatives (request rows) and what it cost."""

    alternatives: list[dict[str, Any]]
    tasks: int
    rows: int
    wall_s: float
    refused: int = 0  # DiCE: rows not sent because the API would refuse them
    error: str | None = None


@dataclass
class Scored:
    """The shared measure of one method on one model at one delay; per-scenario lists in scenario order."""

    model: str
    method: str
    searches: list[Search]
    note: str = ""
    found: int = 0
    valid: int = 0
    invalid_rows: int = 0  # the API would refuse them, or they change a fixed feature
    changed: list[list[int]] = field(default_factory=list)  # per scenario: features changed per alternative
    distance: list[float] = field(default_factory=list)
    diversity: list[float] = field(default_factory=list)  # per scenario with 2+ alternatives
    common: list[bool] = field(default_factory=list)  # per scenario with 2+ alternatives: a feature in all
    distinct: list[bool] = field(default_factory=list)  # per scenario with 2+ alternatives: all sets different

    @property
    def scenarios(self) -> int:
        return len(self.searches)

    @property
    def validity(self) -> float:
        return self.valid / self.found if self.found else math.nan

    def changes(self, first: int | None = None) -> float:
        """Features changed per alternative (mean), over the first ``first`` scenarios or all."""
        return _mean([n for per in self.changed[:first] for n in per])

    def walls(self, first: int | None = None) -> list[float]:
        return [s.wall_s for s in self.searches[:first]]

    @property
    def tasks(self) -> list[int]:
        return [s.tasks for s in self.searches]

    @property
    def errors(self) -> list[str]:
        return [s.error for s in self.searches if s.error]


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


# ---- the models and the scenarios ---------------------------------------------------------------------------------
def models(client: ModelClient, credit_version: int) -> list[Model]:
    titanic = client.schema(TITANIC_PATH, DEMO_BUCKET)
    credit_path = CREDIT_PATHS[credit_version - 1]
    credit = client.schema(credit_path, DEMO_BUCKET)
    kind = "logistic" if credit_version == 1 else "boosting"
    return [
        Model("Titanic", TITANIC_PATH, titanic, titanic_frame(), "survived", ("sex",)),
        Model(f"credit v{credit_version} ({kind})", credit_path, credit, credit_frame(), "approved", ()),
    ]


def pick_scenarios(client: ModelClient, model: Model, n: int) -> list[dict[str, Any]]:
    """``n`` distinct rows of the model's data that it predicts as the unfavourable class (fixed seed)."""
    rows = model.data[model.schema.input_columns].drop_duplicates().reset_index(drop=True)
    answers = client.predict(rows, model.path, DEMO_BUCKET, return_only_prediction=True, timeout=120).predictions
    unfavourable = np.flatnonzero(answers["prediction"].map(_class_key).to_numpy() == UNFAVOURABLE)
    chosen = np.sort(np.random.default_rng(SEED).choice(unfavourable, size=min(n, len(unfavourable)), replace=False))
    return [{c: _plain(v) for c, v in rows.iloc[int(i)].items()} for i in chosen]


def _class_key(value: Any) -> str:
    text = str(value.item() if hasattr(value, "item") else value)
    return text[:-2] if text.endswith(".0") else text


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ---- ours ----------------------------------------------------------------------------------------------------------
def run_ours(client: ModelClient, model: Model, scenarios: Sequence[Mapping[str, Any]]) -> list[Search]:
    out = []
    for number, row in enumerate(scenarios):
        predict = BatchPredictor(client, model.path, DEMO_BUCKET, connection_key=f"bench-{number}")
        scenario = model.schema.from_row(row)
        started = time.perf_counter()
        result = counterfactuals(model.schema, scenario, predict, fixed=model.fixed, count=COUNT)
        wall = time.perf_counter() - started
        out.append(
            Search([dict(e["row"]) for e in result.facts["alternatives"]], predict.tasks_sent, predict.rows_sent, wall)
        )
    return out


# ---- DiCE in its own virtualenv --------------------------------------------------------------------------------------
def dice_python() -> tuple[Path | None, str]:
    """DiCE's interpreter, making bench/.venv-dice on first use; (None, why) when it cannot be made."""
    wanted = DICE_REQUIREMENTS.read_text()
    if (
        DICE_PYTHON.exists()
        and DICE_STAMP.exists()
        and DICE_STAMP.read_text() == wanted
        and subprocess.run([DICE_PYTHON, "-c", "import dice_ml, jwt, requests"], capture_output=True).returncode == 0
    ):
        return DICE_PYTHON, ""
    base = shutil.which("python3") or getattr(sys, "_base_executable", sys.executable)
    print(
        f"Making DiCE's virtualenv {_shown(DICE_VENV)} from {_shown(DICE_REQUIREMENTS)} "
        "(first use only; pip fetches several hundred MB, a minute or so)...",
        flush=True,
    )
    started = time.perf_counter()
    try:
        made = subprocess.run([base, "-m", "venv", "--clear", DICE_VENV], capture_output=True, text=True, timeout=300)
        if made.returncode != 0:
            return None, f"`python3 -m venv` failed: {_last_line(made.stderr or made.stdout)}"
        installed = subprocess.run(
            [DICE_PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", DICE_REQUIREMENTS],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if installed.returncode != 0:
        return None, f"pip install failed ({_last_line(installed.stderr or installed.stdout)})"
    DICE_STAMP.write_text(wanted)
    print(f"DiCE's virtualenv is ready ({time.perf_counter() - started:.0f} s).", flush=True)
    return DICE_PYTHON, ""


def _shown(path: Path) -> str:
    """A path relative to the project when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("WARNING: Location")]
    return lines[-1][:200] if lines else "no output"


def run_dice(
    python: Path,
    server_url: str,
    secret: str,
    model: Model,
    method: str,
    scenarios: Sequence[Mapping[str, Any]],
    folder: Path,
    timeout_s: float,
) -> tuple[list[Search], str]:
    """DiCE's ``method`` on every scenario, in its virtualenv: (searches, error of the whole run or "")."""
    train = folder / f"{model.outcome}.csv"
    if not train.exists():
        model.data[[*model.schema.input_columns, model.outcome]].to_csv(train, index=False)
    job = {
        "predict_url": server_url,
        "secret": secret,
        "user": DEMO_USER,
        "email": DEMO_EMAIL,
        "path": model.path,
        "bucket": DEMO_BUCKET,
        "train_csv": str(train),
        "outcome": model.outcome,
        "columns": model.schema.input_columns,
        "continuous": model.continuous,
        "categorical": model.categorical,
        "integer_columns": model.integer_columns,
        "features_to_vary": model.vary,
        "one_hot_groups": [f.input_columns for f in model.schema.features if f.type == "one_hot"],
        "classes": [int(c) for c in model.schema.classes],
        "refused_class": int(UNFAVOURABLE),
        "method": method,
        "count": COUNT,
        "scenarios": list(scenarios),
        "scenario_timeout_s": timeout_s,
    }
    job_path, out_path, log_path = (folder / f"{model.outcome}-{method}.{ext}" for ext in ("json", "jsonl", "log"))
    job_path.write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with open(log_path, "w") as log:
        try:
            done = subprocess.run(
                [python, DICE_WORKER, job_path, out_path],
                stdout=log,
                stderr=log,
                env=env,
                timeout=timeout_s * len(scenarios) + 120,
            )
            failed = "" if done.returncode == 0 else f"the DiCE worker exited with {done.returncode}"
        except subprocess.TimeoutExpired:
            failed = "the DiCE worker ran out of time"
    searches = []
    if out_path.exists():
        for line in out_path.read_text().splitlines():
            item = json.loads(line)
            searches.append(
                Search(
                    item["alternatives"], item["tasks"], item["rows"], item["wall_s"], item["refused"], item["error"]
                )
            )
    if failed:
        failed += f": {_last_line(log_path.read_text())}"
    return searches, failed


# ---- the shared measure -------------------------------------------------------------------------------------------
def score(
    client: ModelClient,
    model: Model,
    method: str,
    scenarios: Sequence[Mapping[str, Any]],
    searches: list[Search],
    note: str = "",
) -> Scored:
    """Validity (one plain task for every alternative), changes, distance and diversity of a method's searches."""
    schema = model.schema
    scored = Scored(model.label, method, searches, note)
    to_check: list[dict[str, Any]] = []
    for row, search in zip(scenarios, searches, strict=False):
        base = schema.from_row(row)
        sets: list[frozenset[str]] = []
        scored.changed.append([])
        for alternative in search.alternatives:
            scored.found += 1
            form = _form(schema, alternative)
            if form is None:  # the API would refuse it (a one-hot group with two 1s, a code out of its domain)
                scored.invalid_rows += 1
                sets.append(frozenset(_raw_changes(schema, row, alternative)))
                scored.changed[-1].append(len(sets[-1]))
                continue
            form = _snapped(schema, base, form)
            changes = changed_features(schema, base, form)
            sets.append(frozenset(changes))
            scored.changed[-1].append(len(changes))
            scored.distance.append(gower_distance(schema, base, form))
            if set(changes) & set(model.fixed):
                scored.invalid_rows += 1
                continue
            to_check.append(schema.to_row(form))
        if len(sets) >= 2:
            pairs = list(itertools.combinations(sets, 2))
            scored.diversity.append(float(np.mean([_jaccard_distance(a, b) for a, b in pairs])))
            scored.common.append(bool(frozenset.intersection(*sets)))
            scored.distinct.append(len(set(sets)) == len(sets))
    if to_check:
        answers = client.predict(
            to_check, model.path, DEMO_BUCKET, return_only_prediction=True, timeout=120
        ).predictions
        scored.valid = int((answers["prediction"].map(_class_key) != UNFAVOURABLE).sum())
    return scored


def _form(schema: FeatureSchema, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The form values of a request row, or None when the schema (and so the API) refuses it."""
    try:
        return schema.coerce_values(schema.from_row(row))
    except RowValidationError:
        return None


def _snapped(schema: FeatureSchema, base: Mapping[str, Any], form: Mapping[str, Any]) -> dict[str, Any]:
    """``form`` with numbers within a rounding of the scenario's value put back (DiCE holds float32 values
    rounded to the data's decimals: 0.9167 comes back as 0.91670001)."""
    out = dict(form)
    for f in schema.features:
        if is_numeric(f) and f.name in base:
            spread = feature_spread(f) or 1.0
            if abs(float(out[f.name]) - float(base[f.name])) <= SAME_TOLERANCE * spread:
                out[f.name] = base[f.name]
    return out


def _raw_changes(schema: FeatureSchema, row: Mapping[str, Any], alternative: Mapping[str, Any]) -> list[str]:
    """The logical features whose request columns differ (for rows the schema refuses)."""
    return [
        f.name
        for f in schema.features
        if any(abs(float(alternative[c]) - float(row[c])) > 1e-9 for c in f.input_columns)
    ]


def _jaccard_distance(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return 1 - len(a & b) / len(union) if union else 0.0


# ---- the run -------------------------------------------------------------------------------------------------------
def measure(delay_s: float, args: argparse.Namespace, python: Path | None) -> list[Scored]:
    """Every method on both models on a server with ``delay_s`` per task."""
    out: list[Scored] = []
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store"
        ensure_sample_models(ModelRegistry(store))
        with (
            running_server(store, in_process=not args.server_process, task_delay_s=delay_s, workers=2) as server,
            ModelClient(server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL) as client,
        ):
            for model in models(client, args.credit_version):
                scenarios = pick_scenarios(client, model, args.scenarios)  # also loads the model (not timed)
                started = time.perf_counter()
                ours = run_ours(client, model, scenarios)
                out.append(score(client, model, "ours", scenarios, ours))
                print(
                    f"  delay {delay_s:g} s  {model.label:<22} ours     {len(ours)} scenarios in "
                    f"{time.perf_counter() - started:.1f} s",
                    flush=True,
                )
                for method in args.methods if python is not None else ():
                    chosen = scenarios
                    note = ""
                    if method == "genetic" and delay_s > 0 and args.genetic_scenarios < len(scenarios):
                        chosen = scenarios[: args.genetic_scenarios]
                        note = f"first {len(chosen)} of {len(scenarios)} scenarios (--genetic-scenarios)"
                    started = time.perf_counter()
                    searches, failed = run_dice(
                        python,
                        server.predict_url,
                        server.secret,
                        model,
                        method,
                        chosen,
                        Path(folder),
                        args.dice_timeout,
                    )
                    if failed:
                        note = "; ".join(x for x in (note, failed) if x)
                    out.append(score(client, model, method, chosen, searches, note))
                    print(
                        f"  delay {delay_s:g} s  {model.label:<22} {method:<8} {len(searches)} scenarios in "
                        f"{time.perf_counter() - started:.1f} s (worker start-up included)"
                        f"{' -- ' + failed if failed else ''}",
                        flush=True,
                    )
    return out


def report(delay_s: float, rows: list[Scored]) -> None:
    """The table of one delay, then the targets per model."""
    print(
        f"\nServer task delay {delay_s:g} s; {COUNT} alternatives asked per scenario; DiCE's wall time measured "
        "inside its worker around generate_counterfactuals"
    )
    print(
        f"  {'model':<22} {'method':<8} {'scen':>4} {'found':>6} {'valid':>6} {'invalid':>7} {'changed':>7} "
        f"{'distance':>8} {'divers.':>7} {'1 in all':>8} {'tasks':>7} {'rows':>7} {'wall med':>8} {'p90 s':>7}"
    )
    for s in rows:
        walls = s.walls()
        print(
            f"  {s.model:<22} {s.method:<8} {s.scenarios:>4} {f'{s.found}/{s.scenarios * COUNT}':>6} "
            f"{_pct(s.validity):>6} {s.invalid_rows:>7} {_num(s.changes(), '.2f'):>7} "
            f"{_num(_mean(s.distance), '.3f'):>8} {_num(_mean(s.diversity), '.2f'):>7} {_pct(_mean(s.common)):>8} "
            f"{_mean(s.tasks):>7.1f} "
            f"{_mean([x.rows for x in s.searches]):>7,.0f} {median(walls):>8.3f} {percentile(walls, 90):>7.3f}"
        )
        for note in _notes(s):
            print(f"  {'':<31} note: {note}")
    print(
        "  (found: alternatives returned / asked; valid: share of them that the API, asked again in one task, "
        "predicts as another class than the scenario's; invalid: rows the API would refuse or that change a fixed "
        "feature, counted as not valid; changed: logical features changed per alternative; distance: Gower, "
        "mean; divers.: mean pairwise Jaccard distance of a scenario's changed-feature sets; 1 in all: share of "
        "scenarios where one feature is changed by every alternative; tasks, rows: per scenario; wall: seconds "
        "per scenario)"
    )
    for model in dict.fromkeys(s.model for s in rows):
        by = {s.method: s for s in rows if s.model == model}
        ours = by.get("ours")
        if ours is None:
            continue
        most = max(ours.tasks, default=0)
        checks = [
            f"validity 100 % {verdict(ours.found > 0 and ours.valid == ours.found)} ({_pct(ours.validity)})",
            f"at most {MAX_TASKS} tasks {verdict(most <= MAX_TASKS)} (max {most})",
            f"each scenario's alternatives change different feature sets "
            f"{verdict(bool(ours.distinct) and all(ours.distinct))} "
            f"({sum(ours.distinct)}/{len(ours.distinct)} scenarios with 2+)",
        ]
        for method in ("random", "genetic"):
            other = by.get(method)
            if other is None or not other.searches:
                checks.append(f"vs DiCE {method}: no figures")
                continue
            n = other.scenarios  # DiCE genetic may have run on the first scenarios only: compare on those
            on = "" if n == ours.scenarios else f", on the same first {n} scenarios"
            mine, theirs = ours.changes(n), other.changes()
            if math.isnan(theirs):
                checks.append(f"fewer features changed than DiCE {method}: n/a (DiCE {method} found no alternative)")
            else:
                checks.append(
                    f"fewer features changed than DiCE {method} {verdict(mine < theirs)} "
                    f"({mine:.2f} vs {theirs:.2f}{on})"
                )
            ours_wall, their_wall = median(ours.walls(n)), median(other.walls())
            if any(str(e).startswith("stopped after") for e in other.errors):
                on += (
                    f"; {sum(str(e).startswith('stopped after') for e in other.errors)} DiCE search(es) stopped "
                    "at the time limit: its figure is a lower bound"
                )
            if method == "random":
                checks.append(
                    f"wall below DiCE random's {verdict(ours_wall < their_wall)} "
                    f"({ours_wall:.3f} vs {their_wall:.3f} s{on})"
                )
            else:
                ratio = their_wall / ours_wall if ours_wall else math.inf
                checks.append(
                    f">= {TARGET_GENETIC_RATIO:.0f}x below DiCE genetic's "
                    f"{verdict(ratio >= TARGET_GENETIC_RATIO)} ({ratio:.1f}x: {ours_wall:.3f} vs "
                    f"{their_wall:.3f} s{on})"
                )
        print(f"  targets, {model}:\n    " + "\n    ".join(checks))


def _num(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.0f} %"


def _notes(scored: Scored) -> list[str]:
    """The run's note, rows DiCE had answered without asking, and each error with how many scenarios had it."""
    notes = [scored.note] if scored.note else []
    refused = [s.refused for s in scored.searches]
    if any(refused):
        notes.append(
            f"rows the API would refuse (two employment columns set), answered as the scenario's class "
            f"without a task: {_mean(refused):,.0f} per scenario"
        )
    counts: dict[str, int] = {}
    for error in scored.errors:
        counts[error] = counts.get(error, 0) + 1
    notes += [f"{n} scenario(s): {error}" for error, n in counts.items()]
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", type=int, default=20, help="scenarios per model")
    parser.add_argument("--delays", type=float, nargs="+", default=[0.0, 0.2], help="server task delays, seconds")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=("random", "genetic"),
        default=["random", "genetic"],
        help="DiCE's methods to run beside ours",
    )
    parser.add_argument("--skip-dice", action="store_true", help="ours only")
    parser.add_argument(
        "--genetic-scenarios",
        type=int,
        default=5,
        help="scenarios per model for DiCE genetic at delays above 0 (hundreds of tasks each)",
    )
    parser.add_argument(
        "--dice-timeout", type=int, default=60, help="seconds one DiCE search may take before it is stopped"
    )
    parser.add_argument(
        "--credit-version",
        type=int,
        choices=(1, 2),
        default=2,
        help="credit model: 1 logistic regression, 2 gradient boosting",
    )
    parser.add_argument(
        "--server-process",
        action="store_true",
        help="run the server in a child process instead of a thread of the bench",
    )
    args = parser.parse_args()
    print(describe_machine())
    python: Path | None = None
    if not args.skip_dice:
        python, why = dice_python()
        if python is None:
            print(
                f"DiCE cannot run: its virtualenv {_shown(DICE_VENV)} could not be made ({why}); "
                "only our figures follow.",
                flush=True,
            )
    started = time.perf_counter()
    results = {delay: measure(delay, args, python) for delay in args.delays}
    for delay, rows in results.items():
        report(delay, rows)
    print(f"bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
