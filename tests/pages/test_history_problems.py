"""A history database or data folder that cannot be used gets one sentence, never a traceback.

The read-only database is a real SQLite file opened read-only (``mode=ro``): reads work, every
write fails, as with a team database this user may only read. Runs already saved stay.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.support import APP, TIMEOUT_S, predict, reload, run, runs_table

FIX_HINT = "check `[connections.whatif_db]` in .streamlit/secrets.toml"


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def with_history(url: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.secrets["connections"] = {"whatif_db": {"url": url}}
    return at


@pytest.fixture()
def read_only_history(app_home: Path, tmp_path: Path) -> AppTest:
    """The app on a history that holds one Titanic run and can no longer be written."""
    database = tmp_path / "team-history.sqlite"
    written = predict(run(with_history(f"sqlite:///{database}")))
    read_only = reload(written)  # the same browser, now on a history it can only read
    read_only.secrets["connections"] = {"whatif_db": {"url": f"sqlite:///file:{database}?mode=ro&uri=true"}}
    return run(read_only)


def test_a_history_that_cannot_be_opened_is_one_sentence_and_other_pages_still_work(app: AppTest) -> None:
    app.secrets["connections"] = {"whatif_db": {"url": "sqlite:////no/such/folder/history.sqlite"}}
    run(app)
    assert errors(app) == [
        "The run history database sqlite:////no/such/folder/history.sqlite cannot be used: "
        f"unable to open database file; {FIX_HINT} or set WHATIF_HOME to a writable folder, "
        "then reload the page (runs already saved are kept)."
    ]
    app.switch_page("pages/saved_models.py")
    run(app)
    assert not errors(app)
    assert any("Titanic" in h.value for h in app.subheader)


@pytest.mark.parametrize(
    ("url", "shown"),
    [  # pg8000: a PostgreSQL driver that is not installed (psycopg is)
        ("postgresql+pg8000://analyst:hunter2@127.0.0.1:1/runs", "postgresql+pg8000://analyst:***@127.0.0.1:1/runs"),
        ("postgresql+pg8000:///runs?host=127.0.0.1&user=analyst&password=hunter2", "postgresql+pg8000:///runs"),
    ],
)
def test_a_database_driver_that_is_missing_is_named_without_the_password(app: AppTest, url: str, shown: str) -> None:
    app.secrets["connections"] = {"whatif_db": {"url": url}}
    run(app)
    [sentence] = errors(app)
    assert sentence.startswith(f"The run history database {shown} cannot be used: ")
    assert "No module named" in sentence and FIX_HINT in sentence
    assert "hunter2" not in sentence


def test_a_database_url_that_cannot_be_read_is_not_repeated(app: AppTest) -> None:
    app.secrets["connections"] = {"whatif_db": {"url": "postgresql://analyst:hun/ter2@db:54x2/runs"}}
    run(app)
    [sentence] = errors(app)
    assert sentence.startswith(
        "The run history database configured in [connections.whatif_db] cannot be used: its URL cannot be read"
    )
    assert "ter2" not in sentence and "54x2" not in sentence and "analyst" not in sentence


def test_a_file_that_is_not_a_database_is_one_sentence(app: AppTest, tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.sqlite"
    not_a_database.write_text("these are my notes, not a database\n" * 200)
    app.secrets["connections"] = {"whatif_db": {"url": f"sqlite:///{not_a_database}"}}
    run(app)
    [sentence] = errors(app)
    assert sentence.startswith(
        f"The run history database sqlite:///{not_a_database} cannot be used: file is not a database; "
    )
    assert not_a_database.read_text().startswith("these are my notes")  # left as it was


def test_a_prediction_that_cannot_be_saved_says_so_and_keeps_the_saved_runs(read_only_history: AppTest) -> None:
    at = read_only_history
    assert len(runs_table(at)) == 1
    predict(at)
    [sentence] = errors(at)
    assert sentence.startswith(
        "The model predicted died but the run was not saved: the run history database sqlite:///file:"
    )  # the URI as written, not file%3A
    assert "attempt to write a readonly database" in sentence and FIX_HINT in sentence
    assert len(runs_table(at)) == 1


def test_deleting_a_run_that_cannot_be_written_says_so_and_the_run_stays(read_only_history: AppTest) -> None:
    at = read_only_history
    at.button(key="whatif_run_delete").click()
    run(at)
    [sentence] = errors(at)
    assert "attempt to write a readonly database" in sentence and FIX_HINT in sentence
    assert list(runs_table(at)["Run"]) == [1]
    run(at)
    assert not errors(at)  # said once; the next rerun is quiet again


def test_a_data_folder_that_cannot_be_created_stops_the_demo_api_with_one_sentence(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHATIF_HOME", "/proc/whatif-home")
    run(app)
    assert errors(app) == [
        "The local demo API cannot start because its model store /proc/whatif-home/store cannot "
        "be written (No such file or directory); set WHATIF_HOME (or WHATIF_STORE) to a writable "
        "folder and restart the app."
    ]
