"""Text fields through the real server: what newsroom text does not hold is a 422 that
names the field (lone surrogates included, which only JSON escapes can carry), and
changes nothing; CRLF is taken, as LF."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.server import SharedServer
from tests.helpers import Tokens, bearer, open_story, post

SLUG = "newsroom-text"
STORY = f"/api/stories/{SLUG}"
UPDATES = f"{STORY}/updates"
ONE = f"{UPDATES}/{{update}}"


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # "{update}" is replaced by a real update's id
    field: str  # the field the 422 must name
    char: str  # the code point it must name, as U+XXXX
    json: Any = None
    content: bytes | None = None  # raw JSON, for what a Python str cannot be sent as


CASES = [
    Case("story title U+0000", "POST", "/api/stories", "title", "U+0000",
         json={"slug": "other", "title": "Election\x00night"}),
    Case("story summary U+001B", "POST", "/api/stories", "summary", "U+001B",
         json={"slug": "other", "title": "t", "summary": "a\x1bb"}),
    Case("story slug U+0000", "POST", "/api/stories", "slug", "U+0000",
         json={"slug": "a\x00b", "title": "t"}),
    Case("edited title U+FFFF", "PATCH", STORY, "title", "U+FFFF", json={"title": "a\uffffb"}),
    Case("edited summary U+FDD0", "PATCH", STORY, "summary", "U+FDD0",
         json={"summary": "a\ufdd0b"}),
    Case("update title U+0000", "POST", UPDATES, "title", "U+0000",
         json={"body": "<p>ok</p>", "title": "a\x00b"}),
    # The sanitizer would drop a U+0000 from a body silently: it is refused first.
    Case("update body U+0000", "POST", UPDATES, "body", "U+0000", json={"body": "<p>a\x00b</p>"}),
    Case("update body U+0001", "POST", UPDATES, "body", "U+0001", json={"body": "<p>a\x01b</p>"}),
    Case("update body U+10FFFF", "POST", UPDATES, "body", "U+10FFFF",
         json={"body": "<p>a\U0010ffffb</p>"}),
    Case("correction body U+0008", "POST", f"{ONE}/corrections", "body", "U+0008",
         json={"body": "<p>a\x08b</p>", "note": "n"}),
    Case("correction note U+0000", "POST", f"{ONE}/corrections", "note", "U+0000",
         json={"body": "<p>new</p>", "note": "a\x00b"}),
    Case("retraction reason U+000C", "POST", f"{ONE}/retraction", "reason", "U+000C",
         json={"reason": "a\x0cb"}),
    Case("body lone high surrogate", "POST", UPDATES, "body", "U+D800",
         content=b'{"body": "<p>a\\ud800b</p>"}'),
    Case("title lone low surrogate", "POST", UPDATES, "title", "U+DC00",
         content=b'{"body": "<p>ok</p>", "title": "\\udc00"}'),
    Case("note lone surrogate", "POST", f"{ONE}/corrections", "note", "U+DBFF",
         content=b'{"body": "<p>new</p>", "note": "\\udbff"}'),
    Case("reason lone surrogate", "POST", f"{ONE}/retraction", "reason", "U+DFFF",
         content=b'{"reason": "\\udfff"}'),
    Case("story title lone surrogate", "POST", "/api/stories", "title", "U+D83D",
         content=b'{"slug": "other", "title": "\\ud83d"}'),
    Case("edited summary lone surrogate", "PATCH", STORY, "summary", "U+D800",
         content=b'{"summary": "\\ud800"}'),
]  # fmt: skip


@pytest.fixture(scope="module")
def shared(shared_server: SharedServer) -> Iterator[tuple[httpx.Client, Tokens]]:
    with httpx.Client(base_url=shared_server.server.base_url, timeout=10) as client:
        yield client, shared_server.tokens


@pytest.fixture(scope="module")
def update_id(shared: tuple[httpx.Client, Tokens]) -> str:
    client, tokens = shared
    open_story(client, tokens.editor, SLUG, "Text")
    found: str = post(client, tokens.editor, SLUG, "<p>original</p>")["id"]
    return found


def send(client: httpx.Client, token: str, method: str, path: str, *, json: Any = None,
         content: bytes | None = None) -> httpx.Response:  # fmt: skip
    headers = bearer(token)
    if content is not None:
        headers["Content-Type"] = "application/json"
    return client.request(method, path, json=json, content=content, headers=headers)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_text_that_is_not_newsroom_text_is_a_422_naming_the_field(
    case: Case, shared: tuple[httpx.Client, Tokens], update_id: str
) -> None:
    client, tokens = shared
    before = client.get(STORY).json()
    path = case.path.replace("{update}", update_id)
    response = send(client, tokens.editor, case.method, path, json=case.json,
                    content=case.content)  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid_field"
    assert error["message"].startswith(f"{case.field}: must not contain {case.char} ")
    assert client.get(STORY).json() == before
    assert client.get("/api/stories/other").status_code == 404


def test_a_lone_surrogate_in_an_unknown_key_is_a_422_not_a_500(
    shared: tuple[httpx.Client, Tokens], update_id: str
) -> None:
    client, tokens = shared
    response = send(client, tokens.editor, "POST", UPDATES,
                    content=b'{"body": "<p>x</p>", "\\udc00": 1}')  # fmt: skip
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_field"
    assert "\\udc00" in error["message"]


@pytest.mark.parametrize(
    "content",
    [b'{"body": NaN}', b'{"body": Infinity}', b'{"body": "\\ud800', b'{"body": "\xed\xa0\x80"}',
     b"[" * 5_000 + b"]" * 5_000],
    ids=["NaN", "Infinity", "unterminated", "surrogate as UTF-8 bytes", "very deep"],
)  # fmt: skip
def test_json_that_neither_parser_takes_is_still_a_400(
    content: bytes, shared: tuple[httpx.Client, Tokens], update_id: str
) -> None:
    client, tokens = shared
    response = send(client, tokens.editor, "POST", UPDATES, content=content)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "malformed_json"


def test_crlf_line_ends_are_taken_and_recorded_as_lf(
    shared: tuple[httpx.Client, Tokens], update_id: str
) -> None:
    client, tokens = shared
    fields = {"title": "Line one\r\nline two", "body": "<p>a</p>\r\n<p>b</p>"}
    posted = send(client, tokens.editor, "POST", UPDATES, json=fields)
    assert posted.status_code == 201, posted.text
    update = posted.json()
    assert update["title"] == "Line one\nline two"
    assert "\r" not in update["body"]
    corrected = send(client, tokens.editor, "POST", f"{UPDATES}/{update['id']}/corrections",
                     json={"body": "<p>c</p>", "note": "one\r\ntwo\rthree"})  # fmt: skip
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["corrections"][-1]["note"] == "one\ntwo\nthree"


# (A C0 control or DEL in a header is refused by the HTTP parser itself, before the app.)
@pytest.mark.parametrize("key", [b"k\x85ey", b"k\xa0ey"], ids=["NEL", "NBSP"])
def test_an_idempotency_key_with_a_control_or_space_character_is_a_400(
    key: bytes, shared: tuple[httpx.Client, Tokens], update_id: str
) -> None:
    # The key is only hashed into the update's id, never stored as text; a header can
    # carry no lone surrogate, and a control character (even a C1 one) is refused.
    client, tokens = shared
    headers = [(b"Authorization", f"Bearer {tokens.reporter}".encode()),
               (b"Idempotency-Key", key)]  # fmt: skip
    response = client.post(UPDATES, json={"body": "<p>x</p>"}, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"
