"""Running the synchronous library from the event loop, in worker threads.

starlette's ``run_in_threadpool`` goes through anyio, which looks up the current task,
takes a capacity limiter and opens a cancel scope on every call: a large share of the
server's time on the write path (docs/benchmarks-history.md). A plain executor future
does the same job for a fraction of that. Reads use ``in_thread``; story commands are
drained by one thread per story (``start_in_thread``, see ``web/commands.py``).

Every call made with ``in_thread`` has a deadline (``LIVEBLOG_DB_DEADLINE_SECONDS``): the
caller gets ``DeadlinePassed`` (a 503) once it passes, and the worker runs under the same
deadline (``liveblog.deadline``), so the database store lets go of it too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from liveblog import deadline
from liveblog.deadline import DeadlinePassed
from liveblog.settings import DEFAULT_DB_DEADLINE_SECONDS

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger("liveblog.web")

# As many threads as anyio's default limiter allows: commands on one story wait for
# their turn (and their batch) in these threads, so there must be room for that.
WORKER_THREADS = 40
_workers = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="liveblog-worker")


class Deadline:
    """The deadline of database calls made from the event loop (set by the app)."""

    seconds = DEFAULT_DB_DEADLINE_SECONDS


def set_deadline(seconds: float) -> None:
    Deadline.seconds = seconds


async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in a worker thread; the loop goes on meanwhile.

    Past the deadline the caller gets ``DeadlinePassed``; a call not yet started then
    never starts, and one under way runs under the same deadline (``liveblog.deadline``),
    so its database calls stop too. Cancelling the caller does not stop a call under way.
    """
    return await within_deadline(function, args, kwargs, Deadline.seconds)


async def within_deadline(
    function: Callable[..., T], args: tuple[object, ...], kwargs: dict[str, object],
    seconds: float,
) -> T:  # fmt: skip
    loop = asyncio.get_running_loop()
    until = time.monotonic() + seconds
    call = functools.partial(_call_within, until, function, *args, **kwargs)
    future = loop.run_in_executor(_workers, call)
    # One timer that cancels the future (a call not yet started then never starts):
    # cheaper per call than asyncio.timeout(), which reads are made of.
    expiry = _Expiry(future)
    timer = loop.call_later(seconds, expiry.expire)
    try:
        return await future
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if expiry.expired and not (task is not None and task.cancelling()):
            msg = f"the database did not answer within {seconds:g} s"
            raise DeadlinePassed(msg) from None
        raise
    finally:
        timer.cancel()


class _Expiry:
    __slots__ = ("expired", "future")

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future
        self.expired = False

    def expire(self) -> None:
        if not self.future.done():
            self.expired = True
            self.future.cancel()


def _call_within(until: float, function: Callable[..., T], *args: object, **kwargs: object) -> T:
    outer = deadline.swap(until)
    try:
        deadline.check()  # waited for a free worker until too late: do not start
        return function(*args, **kwargs)
    finally:
        deadline.swap(outer)


async def at_start_or_stop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in a worker thread, with no deadline: for starting
    and stopping the parts (building them, waiting for the views to catch up, closing),
    which may take longer than any request should, and run once."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_workers, functools.partial(function, *args, **kwargs))


def start_in_thread(function: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> None:
    """Run ``function`` in a worker thread and do not wait for it; an error is logged."""
    call = functools.partial(function, *args, **kwargs)
    _workers.submit(call).add_done_callback(_log_failure)


def _log_failure(done: Future[object]) -> None:
    error = done.exception()
    if error is not None:
        log.error("a background call failed", exc_info=error)
