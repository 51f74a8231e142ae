"""Deadlines for database work: past it, a call fails at once instead of waiting on.

The web layer gives each database call it makes a deadline (``LIVEBLOG_DB_DEADLINE_SECONDS``)
and answers ``503`` when it passes. The thread doing the call must stop too, or threads
pile up in a dead database's sockets: the worker sets its deadline here (thread-local),
and the PostgreSQL store (``liveblog.postgres_store``) reads it before every connection
it hands out and bounds how long the connection may be held.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from eventsourcing.persistence import PersistenceError


class DeadlinePassed(PersistenceError):
    """The database did not answer in time (or the caller's time was already up).

    A ``PersistenceError``, so every layer treats it as a store failure, but not an
    ``OperationalError``: the library retries those (ten times), and this must not be.
    """


_local = threading.local()


def current() -> float | None:
    """This thread's deadline (``time.monotonic()`` time), or None: no deadline."""
    deadline: float | None = getattr(_local, "deadline", None)
    return deadline


def remaining() -> float | None:
    """Seconds left before this thread's deadline, or None: no deadline."""
    deadline = current()
    return None if deadline is None else deadline - time.monotonic()


@contextlib.contextmanager
def within(deadline: float | None) -> Iterator[None]:
    """Database calls in this block must finish by ``deadline`` (monotonic seconds)."""
    outer = swap(deadline)
    try:
        yield
    finally:
        swap(outer)


def swap(deadline: float | None) -> float | None:
    """Set this thread's deadline; return the one it had (``within``, without a generator)."""
    outer = current()
    _local.deadline = deadline
    return outer


@contextlib.contextmanager
def background() -> Iterator[None]:
    """This thread works for no caller (the feed), yet must not wait in a dead database
    for ever: its database calls without a deadline are bounded too, more loosely (the
    store decides how: ``postgres_store.BACKGROUND_HOLDS``). Threads not marked, such as
    a rebuild's, may hold a connection as long as their work takes."""
    outer = in_background()
    _local.background = True
    try:
        yield
    finally:
        _local.background = outer


def in_background() -> bool:
    marked: bool = getattr(_local, "background", False)
    return marked


def check(what: str = "the database call") -> None:
    """Raise ``DeadlinePassed`` if this thread's deadline has passed."""
    left = remaining()
    if left is not None and left <= 0:
        msg = f"{what} did not finish within its deadline"
        raise DeadlinePassed(msg)
