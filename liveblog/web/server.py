"""How liveblog runs under uvicorn: one place for its settings, its classes and its GC.

``server_config`` is the one place for uvicorn's settings, used by ``liveblog serve`` and
by the benchmarks' bare baselines. HTTP runs ``LiveHttpProtocol`` and the live WebSocket
runs ``LiveWebSocketProtocol`` (uvicorn's ``websockets-sansio`` connection, on which the
hub writes caught-up readers' frames itself): both in ``liveblog.web.uvicorn_adapter``,
the one module that reaches past uvicorn's public API. ``LiveblogServer`` is uvicorn's
server, except that readers hear "going away" (1001) when it shuts down: uvicorn closes
WebSockets with 1012, and our readers should be told 1001 and resume elsewhere, so the
hub closes them first, then uvicorn does the rest.
"""

from __future__ import annotations

import asyncio
import gc

import uvicorn
from starlette.applications import Starlette

from liveblog.live.hub import Hub
from liveblog.web.uvicorn_adapter import HookedServer, LiveHttpProtocol, LiveWebSocketProtocol

PING_SECONDS = 20.0
MAX_INBOUND_BYTES = 4 * 1024  # readers have nothing to say

# The WebSocket implementation liveblog runs: uvicorn's connection on the ``websockets``
# library's Sans-I/O layer, as ``LiveWebSocketProtocol``. ``websockets`` names it too:
# uvicorn's own ``websockets`` (the library's legacy layer, deprecated) is not used, and
# uvicorn has announced that name will move to the Sans-I/O one. Any other name uvicorn
# knows (``wsproto``) runs its class unchanged, the live stream on the plain ASGI path.
DEFAULT_WS = "websockets-sansio"
WS_NAMES = (DEFAULT_WS, "websockets")

# The garbage collector's policy for the server process (see ``collect_less``).
GC_GEN0_THRESHOLD = 20_000


def server_config(
    app: Starlette,
    *,
    host: str,
    port: int,
    ws: str = DEFAULT_WS,
    log_level: str = "info",
    keep_alive_seconds: int = 5,
) -> uvicorn.Config:
    """How liveblog runs under uvicorn: pings, inbound cap, no compression, deadlines."""
    protocol: str | type[asyncio.Protocol] = LiveWebSocketProtocol if ws in WS_NAMES else ws
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


class LiveblogServer(HookedServer):
    """uvicorn's server: the collector's policy once it serves; readers closed with 1001
    before it closes connections."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        async def close_readers() -> None:
            hub: Hub | None = getattr(app.state, "hub", None)
            if hub is not None:
                await hub.close_all(1001, "server shutting down")

        super().__init__(config, started=collect_less, stopping=close_readers)
        self.app = app
