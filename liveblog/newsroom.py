"""The Newsroom application: one method per command, each a small use case.

A command is made (``x_command(...)``: what to decide on which story) and executed: the
story is loaded, decides, and its new events are saved, in a batch with the other
commands on the story that queued meanwhile (``liveblog.group_commit``). A command that
loses a race on the story's version is decided again on the fresh state; one that named
a revision which no longer holds raises ``RevisionConflict`` instead (the aggregate
checks it). Everything here is synchronous: the web layer calls it from worker threads.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Recording, Transcoder
from eventsourcing.utils import Environment, EnvType

from liveblog.domain import (
    Actor,
    DomainError,
    Story,
    UpdateRecord,
    UpdateRecords,
    story_id_for_slug,
    update_id_for_key,
)
from liveblog.draft import update_id_for_draft
from liveblog.group_commit import Command, Job, Outcome, StoryBatcher, StoryBusy
from liveblog.sanitize import Sanitized
from liveblog.settings import environment_from_settings
from liveblog.transcoder import OrjsonTranscoder

# What commands return, and their error when a story is too busy: part of this interface.
__all__ = [
    "STORY_EVENT_TYPES",
    "Command",
    "Newsroom",
    "Outcome",
    "SlugTaken",
    "StoryBusy",
    "StoryNotFound",
    "resolve_story_ref",
]

SNAPSHOT_INTERVAL = 100


class StoryNotFound(DomainError):
    code = "not_found"


class SlugTaken(DomainError):
    code = "slug_taken"


P = ParamSpec("P")


def _executed(
    make: Callable[Concatenate[Newsroom, P], Command],
) -> Callable[Concatenate[Newsroom, P], Outcome]:
    """``Newsroom.x(...)``: make ``x_command(...)`` and execute it, here and now."""

    @functools.wraps(make)
    def execute(self: Newsroom, /, *args: P.args, **kwargs: P.kwargs) -> Outcome:
        return self.execute(make(self, *args, **kwargs))

    execute.__name__ = execute.__qualname__ = make.__name__.removesuffix("_command")
    return execute


class Newsroom(Application[UUID]):
    """Reporters' and editors' commands on stories."""

    name = "Newsroom"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.batcher = StoryBatcher(load=self._load, save=self.save, forget=self._forget)
        # Called after each save, in the saving thread. The write side calls no one by
        # itself: ``liveblog.bootstrap`` hooks the process's feed here, to look at the
        # log at once.
        self.after_save: list[Callable[[], object]] = []

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        return environment_from_settings(name, env, snapshotting=True)

    def construct_transcoder(self) -> Transcoder:
        # A snapshot writes a story's updates as one table of columns; the record type
        # stays registered so snapshots stored before that still load.
        return OrjsonTranscoder(record_types=(UpdateRecord,), tables={UpdateRecords: UpdateRecord})

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        recordings = super().save(*objs, **kwargs)
        self._take_snapshots_due(objs, recordings)
        for callback in list(self.after_save):
            callback()
        return recordings

    def _take_snapshots_due(
        self, saved: Sequence[object], recordings: list[Recording[UUID]]
    ) -> None:
        """Snapshot each story whose saved events reached a multiple of SNAPSHOT_INTERVAL.

        The story is snapshotted as it is in memory: that is the state just saved, and
        its turn (``StoryBatcher.turn``) keeps it so until this returns. The library's
        own snapshotting (``snapshotting_intervals``, left unset) would fold the story
        again from the store (the last snapshot and up to a hundred events) to do so.
        """
        if self.snapshots is None:
            return
        due = {
            r.domain_event.originator_id
            for r in recordings
            if r.domain_event.originator_version % SNAPSHOT_INTERVAL == 0
        }
        for story in saved:
            if isinstance(story, Story) and story.id in due:
                self.snapshots.put([Story.Snapshot.take(story)])

    # -- queries used by commands and reads -----------------------------------------

    def resolve_story_id(self, ref: str) -> UUID:
        """``{story}`` in a URL is the story's id or its slug."""
        return resolve_story_ref(ref)

    def get_story(self, story_id: UUID) -> Story:
        """A private copy of the story's aggregate as it stands (for reading)."""
        with self.batcher.turn(story_id):
            return copy.deepcopy(self._load(story_id))

    def story_version(self, story_id: UUID) -> int:
        """The story's version as it stands (no copy: cheap on a story of any length)."""
        with self.batcher.turn(story_id):
            return self._load(story_id).version

    def _load(self, story_id: UUID) -> Story:
        """The cached story itself (to read or change during its turn only)."""
        try:
            story: object = self.repository.get(story_id)
        except AggregateNotFoundError:
            raise StoryNotFound(f"no story {story_id}") from None
        if not isinstance(story, Story):
            raise StoryNotFound(f"no story {story_id}")
        return story

    def _forget(self, story_id: UUID) -> None:
        """Drop a cached aggregate that holds changes the store does not have."""
        if self.repository.cache is not None:
            with contextlib.suppress(KeyError):
                self.repository.cache.get(story_id, evict=True)

    def story_events(
        self, story_id: UUID, *, after: int = 0, upto: int | None = None, limit: int | None = None
    ) -> list[Aggregate.Event]:
        """The story's stored events after version ``after`` (up to ``upto``), in order."""
        events = self.events.get(story_id, gt=after or None, lte=upto, limit=limit)
        return [e for e in events if isinstance(e, STORY_EVENT_TYPES)]

    def story_ids(self) -> list[UUID]:
        """Every story's id, oldest first, from the log of created events."""
        ids: list[UUID] = []
        start = 1
        while True:
            page = self.recorder.select_notifications(
                start=start, limit=500, topics=[_OPENED_TOPIC]
            )
            if not page:
                return ids
            ids.extend(UUID(str(n.originator_id)) for n in page)
            start = page[-1].id + 1

    # -- commands -------------------------------------------------------------------

    def open_story(
        self,
        *,
        slug: str,
        title: str,
        summary: str,
        actor: Actor,
        at: datetime | None = None,
    ) -> Outcome:
        """Open a story. ``at`` stamps the event (for seeding history, as the demo does)."""
        story = Story.open(slug=slug, title=title, summary=summary, actor=actor, at=at)
        try:
            self.save(story)
        except IntegrityError:
            raise SlugTaken(f"a story with the slug {slug!r} exists") from None
        return Outcome(story.id, story.version, recorded=True)

    def edit_story_command(
        self,
        story_id: UUID,
        *,
        title: str | None,
        summary: str | None,
        actor: Actor,
        expected_version: int | None = None,
    ) -> Command:
        def run(story: Story) -> None:
            story.check_version(expected_version)
            story.edit(title=title, summary=summary, actor=actor)

        return Command(story_id, run)

    def close_story_command(self, story_id: UUID, *, actor: Actor) -> Command:
        return Command(story_id, lambda story: story.close(actor=actor))

    def reopen_story_command(self, story_id: UUID, *, actor: Actor) -> Command:
        return Command(story_id, lambda story: story.reopen(actor=actor))

    def post_update_command(
        self,
        story_id: UUID,
        *,
        body: str | Sanitized,
        title: str = "",
        key_event: bool = False,
        pinned: bool = False,
        actor: Actor,
        idempotency_key: str | None = None,
        at: datetime | None = None,
        draft_id: UUID | None = None,
        approved_by: Actor | None = None,
        media: Sequence[Mapping[str, Any]] = (),
    ) -> Command:
        """Post an update. With an idempotency key, a retry records nothing new.

        A draft's publication (``draft_id``) posts the update whose id the draft
        derives, so publishing it again, from any process, records nothing new;
        ``actor`` is then the draft's author and ``approved_by`` who published it.
        A ``Sanitized`` body tells its caller, once the command ran, what cleaning it
        dropped.
        """
        cleaning = body if isinstance(body, Sanitized) else Sanitized(body)
        if draft_id is not None:
            update_id = update_id_for_draft(draft_id)
        elif idempotency_key:
            update_id = update_id_for_key(story_id, actor.id, idempotency_key)
        else:
            update_id = uuid4()

        def run(story: Story) -> None:
            story.post_update(
                update_id=update_id,
                title=title,
                body=cleaning.html,  # cleaned here: in the worker thread, not the event loop
                key_event=key_event,
                pinned=pinned,
                actor=actor,
                at=at,
                approved_by=approved_by,
                from_draft=draft_id is not None,
                media=media,
            )

        return Command(story_id, run, update_id)

    def correct_update_command(
        self,
        story_id: UUID,
        update_id: UUID,
        *,
        note: str,
        actor: Actor,
        as_editor: bool,
        body: str | Sanitized | None = None,
        title: str | None = None,
        reverted_to: int | None = None,
        expected_revision: int | None = None,
        at: datetime | None = None,
        media: Sequence[Mapping[str, Any]] | None = None,
    ) -> Command:
        """A new revision of the update's title, body, media, or several of them (None:
        left as it is). ``reverted_to``: the revision whose title, body and media these
        are (a revert)."""
        cleaning = body if body is None or isinstance(body, Sanitized) else Sanitized(body)

        def run(story: Story) -> None:
            story.correct_update(
                update_id=update_id,
                title=title,
                body=None if cleaning is None else cleaning.html,
                media=media,
                note=note,
                reverted_to=reverted_to,
                actor=actor,
                as_editor=as_editor,
                expected_revision=expected_revision,
                at=at,
            )

        return Command(story_id, run, update_id)

    def retract_update_command(
        self, story_id: UUID, update_id: UUID, *, reason: str, actor: Actor
    ) -> Command:
        def run(story: Story) -> None:
            story.retract_update(update_id=update_id, reason=reason, actor=actor)

        return Command(story_id, run, update_id)

    def reinstate_update_command(
        self,
        story_id: UUID,
        update_id: UUID,
        *,
        reason: str,
        actor: Actor,
        expected_revision: int | None = None,
    ) -> Command:
        def run(story: Story) -> None:
            story.reinstate_update(
                update_id=update_id, reason=reason, actor=actor,
                expected_revision=expected_revision,
            )  # fmt: skip

        return Command(story_id, run, update_id)

    def flag_update_command(
        self,
        story_id: UUID,
        update_id: UUID,
        *,
        pinned: bool | None,
        key_event: bool | None,
        actor: Actor,
        at: datetime | None = None,
    ) -> Command:
        def run(story: Story) -> None:
            story.flag_update(
                update_id=update_id, pinned=pinned, key_event=key_event, actor=actor, at=at
            )

        return Command(story_id, run, update_id)

    # The same commands, run here and now (each ``x`` is ``execute(x_command(...))``).
    edit_story = _executed(edit_story_command)
    close_story = _executed(close_story_command)
    reopen_story = _executed(reopen_story_command)
    post_update = _executed(post_update_command)
    correct_update = _executed(correct_update_command)
    retract_update = _executed(retract_update_command)
    reinstate_update = _executed(reinstate_update_command)
    flag_update = _executed(flag_update_command)

    # -- running commands: in the story's next batch (liveblog.group_commit) -------

    def execute(self, command: Command) -> Outcome:
        """Run ``command`` now, in a batch with the story's other queued commands."""
        return self.batcher.execute(command)

    def submit(
        self, command: Command, on_done: Callable[[], object] | None = None
    ) -> tuple[Job, bool]:
        """Queue ``command`` without waiting (``StoryBatcher.submit``): the event loop's way."""
        return self.batcher.submit(command, on_done)

    def withdraw(self, job: Job) -> bool:
        return self.batcher.withdraw(job)

    def drain(self, story_id: UUID, batch_seconds: float | None = None) -> None:
        self.batcher.drain(story_id, batch_seconds)


@functools.lru_cache(maxsize=4096)
def resolve_story_ref(ref: str) -> UUID:
    """A story id from its id or slug (cached: readers ask for the same few stories)."""
    try:
        return UUID(ref)
    except ValueError:
        return story_id_for_slug(ref)


STORY_EVENT_TYPES = (Story.Opened, Story.Event)
_OPENED_TOPIC = f"{Story.Opened.__module__}:{Story.Opened.__qualname__}"
