"""A bounded share of each event-loop turn for bulk sends (a resume's backlog).

A send that does not fill its socket never suspends, so a reader catching up on a long
backlog would hold the loop until all of it was written, and a hundred of them would
hold it for seconds: every request in the meantime waits. Each bulk sender asks for a
turn before each chunk; at most ``per_turn`` chunks are let through per loop turn, the
rest wait, in order, for the turns after. Requests interleave with a few chunks of
backlog, not with all of them.
"""

from __future__ import annotations

import asyncio
from collections import deque

# While chunks wait, the loop rests this long between turns. A loop that never waits for
# I/O never lets go of the GIL, and a worker thread (the read API's queries) takes the
# GIL back after every SQLite call, each time waiting up to sys.getswitchinterval(): with
# no rest, reads of the updates page stalled for seconds during a storm of resumes. A
# shorter rest let those stalls back in, a longer one only made the storm last longer
# (scripts/benchmarks/figures/resume_storm.py; the figures are in docs/benchmarks.md and
# docs/benchmarks-history.md).
REST_SECONDS = 0.002


class TurnPacer:
    """Lets at most ``per_turn`` callers of ``turn()`` through per event-loop turn."""

    def __init__(self, per_turn: int = 2, rest_seconds: float = REST_SECONDS) -> None:
        self.per_turn = per_turn
        self.rest_seconds = rest_seconds
        self._used = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._reset_scheduled = False

    async def turn(self) -> None:
        """Return when this caller may send its next chunk (this turn, or a later one)."""
        loop = asyncio.get_running_loop()
        if self._used < self.per_turn and not self._waiting:
            self._used += 1
            self._schedule_reset(loop)
            return
        waiter = loop.create_future()
        self._waiting.append(waiter)
        self._schedule_reset(loop)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._used -= 1  # admitted, then cancelled: give the place back
            raise

    def _schedule_reset(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._reset_scheduled:
            self._reset_scheduled = True
            loop.call_soon(self._next_turn, loop)

    def _next_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        """A new loop turn: admit the next waiters, up to ``per_turn``."""
        self._reset_scheduled = False
        self._used = 0
        while self._waiting and self._used < self.per_turn:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._used += 1
        if self._waiting:
            self._reset_scheduled = True
            loop.call_later(self.rest_seconds, self._next_turn, loop)
        elif self._used:
            self._schedule_reset(loop)
