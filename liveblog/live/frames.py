"""The live protocol's messages (DESIGN §5), serialized once and shared by every reader."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import orjson

from projections.states import Applied
from projections.wire import rfc3339


@dataclass(frozen=True)
class Frame:
    """One story event as readers receive it: its version and its JSON text."""

    version: int
    text: str

    @cached_property
    def size(self) -> int:
        """Its bytes on the wire (UTF-8), counted once: what a slow reader's bound counts."""
        return len(self.text) if self.text.isascii() else len(self.text.encode())


def event_frame(applied: Applied) -> Frame:
    message = {
        "type": "event",
        "version": applied.version,
        "event": applied.name,
        "at": rfc3339(applied.at),
        "data": applied.data,
    }
    return Frame(applied.version, orjson.dumps(message).decode())


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
