"""Media on updates and the sanitizer's warnings, through the app in this process, on
each backend: posts and drafts with images and embeds, corrections of the media alone,
reverts and retractions, and ``POST /api/preview``, which records nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers import Api
from tests.integration.in_process import in_process_api

SLUG = "media"
UPDATES = f"/api/stories/{SLUG}/updates"
IMAGE = {"type": "image", "url": "https://images.example/bridge.jpg", "alt": "The bridge",
         "caption": "The old bridge at dawn", "credit": "A. Reporter"}  # fmt: skip
VIDEO = {"type": "embed", "url": "https://www.youtube.com/watch?v=abc", "provider": "youtube"}
POST = {"type": "embed", "url": "https://mastodon.social/@city/1234", "provider": "mastodon"}
Doc = dict[str, Any]


def given(item: Doc) -> Doc:
    """An item as a client sends it: without what the server adds or fills in."""
    return {k: v for k, v in item.items() if k != "provider" and v is not None}


class MediaSuite:
    """The suite; each subclass supplies the ``database_url`` fixture."""

    @pytest.fixture
    async def api(self, database_url: str) -> AsyncIterator[Api]:
        async with in_process_api(database_url) as api:
            await api.open_story(SLUG)
            yield api

    @staticmethod
    async def posted(api: Api, media: list[Doc]) -> Doc:
        body = {"title": "Bridge", "body": "<p>The bridge is closed.</p>", "media": media}
        return await api.call("POST", UPDATES, api.tokens.reporter, body, ok=201)

    @staticmethod
    async def correction(api: Api, update_id: str, payload: Doc, ok: int = 200) -> Doc:
        path = f"{UPDATES}/{update_id}/corrections"
        return await api.call("POST", path, api.tokens.editor, payload, ok=ok)

    @staticmethod
    async def revisions(api: Api, update_id: str, token: str | None) -> list[Doc]:
        doc = await api.call("GET", f"{UPDATES}/{update_id}/revisions", token)
        revisions: list[Doc] = doc["revisions"]
        return revisions

    async def test_a_post_carries_its_media_normalised_after_its_body(self, api: Api) -> None:
        posted = await self.posted(api, [given(IMAGE), given(VIDEO), given(POST)])

        assert posted["media"] == [IMAGE, VIDEO, POST]
        assert list(posted)[:5] == ["id", "story_id", "title", "body", "media"]
        assert "warnings" not in posted  # the body lost nothing
        story = await api.story(SLUG)
        assert story["updates"][0]["media"] == [IMAGE, VIDEO, POST]
        permalink = await api.call("GET", f"{UPDATES}/{posted['id']}", None)
        assert permalink["media"] == [IMAGE, VIDEO, POST]

    async def test_a_correction_may_change_the_media_alone(self, api: Api) -> None:
        update_id = (await self.posted(api, [given(IMAGE)]))["id"]

        corrected = await self.correction(
            api, update_id, {"media": [given(VIDEO)], "note": "The video, not the photo"}
        )

        assert (corrected["media"], corrected["revision"]) == ([VIDEO], 2)
        assert corrected["body"] == "<p>The bridge is closed.</p>"
        same = await self.correction(api, update_id, {"media": [given(VIDEO)], "note": "N"}, 422)
        assert "must change the title, the body or media" in same["error"]["message"]
        (first, second) = await self.revisions(api, update_id, api.tokens.editor)
        assert (first["media"], second["media"]) == ([IMAGE], [VIDEO])
        emptied = await self.correction(api, update_id, {"media": [], "note": "No video"})
        assert emptied["media"] == []
        assert (await api.story(SLUG))["version"] == 4  # opened, posted, corrected twice

    async def test_a_revert_brings_back_the_revisions_media(self, api: Api) -> None:
        update_id = (await self.posted(api, [given(IMAGE)]))["id"]
        await self.correction(
            api, update_id, {"body": "<p>Open again.</p>", "media": [], "note": "Wrong"}
        )

        reverted = await self.correction(api, update_id, {"revert_to": 1, "note": "Back"})

        assert (reverted["body"], reverted["media"]) == ("<p>The bridge is closed.</p>", [IMAGE])
        refused = await self.correction(
            api, update_id, {"revert_to": 1, "media": [], "note": "N"}, 422
        )
        assert "without title, body and media" in refused["error"]["message"]

    async def test_a_retraction_hides_the_media_from_the_public_not_from_editors(
        self, api: Api
    ) -> None:
        update_id = (await self.posted(api, [given(IMAGE), given(VIDEO)]))["id"]

        retracted = await api.retract(SLUG, update_id, "Not our photo")

        assert (retracted["status"], retracted["media"]) == ("retracted", [])
        assert (await api.story(SLUG))["updates"][0]["media"] == []
        public = await self.revisions(api, update_id, None)
        assert all("media" not in r for r in public)
        editors = await self.revisions(api, update_id, api.tokens.editor)
        assert [r["media"] for r in editors] == [[IMAGE, VIDEO], []]
        path = f"{UPDATES}/{update_id}/reinstatement"
        reinstated = await api.call("POST", path, api.tokens.editor, {"reason": "It was"})
        assert reinstated["media"] == [IMAGE, VIDEO]

    async def test_hostile_media_is_a_422_naming_the_item_and_records_nothing(
        self, api: Api
    ) -> None:
        update_id = (await self.posted(api, []))["id"]
        cases: list[tuple[Any, str]] = [
            ([given(IMAGE), {"type": "embed", "url": "https://evil.example/v"}],
             "media[1].url: not a known embed provider; allowed: YouTube, Vimeo"),
            ([{**given(IMAGE), "url": "http://images.example/a.jpg"}],
             "media[0].url: must be an https:// URL"),
            ([{"type": "image", "url": "https://images.example/a.jpg"}],
             "media[0].alt: is required"),
            ([given(IMAGE)] * 11, "media: must hold at most 10 items"),
            ([{**given(IMAGE), "alt": "a\u0000b"}], "media[0].alt: must not contain U+0000"),
            ([{**given(IMAGE), "alt": {"nested": {"deeper": "x"}}}], "media[0].alt: must be"),
            ([{**given(IMAGE), "onload": "x"}], "media[0]: unknown key(s) 'onload'"),
            ({"type": "image"}, "media: must be a list"),
        ]  # fmt: skip
        for media, message in cases:
            refused = await api.call(
                "POST", UPDATES, api.tokens.reporter, {"body": "<p>x</p>", "media": media}, 422
            )
            assert refused["error"]["code"] == "invalid_field"
            assert refused["error"]["message"].startswith(message), refused
            again = await self.correction(api, update_id, {"media": media, "note": "N"}, 422)
            assert again["error"]["message"].startswith(message)
        assert (await api.story(SLUG))["version"] == 2  # opened, posted: nothing since

    async def test_a_body_that_loses_an_iframe_and_a_script_says_so(self, api: Api) -> None:
        body = (
            '<p>Watch:</p><iframe src="https://www.youtube.com/embed/abc"></iframe>'
            "<script>alert(1)</script>"
        )

        posted = await api.call("POST", UPDATES, api.tokens.reporter, {"body": body}, ok=201)

        assert posted["body"] == "<p>Watch:</p>"
        assert [(w["code"], w["element"]) for w in posted["warnings"]] == [
            ("removed_element", "iframe"), ("removed_element", "script"),
        ]  # fmt: skip
        assert posted["warnings"][0]["hint"] == "use media for embeds"
        stored = await api.call("GET", f"{UPDATES}/{posted['id']}", None)
        assert "warnings" not in stored  # a write's answer only
        corrected = await self.correction(
            api, posted["id"], {"body": '<p onclick="x()">Watch it.</p>', "note": "N"}
        )
        assert [(w["element"], w["attribute"]) for w in corrected["warnings"]] == [
            ("p", "onclick")
        ]

    async def test_drafts_carry_media_and_warnings_to_their_update(
        self, api: Api, contributor: str
    ) -> None:
        drafts = f"/api/stories/{SLUG}/drafts"
        made = await api.call(
            "POST", drafts, contributor,
            {"body": "<p>Photo.</p><object data='x'></object>", "media": [given(IMAGE)]}, 201,
        )  # fmt: skip
        assert made["media"] == [IMAGE]
        assert [w["element"] for w in made["warnings"]] == ["object"]
        edited = await api.call(
            "PATCH", f"{drafts}/{made['id']}", contributor, {"media": [given(IMAGE), given(POST)]}
        )
        assert (edited["media"], edited["revision"]) == ([IMAGE, POST], 2)
        assert "warnings" not in edited  # no body given: nothing cleaned
        listed = await api.call("GET", drafts, api.tokens.editor)
        assert listed["drafts"][0]["media"] == [IMAGE, POST]

        published = await api.call(
            "POST", f"{drafts}/{made['id']}/publish", api.tokens.editor, None
        )

        assert published["media"] == [IMAGE, POST]
        assert (await api.story(SLUG))["updates"][0]["media"] == [IMAGE, POST]
        scheduled = await api.call(
            "POST", UPDATES, api.tokens.reporter,
            {"body": "<p>Later.</p><embed src=x>", "media": [given(VIDEO)],
             "publish_at": "2099-01-01T00:00:00Z"}, 202,
        )  # fmt: skip
        assert scheduled["media"] == [VIDEO]
        assert [w["element"] for w in scheduled["warnings"]] == ["embed"]

    async def test_a_preview_shows_what_would_be_stored_and_records_nothing(
        self, api: Api, contributor: str
    ) -> None:
        before = await api.story(SLUG)

        preview = await api.call(
            "POST", "/api/preview", contributor,
            {"body": "<p>Hi</p><iframe src='x'></iframe>", "media": [given(VIDEO)]},
        )  # fmt: skip

        assert preview == {
            "body": "<p>Hi</p>",
            "media": [VIDEO],
            "warnings": [
                {"code": "removed_element", "element": "iframe", "hint": "use media for embeds"}
            ],
        }
        clean = await api.call("POST", "/api/preview", contributor, {"body": "<p>Hi</p>"})
        assert clean == {"body": "<p>Hi</p>", "media": [], "warnings": []}
        bad = await api.call("POST", "/api/preview", contributor,
                             {"body": "x", "media": [{"type": "embed"}]}, 422)  # fmt: skip
        assert bad["error"]["message"] == "media[0].url: is required"
        anonymous = await api.http.post("/api/preview", json={"body": "x"})
        assert anonymous.status_code == 401
        after = await api.story(SLUG)
        assert after["version"] == before["version"] == 1


class TestMediaOnSQLite(MediaSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestMediaOnPostgreSQL(MediaSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url
