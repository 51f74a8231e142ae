"""Every use of the eventsourcing library's private or internal parts, in one place.

Checked against eventsourcing 9.5.6 (pinned to ``9.5.*`` in pyproject.toml) and, for
the PostgreSQL pool, psycopg_pool 3.3.3. The rest of liveblog uses the library's public
API, and reaches what is here only through this module's functions and classes. Before
moving to another version, read each item below in the new version's source
(``eventsourcing/persistence.py``, ``sqlite.py``, ``postgres.py``) and run the tests that
guard them (the README's "Upgrading eventsourcing" says which).

The feed's subscriptions (``ListenNotifySubscription``, eventsourcing/persistence.py):

- ``_notifications`` and ``_notifications_index``: the page of up to 500 notifications
  the subscription pulled, and how far ``__next__`` has read it. ``next_batch`` takes the
  rest of the page at once, so the feed writes its views once per page, not per event.
- ``_has_been_notified``: the event its pull thread waits on. ``wake`` sets it: SQLite
  has no notifications, so our own saves and a poll make the subscription pull.
- ``_loop_on_pull``: the pull thread's target. ``ListenSubscription`` (PostgreSQL) runs
  it marked ``deadline.background()``, so its pulls are bounded in a dead database.

The SQLite pool (``SQLiteConnectionPool``, eventsourcing/sqlite.py):

- ``_create_connection``, overridden, with its body copied: the library connects with
  ``cached_statements=True``, which Python reads as a cache of one statement, so every
  statement was compiled again each time it ran (a third of the feed's time per batch,
  a fifth of a post's). ``StatementCachingPool`` keeps ``STATEMENT_CACHE_SIZE``.

The PostgreSQL datastore (``PostgresDatastore``, eventsourcing/postgres.py):

- ``PostgresDatastore.get_connection``'s body, copied (``pooled_connection``) to pass
  the pool a timeout: it reads ``pool_open_timeout`` and ``psycopg_type_adapters``, and
  maps psycopg's errors to the library's as it does (``library_error``).
- ``pool`` (a psycopg_pool ``ConnectionPool``): its ``kwargs`` dict and
  ``reconnect_timeout`` are changed after the library made it (``set_pool_options``).
- ``BasePostgresFactory.__init__`` makes its ``PostgresDatastore`` itself, with no hook
  for a subclass: ``recast`` swaps the object's class for one.

Writing several applications' tables in one transaction (``insert_into_empty``, for
``liveblog import``):

- the recorders' ``_insert_events`` (SQLite) and ``_insert_stored_events`` (PostgreSQL:
  the application recorder's takes the table lock and sends the NOTIFY, as its
  ``insert_events`` does), called with a cursor of one transaction;
- ``events_table_name`` and, on PostgreSQL, ``lock_table_statements``, to check in
  that transaction that each table is still empty.

Not counted as private: ``Aggregate._create`` (liveblog.domain, people, tokens) is how
the library's own documentation creates an aggregate with a named created event.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    ListenNotifySubscription,
    Notification,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
    Subscription,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresSubscription,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
)
from psycopg import Connection, sql
from psycopg.types.composite import register_composite

from liveblog import deadline

# Compiled statements each SQLite connection keeps (Python's own default).
STATEMENT_CACHE_SIZE = 128

D = TypeVar("D")

# -- the feed's subscriptions ------------------------------------------------------


class SQLiteSubscription(ListenNotifySubscription[SQLiteApplicationRecorder]):
    """SQLite has no notifications: this pulls when woken, by our saves or by a poll."""


class ListenSubscription(PostgresSubscription):
    """The library's LISTEN/NOTIFY subscription, whose pulls are bounded in time (its
    LISTEN connection, meant to wait, is not)."""

    def _loop_on_pull(self) -> None:
        with deadline.background():
            super()._loop_on_pull()


def open_subscription(recorder: ApplicationRecorder, gt: int) -> Subscription[Any]:
    """A subscription to the log after notification ``gt`` (use it as a context manager)."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        return SQLiteSubscription(recorder, gt=gt)
    if isinstance(recorder, PostgresApplicationRecorder):
        return ListenSubscription(recorder, gt=gt)  # its LISTEN connection may wait
    return recorder.subscribe(gt=gt)


def next_batch(subscription: Subscription[Any]) -> list[Notification]:
    """The next notification and whatever else the subscription already holds."""
    first = next(subscription)
    if not isinstance(subscription, ListenNotifySubscription):
        return [first]
    page = subscription._notifications
    rest = list(page[subscription._notifications_index :])
    subscription._notifications_index = len(page)
    return [first, *rest]


def wake(subscription: Subscription[Any] | None) -> None:
    """Make the subscription pull the log now."""
    if isinstance(subscription, ListenNotifySubscription):
        subscription._has_been_notified.set()


# -- the SQLite pool -----------------------------------------------------------------


class StatementCachingConnection(SQLiteConnection):
    """A connection made by ``StatementCachingPool`` (which tests can tell by its type)."""


class StatementCachingPool(SQLiteConnectionPool):
    """The library's pool, whose connections each keep STATEMENT_CACHE_SIZE statements."""

    def _create_connection(self) -> SQLiteConnection:
        # As the library's own, but for cached_statements (keep in step with it).
        try:
            connection = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # auto-commit: the library issues BEGIN itself
                cached_statements=STATEMENT_CACHE_SIZE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as error:
            raise InterfaceError(error) from error
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode;")
            if str(cursor.fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        connection.row_factory = sqlite3.Row
        return StatementCachingConnection(sqlite_conn=connection, max_age=self.max_age)


def caching_statements(datastore: SQLiteDatastore) -> SQLiteDatastore:
    """Give a new datastore a ``StatementCachingPool`` with its pool's settings.

    Call it before anything asks for a connection, so that none was made by the old pool.
    """
    library_pool = datastore.pool
    datastore.pool = StatementCachingPool(
        db_name=library_pool.db_name,
        lock_timeout=library_pool.lock_timeout,
        pool_size=library_pool.pool_size,
        max_overflow=library_pool.max_overflow,
        pool_timeout=library_pool.pool_timeout,
        max_age=library_pool.max_age,
        pre_ping=library_pool.pre_ping,
    )
    library_pool.close()
    return datastore


# -- the PostgreSQL datastore --------------------------------------------------------


def set_pool_options(
    datastore: PostgresDatastore, *, connect_options: dict[str, Any], reconnect_timeout: float
) -> None:
    """Connect with ``connect_options`` too (libpq's), and give up on remaking a lost
    connection after ``reconnect_timeout`` seconds. Call it before the pool opens."""
    pool = datastore.pool
    assert isinstance(pool.kwargs, dict)  # the library passes a dict
    pool.kwargs.update(connect_options)
    pool.reconnect_timeout = reconnect_timeout


def recast(datastore: PostgresDatastore, subclass: type[D]) -> D:
    """The library's factory's own datastore, made an instance of ``subclass`` (of
    ``PostgresDatastore``, adding methods and class attributes only)."""
    assert issubclass(subclass, PostgresDatastore)
    datastore.__class__ = subclass
    assert isinstance(datastore, subclass)
    return datastore


@contextlib.contextmanager
def pooled_connection(
    datastore: PostgresDatastore, timeout: float | None
) -> Iterator[Connection[Any]]:
    """``PostgresDatastore.get_connection``, except that the wait for a pooled connection
    ends after ``timeout`` seconds (the library waits ``POSTGRES_CONNECT_TIMEOUT``)."""
    try:
        datastore.pool.open(
            datastore.pool_open_timeout is not None, datastore.pool_open_timeout or 30.0
        )
        with datastore.pool.connection(timeout=timeout) as conn:
            for info in datastore.psycopg_type_adapters.values():
                if not conn.adapters.types.get(info.oid):
                    register_composite(info, conn)
            yield conn
    except psycopg.Error as error:
        raise library_error(error) from error


def library_error(error: psycopg.Error) -> PersistenceError:
    """The library's exception for a psycopg one (as ``PostgresDatastore.get_connection``)."""
    for psycopg_type, library_type in _ERRORS:
        if isinstance(error, psycopg_type):
            return library_type(str(error))
    return PersistenceError(str(error))


_ERRORS: list[tuple[type[psycopg.Error], type[PersistenceError]]] = [
    (psycopg.InterfaceError, InterfaceError),
    (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError),
    (psycopg.IntegrityError, IntegrityError),
    (psycopg.InternalError, InternalError),
    (psycopg.ProgrammingError, ProgrammingError),
    (psycopg.NotSupportedError, NotSupportedError),
    (psycopg.DatabaseError, DatabaseError),
]


# -- one transaction across applications' tables ------------------------------------


class TablesNotEmpty(Exception):
    """``insert_into_empty`` found rows in these tables: it wrote nothing."""

    def __init__(self, tables: list[str]) -> None:
        super().__init__(f"not empty: {', '.join(tables)}")
        self.tables = tables


def insert_into_empty(
    datastore: SQLiteDatastore | PostgresDatastore,
    writes: Sequence[tuple[AggregateRecorder, Sequence[StoredEvent]]],
) -> None:
    """Insert each recorder's stored events into its table, all in one transaction of
    ``datastore`` (the database every recorder's table is in), once that transaction
    has seen every one of those tables empty; ``TablesNotEmpty`` (and nothing written)
    otherwise. Any failure rolls the whole transaction back.

    Each application has a datastore (a pool) of its own; the inserts go through
    recorders made again on ``datastore``, with the same tables.
    """
    twins = [(_twin(recorder, datastore), events) for recorder, events in writes]
    postgres = isinstance(datastore, PostgresDatastore)
    holds_rows = _postgres_holds_rows if postgres else _sqlite_holds_rows
    insert = _postgres_insert if postgres else _sqlite_insert
    with datastore.transaction(commit=True) as cursor:
        filled = [r.events_table_name for r, _ in twins if holds_rows(cursor, r)]
        if filled:
            raise TablesNotEmpty(filled)  # leaves the transaction: rolled back
        for recorder, events in twins:
            if events:
                insert(cursor, recorder, events)


def _twin(
    recorder: AggregateRecorder, datastore: object
) -> SQLiteAggregateRecorder | PostgresAggregateRecorder:
    """The same kind of recorder, on the same table, in ``datastore``."""
    if isinstance(recorder, (SQLiteAggregateRecorder, PostgresAggregateRecorder)):
        return type(recorder)(
            datastore,  # type: ignore[arg-type]
            events_table_name=recorder.events_table_name,
        )
    msg = f"cannot write {type(recorder).__name__} in one transaction"
    raise TypeError(msg)


def _sqlite_holds_rows(cursor: Any, recorder: Any) -> bool:
    cursor.execute(f"SELECT 1 FROM {recorder.events_table_name} LIMIT 1")
    return cursor.fetchone() is not None


def _sqlite_insert(cursor: Any, recorder: Any, events: Sequence[StoredEvent]) -> None:
    recorder._insert_events(cursor, events)


def _postgres_holds_rows(cursor: Any, recorder: Any) -> bool:
    if isinstance(recorder, PostgresApplicationRecorder):
        # Taken now, not at the insert: no other writer may fill the table between
        # the look and the insert.
        for statement in recorder.lock_table_statements:
            cursor.execute(statement)
    table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
    cursor.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(table))
    return cursor.fetchone() is not None


def _postgres_insert(cursor: Any, recorder: Any, events: Sequence[StoredEvent]) -> None:
    # The application recorder's takes the table lock and sends the NOTIFY too.
    recorder._insert_stored_events(cursor, events)
