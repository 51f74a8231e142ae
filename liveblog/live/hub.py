"""The live hub: per story, a ring of recent frames and the readers to push them to.

The feed calls ``on_applied`` in its own thread; each event is serialized there, once,
and handed to the event loop, where it joins the story's ring. Readers still catching
up get it in their bounded buffer; caught-up WebSocket readers get it written straight
to their connection (a ``DirectConnection``), all in one loop, as
``websockets.broadcast()`` does. A reader for whom too many bytes wait unsent (frames in
its buffer plus its socket's write buffer, ``slow_reader_bytes``), or too many frames, is
too slow: it is dropped (and closed with 1013), so it never slows the others and costs
bounded memory. Rings make reconnects
cheap: a reader that resumes within the ring costs no database query.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from liveblog.live.connection import DirectConnection
from liveblog.live.frames import Frame, event_frame, snapshot_text, with_public_text
from liveblog.live.pacer import TurnPacer
from projections.states import Applied

log = logging.getLogger("liveblog.live")

RING_SIZE = 1_024
READER_BUFFER = 1_024
MAX_CHANNELS = 1_000
# Rewritten backlog frames a channel keeps (see Channel.public): a ring's worth and a
# kept backlog's (liveblog.live.backlog) fit.
MAX_REWRITTEN = 8 * RING_SIZE
# Loads a join may wait for before it takes what it has (its sequencer finds any hole).
SNAPSHOT_TRIES = 3
# A reader is too slow once a frame would make more than this wait for it, unsent (its
# buffered frames plus its socket's write buffer): about a hundred typical frames. The
# default of ``Settings.slow_reader_bytes`` (LIVEBLOG_SLOW_READER_BYTES).
SLOW_READER_BYTES = 256 * 1024


class ReaderEnded(Exception):
    """The hub let go of this reader: too slow, or the server is shutting down."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


SLOW_CONSUMER = (1013, "slow consumer")


class Reader:
    """One connected reader's bounded buffer of frames still to send.

    Idle readers are most of a server's memory, so a reader is small: slots, no buffer
    while it has nothing buffered (a caught-up WebSocket reader never has one: the hub
    writes to it directly), and one future, made only while its writer waits.
    One ``await`` per frame and no extra task: ending a reader either finds its writer
    busy (it looks at ``ending`` before its next frame) or waiting, which ``wake`` ends.
    """

    __slots__ = (
        "_buffer",
        "_buffered_bytes",
        "_closed",
        "_closed_waiter",
        "_waiter",
        "capacity",
        "connection",
        "direct",
        "ended_pending",
        "ending",
        "max_bytes",
        "on_end",
        "story_id",
    )  # fmt: skip

    def __init__(
        self, story_id: UUID, capacity: int = READER_BUFFER, max_bytes: int = SLOW_READER_BYTES
    ) -> None:
        self.story_id = story_id
        self.capacity = capacity
        self.max_bytes = max_bytes
        # The reader's connection, when the hub may know it: what waits in its write
        # buffer counts against ``max_bytes`` too (a writer stuck on a full socket
        # buffers there).
        self.connection: DirectConnection | None = None
        self._buffered_bytes = 0
        self.ended_pending = 0  # bytes that waited for it when it was dropped as slow
        self.ending: tuple[int, str] | None = None
        # Set by a connection that can stop its writer at once: a slow reader's writer
        # is usually stuck on a full socket and would not see ``ending`` by itself.
        self.on_end: Callable[[], object] | None = None
        # Once caught up, a reader with a connection is written to by the hub itself, as
        # websockets.broadcast() does: no task, no buffer, per frame (``Hub.go_direct``).
        self.direct: DirectConnection | None = None
        self._buffer: deque[Frame] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._closed_waiter: asyncio.Future[None] | None = None

    def push(self, frame: Frame) -> bool:
        """Buffer a frame; True when this frame found the buffer full (now too slow)."""
        if self.ending is not None:
            return False
        size = frame.size
        pending = self.pending_bytes()
        buffer = self._buffer
        # One frame always fits when nothing waits, however big: only a backlog is slow.
        if pending and (pending + size > self.max_bytes or len(buffer or ()) >= self.capacity):
            self.ended_pending = pending
            self.end(SLOW_CONSUMER)
            return True
        if buffer is None:
            buffer = self._buffer = deque()
        buffer.append(frame)
        self._buffered_bytes += size
        self.wake()
        return False

    def pending_bytes(self) -> int:
        """Bytes waiting for this reader: its buffered frames and its socket's buffer."""
        connection = self.connection
        written = 0 if connection is None else connection.pending_bytes()
        return self._buffered_bytes + written

    def buffered(self) -> bool:
        return bool(self._buffer)

    def close(self, code: int, reason: str) -> None:
        """Ask the connection to close (shutdown); it calls ``mark_closed`` when it has."""
        self.end((code, reason))

    def end(self, ending: tuple[int, str]) -> None:
        """Let go of the reader, once: its writer stops, and its connection is closed with
        ``ending`` (code, reason) unless it is already gone."""
        if self.ending is None:
            self.ending = ending
            self._buffer = None  # never sent now
            self._buffered_bytes = 0
            if self.on_end is not None:
                self.on_end()
            self.wake()

    def wake(self) -> None:
        """Wake the writer if it waits: a frame, an ending, or its connection is gone."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until ``wake``: whoever wakes a reader, its writer then looks at what changed."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    async def next_frame(self) -> Frame:
        while self.ending is None:
            buffer = self._buffer
            if buffer:
                frame = buffer.popleft()
                self._buffered_bytes -= frame.size
                if not buffer:
                    self._buffer = None  # an empty deque still costs over 600 bytes
                    self._buffered_bytes = 0
                return frame
            await self.wait()
        raise ReaderEnded(*self.ending)

    def mark_closed(self) -> None:
        """The connection is closed: shutdown need not wait for it any more."""
        self._closed = True
        waiter = self._closed_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_closed(self) -> None:
        if not self._closed:
            waiter = self._closed_waiter
            if waiter is None:
                waiter = self._closed_waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(waiter)


@dataclass
class Channel:
    ring: deque[Frame] = field(default_factory=lambda: deque(maxlen=RING_SIZE))
    readers: set[Reader] = field(default_factory=set)
    # The newest story JSON this process rendered, by version: joins share it, and a
    # storm of joins waits on one read of the views.
    snapshot: tuple[int, bytes] | None = None
    snapshot_loading: asyncio.Future[tuple[int, bytes] | None] | None = None
    # The snapshot message wrapping it, shared by every reader that joins at that version.
    snapshot_message: tuple[int, str] | None = None
    # Each update's newest frame, for the updates that the ring's frames name: a backlog
    # frame showing text that a later frame took back is served with today's text.
    newest_of_update: dict[UUID, Frame] = field(default_factory=dict)
    # Backlog frames rewritten so, by version, with the newest frame they were made from:
    # a storm of resumes rewrites each frame once.
    rewritten: dict[int, tuple[Frame, Frame]] = field(default_factory=dict)

    @property
    def newest(self) -> int:
        return self.ring[-1].version if self.ring else 0

    def remember_update(self, update_id: UUID, frame: Frame) -> None:
        """``frame``, just added to the ring, is now the newest of update ``update_id``."""
        newest = self.newest_of_update
        newest[update_id] = frame
        if len(newest) > 2 * RING_SIZE:
            # Forget updates no frame in the ring names any more: nothing served from
            # the ring can show their old text (a backlog read from the store is made
            # public as it is read).
            oldest = self.ring[0].version
            for gone in [u for u, f in newest.items() if f.version < oldest]:
                del newest[gone]
            for version in [v for v in self.rewritten if v < oldest]:
                del self.rewritten[version]

    def public(self, frame: Frame) -> Frame:
        """``frame`` as the public may see it now: with its update's text as it now stands.

        Live readers get each frame as it happens; this is for frames sent late (a
        resume's backlog), which must not show what a correction or a retraction has
        since taken back (DESIGN §5).
        """
        update_id = frame.update_id
        if update_id is None:
            return frame
        newest = self.newest_of_update.get(update_id)
        if newest is None or newest.version <= frame.version:
            return frame
        if newest.text_print == frame.text_print:
            return frame
        cached = self.rewritten.get(frame.version)
        if cached is not None and cached[0] is newest:
            return cached[1]
        public = with_public_text(frame, newest)
        if len(self.rewritten) >= MAX_REWRITTEN:
            self.rewritten.clear()  # bounded whatever resumes ask for; remade on demand
        self.rewritten[frame.version] = (newest, public)
        return public


@dataclass
class HubStats:
    frames_published: int = 0
    readers_dropped_slow: int = 0
    # The most bytes that waited for a reader when it was dropped as slow: what one
    # stalled reader costs at most (docs/benchmarks.md).
    slow_reader_pending_bytes_max: int = 0
    store_backlog_reads: int = 0
    snapshot_view_reads: int = 0
    joins: int = 0


class Hub:
    """Fan-out of story events to readers in this process."""

    def __init__(self, slow_reader_bytes: int = SLOW_READER_BYTES) -> None:
        self.slow_reader_bytes = slow_reader_bytes
        self.channels: dict[UUID, Channel] = {}
        self.stats = HubStats()
        # Resumes' backlogs take a bounded share of each loop turn (see pacer.py).
        self.pacer = TurnPacer()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    # -- from the feed's thread ------------------------------------------------------

    def on_applied(self, applied: Sequence[Applied]) -> None:
        if not applied or self._loop is None:
            return
        frames = [(a.story_id, event_frame(a)) for a in applied]  # serialized once, here
        try:
            self._loop.call_soon_threadsafe(self._publish, frames)
        except RuntimeError:
            log.debug("event loop closed; %d frames not published", len(frames))

    # -- on the event loop -----------------------------------------------------------

    def _publish(self, frames: list[tuple[UUID, Frame]]) -> None:
        for story_id, frame in frames:
            channel = self.channel(story_id)
            if channel.ring and frame.version <= channel.newest:
                continue  # already have it (a re-delivered batch)
            if channel.ring and frame.version != channel.newest + 1:
                # The ring must stay contiguous, and direct readers would miss frames.
                self._end_direct(channel, (1013, "resync"))
                channel.ring.clear()
            channel.ring.append(frame)
            if frame.update_id is not None:
                channel.remember_update(frame.update_id, frame)
            self.stats.frames_published += 1
            size, limit = frame.size, self.slow_reader_bytes
            for reader in channel.readers:
                connection = reader.direct
                if connection is None:
                    if reader.push(frame):
                        self._dropped_slow(reader.ended_pending)
                elif reader.ending is None:
                    pending = connection.pending_bytes()
                    if pending and pending + size > limit:
                        reader.end(SLOW_CONSUMER)
                        self._dropped_slow(pending)
                    else:
                        connection.write(frame.utf8)  # encoded once, for all

    def _dropped_slow(self, pending: int) -> None:
        stats = self.stats
        stats.readers_dropped_slow += 1
        stats.slow_reader_pending_bytes_max = max(stats.slow_reader_pending_bytes_max, pending)

    def _end_direct(self, channel: Channel, ending: tuple[int, str]) -> None:
        for reader in channel.readers:
            if reader.direct is not None:
                reader.end(ending)

    def go_direct(self, reader: Reader, connection: DirectConnection, last_sent: int) -> bool:
        """Let the hub write to a caught-up reader itself; False if it is not caught up.

        Caught up means: nothing buffered, and the reader has exactly the channel's
        newest frame, so the next frame the hub writes is the one it needs.
        """
        channel = self.channel(reader.story_id)
        if reader.ending is not None or reader.buffered() or last_sent != channel.newest:
            return False
        reader.direct = connection
        return True

    def channel(self, story_id: UUID) -> Channel:
        channel = self.channels.get(story_id)
        if channel is None:
            if len(self.channels) >= MAX_CHANNELS:
                self._evict_idle()
            channel = self.channels[story_id] = Channel()
        return channel

    def _evict_idle(self) -> None:
        for story_id in [s for s, c in self.channels.items() if not c.readers]:
            del self.channels[story_id]
            if len(self.channels) < MAX_CHANNELS // 2:
                return

    def attach(self, story_id: UUID) -> tuple[Reader, list[Frame]]:
        """Register a reader (it buffers from now on) and copy the ring as it stands."""
        channel = self.channel(story_id)
        reader = Reader(story_id, max_bytes=self.slow_reader_bytes)
        channel.readers.add(reader)
        self.stats.joins += 1
        return reader, list(channel.ring)

    def detach(self, reader: Reader) -> None:
        channel = self.channels.get(reader.story_id)
        if channel is not None:
            channel.readers.discard(reader)

    def reader_count(self) -> int:
        return sum(len(c.readers) for c in self.channels.values())

    def direct_reader_count(self) -> int:
        """Readers the hub writes to itself (caught up): the fast path, for /metrics."""
        return sum(r.direct is not None for c in self.channels.values() for r in c.readers)

    def cached_snapshot(self, story_id: UUID, at_least: int = 0) -> tuple[int, bytes] | None:
        """The cached Story JSON if it is current here, without waiting for anything."""
        channel = self.channels.get(story_id)
        if channel is None or channel.snapshot is None:
            return None
        cached = channel.snapshot
        return cached if cached[0] >= max(channel.newest, at_least) else None

    async def snapshot(
        self,
        story_id: UUID,
        load: Callable[[], Awaitable[tuple[int, bytes] | None]],
        at_least: int = 0,
    ) -> tuple[int, bytes] | None:
        """The story's JSON at its newest version here; one load however many ask.

        Readers joining and ``GET /api/stories/{story}`` share it: it is rendered once per
        version this process sees, and served from memory until the next event.
        """
        channel = self.channel(story_id)
        # The reader's buffer holds every frame after the ring's newest as it is now: a
        # render older than that would leave a hole (and cost it a reset snapshot).
        needed = max(channel.newest, at_least)
        loaded: tuple[int, bytes] | None = None
        for _ in range(SNAPSHOT_TRIES):
            cached = channel.snapshot
            if cached is not None and cached[0] >= max(channel.newest, at_least):
                return cached
            if channel.snapshot_loading is None:
                loading = self._load_snapshot(channel, load)
                channel.snapshot_loading = asyncio.ensure_future(loading)
            loaded = await asyncio.shield(channel.snapshot_loading)
            # A load another reader started before this one attached may be older.
            if loaded is None or loaded[0] >= needed:
                return loaded
        return loaded

    async def snapshot_message(
        self, story_id: UUID, load: Callable[[], Awaitable[tuple[int, bytes] | None]]
    ) -> tuple[int, str] | None:
        """The ``snapshot`` message at the newest version: one string for all joiners."""
        loaded = await self.snapshot(story_id, load)
        if loaded is None:
            return None
        channel = self.channel(story_id)
        shared = channel.snapshot_message
        if shared is None or shared[0] != loaded[0]:
            shared = (loaded[0], snapshot_text(loaded[0], loaded[1]))
            if channel.snapshot is not None and channel.snapshot[0] == loaded[0]:
                channel.snapshot_message = shared
        return shared

    async def _load_snapshot(
        self, channel: Channel, load: Callable[[], Awaitable[tuple[int, bytes] | None]]
    ) -> tuple[int, bytes] | None:
        try:
            self.stats.snapshot_view_reads += 1
            loaded = await load()
            if loaded is not None and (
                channel.snapshot is None or loaded[0] >= channel.snapshot[0]
            ):
                channel.snapshot = loaded
            return loaded
        finally:
            channel.snapshot_loading = None

    async def close_all(self, code: int, reason: str, grace: float = 3.0) -> None:
        """Close every reader (server shutdown) and wait, briefly, until they have."""
        readers = [r for c in self.channels.values() for r in c.readers]
        for reader in readers:
            reader.close(code, reason)
        if readers:
            waits = [asyncio.ensure_future(r.wait_closed()) for r in readers]
            _, pending = await asyncio.wait(waits, timeout=grace)
            for waiting in pending:
                waiting.cancel()
