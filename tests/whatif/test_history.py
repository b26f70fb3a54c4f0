"""The run history: what an analyst relies on (runs kept, per model version, exportable)."""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from whatif.history import HistoryKey, HistoryUnavailable, Run, RunStore, parse_runs_csv

KEY = HistoryKey(
    connection="http://127.0.0.1:8000/api/v1/proxy/pipeline/model/predict",
    user_id="1",
    bucket="storage.datrics.ai",
    path="1/4/model-groups/1/1.json",
)
FEATURES = ["pclass", "sex", "age", "fare"]


def run_values(n: int = 0, **changes: Any) -> dict[str, Any]:
    """The keyword arguments of RunStore.add for a Titanic-like classifier run."""
    p = round(0.1 + 0.8 * ((n * 37) % 100) / 100, 4)
    values: dict[str, Any] = {
        "inputs": {"pclass": "1st", "sex": "female" if n % 2 else "male", "age": 20 + n, "fare": 7.25 + n},
        "row": {"pclass_1": 1, "pclass_2": 0, "pclass_3": 0, "sex": n % 2, "age": 20 + n, "fare": 7.25 + n},
        "prediction": int(p > 0.5),
        "label": "survived" if p > 0.5 else "died",
        "score": p,
        "probabilities": {"0": round(1 - p, 4), "1": p},
        "task_id": f"task-{n}",
        "elapsed_ms": 120.5 + n,
        "model_name": "titanic",
        "model_version": 1,
    }
    values.update(changes)
    return values


@contextmanager
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A URL whose tables land in a new, empty schema of the test session's PostgreSQL database.

    The schema is dropped at the end, so tests never see each other's runs (a schema costs far
    less than a database). ``search_path`` is set by the URL, as a team might set it.
    """
    schema = f"history_{secrets.token_hex(6)}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# Fixtures named with name= so that other test modules can import them (tests/whatif/test_history_*.py).
@pytest.fixture(name="postgres_schema_url")
def postgres_schema_url_fixture(postgres_url: str) -> Iterator[str]:
    """An empty history of this test's own on PostgreSQL (see ``postgres_schema``)."""
    with postgres_schema(postgres_url) as url:
        yield url


@pytest.fixture(name="sqlite_url")
def sqlite_url_fixture(tmp_path: Path) -> str:
    return RunStore.default_url(tmp_path / "home")


@pytest.fixture(name="url", params=["sqlite", "postgresql"])
def url_fixture(request: pytest.FixtureRequest) -> str:
    """An empty history on each database the app supports: a SQLite file, and PostgreSQL for a team."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_schema_url"))


@pytest.fixture()
def store(url: str) -> Iterator[RunStore]:
    s = RunStore.from_url(url)
    yield s
    s.close()


def add_runs(store: RunStore, key: HistoryKey, count: int) -> list[Run]:
    return [store.add(key, **run_values(n)) for n in range(count)]


# ---- saving and reading -------------------------------------------------------------------------
def test_a_saved_run_reads_back_with_every_field(store: RunStore) -> None:
    before = datetime.now(UTC)
    run = store.add(
        KEY,
        inputs={"pclass": "2nd", "sex": "female", "age": np.int64(29), "fare": np.float64(211.3375)},
        row={"pclass_2": 1, "sex": 1, "age": 29, "fare": 211.3375},
        prediction=np.int64(1),
        label="survived",
        score=0.93,
        probabilities={0: 0.07, 1: 0.93},
        task_id="abc-123",
        elapsed_ms=412.5,
        model_name="titanic",
        model_version=3,
        name="rich aunt",
    )

    assert run.key == KEY
    assert before <= run.created_at <= datetime.now(UTC)
    assert run.created_at.tzinfo is not None and run.created_at.utcoffset() == timedelta(0)
    assert run.model_name == "titanic" and run.model_version == 3
    assert run.inputs == {"pclass": "2nd", "sex": "female", "age": 29, "fare": 211.3375}
    assert type(run.inputs["age"]) is int  # numpy scalars are stored as plain numbers
    assert run.row == {"pclass_2": 1, "sex": 1, "age": 29, "fare": 211.3375}
    assert run.prediction == 1 and type(run.prediction) is int
    assert (run.label, run.score) == ("survived", 0.93)
    assert run.probabilities == {"0": 0.07, "1": 0.93}
    assert (run.task_id, run.elapsed_ms, run.name, run.is_baseline, run.source) == (
        "abc-123",
        412.5,
        "rich aunt",
        False,
        "form",
    )
    assert store.runs(KEY) == [run]
    assert store.get(run.id) == run
    assert store.count(KEY) == 1


def test_a_regression_run_keeps_its_number_and_no_probabilities(store: RunStore) -> None:
    run = store.add(
        KEY,
        **run_values(
            prediction=148.5, label="148.5", score=148.5, probabilities={}, elapsed_ms=None, model_version=None
        ),
    )
    again = store.get(run.id)
    assert again is not None
    assert (again.prediction, again.label, again.score, again.probabilities) == (148.5, "148.5", 148.5, {})
    assert again.elapsed_ms is None and again.model_version is None
    assert not [c for c in store.frame(KEY).columns if c.startswith("probability_")]


def test_runs_survive_an_app_restart(url: str) -> None:
    first = RunStore.from_url(url)
    saved = add_runs(first, KEY, 3)
    first.set_baseline(KEY, saved[1].id)
    first.rename(saved[2].id, "high fare")
    first.close()

    engine = sa.create_engine(url)  # the app's st.connection engine after a restart
    try:
        reopened = RunStore(engine)
        runs = reopened.runs(KEY)
        assert [r.id for r in runs] == [r.id for r in saved]
        assert [r.inputs for r in runs] == [r.inputs for r in saved]
        assert [r.name for r in runs] == ["", "", "high fare"]
        baseline = reopened.baseline(KEY)
        assert baseline is not None and baseline.id == saved[1].id
    finally:
        engine.dispose()


def test_default_url_is_a_sqlite_file_in_the_data_folder(tmp_path: Path) -> None:
    home = tmp_path / "not" / "yet" / "there"
    assert RunStore.default_url(home) == f"sqlite:///{home}/history.sqlite"
    assert home.is_dir()


@pytest.mark.parametrize(
    "other",
    [
        dataclasses.replace(KEY, path="1/4/model-groups/1/2.json"),  # the next version of the model
        dataclasses.replace(KEY, user_id="2"),
        dataclasses.replace(KEY, connection="https://api.example.com/api/v1/proxy/pipeline/model/predict"),
        dataclasses.replace(KEY, bucket="other-bucket"),
    ],
    ids=["model-version", "user", "connection", "bucket"],
)
def test_each_connection_user_and_model_version_has_its_own_history(store: RunStore, other: HistoryKey) -> None:
    mine = add_runs(store, KEY, 3)
    theirs = store.add(other, **run_values(7))

    assert [r.id for r in store.runs(KEY)] == [r.id for r in mine]
    assert store.runs(other) == [theirs]
    assert (store.count(KEY), store.count(other)) == (3, 1)
    assert store.frame(other)["id"].tolist() == [theirs.id]
    baseline = store.baseline(other)
    assert baseline is not None and baseline.id == theirs.id


# ---- baseline, rename, delete, clear -------------------------------------------------------------
def test_the_baseline_is_the_first_run_until_another_is_pinned(store: RunStore) -> None:
    assert store.baseline(KEY) is None
    a, b, c = add_runs(store, KEY, 3)
    assert store.baseline(KEY) == a

    store.set_baseline(KEY, b.id)
    store.set_baseline(KEY, c.id)
    baseline = store.baseline(KEY)
    assert baseline is not None and baseline.id == c.id and baseline.is_baseline
    assert [r.is_baseline for r in store.runs(KEY)] == [False, False, True]
    assert store.frame(KEY)["is_baseline"].tolist() == [False, False, True]

    store.delete(c.id)  # deleting the pinned run falls back to the first run
    assert store.baseline(KEY) == a


def test_pinning_a_run_of_another_history_changes_nothing(store: RunStore) -> None:
    mine = add_runs(store, KEY, 2)
    store.set_baseline(KEY, mine[1].id)
    other = store.add(dataclasses.replace(KEY, user_id="2"), **run_values())

    store.set_baseline(KEY, other.id)

    baseline = store.baseline(KEY)
    assert baseline is not None and baseline.id == mine[1].id
    assert [r.is_baseline for r in store.runs(KEY)] == [False, True]


def test_a_renamed_run_shows_its_name_everywhere(store: RunStore) -> None:
    run, _ = add_runs(store, KEY, 2)
    store.frame(KEY)  # read once, so a kept copy would show the old name
    store.rename(run.id, "what if she were older")

    renamed = store.get(run.id)
    assert renamed is not None and renamed.name == "what if she were older"
    assert store.frame(KEY)["name"].tolist() == ["what if she were older", ""]
    assert "what if she were older" in store.export_csv(KEY)


def test_the_frame_of_a_new_history_fills_as_runs_are_added(store: RunStore) -> None:
    empty = store.frame(KEY)
    assert empty.empty and list(empty.columns[:8]) == [
        "id",
        "seq",
        "created_at",
        "name",
        "is_baseline",
        "label",
        "prediction",
        "score",
    ]
    first = store.add(KEY, **run_values(1))
    assert store.frame(KEY)["id"].tolist() == [first.id]
    second = store.add(KEY, **run_values(2))
    frame = store.frame(KEY)
    assert frame["id"].tolist() == [first.id, second.id]
    assert frame["age"].tolist() == [21, 22]


def test_delete_removes_only_that_run(store: RunStore) -> None:
    a, b, c = add_runs(store, KEY, 3)
    store.delete(b.id)
    assert [r.id for r in store.runs(KEY)] == [a.id, c.id]
    assert store.get(b.id) is None
    assert store.frame(KEY)["seq"].tolist() == [1, 2]

    d = store.add(KEY, **run_values(3))
    store.delete(d.id)
    e = store.add(KEY, **run_values(4))
    assert e.id > d.id  # a deleted run's id is never given to a new one
    store.rename(d.id, "stale page")  # so a page still showing the deleted run renames nothing
    assert [r.name for r in store.runs(KEY)] == ["", "", ""]


def test_clear_deletes_only_this_history(store: RunStore) -> None:
    add_runs(store, KEY, 4)
    other = dataclasses.replace(KEY, path="1/4/model-groups/1/2.json")
    kept = store.add(other, **run_values())

    assert store.clear(KEY) == 4
    assert store.runs(KEY) == [] and store.count(KEY) == 0 and store.baseline(KEY) is None
    assert store.frame(KEY).empty
    assert store.runs(other) == [kept]


# ---- windows of a long history ---------------------------------------------------------------------
def test_a_limit_gives_the_newest_runs_oldest_first_numbered_as_in_the_whole_history(store: RunStore) -> None:
    runs = add_runs(store, KEY, 12)

    newest = store.runs(KEY, limit=5)
    assert [r.id for r in newest] == [r.id for r in runs[-5:]]
    window = store.frame(KEY, limit=5)
    assert window["id"].tolist() == [r.id for r in runs[-5:]]
    assert window["seq"].tolist() == [8, 9, 10, 11, 12]
    assert store.frame(KEY)["seq"].tolist() == list(range(1, 13))
    assert [r.id for r in store.runs(KEY, limit=50)] == [r.id for r in runs]
    assert store.frame(KEY, limit=50)["seq"].tolist() == list(range(1, 13))

    store.delete(runs[0].id)  # positions are among the runs that exist
    assert store.frame(KEY, limit=5)["seq"].tolist() == [7, 8, 9, 10, 11]


def test_the_frame_has_run_fields_then_features_then_class_probabilities(store: RunStore) -> None:
    run = store.add(KEY, **run_values(3))
    frame = store.frame(KEY)
    assert list(frame.columns) == [
        "id",
        "seq",
        "created_at",
        "name",
        "is_baseline",
        "label",
        "prediction",
        "score",
        "session_id",
        "source",
        "pclass",
        "sex",
        "age",
        "fare",
        "probability_0",
        "probability_1",
    ]
    first = frame.iloc[0]
    assert (first["id"], first["seq"], first["label"], first["prediction"]) == (run.id, 1, run.label, run.prediction)
    assert first["score"] == pytest.approx(run.score)
    assert (first["age"], first["fare"], first["probability_1"]) == (23, 10.25, run.probabilities["1"])
    assert first["created_at"] == run.created_at


def test_a_feature_named_like_a_run_field_keeps_its_own_column(store: RunStore) -> None:
    credit_key = dataclasses.replace(KEY, path="1/4/model-groups/2/1.json")
    store.add(credit_key, **run_values(inputs={"score": 710, "name": "Ann", "income": 52000}, name="first try"))

    frame = store.frame(credit_key)
    assert frame.loc[0, "name"] == "first try"
    assert (frame.loc[0, "input_score"], frame.loc[0, "input_name"], frame.loc[0, "income"]) == (710, "Ann", 52000)

    kind, records = parse_runs_csv(store.export_csv(credit_key), ["score", "name", "income"])
    assert kind == "runs"
    assert records[0]["inputs"] == {"score": 710, "name": "Ann", "income": 52000}
    assert records[0]["name"] == "first try"


def test_the_whole_history_frame_follows_changes_made_by_other_sessions(url: str) -> None:
    here, elsewhere = RunStore.from_url(url), RunStore.from_url(url)
    try:
        runs = add_runs(here, KEY, 5)
        assert len(here.frame(KEY)) == 5

        added = elsewhere.add(
            KEY, **run_values(9, inputs={"pclass": "3rd", "sex": "male", "age": 40, "fare": 8.05, "embarked": "S"})
        )
        elsewhere.rename(runs[0].id, "seed")
        elsewhere.set_baseline(KEY, runs[2].id)
        frame = here.frame(KEY)
        assert frame["id"].tolist() == [*(r.id for r in runs), added.id]
        assert frame["seq"].tolist() == [1, 2, 3, 4, 5, 6]
        assert frame["name"].tolist()[0] == "seed"
        assert frame["is_baseline"].tolist() == [False, False, True, False, False, False]
        assert frame["embarked"].tolist()[-1] == "S" and frame["embarked"].isna().sum() == 5
        fresh = RunStore.from_url(url)
        assert frame.equals(fresh.frame(KEY))  # as if read from scratch
        fresh.close()

        elsewhere.delete(runs[1].id)
        after_delete = here.frame(KEY)
        assert after_delete["id"].tolist() == [runs[0].id, *(r.id for r in runs[2:]), added.id]
        assert after_delete["seq"].tolist() == [1, 2, 3, 4, 5]
        assert after_delete.equals(elsewhere.frame(KEY))
    finally:
        here.close()
        elsewhere.close()


# ---- export and import -----------------------------------------------------------------------------
def test_an_export_imports_into_another_history_as_the_same_runs(store: RunStore) -> None:
    saved = add_runs(store, KEY, 4)
    store.rename(saved[1].id, "young")
    store.add(KEY, **run_values(4, inputs={"pclass": "3rd", "sex": "male", "age": 41.5, "fare": 0}))
    saved = store.runs(KEY)

    text = store.export_csv(KEY)
    header = text.splitlines()[0].split(",")
    assert header == [
        "run",
        "created_at",
        "name",
        "baseline",
        "model",
        "version",
        "prediction",
        "label",
        "score",
        "probability_0",
        "probability_1",
        "pclass",
        "sex",
        "age",
        "fare",
    ]

    kind, records = parse_runs_csv(text, FEATURES)
    assert kind == "runs"
    assert [r["inputs"] for r in records] == [r.inputs for r in saved]
    assert [(r["prediction"], r["label"], r["score"]) for r in records] == [
        (r.prediction, r.label, r.score) for r in saved
    ]

    other = dataclasses.replace(KEY, user_id="colleague")
    assert store.add_many(other, records) == 5
    imported = store.runs(other)
    assert [r.inputs for r in imported] == [r.inputs for r in saved]
    assert [(r.prediction, r.label, r.score, r.probabilities) for r in imported] == [
        (r.prediction, r.label, r.score, r.probabilities) for r in saved
    ]
    assert [(r.name, r.model_name, r.model_version) for r in imported] == [
        (r.name, r.model_name, r.model_version) for r in saved
    ]
    assert [r.created_at for r in imported] == [r.created_at for r in saved]
    assert {r.source for r in imported} == {"import"}
    assert store.count(KEY) == 5  # the exported history is untouched


def test_a_broken_import_adds_nothing(store: RunStore) -> None:
    records = [run_values(1), {k: v for k, v in run_values(2).items() if k != "score"}]
    with pytest.raises(ValueError, match="Run 2 lacks score"):
        store.add_many(KEY, records)
    assert store.count(KEY) == 0


@pytest.mark.parametrize(
    "text",
    [
        "age,fare,sex,pclass\n29,211.3375,female,1st\n30.0,7.25,male,3rd\n",
        "\ufeffage;fare;sex;pclass\r\n29;211.3375;female;1st\r\n30.0;7.25;male;3rd\r\n",  # Excel, European locale
        b"pclass,sex,age,fare,ticket\n1st,female,29,211.3375,A/5\n3rd,male,30,7.25,PC 17599\n",
        "age;fare;sex;pclass\n29;211,3375;female;1st\n30,0;7,25;male;3rd\n",  # decimal commas
    ],
    ids=["comma", "semicolon-with-bom", "bytes-extra-column", "semicolon-decimal-commas"],
)
def test_a_csv_of_inputs_gives_rows_to_predict(text: str | bytes) -> None:
    kind, rows = parse_runs_csv(text, FEATURES)
    assert kind == "rows"
    assert rows == [
        {"pclass": "1st", "sex": "female", "age": 29, "fare": 211.3375},
        {"pclass": "3rd", "sex": "male", "age": 30, "fare": 7.25},
    ]
    assert type(rows[1]["age"]) is int


def test_an_empty_cell_is_a_missing_value() -> None:
    _, rows = parse_runs_csv("pclass,sex,age,fare\n1st,,,7.25\n", FEATURES)
    assert rows == [{"pclass": "1st", "sex": None, "age": None, "fare": 7.25}]


def test_a_csv_without_the_features_is_refused_naming_them() -> None:
    with pytest.raises(ValueError) as error:
        parse_runs_csv("pclass,sex\n1st,female\n", FEATURES)
    assert str(error.value) == "The CSV lacks the columns age, fare; it must have the model's features as columns."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The CSV is empty"),
        ("\n  \n", "The CSV is empty"),
        ("pclass,sex,age,fare\n", "has a header but no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xd8", "not a CSV text file"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00[Content_Types].xml\x00", "it is a binary file, not CSV text"),  # xlsx
    ],
)
def test_an_empty_or_non_csv_file_is_refused_in_one_sentence(text: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_runs_csv(text, FEATURES)


# ---- several sessions, one file --------------------------------------------------------------------
def test_eight_sessions_writing_at_once_lose_no_run(url: str) -> None:
    RunStore.from_url(url).close()  # the app creates the table at start
    start = threading.Barrier(8)
    errors: list[Exception] = []

    def session(number: int) -> None:
        store = RunStore.from_url(url)  # each session its own engine, like separate processes
        try:
            start.wait()
            for n in range(50):
                store.add(KEY, **run_values(n, task_id=f"session-{number}-run-{n}"))
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=session, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    reader = RunStore.from_url(url)
    try:
        runs = reader.runs(KEY)
        assert len(runs) == 400 == reader.count(KEY)
        assert {r.task_id for r in runs} == {f"session-{s}-run-{n}" for s in range(8) for n in range(50)}
    finally:
        reader.close()


def test_stores_opening_a_new_file_at_once_all_start(tmp_path: Path) -> None:
    """Sessions that open a brand-new history file in the same instant all save their run.

    SQLite may refuse the switch to WAL mode at once ("database is locked") instead of
    waiting; that happened about once in 70 starts, so the race is run 20 times over.
    """
    sessions = 8
    for attempt in range(20):
        url = RunStore.default_url(tmp_path / str(attempt))
        start = threading.Barrier(sessions)
        errors: list[Exception] = []

        def open_store(url: str, start: threading.Barrier, errors: list[Exception]) -> None:
            try:
                start.wait()
                store = RunStore.from_url(url)
                store.add(KEY, **run_values())
                store.close()
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=open_store, args=(url, start, errors)) for _ in range(sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == [], f"round {attempt}"
        store = RunStore.from_url(url)
        assert store.count(KEY) == sessions
        with store.engine.connect() as conn:  # created once: one session recorded the version
            assert conn.exec_driver_sql("SELECT version FROM whatif_schema_version").all() == [(1,)]
        store.close()


def test_sqlite_history_uses_wal_and_waits_for_locks(sqlite_url: str) -> None:
    store = RunStore.from_url(sqlite_url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            busy_timeout_ms = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    finally:
        store.close()
    assert busy_timeout_ms is not None and busy_timeout_ms >= 30_000


# ---- no secrets ------------------------------------------------------------------------------------
def test_the_history_has_nowhere_to_keep_a_secret(store: RunStore, url: str) -> None:
    columns = {c["name"].lower() for c in sa.inspect(store.engine).get_columns("whatif_runs")}
    assert not {c for c in columns if any(w in c for w in ("secret", "token", "password", "auth", "jwt", "key"))}

    leaky = HistoryKey(
        connection="https://analyst:hunter2pw@api.example.com/predict?api_token=tok-xyz-123&region=eu",
        user_id="1",
        bucket="b",
        path="p",
    )
    assert leaky.connection == "https://api.example.com/predict?region=eu"
    assert HistoryKey("local-demo-api", "1", "b", "p").connection == "local-demo-api"
    store.add(leaky, **run_values())
    with store.engine.connect() as conn:  # every value of every column, as text
        table = sa.table("whatif_runs", *(sa.column(c) for c in columns))
        cells = [sa.cast(table.c[c], sa.Text) for c in sorted(columns)]
        stored = " ".join(str(v) for row in conn.execute(sa.select(*cells)) for v in row).encode()
    store.close()
    if sa.make_url(url).get_backend_name() == "sqlite":  # and the file's bytes, freed pages included
        stored += Path(sa.make_url(url).database or "").read_bytes()
    assert b"hunter2pw" not in stored and b"tok-xyz-123" not in stored
    assert b"api.example.com/predict" in stored


def test_a_database_that_cannot_be_opened_or_written_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(
        HistoryUnavailable,
        match=r"^The run history database sqlite:///.*missing/h\.sqlite cannot "
        r"be used: unable to open database file\.$",
    ):
        RunStore.from_url(f"sqlite:///{tmp_path}/missing/h.sqlite")

    writable = RunStore.from_url(RunStore.default_url(tmp_path))
    writable.add(KEY, **run_values())
    read_only = RunStore.from_url(f"sqlite:///file:{tmp_path}/history.sqlite?mode=ro&uri=true")
    try:
        assert read_only.count(KEY) == 1
        with pytest.raises(HistoryUnavailable, match="cannot be used: attempt to write a readonly database"):
            read_only.add(KEY, **run_values())
        with pytest.raises(HistoryUnavailable):
            read_only.clear(KEY)
        assert writable.count(KEY) == 1
    finally:
        read_only.close()
        writable.close()
