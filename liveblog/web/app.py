"""The app factory: the one place that wires settings, applications and routes together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from liveblog.audit import AuditTrail
from liveblog.bootstrap import Parts, build
from liveblog.health import HealthMonitor
from liveblog.rate_limit import RateLimiter
from liveblog.settings import Settings
from liveblog.store_lock import StoreLock, hold_serving
from liveblog.web import (
    assets,
    audit,
    console,
    drafts,
    export,
    feeds,
    history,
    ops,
    pages,
    preview,
    stories,
    updates,
)
from liveblog.web.access import AccessLog
from liveblog.web.clients import address_key, forwarded_scheme
from liveblog.web.errors import EXCEPTION_HANDLERS
from liveblog.web.inputs import accepts_query
from liveblog.web.limits import ConnectionGate, refuse
from liveblog.web.live_session import backlog_reads
from liveblog.web.metrics import HttpMetrics, metrics
from liveblog.web.page_render import RenderCache
from liveblog.web.pages import ready_page
from liveblog.web.people import ROUTES as PEOPLE_ROUTES
from liveblog.web.public import PublicFace, with_public_caching
from liveblog.web.security import with_security_headers
from liveblog.web.story_answer import RawHeaders, cached_story_answer
from liveblog.web.stream import ROUTES as STREAM_ROUTES
from liveblog.web.stream import live_story_ref, live_websocket
from liveblog.web.threads import at_start_or_stop, set_deadline
from projections.story_reads import StoryReads

log = logging.getLogger("liveblog.web")

# Marks a scope the per-address limit has already seen.
SCREENED = "liveblog.screened"

# How long start-up waits for the views to catch up with the log before it serves anyway.
STARTUP_CATCH_UP_SECONDS = 60.0


class LiveblogApp(Starlette):
    """Starlette, except for the two hottest paths, which go straight to their handler.

    A live reader may stay connected for hours, mostly idle: each layer of middleware
    and routing it passed through stays on its stack for as long, in memory, and costs
    time on every join. Its path is matched here, before any of them. So is a plain
    ``GET`` of a story whose current render the hub holds (the API's JSON, or the reader
    page's HTML: ``pages.ready_page``): the answer is ready bytes.

    Before all of that, the per-address connection limit (``liveblog.web.limits``). The
    routed path runs inside ``access.routed`` (request id, access log, metrics), with the
    security headers added to whatever it sends; the fast path only counts its answer and
    adds the request id (``AccessLog.ready``; the security headers are in the answer).
    """

    gate: ConnectionGate = ConnectionGate(0)  # create_app sets the configured one
    public: PublicFace = PublicFace()  # and this one
    header_timeout_seconds: float = Settings.header_timeout_seconds
    access: AccessLog | None = None  # create_app sets it; an app made bare logs nothing

    def ready_answer(self, scope: Scope) -> tuple[int, RawHeaders, bytes] | None:
        """The answer to a plain ``GET`` of a story whose current render the hub holds
        (see ``cached_story_answer``), or None: the request takes the routed path."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
            return None
        hub = getattr(self.state, "hub", None)
        if hub is None:
            return None
        answer = cached_story_answer(hub, scope, self.public) or ready_page(
            self.state, scope, self.public
        )
        if answer is None:
            return None
        status, headers, body = answer
        access = self.access
        return status, headers if access is None else access.ready(scope, status, headers), body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gate
        if (
            (gate.refused or gate.trusted_proxies)
            and scope["type"] != "lifespan"
            and SCREENED not in scope
        ):
            # Only then: an idle reader waits in every frame below this one, so the
            # usual path (no proxy, nobody refused) adds none.
            await self._screen(gate, scope, receive, send)
            return
        answer = self.ready_answer(scope)
        if answer is not None:
            status, headers, body = answer
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] == "websocket":
            story_ref = live_story_ref(scope)
            if story_ref is not None:
                scope["app"] = self
                await live_websocket(self.state, scope, receive, send, story_ref)
                return
        if scope["type"] == "http":
            # Outside Starlette's own middleware, so its 500s carry the headers too.
            secured = with_public_caching(self.public, scope, with_security_headers(send))
            if self.access is None:
                await super().__call__(scope, receive, secured)
            else:
                await self.access.routed(scope, receive, secured, super().__call__)
            return
        await super().__call__(scope, receive, send)

    async def _screen(
        self, gate: ConnectionGate, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """The per-address limit for a refused connection or a trusted proxy's request."""
        scope[SCREENED] = True
        peer = scope.get("client")
        if gate.is_refused(peer):  # this connection was over the limit when it opened
            await refuse(scope, receive, send, close=True)
            return
        client = gate.forwarded_client(peer, scope["headers"])
        if client is None:  # counted per connection by the protocol, if at all
            await self(scope, receive, send)
            return
        # Through a trusted proxy: the request (a live stream: for as long as it lasts)
        # is counted for the client the proxy names, and logs show that client; the
        # scheme is the one the client used (uvicorn's proxy_headers is off).
        scope["client"] = (client, 0)
        scheme = forwarded_scheme(scope["headers"], scope["type"] == "websocket")
        if scheme is not None:
            scope["scheme"] = scheme
        key = address_key(client)
        if not gate.acquire(key):
            await refuse(scope, receive, send, close=False)
            return
        try:
            await self(scope, receive, send)
        finally:
            gate.release(key)


def share_parts(app: Starlette, parts: Parts) -> None:
    """The parts the routes reach through ``request.app.state``."""
    app.state.parts = parts
    app.state.hub = parts.hub
    app.state.newsroom = parts.newsroom
    app.state.credentials = parts.credentials
    app.state.views = parts.views
    app.state.feed = parts.feed
    app.state.drafts = parts.drafts
    app.state.draft_index = parts.draft_index
    app.state.reads = StoryReads(parts.newsroom)
    app.state.audit = AuditTrail(
        parts.newsroom, parts.drafts, parts.credentials, parts.draft_index.stories_of
    )


def create_app(
    settings: Settings | None = None, serving_lock: StoreLock | None = None
) -> Starlette:
    """The app; ``serving_lock`` is the store's serving lock if the caller took it already
    (``liveblog serve`` does, to refuse at once while a rebuild runs), else start-up takes it.
    """
    settings = settings or Settings.from_environ()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        parts = await at_start_or_stop(build, settings, start_feed=False)
        parts.hub.bind(asyncio.get_running_loop())
        await at_start_or_stop(parts.feed.start)
        # Reads come from the views, which the feed fills from the log. Until it has
        # caught up with what the log held at start-up, a story stored before the start
        # would answer 404 (or an old version): wait for it, within a bound.
        caught_up = await at_start_or_stop(parts.feed.catch_up, STARTUP_CATCH_UP_SECONDS)
        if not caught_up:
            log.warning(
                "the views had not caught up with the log after %.0f s; serving anyway",
                STARTUP_CATCH_UP_SECONDS,
            )
        share_parts(app, parts)
        app.state.backlogs = backlog_reads(parts.newsroom, settings.max_backlog)
        health = HealthMonitor(parts.newsroom.recorder.max_notification_id, parts.feed)
        await at_start_or_stop(health.start)
        app.state.health = health
        # Schedules that fell due while no server ran are published at its first turn.
        await at_start_or_stop(parts.scheduler.start)
        log.info("liveblog ready on %s", settings.backend)
        try:
            yield
        finally:
            await at_start_or_stop(health.stop)
            await at_start_or_stop(parts.close)

    @contextlib.asynccontextmanager
    async def holding_the_store(app: Starlette) -> AsyncIterator[None]:
        """The lifespan, within the store's serving lock (see ``liveblog.store_lock``)."""
        lock = serving_lock
        if lock is None:
            lock = await at_start_or_stop(hold_serving, settings)
        try:
            async with lifespan(app):
                yield
        finally:
            lock.release()

    handlers: Any = EXCEPTION_HANDLERS
    routes = [
        # In this order: Starlette tries them in turn (tests/unit/test_route_table.py).
        *ops.ROUTES,
        *stories.ROUTES,
        *updates.ROUTES,
        *drafts.ROUTES,
        *preview.ROUTES,
        *history.ROUTES,
        *export.ROUTES,
        *PEOPLE_ROUTES,
        *audit.ROUTES,
        *STREAM_ROUTES,
        *feeds.ROUTES,
        *pages.ROUTES,
        *console.ROUTES,
        *assets.ROUTES,
        Route("/metrics", accepts_query()(metrics)),
    ]
    app = LiveblogApp(routes=routes, exception_handlers=handlers, lifespan=holding_the_store)
    app.state.settings = settings
    set_deadline(settings.db_deadline_seconds)
    app.state.http_metrics = HttpMetrics(app.state)
    app.access = AccessLog(app.state.http_metrics, log_cached=settings.access_log_cached)
    app.gate = ConnectionGate(settings.max_connections_per_address, settings.trusted_proxies)
    app.state.feed_cache = feeds.FeedCache()
    app.state.page_cache = RenderCache()
    app.public = app.state.public = PublicFace(
        settings.public_cache_control, frozenset(settings.allowed_origins), settings.public_url
    )
    app.state.gate = app.gate  # for /metrics
    app.header_timeout_seconds = settings.header_timeout_seconds
    # Per token, in this process (see liveblog/web/auth.py, which applies it).
    app.state.write_limiter = (
        None
        if settings.write_rate is None
        else RateLimiter(settings.write_rate, settings.write_burst)
    )
    return app
