"""The persisted read views on each backend: exactly once, equal to the fold, atomic.

The suite is ``ViewsSuite``; each ``TestViews…`` subclass gives it a store. Batches are
made the way the feed makes them: events read from the store, in store order, applied
to ``StoryStates``, reduced to ``Changes``. What the views must hold is the oracle's
(``tests/integration/views_oracle.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.persistence import IntegrityError

from liveblog.bootstrap import build_views
from liveblog.newsroom import STORY_EVENT_TYPES, Newsroom
from projections.states import StoryStates
from projections.story import UpdateView, fold
from projections.views import ALL_VIEWS, REVISIONS, STORY_LIST, TIMELINE, Changes, ReadViews
from projections.views.queries import RevisionRow
from projections.views.rows import stored_revisions
from projections.views.schema import add_column
from projections.wire import folded_story_bytes, rfc3339, story_fields_json, update_json
from tests.helpers import EDITOR, REPORTER, open_newsroom
from tests.integration.views_oracle import (
    EMBED,
    IMAGE,
    Scenario,
    close_views,
    fold_rows,
    folded_stories,
    views_rows,
    write_scenario,
)

# -- batches as the feed makes them --------------------------------------------------


def log_events(newsroom: Newsroom) -> list[tuple[int, Any]]:
    """Every story event in the store, in store order, with its notification id."""
    found: list[tuple[int, Any]] = []
    start = 1
    while True:
        page = newsroom.recorder.select_notifications(start=start, limit=500)
        if not page:
            return found
        for notification in page:
            event = newsroom.mapper.to_domain_event(notification)
            if isinstance(event, STORY_EVENT_TYPES):
                found.append((notification.id, event))
        start = page[-1].id + 1


def new_states(newsroom: Newsroom) -> StoryStates:
    return StoryStates(lambda story_id, upto: newsroom.story_events(story_id, upto=upto))


def changes_of(states: StoryStates, batch: Sequence[tuple[int, Any]]) -> Changes:
    """A batch reduced to the rows to write, as the feed reduces it."""
    changes = Changes()
    for notification_id, event in batch:
        applied = states.apply(notification_id, event)
        if applied is not None:
            changes.add(applied)
    if batch:
        changes.last_notification_id = batch[-1][0]
    return changes


def revision_rows(update: UpdateView) -> list[RevisionRow]:
    """What ``ReadViews.revisions`` must answer for ``update``: every revision it had."""
    return [
        RevisionRow(
            r.revision,
            rfc3339(r.at),
            r.title,
            r.body,
            r.note,
            r.by.id,
            r.by.name,
            r.kind,
            r.reverted_to,
            list(r.media),
        )
        for r in update.revisions
    ]


# -- the suite ---------------------------------------------------------------------------


class ViewsSuite:
    """Writing the views; subclasses supply the ``database_url`` fixture."""

    @pytest.fixture
    def newsroom(self, database_url: str) -> Iterator[Newsroom]:
        room = open_newsroom(database_url)
        try:
            yield room
        finally:
            room.close()

    @pytest.fixture
    def views(self, newsroom: Newsroom) -> Iterator[ReadViews]:
        made = build_views(newsroom)
        try:
            yield made
        finally:
            close_views(made, newsroom)

    @pytest.fixture
    def scenario(self, newsroom: Newsroom) -> Scenario:
        return write_scenario(newsroom)

    def test_views_start_empty_at_position_zero(self, views: ReadViews) -> None:
        assert views.positions() == dict.fromkeys(ALL_VIEWS, 0)
        assert views_rows(views) == {view: [] for view in ALL_VIEWS}

    def test_the_same_batch_written_twice_changes_nothing_the_second_time(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        batch = log_events(newsroom)
        top = batch[-1][0]

        assert views.write(changes_of(new_states(newsroom), batch)) == set(ALL_VIEWS)
        first = views.dump()
        assert views.positions() == dict.fromkeys(ALL_VIEWS, top)

        # The same batch again, as a second process (fresh states) would offer it.
        assert views.write(changes_of(new_states(newsroom), batch)) == set()
        assert views.dump() == first
        assert views.positions() == dict.fromkeys(ALL_VIEWS, top)

    def test_a_batch_behind_the_position_changes_nothing(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        batch = log_events(newsroom)
        half = len(batch) // 2
        views.write(changes_of(new_states(newsroom), batch))
        before = views.dump()

        # An older batch carries older states: written, it would take the rows back.
        behind = changes_of(new_states(newsroom), batch[:half])
        assert behind.stories  # it has rows to write
        assert views.write(behind) == set()
        assert views.dump() == before
        assert views.position() == batch[-1][0]

    def test_each_view_takes_a_batch_only_when_it_is_behind(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        batch = log_events(newsroom)
        views.write(changes_of(new_states(newsroom), batch))
        complete = views.dump()
        views.drop([TIMELINE])
        assert views.positions() == {STORY_LIST: batch[-1][0], TIMELINE: 0,
                                     REVISIONS: batch[-1][0]}  # fmt: skip
        assert views.dump()[TIMELINE] == []

        assert views.write(changes_of(new_states(newsroom), batch)) == {TIMELINE}
        assert views.dump() == complete

    def test_batches_page_by_page_give_the_rows_of_one_batch(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        batch = log_events(newsroom)
        states = new_states(newsroom)
        for start in range(0, len(batch), 3):
            assert views.write(changes_of(states, batch[start : start + 3])) == set(ALL_VIEWS)

        assert views_rows(views) == fold_rows(newsroom)
        assert views.position() == batch[-1][0]

    def test_a_batch_that_starts_on_a_cold_story_folds_it_from_the_store(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        # A process that starts in the middle of the log (its views were at a position).
        batch = log_events(newsroom)
        half = len(batch) // 2
        views.write(changes_of(new_states(newsroom), batch[:half]))
        views.write(changes_of(new_states(newsroom), batch[half:]))

        assert views_rows(views) == fold_rows(newsroom)

    def test_the_views_equal_the_fold_of_each_story(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        views.write(changes_of(new_states(newsroom), log_events(newsroom)))

        assert views_rows(views) == fold_rows(newsroom)
        for story_id in scenario.story_ids:
            story = fold(newsroom.story_events(story_id))
            assert story is not None
            head = views.story_head(story_id)
            assert head is not None
            assert head.version == story.version == len(newsroom.story_events(story_id))
            assert orjson.loads(head.fields_doc) == story_fields_json(story)
            rows = views.timeline(story_id, before_sequence=None, limit=100,
                                  key_events_only=False)  # fmt: skip
            newest_first = list(reversed(story.updates.values()))
            assert [row.update_id for row in rows] == [u.id for u in newest_first]
            assert [orjson.loads(row.doc) for row in rows] == [
                update_json(u) for u in newest_first
            ]
            for update in story.updates.values():
                assert views.revisions(story_id, update.id) == revision_rows(update)
        listed = [orjson.loads(doc) for doc in views.story_list(None)]
        assert [doc["id"] for doc in listed] == [str(i) for i in scenario.story_ids]
        assert [doc["status"] for doc in listed] == ["live", "closed"]
        assert [doc["update_count"] for doc in listed] == [4, 1]

    def test_the_story_from_the_views_is_the_folded_storys_bytes(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        # The live read and time travel answer the same Story: made from stored rows, or
        # from the fold, it must come out as the same text, page edge included.
        views.write(changes_of(new_states(newsroom), log_events(newsroom)))
        for story_id in scenario.story_ids:
            story = fold(newsroom.story_events(story_id))
            assert story is not None
            for limit in (1, 2, 20):
                page = views.story_page(story_id, limit)
                assert page is not None
                assert page.render() == folded_story_bytes(story, limit=limit), limit

    def test_views_that_also_store_the_shown_revision_read_the_same(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        # Views written before the revisions view stopped storing the revision an update
        # shows hold that one too; the reader must neither repeat nor miss it.
        views.write(changes_of(new_states(newsroom), log_events(newsroom)))
        stories = folded_stories(newsroom)
        shown = [
            (str(story.id), str(update.id), update.revisions[-1])
            for story in stories
            for update in story.updates.values()
            if stored_revisions(update) < len(update.revisions)  # the doc shows the last
        ]
        assert shown
        with views.datastore.transaction(commit=True) as cursor:
            for story_id, update_id, r in shown:
                cursor.execute(
                    views.dialect.sql(
                        "INSERT INTO {t}liveblog_revisions (story_id, update_id, revision, at,"
                        " title, body, note, by_id, by_name, media)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    (story_id, update_id, r.revision, rfc3339(r.at), r.title, r.body, r.note,
                     r.by.id, r.by.name, orjson.dumps(r.media).decode() if r.media else None),
                )  # fmt: skip

        for story in stories:
            for update in story.updates.values():
                assert views.revisions(story.id, update.id) == revision_rows(update)

    def test_a_corrected_update_keeps_every_revision(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        views.write(changes_of(new_states(newsroom), log_events(newsroom)))
        story_id = scenario.story_ids[0]

        revisions = views.revisions(story_id, scenario.corrected)
        assert [(r.revision, r.note, r.by_id) for r in revisions] == [
            (1, None, REPORTER.id),
            (2, "Crowd size", REPORTER.id),
            (3, "Spelling", EDITOR.id),
        ]
        assert revisions[-1].body == "<p>Thousands gather on Ala-Too Square.</p>"
        doc = views.update_doc(story_id, scenario.corrected)
        assert doc is not None
        published = orjson.loads(doc)
        assert published["body"] == revisions[-1].body
        assert published["revision"] == 3
        assert [c["note"] for c in published["corrections"]] == ["Crowd size", "Spelling"]

    def test_a_retracted_update_shows_no_body_and_the_reason(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        views.write(changes_of(new_states(newsroom), log_events(newsroom)))
        story_id = scenario.story_ids[0]

        doc = views.update_doc(story_id, scenario.retracted)
        assert doc is not None
        retracted = orjson.loads(doc)
        assert retracted["status"] == "retracted"
        assert retracted["body"] == ""
        assert retracted["title"] == ""
        assert retracted["pinned"] is False
        assert retracted["retraction"]["reason"] == scenario.reason
        assert retracted["retraction"]["by"] == {"id": EDITOR.id, "name": EDITOR.name}
        status = views.update_status(story_id, scenario.retracted)
        assert status is not None
        assert (status.status, status.revision) == ("retracted", 3)
        # It was posted pinned; retracted, it leaves the pinned list.
        page = views.story_page(story_id, 20)
        assert page is not None
        assert str(scenario.retracted) not in {orjson.loads(d)["id"] for d in page.pinned}
        # The history keeps what was retracted, for editors, and the retraction itself.
        revisions = views.revisions(story_id, scenario.retracted)
        assert [(r.kind, r.body, r.note) for r in revisions] == [
            ("posted", "Parliament to convene at 16:00.", None),
            ("corrected", "Parliament to convene at 17:00.", "Time"),
            ("retracted", "", scenario.reason),
        ]
        # What it shows now is read in the same snapshot: nothing (the API shows the
        # public no text of it then).
        history = views.revision_history(story_id, scenario.retracted)
        assert history is not None
        assert history.shown is None

    def test_views_made_before_revisions_had_a_kind_gain_the_columns(
        self, views: ReadViews
    ) -> None:
        # The revisions table as it was made before kinds and reverts, with two rows.
        with views.datastore.transaction(commit=True) as cursor:
            cursor.execute(views.dialect.sql("DROP TABLE {t}liveblog_revisions"))
            cursor.execute(views.dialect.sql(
                "CREATE TABLE {t}liveblog_revisions ("
                " story_id TEXT NOT NULL, update_id TEXT NOT NULL, revision BIGINT NOT NULL,"
                " at TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, note TEXT,"
                " by_id TEXT NOT NULL, by_name TEXT NOT NULL,"
                " PRIMARY KEY (story_id, update_id, revision))"
            ))  # fmt: skip
            for revision, body, note in ((1, "<p>One.</p>", None), (2, "<p>Two.</p>", "N")):
                cursor.execute(
                    views.dialect.sql(
                        "INSERT INTO {t}liveblog_revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    ("s", "u", revision, "2026-01-01T00:00:00Z", "T", body, note, "p", "P"),
                )

        views.create_tables()  # as every start does
        views.create_tables()  # and again: nothing to add

        story_id, update_id = UUID(int=0), UUID(int=1)
        with views.datastore.transaction(commit=True) as cursor:
            cursor.execute(views.dialect.sql(
                "UPDATE {t}liveblog_revisions SET story_id = ?, update_id = ?"
            ), (str(story_id), str(update_id)))  # fmt: skip
            # The update, retracted (so its timeline doc shows no revision of its own).
            cursor.execute(views.dialect.sql(
                "INSERT INTO {t}liveblog_timeline VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ), (str(story_id), str(update_id), 1, False, False, "retracted", 3, "",
                "2026-01-01T00:00:00Z", '{"status": "retracted", "revision": 3}'))  # fmt: skip
        revisions = views.revisions(story_id, update_id)
        assert [(r.revision, r.kind, r.reverted_to, r.body) for r in revisions] == [
            (1, "posted", None, "<p>One.</p>"), (2, "corrected", None, "<p>Two.</p>"),
        ]  # fmt: skip

    def test_a_column_another_process_added_meanwhile_is_no_error(self, views: ReadViews) -> None:
        """Several servers start together after an upgrade: each finds the new columns
        missing, and the one that adds them second must start too."""
        with views.datastore.transaction(commit=True) as cursor:
            add_column(cursor, views.dialect, "liveblog_revisions", "kind", "TEXT")
            add_column(cursor, views.dialect, "liveblog_revisions", "reverted_to", "BIGINT")
        assert views.revisions(uuid4(), uuid4()) == []

    def test_a_reinstated_and_reverted_update_keeps_each_step_in_its_revisions(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        views.write(changes_of(new_states(newsroom), log_events(newsroom)))
        story_id = scenario.story_ids[0]

        revisions = views.revisions(story_id, scenario.reinstated)
        first, retitled = ("Roads", "<p>Roads to the square closed.</p>"), "Roads closed"
        every_road = "<p>Every road to the square closed.</p>"
        steps = [(r.revision, r.kind, r.title, r.body, r.note, r.reverted_to) for r in revisions]
        assert steps == [
            (1, "posted", *first, None, None),
            (2, "corrected", retitled, first[1], "Headline", None),
            (3, "retracted", "", "", "Wrong square", None),
            (4, "reinstated", retitled, first[1], "It was the right square", None),
            (5, "corrected", retitled, every_road, "All roads", None),
            (6, "reverted", *first, "Back to the first report", 1),
        ]  # fmt: skip
        # Each revision keeps its media; the retraction shows none, the reinstatement
        # brings them back, and the revert those of revision 1.
        assert [r.media for r in revisions] == [
            [IMAGE], [IMAGE], [], [IMAGE], [EMBED], [IMAGE],
        ]  # fmt: skip
        history = views.revision_history(story_id, scenario.reinstated)
        assert history is not None
        assert (history.revisions, history.shown) == (revisions, 6)
        doc = views.update_doc(story_id, scenario.reinstated)
        assert doc is not None
        shown = orjson.loads(doc)
        assert (shown["status"], shown["revision"], shown["retraction"]) == ("published", 6, None)
        assert (shown["title"], shown["body"], shown["media"]) == (*first, [IMAGE])
        assert [c["note"] for c in shown["corrections"]] == [
            "Headline", "All roads", "Back to the first report",
        ]  # fmt: skip

    def test_a_failed_write_moves_neither_rows_nor_tracking(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        batch = log_events(newsroom)
        half = len(batch) // 2
        views.write(changes_of(new_states(newsroom), batch[:half]))
        before, positions = views.dump(), views.positions()

        # The story list is written (and its position moved) before the timeline, whose
        # rows here break a NOT NULL constraint: the whole transaction must roll back.
        broken = changes_of(new_states(newsroom), batch)
        assert broken.stories
        assert broken.updates
        broken.updates = {
            key: dataclasses.replace(update, title=None)  # type: ignore[arg-type]
            for key, update in broken.updates.items()
        }
        with pytest.raises(IntegrityError, match="title"):
            views.write(broken)

        assert views.dump() == before
        assert views.positions() == positions
        # And the batch, offered again intact, lands in every view.
        assert views.write(changes_of(new_states(newsroom), batch)) == set(ALL_VIEWS)
        assert views_rows(views) == fold_rows(newsroom)

    def test_an_empty_batch_writes_nothing(self, views: ReadViews) -> None:
        assert views.write(Changes()) == set()
        assert views.positions() == dict.fromkeys(ALL_VIEWS, 0)

    def test_an_unknown_story_has_no_head_and_no_rows(self, views: ReadViews) -> None:
        unknown = uuid4()
        assert views.story_head(unknown) is None
        assert views.story_page(unknown, 20) is None
        assert views.timeline(unknown, before_sequence=None, limit=5,
                              key_events_only=False) == []  # fmt: skip


class TestViewsInMemory(ViewsSuite):
    @pytest.fixture
    def database_url(self) -> str:
        return "memory://"


class TestViewsOnSQLite(ViewsSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url

    def test_views_commit_without_a_flush_and_the_log_keeps_its_own(
        self, newsroom: Newsroom, views: ReadViews, scenario: Scenario
    ) -> None:
        # Derived rows may lose their last commits to a power cut (they are folded
        # again from the log); the log may not. The pool's connections are shared.
        def synchronous(cursor: Any) -> int:
            cursor.execute("PRAGMA synchronous")
            return int(cursor.fetchone()[0])

        with views.datastore.transaction(commit=False) as cursor:
            before = synchronous(cursor)
        with views._derived_write() as cursor:
            assert synchronous(cursor) == 1  # NORMAL
        views.write(changes_of(new_states(newsroom), log_events(newsroom)))

        assert before == 2  # FULL: what the log's commits run with
        with views.datastore.transaction(commit=False) as cursor:
            assert synchronous(cursor) == before


@pytest.mark.postgres
class TestViewsOnPostgreSQL(ViewsSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url

    def test_views_commit_without_waiting_for_the_wal_and_the_log_does(
        self, views: ReadViews
    ) -> None:
        def synchronous_commit(cursor: Any) -> str:
            cursor.execute("SHOW synchronous_commit")
            return str(next(iter(dict(cursor.fetchone()).values())))

        with views._derived_write() as cursor:
            assert synchronous_commit(cursor) == "off"
        with views.datastore.transaction(commit=False) as cursor:
            assert synchronous_commit(cursor) == "on"
