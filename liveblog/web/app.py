"""The app factory: the one place that wires settings, applications and routes together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from liveblog.bootstrap import build
from liveblog.health import HealthMonitor
from liveblog.settings import Settings
from liveblog.web.api import ROUTES as API_ROUTES
from liveblog.web.api import RawHeaders, cached_story_answer
from liveblog.web.errors import EXCEPTION_HANDLERS
from liveblog.web.metrics import metrics
from liveblog.web.reads import StoryReads
from liveblog.web.stream import ROUTES as STREAM_ROUTES
from liveblog.web.stream import live_story_ref, live_websocket
from liveblog.web.threads import set_deadline

log = logging.getLogger("liveblog.web")

# How long start-up waits for the views to catch up with the log before it serves anyway.
STARTUP_CATCH_UP_SECONDS = 60.0


class LiveblogApp(Starlette):
    """Starlette, except for the two hottest paths, which go straight to their handler.

    A live reader may stay connected for hours, mostly idle: each layer of middleware
    and routing it passed through stays on its stack for as long, in memory, and costs
    time on every join. Its path is matched here, before any of them. So is a plain
    ``GET`` of a story whose current render the hub holds: the answer is ready bytes.
    """

    def ready_answer(self, scope: Scope) -> tuple[int, RawHeaders, bytes] | None:
        """The answer to a plain ``GET`` of a story whose current render the hub holds
        (see ``cached_story_answer``), or None: the request takes the routed path.

        ``liveblog.web.http_protocol.LiveHttpProtocol`` asks this before it starts a task for
        the request; the ASGI call below asks it again for other servers."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
            return None
        hub = getattr(self.state, "hub", None)
        return None if hub is None else cached_story_answer(hub, scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_environ()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        parts = await run_in_threadpool(lambda: build(settings, start_feed=False))
        parts.hub.bind(asyncio.get_running_loop())
        await run_in_threadpool(parts.follower.start)
        # Reads come from the views, which the follower fills from the log. Until it has
        # caught up with what the log held at start-up, a story stored before the start
        # would answer 404 (or an old version): wait for it, within a bound.
        caught_up = await run_in_threadpool(parts.follower.catch_up, STARTUP_CATCH_UP_SECONDS)
        if not caught_up:
            log.warning(
                "the views had not caught up with the log after %.0f s; serving anyway",
                STARTUP_CATCH_UP_SECONDS,
            )
        app.state.parts = parts
        app.state.hub = parts.hub
        app.state.newsroom = parts.newsroom
        app.state.credentials = parts.credentials
        app.state.views = parts.views
        app.state.follower = parts.follower
        app.state.reads = StoryReads(parts.newsroom)
        health = HealthMonitor(parts.newsroom.recorder.max_notification_id, parts.follower)
        await run_in_threadpool(health.start)
        app.state.health = health
        log.info("liveblog ready on %s", settings.backend)
        try:
            yield
        finally:
            await run_in_threadpool(health.stop)
            await run_in_threadpool(parts.close)

    handlers: Any = EXCEPTION_HANDLERS
    routes = [*API_ROUTES, *STREAM_ROUTES, Route("/metrics", metrics)]
    app = LiveblogApp(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.settings = settings
    set_deadline(settings.db_deadline_seconds)
    return app
