"""The app factory: the one place that wires settings, applications and routes together."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from liveblog.bootstrap import build
from liveblog.settings import Settings
from liveblog.web.api import ROUTES
from liveblog.web.errors import EXCEPTION_HANDLERS
from liveblog.web.reads import StoryReads

log = logging.getLogger("liveblog.web")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_environ()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        parts = await run_in_threadpool(build, settings)
        app.state.parts = parts
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
    app = Starlette(routes=ROUTES, exception_handlers=handlers, lifespan=lifespan)
    app.state.settings = settings
    return app
