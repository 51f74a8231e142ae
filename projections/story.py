"""The one fold: a story's events → its public state (DESIGN §4).

The persisted read models, the live hub's snapshots and time travel all use this fold, so
there is one definition of "what a story looks like at version N". Pure: events in,
state out; it imports only ``liveblog.domain``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from liveblog.domain import Story


@dataclass(frozen=True)
class Person:
    id: str
    name: str


@dataclass(frozen=True)
class Correction:
    at: datetime
    note: str
    by: Person


@dataclass(frozen=True)
class Retraction:
    at: datetime
    reason: str
    by: Person


@dataclass(frozen=True)
class Revision:
    """One body an update has had: the first post, then each correction."""

    revision: int
    at: datetime
    body: str
    title: str
    note: str | None
    by: Person


@dataclass
class UpdateView:
    id: UUID
    story_id: UUID
    sequence: int  # publication order within the story, from 1
    title: str
    body: str
    author: Person
    key_event: bool
    pinned: bool
    status: str  # "published" | "retracted"
    published_at: datetime
    updated_at: datetime
    revision: int
    corrections: list[Correction] = field(default_factory=list)
    retraction: Retraction | None = None
    revisions: list[Revision] = field(default_factory=list)


@dataclass
class StoryView:
    id: UUID
    slug: str
    title: str
    summary: str
    status: str  # "live" | "closed"
    version: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    # In publication order (dicts keep insertion order); newest is last.
    updates: dict[UUID, UpdateView] = field(default_factory=dict)

    @property
    def coverage_start(self) -> datetime:
        first = next(iter(self.updates.values()), None)
        return first.published_at if first else self.created_at

    @property
    def coverage_end(self) -> datetime | None:
        return self.closed_at if self.status == "closed" else None


class UnknownEvent(ValueError):
    """An event this fold does not know: a new event type needs a line here."""


def _actor(event: Any) -> Person:
    return Person(id=event.actor_id, name=event.actor_name)


def apply_event(state: StoryView | None, event: Any) -> tuple[StoryView, UpdateView | None]:
    """Apply one event; return the new state and the update it touched (None: the story).

    ``state`` is changed in place; the caller owns it. Events must come in version order.
    """
    at: datetime = event.timestamp
    if isinstance(event, Story.Opened):
        story = StoryView(
            id=event.originator_id,
            slug=event.slug,
            title=event.title,
            summary=event.summary,
            status="live",
            version=event.originator_version,
            created_at=at,
            updated_at=at,
        )
        return story, None
    if state is None:
        msg = f"{type(event).__qualname__} before the story was opened"
        raise UnknownEvent(msg)
    if event.originator_version != state.version + 1:
        msg = f"event version {event.originator_version} after {state.version}: not contiguous"
        raise ValueError(msg)
    state.version = event.originator_version
    state.updated_at = at
    touched = _apply_to_story(state, event, at)
    return state, touched


def _apply_to_story(state: StoryView, event: Any, at: datetime) -> UpdateView | None:
    if isinstance(event, Story.Edited):
        state.title, state.summary = event.title, event.summary
        return None
    if isinstance(event, Story.Closed):
        state.status, state.closed_at = "closed", at
        return None
    if isinstance(event, Story.Reopened):
        state.status, state.closed_at = "live", None
        return None
    if isinstance(event, Story.UpdatePosted):
        by = _actor(event)
        posted = UpdateView(
            id=event.update_id,
            story_id=state.id,
            sequence=len(state.updates) + 1,
            title=event.title,
            body=event.body,
            author=by,
            key_event=event.key_event,
            pinned=event.pinned,
            status="published",
            published_at=at,
            updated_at=at,
            revision=1,
            revisions=[Revision(1, at, event.body, event.title, None, by)],
        )
        state.updates[posted.id] = posted
        return posted
    update = state.updates.get(event.update_id)
    if update is None:
        msg = f"{type(event).__qualname__} for unknown update {event.update_id}"
        raise UnknownEvent(msg)
    update.updated_at = at
    if isinstance(event, Story.UpdateCorrected):
        by = _actor(event)
        update.revision += 1
        update.body = event.body
        update.corrections.append(Correction(at, event.note, by))
        update.revisions.append(
            Revision(update.revision, at, event.body, update.title, event.note, by)
        )
    elif isinstance(event, Story.UpdateRetracted):
        update.revision += 1
        update.status = "retracted"
        update.body = ""
        update.title = ""
        update.pinned = update.key_event = False
        update.retraction = Retraction(at, event.reason, _actor(event))
    elif isinstance(event, (Story.UpdatePinned, Story.UpdateUnpinned)):
        update.pinned = isinstance(event, Story.UpdatePinned)
    elif isinstance(event, (Story.KeyEventSet, Story.KeyEventUnset)):
        update.key_event = isinstance(event, Story.KeyEventSet)
    else:
        msg = f"the story fold does not know {type(event).__qualname__}"
        raise UnknownEvent(msg)
    return update


def fold(events: Iterable[Any], state: StoryView | None = None) -> StoryView | None:
    """Fold events (in version order) into a story's public state; None if no events."""
    for event in events:
        state, _ = apply_event(state, event)
    return state
