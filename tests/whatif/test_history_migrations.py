"""The history's schema version: a history written by the release before versions opens, upgraded without loss.

The old layouts below are frozen DDL, as the releases before schema versions created them on
each database (today's: ``CREATE TABLE`` as SQLAlchemy compiled it then; the first release's:
the same without ``session_id`` and ``schema_fingerprint``). They are filled with runs in the
form that release wrote them, then opened by this code.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.whatif.test_history import (  # noqa: F401 - fixtures: an empty history on SQLite and on PostgreSQL
    KEY,
    postgres_schema,
    postgres_schema_url_fixture,
    run_values,
    sqlite_url_fixture,
    url_fixture,
)
from tests.whatif.test_history_concurrency import run_at_once
from whatif.history import LATEST_VERSION, HistoryKey, HistoryUnavailable, Run, RunStore
from whatif.history.schema import MIGRATIONS, Migration, open_schema

# ---- the layouts of earlier releases, frozen ---------------------------------------------------------
TODAYS_COLUMNS = {
    "sqlite": """
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        connection VARCHAR(1000) NOT NULL, user_id VARCHAR(255) NOT NULL, bucket VARCHAR(255) NOT NULL,
        path VARCHAR(1000) NOT NULL, created_at DATETIME NOT NULL, model_name TEXT NOT NULL,
        model_version INTEGER, inputs TEXT NOT NULL, "row" TEXT NOT NULL, prediction TEXT, label TEXT NOT NULL,
        score FLOAT, probabilities TEXT NOT NULL, task_id TEXT NOT NULL, elapsed_ms FLOAT, name TEXT NOT NULL,
        is_baseline BOOLEAN NOT NULL, source VARCHAR(16) NOT NULL""",
    "postgresql": """
        id SERIAL NOT NULL,
        connection VARCHAR(1000) NOT NULL, user_id VARCHAR(255) NOT NULL, bucket VARCHAR(255) NOT NULL,
        path VARCHAR(1000) NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, model_name TEXT NOT NULL,
        model_version INTEGER, inputs TEXT NOT NULL, row TEXT NOT NULL, prediction TEXT, label TEXT NOT NULL,
        score FLOAT, probabilities TEXT NOT NULL, task_id TEXT NOT NULL, elapsed_ms FLOAT, name TEXT NOT NULL,
        is_baseline BOOLEAN NOT NULL, source VARCHAR(16) NOT NULL""",
}
COLUMNS_ADDED_AFTER_THE_FIRST_RELEASE = """,
        session_id VARCHAR(64) DEFAULT '' NOT NULL,
        schema_fingerprint VARCHAR(64) DEFAULT '' NOT NULL"""
PRIMARY_KEY = {"sqlite": "", "postgresql": ",\n        PRIMARY KEY (id)"}
KEY_INDEX = "CREATE INDEX ix_whatif_runs_key_id ON whatif_runs (connection, user_id, bucket, path, id)"


def todays_ddl(dialect: str, first_release: bool = False) -> list[str]:
    """The statements that created the history before schema versions (``first_release``: before sessions)."""
    added = "" if first_release else COLUMNS_ADDED_AFTER_THE_FIRST_RELEASE
    return [f"CREATE TABLE whatif_runs ({TODAYS_COLUMNS[dialect]}{added}{PRIMARY_KEY[dialect]}\n)", KEY_INDEX]


SCHEMA_KEY = HistoryKey(KEY.connection, KEY.user_id, KEY.bucket, KEY.path, schema="5eed")
TIMES = [datetime(2026, 11, 1, 10, minute, 5 * minute, 125000 * minute, tzinfo=UTC) for minute in range(5)]

# The runs of the old history, as Run objects: what every one of them must read back as.
OLD_RUNS = [
    Run(1, KEY, TIMES[0], "titanic", 1, {"pclass": "1st", "sex": "female", "age": 29, "fare": 211.3375},
        {"pclass_1": 1, "sex": 1, "age": 29, "fare": 211.3375}, 1, "survived", 0.93, {"0": 0.07, "1": 0.93},
        "task-1", 412.5, "rich aunt", False, "form", "session-a"),
    Run(2, KEY, TIMES[1], "titanic", 1, {"pclass": "3rd", "sex": "male", "age": 41.5, "fare": 7.25, "note": "café ☕"},
        {"pclass_3": 1, "sex": 0, "age": 41.5, "fare": 7.25}, 0, "died", 0.12, {"0": 0.88, "1": 0.12},
        "task-2", None, "", True, "form", "session-b"),
    Run(3, KEY, TIMES[2], "titanic", None, {"pclass": "2nd", "sex": None, "age": 30, "fare": 0},
        {}, "1", "1", float("nan"), {}, "", None, "imported", False, "import", ""),
    Run(4, SCHEMA_KEY, TIMES[3], "by hand", 2, {"pclass": "1st", "age": 5}, {"age": 5}, [0.25, 0.75], "148.5", 148.5,
        {}, "task-4", 9.0, "", False, "form", "session-a"),
    Run(5, KEY, TIMES[4], "titanic", 1, {"pclass": "1st", "sex": "male", "age": 60, "fare": 30},
        {"pclass_1": 1, "sex": 0, "age": 60, "fare": 30}, 0, "died", 0.35, {"0": 0.65, "1": 0.35},
        "task-5", 80.25, "", False, "form", "session-b"),
]  # fmt: skip
OLD_COLUMNS = ("id", "connection", "user_id", "bucket", "path", "created_at", "model_name", "model_version", "inputs",
               "row", "prediction", "label", "score", "probabilities", "task_id", "elapsed_ms", "name", "is_baseline",
               "source", "session_id", "schema_fingerprint")  # fmt: skip
DELETED_RUN_ID = 6  # written, then deleted: its id must never be given again


def write_todays_history(url: str, first_release: bool = False) -> None:
    """A history as the release before schema versions left it: its tables, its runs, one run deleted."""
    engine = sa.create_engine(url)
    dialect = engine.dialect.name
    written = OLD_COLUMNS[1:-2] if first_release else OLD_COLUMNS[1:]  # the id is the database's
    table = sa.table("whatif_runs", *(sa.column(c) for c in written))
    try:
        if dialect == "sqlite":
            with engine.connect() as conn:  # that release switched every history file to WAL
                conn.exec_driver_sql("PRAGMA journal_mode = WAL")
        with engine.begin() as conn:
            for statement in todays_ddl(dialect, first_release):
                conn.exec_driver_sql(statement)
            for run in [*OLD_RUNS, OLD_RUNS[0]]:  # the copy becomes run 6, deleted below
                conn.execute(sa.insert(table).values(old_row(run, dialect, first_release)))
            conn.execute(sa.text("DELETE FROM whatif_runs WHERE id = :id"), {"id": DELETED_RUN_ID})
    finally:
        engine.dispose()


def old_row(run: Run, dialect: str, first_release: bool) -> dict[str, Any]:
    """A run's row as that release wrote it: JSON text, SQLite times as UTC text, NaN as NULL."""

    def text(value: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    created = run.created_at.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else run.created_at
    row = {
        "connection": run.key.connection,
        "user_id": run.key.user_id,
        "bucket": run.key.bucket,
        "path": run.key.path,
        "created_at": created,
        "model_name": run.model_name,
        "model_version": run.model_version,
        "inputs": text(run.inputs),
        "row": text(run.row),
        "prediction": text(run.prediction),
        "label": run.label,
        "score": None if run.score != run.score else run.score,
        "probabilities": text(run.probabilities),
        "task_id": run.task_id,
        "elapsed_ms": run.elapsed_ms,
        "name": run.name,
        "is_baseline": run.is_baseline,
        "source": run.source,
    }
    if not first_release:
        row |= {"session_id": run.session_id, "schema_fingerprint": run.key.schema}
    return row


def versions(url: str) -> list[int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [v for (v,) in conn.exec_driver_sql("SELECT version FROM whatif_schema_version ORDER BY version")]
    finally:
        engine.dispose()


def same(runs: Sequence[Run], expected: Sequence[Run]) -> bool:
    """Equal field by field, a NaN score equal to a NaN score."""

    def fields(run: Run) -> tuple[Any, ...]:
        return (*(v for k, v in vars(run).items() if k != "score"), "nan" if run.score != run.score else run.score)

    return [fields(r) for r in runs] == [fields(r) for r in expected]


@pytest.fixture()
def todays_history(url: str) -> str:
    write_todays_history(url)
    return url


# ---- the history of the release before versions -----------------------------------------------------
def test_a_history_of_the_release_before_versions_opens_with_every_run_and_field_intact(todays_history: str) -> None:
    store = RunStore.from_url(todays_history)
    try:
        main, by_hand = [r for r in OLD_RUNS if r.key == KEY], [r for r in OLD_RUNS if r.key == SCHEMA_KEY]
        assert same(store.runs(KEY), main)
        assert same(store.runs(SCHEMA_KEY), by_hand)
        assert same([store.get(r.id) for r in OLD_RUNS], OLD_RUNS)  # type: ignore[misc]
        baseline = store.baseline(KEY)
        assert baseline is not None and baseline.id == 2  # the pinned run is still pinned
        frame = store.frame(KEY)
        assert frame["id"].tolist() == [1, 2, 3, 5] and frame["seq"].tolist() == [1, 2, 3, 4]
        assert frame["note"].tolist()[1] == "café ☕"
        assert store.frame(KEY, session_id="session-b")["seq"].tolist() == [2, 4]

        new = store.add(KEY, **run_values(1), session_id="session-c")
        assert new.id == DELETED_RUN_ID + 1  # a deleted run's id is still never given again
        assert store.count(KEY) == 5
    finally:
        store.close()
    assert versions(todays_history) == [1]
    reopened = RunStore.from_url(todays_history)  # the next start finds version 1 and changes nothing
    reopened.close()
    assert versions(todays_history) == [1]


def test_a_first_release_history_gains_the_session_columns_and_keeps_its_runs(url: str) -> None:
    write_todays_history(url, first_release=True)
    store = RunStore.from_url(url)
    try:
        runs = store.runs(KEY)  # the runs of every schema were kept together then
        assert [r.id for r in runs] == [1, 2, 3, 4, 5]
        assert {r.session_id for r in runs} == {""}
        assert same(
            [r for r in runs if r.id != 4], [dataclasses.replace(r, session_id="") for r in OLD_RUNS if r.id != 4]
        )
        store.add(KEY, **run_values(1), session_id="s")
        assert store.count(KEY, "s") == 1
    finally:
        store.close()
    assert versions(url) == [1]


def test_an_upgraded_history_has_the_layout_of_a_new_one(todays_history: str, another_url: str) -> None:
    """So the next release's queries find the same tables, whichever way a database got to this version."""
    RunStore.from_url(todays_history).close()
    RunStore.from_url(another_url).close()
    assert layout(todays_history) == layout(another_url)


@pytest.fixture()
def another_url(url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second empty history, on the same kind of database as ``url``."""
    if sa.make_url(url).get_backend_name() == "sqlite":
        yield RunStore.default_url(tmp_path / "another")
        return
    with postgres_schema(str(request.getfixturevalue("postgres_url"))) as other:
        yield other


def layout(url: str) -> dict[str, Any]:
    """Tables, columns (type, NULL, default) and indexes, as the database reports them."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: (
                [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")).split("::")[0])
                    for c in inspector.get_columns(table)
                ],
                sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            )
            for table in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


def test_a_history_of_a_newer_release_is_refused_in_one_sentence_and_left_as_it_is(url: str) -> None:
    store = RunStore.from_url(url)
    run = store.add(KEY, **run_values(1))
    with store.engine.begin() as conn:  # what a later release would have left
        conn.execute(
            sa.text("INSERT INTO whatif_schema_version (version, applied_at) VALUES (:v, :t)"),
            {"v": LATEST_VERSION + 1, "t": datetime.now(UTC).replace(tzinfo=None)},
        )
    store.close()

    with pytest.raises(HistoryUnavailable) as refused:
        RunStore.from_url(url)
    assert str(refused.value).endswith(
        f"cannot be used: it was written by a newer release of this app (schema version {LATEST_VERSION + 1}; "
        f"this release knows versions up to {LATEST_VERSION}), so it is left as it is: upgrade this app to use it."
    )
    assert "\n" not in str(refused.value)
    assert versions(url) == [1, LATEST_VERSION + 1]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id, task_id FROM whatif_runs").all() == [(run.id, run.task_id)]
    finally:
        engine.dispose()


# ---- the upgrade path, with a migration of a later release -------------------------------------------
def with_a_later_migration(log: list[int], fail: bool = False) -> list[Migration]:
    """This release's migrations and a version 2 that adds a column (and with ``fail``, then fails)."""

    def add_a_column(conn: sa.Connection) -> None:
        log.append(2)
        conn.exec_driver_sql("ALTER TABLE whatif_runs ADD COLUMN note_v2 TEXT NOT NULL DEFAULT ''")
        if fail:
            raise RuntimeError("the migration failed half way")

    return [*MIGRATIONS, Migration(2, "a note per run", add_a_column)]


def open_with(url: str, migrations: Sequence[Migration]) -> int:
    engine = sa.create_engine(url)
    try:
        return open_schema(engine, migrations)
    finally:
        engine.dispose()


def columns_of(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("whatif_runs")}
    finally:
        engine.dispose()


def test_an_older_history_is_upgraded_in_order_and_each_step_recorded(todays_history: str) -> None:
    before = stored_rows(todays_history)
    log: list[int] = []
    assert open_with(todays_history, with_a_later_migration(log)) == 2
    assert log == [2] and versions(todays_history) == [1, 2]
    assert "note_v2" in columns_of(todays_history)
    assert stored_rows(todays_history) == before  # every value of every run, as stored

    assert open_with(todays_history, with_a_later_migration(log)) == 2  # the next start: nothing to do
    assert log == [2]
    with pytest.raises(HistoryUnavailable, match="schema version 2; this release knows versions up to 1"):
        RunStore.from_url(todays_history)  # and this release, older now, leaves it alone


def stored_rows(url: str) -> list[tuple[Any, ...]]:
    """The runs as stored, in the columns of the release before versions."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            columns = ", ".join(f'"{c}"' for c in OLD_COLUMNS)
            return list(conn.exec_driver_sql(f"SELECT {columns} FROM whatif_runs ORDER BY id").all())
    finally:
        engine.dispose()


def test_a_migration_that_fails_leaves_the_history_as_it_was(todays_history: str) -> None:
    RunStore.from_url(todays_history).close()  # at version 1
    with pytest.raises(RuntimeError, match="half way"):
        open_with(todays_history, with_a_later_migration([], fail=True))
    assert versions(todays_history) == [1]
    assert "note_v2" not in columns_of(todays_history)  # its ALTER TABLE was rolled back with it
    store = RunStore.from_url(todays_history)
    try:
        assert same([store.get(r.id) for r in OLD_RUNS], OLD_RUNS)  # type: ignore[misc]
    finally:
        store.close()


def test_replicas_upgrading_at_once_apply_each_migration_once(todays_history: str) -> None:
    log: list[int] = []
    errors = run_at_once(6, lambda: open_with(todays_history, with_a_later_migration(log)))
    assert errors == []
    assert log == [2]  # one replica upgraded; the others waited, then found it done
    assert versions(todays_history) == [1, 2]


# ---- a history this user may only read -----------------------------------------------------------------
def test_a_read_only_history_of_the_release_before_versions_is_still_read(sqlite_url: str) -> None:
    write_todays_history(sqlite_url)
    database = sa.make_url(sqlite_url).database
    read_only = RunStore.from_url(f"sqlite:///file:{database}?mode=ro&uri=true")
    try:
        assert same(read_only.runs(SCHEMA_KEY), [OLD_RUNS[3]])
        with pytest.raises(HistoryUnavailable, match="attempt to write a readonly database"):
            read_only.add(KEY, **run_values(1))
    finally:
        read_only.close()
    RunStore.from_url(sqlite_url).close()  # its owner's next start records the version
    assert versions(sqlite_url) == [1]


def test_a_read_only_history_that_needs_new_columns_is_one_sentence_with_the_statements(sqlite_url: str) -> None:
    write_todays_history(sqlite_url, first_release=True)
    database = sa.make_url(sqlite_url).database
    with pytest.raises(HistoryUnavailable) as refused:
        RunStore.from_url(f"sqlite:///file:{database}?mode=ro&uri=true")
    assert str(refused.value) == (
        f"The run history database sqlite:///file:{database} cannot be used: its table is from an earlier version "
        "and this user cannot add the new columns (attempt to write a readonly database); its owner can run: "
        "ALTER TABLE whatif_runs ADD COLUMN session_id VARCHAR(64) NOT NULL DEFAULT ''; "
        "ALTER TABLE whatif_runs ADD COLUMN schema_fingerprint VARCHAR(64) NOT NULL DEFAULT ''."
    )


def test_the_version_table_is_created_with_the_history(url: str) -> None:
    RunStore.from_url(url).close()
    assert versions(url) == [LATEST_VERSION]


def test_a_history_whose_run_table_was_dropped_by_hand_starts_again_empty(url: str) -> None:
    store = RunStore.from_url(url)
    store.add(KEY, **run_values(1))
    with store.engine.begin() as conn:  # "to clear the history", the version table left behind
        conn.exec_driver_sql("DROP TABLE whatif_runs")
    store.close()

    reopened = RunStore.from_url(url)
    try:
        assert reopened.count(KEY) == 0
        assert reopened.add(KEY, **run_values(2)).task_id == "task-2"
    finally:
        reopened.close()
    assert versions(url) == [LATEST_VERSION]
