"""Readers' live streams: WebSocket and Server-Sent Events, one protocol (DESIGN §5).

A session attaches to the hub first (buffering), then sends what the reader missed — a
snapshot, frames from the ring, or frames rebuilt from the store — through a sequencer
that keeps versions contiguous, says ``live``, and forwards frames as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from eventsourcing.persistence import PersistenceError
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from liveblog.feed import Feed
from liveblog.live.backlog import BacklogReads, Span, read_backlog
from liveblog.live.connection import LIVE_SOCKET, LiveSocket
from liveblog.live.frames import Frame, live_text, snapshot_text
from liveblog.live.hub import Hub, Reader, ReaderEnded
from liveblog.live.resume import Plan, Sequencer, Start, Verdict, plan_resume
from liveblog.newsroom import Newsroom
from liveblog.web.errors import ApiError, error_response
from liveblog.web.inputs import accepts_query, unknown_parameter
from liveblog.web.paths import story_ref_in
from liveblog.web.security import SECURITY_HEADERS
from liveblog.web.threads import in_thread
from projections.story_reads import StoryMissing
from projections.views import ReadViews
from projections.wire import DEFAULT_PAGE_SIZE, dumps

log = logging.getLogger("liveblog.live")

SSE_HEARTBEAT_SECONDS = 20.0
UNKNOWN_STORY = 4404
# A join that cannot read what the reader missed (the store is down or too slow): the
# client should come back later, with the same ``since``.
STORE_UNAVAILABLE = (1013, "store unavailable; try again")
LIVE_SUFFIX = "/live"
CLOSE_GRACE_SECONDS = 5.0
# A catch-up waits for its socket to drain past this much unsent (see send_now).
CATCH_UP_PENDING_BYTES = 64 * 1024
# How many backlog frames a resume sends per turn of the hub's pacer.
FRAMES_PER_TURN = 32


@dataclass(frozen=True)
class Message:
    text: str
    version: int | None  # the SSE id; None for "live", which moves no cursor


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

    async def catch_up(self, plan: Plan) -> AsyncGenerator[Message, None]:
        """What the reader missed, then ``live``."""
        async for message in self._catch_up(plan, self.sequencer):
            yield message
            del message  # a reader may stay for hours: hold no copies of snapshots
        yield Message(live_text(self.sequencer.last_sent), None)

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
            async for message in self.catch_up(plan):
                yield message
                del message
            del plan
            while True:
                if self.go_direct():
                    await reader.next_frame()  # only an ending wakes a direct reader
                    raise ReaderEnded(1011, "frame for a direct reader")
                yield await self.next_message()
        finally:
            self.detach()

    async def _catch_up(self, plan: Plan, sequencer: Sequencer) -> AsyncIterator[Message]:
        if plan.start in (Start.SNAPSHOT, Start.RESET):
            yield await self._snapshot(sequencer, reset=plan.start is Start.RESET)
            return
        assert plan.since is not None
        frames: list[Frame] | tuple[Frame, ...] | None = plan.frames
        channel = self.hub.channel(self.story_id)
        if plan.start is Start.STORE and self.feed.needs_attention(self.story_id):
            # Its stream is paused before an event the views could not store: the store
            # holds events past the pause, which must not reach readers either.
            yield await self._snapshot(sequencer, reset=True)
            return
        if plan.start is Start.STORE:
            self.hub.stats.store_backlog_reads += 1
            ring = Span(channel.ring[0].version, channel.newest) if channel.ring else None
            newest = max(channel.newest, self.feed.signal.known_version(self.story_id))
            frames = await self.backlogs.frames_after(self.story_id, plan.since, newest, ring)
            if frames is None:  # beyond the story, or too far back: start again
                yield await self._snapshot(sequencer, reset=True)
                return
        sequencer.restart(plan.since)
        for sent, frame in enumerate(frames or ()):
            if sent % FRAMES_PER_TURN == 0 and sent:
                # A send that does not fill the socket never suspends: without a turn
                # of the pacer, long backlogs would hold the event loop (see pacer.py).
                await self.hub.pacer.turn()
            if sequencer.offer(frame) is Verdict.SEND:
                # Sent late: with its update's text as it stands now, not as it stood.
                public = channel.public(frame)
                yield Message(public.text, public.version)

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


def live_story_ref(scope: Scope) -> str | None:
    """The ``{story}`` of a live WebSocket path, matched as the Starlette route would."""
    return story_ref_in(scope, LIVE_SUFFIX)


# The query parameters the live stream knows, on the WebSocket and as SSE.
LIVE_QUERY = ("since",)


def unknown_query(scope: Scope) -> list[str]:
    """Query parameter names the live WebSocket does not know (DESIGN §4: a 422)."""
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return []
    names = {name for name, _ in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)}
    return sorted(names - set(LIVE_QUERY))


async def refuse_handshake(scope: Scope, send: Send, error: ApiError) -> None:
    """Answer a WebSocket handshake with an HTTP error, where the server lets us (the
    ASGI ``websocket.http.response`` extension: uvicorn's implementations do); else
    close before accepting, which servers answer with 403."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008, "reason": error.message[:120]})
        return
    body = dumps({"error": {"code": error.code, "message": error.message}})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
    ]
    start = {"type": "websocket.http.response.start", "status": error.status, "headers": headers}
    await send(start)
    await send({"type": "websocket.http.response.body", "body": body})


def query_since(scope: Scope) -> str | None:
    """``since`` from the query string; the last one wins, as in Starlette's QueryParams."""
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return None
    since = None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name == "since":
            since = value
    return since


async def live_websocket(
    state: State, scope: Scope, receive: Receive, send: Send, story_ref: str
) -> None:
    """``WS /api/stories/{story}/live``, called straight from the app (no routing).

    Idle readers are what a server holds most of, and every frame an idle connection
    waits in costs memory: this skips Starlette's middleware and routing, and where the
    server offers a ``LiveSocket`` (liveblog's uvicorn connection) a caught-up reader
    waits in this one coroutine, no tasks.
    """
    unknown = unknown_query(scope)
    if unknown:
        await refuse_handshake(scope, send, unknown_parameter(unknown, LIVE_QUERY))
        return
    offered = (scope.get("extensions") or {}).get(LIVE_SOCKET)
    if offered is not None:
        await DirectSocket(offered["socket"], send).run(state, story_ref, query_since(scope))
        return
    websocket = WebSocket(scope, receive, send)
    await live_socket(websocket, Session(state, story_ref, query_since(scope)))


GONE = (1006, "connection lost")


class DirectSocket:
    """A live WebSocket on a ``LiveSocket``: one coroutine, then the hub's writes.

    The socket drops what the reader sends (``ignore_incoming``), so nothing here reads.
    The coroutine sends the catch-up, then hands the reader to the hub and waits until
    the hub ends it (slow, shutdown: this closes the socket) or the client goes (the
    socket's ``on_lost`` ends the reader with ``GONE``).
    """

    __slots__ = ("interrupted", "pending_limit", "reader", "send", "sending", "socket", "task")

    def __init__(self, socket: LiveSocket, send: Send) -> None:
        self.socket = socket
        self.send = send
        self.reader: Reader | None = None
        self.task: asyncio.Task[Any] | None = None
        self.sending = False
        self.interrupted = False
        self.pending_limit = CATCH_UP_PENDING_BYTES  # set from the reader's bound in run

    async def run(self, state: State, story_ref: str, since_raw: str | None) -> None:
        socket = self.socket
        socket.ignore_incoming()
        await self.send({"type": "websocket.accept"})
        session = Session(state, story_ref, since_raw, socket)
        session.on_end = self.on_end
        self.task = asyncio.current_task()
        reader, plan = session.attach()
        self.reader = reader
        # A catch-up waits for its socket past this much unsent: below the slow-reader
        # bound, so a live frame arriving meanwhile still fits. The connection pauses
        # (and ``drain`` waits) at that mark, not at the server's own write limit.
        self.pending_limit = min(CATCH_UP_PENDING_BYTES, reader.max_bytes // 2)
        socket.set_pending_limit(self.pending_limit)
        socket.on_lost(self.on_lost)
        try:
            await self.send_catch_up(session, plan)
            del plan
            while not session.go_direct():
                message = await session.next_message()
                await self.send_text(message.text)
                del message
            while reader.ending is None:  # idle: the hub writes, nothing runs here
                await reader.wait()
        except ReaderEnded:
            pass
        except asyncio.CancelledError:
            # on_end interrupted a send to a slow reader; any other cancel goes on.
            task = self.task
            if not self.interrupted or task is None or task.uncancel() > 0:
                raise
        except StoryMissing:
            with contextlib.suppress(Exception):
                await self.send({"type": "websocket.close", "code": UNKNOWN_STORY,
                                 "reason": "no such story"})  # fmt: skip
        except PersistenceError:
            code, reason = STORE_UNAVAILABLE
            with contextlib.suppress(Exception):
                await self.send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:
            reader.end(GONE)  # the client went while we sent
        finally:
            session.detach()
            socket.on_lost(None)
            ending = reader.ending
            if ending is not None and ending is not GONE:
                # A slow reader's socket may be full: the close frame has a deadline,
                # after which the connection is dropped.
                with contextlib.suppress(Exception):
                    await socket.close(*ending, grace=CLOSE_GRACE_SECONDS)
            reader.mark_closed()

    async def send_catch_up(self, session: Session, plan: Plan) -> None:
        """What the reader missed, then ``live``, a chunk at a time: the catch-up takes
        a turn of the hub's pacer every FRAMES_PER_TURN messages, and each chunk goes
        out just before it, in one write."""
        async with contextlib.aclosing(session.catch_up(plan)) as catching_up:
            chunk: list[bytes] = []
            async for message in catching_up:
                chunk.append(message.text.encode())
                del message  # a reader may stay for hours: hold no copies of snapshots
                if len(chunk) >= FRAMES_PER_TURN:
                    await self.send_now(chunk)
                    chunk = []
            await self.send_now(chunk)

    async def send_now(self, messages: list[bytes]) -> None:
        """Write catch-up messages at once, as the hub writes live frames; wait only
        when the socket holds more than it should (a slow reader).

        The ASGI ``send`` costs several times the write itself, and a resume's backlog
        is thousands of messages: a storm of resumes would be mostly that overhead.
        """
        if not messages:
            return
        socket = self.socket
        socket.write_many(messages)
        if socket.pending_bytes() > self.pending_limit:
            self.sending = True
            try:
                await socket.drain()
            finally:
                self.sending = False
        elif not socket.is_open():
            raise ConnectionError("the live WebSocket is closing")

    async def send_text(self, text: str) -> None:
        self.sending = True
        try:
            await self.send({"type": "websocket.send", "text": text})
        finally:
            self.sending = False

    def on_end(self) -> None:
        """The hub ended the reader: stop a send stuck on a slow reader's full socket."""
        if self.sending and self.task is not None:
            self.interrupted = True
            self.task.cancel()

    def on_lost(self) -> None:
        if self.reader is not None:
            self.reader.end(GONE)


async def live_socket(websocket: WebSocket, session: Session) -> None:
    """The live stream on any other ASGI WebSocket (another server, ``--ws wsproto``)."""
    await websocket.accept()
    sender = asyncio.ensure_future(_send_all(websocket, session))
    session.on_end = sender.cancel  # the hub stops the writer, even mid-send
    receiver = asyncio.ensure_future(_ignore_incoming(websocket))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        client_gone = receiver.done()
        for task in (sender, receiver):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(sender, receiver, return_exceptions=True)
        reader = session.reader
        if reader is not None:
            if reader.ending is not None and not client_gone:
                # A slow reader's socket may be full: give the close frame a deadline,
                # after which uvicorn drops the connection.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(websocket.close(*reader.ending), CLOSE_GRACE_SECONDS)
            reader.mark_closed()


async def _send_all(websocket: WebSocket, session: Session) -> None:
    """Send the session's messages; when the hub ends the reader, live_socket closes."""
    try:
        async for message in session.messages():
            await websocket.send_text(message.text)
            del message  # not kept alive while waiting for the next one
    except ReaderEnded:
        return
    except StoryMissing:
        await websocket.close(UNKNOWN_STORY, "no such story")
    except PersistenceError:
        await websocket.close(*STORE_UNAVAILABLE)


async def _ignore_incoming(websocket: WebSocket) -> None:
    """Readers have nothing to say; keep reading so a disconnect is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


@accepts_query(*LIVE_QUERY)
async def live_sse(request: Request) -> Response:
    since = request.headers.get("last-event-id") or request.query_params.get("since")
    session = Session(request.app.state, request.path_params["story"], since)
    messages = session.messages()
    try:
        first = await anext(messages)
    except StoryMissing:
        await messages.aclose()
        return error_response(404, "not_found", "no such story")
    return StreamingResponse(
        _sse_events(first, messages, session),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse_events(
    first: Message, messages: AsyncIterator[Message], session: Session
) -> AsyncIterator[bytes]:
    yield _sse(first)
    pending: asyncio.Future[Message] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(messages))
            done, _ = await asyncio.wait({pending}, timeout=SSE_HEARTBEAT_SECONDS)
            if not done:
                yield b": keep-alive\n\n"
                continue
            message = pending.result()
            pending = None
            yield _sse(message)
    except (ReaderEnded, StopAsyncIteration):
        return
    finally:
        if pending is not None:
            pending.cancel()
        if session.reader is not None:
            session.reader.mark_closed()


def _sse(message: Message) -> bytes:
    head = f"id: {message.version}\n" if message.version is not None else ""
    return f"{head}data: {message.text}\n\n".encode()


@accepts_query(*LIVE_QUERY)
async def live_without_upgrade(request: Request) -> Response:
    """A plain HTTP ``GET`` of the WebSocket's path: say what it is rather than 404."""
    raise ApiError(
        426, "upgrade_required",
        "this is a WebSocket; connect with Upgrade: websocket, or read the same stream "
        "as Server-Sent Events at .../live/sse",
        {"Upgrade": "websocket"},
    )  # fmt: skip


ROUTES = [
    # WS /api/stories/{story}/live is not routed: the app calls live_websocket itself,
    # before routing; this route only ever sees plain HTTP.
    Route(f"/api/stories/{{story}}{LIVE_SUFFIX}", live_without_upgrade, methods=["GET"]),
    Route("/api/stories/{story}/live/sse", live_sse, methods=["GET"]),
]
