"""Editors' replay (DESIGN §5) on a real server, on SQLite and on PostgreSQL:
``WS …/live?replay=max[&from=V]`` and ``liveblog replay STORY --speed max``.

A story is told (posts, a correction, a retraction); the replay shows each update as it
stood at each version, superseded and retracted text included, to editors only. The
pace itself is tested on a fake clock (tests/unit/test_replay_clock.py,
tests/integration/test_replay.py): here ``max``, so nothing waits.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.live_client import RECV_TIMEOUT
from tests.e2e.server import BACKENDS, LiveServer, backend_url, liveblog_command, served
from tests.helpers import Doc, Tokens, bearer

SLUG = "osh-night"
ORIGINAL = "<p>The mayor resigned at 02:00.</p>"
CORRECTED = "<p>The mayor offered to resign at 02:00.</p>"
CALM = "<p>The square is calm.</p>"
NEWEST = 5  # opened, two posts, a correction, a retraction


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Tokens]]:
    """A server with the story told; its id is the slug's."""
    for live, tokens in served(database_url, tmp_path):
        with httpx.Client(base_url=live.base_url, timeout=RECV_TIMEOUT) as http:
            tell_the_story(http, tokens)
        yield live, tokens


def call(http: httpx.Client, method: str, path: str, token: str, body: Doc) -> Doc:
    response = http.request(method, path, json=body, headers=bearer(token))
    assert response.status_code in (200, 201), response.text
    doc: Doc = response.json()
    return doc


def tell_the_story(http: httpx.Client, tokens: Tokens) -> None:
    call(http, "POST", "/api/stories", tokens.editor, {"slug": SLUG, "title": "Osh at night"})
    base = f"/api/stories/{SLUG}/updates"
    mayor = call(http, "POST", base, tokens.reporter, {"title": "Mayor resigns", "body": ORIGINAL})
    call(http, "POST", base, tokens.reporter, {"body": CALM})
    call(http, "POST", f"{base}/{mayor['id']}/corrections", tokens.editor,
         {"body": CORRECTED, "note": "He offered to."})  # fmt: skip
    call(http, "POST", f"{base}/{mayor['id']}/retraction", tokens.editor, {"reason": "Denied."})


async def replayed(
    live: LiveServer, query: str, headers: dict[str, str] | None = None
) -> tuple[list[Doc], int]:
    """Every message of a replay, and the code the server closed it with."""
    url = f"{live.ws_url}/api/stories/{SLUG}/live?{query}"
    messages: list[Doc] = []
    received = None
    async with connect(url, proxy=None, open_timeout=RECV_TIMEOUT,
                       additional_headers=headers) as ws:  # fmt: skip
        try:
            while True:
                text = await asyncio.wait_for(ws.recv(decode=True), RECV_TIMEOUT)
                messages.append(orjson.loads(text))
        except ConnectionClosed as closed:
            received = closed.rcvd
    assert received is not None, "no close frame from the server"
    return messages, received.code


def update_of(message: Doc) -> Doc:
    update: Doc = message["data"]["update"]
    return update


async def test_an_editor_replays_every_version_as_it_stood(
    server: tuple[LiveServer, Tokens],
) -> None:
    live, tokens = server
    messages, code = await replayed(live, "replay=max", bearer(tokens.editor))
    assert code == 1000
    snapshot, *events, end = messages
    assert snapshot == {"type": "snapshot", "version": 0, "replay": True, "story": None}
    assert [m["version"] for m in events] == list(range(1, NEWEST + 1))
    assert [m["type"] for m in events] == ["event"] * NEWEST
    assert events[0]["event"] == "story.opened"
    assert events[0]["data"]["story"]["title"] == "Osh at night"
    posted, corrected, retracted = events[1], events[3], events[4]
    assert (posted["event"], update_of(posted)["body"]) == ("update.posted", ORIGINAL)
    assert (corrected["event"], update_of(corrected)["body"]) == ("update.corrected", CORRECTED)
    assert retracted["event"] == "update.retracted"
    assert update_of(retracted)["status"] == "retracted"
    assert retracted["data"]["retracted_text"] == {
        "title": "Mayor resigns",
        "body": CORRECTED,
        "media": [],
    }
    assert end == {"type": "replay_end", "version": NEWEST}


async def test_a_browser_replays_from_a_version_with_a_token_that_is_never_logged(
    server: tuple[LiveServer, Tokens],
) -> None:
    live, tokens = server
    messages, code = await replayed(live, f"replay=max&from=3&token={tokens.editor}")
    assert code == 1000
    snapshot, *events, end = messages
    assert (snapshot["type"], snapshot["version"], snapshot["replay"]) == ("snapshot", 2, True)
    # The story as it stood at version 2: the mayor's update with its first text.
    assert [u["body"] for u in snapshot["story"]["updates"]] == [ORIGINAL]
    assert [m["version"] for m in events] == [3, 4, 5]
    assert end == {"type": "replay_end", "version": NEWEST}
    # One past the newest version: the story as it stands, and the end at once.
    messages, code = await replayed(live, f"replay=max&from={NEWEST + 1}", bearer(tokens.editor))
    assert [m["type"] for m in messages] == ["snapshot", "replay_end"]
    assert code == 1000

    live.stop()  # every line written
    log = live.log_path.read_text()
    assert tokens.editor not in log
    assert "replay=max&from=3&token=[redacted]" in log  # uvicorn's handshake line, redacted


async def test_without_an_editors_token_a_replay_is_closed_with_4401(
    server: tuple[LiveServer, Tokens],
) -> None:
    live, tokens = server
    for query, headers in [
        ("replay=max", None),
        ("replay=max", bearer(tokens.reporter)),
        (f"replay=max&token={tokens.reporter}", None),
        ("replay=max&token=lb_not-a-token", None),
        ("replay=max", {"Authorization": "Basic abc"}),
    ]:
        assert await replayed(live, query, headers) == ([], 4401), (query, headers)
    unknown = f"{live.ws_url}/api/stories/no-such-story/live?replay=max"
    async with connect(unknown, proxy=None, additional_headers=bearer(tokens.editor)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4404


BAD_QUERIES = [
    ("replay=0", "replay: must be a number from 1 to 10,000 or max"),
    ("replay=abc", "replay: must be"),
    ("replay=1e999", "replay: must be"),
    ("replay=-5", "replay: must be"),
    ("replay=NaN", "replay: must be"),
    ("replay=", "replay: must be"),
    ("replay=max&since=3", "since: a replay cannot resume"),
    ("replay=max&from=0", "from: must be a version, 1 or more"),
    ("replay=max&from=x", "from: must be a version"),
    ("replay=max&bogus=1", "unknown query parameter(s) 'bogus'"),
    (f"replay=max&from={NEWEST + 2}", "the story is at version 5"),
]


async def test_a_bad_replay_query_is_refused_with_422(server: tuple[LiveServer, Tokens]) -> None:
    live, tokens = server
    for query, says in BAD_QUERIES:
        url = f"{live.ws_url}/api/stories/{SLUG}/live?{query}"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, proxy=None, open_timeout=RECV_TIMEOUT,
                               additional_headers=bearer(tokens.editor)):  # fmt: skip
                pass
        response = refused.value.response
        assert response.status_code == 422, query
        assert says in orjson.loads(response.body)["error"]["message"], query
    # SSE has no replay: the parameter is unknown there.
    async with httpx.AsyncClient(base_url=live.base_url, timeout=RECV_TIMEOUT) as http:
        sse = f"/api/stories/{SLUG}/live/sse?replay=max"
        answer = await http.get(sse, headers=bearer(tokens.editor))
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "unknown_parameter"


def replay_cli(
    database_url: str, *args: str, story: str = SLUG
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": database_url}
    return subprocess.run(
        liveblog_command("replay", story, *args),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_cli_prints_the_same_events_as_readable_lines(
    server: tuple[LiveServer, Tokens], database_url: str
) -> None:
    done = replay_cli(database_url, "--speed", "max")
    assert done.returncode == 0, done.stderr
    first, *lines, last = done.stdout.splitlines()
    assert first == "version 0: the story was not opened yet"
    assert last == "end of the replay at version 5"
    assert len(lines) == NEWEST
    shown = [line.split("  ", 1)[1] for line in lines]  # after the time
    assert shown == [
        'Erin Editor  story.opened  "Osh at night"',
        'Rashid Reporter  update.posted  "Mayor resigns" — The mayor resigned at 02:00.',
        "Rashid Reporter  update.posted  The square is calm.",
        'Erin Editor  update.corrected  "Mayor resigns" — The mayor offered to resign at 02:00.',
        'Erin Editor  update.retracted  "Mayor resigns" — The mayor offered to resign at 02:00.'
        " (retracted: Denied.)",
    ]
    assert all(line[:10].count("-") == 2 and line[19:20] == "Z" for line in lines)

    from_three = replay_cli(database_url, "--speed", "max", "--from", "3")
    assert from_three.returncode == 0, from_three.stderr
    assert from_three.stdout.splitlines()[0] == 'version 2: "Osh at night", 1 update'
    assert len(from_three.stdout.splitlines()) == 2 + 3
    at_the_end = replay_cli(database_url, "--at", "2999-01-01T00:00:00Z")
    assert at_the_end.stdout.splitlines()[1:] == ["end of the replay at version 5"]


BAD_ARGUMENTS = [
    (("--speed", "0"), "a number from 1 to 10,000 or max"),
    (("--speed", "1e999"), "a number from 1 to 10,000 or max"),
    (("--from", "0"), "a version, 1 or more"),
    (("--from", "7"), "--from: the story is at version 5"),
    (("--at", "yesterday"), "an RFC 3339 time with a zone"),
    (("--at", "2026-12-01T10:00:00"), "an RFC 3339 time with a zone"),
    (("--from", "2", "--at", "2026-12-01T10:00:00Z"), "not allowed with"),
]


def test_the_cli_refuses_bad_input_with_exit_code_2(
    server: tuple[LiveServer, Tokens], database_url: str
) -> None:
    for args, says in BAD_ARGUMENTS:
        done = replay_cli(database_url, *args)
        assert done.returncode == 2, (args, done.stdout)
        assert says in done.stderr, args
        assert "Traceback" not in done.stderr
    unknown = replay_cli(database_url, "--speed", "max", story="no-such-story")
    assert unknown.returncode == 2
    assert unknown.stderr == "liveblog: error: no story 'no-such-story'\n"
