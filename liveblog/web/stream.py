"""Readers' live streams: WebSocket and Server-Sent Events, one protocol (DESIGN §5).

What a reader is sent is its ``Session``'s (``web/live_session.py``); this module carries
it: the WebSocket, matched before routing (on liveblog's own connection through
``web/direct_socket.py``, on any other ASGI server through ``live_socket``), and SSE.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from eventsourcing.persistence import PersistenceError
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from liveblog.live.connection import LIVE_SOCKET
from liveblog.live.hub import ReaderEnded
from liveblog.web.direct_socket import DirectSocket
from liveblog.web.errors import ApiError, error_response
from liveblog.web.inputs import accepts_query, unknown_parameter
from liveblog.web.live_session import (
    CLOSE_GRACE_SECONDS,
    STORE_UNAVAILABLE,
    UNKNOWN_STORY,
    Message,
    Session,
)
from liveblog.web.paths import story_ref_in
from liveblog.web.public import PublicFace
from liveblog.web.security import SECURITY_HEADERS
from projections.story_reads import StoryMissing
from projections.wire import dumps

SSE_HEARTBEAT_SECONDS = 20.0
LIVE_SUFFIX = "/live"


def live_story_ref(scope: Scope) -> str | None:
    """The ``{story}`` of a live WebSocket path, matched as the Starlette route would."""
    return story_ref_in(scope, LIVE_SUFFIX)


# The query parameters the live stream knows, on the WebSocket and as SSE.
LIVE_QUERY = ("since",)
# Those of an editors' replay, on the WebSocket only (``web/replay.py``).
REPLAY_QUERY = ("replay", "from", "token")


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
    face: PublicFace | None = getattr(state, "public", None)
    refused = None if face is None else face.origin_refused(scope)
    if refused is not None:
        await refuse_handshake(scope, send, ApiError(403, "forbidden_origin", refused))
        return
    unknown = unknown_query(scope)
    if unknown:
        if "replay" in unknown:
            # Imported here: the replay answers its refusals with refuse_handshake.
            from liveblog.web.replay import replay_websocket

            await replay_websocket(state, scope, receive, send, story_ref)
            return
        await refuse_handshake(scope, send, unknown_parameter(unknown, LIVE_QUERY))
        return
    offered = (scope.get("extensions") or {}).get(LIVE_SOCKET)
    if offered is not None:
        await DirectSocket(offered["socket"], send).run(state, story_ref, query_since(scope))
        return
    websocket = WebSocket(scope, receive, send)
    await live_socket(websocket, Session(state, story_ref, query_since(scope)))


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
    refused = request.app.state.public.origin_refused(request.scope)
    if refused is not None:
        raise ApiError(403, "forbidden_origin", refused)
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


@accepts_query(*LIVE_QUERY, *REPLAY_QUERY)
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
