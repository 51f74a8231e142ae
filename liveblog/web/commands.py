"""Story commands from the event loop: queued for their story's next batch, then awaited.

A request does not hold a worker thread while its command waits for the story's turn:
it queues the command (``Newsroom.submit``) and awaits a future, and one thread per
busy story drains the queue batch after batch (``Newsroom.drain``). Under eight
reporters this took the write path from about 450 to about 700 posts/s: the threads
that each woke in turn to find their job done were most of the cost.
"""

from __future__ import annotations

import asyncio
import contextlib

from liveblog.newsroom import Command, Newsroom, Outcome
from liveblog.web.threads import start_in_thread


async def execute(newsroom: Newsroom, command: Command) -> Outcome:
    """The command's outcome once its batch is saved; its error if it failed.

    Cancelling the caller does not cancel the command: once queued, it runs and is
    recorded, as it would be had the client waited for the answer.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()

    def on_done() -> None:  # in the thread that ran the batch
        with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
            loop.call_soon_threadsafe(_resolve, finished)

    job, start_drain = newsroom.submit(command, on_done)
    if start_drain:
        start_in_thread(newsroom.drain, command.story_id)
    await finished
    return job.result()


def _resolve(finished: asyncio.Future[None]) -> None:
    if not finished.done():
        finished.set_result(None)
