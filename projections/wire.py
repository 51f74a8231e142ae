"""The one place where wire JSON shapes are made (DESIGN §4 and §5).

Views from ``projections.story`` go in; plain dicts ready for orjson come out. Times are
RFC 3339 in UTC with a ``Z``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, overload
from uuid import UUID

import orjson

from projections.story import Person, StoryView, UpdateView

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@overload
def rfc3339(moment: datetime) -> str: ...
@overload
def rfc3339(moment: None) -> None: ...
@overload
def rfc3339(moment: datetime | None) -> str | None: ...


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not UTC:  # event times are UTC already: skip the conversion
        moment = moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def time_for_orjson(moment: datetime) -> datetime | str:
    """A time as ``update_doc`` hands it to orjson: as it is when orjson writes it as
    ``rfc3339`` would (a plain UTC datetime, with ``OPT_UTC_Z``), else ``rfc3339``'s text."""
    if moment.tzinfo is UTC and type(moment) is datetime:
        return moment
    return rfc3339(moment)


def person_json(person: Person | Sequence[str]) -> dict[str, str]:
    """A ``Person``, or the ``[id, name]`` a rebuild's frame carries, as the wire has it."""
    id_, name = person
    return {"id": id_, "name": name}


class UpdateText(NamedTuple):
    """An update as a rebuild's writer gets it from a frame (``projections.views``): the
    fields of ``UpdateView`` but its revisions, in order, with the ids and times as the
    text ``str`` and ``rfc3339`` write, people as ``[id, name]``, and each correction
    (``[at, note, by]``) and the retraction (``[at, reason, by]``) as plain lists."""

    id: str
    story_id: str
    sequence: int
    title: str
    body: str
    author: Sequence[str]
    key_event: bool
    pinned: bool
    status: str
    published_at: str
    updated_at: str
    revision: int
    corrections: Sequence[Sequence[Any]]
    retraction: Sequence[Any] | None


def update_json(update: UpdateView) -> dict[str, Any]:
    return _update_payload(update, rfc3339, str)


def update_doc(update: UpdateView) -> str:
    """``dumps(update_json(update))`` as text, made faster for the views' many rows.

    orjson writes UUIDs and UTC datetimes itself, so this skips ``str(UUID)`` and
    ``rfc3339`` in Python, the larger part of ``update_json``'s cost; the text is the
    same (tests/unit/test_wire.py compares the two).
    """
    payload = _update_payload(update, time_for_orjson, id_for_orjson)
    return orjson.dumps(payload, option=orjson.OPT_UTC_Z).decode()


def update_doc_of_text(update: UpdateText) -> str:
    """``update_doc`` of an update as a rebuild's writer gets it."""
    return orjson.dumps(_update_payload(update, _as_it_is, _as_it_is)).decode()


def _as_it_is(value: Any) -> Any:
    return value


def id_for_orjson(value: UUID) -> UUID | str:
    """An id as ``update_doc`` hands it to orjson: a plain UUID as it is, else its text."""
    return value if type(value) is UUID else str(value)


def _update_payload(
    update: UpdateView | UpdateText,
    moment: Callable[[Any], datetime | str],
    identifier: Callable[[Any], UUID | str],
) -> dict[str, Any]:
    """The Update of DESIGN §4, its times and ids written by ``moment`` and ``identifier``.

    The corrections, the retraction and the people are unpacked, not read by name, so
    that an ``UpdateText``'s plain lists do as well as the fold's NamedTuples.
    """
    retraction = update.retraction
    return {
        "id": identifier(update.id),
        "story_id": identifier(update.story_id),
        "title": update.title,
        "body": update.body,
        "author": person_json(update.author),
        "key_event": update.key_event,
        "pinned": update.pinned,
        "status": update.status,
        "published_at": moment(update.published_at),
        "updated_at": moment(update.updated_at),
        "revision": update.revision,
        "corrections": [
            {"at": moment(at), "note": note, "by": person_json(by)}
            for at, note, by in update.corrections
        ],
        "retraction": None if retraction is None else _retraction_json(retraction, moment),
    }


def _retraction_json(
    retraction: Sequence[Any], moment: Callable[[Any], datetime | str]
) -> dict[str, Any]:
    at, reason, by = retraction
    return {"at": moment(at), "reason": reason, "by": person_json(by)}


def story_fields_json(story: StoryView) -> dict[str, Any]:
    """The story without its update lists: what ``story.*`` live events carry."""
    return {
        "id": str(story.id),
        "slug": story.slug,
        "title": story.title,
        "summary": story.summary,
        "status": story.status,
        "version": story.version,
        "created_at": rfc3339(story.created_at),
        "updated_at": rfc3339(story.updated_at),
        "coverage_start": rfc3339(story.coverage_start),
        "coverage_end": rfc3339(story.coverage_end),
    }


def story_json(story: StoryView, *, limit: int = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
    """The Story of DESIGN §4 from a folded state (time travel, and a fallback for writes).

    The live read builds the same shape from the stored views (``StoryPage.render``).
    """
    newest_first = list(reversed(story.updates.values()))
    page = newest_first[:limit]
    cursor = page[-1] if len(newest_first) > limit else None
    return {
        **story_fields_json(story),
        "pinned": [update_json(u) for u in newest_first if u.pinned],
        "key_events": [
            {"id": str(u.id), "title": u.title, "published_at": rfc3339(u.published_at)}
            for u in newest_first
            if u.key_event
        ],
        "updates": [update_json(u) for u in page],
        "next": None if cursor is None else str(cursor.id),
    }


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload)
