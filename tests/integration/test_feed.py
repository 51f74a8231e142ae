"""The feed on each backend: one feed per process keeps the views equal to the fold.

The suite is ``FeedSuite``; each ``TestFeed…`` subclass gives it a store. A "process" is
what ``bootstrap.build`` makes (a Newsroom, its views and its feed); two processes
are two of those on one store. Every wait is on the feed's own signals
(``catch_up``, ``wait_for_position``, the version signal); the one thing that has no
signal, a LISTEN backend reappearing in ``pg_stat_activity``, is polled with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import ClassVar
from uuid import UUID

import psycopg
import pytest
from eventsourcing.postgres import PostgresApplicationRecorder

from liveblog import feed as feed_module
from liveblog.rebuild import rebuild
from projections.views import ALL_VIEWS
from tests.databases import libpq_url
from tests.helpers import EDITOR, REPORTER
from tests.integration.processes import (
    TIMEOUT,
    Processes,
    busy_newsrooms,
    open_stories,
    story_versions,
)
from tests.integration.views_oracle import fold_rows, views_rows, write_scenario


def contiguous(versions: dict[UUID, list[int]]) -> dict[UUID, list[int]]:
    return {story_id: list(range(1, max(seen) + 1)) for story_id, seen in versions.items()}


class FeedSuite:
    """The feed; subclasses supply the ``database_url`` fixture."""

    workers: ClassVar[int] = 4
    rounds: ClassVar[int] = 4
    startups: ClassVar[int] = 10  # a race at start-up: tried this many times

    def test_a_follower_catches_up_on_events_written_before_and_after_it_started(
        self, processes: Processes
    ) -> None:
        parts, recorder = processes.build(start=False)
        scenario = write_scenario(parts.newsroom)
        assert parts.views.position() == 0

        parts.feed.start()
        assert parts.feed.catch_up(TIMEOUT)
        assert views_rows(parts.views) == fold_rows(parts.newsroom)
        assert recorder.versions() == story_versions(parts.newsroom)

        story_id = scenario.story_ids[0]
        parts.newsroom.post_update(story_id, body="Curfew from 22:00.", actor=REPORTER)
        parts.newsroom.reopen_story(scenario.story_ids[1], actor=EDITOR)
        assert parts.feed.catch_up(TIMEOUT)

        top = parts.newsroom.recorder.max_notification_id()
        assert parts.feed.position == top
        assert parts.views.positions() == dict.fromkeys(ALL_VIEWS, top)
        assert views_rows(parts.views) == fold_rows(parts.newsroom)
        assert recorder.versions() == story_versions(parts.newsroom)
        assert parts.feed.signal.known_version(story_id) == len(
            parts.newsroom.story_events(story_id)
        )

    def test_wait_for_position_returns_once_the_views_hold_the_event(
        self, processes: Processes
    ) -> None:
        parts, _ = processes.build()
        story_id = open_stories(parts.newsroom, 1)[0]
        parts.newsroom.post_update(story_id, body="First.", actor=REPORTER)
        top = parts.newsroom.recorder.max_notification_id()
        assert top is not None

        assert parts.feed.wait_for_position(top, TIMEOUT)
        assert parts.views.position() >= top
        head = parts.views.story_head(story_id)
        assert head is not None
        assert head.version == 2
        # Nothing is recorded past the top: a wait for it ends at its timeout, False.
        assert parts.feed.wait_for_position(top + 1, 0.2) is False

    def test_recent_updates_render_as_their_views_rows_and_stay_bounded(
        self, processes: Processes, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(feed_module, "RECENT_UPDATES", 3)
        parts, _ = processes.build()
        story_id = open_stories(parts.newsroom, 1)[0]
        posted = [
            parts.newsroom.post_update(story_id, body=f"<p>Update {n}.</p>", actor=REPORTER)
            for n in range(5)
        ]
        last = posted[-1].update_id
        assert last is not None
        parts.newsroom.correct_update(
            story_id, last, body="<p>Fixed.</p>", note="typo", actor=EDITOR, as_editor=True
        )
        assert parts.feed.catch_up(TIMEOUT)

        remembered = [
            parts.feed.recent_update_doc(story_id, o.update_id)
            for o in posted
            if o.update_id is not None
        ]
        assert [r is not None for r in remembered] == [False, False, True, True, True]
        for outcome, recent in zip(posted, remembered, strict=True):
            if recent is not None:
                assert outcome.update_id is not None
                assert recent == parts.views.update_doc(story_id, outcome.update_id)
        newest = remembered[-1]
        assert newest is not None
        assert json.loads(newest)["revision"] == 2  # the correction, as the views row holds it

    def test_a_remembered_update_is_not_changed_by_its_next_event(
        self, processes: Processes
    ) -> None:
        """The event loop reads what the feed remembers while the feed's thread applies
        the next events: what it was handed must stay as it was (finished text)."""
        parts, _ = processes.build()
        story_id = open_stories(parts.newsroom, 1)[0]
        posted = parts.newsroom.post_update(story_id, body="<p>First.</p>", actor=REPORTER)
        update_id = posted.update_id
        assert update_id is not None
        assert parts.feed.catch_up(TIMEOUT)
        handed = parts.feed.recent_update_doc(story_id, update_id)
        assert handed is not None
        as_handed = json.loads(handed)

        parts.newsroom.correct_update(
            story_id, update_id, body="<p>Second.</p>", note="typo", actor=EDITOR,
            as_editor=True,
        )  # fmt: skip
        assert parts.feed.catch_up(TIMEOUT)

        assert json.loads(handed) == as_handed
        assert as_handed["revision"] == 1
        now = parts.feed.recent_update_doc(story_id, update_id)
        assert now is not None
        assert json.loads(now)["revision"] == 2

    def test_a_save_made_as_the_follower_starts_wakes_it_without_the_poll(
        self, processes: Processes
    ) -> None:
        # The subscription starts in the feed's thread; a save made meanwhile must
        # still be seen at once, not at the next poll (here: never, within the test).
        for attempt in range(self.startups):
            parts, recorder = processes.build(poll_seconds=600)
            outcome = parts.newsroom.open_story(
                slug=f"story-{attempt}", title="Opened at once", summary="", actor=EDITOR
            )
            top = parts.newsroom.recorder.max_notification_id()
            assert top is not None

            assert parts.feed.wait_for_position(top, 5.0), f"attempt {attempt}"
            assert outcome.story_id in recorder.versions()
            processes.close(parts)

    async def test_the_version_signal_wakes_an_async_waiter(self, processes: Processes) -> None:
        parts, _ = processes.build()
        story_id = open_stories(parts.newsroom, 1)[0]
        waiting = asyncio.ensure_future(parts.feed.signal.wait_for(story_id, 3, TIMEOUT))

        await asyncio.to_thread(parts.newsroom.post_update, story_id, body="a", actor=REPORTER)
        await asyncio.to_thread(parts.newsroom.post_update, story_id, body="b", actor=REPORTER)

        assert await waiting is True
        head = parts.views.story_head(story_id)
        assert head is not None
        assert head.version >= 3
        assert await parts.feed.signal.wait_for(story_id, 4, 0.2) is False

    def test_commands_from_several_threads_end_in_views_equal_to_a_rebuild(
        self, processes: Processes
    ) -> None:
        parts, recorder = processes.build()
        story_ids = open_stories(parts.newsroom, 3)

        busy_newsrooms([parts.newsroom], story_ids, workers=self.workers, rounds=self.rounds)
        assert parts.feed.catch_up(TIMEOUT)

        incremental = parts.views.dump()
        assert views_rows(parts.views) == fold_rows(parts.newsroom)
        assert recorder.versions() == story_versions(parts.newsroom)
        assert recorder.versions() == contiguous(recorder.versions())
        parts.feed.stop()  # a rebuild runs with the feed stopped
        result = rebuild(parts.newsroom, parts.views)
        assert result.events == sum(len(v) for v in story_versions(parts.newsroom).values())
        assert parts.views.dump() == incremental


class RestartTests:
    """For stores that outlive a process: restarts and two processes on one store."""

    workers: ClassVar[int]
    rounds: ClassVar[int]

    def test_a_restarted_process_resumes_from_the_views_position(
        self, processes: Processes
    ) -> None:
        first, _ = processes.build()
        scenario = write_scenario(first.newsroom)
        assert first.feed.catch_up(TIMEOUT)
        processes.close(first)

        second, recorder = processes.build()
        assert second.feed.catch_up(TIMEOUT)
        assert recorder.versions() == {}  # everything was in the views already
        story_id = scenario.story_ids[0]
        version = len(second.newsroom.story_events(story_id))
        second.newsroom.post_update(story_id, body="After the restart.", actor=REPORTER)
        assert second.feed.catch_up(TIMEOUT)

        # The story was cold in the new process: folded from the store, then advanced.
        assert recorder.versions() == {story_id: [version + 1]}
        assert views_rows(second.views) == fold_rows(second.newsroom)

    def test_two_processes_on_one_store_both_see_every_event_once(
        self, processes: Processes
    ) -> None:
        first, first_seen = processes.build()
        second, second_seen = processes.build()
        story_ids = open_stories(first.newsroom, 3)

        busy_newsrooms([first.newsroom, second.newsroom], story_ids,
                       workers=self.workers, rounds=self.rounds)  # fmt: skip
        assert first.feed.catch_up(TIMEOUT)
        assert second.feed.catch_up(TIMEOUT)

        expected = story_versions(first.newsroom)
        assert expected == contiguous(expected)
        assert first_seen.versions() == expected
        assert second_seen.versions() == expected
        assert views_rows(first.views) == fold_rows(first.newsroom)
        assert first.views.dump() == second.views.dump()
        top = first.newsroom.recorder.max_notification_id()
        assert first.views.positions() == dict.fromkeys(ALL_VIEWS, top)


class TestFeedInMemory(FeedSuite):
    startups = 150

    @pytest.fixture
    def database_url(self) -> str:
        return "memory://"


class TestFeedOnSQLite(FeedSuite, RestartTests):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class SubscriptionFailures(logging.Handler):
    """Sets ``failed`` when the feed reports that its subscription failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.failed = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "subscription failed" in record.getMessage():
            self.failed.set()


def eventually(probe: Callable[[], set[int]], timeout: float = TIMEOUT) -> set[int]:
    """Poll ``probe`` until it finds something (for what has no signal to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


@pytest.mark.postgres
class TestFeedOnPostgreSQL(FeedSuite, RestartTests):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url

    @pytest.fixture
    def application_name(self, monkeypatch: pytest.MonkeyPatch) -> str:
        """Tags this test's connections, to find its LISTEN backend among any others."""
        name = f"liveblog-test-{uuid.uuid4().hex[:12]}"
        monkeypatch.setenv("PGAPPNAME", name)
        return name

    @pytest.fixture
    def failures(self) -> Iterator[SubscriptionFailures]:
        handler = SubscriptionFailures()
        logger = logging.getLogger("liveblog.feed")
        logger.addHandler(handler)
        try:
            yield handler
        finally:
            logger.removeHandler(handler)

    def test_a_killed_listen_connection_is_replaced_and_nothing_is_lost_or_doubled(
        self,
        processes: Processes,
        database_url: str,
        application_name: str,
        failures: SubscriptionFailures,
    ) -> None:
        # A slow poll: after the kill, only a working LISTEN can wake this feed for
        # another process's write in time.
        parts, recorder = processes.build(poll_seconds=600)
        writer = processes.build(start=False)[0].newsroom  # another process, no feed
        story_ids = open_stories(parts.newsroom, 2)
        assert parts.feed.catch_up(TIMEOUT)
        assert isinstance(parts.newsroom.recorder, PostgresApplicationRecorder)
        channel = parts.newsroom.recorder.channel_name
        conninfo = libpq_url(database_url)

        def listening() -> set[int]:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE query ILIKE 'LISTEN%%'"
                    " AND position(%s in query) > 0 AND datname = current_database()"
                    " AND application_name = %s",
                    (channel, application_name),
                ).fetchall()
            return {int(row[0]) for row in rows}

        before = eventually(listening)
        assert len(before) == 1
        with psycopg.connect(conninfo, autocommit=True) as conn:
            killed = conn.execute("SELECT pg_terminate_backend(%s)", (next(iter(before)),))
            assert killed.fetchone() == (True,)

        # During: posted while the feed notices the kill and resubscribes.
        busy_newsrooms([parts.newsroom, writer], story_ids, workers=2, rounds=2)
        assert failures.failed.wait(TIMEOUT)
        assert parts.feed.reconnects >= 1
        after = eventually(lambda: listening() - before)
        assert len(after) == 1
        assert parts.feed.catch_up(TIMEOUT)

        # After: a write by the other process reaches this feed by NOTIFY alone.
        writer.post_update(story_ids[0], body="Heard by NOTIFY.", actor=REPORTER)
        top = writer.recorder.max_notification_id()
        assert top is not None
        assert parts.feed.wait_for_position(top, TIMEOUT)

        expected = story_versions(parts.newsroom)
        assert recorder.versions() == expected
        assert expected == contiguous(expected)
        assert views_rows(parts.views) == fold_rows(parts.newsroom)
