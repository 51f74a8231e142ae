"""Drafts through the real server, on SQLite and PostgreSQL: a live reader sees nothing
of a draft while it is written, edited, submitted and scheduled, then exactly one
``update.posted`` when an editor publishes it, approved by the editor; a scheduled post
reaches the reader the same way when it falls due."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.live_client import LiveReader, check_update_event
from tests.e2e.server import BACKENDS, LiveServer, backend_url, served
from tests.helpers import Doc, Tokens, bearer, issue_token

SLUG = "storm-watch"
# The server's scheduler looks every half second; the reader waits this long at most.
SCHEDULE_PATIENCE_SECONDS = 15.0


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Tokens]]:
    yield from served(database_url, tmp_path)


async def call(http: httpx.AsyncClient, method: str, path: str, token: str,
               body: Doc | None = None, *, ok: int = 200) -> Doc:  # fmt: skip
    response = await http.request(method, path, json=body, headers=bearer(token))
    assert response.status_code == ok, response.text
    doc: Doc = response.json()
    return doc


async def test_a_reader_sees_a_draft_only_once_published_and_a_schedule_when_due(
    server: tuple[LiveServer, Tokens], database_url: str
) -> None:
    live, tokens = server
    stringer = issue_token(database_url, "Cleo Stringer", "contributor")
    drafts = f"/api/stories/{SLUG}/drafts"
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
        await call(http, "POST", "/api/stories", tokens.editor,
                   {"slug": SLUG, "title": "Storm watch"}, ok=201)  # fmt: skip
        reader = await LiveReader.open(live, SLUG, since="1")
        try:
            assert [m["type"] for m in await reader.until_live()] == ["live"]
            draft = await call(http, "POST", drafts, stringer,
                               {"title": "Gusts", "body": "<p>90 km/h</p>"}, ok=201)  # fmt: skip
            one = f"{drafts}/{draft['id']}"
            await call(http, "PATCH", one, stringer, {"body": "<p>110 km/h</p>"})
            await call(http, "POST", f"{one}/submit", stringer)
            published = await call(http, "POST", f"{one}/publish", tokens.editor)
            again = await call(http, "POST", f"{one}/publish", tokens.editor)
            assert again == published
            # The next frame the reader gets is the publication: version 2, nothing before.
            update = check_update_event(await reader.next(), 2, "update.posted", published)
            assert update["approved_by"]["name"] == "Erin Editor"
            assert update["body"] == "<p>110 km/h</p>"

            soon = datetime.now(UTC) + timedelta(seconds=1)
            scheduled = await call(
                http, "POST", f"/api/stories/{SLUG}/updates", tokens.reporter,
                {"body": "<p>Red warning</p>", "publish_at": soon.isoformat()}, ok=202,
            )  # fmt: skip
            assert scheduled["status"] == "scheduled"
            frame = await reader.next(SCHEDULE_PATIENCE_SECONDS)
            assert (frame["version"], frame["event"]) == (3, "update.posted")
            assert frame["data"]["update"]["body"] == "<p>Red warning</p>"
            assert frame["data"]["update"]["approved_by"] is None
        finally:
            await reader.close()
        story = (await http.get(f"/api/stories/{SLUG}")).json()
        assert story["version"] == 3
        assert len(story["updates"]) == 2
