"""Publishing drafts, now or on schedule, exactly once.

Publishing is two writes in two logs: the update is posted to the story (with the id
the draft derives, ``update_id_for_draft``), then the draft is marked published. The
first makes it exactly once: the story records that id once, whichever process, retry
or scheduler turn gets there first, and the others find it posted and record nothing.
The second may fail (a crash between the two, a race lost to another process): the
draft then still looks unpublished, and the next attempt finds its update already
posted, records nothing in the story, and marks the draft. Either order of failure
leaves one update, never two.

The scheduler is a thread in every server process. Each turn it brings the drafts'
index up to date, takes the scheduled drafts that fell due, and publishes them: their
story commands are queued together, so a minute's worth of scheduled posts in one story
is saved in one batch (``liveblog.group_commit``). A schedule that fell due while every
process was down is simply due at the first turn after the next start.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from liveblog.domain import Actor, DomainError
from liveblog.draft import SCHEDULED, Draft
from liveblog.draft_index import PAGE, DraftIndex
from liveblog.drafts import Drafts
from liveblog.group_commit import Job
from liveblog.newsroom import Command, Newsroom

log = logging.getLogger("liveblog.scheduler")

DEFAULT_TURN_SECONDS = 0.5
# A due draft whose publication the story refuses (say it is closed) is tried again this
# long after, not every turn; it stays scheduled until then, or until an editor acts.
RETRY_REFUSED_SECONDS = 30.0
# How long a turn waits for its story commands, once queued.
COMMAND_WAIT_SECONDS = 30.0


def publish_command(newsroom: Newsroom, draft: Draft, publisher: Actor) -> Command:
    """The story command that posts ``draft`` as its update, ``publisher`` approving."""
    return newsroom.post_update_command(
        draft.story_id,
        body=draft.body,
        title=draft.title,
        key_event=draft.key_event,
        pinned=draft.pinned,
        actor=draft.author,
        draft_id=draft.id,
        approved_by=draft.approver(publisher),
        media=draft.media,
    )


def _mark(draft: Draft, *, by: Actor) -> None:
    draft.mark_published(actor=by)


def mark_published(drafts: Drafts, index: DraftIndex, draft_id: UUID, publisher: Actor) -> Draft:
    """Record that the draft's update is posted (blocking; once, however often called)."""
    draft = drafts.change_draft(draft_id, functools.partial(_mark, by=publisher))
    index.catch_up()
    return draft


class Scheduler:
    """Publishes scheduled drafts when they fall due (see the module's docstring)."""

    def __init__(
        self,
        newsroom: Newsroom,
        drafts: Drafts,
        index: DraftIndex,
        *,
        turn_seconds: float = DEFAULT_TURN_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.newsroom = newsroom
        self.drafts = drafts
        self.index = index
        self.turn_seconds = turn_seconds
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Drafts whose publication was refused: not tried again before this monotonic time.
        self._refused_until: dict[UUID, float] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="liveblog-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.turn()
            except PersistenceError as error:
                # The store is away: the next turn tries again, and nothing is lost, since
                # what is due stays due.
                log.warning("scheduler: the store failed (%s); trying again", type(error).__name__)
            except Exception:
                log.exception("scheduler: a turn failed; trying again")
            self._stop.wait(self.turn_seconds)

    def turn(self) -> int:
        """One look at the schedule: publish what fell due. Returns how many it published."""
        self.index.catch_up()
        now = self.clock()
        waiting: list[tuple[Draft, threading.Event, Job]] = []
        stories: set[UUID] = set()
        moment = time.monotonic()
        self._refused_until = {d: t for d, t in self._refused_until.items() if t > moment}
        # Drafts refused a moment ago are skipped below; asking for that many more keeps
        # them from taking the places of drafts that can be published (a story closed
        # with hundreds scheduled into it must not hold up every other story's).
        for draft_id in self.index.due(now, PAGE + len(self._refused_until)):
            if draft_id in self._refused_until:
                continue
            draft = self.drafts.find_draft(draft_id)
            if draft is None or draft.status != SCHEDULED or draft.scheduled_by is None:
                continue
            if draft.publish_at is None or draft.publish_at > now:
                continue  # rescheduled since the index was read
            done = threading.Event()
            job, must_drain = self.newsroom.submit(
                publish_command(self.newsroom, draft, draft.scheduled_by), done.set
            )
            if must_drain:
                stories.add(draft.story_id)
            waiting.append((draft, done, job))
        for story_id in stories:  # after queueing them all: one batch per story
            self.newsroom.drain(story_id)
        published = 0
        for draft, done, job in waiting:
            done.wait(COMMAND_WAIT_SECONDS)
            if self._posted(draft, job):
                by = draft.scheduled_by
                assert by is not None
                assert job.outcome is not None
                self.drafts.change_draft(draft.id, functools.partial(_mark, by=by))
                published += job.outcome.recorded  # not when another process posted it
        if waiting:
            self.index.catch_up()  # once for the turn's drafts, not once for each
        return published

    def _posted(self, draft: Draft, job: Job) -> bool:
        """Whether the draft's update is in the story now (posted by this turn or before)."""
        if not job.done:
            return False
        if job.error is None:
            self._refused_until.pop(draft.id, None)
            return True
        if isinstance(job.error, DomainError):
            self._refused_until[draft.id] = time.monotonic() + RETRY_REFUSED_SECONDS
            log.warning(
                "scheduler: draft %s could not be published: %s (tried again in %.0f s)",
                draft.id, job.error, RETRY_REFUSED_SECONDS,
            )  # fmt: skip
            return False
        raise job.error
