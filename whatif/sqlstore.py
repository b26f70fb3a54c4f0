"""The common part of the small stores kept beside the run history (suites, edit sets): one engine,
tables of their own created when missing, and database failures turned into one sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

import sqlalchemy as sa

from whatif.history import HistoryUnavailable, _is_unavailable, _prepare_sqlite, database_name, first_line


class SqlStore:
    """A store on the run-history database; subclasses create their tables in ``_create_tables``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._owns_engine = False
        if engine.dialect.name == "sqlite":
            _prepare_sqlite(engine)
        with self._reporting_unavailable():
            self._create_tables(engine)

    def _create_tables(self, engine: sa.Engine) -> None:
        """Create this store's tables when they are missing."""
        raise NotImplementedError

    @classmethod
    def from_url(cls, url: str) -> Self:
        """A store on its own engine for ``url``; ``close()`` releases it."""
        store = cls(sa.create_engine(url))
        store._owns_engine = True
        return store

    def close(self) -> None:
        """Close the engine's connections if this store created the engine."""
        if self._owns_engine:
            self.engine.dispose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({database_name(self.engine.url)!r})"

    @contextmanager
    def _reporting_unavailable(self) -> Iterator[None]:
        """A database that cannot be reached or written becomes HistoryUnavailable (one sentence)."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            if not _is_unavailable(exc):
                raise
            raise HistoryUnavailable(database_name(self.engine.url), first_line(exc.orig or exc)) from exc

    @contextmanager
    def _database(self, write: bool = True) -> Iterator[sa.Connection]:
        """A connection in a transaction (``write``) or a plain one, failures reported as above."""
        with self._reporting_unavailable(), self.engine.begin() if write else self.engine.connect() as conn:
            yield conn
