"""The access log and the request metrics: one JSON line and one observation per request.

``AccessLog.routed`` wraps the routed path (everything but the two hottest paths, see
``LiveblogApp``) as the outermost layer, outside Starlette's error middleware, so it sees
the status of every answer, a 500 included, and puts ``X-Request-ID`` on each of them.

The line (logger ``liveblog.access``) holds the method, the path, the route template,
the status, the duration, the request id and, when the request carried a valid token,
the person's id (``liveblog.web.auth`` leaves the principal in the request's state). It
never holds a header's value other than the request id, a token, a query or a body.

The cached-GET fast path (``AccessLog.ready``) is counted by status in a plain dict and
gets its request id; it logs a line only when ``LIVEBLOG_ACCESS_LOG_CACHED`` is on: five
thousand polling readers would otherwise write thousands of lines a second.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liveblog.web.metrics import UNMATCHED_ROUTE, HttpMetrics
from liveblog.web.request_id import HEADER, request_id_of

log = logging.getLogger("liveblog.access")

# A path is the client's: a line keeps at most this much of it.
MAX_LOGGED_PATH = 256
PRINCIPAL_KEY = "principal"  # the key ``liveblog.web.auth`` sets in the request's state


def route_of(scope: Scope) -> str:
    """The matched route's template (Starlette's router leaves the route in the scope)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def person_of(scope: Scope) -> str | None:
    state = scope.get("state")
    principal = state.get(PRINCIPAL_KEY) if isinstance(state, dict) else None
    actor = getattr(principal, "actor", None)
    return None if actor is None else str(actor.id)


class AccessLog:
    def __init__(self, metrics: HttpMetrics, *, log_cached: bool) -> None:
        self.metrics = metrics
        self.ready_counts = metrics.ready
        self.log_cached = log_cached

    async def routed(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Run ``app`` for an HTTP request; id its answer, then log and measure it."""
        started = time.perf_counter()
        request_id = request_id_of(scope["headers"])
        status = 500  # if the app fails before it answers, uvicorn answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (HEADER, request_id)]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            self.metrics.observe(scope["method"], route, status, seconds)
            self._log(scope, route, status, seconds, request_id)

    def ready(
        self, scope: Scope, status: int, headers: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """The fast path's headers with the request id; counted, and logged if asked."""
        ready = self.ready_counts
        ready[status] = ready.get(status, 0) + 1  # HttpMetrics.count_ready, inlined
        request_id = request_id_of(scope["headers"])
        if self.log_cached:
            self._log(scope, "/api/stories/{story}", status, 0.0, request_id)
        return [*headers, (HEADER, request_id)]

    def _log(
        self, scope: Scope, route: str, status: int, seconds: float, request_id: bytes
    ) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        method: str = scope["method"]
        path: str = scope["path"][:MAX_LOGGED_PATH]
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "request_id": request_id.decode("ascii"),
        }
        person = person_of(scope)
        if person is not None:
            fields["person"] = person
        log.info("%s %s %d", method, path, status, extra={"fields": fields})
