"""Bare baseline servers for ``scripts/bench``: the least Python does for the same bytes.

    python -m scripts.benchmarks.baselines --port P ws --messages FILE
    python -m scripts.benchmarks.baselines --port P starlette-ws --messages FILE
    python -m scripts.benchmarks.baselines --port P http --body FILE --etag '"v301"'
    python -m scripts.benchmarks.baselines --port P broadcast --frame FILE --posts N

- ``broadcast``: the fan-out's baseline (DESIGN §8): a bare ``websockets`` asyncio server
  whose readers, at ``/live``, get a hello; a message ``N`` on its ``/control`` WebSocket
  makes it call ``broadcast()`` with frame N, pre-serialized: the project's own
  ``update.posted`` frame (FILE) with the sequence number changed, so the readers get the
  same bytes. It answers ``ok`` once the call returns. With ``--trace FILE``, its GC
  pauses and broadcasts are stamped as ``scripts.benchmarks.trace`` stamps the project's.

- ``ws``: a bare ``websockets`` asyncio server that sends, on every connection, the
  messages in FILE (a JSON list of texts: the project's own snapshot and ``live``
  messages, captured just before) and then holds the connection. Capacity and the join
  storm report it beside ``liveblog serve`` (no goal: another server stack).
- ``starlette-ws``: a bare starlette WebSocket route on uvicorn, one process, with the
  uvicorn settings of ``liveblog serve`` (``server_config``: the same WebSocket
  implementation, pings, size cap, no compression), that accepts, sends the same
  messages and then holds the connection, reading until the client goes. The join
  storm's goal is measured against it, as the read API's is against bare starlette.
- ``http``: a bare starlette app on uvicorn, one process, with the uvicorn settings of
  ``liveblog serve`` (``liveblog.web.server.server_config``), answering
  ``GET /api/stories/{story}`` with the project's bytes and ETag. The read API workload
  measures it.

All answer ``GET /healthz`` and stop on SIGTERM, or by themselves after ``--deadline``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response as HttpResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

from liveblog.web.server import MAX_INBOUND_BYTES, PING_SECONDS, server_config
from scripts.benchmarks.common import (
    HOST,
    SEQ_TEXT_RE,
    SEQ_WIDTH,
    raise_nofile,
    run_async,
)
from scripts.benchmarks.trace import Stamps

BASELINE_HELLO = b'{"type":"hello"}'


def bare_health(ws: ServerConnection, request: Request) -> Response | None:
    """A bare websockets server's /healthz, so the driver can wait for it like liveblog."""
    if request.path == "/healthz":
        return ws.respond(HTTPStatus.OK, "ok\n")
    return None


async def serve_until_stopped(
    handler: Callable[[ServerConnection], Awaitable[None]], args: argparse.Namespace
) -> int:
    """A bare websockets server with ``liveblog serve``'s settings, until SIGTERM or the
    deadline."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serve(
        handler, HOST, args.port, compression=None, process_request=bare_health,
        max_size=MAX_INBOUND_BYTES, ping_interval=PING_SECONDS, ping_timeout=PING_SECONDS,
        close_timeout=1, backlog=2048,  # uvicorn's default backlog; asyncio's is 100
    ):  # fmt: skip
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.deadline)
    return 0


async def ws_main(args: argparse.Namespace, messages: list[str]) -> int:
    raise_nofile(args.max_readers + 256)

    async def handler(ws: ServerConnection) -> None:
        for message in messages:
            await ws.send(message, text=True)
        await ws.wait_closed()

    return await serve_until_stopped(handler, args)


def broadcast_frames(template: str, posts: int) -> list[bytes]:
    """The project's frame with each sequence number in turn: same bytes, same size."""
    return [
        SEQ_TEXT_RE.sub(f"bench seq={seq:0{SEQ_WIDTH}d}", template).encode()
        for seq in range(posts)
    ]


async def broadcast_main(args: argparse.Namespace, frames: list[bytes]) -> int:
    raise_nofile(args.max_readers + 256)
    stamps = Stamps(args.trace) if args.trace else None
    if stamps is not None:
        gc.callbacks.append(stamps.on_gc)
    readers: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        if path == "/control":
            async for message in ws:
                if stamps is not None:
                    stamps.stamp("publish+")
                broadcast(readers, frames[int(message)], text=True)
                if stamps is not None:
                    stamps.stamp("publish-")
                await ws.send("ok")
            return
        readers.add(ws)
        try:
            await ws.send(BASELINE_HELLO, text=True)
            await ws.wait_closed()
        finally:
            readers.discard(ws)

    return await serve_until_stopped(handler, args)


def http_main(args: argparse.Namespace) -> int:
    body = Path(args.body).read_bytes()
    headers = {"ETag": args.etag}

    async def story(request: HttpRequest) -> HttpResponse:
        return HttpResponse(body, headers=headers, media_type=args.media_type)

    async def healthz(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b'{"status":"ok"}', media_type="application/json")

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/api/stories/{story}", story, methods=["GET"]),
            Route("/stories/{slug}", story, methods=["GET"]),  # the reader page's path
        ]
    )
    # The very settings of ``liveblog serve`` (its one place for them): only the app differs.
    config = server_config(app, host=HOST, port=args.port, ws=args.ws, log_level="warning")
    uvicorn.Server(config).run()
    return 0


def starlette_ws_main(args: argparse.Namespace, messages: list[str]) -> int:
    raise_nofile(args.max_readers + 256)

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        for message in messages:
            await websocket.send_text(message)
        with contextlib.suppress(WebSocketDisconnect):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass

    async def healthz(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b'{"status":"ok"}', media_type="application/json")

    app = Starlette(routes=[Route("/healthz", healthz), WebSocketRoute("/live", live)])
    # The very settings of ``liveblog serve``: only the app differs.
    config = server_config(app, host=HOST, port=args.port, ws=args.ws, log_level="warning")
    uvicorn.Server(config).run()
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="bare baseline servers of scripts/bench")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deadline", type=float, default=3600.0, help="seconds, then exit")
    modes = parser.add_subparsers(dest="mode", required=True)
    ws = modes.add_parser("ws", help="send the given messages on connect, then hold")
    ws.add_argument("--messages", required=True, help="JSON list of texts")
    ws.add_argument("--max-readers", type=int, default=20_000)
    bare = modes.add_parser("starlette-ws", help="starlette on uvicorn: send, then hold")
    bare.add_argument("--messages", required=True, help="JSON list of texts")
    bare.add_argument("--max-readers", type=int, default=20_000)
    bare.add_argument("--ws", default="websockets", help="as liveblog serve --ws")
    http = modes.add_parser("http", help="starlette on uvicorn serving one body")
    http.add_argument("--body", required=True)
    http.add_argument("--etag", required=True)
    http.add_argument("--media-type", default="application/json")
    http.add_argument("--ws", default="websockets", help="as liveblog serve --ws")
    fanout = modes.add_parser("broadcast", help="the fan-out's bare broadcast()")
    fanout.add_argument("--frame", required=True, help="the project's frame, as text")
    fanout.add_argument("--posts", type=int, required=True)
    fanout.add_argument("--max-readers", type=int, default=20_000)
    fanout.add_argument("--trace", help="stamp GC pauses and broadcasts in this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    watchdog = threading.Timer(args.deadline + 10, os._exit, (3,))
    watchdog.daemon = True
    watchdog.start()
    with contextlib.suppress(KeyboardInterrupt):
        if args.mode == "ws":
            messages: list[str] = json.loads(Path(args.messages).read_text())
            return run_async(ws_main(args, messages))
        if args.mode == "broadcast":
            frames = broadcast_frames(Path(args.frame).read_text(), args.posts)
            return run_async(broadcast_main(args, frames))
        if args.mode == "starlette-ws":
            return starlette_ws_main(args, json.loads(Path(args.messages).read_text()))
        return http_main(args)
    return 130


if __name__ == "__main__":
    sys.exit(main())
