"""Named edit sets of the bulk what-if, per connection and user, in the run-history database.

An edit set is the edits of a bulk what-if as the user wrote them (``income*=1.1``,
``employment_status=Employed``) and its optional filter (``age < 30``), kept under a name so it
can be re-run on another file or another model version::

    store = EditSetStore(engine)                    # the run history's engine: st.connection(...).engine
    store.save(connection, user_id, "raise", ["average_monthly_income*=1.1"], where="age < 30")
    store.get(connection, user_id, "raise").edits   # ("average_monthly_income*=1.1",)

The texts are kept as written, not as parsed: they are read against whichever model they are
run on (``whatif.analysis.edits.parse_edit``). One table of its own (``whatif_edit_sets``),
created when missing, on SQLite and PostgreSQL alike. A database that cannot be opened or
written raises ``whatif.history.HistoryUnavailable`` (one sentence naming it, never its
password). The connection is a URL with any credentials stripped, as in the run history.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from whatif.analysis.edits import parse_edit, parse_where
from whatif.history import (
    HistoryKey,
    HistoryUnavailable,
    UTCDateTime,
)
from whatif.schema import FeatureSchema
from whatif.sqlstore import SqlStore

__all__ = ["EditSet", "EditSetError", "EditSetStore", "HistoryUnavailable"]

MAX_NAME = 255
MAX_EDITS = 100

metadata = sa.MetaData()

edit_sets_table = sa.Table(
    "whatif_edit_sets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(1000), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(MAX_NAME), nullable=False),
    sa.Column("edits", sa.Text, nullable=False),  # a JSON list of the edit texts, in order
    sa.Column("where_text", sa.Text, nullable=False, default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("connection", "user_id", "name", name="uq_whatif_edit_sets_owner_name"),
)


class EditSetError(ValueError):
    """An edit set cannot be kept as it is; ``str(error)`` is one sentence saying why."""


@dataclass(frozen=True)
class EditSet:
    """An edit set as stored: its name, the edit texts in order, the filter ("" for none), when made and changed."""

    name: str
    edits: tuple[str, ...]
    where: str
    created_at: datetime
    updated_at: datetime


class EditSetStore(SqlStore):
    """Named edit sets in the run-history database (own table, created when missing)."""

    def _create_tables(self, engine: sa.Engine) -> None:
        _create_table(engine)

    def save(
        self,
        connection: str,
        user_id: str,
        name: str,
        edits: Sequence[str],
        where: str = "",
        *,
        schema: FeatureSchema | None = None,
    ) -> EditSet:
        """Create the edit set, or replace the one of the same name; EditSetError when it cannot be kept.

        With ``schema``, every edit and the filter must read against it first (AnalysisError otherwise).
        """
        name = " ".join(str(name).split())
        texts = tuple(str(e).strip() for e in edits if str(e).strip())
        where = str(where or "").strip()
        if not name:
            raise EditSetError("An edit set needs a name; type one and save again.")
        if len(name) > MAX_NAME:
            raise EditSetError(f"The name is {len(name):,} characters long; keep it under {MAX_NAME}.")
        if not texts:
            raise EditSetError("An edit set needs at least one edit; add one and save again.")
        if len(texts) > MAX_EDITS:
            raise EditSetError(f"An edit set holds at most {MAX_EDITS} edits, not {len(texts):,}.")
        if schema is not None:
            for text in texts:
                parse_edit(schema, text)
            if where:
                parse_where(schema, where)
        owner = _owner(connection, user_id)
        now = datetime.now(UTC)
        t = edit_sets_table
        values = {"edits": json.dumps(list(texts), ensure_ascii=False), "where_text": where, "updated_at": now}
        match = sa.and_(t.c.connection == owner.connection, t.c.user_id == owner.user_id, t.c.name == name)
        for attempt in range(2):
            try:
                with self._database() as conn:
                    if conn.execute(sa.update(t).where(match).values(**values)).rowcount == 0:
                        conn.execute(
                            sa.insert(t).values(
                                connection=owner.connection, user_id=owner.user_id, name=name, created_at=now, **values
                            )
                        )
                break
            except sa.exc.IntegrityError:  # another session created it meanwhile: update theirs
                if attempt:
                    raise
        saved = self.get(connection, user_id, name)
        assert saved is not None  # just written
        return saved

    def sets(self, connection: str, user_id: str) -> list[EditSet]:
        """This user's edit sets on this connection, by name."""
        owner = _owner(connection, user_id)
        t = edit_sets_table
        stmt = (
            sa.select(t.c.name, t.c.edits, t.c.where_text, t.c.created_at, t.c.updated_at)
            .where(t.c.connection == owner.connection, t.c.user_id == owner.user_id)
            .order_by(t.c.name)
        )
        with self._database(write=False) as conn:
            return [_edit_set(*row) for row in conn.execute(stmt).all()]

    def names(self, connection: str, user_id: str) -> list[str]:
        """The names of this user's edit sets, sorted."""
        return [s.name for s in self.sets(connection, user_id)]

    def get(self, connection: str, user_id: str, name: str) -> EditSet | None:
        """The edit set called ``name``, or None."""
        owner = _owner(connection, user_id)
        t = edit_sets_table
        stmt = sa.select(t.c.name, t.c.edits, t.c.where_text, t.c.created_at, t.c.updated_at).where(
            t.c.connection == owner.connection, t.c.user_id == owner.user_id, t.c.name == name
        )
        with self._database(write=False) as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _edit_set(*row)

    def delete(self, connection: str, user_id: str, name: str) -> bool:
        """Delete the edit set; False when there was none of that name."""
        owner = _owner(connection, user_id)
        t = edit_sets_table
        with self._database() as conn:
            deleted = conn.execute(
                sa.delete(t).where(t.c.connection == owner.connection, t.c.user_id == owner.user_id, t.c.name == name)
            ).rowcount
        return bool(deleted)


def _owner(connection: str, user_id: str) -> HistoryKey:
    """The connection without credentials and the user id, as the run history keeps them."""
    return HistoryKey(connection, user_id, "", "")


def _edit_set(name: str, edits: str, where: str, created_at: datetime, updated_at: datetime) -> EditSet:
    texts = json.loads(edits)
    return EditSet(
        str(name),
        tuple(str(t) for t in texts) if isinstance(texts, list) else (),
        str(where or ""),
        created_at,
        updated_at,
    )


def _create_table(engine: sa.Engine) -> None:
    """CREATE TABLE IF NOT EXISTS; two processes may do it at once."""
    try:
        with engine.begin() as conn:
            conn.execute(CreateTable(edit_sets_table, if_not_exists=True))
    except sa.exc.DBAPIError:
        # PostgreSQL can report a duplicate when two processes create a table in the same instant
        if not sa.inspect(engine).has_table(edit_sets_table.name):
            raise
