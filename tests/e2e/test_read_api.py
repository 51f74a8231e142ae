"""The read API against a real server: pages, caching, read-your-writes, time travel.

One server serves the whole module (each test opens stories with its own slugs); what the
server answers is checked against the one fold (``projections``) run here, in the test
process, over the events read straight from the same SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import orjson
import pytest

from liveblog.newsroom import Newsroom
from projections.story import StoryView, fold
from projections.wire import folded_story_bytes
from tests.e2e.server import SharedServer
from tests.helpers import auth, get_json, open_newsroom, open_story, post, post_many


@pytest.fixture
def client(shared_server: SharedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.server.base_url, timeout=10) as http:
        yield http


@pytest.fixture
def newsroom(shared_server: SharedServer) -> Iterator[Newsroom]:
    """The store the server writes to, opened directly: the test's own view of the truth."""
    app = open_newsroom(shared_server.server.database_url)
    yield app
    app.close()


def follow_pages(
    client: httpx.Client, slug: str, limit: int, before: str | None = None, **query: str
) -> list[list[str]]:
    """Every page of ``/updates`` from ``before`` on, following ``next`` until null."""
    pages: list[list[str]] = []
    cursor = before
    while True:
        params = {"limit": str(limit), **query}
        if cursor is not None:
            params["before"] = cursor
        page = get_json(client, f"/api/stories/{slug}/updates", params=params)
        ids = [u["id"] for u in page["updates"]]
        pages.append(ids)
        assert len(pages) <= 100, "the cursor never ran out"
        if page["next"] is None:
            return pages
        assert page["next"] == ids[-1]
        cursor = page["next"]


def folded(newsroom: Newsroom, story_id: str, upto: int | None = None) -> StoryView:
    events = newsroom.story_events(UUID(story_id), upto=upto)
    state = fold(events)
    assert state is not None
    return state


# -- pagination -------------------------------------------------------------------------


def test_following_next_pages_through_every_update_newest_first_exactly_once(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "pages-all")
    posted = post_many(client, tokens.reporter, "pages-all", 25)
    pages = follow_pages(client, "pages-all", limit=7)
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [i for p in pages for i in p] == posted[::-1]
    # A last page that is exactly full still ends the walk: next is null, not an empty page.
    fives = follow_pages(client, "pages-all", limit=5)
    assert [len(p) for p in fives] == [5, 5, 5, 5, 5]
    assert [i for p in fives for i in p] == posted[::-1]
    whole = get_json(client, "/api/stories/pages-all/updates", params={"limit": "25"})
    assert whole["next"] is None
    almost = get_json(client, "/api/stories/pages-all/updates", params={"limit": "24"})
    assert almost["next"] == posted[1]
    assert [u["id"] for u in almost["updates"]] == posted[:0:-1]


def test_the_default_page_is_twenty_updates(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "pages-default")
    posted = post_many(client, tokens.reporter, "pages-default", 20)
    exactly = get_json(client, "/api/stories/pages-default")
    assert [u["id"] for u in exactly["updates"]] == posted[::-1]
    assert exactly["next"] is None  # twenty and no more: nothing older to fetch
    listed = get_json(client, "/api/stories/pages-default/updates")
    assert [u["id"] for u in listed["updates"]] == posted[::-1]
    assert listed["next"] is None
    posted += post_many(client, tokens.reporter, "pages-default", 25, start=20)
    story = get_json(client, "/api/stories/pages-default")
    assert [u["id"] for u in story["updates"]] == posted[:4:-1]
    assert story["next"] == posted[5]  # the id of the 20th newest
    rest = follow_pages(client, "pages-default", limit=20, before=story["next"])
    assert rest == [posted[4::-1]]


def test_a_cursor_neither_repeats_nor_skips_while_new_updates_arrive(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "pages-stable")
    posted = post_many(client, tokens.reporter, "pages-stable", 25)
    first = get_json(client, "/api/stories/pages-stable/updates", params={"limit": "7"})
    newer = post_many(client, tokens.reporter, "pages-stable", 5)
    rest = follow_pages(client, "pages-stable", limit=7, before=first["next"])
    seen = [u["id"] for u in first["updates"]] + [i for p in rest for i in p]
    assert seen == posted[::-1]
    assert not set(seen) & set(newer)
    # The newcomers are on top of a fresh first page, before everything seen so far.
    fresh = get_json(client, "/api/stories/pages-stable/updates", params={"limit": "7"})
    assert [u["id"] for u in fresh["updates"]] == newer[::-1] + posted[:-3:-1]


def test_key_events_pages_hold_only_key_events(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "pages-key")
    key_ids: list[str] = []
    for n in range(12):
        key = n % 3 == 0
        update = post(client, tokens.editor, "pages-key", f"<p>{n}</p>", key_event=key)
        assert update["key_event"] is key
        if key:
            key_ids.append(update["id"])
    pages = follow_pages(client, "pages-key", limit=3, key_events="true")
    assert [len(p) for p in pages] == [3, 1]
    assert [i for p in pages for i in p] == key_ids[::-1]
    one = get_json(
        client, "/api/stories/pages-key/updates", params={"key_events": "true", "limit": "100"}
    )
    assert all(u["key_event"] for u in one["updates"])
    assert one["next"] is None
    story = get_json(client, "/api/stories/pages-key")
    assert [k["id"] for k in story["key_events"]] == key_ids[::-1]
    assert len(story["updates"]) == 12


@pytest.mark.parametrize(
    "query",
    [
        {"before": str(uuid4())},
        {"before": "not-an-update"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "seven"},
        {"key_events": "perhaps"},
    ],
)
def test_bad_page_queries_are_422(
    client: httpx.Client, shared_server: SharedServer, query: dict[str, str]
) -> None:
    slug = f"pages-bad-{uuid4().hex[:8]}"
    open_story(client, shared_server.tokens.editor, slug)
    post(client, shared_server.tokens.reporter, slug, "<p>one</p>")
    response = client.get(f"/api/stories/{slug}/updates", params=query)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_query"


def test_a_cursor_from_another_story_is_422_and_limit_100_is_allowed(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "pages-mine")
    open_story(client, tokens.editor, "pages-theirs")
    mine = post(client, tokens.reporter, "pages-mine", "<p>mine</p>")
    theirs = post(client, tokens.reporter, "pages-theirs", "<p>theirs</p>")
    foreign = client.get("/api/stories/pages-mine/updates", params={"before": theirs["id"]})
    assert foreign.status_code == 422
    own = get_json(client, "/api/stories/pages-mine/updates", params={"before": mine["id"]})
    assert own == {"updates": [], "next": None}
    most = get_json(client, "/api/stories/pages-mine/updates", params={"limit": "100"})
    assert [u["id"] for u in most["updates"]] == [mine["id"]]
    assert client.get(f"/api/stories/{uuid4()}/updates").status_code == 404


# -- ETag and If-None-Match -------------------------------------------------------------


def test_if_none_match_answers_304_with_the_same_etag(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "etag-match")
    post(client, tokens.reporter, "etag-match", "<p>one</p>")
    post(client, tokens.reporter, "etag-match", "<p>two</p>")
    current = client.get("/api/stories/etag-match")
    assert current.headers["etag"] == '"v3"'
    assert current.json()["version"] == 3
    for header in ('"v3"', 'W/"v3"', '"v1", "v3"', 'W/"v2",W/"v3"'):
        cached = client.get("/api/stories/etag-match", headers={"If-None-Match": header})
        assert cached.status_code == 304, header
        assert cached.content == b""
        assert cached.headers["etag"] == '"v3"'
    for header in ('"v2"', '"v1", "v2"', '"v33"', "v3", '"3"'):
        fresh = client.get("/api/stories/etag-match", headers={"If-None-Match": header})
        assert fresh.status_code == 200, header
        assert fresh.json() == current.json()


def test_the_unrouted_answer_equals_the_routed_one(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    # A plain GET of a story whose render is cached is answered before routing; with
    # any query string it takes the route and the handler. Both must say the same.
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "unrouted")
    post(client, tokens.reporter, "unrouted", "<p>one</p>")
    client.get("/api/stories/unrouted?min_version=2")  # the render is now cached

    def answer(query: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        # The same request id for both: each path echoes it (or would make its own).
        response = client.get(
            f"/api/stories/unrouted{query}", headers={"X-Request-ID": "same", **headers}
        )
        kept = {k: v for k, v in response.headers.items() if k not in ("date", "server")}
        return response.status_code, kept, response.content

    for headers in ({}, {"If-None-Match": '"v2"'}, {"If-None-Match": "*"},
                    {"If-None-Match": '"v1"'}, {"If-None-Match": 'W/"v1", W/"v2"'}):  # fmt: skip
        unrouted = answer("", **headers)
        assert unrouted == answer("?min_version=1", **headers), headers
        assert unrouted[0] in (200, 304)


def test_every_kind_of_write_changes_the_etag(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    editor = auth(tokens.editor)
    base = "/api/stories/etag-writes"
    open_story(client, tokens.editor, "etag-writes")
    update = post(client, tokens.reporter, "etag-writes", "<p>first</p>")
    target = f"{base}/updates/{update['id']}"
    writes: list[Callable[[], httpx.Response]] = [
        lambda: client.post(
            f"{base}/updates", json={"body": "<p>second</p>"}, headers=auth(tokens.reporter)
        ),
        lambda: client.post(
            f"{target}/corrections", json={"body": "<p>1st</p>", "note": "typo"}, headers=editor
        ),
        lambda: client.patch(target, json={"pinned": True}, headers=editor),
        lambda: client.patch(target, json={"key_event": True}, headers=editor),
        lambda: client.post(f"{target}/retraction", json={"reason": "wrong"}, headers=editor),
        lambda: client.patch(base, json={"title": "Election night, day two"}, headers=editor),
        lambda: client.post(f"{base}/close", headers=editor),
        lambda: client.post(f"{base}/reopen", headers=editor),
    ]
    tags = [client.get(base).headers["etag"]]
    for write in writes:
        result = write()
        assert result.status_code in (200, 201), result.text
        after = client.get(base, headers={"If-None-Match": tags[-1]})
        assert after.status_code == 200
        assert after.headers["etag"] == f'"v{after.json()["version"]}"'
        tags.append(after.headers["etag"])
    assert len(set(tags)) == len(tags) == 9
    assert tags[-1] == '"v10"'


# -- read your writes -------------------------------------------------------------------


def test_a_reporter_always_reads_the_post_just_made(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "ryw-loop")
    for n in range(30):
        update = post(client, tokens.reporter, "ryw-loop", f"<p>flash {n}</p>")
        story = get_json(client, "/api/stories/ryw-loop")
        assert story["updates"][0]["id"] == update["id"], n
        assert story["updates"][0]["body"] == f"<p>flash {n}</p>"
        assert story["version"] >= update["story_version"] == n + 2


def test_min_version_answers_with_that_version_or_newer(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "ryw-min")
    update = post(client, tokens.reporter, "ryw-min", "<p>in</p>")
    wanted = update["story_version"]
    for url in ("/api/stories/ryw-min", "/api/stories/ryw-min/updates"):
        response = client.get(url, params={"min_version": str(wanted)})
        assert response.status_code == 200
        assert response.json()["updates"][0]["id"] == update["id"]
    story = get_json(client, "/api/stories/ryw-min", params={"min_version": "1"})
    assert story["version"] >= wanted
    revisions = client.get(
        f"/api/stories/ryw-min/updates/{update['id']}/revisions",
        params={"min_version": str(wanted)},
    )
    assert revisions.status_code == 200


def test_a_version_the_log_does_not_hold_is_404_not_a_wait(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    # Waiting (then 503 not_yet) is for views that lag the log; a version the log does
    # not hold was never given to any client, and no wait brings it.
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "ryw-future")
    update = post(client, tokens.reporter, "ryw-future", "<p>one</p>")
    for url in ("/api/stories/ryw-future", "/api/stories/ryw-future/updates",
                f"/api/stories/ryw-future/updates/{update['id']}/revisions"):  # fmt: skip
        response = client.get(url, params={"min_version": "1000000"})
        assert response.status_code == 404, url
        assert response.json()["error"] == {
            "code": "not_found",
            "message": "the story has no version 1000000 yet",
        }
        assert "etag" not in response.headers
        assert client.get(url, params={"min_version": "2"}).status_code == 200, url
    for bad in ("0", "-1", "soon"):
        invalid = client.get("/api/stories/ryw-future", params={"min_version": bad})
        assert invalid.status_code == 422, bad


# -- time travel ------------------------------------------------------------------------


def a_day_in_the_life(client: httpx.Client, shared_server: SharedServer, slug: str) -> str:
    """Open, post, correct, retract, pin, mark, edit the title, close: every kind of event."""
    tokens = shared_server.tokens
    editor = auth(tokens.editor)
    story_id: str = open_story(client, tokens.editor, slug, title="Polls close")["id"]
    first = post(client, tokens.reporter, slug, "<p>Turnout 40%</p>", title="Turnout")
    second = post(client, tokens.other_reporter, slug, "<p>Rumour of a recount</p>")
    third = post(client, tokens.reporter, slug, "<p>First results</p>", title="Results")
    base = f"/api/stories/{slug}/updates"
    writes = [
        client.post(
            f"{base}/{first['id']}/corrections",
            json={"body": "<p>Turnout 41%</p>", "note": "Updated figure."},
            headers=auth(tokens.reporter),
        ),
        client.post(
            f"{base}/{second['id']}/retraction", json={"reason": "Unconfirmed."}, headers=editor
        ),
        client.patch(f"{base}/{third['id']}", json={"pinned": True}, headers=editor),
        client.patch(f"{base}/{first['id']}", json={"key_event": True}, headers=editor),
        client.patch(f"/api/stories/{slug}", json={"title": "Polls closed"}, headers=editor),
        client.post(f"/api/stories/{slug}/close", headers=editor),
    ]
    assert [w.status_code for w in writes] == [200] * 6
    return story_id


def test_at_version_is_the_fold_of_the_first_n_events(
    client: httpx.Client, shared_server: SharedServer, newsroom: Newsroom
) -> None:
    story_id = a_day_in_the_life(client, shared_server, "travel-versions")
    editor = auth(shared_server.tokens.editor)
    total = len(newsroom.story_events(UUID(story_id)))
    assert total == 10
    seen: list[dict[str, Any]] = []
    for n in range(1, total + 1):
        params = {"at_version": str(n)}
        then = get_json(client, f"/api/stories/{story_id}", params=params, headers=editor)
        assert then == orjson.loads(folded_story_bytes(folded(newsroom, story_id, upto=n))), n
        seen.append(then)
    # The fold is not merely agreeing with itself: spot-check what readers saw.
    assert [s["version"] for s in seen] == list(range(1, 11))
    assert seen[0]["updates"] == []
    assert seen[0]["title"] == "Polls close"
    assert [u["body"] for u in seen[3]["updates"]] == [
        "<p>First results</p>",
        "<p>Rumour of a recount</p>",
        "<p>Turnout 40%</p>",
    ]
    assert seen[4]["updates"][2]["body"] == "<p>Turnout 41%</p>"
    assert seen[4]["updates"][1]["status"] == "published"
    assert seen[5]["updates"][1]["status"] == "retracted"
    assert seen[5]["updates"][1]["body"] == ""
    assert seen[5]["pinned"] == []
    assert [p["title"] for p in seen[6]["pinned"]] == ["Results"]
    assert seen[6]["key_events"] == []
    assert [k["title"] for k in seen[7]["key_events"]] == ["Turnout"]
    assert seen[7]["title"] == "Polls close"
    assert seen[8]["title"] == "Polls closed"
    assert seen[8]["status"] == "live"
    assert seen[9]["status"] == "closed"
    assert seen[9]["coverage_end"] is not None
    assert seen[8]["coverage_end"] is None
    # Time travel is never cached: it is a different document from the same URL.
    travelled = client.get(f"/api/stories/{story_id}", params={"at_version": "1"}, headers=editor)
    assert travelled.headers["cache-control"] == "private, no-store"
    assert "etag" not in travelled.headers


def test_the_live_story_equals_the_fold_of_all_its_events(
    client: httpx.Client, shared_server: SharedServer, newsroom: Newsroom
) -> None:
    story_id = a_day_in_the_life(client, shared_server, "travel-live")
    live = get_json(client, "/api/stories/travel-live", params={"min_version": "10"})
    assert live["version"] == 10
    assert live == orjson.loads(folded_story_bytes(folded(newsroom, story_id)))
    # And with more than one page, so that ``next`` and the page edge are compared too.
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "travel-long")
    posted = post_many(client, tokens.reporter, "travel-long", 23)
    client.patch(
        f"/api/stories/travel-long/updates/{posted[0]}",
        json={"pinned": True, "key_event": True},
        headers=auth(tokens.editor),
    )
    long = get_json(client, "/api/stories/travel-long")
    assert long["next"] == posted[3]
    assert long == orjson.loads(folded_story_bytes(folded(newsroom, long["id"])))


def test_at_a_moment_equals_at_the_version_recorded_then(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    story_id = a_day_in_the_life(client, shared_server, "travel-moments")
    editor = auth(shared_server.tokens.editor)
    url = f"/api/stories/{story_id}"
    history = get_json(client, f"{url}/events", params={"limit": "1000"}, headers=editor)
    events = history["events"]
    assert [e["version"] for e in events] == list(range(1, 11))
    for event in events:
        at = get_json(client, url, params={"at": event["at"]}, headers=editor)
        params = {"at_version": str(event["version"])}
        by_version = get_json(client, url, params=params, headers=editor)
        assert at == by_version, event
        assert at["version"] == event["version"]
    opened = datetime.fromisoformat(events[0]["at"].replace("Z", "+00:00"))
    before = (opened - timedelta(seconds=1)).isoformat()
    too_early = client.get(url, params={"at": before}, headers=editor)
    assert too_early.status_code == 404
    assert too_early.json()["error"]["code"] == "not_found"
    later = (opened + timedelta(days=1)).isoformat()
    assert get_json(client, url, params={"at": later}, headers=editor)["version"] == 10


def test_only_editors_travel_in_time(client: httpx.Client, shared_server: SharedServer) -> None:
    tokens = shared_server.tokens
    story_id: str = open_story(client, tokens.editor, "travel-who")["id"]
    at = get_json(client, "/api/stories/travel-who")["created_at"]
    for params in ({"at_version": "1"}, {"at": at}):
        anonymous = client.get(f"/api/stories/{story_id}", params=params)
        assert anonymous.status_code == 401, params
        assert anonymous.json()["error"]["code"] == "unauthorized"
        reporter = client.get(
            f"/api/stories/{story_id}", params=params, headers=auth(tokens.reporter)
        )
        assert reporter.status_code == 403, params
        assert reporter.json()["error"]["code"] == "forbidden"
        editor = client.get(f"/api/stories/{story_id}", params=params, headers=auth(tokens.editor))
        assert editor.status_code == 200, params
    for params in (
        {"at_version": "1", "at": at},
        {"at": "yesterday"},
        {"at": "2024-05-01T10:00:00"},  # no time zone
        {"at_version": "0"},
    ):
        bad = client.get(f"/api/stories/{story_id}", params=params, headers=auth(tokens.editor))
        assert bad.status_code == 422, params


# -- revisions --------------------------------------------------------------------------


def test_readers_see_only_the_current_body_and_editors_every_revision(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "revisions-bodies")
    update = post(client, tokens.reporter, "revisions-bodies", "<p>Three dead</p>")
    url = f"/api/stories/revisions-bodies/updates/{update['id']}"
    for body, note in (("<p>Four dead</p>", "Police figure."), ("<p>Five dead</p>", "Later.")):
        fixed = client.post(
            f"{url}/corrections", json={"body": body, "note": note}, headers=auth(tokens.reporter)
        )
        assert fixed.status_code == 200, fixed.text
    public = get_json(client, f"{url}/revisions")
    assert public["update_id"] == update["id"]
    rows = public["revisions"]
    assert [r["revision"] for r in rows] == [1, 2, 3]
    assert [r["note"] for r in rows] == [None, "Police figure.", "Later."]
    assert {r["by"]["name"] for r in rows} == {"Rashid Reporter"}
    assert all(r["at"].endswith("Z") for r in rows)
    assert ["body" in r for r in rows] == [False, False, True]
    assert rows[2]["body"] == "<p>Five dead</p>"
    as_reporter = get_json(client, f"{url}/revisions", headers=auth(tokens.reporter))
    assert as_reporter == public  # old bodies are for editors, not for every token
    as_editor = get_json(client, f"{url}/revisions", headers=auth(tokens.editor))
    assert [r["body"] for r in as_editor["revisions"]] == [
        "<p>Three dead</p>",
        "<p>Four dead</p>",
        "<p>Five dead</p>",
    ]
    unknown = client.get(f"/api/stories/revisions-bodies/updates/{uuid4()}/revisions")
    assert unknown.status_code == 404


def test_a_retracted_update_shows_readers_no_body_anywhere(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "revisions-retracted")
    update = post(
        client, tokens.reporter, "revisions-retracted", "<p>Minister resigns</p>", title="Quits"
    )
    url = f"/api/stories/revisions-retracted/updates/{update['id']}"
    fixed = client.post(
        f"{url}/corrections",
        json={"body": "<p>Minister to resign</p>", "note": "Not yet."},
        headers=auth(tokens.reporter),
    )
    assert fixed.status_code == 200
    retracted = client.post(
        f"{url}/retraction",
        json={"reason": "Denied by the ministry."},
        headers=auth(tokens.editor),
    )
    assert retracted.status_code == 200
    assert retracted.json()["body"] == ""
    public = get_json(client, f"{url}/revisions")
    # The retraction is a revision too, with its reason; no revision shows a text.
    assert [(r["revision"], r["kind"]) for r in public["revisions"]] == [
        (1, "posted"), (2, "corrected"), (3, "retracted"),
    ]  # fmt: skip
    assert public["revisions"][2]["note"] == "Denied by the ministry."
    assert not any("body" in r or "title" in r for r in public["revisions"])
    assert "resign" not in str(public)
    story = get_json(client, "/api/stories/revisions-retracted")
    assert "resign" not in str(story)
    assert "Quits" not in str(story)
    page = get_json(client, "/api/stories/revisions-retracted/updates")
    assert "resign" not in str(page)
    assert page["updates"][0]["retraction"]["reason"] == "Denied by the ministry."
    as_editor = get_json(client, f"{url}/revisions", headers=auth(tokens.editor))
    assert [r["body"] for r in as_editor["revisions"]] == [
        "<p>Minister resigns</p>",
        "<p>Minister to resign</p>",
        "",
    ]


# -- the story list ---------------------------------------------------------------------


def listed(client: httpx.Client, status: str | None = None) -> dict[str, dict[str, Any]]:
    params = {} if status is None else {"status": status}
    stories = get_json(client, "/api/stories", params=params)["stories"]
    return {s["slug"]: s for s in stories}


def test_the_story_list_filters_by_status_and_counts_updates(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tokens = shared_server.tokens
    open_story(client, tokens.editor, "list-empty")
    open_story(client, tokens.editor, "list-busy")
    busy = post_many(client, tokens.reporter, "list-busy", 3)
    open_story(client, tokens.editor, "list-done")
    done = post(client, tokens.reporter, "list-done", "<p>the end</p>")
    closed = client.post("/api/stories/list-done/close", headers=auth(tokens.editor))
    assert closed.status_code == 200
    live, ended, every = listed(client, "live"), listed(client, "closed"), listed(client)
    assert {"list-empty", "list-busy"} <= set(live)
    assert "list-done" not in live
    assert "list-done" in ended
    assert not {"list-empty", "list-busy"} & set(ended)
    assert set(every) == set(live) | set(ended)
    assert all(s["status"] == "live" for s in live.values())
    assert all(s["status"] == "closed" for s in ended.values())
    assert live["list-empty"]["update_count"] == 0
    assert live["list-empty"]["last_update_at"] is None
    last = get_json(client, "/api/stories/list-busy")["updates"][0]
    assert last["id"] == busy[-1]
    assert live["list-busy"]["update_count"] == 3
    assert live["list-busy"]["last_update_at"] == last["published_at"]
    assert live["list-busy"]["version"] == 4
    assert ended["list-done"]["update_count"] == 1
    assert ended["list-done"]["last_update_at"] == done["published_at"]
    assert ended["list-done"]["version"] == 3
    assert ended["list-done"]["coverage_end"] is not None
    assert "updates" not in ended["list-done"]
    # Oldest first, as opened.
    order = list(every)
    assert order.index("list-empty") < order.index("list-busy") < order.index("list-done")
    assert client.get("/api/stories", params={"status": "archived"}).status_code == 422
