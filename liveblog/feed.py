"""The feed: one tail of the event log per process, driving projections and the live hub.

A single thread follows the log from the views' position with a subscription of the
library: PostgreSQL's LISTEN/NOTIFY one, the in-memory one, or, for SQLite (which has
none), one built on ``ListenNotifySubscription`` (all opened, read a page at a time and
woken through ``liveblog.eventsourcing_adapter``). Every subscription is also woken by our
own saves (in-process) and by a slow poll, because a notification bus is at-most-once:
a listener that missed a NOTIFY, or another process's write to SQLite, is caught up by
position. When the subscription fails (say its LISTEN connection was killed), the
feed starts a new one from the last position it processed: supervised, nothing lost,
nothing doubled.

For each batch of notifications the feed applies the events to the process's story
states (the fold), writes the persisted views with their tracking positions, and then
hands the applied events to its listeners (the live hub) and to the version signal that
``?min_version`` waits on.

One event the read side cannot take stops its story only. A failure of the store itself
(a lost connection, a timeout) is retried with backoff until the store is back, and
nothing is skipped. A failure caused by the data (an event the fold cannot apply, rows
the views refuse: a DataError or IntegrityError) marks that story as needing attention
(``stories_needing_attention``, shown by ``/readyz`` and ``/metrics``) and logs the
event's position; the batch is written without that story, and every other story goes
on. The marked story's later events are left out of the views, the live hub and the
version signal alike, so its readers see it as it stood before the bad event, not a
story with a hole in it; its writes are still recorded. ``liveblog rebuild`` (once the
cause is fixed) and a restart bring it back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    Notification,
    PersistenceError,
    Subscription,
)

from liveblog import deadline
from liveblog.eventsourcing_adapter import next_batch, open_subscription, wake
from liveblog.newsroom import STORY_EVENT_TYPES, Newsroom
from projections.states import Applied, StoryStates
from projections.views import ALL_VIEWS, Changes, ReadViews
from projections.wire import update_doc

log = logging.getLogger("liveblog.feed")

T = TypeVar("T")

DEFAULT_POLL_SECONDS = 1.0
# Updates the feed remembers as it last wrote them, for writes to answer with.
RECENT_UPDATES = 1024
# The longest wait before the feed tries the database again. Short: a database that is
# back must be followed again within about a second (DESIGN §9); a try costs one
# connection attempt, itself bounded by the database deadline. A save in this process
# (the database is back) ends the wait at once.
MAX_BACKOFF_SECONDS = 1.0


@dataclass(frozen=True)
class Attention:
    """A story whose projection stopped: the first event of it the read side could not
    take (``notification_id`` is its position in the log), and the error's type."""

    story_id: UUID
    notification_id: int
    error: str

    def as_json(self) -> dict[str, Any]:
        # The error's type only: its message can quote the database's internals.
        return {"story_id": str(self.story_id), "position": self.notification_id,
                "error": self.error}  # fmt: skip


def _story_id_of(notification: Notification) -> UUID:
    originator_id = notification.originator_id
    return originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))


class FeedListener(Protocol):
    def on_applied(self, applied: Sequence[Applied]) -> None:
        """Called in the feed's thread, in store order; must not block."""


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
        """Record versions the views now hold (called by the feed's thread)."""
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


class Feed:
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
        # The newest updates' JSON as their views rows now hold it (see recent_update_doc).
        self._recent: dict[tuple[UUID, UUID], str] = {}
        # Stories whose projection stopped, for the life of the process (see the module's
        # docstring). Written by the feed's thread only; read by others under the lock.
        self._attention: dict[UUID, Attention] = {}
        self._attention_lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        self.position = self.views.position(ALL_VIEWS) if self.views else 0
        for target, name in ((self._follow, "feed"), (self._poll, "feed-poll")):
            thread = threading.Thread(target=target, name=f"liveblog-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._retry_now.set()
        subscription = self._subscription
        if subscription is not None:
            subscription.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        with self._progress:
            self._progress.notify_all()

    def wake(self) -> None:
        """Look at the log now (``bootstrap`` has every save in this process call it)."""
        self._retry_now.set()
        wake(self._subscription)

    def wait_for_position(self, notification_id: int, timeout: float) -> bool:
        """Block until the feed has processed ``notification_id`` (for tests, tools)."""
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
        try:
            for notification in batch:
                applied = self._apply(notification)
                if applied is not None:
                    applied_list.append(applied)
                    # Added at once: it reads the update as this event left it (the
                    # batch's later events change the same objects in place).
                    changes.add(applied)
            changes.last_notification_id = batch[-1].id
            if self.views is not None and not self._write_views(changes, applied_list):
                # Written without the stories that now need attention: so is the rest.
                attention = self._attention
                applied_list = [a for a in applied_list if a.story_id not in attention]
                changes = changes.of_stories(lambda story_id: story_id not in attention)
        except BaseException:
            # The batch is read again from the position before it (``_follow``): its
            # stories' states, advanced by it, are folded again from the store then.
            for applied in applied_list:
                self.states.forget(applied.story_id)
            raise
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

    def _apply(self, notification: Notification) -> Applied | None:
        """Fold one notification; None: not a story event, applied already, or of a
        story that needs attention (this one's failure may have just marked it)."""
        try:
            return self._retrying("folding an event", functools.partial(self._fold, notification))
        except Exception as error:
            if self._stopping.is_set():
                raise
            story_id = _story_id_of(notification)
            self.states.forget(story_id)  # the event may have changed it half-way
            self._needs_attention(story_id, notification.id, error)
            return None

    def _fold(self, notification: Notification) -> Applied | None:
        event = self.newsroom.mapper.to_domain_event(notification)
        if not isinstance(event, STORY_EVENT_TYPES) or event.originator_id in self._attention:
            return None
        return self.states.apply(notification.id, event)

    def recent_update_doc(self, story_id: UUID, update_id: UUID) -> str | None:
        """An update's JSON as the views row holds it now, if it changed lately; None:
        read the views.

        A write answers with its update once the views hold it: from here, that costs no
        thread and no query. Called from the event loop while the feed's thread
        updates the dict: each single get, set or delete is atomic under the GIL. The
        feed keeps finished text, never the fold's ``UpdateView``: its thread changes
        that object in place with the update's next event, so the loop reading it could
        mix two revisions.
        """
        return self._recent.get((story_id, update_id))

    def _remember(self, changes: Changes) -> None:
        recent = self._recent
        for key, update in changes.updates.items():
            recent.pop(key, None)  # to the newest end
            recent[key] = update_doc(update)
        while len(recent) > RECENT_UPDATES:
            del recent[next(iter(recent))]  # the oldest

    def _write_views(self, changes: Changes, applied: Sequence[Applied]) -> bool:
        """Write the batch: True when all of it, False when without the stories whose
        rows the views refused (each is marked as needing attention).

        The states have moved on, so the batch must land: a failure of the store is
        retried until the store is back. Rows that the views refuse are found story by
        story, and the batch is written once more without those stories. Should the
        rest still be refused (stories fine alone, not together), every story of the
        batch is given up, and only the views' positions move: a batch is never tried
        for ever.
        """
        assert self.views is not None
        views = self.views
        try:
            self._retrying("writing views", functools.partial(views.write, changes))
            return True
        except Exception:
            if self._stopping.is_set():
                raise
        for story_id, (item, failure) in self._refused_stories(changes, applied).items():
            self._needs_attention(story_id, item.notification_id, failure)
        attention = self._attention
        kept = changes.of_stories(lambda story_id: story_id not in attention)
        try:
            self._retrying("writing views", functools.partial(views.write, kept))
        except Exception as error:
            if self._stopping.is_set():
                raise
            for item in applied:  # the first of each story's events is the one logged
                self._needs_attention(item.story_id, item.notification_id, error)
            nothing = changes.of_stories(lambda _: False)
            self._retrying("writing views", functools.partial(views.write, nothing))
        return False

    def _refused_stories(
        self, changes: Changes, applied: Sequence[Applied]
    ) -> dict[UUID, tuple[Applied, Exception]]:
        """The batch's stories whose rows the views refuse, with the first of their
        events in the batch and the error; each story tried alone, and rolled back."""
        assert self.views is not None
        first: dict[UUID, Applied] = {}
        for item in applied:
            first.setdefault(item.story_id, item)
        refused: dict[UUID, tuple[Applied, Exception]] = {}
        for story_id, item in first.items():
            alone = changes.of_stories(story_id.__eq__)
            try:
                self._retrying(
                    "checking views", functools.partial(self.views.check_storable, alone)
                )
            except Exception as error:
                if self._stopping.is_set():
                    raise
                refused[story_id] = (item, error)
        return refused

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, again and again while the store fails; a failure of the data raises."""
        backoff = 0.1
        while True:
            try:
                result = call()
                self.problem = None
                return result
            except Exception as error:
                if self._stopping.is_set() or not self._store_failed(error):
                    raise
                self.problem = f"the feed: {what} failed ({type(error).__name__})"
                log.warning("%s failed (%s: %s); retrying in %.1fs",
                            what, type(error).__name__, error, backoff)  # fmt: skip
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _store_failed(self, error: Exception) -> bool:
        """Whether ``error`` is the store's failure (retry), not the data's (skip a story).

        A DataError or an IntegrityError is the data's. Any other error of the store (a
        lost connection, a timeout, a pool that is closed) is the store's. Any other
        error (the fold's ``UnknownEvent``, a ValueError) is the data's only if the store
        answers now: an outage may show itself as anything, and must never be taken for
        bad data, or it would mark every story.
        """
        if isinstance(error, DataError | IntegrityError):
            return False
        if isinstance(error, PersistenceError):
            return True
        try:
            self.newsroom.recorder.max_notification_id()
        except Exception:
            return True
        return False

    def _needs_attention(self, story_id: UUID, notification_id: int, error: Exception) -> None:
        if story_id in self._attention:
            return
        log.error(
            "story %s needs attention: its event at position %d cannot be projected "
            "(%s: %s); its later events are left out of the views and the live feed until "
            "`liveblog rebuild` (once the cause is fixed) and a restart",
            story_id, notification_id, type(error).__name__, error,
        )  # fmt: skip
        with self._attention_lock:
            self._attention[story_id] = Attention(story_id, notification_id, type(error).__name__)

    def stories_needing_attention(self) -> list[Attention]:
        """The stories whose projection stopped in this process, in the order found."""
        with self._attention_lock:
            return list(self._attention.values())

    def needs_attention(self, story_id: UUID) -> bool:
        return story_id in self._attention
