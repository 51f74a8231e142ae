"""Full corrections through the HTTP API, on each backend (the app in this process,
called through ``httpx.ASGITransport``): the title, the body or both, reverts,
reinstatements, an update's permalink, and the revisions with their diffs.

The same events reach live readers, as the public may see them: tests/e2e/test_corrections_live.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers import Api, bearer
from tests.integration.in_process import in_process_api

SLUG = "corrections"
FIRST_TITLE, FIRST_BODY = "Bridge closed", "<p>The old bridge is closed to traffic.</p>"
Doc = dict[str, Any]


class CorrectionsSuite:
    """The suite; each subclass supplies the ``database_url`` fixture."""

    @pytest.fixture
    async def api(self, database_url: str) -> AsyncIterator[Api]:
        async with in_process_api(database_url) as api:
            await api.open_story(SLUG)
            yield api

    @staticmethod
    async def posted(api: Api) -> str:
        update = await api.call(
            "POST", f"/api/stories/{SLUG}/updates", api.tokens.reporter,
            {"title": FIRST_TITLE, "body": FIRST_BODY}, ok=201,
        )  # fmt: skip
        return str(update["id"])

    @staticmethod
    async def correction(
        api: Api, update_id: str, payload: Doc, ok: int = 200, token: str | None = None
    ) -> Doc:
        path = f"/api/stories/{SLUG}/updates/{update_id}/corrections"
        return await api.call("POST", path, token or api.tokens.editor, payload, ok=ok)

    @staticmethod
    async def revisions(api: Api, update_id: str, token: str | None) -> list[Doc]:
        path = f"/api/stories/{SLUG}/updates/{update_id}/revisions"
        doc = await api.call("GET", path, token)
        revisions: list[Doc] = doc["revisions"]
        return revisions

    async def test_a_correction_may_change_the_title_alone(self, api: Api) -> None:
        update_id = await self.posted(api)

        corrected = await self.correction(
            api, update_id, {"title": "Old bridge closed", "note": "Which bridge"},
            token=api.tokens.reporter,
        )  # fmt: skip

        assert (corrected["title"], corrected["body"]) == ("Old bridge closed", FIRST_BODY)
        assert corrected["revision"] == 2
        assert [c["note"] for c in corrected["corrections"]] == ["Which bridge"]
        (first, second) = await self.revisions(api, update_id, api.tokens.editor)
        assert (second["kind"], second["title"], second["body"]) == (
            "corrected", "Old bridge closed", FIRST_BODY,
        )  # fmt: skip
        assert second["title_diff"] == "<del>Bridge</del><ins>Old bridge</ins> closed"
        assert second["diff"] == FIRST_BODY  # the body did not change
        assert first["kind"] == "posted"

    async def test_a_correction_may_change_both_and_must_change_one(self, api: Api) -> None:
        update_id = await self.posted(api)

        both = await self.correction(
            api, update_id,
            {"title": "Bridge reopened", "body": "<p>The bridge is open again.</p>", "note": "N"},
        )  # fmt: skip
        assert (both["title"], both["body"]) == (
            "Bridge reopened", "<p>The bridge is open again.</p>",
        )  # fmt: skip

        same = {"title": "Bridge reopened", "body": "<p>The bridge is open again.</p>"}
        refused = await self.correction(api, update_id, {**same, "note": "N"}, ok=422)
        assert refused["error"]["code"] == "invalid_field"
        nothing = await self.correction(api, update_id, {"note": "N"}, ok=422)
        assert "title, body" in nothing["error"]["message"]
        story = await api.story(SLUG)
        assert story["version"] == 3  # opened, posted, corrected: the refusals recorded nothing

    async def test_a_revert_makes_an_earlier_revision_current_as_a_new_one(self, api: Api) -> None:
        update_id = await self.posted(api)
        await self.correction(
            api, update_id, {"title": "Bridge collapsed", "body": "<p>Wrong.</p>", "note": "Bad"}
        )

        reverted = await self.correction(api, update_id, {"revert_to": 1, "note": "Back"})

        assert (reverted["title"], reverted["body"]) == (FIRST_TITLE, FIRST_BODY)
        assert reverted["revision"] == 3
        assert [c["note"] for c in reverted["corrections"]] == ["Bad", "Back"]
        revisions = await self.revisions(api, update_id, api.tokens.editor)
        assert [(r["revision"], r["kind"], r["reverted_to"]) for r in revisions] == [
            (1, "posted", None), (2, "corrected", None), (3, "reverted", 1),
        ]  # fmt: skip
        assert "<del>Wrong.</del>" in revisions[2]["diff"]
        permalink = await api.call("GET", f"/api/stories/{SLUG}/updates/{update_id}", None)
        assert (permalink["title"], permalink["body"], permalink["revision"]) == (
            FIRST_TITLE, FIRST_BODY, 3,
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("payload", "fragment"),
        [
            ({"revert_to": 9, "note": "N"}, "no revision 9"),
            ({"revert_to": 0, "note": "N"}, "revision number"),
            ({"revert_to": "1", "note": "N"}, "revision number"),
            ({"revert_to": True, "note": "N"}, "revision number"),
            ({"revert_to": 2, "note": "N"}, "revision before 2"),  # the current one
            ({"revert_to": 1, "body": "<p>x</p>", "note": "N"}, "without title, body and media"),
        ],
    )
    async def test_a_revert_to_no_earlier_revision_is_refused(
        self, api: Api, payload: Doc, fragment: str
    ) -> None:
        update_id = await self.posted(api)
        await self.correction(api, update_id, {"body": "<p>Second.</p>", "note": "N"})

        refused = await self.correction(api, update_id, payload, ok=422)

        assert fragment in refused["error"]["message"]
        assert (await api.story(SLUG))["version"] == 3

    async def test_a_reinstatement_undoes_a_retraction_and_keeps_it_in_the_history(
        self, api: Api
    ) -> None:
        update_id = await self.posted(api)
        await self.correction(api, update_id, {"body": "<p>Closed until Monday.</p>", "note": "D"})
        await api.retract(SLUG, update_id, "Not confirmed")
        path = f"/api/stories/{SLUG}/updates/{update_id}/reinstatement"

        await api.call("POST", path, api.tokens.reporter, {"reason": "R"}, ok=403)
        reinstated = await api.call("POST", path, api.tokens.editor, {"reason": "Confirmed"})

        assert reinstated["status"] == "published"
        assert (reinstated["title"], reinstated["body"]) == (
            FIRST_TITLE, "<p>Closed until Monday.</p>",
        )  # fmt: skip
        assert (reinstated["revision"], reinstated["retraction"]) == (4, None)
        again = await api.call("POST", path, api.tokens.editor, {"reason": "R"}, ok=409)
        assert again["error"]["code"] == "not_retracted"
        for_editors = await self.revisions(api, update_id, api.tokens.editor)
        assert [(r["kind"], r["note"]) for r in for_editors] == [
            ("posted", None), ("corrected", "D"), ("retracted", "Not confirmed"),
            ("reinstated", "Confirmed"),
        ]  # fmt: skip
        assert for_editors[3]["body"] == "<p>Closed until Monday.</p>"
        # The public sees the text shown now, and of the past only who changed what, when.
        public = await self.revisions(api, update_id, None)
        assert [("body" in r, r["kind"]) for r in public] == [
            (False, "posted"), (False, "corrected"), (False, "retracted"), (True, "reinstated"),
        ]  # fmt: skip
        assert all("diff" not in r for r in public)
        story = await api.story(SLUG)
        assert story["updates"][0]["status"] == "published"

    async def test_a_stale_revision_is_a_conflict_for_a_reinstatement(self, api: Api) -> None:
        update_id = await self.posted(api)
        await api.retract(SLUG, update_id, "Not confirmed")
        path = f"/api/stories/{SLUG}/updates/{update_id}/reinstatement"

        response = await api.http.post(
            path, json={"reason": "R"}, headers=bearer(api.tokens.editor, **{"If-Match": '"r1"'})
        )

        assert response.status_code == 409
        assert (await api.story(SLUG))["version"] == 3

    async def test_an_update_has_a_permalink_and_an_unknown_one_is_a_404_naming_it(
        self, api: Api
    ) -> None:
        update_id = await self.posted(api)

        found = await api.http.get(f"/api/stories/{SLUG}/updates/{update_id}")
        assert found.status_code == 200
        story = await api.story(SLUG)
        assert found.json() == story["updates"][0]
        unknown = "0b7e9d2c-5d0e-4c47-9f35-3b1b8f0f4a11"
        missing = await api.http.get(f"/api/stories/{SLUG}/updates/{unknown}")
        assert missing.status_code == 404
        assert unknown in missing.json()["error"]["message"]
        not_an_id = await api.http.get(f"/api/stories/{SLUG}/updates/nope")
        assert not_an_id.status_code == 404
        assert "'nope'" in not_an_id.json()["error"]["message"]


class TestCorrectionsOnSQLite(CorrectionsSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestCorrectionsOnPostgreSQL(CorrectionsSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url
