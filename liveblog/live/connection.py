"""What the live path needs of a reader's connection: our interface, not a server's class.

The hub writes each frame to a caught-up WebSocket reader itself, at once, as
``websockets.broadcast()`` does, with no task and no buffer per reader. A live stream
that can do that is handed a ``LiveSocket`` by the server (on uvicorn:
``liveblog.web.uvicorn_adapter``); the hub and the live stream (``liveblog.web.stream``,
``liveblog.web.direct_socket``) talk only to these two protocols, so nothing but the
adapter knows which server or library is underneath.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

# The ASGI scope extension under which a server offers a live WebSocket's ``LiveSocket``:
# ``scope["extensions"][LIVE_SOCKET]["socket"]``.
LIVE_SOCKET = "liveblog.live_socket"


class DirectConnection(Protocol):
    """A connection the hub writes whole messages to (the reader is caught up)."""

    def write(self, message: bytes) -> None:
        """Send one text message (UTF-8) now, without waiting; nothing once closing."""

    def pending_bytes(self) -> int:
        """Bytes written and not yet taken by the network: what a slow reader leaves."""


class LiveSocket(DirectConnection, Protocol):
    """An accepted live WebSocket that one coroutine serves: the catch-up, then the hub."""

    def write_many(self, messages: Sequence[bytes]) -> None:
        """Send several text messages now, in one write to the network; nothing once
        closing. A resume's backlog is thousands of messages: one system call per chunk,
        not per message, costs the server (and the reader) far less."""

    def ignore_incoming(self) -> None:
        """Drop what the peer sends from now on (after the inbound size cap): a reader
        has nothing to say, and an idle one then needs no task to keep its connection
        read (pings, pongs, the close handshake)."""

    def is_open(self) -> bool:
        """Whether messages may still be written (no close sent or received)."""

    def set_pending_limit(self, limit: int) -> None:
        """``drain`` waits while more than ``limit`` bytes are unsent."""

    async def drain(self) -> None:
        """Wait until the unsent bytes are below the limit; ``ConnectionError`` once the
        connection is lost."""

    def on_lost(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback`` (once) when the connection is lost; None: no longer."""

    async def close(self, code: int, reason: str, grace: float) -> None:
        """Send a close frame and wait until the connection ends; after ``grace`` seconds
        (a slow reader's full socket, a peer that does not answer) drop it."""
