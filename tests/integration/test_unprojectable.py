"""One event the read side cannot take stops its story only (DESIGN §9), on each backend.

The views are made to refuse a story's rows for real: a row put in the timeline by hand
holds the sequence the story's first update will take, so writing that update breaks
the timeline's unique (story, sequence) index on SQLite and PostgreSQL alike. An event
the fold cannot apply is recorded straight into the store, as a bug could. The feed
must mark that story as needing attention, log where, leave it out, carry every other
story on, never retry the batch for ever; a rebuild then completes. A store that fails
(a SQLite file locked by another writer) is retried, never taken for bad data.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import DataError, OperationalError

from liveblog.bootstrap import Parts, build
from liveblog.domain import Story
from liveblog.feed import Attention
from liveblog.newsroom import Newsroom
from liveblog.rebuild import rebuild
from liveblog.settings import Settings, sqlite_path
from projections.story import UnknownEvent
from projections.views import ALL_VIEWS, Changes, ReadViews
from tests.helpers import REPORTER
from tests.integration.processes import TIMEOUT, Processes, Recorder, open_stories
from tests.integration.views_oracle import Rows, close_views, fold_rows, views_rows


def take_sequence_one(views: ReadViews, story_id: UUID) -> None:
    """Hold sequence 1 of the story's timeline with a row of another update: the views
    will refuse the story's first real update (a unique index), as a database would."""
    with views.datastore.transaction(commit=True) as cursor:
        cursor.execute(
            views.dialect.sql(
                "INSERT INTO {t}liveblog_timeline (story_id, update_id, sequence, pinned,"
                " key_event, status, revision, title, published_at, doc)"
                " VALUES (?, ?, 1, ?, ?, 'published', 1, 'squatter', '2026-01-01T00:00:00Z',"
                " '{}')"
            ),
            (str(story_id), str(uuid4()), False, False),
        )


def of_stories(rows: Rows, story_ids: set[UUID]) -> Rows:
    wanted = {str(story_id) for story_id in story_ids}
    return {view: [r for r in found if r["story_id"] in wanted] for view, found in rows.items()}


def position_of(newsroom: Newsroom, story_id: UUID, version: int) -> int:
    """The notification id of the story's event at ``version``."""
    top = newsroom.recorder.max_notification_id() or 0
    for notification in newsroom.recorder.select_notifications(start=1, limit=top):
        if notification.originator_id == story_id and notification.originator_version == version:
            return notification.id
    raise AssertionError(f"no version {version} of {story_id}")


class Errors(logging.Handler):
    """The feed's ERROR lines."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def errors() -> Iterator[Errors]:
    handler = Errors()
    logger = logging.getLogger("liveblog.feed")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


class UnprojectableSuite:
    def three_stories(self, processes: Processes) -> list[UUID]:
        """Three stories, opened and in the views, by a process that is closed again."""
        first, _ = processes.build()
        story_ids = open_stories(first.newsroom, 3)
        assert first.feed.catch_up(TIMEOUT)
        processes.close(first)
        return story_ids

    def test_rows_the_views_refuse_stop_their_story_alone(
        self, processes: Processes, errors: Errors
    ) -> None:
        a, b, c = self.three_stories(processes)
        parts, recorder = processes.build(start=False)
        newsroom = parts.newsroom
        take_sequence_one(parts.views, b)
        # One batch with all three stories: the feed starts after these.
        for story_id in (a, b, c, a, b):
            newsroom.post_update(story_id, body="<p>Before the start.</p>", actor=REPORTER)

        parts.feed.start()
        assert parts.feed.catch_up(TIMEOUT)  # it does not retry the batch for ever
        bad_position = position_of(newsroom, b, 2)
        assert parts.feed.stories_needing_attention() == [
            Attention(b, bad_position, "IntegrityError")
        ]
        assert parts.feed.needs_attention(b)
        assert not parts.feed.needs_attention(a)
        assert len(errors.lines) == 1
        assert str(b) in errors.lines[0]
        assert f"position {bad_position}" in errors.lines[0]

        # While it runs, the other stories go on, to the views and to live readers.
        for story_id in (b, a, c, b):
            newsroom.post_update(story_id, body="<p>Live.</p>", actor=REPORTER)
        assert parts.feed.catch_up(TIMEOUT)
        good = of_stories(views_rows(parts.views), {a, c})
        assert good == of_stories(fold_rows(newsroom), {a, c})
        assert recorder.versions() == {a: [2, 3, 4], c: [2, 3]}
        head = parts.views.story_head(b)
        assert head is not None
        assert head.version == 1  # as readers saw it before the bad event, not with a hole
        assert parts.feed.signal.known_version(b) == 0
        assert len(parts.feed.stories_needing_attention()) == 1
        assert len(errors.lines) == 1
        top = newsroom.recorder.max_notification_id()
        assert parts.views.position() == top

        # The rebuild (once the cause, here the squatting row, is gone) completes.
        parts.feed.stop()
        rebuild(newsroom, parts.views)
        assert views_rows(parts.views) == fold_rows(newsroom)

        # A process started after the rebuild carries every story on.
        processes.close(parts)
        after, _ = processes.build()
        after.newsroom.post_update(b, body="<p>After the rebuild.</p>", actor=REPORTER)
        assert after.feed.catch_up(TIMEOUT)
        assert after.feed.stories_needing_attention() == []
        assert views_rows(after.views) == fold_rows(after.newsroom)

    def test_an_event_the_fold_cannot_apply_stops_its_story_alone(
        self, processes: Processes, errors: Errors
    ) -> None:
        a, b, c = self.three_stories(processes)
        parts, recorder = processes.build(start=False)
        newsroom = parts.newsroom
        newsroom.post_update(a, body="<p>Before.</p>", actor=REPORTER)
        # A correction of an update the story never had, put straight into the log (the
        # aggregate would refuse it too): the fold cannot apply it.
        wrong = Story.UpdateCorrected(
            originator_id=b, originator_version=2, timestamp=datetime.now(UTC),
            actor_id=REPORTER.id, actor_name=REPORTER.name, update_id=uuid4(),
            title=None, body="<p>x</p>", note="n", reverted_to=None, media=None,
        )  # type: ignore[call-arg]  # fmt: skip
        newsroom.recorder.insert_events([newsroom.mapper.to_stored_event(wrong)])
        newsroom.post_update(c, body="<p>Before.</p>", actor=REPORTER)

        parts.feed.start()
        assert parts.feed.catch_up(TIMEOUT)
        assert parts.feed.stories_needing_attention() == [
            Attention(b, position_of(newsroom, b, 2), "UnknownEvent")
        ]
        newsroom.post_update(a, body="<p>Live.</p>", actor=REPORTER)
        assert parts.feed.catch_up(TIMEOUT)
        assert recorder.versions() == {a: [2, 3], c: [2]}
        good = of_stories(views_rows(parts.views), {a, c})
        assert good == of_stories(fold_rows_of(newsroom, {a, c}), {a, c})
        head = parts.views.story_head(b)
        assert head is not None
        assert head.version == 1
        assert len(errors.lines) == 1


def fold_rows_of(newsroom: Newsroom, story_ids: set[UUID]) -> Rows:
    """``fold_rows`` for a newsroom with a story that cannot be folded: of the others."""
    real = newsroom.story_ids

    def only() -> list[UUID]:
        return [story_id for story_id in real() if story_id in story_ids]

    newsroom.story_ids = only  # type: ignore[method-assign]
    try:
        return fold_rows(newsroom)
    finally:
        del newsroom.story_ids


class TestUnprojectableOnSQLite(UnprojectableSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestUnprojectableOnPostgreSQL(UnprojectableSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url


# -- a failing store is not bad data -----------------------------------------------------


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.views_failed = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("writing views failed (OperationalError"):
            self.views_failed.set()


def test_a_locked_store_is_retried_until_it_is_back_and_no_story_is_marked(
    sqlite_url: str,
) -> None:
    # A short lock timeout: the feed's write fails after a second, not ten.
    settings = Settings(database_url=sqlite_url, extra_env={"SQLITE_LOCK_TIMEOUT": "1"})
    parts: Parts = build(settings, start_feed=False)
    recorder = Recorder()
    parts.feed.listeners.append(recorder)
    warnings = Warnings()
    logger = logging.getLogger("liveblog.feed")
    logger.addHandler(warnings)
    blocker = sqlite3.connect(sqlite_path(sqlite_url), isolation_level=None)
    try:
        story_ids = open_stories(parts.newsroom, 2)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the file's write lock
        parts.feed.start()
        assert warnings.views_failed.wait(TIMEOUT)
        assert parts.feed.stories_needing_attention() == []
        blocker.execute("ROLLBACK")

        assert parts.feed.catch_up(TIMEOUT)
        assert parts.feed.stories_needing_attention() == []
        assert recorder.versions() == {story_id: [1] for story_id in story_ids}
        assert views_rows(parts.views) == fold_rows(parts.newsroom)
    finally:
        blocker.close()
        logger.removeHandler(warnings)
        parts.close()
        close_views(parts.views, parts.newsroom)


def test_what_counts_as_the_stores_failure_and_what_as_the_datas(sqlite_url: str) -> None:
    parts = build(Settings(database_url=sqlite_url), start_feed=False)
    feed = parts.feed
    failures: list[Any] = [OperationalError("gone"), DataError("NUL"), UnknownEvent("?")]
    assert [feed._store_failed(e) for e in failures] == [True, False, False]
    # With the store gone, an error of any other kind is not taken for bad data.
    parts.close()
    close_views(parts.views, parts.newsroom)
    assert feed._store_failed(UnknownEvent("?")) is True
    assert feed._store_failed(ValueError("?")) is True


class RefusedTogether(ReadViews):
    """Views that refuse one story's rows always, and the others' when several are
    written at once: a test double for failures no database here makes on demand."""

    def __init__(self, views: ReadViews, refused: UUID) -> None:
        super().__init__(views.datastore, views.dialect)
        self.refused = refused

    def write(self, changes: Changes, views: Sequence[str] = ALL_VIEWS) -> set[str]:
        if self.refused in changes.stories or len(changes.stories) > 1:
            raise DataError("refused")
        return super().write(changes, views)

    def check_storable(self, changes: Changes, views: Sequence[str] = ALL_VIEWS) -> None:
        if self.refused in changes.stories:
            raise DataError("refused")
        super().check_storable(changes, views)


def test_stories_that_fail_only_together_are_all_marked_and_the_feed_goes_on(
    sqlite_url: str, errors: Errors
) -> None:
    processes = Processes(sqlite_url)
    try:
        first, _ = processes.build()
        a, b, c = open_stories(first.newsroom, 3)
        assert first.feed.catch_up(TIMEOUT)
        processes.close(first)
        parts, recorder = processes.build(start=False)
        parts.feed.views = RefusedTogether(parts.views, b)
        for story_id in (a, b, c):
            parts.newsroom.post_update(story_id, body="<p>Together.</p>", actor=REPORTER)

        parts.feed.start()
        assert parts.feed.catch_up(TIMEOUT)  # it does not retry the batch for ever
        marked = parts.feed.stories_needing_attention()
        assert {(m.story_id, m.error) for m in marked} == {
            (a, "DataError"),
            (b, "DataError"),
            (c, "DataError"),
        }
        assert len(errors.lines) == 3
        assert parts.feed.reconnects == 0  # settled in one pass, not by reading again
        assert recorder.versions() == {}
        top = parts.newsroom.recorder.max_notification_id()
        assert parts.views.position() == top
    finally:
        processes.close_all()
