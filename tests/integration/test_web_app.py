"""The web layer in this process: the app from ``create_app`` on a SQLite file, called
through ``httpx.ASGITransport`` with its lifespan run as a server runs it.

No subprocess and no socket, so these run in a fraction of a second; the same answers
on the wire, through uvicorn, are the end-to-end tests' (``tests/e2e``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.helpers import Api, assert_secured, auth, bearer
from tests.integration.in_process import in_process_api

SLUG = "in-process"
READY_ANSWERS = 'liveblog_http_ready_answers_total{status="200"}'


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with in_process_api(f"sqlite:///{tmp_path / 'web.sqlite3'}") as api:
        yield api


async def test_a_story_answers_with_its_etag_and_304_while_it_has_not_changed(api: Api) -> None:
    opened = await api.open_story(SLUG)

    first = await api.http.get(f"/api/stories/{SLUG}")
    assert first.status_code == 200
    assert first.json() == opened
    assert first.headers["etag"] == '"v1"'
    unchanged = await api.http.get(f"/api/stories/{SLUG}", headers={"If-None-Match": '"v1"'})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == '"v1"'

    await api.post(SLUG, "<p>Polls closed.</p>")
    changed = await api.http.get(
        f"/api/stories/{SLUG}?min_version=2", headers={"If-None-Match": '"v1"'}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"v2"'
    assert changed.json()["version"] == 2


async def test_a_story_the_hub_holds_is_answered_before_routing_with_the_same_bytes(
    api: Api,
) -> None:
    await api.open_story(SLUG)
    await api.post(SLUG, "<p>Polls closed.</p>")
    routed = await api.http.get(f"/api/stories/{SLUG}?min_version=2")  # renders, caches
    before = (await api.metrics()).get(READY_ANSWERS, 0.0)

    ready = await api.http.get(f"/api/stories/{SLUG}")

    assert (await api.metrics())[READY_ANSWERS] == before + 1
    assert ready.status_code == routed.status_code == 200
    assert ready.content == routed.content
    assert ready.headers["etag"] == routed.headers["etag"] == '"v2"'
    assert ready.headers["content-type"] == routed.headers["content-type"]
    assert_secured(ready.headers, "ready answer")
    tagged = await api.http.get(f"/api/stories/{SLUG}", headers={"If-None-Match": '"v2"'})
    assert tagged.status_code == 304
    assert (await api.metrics())[READY_ANSWERS] == before + 1  # a 304 is counted apart


async def test_a_post_is_stored_cleaned_and_a_retry_with_its_key_records_nothing(
    api: Api,
) -> None:
    await api.open_story(SLUG)
    path = f"/api/stories/{SLUG}/updates"
    body = {"body": "<p>Crowds gather <script>alert(1)</script></p>"}
    headers = auth(api.tokens.reporter, **{"Idempotency-Key": "k-1"})

    first = await api.http.post(path, json=body, headers=headers)
    again = await api.http.post(path, json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    update = first.json()
    assert update["body"] == "<p>Crowds gather </p>"
    assert update["author"]["name"] == "Rashid Reporter"
    assert update["story_version"] == 2
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == update["id"]
    story = await api.story(SLUG)
    assert story["version"] == 2
    assert [u["id"] for u in story["updates"]] == [update["id"]]


@dataclass(frozen=True)
class Refused:
    method: str
    path: str
    status: int
    code: str
    reporter: bool = False  # send the reporter's token (else none)
    content: bytes | None = None


REFUSED = [
    Refused("GET", "/api/stories/no-such-story", 404, "not_found"),
    Refused("POST", f"/api/stories/{SLUG}/updates", 401, "unauthorized", content=b'{"body": "x"}'),
    Refused("POST", f"/api/stories/{SLUG}/close", 403, "forbidden", reporter=True),
    Refused("POST", f"/api/stories/{SLUG}/updates", 400, "malformed_json", reporter=True,
            content=b'{"body": '),
    Refused("GET", f"/api/stories/{SLUG}?limt=5", 422, "unknown_parameter"),
]  # fmt: skip


@pytest.mark.parametrize("case", REFUSED, ids=[c.code for c in REFUSED])
async def test_an_error_is_a_json_error_with_its_code_and_changes_nothing(
    api: Api, case: Refused
) -> None:
    await api.open_story(SLUG)
    headers = {"Content-Type": "application/json"}
    if case.reporter:
        headers.update(bearer(api.tokens.reporter))

    response = await api.http.request(
        case.method, case.path, content=case.content, headers=headers
    )

    assert response.status_code == case.status, response.text
    error = response.json()["error"]
    assert error["code"] == case.code
    assert error["message"]
    assert_secured(response.headers, f"{case.method} {case.path}")
    assert (await api.story(SLUG))["version"] == 1


async def test_every_404_for_an_unknown_story_names_the_story_as_it_was_sent(api: Api) -> None:
    """Not the id the server derives from it: the client sent a slug."""
    slug, update = "no-such-story", "0b7e9d2c-5d0e-4c47-9f35-3b1b8f0f4a11"
    editor = auth(api.tokens.editor)
    calls = [
        ("GET", f"/api/stories/{slug}", None),
        ("GET", f"/api/stories/{slug}/updates", None),
        ("GET", f"/api/stories/{slug}/updates/{update}", None),
        ("GET", f"/api/stories/{slug}/updates/{update}/revisions", None),
        ("GET", f"/api/stories/{slug}/events", None),
        ("GET", f"/api/stories/{slug}/events?type=update.posted", None),
        ("GET", f"/api/stories/{slug}?at_version=1", None),
        ("PATCH", f"/api/stories/{slug}", {"title": "T"}),
        ("POST", f"/api/stories/{slug}/close", None),
        ("POST", f"/api/stories/{slug}/updates", {"body": "<p>B</p>"}),
        ("POST", f"/api/stories/{slug}/updates/{update}/corrections", {"body": "b", "note": "n"}),
        ("POST", f"/api/stories/{slug}/updates/{update}/retraction", {"reason": "r"}),
        ("POST", f"/api/stories/{slug}/updates/{update}/reinstatement", {"reason": "r"}),
    ]
    for method, path, body in calls:
        response = await api.http.request(method, path, json=body, headers=editor)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["message"] == f"no story {slug!r}", path


async def test_a_404_names_a_story_sent_with_any_characters(api: Api) -> None:
    """The name goes into the message as its repr: escapes stay text, never a pattern."""
    for ref in ("a\\x19b", "\x19\\1", "\\g<0>", "é\u2028"):
        response = await api.http.post(
            f"/api/stories/{quote(ref, safe='')}/close", headers=auth(api.tokens.editor)
        )
        assert response.status_code == 404, (ref, response.text)
        assert response.json()["error"]["message"] == f"no story {ref!r}"
