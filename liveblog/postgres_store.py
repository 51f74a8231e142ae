"""The PostgreSQL store: the library's, with every connection bounded in time.

When the database goes away (connections reset, or packets black-holed), the library's
defaults wait for as long as the outage: libpq connects with no timeout through a path
that swallows packets, a query sent into a dead socket waits for ever, every recorder
method retries ten times, and psycopg_pool, having failed to reconnect, waits up to 16 s
before its next attempt, so writes came back up to 21 s after the database did.
``PostgresFactory`` (``PERSISTENCE_MODULE=liveblog.postgres_store:PostgresFactory``)
bounds each of these from the database deadline (``LIVEBLOG_DB_DEADLINE_SECONDS``):

- connections are made with libpq's ``connect_timeout``, TCP keepalives and
  ``tcp_user_timeout``: the kernel gives up on a silent peer within the deadline;
- a pooled connection that could not be remade is given up after a second, so the next
  caller who needs one starts a fresh attempt at once (no growing backoff);
- a connection is held no longer than its thread's deadline (``liveblog.deadline``; a
  thread marked ``deadline.background()``, such as the feed's, gets ``BACKGROUND_HOLDS``
  deadlines; others, such as a rebuild's, are not watched): past it, a watchdog shuts
  its socket down, which wakes the thread stuck in it with an error. TCP timeouts
  cannot see a proxy or middlebox that accepts and then stalls; this can. The LISTEN
  connection is not watched: it is meant to wait;
- once a connection breaks, the pool's other connections, made before, are replaced
  (``pool.drain()``), so a database that is back is not first met through dead sockets;
- a thread waits for a pooled connection only until its deadline, and one whose
  deadline has passed gets no connection at all (``DeadlinePassed``).

What this needs of the library's internals (the pool's options, the datastore's class,
a copy of its ``get_connection``) is in ``liveblog.eventsourcing_adapter``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.postgres import PostgresFactory as LibraryPostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection

from liveblog import deadline
from liveblog.deadline import DeadlinePassed
from liveblog.eventsourcing_adapter import pooled_connection, recast, set_pool_options

log = logging.getLogger("liveblog.store")

# The library environment's key for the deadline (set from Settings).
DEADLINE_KEY = "LIVEBLOG_DB_DEADLINE_SECONDS"
DEFAULT_DEADLINE_SECONDS = 5.0
# How long the pool keeps trying to remake one lost connection before it gives up; the
# next caller who waits for a connection then starts a new attempt straight away.
RECONNECT_GIVE_UP_SECONDS = 1.0
# A background thread (the feed) may hold a connection for this many deadlines, and at
# least MIN_BACKGROUND_HOLD_SECONDS: its work (a page of 500 events) is larger.
BACKGROUND_HOLDS = 3
MIN_BACKGROUND_HOLD_SECONDS = 10.0
WATCH_TICK_SECONDS = 0.05


def connection_options(deadline_seconds: float) -> dict[str, Any]:
    """libpq options that make the kernel give up on a dead peer within the deadline."""
    whole = max(2, math.ceil(deadline_seconds))  # libpq reads connect_timeout < 2 as 2
    return {
        "connect_timeout": whole,
        "keepalives": 1,
        "keepalives_idle": whole,
        "keepalives_interval": 1,
        "keepalives_count": 3,
        # Sent data unacknowledged for this long: the connection is dead.
        "tcp_user_timeout": int(deadline_seconds * 1000),
    }


class PostgresFactory(LibraryPostgresFactory):
    """The library's factory, whose datastore bounds every connection in time."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        raw = self.env.get(DEADLINE_KEY)
        bound(self.datastore, float(raw) if raw else DEFAULT_DEADLINE_SECONDS)


def bound(datastore: PostgresDatastore, deadline_seconds: float) -> None:
    """Make ``datastore`` (not yet connected) a ``BoundedDatastore``."""
    set_pool_options(
        datastore,
        connect_options=connection_options(deadline_seconds),
        reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
    )
    bounded = recast(datastore, BoundedDatastore)
    bounded.background_hold = max(MIN_BACKGROUND_HOLD_SECONDS, BACKGROUND_HOLDS * deadline_seconds)


class BoundedDatastore(PostgresDatastore):
    """Connections handed out only in time, held only until the thread's deadline."""

    background_hold: float = MIN_BACKGROUND_HOLD_SECONDS

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[Connection[Any]]:
        deadline.check()
        left = deadline.remaining()
        with pooled_connection(self, None if left is None else max(left, 0.001)) as conn:
            if left is None and not deadline.in_background():
                yield conn  # not watched (a tool's long work, the LISTEN connection)
                return
            until = time.monotonic() + (self.background_hold if left is None else left)
            held = WATCH.hold(conn, until)
            try:
                yield conn
            except Exception as error:  # psycopg's, mapped to the library's
                if held.killed:
                    msg = "the database did not answer within the deadline"
                    raise DeadlinePassed(msg) from error
                raise
            finally:
                WATCH.release(held)
                if held.killed or conn.broken:
                    # Whatever broke this one may have broken the others too.
                    self.pool.drain()


class Held:
    __slots__ = ("conn", "killed", "until")

    def __init__(self, conn: Connection[Any], until: float) -> None:
        self.conn = conn
        self.until = until
        self.killed = False


class ConnectionWatch:
    """One thread per process that shuts down connections held past their time."""

    def __init__(self, tick: float = WATCH_TICK_SECONDS) -> None:
        self.tick = tick
        self.kills = 0
        self._held: set[Held] = set()
        # Held while a socket is shut down: its connection cannot be returned (and its
        # file descriptor closed and reused) meanwhile.
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, conn: Connection[Any], until: float) -> Held:
        held = Held(conn, until)
        with self._lock:
            self._held.add(held)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="liveblog-connection-watch", daemon=True
                )
                self._thread.start()
        return held

    def release(self, held: Held) -> None:
        with self._lock:
            self._held.discard(held)

    def _run(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._lock:
                for held in self._held:
                    if not held.killed and now >= held.until:
                        held.killed = True
                        self.kills += 1
                        _shut_down(held.conn)


def _shut_down(conn: Connection[Any]) -> None:
    """Shut the connection's socket down: the thread waiting on it wakes with an error."""
    try:
        fd = conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except Exception as error:  # already closed: nothing to wake
        log.debug("could not shut down a connection's socket: %s", error)
        return
    log.warning("a database connection was held past its deadline; its socket was shut down")


WATCH = ConnectionWatch()
