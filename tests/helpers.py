"""What tests of every layer share: the people, their tokens, and stories made over HTTP.

Test modules import from here and from the other helper modules (``tests/databases.py``,
``tests/e2e/server.py``, ``tests/e2e/live_client.py``, ...), never from each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from liveblog.domain import Actor
from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from liveblog.tokens import Credentials

# A JSON document as the API answers it.
Doc = dict[str, Any]

# -- people ------------------------------------------------------------------------------

# The actors of in-process tests (the application called directly, no token).
REPORTER = Actor(id="reporter-aida", name="Aida Reporter")
OTHER_REPORTER = Actor(id="reporter-bakyt", name="Bakyt Reporter")
EDITOR = Actor(id="editor-cholpon", name="Cholpon Editor")


def open_newsroom(database_url: str) -> Newsroom:
    """The application on ``database_url``, as a server process makes it (close it after)."""
    return Newsroom(env=Settings(database_url=database_url).eventsourcing_env())


def in_threads(timeout: float, calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread; each result, or the exception it raised."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.exception(timeout=timeout) or f.result(timeout=timeout) for f in futures]


# -- tokens and headers ------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    """The tokens of a test server's usual people: an editor and two reporters."""

    editor: str
    reporter: str
    other_reporter: str


def issue_token(database_url: str, name: str, role: str) -> str:
    """A new token for the person ``name`` (registered with ``role`` if new).

    Issued in this process, as ``liveblog token create`` does in its own (a process start
    per token costs a second on a loaded machine); ``tests/e2e/test_cli.py`` runs the
    command itself.
    """
    env = Settings(database_url=database_url).eventsourcing_env()
    with Credentials(env=env) as credentials:
        secret, _ = credentials.issue(name=name, role=role)
    return secret


def issue_tokens(database_url: str) -> Tokens:
    return Tokens(
        editor=issue_token(database_url, "Erin Editor", "editor"),
        reporter=issue_token(database_url, "Rashid Reporter", "reporter"),
        other_reporter=issue_token(database_url, "Olga Reporter", "reporter"),
    )


def bearer(token: str, **headers: str) -> dict[str, str]:
    """``Authorization: Bearer <token>``, with any other headers."""
    return {"Authorization": f"Bearer {token}", **headers}


def auth(token: str, **headers: str) -> dict[str, str]:
    """The headers of a JSON write: the token and the content type."""
    return bearer(token, **{"Content-Type": "application/json", **headers})


# -- what every answer carries (DESIGN §7) -----------------------------------------------

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def assert_secured(headers: httpx.Headers | dict[str, str], what: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, f"{what}: {name} is {headers.get(name)!r}"


# -- stories over HTTP, for tests that call the API one request at a time -----------------


def open_story(
    client: httpx.Client, editor: str, slug: str, title: str = "Election night", **fields: str
) -> Doc:
    """Open a story (``fields``: its summary) as the editor; the story the API answered."""
    body = {"slug": slug, "title": title, **fields}
    response = client.post("/api/stories", json=body, headers=auth(editor))
    assert response.status_code == 201, response.text
    story: Doc = response.json()
    return story


def post(client: httpx.Client, token: str, slug: str, body: str, **extra: Any) -> Doc:
    """Post an update (``extra``: its other fields); the update the API answered."""
    response = client.post(
        f"/api/stories/{slug}/updates", json={"body": body, **extra}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    update: Doc = response.json()
    return update


def post_many(
    client: httpx.Client, token: str, slug: str, count: int, start: int = 0
) -> list[str]:
    """Post updates ``start`` to ``count`` - 1; their ids, oldest first."""
    return [post(client, token, slug, f"<p>update {n}</p>")["id"] for n in range(start, count)]


def get_json(client: httpx.Client, url: str, **kwargs: Any) -> Doc:
    response = client.get(url, **kwargs)
    assert response.status_code == 200, response.text
    payload: Doc = response.json()
    return payload


def open_cached_story(client: httpx.Client, tokens: Tokens, slug: str) -> tuple[str, str]:
    """A story with one update, whose render the server now holds (a ``min_version`` read
    renders and caches it); its ETag and the update's id."""
    open_story(client, tokens.editor, slug)
    update = post(client, tokens.reporter, slug, "<p>one</p>")
    response = client.get(f"/api/stories/{slug}?min_version=2")
    assert response.status_code == 200, response.text
    return response.headers["etag"], str(update["id"])


# -- the same, for asynchronous tests ----------------------------------------------------


class Api:
    """The JSON API of one server (or app), as an editor and a reporter use it."""

    def __init__(self, http: httpx.AsyncClient, tokens: Tokens, app: Any = None) -> None:
        self.http = http
        self.tokens = tokens
        self.app = app  # the app itself, when it runs in this process

    async def call(
        self, method: str, path: str, token: str | None, body: Doc | None = None, ok: int = 200
    ) -> Doc:
        headers = {} if token is None else bearer(token)
        response = await self.http.request(method, path, json=body, headers=headers)
        assert response.status_code == ok, response.text
        doc: Doc = response.json()
        return doc

    async def open_story(self, slug: str, title: str = "Election night") -> Doc:
        body = {"slug": slug, "title": title, "summary": "Protests after the vote."}
        return await self.call("POST", "/api/stories", self.tokens.editor, body, ok=201)

    async def post(self, slug: str, body: str, **fields: Any) -> Doc:
        token = self.tokens.editor if fields else self.tokens.reporter
        payload = {"body": body, **fields}
        return await self.call("POST", f"/api/stories/{slug}/updates", token, payload, ok=201)

    async def correct(self, slug: str, update_id: str, body: str, note: str) -> Doc:
        path = f"/api/stories/{slug}/updates/{update_id}/corrections"
        return await self.call("POST", path, self.tokens.editor, {"body": body, "note": note})

    async def retract(self, slug: str, update_id: str, reason: str) -> Doc:
        path = f"/api/stories/{slug}/updates/{update_id}/retraction"
        return await self.call("POST", path, self.tokens.editor, {"reason": reason})

    async def flag(self, slug: str, update_id: str, **flags: bool) -> Doc:
        path = f"/api/stories/{slug}/updates/{update_id}"
        return await self.call("PATCH", path, self.tokens.editor, dict(flags))

    async def edit(self, slug: str, **fields: str) -> Doc:
        return await self.call("PATCH", f"/api/stories/{slug}", self.tokens.editor, dict(fields))

    async def close(self, slug: str) -> Doc:
        return await self.call("POST", f"/api/stories/{slug}/close", self.tokens.editor)

    async def reopen(self, slug: str) -> Doc:
        return await self.call("POST", f"/api/stories/{slug}/reopen", self.tokens.editor)

    async def story(self, slug: str) -> Doc:
        return await self.call("GET", f"/api/stories/{slug}", None)

    async def metrics(self) -> dict[str, float]:
        response = await self.http.get("/metrics")
        assert response.status_code == 200
        values: dict[str, float] = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.split()
                values[name] = float(value)
        return values

    async def wait_for_metric(self, name: str, wanted: float, seconds: float = 10.0) -> float:
        """Poll ``/metrics`` until ``name`` reaches ``wanted``; the value, or fail."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            value = (await self.metrics())[name]
            if value >= wanted:
                return value
            assert asyncio.get_running_loop().time() < deadline, f"{name} stayed at {value}"
            await asyncio.sleep(0.05)  # polling a probe until a deadline, not a fixed wait
