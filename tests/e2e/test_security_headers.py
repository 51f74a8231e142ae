"""Security headers on every answer, whichever path wrote it (DESIGN §7).

The hottest read is written before Starlette (``LiveblogApp.ready_answer``); everything
else goes through routing, its errors, streams and plain-text answers. Each kind is
asked for here, on the real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.settings import DEFAULT_PUBLIC_CACHE_CONTROL as PUBLIC_CACHE_CONTROL
from liveblog.web.app import LiveblogApp
from liveblog.web.errors import EXCEPTION_HANDLERS
from tests.e2e.server import SharedServer
from tests.e2e.wire import Wire, request
from tests.helpers import assert_secured, auth, open_cached_story

PRIVATE = "private, no-store"


@pytest.fixture
def client(shared_server: SharedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.server.base_url, timeout=10) as http:
        yield http


@pytest.fixture
def story(client: httpx.Client, shared_server: SharedServer) -> tuple[str, str]:
    """A story with one update, its render cached; the slug and the update's id."""
    slug = f"headers-{uuid4().hex[:8]}"
    _, update_id = open_cached_story(client, shared_server.tokens, slug)
    return slug, update_id


def test_ready_answers_written_before_routing_carry_the_headers(
    client: httpx.Client, shared_server: SharedServer, story: tuple[str, str]
) -> None:
    slug, _ = story
    tag = client.get(f"/api/stories/{slug}").headers["etag"]
    wire = Wire(shared_server.server.port)  # keep-alive: uvicorn's parser-callback path
    try:
        wire.send(request(f"/api/stories/{slug}"))
        status, headers, _ = wire.response()
        assert status == b"HTTP/1.1 200 OK"
        assert_secured(headers, "ready 200")
        wire.send(request(f"/api/stories/{slug}", f"If-None-Match: {tag}"))
        status, headers, _ = wire.response()
        assert status == b"HTTP/1.1 304 Not Modified"
        assert_secured(headers, "ready 304")
    finally:
        wire.close()
    # Connection: close takes the ASGI call, where LiveblogApp answers before Starlette.
    for extra in ((), (f"If-None-Match: {tag}",)):
        wire = Wire(shared_server.server.port)
        try:
            wire.send(request(f"/api/stories/{slug}", "Connection: close", *extra))
            status, headers, _ = wire.response()
            assert status.split()[1] in (b"200", b"304")
            assert_secured(headers, f"ASGI ready answer {status!r}")
        finally:
            wire.close()


def test_routed_answers_errors_and_streams_carry_the_headers(
    client: httpx.Client, shared_server: SharedServer, story: tuple[str, str]
) -> None:
    slug, update_id = story
    tokens = shared_server.tokens
    tag = client.get(f"/api/stories/{slug}").headers["etag"]
    answers = {
        "routed 200": client.get(f"/api/stories/{slug}?min_version=1"),
        "routed 304": client.get(
            f"/api/stories/{slug}?min_version=1", headers={"If-None-Match": tag}
        ),
        "list": client.get("/api/stories"),
        "page": client.get(f"/api/stories/{slug}/updates"),
        "revisions": client.get(f"/api/stories/{slug}/updates/{update_id}/revisions"),
        "write 201": client.post(
            f"/api/stories/{slug}/updates",
            json={"body": "<p>two</p>"},
            headers=auth(tokens.reporter),
        ),
        "healthz": client.get("/healthz"),
        "readyz": client.get("/readyz"),
        "metrics": client.get("/metrics"),
        "404 route": client.get("/api/nothing-here"),
        "404 story": client.get("/api/stories/no-such-story"),
        "405": client.delete(f"/api/stories/{slug}"),
        "401": client.post("/api/stories", json={}),
        "422": client.get("/api/stories?status=maybe"),
        "400": client.post("/api/stories", content=b"{", headers=auth(tokens.editor)),
    }
    for what, response in answers.items():
        assert response.status_code < 500, what
        assert_secured(response.headers, what)
    with client.stream("GET", f"/api/stories/{slug}/live/sse") as sse:
        assert sse.status_code == 200
        assert_secured(sse.headers, "SSE")


def test_editor_only_answers_are_private_and_not_stored(
    client: httpx.Client, shared_server: SharedServer, story: tuple[str, str]
) -> None:
    slug, update_id = story
    editor = auth(shared_server.tokens.editor)
    private = {
        "at_version": client.get(f"/api/stories/{slug}?at_version=1", headers=editor),
        "at": client.get(f"/api/stories/{slug}?at=2100-01-01T00:00:00Z", headers=editor),
        "history": client.get(f"/api/stories/{slug}/events", headers=editor),
        "revisions as editor": client.get(
            f"/api/stories/{slug}/updates/{update_id}/revisions", headers=editor
        ),
    }
    for what, response in private.items():
        assert response.status_code == 200, what
        assert response.headers.get("cache-control") == PRIVATE, what
        assert_secured(response.headers, what)
    # What anyone may read is public, for a CDN to keep a moment (README: "Caching").
    public = client.get(f"/api/stories/{slug}/updates/{update_id}/revisions")
    assert public.headers["cache-control"] == PUBLIC_CACHE_CONTROL
    assert client.get(f"/api/stories/{slug}").headers["cache-control"] == PUBLIC_CACHE_CONTROL


async def test_an_unexpected_500_carries_the_headers_too() -> None:
    async def boom(_: Request) -> Response:
        raise RuntimeError("a bug")

    async def page(_: Request) -> Response:
        return Response("<p>hi</p>", headers={"Content-Security-Policy": "default-src 'self'"})

    app = LiveblogApp(
        routes=[Route("/boom", boom), Route("/page", page)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        failed = await http.get("/boom")
        own_policy = await http.get("/page")
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "internal"
    assert_secured(failed.headers, "500")
    # A route that sets its own policy (a page) keeps it, with the other two headers.
    assert own_policy.headers.get_list("content-security-policy") == ["default-src 'self'"]
    assert own_policy.headers["x-content-type-options"] == "nosniff"
    assert own_policy.headers["referrer-policy"] == "no-referrer"
