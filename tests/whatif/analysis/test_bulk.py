"""Scoring a file: read as the what-if page imports, sent in tasks, failures named, metrics as scikit-learn's.

The big run goes to the real reference server (25,000 rows in three tasks, every answer checked
against the same model run in this process); the failures go through a real local HTTP proxy in
front of it that breaks one task on purpose; the metrics are checked against scikit-learn on the
same predictions, and the threshold's confusion matrix against one counted by hand.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from tests.whatif.analysis.explore_support import Counted, loaded, one_sentence
from whatif.analysis import AnalysisError
from whatif.analysis.bulk import (
    ScoredRows,
    ScoreProgress,
    classification_metrics,
    filter_rows,
    other_columns,
    predicted_classes,
    read_rows_file,
    regression_metrics,
    score_rows,
    slice_metrics,
    slices_of,
    target_column,
    truth_values,
)
from whatif.analysis.runner import AnswerCache, BatchPredictor, in_process_predict
from whatif.client import ModelClient
from whatif.errors import TaskFailed
from whatif.rowsfile import RowsFileError, read_form_rows
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import (
    CREDIT_PATHS,
    DEMO_BUCKET,
    DEMO_EMAIL,
    DEMO_USER,
    DIABETES_PATH,
    TITANIC_PATH,
    credit_frame,
    diabetes_data,
    titanic_frame,
)

PREDICT_PATH = "/api/v1/proxy/pipeline/model/predict"
SCHEMA = FeatureSchema(
    (
        Feature("age", "number", 0, 100, 30),
        Feature("children", "integer", 0, 9, 0),
        Feature("sex", "integer", 0, 1, 0, {"0": "female", "1": "male"}),
        Feature(
            "employment",
            "one_hot",
            columns={"Employed": "employment_Employed", "Retired": "employment_Retired"},
            none_label="Other",
        ),
        Feature("owner", "boolean", default=False),
    ),
    task="regression",
    target="income",
)


# ---- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schemas(server: EmbeddedServer) -> dict[str, FeatureSchema]:
    with ModelClient(server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL) as client:
        return {path: client.schema(path, DEMO_BUCKET) for path in (TITANIC_PATH, CREDIT_PATHS[1], DIABETES_PATH)}


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def titanic_file(rows: int) -> pd.DataFrame:
    """``rows`` passengers of titanic3 (label-encoded, with ``survived``), repeated with ages moved so rows differ."""
    frame = titanic_frame()
    big = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True).head(rows)
    big["age"] = (big["age"] + (np.arange(rows) % 37) / 4).round(2)
    return big


class CountedBatch(BatchPredictor):
    """The app's predict (tasks of the real server) that also notes the rows of each call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[int] = []

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(len(rows))
        return super().__call__(rows)


def scored_in_process(
    server: EmbeddedServer, schema: FeatureSchema, path: str, rows: pd.DataFrame, **options: Any
) -> ScoredRows:
    return score_rows(schema, rows, in_process_predict(loaded(server, path)), **options)


# ---- reading a file ---------------------------------------------------------------------------------------
SAME_AS_THE_WHAT_IF_IMPORT = [
    "id,age,children,sex,employment,owner,income\n7,41.5,2,male,Retired,yes,1\n8,22,0,0,Other,no,0\n",
    "age;children;sex;employment_Employed;employment_Retired;owner\n41,5;2;1;1;0;0\n22,25;0;0;0;0;1\n",
    "age\tchildren\tsex\temployment\towner\n 41.5 \t2\tFEMALE\tEmployed\ttrue\n\n30\t1\t1\tOther\tfalse\n",
    "age,children,sex,employment,owner,age\n1,2,0,Retired,no,55\n",  # a name given twice: its last column
    "\ufeffage,children,sex,employment_Employed,employment_Retired,owner,note\n30,1,0,0,1,0,x\n31,1,0,0,0,1\n",
]
REFUSED_ALIKE = [
    "age,children,sex,employment,owner\n" + "abc,1.5,female,Employed,no\n" * 4,
    "age,children,sex,employment_Employed,employment_Retired,owner\n30,1,0,1,1,0\nx,1,0,0,0,1\n,1,2,1,0,maybe\n",
    "age,children,sex,employment,owner\n30,1,0,Employed\n",  # a short line: its missing cells are blank
    "age,children\n30,1\n",
    "age,children,sex,employment,owner\n",
    "\x00\x01binary",
]


@pytest.mark.parametrize("text", SAME_AS_THE_WHAT_IF_IMPORT)
def test_a_file_reads_as_the_what_if_import_reads_it(text: str) -> None:
    data = text.encode()
    expected = read_form_rows(SCHEMA, data)
    rows = read_rows_file(SCHEMA, data, "rows.csv")
    pd.testing.assert_frame_equal(rows[list(expected.columns)], expected)
    assert list(rows.columns[: len(expected.columns)]) == list(expected.columns)  # the inputs first


@pytest.mark.parametrize("text", REFUSED_ALIKE)
def test_a_bad_file_is_refused_with_the_same_sentence_as_the_what_if_import(text: str) -> None:
    with pytest.raises(RowsFileError) as theirs:
        read_form_rows(SCHEMA, text.encode())
    with pytest.raises(RowsFileError) as ours:
        read_rows_file(SCHEMA, text.encode(), "rows.csv")
    assert str(ours.value) == str(theirs.value)


def test_the_first_five_bad_values_are_named_by_line_and_field_and_no_row_is_used() -> None:
    text = "age,children,sex,employment,owner\n30,1,0,Other,no\n" + "abc,1.5,female,Employed,no\n" * 3
    with pytest.raises(RowsFileError) as refused:
        read_rows_file(SCHEMA, text.encode(), "rows.csv")
    message = str(refused.value)
    assert message == (
        "Some values cannot be used, so no row was: line 3, age: expected a number, got 'abc'; "
        "line 3, children: expected a whole number, got 1.5; line 4, age: expected a number, got "
        "'abc'; line 4, children: expected a whole number, got 1.5; line 5, age: expected a number, "
        "got 'abc'."
    )


def test_the_other_columns_are_kept_as_text_and_the_target_is_found_by_name() -> None:
    text = "ID,age,children,sex,employment,owner,Income\nA7,41.5,2,male,Retired,yes,1200\nB8,22,0,0,Other,no,\n"
    rows = read_rows_file(SCHEMA, text.encode(), "rows.csv")
    assert other_columns(SCHEMA, rows) == ["ID", "Income"]
    assert list(rows["ID"]) == ["A7", "B8"] and list(rows["Income"]) == ["1200", ""]
    assert target_column(SCHEMA, rows) == "Income"  # named as the schema's target, in another case
    assert target_column(SCHEMA, rows.drop(columns="Income")) is None


def test_up_to_the_limit_of_rows() -> None:
    text = "age,children,sex,employment,owner\n" + "30,1,0,Other,no\n" * 11
    assert len(read_rows_file(SCHEMA, text.encode(), "rows.csv", limit=11)) == 11
    with pytest.raises(RowsFileError, match="11 rows; at most 10"):
        read_rows_file(SCHEMA, text.encode(), "rows.csv", limit=10)


def test_100000_rows_read_in_well_under_the_import_of_the_what_if_page(schemas: dict[str, FeatureSchema]) -> None:
    import time

    data = csv_bytes(titanic_file(100_000))
    started = time.perf_counter()
    rows = read_rows_file(schemas[TITANIC_PATH], data, "passengers.csv")
    elapsed = time.perf_counter() - started
    assert len(rows) == 100_000 and elapsed < 3.0, elapsed  # ~0.5 s here; read_form_rows takes ~2 s


def test_an_excel_sheet_without_openpyxl_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from whatif.analysis import bulk

    monkeypatch.setattr(bulk, "excel_available", lambda: False)
    with pytest.raises(RowsFileError) as refused:
        read_rows_file(SCHEMA, b"PK\x03\x04", "rows.xlsx")
    assert "openpyxl" in str(refused.value) and one_sentence(str(refused.value))
    with pytest.raises(RowsFileError, match="save the sheet as .xlsx or as CSV"):
        read_rows_file(SCHEMA, b"\xd0\xcf", "rows.xls")


def test_an_excel_sheet_reads_like_its_csv(tmp_path: Any) -> None:
    pytest.importorskip("openpyxl")
    frame = pd.DataFrame(
        {
            "age": [41.5, 22],
            "children": [2, 0],
            "sex": ["male", 0],
            "employment": ["Retired", "Other"],
            "owner": ["yes", "no"],
            "income": [1200, None],
        }
    )
    path = tmp_path / "rows.xlsx"
    frame.to_excel(path, index=False)
    rows = read_rows_file(SCHEMA, path.read_bytes(), "rows.xlsx")
    expected = read_form_rows(SCHEMA, csv_bytes(frame))
    pd.testing.assert_frame_equal(rows[list(expected.columns)], expected)
    assert list(rows["income"]) == ["1200", ""]


# ---- scoring against the real server ------------------------------------------------------------------------
def test_25000_rows_go_in_three_tasks_and_every_answer_is_the_models_own(
    server: EmbeddedServer, client: ModelClient, schemas: dict[str, FeatureSchema]
) -> None:
    schema = schemas[TITANIC_PATH]
    rows = read_rows_file(schema, csv_bytes(titanic_file(25_000)), "passengers.csv")
    batch = CountedBatch(client, TITANIC_PATH, DEMO_BUCKET, connection_key="test", cache=AnswerCache(0))
    seen: list[ScoreProgress] = []
    scored = score_rows(schema, rows, batch, on_progress=seen.append)

    assert scored.complete and scored.problem is None and scored.rows == 25_000
    assert batch.calls == [10_000, 10_000, 5_000] and batch.tasks_sent == 3 and scored.tasks == 3
    local = in_process_predict(loaded(server, TITANIC_PATH))(
        rows[schema.input_columns].reset_index(drop=True)
    )  # Titanic has no one-hot group: form = request
    answer_columns = ["prediction", "probability_0", "probability_1"]
    pd.testing.assert_frame_equal(scored.frame[answer_columns], local[answer_columns], check_dtype=False)
    assert list(scored.frame["row"]) == list(range(1, 25_001))
    pd.testing.assert_frame_equal(
        scored.frame[[f.name for f in schema.features]], rows[[f.name for f in schema.features]]
    )
    assert scored.frame["score"].equals(scored.frame["probability_1"].astype(float))
    assert set(scored.frame["predicted_label"]) <= {"died", "survived"}

    done = [p for p in seen if p.state == "DONE"]
    assert [(p.rows_done, p.tasks_done) for p in done] == [(10_000, 1), (20_000, 2), (25_000, 3)]
    assert any(p.state not in ("SENDING", "DONE") for p in seen)  # the task's own states, while it is waited for
    assert all(p.tasks_total == 3 and p.rows_total == 25_000 for p in seen)


def test_wide_rows_go_in_smaller_tasks_each_one_call(client: ModelClient, schemas: dict[str, FeatureSchema]) -> None:
    schema = schemas[TITANIC_PATH]
    rows = read_rows_file(schema, csv_bytes(titanic_file(3_000)), "passengers.csv")
    batch = CountedBatch(
        client, TITANIC_PATH, DEMO_BUCKET, connection_key="test", cache=AnswerCache(0), max_body_bytes=100_000
    )  # a few hundred rows a task
    scored = score_rows(schema, rows, batch)
    # each call is as many rows as fit a body (by a sample of the file); the predictor splits a call whose own
    # sample of rows is wider, so tasks may outnumber calls a little, never the other way round
    assert scored.complete and len(batch.calls) == scored.tasks > 2 and batch.tasks_sent >= scored.tasks
    assert sum(batch.calls) == 3_000 and len(set(batch.calls[:-1])) == 1 and batch.calls[0] < 1_500


# ---- a misbehaving server: a real local proxy that breaks one task --------------------------------------------
class BreakingProxy:
    """Forwards every request to the reference server; the ``nth`` submit's task then fails (or never ends)."""

    def __init__(self, target: str, nth: int, mode: str = "fail") -> None:
        self.target, self.nth, self.mode = target, nth, mode
        self.submits = 0
        self.broken: set[str] = set()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                task = self.path.split("?")[0].rsplit("/", 1)[-1]
                if "/info/" in self.path and task in proxy.broken:
                    state = (
                        {"state": "FAILURE", "error": {"type": "ProxyError", "message": "broken on purpose"}}
                        if proxy.mode == "fail"
                        else {"state": "STARTED"}
                    )
                    self._send(200, json.dumps(state).encode())
                    return
                self._forward(b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = self._forward(body, send=False)
                if status == 200 and self.path.startswith(PREDICT_PATH):
                    with proxy.lock:
                        proxy.submits += 1
                        if proxy.submits == proxy.nth:
                            proxy.broken.add(json.loads(answer)["id"])
                self._send(status, answer)

            def _forward(self, body: bytes, send: bool = True) -> tuple[int, bytes]:
                request = urllib.request.Request(
                    proxy.target + self.path,
                    data=body or None,
                    method=self.command,
                    headers={k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")},
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, data = answer.status, answer.read()
                except urllib.error.HTTPError as error:
                    status, data = error.code, error.read()
                if send:
                    self._send(status, data)
                return status, data

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def predict_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{PREDICT_PATH}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def proxy_for(server: EmbeddedServer) -> Iterator[Any]:
    made: list[BreakingProxy] = []

    def make(nth: int, mode: str = "fail") -> BreakingProxy:
        made.append(BreakingProxy(server.predict_url.split("/api/")[0], nth, mode))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


@pytest.mark.parametrize(
    ("mode", "reason"), [("fail", "ended in FAILURE: ProxyError: broken on purpose"), ("hang", "Timed out after")]
)
def test_a_task_that_fails_halfway_is_named_with_its_rows_and_the_rows_before_it_are_kept(
    server: EmbeddedServer, schemas: dict[str, FeatureSchema], proxy_for: Any, mode: str, reason: str
) -> None:
    schema = schemas[TITANIC_PATH]
    rows = read_rows_file(schema, csv_bytes(titanic_file(2_500)), "passengers.csv")
    proxy = proxy_for(2, mode)
    with ModelClient(
        proxy.predict_url,
        secret=server.secret,
        user_id=DEMO_USER,
        email=DEMO_EMAIL,
        poll_deadline_s=1.5,
        long_poll_s=0.5,
    ) as client:
        batch = BatchPredictor(client, TITANIC_PATH, DEMO_BUCKET, connection_key="proxy", cache=AnswerCache(0))
        scored = score_rows(schema, rows, batch, rows_per_task=1_000)

    assert not scored.complete and scored.rows == 1_000 and scored.tasks == 1 and scored.tasks_total == 3
    assert scored.problem is not None and one_sentence(scored.problem), scored.problem
    assert scored.problem.startswith("Task 2 of 3 (rows 1,001-2,000) failed: ")
    assert reason in scored.problem
    assert scored.problem.endswith("; rows 1-1,000 are scored and kept.")
    assert server.secret not in scored.problem
    local = in_process_predict(loaded(server, TITANIC_PATH))(rows[schema.input_columns].head(1_000))
    assert np.array_equal(scored.frame["probability_1"].to_numpy(), local["probability_1"].to_numpy())


# ---- stopping, progress, odd answers (in-process models) -------------------------------------------------------
def test_a_stop_between_tasks_keeps_the_rows_scored(server: EmbeddedServer, schemas: dict[str, FeatureSchema]) -> None:
    schema = schemas[TITANIC_PATH]
    rows = titanic_file(250)
    counted = Counted(in_process_predict(loaded(server, TITANIC_PATH)))
    scored = score_rows(schema, rows, counted, rows_per_task=100, should_stop=lambda: len(counted.calls) >= 2)
    assert counted.calls == [100, 100] and scored.rows == 200 and not scored.complete
    assert (
        scored.problem == "Stopped before task 3 of 3: rows 1-200 are scored and kept; score the file again for "
        "the rest."
    )
    whole = score_rows(schema, rows, in_process_predict(loaded(server, TITANIC_PATH)), rows_per_task=100)
    pd.testing.assert_frame_equal(scored.frame, whole.frame.head(200))


def test_progress_says_rows_tasks_elapsed_and_the_time_left_at_the_rate_so_far(
    server: EmbeddedServer, schemas: dict[str, FeatureSchema]
) -> None:
    now = [100.0]
    local = in_process_predict(loaded(server, TITANIC_PATH))

    def slow(rows: pd.DataFrame) -> pd.DataFrame:
        now[0] += 2.0  # each task takes two seconds
        return local(rows)

    seen: list[ScoreProgress] = []
    scored = score_rows(
        schemas[TITANIC_PATH], titanic_file(400), slow, rows_per_task=100, on_progress=seen.append, clock=lambda: now[0]
    )
    assert [(p.state, p.rows_done, p.tasks_done, p.elapsed_s) for p in seen] == [
        ("SENDING", 0, 0, 0.0),
        ("DONE", 100, 1, 2.0),
        ("SENDING", 100, 1, 2.0),
        ("DONE", 200, 2, 4.0),
        ("SENDING", 200, 2, 4.0),
        ("DONE", 300, 3, 6.0),
        ("SENDING", 300, 3, 6.0),
        ("DONE", 400, 4, 8.0),
    ]
    assert seen[0].eta_s is None and seen[1].eta_s == pytest.approx(6.0)
    assert seen[1].text() == "100 of 400 rows · task 2 of 4 · 2.0 s · about 6 s left"
    assert seen[1].text(elapsed_s=3.0) == "100 of 400 rows · task 2 of 4 · 3.0 s · about 5 s left"
    assert seen[-1].text() == "400 of 400 rows · done · 8.0 s"
    assert scored.elapsed_s == 8.0 and scored.tasks == 4


def test_a_failing_call_or_a_wrong_number_of_answers_ends_the_run_with_one_sentence(
    server: EmbeddedServer, schemas: dict[str, FeatureSchema]
) -> None:
    schema = schemas[TITANIC_PATH]
    local = in_process_predict(loaded(server, TITANIC_PATH))
    calls: list[int] = []

    def fails_second(rows: pd.DataFrame) -> pd.DataFrame:
        calls.append(len(rows))
        if len(calls) == 2:
            raise TaskFailed(
                "Prediction task t-2 ended in FAILURE: boom; check the input values.",
                task_id="t-2",
                state="FAILURE",
                detail="boom",
            )
        return local(rows)

    scored = score_rows(schema, titanic_file(250), fails_second, rows_per_task=100)
    assert scored.problem == (
        "Task 2 of 3 (rows 101-200) failed: Prediction task t-2 ended in FAILURE: boom; check "
        "the input values; rows 1-100 are scored and kept."
    )
    assert scored.rows == 100 and calls == [100, 100]

    scored = score_rows(schema, titanic_file(250), lambda rows: local(rows).head(5), rows_per_task=100)
    assert scored.rows == 0 and scored.problem is not None and one_sentence(scored.problem)
    assert "answered with 5 rows for 100" in scored.problem and scored.problem.endswith("no row was scored.")


def test_one_hot_inputs_are_sent_as_their_columns_and_kept_as_labels(
    server: EmbeddedServer, schemas: dict[str, FeatureSchema]
) -> None:
    schema = schemas[CREDIT_PATHS[1]]
    rows = read_rows_file(schema, csv_bytes(credit_frame(600)), "applications.csv")
    counted = Counted(in_process_predict(loaded(server, CREDIT_PATHS[1])))
    scored = score_rows(schema, rows, counted, rows_per_task=250)
    assert counted.calls == [250, 250, 100]
    assert set(scored.frame["employment_status"]) == {"Employed", "Self-Employed", "Contract", "Other"}
    assert "employment_status_Employed" not in scored.frame.columns
    assert list(scored.frame.columns[-4:]) == ["probability_0", "probability_1", "score", "predicted_label"]


def test_a_bookkeeping_name_taken_by_an_input_gets_a_prefix() -> None:
    schema = FeatureSchema(
        (Feature("score", "number", 0, 10, 1), Feature("row", "integer", 0, 9, 0)), task="regression", target="y"
    )
    rows = pd.DataFrame({"score": [1.0, 2.0], "row": [3, 4]})
    scored = score_rows(schema, rows, lambda r: pd.DataFrame({"prediction": r["score"] * 10}))
    assert list(scored.frame.columns) == ["scored_row", "score", "row", "prediction", "scored_score"]
    assert list(scored.frame["scored_score"]) == [10.0, 20.0] and scored.column("score") == "scored_score"


# ---- metrics ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def titanic_scored(server: EmbeddedServer, schemas: dict[str, FeatureSchema]) -> tuple[ScoredRows, pd.Series]:
    """titanic3 (1,309 passengers), read from its labelled file and scored by the Titanic model."""
    schema = schemas[TITANIC_PATH]
    rows = read_rows_file(schema, csv_bytes(titanic_frame()), "titanic3.csv")
    assert target_column(schema, rows) == "survived"
    truth = truth_values(schema, rows["survived"], "survived")
    return scored_in_process(server, schema, TITANIC_PATH, rows), truth


def test_classifier_metrics_are_scikit_learns_on_the_same_predictions(
    titanic_scored: tuple[ScoredRows, pd.Series],
) -> None:
    scored, truth = titanic_scored
    result = classification_metrics(scored, truth)
    y = truth.astype(str).to_numpy()
    predicted = scored.frame["prediction"].astype(str).to_numpy()
    probabilities = scored.frame[["probability_0", "probability_1"]].to_numpy()
    assert result.rows == 1_309 and result.left_out == 0
    assert result.accuracy == pytest.approx(sk.accuracy_score(y, predicted))
    assert result.roc_auc == pytest.approx(sk.roc_auc_score(y == "1", probabilities[:, 1]))
    assert result.log_loss == pytest.approx(sk.log_loss(y, probabilities, labels=["0", "1"]))
    assert result.accuracy > 0.75 and result.roc_auc is not None and result.roc_auc > 0.8
    expected = sk.confusion_matrix(y, predicted, labels=["0", "1"])
    assert result.confusion.to_numpy().tolist() == expected.tolist()
    assert list(result.confusion.index) == ["died", "survived"] == list(result.confusion.columns)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.65])
def test_the_threshold_redraws_the_matrix_as_counted_by_hand(
    titanic_scored: tuple[ScoredRows, pd.Series], threshold: float
) -> None:
    scored, truth = titanic_scored
    result = classification_metrics(scored, truth, threshold=threshold)
    survived = truth.to_numpy() == "1"
    says = scored.frame["probability_1"].to_numpy() >= threshold
    by_hand = [
        [int(np.sum(~survived & ~says)), int(np.sum(~survived & says))],
        [int(np.sum(survived & ~says)), int(np.sum(survived & says))],
    ]
    assert result.confusion.to_numpy().tolist() == by_hand
    assert result.accuracy == pytest.approx((by_hand[0][0] + by_hand[1][1]) / len(truth))
    assert result.precision == pytest.approx(by_hand[1][1] / max(1, by_hand[0][1] + by_hand[1][1]))
    assert result.recall == pytest.approx(by_hand[1][1] / (by_hand[1][0] + by_hand[1][1]))
    assert result.roc_auc == pytest.approx(classification_metrics(scored, truth).roc_auc)  # not the threshold's
    assert result.threshold == threshold


def test_moving_the_threshold_moves_rows_between_the_columns(titanic_scored: tuple[ScoredRows, pd.Series]) -> None:
    scored, truth = titanic_scored
    low, high = (classification_metrics(scored, truth, threshold=t).confusion for t in (0.2, 0.8))
    assert low["survived"].sum() > high["survived"].sum()
    assert low.to_numpy().sum() == high.to_numpy().sum() == 1_309
    assert list(predicted_classes(scored, 0.0)) == ["1"] * 1_309


@pytest.mark.parametrize(
    ("by", "slices"), [("pclass", {"1st", "2nd", "3rd"}), ("sex", {"female", "male"}), ("age", None), ("sibsp", None)]
)
def test_slices_add_up_to_the_whole_and_come_worst_first(
    titanic_scored: tuple[ScoredRows, pd.Series], by: str, slices: set[str] | None
) -> None:
    scored, truth = titanic_scored
    whole = classification_metrics(scored, truth, threshold=0.4)
    table = slice_metrics(scored, truth, by, bins=4, threshold=0.4)
    assert int(table["rows"].sum()) == whole.rows
    assert (table["accuracy"] * table["rows"]).sum() == pytest.approx(whole.accuracy * whole.rows)
    assert list(table["accuracy"]) == sorted(table["accuracy"])
    if slices is not None:
        assert set(table["slice"]) == slices
    else:
        assert 2 <= len(table) <= 4
    if by == "age":
        assert table["slice"].str.fullmatch(r"[\d.]+ to [\d.]+").all(), list(table["slice"])
        assert str(slices_of(scored, "age", 4).iloc[int(scored.frame["age"].argmin())]).startswith(
            f"{scored.frame['age'].min():.4g} to "
        )


def test_rows_without_a_true_value_are_left_out(titanic_scored: tuple[ScoredRows, pd.Series]) -> None:
    scored, truth = titanic_scored
    gaps = truth.copy()
    gaps.iloc[:9] = None
    result = classification_metrics(scored, gaps)
    assert (result.rows, result.left_out) == (1_300, 9)
    assert int(slice_metrics(scored, gaps, "sex")["rows"].sum()) == 1_300


def test_the_credit_sample_one_hot_slices_and_labels_as_true_values(
    server: EmbeddedServer, schemas: dict[str, FeatureSchema]
) -> None:
    schema = schemas[CREDIT_PATHS[1]]
    frame = credit_frame(1_000)
    frame["approved"] = frame["approved"].map({0: "rejected", 1: "approved"})  # written as labels
    rows = read_rows_file(schema, csv_bytes(frame), "applications.csv")
    scored = scored_in_process(server, schema, CREDIT_PATHS[1], rows)
    truth = truth_values(schema, rows["approved"], "approved")
    assert set(truth) == {"0", "1"}
    result = classification_metrics(scored, truth)
    y = truth.to_numpy(dtype=str)
    assert result.accuracy == pytest.approx(sk.accuracy_score(y, scored.frame["prediction"].astype(str)))
    assert result.roc_auc == pytest.approx(sk.roc_auc_score(y == "1", scored.frame["probability_1"]))
    table = slice_metrics(scored, truth, "employment_status")
    assert set(table["slice"]) == {"Employed", "Self-Employed", "Contract", "Other"}
    assert int(table["rows"].sum()) == 1_000


def test_regression_metrics_are_scikit_learns_and_the_slices_add_up(
    server: EmbeddedServer, schemas: dict[str, FeatureSchema]
) -> None:
    schema = schemas[DIABETES_PATH]
    x, y = diabetes_data()
    rows = read_rows_file(schema, csv_bytes(x.assign(progression=y)), "patients.csv")
    scored = scored_in_process(server, schema, DIABETES_PATH, rows)
    truth = truth_values(schema, rows["progression"], "progression")
    result = regression_metrics(scored, truth)
    predicted = scored.frame["prediction"].to_numpy(dtype=float)
    assert result.r2 == pytest.approx(sk.r2_score(y, predicted))
    assert result.mae == pytest.approx(sk.mean_absolute_error(y, predicted))
    assert result.rmse == pytest.approx(np.sqrt(sk.mean_squared_error(y, predicted)))
    assert len(result.points) == 442
    table = slice_metrics(scored, truth, "bmi", bins=5)
    assert len(table) == 5 and int(table["rows"].sum()) == 442
    assert (table["mae"] * table["rows"]).sum() == pytest.approx(result.mae * 442)
    assert list(table["mae"]) == sorted(table["mae"], reverse=True)
    with pytest.raises(AnalysisError, match="for classifiers"):
        classification_metrics(scored, truth)


def test_true_values_are_class_keys_or_labels_and_bad_ones_are_named(schemas: dict[str, FeatureSchema]) -> None:
    schema = schemas[TITANIC_PATH]
    values = pd.Series(["1", "0.0", "Survived", "died", "", "1.0"])
    keys = truth_values(schema, values, "survived")
    assert list(keys.fillna("blank")) == ["1", "0", "1", "0", "blank", "1"]
    with pytest.raises(AnalysisError) as refused:
        truth_values(schema, pd.Series(["1", "maybe", "2", "0"]), "survived")
    assert str(refused.value) == (
        "The column 'survived' has values that are none of the model's classes (0 = died, "
        "1 = survived): 'maybe' on line 3 and '2' on line 4; choose another column."
    )
    assert one_sentence(str(refused.value))
    regression = schemas[DIABETES_PATH]
    assert list(truth_values(regression, pd.Series(["151", "", "75.5"]))) == pytest.approx(
        [151.0, np.nan, 75.5], nan_ok=True
    )
    with pytest.raises(AnalysisError, match="must hold numbers.*'high' on line 2"):
        truth_values(regression, pd.Series(["high", "75"]), "progression")


# ---- filtering the table ----------------------------------------------------------------------------------------
def test_the_filter_reads_conditions_by_code_label_number_and_text(
    titanic_scored: tuple[ScoredRows, pd.Series],
) -> None:
    scored, _ = titanic_scored
    frame, schema = scored.frame, scored.schema
    old_men = filter_rows(frame, "age > 60 and sex = male", schema)
    assert len(old_men) == int(((frame["age"] > 60) & (frame["sex"] == 1)).sum()) > 0
    assert filter_rows(frame, "AGE>60; Sex=1", schema).equals(old_men)
    assert filter_rows(frame, "pclass != 1st", schema)["pclass"].isin([1, 2]).all()
    survivors = filter_rows(frame, "predicted_label = Survived", schema)
    assert len(survivors) == int((frame["predicted_label"] == "survived").sum())
    assert filter_rows(frame, "   ", schema) is frame
    assert len(filter_rows(frame, "score >= 0,5", schema)) == int((frame["score"] >= 0.5).sum())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("agee > 3", "'agee' is not a column of the table"),
        ("age is old", "cannot be read as a condition"),
        ("age > old", "holds numbers"),
        ("pclass = 4th", "none of the labels"),
        ("predicted_label > a", "can only be compared with = or !="),
    ],
)
def test_a_filter_that_cannot_be_read_is_one_sentence(
    titanic_scored: tuple[ScoredRows, pd.Series], text: str, words: str
) -> None:
    scored, _ = titanic_scored
    with pytest.raises(AnalysisError) as refused:
        filter_rows(scored.frame, text, scored.schema)
    assert words in str(refused.value) and one_sentence(str(refused.value)), str(refused.value)
