"""The event store's transcoder: orjson, with UUIDs, datetimes and records tagged.

orjson writes UUIDs and datetimes as plain strings, which would come back as strings.
Events and snapshots must load with their types, so such values are wrapped in a tagged
object (``{"_type_": "uuid", "_data_": "…"}``) on the way in and unwrapped on the way out.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

TYPE_KEY = "_type_"
_PLAIN = frozenset({str, int, float, bool})
DATA_KEY = "_data_"


class OrjsonTranscoder(Transcoder):
    """Encodes event state as JSON bytes with orjson, keeping value types."""

    def __init__(self, record_types: tuple[type[Any], ...] = ()) -> None:
        # Dataclasses that aggregate snapshots hold, restored by name. Their field names
        # are looked up once: a snapshot of a long story holds thousands of records.
        self._records: dict[str, type[Any]] = {t.__name__: t for t in record_types}
        self._record_fields: dict[type[Any], tuple[str, tuple[str, ...]]] = {
            t: (f"record:{t.__name__}", tuple(f.name for f in dataclasses.fields(t)))
            for t in record_types
        }

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(self._tag(obj))

    def decode(self, data: bytes) -> Any:
        return self._untag(orjson.loads(data))

    def _tag(self, value: Any) -> Any:
        # Exact types first (the common case, and cheap), subclasses after.
        kind = type(value)
        if kind in _PLAIN or value is None:
            return value
        if kind is dict:
            return {key: self._tag(item) for key, item in value.items()}
        if kind is UUID:
            return {TYPE_KEY: "uuid", DATA_KEY: value.hex}
        record = self._record_fields.get(kind)
        if record is not None:
            tag, names = record
            fields = {name: self._tag(getattr(value, name)) for name in names}
            return {TYPE_KEY: tag, DATA_KEY: fields}
        if isinstance(value, dict):
            return {key: self._tag(item) for key, item in value.items()}
        if isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, UUID):
            return {TYPE_KEY: "uuid", DATA_KEY: value.hex}
        if isinstance(value, datetime):
            return {TYPE_KEY: "datetime", DATA_KEY: value.isoformat()}
        if isinstance(value, (list, tuple)):
            items = [self._tag(item) for item in value]
            return {TYPE_KEY: "tuple", DATA_KEY: items} if isinstance(value, tuple) else items
        msg = f"cannot store a value of type {type(value).__qualname__}"
        raise TypeError(msg)

    def _untag(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._untag(item) for item in value]
        if not isinstance(value, dict):
            return value
        kind = value.get(TYPE_KEY)
        if kind is None or len(value) != 2 or DATA_KEY not in value:
            return {key: self._untag(item) for key, item in value.items()}
        data = value[DATA_KEY]
        if kind == "uuid":
            return UUID(data)
        if kind == "datetime":
            return datetime.fromisoformat(data)
        if kind == "tuple":
            return tuple(self._untag(item) for item in data)
        if isinstance(kind, str) and kind.startswith("record:"):
            record_type = self._records[kind.removeprefix("record:")]
            return record_type(**{key: self._untag(item) for key, item in data.items()})
        msg = f"unknown tagged type {kind!r}"
        raise ValueError(msg)
