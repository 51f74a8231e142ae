"""The pace of an editors' replay (DESIGN §5): the original gaps between events, / SPEED.

Sans-I/O: the caller hands in its clock and does the waiting itself (``asyncio.sleep``
on the WebSocket, ``time.sleep`` in ``liveblog replay``), so tests pace a replay with a
fake clock instead of sleeping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

# No wait is longer than this, after scaling: a night without news is not replayed.
MAX_GAP_SECONDS = 10.0
MIN_SPEED = 1
MAX_SPEED = 10_000
# SPEED as a client writes it: plain decimal digits, no sign, exponent, "_" or "inf"
# (which ``float`` all accepts), so ``1e999``, ``NaN`` and ``-1`` are refused by shape.
_SPEED = re.compile(r"[0-9]{1,5}(\.[0-9]{1,3})?")
AS_FAST_AS_POSSIBLE = "max"
SPEED_RULE = f"a number from {MIN_SPEED} to {MAX_SPEED:,} or {AS_FAST_AS_POSSIBLE}"


class BadSpeed(ValueError):
    """A SPEED that is neither a number in range nor ``max``; the message says which is."""


def parse_speed(raw: str) -> float | None:
    """SPEED as a factor of real time, or None for ``max`` (no waits at all)."""
    if raw == AS_FAST_AS_POSSIBLE:
        return None
    if not _SPEED.fullmatch(raw):
        raise BadSpeed(f"must be {SPEED_RULE}")
    speed = float(raw)
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise BadSpeed(f"must be {SPEED_RULE}")
    return speed


def scaled_gap(before: datetime, after: datetime, speed: float | None) -> float:
    """Seconds between two events' times at ``speed``, capped at MAX_GAP_SECONDS.

    An event stamped before the one it follows (two processes' clocks) waits for nothing.
    """
    if speed is None:
        return 0.0
    seconds = max((after - before).total_seconds(), 0.0) / speed
    return min(seconds, MAX_GAP_SECONDS)


class ReplayClock:
    """How long to wait before sending each event of a replay, in order.

    Each event is due its scaled gap after the one before was due, not after it was
    sent: the time spent reading pages and sending is taken from the next wait, so a
    long replay keeps its pace instead of drifting later and later.
    """

    def __init__(self, speed: float | None, clock: Callable[[], float]) -> None:
        self.speed = speed
        self.clock = clock
        self.last_at: datetime | None = None  # the previous event's time
        self.due = 0.0  # when the previous event was due, by ``clock``

    def wait_before(self, at: datetime) -> float:
        """Seconds to wait before sending the event stamped ``at`` (the first: none)."""
        if self.speed is None:
            return 0.0
        now = self.clock()
        if self.last_at is None:
            self.due = now
        else:
            self.due += scaled_gap(self.last_at, at, self.speed)
        self.last_at = at
        return max(self.due - now, 0.0)
