"""Resuming a reader: which messages it needs before it goes live (sans-I/O).

No sockets and no store here: the connection code asks ``plan_resume`` what to fetch,
then pushes every candidate frame (ring, backlog, live buffer) through a ``Sequencer``,
which lets through exactly the next version, drops what the reader already has, and
reports a hole — which the caller answers with a reset snapshot, never a partial replay.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from liveblog.live.frames import Frame


class Start(enum.Enum):
    SNAPSHOT = "snapshot"  # no usable cursor: send the story as it is, then live
    RESET = "reset"  # a cursor we cannot serve: a snapshot marked reset
    RING = "ring"  # everything missed is in memory
    STORE = "store"  # the reader is older than the ring: read the missed events


@dataclass(frozen=True)
class Plan:
    start: Start
    since: int | None = None
    frames: tuple[Frame, ...] = ()


def parse_since(raw: str | None) -> int | Start | None:
    """The cursor a reader sent: None (none given), an int, or RESET (malformed)."""
    if raw is None or raw == "":
        return None
    # ASCII only: str.isdigit() accepts "²" and "١", which int() rejects or reads oddly.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return Start.RESET
    return int(raw)


def plan_resume(since_raw: str | None, ring: Sequence[Frame]) -> Plan:
    """Decide from the cursor and this process's ring alone (no store access).

    ``ring`` holds the story's newest frames, contiguous. A cursor the ring cannot serve
    needs the store (``Start.STORE``): the caller reads the missed events there, or
    resets when the cursor is beyond the story's real version.
    """
    since = parse_since(since_raw)
    if since is None:
        return Plan(Start.SNAPSHOT)
    if since is Start.RESET:
        return Plan(Start.RESET)
    assert isinstance(since, int)
    if ring and ring[0].version <= since + 1 and since <= ring[-1].version:
        return Plan(Start.RING, since, tuple(f for f in ring if f.version > since))
    return Plan(Start.STORE, since)


class Verdict(enum.Enum):
    SEND = "send"
    DROP = "drop"
    HOLE = "hole"


class Sequencer:
    """Keeps one reader's stream contiguous: V, V+1, V+2, … with no gap, no duplicate."""

    def __init__(self, last_sent: int) -> None:
        self.last_sent = last_sent

    def offer(self, frame: Frame) -> Verdict:
        if frame.version <= self.last_sent:
            return Verdict.DROP
        if frame.version != self.last_sent + 1:
            return Verdict.HOLE
        self.last_sent = frame.version
        return Verdict.SEND

    def restart(self, version: int) -> None:
        """After a (reset) snapshot at ``version``."""
        self.last_sent = version
