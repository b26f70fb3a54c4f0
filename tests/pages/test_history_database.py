"""The run history goes to the database that secrets.toml names, else to SQLite under WHATIF_HOME."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.pages.support import demo_history, predict, run
from whatif.history import RunStore
from whatif.server.samples import TITANIC_PATH


def test_runs_go_to_the_database_named_in_secrets(app: AppTest, app_home: Path, tmp_path: Path) -> None:
    database = tmp_path / "team-history.sqlite"
    app.secrets["connections"] = {"whatif_db": {"url": f"sqlite:///{database}"}}
    predict(run(app))
    configured = RunStore.from_url(f"sqlite:///{database}")
    default = RunStore.from_url(RunStore.default_url(app_home))
    try:
        assert configured.count(demo_history(TITANIC_PATH)) == 1
        assert default.count(demo_history(TITANIC_PATH)) == 0
    finally:
        configured.close()
        default.close()


def test_runs_default_to_sqlite_in_wal_mode_under_whatif_home(app: AppTest, app_home: Path) -> None:
    predict(run(app))
    store = RunStore.from_url(RunStore.default_url(app_home))
    try:
        assert store.count(demo_history(TITANIC_PATH)) == 1
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        store.close()


def test_runs_go_to_postgresql_when_secrets_name_it_with_nothing_else_installed(
    app: AppTest, app_home: Path, postgres_url: str
) -> None:
    """`url = "postgresql+psycopg://..."` in secrets works out of the box: the driver is a runtime requirement."""
    app.secrets["connections"] = {"whatif_db": {"url": postgres_url}}
    predict(run(app))
    assert not app.error, [e.value for e in app.error]
    team = RunStore.from_url(postgres_url)
    default = RunStore.from_url(RunStore.default_url(app_home))
    try:
        assert team.count(demo_history(TITANIC_PATH)) == 1
        assert default.count(demo_history(TITANIC_PATH)) == 0
    finally:
        team.close()
        default.close()
