"""Where the views live: a datastore of the eventsourcing library, and its transactions.

The views are in the same database (and connection pool) as the events. Reads take a
plain transaction, or one snapshot for several statements; writes take a transaction
that need not reach the disk before it returns (``_derived_write``), since the views can
always be folded again from the durable log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

# While it rebuilds, SQLite's page cache for the writing connection (KiB), so that the
# views' indexes stay in memory as they grow.
REBUILD_CACHE_KIB = 256 * 1024

# Makes one write transaction, yielding its cursor.
Transaction = Callable[[], AbstractContextManager[Any]]


class Dialect:
    """The few differences between SQLite and PostgreSQL that our SQL meets."""

    def __init__(self, name: str, schema: str | None = None) -> None:
        self.name = name
        self.schema = schema
        self.prefix = f'"{schema}".' if schema else ""

    def sql(self, statement: str) -> str:
        text = statement.replace("{t}", self.prefix)
        return text.replace("?", "%s") if self.name == "postgresql" else text


def rows_of(cursor: Any) -> list[Any]:
    return list(cursor.fetchall())


class ViewStore:
    """The views' datastore and dialect, and the transactions every part of them takes."""

    def __init__(self, datastore: Any, dialect: Dialect) -> None:
        self.datastore = datastore
        self.dialect = dialect
        # SQLite only: (WAL mode?, the pool's synchronous level), read once (see _relaxed).
        self._sqlite_settings: tuple[bool, int] | None = None

    @contextlib.contextmanager
    def _transaction(self, *, commit: bool, snapshot: bool = False) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            if snapshot and self.dialect.name == "postgresql":
                # One snapshot for several statements (SQLite's transactions already are).
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield cursor

    @contextlib.contextmanager
    def rebuild_transactions(self) -> Iterator[Transaction]:
        """A maker of write transactions for a rebuild, all on one connection on SQLite."""
        if self.dialect.name != "sqlite":
            yield self._derived_write
            return
        with (
            self.datastore.get_connection(commit=True) as connection,
            self._relaxed(connection, cache_kib=REBUILD_CACHE_KIB),
        ):
            yield lambda: connection.transaction(commit=True)

    @contextlib.contextmanager
    def _derived_write(self) -> Iterator[Any]:
        """A write transaction whose commit need not reach the disk before it returns.

        The views are derived: the log they are folded from was committed durably
        first, and their tracking positions commit with their rows. A power cut that
        loses the views' last commits loses those positions with them, and the feed
        folds the same events again on restart. So the views skip the flush the log
        must pay (it was half of a post's time on SQLite): synchronous=NORMAL on a WAL
        database (safe from corruption there), synchronous_commit=off on PostgreSQL.
        """
        if self.dialect.name == "postgresql":
            with self._transaction(commit=True) as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
                yield cursor
            return
        with (
            self.datastore.get_connection(commit=True) as connection,
            self._relaxed(connection),
            connection.transaction(commit=True) as cursor,
        ):
            yield cursor

    @contextlib.contextmanager
    def _relaxed(self, connection: Any, *, cache_kib: int | None = None) -> Iterator[None]:
        """synchronous=NORMAL (in WAL mode only) on a pooled SQLite connection, for a while.

        The connection goes back to the pool, where the log's writes use it too: its
        settings are put back before it does. The journal mode and the pool's own
        synchronous level are read once; the feed comes here for every batch.
        """
        settings = connection.cursor()
        if self._sqlite_settings is None:
            settings.execute("PRAGMA journal_mode")
            wal = str(settings.fetchone()[0]).lower() == "wal"
            settings.execute("PRAGMA synchronous")
            self._sqlite_settings = (wal, int(settings.fetchone()[0]))
        wal, synchronous = self._sqlite_settings
        cache_size = None
        if cache_kib is not None:
            settings.execute("PRAGMA cache_size")
            cache_size = int(settings.fetchone()[0])
        try:
            if wal:
                settings.execute("PRAGMA synchronous = NORMAL")
            if cache_size is not None and cache_kib is not None:
                settings.execute(f"PRAGMA cache_size = {min(cache_size, -cache_kib)}")
            yield
        finally:
            if wal:
                settings.execute(f"PRAGMA synchronous = {synchronous}")
            if cache_size is not None:
                settings.execute(f"PRAGMA cache_size = {cache_size}")
