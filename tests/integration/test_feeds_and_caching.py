"""Feeds (Atom 1.0 and JSON Feed 1.1) and the public answers' caching and CORS, through
the app in this process, on each backend.

The Atom feed is checked against the rules of RFC 4287 a test can check: the feed and
each entry hold exactly one ``id``, ``title`` and ``updated``; ids are IRIs
(``urn:uuid:``); every date is an RFC 3339 date-time; an author for every entry (its own
or the feed's); a ``self`` link; ``content`` of type ``html``. A correction moves an
entry's ``updated``; a retraction leaves a tombstone with its reason and none of its text.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from xml.etree import ElementTree

import pytest

from liveblog.settings import Settings
from liveblog.web.app import create_app
from tests.helpers import Api, bearer, issue_tokens
from tests.integration.in_process import in_process_api

SLUG = "river-rescue"
ATOM = "{http://www.w3.org/2005/Atom}"
# RFC 3339 date-time (section 5.6), as RFC 4287 section 3.3 requires.
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
PUBLIC = "public, max-age=1, stale-while-revalidate=10"


def one(element: ElementTree.Element, name: str) -> ElementTree.Element:
    found = element.findall(f"{ATOM}{name}")
    assert len(found) == 1, (name, len(found))
    return found[0]


def check_date(element: ElementTree.Element, name: str) -> datetime:
    text = one(element, name).text or ""
    assert RFC3339.match(text), (name, text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FeedSuite:
    """The suite; each subclass supplies the ``database_url`` fixture."""

    @pytest.fixture
    async def api(self, database_url: str) -> AsyncIterator[Api]:
        async with in_process_api(database_url) as api:
            yield api

    @pytest.fixture
    async def story(self, api: Api) -> dict[str, str]:
        await api.open_story(SLUG, "River rescue")
        first = await api.post(SLUG, "<p>Boats are out.</p>", title="Search begins")
        second = await api.post(SLUG, "<p>Two found <b>safe</b> near the weir.</p>")
        gone = await api.post(SLUG, "<p>Wrong bridge named.</p>", title="Bridge")
        await api.correct(SLUG, first["id"], "<p>Six boats are out.</p>", "How many")
        await api.retract(SLUG, gone["id"], "Not confirmed")
        return {"first": first["id"], "second": second["id"], "gone": gone["id"]}

    async def test_the_atom_feed_keeps_rfc_4287s_rules(
        self, api: Api, story: dict[str, str]
    ) -> None:
        answer = await api.http.get(f"/stories/{SLUG}/feed.atom")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/atom+xml")
        feed = ElementTree.fromstring(answer.content)
        assert feed.tag == f"{ATOM}feed"
        assert (one(feed, "id").text or "").startswith("urn:uuid:")
        assert one(feed, "title").text == "River rescue"
        check_date(feed, "updated")
        links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
        assert links["self"] == f"http://liveblog.test/stories/{SLUG}/feed.atom"
        assert links["alternate"] == f"http://liveblog.test/stories/{SLUG}"
        feed_has_author = feed.find(f"{ATOM}author/{ATOM}name") is not None
        entries = feed.findall(f"{ATOM}entry")
        assert len(entries) == 3
        ids = []
        for entry in entries:
            ids.append(one(entry, "id").text)
            assert one(entry, "title").text
            published, updated = check_date(entry, "published"), check_date(entry, "updated")
            assert updated >= published
            assert feed_has_author or entry.find(f"{ATOM}author/{ATOM}name") is not None
            assert one(entry, "content").get("type") == "html"
            assert (
                one(entry, "link")
                .get("href", "")
                .startswith(f"http://liveblog.test/stories/{SLUG}#update-")
            )
        # Newest first, ids stable: the update's own.
        assert ids == [f"urn:uuid:{story[k]}" for k in ("gone", "second", "first")]
        by_id = {one(e, "id").text: e for e in entries}
        corrected = by_id[f"urn:uuid:{story['first']}"]
        assert check_date(corrected, "updated") > check_date(corrected, "published")
        assert "Six boats" in (one(corrected, "content").text or "")
        assert "How many" in (one(corrected, "content").text or "")
        tombstone = by_id[f"urn:uuid:{story['gone']}"]
        assert one(tombstone, "title").text == "Retracted"
        assert "Not confirmed" in (one(tombstone, "content").text or "")
        assert b"Wrong bridge" not in answer.content
        untitled = by_id[f"urn:uuid:{story['second']}"]
        assert one(untitled, "title").text == "Two found safe near the weir."

    async def test_the_json_feed_has_the_same_entries(
        self, api: Api, story: dict[str, str]
    ) -> None:
        answer = await api.http.get(f"/stories/{SLUG}/feed.json")
        assert answer.headers["content-type"] == "application/feed+json"
        feed = answer.json()
        assert feed["version"] == "https://jsonfeed.org/version/1.1"
        assert feed["feed_url"] == f"http://liveblog.test/stories/{SLUG}/feed.json"
        items = {item["id"]: item for item in feed["items"]}
        assert list(items) == [f"urn:uuid:{story[k]}" for k in ("gone", "second", "first")]
        first = items[f"urn:uuid:{story['first']}"]
        assert first["date_modified"] > first["date_published"]
        gone = items[f"urn:uuid:{story['gone']}"]
        assert gone["_liveblog"]["status"] == "retracted"
        assert "Wrong bridge" not in answer.text

    async def test_public_gets_carry_cache_control_and_an_etag_that_answers_304(
        self, api: Api, story: dict[str, str]
    ) -> None:
        for path in (
            f"/stories/{SLUG}/feed.atom", f"/stories/{SLUG}/feed.json", f"/api/stories/{SLUG}",
            f"/api/stories/{SLUG}/updates", f"/api/stories/{SLUG}/updates/{story['first']}",
            f"/api/stories/{SLUG}/updates/{story['first']}/revisions", "/api/stories",
        ):  # fmt: skip
            first = await api.http.get(path)
            assert first.status_code == 200, path
            assert first.headers["cache-control"] == PUBLIC, path
            tag = first.headers["etag"]
            again = await api.http.get(path, headers={"If-None-Match": tag})
            assert (again.status_code, again.content) == (304, b""), path
            assert again.headers["etag"] == tag
        # Private answers stay private; operators' endpoints are never kept.
        private = await api.http.get(
            f"/api/stories/{SLUG}/events", headers=bearer(api.tokens.editor)
        )
        assert private.headers["cache-control"] == "private, no-store"
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await api.http.get(path)).headers["cache-control"] == "no-store", path
        # A change moves the tag.
        before = (await api.http.get(f"/stories/{SLUG}/feed.atom")).headers["etag"]
        await api.post(SLUG, "<p>More.</p>")
        after = (await api.http.get(f"/stories/{SLUG}/feed.atom")).headers["etag"]
        assert before != after

    async def test_an_unknown_story_and_a_stray_parameter_are_4xx(self, api: Api) -> None:
        missing = await api.http.get("/stories/no-such-story/feed.atom")
        assert missing.status_code == 404
        assert "no-such-story" in missing.json()["error"]["message"]
        await api.open_story(SLUG)
        stray = await api.http.get(f"/stories/{SLUG}/feed.json?page=2")
        assert stray.status_code == 422


class TestFeedsOnSQLite(FeedSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestFeedsOnPostgreSQL(FeedSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url


async def test_allowed_sites_may_read_from_the_browser_and_others_may_not(
    sqlite_url: str,
) -> None:
    issue_tokens(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, write_rate=None,
                              allowed_origins=("https://news.example",)))  # fmt: skip
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://liveblog.test") as http:
            allowed = await http.get("/api/stories", headers={"Origin": "https://news.example"})
            assert allowed.headers["access-control-allow-origin"] == "https://news.example"
            assert allowed.headers["vary"] == "Origin"
            other = await http.get("/api/stories", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
            sse = await http.get(
                "/api/stories/any/live/sse", headers={"Origin": "https://evil.example"}
            )
            assert (sse.status_code, sse.json()["error"]["code"]) == (403, "forbidden_origin")


async def test_what_a_token_reads_is_never_made_public_nor_shared_with_other_sites(
    sqlite_url: str,
) -> None:
    import httpx

    tokens = issue_tokens(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, write_rate=None,
                              allowed_origins=("https://partner.example",)))  # fmt: skip
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://liveblog.test") as http:
            api = Api(http, tokens)
            await api.open_story(SLUG)
            origin = {"Origin": "https://partner.example"}
            made = await http.post(f"/api/stories/{SLUG}/drafts", json={"body": "<p>Secret</p>"},
                                   headers=bearer(tokens.reporter, **origin))  # fmt: skip
            assert made.headers["cache-control"] == "private, no-store"
            for path in (f"/api/stories/{SLUG}/drafts",
                         f"/api/stories/{SLUG}/drafts/{made.json()['id']}"):  # fmt: skip
                answer = await http.get(path, headers=bearer(tokens.editor, **origin))
                assert answer.status_code == 200
                assert answer.headers["cache-control"] == "private, no-store", path
                assert "access-control-allow-origin" not in answer.headers, path
            # A public read asked with a token is left for no shared cache to keep.
            read = await http.get(f"/api/stories/{SLUG}/updates", headers=bearer(tokens.editor))
            assert "public" not in read.headers.get("cache-control", "")
