"""The one place where the read side's JSON is shaped (DESIGN §4 and §5).

Every story, update, story list, page of updates, revision list and history event the
API answers is made here, and so is what a live event carries (``data``): from the
fold's views (``projections.story``), from the documents the read views store (this
module's text), or from stored events. Plain dicts ready for orjson come out, or bytes
where stored documents are spliced in without being parsed again. Times are RFC 3339 in
UTC with a ``Z``. Shaped elsewhere, each in one place: the live protocol's envelopes
(``type``, ``version``) in ``liveblog.live.frames``, error bodies in
``liveblog.web.errors``, people and tokens in ``liveblog.web.people``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, overload
from uuid import UUID

import orjson

from liveblog.domain import PUBLIC_EVENT_NAMES
from projections.story import Person, StoryView, UpdateView
from projections.word_diff import body_diff, text_diff

if TYPE_CHECKING:
    from projections.views.queries import RevisionRow

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
    """An update as a rebuild's writer gets it from a frame (``projections.views.rebuilding``):
    the fields of ``UpdateView`` but its revisions, in order, with the ids and times as
    the text ``str`` and ``rfc3339`` write, people as ``[id, name]``, and each correction
    (``[at, note, by]``) and the retraction (``[at, reason, by]``) as plain lists. The
    media items are JSON objects, as in the view."""

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
    approved_by: Sequence[str] | None
    media: Sequence[dict[str, Any]]


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
    approved_by = update.approved_by
    return {
        "id": identifier(update.id),
        "story_id": identifier(update.story_id),
        "title": update.title,
        "body": update.body,
        "media": update.media,
        "author": person_json(update.author),
        "approved_by": None if approved_by is None else person_json(approved_by),
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


def listed_story_json(story: StoryView, fields: dict[str, Any]) -> dict[str, Any]:
    """The story as ``GET /api/stories`` lists it; ``fields`` is its ``story_fields_json``
    (made once by the caller, which stores both)."""
    last = next(reversed(story.updates.values()), None)
    return {
        **fields,
        "update_count": len(story.updates),
        "last_update_at": rfc3339(last.published_at) if last else None,
    }


def story_list_bytes(listed: Iterable[str]) -> bytes:
    """``GET /api/stories``: the stories' ``listed_story_json`` documents, as stored."""
    return orjson.dumps({"stories": [orjson.Fragment(doc) for doc in listed]})


def key_event_json(update_id: UUID | str, title: str, published_at: str) -> dict[str, Any]:
    """One of a Story's ``key_events``."""
    return {"id": str(update_id), "title": title, "published_at": published_at}


def story_bytes(
    fields_doc: str, pinned: Iterable[str], key_events: Iterable[dict[str, Any]],
    updates: Iterable[str], next_update: UUID | None,
) -> bytes:  # fmt: skip
    """The Story of DESIGN §4 from its parts: the story's fields (``story_fields_json``)
    and its updates (``update_doc``) as JSON text, its ``key_event_json``s, and the
    update after which the next page starts (None: this page is the last).

    The story's fields, then its pinned updates and key events, then its first page of
    updates as ``updates_page_bytes`` makes a page: each part is a JSON object, spliced
    into one rather than parsed again.
    """
    flagged = orjson.dumps(
        {"pinned": [orjson.Fragment(doc) for doc in pinned], "key_events": list(key_events)}
    )
    page = updates_page_bytes(updates, next_update)
    return fields_doc.encode()[:-1] + b"," + flagged[1:-1] + b"," + page[1:]


def folded_story_bytes(story: StoryView, *, limit: int = DEFAULT_PAGE_SIZE) -> bytes:
    """``story_bytes`` of a folded state (time travel, and a fallback for writes).

    The live read makes the same from the stored views (``ReadViews.story_page``).
    """
    newest_first = list(reversed(story.updates.values()))
    page = newest_first[:limit]
    return story_bytes(
        dumps(story_fields_json(story)).decode(),
        [update_doc(u) for u in newest_first if u.pinned],
        [key_event_json(u.id, u.title, rfc3339(u.published_at)) for u in newest_first
         if u.key_event],
        [update_doc(u) for u in page],
        page[-1].id if len(newest_first) > limit else None,
    )  # fmt: skip


def updates_page_bytes(docs: Iterable[str], next_update: UUID | None) -> bytes:
    """``GET …/updates``: a page of updates' stored docs, and where the next one starts."""
    return orjson.dumps(
        {
            "updates": [orjson.Fragment(doc) for doc in docs],
            "next": None if next_update is None else str(next_update),
        }
    )


def written_update_bytes(
    doc: str, story_version: int, warnings: Sequence[dict[str, Any]] = ()
) -> bytes:
    """A write's answer: the Update (its ``update_doc``), the story's version after it,
    and ``warnings`` when the write's body lost something to the sanitizer."""
    written = doc.encode()[:-1] + b',"story_version":' + str(story_version).encode()
    if warnings:
        written += b',"warnings":' + orjson.dumps(warnings)
    return written + b"}"


def revision_json(
    revision: RevisionRow, *, with_text: bool, diff_from: RevisionRow | None = None
) -> dict[str, Any]:
    """One item of ``GET …/revisions``; its title, body and media only ``with_text``, and for
    editors (``diff_from``: the revision before that showed a text) what changed."""
    item: dict[str, Any] = {
        "revision": revision.revision,
        "kind": revision.kind,
        "at": revision.at,
        "note": revision.note,
        "by": {"id": revision.by_id, "name": revision.by_name},
        "reverted_to": revision.reverted_to,
    }
    if with_text:
        item["title"] = revision.title
        item["body"] = revision.body
        item["media"] = revision.media
    if diff_from is not None:
        item["diff"] = body_diff(diff_from.body, revision.body)
        changed = diff_from.title != revision.title
        item["title_diff"] = text_diff(diff_from.title, revision.title) if changed else None
    return item


def revisions_json(update_id: UUID, revisions: list[dict[str, Any]]) -> dict[str, Any]:
    """``GET …/revisions``: the update's ``revision_json`` items, oldest first."""
    return {"update_id": str(update_id), "revisions": revisions}


# What every stored story event holds besides its own fields.
_EVENT_BASE = frozenset({"timestamp", "actor_id", "actor_name"})


def history_event_json(event: Any) -> dict[str, Any]:
    """A stored story event as the raw history shows it (``GET …/events``)."""
    data = {
        key: str(value) if isinstance(value, UUID) else value
        for key, value in vars(event).items()
        if key not in _EVENT_BASE and not key.startswith("originator_")
    }
    return {
        "version": event.originator_version,
        "type": PUBLIC_EVENT_NAMES.get(type(event), type(event).__name__),
        "at": rfc3339(event.timestamp),
        "actor": {"id": event.actor_id, "name": event.actor_name},
        "data": data,
    }


def history_json(events: Iterable[Any], next_after: int | None) -> dict[str, Any]:
    """``GET …/events``: a page of the raw history, and the version the next one is after."""
    return {"events": [history_event_json(event) for event in events], "next": next_after}


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload)
