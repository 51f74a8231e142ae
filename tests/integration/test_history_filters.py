"""``GET /api/stories/{story}/events`` with filters (editors): one update's events, one
person's, some event types, a time range, and pages of them; on each backend, the app in
this process through ``httpx.ASGITransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers import Api, bearer
from tests.integration.in_process import in_process_api

SLUG = "history"
Doc = dict[str, Any]


class HistorySuite:
    """The suite; each subclass supplies the ``database_url`` fixture."""

    @pytest.fixture
    async def api(self, database_url: str) -> AsyncIterator[Api]:
        async with in_process_api(database_url) as api:
            yield api

    @pytest.fixture
    async def story(self, api: Api) -> tuple[str, str]:
        """Versions 1..7: opened, two posts, a correction of each, a retraction, a pin."""
        await api.open_story(SLUG)
        first = (await api.post(SLUG, "<p>One.</p>"))["id"]
        second = (await api.post(SLUG, "<p>Two.</p>"))["id"]
        await api.correct(SLUG, first, "<p>One, fixed.</p>", "N1")
        await api.correct(SLUG, second, "<p>Two, fixed.</p>", "N2")
        await api.retract(SLUG, first, "Wrong")
        await api.flag(SLUG, second, pinned=True)
        return first, second

    @staticmethod
    async def history(api: Api, query: str, ok: int = 200) -> Doc:
        response = await api.http.get(
            f"/api/stories/{SLUG}/events?{query}", headers=bearer(api.tokens.editor)
        )
        assert response.status_code == ok, response.text
        doc: Doc = response.json()
        return doc

    @staticmethod
    def versions(doc: Doc) -> list[int]:
        return [event["version"] for event in doc["events"]]

    async def test_one_updates_events(self, api: Api, story: tuple[str, str]) -> None:
        first, second = story
        assert self.versions(await self.history(api, f"update={first}")) == [2, 4, 6]
        assert self.versions(await self.history(api, f"update={second}")) == [3, 5, 7]

    async def test_one_persons_events_and_some_types(
        self, api: Api, story: tuple[str, str]
    ) -> None:
        everything = await self.history(api, "")
        reporter = everything["events"][1]["actor"]["id"]
        editor = everything["events"][0]["actor"]["id"]
        assert self.versions(await self.history(api, f"actor={reporter}")) == [2, 3]
        assert self.versions(await self.history(api, f"actor={editor}")) == [1, 4, 5, 6, 7]
        types = quote("update.corrected,update.retracted")
        found = await self.history(api, f"type={types}")
        assert self.versions(found) == [4, 5, 6]
        assert {e["type"] for e in found["events"]} == {"update.corrected", "update.retracted"}
        both = await self.history(api, f"type=update.corrected&update={story[1]}")
        assert self.versions(both) == [5]

    async def test_a_time_range_includes_both_ends(self, api: Api, story: tuple[str, str]) -> None:
        events = (await self.history(api, ""))["events"]
        start, end = quote(events[2]["at"]), quote(events[4]["at"])
        assert self.versions(await self.history(api, f"from={start}&to={end}")) == [3, 4, 5]
        assert self.versions(await self.history(api, f"from={end}")) == [5, 6, 7]

    async def test_filtered_pages_follow_next(self, api: Api, story: tuple[str, str]) -> None:
        seen: list[int] = []
        after = 0
        while True:
            page = await self.history(api, f"type=update.corrected&limit=1&after={after}")
            seen += self.versions(page)
            if page["next"] is None:
                break
            after = page["next"]
        assert seen == [4, 5]

    @pytest.mark.parametrize(
        ("query", "fragment"),
        [
            ("update=nope", "update: must be an update id"),
            ("type=update.deleted", "type: not an event name"),
            ("type=,", "type: not an event name"),
            ("from=yesterday", "from: must be an RFC 3339 time"),
            ("to=2026-01-01T00:00:00", "to: must carry a time zone"),
            ("actorr=x", "actorr"),
        ],
    )
    async def test_a_bad_filter_is_a_422(
        self, api: Api, story: tuple[str, str], query: str, fragment: str
    ) -> None:
        refused = await self.history(api, query, ok=422)
        assert fragment in refused["error"]["message"]

    async def test_filters_are_for_editors_and_an_unknown_story_is_a_404(
        self, api: Api, story: tuple[str, str]
    ) -> None:
        response = await api.http.get(
            f"/api/stories/{SLUG}/events?type=update.posted", headers=bearer(api.tokens.reporter)
        )
        assert response.status_code == 403
        missing = await api.http.get(
            "/api/stories/nowhere/events?type=update.posted", headers=bearer(api.tokens.editor)
        )
        assert missing.status_code == 404


class TestHistoryOnSQLite(HistorySuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestHistoryOnPostgreSQL(HistorySuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url
