"""The SQLite store: the library's, with a statement cache on every connection.

eventsourcing 9.5 opens SQLite connections with ``cached_statements=True``, which
Python reads as a cache of *one* statement: every insert, select and view upsert was
compiled again each time it ran, about a third of the feed's time per batch and a
fifth of a post's. Connections made here keep ``STATEMENT_CACHE_SIZE`` statements, and
the library's settings otherwise (how: ``liveblog.eventsourcing_adapter``).
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteFactory as LibrarySQLiteFactory
from eventsourcing.utils import Environment, EnvType

from liveblog.eventsourcing_adapter import caching_statements


class SQLiteFactory(LibrarySQLiteFactory):
    """``PERSISTENCE_MODULE=liveblog.sqlite_store:SQLiteFactory``."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        caching_statements(self.datastore)
