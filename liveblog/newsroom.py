"""The Newsroom application: one method per command, each a small use case.

Commands load the Story, let it decide, and save its new events. A command that loses a
race on the story's version is retried on the fresh state; one that named a revision
which no longer holds raises ``RevisionConflict`` instead (the aggregate checks it).
Everything here is synchronous: the web layer calls it from worker threads.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording, Transcoder
from eventsourcing.utils import Environment, EnvType

from liveblog import deadline
from liveblog.domain import (
    Actor,
    DomainError,
    Story,
    UpdateRecord,
    UpdateRecords,
    story_id_for_slug,
    update_id_for_key,
)
from liveblog.sanitize import sanitize_body
from liveblog.settings import environment_from_settings
from liveblog.transcoder import OrjsonTranscoder

T = TypeVar("T")

# How often a command that lost a race on the story's version is tried again, and the
# most it first waits before the next try (a random share of it, so racers spread out).
RACE_ATTEMPTS = 20
RACE_BACKOFF_SECONDS = 0.01
RACE_BACKOFF_GROWTH = 16  # the wait's ceiling doubles per lost race, up to 16 times the first
LOCK_STRIPES = 64
SNAPSHOT_INTERVAL = 100
# The most commands saved in one transaction: bounds a batch's latency and size.
MAX_BATCH = 64


class StoryNotFound(DomainError):
    code = "not_found"


class SlugTaken(DomainError):
    code = "slug_taken"


class StoryBusy(DomainError):
    """Lost the race for the story's next version too many times in a row."""

    code = "busy"


@dataclass(frozen=True)
class Outcome:
    """What a command did: the story's version after it, and whether it recorded."""

    story_id: UUID
    version: int
    recorded: bool
    update_id: UUID | None = None


@dataclass(frozen=True)
class Command:
    """A decision to make on one story: made anywhere, run in the story's next batch."""

    story_id: UUID
    run: Callable[[Story], None]
    update_id: UUID | None = None


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
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Story: SNAPSHOT_INTERVAL}

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot the story just saved, as it is in memory, every SNAPSHOT_INTERVAL events.

        The library would rebuild the aggregate from the store (the last snapshot plus up
        to a hundred events) only to snapshot it; the saved aggregate is that state
        already, and our per-story lock keeps it unchanged until this returns.
        """
        if self.snapshots is None:
            return
        for aggregate in processing_event.aggregates.values():
            if not isinstance(aggregate, Story):
                continue
            crossed = any(
                event.originator_id == aggregate.id
                and event.originator_version % SNAPSHOT_INTERVAL == 0
                for event in processing_event.events
            )
            if crossed:
                self.snapshots.put([Story.Snapshot.take(aggregate)])

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        return environment_from_settings(name, env, snapshotting=True)

    def construct_transcoder(self) -> Transcoder:
        # A snapshot writes a story's updates as one table of columns; the record type
        # stays registered so snapshots stored before that still load.
        return OrjsonTranscoder(record_types=(UpdateRecord,), tables={UpdateRecords: UpdateRecord})

    # -- queries used by commands and reads -----------------------------------------

    def resolve_story_id(self, ref: str) -> UUID:
        """``{story}`` in a URL is the story's id or its slug."""
        return resolve_story_ref(ref)

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        # Commands on one story take turns within a process: no work is wasted on races
        # between our own threads, and the library's cache is never copied while another
        # thread fast-forwards it (its deepcopy runs outside its own lock). Races with
        # other processes remain, and are retried in _run_batch().
        self._story_locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        # Commands waiting for their story's next batch, one queue per lock stripe (see
        # _change), each with a lock of its own: queueing must not wait for a batch.
        self._queues: list[list[_Job]] = [[] for _ in range(LOCK_STRIPES)]
        self._queue_locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        # Stories whose queue a drain() is working through (guarded by the queue locks).
        self._draining: set[UUID] = set()
        # Called after each save: the process's feed looks at the log at once.
        self.after_save: list[Callable[[], None]] = []

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        for callback in list(self.after_save):
            callback()

    def _lock_for(self, story_id: UUID) -> threading.Lock:
        return self._story_locks[story_id.int % LOCK_STRIPES]

    def get_story(self, story_id: UUID) -> Story:
        """A private copy of the story's aggregate as it stands (for reading)."""
        with self._lock_for(story_id):
            return copy.deepcopy(self._load(story_id))

    def story_version(self, story_id: UUID) -> int:
        """The story's version as it stands (no copy: cheap on a story of any length)."""
        with self._lock_for(story_id):
            return self._load(story_id).version

    def _load(self, story_id: UUID) -> Story:
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
        body: str,
        title: str = "",
        key_event: bool = False,
        pinned: bool = False,
        actor: Actor,
        idempotency_key: str | None = None,
        at: datetime | None = None,
    ) -> Command:
        """Post an update. With an idempotency key, a retry records nothing new."""
        update_id = (
            update_id_for_key(story_id, actor.id, idempotency_key) if idempotency_key else uuid4()
        )

        def run(story: Story) -> None:
            story.post_update(
                update_id=update_id,
                title=title,
                body=sanitize_body(body),  # here: in the worker thread, not the event loop
                key_event=key_event,
                pinned=pinned,
                actor=actor,
                at=at,
            )

        return Command(story_id, run, update_id)

    def correct_update_command(
        self,
        story_id: UUID,
        update_id: UUID,
        *,
        body: str,
        note: str,
        actor: Actor,
        as_editor: bool,
        expected_revision: int | None = None,
        at: datetime | None = None,
    ) -> Command:
        def run(story: Story) -> None:
            story.correct_update(
                update_id=update_id,
                body=sanitize_body(body),
                note=note,
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
    flag_update = _executed(flag_update_command)

    # -- the retry loop -------------------------------------------------------------

    def execute(self, command: Command) -> Outcome:
        """Run ``command`` on the fresh story and save it, in a batch with any others.

        Commands on one story queue up while the story's lock is held. Whoever takes the
        lock next runs every queued command in order on the story and saves all their
        events in one transaction (group commit): eight reporters posting at once pay
        for one commit, not eight, and the outcome is the same as running them one by
        one in that order. A command that finds its job done by another thread returns.
        """
        job = _Job(command)
        story_id = command.story_id
        self._enqueue(job, claim_drain=False)
        while True:  # a job with more than MAX_BATCH ahead of it waits another turn
            with self._lock_for(story_id):
                if job.done:
                    break
                self._run_batch(story_id, self._take_batch(story_id))
        return job.result()

    def submit(
        self, command: Command, on_done: Callable[[], object] | None = None
    ) -> tuple[_Job, bool]:
        """Queue ``command`` for its story's next batch without waiting for it.

        ``on_done`` is called, in the thread that ran the batch, once the job has its
        outcome or error. True says that no thread is draining the story's queue: the
        caller must start one (``drain``), as the event loop does. (``execute`` takes
        its own turn instead, and may run submitted jobs in its batch too.)
        """
        job = _Job(command, on_done)
        return job, self._enqueue(job, claim_drain=True)

    def _enqueue(self, job: _Job, *, claim_drain: bool) -> bool:
        """Queue ``job``; with ``claim_drain``, True when the caller must start a drain."""
        story_id = job.command.story_id
        stripe = story_id.int % LOCK_STRIPES
        with self._queue_locks[stripe]:  # held for a moment: commands queue while a batch saves
            self._queues[stripe].append(job)
            if not claim_drain or story_id in self._draining:
                return False
            self._draining.add(story_id)
            return True

    def withdraw(self, job: _Job) -> bool:
        """Take ``job`` off its story's queue if no batch has taken it yet (it then never
        runs); False when it is already running or done."""
        stripe = job.story_key % LOCK_STRIPES
        with self._queue_locks[stripe]:
            queue = self._queues[stripe]
            if job in queue:
                queue.remove(job)
                return True
        return False

    def drain(self, story_id: UUID, batch_seconds: float | None = None) -> None:
        """Run the story's queued commands, batch after batch, until none is left.

        One thread per story does this for the web layer: requests queue and await, and
        no thread per request waits for the story's turn (eight of them, each woken in
        turn to find its job done, cost more than the batches they waited for).
        With ``batch_seconds``, each batch's database calls must finish within that
        (``liveblog.deadline``): a dead database fails the batch instead of holding it.
        """
        stripe = story_id.int % LOCK_STRIPES
        try:
            while True:
                with self._lock_for(story_id):
                    with self._queue_locks[stripe]:
                        if not any(j.story_key == story_id.int for j in self._queues[stripe]):
                            self._draining.discard(story_id)  # under the lock: see submit
                            return
                    until = None if batch_seconds is None else time.monotonic() + batch_seconds
                    with deadline.within(until):
                        self._run_batch(story_id, self._take_batch(story_id))
        except BaseException:
            with self._queue_locks[stripe]:  # the next submit starts another drain
                self._draining.discard(story_id)
            raise

    def _take_batch(self, story_id: UUID) -> list[_Job]:
        """The story's next MAX_BATCH queued jobs, in order, off its queue."""
        stripe = story_id.int % LOCK_STRIPES
        queue = self._queues[stripe]
        with self._queue_locks[stripe]:
            batch = [j for j in queue if j.story_key == story_id.int][:MAX_BATCH]
            queue[:] = [j for j in queue if j not in batch]
        return batch

    def _run_batch(self, story_id: UUID, batch: list[_Job]) -> None:
        """Run the batch's commands on the story and save; retry the lot on a lost race.

        Held under the story's lock. Every job leaves done: with an outcome or an error.
        """
        try:
            for attempt in range(RACE_ATTEMPTS):
                if self._try_batch(story_id, [job for job in batch if not job.done]):
                    return
                # Let the winner finish, waiting longer each time: a process whose
                # writers keep coming back at once must not starve the other forever.
                ceiling = RACE_BACKOFF_SECONDS * min(2**attempt, RACE_BACKOFF_GROWTH)
                time.sleep(random.uniform(0, ceiling))
            for job in batch:
                if not job.done:
                    job.finish(error=StoryBusy("the story is changing too fast; try again"))
        finally:
            for job in batch:
                if not job.done:  # interrupted (a BaseException went through)
                    job.finish(error=StoryBusy("the command was interrupted; try again"))

    def _try_batch(self, story_id: UUID, jobs: list[_Job]) -> bool:
        """One attempt at the jobs; False when another process took the next version.

        Jobs are finished only once the attempt stands: after a lost race every command
        is decided again on the fresh story, the failed ones too.
        """
        try:
            # The cached aggregate itself, not a copy (copying a story of thousands of
            # updates costs more than the command): the lock keeps it ours, and a
            # batch that changed it without saving has it evicted below.
            story = self._load(story_id)
        except Exception as error:
            for job in jobs:
                job.finish(error=_own_copy(error))
            return True
        decided: list[tuple[_Job, Outcome | None, Exception | None]] = []
        for job in jobs:
            before = len(story.pending_events)
            try:
                job.command.run(story)
            except Exception as error:
                if len(story.pending_events) != before:
                    # Our domain methods check before they change anything, so this
                    # should not happen; if it does, this half-made change cannot be
                    # undone alone: fail this command, drop the story, decide the rest again.
                    self._forget(story_id)
                    job.finish(error=error)
                    return False
                decided.append((job, None, error))
                continue
            recorded = len(story.pending_events) != before
            made = Outcome(story.id, story.version, recorded, job.command.update_id)
            decided.append((job, made, None))
        if story.pending_events:
            try:
                self.save(story)
            except IntegrityError:
                self._forget(story_id)  # another process took this version: decide again
                return False
            except Exception as error:
                self._forget(story_id)
                decided = [(job, None, _own_copy(error)) for job, _, _ in decided]
        for job, outcome, failure in decided:
            job.finish(outcome=outcome, error=failure)
        return True


def _own_copy(error: Exception) -> Exception:
    """The error one command of a batch raises: its own object, as threads raise it at once.

    One exception object raised in several threads would collect all their tracebacks.
    """
    mine = copy.copy(error)
    mine.__cause__ = error  # the original, with the traceback of where it happened
    return mine


class _Job:
    """One command waiting in its story's queue, and what became of it."""

    __slots__ = ("command", "done", "error", "on_done", "outcome", "story_key")

    def __init__(self, command: Command, on_done: Callable[[], object] | None = None) -> None:
        self.command = command
        self.story_key = command.story_id.int
        self.on_done = on_done
        self.done = False
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None

    def finish(
        self, *, outcome: Outcome | None = None, error: BaseException | None = None
    ) -> None:
        self.outcome, self.error, self.done = outcome, error, True
        if self.on_done is not None:
            self.on_done()

    def result(self) -> Outcome:
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


@functools.lru_cache(maxsize=4096)
def resolve_story_ref(ref: str) -> UUID:
    """A story id from its id or slug (cached: readers ask for the same few stories)."""
    try:
        return UUID(ref)
    except ValueError:
        return story_id_for_slug(ref)


STORY_EVENT_TYPES = (Story.Opened, Story.Event)
_OPENED_TOPIC = f"{Story.Opened.__module__}:{Story.Opened.__qualname__}"
