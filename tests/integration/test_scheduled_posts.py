"""Scheduled posts (DESIGN §4), through the app in this process, on each backend.

A schedule is published exactly once, by the scheduler's turn after its time; unschedule
and reschedule hold until then; a schedule that fell due while no server ran is
published at the next start. Where a test must know that a turn has passed, it runs the
turn itself, with a clock of its own, instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveblog.bootstrap import build
from liveblog.domain import Actor
from liveblog.publishing import Scheduler
from liveblog.settings import Settings
from tests.helpers import Api, auth, issue_token
from tests.integration.in_process import in_process_api

SLUG = "night-launch"
DRAFTS = f"/api/stories/{SLUG}/drafts"
# How long a test waits for the server's own scheduler, at most (it looks every 0.5 s).
PATIENCE_SECONDS = 15.0


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def soon(seconds: float) -> str:
    return rfc3339(datetime.now(UTC) + timedelta(seconds=seconds))


async def call(api: Api, method: str, path: str, token: str, body: Any = None, *,
               ok: int = 200) -> Any:  # fmt: skip
    response = await api.http.request(method, path, json=body, headers=auth(token))
    assert response.status_code == ok, response.text
    return response.json()


async def updates_once_there(api: Api, count: int) -> list[dict[str, Any]]:
    """The story's updates once it has ``count`` of them (the server's scheduler posts
    them); what it has after PATIENCE_SECONDS otherwise, for the assertion to show."""
    give_up = time.monotonic() + PATIENCE_SECONDS
    while True:
        story = await api.story(SLUG)
        if len(story["updates"]) >= count or time.monotonic() > give_up:
            return list(story["updates"])
        await asyncio.sleep(0.1)  # polling for an outcome with a bound, not timing it


async def posted_ids(api: Api) -> list[str]:
    events = await call(api, "GET", f"/api/stories/{SLUG}/events", api.tokens.editor)
    return [e["data"]["update_id"] for e in events["events"] if e["type"] == "update.posted"]


def later_turn(api: Api, at: datetime) -> int:
    """One scheduler turn over this app's parts, as if it were ``at`` (blocking)."""
    parts = api.app.state.parts
    return Scheduler(parts.newsroom, parts.drafts, parts.draft_index, clock=lambda: at).turn()


class ScheduleSuite:
    """The suite; each subclass supplies the ``database_url`` fixture."""

    @pytest.fixture
    async def api(self, database_url: str) -> AsyncIterator[Api]:
        async with in_process_api(database_url) as api:
            await api.open_story(SLUG)
            yield api

    async def test_a_scheduled_post_is_answered_202_and_published_once_when_due(
        self, api: Api
    ) -> None:
        publish_at = soon(1)
        draft = await call(api, "POST", f"/api/stories/{SLUG}/updates", api.tokens.reporter,
                           {"title": "Lift-off", "body": "<p>Go.</p>", "publish_at": publish_at},
                           ok=202)  # fmt: skip
        assert (draft["status"], draft["update_id"]) == ("scheduled", None)
        assert draft["publish_at"] == publish_at
        [update] = await updates_once_there(api, 1)
        assert (update["title"], update["approved_by"]) == ("Lift-off", None)
        lag = datetime.fromisoformat(update["published_at"]) - datetime.fromisoformat(publish_at)
        print(f"published {lag.total_seconds():.2f} s after its publish_at")
        published = await call(api, "GET", f"{DRAFTS}/{draft['id']}", api.tokens.reporter)
        assert (published["status"], published["update_id"]) == ("published", update["id"])
        # Later turns find nothing more to do.
        assert await asyncio.to_thread(later_turn, api, datetime.now(UTC) + timedelta(days=1)) == 0
        assert await posted_ids(api) == [update["id"]]

    async def test_an_editor_schedules_a_submitted_draft_and_approves_it(
        self, api: Api, database_url: str
    ) -> None:
        contributor = issue_token(database_url, "Cleo Stringer", "contributor")
        draft = await call(api, "POST", DRAFTS, contributor, {"body": "<p>Filed.</p>"}, ok=201)
        await call(api, "POST", f"{DRAFTS}/{draft['id']}/submit", contributor)
        scheduled = await call(api, "POST", f"{DRAFTS}/{draft['id']}/schedule",
                               api.tokens.editor, {"publish_at": soon(0.5)})  # fmt: skip
        assert scheduled["status"] == "scheduled"
        [update] = await updates_once_there(api, 1)
        assert update["author"]["name"] == "Cleo Stringer"
        assert update["approved_by"]["name"] == "Erin Editor"

    async def test_unschedule_and_reschedule_hold_until_publication(self, api: Api) -> None:
        reporter = api.tokens.reporter
        far = datetime.now(UTC) + timedelta(hours=2)
        made = [
            await call(api, "POST", DRAFTS, reporter,
                       {"body": f"<p>{n}</p>", "publish_at": rfc3339(far)}, ok=201)
            for n in range(3)
        ]  # fmt: skip
        kept, moved, dropped = (d["id"] for d in made)
        unscheduled = await call(api, "POST", f"{DRAFTS}/{dropped}/unschedule", reporter)
        assert (unscheduled["status"], unscheduled["publish_at"]) == ("draft", None)
        later = far + timedelta(hours=1)
        rescheduled = await call(api, "POST", f"{DRAFTS}/{moved}/schedule", reporter,
                                 {"publish_at": rfc3339(later)})  # fmt: skip
        assert rescheduled["publish_at"] == rfc3339(later)
        # At the first time only the kept one falls due; an hour on, the moved one.
        assert await asyncio.to_thread(later_turn, api, far + timedelta(seconds=1)) == 1
        assert await asyncio.to_thread(later_turn, api, later + timedelta(seconds=1)) == 1
        assert await asyncio.to_thread(later_turn, api, later + timedelta(days=9)) == 0
        states = {
            d: (await call(api, "GET", f"{DRAFTS}/{d}", reporter))["status"]
            for d in (kept, moved, dropped)
        }
        assert states == {kept: "published", moved: "published", dropped: "draft"}
        assert len(await posted_ids(api)) == 2
        # Published, it can no longer be unscheduled or rescheduled.
        for action, body in (("unschedule", None), ("schedule", {"publish_at": soon(60)})):
            answer = await api.http.post(f"{DRAFTS}/{kept}/{action}", json=body,
                                         headers=auth(reporter))  # fmt: skip
            assert answer.status_code == 409, answer.text

    async def test_an_approval_holds_only_for_the_text_the_editor_saw(
        self, api: Api, database_url: str
    ) -> None:
        contributor = issue_token(database_url, "Cleo Stringer", "contributor")
        draft = await call(api, "POST", DRAFTS, contributor, {"body": "<p>Approved.</p>"},
                           ok=201)  # fmt: skip
        one = f"{DRAFTS}/{draft['id']}"
        await call(api, "POST", f"{one}/submit", contributor)
        far = datetime.now(UTC) + timedelta(hours=1)
        scheduled = await call(api, "POST", f"{one}/schedule", api.tokens.editor,
                               {"publish_at": rfc3339(far)})  # fmt: skip
        # The author changes it after the editor scheduled it: back to a draft, off the
        # schedule, and nothing is published when the time comes.
        swapped = await call(api, "PATCH", one, contributor, {"body": "<p>Swapped.</p>"})
        assert (swapped["status"], swapped["publish_at"]) == ("draft", None)
        assert await asyncio.to_thread(later_turn, api, far + timedelta(minutes=1)) == 0
        assert await posted_ids(api) == []
        # Publishing names the revision the editor read: a later one is a 409.
        stale = await api.http.post(f"{one}/publish", headers=auth(
            api.tokens.editor, **{"If-Match": f'"d{scheduled["revision"]}"'}
        ))  # fmt: skip
        assert stale.status_code == 409, stale.text
        assert await posted_ids(api) == []
        current = await api.http.post(f"{one}/publish", headers=auth(
            api.tokens.editor, **{"If-Match": f'"d{swapped["revision"]}"'}
        ))  # fmt: skip
        assert current.status_code == 200, current.text
        assert current.json()["body"] == "<p>Swapped.</p>"
        # An editor's own change to a submitted draft keeps it submitted.
        other = await call(api, "POST", DRAFTS, contributor, {"body": "<p>B</p>"}, ok=201)
        await call(api, "POST", f"{DRAFTS}/{other['id']}/submit", contributor)
        fixed = await call(api, "PATCH", f"{DRAFTS}/{other['id']}", api.tokens.editor,
                           {"body": "<p>B, fixed</p>"})  # fmt: skip
        assert fixed["status"] == "submitted"

    async def test_fifty_due_at_once_from_two_schedulers_racing_are_posted_once_each(
        self, api: Api
    ) -> None:
        far = datetime.now(UTC) + timedelta(hours=3)
        posts = f"/api/stories/{SLUG}/updates"
        for n in range(50):
            body = {"body": f"<p>Item {n}</p>", "publish_at": rfc3339(far)}
            await call(api, "POST", posts, api.tokens.reporter, body, ok=202)
        when = far + timedelta(seconds=1)
        with ThreadPoolExecutor(max_workers=3) as pool:
            counts = list(pool.map(lambda _: later_turn(api, when), range(3)))
        assert sum(counts) == 50
        posted = await posted_ids(api)
        assert len(posted) == len(set(posted)) == 50
        listed = await call(api, "GET", f"{DRAFTS}?status=published", api.tokens.editor)
        assert len(listed["drafts"]) == 50


class TestSchedulesOnSQLite(ScheduleSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestSchedulesOnPostgreSQL(ScheduleSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_schedule_that_fell_due_while_no_server_ran_is_published_at_the_start(
    backend: str, request: pytest.FixtureRequest, sqlite_url: str
) -> None:
    database_url = sqlite_url if backend == "sqlite" else request.getfixturevalue(
        "fresh_postgres_url"
    )  # fmt: skip
    async with in_process_api(database_url) as api:
        await api.open_story(SLUG)
    # No server: a tool records a schedule whose time is already past.
    parts = build(Settings(database_url=database_url), start_feed=False)
    try:
        story_id = parts.newsroom.resolve_story_id(SLUG)
        reporter = Actor("someone", "Rashid Reporter")
        parts.drafts.create_draft(
            story_id=story_id, title="", body="<p>Overnight.</p>", key_event=False,
            pinned=False, actor=reporter, publish_at=datetime.now(UTC) - timedelta(hours=1),
        )  # fmt: skip
    finally:
        parts.close()
    async with in_process_api(database_url) as api:
        [update] = await updates_once_there(api, 1)
        assert update["body"] == "<p>Overnight.</p>"
        assert update["approved_by"] is None
