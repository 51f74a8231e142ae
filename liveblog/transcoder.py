"""The event store's transcoder: orjson, with UUIDs, datetimes and records tagged.

orjson writes UUIDs and datetimes as plain strings, which would come back as strings.
Events and snapshots must load with their types, so such values are wrapped in a tagged
object (``{"_type_": "uuid", "_data_": "…"}``) on the way in and unwrapped on the way out.

A *table* is a ``dict`` subclass of records keyed by strings (a story's updates). It is
stored as one tagged object of columns, ``{"keys": [...], "columns": {field: [...]}}``.
Each column is gathered in C (``map`` with ``attrgetter``) and written by orjson, which
writes strings, numbers, UUIDs and datetimes itself, so no Python code runs per record on
the way in. On the way out each column is converted by its field's declared type. A
story of ten thousand updates is snapshotted every hundred events: walking its records
one by one in Python took far longer than the post that triggered the snapshot.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from itertools import repeat, starmap
from operator import attrgetter
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

TYPE_KEY = "_type_"
_PLAIN = frozenset({str, int, float, bool})
DATA_KEY = "_data_"
TABLE_KEYS = "keys"
TABLE_COLUMNS = "columns"

# Field types a table column may have, and how a stored value is turned back into one.
# orjson writes UUIDs as their hyphenated string and datetimes in RFC 3339 with their
# offset, both of which these read back exactly.
_COLUMN_DECODERS: dict[Any, Callable[[Any], Any] | None] = {
    str: None,
    int: None,
    float: float,  # a float field may hold an int, which JSON would give back as one
    bool: None,
    UUID: UUID,
    datetime: datetime.fromisoformat,
}


def _column_decoder(record_type: type[Any], name: str, hint: Any) -> Callable[[Any], Any] | None:
    """How to read back one column of ``record_type``; refuses types JSON would change."""
    if hint in _COLUMN_DECODERS:
        return _COLUMN_DECODERS[hint]
    args = typing.get_args(hint)
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    if is_union and len(args) == 2 and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        if inner in _COLUMN_DECODERS:
            decode = _COLUMN_DECODERS[inner]
            if decode is None:
                return None
            return lambda value: None if value is None else decode(value)
    msg = f"{record_type.__qualname__}.{name}: a table cannot store a field of type {hint!r}"
    raise TypeError(msg)


def _made(factory: Callable[[], Any], count: int) -> Iterable[Any]:
    """``count`` values from ``factory``: a fresh one for each record, as the dataclass does."""
    return (factory() for _ in range(count))


class _Table:
    """How one table type (a dict of records keyed by strings) is stored and restored."""

    def __init__(self, table_type: type[Any], record_type: type[Any]) -> None:
        if not (isinstance(table_type, type) and issubclass(table_type, dict)):
            msg = f"a table type must subclass dict, not {table_type!r}"
            raise TypeError(msg)
        self.table_type = table_type
        self.record_type = record_type
        self.tag = f"table:{table_type.__name__}"
        fields = dataclasses.fields(record_type)
        self.names = tuple(f.name for f in fields)
        self._getters = tuple((name, attrgetter(name)) for name in self.names)
        hints = typing.get_type_hints(record_type)
        self._decoders = {
            f.name: _column_decoder(record_type, f.name, hints[f.name]) for f in fields
        }
        # For a field added since a table was stored: how to fill its column.
        self._defaults: dict[str, Callable[[int], Iterable[Any]]] = {}
        for f in fields:
            if f.default is not dataclasses.MISSING:
                self._defaults[f.name] = functools.partial(repeat, f.default)
            elif f.default_factory is not dataclasses.MISSING:
                self._defaults[f.name] = functools.partial(_made, f.default_factory)

    def encode(self, table: dict[str, Any]) -> dict[str, Any]:
        records = table.values()
        columns = {name: list(map(get, records)) for name, get in self._getters}
        return {TABLE_KEYS: list(table), TABLE_COLUMNS: columns}

    def decode(self, data: Any) -> Any:
        keys: list[str] = data[TABLE_KEYS]
        stored: dict[str, list[Any]] = data[TABLE_COLUMNS]
        count = len(keys)
        columns: list[Iterable[Any]] = []
        for name in self.names:
            column = stored.get(name)
            if column is None:
                # A field added to the record since this table was stored.
                if name not in self._defaults:
                    msg = f"{self.tag}: stored table has no column {name!r}"
                    raise ValueError(msg)
                columns.append(self._defaults[name](count))
                continue
            if len(column) != count:
                msg = f"{self.tag}: column {name!r} has {len(column)} values for {count} keys"
                raise ValueError(msg)
            decode = self._decoders[name]
            columns.append(column if decode is None else map(decode, column))
        # Columns the record no longer has are ignored: a snapshot is only a cache of the
        # state its events fold to, and the record no longer needs them.
        rows: Iterable[tuple[Any, ...]] = (
            zip(*columns, strict=True) if columns else repeat((), count)
        )
        return self.table_type(zip(keys, starmap(self.record_type, rows), strict=True))


class OrjsonTranscoder(Transcoder):
    """Encodes event state as JSON bytes with orjson, keeping value types."""

    def __init__(
        self,
        record_types: tuple[type[Any], ...] = (),
        tables: Mapping[type[Any], type[Any]] | None = None,
    ) -> None:
        # Dataclasses that aggregate snapshots hold, restored by name. Their field names
        # are looked up once, not per record.
        self._records: dict[str, tuple[type[Any], frozenset[str]]] = {
            t.__name__: (t, frozenset(f.name for f in dataclasses.fields(t))) for t in record_types
        }
        self._record_fields: dict[type[Any], tuple[str, tuple[str, ...]]] = {
            t: (f"record:{t.__name__}", tuple(f.name for f in dataclasses.fields(t)))
            for t in record_types
        }
        # Tables (dicts of records) by their own type, stored as columns.
        self._tables: dict[type[Any], _Table] = {
            table_type: _Table(table_type, record_type)
            for table_type, record_type in (tables or {}).items()
        }
        self._tables_by_tag = {table.tag: table for table in self._tables.values()}

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
        if kind is datetime:  # every event's timestamp
            return {TYPE_KEY: "datetime", DATA_KEY: value.isoformat()}
        record = self._record_fields.get(kind)
        if record is not None:
            tag, names = record
            fields = {name: self._tag(getattr(value, name)) for name in names}
            return {TYPE_KEY: tag, DATA_KEY: fields}
        table = self._tables.get(kind)
        if table is not None:
            return {TYPE_KEY: table.tag, DATA_KEY: table.encode(value)}
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
        if isinstance(kind, str) and kind.startswith("table:"):
            table = self._tables_by_tag.get(kind)
            if table is None:
                msg = f"unknown table type {kind!r}"
                raise ValueError(msg)
            return table.decode(data)
        if isinstance(kind, str) and kind.startswith("record:"):
            record_type, names = self._records[kind.removeprefix("record:")]
            # Fields the record no longer has are dropped, as for table columns: older
            # snapshots held an update's id in its record as well as in its key.
            return record_type(
                **{key: self._untag(item) for key, item in data.items() if key in names}
            )
        msg = f"unknown tagged type {kind!r}"
        raise ValueError(msg)
