"""The store of what-if runs, so an analyst never loses one.

Runs survive a page reload and an app restart, and several sessions may write at once: the
store is one SQL table reached through SQLAlchemy. In the app it is the engine of
``st.connection("whatif_db", type="sql")`` (SQLite under ``WHATIF_HOME`` by default, any
SQLAlchemy URL by setting); from a notebook, ``RunStore.from_url(...)``.

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
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.schema import CreateIndex, CreateTable

from whatif.csvtext import read_lines

__all__ = [
    "PROBABILITY_PREFIX",
    "HistoryKey",
    "Run",
    "RunStore",
    "parse_runs_csv",
]

PROBABILITY_PREFIX = "probability_"
INPUT_PREFIX = "input_"
BUSY_TIMEOUT_MS = 30_000


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


def _is_unavailable(exc: sa.exc.DBAPIError) -> bool:
    """Down, locked for too long, full, read-only, not a database, no permission: a setup problem.

    A refused value (IntegrityError, DataError) is a bug of ours and stays a traceback.
    """
    return isinstance(exc, sa.exc.DatabaseError | sa.exc.InterfaceError) and not isinstance(
        exc, sa.exc.IntegrityError | sa.exc.DataError
    )


SOURCES: frozenset[str] = frozenset({"form", "import"})

# Column names of frame() and export_csv() that are not inputs. A feature with one of these
# names (a credit model's "score", a "name") gets the column "input_<feature>" instead, so
# the run's own fields and the inputs never share a column.
FRAME_COLUMNS = (
    "id",
    "seq",
    "created_at",
    "name",
    "is_baseline",
    "label",
    "prediction",
    "score",
    "session_id",
    "source",
)
EXPORT_COLUMNS = ("run", "created_at", "name", "baseline", "model", "version", "prediction", "label", "score")
RESERVED_COLUMNS: frozenset[str] = frozenset(FRAME_COLUMNS) | frozenset(EXPORT_COLUMNS)

# Query parameters of a URL that may carry a credential; dropped from HistoryKey.connection.
_SECRET_PARAM = re.compile(r"token|secret|key|pass|auth|sig|credential|jwt", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


# ---- the records -------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryKey:
    """Whose history a run belongs to: connection, user and model version.

    ``connection`` is the API's predict URL (or a stable name such as the demo's); any user
    name, password or token-like query parameter in it is removed, so no secret is stored.
    ``schema`` is empty for the saved model's own schema, else a fingerprint of the schema the
    runs were made with (one entered by hand that differs), so runs are compared under one schema.
    """

    connection: str
    user_id: str
    bucket: str
    path: str
    schema: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "connection", _without_credentials(str(self.connection)))
        object.__setattr__(self, "user_id", str(self.user_id))
        object.__setattr__(self, "bucket", str(self.bucket))
        object.__setattr__(self, "path", str(self.path))
        object.__setattr__(self, "schema", str(self.schema))


@dataclass(frozen=True)
class Run:
    """One what-if run: the form values, the row sent, and what the model answered."""

    id: int
    key: HistoryKey
    created_at: datetime
    model_name: str
    model_version: int | None
    inputs: dict[str, Any]
    row: dict[str, Any]
    prediction: Any
    label: str
    score: float
    probabilities: dict[str, float]
    task_id: str
    elapsed_ms: float | None
    name: str = ""
    is_baseline: bool = False
    source: str = "form"
    session_id: str = ""


# ---- column types --------------------------------------------------------------------------------
class _JSONText(sa.types.TypeDecorator[Any]):
    """JSON kept as text: portable to every database, and numpy scalars are stored as numbers."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else _dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


class _UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite has no time zone type: keep the UTC wall time, read back as UTC below.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

runs_table = sa.Table(
    "whatif_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(1000), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("bucket", sa.String(255), nullable=False),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("created_at", _UTCDateTime(), nullable=False),
    sa.Column("model_name", sa.Text, nullable=False, default=""),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("inputs", _JSONText(), nullable=False),
    sa.Column("row", _JSONText(), nullable=False),  # SQLAlchemy quotes it where it is a keyword
    sa.Column("prediction", _JSONText(), nullable=True),
    sa.Column("label", sa.Text, nullable=False, default=""),
    sa.Column("score", sa.Float, nullable=True),  # SQLite stores NaN as NULL; read back as NaN
    sa.Column("probabilities", _JSONText(), nullable=False),
    sa.Column("task_id", sa.Text, nullable=False, default=""),
    sa.Column("elapsed_ms", sa.Float, nullable=True),
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("is_baseline", sa.Boolean, nullable=False, default=False),
    sa.Column("source", sa.String(16), nullable=False, default="form"),
    # Added after the first release: _create_schema adds them to older tables.
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

_JSON_COLUMNS = ("inputs", "row", "prediction", "probabilities")


def _raw(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """Read a JSON or time column as the database gives it: decoded in bulk, not per value."""
    if column.name in _JSON_COLUMNS or column.name == "created_at":
        return sa.type_coerce(column, sa.Text).label(column.name)
    return column


_RUN_SELECT = tuple(_raw(c) for c in runs_table.c)
# frame()'s columns; the first four are the ones that can change and are re-read every time.
_FRAME_SELECT = tuple(
    _raw(runs_table.c[name])
    for name in (
        "id",
        "created_at",
        "name",
        "is_baseline",
        "label",
        "prediction",
        "score",
        "session_id",
        "source",
        "inputs",
        "probabilities",
    )
)


# ---- the store -----------------------------------------------------------------------------------
class RunStore:
    """What-if runs in one SQL table, per ``HistoryKey``, oldest first."""

    def __init__(self, engine: sa.Engine) -> None:
        """Use ``engine`` (the app's ``st.connection(...).engine``); create the table if missing.

        On SQLite every connection gets WAL mode and a 30 s busy timeout, so sessions writing
        at once wait for each other instead of failing with "database is locked".
        """
        self.engine = engine
        self._owns_engine = False
        if engine.dialect.name == "sqlite":
            _prepare_sqlite(engine)
        with self._reporting_unavailable():
            _create_schema(engine)

    @classmethod
    def from_url(cls, url: str) -> RunStore:
        """A store on its own engine for ``url`` (any SQLAlchemy URL); ``close()`` releases it."""
        store = cls(sa.create_engine(url))
        store._owns_engine = True
        return store

    @staticmethod
    def default_url(home: Path) -> str:
        """The SQLite file under the data folder, creating the folder."""
        home = Path(home).expanduser()
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home}/history.sqlite"

    def close(self) -> None:
        """Close the engine's connections if this store created the engine (``from_url``)."""
        if self._owns_engine:
            self.engine.dispose()

    def __repr__(self) -> str:
        return f"RunStore({database_name(self.engine.url)!r})"

    @contextmanager
    def _database(self, write: bool = True) -> Iterator[sa.Connection]:
        """A connection (in a transaction when writing); a database that fails says so in a sentence."""
        with self._reporting_unavailable(), self.engine.begin() if write else self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _reporting_unavailable(self) -> Iterator[None]:
        """A database that cannot be used raises HistoryUnavailable (a sentence) instead of a driver error."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            if not _is_unavailable(exc):
                raise
            raise HistoryUnavailable(database_name(self.engine.url), first_line(exc.orig or exc)) from exc

    # -- writing ---------------------------------------------------------------------------------
    def add(
        self,
        key: HistoryKey,
        *,
        inputs: Mapping[str, Any],
        row: Mapping[str, Any],
        prediction: Any,
        label: str,
        score: float,
        probabilities: Mapping[Any, float],
        task_id: str,
        elapsed_ms: float | None,
        model_name: str,
        model_version: int | None,
        name: str = "",
        source: str = "form",
        session_id: str = "",
    ) -> Run:
        """Save one run and return it as it will be read back (JSON-normalised values)."""
        values = _insert_values(
            key,
            {
                "inputs": inputs,
                "row": row,
                "prediction": prediction,
                "label": label,
                "score": score,
                "probabilities": probabilities,
                "task_id": task_id,
                "elapsed_ms": elapsed_ms,
                "model_name": model_name,
                "model_version": model_version,
                "name": name,
                "source": source,
                "session_id": session_id,
            },
            default_source="form",
        )
        with self._database() as conn:
            result = conn.execute(sa.insert(runs_table).values(values))
            primary_key = result.inserted_primary_key
            assert primary_key is not None  # an INSERT of one row always has one
            run_id = int(primary_key[0])
        return _run_from(dict(values, id=run_id), key)

    def add_many(self, key: HistoryKey, runs: Sequence[Mapping[str, Any]]) -> int:
        """Save many runs (an import) in one transaction: all of them or none; returns how many.

        Each mapping has the keyword arguments of ``add`` (``inputs``, ``prediction``,
        ``label`` and ``score`` required), optionally ``created_at``; ``source`` defaults
        to "import". Baseline marks are not imported: the pinned run stays this history's choice.
        """
        rows = [
            _insert_values(key, run, default_source="import", index=i, normalise=False) for i, run in enumerate(runs, 1)
        ]
        if not rows:
            return 0
        with self._database() as conn:
            conn.execute(sa.insert(runs_table), rows)
        return len(rows)

    def add_new(self, key: HistoryKey, runs: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        """``add_many`` of the runs that are not here yet; returns (added, skipped).

        A run is here already when this history has one with the same inputs, the same answer
        (prediction, label, score) and the same time: importing an export twice adds nothing.
        Runs without a time (rows predicted now) are always new. Duplicates within ``runs``
        count once.
        """
        times = {_as_utc(t) for run in runs if isinstance(t := _time_of(run), datetime)}
        seen = set()
        for chunk in _chunks(sorted(times), 500):  # only the stored runs made at those times are read
            stmt = sa.select(
                _raw(runs_table.c.created_at),
                _raw(runs_table.c.inputs),
                _raw(runs_table.c.prediction),
                runs_table.c.label,
                runs_table.c.score,
            ).where(_key_filter(key), runs_table.c.created_at.in_(chunk))
            with self._database(write=False) as conn:
                stored = list(conn.execute(stmt).all())
            if stored:
                columns = _columns(stored)
                seen |= {_identity(t, i, p, lbl, s) for t, i, p, lbl, s in zip(*columns.values(), strict=True)}
        fresh: list[Mapping[str, Any]] = []
        for run in runs:
            when = _time_of(run)
            if isinstance(when, datetime):
                identity = _identity(when, run["inputs"], run["prediction"], run["label"], run["score"])
                if identity in seen:
                    continue
                seen.add(identity)
            fresh.append(run)
        return self.add_many(key, fresh), len(runs) - len(fresh)

    def set_baseline(self, key: HistoryKey, run_id: int) -> None:
        """Pin ``run_id`` as this history's baseline, unpinning any other; no-op if it is not here.

        One UPDATE over the key's runs, so two sessions pinning at once still leave exactly
        one pinned run (on PostgreSQL too, where the second statement re-reads locked rows).
        """
        t = runs_table
        target = sa.select(t.c.id).where(_key_filter(key), t.c.id == run_id).exists()
        stmt = (
            sa.update(t)
            .where(_key_filter(key), target)
            .values(is_baseline=sa.case((t.c.id == run_id, sa.true()), else_=sa.false()))
        )
        with self._database() as conn:
            conn.execute(stmt)

    def rename(self, run_id: int, name: str) -> None:
        """Give a run a name (shown in the chart and the table); no-op if the run is gone."""
        with self._database() as conn:
            conn.execute(sa.update(runs_table).where(runs_table.c.id == run_id).values(name=str(name)))

    def delete(self, run_id: int) -> None:
        """Delete one run; no-op if it is already gone. Deleting the pinned run unpins."""
        with self._database() as conn:
            conn.execute(sa.delete(runs_table).where(runs_table.c.id == run_id))

    def clear(self, key: HistoryKey, session_id: str | None = None) -> int:
        """Delete this key's runs (with ``session_id``: only that session's; no other history is
        touched); returns how many."""
        with self._database() as conn:
            deleted = int(conn.execute(sa.delete(runs_table).where(_key_filter(key, session_id))).rowcount)
        return deleted

    # -- reading ---------------------------------------------------------------------------------
    def runs(self, key: HistoryKey, limit: int | None = None) -> list[Run]:
        """This key's runs, oldest first; with ``limit``, only the newest ``limit`` of them."""
        stmt = sa.select(*_RUN_SELECT).where(_key_filter(key))
        if limit is None:
            stmt = stmt.order_by(runs_table.c.id)
        elif limit <= 0:
            return []
        else:
            stmt = stmt.order_by(runs_table.c.id.desc()).limit(limit)
        with self._database(write=False) as conn:
            found = _decoded_runs(conn.execute(stmt).all(), key)
        return found if limit is None else found[::-1]

    def count(self, key: HistoryKey, session_id: str | None = None) -> int:
        """How many runs this key has (with ``session_id``: made by that session)."""
        with self._database(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(_key_filter(key, session_id))).scalar_one())

    def newest_of_session(self, key: HistoryKey, session_id: str) -> Run | None:
        """The newest run that ``session_id`` made in this history, or None."""
        stmt = sa.select(*_RUN_SELECT).where(_key_filter(key, session_id)).order_by(runs_table.c.id.desc()).limit(1)
        with self._database(write=False) as conn:
            found = _decoded_runs(conn.execute(stmt).all(), key)
        return found[0] if found else None

    def others_since(self, key: HistoryKey, session_id: str, after_id: int) -> tuple[int, int]:
        """(how many runs other sessions added after run ``after_id``, the newest id of this history)."""
        t = runs_table
        others = sa.func.count().filter(t.c.id > after_id, t.c.session_id != session_id)
        stmt = sa.select(others, sa.func.max(t.c.id)).where(_key_filter(key))
        with self._database(write=False) as conn:
            count, newest = conn.execute(stmt).one()
        return int(count or 0), int(newest or 0)

    def get(self, run_id: int) -> Run | None:
        """One run by id, or None when it does not exist (deleted in another session)."""
        with self._database(write=False) as conn:
            found = _decoded_runs(conn.execute(sa.select(*_RUN_SELECT).where(runs_table.c.id == run_id)).all())
        return found[0] if found else None

    def baseline(self, key: HistoryKey) -> Run | None:
        """The run others are compared with: the pinned one, else the first, else None."""
        t = runs_table
        pinned = sa.select(t.c.id).where(_key_filter(key), t.c.is_baseline).limit(1).scalar_subquery()
        first = sa.select(sa.func.min(t.c.id)).where(_key_filter(key)).scalar_subquery()
        stmt = sa.select(*_RUN_SELECT).where(t.c.id == sa.func.coalesce(pinned, first))
        with self._database(write=False) as conn:
            found = _decoded_runs(conn.execute(stmt).all(), key)
        return found[0] if found else None

    def frame(self, key: HistoryKey, limit: int | None = None, session_id: str | None = None) -> pd.DataFrame:
        """This key's runs as a table for charts, oldest first (with ``limit``: the newest N).

        Columns: id, seq, created_at, name, is_baseline, label, prediction, score, session_id,
        source, one column per input feature (``input_<feature>`` when a feature's name is one
        of the columns before), then ``probability_<class>``. ``seq`` is the run's position in
        the whole history, so run 9,501 is called 9,501 in a window of the newest 500, and a
        session's own runs keep the numbers everybody sees (with ``session_id``: only its runs).

        One statement, ordered and limited in SQL: the page reads only the window it draws.
        """
        if limit is not None and limit <= 0:
            return _runs_frame([], [])
        if session_id is None:
            total = sa.select(sa.func.count()).where(_key_filter(key)).scalar_subquery().label("total")
            stmt = sa.select(*_FRAME_SELECT, total).where(_key_filter(key)).order_by(runs_table.c.id.desc())
        else:  # the numbers in the whole history, counted in SQL over the key's index
            numbered = (
                sa.select(
                    *_FRAME_SELECT,
                    sa.func.row_number().over(order_by=runs_table.c.id).label("seq"),
                    runs_table.c.session_id.label("owner"),
                )
                .where(_key_filter(key))
                .subquery()
            )
            stmt = (
                sa.select(*(c for c in numbered.c if c.name != "owner"))
                .where(numbered.c.owner == session_id)
                .order_by(numbered.c.id.desc())
            )
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._database(write=False) as conn:
            rows = list(conn.execute(stmt).all())
        rows.reverse()
        if session_id is not None:
            return _runs_frame(rows, [int(r.seq) for r in rows])
        # One statement, so the count and the rows agree even while others write.
        first_seq = (int(rows[0].total) - len(rows) + 1) if rows else 1
        return _runs_frame(rows, list(range(first_seq, first_seq + len(rows))))

    def export_csv(self, key: HistoryKey) -> str:
        """This key's runs as CSV text for a download; ``parse_runs_csv`` reads it back.

        Columns: run, created_at (ISO 8601, UTC), name, baseline, model, version, prediction,
        label, score, ``probability_<class>``..., then the inputs under their feature names.
        """
        runs = self.runs(key)
        classes = _ordered_keys(r.probabilities for r in runs)
        features = _ordered_keys(r.inputs for r in runs)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [*EXPORT_COLUMNS, *(PROBABILITY_PREFIX + c for c in classes), *(_input_column(f) for f in features)]
        )
        for seq, r in enumerate(runs, 1):
            writer.writerow(
                [
                    seq,
                    r.created_at.isoformat(),
                    r.name,
                    r.is_baseline,
                    r.model_name,
                    _cell(r.model_version),
                    _cell(r.prediction),
                    r.label,
                    _cell(r.score),
                    *(_cell(r.probabilities.get(c)) for c in classes),
                    *(_cell(r.inputs.get(f)) for f in features),
                ]
            )
        return out.getvalue()


# ---- comparing and importing ------------------------------------------------------------------------
def parse_runs_csv(
    text: str | bytes, feature_names: Sequence[str]
) -> tuple[Literal["runs", "rows"], list[dict[str, Any]]]:
    """Read an uploaded CSV: an export of runs, or rows of inputs to predict.

    Returns ("runs", records for ``RunStore.add_many``) when the CSV has prediction, label
    and score columns (an ``export_csv``, maybe of another history), else ("rows", one dict of
    inputs per line). Numbers become numbers (int when integral), True/False booleans, empty
    cells None, other text stays text. Raises ValueError, one sentence, when the file is
    empty, not CSV text, or lacks a feature column.
    """
    header, lines = _read_csv(text)
    kind: Literal["runs", "rows"] = "runs" if {"prediction", "label", "score"} <= set(header) else "rows"
    columns = {f: (_input_column(f) if kind == "runs" else f) for f in feature_names}
    missing = [c for c in columns.values() if c not in header]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise ValueError(
            f"The CSV lacks the {noun} {', '.join(missing)}; it must have the model's features as columns."
        )
    position = {name: i for i, name in reversed(list(enumerate(header)))}  # first of duplicate names

    def cell(line: list[str], column: str) -> str:
        i = position[column]
        return line[i] if i < len(line) else ""

    inputs = [{f: _parse_cell(cell(line, c)) for f, c in columns.items()} for line in lines]
    if kind == "rows":
        return kind, inputs
    classes = [c[len(PROBABILITY_PREFIX) :] for c in header if c.startswith(PROBABILITY_PREFIX)]
    records: list[dict[str, Any]] = []
    for number, (line, values) in enumerate(zip(lines, inputs, strict=True), 1):
        version = _parse_cell(cell(line, "version")) if "version" in position else None
        created = cell(line, "created_at") if "created_at" in position else ""
        records.append(
            {
                "inputs": values,
                "row": {},  # the request row is not exported; the app rebuilds it from the inputs
                "prediction": _parse_cell(cell(line, "prediction")),
                "label": cell(line, "label"),
                "score": _parse_float(cell(line, "score"), number, "score"),
                "probabilities": {
                    c: _parse_float(p, number, PROBABILITY_PREFIX + c)
                    for c in classes
                    if (p := cell(line, PROBABILITY_PREFIX + c)) != ""
                },
                "task_id": "",
                "elapsed_ms": None,
                "model_name": cell(line, "model") if "model" in position else "",
                "model_version": version if isinstance(version, int) and not isinstance(version, bool) else None,
                "name": cell(line, "name") if "name" in position else "",
                "source": "import",
                "created_at": _parse_time(created),
            }
        )
    return kind, records


# ---- helpers -------------------------------------------------------------------------------------
def _prepare_sqlite(engine: sa.Engine) -> None:
    """Register the WAL + busy-timeout setup for every new SQLite connection of ``engine``."""
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
    sessions open a new history file at the same instant, one of them can get "database is
    locked" at once. So the switch is retried here, within the same 30 s as any other lock.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _create_schema(engine: sa.Engine) -> None:
    """CREATE TABLE/INDEX IF NOT EXISTS: idempotent, and two processes may run it at once.

    A table made by an earlier version gets the columns added since (runs already saved keep
    everything; their new columns read as empty).
    """
    try:
        with engine.begin() as conn:
            conn.execute(CreateTable(runs_table, if_not_exists=True))
            conn.execute(CreateIndex(key_index, if_not_exists=True))
    except sa.exc.DBAPIError:
        # PostgreSQL can still report a duplicate when two processes create the table in the
        # same instant; what matters is that both objects exist now.
        inspector = sa.inspect(engine)
        if not inspector.has_table(runs_table.name) or key_index.name not in {
            ix["name"] for ix in inspector.get_indexes(runs_table.name)
        }:
            raise
    _add_missing_columns(engine)


def _add_missing_columns(engine: sa.Engine) -> None:
    """ALTER TABLE ... ADD COLUMN for columns an older table lacks (another process may add them too).

    A user who may not alter the table (a read-only file, a role that does not own it) gets
    HistoryUnavailable naming the statements its owner can run.
    """
    present = {c["name"] for c in sa.inspect(engine).get_columns(runs_table.name)}
    missing = [column for column in runs_table.c if column.name not in present]
    for column in missing:
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(_add_column_sql(column, engine.dialect)))
        except sa.exc.DBAPIError as exc:
            if column.name in {c["name"] for c in sa.inspect(engine).get_columns(runs_table.name)}:
                continue  # another process added it meanwhile
            statements = "; ".join(_add_column_sql(c, engine.dialect) for c in missing)
            raise HistoryUnavailable(
                database_name(engine.url),
                (
                    f"its table is from an earlier version and this user cannot add the new columns "
                    f"({first_line(exc.orig or exc)}); its owner can run: {statements}"
                ),
            ) from exc


def _add_column_sql(column: sa.Column[Any], dialect: Dialect) -> str:
    """The ALTER TABLE that adds ``column`` as declared (type, NOT NULL with its server default)."""
    kind = column.type.compile(dialect=dialect)
    default = getattr(column.server_default, "arg", None)
    constraint = "" if column.nullable else " NOT NULL"
    if default is not None:
        constraint += f" DEFAULT '{default}'"
    return f"ALTER TABLE {runs_table.name} ADD COLUMN {column.name} {kind}{constraint}"


def _key_filter(key: HistoryKey, session_id: str | None = None) -> sa.ColumnElement[bool]:
    t = runs_table
    where = sa.and_(
        t.c.connection == key.connection,
        t.c.user_id == key.user_id,
        t.c.bucket == key.bucket,
        t.c.path == key.path,
        t.c.schema_fingerprint == key.schema,
    )
    return where if session_id is None else sa.and_(where, t.c.session_id == session_id)


def _time_of(run: Mapping[str, Any]) -> datetime | None:
    created = run.get("created_at")
    return _parse_time(created) if isinstance(created, str) else created


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _identity(created_at: datetime, inputs: Mapping[str, Any], prediction: Any, label: Any, score: Any) -> str:
    """What makes two runs the same run: time, inputs and answer, each as an export writes and reads
    it back (1 == 1.0 == "1"), so a run compares equal to itself after a CSV round trip."""

    def plain(value: Any) -> Any:
        return _parse_cell(_cell(_normalised(value)))

    score_value = None if score is None or (isinstance(score, float) and math.isnan(score)) else float(score)
    return _dumps(
        [
            _as_utc(created_at).isoformat(),
            {str(k): plain(v) for k, v in sorted(inputs.items())},
            plain(prediction),
            str(label),
            score_value,
        ]
    )


def _without_credentials(connection: str) -> str:
    """The URL without user name, password or token-like query parameters."""
    parts = urlsplit(connection)
    params = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in params if not _SECRET_PARAM.search(k)]
    if "@" not in parts.netloc and len(kept) == len(params):
        return connection  # nothing to remove: keep the URL exactly as given
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(kept), parts.fragment))


def _insert_values(
    key: HistoryKey, run: Mapping[str, Any], *, default_source: str, index: int | None = None, normalise: bool = True
) -> dict[str, Any]:
    """The table row for one run; with ``normalise``, JSON values as they will read back."""
    missing = [k for k in ("inputs", "prediction", "label", "score") if k not in run]
    if missing:
        where = f"Run {index}" if index is not None else "The run"
        raise ValueError(f"{where} lacks {', '.join(missing)}.")
    source = str(run.get("source") or default_source)
    if source not in SOURCES:
        raise ValueError(f"A run's source is 'form' or 'import', not {source!r}.")
    created_at = run.get("created_at")
    if isinstance(created_at, str):
        created_at = _parse_time(created_at)
    version = run.get("model_version")
    elapsed = run.get("elapsed_ms")
    probabilities = run.get("probabilities") or {}
    as_stored = _normalised if normalise else _unchanged
    return {
        "connection": key.connection,
        "user_id": key.user_id,
        "bucket": key.bucket,
        "path": key.path,
        "schema_fingerprint": key.schema,
        "session_id": str(run.get("session_id") or ""),
        "created_at": _as_utc(created_at) if isinstance(created_at, datetime) else datetime.now(UTC),
        "model_name": str(run.get("model_name") or ""),
        "model_version": None if version is None else int(version),
        "inputs": as_stored(dict(run["inputs"])),
        "row": as_stored(dict(run.get("row") or {})),
        "prediction": as_stored(run["prediction"]),
        "label": str(run["label"]),
        "score": float(run["score"]),
        "probabilities": {str(k): float(v) for k, v in probabilities.items()},
        "task_id": str(run.get("task_id") or ""),
        "elapsed_ms": None if elapsed is None else float(elapsed),
        "name": str(run.get("name") or ""),
        "is_baseline": False,
        "source": source,
    }


def _decoded_runs(rows: Sequence[sa.Row[Any]], key: HistoryKey | None = None) -> list[Run]:
    """Runs from raw rows of ``_RUN_SELECT``: JSON decoded in bulk, times made aware UTC."""
    if not rows:
        return []
    columns = _columns(rows)
    return [_run_from(dict(zip(columns, values, strict=True)), key) for values in zip(*columns.values(), strict=True)]


def _columns(rows: Sequence[Any]) -> dict[str, list[Any]]:
    """Rows -> one list per column, with JSON and time columns decoded."""
    names = list(rows[0]._fields)
    columns = {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}
    for name in _JSON_COLUMNS:
        if name in columns:
            columns[name] = _json_values(columns[name])
    if "created_at" in columns:
        columns["created_at"] = [_db_time(v) for v in columns["created_at"]]
    return columns


def _json_values(texts: Sequence[str | None]) -> list[Any]:
    """Many JSON texts decoded with one ``json.loads`` (ten times faster than one call each)."""
    return list(json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]"))


def _db_time(value: str | datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite gives text, others a datetime)."""
    return _as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _run_from(r: Mapping[str, Any], key: HistoryKey | None = None) -> Run:
    score = r["score"]
    return Run(
        id=int(r["id"]),
        key=key or HistoryKey(r["connection"], r["user_id"], r["bucket"], r["path"], r["schema_fingerprint"]),
        created_at=r["created_at"],
        model_name=r["model_name"],
        model_version=r["model_version"],
        inputs=r["inputs"],
        row=r["row"],
        prediction=r["prediction"],
        label=r["label"],
        score=math.nan if score is None else float(score),
        probabilities=r["probabilities"],
        task_id=r["task_id"],
        elapsed_ms=r["elapsed_ms"],
        name=r["name"],
        is_baseline=bool(r["is_baseline"]),
        source=r["source"],
        session_id=r["session_id"],
    )


def _runs_frame(rows: Sequence[Any], seqs: Sequence[int]) -> pd.DataFrame:
    """frame()'s table, built column by column with bulk decoding (10,000 runs in tens of ms)."""
    names = [c.name for c in _FRAME_SELECT]
    # rows end with one more column (the count, or the numbers), which zip leaves out
    columns = dict(zip(names, zip(*rows))) if rows else dict.fromkeys(names, ())  # noqa: B905
    times = list(columns["created_at"])
    data: dict[str, Any] = {
        "id": pd.array(columns["id"], dtype="int64"),
        "seq": pd.array(list(seqs), dtype="int64"),
        # SQLite gives ISO text, parsed in one vectorised call; other databases give datetimes.
        "created_at": pd.to_datetime(times, utc=True, format="ISO8601").as_unit("us"),
        "name": pd.array(columns["name"], dtype="str"),
        "is_baseline": pd.array([bool(b) for b in columns["is_baseline"]], dtype="bool"),
        "label": pd.array(columns["label"], dtype="str"),
        "prediction": pd.Series(_json_values(columns["prediction"]), dtype=object),
        "score": pd.array([math.nan if v is None else v for v in columns["score"]], dtype="float64"),
        "session_id": pd.array(columns["session_id"], dtype="str"),
        "source": pd.array(columns["source"], dtype="str"),
    }
    frame = pd.DataFrame(data)
    inputs = pd.DataFrame(_json_values(columns["inputs"]), index=frame.index)
    inputs.columns = [_input_column(str(c)) for c in inputs.columns]
    probabilities = pd.DataFrame(_json_values(columns["probabilities"]), index=frame.index, dtype="float64")
    probabilities.columns = [PROBABILITY_PREFIX + str(c) for c in probabilities.columns]
    return pd.concat([frame, inputs, probabilities], axis=1)


def _input_column(feature: str) -> str:
    """The column of a feature in frame() and the export: its name, unless a run field has it."""
    if feature in RESERVED_COLUMNS or feature.startswith(PROBABILITY_PREFIX):
        return INPUT_PREFIX + feature
    return feature


def _ordered_keys(dicts: Any) -> list[str]:
    """Keys of many dicts, in order of first appearance."""
    seen: dict[str, None] = {}
    for d in dicts:
        if d.keys() - seen.keys():
            seen.update(dict.fromkeys(d))
    return list(seen)


def _to_jsonable(value: Any) -> Any:
    """What json cannot write itself: numpy/pandas scalars, timestamps."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"A {type(value).__name__} cannot be stored in the run history.")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_to_jsonable, ensure_ascii=False, separators=(",", ":"))


def _normalised(value: Any) -> Any:
    """``value`` as it will read back from the store (plain Python, JSON types)."""
    return json.loads(_dumps(value))


def _unchanged(value: Any) -> Any:
    return value


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _cell(value: Any) -> str:
    """A CSV cell that _parse_cell reads back as the same value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | int | float | str):
        return repr(value) if isinstance(value, float) else str(value)
    return _dumps(value)


def _parse_cell(text: str) -> Any:
    """CSV text -> int (integral numbers), float, bool (True/False), None (empty) or the text."""
    stripped = text.strip()
    if stripped == "":
        return None
    if stripped in ("True", "False"):
        return stripped == "True"
    if _NUMBER.fullmatch(stripped):
        number = float(stripped)
        if math.isfinite(number) and number.is_integer() and abs(number) < 2**53:
            return int(number)
        return number
    return text


def _parse_float(text: str, line: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"Row {line} of the CSV has {column} {text!r}, which is not a number.") from None


def _parse_time(text: str) -> datetime | None:
    try:
        return _as_utc(datetime.fromisoformat(text.strip())) if text.strip() else None
    except ValueError:
        return None


def _read_csv(text: str | bytes) -> tuple[list[str], list[list[str]]]:
    """Header and data lines of CSV text (comma, semicolon or tab separated; a BOM is fine)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("The file is not a CSV text file (it is not UTF-8 text).") from None
    try:
        lines = read_lines(text)
    except csv.Error as exc:
        raise ValueError(f"The file is not a readable CSV text file: {exc}.") from None
    if not lines:
        raise ValueError("The CSV is empty; it must have a header row with the model's features as columns.")
    header = [name.strip() for name in lines[0]]
    if len(lines) < 2:
        raise ValueError("The CSV has a header but no rows.")
    return header, lines[1:]
