"""The Draft aggregate: an update being written, submitted, scheduled, then published.

Drafts live in their own aggregates and their own log (``liveblog.drafts``), never in a
story's stream: everything in a story's stream is public, and a draft is not, until it
is published. Publishing records the update in the story (``Story.post_update`` with the
id ``update_id_for_draft`` derives from the draft), then marks the draft published; the
derived id is what makes publishing idempotent across retries, processes and crashes.

Pure: no I/O; it imports only the story's domain (its text rules and errors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from liveblog.domain import (
    LIVEBLOG_NAMESPACE,
    MAX_BODY,
    MAX_TITLE,
    Actor,
    DomainError,
    InvalidField,
    NothingChanged,
    RevisionConflict,
    check_text,
)
from liveblog.media import check_media

DRAFT = "draft"
SUBMITTED = "submitted"
SCHEDULED = "scheduled"
PUBLISHED = "published"
DISCARDED = "discarded"
DRAFT_STATUSES = (DRAFT, SUBMITTED, SCHEDULED, PUBLISHED, DISCARDED)
# A draft in one of these is finished: nothing changes it any more.
FINISHED = frozenset({PUBLISHED, DISCARDED})


class DraftFinished(DomainError):
    """The draft was published or discarded: it can no longer change."""

    code = "draft_finished"


class NotScheduled(DomainError):
    code = "not_scheduled"


def update_id_for_draft(draft_id: UUID) -> UUID:
    """The id of the update a draft becomes: the same for every attempt to publish it."""
    return uuid5(LIVEBLOG_NAMESPACE, f"draft-update:{draft_id}")


def draft_id_for_key(story_id: UUID, actor_id: str, idempotency_key: str) -> UUID:
    """The same Idempotency-Key from the same person on the same story names one draft."""
    return uuid5(LIVEBLOG_NAMESPACE, f"draft:{story_id}:{actor_id}:{idempotency_key}")


def check_publish_at(publish_at: datetime) -> datetime:
    if publish_at.tzinfo is None or publish_at.utcoffset() is None:
        raise InvalidField("publish_at", "must be an RFC 3339 time with a timezone")
    return publish_at.astimezone(UTC)


class Draft(Aggregate):
    """One draft. Its version is its revision (``If-Match: "d<revision>"``)."""

    class Event(Aggregate.Event):
        actor_id: str
        actor_name: str

    class Created(Aggregate.Created):
        # Version 2: ``media``, normalised items (``liveblog.media``).
        class_version = 2

        story_id: UUID
        title: str
        body: str
        key_event: bool
        pinned: bool
        actor_id: str
        actor_name: str
        media: list[dict[str, Any]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["media"] = []

    class Edited(Event):
        """The title, body, media and flags as they now stand."""

        # Version 2: ``media`` (a draft edited before drafts had media had none).
        class_version = 2

        title: str
        body: str
        key_event: bool
        pinned: bool
        media: list[dict[str, Any]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["media"] = []

        def apply(self, aggregate: Any) -> None:
            aggregate.title, aggregate.body = self.title, self.body
            aggregate.key_event, aggregate.pinned = self.key_event, self.pinned
            aggregate.media = self.media

    class Submitted(Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.status = SUBMITTED
            aggregate.submitted = True

    class Scheduled(Event):
        publish_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status = SCHEDULED
            aggregate.publish_at = self.publish_at
            aggregate.scheduled_by = Actor(self.actor_id, self.actor_name)

    class Unscheduled(Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.status = SUBMITTED if aggregate.submitted else DRAFT
            aggregate.publish_at = None
            aggregate.scheduled_by = None

    class Recalled(Event):
        """Back to a draft, off any schedule: its author changed it after submitting it,
        so it must be submitted (and approved) again."""

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DRAFT
            aggregate.submitted = False
            aggregate.publish_at = None
            aggregate.scheduled_by = None

    class Published(Event):
        """Recorded after the update was posted to the story. The actor is who published
        it (for a schedule, who scheduled it)."""

        update_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.status = PUBLISHED
            aggregate.update_id = self.update_id

    class Discarded(Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.status = DISCARDED
            aggregate.publish_at = None

    def __init__(
        self,
        *,
        story_id: UUID,
        title: str,
        body: str,
        key_event: bool,
        pinned: bool,
        actor_id: str,
        actor_name: str,
        media: list[dict[str, Any]],
    ) -> None:
        self.story_id = story_id
        self.title = title
        self.body = body
        self.media = media
        self.key_event = key_event
        self.pinned = pinned
        self.author = Actor(actor_id, actor_name)
        self.status = DRAFT
        self.submitted = False
        self.publish_at: datetime | None = None
        self.scheduled_by: Actor | None = None
        self.update_id: UUID | None = None

    @classmethod
    def create(
        cls,
        *,
        draft_id: UUID,
        story_id: UUID,
        title: str,
        body: str,
        key_event: bool,
        pinned: bool,
        actor: Actor,
        media: Sequence[Mapping[str, Any]] = (),
    ) -> Draft:
        draft: Draft = cls._create(
            cls.Created,
            id=draft_id,
            story_id=story_id,
            title=check_text("title", title, limit=MAX_TITLE, required=False),
            body=check_text("body", body, limit=MAX_BODY),
            key_event=key_event,
            pinned=pinned,
            actor_id=actor.id,
            actor_name=actor.name,
            media=check_media(media),
        )
        return draft

    @property
    def revision(self) -> int:
        return self.version

    # -- commands -------------------------------------------------------------------

    def edit(
        self,
        *,
        title: str | None,
        body: str | None,
        key_event: bool | None,
        pinned: bool | None,
        actor: Actor,
        expected_revision: int | None,
        media: Sequence[Mapping[str, Any]] | None = None,
        as_editor: bool = False,
    ) -> None:
        """Change the draft. Its author's change to a draft an editor may have approved
        (submitted or scheduled) takes it back to a draft: an approval holds for the text
        it saw, never for what the author writes after it."""
        self._check_open(expected_revision)
        new = (
            self.title if title is None else check_text("title", title, limit=MAX_TITLE,
                                                        required=False),
            self.body if body is None else check_text("body", body, limit=MAX_BODY),
            self.key_event if key_event is None else key_event,
            self.pinned if pinned is None else pinned,
            self.media if media is None else check_media(media),
        )  # fmt: skip
        if new == (self.title, self.body, self.key_event, self.pinned, self.media):
            raise NothingChanged("the draft is already so")
        self._trigger(
            self.Edited, actor, title=new[0], body=new[1], key_event=new[2], pinned=new[3],
            media=new[4],
        )  # fmt: skip
        if not as_editor and self.status in (SUBMITTED, SCHEDULED):
            self._trigger(self.Recalled, actor)

    def submit(self, *, actor: Actor, expected_revision: int | None = None) -> None:
        self._check_open(expected_revision)
        if self.status != DRAFT:
            raise NothingChanged(f"the draft is already {self.status}")
        self._trigger(self.Submitted, actor)

    def schedule(
        self, *, publish_at: datetime, actor: Actor, expected_revision: int | None = None
    ) -> None:
        """Schedule (or reschedule) publication at ``publish_at``; a time already past
        means "as soon as the scheduler looks"."""
        self._check_open(expected_revision)
        publish_at = check_publish_at(publish_at)
        if self.status == SCHEDULED and self.publish_at == publish_at:
            raise NothingChanged("the draft is already scheduled for then")
        self._trigger(self.Scheduled, actor, publish_at=publish_at)

    def unschedule(self, *, actor: Actor, expected_revision: int | None = None) -> None:
        self._check_open(expected_revision)
        if self.status != SCHEDULED:
            raise NotScheduled("the draft is not scheduled")
        self._trigger(self.Unscheduled, actor)

    def discard(self, *, actor: Actor, expected_revision: int | None = None) -> None:
        self._check_open(expected_revision)
        self._trigger(self.Discarded, actor)

    def mark_published(self, *, actor: Actor) -> bool:
        """Record that the update was posted; False when it already was.

        Called once the story holds the update, which is then the truth: even a draft
        discarded meanwhile (a race between an editor's discard and a publish) is
        marked published, so the draft never hides an update readers can see.
        """
        if self.status == PUBLISHED:
            return False
        self._trigger(self.Published, actor, update_id=update_id_for_draft(self.id))
        return True

    def check_publishable(self) -> None:
        """``DraftFinished`` if the draft was discarded (a published one is fine: publishing
        again answers with the same update)."""
        if self.status == DISCARDED:
            raise DraftFinished("the draft was discarded")

    def approver(self, publisher: Actor) -> Actor | None:
        """Who approved the update the draft becomes: its publisher (for a schedule, who
        scheduled it), or None when that is the author, who then posted it directly."""
        return None if publisher.id == self.author.id else publisher

    # -- helpers --------------------------------------------------------------------

    def _check_open(self, expected_revision: int | None) -> None:
        if self.status in FINISHED:
            raise DraftFinished(f"the draft was {self.status}")
        if expected_revision is not None and expected_revision != self.version:
            raise RevisionConflict(
                f"the draft is at revision {self.version}, not {expected_revision}"
            )

    def _trigger(self, event_class: type[Draft.Event], actor: Actor, **fields: Any) -> None:
        self.trigger_event(event_class, actor_id=actor.id, actor_name=actor.name, **fields)


# Every Draft event type with its name in the audit trail.
DRAFT_EVENT_NAMES: dict[type[Aggregate.Event], str] = {
    Draft.Created: "draft.created",
    Draft.Edited: "draft.edited",
    Draft.Submitted: "draft.submitted",
    Draft.Scheduled: "draft.scheduled",
    Draft.Unscheduled: "draft.unscheduled",
    Draft.Recalled: "draft.recalled",
    Draft.Published: "draft.published",
    Draft.Discarded: "draft.discarded",
}
