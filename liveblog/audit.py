"""The audit trail: every command, across stories, drafts and token administration.

Three logs hold them: the stories' (every event is a command's), the drafts', and the
credentials' (whose ``AdminAction`` records say who administered people and tokens).
A page of the trail reads each log after its own position, keeps the entries the
filters let through, and merges them by time; its cursor is the three positions
(``"<stories>.<drafts>.<people>"``), each moved only past what the page used, so paging
on neither skips nor repeats an entry. A filter that matches little is answered a scan
budget at a time: such a page may hold fewer entries than asked for, and ``next`` says
where to go on.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.application import Application

from liveblog.domain import PUBLIC_EVENT_NAMES
from liveblog.draft import DRAFT_EVENT_NAMES, Draft
from liveblog.people import AdminAction
from projections.wire import person_json, rfc3339

PAGE = 500
# Notifications one page of the trail reads from each log, at most.
SCAN_BUDGET = 5_000
SOURCES = ("story", "draft", "people")


class BadCursor(ValueError):
    """An ``after`` that is not a cursor this trail gave out."""


@dataclass(frozen=True)
class Cursor:
    """Where each log's part of the trail goes on: positions in the three logs."""

    positions: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    def parse(cls, raw: str) -> Cursor:
        parts = raw.split(".")
        if len(parts) != len(SOURCES) or not all(
            p.isascii() and p.isdigit() and len(p) <= 18 for p in parts
        ):
            raise BadCursor("after: must be the next cursor of an earlier page")
        first, second, third = (int(p) for p in parts)
        return cls((first, second, third))

    def __str__(self) -> str:
        return ".".join(str(p) for p in self.positions)


@dataclass(frozen=True)
class Filters:
    actor: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def keep(self, actor_id: str, at: datetime) -> bool:
        return (
            (self.actor is None or actor_id == self.actor)
            and (self.start is None or at >= self.start)
            and (self.end is None or at <= self.end)
        )


class Entry(NamedTuple):
    at: datetime
    source: int  # index in SOURCES: equal times keep a stable order
    position: int  # in its log
    doc: dict[str, Any]


@dataclass
class _Scan:
    """What one log gave a page: its entries in log order, and how far it was read."""

    entries: list[Entry] = field(default_factory=list)
    read_to: int = 0
    exhausted: bool = False


# An event of a log as an entry's document, or None when it is not a command's record.
Describe = Callable[[Any], dict[str, Any] | None]


def _by(event: Any) -> dict[str, str]:
    return person_json((event.actor_id, event.actor_name))


def story_entry(event: Any) -> dict[str, Any] | None:
    name = PUBLIC_EVENT_NAMES.get(type(event))
    if name is None:
        return None
    doc: dict[str, Any] = {"action": name, "story_id": str(event.originator_id),
                           "version": event.originator_version}  # fmt: skip
    update_id = getattr(event, "update_id", None)
    if update_id is not None:
        doc["update_id"] = str(update_id)
    return doc


def draft_entry(event: Any) -> dict[str, Any] | None:
    name = DRAFT_EVENT_NAMES.get(type(event))
    if name is None:
        return None
    doc: dict[str, Any] = {"action": name, "draft_id": str(event.originator_id)}
    if isinstance(event, Draft.Created):
        doc["story_id"] = str(event.story_id)
    if isinstance(event, Draft.Published):
        doc["update_id"] = str(event.update_id)
    if isinstance(event, Draft.Scheduled):
        doc["publish_at"] = rfc3339(event.publish_at)
    return doc


def people_entry(event: Any) -> dict[str, Any] | None:
    if not isinstance(event, AdminAction.Recorded):
        return None  # a person's or token's own event: its AdminAction says who acted
    doc: dict[str, Any] = {"action": event.action}
    if event.person_id is not None:
        doc["person_id"] = event.person_id
    if event.token_id is not None:
        doc["token_id"] = event.token_id
    if event.detail:
        doc["detail"] = event.detail
    return doc


class AuditTrail:
    def __init__(
        self,
        stories: Application[UUID],
        drafts: Application[UUID],
        credentials: Application[UUID],
        stories_of_drafts: Callable[[list[str]], dict[str, str]],
    ) -> None:
        self.logs: list[tuple[Application[UUID], Describe]] = [
            (stories, story_entry), (drafts, draft_entry), (credentials, people_entry),
        ]  # fmt: skip
        self.stories_of_drafts = stories_of_drafts

    def page(
        self, after: Cursor, limit: int, filters: Filters, *, budget: int = SCAN_BUDGET
    ) -> tuple[list[dict[str, Any]], Cursor | None]:
        """Up to ``limit`` entries after ``after``, earliest first (blocking), and the
        cursor to go on from (None: the trail holds no more)."""
        scans = [
            self._scan(source, after.positions[source], limit, filters, budget)
            for source in range(len(SOURCES))
        ]
        taken = list(heapq.merge(*(scan.entries for scan in scans)))[:limit]
        positions = list(after.positions)
        for source, scan in enumerate(scans):
            used = [e for e in taken if e.source == source]
            if len(used) == len(scan.entries):
                positions[source] = scan.read_to
            elif used:
                positions[source] = used[-1].position
        more = any(not s.exhausted for s in scans) or len(taken) < sum(
            len(s.entries) for s in scans
        )
        docs = [self._doc(entry) for entry in taken]
        self._name_drafts_stories(docs)
        return docs, (Cursor((positions[0], positions[1], positions[2])) if more else None)

    def _scan(self, source: int, after: int, limit: int, filters: Filters, budget: int) -> _Scan:
        application, describe = self.logs[source]
        scan = _Scan(read_to=after)
        for position, event in _events_after(application, after, budget, scan):
            doc = describe(event)
            if doc is not None and filters.keep(event.actor_id, event.timestamp):
                doc["actor"] = _by(event)
                scan.entries.append(Entry(event.timestamp, source, position, doc))
                if len(scan.entries) == limit:
                    scan.read_to = position
                    return scan
        return scan

    @staticmethod
    def _doc(entry: Entry) -> dict[str, Any]:
        return {"at": rfc3339(entry.at), "source": SOURCES[entry.source], **entry.doc}

    def _name_drafts_stories(self, docs: list[dict[str, Any]]) -> None:
        """A draft's later events do not name its story: the drafts' index does."""
        missing = [d["draft_id"] for d in docs if "draft_id" in d and "story_id" not in d]
        if not missing:
            return
        found = self.stories_of_drafts(missing)
        for doc in docs:
            story_id = found.get(doc.get("draft_id", ""))
            if "story_id" not in doc and story_id is not None:
                doc["story_id"] = story_id


def _events_after(
    application: Application[UUID], after: int, budget: int, scan: _Scan
) -> Iterator[tuple[int, Any]]:
    """The log's events after position ``after``, read a page at a time up to ``budget``
    notifications; ``scan`` learns how far it was read and whether the log ended."""
    position, read = after, 0
    while read < budget:
        wanted = min(PAGE, budget - read)
        page = application.recorder.select_notifications(
            start=position, limit=wanted, inclusive_of_start=False
        )
        for notification in page:
            scan.read_to = notification.id
            yield notification.id, application.mapper.to_domain_event(notification)
        read += len(page)
        if len(page) < wanted:
            scan.exhausted = True
            return
        position = page[-1].id
