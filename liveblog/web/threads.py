"""Running the synchronous library from the event loop, in worker threads.

starlette's ``run_in_threadpool`` goes through anyio, which looks up the current task,
takes a capacity limiter and opens a cancel scope on every call: it was about a quarter
of the server's time on the write path. A plain executor future does the same job for a
fraction of that. Reads use ``in_thread``; story commands are drained by one thread per
story (``start_in_thread``, see ``web/commands.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger("liveblog.web")

# As many threads as anyio's default limiter allows: commands on one story wait for
# their turn (and their batch) in these threads, so there must be room for that.
WORKER_THREADS = 40
_workers = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="liveblog-worker")


async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in a worker thread; the loop goes on meanwhile.

    Cancelling the caller does not stop the call: a command already started finishes
    (and is recorded), as it would had the client waited.
    """
    loop = asyncio.get_running_loop()
    call = functools.partial(function, *args, **kwargs) if kwargs else function
    return await loop.run_in_executor(_workers, call, *(() if kwargs else args))


def start_in_thread(function: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> None:
    """Run ``function`` in a worker thread and do not wait for it; an error is logged."""
    call = functools.partial(function, *args, **kwargs)
    _workers.submit(call).add_done_callback(_log_failure)


def _log_failure(done: Future[object]) -> None:
    error = done.exception()
    if error is not None:
        log.error("a background call failed", exc_info=error)
