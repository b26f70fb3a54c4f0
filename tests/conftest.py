"""Shared fixtures: a real reference server on a loopback port, and clients for it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from whatif.client import ModelClient
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH

SEED_TITANIC_ROW = {"pclass": 0, "sex": 0, "age": 29, "sibsp": 0, "parch": 0, "fare": 211.3375, "embarked": 2}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    """Keep every test's files (model store, history) out of the user's ~/.whatif."""
    if not os.environ.get("WHATIF_TEST_KEEP_HOME"):
        os.environ["WHATIF_HOME"] = tempfile.mkdtemp(prefix="whatif-test-home-")
    for name in ("WHATIF_API_URL", "WHATIF_API_SECRET", "WHATIF_USER_ID", "WHATIF_USER_EMAIL"):
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model store with the sample models, built once per test run."""
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="session")
def server(model_store: Path) -> Iterator[EmbeddedServer]:
    """The reference server with the sample models, shared by the whole run."""
    running = start_server(model_store, workers=4)
    yield running
    running.stop()


@pytest.fixture()
def client(server: EmbeddedServer) -> Iterator[ModelClient]:
    """A client of the demo user."""
    with ModelClient(
        server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL, poll_deadline_s=30
    ) as c:
        yield c


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own (whatif_test_<random>) on the machine's PostgreSQL, dropped at the end
    (TESTING.md: nobody else's data is touched). Skipped where PostgreSQL is not running; a failure in CI."""
    import secrets

    import sqlalchemy as sa

    admin_url = os.environ.get("WHATIF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"whatif_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        sentence = f"PostgreSQL is needed for this test and is not reachable ({str(exc.orig).splitlines()[0]})."
        if IN_CI:
            pytest.fail(sentence)
        pytest.skip(sentence)
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def shared_redis() -> Iterator[tuple[str, str]]:
    """The machine's Redis and a key prefix of this test's own (TESTING.md); its keys are deleted afterwards.

    Skipped where Redis is not running; a failure in CI.
    """
    with own_redis_prefix() as url_and_prefix:
        yield url_and_prefix


@contextmanager
def own_redis_prefix() -> Iterator[tuple[str, str]]:
    """(Redis URL, a key prefix nobody else uses); every key under the prefix is deleted at the end."""
    import secrets

    import redis

    url = os.environ.get("WHATIF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        sentence = f"Redis is needed for this test and is not reachable at {url} ({exc})."
        if IN_CI:
            pytest.fail(sentence)
        pytest.skip(sentence)
    prefix = f"whatif_test_{secrets.token_hex(6)}:"
    yield url, prefix
    keys = list(client.scan_iter(match=f"{prefix.rstrip(':')}*", count=1000))  # a test may drop the ':'
    if keys:
        client.delete(*keys)


@pytest.fixture()
def seed_row() -> dict[str, float]:
    """The seed page's example Titanic request row."""
    return dict(SEED_TITANIC_ROW)


__all__ = ["DEMO_BUCKET", "IN_CI", "SEED_TITANIC_ROW", "TITANIC_PATH"]
