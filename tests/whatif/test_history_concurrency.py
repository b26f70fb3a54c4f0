"""Several app replicas on one history at once: writers in separate processes lose nothing, and replicas
that start together on an empty database all start, creating its tables once.

Each case runs on SQLite (one file shared by the processes of one machine) and PostgreSQL (a team's
database). The writers are real processes (``spawn``, as a second app replica would be), each with
one engine shared by its sessions' threads, as the app's cached store is.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
from whatif.history import RunStore

PROCESSES, SESSIONS_PER_PROCESS, RUNS_PER_SESSION = 2, 4, 25


def write_runs(url: str, process: int, start: Any) -> None:
    """One replica: its sessions (threads) add their runs at once, released with the other replica's."""
    store = RunStore.from_url(url)

    def session(number: int) -> None:
        for n in range(RUNS_PER_SESSION):
            store.add(KEY, **run_values(n, task_id=task_id(process, number, n)), session_id=f"{process}-{number}")

    try:
        start.wait(timeout=60)
        with ThreadPoolExecutor(SESSIONS_PER_PROCESS) as pool:
            list(pool.map(session, range(SESSIONS_PER_PROCESS)))  # re-raises a session's error: exit code 1
    finally:
        store.close()


def task_id(process: int, session: int, run: int) -> str:
    return f"replica-{process}-session-{session}-run-{run}"


def test_eight_writers_in_two_processes_lose_no_run(url: str) -> None:
    RunStore.from_url(url).close()  # the tables exist before the replicas write, as after the first start
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(PROCESSES)
    replicas = [spawn.Process(target=write_runs, args=(url, p, start)) for p in range(PROCESSES)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=180)
    assert [r.exitcode for r in replicas] == [0] * PROCESSES  # a failed add prints its traceback above

    store = RunStore.from_url(url)
    try:
        runs = store.runs(KEY)
        expected = {
            task_id(p, s, n)
            for p in range(PROCESSES)
            for s in range(SESSIONS_PER_PROCESS)
            for n in range(RUNS_PER_SESSION)
        }
        assert len(runs) == store.count(KEY) == len(expected) == 200
        assert {r.task_id for r in runs} == expected
        assert len({r.id for r in runs}) == 200
        assert store.frame(KEY)["seq"].tolist() == list(range(1, 201))
    finally:
        store.close()


@pytest.fixture()
def empty_histories(url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Iterator[str]]:
    """New empty histories on the database of ``url``, one per round."""

    def rounds() -> Iterator[str]:
        for number in range(5):
            if sa.make_url(url).get_backend_name() == "sqlite":
                yield RunStore.default_url(tmp_path / f"round-{number}")
            else:
                with postgres_schema(str(request.getfixturevalue("postgres_url"))) as fresh:
                    yield fresh

    histories = rounds()
    yield histories
    histories.close()  # a round that failed still drops its PostgreSQL schema


def test_replicas_starting_at_once_on_an_empty_database_all_start_and_create_it_once(
    empty_histories: Iterator[str],
) -> None:
    replicas = 8
    for round_number, url in enumerate(empty_histories):

        def replica(url: str = url) -> None:
            store = RunStore.from_url(url)  # its own engine, as each replica has
            try:
                store.add(KEY, **run_values())
            finally:
                store.close()

        assert run_at_once(replicas, replica) == [], f"round {round_number}"
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT version FROM whatif_schema_version").all() == [(1,)]
                assert conn.exec_driver_sql("SELECT count(*) FROM whatif_runs").scalar() == replicas
                assert set(sa.inspect(conn).get_table_names()) >= {"whatif_runs", "whatif_schema_version"}
        finally:
            engine.dispose()


def run_at_once(count: int, action: Callable[[], object]) -> list[BaseException]:
    """``action`` in ``count`` threads released together; the errors they raised."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            start.wait()
            action()
        except BaseException as exc:  # reported by the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors
