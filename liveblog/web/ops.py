"""Routes for operators and tools: liveness, readiness and the OpenAPI description."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.health import HealthMonitor
from liveblog.web.errors import RETRY_AFTER_SECONDS, ApiError
from liveblog.web.inputs import accepts_query
from liveblog.web.openapi import DESCRIPTION
from liveblog.web.public import NO_STORE
from liveblog.web.requests import feed_of, json_response, raw_json_response
from projections.wire import dumps


@accepts_query()
async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"}, headers=NO_STORE)


@accepts_query()
async def readyz(request: Request) -> Response:
    """Ready or not, from the health monitor's last check: never waits for the database.

    Stories whose projection stopped are listed, but keep the process ready: every
    process stops at the same event, and the other stories must go on being served
    (DESIGN §9)."""
    health: HealthMonitor = request.app.state.health
    readiness = health.readiness()
    if not readiness.ready:
        raise ApiError(
            503, "not_ready", readiness.reason, {"Retry-After": RETRY_AFTER_SECONDS, **NO_STORE}
        )
    attention = [story.as_json() for story in feed_of(request).stories_needing_attention()]
    return json_response(
        {"status": "ready", "stories_needing_attention": attention}, headers=NO_STORE
    )


OPENAPI_BYTES = dumps(DESCRIPTION)  # made once: the description is data


@accepts_query()
async def openapi_json(request: Request) -> Response:
    return raw_json_response(OPENAPI_BYTES)


ROUTES = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/api/openapi.json", openapi_json, methods=["GET"]),
]
