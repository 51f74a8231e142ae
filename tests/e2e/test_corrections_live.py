"""Full corrections reach live readers, and a resume shows only what the public may see
(DESIGN §5): a headline corrected, a revert, a retraction undone by a reinstatement
(the new event ``update.reinstated``, carrying the whole update), through the real
server, on SQLite and PostgreSQL, by WebSocket and by SSE, from the hub's ring and,
after a restart, from the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.e2e.live_client import (
    RECV_TIMEOUT,
    LiveReader,
    check_update_event,
    sse_until_live,
    without_story_version,
)
from tests.e2e.server import BACKENDS, LiveServer, backend_url, served
from tests.helpers import Doc, Tokens, bearer

SLUG = "bridge-night"
# A headline and a body that were published and then taken back by a correction.
TAKEN_BACK = ("Bridge collapsed", "fell into the river")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Tokens]]:
    yield from served(database_url, tmp_path)


async def call(http: httpx.AsyncClient, path: str, token: str, body: Doc, ok: int = 200) -> Doc:
    response = await http.post(path, json=body, headers=bearer(token))
    assert response.status_code == ok, response.text
    doc: Doc = response.json()
    return doc


async def ws_messages(live: LiveServer, since: str) -> list[Doc]:
    reader = await LiveReader.open(live, SLUG, since)
    try:
        return await reader.until_live()
    finally:
        await reader.close()


def check_public(messages: list[Doc], now: Doc, newest: int) -> None:
    """Versions 1..newest then live; every frame of the update shows its text as it is
    now; nothing taken back appears."""
    assert [m["version"] for m in messages[:-1]] == list(range(1, newest + 1))
    assert messages[-1] == {"type": "live", "version": newest}
    assert not any(phrase in orjson.dumps(messages).decode() for phrase in TAKEN_BACK)
    frames = [m["data"]["update"] for m in messages[:-1] if "update" in m["data"]]
    assert frames
    for update in frames:
        for name in ("title", "body", "status", "retraction"):
            assert update[name] == now[name], name
    assert frames[-1] == now


async def test_corrections_reach_readers_live_and_a_resume_shows_only_the_current_text(
    server: tuple[LiveServer, Tokens],
) -> None:
    live, tokens = server
    editor = tokens.editor
    async with httpx.AsyncClient(base_url=live.base_url, timeout=RECV_TIMEOUT) as http:
        await call(http, "/api/stories", editor, {"slug": SLUG, "title": "Flood"}, ok=201)
        reader = await LiveReader.open(live, SLUG, "1")
        assert await reader.until_live() == [{"type": "live", "version": 1}]
        base = f"/api/stories/{SLUG}/updates"
        posted = await call(
            http, base, tokens.reporter,
            {"title": "Bridge closed", "body": "<p>The old bridge is closed.</p>"}, ok=201,
        )  # fmt: skip
        update = f"{base}/{posted['id']}"
        wrong = await call(
            http, f"{update}/corrections", editor,
            {"title": "Bridge collapsed", "body": "<p>It fell into the river.</p>", "note": "N"},
        )  # fmt: skip
        reverted = await call(http, f"{update}/corrections", editor, {"revert_to": 1, "note": "R"})
        retitled = await call(
            http, f"{update}/corrections", editor, {"title": "Old bridge closed", "note": "T"}
        )
        retracted = await call(http, f"{update}/retraction", editor, {"reason": "Unconfirmed"})
        reinstated = await call(http, f"{update}/reinstatement", editor, {"reason": "Confirmed"})

        answers = [
            (2, "update.posted", posted), (3, "update.corrected", wrong),
            (4, "update.corrected", reverted), (5, "update.corrected", retitled),
            (6, "update.retracted", retracted), (7, "update.reinstated", reinstated),
        ]  # fmt: skip
        for version, name, answered in answers:
            check_update_event(await reader.next(), version, name, answered)
        await reader.close()
        now = without_story_version(reinstated)
        assert (now["title"], now["body"], now["status"]) == (
            "Old bridge closed", "<p>The old bridge is closed.</p>", "published",
        )  # fmt: skip

        check_public(await ws_messages(live, "0"), now, 7)  # from the ring
        check_public(await sse_until_live(live, SLUG, "0"), now, 7)
        # Editors still read every word in the history.
        history = await http.get(f"/api/stories/{SLUG}/events", headers=bearer(editor))
        assert all(phrase in history.text for phrase in TAKEN_BACK)

    live.stop()  # a new process: its ring is empty, so the backlog comes from the store
    live.start()
    check_public(await ws_messages(live, "0"), now, 7)
    check_public(await sse_until_live(live, SLUG, "0"), now, 7)
