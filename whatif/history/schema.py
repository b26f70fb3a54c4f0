"""The history's tables, their schema version, and the ordered migrations that bring a database up to it.

Opening a database (``open_schema``) creates the tables at the latest version when it is empty,
upgrades it in order when it is older, and refuses, in one sentence, a database written by a
newer release. A history written before versions were recorded (a ``whatif_runs`` table and no
``whatif_schema_version``) is version 0: migration 1 brings it to the layout every release has
created since the session and schema-fingerprint columns were added.

Why a small version table and not Alembic: the history is one table with a handful of future
changes, upgraded by the app itself at start, on SQLite and PostgreSQL alike, by whichever
replica starts first. Alembic would add a dependency, a script directory with its ``env.py``
and a configuration to find at run time, and would still need the lock below around its
upgrade for replicas that start together. Here a migration is a function of a connection, run
in the same locked transaction as its version's row, so a failed upgrade leaves nothing half done
(DDL is transactional on both databases).

Starting together: the usual start reads the version and changes nothing (so a read-only
database opens). Creation and upgrade run in one transaction that only one process may be in:
on PostgreSQL it holds ``pg_advisory_xact_lock(SCHEMA_LOCK_KEY)`` (released at commit or
rollback, so a replica that dies never leaves it held); on SQLite it is a ``BEGIN IMMEDIATE``
transaction (the others wait for the write lock). Inside, the version is read again: a replica
that waited finds the work done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import Dialect

from whatif.history.database import HistoryUnavailable, database_name, first_line, is_unavailable
from whatif.history.records import as_utc, dumps

# pg_advisory_xact_lock key of schema changes: any constant that other applications on the
# same PostgreSQL database are unlikely to use ("what" in ASCII).
SCHEMA_LOCK_KEY = 0x77686174


# ---- column types --------------------------------------------------------------------------------
class JSONText(sa.types.TypeDecorator[Any]):
    """JSON kept as text: portable to every database, and numpy scalars are stored as numbers.

    Only writing is done here; a read gives the text, decoded in bulk by
    ``records.json_values`` (the one read path, and much faster than a decode per value).
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else dumps(value)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        # SQLite has no time zone type: keep the UTC wall time, read back as UTC below.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


# ---- the tables at the latest version --------------------------------------------------------------
metadata = sa.MetaData()

runs_table = sa.Table(
    "whatif_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(1000), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("bucket", sa.String(255), nullable=False),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("model_name", sa.Text, nullable=False, default=""),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("inputs", JSONText(), nullable=False),
    sa.Column("row", JSONText(), nullable=False),  # SQLAlchemy quotes it where it is a keyword
    sa.Column("prediction", JSONText(), nullable=True),
    sa.Column("label", sa.Text, nullable=False, default=""),
    sa.Column("score", sa.Float, nullable=True),  # SQLite stores NaN as NULL; read back as NaN
    sa.Column("probabilities", JSONText(), nullable=False),
    sa.Column("task_id", sa.Text, nullable=False, default=""),
    sa.Column("elapsed_ms", sa.Float, nullable=True),
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("is_baseline", sa.Boolean, nullable=False, default=False),
    sa.Column("source", sa.String(16), nullable=False, default="form"),
    sa.Column("session_id", sa.String(64), nullable=False, default="", server_default=""),
    sa.Column("schema_fingerprint", sa.String(64), nullable=False, default="", server_default=""),
    # Never reuse the id of a deleted run: a stale page renaming "run 812" must not hit a newer one.
    sqlite_autoincrement=True,
)
# Every read is "this key's runs in id order": the index answers it, LIMIT included.
key_index = sa.Index(
    "ix_whatif_runs_key_id",
    runs_table.c.connection,
    runs_table.c.user_id,
    runs_table.c.bucket,
    runs_table.c.path,
    runs_table.c.id,
)

# One row per migration applied (version 1 is the first); the highest is the database's version.
versions_table = sa.Table(
    "whatif_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime(), nullable=False),
)


# ---- migrations ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Migration:
    """One step up: ``apply`` changes a database at ``version - 1`` into ``version``, inside the locked
    transaction. Written as frozen DDL, never from the live tables above, which move on."""

    version: int
    description: str
    apply: Callable[[sa.Connection], None]


# Version 1's columns that the first release's table lacked (DDL as it was then, frozen).
_V1_ADDED_COLUMNS = (
    sa.Column("session_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("schema_fingerprint", sa.String(64), nullable=False, server_default=""),
)
_V1_KEY_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_whatif_runs_key_id ON whatif_runs (connection, user_id, bucket, path, id)"
)


def _to_version_1(conn: sa.Connection) -> None:
    """A run table from before versions were recorded gets the columns added since the first release.

    Runs already saved keep everything; their new columns read as empty. A user who may not alter
    the table (a read-only file, a role that does not own it) gets a sentence with the statements
    its owner can run.
    """
    conn.exec_driver_sql(_V1_KEY_INDEX)
    present = {c["name"] for c in sa.inspect(conn).get_columns("whatif_runs")}
    missing = [column for column in _V1_ADDED_COLUMNS if column.name not in present]
    for column in missing:
        try:
            conn.exec_driver_sql(add_column_sql("whatif_runs", column, conn.dialect))
        except sa.exc.DBAPIError as exc:
            if not is_unavailable(exc):
                raise
            statements = "; ".join(add_column_sql("whatif_runs", c, conn.dialect) for c in missing)
            raise HistoryUnavailable(
                database_name(conn.engine.url),
                (
                    f"its table is from an earlier version and this user cannot add the new columns "
                    f"({first_line(exc.orig or exc)}); its owner can run: {statements}"
                ),
            ) from exc


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the run table with session ids and schema fingerprints", _to_version_1),
)
LATEST_VERSION = MIGRATIONS[-1].version


def add_column_sql(table: str, column: sa.Column[Any], dialect: Dialect) -> str:
    """The ALTER TABLE that adds ``column`` as declared (type, NOT NULL with its server default)."""
    kind = column.type.compile(dialect=dialect)
    default = getattr(column.server_default, "arg", None)
    constraint = "" if column.nullable else " NOT NULL"
    if default is not None:
        constraint += f" DEFAULT '{default}'"
    return f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}{constraint}"


# ---- opening -----------------------------------------------------------------------------------------
def open_schema(engine: sa.Engine, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the history's tables to the latest version of ``migrations`` and return it.

    Empty database: the tables are created at the latest version. Older: each migration after
    its version is applied in order and recorded. Newer than this code: HistoryUnavailable, and
    nothing is changed. Safe when several processes open the same database at once.
    """
    latest = migrations[-1].version
    with engine.connect() as conn:
        found, has_runs = _state(conn)
    _refuse_newer(engine, found, latest)
    if found == latest and has_runs:
        return latest  # the usual start: nothing is written
    try:
        with schema_transaction(engine) as conn:
            found, has_runs = _state(conn)  # another replica may have done it while this one waited
            _refuse_newer(engine, found, latest)
            if not has_runs:  # a new database, or one whose run table was dropped by hand
                metadata.create_all(conn)
                if found != latest:
                    _record(conn, latest)
            else:
                for migration in migrations:
                    if migration.version > (found or 0):
                        migration.apply(conn)
                        _record(conn, migration.version)
    except sa.exc.DBAPIError as exc:
        if not is_unavailable(exc) or not _usable_as_it_is(engine, latest):
            raise
    return latest


def _state(conn: sa.Connection) -> tuple[int | None, bool]:
    """(the highest version recorded, or None; whether the run table exists)."""
    inspector = sa.inspect(conn)
    recorded = None
    if inspector.has_table(versions_table.name):
        recorded = conn.execute(sa.select(sa.func.max(versions_table.c.version))).scalar()
    return (None if recorded is None else int(recorded)), inspector.has_table(runs_table.name)


@contextmanager
def schema_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that one process at a time may be in (see the module's text); committed at the end."""
    with engine.connect() as conn, conn.begin():
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # pysqlite has not begun one yet: it does so before DML only
        elif engine.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
        yield conn


def _record(conn: sa.Connection, version: int) -> None:
    versions_table.create(conn, checkfirst=True)
    conn.execute(sa.insert(versions_table).values(version=version, applied_at=datetime.now(UTC)))


def _refuse_newer(engine: sa.Engine, found: int | None, latest: int) -> None:
    if found is not None and found > latest:
        raise HistoryUnavailable(
            database_name(engine.url),
            (
                f"it was written by a newer release of this app (schema version {found}; this release knows "
                f"versions up to {latest}), so it is left as it is: upgrade this app to use it"
            ),
        )


def _usable_as_it_is(engine: sa.Engine, latest: int) -> bool:
    """After an upgrade that could not be written: is the database usable without it?

    Yes when another process has just brought it to ``latest`` (a database without the lock
    above), or when the run table already has every column this code reads and writes (a
    history of a release before versions were recorded that this user may only read, or may
    not create tables in: it is used as it is, and its first start by its owner records the
    version).
    """
    try:
        with engine.connect() as conn:
            found, has_runs = _state(conn)
            if found == latest or not has_runs:
                return found == latest and has_runs
            present = {c["name"] for c in sa.inspect(conn).get_columns(runs_table.name)}
    except sa.exc.DBAPIError:
        return False  # the first failure is the one to report
    return {c.name for c in runs_table.c} <= present
