"""The feed: one tail of the event log per process, driving projections and the live hub.

A single thread follows the log from the views' position with a subscription of the
library: PostgreSQL's LISTEN/NOTIFY one, the in-memory one, or, for SQLite (which has
none), one built on ``ListenNotifySubscription``. Every subscription is also woken by our
own saves (in-process) and by a slow poll, because a notification bus is at-most-once:
a listener that missed a NOTIFY, or another process's write to SQLite, is caught up by
position. When the subscription fails (say its LISTEN connection was killed), the
follower starts a new one from the last position it processed: supervised, nothing lost,
nothing doubled.

For each batch of notifications the follower applies the events to the process's story
states (the fold), writes the persisted views with their tracking positions, and then
hands the applied events to its listeners (the live hub) and to the version signal that
``?min_version`` waits on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    Notification,
    PersistenceError,
    Subscription,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from liveblog import deadline
from liveblog.newsroom import STORY_EVENT_TYPES, Newsroom
from liveblog.postgres_store import ListenSubscription
from projections.states import Applied, StoryStates
from projections.story import UpdateView
from projections.views import ALL_VIEWS, Changes, ReadViews

log = logging.getLogger("liveblog.feed")

DEFAULT_POLL_SECONDS = 1.0
# Updates the follower remembers as it last wrote them, for writes to answer with.
RECENT_UPDATES = 1024
# The longest wait before the feed tries the database again. Short: a database that is
# back must be followed again within about a second (DESIGN §9); a try costs one
# connection attempt, itself bounded by the database deadline. A save in this process
# (the database is back) ends the wait at once.
MAX_BACKOFF_SECONDS = 1.0


class SQLiteSubscription(ListenNotifySubscription[SQLiteApplicationRecorder]):
    """SQLite has no notifications: this pulls when woken, by our saves or by a poll."""


def open_subscription(recorder: ApplicationRecorder, gt: int) -> Subscription[Any]:
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
    # The library pulls pages of up to 500; take the rest of the page at once, so the
    # views are written once per page rather than once per event.
    page = subscription._notifications
    rest = list(page[subscription._notifications_index :])
    subscription._notifications_index = len(page)
    return [first, *rest]


def wake(subscription: Subscription[Any] | None) -> None:
    if isinstance(subscription, ListenNotifySubscription):
        subscription._has_been_notified.set()


class FeedListener(Protocol):
    def on_applied(self, applied: Sequence[Applied]) -> None:
        """Called in the follower's thread, in store order; must not block."""


class VersionSignal:
    """Lets async code wait until the views hold a story at a version (read your writes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[UUID, int] = {}
        self._waiters: list[tuple[UUID, int, asyncio.Future[bool]]] = []

    def known_version(self, story_id: UUID) -> int:
        with self._lock:
            return self._versions.get(story_id, 0)

    def advance(self, versions: dict[UUID, int]) -> None:
        """Record versions the views now hold (called by the follower's thread)."""
        with self._lock:
            for story_id, version in versions.items():
                if version > self._versions.get(story_id, 0):
                    self._versions[story_id] = version
            ready = [w for w in self._waiters if self._versions.get(w[0], 0) >= w[1]]
            self._waiters = [w for w in self._waiters if w not in ready]
        for _, _, future in ready:
            future.get_loop().call_soon_threadsafe(_resolve, future, True)

    async def wait_for(self, story_id: UUID, version: int, seconds: float) -> bool:
        """True once the views hold ``version`` of the story; False after ``seconds``.

        Every write waits here, so it is one future and one timer, not asyncio.wait_for
        (which wraps the future in more futures and callbacks).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        waiter = (story_id, version, future)
        with self._lock:
            if self._versions.get(story_id, 0) >= version:
                return True
            self._waiters.append(waiter)
        timer = loop.call_later(seconds, _resolve, future, False)
        try:
            return await future
        finally:
            timer.cancel()
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)


def _resolve(future: asyncio.Future[bool], held: bool) -> None:
    if not future.done():
        future.set_result(held)


class Follower:
    """The one tail of the log in this process. ``start()`` it; ``stop()`` joins it."""

    def __init__(
        self,
        newsroom: Newsroom,
        views: ReadViews | None,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        listeners: Sequence[FeedListener] = (),
    ) -> None:
        self.newsroom = newsroom
        self.views = views
        self.states = StoryStates(
            lambda story_id, upto: newsroom.story_events(story_id, upto=upto)
        )
        self.signal = VersionSignal()
        self.listeners = list(listeners)
        self.poll_seconds = poll_seconds
        self.position = 0
        self.reconnects = 0
        # Why the feed is not following the log right now (for /readyz), or None.
        self.problem: str | None = None
        self._progress = threading.Condition()
        self._stopping = threading.Event()
        # Set by a save in this process: a feed waiting to retry tries again now.
        self._retry_now = threading.Event()
        self._subscription: Subscription[Any] | None = None
        self._threads: list[threading.Thread] = []
        # The newest updates as their views rows now hold them (see recent_update).
        self._recent: dict[tuple[UUID, UUID], UpdateView] = {}

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        self.position = self.views.position(ALL_VIEWS) if self.views else 0
        self.newsroom.after_save.append(self.wake)
        for target, name in ((self._follow, "feed"), (self._poll, "feed-poll")):
            thread = threading.Thread(target=target, name=f"liveblog-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._retry_now.set()
        if self.wake in self.newsroom.after_save:
            self.newsroom.after_save.remove(self.wake)
        subscription = self._subscription
        if subscription is not None:
            subscription.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        with self._progress:
            self._progress.notify_all()

    def wake(self) -> None:
        """Look at the log now (called after every save in this process)."""
        self._retry_now.set()
        wake(self._subscription)

    def wait_for_position(self, notification_id: int, timeout: float) -> bool:
        """Block until the follower has processed ``notification_id`` (for tests, tools)."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while self.position < notification_id:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return False
                self._progress.wait(remaining)
        return True

    def catch_up(self, timeout: float = 10.0) -> bool:
        """Wait until everything recorded so far has been processed."""
        newest = self.newsroom.recorder.max_notification_id() or 0
        self.wake()
        return self.wait_for_position(newest, timeout)

    # -- the threads -----------------------------------------------------------------

    def _poll(self) -> None:
        while not self._stopping.wait(self.poll_seconds):
            wake(self._subscription)

    def _follow(self) -> None:
        with deadline.background():  # bounded in a dead database, yet not by a request's
            self._follow_log()

    def _follow_log(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                with open_subscription(self.newsroom.recorder, self.position) as subscription:
                    self._subscription = subscription
                    # Opened: a failure to follow shows again as soon as it recurs, and
                    # a feed that opens but falls behind shows as lag (liveblog.health).
                    self.problem = None
                    # Saves made while the subscription was starting woke nobody (its
                    # first pull may have run before them): pull once more now.
                    wake(subscription)
                    if self._stopping.is_set():
                        subscription.stop()
                    while True:
                        self._process(next_batch(subscription))
                        backoff = 0.1
            except StopIteration:
                continue  # stopped: the loop condition decides
            except Exception as error:
                if self._stopping.is_set():
                    break
                self.reconnects += 1
                self.problem = f"the feed cannot read the log: {type(error).__name__}"
                log.warning(
                    "feed subscription failed (%s: %s); resuming after %d in %.1fs",
                    type(error).__name__, error, self.position, backoff,
                )  # fmt: skip
                self._retry_now.clear()
                self._retry_now.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            finally:
                self._subscription = None

    def _process(self, batch: list[Notification]) -> None:
        applied_list: list[Applied] = []
        changes = Changes()
        for notification in batch:
            event = self.newsroom.mapper.to_domain_event(notification)
            if not isinstance(event, STORY_EVENT_TYPES):
                continue
            applied = self.states.apply(notification.id, event)
            if applied is not None:
                applied_list.append(applied)
                changes.add(applied)
        changes.last_notification_id = batch[-1].id
        if self.views is not None:
            self._write_views(changes)
        self._remember(changes)
        with self._progress:
            self.position = batch[-1].id
            self._progress.notify_all()
        # Listeners first: the hub's frames are then queued on the event loop before any
        # reader waiting for these versions is woken.
        for listener in self.listeners:
            try:
                listener.on_applied(applied_list)
            except Exception:
                log.exception("feed listener %r failed", listener)
        self.signal.advance({a.story_id: a.version for a in applied_list})

    def recent_update(self, story_id: UUID, update_id: UUID) -> UpdateView | None:
        """An update as the views hold it now, if it changed lately; None: read the views.

        A write answers with its update once the views hold it: from here, that costs no
        thread and no query. Called from the event loop while the follower's thread
        updates the dict: each single get, set or delete is atomic under the GIL.
        """
        return self._recent.get((story_id, update_id))

    def _remember(self, changes: Changes) -> None:
        recent = self._recent
        for key, update in changes.updates.items():
            recent.pop(key, None)  # to the newest end
            recent[key] = update
        while len(recent) > RECENT_UPDATES:
            del recent[next(iter(recent))]  # the oldest

    def _write_views(self, changes: Changes) -> None:
        """Write until it succeeds: the states have moved on, so this batch must land."""
        backoff = 0.1
        while True:
            try:
                assert self.views is not None
                self.views.write(changes)
                self.problem = None
                return
            except PersistenceError as error:
                if self._stopping.is_set():
                    raise
                self.problem = f"the feed cannot write the views: {type(error).__name__}"
                log.warning("writing views failed (%s); retrying in %.1fs", error, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
