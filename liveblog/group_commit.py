"""Group commit: the commands on one story, run in turns and saved in batches.

Commands on one story take turns within a process (one lock per story, striped): no
work is wasted on races between our own threads, and the story held by the load
callable is never changed by two threads at once. Whoever takes a story's turn runs
every command queued for it, in order, on the story, and saves all their events in one
transaction: eight reporters posting at once pay for one commit, not eight, and the
outcome is the same as running the commands one by one in that order.

A batch that lost the race for the story's next version to another process (the save
raised ``IntegrityError``) is decided again on the fresh story, after a random backoff.
``StoryBatcher`` knows nothing of the store: it is given ``load``, ``save`` and
``forget`` callables (``liveblog.newsroom.Newsroom`` gives its own).
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from liveblog import deadline
from liveblog.domain import DomainError, Story

# How often a command that lost a race on the story's version is tried again, and the
# most it first waits before the next try (a random share of it, so racers spread out).
RACE_ATTEMPTS = 20
RACE_BACKOFF_SECONDS = 0.01
RACE_BACKOFF_GROWTH = 16  # the wait's ceiling doubles per lost race, up to 16 times the first
LOCK_STRIPES = 64
# The most commands saved in one transaction: bounds a batch's latency and size.
MAX_BATCH = 64


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


class Job:
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


class StoryBatcher:
    """Runs commands on stories in turns and batches (see the module's docstring).

    ``load(story_id)`` returns the story to change in place (raising if there is none),
    ``save(story)`` records its pending events, raising ``IntegrityError`` when another
    process took the version, and ``forget(story_id)`` drops a loaded story that holds
    changes the store does not have. All three are called during the story's turn only.
    """

    def __init__(
        self,
        *,
        load: Callable[[UUID], Story],
        save: Callable[[Story], object],
        forget: Callable[[UUID], None],
    ) -> None:
        self._load = load
        self._save = save
        self._forget = forget
        self._turns = [threading.Lock() for _ in range(LOCK_STRIPES)]
        # Commands waiting for their story's next batch, one queue per lock stripe, each
        # with a lock of its own: queueing must not wait for a batch.
        self._queues: list[list[Job]] = [[] for _ in range(LOCK_STRIPES)]
        self._queue_locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        # Stories whose queue a drain() is working through (guarded by the queue locks).
        self._draining: set[UUID] = set()

    def turn(self, story_id: UUID) -> threading.Lock:
        """The story's turn: held by whoever runs its batch, or reads the loaded story."""
        return self._turns[story_id.int % LOCK_STRIPES]

    def waiting(self, story_id: UUID) -> int:
        """How many of the story's commands are queued and not done yet."""
        stripe = story_id.int % LOCK_STRIPES
        with self._queue_locks[stripe]:
            queue = self._queues[stripe]
            return sum(1 for job in queue if job.story_key == story_id.int and not job.done)

    def execute(self, command: Command) -> Outcome:
        """Run ``command`` on the fresh story and save it, in a batch with any others.

        Commands queue up while the story's turn is taken; this thread takes the next
        turn and runs every queued command, its own among them. A command that finds its
        job done by another thread returns.
        """
        job = Job(command)
        story_id = command.story_id
        self._enqueue(job, claim_drain=False)
        while True:  # a job with more than MAX_BATCH ahead of it waits another turn
            with self.turn(story_id):
                if job.done:
                    break
                self._run_batch(story_id, self._take_batch(story_id))
        return job.result()

    def submit(
        self, command: Command, on_done: Callable[[], object] | None = None
    ) -> tuple[Job, bool]:
        """Queue ``command`` for its story's next batch without waiting for it.

        ``on_done`` is called, in the thread that ran the batch, once the job has its
        outcome or error. True says that no thread is draining the story's queue: the
        caller must start one (``drain``), as the event loop does. (``execute`` takes
        its own turn instead, and may run submitted jobs in its batch too.)
        """
        job = Job(command, on_done)
        return job, self._enqueue(job, claim_drain=True)

    def withdraw(self, job: Job) -> bool:
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
                with self.turn(story_id):
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

    def _enqueue(self, job: Job, *, claim_drain: bool) -> bool:
        """Queue ``job``; with ``claim_drain``, True when the caller must start a drain."""
        story_id = job.command.story_id
        stripe = story_id.int % LOCK_STRIPES
        with self._queue_locks[stripe]:  # held for a moment: commands queue while a batch saves
            self._queues[stripe].append(job)
            if not claim_drain or story_id in self._draining:
                return False
            self._draining.add(story_id)
            return True

    def _take_batch(self, story_id: UUID) -> list[Job]:
        """The story's next MAX_BATCH queued jobs, in order, off its queue."""
        stripe = story_id.int % LOCK_STRIPES
        queue = self._queues[stripe]
        with self._queue_locks[stripe]:
            batch = [j for j in queue if j.story_key == story_id.int][:MAX_BATCH]
            queue[:] = [j for j in queue if j not in batch]
        return batch

    def _run_batch(self, story_id: UUID, batch: list[Job]) -> None:
        """Run the batch's commands on the story and save; retry the lot on a lost race.

        Held during the story's turn. Every job leaves done: with an outcome or an error.
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

    def _try_batch(self, story_id: UUID, jobs: list[Job]) -> bool:
        """One attempt at the jobs; False when another process took the next version.

        Jobs are finished only once the attempt stands: after a lost race every command
        is decided again on the fresh story, the failed ones too.
        """
        try:
            # The loaded story itself, not a copy (copying a story of thousands of
            # updates costs more than the command): the turn keeps it ours, and a
            # batch that changed it without saving has it forgotten below.
            story = self._load(story_id)
        except Exception as error:
            for job in jobs:
                job.finish(error=_own_copy(error))
            return True
        decided: list[tuple[Job, Outcome | None, Exception | None]] = []
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
                self._save(story)
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
