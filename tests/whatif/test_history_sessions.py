"""A shared history: whose run is whose, one schema per history, imports that do not duplicate, old tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.whatif.test_history import (  # noqa: F401 - fixtures: an empty history on SQLite and on PostgreSQL
    KEY,
    postgres_schema_url_fixture,
    run_values,
    sqlite_url_fixture,
    url_fixture,
)
from whatif.history import HistoryKey, HistoryUnavailable, RunStore, parse_runs_csv

FEATURES = ["pclass", "sex", "age", "fare"]


@pytest.fixture()
def store(url: str) -> Iterator[RunStore]:
    s = RunStore.from_url(url)
    yield s
    s.close()


def test_each_run_remembers_the_session_that_made_it(store: RunStore) -> None:
    mine = store.add(KEY, **run_values(1), session_id="session-a")
    store.add(KEY, **run_values(2), session_id="session-b")

    assert store.get(mine.id).session_id == "session-a"  # type: ignore[union-attr]
    assert store.newest_of_session(KEY, "session-a") == mine
    assert store.newest_of_session(KEY, "session-c") is None
    assert store.count(KEY) == 2 and store.count(KEY, "session-b") == 1


def test_my_runs_keep_the_numbers_everybody_sees(store: RunStore) -> None:
    for n, session in enumerate(["a", "b", "a", "b", "b", "a"]):
        store.add(KEY, **run_values(n), session_id=session)

    mine = store.frame(KEY, session_id="a")
    assert list(mine["seq"]) == [1, 3, 6]  # run 3 is run 3 for everybody, not "my second run"
    assert set(mine["session_id"]) == {"a"}
    newest_two = store.frame(KEY, limit=2, session_id="a")
    assert list(newest_two["seq"]) == [3, 6]
    assert list(store.frame(KEY)["seq"]) == [1, 2, 3, 4, 5, 6]


def test_runs_of_other_sessions_since_a_run_are_counted(store: RunStore) -> None:
    seen = store.add(KEY, **run_values(0), session_id="a")
    store.add(KEY, **run_values(1), session_id="b")
    store.add(KEY, **run_values(2), session_id="a")
    newest = store.add(KEY, **run_values(3), session_id="c")

    assert store.others_since(KEY, "a", seen.id) == (2, newest.id)
    assert store.others_since(KEY, "a", newest.id) == (0, newest.id)
    assert store.others_since(HistoryKey("x", "1", "b", "p"), "a", 0) == (0, 0)


def test_a_schema_fingerprint_keeps_a_history_of_its_own(store: RunStore) -> None:
    by_hand = HistoryKey(KEY.connection, KEY.user_id, KEY.bucket, KEY.path, schema="f00d")
    store.add(KEY, **run_values(1))
    store.add(by_hand, **run_values(2, label="1"))

    assert [r.label for r in store.runs(by_hand)] == ["1"]
    assert store.count(KEY) == 1 and store.runs(KEY)[0].label != "1"
    assert store.runs(by_hand)[0].key == by_hand
    assert store.clear(by_hand) == 1 and store.count(KEY) == 1


def test_importing_an_export_twice_adds_nothing(store: RunStore, tmp_path: Path) -> None:
    for n in range(3):
        store.add(KEY, **run_values(n))
    _, records = parse_runs_csv(store.export_csv(KEY), FEATURES)

    assert store.add_new(KEY, records) == (0, 3)
    assert store.count(KEY) == 3

    other = RunStore.from_url(RunStore.default_url(tmp_path / "other"))
    assert other.add_new(KEY, records + records[:1]) == (3, 1)  # a run twice in one file counts once
    assert other.add_new(KEY, records) == (0, 3)
    other.close()


def test_rows_predicted_now_are_never_taken_for_duplicates(store: RunStore) -> None:
    fresh = [{**run_values(1), "source": "import"}, {**run_values(1), "source": "import"}]
    assert store.add_new(KEY, fresh) == (2, 0)


def test_a_table_of_an_earlier_version_gains_the_new_columns_and_keeps_its_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = RunStore.default_url(home)
    with sqlite3.connect(home / "history.sqlite") as db:  # the table as the first release made it
        db.execute("""CREATE TABLE whatif_runs (id INTEGER PRIMARY KEY AUTOINCREMENT,
            connection VARCHAR(1000) NOT NULL, user_id VARCHAR(255) NOT NULL, bucket VARCHAR(255) NOT NULL,
            path VARCHAR(1000) NOT NULL, created_at DATETIME NOT NULL, model_name TEXT NOT NULL,
            model_version INTEGER, inputs TEXT NOT NULL, row TEXT NOT NULL, prediction TEXT, label TEXT NOT NULL,
            score FLOAT, probabilities TEXT NOT NULL, task_id TEXT NOT NULL, elapsed_ms FLOAT, name TEXT NOT NULL,
            is_baseline BOOLEAN NOT NULL, source VARCHAR(16) NOT NULL)""")
        db.execute(
            """INSERT INTO whatif_runs (connection, user_id, bucket, path, created_at, model_name,
            model_version, inputs, row, prediction, label, score, probabilities, task_id, elapsed_ms, name,
            is_baseline, source) VALUES (?, ?, ?, ?, '2026-11-01 10:00:00.000000', 'titanic', 1,
            '{"age": 30}', '{"age": 30}', '1', 'survived', 0.7, '{"0": 0.3, "1": 0.7}', 'task-1', 12.0,
            'kept', 0, 'form')""",
            (KEY.connection, KEY.user_id, KEY.bucket, KEY.path),
        )

    store = RunStore.from_url(url)
    (old,) = store.runs(KEY)
    assert (old.name, old.label, old.session_id) == ("kept", "survived", "")
    store.add(KEY, **run_values(1), session_id="s")
    assert store.count(KEY, "s") == 1
    store.close()
    RunStore.from_url(url).close()  # a second start finds the columns there


def test_a_run_whose_prediction_is_text_is_still_found_after_an_export(store: RunStore) -> None:
    store.add(KEY, **run_values(1, prediction="1", label="1"))  # a string class label, as many models answer
    _, records = parse_runs_csv(store.export_csv(KEY), FEATURES)
    assert records[0]["prediction"] == 1  # the CSV reads it back as a number...
    assert store.add_new(KEY, records) == (0, 1)  # ...and it is still the same run


def test_an_old_table_this_user_cannot_alter_is_one_sentence_with_the_fix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    RunStore.default_url(home)
    database = home / "history.sqlite"
    with sqlite3.connect(database) as db:  # made by the first release, which switched it to WAL
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE whatif_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, connection VARCHAR(1000) "
            "NOT NULL, user_id VARCHAR(255) NOT NULL, bucket VARCHAR(255) NOT NULL, path VARCHAR(1000) "
            "NOT NULL, created_at DATETIME NOT NULL, source VARCHAR(16) NOT NULL)"
        )
        db.execute("CREATE INDEX ix_whatif_runs_key_id ON whatif_runs (connection, user_id, bucket, path, id)")
    with pytest.raises(HistoryUnavailable) as refused:
        RunStore.from_url(f"sqlite:///file:{database}?mode=ro&uri=true")
    sentence = str(refused.value)
    assert "its table is from an earlier version and this user cannot add the new columns" in sentence
    assert "ALTER TABLE whatif_runs ADD COLUMN session_id VARCHAR(64) NOT NULL DEFAULT ''" in sentence
    assert "schema_fingerprint" in sentence and sentence.endswith(".")
