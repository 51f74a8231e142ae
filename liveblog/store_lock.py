"""Servers share the store; ``liveblog rebuild`` needs it alone.

A rebuild drops the read views and writes them again, while a serving process's feed
would write the same views (and readers would see them empty): it must not run while a
server serves the store. Every serving process holds a shared lock for its lifetime and
the rebuild takes the same lock exclusively, without waiting, so each refuses while the
other runs:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock_shared`` /
  ``pg_try_advisory_lock``) on a key derived from the schema, held by a connection of its
  own. The server releases it by closing that connection, or the server going away does.
- SQLite: ``flock`` on a lock file beside the database (``<file>.lock``), released by
  closing it, or the process ending, even by SIGKILL.
- memory: a store no other process can see; nothing to lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Protocol

import psycopg

from liveblog.settings import Settings, sqlite_path
from liveblog.startup import PROBE_CONNECT_SECONDS


class StoreBusy(Exception):
    """The lock is held the other way: a rebuild runs, or servers serve."""


class StoreLock(Protocol):
    def release(self) -> None: ...


class _NoLock:
    def release(self) -> None:
        pass


class _FileLock:
    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the file releases its flock
            self.fd = None


class _AdvisoryLock:
    def __init__(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        self.connection = connection

    def release(self) -> None:
        self.connection.close()  # a session-level lock ends with its session


def lock_file_of(settings: Settings) -> Path:
    path = sqlite_path(settings.database_url)
    return path.with_name(path.name + ".lock")


def advisory_key(schema: str) -> int:
    """A signed 64-bit key for the schema, as the advisory lock functions take."""
    digest = hashlib.sha256(f"liveblog-store:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def hold_serving(settings: Settings) -> StoreLock:
    """The shared lock a serving process holds; ``StoreBusy`` while a rebuild runs."""
    return _hold(settings, exclusive=False)


def hold_rebuilding(settings: Settings) -> StoreLock:
    """The exclusive lock a rebuild holds; ``StoreBusy`` while a server serves."""
    return _hold(settings, exclusive=True)


def _hold(settings: Settings, *, exclusive: bool) -> StoreLock:
    backend = settings.backend
    if backend == "sqlite":
        return _hold_file(lock_file_of(settings), exclusive=exclusive)
    if backend == "postgresql":
        return _hold_advisory(settings, exclusive=exclusive)
    return _NoLock()


def _busy(exclusive: bool, where: str) -> StoreBusy:
    if exclusive:
        return StoreBusy(
            f"a server is serving this store ({where}); stop the servers first,"
            " or pass --force to rebuild anyway"
        )
    return StoreBusy(f"a rebuild is running on this store ({where}); start the server after it")


def _hold_file(path: Path, *, exclusive: bool) -> StoreLock:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _busy(exclusive, f"lock file {path}") from None
    except BaseException:
        os.close(fd)
        raise
    return _FileLock(fd)


def _hold_advisory(settings: Settings, *, exclusive: bool) -> StoreLock:
    env = settings.eventsourcing_env()
    schema = env.get("POSTGRES_SCHEMA", "").strip() or "public"
    connection = psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=PROBE_CONNECT_SECONDS,
        autocommit=True,
    )
    function = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
    try:
        row = connection.execute(f"SELECT {function}(%s)", (advisory_key(schema),)).fetchone()
    except BaseException:
        connection.close()
        raise
    if row is None or row[0] is not True:
        connection.close()
        raise _busy(exclusive, f"advisory lock on schema {schema!r}")
    return _AdvisoryLock(connection)
