"""The store of what-if runs, so an analyst never loses one.

Runs survive a page reload and an app restart, and several sessions may write at once: the
store is one SQL table reached through SQLAlchemy. In the app it is the engine of
``st.connection("whatif_db", type="sql")`` (SQLite under ``WHATIF_HOME`` by default, any
SQLAlchemy URL by setting, PostgreSQL for a team); from a notebook, ``RunStore.from_url(...)``.

    store = RunStore.from_url(RunStore.default_url(home_dir()))
    key = HistoryKey(connection=predict_url, user_id="1", bucket="storage.datrics.ai",
                     path="1/4/model-groups/1/1.json")
    store.add(key, inputs={...}, row={...}, prediction=1, label="survived", score=0.93, ...)
    store.frame(key, limit=500)   # the newest 500 runs for the chart and the table

History is kept per connection, user and model version (``HistoryKey``), and, for a schema
entered by hand that differs from the saved model's, per schema fingerprint. A team shares a
history; each run records the session that made it (``session_id``, a random id of one browser
session, never a user's name), so a page can show its own runs first. The store holds no
secret: the connection is a URL with any credentials stripped, and there is no column for a
token (a test checks it).

The parts, one job each:
  database.py    engines made ready (SQLite WAL, busy timeout) and the one place where a database
                 failure becomes ``HistoryUnavailable``, a sentence naming the database
  schema.py      the tables, their schema version and the migrations that upgrade an older history
  records.py     ``HistoryKey``, ``Run``, and the JSON a run's values are written and read as
  store.py       ``RunStore``: add, rename, pin, delete, read runs and the chart's table
  csv_format.py  the export and reading an uploaded CSV (``parse_runs_csv``)
"""

from whatif.history.csv_format import parse_runs_csv
from whatif.history.database import (
    HistoryUnavailable,
    database_name,
    first_line,
    is_unavailable,
    prepare_sqlite,
    reporting_unavailable,
)
from whatif.history.records import PROBABILITY_PREFIX, HistoryKey, Run
from whatif.history.schema import LATEST_VERSION, UTCDateTime
from whatif.history.store import RunStore

__all__ = [
    "LATEST_VERSION",
    "PROBABILITY_PREFIX",
    "HistoryKey",
    "HistoryUnavailable",
    "Run",
    "RunStore",
    "UTCDateTime",
    "database_name",
    "first_line",
    "is_unavailable",
    "parse_runs_csv",
    "prepare_sqlite",
    "reporting_unavailable",
]
