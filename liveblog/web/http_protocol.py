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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

ReadyAnswer = tuple[int, list[tuple[bytes, bytes]], bytes]


class LiveHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose app's ready answers are written with no task."""

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
        ):
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
