"""``python -m whatif analyse``: each analysis from the command line, as JSON a script can check.

Run as a user runs it (a subprocess with WHATIF_* variables) against the reference server; every
row in the JSON must carry the model's answer for it, which a plain prediction of the same rows
confirms.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import DEMO_BUCKET, TITANIC_PATH
from tests.whatif.test_cli import run_cli
from whatif.client import ModelClient
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS

PASSENGER = {"pclass": 2, "sex": "male", "age": 30, "fare": 8.05}


def analyse(server: EmbeddedServer, *args: str) -> dict[str, Any]:
    done = run_cli(
        "analyse",
        *args,
        "--path",
        TITANIC_PATH,
        "--bucket",
        DEMO_BUCKET,
        "--data",
        json.dumps(PASSENGER),
        "--format",
        "json",
        server=server,
    )
    assert done.returncode == 0, done.stderr
    assert server.secret not in done.stdout + done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def assert_rows_hold_the_model_s_answers(
    answer: dict[str, Any], client: ModelClient, path: str = TITANIC_PATH, every: int = 37
) -> None:
    """A sample of the rows, predicted again one task at a time, gets the answers the JSON holds."""
    schema = client.schema(path, DEMO_BUCKET)
    picked = answer["rows"][::every]
    requests = [{c: row[c] for c in schema.input_columns} for row in picked]
    again = client.predict(requests, path, DEMO_BUCKET).predictions
    for row, (_, fresh) in zip(picked, again.iterrows(), strict=True):
        assert row["prediction"] == fresh["prediction"]
        for column in (c for c in fresh.index if str(c).startswith("probability_")):
            assert row[column] == pytest.approx(fresh[column], abs=1e-9)


def test_sensitivity_as_json_holds_every_row_and_ranks_sex_near_the_top(
    server: EmbeddedServer, client: ModelClient
) -> None:
    answer = analyse(server, "sensitivity")
    assert answer["analysis"] == "sensitivity" and answer["tasks"] == 1
    assert answer["scenario"]["sex"] == 1  # "male", read as its code
    features = [s["feature"] for s in answer["summary"]]
    assert sorted(features) == sorted(f.name for f in client.schema(TITANIC_PATH, DEMO_BUCKET).features)
    assert "sex" in features[:3]  # the input that matters most for a man in third class is among the first
    assert answer["reading"] and answer["score"]["title"].startswith("P(")
    assert_rows_hold_the_model_s_answers(answer, client)


def test_a_sweep_and_a_map_from_the_command_line(server: EmbeddedServer, client: ModelClient) -> None:
    swept = analyse(server, "sweep", "--feature", "age")
    assert swept["tasks"] == 1 and len(swept["rows"]) >= 40
    assert_rows_hold_the_model_s_answers(swept, client, every=7)
    mapped = analyse(server, "interaction", "--features", "age", "fare")
    assert mapped["tasks"] == 1 and len(mapped["rows"]) >= 900
    assert 0.0 <= mapped["facts"]["h2"] <= 1.0
    assert_rows_hold_the_model_s_answers(mapped, client, every=101)


def test_contributions_add_up_and_robustness_reports_a_flip_rate(server: EmbeddedServer, client: ModelClient) -> None:
    explained = analyse(server, "contributions")
    assert explained["tasks"] == 1
    total = sum(s["contribution"] for s in explained["summary"])
    facts = explained["facts"]
    assert total == pytest.approx(facts["prediction_score"] - facts["base_score"], abs=1e-6)
    stable = analyse(server, "robustness", "--noise", "0.1", "--hold", "sex")
    assert stable["tasks"] == 1 and 0.0 <= stable["facts"]["flip_rate"] <= 1.0
    assert {row["sex"] for row in stable["rows"]} == {1}  # held fixed: the passenger stays a man (code 1)


def test_table_output_reads_as_text(server: EmbeddedServer) -> None:
    done = run_cli("analyse", "sensitivity", "--path", CREDIT_PATHS[0], "--bucket", DEMO_BUCKET, server=server)
    assert done.returncode == 0, done.stderr
    assert "employment_status" in done.stdout  # the one-hot group is one row of the table
    assert "employment_status_" not in done.stdout.split("\n\n")[1]
    assert "1 task(s)" in done.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("sweep",), "--feature"),
        (("interaction", "--features", "age", "nonsense"), "nonsense"),
        (("robustness", "--noise", "3"), "noise"),
    ],
)
def test_a_mistake_is_one_sentence_and_exit_1(server: EmbeddedServer, args: tuple[str, ...], words: str) -> None:
    done = run_cli("analyse", *args, "--path", TITANIC_PATH, "--bucket", DEMO_BUCKET, server=server)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and words in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_counterfactual_keeps_sex_and_each_alternative_survives_when_predicted_again(
    server: EmbeddedServer, client: ModelClient
) -> None:
    answer = analyse(server, "counterfactual", "--fixed", "sex", "--count", "2", "--target", "survived")
    assert 1 <= answer["tasks"] <= 4 and len(answer["rows"]) <= 25_000
    alternatives = answer["facts"]["alternatives"]
    assert len(alternatives) == 2, answer["reading"]
    assert all(a["values"]["sex"] == 1 for a in alternatives)  # the passenger stays a man
    again = client.predict([a["row"] for a in alternatives], TITANIC_PATH, DEMO_BUCKET).predictions
    assert list(again["prediction"]) == [1, 1]
    assert len({tuple(sorted(a["changes"])) for a in alternatives}) == 2  # different inputs changed


def test_goal_seek_of_a_regression_from_the_command_line(server: EmbeddedServer, client: ModelClient) -> None:
    from whatif.server.samples import DIABETES_PATH

    done = run_cli(
        "analyse",
        "counterfactual",
        "--path",
        DIABETES_PATH,
        "--bucket",
        DEMO_BUCKET,
        "--data",
        json.dumps({"bmi": 33, "s5": 5.2}),
        "--target-range",
        "0",
        "150",
        "--format",
        "json",
        server=server,
    )
    assert done.returncode == 0, done.stderr
    alternatives = json.loads(done.stdout)["facts"]["alternatives"]
    assert alternatives
    again = client.predict([a["row"] for a in alternatives], DIABETES_PATH, DEMO_BUCKET).predictions
    assert all(value <= 150 for value in again["prediction"])
