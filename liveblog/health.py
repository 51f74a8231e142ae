"""Readiness, known at once: a thread checks the store and the feed in the background.

``/readyz`` must answer within a second whatever the database does, so it never asks the
database itself: it reads the state this monitor keeps. Every ``interval`` the monitor
reads the log's newest position under a deadline of its own (``liveblog.deadline``), and
looks at the feed: failing, or behind the log for longer than ``FEED_LAG_SECONDS``. A
check that has not finished for ``STALE_SECONDS`` counts as a failed one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from liveblog import deadline
from liveblog.feed import Feed

log = logging.getLogger("liveblog.health")

CHECK_INTERVAL_SECONDS = 0.25
# The store check's own deadline: well inside /readyz's second.
CHECK_DEADLINE_SECONDS = 0.8
# A result older than this is not trusted (the check itself is stuck).
STALE_SECONDS = 2.0
# The feed may trail the log this long (a burst of writes) before it counts as behind.
FEED_LAG_SECONDS = 5.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str  # why not ready; "" when ready


class HealthMonitor:
    """``readiness()`` costs nothing; ``start()`` the thread that keeps it current."""

    def __init__(
        self,
        newest_position: Callable[[], int | None],
        feed: Feed,
        *,
        interval: float = CHECK_INTERVAL_SECONDS,
        check_deadline: float = CHECK_DEADLINE_SECONDS,
    ) -> None:
        self.newest_position = newest_position
        self.feed = feed
        self.interval = interval
        self.check_deadline = check_deadline
        self._problem: str | None = "not checked yet"
        self._checked_at = time.monotonic()
        self._behind_since: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.check()  # ready or not from the first request on
        self._thread = threading.Thread(target=self._run, name="liveblog-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def readiness(self) -> Readiness:
        """The last check's result, from memory (called on the event loop)."""
        problem = self.feed.problem or self._problem
        if time.monotonic() - self._checked_at > STALE_SECONDS:
            problem = f"the store check has not finished for over {STALE_SECONDS:g} s"
        return Readiness(problem is None, problem or "")

    def check(self) -> None:
        """One check of the store and the feed (blocking, bounded by ``check_deadline``)."""
        now = time.monotonic()
        try:
            with deadline.within(now + self.check_deadline):
                newest = self.newest_position() or 0
        except Exception as error:
            self._set(f"the store is unavailable: {type(error).__name__}")
            return
        if self.feed.position >= newest:
            self._behind_since = None
        elif self._behind_since is None:
            self._behind_since = now
        if self._behind_since is not None and now - self._behind_since > FEED_LAG_SECONDS:
            lag = newest - self.feed.position
            self._set(f"the feed is {lag} events behind the log")
            return
        self._set(None)

    def _set(self, problem: str | None) -> None:
        if problem != self._problem:
            if problem is None:
                log.info("ready again")
            else:
                log.warning("not ready: %s", problem)
        self._problem = problem
        self._checked_at = time.monotonic()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.check()
