"""One reader's live session: attach to the hub, catch up, then follow the story.

A session attaches to the hub first (buffering), then sends what the reader missed — a
snapshot, frames from the ring, or frames rebuilt from the store — through a sequencer
that keeps versions contiguous, says ``live``, and forwards frames as they come. What
carries the messages (a WebSocket, SSE) is ``web/stream.py``'s and ``web/direct_socket.py``'s.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import NamedTuple
from uuid import UUID

from eventsourcing.persistence import PersistenceError
from starlette.datastructures import State

from liveblog.feed import Feed
from liveblog.live.backlog import BacklogReads, Span, read_backlog
from liveblog.live.connection import LiveSocket
from liveblog.live.frames import Frame, live_text, snapshot_text
from liveblog.live.hub import Hub, Reader, ReaderEnded
from liveblog.live.resume import Plan, Sequencer, Start, Verdict, plan_resume
from liveblog.newsroom import Newsroom
from liveblog.web.threads import in_thread
from projections.story_reads import StoryMissing
from projections.views import ReadViews
from projections.wire import DEFAULT_PAGE_SIZE

log = logging.getLogger("liveblog.live")

UNKNOWN_STORY = 4404
# A join that cannot read what the reader missed (the store is down or too slow): the
# client should come back later, with the same ``since``.
STORE_UNAVAILABLE = (1013, "store unavailable; try again")
CLOSE_GRACE_SECONDS = 5.0
# How many backlog frames a resume sends per turn of the hub's pacer.
FRAMES_PER_TURN = 32


class Message(NamedTuple):
    """One message for a reader (a tuple: a backlog makes thousands per resume)."""

    text: str
    version: int | None  # the SSE id; None for "live", which moves no cursor
    # The text as UTF-8 when a shared frame holds it already (see ``Frame.utf8``).
    utf8: bytes | None = None

    def data(self) -> bytes:
        """The text as UTF-8."""
        return self.text.encode() if self.utf8 is None else self.utf8


def backlog_reads(newsroom: Newsroom, max_frames: int) -> BacklogReads:
    """The process's shared backlog reads, reading ``newsroom``'s store in worker threads."""

    async def run(
        read: Callable[[UUID, int], list[Frame] | None], story_id: UUID, after: int
    ) -> list[Frame] | None:
        # Under the request deadline: in an outage the shared read fails in time, and
        # every resume that shared it is closed with 1013 (STORE_UNAVAILABLE).
        return await in_thread(read, story_id, after)

    def read(story_id: UUID, after: int) -> list[Frame] | None:
        try:
            return read_backlog(newsroom, story_id, after)
        except (StoryMissing, PersistenceError):
            raise
        except Exception as error:
            # An event the fold refuses (the story then needs attention): the joins
            # that shared this read are closed with 1013, not left to a traceback.
            log.error("reading the backlog of story %s failed: %r", story_id, error)
            msg = f"the backlog of story {story_id} could not be read"
            raise PersistenceError(msg) from error

    def reached(story_id: UUID, version: int) -> bool:
        return bool(newsroom.story_events(story_id, after=version - 1, limit=1))

    async def reaches(story_id: UUID, version: int) -> bool:
        return await in_thread(reached, story_id, version)

    return BacklogReads(read, run, reaches=reaches, max_frames=max_frames)


class Session:
    """One reader's stream of messages, whatever carries them."""

    __slots__ = (
        "backlogs",
        "feed",
        "hub",
        "newsroom",
        "on_end",
        "reader",
        "sequencer",
        "since_raw",
        "socket",
        "story_id",
        "views",
    )  # fmt: skip

    def __init__(
        self,
        state: State,
        story_ref: str,
        since_raw: str | None,
        socket: LiveSocket | None = None,
    ) -> None:
        self.hub: Hub = state.hub
        self.backlogs: BacklogReads = state.backlogs
        self.feed: Feed = state.feed
        self.views: ReadViews = state.views
        self.newsroom: Newsroom = state.newsroom
        self.story_id = self.newsroom.resolve_story_id(story_ref)
        self.since_raw = since_raw
        # The connection, when it is one the hub can write to.
        self.socket = socket
        self.reader: Reader | None = None
        self.sequencer = Sequencer(0)
        self.on_end: Callable[[], object] | None = None

    def attach(self) -> tuple[Reader, Plan]:
        """Buffer from now on, and decide what the reader is missing."""
        reader, ring = self.hub.attach(self.story_id)
        reader.on_end = self.on_end
        if self.socket is not None:  # its unsent bytes count against the reader's bound
            reader.connection = self.socket
        self.reader = reader
        return reader, plan_resume(self.since_raw, ring)

    def detach(self) -> None:
        if self.reader is not None:
            self.hub.detach(self.reader)

    async def catch_up(self, plan: Plan) -> AsyncGenerator[list[Message], None]:
        """What the reader missed, then ``live``, in batches of at most FRAMES_PER_TURN
        messages, each to be sent at once: between two batches of a backlog, the
        catch-up waits for a turn of the hub's pacer (a send that does not fill the
        socket never suspends: without the pacer, long backlogs would hold the event
        loop; see pacer.py)."""
        async for batch in self._catch_up(plan, self.sequencer):
            yield batch
            del batch  # a reader may stay for hours: hold no copies of snapshots
        yield [Message(live_text(self.sequencer.last_sent), None)]

    def go_direct(self) -> bool:
        """Whether the hub now writes this reader's frames itself (caught up, a socket)."""
        assert self.reader is not None
        return self.socket is not None and self.hub.go_direct(
            self.reader, self.socket, self.sequencer.last_sent
        )

    async def next_message(self) -> Message:
        """The next message of a reader that is live but not direct."""
        assert self.reader is not None
        while True:
            frame = await self.reader.next_frame()
            verdict = self.sequencer.offer(frame)
            if verdict is Verdict.SEND:
                return Message(frame.text, frame.version)
            if verdict is Verdict.HOLE:
                return await self._snapshot(self.sequencer, reset=True)

    async def messages(self) -> AsyncGenerator[Message, None]:
        reader, plan = self.attach()
        try:
            async for batch in self.catch_up(plan):
                for message in batch:
                    yield message
                    del message
                del batch
            del plan
            while True:
                if self.go_direct():
                    await reader.next_frame()  # only an ending wakes a direct reader
                    raise ReaderEnded(1011, "frame for a direct reader")
                yield await self.next_message()
        finally:
            self.detach()

    async def _catch_up(self, plan: Plan, sequencer: Sequencer) -> AsyncIterator[list[Message]]:
        if plan.start in (Start.SNAPSHOT, Start.RESET):
            yield [await self._snapshot(sequencer, reset=plan.start is Start.RESET)]
            return
        assert plan.since is not None
        frames: list[Frame] | tuple[Frame, ...] | None = plan.frames
        channel = self.hub.channel(self.story_id)
        if plan.start is Start.STORE and self.feed.needs_attention(self.story_id):
            # Its stream is paused before an event the views could not store: the store
            # holds events past the pause, which must not reach readers either.
            yield [await self._snapshot(sequencer, reset=True)]
            return
        if plan.start is Start.STORE:
            self.hub.stats.store_backlog_reads += 1
            ring = Span(channel.ring[0].version, channel.newest) if channel.ring else None
            newest = max(channel.newest, self.feed.signal.known_version(self.story_id))
            frames = await self.backlogs.frames_after(self.story_id, plan.since, newest, ring)
            if frames is None:  # beyond the story, or too far back: start again
                yield [await self._snapshot(sequencer, reset=True)]
                return
        sequencer.restart(plan.since)
        batch: list[Message] = []
        for frame in frames or ():
            if sequencer.offer(frame) is Verdict.SEND:
                # Sent late: with its update's text as it stands now, not as it stood.
                # Made public a batch at a time, just before the batch is sent: a
                # correction published while a backlog goes out reaches the batches after.
                public = channel.public(frame)
                batch.append(Message(public.text, public.version, public.utf8))
                if len(batch) == FRAMES_PER_TURN:
                    yield batch
                    batch = []
                    await self.hub.pacer.turn()
        if batch:
            yield batch

    async def _snapshot(self, sequencer: Sequencer, *, reset: bool) -> Message:
        async def load() -> tuple[int, bytes] | None:
            page = await in_thread(self.views.story_page, self.story_id, DEFAULT_PAGE_SIZE)
            return None if page is None else (page.head.version, page.render())

        if not reset:
            shared = await self.hub.snapshot_message(self.story_id, load)
            if shared is None:
                raise StoryMissing(str(self.story_id))
            version, text = shared
        else:
            loaded = await self.hub.snapshot(self.story_id, load)
            if loaded is None:
                raise StoryMissing(str(self.story_id))
            version, text = loaded[0], snapshot_text(loaded[0], loaded[1], reset=True)
        sequencer.restart(version)
        return Message(text, version)
