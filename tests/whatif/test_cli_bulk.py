"""``python -m whatif bulk`` in a subprocess, as a user runs it, against the reference server."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tests.whatif.analysis.explore_support import one_sentence
from tests.whatif.analysis.test_runner import tasks_on
from tests.whatif.test_cli import run_cli
from whatif.analysis.grids import to_request_frame
from whatif.client import ModelClient
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, TITANIC_PATH, credit_frame, titanic_frame

CREDIT = CREDIT_PATHS[0]
EDITS = ("--edit", "average_monthly_income*=1.1", "--edit", "employment_status=Employed")


@pytest.fixture(scope="module")
def credit_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 applications as a user's file: the group's 0/1 columns, an id and the target, which are ignored."""
    frame = credit_frame(300).rename(columns={"approved": "target"})
    frame.insert(0, "id", range(1, len(frame) + 1))
    path = tmp_path_factory.mktemp("bulk") / "applications.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def titanic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bulk") / "passengers.csv"
    titanic_frame().drop(columns="survived").head(400).to_csv(path, index=False)
    return path


def bulk(server: EmbeddedServer, path: str, file: Path, *flags: str) -> tuple[int, str, str]:
    done = run_cli("bulk", "--path", path, "--bucket", DEMO_BUCKET, "--file", str(file), *flags, server=server)
    return done.returncode, done.stdout, done.stderr


def test_the_table_prints_the_summary(server: EmbeddedServer, credit_csv: Path) -> None:
    before = tasks_on(server)
    code, out, err = bulk(server, CREDIT, credit_csv, *EDITS)
    assert code == 0, err
    assert tasks_on(server) - before == 1
    assert out.startswith("If average_monthly_income rose 10 % and employment_status were Employed, ")
    assert "would go from rejected to approved" in out
    assert "Classes before (down) and after (across):" in out and "Rows whose class changed:" in out
    assert "Mean change of P(approved): +" in out and "2,000 paired bootstrap resamples" in out
    assert "Rows that moved most:" in out
    assert "600 row(s) in 1 task(s)" in err
    assert server.secret not in out + err


def test_json_holds_every_row_before_and_after_as_a_plain_predict_gives_them(
    server: EmbeddedServer, client: ModelClient, credit_csv: Path
) -> None:
    code, out, err = bulk(server, CREDIT, credit_csv, *EDITS, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["analysis"] == "bulk" and data["tasks"] == 1
    assert len(data["summary"]) == 300 and len(data["rows"]) == 600
    schema = client.schema(CREDIT, DEMO_BUCKET)
    frame = credit_frame(300).drop(columns="approved")
    rows = [schema.from_row(r) for r in frame.to_dict("records")]
    edited = [
        {**r, "average_monthly_income": r["average_monthly_income"] * 1.1, "employment_status": "Employed"}
        for r in rows
    ]
    before = client.predict(to_request_frame(schema, rows), CREDIT, DEMO_BUCKET).predictions
    after = client.predict(to_request_frame(schema, edited), CREDIT, DEMO_BUCKET).predictions
    labels = {0: "rejected", 1: "approved"}
    pairs = Counter(zip(before["prediction"].map(labels), after["prediction"].map(labels), strict=True))
    assert data["facts"]["transitions"] == {
        a: {b: pairs.get((a, b), 0) for b in labels.values()} for a in labels.values()
    }
    changed = int((before["prediction"] != after["prediction"]).sum())
    assert data["facts"]["class_changed"] == changed
    assert data["facts"]["share_changed"] == pytest.approx(changed / 300)
    first = data["summary"][0]
    assert first["score_before"] == pytest.approx(before["probability_1"][0])
    assert first["score_after"] == pytest.approx(after["probability_1"][0])
    sent = data["rows"][300]
    assert sent["version"] == "after" and sent["employment_status_Employed"] == 1 and "probability_1" in sent


def test_csv_prints_every_row_with_before_and_after(server: EmbeddedServer, titanic_csv: Path) -> None:
    code, out, err = bulk(
        server,
        TITANIC_PATH,
        titanic_csv,
        "--edit",
        "sex:male->female",
        "--where",
        "age < 30 and pclass == 3rd",
        "--format",
        "csv",
    )
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert len(table) == 400
    assert {
        "row",
        "matched",
        "sex_before",
        "sex_after",
        "score_before",
        "score_after",
        "class_before",
        "class_after",
    } <= set(table.columns)
    passengers = titanic_frame().head(400)
    picked = ((passengers["age"] < 30) & (passengers["pclass"] == 2)).to_numpy()
    assert (table["matched"].to_numpy() == picked).all()
    assert set(table.loc[picked, "sex_after"]) == {"female"}
    assert (table.loc[~picked, "sex_before"] == table.loc[~picked, "sex_after"]).all()
    assert (table.loc[~picked, "change"] == 0).all()


def test_rows_outside_the_range_can_be_left_out(server: EmbeddedServer, titanic_csv: Path) -> None:
    code, out, err = bulk(server, TITANIC_PATH, titanic_csv, "--edit", "age+=30", "--drop-outside", "--format", "json")
    assert code == 0, err
    facts = json.loads(out)["facts"]
    assert facts["outside"] > 0 and facts["left_out"] == facts["outside"]
    assert facts["rows"] == 400 - facts["outside"]


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--edit", "income*=1.1"), "not a feature"),
        (("--edit", "employment_status+=1"), "one-hot group"),
        (("--edit", "order_amount*=1.1", "--where", "order_amount <"), "The filter"),
        (("--edit", "order_amount*=1.1", "--where", "__import__('os').system('id')"), "The filter"),
        (("--edit", "order_amount*=1.1", "--where", "order_amount > 1e12"), "matches none"),
        (("--edit", "order_amount*=1.1", "--score-class", "7"), "not a class"),
    ],
)
def test_errors_are_one_sentence_and_exit_1(
    server: EmbeddedServer, credit_csv: Path, flags: tuple[str, ...], says: str
) -> None:
    code, out, err = bulk(server, CREDIT, credit_csv, *flags)
    assert code == 1 and out == ""
    message = err.strip()
    assert message.startswith("error: ") and says in message
    assert one_sentence(message.removeprefix("error: ")), message


def test_a_file_that_does_not_fit_is_one_sentence(server: EmbeddedServer, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    code, _, err = bulk(server, CREDIT, wrong, *EDITS)
    assert code == 1 and err.startswith("error: The file has no column for") and len(err.strip().splitlines()) == 1
    code, _, err = bulk(server, CREDIT, tmp_path / "missing.csv", *EDITS)
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_an_edit_is_required(server: EmbeddedServer, credit_csv: Path) -> None:
    code, _, err = bulk(server, CREDIT, credit_csv)
    assert code == 2 and "--edit" in err
