"""The one fold: a story's events → its public state (DESIGN §4).

The persisted read models, the live hub's snapshots and time travel all use this fold, so
there is one definition of "what a story looks like at version N". Pure: events in,
state out; it imports only ``liveblog.domain``.

Every text an event brings is taken through ``storable_text`` here, on its way into the
read side: events recorded before the domain refused U+0000 (DESIGN §3) still fold, and
the views (whose PostgreSQL text columns cannot hold it), their JSON docs, live readers
and a rebuild all show it alike, as U+FFFD. The other characters the domain now refuses
break nothing on the read side: such old text is shown as it was recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from liveblog.domain import Story

# The values below are NamedTuples and the two views are slotted dataclasses because a
# rebuild makes hundreds of thousands of them: a frozen dataclass takes three times as
# long to make as a NamedTuple (each field goes through ``object.__setattr__``).


class Person(NamedTuple):
    id: str
    name: str


class Correction(NamedTuple):
    at: datetime
    note: str
    by: Person


class Retraction(NamedTuple):
    at: datetime
    reason: str
    by: Person


# What made a revision (``Revision.kind``).
POSTED = "posted"
CORRECTED = "corrected"
REVERTED = "reverted"  # a correction that made an earlier revision's text current again
RETRACTED = "retracted"  # title and body empty; the note is the reason
REINSTATED = "reinstated"  # the text of the revision before the retraction; note: reason


# An update's media items, as ``liveblog.media`` normalised them (JSON objects). The
# fold shares the lists between an update and its revisions, and changes none of them.
# (Values typed exactly, not Any: an Any in a revision's type turns what mypy infers of
# ``reversed(update.revisions)`` into Any.)
MediaItem = dict[str, str | None]
Media = list[MediaItem]


class Revision(NamedTuple):
    """One revision of an update: its post, each correction or revert, each retraction
    and reinstatement, with the title, body and media it left shown (none for a
    retraction)."""

    revision: int
    at: datetime
    body: str
    title: str
    note: str | None  # a correction's note, a retraction's or reinstatement's reason
    by: Person
    kind: str = POSTED
    reverted_to: int | None = None
    media: Sequence[MediaItem] = ()


@dataclass(slots=True)
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
    # The editor who published the author's draft; None when the author posted it.
    approved_by: Person | None = None
    media: Media = field(default_factory=list)  # none once retracted


@dataclass(slots=True)
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


def storable_text(text: str) -> str:
    """``text`` with each U+0000 as U+FFFD, which PostgreSQL text can hold.

    Only U+0000: every event's texts pass here (a rebuild folds 100,000s), and a search
    for one character costs a few dozen nanoseconds where the newsroom-text scan costs
    ten times that.
    """
    if "\x00" not in text:
        return text
    return text.replace("\x00", "\ufffd")


class UnknownEvent(ValueError):
    """An event this fold does not know: a new event type needs a line here."""


def _actor(event: Any) -> Person:
    return Person(event.actor_id, storable_text(event.actor_name))


def _approver(event: Any) -> Person | None:
    approved_by_id = event.approved_by_id
    if approved_by_id is None:
        return None
    return Person(approved_by_id, storable_text(event.approved_by_name or ""))


def apply_event(state: StoryView | None, event: Any) -> tuple[StoryView, UpdateView | None]:
    """Apply one event; return the new state and the update it touched (None: the story).

    ``state`` is changed in place; the caller owns it. Events must come in version order.
    """
    at: datetime = event.timestamp
    if isinstance(event, Story.Opened):
        return _opened(event, at), None
    if state is None:
        msg = f"{type(event).__qualname__} before the story was opened"
        raise UnknownEvent(msg)
    if event.originator_version != state.version + 1:
        msg = f"event version {event.originator_version} after {state.version}: not contiguous"
        raise ValueError(msg)
    # The change first: an event it refuses (``UnknownEvent``) leaves the state as it was.
    touched = _applier(type(event))(state, event, at)
    state.version = event.originator_version
    state.updated_at = at
    return state, touched


def _opened(event: Any, at: datetime) -> StoryView:
    return StoryView(
        id=event.originator_id,
        slug=storable_text(event.slug),
        title=storable_text(event.title),
        summary=storable_text(event.summary),
        status="live",
        version=event.originator_version,
        created_at=at,
        updated_at=at,
    )


# How each event after ``Opened`` changes a story: (state, event, its time) → the update it
# touched, or None for the story itself. Looked up by the event's exact type (a rebuild
# applies every event of the log; a chain of isinstance tests cost more than the change).
Applier = Callable[[StoryView, Any, datetime], UpdateView | None]


def _edited(state: StoryView, event: Any, at: datetime) -> None:
    state.title, state.summary = storable_text(event.title), storable_text(event.summary)


def _closed(state: StoryView, event: Any, at: datetime) -> None:
    state.status, state.closed_at = "closed", at


def _reopened(state: StoryView, event: Any, at: datetime) -> None:
    state.status, state.closed_at = "live", None


def _posted(state: StoryView, event: Any, at: datetime) -> UpdateView:
    by = _actor(event)
    title, body = storable_text(event.title), storable_text(event.body)
    media = event.media  # checked by the domain: no U+0000 (``storable_text``) to replace
    posted = UpdateView(
        id=event.update_id,
        story_id=state.id,
        sequence=len(state.updates) + 1,
        title=title,
        body=body,
        author=by,
        key_event=event.key_event,
        pinned=event.pinned,
        status="published",
        published_at=at,
        updated_at=at,
        revision=1,
        corrections=[],
        retraction=None,
        revisions=[Revision(1, at, body, title, None, by, POSTED, None, media)],
        approved_by=_approver(event),
        media=media,
    )
    state.updates[posted.id] = posted
    return posted


def _touched(state: StoryView, event: Any, at: datetime) -> UpdateView:
    """The update an event names, marked as changed at ``at``."""
    update = state.updates.get(event.update_id)
    if update is None:
        msg = f"{type(event).__qualname__} for unknown update {event.update_id}"
        raise UnknownEvent(msg)
    update.updated_at = at
    return update


def _corrected(state: StoryView, event: Any, at: datetime) -> UpdateView:
    update = _touched(state, event, at)
    by = _actor(event)
    note = storable_text(event.note)
    if event.body is not None:
        update.body = storable_text(event.body)
    if event.title is not None:
        update.title = storable_text(event.title)
    if event.media is not None:
        update.media = event.media
    update.revision += 1
    update.corrections.append(Correction(at, note, by))
    reverted_to = event.reverted_to
    kind = CORRECTED if reverted_to is None else REVERTED
    update.revisions.append(
        Revision(update.revision, at, update.body, update.title, note, by, kind, reverted_to,
                 update.media)
    )  # fmt: skip
    return update


def _retracted(state: StoryView, event: Any, at: datetime) -> UpdateView:
    update = _touched(state, event, at)
    by, reason = _actor(event), storable_text(event.reason)
    update.revision += 1
    update.status = "retracted"
    update.body = ""
    update.title = ""
    update.media = []
    update.pinned = update.key_event = False
    update.retraction = Retraction(at, reason, by)
    update.revisions.append(Revision(update.revision, at, "", "", reason, by, RETRACTED))
    return update


def _reinstated(state: StoryView, event: Any, at: datetime) -> UpdateView:
    update = _touched(state, event, at)
    by, reason = _actor(event), storable_text(event.reason)
    shown = last_text_revision(update)
    update.revision += 1
    update.status = "published"
    update.title, update.body, update.media = shown.title, shown.body, list(shown.media)
    update.retraction = None
    update.revisions.append(
        Revision(update.revision, at, shown.body, shown.title, reason, by, REINSTATED, None,
                 shown.media)
    )  # fmt: skip
    return update


def last_text_revision(update: UpdateView) -> Revision:
    """The newest revision that showed a title and body (not a retraction)."""
    return next(r for r in reversed(update.revisions) if r.kind != RETRACTED)


def _flagging(attribute: str, value: bool) -> Applier:
    def flag(state: StoryView, event: Any, at: datetime) -> UpdateView:
        update = _touched(state, event, at)
        setattr(update, attribute, value)
        return update

    return flag


_APPLIERS: dict[type, Applier] = {
    Story.Edited: _edited,
    Story.Closed: _closed,
    Story.Reopened: _reopened,
    Story.UpdatePosted: _posted,
    Story.UpdateCorrected: _corrected,
    Story.UpdateRetracted: _retracted,
    Story.UpdateReinstated: _reinstated,
    Story.UpdatePinned: _flagging("pinned", True),
    Story.UpdateUnpinned: _flagging("pinned", False),
    Story.KeyEventSet: _flagging("key_event", True),
    Story.KeyEventUnset: _flagging("key_event", False),
}


def _applier(kind: type) -> Applier:
    """The applier of ``kind``, or of the nearest class it derives from."""
    applier = _APPLIERS.get(kind)
    if applier is None:
        for base in kind.__mro__[1:]:
            if base in _APPLIERS:
                return _APPLIERS[base]
        msg = f"the story fold does not know {kind.__qualname__}"
        raise UnknownEvent(msg)
    return applier


def fold(events: Iterable[Any], state: StoryView | None = None) -> StoryView | None:
    """Fold events (in version order) into a story's public state; None if no events."""
    for event in events:
        state, _ = apply_event(state, event)
    return state
