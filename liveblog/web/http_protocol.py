"""uvicorn's httptools connection, writing ready answers from the parser's callback.

For every request uvicorn makes a request-response cycle and starts an asyncio task that
calls the ASGI app, which answers in two messages. For a ``GET`` of a story whose current
render the hub holds, the answer is ready bytes (``LiveblogApp.ready_answer``), and the
task, its scheduling and the two messages were most of the request's cost: readers who
poll with ``If-None-Match`` got their 304 no faster than the 15.8 KB 200.

``LiveHttpProtocol`` asks the app for a ready answer before it would start the task, and
when there is one writes it at once, as uvicorn's cycle writes a response: the same
status line, uvicorn's default headers (``date``, ``server``) and then the app's, and
the same access-log line. Anything else, or anything but the plain case (keep-alive,
no ``Expect: 100-continue``, the client reading, the concurrency limit not reached),
takes uvicorn's own path unchanged.

It also guards the server against clients that hold connections (DESIGN §7):

- a header deadline: uvicorn has a keep-alive timeout between requests but none while a
  request's headers arrive, so a client that dribbles them (slowloris) held its
  connection for ever. A timer starts when the connection opens and when a request's
  first byte arrives, and ends when its headers are complete; past it the client gets
  ``408`` and the connection is closed.
- per-address connection counts (``liveblog.web.limits.ConnectionGate``): counted from
  ``connection_made`` to ``connection_lost``, and, for a WebSocket, until the upgraded
  connection is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from liveblog.web.limits import ConnectionGate
from liveblog.web.security import SECURITY_HEADERS

ReadyAnswer = tuple[int, list[tuple[bytes, bytes]], bytes]

DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
REQUEST_TIMEOUT_BODY = (
    b'{"error":{"code":"request_timeout","message":"the request headers took too long"}}'
)


class LiveHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose app's ready answers are written with no task, with a
    header deadline and per-address connection counts."""

    _header_timer: asyncio.TimerHandle | None = None
    _gate: ConnectionGate | None = None
    _counted: str | None = None  # the gate's key this connection is counted under
    _refused = False  # over the per-address limit: the app answers 429 and closes
    _proxied = False  # the peer is a trusted proxy: the app counts its requests
    _handed_over = False  # upgraded: the WebSocket connection releases the count

    # -- the connection's life ---------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        gate: ConnectionGate | None = getattr(self.config.app, "gate", None)
        if gate is not None:
            self._gate = gate
            self._counted = gate.open_connection(self.client)
            self._refused = gate.is_refused(self.client)
            self._proxied = self.client is not None and gate.peer_is_proxy(self.client[0])
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

    # -- ready answers -----------------------------------------------------------------

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        answer = self._ready_answer(cycle, app)
        if answer is None:
            super()._start_asgi_task(cycle, app)
        else:
            self._write_at_once(cycle, *answer)

    def _ready_answer(
        self, cycle: RequestResponseCycle, app: ASGI3Application
    ) -> ReadyAnswer | None:
        if (
            app is not self.app  # uvicorn's 503 for the concurrency limit
            or not cycle.keep_alive
            or cycle.waiting_for_100_continue
            or self.flow.write_paused
            or self._refused  # the app answers 429
        ):
            return None
        if self._proxied and self._gate is not None:
            client = self._gate.forwarded_client(self.client, cycle.scope["headers"])
            if client is not None and self._gate.is_full(client):
                return None
        ready: Callable[[Any], ReadyAnswer | None] | None = getattr(
            self.config.app, "ready_answer", None
        )
        return None if ready is None else ready(cycle.scope)

    def _write_at_once(
        self, cycle: RequestResponseCycle, status: int, headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:  # fmt: skip
        """What ``RequestResponseCycle.send`` writes for a start and a whole body."""
        scope = cycle.scope
        if cycle.access_log:
            cycle.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(scope),
                scope["method"],
                get_path_with_query_string(scope),
                scope["http_version"],
                status,
            )
        content = [STATUS_LINE[status]]
        for name, value in (*cycle.default_headers, *headers):
            content.extend((name, b": ", value, b"\r\n"))
        content.append(b"\r\n")
        content.append(body)
        self.transport.write(b"".join(content))
        cycle.response_started = cycle.response_complete = True
        cycle.on_response()  # keep-alive timer, reading resumed, the next pipelined request
