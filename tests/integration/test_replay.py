"""An editors' replay on a real store: events as they stood, a page at a time, paced by a
fake clock, and ended at once by a client that goes.

The story is seeded with known times (as the demo is), so each wait is known exactly.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
import pytest

from liveblog.newsroom import Newsroom
from liveblog.replay import ReplayRefused, plan_replay
from liveblog.replay_clock import MAX_GAP_SECONDS
from liveblog.web.replay import run_replay
from projections.replay import RETRACTED_TEXT, StoryReplay
from projections.story_reads import StoryMissing
from tests.helpers import EDITOR, REPORTER

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
ORIGINAL = "<p>The minister resigned at 02:00.</p>"
CORRECTED = "<p>The minister offered to resign at 02:00.</p>"
VERSIONS = 5  # opened, two posts, a correction, a retraction


@pytest.fixture
def story_id(newsroom: Newsroom) -> UUID:
    """Opened at START; posts at +60 s and +90 s; corrected at +390 s; retracted now."""
    opened = newsroom.open_story(
        slug="night", title="Election night", summary="", actor=EDITOR, at=START
    )
    at = START + timedelta(seconds=60)
    resigned = newsroom.post_update(
        opened.story_id, title="Minister resigns", body=ORIGINAL, actor=REPORTER, at=at
    ).update_id
    assert resigned is not None
    at += timedelta(seconds=30)
    newsroom.post_update(opened.story_id, body="<p>Calm.</p>", actor=REPORTER, at=at)
    at += timedelta(seconds=300)
    newsroom.correct_update(
        opened.story_id, resigned, body=CORRECTED, note="He offered to.", actor=EDITOR,
        as_editor=True, at=at,
    )  # fmt: skip
    newsroom.retract_update(opened.story_id, resigned, reason="Denied.", actor=EDITOR)
    return opened.story_id


def every_page(replay: StoryReplay) -> list[Any]:
    items = []
    while page := replay.next_page():
        items.extend(page)
    return items


def test_each_event_carries_its_data_as_it_stood_read_a_page_at_a_time(
    newsroom: Newsroom, story_id: UUID
) -> None:
    replay = StoryReplay(newsroom, story_id, first=1, last=VERSIONS, page=2)
    assert replay.opening() is None
    items = every_page(replay)
    assert [i.applied.version for i in items] == [1, 2, 3, 4, 5]
    names = [i.applied.name for i in items]
    assert names == ["story.opened", "update.posted", "update.posted", "update.corrected",
                     "update.retracted"]  # fmt: skip
    posted, corrected, retracted = (items[n].applied.data["update"] for n in (1, 3, 4))
    assert (posted["body"], posted["revision"]) == (ORIGINAL, 1)
    assert (corrected["body"], corrected["revision"]) == (CORRECTED, 2)
    assert (retracted["body"], retracted["status"]) == ("", "retracted")
    assert items[4].applied.data[RETRACTED_TEXT] == {"title": "Minister resigns",
                                                     "body": CORRECTED, "media": []}  # fmt: skip
    assert RETRACTED_TEXT not in items[3].applied.data
    assert [i.actor.name for i in items] == [EDITOR.name, REPORTER.name, REPORTER.name,
                                             EDITOR.name, EDITOR.name]  # fmt: skip


def test_a_replay_from_a_version_opens_with_the_story_as_it_stood_before_it(
    newsroom: Newsroom, story_id: UUID
) -> None:
    replay = plan_replay(newsroom, story_id, first=4)
    opening = replay.opening()
    assert opening is not None
    assert opening.version == 3
    assert [u.body for u in opening.updates.values()] == [ORIGINAL, "<p>Calm.</p>"]
    assert [i.applied.version for i in every_page(replay)] == [4, 5]
    # From one past the end: the story as it stands, and nothing to replay.
    last = plan_replay(newsroom, story_id, first=VERSIONS + 1)
    assert last.opening() is not None
    assert every_page(last) == []


def test_a_replay_at_a_time_starts_with_the_first_event_after_it(
    newsroom: Newsroom, story_id: UUID
) -> None:
    assert plan_replay(newsroom, story_id, at=START + timedelta(seconds=75)).first == 3
    assert plan_replay(newsroom, story_id, at=START - timedelta(days=9)).first == 1
    assert plan_replay(newsroom, story_id, at=datetime.now(UTC) + timedelta(1)).first == 6


def test_a_replay_past_the_story_or_of_no_story_is_refused(
    newsroom: Newsroom, story_id: UUID
) -> None:
    with pytest.raises(ReplayRefused, match="at version 5, so a replay starts at 6 at most"):
        plan_replay(newsroom, story_id, first=VERSIONS + 2)
    with pytest.raises(ReplayRefused, match="1 or more"):
        plan_replay(newsroom, story_id, first=0)
    with pytest.raises(StoryMissing):
        plan_replay(newsroom, newsroom.resolve_story_id("no-such-story"))


class FakeTime:
    """A clock that moves only when the replay sleeps; each sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Client:
    """The ASGI side of an accepted WebSocket: what was sent, and a disconnect on cue."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

    async def send(self, message: Any) -> None:
        self.sent.append(message)

    async def receive(self) -> Any:
        await self.gone.wait()
        return {"type": "websocket.disconnect", "code": 1001}

    def texts(self) -> list[Any]:
        return [orjson.loads(m["text"]) for m in self.sent if m["type"] == "websocket.send"]


async def test_the_replay_waits_the_original_gaps_over_speed_on_a_fake_clock(
    newsroom: Newsroom, story_id: UUID
) -> None:
    time, client = FakeTime(), Client()
    replay = plan_replay(newsroom, story_id)
    await run_replay(replay, 60.0, client.receive, client.send,
                     sleep=time.sleep, clock=time.clock)  # fmt: skip
    # 60 s, 30 s and 300 s at 60×; the retraction came a day later: capped.
    assert time.sleeps == [1.0, 0.5, 5.0, MAX_GAP_SECONDS]
    messages = client.texts()
    assert messages[0] == {"type": "snapshot", "version": 0, "replay": True, "story": None}
    assert [m["version"] for m in messages[1:-1]] == [1, 2, 3, 4, 5]
    assert messages[-1] == {"type": "replay_end", "version": 5}
    assert client.sent[-1] == {"type": "websocket.close", "code": 1000, "reason": ""}


async def test_a_client_that_goes_mid_wait_ends_the_replay_with_no_task_left(
    newsroom: Newsroom, story_id: UUID
) -> None:
    client = Client()
    waiting = asyncio.Event()

    async def sleep_until_cancelled(seconds: float) -> None:
        waiting.set()
        await asyncio.Future()  # a wait that only a cancellation ends

    replay = plan_replay(newsroom, story_id)
    replaying = run_replay(
        replay, 1.0, client.receive, client.send,
        sleep=sleep_until_cancelled, clock=FakeTime().clock,
    )  # fmt: skip
    running = asyncio.ensure_future(replaying)
    await waiting.wait()  # the replay waits before version 2
    client.gone.set()
    await asyncio.wait_for(running, 10)
    assert [m.get("version") for m in client.texts()] == [0, 1]
    assert all(m["type"] != "websocket.close" for m in client.sent)
    assert asyncio.all_tasks() == {asyncio.current_task()}
