"""Many rows at once: scoring a large file through the API against the same model in-process, a bulk
what-if end to end, and two versions compared on one scenario against one prediction.

A reference server is started on 127.0.0.1 with a temporary store (the sample models). Measured:

- scoring ``--rows`` credit rows (100,000 by default) in tasks of the server's row limit
  (``whatif.analysis.bulk.score_rows`` through a ``BatchPredictor``), rows per second, next to the
  same rows predicted by the same model loaded in this process;
- a bulk what-if of ``--bulk-rows`` rows (income x 1.1: original and edited rows, one task);
- comparing credit v1 and v2 on one scenario (both tasks submitted, then both waited for) next
  to one prediction of one scenario, at server task delays 0 and ``--delay`` seconds.

Targets (printed, never enforced): 100,000 rows scored in under 10 s; a comparison within 1.3
times one prediction's time.

    .venv/bin/python bench/bulk.py [--rows 100000] [--bulk-rows 10000] [--delay 0.2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import running_server
from _machine import describe_machine

from whatif.analysis.bulk import score_rows
from whatif.analysis.compare import Side, compare_scenario, side_name
from whatif.analysis.edits import bulk_whatif
from whatif.analysis.runner import BatchPredictor, in_process_predict
from whatif.client import ModelClient
from whatif.server.registry import ModelRegistry
from whatif.server.samples import (
    CREDIT_PATHS,
    DEMO_BUCKET,
    DEMO_EMAIL,
    DEMO_USER,
    EMPLOYMENT,
    credit_frame,
    ensure_sample_models,
)

TARGET_SCORE_S = 10.0
TARGET_COMPARE_RATIO = 1.3


def credit_rows(count: int) -> pd.DataFrame:
    """``count`` credit applications (the sample's synthetic generator), as form values."""
    frame = credit_frame(rows=count)
    status = pd.Series("Other", index=frame.index)
    for name in EMPLOYMENT:
        status = status.where(frame[f"employment_status_{name}"] == 0, name)
    return pd.DataFrame(
        {
            "order_amount": frame["order_amount"],
            "average_monthly_income": frame["average_monthly_income"],
            "employment_status": status,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--bulk-rows", type=int, default=10_000)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder)
        ensure_sample_models(ModelRegistry(store))
        for delay in (0.0, args.delay):
            with (
                running_server(store, task_delay_s=delay, workers=2) as server,
                ModelClient(server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL) as client,
            ):
                schema = client.schema(CREDIT_PATHS[0], DEMO_BUCKET)
                print(f"\nServer task delay {delay:g} s")
                if delay == 0:
                    score_file(client, store, schema, args.rows)
                    bulk(client, schema, args.bulk_rows)
                compare(client, args.repeats)


def score_file(client: ModelClient, store: Path, schema: object, count: int) -> None:
    """Scoring ``count`` rows through the API, and the same rows in-process."""
    from whatif.schema import FeatureSchema

    assert isinstance(schema, FeatureSchema)
    rows = credit_rows(count)
    predict = BatchPredictor(client, CREDIT_PATHS[0], DEMO_BUCKET, connection_key="bench")
    started = time.perf_counter()
    scored = score_rows(schema, rows, predict)
    api_s = time.perf_counter() - started
    local = in_process_predict(ModelRegistry(store).load(DEMO_BUCKET, CREDIT_PATHS[0]))
    from whatif.analysis.grids import to_request_frame

    started = time.perf_counter()
    request = to_request_frame(schema, rows.to_dict("records"))
    local(request)
    local_s = time.perf_counter() - started
    verdict = "met" if api_s < TARGET_SCORE_S and scored.complete else "MISSED"
    print(
        f"  score a file: {len(rows):,} rows in {scored.tasks} tasks, {api_s:.2f} s through the API "
        f"({len(rows) / api_s:,.0f} rows/s); in-process (rows built and predicted) {local_s:.2f} s "
        f"({len(rows) / local_s:,.0f} rows/s); target < {TARGET_SCORE_S:g} s -> {verdict}"
    )


def bulk(client: ModelClient, schema: object, count: int) -> None:
    """A bulk what-if of ``count`` rows, end to end."""
    from whatif.schema import FeatureSchema

    assert isinstance(schema, FeatureSchema)
    rows = credit_rows(count)
    predict = BatchPredictor(client, CREDIT_PATHS[0], DEMO_BUCKET, connection_key="bench-bulk")
    started = time.perf_counter()
    result = bulk_whatif(schema, rows, ["average_monthly_income*=1.1"], predict)
    wall = time.perf_counter() - started
    print(
        f"  bulk what-if (income x 1.1): {count:,} rows -> {result.rows:,} rows sent in {predict.tasks_sent} "
        f"task(s), {wall:.2f} s end to end; {result.facts['share_changed']:.1%} of the rows change class"
    )


def compare(client: ModelClient, repeats: int) -> None:
    """Credit v1 against v2 on one scenario, next to one prediction of that scenario (median of ``repeats``)."""
    schema_a, schema_b = client.schema(CREDIT_PATHS[0], DEMO_BUCKET), client.schema(CREDIT_PATHS[1], DEMO_BUCKET)
    a = Side(client, CREDIT_PATHS[0], DEMO_BUCKET, schema_a, side_name(schema_a, CREDIT_PATHS[0]))
    b = Side(client, CREDIT_PATHS[1], DEMO_BUCKET, schema_b, side_name(schema_b, CREDIT_PATHS[1]))
    scenario = schema_a.defaults()
    row = schema_a.to_row(scenario)
    one, both = [], []
    for _ in range(repeats + 1):  # the first of each is a warm-up
        started = time.perf_counter()
        client.predict([row], CREDIT_PATHS[0], DEMO_BUCKET)
        one.append(time.perf_counter() - started)
        started = time.perf_counter()
        compare_scenario(a, b, scenario)
        both.append(time.perf_counter() - started)
    single, pair = statistics.median(one[1:]), statistics.median(both[1:])
    ratio = pair / single
    verdict = "met" if ratio <= TARGET_COMPARE_RATIO else "MISSED"
    print(
        f"  compare v1 and v2 on one scenario: {pair * 1000:.0f} ms; one prediction {single * 1000:.0f} ms; "
        f"ratio {ratio:.2f} (target <= {TARGET_COMPARE_RATIO:g}) -> {verdict}"
    )


if __name__ == "__main__":
    main()
