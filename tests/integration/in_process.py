"""The app from ``create_app`` in this process, as a server runs it (its lifespan), called
through ``httpx.ASGITransport``: no subprocess, no socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from liveblog.settings import Settings
from liveblog.web.app import create_app
from tests.helpers import Api, issue_tokens


@asynccontextmanager
async def in_process_api(database_url: str) -> AsyncIterator[Api]:
    """The API on ``database_url``, with the usual tokens and no write rate limit."""
    tokens = issue_tokens(database_url)
    app = create_app(Settings(database_url=database_url, write_rate=None))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://liveblog.test") as http:
            yield Api(http, tokens, app)
