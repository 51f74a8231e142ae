"""The audit trail (``GET /api/audit``), through the app in this process, on each backend:
every command across stories, drafts and token administration, with who gave it and
when; filtered by person and time; paged without a gap or a repeat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveblog.people import person_id_for_name
from tests.helpers import Api, auth, bearer, issue_token
from tests.integration.in_process import in_process_api

SLUG = "harbour-fire"


async def ok(api: Api, method: str, path: str, token: str, body: Any = None) -> Any:
    response = await api.http.request(method, path, json=body, headers=auth(token))
    assert response.status_code < 300, response.text
    return response.json()


async def trail(api: Api, query: str = "", token: str | None = None) -> list[dict[str, Any]]:
    """Every entry the trail gives, following ``next`` to the end."""
    entries: list[dict[str, Any]] = []
    after = ""
    while True:
        path = f"/api/audit?{query}{'&' if query else ''}{after}"
        page = await ok(api, "GET", path, token or api.tokens.editor)
        entries += page["entries"]
        if page["next"] is None:
            return entries
        after = f"after={page['next']}"


class AuditSuite:
    """The suite; each subclass supplies the ``database_url`` fixture."""

    @pytest.fixture
    async def api(self, database_url: str) -> AsyncIterator[Api]:
        async with in_process_api(database_url) as api:
            yield api

    @pytest.fixture
    async def seeded(self, api: Api, database_url: str) -> dict[str, str]:
        """A morning's commands: a story, a post, a stringer's draft approved, and an admin
        who registers a person, issues and revokes a token, and deactivates them."""
        admin = issue_token(database_url, "Ada Admin", "admin")
        stringer = issue_token(database_url, "Cleo Stringer", "contributor")
        editor, reporter = api.tokens.editor, api.tokens.reporter
        await api.open_story(SLUG)
        posted = await api.post(SLUG, "<p>Smoke over the harbour.</p>")
        drafts = f"/api/stories/{SLUG}/drafts"
        draft = await ok(api, "POST", drafts, stringer, {"body": "<p>From the quay.</p>"})
        await ok(api, "POST", f"{drafts}/{draft['id']}/submit", stringer)
        await ok(api, "POST", f"{drafts}/{draft['id']}/publish", editor)
        person = await ok(api, "POST", "/api/people", admin,
                          {"name": "Noor Reporter", "role": "reporter"})  # fmt: skip
        token = await ok(api, "POST", f"/api/people/{person['id']}/tokens", admin, {})
        await ok(api, "DELETE", f"/api/tokens/{token['id']}", admin)
        await ok(api, "PATCH", f"/api/people/{person['id']}", admin, {"active": False})
        return {"update": posted["id"], "draft": draft["id"], "person": person["id"],
                "token": token["id"], "reporter": reporter}  # fmt: skip

    async def test_every_command_is_there_with_who_and_when(
        self, api: Api, seeded: dict[str, str]
    ) -> None:
        entries = await trail(api)
        made = [(e["action"], e["actor"]["name"]) for e in entries]
        for expected in [
            ("story.opened", "Erin Editor"),
            ("update.posted", "Rashid Reporter"),
            ("draft.created", "Cleo Stringer"),
            ("draft.submitted", "Cleo Stringer"),
            ("update.posted", "Cleo Stringer"),  # the author's update, approved by:
            ("draft.published", "Erin Editor"),
            ("person.registered", "Ada Admin"),
            ("token.issued", "Ada Admin"),
            ("token.revoked", "Ada Admin"),
            ("person.changed", "Ada Admin"),
            ("token.issued", "liveblog command line"),  # the tests' own tokens
        ]:
            assert expected in made, expected
        by_action = {e["action"]: e for e in entries if e["actor"]["name"] == "Ada Admin"}
        assert by_action["token.revoked"]["token_id"] == seeded["token"]
        assert by_action["person.changed"]["detail"] == "deactivated"
        assert by_action["person.registered"]["person_id"] == seeded["person"]
        submitted = next(e for e in entries if e["action"] == "draft.submitted")
        assert submitted["draft_id"] == seeded["draft"]
        assert submitted["source"] == "draft"
        story_id = next(e for e in entries if e["action"] == "story.opened")["story_id"]
        assert submitted["story_id"] == story_id  # named from the drafts' index
        times = [datetime.fromisoformat(e["at"]) for e in entries]
        assert times == sorted(times)

    async def test_filters_by_person_and_time_and_pages_without_gap_or_repeat(
        self, api: Api, seeded: dict[str, str]
    ) -> None:
        everything = await trail(api)
        paged = await trail(api, "limit=2")
        assert paged == everything
        stringer = str(person_id_for_name("Cleo Stringer"))
        theirs = await trail(api, f"actor={stringer}&limit=1")
        assert [e["action"] for e in theirs] == ["draft.created", "draft.submitted",
                                                 "update.posted"]  # fmt: skip
        assert all(e["actor"]["id"] == stringer for e in theirs)
        middle = everything[len(everything) // 2]["at"]
        later = await trail(api, f"from={middle.replace('+', '%2B')}")
        assert later == [e for e in everything if e["at"] >= middle]
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        assert await trail(api, f"from={future}") == []
        assert await trail(api, "to=2000-01-01T00:00:00Z") == []

    async def test_only_editors_and_admins_and_hostile_queries_are_4xx(
        self, api: Api, seeded: dict[str, str]
    ) -> None:
        assert (await api.http.get("/api/audit")).status_code == 401
        denied = await api.http.get("/api/audit", headers=bearer(seeded["reporter"]))
        assert denied.status_code == 403
        for query in ("limit=0", "limit=501", "after=1.2", "after=a.b.c", "after=-1.0.0",
                      "from=yesterday", "to=2026-01-01T00:00:00", "at=2026-01-01T00:00:00Z",
                      f"after={'9' * 19}.0.0"):  # fmt: skip
            answer = await api.http.get(f"/api/audit?{query}", headers=bearer(api.tokens.editor))
            assert answer.status_code == 422, (query, answer.text)
        past_the_end = await api.http.get("/api/audit?after=999999.999999.999999",
                                          headers=bearer(api.tokens.editor))  # fmt: skip
        assert past_the_end.json() == {"entries": [], "next": None}


class TestAuditOnSQLite(AuditSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestAuditOnPostgreSQL(AuditSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url
