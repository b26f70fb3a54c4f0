"""``python -m whatif check``: a suite against a model version, run as a CI job runs it (a subprocess with
WHATIF_* variables, the reference server): exit 0 when every check passes, 3 when one fails, 1 on an error."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEMO_BUCKET
from tests.whatif.analysis.test_checks import CREDIT_SUITE
from tests.whatif.test_cli import run_cli
from whatif.client import ModelClient
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS

V1, V2 = CREDIT_PATHS


def write_suite(tmp_path: Path, suite: dict[str, Any]) -> str:
    file = tmp_path / "suite.json"
    file.write_text(json.dumps(suite, indent=2))
    return str(file)


def check(server: EmbeddedServer, suite_file: str, path: str, *extra: str) -> Any:
    done = run_cli("check", "--suite", suite_file, "--path", path, "--bucket", DEMO_BUCKET, *extra, server=server)
    assert server.secret not in done.stdout + done.stderr
    return done


def test_a_suite_that_passes_exits_0_with_one_pass_line_per_check(server: EmbeddedServer, tmp_path: Path) -> None:
    passing = dict(CREDIT_SUITE, checks=[CREDIT_SUITE["checks"][0], CREDIT_SUITE["checks"][2]])
    done = check(server, write_suite(tmp_path, passing), V1)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == 'Suite "credit basics" on Credit approval v1, score P(approved):'
    assert lines[1].startswith("PASS  income never hurts ")
    assert "fail rate 0 % of 3 (95 % interval 0 %-56 %)" in lines[1]
    assert lines[2].startswith("PASS  rich applicant approved") and "expected approved, got approved" in lines[2]
    assert re.fullmatch(r"2 of 2 checks passed on \d+ rows in 1 task\(s\)\.", lines[-1]), lines[-1]
    assert "in 1 task(s)" in done.stderr


def test_a_failing_check_exits_3_and_the_json_holds_the_report_and_every_row_with_its_answer(
    server: EmbeddedServer, client: ModelClient, tmp_path: Path
) -> None:
    done = check(server, write_suite(tmp_path, CREDIT_SUITE), V2, "--format", "json")
    assert done.returncode == 3, done.stderr
    answer = json.loads(done.stdout)
    assert answer["suite"] == "credit basics" and answer["model"] == {"name": "Credit approval", "version": 2}
    assert (answer["passed"], answer["total"], answer["all_passed"], answer["tasks"]) == (1, 3, False, 1)
    assert answer["score"]["title"] == "P(approved)" and answer["score"]["class"] == "1"
    checks = {c["name"]: c for c in answer["checks"]}
    assert [c["passed"] for c in answer["checks"]] == [False, False, True]
    income = checks["income never hurts"]
    assert set(income) >= {
        "type",
        "feature",
        "cases",
        "failures",
        "fail_rate",
        "fail_low",
        "fail_high",
        "allowed_fail_rate",
        "tolerance",
        "examples",
    }
    assert income["examples"][0]["failed"] and income["examples"][0]["change"] < -0.01
    assert checks["rich applicant approved"]["examples"][0]["values"]["employment_status"] == "Employed"
    rows = answer["rows"]
    assert len(rows) == answer["rows_sent"]
    schema = client.schema(V2, DEMO_BUCKET)
    assert all({*schema.input_columns, "prediction", "probability_1", "score", "checks"} <= set(r) for r in rows)
    picked = rows[::7]
    again = client.predict([{c: r[c] for c in schema.input_columns} for r in picked], V2, DEMO_BUCKET).predictions
    for row, (_, fresh) in zip(picked, again.iterrows(), strict=True):
        assert row["prediction"] == fresh["prediction"]
        assert row["probability_1"] == pytest.approx(fresh["probability_1"], abs=1e-9) == row["score"]


def test_the_table_of_a_failing_suite_names_each_failure_and_its_worst_example(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    done = check(server, write_suite(tmp_path, CREDIT_SUITE), V1)
    assert done.returncode == 3, done.stderr
    fail = next(line for line in done.stdout.splitlines() if line.startswith("FAIL"))
    assert "order amount ignored" in fail and "fail rate 100 % of 3" in fail
    assert "worst: row 2: order_amount 2000 -> 1000, P(approved)" in fail
    assert done.stdout.strip().endswith('failed: "order amount ignored".')


def test_rows_from_a_file_replace_the_suite_s_rows(server: EmbeddedServer, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "order_amount,average_monthly_income,employment_status,approved\n300,2500,Employed,1\n900,1200,Contract,0\n"
    )
    done = check(server, write_suite(tmp_path, CREDIT_SUITE), V1, "--rows", str(rows), "--format", "json")
    answer = json.loads(done.stdout)
    assert answer["rows_source"] == "file"
    assert [c["cases"] for c in answer["checks"]] == [2, 2, 1], "the file's 2 rows; the expect check keeps its own"


@pytest.mark.parametrize(
    ("suite", "expected"),
    [
        (
            dict(CREDIT_SUITE, checks=[dict(CREDIT_SUITE["checks"][0], feature="incom")]),
            'error: Check "income never hurts": feature "incom" is not an input of this model.',
        ),
        ("{not json", "error: The suite is not valid JSON"),
    ],
)
def test_a_malformed_suite_exits_1_with_one_sentence_on_stderr(
    server: EmbeddedServer, tmp_path: Path, suite: Any, expected: str
) -> None:
    file = tmp_path / "suite.json"
    file.write_text(suite if isinstance(suite, str) else json.dumps(suite))
    done = check(server, str(file), V1)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(expected) and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_model_that_is_not_there_exits_1(server: EmbeddedServer, tmp_path: Path) -> None:
    done = check(server, write_suite(tmp_path, CREDIT_SUITE), "1/4/model-groups/2/99.json")
    assert done.returncode == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_wrong_usage_exits_2_and_help_documents_the_exit_codes(server: EmbeddedServer) -> None:
    done = run_cli("check", "--path", V1, "--bucket", DEMO_BUCKET, server=server)
    assert done.returncode == 2 and "--suite" in done.stderr
    helped = run_cli("check", "--help")
    assert helped.returncode == 0
    for line in ("0  every check passed", "1  an error", "2  wrong usage", "3  the suite ran and at least one check"):
        assert line in helped.stdout, helped.stdout
