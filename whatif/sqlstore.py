"""The common part of the small stores kept beside the run history (suites, edit sets): one engine,
tables of their own created when missing, and database failures turned into one sentence.
"""

from __future__ import annotations

import sqlalchemy as sa

from whatif.history.database import DatabaseStore


class SqlStore(DatabaseStore):
    """A store on the run-history database; subclasses create their tables in ``_create_tables``.

    ``DatabaseStore`` gives it ``from_url``, ``close``, SQLite's WAL and busy timeout, and
    ``_database()``, a connection whose failures are ``HistoryUnavailable`` sentences.
    """

    def _set_up(self, engine: sa.Engine) -> None:
        self._create_tables(engine)

    def _create_tables(self, engine: sa.Engine) -> None:
        """Create this store's tables when they are missing."""
        raise NotImplementedError
