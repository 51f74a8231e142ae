"""One stored aggregate event ⇄ one export line, through the application's own mapper.

The line carries the event as stored: its aggregate's id, its version, its topic, its
time (``at``, for people reading the file), and ``state``, every field of the stored
state as the store's transcoder (``liveblog.transcoder``) writes it, UUIDs and datetimes
tagged. So the state comes back typed, and bytes for bytes as it was stored; the schema
version of an old event (``class_version``) is kept, not upcast, and nothing is run
again (no command, no sanitizer, no new timestamp).

Reading a line back checks it as the hostile input it may be: only the topics of the
section's own event classes (a topic names a Python class to import), state the mapper
turns into an event with exactly its class's fields, each of its declared type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from liveblog.domain import InvalidField
from liveblog.export_format import (
    Malformed,
    Record,
    check_keys,
    int_value,
    text_value,
    time_value,
    uuid_value,
)
from liveblog.media import check_media
from projections.wire import rfc3339

# Set by the mapper from the line's own fields, not read from ``state``.
_FROM_THE_LINE = frozenset({"originator_id", "originator_version"})


class EventLines:
    """The lines of one kind (``story_event``): events of ``event_types`` only, whose
    aggregate's id is the line's ``id_field`` (``story_id``)."""

    def __init__(
        self,
        kind: str,
        id_field: str,
        mapper: Mapper[UUID],
        event_types: Iterable[type[Aggregate.Event]],
    ) -> None:
        if mapper.cipher is not None or mapper.compressor is not None:
            # liveblog configures neither; a store that has one would export ciphertext.
            msg = "exporting a store with a cipher or a compressor is not supported"
            raise ValueError(msg)
        self.kind = kind
        self.id_field = id_field
        self.mapper = mapper
        self.keys = frozenset({"kind", id_field, "version", "topic", "at", "state"})
        self._types = {get_topic(cls): cls for cls in event_types}
        self._fields = {cls: _declared_fields(cls) for cls in self._types.values()}

    def record(self, stored: StoredEvent) -> Record:
        """The line of a stored event (``state`` as a ready-made JSON fragment)."""
        transcoder = self.mapper.transcoder
        state = transcoder.decode(stored.state)
        return {
            "kind": self.kind,
            self.id_field: str(stored.originator_id),
            "version": stored.originator_version,
            "topic": stored.topic,
            "at": rfc3339(state["timestamp"]),
            "state": orjson.Fragment(transcoder.encode(state)),
        }

    def stored_event(self, number: int, record: Record) -> tuple[StoredEvent, Aggregate.Event]:
        """The stored event a line holds, and its domain event; ``Malformed`` if it is
        not an event of this section as the store would hold it."""
        check_keys(number, record, self.keys)
        originator_id = uuid_value(number, record, self.id_field)
        version = int_value(number, record, "version", minimum=1)
        topic = text_value(number, record, "topic")
        at = time_value(number, record, "at")
        cls = self._types.get(topic)
        if cls is None:
            raise Malformed(number, f"{topic!r} is not the topic of a {self.kind}")
        state = record["state"]
        if not isinstance(state, dict):
            raise Malformed(number, "state: must be an object")
        _check_class_version(number, cls, state.get("class_version", 1))
        transcoder = self.mapper.transcoder
        try:
            # Through the transcoder both ways: what is stored is what it would write.
            encoded = transcoder.encode(transcoder.decode(orjson.dumps(state)))
            stored = StoredEvent(originator_id, version, topic, encoded)
            event = self.mapper.to_domain_event(stored)
        except Exception as error:  # hostile state: any failure to decode is the file's
            msg = f"state does not load as {cls.__qualname__}: {error}"
            raise Malformed(number, msg) from None
        assert isinstance(event, Aggregate.Event)  # an event of ``cls``, as its topic says
        self._check_fields(number, cls, vars(event))
        timestamp = event.timestamp
        if timestamp.tzinfo is None or timestamp != at:
            raise Malformed(number, "at: must be the state's timestamp, with its time zone")
        return stored, event

    def _check_fields(self, number: int, cls: type[Any], values: dict[str, Any]) -> None:
        fields = self._fields[cls]
        present = set(values) - _FROM_THE_LINE
        if present != set(fields):
            missing = sorted(set(fields) - present)
            extra = sorted(present - set(fields))
            raise Malformed(
                number,
                f"state of {cls.__qualname__}: missing {missing or 'nothing'},"
                f" unknown {extra or 'nothing'}",
            )
        for name, hint in fields.items():
            if not _fits(values[name], hint):
                raise Malformed(number, f"state.{name}: not a {_shown(hint)}")
        _check_media(number, values.get("media"))


def _check_media(number: int, media: object) -> None:
    """An event's media (an update's, a draft's) as the domain records them: checked and
    normalised (a URL in them ends up in a reader's page)."""
    if media is None:
        return
    try:
        normalised = check_media(media)
    except InvalidField as error:
        raise Malformed(number, f"state.{error}") from None
    if normalised != media:
        raise Malformed(number, "state.media: not normalised as the domain records media")


def _declared_fields(cls: type[Any]) -> dict[str, Any]:
    """The event's fields and their types, but those the mapper sets from the line."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in _FROM_THE_LINE}


def _check_class_version(number: int, cls: type[Any], stored: object) -> None:
    """A stored schema version the class can upcast from (an old one is kept as it is)."""
    current = getattr(cls, "class_version", 1)
    if type(stored) is not int or not 1 <= stored <= current:
        raise Malformed(number, f"state.class_version: must be from 1 to {current}")


def _fits(value: object, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _fits(k, key) and _fits(v, item) for k, v in value.items()
        )
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is int:
        return type(value) is int  # not a bool
    if hint is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    return isinstance(hint, type) and isinstance(value, hint)


def _shown(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)
