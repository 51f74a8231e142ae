"""The Newsroom application on each backend: one suite, run in memory, on SQLite, on PostgreSQL.

The suite is ``NewsroomSuite``; each ``TestNewsroom…`` subclass gives it a store. A
"restart" is a new ``Newsroom`` instance on the same store, with nothing in its cache. The
in-memory store does not outlive its instance, so there (``persistent = False``) the
restart and two-instance tests run a reduced variant on the one instance they have.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import DomainEventProtocol, MutableOrImmutableAggregate, Snapshot
from eventsourcing.persistence import Mapper, Recording
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import strtobool

from liveblog.domain import (
    InvalidField,
    NotAuthor,
    NothingChanged,
    RevisionConflict,
    Story,
    StoryClosed,
    UpdateRecord,
    UpdateRecords,
    UpdateRetracted,
    digest,
    story_id_for_slug,
    update_id_for_key,
)
from liveblog.newsroom import SNAPSHOT_INTERVAL, Newsroom, Outcome, SlugTaken, StoryNotFound
from liveblog.settings import Settings
from liveblog.transcoder import OrjsonTranscoder
from tests.helpers import EDITOR, OTHER_REPORTER, REPORTER, in_threads

SLUG = "bishkek-protests"

# Generous bound on any wait for another thread: reached only when a test is broken.
THREAD_TIMEOUT = 10.0

N = TypeVar("N", bound=Newsroom)


class Gate:
    """Holds each thread's first save until ``parties`` threads have reached theirs.

    So two writers surely decide on the same state before either saves: the race the
    retry loop exists for, every time rather than by luck.
    """

    def __init__(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties)
        self._lock = threading.Lock()
        self.passed: set[int] = set()

    def before_save(self) -> None:
        with self._lock:
            me = threading.get_ident()
            if me in self.passed:
                return
            self.passed.add(me)
        self._barrier.wait(timeout=THREAD_TIMEOUT)


class GatedNewsroom(Newsroom):
    """A Newsroom whose saves may wait at a ``Gate``, after the command has decided."""

    # The library names an application's tables after its class unless told otherwise:
    # keep the Newsroom's, so gated and plain instances share one store.
    name = Newsroom.name
    gate: Gate | None = None

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        if self.gate is not None:
            self.gate.before_save()
        return super().save(*objs, **kwargs)


class Newsrooms:
    """Opens Newsroom instances on one store and closes them all at the end."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._opened: list[Newsroom] = []

    def open(self) -> Newsroom:
        return self._open(Newsroom)

    def open_gated(self) -> GatedNewsroom:
        """A Newsroom that can be held at a ``Gate``; set its ``gate`` to arm it."""
        return self._open(GatedNewsroom)

    def _open(self, cls: type[N]) -> N:
        room = cls(env=Settings(database_url=self.database_url).eventsourcing_env())
        self._opened.append(room)
        return room

    def close_all(self) -> None:
        for room in reversed(self._opened):
            room.close()


def posted_events(room: Newsroom, story_id: UUID) -> list[Story.UpdatePosted]:
    return [e for e in room.story_events(story_id) if isinstance(e, Story.UpdatePosted)]


def state_but_title_digests(story: Story) -> tuple[Any, ...]:
    """``state_of`` with each update's record but its title digest."""
    *rest, updates = state_of(story)
    records = {
        key: {k: v for k, v in dataclasses.asdict(record).items() if k != "title_digest"}
        for key, record in updates.items()
    }
    return (*rest, records)


def state_of(story: Story) -> tuple[Any, ...]:
    """Everything a Story knows, for comparing two loads of it."""
    return (
        story.id,
        story.version,
        story.slug,
        story.title,
        story.summary,
        story.closed,
        story.updates,
    )


class NewsroomSuite:
    """The application's behaviour; subclasses supply the ``database_url`` fixture."""

    persistent: ClassVar[bool] = True

    @pytest.fixture
    def newsrooms(self, database_url: str) -> Iterator[Newsrooms]:
        rooms = Newsrooms(database_url)
        try:
            yield rooms
        finally:
            rooms.close_all()

    @pytest.fixture
    def app(self, newsrooms: Newsrooms) -> Newsroom:
        return newsrooms.open()

    @pytest.fixture
    def story_id(self, app: Newsroom) -> UUID:
        outcome = app.open_story(slug=SLUG, title="Protests in Bishkek", summary="", actor=EDITOR)
        return outcome.story_id

    def another_instance(self, newsrooms: Newsrooms, app: Newsroom) -> Newsroom:
        """A restart: a new instance on the same store (in memory: the same instance)."""
        return newsrooms.open() if self.persistent else app

    def racing_pair(self, newsrooms: Newsrooms) -> tuple[GatedNewsroom, GatedNewsroom]:
        """Two instances on one store (in memory: one instance, twice)."""
        first = newsrooms.open_gated()
        return first, newsrooms.open_gated() if self.persistent else first

    def arm(self, first: GatedNewsroom, second: GatedNewsroom) -> Gate | None:
        """Make both instances' next commands decide before either saves.

        In memory the two are one instance, whose commands on a story take turns, so
        holding one at the gate would hold the other out: there they just run at once.
        """
        if not self.persistent:
            return None
        first.gate = second.gate = Gate(parties=2)
        return first.gate

    @staticmethod
    def disarm(gate: Gate | None, first: GatedNewsroom, second: GatedNewsroom) -> None:
        first.gate = second.gate = None
        if gate is not None:
            assert len(gate.passed) == 2  # both had decided when the first one saved

    # -- stories -----------------------------------------------------------------------

    def test_opening_a_story_makes_it_findable_by_id_and_by_slug(
        self, app: Newsroom, newsrooms: Newsrooms
    ) -> None:
        outcome = app.open_story(slug=SLUG, title="Protests", summary="Live.", actor=EDITOR)

        assert outcome == Outcome(story_id_for_slug(SLUG), version=1, recorded=True)
        assert app.resolve_story_id(SLUG) == outcome.story_id
        assert app.resolve_story_id(str(outcome.story_id)) == outcome.story_id
        story = self.another_instance(newsrooms, app).get_story(outcome.story_id)
        assert (story.slug, story.title, story.summary, story.closed) == (
            SLUG,
            "Protests",
            "Live.",
            False,
        )

    def test_a_slug_is_taken_once_even_for_another_instance(
        self, app: Newsroom, newsrooms: Newsrooms, story_id: UUID
    ) -> None:
        other = self.another_instance(newsrooms, app)

        with pytest.raises(SlugTaken):
            other.open_story(slug=SLUG, title="Again", summary="", actor=EDITOR)

        assert app.get_story(story_id).title == "Protests in Bishkek"
        assert app.story_ids() == [story_id]

    def test_an_unknown_story_is_not_found(self, app: Newsroom) -> None:
        unknown = uuid4()
        with pytest.raises(StoryNotFound):
            app.get_story(unknown)
        with pytest.raises(StoryNotFound):
            app.post_update(unknown, body="<p>Hello.</p>", actor=REPORTER)
        assert app.story_events(unknown) == []

    def test_a_story_runs_closes_and_reopens(self, app: Newsroom, story_id: UUID) -> None:
        edited = app.edit_story(
            story_id, title="Protests in Bishkek, day 2", summary=None, actor=EDITOR
        )
        closed = app.close_story(story_id, actor=EDITOR)

        with pytest.raises(StoryClosed):
            app.post_update(story_id, body="<p>Too late.</p>", actor=REPORTER)
        with pytest.raises(NothingChanged):
            app.close_story(story_id, actor=EDITOR)

        reopened = app.reopen_story(story_id, actor=EDITOR)
        posted = app.post_update(story_id, body="<p>Back.</p>", actor=REPORTER)

        assert [o.version for o in (edited, closed, reopened, posted)] == [2, 3, 4, 5]
        assert all(o.recorded for o in (edited, closed, reopened, posted))
        events = app.story_events(story_id)
        assert [type(e) for e in events] == [
            Story.Opened,
            Story.Edited,
            Story.Closed,
            Story.Reopened,
            Story.UpdatePosted,
        ]
        story = app.get_story(story_id)
        assert (story.title, story.closed, story.version) == (
            "Protests in Bishkek, day 2",
            False,
            5,
        )

    def test_editing_with_an_expected_version(self, app: Newsroom, story_id: UUID) -> None:
        app.post_update(story_id, body="<p>One.</p>", actor=REPORTER)

        with pytest.raises(RevisionConflict):
            app.edit_story(story_id, title="Stale", summary=None, actor=EDITOR, expected_version=1)
        outcome = app.edit_story(
            story_id, title=None, summary="Now with a summary.", actor=EDITOR, expected_version=2
        )
        with pytest.raises(NothingChanged):
            app.edit_story(story_id, title=None, summary="Now with a summary.", actor=EDITOR)

        assert (outcome.version, outcome.recorded) == (3, True)
        story = app.get_story(story_id)
        assert (story.title, story.summary, story.version) == (
            "Protests in Bishkek",
            "Now with a summary.",
            3,
        )

    # -- updates -----------------------------------------------------------------------

    def test_posting_stores_a_sanitized_body(self, app: Newsroom, story_id: UUID) -> None:
        outcome = app.post_update(
            story_id,
            title="Square occupied",
            body='<p onclick="x()">Crowds on <b>Ala-Too</b>.<script>alert(1)</script></p>',
            key_event=True,
            actor=REPORTER,
        )

        assert (outcome.version, outcome.recorded) == (2, True)
        assert outcome.update_id is not None
        (event,) = posted_events(app, story_id)
        assert event.update_id == outcome.update_id
        assert event.body == "<p>Crowds on <b>Ala-Too</b>.</p>"
        assert (event.title, event.key_event, event.pinned) == ("Square occupied", True, False)
        assert (event.actor_id, event.actor_name) == (REPORTER.id, REPORTER.name)

    def test_a_body_that_sanitizes_to_nothing_is_refused(
        self, app: Newsroom, story_id: UUID
    ) -> None:
        with pytest.raises(InvalidField) as caught:
            app.post_update(story_id, body="<script>alert(1)</script>", actor=REPORTER)
        assert caught.value.field == "body"
        assert app.get_story(story_id).version == 1

    def test_correcting_an_update(self, app: Newsroom, story_id: UUID) -> None:
        update_id = app.post_update(
            story_id, body="<p>Victory Square.</p>", actor=REPORTER
        ).update_id
        assert update_id is not None

        with pytest.raises(NotAuthor):
            app.correct_update(
                story_id,
                update_id,
                body="<p>No.</p>",
                note="Mine now.",
                actor=OTHER_REPORTER,
                as_editor=False,
            )
        by_author = app.correct_update(
            story_id,
            update_id,
            body="<p>Ala-Too Square.</p>",
            note="Place.",
            actor=REPORTER,
            as_editor=False,
            expected_revision=1,
        )
        with pytest.raises(RevisionConflict):
            app.correct_update(
                story_id,
                update_id,
                body="<p>Stale.</p>",
                note="Stale.",
                actor=EDITOR,
                as_editor=True,
                expected_revision=1,
            )
        by_editor = app.correct_update(
            story_id,
            update_id,
            body="<p>Ala-Too Square, 10:00.</p>",
            note="Time.",
            actor=EDITOR,
            as_editor=True,
            expected_revision=2,
        )

        assert [(o.version, o.recorded, o.update_id) for o in (by_author, by_editor)] == [
            (3, True, update_id),
            (4, True, update_id),
        ]
        corrections = [
            e for e in app.story_events(story_id) if isinstance(e, Story.UpdateCorrected)
        ]
        assert [(e.body, e.note, e.actor_id) for e in corrections] == [
            ("<p>Ala-Too Square.</p>", "Place.", REPORTER.id),
            ("<p>Ala-Too Square, 10:00.</p>", "Time.", EDITOR.id),
        ]
        record = app.get_story(story_id).find_update(update_id)
        assert (record.body_digest, record.revision) == (
            digest("<p>Ala-Too Square, 10:00.</p>"),
            3,
        )

    def test_retracting_an_update(self, app: Newsroom, story_id: UUID) -> None:
        update_id = app.post_update(
            story_id, body="<p>Rumour.</p>", pinned=True, key_event=True, actor=REPORTER
        ).update_id
        assert update_id is not None

        outcome = app.retract_update(story_id, update_id, reason="Unverified.", actor=EDITOR)
        with pytest.raises(UpdateRetracted):
            app.correct_update(
                story_id,
                update_id,
                body="<p>Fact.</p>",
                note="Fixed.",
                actor=EDITOR,
                as_editor=True,
            )
        with pytest.raises(UpdateRetracted):
            app.flag_update(story_id, update_id, pinned=True, key_event=None, actor=EDITOR)

        assert (outcome.version, outcome.recorded) == (3, True)
        last = app.story_events(story_id)[-1]
        assert isinstance(last, Story.UpdateRetracted)
        assert (last.update_id, last.reason) == (update_id, "Unverified.")
        record = app.get_story(story_id).find_update(update_id)
        assert (record.retracted, record.pinned, record.key_event) == (True, False, False)

    def test_flagging_an_update(self, app: Newsroom, story_id: UUID) -> None:
        update_id = app.post_update(story_id, body="<p>Big news.</p>", actor=REPORTER).update_id
        assert update_id is not None

        both = app.flag_update(story_id, update_id, pinned=True, key_event=True, actor=EDITOR)
        again = app.flag_update(story_id, update_id, pinned=True, key_event=True, actor=EDITOR)
        unpin = app.flag_update(story_id, update_id, pinned=False, key_event=None, actor=EDITOR)

        assert (both.version, both.recorded) == (4, True)
        assert (again.version, again.recorded) == (4, False)
        assert (unpin.version, unpin.recorded) == (5, True)
        assert [type(e) for e in app.story_events(story_id, after=2)] == [
            Story.UpdatePinned,
            Story.KeyEventSet,
            Story.UpdateUnpinned,
        ]
        record = app.get_story(story_id).find_update(update_id)
        assert (record.pinned, record.key_event) == (False, True)

    # -- idempotency -------------------------------------------------------------------

    def test_a_retried_post_with_the_same_idempotency_key_records_nothing(
        self, app: Newsroom, story_id: UUID
    ) -> None:
        first = app.post_update(
            story_id, body="<p>Once.</p>", actor=REPORTER, idempotency_key="key-1"
        )
        retry = app.post_update(
            story_id, body="<p>Once.</p>", actor=REPORTER, idempotency_key="key-1"
        )
        other_key = app.post_update(
            story_id, body="<p>Once.</p>", actor=REPORTER, idempotency_key="key-2"
        )
        other_actor = app.post_update(
            story_id, body="<p>Once.</p>", actor=OTHER_REPORTER, idempotency_key="key-1"
        )
        with pytest.raises(RevisionConflict):
            app.post_update(
                story_id, body="<p>Other.</p>", actor=REPORTER, idempotency_key="key-1"
            )

        assert first.update_id == update_id_for_key(story_id, REPORTER.id, "key-1")
        assert (first.version, first.recorded) == (2, True)
        assert (retry.version, retry.recorded, retry.update_id) == (2, False, first.update_id)
        assert (other_key.version, other_key.recorded) == (3, True)
        assert (other_actor.version, other_actor.recorded) == (4, True)
        assert len({first.update_id, other_key.update_id, other_actor.update_id}) == 3
        assert len(posted_events(app, story_id)) == 3

    def test_an_idempotent_post_stays_idempotent_across_a_restart(
        self, app: Newsroom, newsrooms: Newsrooms, story_id: UUID
    ) -> None:
        first = app.post_update(
            story_id, body="<p>Once.</p>", actor=REPORTER, idempotency_key="phone-retry"
        )
        app.post_update(story_id, body="<p>Later.</p>", actor=REPORTER)

        restarted = self.another_instance(newsrooms, app)
        retry = restarted.post_update(
            story_id, body="<p>Once.</p>", actor=REPORTER, idempotency_key="phone-retry"
        )

        assert (retry.recorded, retry.update_id, retry.version) == (False, first.update_id, 3)
        assert [e.body for e in posted_events(restarted, story_id)] == [
            "<p>Once.</p>",
            "<p>Later.</p>",
        ]
        if self.persistent:
            assert restarted is not app
            assert app.get_story(story_id).version == 3

    # -- snapshots ---------------------------------------------------------------------

    def test_snapshots_are_taken_every_100_events_and_load_the_same_state(
        self, app: Newsroom, newsrooms: Newsrooms, story_id: UUID
    ) -> None:
        update_ids: list[UUID] = []
        for n in range(2, 206):  # versions 2..205
            outcome = app.post_update(
                story_id,
                body=f"<p>Post {n}.</p>",
                actor=REPORTER,
                pinned=n % 7 == 0,
                key_event=n % 5 == 0,
            )
            assert outcome.update_id is not None
            update_ids.append(outcome.update_id)
        app.correct_update(
            story_id,
            update_ids[0],
            body="<p>Fixed.</p>",
            note="Typo.",
            actor=REPORTER,
            as_editor=False,
        )
        app.retract_update(story_id, update_ids[1], reason="Wrong.", actor=EDITOR)
        live = app.get_story(story_id)
        assert live.version == 207

        assert app.snapshots is not None
        snapshots = list(app.snapshots.get(story_id))
        assert [s.originator_version for s in snapshots] == [100, 200]

        events = app.story_events(story_id)
        for snapshot in snapshots:
            # The stored snapshot holds exactly the state the events fold to.
            assert isinstance(snapshot, Snapshot)
            from_snapshot = snapshot.mutate(None)
            folded: Any = None
            for event in events[: snapshot.originator_version]:
                folded = event.mutate(folded)
            assert isinstance(from_snapshot, Story)
            assert isinstance(folded, Story)
            assert state_of(from_snapshot) == state_of(folded)
            assert type(from_snapshot.updates) is UpdateRecords
            assert all(type(r) is UpdateRecord for r in from_snapshot.updates.values())
            assert list(from_snapshot.updates) == list(folded.updates)
            assert len(from_snapshot.updates) == snapshot.originator_version - 1

        # Loading past the cache goes through the latest snapshot, then the later events.
        assert state_of(app.repository.get(story_id, version=207)) == state_of(live)
        assert state_of(app.repository.get(story_id, version=150)) == state_of(_fold(events[:150]))
        restarted = self.another_instance(newsrooms, app)
        assert state_of(restarted.get_story(story_id)) == state_of(live)
        first = restarted.get_story(story_id).find_update(update_ids[0])
        assert (first.body_digest, first.revision) == (digest("<p>Fixed.</p>"), 2)

    def test_a_snapshot_is_taken_of_the_story_just_saved_without_reading_the_store(
        self, app: Newsroom, story_id: UUID, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The library would fold the story again from the store (its last snapshot and
        # the events since) to snapshot it: the story just saved is that state already.
        for n in range(2, SNAPSHOT_INTERVAL):
            app.post_update(story_id, body=f"<p>Post {n}.</p>", actor=REPORTER)
        assert app.snapshots is not None
        snapshot_reads: list[Any] = []
        select_events = app.snapshots.recorder.select_events

        def counted(*args: Any, **kwargs: Any) -> Any:
            snapshot_reads.append(args)
            return select_events(*args, **kwargs)

        monkeypatch.setattr(app.snapshots.recorder, "select_events", counted)
        outcome = app.post_update(story_id, body="<p>The hundredth.</p>", actor=REPORTER)

        assert outcome.version == SNAPSHOT_INTERVAL
        assert snapshot_reads == []
        monkeypatch.undo()
        (snapshot,) = app.snapshots.get(story_id)
        assert snapshot.originator_version == SNAPSHOT_INTERVAL

    def test_a_snapshot_stored_record_by_record_still_loads(
        self, app: Newsroom, newsrooms: Newsrooms, story_id: UUID
    ) -> None:
        # Before snapshots stored a story's updates as one table, each update was a tagged
        # record holding its id, in a plain dict, and the state had no class_version.
        update_ids = [
            app.post_update(story_id, body=f"<p>Post {n}.</p>", actor=REPORTER).update_id
            for n in range(4)
        ]  # versions 2..5
        assert update_ids[0] is not None
        app.correct_update(
            story_id, update_ids[0], body="<p>Fixed.</p>", note="Typo.", actor=REPORTER,
            as_editor=False,
        )  # fmt: skip
        store_legacy_snapshot(app, app.get_story(story_id))  # at version 6
        app.post_update(story_id, body="<p>After.</p>", actor=REPORTER, pinned=True)  # 7
        live = app.get_story(story_id)

        assert app.snapshots is not None
        (stored,) = app.snapshots.get(story_id)
        assert isinstance(stored, Snapshot)
        assert stored.originator_version == 6
        from_snapshot = stored.mutate(None)
        assert isinstance(from_snapshot, Story)
        events = app.story_events(story_id)
        # Such a snapshot holds no title digests: its records come back without one (a
        # correction's title then counts as a change; see UpdateRecord), the rest equal.
        assert {r.title_digest for r in from_snapshot.updates.values()} == {None}
        assert state_but_title_digests(from_snapshot) == state_but_title_digests(_fold(events[:6]))
        assert type(from_snapshot.updates) is UpdateRecords
        # Loading past the cache goes through it, and the story goes on from there.
        from_the_cache: Story = app.repository.get(story_id, version=7)
        assert state_but_title_digests(from_the_cache) == state_but_title_digests(live)
        restarted = self.another_instance(newsrooms, app)
        assert state_but_title_digests(restarted.get_story(story_id)) == (
            state_but_title_digests(live)
        )
        assert restarted.get_story(story_id).find_update(update_ids[0]).revision == 2

    # -- reads -------------------------------------------------------------------------

    def test_story_ids_lists_every_story_oldest_first(
        self, app: Newsroom, newsrooms: Newsrooms
    ) -> None:
        opened = []
        for n in range(3):
            outcome = app.open_story(
                slug=f"story-{n}", title=f"Story {n}", summary="", actor=EDITOR
            )
            app.post_update(outcome.story_id, body="<p>Posts are not stories.</p>", actor=REPORTER)
            opened.append(outcome.story_id)

        assert app.story_ids() == opened
        assert self.another_instance(newsrooms, app).story_ids() == opened

    def test_story_ids_pages_through_more_than_one_page(self, app: Newsroom) -> None:
        opened = [
            app.open_story(slug=f"s{n}", title="T", summary="", actor=EDITOR).story_id
            for n in range(501)  # story_ids() reads 500 notifications a page
        ]

        assert app.story_ids() == opened

    def test_story_events_after_and_upto(self, app: Newsroom, story_id: UUID) -> None:
        for n in range(2, 7):
            app.post_update(story_id, body=f"<p>{n}</p>", actor=REPORTER)

        def versions(**kwargs: Any) -> list[int]:
            return [e.originator_version for e in app.story_events(story_id, **kwargs)]

        assert versions() == [1, 2, 3, 4, 5, 6]
        assert versions(after=0) == [1, 2, 3, 4, 5, 6]
        assert versions(after=2) == [3, 4, 5, 6]
        assert versions(upto=4) == [1, 2, 3, 4]
        assert versions(after=2, upto=4) == [3, 4]
        assert versions(after=2, limit=2) == [3, 4]
        assert versions(after=6) == []
        assert versions(after=4, upto=4) == []
        assert [
            e.body
            for e in app.story_events(story_id, after=5)
            if isinstance(e, Story.UpdatePosted)
        ] == ["<p>6</p>"]

    # -- races -------------------------------------------------------------------------

    def test_concurrent_posts_through_two_instances_are_all_recorded_once(
        self, app: Newsroom, newsrooms: Newsrooms, story_id: UUID
    ) -> None:
        rooms = [app, self.another_instance(newsrooms, app)]

        self.race_posts(rooms, story_id, threads=4, posts=25)

        reader = self.another_instance(newsrooms, app)
        assert len(posted_events(reader, story_id)) == 100

    def test_concurrent_posts_through_one_instance_are_all_recorded_once(
        self, app: Newsroom, story_id: UUID
    ) -> None:
        # Threads of one process share its aggregate cache; none may see it half-updated.
        self.race_posts([app], story_id, threads=8, posts=10)

    @staticmethod
    def race_posts(rooms: list[Newsroom], story_id: UUID, *, threads: int, posts: int) -> None:
        """Post from ``threads`` threads at once, spread over ``rooms``; check every post."""
        start = threading.Barrier(threads)

        def reporter(t: int) -> list[Outcome]:
            room = rooms[t % len(rooms)]
            start.wait(timeout=THREAD_TIMEOUT)
            return [
                room.post_update(
                    story_id, body=f"<p>{t}/{n}</p>", actor=REPORTER, idempotency_key=f"{t}/{n}"
                )
                for n in range(posts)
            ]

        results = in_threads(
            THREAD_TIMEOUT, [functools.partial(reporter, t) for t in range(threads)]
        )

        for result in results:
            assert isinstance(result, list), result
        outcomes: list[Outcome] = [o for result in results for o in result]
        assert len(outcomes) == threads * posts
        assert all(o.recorded for o in outcomes)
        # Each post took a version of its own, and each thread's in the order it posted.
        assert sorted(o.version for o in outcomes) == list(range(2, 2 + threads * posts))
        for result in results:
            own = [o.version for o in result]
            assert own == sorted(own)
        events = rooms[0].story_events(story_id)
        assert [e.originator_version for e in events] == list(range(1, 2 + threads * posts))
        posted = [e for e in events if isinstance(e, Story.UpdatePosted)]
        expected = {f"<p>{t}/{n}</p>" for t in range(threads) for n in range(posts)}
        assert len(posted) == len(expected)
        assert {e.body for e in posted} == expected
        assert {e.update_id for e in posted} == {o.update_id for o in outcomes}
        for room in rooms:
            assert room.get_story(story_id).version == 1 + threads * posts

    def test_concurrent_corrections_of_one_revision_one_wins_the_other_conflicts(
        self, newsrooms: Newsrooms
    ) -> None:
        first, second = self.racing_pair(newsrooms)
        story_id = first.open_story(slug=SLUG, title="T", summary="", actor=EDITOR).story_id
        update_id = first.post_update(story_id, body="<p>Draft.</p>", actor=REPORTER).update_id
        assert update_id is not None
        gate = self.arm(first, second)

        def correct(room: Newsroom, body: str) -> Callable[[], Outcome]:
            return lambda: room.correct_update(
                story_id,
                update_id,
                body=body,
                note="Fixed.",
                actor=EDITOR,
                as_editor=True,
                expected_revision=1,
            )

        results = in_threads(
            THREAD_TIMEOUT, [correct(first, "<p>One.</p>"), correct(second, "<p>Two.</p>")]
        )
        self.disarm(gate, first, second)

        wins = [r for r in results if isinstance(r, Outcome)]
        conflicts = [r for r in results if isinstance(r, RevisionConflict)]
        assert (len(wins), len(conflicts)) == (1, 1), results
        assert (wins[0].version, wins[0].recorded) == (3, True)
        reader = newsrooms.open() if self.persistent else first
        events = reader.story_events(story_id)
        corrections = [e for e in events if isinstance(e, Story.UpdateCorrected)]
        assert len(corrections) == 1
        winner_body = "<p>One.</p>" if results[0] is wins[0] else "<p>Two.</p>"
        assert corrections[0].body == winner_body
        record = first.get_story(story_id).find_update(update_id)
        assert (record.body_digest, record.revision) == (digest(winner_body), 2)

    def test_one_idempotency_key_posted_concurrently_records_one_update(
        self, newsrooms: Newsrooms
    ) -> None:
        first, second = self.racing_pair(newsrooms)
        story_id = first.open_story(slug=SLUG, title="T", summary="", actor=EDITOR).story_id
        gate = self.arm(first, second)

        def post(room: Newsroom) -> Callable[[], Outcome]:
            return lambda: room.post_update(
                story_id, body="<p>Once.</p>", actor=REPORTER, idempotency_key="double-tap"
            )

        results = in_threads(THREAD_TIMEOUT, [post(first), post(second)])
        self.disarm(gate, first, second)

        assert all(isinstance(r, Outcome) for r in results), results
        outcomes: list[Outcome] = results
        assert sorted(o.recorded for o in outcomes) == [False, True]
        assert {o.update_id for o in outcomes} == {
            update_id_for_key(story_id, REPORTER.id, "double-tap")
        }
        assert {o.version for o in outcomes} == {2}
        reader = newsrooms.open() if self.persistent else first
        assert [type(e) for e in reader.story_events(story_id)] == [
            Story.Opened,
            Story.UpdatePosted,
        ]


@dataclasses.dataclass
class _UpdateRecordV1:
    """``UpdateRecord`` as snapshots of Story version 1 stored it: with the update's id."""

    id: UUID
    author_id: str
    first_digest: str
    body_digest: str
    revision: int
    pinned: bool
    key_event: bool
    retracted: bool


_UpdateRecordV1.__name__ = "UpdateRecord"  # its stored tag is the record type's name


def store_legacy_snapshot(app: Newsroom, story: Story) -> None:
    """Store a snapshot of ``story`` as Story version 1 did: record by record."""
    state = dict(Story.Snapshot.take(story).state)
    del state["class_version"]
    state["updates"] = {
        # Version 1 knew no title digest (titles could not be corrected then).
        key: _UpdateRecordV1(
            id=UUID(key),
            **{
                k: v
                for k, v in dataclasses.asdict(record).items()
                if k not in ("title_digest", "media_digest")
            },
        )
        for key, record in story.updates.items()
    }
    snapshot = Story.Snapshot(
        originator_id=story.id,
        originator_version=story.version,
        timestamp=Story.Snapshot.create_timestamp(),
        topic=f"{Story.__module__}:{Story.__qualname__}",
        state=state,
    )
    legacy = Mapper[UUID](transcoder=OrjsonTranscoder(record_types=(_UpdateRecordV1,)))
    stored = legacy.to_stored_event(snapshot)
    assert b'"_type_":"record:UpdateRecord","_data_":{"id":' in stored.state
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events([stored])


def _fold(events: list[Any]) -> Story:
    story: Any = None
    for event in events:
        story = event.mutate(story)
    assert isinstance(story, Story)
    return story


class TestNewsroomInMemory(NewsroomSuite):
    persistent = False

    @pytest.fixture
    def database_url(self) -> str:
        return "memory://"


class TestNewsroomOnSQLite(NewsroomSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestNewsroomOnPostgreSQL(NewsroomSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url

    def test_database_functions_stay_off(self, app: Newsroom) -> None:
        # DESIGN §6: with them on, subscribers can skip concurrently committed events.
        assert isinstance(app.factory, PostgresFactory)
        value = app.factory.env.get("POSTGRES_ENABLE_DB_FUNCTIONS")
        # The library reads it as strtobool(value or "no"): absent would also mean off,
        # but liveblog sets it explicitly, so an operator's env cannot flip it by accident.
        assert value is not None
        assert strtobool(value) is False
        assert app.factory.datastore.enable_db_functions is False

    def test_a_stray_process_variable_cannot_turn_database_functions_on(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NEWSROOM_POSTGRES_ENABLE_DB_FUNCTIONS", "y")
        monkeypatch.setenv("POSTGRES_ENABLE_DB_FUNCTIONS", "y")
        with Newsroom(env=Settings(database_url=database_url).eventsourcing_env()) as app:
            assert isinstance(app.factory, PostgresFactory)
            assert app.factory.datastore.enable_db_functions is False


def test_settings_keep_postgres_database_functions_off() -> None:
    env = Settings(database_url="postgresql://postgres@127.0.0.1:5432/test").eventsourcing_env()

    # The library's store, bounded in time (a subclass of the library's factory).
    assert env["PERSISTENCE_MODULE"] == "liveblog.postgres_store:PostgresFactory"
    assert strtobool(env["POSTGRES_ENABLE_DB_FUNCTIONS"]) is False
