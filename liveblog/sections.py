"""What an export holds, section by section: people, every story's events, then every
draft's events.

A section is one kind of line and the application it comes from and goes to. Export
asks each section in ``SECTIONS`` for its records; import gives each record to its
kind's section, which checks it and turns it into stored events for its application's
tables, and all of them are written in one transaction (``liveblog.importer``). A new
section is one more entry in ``SECTIONS``, and its application one more field of
``Stores``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import AggregateRecorder, StoredEvent
from eventsourcing.utils import get_topic

from liveblog.domain import PUBLIC_EVENT_NAMES, DomainError, Story, story_id_for_slug
from liveblog.draft import DRAFT_EVENT_NAMES, Draft
from liveblog.drafts import Drafts
from liveblog.event_lines import EventLines
from liveblog.export_format import (
    Malformed,
    Record,
    check_keys,
    text_value,
    time_value,
    uuid_value,
)
from liveblog.newsroom import SNAPSHOT_INTERVAL, Newsroom
from liveblog.people import Person, Role, check_name, person_id_for_name
from liveblog.sanitize import sanitize_body
from liveblog.tokens import Credentials
from projections.wire import rfc3339

# Events read from the store per query when exporting.
PAGE_SIZE = 500

Write = tuple[AggregateRecorder, list[StoredEvent]]


@dataclass
class Stores:
    """The applications an export reads and an import writes, all in one database."""

    newsroom: Newsroom
    credentials: Credentials
    drafts: Drafts

    def close(self) -> None:
        self.newsroom.close()
        self.credentials.close()
        self.drafts.close()


def open_stores(env: dict[str, str]) -> Stores:
    return Stores(Newsroom(env=env), Credentials(env=env), Drafts(env=env))


@dataclass
class Loaded:
    """What a section's records became: stored events for tables, and a summary."""

    writes: list[Write]
    summary: str


class Loader(Protocol):
    def add(self, number: int, record: Record) -> None:
        """Check the record (line ``number``) and keep it; ``Malformed`` if it is wrong."""

    def finish(self) -> Loaded: ...


class Section(Protocol):
    kind: str
    # What the section's application holds, for "the target store is not empty: ...".
    holds: str

    def application(self, stores: Stores) -> Application[UUID]: ...

    def records(self, stores: Stores, story_ids: Sequence[UUID] | None) -> Iterator[Record]:
        """The section's records, for the whole store or (``story_ids``) those stories."""

    def loader(self, stores: Stores) -> Loader: ...


# -- people ---------------------------------------------------------------------------


class PeopleSection:
    """Every person: id, name, role, active flag and since when. Never a token, nor a
    token's hash: tokens are issued anew after an import."""

    kind = "person"
    holds = "people or tokens"
    keys = frozenset({"kind", "id", "name", "role", "active", "created_at"})

    def application(self, stores: Stores) -> Application[UUID]:
        return stores.credentials

    def records(self, stores: Stores, story_ids: Sequence[UUID] | None) -> Iterator[Record]:
        # All people whatever the stories: a story's events name people by id only,
        # and an operator who moves some stories moves the newsroom's people with them.
        for person in stores.credentials.people():
            yield {
                "kind": self.kind,
                "id": person.id,
                "name": person.name,
                "role": person.role.value,
                "active": person.active,
                "created_at": rfc3339(person.created_at),
            }

    def loader(self, stores: Stores) -> PeopleLoader:
        return PeopleLoader(stores.credentials, self.keys)


class PeopleLoader:
    def __init__(self, credentials: Credentials, keys: frozenset[str]) -> None:
        self.credentials = credentials
        self.keys = keys
        self.events: list[StoredEvent] = []
        self.seen: set[UUID] = set()

    def add(self, number: int, record: Record) -> None:
        check_keys(number, record, self.keys)
        person_id = uuid_value(number, record, "id")
        name = text_value(number, record, "name")
        created_at = time_value(number, record, "created_at")
        try:
            if check_name(name) != name:
                raise Malformed(number, "name: has spaces at its ends")
            role = Role.parse("role", record["role"])
        except DomainError as error:
            raise Malformed(number, str(error)) from None
        if person_id != person_id_for_name(name):
            raise Malformed(number, f"id: a person's id is derived from the name {name!r}")
        if person_id in self.seen:
            raise Malformed(number, f"person {person_id} is in the file twice")
        active = record["active"]
        if not isinstance(active, bool):
            raise Malformed(number, "active: must be true or false")
        self.seen.add(person_id)
        person = Person.register(name, role, at=created_at)
        person.set_active(active)
        to_stored = self.credentials.mapper.to_stored_event
        self.events.extend(to_stored(event) for event in person.collect_events())

    def finish(self) -> Loaded:
        people = len(self.seen)
        return Loaded(
            [(self.credentials.recorder, self.events)],
            f"{people} {'person' if people == 1 else 'people'}",
        )


# -- one aggregate's events per line ----------------------------------------------------


@dataclass
class _Log:
    """What a loader knows of one aggregate while its events are read."""

    aggregate: Any
    version: int
    at: datetime
    snapshot: StoredEvent | None = None


@dataclass
class AggregateEvents:
    """A section of the events of one application's aggregates, one line per event."""

    kind: str
    name: str  # of one aggregate, for messages: "story"
    holds: str  # of many: "stories"
    id_field: str
    application: Callable[[Stores], Application[UUID]]
    aggregate_type: type[Aggregate]
    event_types: tuple[type[Aggregate.Event], ...]
    # Which aggregates to export, for the whole store or (ids given) those stories.
    select: Callable[[Stores, Sequence[UUID] | None], Iterable[UUID]]
    # Snapshots to take on import: those the application would have taken itself.
    snapshot_every: int | None = None
    # More rules for an aggregate's first event: what breaks them, or None.
    check_created: Callable[[Any], str | None] | None = None

    def lines(self, stores: Stores) -> EventLines:
        return self.lines_for(self.application(stores))

    def lines_for(self, application: Application[UUID]) -> EventLines:
        return EventLines(self.kind, self.id_field, application.mapper, self.event_types)

    def records(self, stores: Stores, story_ids: Sequence[UUID] | None) -> Iterator[Record]:
        lines = self.lines(stores)
        recorder = self.application(stores).recorder
        for aggregate_id in self.select(stores, story_ids):
            yield from aggregate_records(recorder, lines, aggregate_id)

    def loader(self, stores: Stores) -> AggregateLoader:
        return AggregateLoader(self, stores)


def aggregate_records(
    recorder: AggregateRecorder, lines: EventLines, aggregate_id: UUID
) -> Iterator[Record]:
    """One aggregate's events as lines, read a page at a time, in version order."""
    after = 0
    while True:
        page = recorder.select_events(aggregate_id, gt=after, limit=PAGE_SIZE)
        for stored in page:
            yield lines.record(stored)
        if len(page) < PAGE_SIZE:
            return
        after = page[-1].originator_version


class AggregateLoader:
    """Checks each aggregate's events as the store would hold them: versions 1, 2, 3,
    ... with no gap, a created event first and only first, times that never go back,
    and each event applying to the aggregate as it stands (folded here, as a load
    would); keeps the snapshots its application would have taken."""

    def __init__(self, section: AggregateEvents, stores: Stores) -> None:
        self.section = section
        self.application = section.application(stores)
        self.lines = section.lines(stores)
        self.aggregate_topic = get_topic(section.aggregate_type)
        self.logs: dict[UUID, _Log] = {}
        self.events: list[StoredEvent] = []

    def add(self, number: int, record: Record) -> None:
        stored, event = self.lines.stored_event(number, record)
        aggregate_id = event.originator_id
        log = self.logs.get(aggregate_id)
        what = f"{self.section.name} {aggregate_id}"
        expected = 1 if log is None else log.version + 1
        if event.originator_version != expected:
            raise Malformed(
                number,
                f"{what}: version {event.originator_version} where {expected} was due"
                " (each one's versions run 1, 2, 3, ... in file order, with no gap)",
            )
        body = getattr(event, "body", None)
        if isinstance(body, str) and sanitize_body(body) != body:
            # Every body the server records is its sanitized HTML, and pages, feeds and
            # the console show it as such: a file whose body is not is not an export.
            raise Malformed(number, f"{what}: version {expected}: its body is not sanitized"
                                    " HTML as the server stores it")  # fmt: skip
        is_created = isinstance(event, Aggregate.Created)
        if is_created != (log is None):
            raise Malformed(number, f"{what}: only its first event, and that one, opens it")
        if is_created:
            self._check_created(number, event, what)
        elif log is not None and event.timestamp < log.at:
            raise Malformed(number, f"{what}: version {expected} is older than the one before")
        try:
            aggregate = event.mutate(None if log is None else log.aggregate)
        except Exception as error:  # hostile events: whatever makes the fold fail
            msg = f"{what}: version {expected} does not apply: {error!r}"
            raise Malformed(number, msg) from None
        if aggregate is None:
            raise Malformed(number, f"{what}: version {expected} removes it")
        if log is None:
            log = self.logs[aggregate_id] = _Log(aggregate, expected, event.timestamp)
        else:
            log.aggregate, log.version, log.at = aggregate, expected, event.timestamp
        self.events.append(stored)
        every = self.section.snapshot_every
        if every is not None and expected % every == 0 and self.application.snapshots:
            # Encoded now: the snapshot's state shares objects the next events change.
            snapshot = self.section.aggregate_type.Snapshot.take(aggregate)
            log.snapshot = self.application.snapshots.mapper.to_stored_event(snapshot)

    def _check_created(self, number: int, event: Any, what: str) -> None:
        if event.originator_topic != self.aggregate_topic:
            raise Malformed(number, f"{what}: originator_topic must be {self.aggregate_topic!r}")
        check = self.section.check_created
        problem = None if check is None else check(event)
        if problem is not None:
            raise Malformed(number, f"{what}: {problem}")

    def finish(self) -> Loaded:
        writes: list[Write] = [(self.application.recorder, self.events)]
        snapshots = [log.snapshot for log in self.logs.values() if log.snapshot is not None]
        if snapshots and self.application.snapshots is not None:
            writes.append((self.application.snapshots.recorder, snapshots))
        count = len(self.logs)
        what = self.section.name if count == 1 else self.section.holds
        return Loaded(writes, f"{count} {what} ({len(self.events)} events)")


# -- stories ------------------------------------------------------------------------------


def _story_id_from_slug(event: Any) -> str | None:
    """Stories are found by slug through the id derived from it."""
    if not isinstance(event.slug, str) or story_id_for_slug(event.slug) != event.originator_id:
        return "a story's id must be the one derived from its slug"
    return None


def _selected_stories(stores: Stores, story_ids: Sequence[UUID] | None) -> Iterable[UUID]:
    return stores.newsroom.story_ids() if story_ids is None else story_ids


STORY_EVENT_CLASSES: tuple[type[Aggregate.Event], ...] = tuple(PUBLIC_EVENT_NAMES)

STORIES = AggregateEvents(
    kind="story_event",
    name="story",
    holds="stories",
    id_field="story_id",
    application=lambda stores: stores.newsroom,
    aggregate_type=Story,
    event_types=STORY_EVENT_CLASSES,
    select=_selected_stories,
    snapshot_every=SNAPSHOT_INTERVAL,
    check_created=_story_id_from_slug,
)


# -- drafts -------------------------------------------------------------------------------


def _selected_drafts(stores: Stores, story_ids: Sequence[UUID] | None) -> Iterator[UUID]:
    """Every draft, oldest first; with ``story_ids``, those of these stories."""
    after = 0
    seen: set[UUID] = set()  # a draft's id is in the log once for each of its events
    while True:
        ids, after_page = stores.drafts.draft_ids(after=after, limit=PAGE_SIZE)
        for draft_id in ids:
            if draft_id in seen:
                continue
            seen.add(draft_id)
            if story_ids is None or stores.drafts.get_draft(draft_id).story_id in story_ids:
                yield draft_id
        if after_page == after:
            return
        after = after_page


DRAFTS = AggregateEvents(
    kind="draft_event",
    name="draft",
    holds="drafts",
    id_field="draft_id",
    application=lambda stores: stores.drafts,
    aggregate_type=Draft,
    event_types=tuple(DRAFT_EVENT_NAMES),
    select=_selected_drafts,
)

# In file order.
SECTIONS: tuple[Section, ...] = (PeopleSection(), STORIES, DRAFTS)
