"""Drafts and approval (DESIGN §4), through the app in this process, on each backend.

A contributor writes and submits; an editor publishes; a reporter publishes their own.
A draft never reaches the story (its read API, its events, its version) until it is
published, and publishing is idempotent: twice, or twice at once, records one
``update.posted`` and answers with the same Update.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.helpers import Api, auth, bearer
from tests.integration.in_process import in_process_api

SLUG = "council-vote"
DRAFTS = f"/api/stories/{SLUG}/drafts"


async def call(
    api: Api, method: str, path: str, token: str, body: Any = None, *, ok: int = 200,
    headers: dict[str, str] | None = None,
) -> Any:  # fmt: skip
    response = await api.http.request(
        method, path, json=body, headers=auth(token, **(headers or {}))
    )
    assert response.status_code == ok, response.text
    return response.json()


async def refused(
    api: Api, method: str, path: str, token: str, body: Any = None, *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:  # fmt: skip
    response = await api.http.request(
        method, path, json=body, headers=auth(token, **(headers or {}))
    )
    assert response.status_code >= 400, response.text
    return response


async def posted_events(api: Api) -> list[dict[str, Any]]:
    events = await call(api, "GET", f"/api/stories/{SLUG}/events", api.tokens.editor)
    return [e for e in events["events"] if e["type"] == "update.posted"]


class DraftSuite:
    """The suite; each subclass supplies the ``database_url`` fixture."""

    @pytest.fixture
    async def api(self, database_url: str) -> AsyncIterator[Api]:
        async with in_process_api(database_url) as api:
            await api.open_story(SLUG)
            yield api

    async def test_a_contributor_writes_and_submits_and_an_editor_publishes(
        self, api: Api, contributor: str
    ) -> None:
        draft = await call(api, "POST", DRAFTS, contributor,
                           {"title": "From the square", "body": "<p>Crowds gather.</p>"},
                           ok=201)  # fmt: skip
        assert draft["status"] == "draft"
        assert draft["revision"] == 1
        assert draft["author"]["name"] == "Cleo Stringer"
        assert (draft["update_id"], draft["publish_at"], draft["media"]) == (None, None, [])
        one = f"{DRAFTS}/{draft['id']}"
        edited = await call(api, "PATCH", one, contributor, {"body": "<p>Thousands gather.</p>"},
                            headers={"If-Match": '"d1"'})  # fmt: skip
        assert (edited["revision"], edited["body"]) == (2, "<p>Thousands gather.</p>")
        stale = await refused(api, "PATCH", one, contributor, {"title": "x"},
                              headers={"If-Match": '"d1"'})  # fmt: skip
        assert (stale.status_code, stale.json()["error"]["code"]) == (409, "conflict")
        submitted = await call(api, "POST", f"{one}/submit", contributor)
        assert submitted["status"] == "submitted"
        # Nothing of it is public, nor in the story's history.
        story = await api.story(SLUG)
        assert (story["version"], story["updates"]) == (1, [])
        assert await posted_events(api) == []
        # The contributor may not publish or schedule it.
        for action, body in (
            ("publish", None),
            ("schedule", {"publish_at": "2030-01-01T00:00:00Z"}),
        ):
            denied = await refused(api, "POST", f"{one}/{action}", contributor, body)
            assert denied.status_code == 403, action
        # An editor sees it among the submitted drafts, and publishes it.
        listed = await call(api, "GET", f"{DRAFTS}?status=submitted", api.tokens.editor)
        assert [d["id"] for d in listed["drafts"]] == [draft["id"]]
        update = await call(api, "POST", f"{one}/publish", api.tokens.editor)
        assert update["title"] == "From the square"
        assert update["body"] == "<p>Thousands gather.</p>"
        assert update["author"]["name"] == "Cleo Stringer"
        assert update["approved_by"]["name"] == "Erin Editor"
        story = await api.story(SLUG)
        assert [u["id"] for u in story["updates"]] == [update["id"]]
        after = await call(api, "GET", one, contributor)
        assert (after["status"], after["update_id"]) == ("published", update["id"])
        permalink = await call(api, "GET", f"/api/stories/{SLUG}/updates/{update['id']}",
                               contributor)  # fmt: skip
        assert permalink["approved_by"] == update["approved_by"]
        # Published, a draft no longer changes; the permalink of a draft's id is a 404.
        gone = await refused(api, "PATCH", one, contributor, {"title": "Later"})
        assert (gone.status_code, gone.json()["error"]["code"]) == (409, "draft_finished")
        missing = await api.http.get(f"/api/stories/{SLUG}/updates/{draft['id']}")
        assert missing.status_code == 404

    async def test_publishing_twice_or_twice_at_once_records_one_update(
        self, api: Api, contributor: str
    ) -> None:
        ids = []
        for n in range(2):
            draft = await call(api, "POST", DRAFTS, contributor, {"body": f"<p>{n}</p>"}, ok=201)
            ids.append(draft["id"])
        first, again = [
            await call(api, "POST", f"{DRAFTS}/{ids[0]}/publish", api.tokens.editor)
            for _ in range(2)
        ]
        assert first == again
        at_once = await asyncio.gather(*[
            call(api, "POST", f"{DRAFTS}/{ids[1]}/publish", api.tokens.editor) for _ in range(4)
        ])  # fmt: skip
        assert len({u["id"] for u in at_once}) == 1
        assert all(u == at_once[0] | {"revision": u["revision"]} for u in at_once)
        posted = await posted_events(api)
        assert sorted(e["data"]["update_id"] for e in posted) == sorted(
            [first["id"], at_once[0]["id"]]
        )

    async def test_a_reporter_publishes_their_own_draft_unapproved_and_no_one_elses(
        self, api: Api, contributor: str
    ) -> None:
        reporter = api.tokens.reporter
        own = await call(api, "POST", DRAFTS, reporter, {"body": "<p>Mine.</p>"}, ok=201)
        theirs = await call(api, "POST", DRAFTS, contributor, {"body": "<p>Cleo's.</p>"}, ok=201)
        update = await call(api, "POST", f"{DRAFTS}/{own['id']}/publish", reporter)
        assert update["approved_by"] is None
        assert update["author"]["name"] == "Rashid Reporter"
        for path in (f"{DRAFTS}/{theirs['id']}", f"{DRAFTS}/{theirs['id']}/publish"):
            method = "GET" if path.endswith(theirs["id"]) else "POST"
            hidden = await refused(api, method, path, reporter)
            assert hidden.status_code == 404
            assert theirs["id"] in hidden.json()["error"]["message"]
        mine = await call(api, "GET", DRAFTS, reporter)
        assert [d["id"] for d in mine["drafts"]] == [own["id"]]
        everyone = await call(api, "GET", DRAFTS, api.tokens.editor)
        assert {d["id"] for d in everyone["drafts"]} == {own["id"], theirs["id"]}
        # A direct post is unapproved too.
        direct = await api.post(SLUG, "<p>Straight in.</p>")
        assert direct["approved_by"] is None

    async def test_a_discarded_draft_cannot_be_published_or_changed(
        self, api: Api, contributor: str
    ) -> None:
        draft = await call(api, "POST", DRAFTS, contributor, {"body": "<p>Oops.</p>"}, ok=201)
        one = f"{DRAFTS}/{draft['id']}"
        discarded = await call(api, "POST", f"{one}/discard", contributor)
        assert discarded["status"] == "discarded"
        for method, path, body in (
            ("POST", f"{one}/publish", None),
            ("PATCH", one, {"body": "<p>b</p>"}),
            ("POST", f"{one}/submit", None),
        ):
            token = api.tokens.editor
            answer = await refused(api, method, path, token, body)
            assert (answer.status_code, answer.json()["error"]["code"]) == (409, "draft_finished")
        assert await posted_events(api) == []

    async def test_a_retried_create_with_its_key_makes_one_draft(
        self, api: Api, contributor: str
    ) -> None:
        headers = {"Idempotency-Key": "draft-1"}
        made = [
            await call(
                api, "POST", DRAFTS, contributor, {"body": "<p>Once.</p>"}, ok=201, headers=headers
            )
            for _ in range(2)
        ]
        assert made[0]["id"] == made[1]["id"]
        listed = await call(api, "GET", DRAFTS, contributor)
        assert len(listed["drafts"]) == 1

    async def test_hostile_draft_input_is_a_clear_4xx_and_changes_nothing(
        self, api: Api, contributor: str
    ) -> None:
        draft = await call(api, "POST", DRAFTS, contributor, {"body": "<p>Base.</p>"}, ok=201)
        one = f"{DRAFTS}/{draft['id']}"
        editor = api.tokens.editor
        cases: list[tuple[str, str, str, Any, int]] = [
            ("POST", DRAFTS, contributor, {"body": ""}, 422),
            ("POST", DRAFTS, contributor, {"body": "<p>a\u0000b</p>"}, 422),
            ("POST", DRAFTS, contributor, {"body": "<p>x</p>", "pinned": True}, 403),
            ("POST", DRAFTS, contributor, {"body": "<p>x</p>", "media": "x"}, 422),
            (
                "POST",
                DRAFTS,
                contributor,
                {"body": "<p>x</p>", "media": [{"type": "embed", "url": "https://a.example/"}]},
                422,
            ),
            (
                "PATCH",
                one,
                contributor,
                {"media": [{"type": "image", "url": "https://a.b/"}]},
                422,
            ),
            ("POST", "/api/stories/no-such-story/drafts", contributor, {"body": "<p>x</p>"}, 404),
            ("GET", f"{DRAFTS}?status=nonsense", editor, None, 422),
            ("GET", f"{DRAFTS}?sort=new", editor, None, 422),
            ("GET", f"{DRAFTS}/not-a-uuid", editor, None, 404),
            ("GET", f"{DRAFTS}/{'0' * 8}-0000-0000-0000-{'0' * 12}", editor, None, 404),
            ("PATCH", one, contributor, {}, 422),
            ("PATCH", one, contributor, {"title": 5}, 422),
            ("POST", f"{one}/schedule", editor, {"publish_at": "tomorrow"}, 422),
            ("POST", f"{one}/schedule", editor, {"publish_at": "2030-01-01T00:00:00"}, 422),
            ("POST", f"{one}/schedule", editor, {"publish_at": "99999-01-01T00:00:00Z"}, 422),
            ("POST", f"{one}/schedule", editor, {}, 422),
            ("POST", f"{one}/unschedule", editor, None, 409),
        ]
        for method, path, token, body, status in cases:
            answer = await refused(api, method, path, token, body)
            assert answer.status_code == status, (method, path, body, answer.text)
            assert "error" in answer.json()
        not_a_draft_tag = auth(contributor, **{"If-Match": '"v1"'})
        stale = await api.http.patch(one, json={"title": "t"}, headers=not_a_draft_tag)
        assert stale.status_code == 400
        unchanged = await call(api, "GET", one, contributor)
        assert unchanged == draft
        anonymous = await api.http.get(DRAFTS)
        assert anonymous.status_code == 401
        no_body = await api.http.post(f"{one}/submit", headers=bearer(contributor))
        assert no_body.status_code == 200


class TestDraftsOnSQLite(DraftSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestDraftsOnPostgreSQL(DraftSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url
