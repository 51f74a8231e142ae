"""Bad input gets a clear 4xx with a JSON error, and the story's version does not move."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.server import LiveServer, SharedServer
from tests.helpers import Tokens, open_story, post

SLUG = "bad-input"
MISSING_UPDATE = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # "{update}" is replaced by a real update's id
    status: int
    code: str
    who: str | None = "editor"  # which token to send; None for none, "bogus" for a bad one
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str | bytes] = field(default_factory=dict)


UPDATES = f"/api/stories/{SLUG}/updates"
ONE = f"{UPDATES}/{{update}}"
CASES = [
    Case("malformed json", "POST", UPDATES, 400, "malformed_json", content=b'{"body": "x"'),
    Case("json array", "POST", UPDATES, 400, "malformed_json", content=b'["x"]'),
    Case("not json", "POST", UPDATES, 415, "unsupported_media_type", content=b"body=x",
         headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Case("too deep", "POST", UPDATES, 400, "malformed_json",
         content=b'{"body": ' + b"[" * 40 + b"]" * 40 + b"}"),
    Case("body too large", "POST", UPDATES, 413, "too_large",
         json={"body": "x" * (300 * 1024)}),
    Case("update body over 20,000", "POST", UPDATES, 422, "invalid_field",
         json={"body": "x" * 20_001}),
    Case("title over 300", "POST", UPDATES, 422, "invalid_field",
         json={"body": "x", "title": "t" * 301}),
    Case("body missing", "POST", UPDATES, 422, "invalid_field", json={"title": "t"}),
    Case("body not a string", "POST", UPDATES, 422, "invalid_field", json={"body": 42}),
    Case("pinned not a bool", "POST", UPDATES, 422, "invalid_field",
         json={"body": "x", "pinned": "yes"}),
    Case("unknown field", "POST", UPDATES, 422, "unknown_field", json={"body": "x", "color": 1}),
    Case("body empty after cleaning", "POST", UPDATES, 422, "invalid_field",
         json={"body": "<script>alert(1)</script>"}),
    Case("idempotency key too long", "POST", UPDATES, 400, "bad_request", json={"body": "x"},
         headers={"Idempotency-Key": "k" * 201}),
    Case("no token", "POST", UPDATES, 401, "unauthorized", who=None, json={"body": "x"}),
    Case("unknown token", "POST", UPDATES, 401, "unauthorized", who="bogus", json={"body": "x"}),
    Case("reporter retracts", "POST", f"{ONE}/retraction", 403, "forbidden", who="reporter",
         json={"reason": "r"}),
    Case("reporter edits story", "PATCH", f"/api/stories/{SLUG}", 403, "forbidden",
         who="reporter", json={"title": "t"}),
    Case("unknown story", "POST", "/api/stories/no-such-story/updates", 404, "not_found",
         json={"body": "x"}),
    Case("unknown update", "POST", f"{UPDATES}/{MISSING_UPDATE}/corrections", 404, "not_found",
         json={"body": "y", "note": "n"}),
    Case("malformed update id", "PATCH", f"{UPDATES}/not-a-uuid", 404, "not_found",
         json={"pinned": True}),
    Case("note over 2,000", "POST", f"{ONE}/corrections", 422, "invalid_field",
         json={"body": "y", "note": "n" * 2_001}),
    Case("correction without note", "POST", f"{ONE}/corrections", 422, "invalid_field",
         json={"body": "y"}),
    Case("correction that changes nothing", "POST", f"{ONE}/corrections", 422, "invalid_field",
         json={"body": "<p>original</p>", "note": "n"}),
    Case("reason over 2,000", "POST", f"{ONE}/retraction", 422, "invalid_field",
         json={"reason": "r" * 2_001}),
    Case("malformed If-Match", "POST", f"{ONE}/corrections", 400, "bad_request",
         json={"body": "y", "note": "n"}, headers={"If-Match": "three"}),
    # Headers arrive as latin-1: "²" (0xB2) is a digit to str.isdigit(), not to int().
    Case("If-Match with a superscript digit", "POST", f"{ONE}/corrections", 412,
         "precondition_failed", json={"body": "y", "note": "n"},
         headers={"If-Match": '"r²"'.encode("latin-1")}),
    Case("If-Match with 5,000 digits", "POST", f"{ONE}/corrections", 412,
         "precondition_failed", json={"body": "y", "note": "n"},
         headers={"If-Match": '"r' + "9" * 5_000 + '"'}),
    Case("If-Match in UTF-8", "POST", f"{ONE}/corrections", 400, "bad_request",
         json={"body": "y", "note": "n"}, headers={"If-Match": '"r²"'.encode()}),
    Case("story If-Match with a superscript digit", "PATCH", f"/api/stories/{SLUG}", 412,
         "precondition_failed", json={"title": "t"},
         headers={"If-Match": '"v¹"'.encode("latin-1")}),
    Case("story If-Match with 5,000 digits", "PATCH", f"/api/stories/{SLUG}", 412,
         "precondition_failed", json={"title": "t"},
         headers={"If-Match": '"v' + "1" * 5_000 + '"'}),
    Case("stale If-Match", "POST", f"{ONE}/corrections", 409, "conflict",
         json={"body": "y", "note": "n"}, headers={"If-Match": '"r7"'}),
    Case("flag without flags", "PATCH", ONE, 422, "invalid_field", json={}),
    Case("story title empty", "PATCH", f"/api/stories/{SLUG}", 422, "invalid_field",
         json={"title": "  "}),
    Case("duplicate slug", "POST", "/api/stories", 409, "slug_taken",
         json={"slug": SLUG, "title": "again"}),
    Case("bad slug", "POST", "/api/stories", 422, "invalid_field",
         json={"slug": "Not A Slug!", "title": "t"}),
    Case("bad status filter", "GET", "/api/stories?status=maybe", 422, "invalid_query"),
    Case("bad page size", "GET", f"{UPDATES}?limit=0", 422, "invalid_query"),
    Case("bad at_version", "GET", f"/api/stories/{SLUG}?at_version=x", 422, "invalid_query"),
    Case("bad at", "GET", f"/api/stories/{SLUG}?at=yesterday", 422, "invalid_query"),
    Case("min_version of an unknown story", "GET", "/api/stories/no-such-story?min_version=1",
         404, "not_found"),
    Case("min_version of an unknown story's page", "GET",
         "/api/stories/no-such-story/updates?min_version=1", 404, "not_found"),
    Case("min_version of an unknown story's revisions", "GET",
         f"/api/stories/no-such-story/updates/{MISSING_UPDATE}/revisions?min_version=1", 404,
         "not_found"),
    Case("unknown query parameter", "GET", f"{UPDATES}?limt=5", 422, "unknown_parameter"),
    Case("unknown query parameter on a write", "POST", f"{UPDATES}?draft=1", 422,
         "unknown_parameter", json={"body": "x"}),
    Case("plain GET of the live WebSocket", "GET", f"/api/stories/{SLUG}/live", 426,
         "upgrade_required"),
    Case("unknown route", "GET", "/api/nothing-here", 404, "not_found"),
    Case("wrong method", "DELETE", f"/api/stories/{SLUG}", 405, "method_not_allowed"),
]  # fmt: skip


@pytest.fixture(scope="module")
def shared(shared_server: SharedServer) -> Iterator[tuple[httpx.Client, Tokens]]:
    with httpx.Client(base_url=shared_server.server.base_url, timeout=10) as client:
        yield client, shared_server.tokens


@pytest.fixture(scope="module")
def story_with_update(shared: tuple[httpx.Client, Tokens]) -> str:
    client, tokens = shared
    open_story(client, tokens.editor, SLUG, "Bad input")
    update_id: str = post(client, tokens.reporter, SLUG, "<p>original</p>")["id"]
    return update_id


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_with_a_clear_error_and_changes_nothing(
    case: Case, shared: tuple[httpx.Client, Tokens], story_with_update: str
) -> None:
    client, tokens = shared
    before = client.get(f"/api/stories/{SLUG}").json()
    headers: dict[str, str | bytes] = dict(case.headers)
    token = {"editor": tokens.editor, "reporter": tokens.reporter, "bogus": "lb_bogus"}.get(
        case.who or ""
    )
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if case.content is not None:
        headers.setdefault("Content-Type", "application/json")
    response = client.request(
        case.method,
        case.path.replace("{update}", story_with_update),
        json=case.json,
        content=case.content,
        # As bytes: some values are not ASCII, which httpx would refuse to encode.
        headers=[
            (k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in headers.items()
        ],
    )
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == case.code
    assert error["message"]
    assert "Traceback" not in response.text
    after = client.get(f"/api/stories/{SLUG}").json()
    assert after == before


DISCONNECT_LINE = "client went away before sending its whole body: POST /api/stories"


def test_a_client_that_goes_away_mid_body_is_one_line_in_the_log(
    server: LiveServer, tokens: Tokens
) -> None:
    head = (
        "POST /api/stories HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {tokens.editor}\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 1000\r\n"
        "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head + b'{"slug": "half-sent", "title": "only half')
    deadline = time.monotonic() + 10
    while DISCONNECT_LINE not in server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the log file for an outcome that has no other signal
    log = server.log_path.read_text()
    assert log.count(DISCONNECT_LINE) == 1, log
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log
    # Nothing was stored, and the server goes on serving.
    assert httpx.get(f"{server.base_url}/api/stories/half-sent").status_code == 404
