"""The live protocol's messages (DESIGN §5), serialized once and shared by every reader."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any
from uuid import UUID

import orjson

from projections.states import Applied
from projections.wire import rfc3339

# The fields of an Update whose content the public may see only as it now stands: a
# retraction hides the title, body and media, a correction supersedes them. Any new
# field that holds what a reporter wrote belongs here too.
PUBLIC_TEXT_FIELDS = ("title", "body", "media", "status", "retraction")


@dataclass(frozen=True)
class Frame:
    """One story event as readers receive it: its version and its JSON text.

    An event that changed an update also names it, with a fingerprint of the update's
    public text after the event: a backlog served later compares that fingerprint with the
    update's newest frame to tell whether this frame now shows superseded text.
    """

    version: int
    text: str
    update_id: UUID | None = None
    text_print: int = 0

    @cached_property
    def size(self) -> int:
        """Its bytes on the wire (UTF-8), counted once: what a slow reader's bound counts."""
        return len(self.text) if self.text.isascii() else len(self.text.encode())

    @cached_property
    def utf8(self) -> bytes:
        """Its text as UTF-8, encoded once for every reader it is written to (a frame of
        the ring or of a shared backlog goes to many)."""
        return self.text.encode()


def event_frame(applied: Applied) -> Frame:
    message = {
        "type": "event",
        "version": applied.version,
        "event": applied.name,
        "at": rfc3339(applied.at),
        "data": applied.data,
    }
    text = orjson.dumps(message).decode()
    update = applied.data.get("update")
    if update is None or applied.update is None:
        return Frame(applied.version, text)
    return Frame(applied.version, text, applied.update.id, text_print(update))


def text_print(update: dict[str, Any]) -> int:
    """A fingerprint of an Update's public text (equal texts, equal prints, in a process)."""
    return hash(orjson.dumps([update.get(name) for name in PUBLIC_TEXT_FIELDS]))


def with_public_text(stale: Frame, newest: Frame) -> Frame:
    """``stale`` with its update's text as ``newest`` (a later frame of it) shows it.

    The rest of the frame stays as it was (its flags, its revision, its correction notes),
    so a client that replaces each update by the frame's copy ends in the right state,
    and never shows text a later correction or retraction took back.
    """
    message = orjson.loads(stale.text)
    current = orjson.loads(newest.text)["data"]["update"]
    update = message["data"]["update"]
    for name in PUBLIC_TEXT_FIELDS:
        update[name] = current.get(name)
    return Frame(stale.version, orjson.dumps(message).decode(), stale.update_id, newest.text_print)


def public_backlog(frames: list[Frame]) -> list[Frame]:
    """Frames as the public may see them now: ``frames`` end at the story's newest version.

    For each update, its last frame here holds its public text as it now stands (an update
    whose last change came before ``frames`` has no frame here to fix). Every earlier
    frame of it that shows other text is rewritten with that text.
    """
    newest: dict[UUID, Frame] = {}
    for frame in frames:
        if frame.update_id is not None:
            newest[frame.update_id] = frame
    public = []
    for frame in frames:
        last = newest.get(frame.update_id) if frame.update_id is not None else None
        stale = last is not None and last.text_print != frame.text_print
        public.append(with_public_text(frame, last) if stale and last else frame)
    return public


def snapshot_text(version: int, story_json: bytes, *, reset: bool = False) -> str:
    message: dict[str, object] = {
        "type": "snapshot",
        "version": version,
        "story": orjson.Fragment(story_json),
    }
    if reset:
        message["reset"] = True
    return orjson.dumps(message).decode()


def live_text(version: int) -> str:
    return orjson.dumps({"type": "live", "version": version}).decode()
