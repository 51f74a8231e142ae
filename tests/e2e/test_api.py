"""The write and read API against a real server: a newsroom's day, request by request.

Most tests share the module's server, each on a story of its own; those that list every
story, or restart the server, have a server of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest

from liveblog.tokens import hash_token, token_id_for_hash
from tests.e2e.server import SharedServer
from tests.helpers import Doc, Tokens, auth, open_story

SLUG = "kg-protests"


def open_protests(client: httpx.Client, tokens: Tokens, slug: str) -> Doc:
    return open_story(client, tokens.editor, slug, "Kyrgyzstan protests", summary="Live coverage")


@dataclass(frozen=True)
class Desk:
    """The module's shared server, and a story of the test's own on it."""

    client: httpx.Client
    tokens: Tokens
    slug: str


@pytest.fixture
def desk(shared_server: SharedServer) -> Iterator[Desk]:
    slug = f"kg-{uuid4().hex[:12]}"
    with httpx.Client(base_url=shared_server.server.base_url, timeout=10) as client:
        open_protests(client, shared_server.tokens, slug)
        yield Desk(client, shared_server.tokens, slug)


def post(client: httpx.Client, slug: str, token: str, body: str, **extra: Any) -> httpx.Response:
    headers = auth(token)
    if "key" in extra:
        headers["Idempotency-Key"] = extra.pop("key")
    return client.post(
        f"/api/stories/{slug}/updates", json={"body": body, **extra}, headers=headers
    )


def version_of(client: httpx.Client, slug: str) -> int:
    version: int = client.get(f"/api/stories/{slug}").json()["version"]
    return version


def test_healthz_answers_once_ready(desk: Desk) -> None:
    client = desk.client
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_an_editor_opens_a_story_that_anyone_can_read(
    client: httpx.Client, tokens: Tokens
) -> None:
    slug = SLUG
    story = open_protests(client, tokens, slug)
    assert story["slug"] == slug
    assert story["status"] == "live"
    assert story["version"] == 1
    by_slug = client.get(f"/api/stories/{slug}")
    by_id = client.get(f"/api/stories/{story['id']}")
    assert by_slug.json() == by_id.json()
    assert by_slug.headers["etag"] == '"v1"'
    listed = client.get("/api/stories").json()["stories"]
    assert [s["slug"] for s in listed] == [slug]


def test_a_reporter_posts_and_readers_see_it_sanitized(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    response = post(
        client, slug, tokens.reporter, "<p>Crowds gather <script>alert(1)</script></p>"
    )
    assert response.status_code == 201
    update = response.json()
    assert update["body"] == "<p>Crowds gather </p>"
    assert update["author"]["name"] == "Rashid Reporter"
    assert update["status"] == "published"
    assert update["revision"] == 1
    assert update["story_version"] == 2
    story = client.get(f"/api/stories/{slug}").json()
    assert [u["id"] for u in story["updates"]] == [update["id"]]
    assert story["updates"][0]["published_at"].endswith("Z")


def test_a_retried_post_with_the_same_key_records_nothing(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    first = post(client, slug, tokens.reporter, "<p>Parliament to meet</p>", key="k-1")
    again = post(client, slug, tokens.reporter, "<p>Parliament to meet</p>", key="k-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    assert version_of(client, slug) == 2
    # The same key from another token is another update.
    other = post(client, slug, tokens.other_reporter, "<p>Parliament to meet</p>", key="k-1")
    assert other.json()["id"] != first.json()["id"]
    assert version_of(client, slug) == 3
    # The same key with other content is a conflict, not a silent overwrite.
    reused = post(client, slug, tokens.reporter, "<p>Something else</p>", key="k-1")
    assert reused.status_code == 409
    assert version_of(client, slug) == 3


def test_corrections_keep_every_revision_and_show_a_note(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    update = post(client, slug, tokens.reporter, "<p>Session at 15:00</p>").json()
    url = f"/api/stories/{slug}/updates/{update['id']}/corrections"
    fixed = client.post(
        url,
        json={"body": "<p>Session at 16:00</p>", "note": "The session starts at 16:00."},
        headers=auth(tokens.reporter, **{"If-Match": '"r1"'}),
    )
    assert fixed.status_code == 200, fixed.text
    corrected = fixed.json()
    assert corrected["revision"] == 2
    assert corrected["body"] == "<p>Session at 16:00</p>"
    assert [c["note"] for c in corrected["corrections"]] == ["The session starts at 16:00."]
    stale = client.post(
        url,
        json={"body": "<p>Session at 17:00</p>", "note": "late"},
        headers=auth(tokens.editor, **{"If-Match": '"r1"'}),
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "conflict"
    revisions_url = f"/api/stories/{slug}/updates/{update['id']}/revisions"
    public = client.get(revisions_url).json()["revisions"]
    assert [r["revision"] for r in public] == [1, 2]
    assert "body" not in public[0]  # old bodies are for editors
    for_editor = client.get(revisions_url, headers=auth(tokens.editor)).json()["revisions"]
    assert [r["body"] for r in for_editor] == [
        "<p>Session at 15:00</p>",
        "<p>Session at 16:00</p>",
    ]


def test_a_reporter_may_not_correct_another_reporters_update(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    update = post(client, slug, tokens.reporter, "<p>Original</p>").json()
    response = client.post(
        f"/api/stories/{slug}/updates/{update['id']}/corrections",
        json={"body": "<p>Changed</p>", "note": "n"},
        headers=auth(tokens.other_reporter),
    )
    assert response.status_code == 403
    assert version_of(client, slug) == 2


def test_a_retraction_leaves_a_tombstone_with_the_reason(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    update = post(
        client, slug, tokens.reporter, "<p>Unconfirmed report</p>", title="Rumour"
    ).json()
    response = client.post(
        f"/api/stories/{slug}/updates/{update['id']}/retraction",
        json={"reason": "The report could not be confirmed."},
        headers=auth(tokens.editor),
    )
    assert response.status_code == 200
    tombstone = client.get(f"/api/stories/{slug}").json()["updates"][0]
    assert tombstone["status"] == "retracted"
    assert tombstone["body"] == ""
    assert "Unconfirmed" not in str(tombstone)
    assert tombstone["retraction"]["reason"] == "The report could not be confirmed."
    again = client.post(
        f"/api/stories/{slug}/updates/{update['id']}/corrections",
        json={"body": "<p>x</p>", "note": "n"},
        headers=auth(tokens.editor),
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "update_retracted"


def test_editors_pin_and_mark_key_events(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    update = post(
        client, slug, tokens.reporter, "<p>Results annulled</p>", title="Annulled"
    ).json()
    url = f"/api/stories/{slug}/updates/{update['id']}"
    assert (
        client.patch(url, json={"pinned": True}, headers=auth(tokens.reporter)).status_code == 403
    )
    flagged = client.patch(
        url, json={"pinned": True, "key_event": True}, headers=auth(tokens.editor)
    )
    assert flagged.status_code == 200
    assert flagged.json()["pinned"] is True
    assert flagged.json()["key_event"] is True
    story = client.get(f"/api/stories/{slug}").json()
    assert [p["id"] for p in story["pinned"]] == [update["id"]]
    assert story["key_events"] == [
        {"id": update["id"], "title": "Annulled", "published_at": update["published_at"]}
    ]
    assert story["version"] == 4


def test_editing_the_story_honours_if_match(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    edited = client.patch(
        f"/api/stories/{slug}",
        json={"title": "Kyrgyzstan: election annulled"},
        headers=auth(tokens.editor, **{"If-Match": '"v1"'}),
    )
    assert edited.status_code == 200
    assert edited.json()["title"] == "Kyrgyzstan: election annulled"
    assert edited.headers["etag"] == '"v2"'
    stale = client.patch(
        f"/api/stories/{slug}",
        json={"summary": "x"},
        headers=auth(tokens.editor, **{"If-Match": '"v1"'}),
    )
    assert stale.status_code == 409
    assert version_of(client, slug) == 2


def test_a_closed_story_refuses_posts_until_reopened(client: httpx.Client, tokens: Tokens) -> None:
    slug = SLUG
    open_protests(client, tokens, slug)
    closed = client.post(f"/api/stories/{slug}/close", headers=auth(tokens.editor))
    assert closed.json()["status"] == "closed"
    assert closed.json()["coverage_end"] is not None
    refused = post(client, slug, tokens.reporter, "<p>late</p>")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "story_closed"
    assert client.get("/api/stories?status=closed").json()["stories"][0]["slug"] == slug
    assert client.get("/api/stories?status=live").json()["stories"] == []
    reopened = client.post(f"/api/stories/{slug}/reopen", headers=auth(tokens.editor))
    assert reopened.json()["status"] == "live"
    assert post(client, slug, tokens.reporter, "<p>back</p>").status_code == 201


def test_if_none_match_gets_304_until_the_story_changes(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    first = client.get(f"/api/stories/{slug}")
    cached = client.get(f"/api/stories/{slug}", headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 304
    assert cached.content == b""
    post(client, slug, tokens.reporter, "<p>news</p>")
    fresh = client.get(f"/api/stories/{slug}", headers={"If-None-Match": first.headers["etag"]})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"v2"'


def test_editors_read_the_raw_history(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    for n in range(3):
        post(client, slug, tokens.reporter, f"<p>{n}</p>")
    assert client.get(f"/api/stories/{slug}/events").status_code == 401
    assert (
        client.get(f"/api/stories/{slug}/events", headers=auth(tokens.reporter)).status_code == 403
    )
    page = client.get(
        f"/api/stories/{slug}/events?after=1&limit=2", headers=auth(tokens.editor)
    ).json()
    assert [e["version"] for e in page["events"]] == [2, 3]
    assert page["events"][0]["type"] == "update.posted"
    assert page["events"][0]["actor"]["name"] == "Rashid Reporter"
    assert page["next"] == 3


def test_the_story_is_readable_as_it_was_at_an_earlier_version(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    post(client, slug, tokens.reporter, "<p>one</p>")
    post(client, slug, tokens.reporter, "<p>two</p>")
    assert client.get(f"/api/stories/{slug}?at_version=2").status_code == 401
    then = client.get(f"/api/stories/{slug}?at_version=2", headers=auth(tokens.editor)).json()
    assert then["version"] == 2
    assert [u["body"] for u in then["updates"]] == ["<p>one</p>"]


def test_ids_survive_a_restart_and_a_retry_after_it_records_nothing(
    server: Any, tokens: Tokens
) -> None:
    slug = SLUG
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        open_protests(client, tokens, slug)
        first = post(
            client, slug, tokens.reporter, "<p>before restart</p>", key="restart-1"
        ).json()
    server.stop()
    server.start()
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        again = post(client, slug, tokens.reporter, "<p>before restart</p>", key="restart-1")
        assert again.json()["id"] == first["id"]
        assert version_of(client, slug) == 2


def test_a_token_record_is_never_readable_as_a_story(desk: Desk) -> None:
    client, tokens = desk.client, desk.tokens
    token_aggregate_id = token_id_for_hash(hash_token(tokens.editor))
    assert client.get(f"/api/stories/{token_aggregate_id}").status_code == 404
    history = client.get(f"/api/stories/{token_aggregate_id}/events", headers=auth(tokens.editor))
    assert history.status_code == 404


def test_time_travel_beyond_the_story_is_not_found_and_any_etag_matches_star(desk: Desk) -> None:
    client, tokens, slug = desk.client, desk.tokens, desk.slug
    ahead = client.get(f"/api/stories/{slug}?at_version=9", headers=auth(tokens.editor))
    assert ahead.status_code == 404
    star = client.get(f"/api/stories/{slug}", headers={"If-None-Match": "*"})
    assert star.status_code == 304
