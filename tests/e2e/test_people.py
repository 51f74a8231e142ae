"""People and tokens through a real server: /api/me, the admin routes, revocation, expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from liveblog.tokens import hash_token
from liveblog.web.people import ROUTES
from tests.e2e.server import LiveServer
from tests.helpers import assert_secured, bearer, issue_token

MISSING = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Desk:
    client: httpx.Client
    admin: str
    editor: str
    reporter: str


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """One server for the module; each test makes the people it changes."""
    folder = tmp_path_factory.mktemp("people")
    url = f"sqlite:///{folder / 'e2e.sqlite3'}"
    admin = issue_token(url, "Dana Admin", "admin")
    editor = issue_token(url, "Erin Editor", "editor")
    reporter = issue_token(url, "Rashid Reporter", "reporter")
    server = LiveServer(url, folder / "server.log").start()
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        response = client.post(
            "/api/stories", json={"slug": "people", "title": "People"}, headers=bearer(editor)
        )
        assert response.status_code == 201
        yield Desk(client, admin, editor, reporter)
    server.stop()


def admin_request(desk: Desk, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return desk.client.request(method, path, headers=bearer(desk.admin), **kwargs)


def new_token(desk: Desk, name: str, role: str = "reporter", **body: Any) -> dict[str, Any]:
    person = admin_request(desk, "POST", "/api/people", json={"name": name, "role": role})
    assert person.status_code == 201, person.text
    made = admin_request(desk, "POST", f"/api/people/{person.json()['id']}/tokens", json=body)
    assert made.status_code == 201, made.text
    token: dict[str, Any] = made.json()
    return token


def post_update(desk: Desk, token: str) -> httpx.Response:
    return desk.client.post(
        "/api/stories/people/updates", json={"body": "<p>x</p>"}, headers=bearer(token)
    )


def test_me_answers_who_a_token_belongs_to_and_keeps_it_private(desk: Desk) -> None:
    for token, name, role in [
        (desk.reporter, "Rashid Reporter", "reporter"),
        (desk.editor, "Erin Editor", "editor"),
        (desk.admin, "Dana Admin", "admin"),
    ]:
        response = desk.client.get("/api/me", headers=bearer(token))
        assert response.status_code == 200
        me = response.json()
        assert (me["name"], me["role"]) == (name, role)
        assert set(me) == {"id", "name", "role"}
        assert response.headers["cache-control"] == "private, no-store"
    posted = post_update(desk, desk.reporter).json()
    me = desk.client.get("/api/me", headers=bearer(desk.reporter)).json()
    assert posted["author"] == {"id": me["id"], "name": "Rashid Reporter"}
    anonymous = desk.client.get("/api/me")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"


def test_an_admin_makes_a_person_and_a_token_that_works_once_shown(desk: Desk) -> None:
    made = new_token(desk, "Nadia Reporter", label="phone", expires_in="30d")

    secret = made.pop("secret")
    assert secret.startswith("lb_")
    assert made["person"]["name"] == "Nadia Reporter"
    assert (made["label"], made["hint"], made["status"]) == ("phone", secret[-4:], "active")
    assert made["expires_at"].endswith("Z")
    assert post_update(desk, secret).status_code == 201

    people = admin_request(desk, "GET", "/api/people")
    assert people.headers["cache-control"] == "private, no-store"
    nadia = [p for p in people.json()["people"] if p["name"] == "Nadia Reporter"]
    assert nadia == [{**nadia[0], "role": "reporter", "active": True}]
    listed = admin_request(desk, "GET", f"/api/tokens?person={made['person']['id']}")
    assert listed.status_code == 200
    assert listed.json()["tokens"] == [made]
    person = admin_request(desk, "GET", f"/api/people/{made['person']['id']}")
    assert person.json() == nadia[0]
    token = admin_request(desk, "GET", f"/api/tokens/{made['id']}")
    assert token.json() == made
    assert token.headers["cache-control"] == "private, no-store"
    everything = admin_request(desk, "GET", "/api/tokens").text
    assert "secret" not in everything
    assert secret not in everything
    assert hash_token(secret) not in everything


def test_a_revoked_token_is_refused_at_once_and_the_others_go_on(desk: Desk) -> None:
    made = new_token(desk, "Omar Reporter")
    secret = made["secret"]
    assert post_update(desk, secret).status_code == 201  # now trusted by the server

    revoked = admin_request(desk, "DELETE", f"/api/tokens/{made['id']}")

    assert revoked.status_code == 200
    assert (revoked.json()["revoked"], revoked.json()["status"]) == (True, "revoked")
    refused = post_update(desk, secret)
    assert refused.status_code == 401
    assert refused.json()["error"] == {
        "code": "unauthorized", "message": "the token has been revoked",
    }  # fmt: skip
    assert desk.client.get("/api/me", headers=bearer(secret)).status_code == 401
    assert post_update(desk, desk.reporter).status_code == 201
    again = admin_request(desk, "DELETE", f"/api/tokens/{made['id']}")
    assert again.status_code == 200


def test_deactivating_a_person_refuses_all_their_tokens_at_once(desk: Desk) -> None:
    first = new_token(desk, "Pavel Reporter")
    person_id = first["person"]["id"]
    second = admin_request(desk, "POST", f"/api/people/{person_id}/tokens").json()
    for made in (first, second):
        assert post_update(desk, made["secret"]).status_code == 201

    changed = admin_request(desk, "PATCH", f"/api/people/{person_id}", json={"active": False})

    assert changed.status_code == 200
    assert changed.json()["active"] is False
    for made in (first, second):
        refused = post_update(desk, made["secret"])
        assert refused.status_code == 401
        assert "deactivated" in refused.json()["error"]["message"]
    blocked = admin_request(desk, "POST", f"/api/people/{person_id}/tokens", json={})
    assert blocked.status_code == 409
    admin_request(desk, "PATCH", f"/api/people/{person_id}", json={"active": True})
    assert post_update(desk, first["secret"]).status_code == 201


def test_a_role_change_applies_to_the_persons_tokens_at_once(desk: Desk) -> None:
    made = new_token(desk, "Quinn Reporter")
    pinned = {"body": "<p>x</p>", "pinned": True}
    headers = bearer(made["secret"])
    assert (
        desk.client.post("/api/stories/people/updates", json=pinned, headers=headers).status_code
        == 403
    )

    promoted = admin_request(
        desk, "PATCH", f"/api/people/{made['person']['id']}", json={"role": "editor"}
    )

    assert promoted.json()["role"] == "editor"
    assert (
        desk.client.post("/api/stories/people/updates", json=pinned, headers=headers).status_code
        == 201
    )


def test_an_expired_token_is_refused_with_a_clear_message(desk: Desk) -> None:
    made = new_token(desk, "Rita Reporter", expires_in=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        answer = desk.client.get("/api/me", headers=bearer(made["secret"]))
        if answer.status_code == 401:
            break
        assert answer.status_code == 200
        time.sleep(0.2)  # polling until the expiry passes, bounded by the deadline
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == f"the token expired at {made['expires_at']}"
    (listed,) = admin_request(desk, "GET", f"/api/tokens?person={made['person']['id']}").json()[
        "tokens"
    ]
    assert listed["status"] == "expired"


# A body for each write of people.ROUTES; a route added there without one fails the walk.
ROUTE_BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("POST", "/api/people"): {"name": "Uma Walked", "role": "reporter"},
    ("PATCH", "/api/people/{person}"): {"role": "editor"},
    ("POST", "/api/people/{person}/tokens"): {"label": "walk"},
}


def test_every_people_and_token_answer_is_private_and_carries_the_security_headers(
    desk: Desk,
) -> None:
    subject = new_token(desk, "Vera Walked")
    ids = {"{person}": subject["person"]["id"], "{token}": subject["id"]}
    walked = set()
    for route in ROUTES:
        for method in sorted(route.methods or ()):
            path = route.path
            for name, value in ids.items():
                path = path.replace(name, value)
            body = ROUTE_BODIES[(method, route.path)] if method in ("POST", "PATCH") else None
            response = admin_request(desk, method, path, json=body)

            what = f"{method} {route.path}"
            assert response.status_code < 300, f"{what}: {response.text}"
            assert response.headers.get("cache-control") == "private, no-store", what
            assert_secured(response.headers, what)
            walked.add(what)
    assert len(walked) >= 10, walked  # nine routes and Starlette's HEADs


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/people"), ("POST", "/api/people"), ("PATCH", f"/api/people/{MISSING}"),
     ("GET", f"/api/people/{MISSING}"), ("GET", f"/api/tokens/{MISSING}"),
     ("POST", f"/api/people/{MISSING}/tokens"), ("GET", "/api/tokens"),
     ("DELETE", f"/api/tokens/{MISSING}")],
)  # fmt: skip
def test_only_admins_manage_people_and_tokens(desk: Desk, method: str, path: str) -> None:
    body = {"name": "X", "role": "reporter"} if method != "GET" else None
    for token in (desk.editor, desk.reporter):
        response = desk.client.request(method, path, headers=bearer(token), json=body)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    anonymous = desk.client.request(method, path, json=body)
    assert anonymous.status_code == 401


PERSON = "/api/people/{person}"
BAD = [
    ("POST", "/api/people", {"role": "reporter"}, 422, "name"),
    ("POST", "/api/people", {"name": "", "role": "reporter"}, 422, "name"),
    ("POST", "/api/people", {"name": 7, "role": "reporter"}, 422, "name"),
    ("POST", "/api/people", {"name": "n" * 201, "role": "reporter"}, 422, "name"),
    ("POST", "/api/people", {"name": "Ok Name"}, 422, "role"),
    ("POST", "/api/people", {"name": "Ok Name", "role": "owner"}, 422, "role"),
    ("POST", "/api/people", {"name": "Ok Name", "role": ["admin"]}, 422, "role"),
    ("POST", "/api/people", {"name": "Ok Name", "role": "admin", "x": 1}, 422, "x"),
    ("POST", "/api/people", {"name": "Sara Subject", "role": "admin"}, 409, "already"),
    ("PATCH", PERSON, {}, 422, "role, active"),
    ("PATCH", PERSON, {"active": "no"}, 422, "active"),
    ("PATCH", PERSON, {"role": "boss"}, 422, "role"),
    ("PATCH", PERSON, {"name": "New Name"}, 422, "name"),
    ("PATCH", f"/api/people/{MISSING}", {"active": False}, 404, MISSING),
    ("PATCH", "/api/people/not-an-id", {"active": False}, 404, "not-an-id"),
    ("POST", f"{PERSON}/tokens", {"expires_in": "soon"}, 422, "expires_in"),
    ("POST", f"{PERSON}/tokens", {"expires_in": 0}, 422, "expires_in"),
    ("POST", f"{PERSON}/tokens", {"expires_in": True}, 422, "expires_in"),
    ("POST", f"{PERSON}/tokens", {"expires_in": 10**12}, 422, "expires_in"),
    ("POST", f"{PERSON}/tokens", {"expires_at": "yesterday"}, 422, "expires_at"),
    ("POST", f"{PERSON}/tokens", {"expires_at": "2020-01-01T00:00:00Z"}, 422, "expires_at"),
    ("POST", f"{PERSON}/tokens", {"expires_at": "2099-01-01T00:00:00"}, 422, "expires_at"),
    ("POST", f"{PERSON}/tokens", {"expires_at": "0001-01-01T00:00:00+14:00"}, 422, "expires_at"),
    ("POST", f"{PERSON}/tokens", {"expires_at": "9999-12-31T23:59:59-14:00"}, 422, "expires_at"),
    ("POST", f"{PERSON}/tokens", {"expires_at": "2026-13-01T00:00:00Z"}, 422, "expires_at"),
    ("POST", f"{PERSON}/tokens", {"expires_at": "2099-01-01T00:00:00Z", "expires_in": "1d"},
     422, "expires_at"),
    ("POST", f"{PERSON}/tokens", {"label": 5}, 422, "label"),
    ("POST", f"{PERSON}/tokens", {"label": "l" * 101}, 422, "label"),
    ("POST", f"{PERSON}/tokens", {"secret": "lb_mine"}, 422, "secret"),
    ("POST", f"/api/people/{MISSING}/tokens", {}, 404, MISSING),
    ("GET", "/api/tokens?person=nobody", None, 422, "person"),
    ("GET", "/api/tokens?owner=x", None, 422, "owner"),
    ("GET", "/api/people?limit=3", None, 422, "limit"),
    ("DELETE", f"/api/tokens/{MISSING}", None, 404, MISSING),
    ("GET", f"/api/tokens/{MISSING}", None, 404, MISSING),
    ("GET", f"/api/people/{MISSING}", None, 404, MISSING),
    ("GET", "/api/people/x", None, 404, "'x'"),
    ("DELETE", "/api/tokens/nope", None, 404, "nope"),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=[f"{c[0]} {c[1]} {c[2]}"[:80] for c in BAD])
def test_bad_admin_input_gets_a_clear_error_naming_what_was_wrong(
    desk: Desk, case: tuple[str, str, Any, int, str]
) -> None:
    method, path, body, status, named = case
    subject = admin_request(
        desk, "POST", "/api/people", json={"name": "Sara Subject", "role": "reporter"}
    )
    assert subject.status_code in (201, 409)
    person_id = admin_request(desk, "GET", "/api/people").json()["people"]
    (sara,) = [p["id"] for p in person_id if p["name"] == "Sara Subject"]
    before = admin_request(desk, "GET", "/api/tokens").json()

    response = admin_request(desk, method, path.replace("{person}", sara), json=body)

    assert response.status_code == status, response.text
    assert named in response.json()["error"]["message"]
    assert set(response.json()["error"]) == {"code", "message"}
    assert admin_request(desk, "GET", "/api/tokens").json() == before


def test_a_token_may_be_made_with_no_body(desk: Desk) -> None:
    person = admin_request(desk, "POST", "/api/people", json={"name": "Tara", "role": "editor"})
    made = admin_request(desk, "POST", f"/api/people/{person.json()['id']}/tokens")
    assert made.status_code == 201
    assert made.json()["expires_at"] is None
    assert (
        desk.client.get("/api/me", headers=bearer(made.json()["secret"])).json()["role"]
        == "editor"
    )


def test_writes_past_the_rate_limit_get_429_with_retry_after(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    editor = issue_token(url, "Erin Editor", "editor")
    busy = issue_token(url, "Rashid Reporter", "reporter")
    calm = issue_token(url, "Olga Reporter", "reporter")
    limits = {"LIVEBLOG_WRITE_RATE": "6/min", "LIVEBLOG_WRITE_BURST": "3"}
    server = LiveServer(url, tmp_path / "server.log", env=limits).start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            opened = client.post(
                "/api/stories", json={"slug": "busy", "title": "Busy"}, headers=bearer(editor)
            )
            assert opened.status_code == 201

            def post(token: str) -> httpx.Response:
                return client.post(
                    "/api/stories/busy/updates",
                    json={"body": "<p>x</p>"},
                    headers=bearer(token),
                )

            answers = [post(busy) for _ in range(5)]
            assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
            limited = answers[-1]
            assert limited.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(limited.headers["retry-after"]) <= 10
            assert post(calm).status_code == 201  # another token has its own bucket
            assert client.get("/api/stories/busy").status_code == 200  # reads are not limited
            story = client.get("/api/stories/busy?min_version=5").json()
            assert story["version"] == 5  # opened, three from busy, one from calm
    finally:
        server.stop()
