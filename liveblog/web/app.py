"""The app factory: the one place that wires settings, applications and routes together."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from liveblog.tokens import Credentials
from liveblog.web.api import ROUTES
from liveblog.web.errors import EXCEPTION_HANDLERS
from liveblog.web.reads import StoryReads

log = logging.getLogger("liveblog.web")


def build_applications(settings: Settings) -> tuple[Newsroom, Credentials]:
    """Both event-sourced applications on the configured store (blocking: makes tables)."""
    env = settings.eventsourcing_env()
    return Newsroom(env=env), Credentials(env=env)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_environ()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        newsroom, credentials = await run_in_threadpool(build_applications, settings)
        app.state.newsroom = newsroom
        app.state.credentials = credentials
        app.state.reads = StoryReads(newsroom)
        log.info("liveblog ready on %s", settings.backend)
        try:
            yield
        finally:
            await run_in_threadpool(newsroom.close)
            await run_in_threadpool(credentials.close)

    handlers: Any = EXCEPTION_HANDLERS
    app = Starlette(routes=ROUTES, exception_handlers=handlers, lifespan=lifespan)
    app.state.settings = settings
    return app
