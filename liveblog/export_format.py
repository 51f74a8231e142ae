"""The export file: NDJSON, one record a line, read back as hostile input.

A file is a header line, then records, each with a ``kind`` (``person``, ``story_event``,
...: one per section, see ``liveblog.sections``), then an end line that counts the
records. The end line is what tells a complete file from one cut short at a line
boundary (a full disk, a dropped download), which would otherwise read as a smaller,
valid store.

Reading refuses, with the line's number, anything that is not such a file: a line that
is too long (read no further than the limit, so a file with no newline costs bounded
memory), not JSON, not an object, a header of another format or version, a record after
the end or none at the end, and U+0000 anywhere (PostgreSQL text cannot hold it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any
from uuid import UUID

import orjson

from projections.wire import rfc3339

FORMAT = "liveblog-export"
VERSION = 1
END = "end"
MEDIA_TYPE = "application/x-ndjson"
# An update's body is at most 20,000 characters (80 KB of UTF-8 at worst), its title,
# note and names a few KB more: a line past 1 MiB is no record of ours.
MAX_LINE_BYTES = 1024 * 1024


class Malformed(Exception):
    """The file is not an export this version can load; says which line and why."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


Record = dict[str, Any]


def encode_line(record: Mapping[str, Any]) -> bytes:
    """One record as a line (values orjson writes itself: str, int, bool, None, Fragment)."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def header_line(exported_at: datetime | None = None) -> bytes:
    moment = exported_at or datetime.now(UTC)
    return encode_line({"format": FORMAT, "version": VERSION, "exported_at": rfc3339(moment)})


def end_line(records: int) -> bytes:
    return encode_line({"kind": END, "records": records})


def read_records(stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    """Each record of the file with its line number, once the header has been checked;
    ``Malformed`` for the first line that is wrong, and at the end unless the end line
    closed the file with the right count."""
    lines = _lines(stream)
    first = next(lines, None)
    if first is None:
        raise Malformed(1, "the file is empty: expected the export header")
    _check_header(*first)
    count = 0
    for number, record in lines:
        kind = record.get("kind")
        if not isinstance(kind, str):
            raise Malformed(number, 'a record needs a "kind" (a string)')
        if kind == END:
            _check_end(number, record, count)
            extra = next(lines, None)
            if extra is not None:
                raise Malformed(extra[0], "a line after the end line")
            return
        count += 1
        yield number, record
    raise Malformed(
        count + 2, "the file ends without its end line: it was cut short (export it again)"
    )


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise Malformed(number, f"the line is longer than {MAX_LINE_BYTES} bytes")
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise Malformed(number, f"not valid JSON ({error})") from None
        if not isinstance(value, dict):
            raise Malformed(number, "a line must hold a JSON object")
        if _holds_nul(value):
            raise Malformed(number, "the line holds U+0000, which PostgreSQL text cannot hold")
        yield number, value


def _holds_nul(value: Any) -> bool:
    """Whether any string (key or value) in the parsed line holds U+0000; no recursion,
    since orjson parses objects nested deeper than Python recurses."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _check_header(number: int, record: Record) -> None:
    if record.get("format") != FORMAT:
        raise Malformed(number, f'not a liveblog export: the header needs "format": "{FORMAT}"')
    version = record.get("version")
    if type(version) is not int or version != VERSION:  # True == 1 to Python
        raise Malformed(
            number,
            f"export version {version!r} is not one this liveblog reads"
            f" (it reads version {VERSION})",
        )


def _check_end(number: int, record: Record, count: int) -> None:
    records = record.get("records")
    if set(record) != {"kind", "records"} or type(records) is not int or records != count:
        raise Malformed(
            number, f'the end line must be {{"kind": "end", "records": {count}}}: records are'
            " missing or extra"
        )  # fmt: skip


# -- a record's fields ------------------------------------------------------------------


def check_keys(number: int, record: Record, keys: frozenset[str]) -> None:
    """A record of its kind has exactly these keys: an extra one is data we would drop."""
    if set(record) != keys:
        missing = sorted(keys - set(record))
        extra = sorted(set(record) - keys)
        parts = [f"missing {', '.join(missing)}" if missing else "",
                 f"unknown {', '.join(extra)}" if extra else ""]  # fmt: skip
        raise Malformed(number, f"a {record['kind']} record: {'; '.join(p for p in parts if p)}")


def text_value(number: int, record: Record, name: str) -> str:
    value = record[name]
    if not isinstance(value, str):
        raise Malformed(number, f"{name}: must be a string")
    return value


def uuid_value(number: int, record: Record, name: str) -> UUID:
    try:
        return UUID(text_value(number, record, name))
    except ValueError:
        raise Malformed(number, f"{name}: must be a UUID") from None


def int_value(number: int, record: Record, name: str, *, minimum: int) -> int:
    value = record[name]
    # bool is an int to Python, not to the format.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise Malformed(number, f"{name}: must be a whole number of at least {minimum}")
    return value


def time_value(number: int, record: Record, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text_value(number, record, name).replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(number, f"{name}: must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise Malformed(number, f"{name}: must carry a time zone")
    return moment
