"""The fast paths are on: a guard that fails when one is silently off.

Both paths lean on a server's internals (``liveblog.web.uvicorn_adapter``), and both
still answer correctly when they are off (the hub would give every reader a task, the
story GET would be routed), so no other test would notice. A real server's ``/metrics``
says which path served:

- ``liveblog_live_direct_readers``: caught-up WebSocket readers written to by the hub
  itself (``Hub.go_direct`` on the adapter's ``LiveSocket``);
- ``liveblog_http_ready_answers_total``: story GETs answered from the hub's cached
  render (``LiveblogApp.ready_answer``), which the routed path's
  ``liveblog_http_requests_total`` does not count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.server import LiveServer
from tests.helpers import Tokens, bearer

READERS = 3
GETS = 4
SLUG = "fast-paths"
STORY_ROUTE = 'route="/api/stories/{story}"'


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, trust_env=False) as client:
        yield client


async def metrics(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return response.text


def value(text: str, name: str) -> float:
    """One sample's value; ``name`` with its labels, as the exposition writes it."""
    (line,) = [line for line in text.splitlines() if line.startswith(f"{name} ")]
    return float(line.rsplit(" ", 1)[1])


def routed_story_gets(text: str) -> float:
    """The routed path's answers to ``/api/stories/{story}``, whatever their status."""
    lines = [x for x in text.splitlines() if x.startswith("liveblog_http_requests_total{")]
    return sum(float(x.rsplit(" ", 1)[1]) for x in lines if STORY_ROUTE in x)


async def post_update(http: httpx.AsyncClient, token: str, body: str) -> int:
    response = await http.post(
        f"/api/stories/{SLUG}/updates",
        json={"body": body},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    story = await http.get(f"/api/stories/{SLUG}?min_version=1")
    version: int = story.json()["version"]
    return version


async def until_live(reader: ClientConnection) -> None:
    while orjson.loads(await reader.recv())["type"] != "live":
        pass


async def test_caught_up_readers_are_written_directly_and_story_gets_come_from_the_cache(
    server: LiveServer, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    opened = await http.post(
        "/api/stories",
        json={"slug": SLUG, "title": "Fast paths"},
        headers=bearer(tokens.editor),
    )
    assert opened.status_code == 201, opened.text
    await post_update(http, tokens.reporter, "<p>one</p>")

    readers = [
        await connect(f"{server.ws_url}/api/stories/{SLUG}/live", compression=None)
        for _ in range(READERS)
    ]
    try:
        for reader in readers:
            await until_live(reader)
        version = await post_update(http, tokens.reporter, "<p>two</p>")
        for reader in readers:  # each got the new event, so each is past its catch-up
            event = orjson.loads(await reader.recv())
            assert (event["type"], event["version"]) == ("event", version)
        live = await metrics(http)
        assert value(live, "liveblog_live_readers") == READERS
        assert value(live, "liveblog_live_direct_readers") == READERS
    finally:
        for reader in readers:
            await reader.close()

    # The story's current render is cached now (the readers' snapshot, the GETs above).
    before = await metrics(http)
    tag = (await http.get(f"/api/stories/{SLUG}")).headers["etag"]
    for _ in range(GETS):
        assert (await http.get(f"/api/stories/{SLUG}")).status_code == 200
        cached = await http.get(f"/api/stories/{SLUG}", headers={"If-None-Match": tag})
        assert cached.status_code == 304
    after = await metrics(http)
    ready = 'liveblog_http_ready_answers_total{status="%d"}'
    assert value(after, ready % 200) - value(before, ready % 200) == GETS + 1
    assert value(after, ready % 304) - value(before, ready % 304) == GETS
    assert routed_story_gets(after) == routed_story_gets(before)
