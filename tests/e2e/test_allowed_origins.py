"""``LIVEBLOG_ALLOWED_ORIGINS`` through the real server: a listed site's browser may read
the public API (CORS) and follow the live streams; a browser on any other site is refused
on the WebSocket and on SSE (``403 forbidden_origin``); clients that send no ``Origin``
(not browsers) and the server's own pages are let in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from tests.e2e.server import LiveServer
from tests.helpers import Tokens, bearer, issue_tokens

SLUG = "harbour-watch"
ALLOWED = "https://partner.example"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, Tokens]]:
    url = f"sqlite:///{tmp_path / 'origins.sqlite3'}"
    tokens = issue_tokens(url)
    live = LiveServer(url, tmp_path / "server.log", env={"LIVEBLOG_ALLOWED_ORIGINS": ALLOWED})
    live.start()
    yield live, tokens
    live.stop()


async def first_message(live: LiveServer, origin: str | None) -> dict[str, object]:
    sent = None if origin is None else Origin(origin)
    async with connect(f"{live.ws_url}/api/stories/{SLUG}/live", proxy=None, origin=sent) as ws:
        message: dict[str, object] = orjson.loads(await ws.recv())
        return message


async def test_listed_sites_and_non_browsers_are_let_in_and_other_sites_are_refused(
    server: tuple[LiveServer, Tokens],
) -> None:
    live, tokens = server
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
        made = await http.post("/api/stories", json={"slug": SLUG, "title": "Harbour"},
                               headers=bearer(tokens.editor))  # fmt: skip
        assert made.status_code == 201
        read = await http.get(f"/api/stories/{SLUG}/updates", headers={"Origin": ALLOWED})
        assert read.headers["access-control-allow-origin"] == ALLOWED
        other = await http.get(f"/api/stories/{SLUG}/updates",
                               headers={"Origin": "https://elsewhere.example"})  # fmt: skip
        assert "access-control-allow-origin" not in other.headers
        sse = await http.get(f"/api/stories/{SLUG}/live/sse",
                             headers={"Origin": "https://elsewhere.example"})  # fmt: skip
        assert (sse.status_code, sse.json()["error"]["code"]) == (403, "forbidden_origin")

    for origin in (ALLOWED, None, live.base_url):  # a listed site, no browser, its own page
        assert (await first_message(live, origin))["type"] == "snapshot", origin
    with pytest.raises(InvalidStatus) as refused:
        await first_message(live, "https://elsewhere.example")
    assert refused.value.response.status_code == 403
    assert b"forbidden_origin" in refused.value.response.body
