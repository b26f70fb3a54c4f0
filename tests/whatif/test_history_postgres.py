"""A team's history on PostgreSQL: what one app replica saves, the other shows; a database that cannot be
reached or found is one sentence naming it, never its password.

(Everything the SQLite history promises is checked on PostgreSQL too: test_history.py and
test_history_sessions.py run each test on both.)
"""

from __future__ import annotations

import secrets
import socket

import pytest
import sqlalchemy as sa

from tests.whatif.test_history import KEY, postgres_schema_url_fixture, run_values  # noqa: F401 - a fixture
from whatif.history import HistoryUnavailable, RunStore


def test_a_run_saved_on_one_replica_shows_on_the_other_after_a_reload(postgres_schema_url: str) -> None:
    # each replica is its own process with its own engine (st.connection), on the same database
    replica_a = RunStore(sa.create_engine(postgres_schema_url))
    replica_b = RunStore(sa.create_engine(postgres_schema_url))
    try:
        assert replica_b.frame(KEY).empty
        saved = replica_a.add(KEY, **run_values(3), session_id="browser-on-a")

        # replica B's page, reloaded
        assert replica_b.runs(KEY) == [saved]
        assert replica_b.others_since(KEY, "browser-on-b", 0) == (1, saved.id)
        assert replica_b.frame(KEY)["id"].tolist() == [saved.id]

        second = replica_b.add(KEY, **run_values(4), session_id="browser-on-b")
        replica_b.rename(saved.id, "made on A, named on B")
        replica_b.set_baseline(KEY, second.id)
        seen_on_a = replica_a.frame(KEY)
        assert seen_on_a["name"].tolist() == ["made on A, named on B", ""]
        assert seen_on_a["is_baseline"].tolist() == [False, True]
        assert seen_on_a["session_id"].tolist() == ["browser-on-a", "browser-on-b"]

        replica_a.delete(second.id)
        assert replica_b.get(second.id) is None and replica_b.baseline(KEY) == replica_b.get(saved.id)
    finally:
        replica_a.engine.dispose()
        replica_b.engine.dispose()


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_postgresql_that_cannot_be_reached_is_one_sentence_without_the_password() -> None:
    port = free_port()
    with pytest.raises(HistoryUnavailable) as refused:
        RunStore.from_url(f"postgresql+psycopg://analyst:hunter2@127.0.0.1:{port}/team_history")
    sentence = str(refused.value)
    assert sentence.startswith(
        f"The run history database postgresql+psycopg://analyst:***@127.0.0.1:{port}/team_history cannot be used: "
    )
    assert "Connection refused" in sentence
    assert "hunter2" not in sentence and "\n" not in sentence and sentence.endswith(".")


def test_a_postgresql_database_that_does_not_exist_is_one_sentence_naming_it(postgres_url: str) -> None:
    missing = f"whatif_test_missing_{secrets.token_hex(4)}"
    url = sa.make_url(postgres_url).set(database=missing, password="hunter2")
    with pytest.raises(HistoryUnavailable) as refused:
        RunStore.from_url(url.render_as_string(hide_password=False))
    sentence = str(refused.value)
    assert sentence.startswith(f"The run history database {url.render_as_string()} cannot be used: ")
    assert f'database "{missing}" does not exist' in sentence
    assert "hunter2" not in sentence and "\n" not in sentence and sentence.endswith(".")


@pytest.mark.parametrize(
    ("url", "shown", "reason"),
    [
        (
            "postgresql+pg8000://analyst:hunter2@127.0.0.1:1/runs",  # a driver that is not installed (psycopg is)
            "postgresql+pg8000://analyst:***@127.0.0.1:1/runs",
            "No module named 'pg8000'",
        ),
        (
            "postgresql://analyst:hun/ter2@db:54x2/runs",  # a password with a "/" that was not quoted
            "(its URL cannot be read)",
            "its URL cannot be read (check the port, and quote special characters in the password)",
        ),
    ],
)
def test_a_url_that_cannot_be_opened_from_a_notebook_is_one_sentence(url: str, shown: str, reason: str) -> None:
    with pytest.raises(HistoryUnavailable) as refused:
        RunStore.from_url(url)
    assert str(refused.value) == f"The run history database {shown} cannot be used: {reason}."
    assert "hunter2" not in str(refused.value) and "ter2" not in str(refused.value)
