"""Readers' live streams: WebSocket and Server-Sent Events, one protocol (DESIGN §5).

A session attaches to the hub first (buffering), then sends what the reader missed — a
snapshot, frames from the ring, or frames rebuilt from the store — through a sequencer
that keeps versions contiguous, says ``live``, and forwards frames as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.legacy.protocol import WebSocketCommonProtocol

from liveblog.live.frames import Frame, event_frame, live_text, snapshot_text
from liveblog.live.hub import Hub, Reader, ReaderEnded
from liveblog.live.resume import Plan, Sequencer, Start, Verdict, plan_resume
from liveblog.newsroom import Newsroom
from liveblog.web.errors import error_response
from projections.states import StoryStates
from projections.views import ReadViews
from projections.wire import DEFAULT_PAGE_SIZE

SSE_HEARTBEAT_SECONDS = 20.0
UNKNOWN_STORY = 4404
# Where DirectWrites leaves the server's connection object for the live stream.
PROTOCOL_SCOPE_KEY = "liveblog.websocket_protocol"
CLOSE_GRACE_SECONDS = 5.0


class StoryMissing(Exception):
    """The stream names no story."""


@dataclass(frozen=True)
class Message:
    text: str
    version: int | None  # the SSE id; None for "live", which moves no cursor


def read_backlog(newsroom: Newsroom, story_id: UUID, since: int) -> list[Frame] | None:
    """Frames after ``since`` rebuilt from the store; None when ``since`` is beyond it."""
    events = newsroom.story_events(story_id)
    if not events:
        raise StoryMissing(str(story_id))
    if since > events[-1].originator_version:
        return None
    states = StoryStates(lambda story, upto: newsroom.story_events(story, upto=upto))
    frames = []
    for event in events:
        applied = states.apply(0, event)
        if applied is not None and applied.version > since:
            frames.append(event_frame(applied))
    return frames


class Session:
    """One reader's stream of messages, whatever carries them."""

    def __init__(self, request: Request | WebSocket, story_ref: str, since_raw: str | None):
        state = request.app.state
        self.hub: Hub = state.hub
        self.views: ReadViews = state.views
        self.newsroom: Newsroom = state.newsroom
        self.story_id = self.newsroom.resolve_story_id(story_ref)
        self.since_raw = since_raw
        self.reader: Reader | None = None
        self.on_end: Callable[[], object] | None = None
        # The connection's websockets protocol, when it has one the hub can write to.
        protocol = request.scope.get(PROTOCOL_SCOPE_KEY)
        self.protocol = protocol if isinstance(protocol, WebSocketCommonProtocol) else None

    async def messages(self) -> AsyncGenerator[Message, None]:
        reader, ring = self.hub.attach(self.story_id)
        reader.on_end = self.on_end
        self.reader = reader
        try:
            plan = plan_resume(self.since_raw, ring)
            del ring  # a reader may stay for hours: hold no copies of frames or snapshots
            sequencer = Sequencer(0)
            async for message in self._catch_up(plan, sequencer):
                yield message
                del message
            del plan
            yield Message(live_text(sequencer.last_sent), None)
            while True:
                if self.protocol is not None and self.hub.go_direct(
                    reader, self.protocol, sequencer.last_sent
                ):
                    await reader.next_frame()  # only an ending wakes a direct reader
                    raise ReaderEnded(1011, "frame for a direct reader")
                frame = await reader.next_frame()
                verdict = sequencer.offer(frame)
                if verdict is Verdict.SEND:
                    yield Message(frame.text, frame.version)
                elif verdict is Verdict.HOLE:
                    yield await self._snapshot(sequencer, reset=True)
        finally:
            self.hub.detach(reader)

    async def _catch_up(self, plan: Plan, sequencer: Sequencer) -> AsyncIterator[Message]:
        if plan.start in (Start.SNAPSHOT, Start.RESET):
            yield await self._snapshot(sequencer, reset=plan.start is Start.RESET)
            return
        assert plan.since is not None
        frames: list[Frame] | tuple[Frame, ...] | None = plan.frames
        if plan.start is Start.STORE:
            self.hub.stats.store_backlog_reads += 1
            frames = await run_in_threadpool(
                read_backlog, self.newsroom, self.story_id, plan.since
            )
            if frames is None:  # the cursor is beyond the story: start again
                yield await self._snapshot(sequencer, reset=True)
                return
        sequencer.restart(plan.since)
        for frame in frames or ():
            if sequencer.offer(frame) is Verdict.SEND:
                yield Message(frame.text, frame.version)

    async def _snapshot(self, sequencer: Sequencer, *, reset: bool) -> Message:
        async def load() -> tuple[int, bytes] | None:
            page = await run_in_threadpool(self.views.story_page, self.story_id, DEFAULT_PAGE_SIZE)
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


async def live_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    session = Session(
        websocket, websocket.path_params["story"], websocket.query_params.get("since")
    )
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
            reader.closed.set()


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


async def _ignore_incoming(websocket: WebSocket) -> None:
    """Readers have nothing to say; keep reading so a disconnect is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


async def live_sse(request: Request) -> Response:
    since = request.headers.get("last-event-id") or request.query_params.get("since")
    session = Session(request, request.path_params["story"], since)
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
            session.reader.closed.set()


def _sse(message: Message) -> bytes:
    head = f"id: {message.version}\n" if message.version is not None else ""
    return f"{head}data: {message.text}\n\n".encode()


ROUTES = [
    WebSocketRoute("/api/stories/{story}/live", live_socket),
    Route("/api/stories/{story}/live/sse", live_sse, methods=["GET"]),
]


class DirectWrites:
    """ASGI middleware: remember the server's connection object for WebSockets.

    uvicorn's ``websockets`` implementation hands the app a ``send`` bound to its
    connection, a websockets protocol; Starlette wraps ``send`` later, so the object is
    kept in the scope here for the hub to write live frames to directly.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[PROTOCOL_SCOPE_KEY] = getattr(send, "__self__", None)
        await self.app(scope, receive, send)
