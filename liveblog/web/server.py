"""uvicorn's server, except that readers hear "going away" (1001) when it shuts down.

uvicorn closes WebSockets with 1012 on shutdown; our readers should be told 1001 and
resume elsewhere, so the hub closes them first, then uvicorn does the rest.

``--ws websockets`` runs ``LiveWebSocketProtocol``: uvicorn's own (legacy ``websockets``)
connection, made cheaper per connection for a server of mostly idle live readers. HTTP
runs ``LiveHttpProtocol`` (``liveblog.web.http_protocol``): uvicorn's httptools
connection, which writes a cached story's answer without starting a task.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import socket
import warnings
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import UvicornDeprecationWarning
from websockets.legacy.server import WebSocketServerProtocol
from websockets.typing import Data

from liveblog.live.hub import Hub
from liveblog.web.http_protocol import LiveHttpProtocol

with warnings.catch_warnings():
    # uvicorn warns, on import, that ``--ws websockets`` will later mean the sans-I/O
    # implementation. The hub's direct writes need this one, chosen on purpose (see
    # docs/benchmarks.md); ``--ws websockets-sansio`` stays available.
    warnings.simplefilter("ignore", UvicornDeprecationWarning)
    from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol

PING_SECONDS = 20.0
MAX_INBOUND_BYTES = 4 * 1024  # readers have nothing to say

# The garbage collector's policy for the server process (see ``collect_less``).
GC_GEN0_THRESHOLD = 20_000


class LiveWebSocketProtocol(WebSocketProtocol):
    """uvicorn's ``websockets`` connection, with less work per connection.

    - ``discard_incoming``: a live stream that does not read says so, and messages are
      dropped as they arrive (after the 4 KiB cap, which still closes with 1009), so an
      idle reader needs no task of its own to keep the connection read (pongs, close).
    - its handler is an object that carries its signature: the legacy server calls
      ``inspect.signature`` on the handler of every connection (twice, plus a
      DeprecationWarning, for uvicorn's two-argument method); with the collections it
      set off, that was 11 % of a join storm's time.
    """

    discard_incoming = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # uvicorn passes ``self.ws_handler`` to the legacy server: this object, then.
        self.ws_handler = _Handshaken(self)  # type: ignore[method-assign,assignment]
        super().__init__(*args, **kwargs)

    async def read_message(self) -> Data | None:
        while True:
            message = await super().read_message()
            if message is None or not self.discard_incoming:
                return message


class _Handshaken:
    """uvicorn's ``ws_handler``: the handshake is done; hold on until the connection ends."""

    __slots__ = ("connection",)
    # Found by inspect.signature at once, without looking at any code object.
    __signature__ = inspect.Signature(
        [inspect.Parameter("websocket", inspect.Parameter.POSITIONAL_ONLY)]
    )

    def __init__(self, connection: LiveWebSocketProtocol) -> None:
        self.connection = connection

    async def __call__(self, websocket: WebSocketServerProtocol) -> None:
        connection = self.connection
        connection.handshake_completed_event.set()
        # The handshake's headers are not needed again: an idle reader need not keep them.
        connection.request_headers.clear()
        connection.response_headers.clear()
        await connection.wait_closed()


def server_config(
    app: Starlette,
    *,
    host: str,
    port: int,
    ws: str,
    log_level: str = "info",
    keep_alive_seconds: int = 5,
) -> uvicorn.Config:
    """How liveblog runs under uvicorn: pings, inbound cap, no compression, deadlines."""
    protocol: str | type[asyncio.Protocol] = LiveWebSocketProtocol if ws == "websockets" else ws
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=LiveHttpProtocol,
        ws=protocol,
        # Compression would cost CPU per reader per frame; frames are small JSON.
        ws_per_message_deflate=False,
        ws_max_size=MAX_INBOUND_BYTES,
        ws_ping_interval=PING_SECONDS,
        ws_ping_timeout=PING_SECONDS,
        log_level=log_level,
        # An idle keep-alive connection is closed after this (the header deadline is
        # LiveHttpProtocol's own).
        timeout_keep_alive=keep_alive_seconds,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; liveblog
        # believes it only from LIVEBLOG_TRUSTED_PROXIES (liveblog.web.clients).
        proxy_headers=False,
        # Logging is liveblog's (``liveblog.logs``, set up by ``liveblog serve``): uvicorn's
        # lines go through it, and the access log is ``liveblog.access``, not uvicorn's.
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


def collect_less() -> None:
    """The collector's policy for a server that holds thousands of connections.

    Every connection is a few hundred container objects that live as long as it does
    (protocol, tasks, futures, frames), and most die by reference counting, not as
    cycles. With the default threshold (700) a join storm spent over a third of its
    time in collections that found little garbage. So:

    - ``gc.freeze()`` once, after start-up: the modules, the app and its caches are
      never garbage, and no collection need traverse them again;
    - collect the youngest generation every 20,000 net allocations, not 700: the
      garbage that can wait is bounded (about 20,000 small objects, a few MB), and
      fewer objects are still alive (promoted, traversed again) when it runs.

    Nothing is frozen later, so every connection's cycles stay collectable: no leak.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class LiveblogServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.app = app

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        collect_less()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub: Hub | None = getattr(self.app.state, "hub", None)
        if hub is not None:
            await hub.close_all(1001, "server shutting down")
        await super().shutdown(sockets)
