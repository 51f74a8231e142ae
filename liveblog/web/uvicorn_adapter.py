"""Everything liveblog takes from uvicorn beyond its public ``Config`` and ``Server.run``.

uvicorn documents its settings and how to run a server, not its protocol classes. Three
things liveblog needs are only reachable through those classes, so they are all here,
each a subclass that changes as little as it can:

- ``LiveHttpProtocol`` (uvicorn's httptools HTTP connection): a deadline on a request's
  headers (uvicorn has none: a client that dribbles them, slowloris, held its connection
  for ever) and per-address connection counts (``liveblog.web.limits.ConnectionGate``).
- ``LiveWebSocketProtocol`` (uvicorn's ``websockets-sansio`` connection, built on the
  ``websockets`` library's maintained Sans-I/O layer): offers the app a ``LiveSocket``
  (``liveblog.live.connection``), which the hub writes caught-up readers' frames to
  directly, as ``websockets.broadcast()`` does, and which drops what readers send.
- ``HookedServer`` (``uvicorn.Server``): a hook after start-up and one before shutdown.

Names of uvicorn's relied on (checked against uvicorn 0.54.0; re-read them on upgrade):

- ``uvicorn.protocols.http.httptools_impl``: ``HttpToolsProtocol`` and its
  ``connection_made``, ``connection_lost``, ``handle_websocket_upgrade`` (after which
  ``transport.get_protocol()`` is the WebSocket connection), ``on_message_begin``,
  ``on_headers_complete``, and the attributes ``config``, ``client``, ``transport``,
  ``loop``, ``logger``, ``server_state.default_headers``; ``STATUS_LINE``.
- ``uvicorn.protocols.websockets.websockets_sansio_impl``: ``WebSocketsSansIOProtocol``
  and its ``handle_connect`` (which builds ``scope`` and schedules the app),
  ``send_receive_event_to_app`` (queues a message for the app and pauses reading),
  ``connection_lost``, and the attributes ``conn`` (the ``websockets`` ServerProtocol),
  ``transport``, ``loop``, ``scope``, ``frames``, ``writable`` (set while the transport
  takes writes), ``close_sent``, ``close_timer``, ``disconnected``, ``read_paused``.
- ``uvicorn.Server.startup`` and ``uvicorn.Server.shutdown`` (overridden, called).

What the ``websockets`` library is asked for is in ``liveblog.web.websockets_adapter``.
The tests that break first when any of this changes: tests/unit/test_uvicorn_adapter.py,
tests/unit/test_http_protocol.py, tests/e2e/test_fast_paths.py, tests/e2e/test_live.py,
tests/e2e/test_ready_answers.py, tests/e2e/test_overload.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from liveblog.live.connection import LIVE_SOCKET
from liveblog.web.limits import ConnectionGate
from liveblog.web.security import SECURITY_HEADERS
from liveblog.web.websockets_adapter import (
    HandshakeRequest,
    close_data,
    is_open,
    message_data,
    messages_data,
)

DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
REQUEST_TIMEOUT_BODY = (
    b'{"error":{"code":"request_timeout","message":"the request headers took too long"}}'
)


class LiveHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools connection with a header deadline and per-address
    connection counts.

    - The header deadline: a timer starts when the connection opens and when a
      request's first byte arrives, and ends when its headers are complete; past it the
      client gets ``408`` and the connection is closed (DESIGN §7).
    - Connection counts: from ``connection_made`` to ``connection_lost``, and, for a
      WebSocket, until the upgraded connection is lost. (The app counts a trusted
      proxy's requests per forwarded client, and answers a refused connection 429.)
    """

    _header_timer: asyncio.TimerHandle | None = None
    _gate: ConnectionGate | None = None
    _counted: str | None = None  # the gate's key this connection is counted under
    _refused = False  # over the per-address limit: the app answers 429 and closes
    _handed_over = False  # upgraded: the WebSocket connection releases the count

    # -- the connection's life ---------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        gate: ConnectionGate | None = getattr(self.config.app, "gate", None)
        if gate is not None:
            self._gate = gate
            self._counted = gate.open_connection(self.client)
            self._refused = gate.is_refused(self.client)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        if self._gate is not None and not self._handed_over:
            self._gate.close_connection(self.client, self._counted)
            self._counted = None
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._disarm_header_timer()
        super().handle_websocket_upgrade()
        gate = self._gate
        upgraded = self.transport.get_protocol()
        if gate is None or upgraded is self:
            return
        # The transport now calls the WebSocket protocol's connection_lost, not ours:
        # the count (or the refusal) goes with it, whichever WebSocket class it is.
        self._handed_over = True
        peer, key = self.client, self._counted
        self._counted = None
        if key is None and not self._refused:
            return  # not counted (no limit, or a proxy's connection): nothing to release
        lost = upgraded.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            try:
                lost(exc)
            finally:
                gate.close_connection(peer, key)

        upgraded.connection_lost = connection_lost  # type: ignore[method-assign]

    # -- the header deadline -----------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def _arm_header_timer(self) -> None:
        seconds: float = getattr(
            self.config.app, "header_timeout_seconds", DEFAULT_HEADER_TIMEOUT_SECONDS
        )
        self._header_timer = self.loop.call_later(seconds, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        self.logger.info("%s: request headers not complete in time; closing", self.client)
        content = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            content.extend((name, b": ", value, b"\r\n"))
        for name, value in SECURITY_HEADERS:
            content.extend((name, b": ", value, b"\r\n"))
        content.extend((
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(REQUEST_TIMEOUT_BODY),
            b"connection: close\r\n\r\n",
            REQUEST_TIMEOUT_BODY,
        ))  # fmt: skip
        self.transport.write(b"".join(content))
        self.transport.close()


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket connection, offered to the app as a ``LiveSocket``.

    An app that does not look for it (``scope["extensions"]["liveblog.live_socket"]``)
    gets uvicorn's connection unchanged.
    """

    discard_incoming = False  # the app reads nothing: drop messages as they arrive
    lost_callback: Callable[[], object] | None = None  # called once, when the peer is gone
    _lost: asyncio.Future[None] | None = None

    def handle_connect(self, event: HandshakeRequest) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # accepted for upgrade: the app gets this scope next
            extensions = self.scope.setdefault("extensions", {})
            extensions[LIVE_SOCKET] = {"socket": UvicornLiveSocket(self)}

    def send_receive_event_to_app(self) -> None:
        if self.discard_incoming:
            # Not queued for a ``receive`` that never comes, and reading is not paused:
            # pongs and the close handshake are still read, with no task waiting.
            self.frames = []
            return
        super().send_receive_event_to_app()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        on_lost, self.lost_callback = self.lost_callback, None
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_result(None)
        if on_lost is not None:
            on_lost()

    def start_closing(self, code: int, reason: str, grace: float) -> None:
        """Send a close frame now, even past a full socket (uvicorn's ``send`` would wait
        for it to drain); the connection is dropped if it has not ended after ``grace``."""
        if self.close_sent or self.transport.is_closing():
            return
        self.close_sent = True
        for data in close_data(self.conn, code, reason):
            self.transport.write(data)
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        # Cancelled when the peer answers the close (uvicorn's ``handle_close``).
        self.close_timer = self.loop.call_later(grace, self.transport.abort)

    async def wait_lost(self) -> None:
        if self.disconnected:
            return
        if self._lost is None:
            self._lost = self.loop.create_future()
        await asyncio.shield(self._lost)


class UvicornLiveSocket:
    """``liveblog.live.connection.LiveSocket`` on a ``LiveWebSocketProtocol``."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: LiveWebSocketProtocol) -> None:
        self.protocol = protocol

    def write(self, message: bytes) -> None:
        protocol = self.protocol
        if not protocol.close_sent:
            data = message_data(protocol.conn, message)
            if data:
                protocol.transport.write(data)

    def write_many(self, messages: Sequence[bytes]) -> None:
        protocol = self.protocol
        if not protocol.close_sent:
            data = messages_data(protocol.conn, messages)
            if data:
                protocol.transport.write(data)

    def pending_bytes(self) -> int:
        return self.protocol.transport.get_write_buffer_size()

    def is_open(self) -> bool:
        protocol = self.protocol
        return not protocol.close_sent and not protocol.disconnected and is_open(protocol.conn)

    def ignore_incoming(self) -> None:
        self.protocol.discard_incoming = True

    def set_pending_limit(self, limit: int) -> None:
        self.protocol.transport.set_write_buffer_limits(high=limit)

    async def drain(self) -> None:
        protocol = self.protocol
        await protocol.writable.wait()  # set by resume_writing, and when the connection is lost
        if protocol.disconnected:
            raise ConnectionError("the WebSocket connection is lost")

    def on_lost(self, callback: Callable[[], object] | None) -> None:
        self.protocol.lost_callback = callback

    async def close(self, code: int, reason: str, grace: float) -> None:
        protocol = self.protocol
        protocol.start_closing(code, reason, grace)
        try:
            await asyncio.wait_for(protocol.wait_lost(), grace)
        except TimeoutError:
            # Closing began elsewhere (uvicorn's keepalive, a close the app sent) and the
            # socket still holds what it cannot send: drop it rather than wait for ever.
            protocol.transport.abort()


class HookedServer(uvicorn.Server):
    """``uvicorn.Server`` with a hook once it serves and one before it closes connections."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        started: Callable[[], object],
        stopping: Callable[[], Awaitable[object]],
    ) -> None:
        super().__init__(config)
        self.started_hook = started
        self.stopping_hook = stopping

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.started_hook()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.stopping_hook()
        await super().shutdown(sockets)
