"""uvicorn's server, except that readers hear "going away" (1001) when it shuts down.

uvicorn closes WebSockets with 1012 on shutdown; our readers should be told 1001 and
resume elsewhere, so the hub closes them first, then uvicorn does the rest.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette

from liveblog.live.hub import Hub


class LiveblogServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub: Hub | None = getattr(self.app.state, "hub", None)
        if hub is not None:
            await hub.close_all(1001, "server shutting down")
        await super().shutdown(sockets)
