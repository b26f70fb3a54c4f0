"""Saved behavioural suites and their results per model version, in the run-history database.

Suites (``whatif.analysis.checks``) are kept by name per connection and user, as the JSON text
the user wrote (so its layout and comments-as-descriptions survive); each run of a suite on a
model version keeps its report, so versions can be compared check by check::

    store = SuiteStore(engine)                       # the run history's engine: st.connection(...).engine
    store.save_suite(connection, user_id, suite_text)
    store.save_result(HistoryKey(connection, user_id, bucket, path), report)
    SuiteStore.compare(store.results(connection, user_id, "credit basics"))

Two tables of their own (``whatif_suites``, ``whatif_suite_results``), created when missing, on
SQLite and PostgreSQL alike. A database that cannot be opened or written raises
``whatif.history.HistoryUnavailable`` (one sentence naming it, never its password). No secret is
stored: the connection is a URL with any credentials stripped, as in the run history.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from whatif.analysis.checks import Suite, SuiteError, SuiteReport
from whatif.history import (
    HistoryKey,
    UTCDateTime,
)
from whatif.sqlstore import SqlStore

__all__ = ["NEWLY_FAILS", "NEWLY_PASSES", "SavedResult", "SavedSuite", "SuiteError", "SuiteStore", "compare_results"]

NEWLY_FAILS, NEWLY_PASSES = "newly fails", "newly passes"
PASSED, FAILED, NOT_RUN = "passed", "failed", ""

metadata = sa.MetaData()

suites_table = sa.Table(
    "whatif_suites",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(1000), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("connection", "user_id", "name", name="uq_whatif_suites_owner_name"),
)

results_table = sa.Table(
    "whatif_suite_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(1000), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("suite_name", sa.String(255), nullable=False),
    sa.Column("bucket", sa.String(255), nullable=False),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("schema_fingerprint", sa.String(64), nullable=False, default=""),
    sa.Column("model_name", sa.Text, nullable=False, default=""),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("passed", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("report", sa.Text, nullable=False),  # the report's JSON (without the rows sent)
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)
results_index = sa.Index(
    "ix_whatif_suite_results_suite_id",
    results_table.c.connection,
    results_table.c.user_id,
    results_table.c.suite_name,
    results_table.c.id,
)


@dataclass(frozen=True)
class SavedSuite:
    """A suite as stored: its name, the JSON text as written, and when it was made and last changed."""

    name: str
    text: str
    created_at: datetime
    updated_at: datetime

    @property
    def suite(self) -> Suite:
        """The suite parsed (SuiteError if the stored text no longer reads, which saving prevents)."""
        return Suite.from_json(self.text)


@dataclass(frozen=True)
class SavedResult:
    """One run of a suite on one model version: who, which model, the report's JSON, when."""

    id: int
    suite_name: str
    key: HistoryKey
    model_name: str
    model_version: int | None
    passed: int
    total: int
    report: dict[str, Any]
    created_at: datetime

    @property
    def label(self) -> str:
        """How a comparison names this version: "v2", or the path without a version."""
        return f"v{self.model_version}" if self.model_version is not None else self.key.path

    def outcomes(self) -> dict[str, bool]:
        """Each check's name -> passed, in the report's order."""
        return {str(c["name"]): bool(c["passed"]) for c in self.report.get("checks", [])}


class SuiteStore(SqlStore):
    """Suites and their results in the run-history database (own tables, created when missing)."""

    def _create_tables(self, engine: sa.Engine) -> None:
        _create_tables(engine)

    # -- suites ---------------------------------------------------------------------------------------
    def save_suite(self, connection: str, user_id: str, suite: Suite | str) -> SavedSuite:
        """Create the suite, or replace the one of the same name; the text must read as a suite (SuiteError).

        A ``Suite`` is stored as its JSON; text is stored as written.
        """
        text = suite.to_json() if isinstance(suite, Suite) else str(suite)
        name = (suite if isinstance(suite, Suite) else Suite.from_json(text)).name
        owner = _owner(connection, user_id)
        now = datetime.now(UTC)
        t = suites_table
        where = sa.and_(t.c.connection == owner.connection, t.c.user_id == owner.user_id, t.c.name == name)
        for attempt in range(2):
            try:
                with self._database() as conn:
                    if conn.execute(sa.update(t).where(where).values(text=text, updated_at=now)).rowcount == 0:
                        conn.execute(
                            sa.insert(t).values(
                                connection=owner.connection,
                                user_id=owner.user_id,
                                name=name,
                                text=text,
                                created_at=now,
                                updated_at=now,
                            )
                        )
                break
            except sa.exc.IntegrityError:  # another session created it meanwhile: update theirs
                if attempt:
                    raise
        saved = self.suite(connection, user_id, name)
        assert saved is not None  # just written
        return saved

    def suites(self, connection: str, user_id: str) -> list[SavedSuite]:
        """This user's suites on this connection, by name."""
        owner = _owner(connection, user_id)
        t = suites_table
        stmt = (
            sa.select(t.c.name, t.c.text, t.c.created_at, t.c.updated_at)
            .where(t.c.connection == owner.connection, t.c.user_id == owner.user_id)
            .order_by(t.c.name)
        )
        with self._database(write=False) as conn:
            return [SavedSuite(*row) for row in conn.execute(stmt).all()]

    def suite(self, connection: str, user_id: str, name: str) -> SavedSuite | None:
        """The suite called ``name``, or None."""
        owner = _owner(connection, user_id)
        t = suites_table
        stmt = sa.select(t.c.name, t.c.text, t.c.created_at, t.c.updated_at).where(
            t.c.connection == owner.connection, t.c.user_id == owner.user_id, t.c.name == name
        )
        with self._database(write=False) as conn:
            row = conn.execute(stmt).first()
        return None if row is None else SavedSuite(*row)

    def delete_suite(self, connection: str, user_id: str, name: str) -> bool:
        """Delete the suite and its results; False when there was no such suite."""
        owner = _owner(connection, user_id)
        t, r = suites_table, results_table
        with self._database() as conn:
            deleted = conn.execute(
                sa.delete(t).where(t.c.connection == owner.connection, t.c.user_id == owner.user_id, t.c.name == name)
            ).rowcount
            conn.execute(
                sa.delete(r).where(
                    r.c.connection == owner.connection, r.c.user_id == owner.user_id, r.c.suite_name == name
                )
            )
        return bool(deleted)

    # -- results ----------------------------------------------------------------------------------------
    def save_result(
        self,
        key: HistoryKey,
        report: SuiteReport | Mapping[str, Any],
        *,
        model_name: str | None = None,
        model_version: int | None = None,
        created_at: datetime | None = None,
    ) -> SavedResult:
        """Keep one run of a suite on the model version ``key`` names (its rows sent are not kept).

        The suite's name, the model's name and version come from the report unless given.
        """
        data = report.to_json() if isinstance(report, SuiteReport) else dict(report)
        if isinstance(data.get("rows"), list):  # the rows sent (a CLI's JSON): not kept
            data.pop("rows")
        model = data.get("model") or {}
        name = str(data.get("suite") or "")
        if not name:
            raise ValueError("The report names no suite, so its result cannot be kept.")
        version = model_version if model_version is not None else model.get("version")
        checks = data.get("checks") or []
        text = json.dumps(data, allow_nan=False, default=_jsonable)
        values: dict[str, Any] = {
            "connection": key.connection,
            "user_id": key.user_id,
            "suite_name": name,
            "bucket": key.bucket,
            "path": key.path,
            "schema_fingerprint": key.schema,
            "model_name": str(model_name if model_name is not None else model.get("name") or ""),
            "model_version": None if version is None else int(version),
            "passed": sum(bool(c.get("passed")) for c in checks),
            "total": len(checks),
            "report": text,
            "created_at": created_at or datetime.now(UTC),
        }
        with self._database() as conn:
            primary_key = conn.execute(sa.insert(results_table).values(values)).inserted_primary_key
        assert primary_key is not None
        return _result({**values, "id": int(primary_key[0]), "report": json.loads(text)})

    def results(
        self,
        connection: str,
        user_id: str,
        suite_name: str,
        *,
        bucket: str | None = None,
        path: str | None = None,
        limit: int | None = None,
    ) -> list[SavedResult]:
        """The suite's results, newest first (only one model version's with ``bucket`` and ``path``)."""
        owner = _owner(connection, user_id)
        r = results_table
        stmt = sa.select(r).where(
            r.c.connection == owner.connection, r.c.user_id == owner.user_id, r.c.suite_name == suite_name
        )
        if bucket is not None:
            stmt = stmt.where(r.c.bucket == bucket)
        if path is not None:
            stmt = stmt.where(r.c.path == path)
        stmt = stmt.order_by(r.c.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._database(write=False) as conn:
            rows = conn.execute(stmt).mappings().all()
        return [_result({**row, "report": json.loads(row["report"])}) for row in rows]

    @staticmethod
    def compare(results: Sequence[SavedResult]) -> pd.DataFrame:
        """One row per check, one column per model version (see ``compare_results``)."""
        return compare_results(results)


def compare_results(results: Sequence[SavedResult]) -> pd.DataFrame:
    """One row per check, one column per model version ("passed", "failed", or "" when not run there),
    oldest version first, then per version after the first a ``"<version> change"`` column: "newly fails"
    or "newly passes" against the version before it, else "".

    Each model version (bucket and path) counts with its newest result; versions are ordered by
    version number, then by when they were first run.
    """
    newest: dict[tuple[str, str], SavedResult] = {}
    first_run: dict[tuple[str, str], datetime] = {}
    for result in sorted(results, key=lambda r: (r.created_at, r.id)):
        where = (result.key.bucket, result.key.path)
        newest[where] = result
        first_run.setdefault(where, result.created_at)
    ordered = sorted(
        newest.values(),
        key=lambda r: (r.model_version is None, r.model_version or 0, first_run[(r.key.bucket, r.key.path)]),
    )
    labels = _labels(ordered)
    checks: dict[str, str] = {}
    for result in sorted(ordered, key=lambda r: (r.created_at, r.id), reverse=True):  # newest run's order first
        for check in result.report.get("checks", []):
            checks.setdefault(str(check["name"]), str(check.get("type", "")))
    table: dict[str, list[Any]] = {"check": list(checks), "type": list(checks.values())}
    outcomes = [result.outcomes() for result in ordered]
    for label, outcome in zip(labels, outcomes, strict=True):
        table[label] = [NOT_RUN if name not in outcome else PASSED if outcome[name] else FAILED for name in checks]
    for i in range(1, len(ordered)):
        before, after = outcomes[i - 1], outcomes[i]
        table[f"{labels[i]} change"] = [_change(before.get(name), after.get(name)) for name in checks]
    return pd.DataFrame(table)


def _change(before: bool | None, after: bool | None) -> str:
    if before is True and after is False:
        return NEWLY_FAILS
    if before is False and after is True:
        return NEWLY_PASSES
    return ""


def _labels(results: Sequence[SavedResult]) -> list[str]:
    """Column names: "v1", "v2"; with several models "Credit v1"; the path when two would be alike."""
    several = len({r.model_name for r in results}) > 1
    labels = [f"{r.model_name} {r.label}" if several and r.model_name else r.label for r in results]
    return [
        label if labels.count(label) == 1 else f"{label} ({r.key.bucket}/{r.key.path})"
        for label, r in zip(labels, results, strict=True)
    ]


def _owner(connection: str, user_id: str) -> HistoryKey:
    """The connection without credentials and the user id, as the run history keeps them."""
    return HistoryKey(connection, user_id, "", "")


def _result(row: Mapping[str, Any]) -> SavedResult:
    return SavedResult(
        id=int(row["id"]),
        suite_name=str(row["suite_name"]),
        key=HistoryKey(row["connection"], row["user_id"], row["bucket"], row["path"], row["schema_fingerprint"]),
        model_name=str(row["model_name"]),
        model_version=row["model_version"],
        passed=int(row["passed"]),
        total=int(row["total"]),
        report=dict(row["report"]),
        created_at=row["created_at"],
    )


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"A {type(value).__name__} cannot be kept in a suite's result.")


def _create_tables(engine: sa.Engine) -> None:
    """CREATE TABLE/INDEX IF NOT EXISTS for both tables; two processes may do it at once."""
    try:
        with engine.begin() as conn:
            for table in metadata.sorted_tables:
                conn.execute(CreateTable(table, if_not_exists=True))
            conn.execute(CreateIndex(results_index, if_not_exists=True))
    except sa.exc.DBAPIError:
        # PostgreSQL can report a duplicate when two processes create a table in the same instant
        inspector = sa.inspect(engine)
        if not all(inspector.has_table(t.name) for t in metadata.sorted_tables):
            raise
