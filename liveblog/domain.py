"""The Story aggregate: one live blog, its public events and its invariants.

Pure: no I/O, nothing of ours imported. Everything in a Story's stream is public, so the
stream has no holes and its version is the readers' resume cursor. Each event carries who
made the change (``actor_id``, ``actor_name``) and when (``timestamp``).

Schema evolution: when an event's fields change, bump its ``class_version`` and add a
static ``upcast_vN_vN+1(state)`` that rewrites the old stored state (the library applies
it on load), so old events keep loading.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

# Namespace for ids derived from names (slugs, idempotency keys).
LIVEBLOG_NAMESPACE = uuid5(NAMESPACE_URL, "https://liveblog.invalid/")

MAX_SLUG = 80
MAX_TITLE = 300
MAX_SUMMARY = 2_000
MAX_BODY = 20_000
MAX_NOTE = 2_000
MAX_REASON = 2_000
MAX_NAME = 200


class DomainError(Exception):
    """A command that the story's current state does not allow."""

    code = "invalid"


class InvalidField(DomainError):
    """A field value breaks a rule (length, emptiness, format)."""

    code = "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class StoryClosed(DomainError):
    code = "story_closed"


class UpdateNotFound(DomainError):
    code = "not_found"


class UpdateRetracted(DomainError):
    code = "update_retracted"


class NothingChanged(DomainError):
    code = "nothing_changed"


class NotAuthor(DomainError):
    """Only the author of an update (or an editor) may correct it."""

    code = "forbidden"


class RevisionConflict(DomainError):
    """The caller edited a revision (or version) that is no longer current."""

    code = "conflict"


class NotRetracted(DomainError):
    """Only a retracted update can be reinstated."""

    code = "not_retracted"


def story_id_for_slug(slug: str) -> UUID:
    """A story's id is derived from its slug, so the store itself keeps slugs unique."""
    return uuid5(LIVEBLOG_NAMESPACE, f"story:{slug}")


def update_id_for_key(story_id: UUID, actor_id: str, idempotency_key: str) -> UUID:
    """The same Idempotency-Key from the same actor on the same story names one update."""
    return uuid5(LIVEBLOG_NAMESPACE, f"update:{story_id}:{actor_id}:{idempotency_key}")


# Newsroom text (DESIGN §3) holds none of these: the C0 controls but tab and newline (CR
# is normalised to LF first, see ``newsroom_newlines``), lone surrogates (a JSON "\ud800"
# escape makes one) and the non-characters U+FDD0..U+FDEF and U+xFFFE, U+xFFFF of every
# plane. No newsroom means to type them; U+0000 cannot even be stored in a PostgreSQL
# text column, and one such event stopped the views of every story (the read side now
# copes, see ``projections.story.storable_text``, but nothing new may record one).
#
# Every write scans its texts (in the web layer, then in the domain), so the scan is made
# cheap for what text almost always is: UTF-8 bytes with none of the
# refused C0 bytes and none of the byte pairs that every non-character's encoding holds
# (EF B7 for U+FDD0..U+FDEF, BF BE or BF BF for U+xFFFE and U+xFFFF); a lone surrogate
# cannot be encoded at all. That is a copy and a few byte searches, in C: about a tenth
# of the regular expression's time. Text that holds one of those (or a character whose
# encoding merely contains such a pair) is scanned exactly by ``_SUSPECT``, whose class
# the engine tests fast: ranges and BMP characters. (The 32 non-characters of planes
# 1-16 as members of the class made it test each character against a list, 20 times
# slower; one range stands for them, and a character found there is checked exactly.)
_ALL_BUT_REFUSED_C0 = bytes(b for b in range(256) if not (b <= 0x08 or 0x0B <= b <= 0x1F))
_SUSPECT = re.compile(
    "[\x00-\x08\x0b-\x1f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\U0001fffe-\U0010ffff]"
)


def _refused(char: str) -> bool:
    """Whether a character ``_SUSPECT`` found is one the rule refuses."""
    code = ord(char)
    return code <= 0xFFFF or code & 0xFFFE == 0xFFFE


def _first_refused(text: str) -> str | None:
    try:
        data = text.encode()
    except UnicodeEncodeError:
        pass  # a lone surrogate: found below
    else:
        if not data.translate(None, _ALL_BUT_REFUSED_C0) and (
            text.isascii()
            or not (b"\xef\xb7" in data or b"\xbf\xbe" in data or b"\xbf\xbf" in data)
        ):
            return None
    found = _SUSPECT.search(text)
    while found is not None:
        if _refused(found.group()):
            return found.group()
        found = _SUSPECT.search(text, found.end())
    return None


def newsroom_newlines(text: str) -> str:
    """CRLF and a lone CR as LF: line ends as a textarea's value gives them.

    A CR is a C0 control, but Windows tools and HTML form posts send CRLF line ends in
    ordinary text: refusing them would refuse honest copy, so they are made LF instead.
    """
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def text_problem(text: str) -> str | None:
    """What makes ``text`` (once its newlines are normalised) not newsroom text, or None."""
    found = _first_refused(newsroom_newlines(text))
    if found is None:
        return None
    return (
        f"must not contain U+{ord(found):04X} (control characters other than tab"
        " and newline, lone surrogates and non-characters are not allowed)"
    )


def check_text(field: str, value: str, *, limit: int, required: bool = True) -> str:
    """``value`` as it is to be recorded (newlines normalised), or ``InvalidField``."""
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string")
    value = newsroom_newlines(value)
    problem = text_problem(value)
    if problem is not None:
        raise InvalidField(field, problem)
    if required and not value.strip():
        raise InvalidField(field, "must not be empty")
    if len(value) > limit:
        raise InvalidField(field, f"must be at most {limit} characters")
    return value


def check_at(at: datetime | None, *, not_before: datetime | None = None) -> datetime | None:
    """An explicit event time (for seeding history): timezone-aware, in UTC, in order.

    ``None`` means "now" (the library stamps the event). Readers' time travel folds events
    up to a time, so a story's event times must not go backwards.
    """
    if at is None:
        return None
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidField("at", "must be timezone-aware")
    at = at.astimezone(UTC)
    if not_before is not None and at < not_before:
        raise InvalidField("at", f"must not be before the story's last change ({not_before})")
    return at


def check_slug(slug: str) -> str:
    slug = check_text("slug", slug, limit=MAX_SLUG)
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
    if not set(slug) <= allowed or slug.startswith("-") or slug.endswith("-"):
        raise InvalidField("slug", "use lowercase letters, digits and inner hyphens")
    try:
        UUID(slug)
    except ValueError:
        return slug
    raise InvalidField("slug", "must not look like a story id")


def digest(text: str) -> str:
    """A short fingerprint of a text: the aggregate compares texts, it need not keep them."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def media_digest(media: Sequence[Mapping[str, Any]]) -> str | None:
    """A fingerprint of an update's media, normalised (``liveblog.media``: each item's keys
    in a fixed order, so equal media are equal text); None for none, the usual case,
    which a snapshot then stores in five bytes rather than thirty-four."""
    if not media:
        return None
    return digest(json.dumps(media, ensure_ascii=False, separators=(",", ":")))


def post_digest(title: str, body: str, media: Sequence[Mapping[str, Any]] = ()) -> str:
    """A post's fingerprint. Media count only when there are some: a post recorded before
    updates had media keeps the fingerprint a retry of it finds."""
    if not media:
        return digest(f"{title}\x00{body}")
    return digest(f"{title}\x00{body}\x00{media_digest(media)}")


@dataclass(slots=True)
class UpdateRecord:
    """What the aggregate must know of an update to enforce its rules.

    Texts are kept as digests: a story with thousands of updates is snapshotted every
    hundred events, and its bodies live in the events (and the read views) anyway. The
    update's id is its key in ``Story.updates``, so the record does not repeat it. Slots
    make a record smaller, and quicker to read when a snapshot gathers its columns.
    """

    author_id: str
    first_digest: str  # of the first title and body: a retried post, or a reused key?
    body_digest: str  # of the current body: a correction must change it or the title
    revision: int
    pinned: bool
    key_event: bool
    retracted: bool
    # Of the current title. None in a record from a snapshot taken before titles could
    # be corrected (a snapshot is a cache): a correction's title then counts as a change.
    title_digest: str | None = None
    # Of the current media; None: none. A record from a snapshot taken before updates had
    # media gets the default, which is then true: no update could have any.
    media_digest: str | None = None


class UpdateRecords(dict[str, UpdateRecord]):
    """A story's updates by ``str(update id)``, oldest first.

    A type of its own so that the store can write a snapshot's updates as one table of
    columns rather than record by record (see ``liveblog.transcoder``).
    """


class Story(Aggregate):
    """One live blog. Its version is its public stream position (1..N, contiguous)."""

    # Version 2: ``updates`` is an ``UpdateRecords`` whose records hold no id. Snapshots
    # of version 1 load through ``upcast_v1_v2``.
    class_version = 2

    class Event(Aggregate.Event):
        actor_id: str
        actor_name: str

    class Opened(Aggregate.Created):
        slug: str
        title: str
        summary: str
        actor_id: str
        actor_name: str

    class Edited(Event):
        """Title and summary, both as they now stand."""

        title: str
        summary: str

        def apply(self, aggregate: Any) -> None:
            aggregate.title = self.title
            aggregate.summary = self.summary

    class Closed(Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.closed = True

    class Reopened(Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.closed = False

    class UpdatePosted(Event):
        """An update posted by its author (the event's actor). ``approved_by_*``: the
        editor who published it from the author's draft, None when the author posted it."""

        # Version 2: ``approved_by_id`` and ``approved_by_name`` (drafts and approval).
        # Version 3: ``media``, normalised items (``liveblog.media``).
        class_version = 3

        update_id: UUID
        title: str
        body: str
        key_event: bool
        pinned: bool
        approved_by_id: str | None
        approved_by_name: str | None
        media: list[dict[str, Any]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["approved_by_id"] = None
            state["approved_by_name"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["media"] = []

        def apply(self, aggregate: Any) -> None:
            aggregate.updates[str(self.update_id)] = UpdateRecord(
                author_id=self.actor_id,
                first_digest=post_digest(self.title, self.body, self.media),
                body_digest=digest(self.body),
                revision=1,
                pinned=self.pinned,
                key_event=self.key_event,
                retracted=False,
                title_digest=digest(self.title),
                media_digest=media_digest(self.media),
            )

    class UpdateCorrected(Event):
        """A new revision: the title, the body and the media as they now stand, None for
        each the correction left as it was. ``reverted_to``: the revision whose title,
        body and media it made current again (a revert), else None."""

        # Version 2: ``title`` and ``reverted_to`` (version 1 corrected the body only).
        # Version 3: ``media``.
        class_version = 3

        update_id: UUID
        title: str | None
        body: str | None
        note: str
        reverted_to: int | None
        media: list[dict[str, Any]] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["title"] = None
            state["reverted_to"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["media"] = None

        def apply(self, aggregate: Any) -> None:
            record = aggregate.updates[str(self.update_id)]
            if self.body is not None:
                record.body_digest = digest(self.body)
            if self.title is not None:
                record.title_digest = digest(self.title)
            if self.media is not None:
                record.media_digest = media_digest(self.media)
            record.revision += 1

    class UpdateRetracted(Event):
        update_id: UUID
        reason: str

        def apply(self, aggregate: Any) -> None:
            record = aggregate.updates[str(self.update_id)]
            record.retracted = True
            record.pinned = False
            record.key_event = False
            record.revision += 1

    class UpdateReinstated(Event):
        """A retraction undone: the update shows its last title and body again (the
        retraction stays in its history)."""

        update_id: UUID
        reason: str

        def apply(self, aggregate: Any) -> None:
            record = aggregate.updates[str(self.update_id)]
            record.retracted = False
            record.revision += 1

    class UpdatePinned(Event):
        update_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.updates[str(self.update_id)].pinned = True

    class UpdateUnpinned(Event):
        update_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.updates[str(self.update_id)].pinned = False

    class KeyEventSet(Event):
        update_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.updates[str(self.update_id)].key_event = True

    class KeyEventUnset(Event):
        update_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.updates[str(self.update_id)].key_event = False

    @staticmethod
    def create_id(slug: str) -> UUID:
        return story_id_for_slug(slug)

    def __init__(
        self, slug: str, title: str, summary: str, actor_id: str, actor_name: str
    ) -> None:
        self.slug = slug
        self.title = title
        self.summary = summary
        self.closed = False
        # Keyed by str(update id): snapshots are JSON, whose object keys are strings.
        self.updates = UpdateRecords()

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A version 1 snapshot's updates: a plain dict (its records' ids were dropped)."""
        state["updates"] = UpdateRecords(state["updates"])

    # -- commands -------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        slug: str,
        title: str,
        summary: str,
        actor: Actor,
        at: datetime | None = None,
    ) -> Story:
        """Open a story; ``at`` sets the event's time (seeding history), default now."""
        slug = check_slug(slug)
        title = check_text("title", title, limit=MAX_TITLE)
        summary = check_text("summary", summary, limit=MAX_SUMMARY, required=False)
        return cls._create(
            cls.Opened,
            id=story_id_for_slug(slug),
            timestamp=check_at(at),
            slug=slug,
            title=title,
            summary=summary,
            actor_id=actor.id,
            actor_name=actor.name,
        )

    def edit(self, *, title: str | None, summary: str | None, actor: Actor) -> None:
        new_title = self.title if title is None else check_text("title", title, limit=MAX_TITLE)
        new_summary = (
            self.summary
            if summary is None
            else check_text("summary", summary, limit=MAX_SUMMARY, required=False)
        )
        if (new_title, new_summary) == (self.title, self.summary):
            raise NothingChanged("the title and summary are already so")
        self._trigger(self.Edited, actor, title=new_title, summary=new_summary)

    def close(self, *, actor: Actor) -> None:
        if self.closed:
            raise NothingChanged("the story is already closed")
        self._trigger(self.Closed, actor)

    def reopen(self, *, actor: Actor) -> None:
        if not self.closed:
            raise NothingChanged("the story is already live")
        self._trigger(self.Reopened, actor)

    def post_update(
        self,
        *,
        update_id: UUID,
        title: str,
        body: str,
        key_event: bool,
        pinned: bool,
        actor: Actor,
        at: datetime | None = None,
        approved_by: Actor | None = None,
        from_draft: bool = False,
        media: Sequence[Mapping[str, Any]] = (),
    ) -> bool:
        """Post an update; returns False when this very update was already posted.

        A retried post (same id, hence same Idempotency-Key and actor) records nothing.
        The same id with other content is a reused key, which is a conflict. A draft's
        update id is its own (``liveblog.draft.update_id_for_draft``): found posted, it
        is that draft's, whatever its text (the draft may have failed to record that).
        ``actor`` is the author; ``approved_by`` the editor who published their draft.
        """
        # Checked first: a retry's texts must compare as they were recorded (normalised).
        title = check_text("title", title, limit=MAX_TITLE, required=False)
        body = check_text("body", body, limit=MAX_BODY)
        checked_media = _checked_media(media)
        existing = self.updates.get(str(update_id))
        if existing is not None:
            digest_now = post_digest(title, body, checked_media)
            if not from_draft and existing.first_digest != digest_now:
                raise RevisionConflict("this Idempotency-Key was used for another update")
            return False
        if self.closed:
            raise StoryClosed("the story is closed")
        self._trigger(
            self.UpdatePosted,
            actor,
            at=self._check_at(at),
            update_id=update_id,
            title=title,
            body=body,
            key_event=key_event,
            pinned=pinned,
            approved_by_id=None if approved_by is None else approved_by.id,
            approved_by_name=None if approved_by is None else approved_by.name,
            media=checked_media,
        )
        return True

    def correct_update(
        self,
        *,
        update_id: UUID,
        note: str,
        actor: Actor,
        as_editor: bool,
        body: str | None = None,
        title: str | None = None,
        reverted_to: int | None = None,
        expected_revision: int | None = None,
        at: datetime | None = None,
        media: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Make a new revision of the update's title, body, media, or several of them
        (None: as it is).

        ``reverted_to`` names the earlier revision whose title, body and media these are
        (a revert; the caller read them from the update's history).
        """
        record = self._editable(update_id, expected_revision)
        if not as_editor and record.author_id != actor.id:
            raise NotAuthor("only the author or an editor may correct this update")
        if title is None and body is None and media is None:
            raise InvalidField("body", "a correction must give a title, a body or media")
        if title is not None:
            title = check_text("title", title, limit=MAX_TITLE, required=False)
        body = None if body is None else check_text("body", body, limit=MAX_BODY)
        new_media = None if media is None else _checked_media(media)
        note = check_text("note", note, limit=MAX_NOTE)
        if reverted_to is not None and not 1 <= reverted_to < record.revision:
            raise InvalidField("revert_to", f"must be a revision before {record.revision}")
        # A field given as it already is changes nothing; an unknown title digest (see
        # ``UpdateRecord``) counts as changed.
        if body is not None and digest(body) == record.body_digest:
            body = None
        if title is not None and record.title_digest == digest(title):
            title = None
        if new_media is not None and media_digest(new_media) == record.media_digest:
            new_media = None
        if title is None and body is None and new_media is None:
            field = "revert_to" if reverted_to is not None else "body"
            raise InvalidField(field, "a correction must change the title, the body or media")
        timestamp = self._check_at(at)
        self._trigger(
            self.UpdateCorrected, actor, at=timestamp, update_id=update_id, title=title,
            body=body, note=note, reverted_to=reverted_to, media=new_media,
        )  # fmt: skip

    def retract_update(self, *, update_id: UUID, reason: str, actor: Actor) -> None:
        self._editable(update_id, None)
        reason = check_text("reason", reason, limit=MAX_REASON)
        self._trigger(self.UpdateRetracted, actor, update_id=update_id, reason=reason)

    def reinstate_update(
        self, *, update_id: UUID, reason: str, actor: Actor, expected_revision: int | None = None
    ) -> None:
        """Undo a retraction: the update shows the title and body it had before it."""
        record = self.find_update(update_id)
        if not record.retracted:
            raise NotRetracted("the update is not retracted")
        _check_revision(record, expected_revision)
        reason = check_text("reason", reason, limit=MAX_REASON)
        self._trigger(self.UpdateReinstated, actor, update_id=update_id, reason=reason)

    def flag_update(
        self,
        *,
        update_id: UUID,
        pinned: bool | None,
        key_event: bool | None,
        actor: Actor,
        at: datetime | None = None,
    ) -> int:
        """Set the pinned and key-event flags; returns how many events it recorded."""
        record = self._editable(update_id, None)
        events: list[type[Story.Event]] = []
        if pinned is not None and pinned != record.pinned:
            events.append(self.UpdatePinned if pinned else self.UpdateUnpinned)
        if key_event is not None and key_event != record.key_event:
            events.append(self.KeyEventSet if key_event else self.KeyEventUnset)
        # A flag already so records nothing, so its time is not checked either.
        timestamp = self._check_at(at) if events else None
        for event in events:
            self._trigger(event, actor, at=timestamp, update_id=update_id)
        return len(events)

    def find_update(self, update_id: UUID) -> UpdateRecord:
        record = self.updates.get(str(update_id))
        if record is None:
            raise UpdateNotFound(f"no update {update_id} in this story")
        return record

    def check_version(self, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != self.version:
            raise RevisionConflict(
                f"the story is at version {self.version}, not {expected_version}"
            )

    # -- helpers --------------------------------------------------------------------

    def _editable(self, update_id: UUID, expected_revision: int | None) -> UpdateRecord:
        record = self.find_update(update_id)
        if record.retracted:
            raise UpdateRetracted("the update is retracted")
        _check_revision(record, expected_revision)
        return record

    def _check_at(self, at: datetime | None) -> datetime | None:
        return check_at(at, not_before=self.modified_on)

    def _trigger(
        self,
        event_class: type[Story.Event],
        actor: Actor,
        *,
        at: datetime | None = None,
        **fields: Any,
    ) -> None:
        """Trigger an event stamped ``at`` (a checked UTC time), or now when None."""
        self.trigger_event(
            event_class, timestamp=at, actor_id=actor.id, actor_name=actor.name, **fields
        )


def _checked_media(media: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``media`` normalised by ``liveblog.media.check_media``, or ``InvalidField``.

    Imported here, not at the top: that module builds on this one's text rules.
    """
    from liveblog.media import check_media

    return check_media(media)


def _check_revision(record: UpdateRecord, expected_revision: int | None) -> None:
    """``RevisionConflict`` unless the caller named no revision or the current one."""
    if expected_revision is not None and expected_revision != record.revision:
        raise RevisionConflict(
            f"the update is at revision {record.revision}, not {expected_revision}"
        )


@dataclass(frozen=True)
class Actor:
    """Who made a change: a token's id and its display name."""

    id: str
    name: str


# Every Story event type, in the order DESIGN §5 names them, with its public name.
PUBLIC_EVENT_NAMES: dict[type[Aggregate.Event], str] = {
    Story.Opened: "story.opened",
    Story.Edited: "story.updated",
    Story.Closed: "story.closed",
    Story.Reopened: "story.reopened",
    Story.UpdatePosted: "update.posted",
    Story.UpdateCorrected: "update.corrected",
    Story.UpdateRetracted: "update.retracted",
    Story.UpdatePinned: "update.pinned",
    Story.UpdateUnpinned: "update.unpinned",
    Story.KeyEventSet: "update.key_event_set",
    Story.KeyEventUnset: "update.key_event_unset",
    Story.UpdateReinstated: "update.reinstated",
}
