"""Retracted and superseded text never reaches the public through a resume (DESIGN §5).

A reader who resumes from far back (``since=0`` on the WebSocket, ``Last-Event-ID: 0``
on SSE) gets every version, contiguous, but each update as the public may see it now:
its tombstone when it was retracted, its current text when it was corrected (the notes
remain). Checked from the hub's ring and, after a restart empties the ring, from the
store; on SQLite and on PostgreSQL. Editors still read what was there before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.e2e.live_client import RECV_TIMEOUT, sse_until_live
from tests.e2e.server import BACKENDS, LiveServer, backend_url, served
from tests.helpers import Doc, Tokens, bearer

SLUG = "bishkek-night"
# Text that was published and then taken back: no public frame may hold any of it.
TAKEN_BACK = ("Interior minister resigns", "resigned at 02:00", "curfew from 20:00")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Tokens]]:
    yield from served(database_url, tmp_path)


def call(http: httpx.Client, method: str, path: str, token: str, body: Doc | None) -> Doc:
    response = http.request(method, path, json=body, headers=bearer(token))
    assert response.status_code in (200, 201), response.text
    doc: Doc = response.json()
    return doc


def tell_the_story(http: httpx.Client, tokens: Tokens) -> dict[str, Doc]:
    """Posts, a correction and a retraction; returns the updates as they now stand."""
    editor, reporter = tokens.editor, tokens.reporter
    call(http, "POST", "/api/stories", editor, {"slug": SLUG, "title": "Election night"})
    base = f"/api/stories/{SLUG}/updates"
    resigned = call(
        http,
        "POST",
        base,
        reporter,
        {"title": "Interior minister resigns", "body": "<p>He resigned at 02:00.</p>"},
    )
    curfew = call(http, "POST", base, reporter, {"body": "<p>A curfew from 20:00.</p>"})
    calm = call(http, "POST", base, reporter, {"body": "<p>The square is calm.</p>"})
    call(http, "PATCH", f"{base}/{resigned['id']}", editor, {"pinned": True})
    curfew = call(
        http,
        "POST",
        f"{base}/{curfew['id']}/corrections",
        editor,
        {"body": "<p>A curfew from 22:00.</p>", "note": "The hour was wrong."},
    )
    resigned = call(
        http,
        "POST",
        f"{base}/{resigned['id']}/retraction",
        editor,
        {"reason": "The ministry denied it."},
    )
    return {u["id"]: strip_versions(u) for u in (resigned, curfew, calm)}


def strip_versions(update: Doc) -> Doc:
    return {k: v for k, v in update.items() if k not in ("story_version", "warnings")}


async def ws_backlog(live: LiveServer, since: str) -> list[Doc]:
    url = f"{live.ws_url}/api/stories/{SLUG}/live?since={since}"
    messages: list[Doc] = []
    async with connect(url, proxy=None, open_timeout=RECV_TIMEOUT) as ws:
        while not messages or messages[-1]["type"] != "live":
            messages.append(orjson.loads(await ws.recv(decode=True)))
    return messages


def check_public(messages: list[Doc], now: dict[str, Doc], since: int, newest: int) -> None:
    """Contiguous versions since..newest, then live; no text taken back; each update's
    text (title, body, status, retraction) is the one it has now."""
    events, went_live = messages[:-1], messages[-1]
    assert [m["version"] for m in events] == list(range(since + 1, newest + 1))
    assert went_live == {"type": "live", "version": newest}
    text = orjson.dumps(messages).decode()
    for phrase in TAKEN_BACK:
        assert phrase not in text
    for message in events:
        update = message["data"].get("update")
        if update is None:
            continue
        current = now[update["id"]]
        for name in ("title", "body", "status", "retraction"):
            assert update[name] == current[name], (message["version"], name)
    # The newest frame of each update is the update as the API answers it now.
    newest_of: dict[str, Doc] = {}
    for message in events:
        if "update" in message["data"]:
            newest_of[message["data"]["update"]["id"]] = message["data"]["update"]
    assert newest_of == now


async def test_a_resume_from_far_back_shows_only_current_text_and_tombstones(
    server: tuple[LiveServer, Tokens],
) -> None:
    live, tokens = server
    with httpx.Client(base_url=live.base_url, timeout=RECV_TIMEOUT) as http:
        now = tell_the_story(http, tokens)
    newest = 7
    for since in ("0", "1", "3"):
        check_public(await ws_backlog(live, since), now, int(since), newest)  # the ring
        check_public(await sse_until_live(live, SLUG, since), now, int(since), newest)

    live.stop()  # a new process: its ring is empty, so the backlog comes from the store
    live.start()
    with httpx.Client(base_url=live.base_url, timeout=RECV_TIMEOUT) as http:
        metrics_before = http.get("/metrics").text
        for since in ("0", "2"):
            check_public(await sse_until_live(live, SLUG, since), now, int(since), newest)
            check_public(await ws_backlog(live, since), now, int(since), newest)
        assert "liveblog_live_backlog_store_reads_total 0" in metrics_before
        assert "liveblog_live_backlog_store_reads_total 0" not in http.get("/metrics").text

        # Editors still see what was there before: the raw history keeps every word.
        history = call(http, "GET", f"/api/stories/{SLUG}/events", tokens.editor, None)
        raw = orjson.dumps(history).decode()
        for phrase in TAKEN_BACK:
            assert phrase in raw
