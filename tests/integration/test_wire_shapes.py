"""Every JSON shape a client receives, pinned to the byte.

Other tests compare parsed JSON; this one compares the bytes themselves (key order,
spacing, escapes, how times and ids are written), so that moving the code that makes a
shape cannot change what clients receive. A story is written and read through the whole
app, in process, with each event's time given by a clock of this test and every id
derived from a slug or an ``Idempotency-Key``: each run, on each backend, answers the
same bytes, kept in ``data/wire_shapes.json``. Live messages are pinned from the stored
events, made as the feed makes them for the hub and as a far-back resume reads them.

After an intended change of a shape, write the file again and review its diff:
``LIVEBLOG_WRITE_WIRE_SHAPES=1 pytest tests/integration/test_wire_shapes.py``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from liveblog.domain import Story
from liveblog.live.backlog import read_backlog
from liveblog.live.frames import event_frame, live_text, snapshot_text
from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from liveblog.tokens import Role
from liveblog.web.app import create_app
from projections.states import StoryStates
from projections.views import ReadViews
from projections.wire import DEFAULT_PAGE_SIZE

PINNED = Path(__file__).parent / "data" / "wire_shapes.json"
WRITE_ENV = "LIVEBLOG_WRITE_WIRE_SHAPES"
# The headers that are part of an answer's shape (not a request id, not a length).
HEADERS = ("etag", "location", "idempotent-replayed", "cache-control", "content-type")
START = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)

Answers = dict[str, dict[str, Any]]


def event_times() -> Iterator[datetime]:
    """Each story event's time: a minute and a bit apart, every other one with a
    fraction of a second (written with microseconds) and every other one without."""
    for n in itertools.count():
        yield START + timedelta(seconds=61 * n, microseconds=250_000 * (n % 2))


@pytest.fixture
def clocked_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """Story events stamped by ``event_times`` instead of the wall clock."""
    times = event_times()
    monkeypatch.setattr(Story.Event, "create_timestamp", staticmethod(lambda: next(times)))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "fresh_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def app(database_url: str, clocked_events: None) -> AsyncIterator[Starlette]:
    made = create_app(Settings(database_url=database_url, write_rate=None))
    async with made.router.lifespan_context(made):
        yield made


class Recorder:
    """Sends requests to the app and keeps each answer's status, headers and body."""

    def __init__(self, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.http = http
        self.tokens = tokens
        self.answers: Answers = {}

    async def __call__(
        self, label: str, method: str, url: str, *, who: str | None = None,
        body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
    ) -> httpx.Response:  # fmt: skip
        sent = dict(headers or {})
        if who is not None:
            sent["Authorization"] = f"Bearer {self.tokens[who]}"
        content = None if body is None else orjson.dumps(body)
        if content is not None:
            sent["Content-Type"] = "application/json"
        response = await self.http.request(method, url, content=content, headers=sent)
        assert label not in self.answers
        shown = {name: response.headers[name] for name in HEADERS if name in response.headers}
        self.answers[label] = {"status": response.status_code, "headers": shown,
                               "body": response.text}  # fmt: skip
        return response


async def write_and_read(record: Recorder) -> None:
    """A story with every kind of event, and every read of it."""
    stories = "/api/stories"
    story = f"{stories}/valley-floods"
    await record(
        "open story", "POST", stories, who="editor",
        body={"slug": "valley-floods", "title": "Floods in the valley",
              "summary": 'Live: "rain" & <rivers> — ünïcödé 🌧\nline two'},
    )  # fmt: skip
    posts = {}
    for key, body in [
        ("first", {"body": "<p>The river rose overnight.</p>", "title": "Rising"}),
        ("second", {"body": "<p>Roads closed: <b>A1</b>, B2</p>"}),
        ("third", {"body": "<p>Shelter open at the school</p>", "title": "Shelter"}),
    ]:
        answer = await record(
            f"post {key}", "POST", f"{story}/updates", who="reporter", body=body,
            headers={"Idempotency-Key": key},
        )  # fmt: skip
        posts[key] = answer.json()["id"]
    await record(
        "post flagged", "POST", f"{story}/updates", who="editor",
        body={"body": "<p>Evacuation ordered</p>", "title": "Evacuation", "key_event": True,
              "pinned": True},
        headers={"Idempotency-Key": "flagged"},
    )  # fmt: skip
    await record(
        "post replayed", "POST", f"{story}/updates", who="reporter",
        body={"body": "<p>The river rose overnight.</p>", "title": "Rising"},
        headers={"Idempotency-Key": "first"},
    )  # fmt: skip
    first, second, third = posts["first"], posts["second"], posts["third"]
    await record(
        "correct", "POST", f"{story}/updates/{first}/corrections", who="reporter",
        body={"body": "<p>The river rose two metres overnight.</p>", "note": "Height"},
    )  # fmt: skip
    await record(
        "correct again", "POST", f"{story}/updates/{first}/corrections", who="editor",
        body={"body": "<p>The river rose 2 m overnight.</p>", "note": "Style"},
        headers={"If-Match": '"r2"'},
    )  # fmt: skip
    await record(
        "correct then retract", "POST", f"{story}/updates/{second}/corrections",
        who="reporter", body={"body": "<p>Roads closed: A1</p>", "note": "B2 is open"},
    )  # fmt: skip
    await record(
        "retract", "POST", f"{story}/updates/{second}/retraction", who="editor",
        body={"reason": "Wrong town"},
    )  # fmt: skip
    await record(
        "flag", "PATCH", f"{story}/updates/{third}", who="editor",
        body={"pinned": True, "key_event": True},
    )  # fmt: skip
    await record(
        "unflag", "PATCH", f"{story}/updates/{third}", who="editor", body={"pinned": False}
    )
    await record(
        "edit story", "PATCH", story, who="editor",
        body={"title": "Floods in the valley, day 2", "summary": "Live updates"},
        headers={"If-Match": '"v12"'},
    )  # fmt: skip
    await record("close", "POST", f"{story}/close", who="editor")
    await record("reopen", "POST", f"{story}/reopen", who="editor")

    long = f"{stories}/long-story"
    await record("open long", "POST", stories, who="editor",
                 body={"slug": "long-story", "title": "A long story"})  # fmt: skip
    for n in range(DEFAULT_PAGE_SIZE + 3):
        await record(
            f"post long {n}", "POST", f"{long}/updates", who="reporter",
            body={"body": f"<p>Update {n}</p>"}, headers={"Idempotency-Key": f"long-{n}"},
        )  # fmt: skip
    await record("close long", "POST", f"{long}/close", who="editor")

    await record("list", "GET", stories)
    await record("list live", "GET", f"{stories}?status=live")
    await record("list closed", "GET", f"{stories}?status=closed")
    etag = (await record("story", "GET", story)).headers["etag"]
    await record("story by id", "GET", f"{stories}/{story_id_of(record, 'open story')}")
    await record("story not modified", "GET", story, headers={"If-None-Match": etag})
    next_id = (await record("long story", "GET", long)).json()["next"]
    await record("long story at version", "GET", f"{long}?min_version=3")
    await record("updates", "GET", f"{long}/updates?limit=5")
    await record("updates before", "GET", f"{long}/updates?before={next_id}")
    await record("key events", "GET", f"{story}/updates?key_events=true")
    for who in (None, "editor"):
        for name, update in (("corrected", first), ("retracted", second), ("plain", third)):
            await record(
                f"revisions of {name} for {who}", "GET",
                f"{story}/updates/{update}/revisions", who=who,
            )  # fmt: skip
    await record("history", "GET", f"{story}/events?limit=1000", who="editor")
    await record("history page", "GET", f"{story}/events?after=3&limit=2", who="editor")
    for version in (1, 5, 13):
        await record(f"at version {version}", "GET", f"{story}?at_version={version}", who="editor")
    moment = (START + timedelta(seconds=61 * 6 + 1)).isoformat().replace("+00:00", "Z")
    await record("at a moment", "GET", f"{story}?at={moment}", who="editor")
    await record("long at version", "GET", f"{long}?at_version=24", who="editor")

    await record("no story", "GET", f"{stories}/no-such-story")
    await record("no story's history", "GET", f"{stories}/no-such-story/events", who="editor")
    await record("no story in the past", "GET", f"{stories}/no-such-story?at_version=1",
                 who="editor")  # fmt: skip
    await record("no such version", "GET", f"{story}?at_version=99", who="editor")
    await record("before the story", "GET", f"{story}?at=2020-01-01T00:00:00Z", who="editor")
    await record("no such update", "GET", f"{story}/updates/{UUID(int=7)}/revisions")


def story_id_of(record: Recorder, label: str) -> UUID:
    return UUID(orjson.loads(record.answers[label]["body"])["id"])


def live_messages(newsroom: Newsroom, views: ReadViews, story_id: UUID) -> Answers:
    """Live messages of the story: each event as the hub gets it, far-back backlogs,
    the snapshot and ``live``."""
    events = newsroom.story_events(story_id)
    states = StoryStates(lambda story, upto: newsroom.story_events(story, upto=upto))
    answers: Answers = {}
    for notification_id, event in enumerate(events, 1):
        applied = states.apply(notification_id, event)
        assert applied is not None
        answers[f"live event {applied.version}"] = {"body": event_frame(applied).text}
    for since in (0, 9):
        frames = read_backlog(newsroom, story_id, since)
        assert frames is not None
        for frame in frames:
            answers[f"backlog after {since}: {frame.version}"] = {"body": frame.text}
    page = views.story_page(story_id, DEFAULT_PAGE_SIZE)
    assert page is not None
    version, story = page.head.version, page.render()
    answers["snapshot"] = {"body": snapshot_text(version, story)}
    answers["reset snapshot"] = {"body": snapshot_text(version, story, reset=True)}
    answers["live"] = {"body": live_text(version)}
    return answers


async def test_every_answer_and_live_message_is_the_pinned_bytes(app: Starlette) -> None:
    tokens = {
        "editor": app.state.credentials.issue(name="Sam Editor", role=Role.EDITOR)[0],
        "reporter": app.state.credentials.issue(name="Aida Reporter", role=Role.REPORTER)[0],
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        record = Recorder(http, tokens)
        await write_and_read(record)
    answers = record.answers
    answers.update(
        live_messages(app.state.newsroom, app.state.views, story_id_of(record, "open story"))
    )
    if os.environ.get(WRITE_ENV):
        PINNED.write_bytes(orjson.dumps(answers, option=orjson.OPT_INDENT_2) + b"\n")
    pinned: Answers = orjson.loads(PINNED.read_bytes())
    assert list(answers) == list(pinned)
    for label, answer in answers.items():
        assert answer == pinned[label], label
