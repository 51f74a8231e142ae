"""The app factory: the one place that wires settings, applications and routes together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import Route

from liveblog.bootstrap import build
from liveblog.settings import Settings
from liveblog.web.api import ROUTES as API_ROUTES
from liveblog.web.errors import EXCEPTION_HANDLERS
from liveblog.web.metrics import metrics
from liveblog.web.reads import StoryReads
from liveblog.web.stream import ROUTES as STREAM_ROUTES
from liveblog.web.stream import DirectWrites

log = logging.getLogger("liveblog.web")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_environ()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        parts = await run_in_threadpool(lambda: build(settings, start_feed=False))
        parts.hub.bind(asyncio.get_running_loop())
        await run_in_threadpool(parts.follower.start)
        app.state.parts = parts
        app.state.hub = parts.hub
        app.state.newsroom = parts.newsroom
        app.state.credentials = parts.credentials
        app.state.views = parts.views
        app.state.follower = parts.follower
        app.state.reads = StoryReads(parts.newsroom)
        log.info("liveblog ready on %s", settings.backend)
        try:
            yield
        finally:
            await run_in_threadpool(parts.close)

    handlers: Any = EXCEPTION_HANDLERS
    routes = [*API_ROUTES, *STREAM_ROUTES, Route("/metrics", metrics)]
    app = Starlette(
        routes=routes,
        exception_handlers=handlers,
        lifespan=lifespan,
        middleware=[Middleware(DirectWrites)],
    )
    app.state.settings = settings
    return app
