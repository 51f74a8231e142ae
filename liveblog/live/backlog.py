"""Far-back resumes: one bounded read of the store per story, shared by its readers.

A reader whose cursor is older than the hub's ring needs the events it missed from the
store, folded from the story's start. A storm of such resumes (a reconnect wave after a
deploy, or a hostile client) must not cost a read and a fold per connection, nor take
the connection pool from the read API: resumes of one story share one read, at most
``max_concurrent`` reads run at once in the process, and the result is kept while the
ring still joins it. A cursor more than ``max_frames`` behind gets a reset snapshot
instead (DESIGN §5 allows it), so one read never holds more than that many frames.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from liveblog.live.frames import Frame, event_frame, public_backlog
from projections.story_reads import StoryEvents, StoryReads

DEFAULT_MAX_FRAMES = 5_000
MAX_CONCURRENT_READS = 2
KEPT_BACKLOGS = 8


@dataclass(frozen=True)
class Backlog:
    """A story's frames with versions ``after + 1 .. newest``, contiguous, made public."""

    after: int
    frames: tuple[Frame, ...]

    @property
    def newest(self) -> int:
        return self.frames[-1].version if self.frames else self.after

    def serves(self, since: int, ring: Span | None) -> bool:
        """Whether this backlog, then the ring, hold everything after ``since``."""
        if ring is None:
            return self.after <= since <= self.newest
        return self.after <= since <= max(self.newest, ring.newest) and (
            self.newest + 1 >= ring.oldest
        )


@dataclass(frozen=True)
class Span:
    """The versions the hub's ring holds for a story: ``oldest .. newest``."""

    oldest: int
    newest: int


# Reads frames after a version from the store (blocking; run in a worker thread by the
# caller's ``run``). None: the story has no such version (the cursor is beyond it).
StoreRead = Callable[[UUID, int], list[Frame] | None]
Runner = Callable[[StoreRead, UUID, int], Awaitable[list[Frame] | None]]
# Whether the story's stream in the store reaches a version (one indexed row, no fold).
StoreProbe = Callable[[UUID, int], Awaitable[bool]]


def read_backlog(store: StoryEvents, story_id: UUID, since: int) -> list[Frame] | None:
    """Frames after ``since`` rebuilt from the store, as the public may see them now
    (superseded and retracted text replaced); None when ``since`` is beyond the story.
    Raises ``StoryMissing`` for a story the store does not hold."""
    applied = StoryReads(store).applied_after(story_id, since)
    if applied is None:
        return None
    return public_backlog([event_frame(a) for a in applied])


@dataclass
class BacklogStats:
    store_reads: int = 0  # reads of the store made for backlogs
    too_far_back: int = 0  # resumes answered with a reset snapshot by the bound
    probes: int = 0  # cursors beyond what this process knew, checked against the store


class BacklogReads:
    """Shared, bounded backlog reads for every story of this process (event loop only)."""

    def __init__(
        self,
        read: StoreRead,
        run: Runner,
        *,
        reaches: StoreProbe,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_concurrent: int = MAX_CONCURRENT_READS,
        kept: int = KEPT_BACKLOGS,
    ) -> None:
        self._read = read
        self._run = run
        self._reaches = reaches
        self.max_frames = max_frames
        self._max_concurrent = max_concurrent
        self._slots: asyncio.Semaphore | None = None  # made on the loop that uses it
        self._kept = kept
        self._backlogs: OrderedDict[UUID, Backlog] = OrderedDict()
        self._reading: dict[UUID, tuple[int, asyncio.Future[Backlog | None]]] = {}
        self.stats = BacklogStats()

    async def frames_after(
        self, story_id: UUID, since: int, newest: int, ring: Span | None
    ) -> list[Frame] | None:
        """The frames after ``since``; None: serve a reset snapshot instead.

        ``newest`` is the story's newest version this process knows of (0: none), and
        ``ring`` the versions in the hub's ring (None: it is empty). The frames returned
        and then the ring's are contiguous, unless a frame was published meanwhile (the
        caller's sequencer finds such a hole).
        """
        if newest - since > self.max_frames:
            self.stats.too_far_back += 1
            return None
        if newest and since > newest:
            # Beyond the story as this process knows it. Another process may have
            # written that version a moment ago (its notification is not here yet), so
            # ask the store, with a one-row probe: a client looping on a cursor from
            # nowhere then costs no read of the backlog and no fold.
            self.stats.probes += 1
            if not await self._reaches(story_id, since):
                return None
        backlog = self._kept_backlog(story_id, since, ring)
        if backlog is None:
            backlog = await self._shared_read(story_id, since, newest)
            if backlog is not None and backlog.after > since:
                self.stats.too_far_back += 1  # the story was longer than this process knew
                return None
            if backlog is None or not backlog.serves(since, ring):
                return None  # the cursor is beyond the story
        return [frame for frame in backlog.frames if frame.version > since]

    def _kept_backlog(self, story_id: UUID, since: int, ring: Span | None) -> Backlog | None:
        backlog = self._backlogs.get(story_id)
        if backlog is None:
            return None
        if not backlog.serves(since, ring):
            if ring is not None and backlog.newest + 1 < ring.oldest:
                del self._backlogs[story_id]  # the ring has moved past it: never again
            return None
        self._backlogs.move_to_end(story_id)
        return backlog

    async def _shared_read(self, story_id: UUID, since: int, newest: int) -> Backlog | None:
        reading = self._reading.get(story_id)
        if reading is not None and reading[0] <= since:
            return await asyncio.shield(reading[1])
        # Read as far back as the bound allows, so that every resume of this story
        # within the bound can share this one read.
        after = max(0, min(since, newest - self.max_frames))
        future = asyncio.ensure_future(self._read_store(story_id, after))
        if reading is None:
            self._reading[story_id] = (after, future)
            future.add_done_callback(lambda _: self._reading.pop(story_id, None))
        return await asyncio.shield(future)

    async def _read_store(self, story_id: UUID, after: int) -> Backlog | None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_concurrent)
        async with self._slots:
            self.stats.store_reads += 1
            frames = await self._run(self._read, story_id, after)
        if frames is None:
            return None
        if len(frames) > self.max_frames:  # a story this process knew too little of
            frames = frames[-self.max_frames :]
            after = frames[0].version - 1
        backlog = Backlog(after, tuple(frames))
        self._backlogs[story_id] = backlog
        self._backlogs.move_to_end(story_id)
        while len(self._backlogs) > self._kept:
            self._backlogs.popitem(last=False)
        return backlog
