"""uvicorn's server, except that readers hear "going away" (1001) when it shuts down.

uvicorn closes WebSockets with 1012 on shutdown; our readers should be told 1001 and
resume elsewhere, so the hub closes them first, then uvicorn does the rest.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette

from liveblog.live.hub import Hub

PING_SECONDS = 20.0
MAX_INBOUND_BYTES = 4 * 1024  # readers have nothing to say


def server_config(
    app: Starlette, *, host: str, port: int, ws: str, log_level: str = "info"
) -> uvicorn.Config:
    """How liveblog runs under uvicorn: pings, inbound cap, no compression."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws=ws,
        # Compression would cost CPU per reader per frame; frames are small JSON.
        ws_per_message_deflate=False,
        ws_max_size=MAX_INBOUND_BYTES,
        ws_ping_interval=PING_SECONDS,
        ws_ping_timeout=PING_SECONDS,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


class LiveblogServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub: Hub | None = getattr(self.app.state, "hub", None)
        if hub is not None:
            await hub.close_all(1001, "server shutting down")
        await super().shutdown(sockets)
