"""The history's database: an engine made ready for several sessions, and its failures as one sentence.

Everything that reads a driver's failure is here, so the run store, the stores beside it
(``whatif.sqlstore``) and the app (``components/store.py``) say the same sentence for the same
problem: ``reporting_unavailable`` is the one place that turns a driver error, an unreadable
URL or a missing driver into ``HistoryUnavailable``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

BUSY_TIMEOUT_MS = 30_000
URL_UNREADABLE = "its URL cannot be read (check the port, and quote special characters in the password)"

# SQLite primary result codes (https://sqlite.org/rescode.html) that mean the database cannot be
# used as it is: a setup problem to show as a sentence. The others (a constraint, a value too
# big, a misuse) are bugs of ours and stay tracebacks.
SQLITE_ERROR, SQLITE_BUSY, SQLITE_LOCKED = 1, 5, 6
_SQLITE_UNAVAILABLE = frozenset(
    {
        SQLITE_ERROR,  # a table or column missing: the file was changed by hand or by another program
        3,  # SQLITE_PERM
        SQLITE_BUSY,  # locked by another session for longer than the busy timeout
        SQLITE_LOCKED,
        7,  # SQLITE_NOMEM
        8,  # SQLITE_READONLY
        10,  # SQLITE_IOERR
        11,  # SQLITE_CORRUPT
        13,  # SQLITE_FULL
        14,  # SQLITE_CANTOPEN
        15,  # SQLITE_PROTOCOL
        22,  # SQLITE_NOLFS
        23,  # SQLITE_AUTH
        26,  # SQLITE_NOTADB
    }
)


class HistoryUnavailable(Exception):
    """The history database cannot be reached, opened or written: a setup problem, not a bug.

    ``str(error)`` is one sentence naming the database (never its password) and the reason.
    """

    def __init__(self, database: str, reason: str) -> None:
        super().__init__(f"The run history database {database} cannot be used: {reason}.")
        self.database = database
        self.reason = reason


def database_name(url: sa.URL | str) -> str:
    """A database URL fit to show: without its password, and without its query (which may carry one)."""
    try:
        parsed = sa.make_url(url) if isinstance(url, str) else url
        return unquote(parsed.set(query={}).render_as_string(hide_password=True))  # file%3A -> file:
    except (sa.exc.ArgumentError, ValueError):
        return "(its URL cannot be read)"


def first_line(error: BaseException) -> str:
    """The first line of an error's text (drivers add SQL and links below it), else its type."""
    text = str(error).strip()
    return text.splitlines()[0].rstrip(".") if text else type(error).__name__


def sqlite_code(error: BaseException | None) -> int | None:
    """The primary SQLite result code of a ``sqlite3`` error (``sqlite_errorcode``), else None."""
    code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.Error) else None
    return code & 0xFF if isinstance(code, int) else None  # an extended code keeps the primary in its low byte


def is_unavailable(exc: sa.exc.DBAPIError) -> bool:
    """Down, locked for too long, full, read-only, not a database, no permission: a setup problem.

    SQLite says which by its result code; other drivers by the DB-API class, where a refused
    value (IntegrityError, DataError) is a bug of ours and stays a traceback.
    """
    code = sqlite_code(exc.orig)
    if code is not None:
        return code in _SQLITE_UNAVAILABLE
    return isinstance(exc, sa.exc.DatabaseError | sa.exc.InterfaceError) and not isinstance(
        exc, sa.exc.IntegrityError | sa.exc.DataError
    )


@contextmanager
def reporting_unavailable(url: sa.URL | str, *, opening: bool = False, shown_as: str = "") -> Iterator[None]:
    """Raise HistoryUnavailable, one sentence naming the database at ``url``, for what is a setup problem.

    Always: a driver error that ``is_unavailable`` says is one. With ``opening`` (an engine being
    made from settings) also an unknown dialect, a driver that is not installed, and a URL that
    cannot be parsed; that URL is not repeated (its text may hold a piece of the password): the
    database is then called ``shown_as``.
    """
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if not is_unavailable(exc):
            raise
        raise HistoryUnavailable(database_name(url), first_line(exc.orig or exc)) from exc
    except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
        if not opening:
            raise
        raise HistoryUnavailable(database_name(url), first_line(exc)) from exc
    except ValueError as exc:
        if not opening:
            raise
        raise HistoryUnavailable(shown_as or "(its URL cannot be read)", URL_UNREADABLE) from exc


class DatabaseStore:
    """A store on one engine: SQLite made ready for several sessions, its tables set up, failures as sentences.

    Subclasses set up their tables in ``_set_up`` (``RunStore``: the versioned history;
    ``whatif.sqlstore.SqlStore``: the small stores beside it).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._owns_engine = False
        if engine.dialect.name == "sqlite":
            prepare_sqlite(engine)
        with self._reporting_unavailable():
            self._set_up(engine)

    def _set_up(self, engine: sa.Engine) -> None:
        """Create or upgrade this store's tables."""
        raise NotImplementedError

    @classmethod
    def from_url(cls, url: str) -> Self:
        """A store on its own engine for ``url`` (any SQLAlchemy URL); ``close()`` releases it."""
        with reporting_unavailable(url, opening=True):
            store = cls(sa.create_engine(url))
        store._owns_engine = True
        return store

    def close(self) -> None:
        """Close the engine's connections if this store created the engine (``from_url``)."""
        if self._owns_engine:
            self.engine.dispose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({database_name(self.engine.url)!r})"

    @contextmanager
    def _reporting_unavailable(self) -> Iterator[None]:
        with reporting_unavailable(self.engine.url):
            yield

    @contextmanager
    def _database(self, write: bool = True) -> Iterator[sa.Connection]:
        """A connection (in a transaction when writing); a database that fails says so in a sentence."""
        with self._reporting_unavailable(), self.engine.begin() if write else self.engine.connect() as conn:
            yield conn


# ---- SQLite: WAL and a busy timeout on every connection ---------------------------------------------
def prepare_sqlite(engine: sa.Engine) -> None:
    """Give every new SQLite connection of ``engine`` WAL mode and a 30 s busy timeout.

    So sessions writing at once wait for each other instead of failing with "database is locked",
    and readers never wait for a writer.
    """
    if not event.contains(engine, "connect", _sqlite_on_connect):
        event.listen(engine, "connect", _sqlite_on_connect)
    # Connections pooled before the listener existed would miss it; a file database loses
    # nothing by reopening them (an in-memory one would lose everything, so it is left alone).
    database = engine.url.database or ""
    pooled = getattr(engine.pool, "checkedin", lambda: 0)()
    if pooled and database and database != ":memory:" and "mode=memory" not in str(engine.url):
        engine.pool.dispose()


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, connection_record: ConnectionPoolEntry) -> None:
    """Wait up to 30 s for a lock instead of failing; WAL lets readers and a writer overlap."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the database file in WAL mode, retrying while another connection holds it.

    SQLite does not always call the busy handler for a journal-mode change: when several
    sessions open a new history file at the same instant, one of them can get SQLITE_BUSY at
    once. So the switch is retried here, within the same 30 s as any other lock.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if sqlite_code(exc) not in (SQLITE_BUSY, SQLITE_LOCKED) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
