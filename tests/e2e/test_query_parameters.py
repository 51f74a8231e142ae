"""A query parameter a route does not know is ``422 unknown_parameter`` (DESIGN §4), on
every route of the app's route table, whoever asks and whatever the method."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import orjson
import pytest
from starlette.routing import Route
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from liveblog.settings import Settings
from liveblog.web.app import create_app
from tests.e2e.server import SharedServer
from tests.helpers import bearer

SLUG = "query-parameters"
SOME_UUID = "00000000-0000-4000-8000-000000000000"


def routed() -> list[tuple[str, str]]:
    """Every (method, path) of the app's route table (HEAD aside: Starlette adds it)."""
    app = create_app(Settings(database_url="memory://"))
    pairs = []
    for route in app.routes:
        assert isinstance(route, Route), route
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                pairs.append((method, route.path))
    return pairs


ROUTES = routed()


@pytest.fixture(scope="module")
def client(shared_server: SharedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.server.base_url, timeout=10) as http:
        editor = bearer(shared_server.tokens.editor)
        created = http.post("/api/stories", json={"slug": SLUG, "title": "Q"}, headers=editor)
        assert created.status_code == 201
        yield http


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_an_unknown_query_parameter_is_422_on_every_route(
    client: httpx.Client, shared_server: SharedServer, method: str, path: str
) -> None:
    url = re.sub(r"\{update\}", SOME_UUID, path.replace("{story}", SLUG))
    before = client.get(f"/api/stories/{SLUG}").json()
    response = client.request(
        method,
        url,
        params={"bogus": "1"},
        json={},
        headers=bearer(shared_server.tokens.editor),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unknown_parameter"
    assert "'bogus'" in response.json()["error"]["message"]
    assert client.get(f"/api/stories/{SLUG}").json() == before


def test_the_walk_covers_the_routes_that_matter() -> None:
    # A guard on the walk itself: were the table read wrongly, the test above would pass
    # on nothing.
    assert ("GET", "/api/stories/{story}") in ROUTES
    assert ("POST", "/api/stories/{story}/updates/{update}/corrections") in ROUTES
    assert ("GET", "/metrics") in ROUTES
    assert len(ROUTES) >= 18


async def test_the_live_websocket_refuses_an_unknown_query_parameter_with_422(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    url = f"{shared_server.server.ws_url}/api/stories/{SLUG}/live"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{url}?since=0&bogus=1", open_timeout=10):
            pass
    response = refused.value.response
    assert response.status_code == 422
    assert orjson.loads(response.body)["error"]["code"] == "unknown_parameter"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # since alone is known: the stream opens and starts with its snapshot.
    async with connect(f"{url}?since=0", open_timeout=10) as socket:
        first = orjson.loads(await asyncio.wait_for(socket.recv(), 10))
        assert first["type"] in ("snapshot", "event")
