"""``liveblog replay``'s lines: an editors' replay (DESIGN §5) read at a terminal.

One line per event: its time, who, the event's name, and the headline or an excerpt of
what it left shown (for a retraction, what it took back, and why). The same events and
pace as the WebSocket's ``?replay=``; only the rendering is this module's.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from liveblog.replay_clock import ReplayClock
from projections.replay import RETRACTED_TEXT, Replayed, StoryReplay
from projections.story import StoryView

EXCERPT_CHARACTERS = 72
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


def print_replay(
    replay: StoryReplay, speed: float | None, write: Callable[[str], object], *,
    sleep: Callable[[float], object] = time.sleep, clock: Callable[[], float] = time.monotonic,
) -> None:  # fmt: skip
    """Write the replay's lines as each event falls due (blocking: it reads the store)."""
    write(opening_line(replay.first - 1, replay.opening()))
    pace = ReplayClock(speed, clock)
    while page := replay.next_page():
        for item in page:
            wait = pace.wait_before(item.applied.at)
            if wait > 0:
                sleep(wait)
            write(event_line(item))
    write(f"end of the replay at version {replay.last}")


def opening_line(version: int, story: StoryView | None) -> str:
    if story is None:
        return "version 0: the story was not opened yet"
    count = len(story.updates)
    return f'version {version}: "{plain(story.title)}", {count} update{"s" * (count != 1)}'


def event_line(item: Replayed) -> str:
    """``2026-12-01 10:05:12Z  Ana Reporter  update.corrected  "Headline" — excerpt…``"""
    applied = item.applied
    when = applied.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{when}  {plain(item.actor.name)}  {applied.name}  {what_it_shows(applied.data)}"


def what_it_shows(data: dict[str, Any]) -> str:
    """The headline and an excerpt of what an event's ``data`` shows."""
    story = data.get("story")
    if story is not None:
        return headline(story["title"], story["summary"])
    update = data["update"]
    taken_back = data.get(RETRACTED_TEXT)
    if taken_back is not None:
        shown = headline(taken_back["title"], taken_back["body"])
        return f"{shown} (retracted: {excerpt(update['retraction']['reason'])})"
    return headline(update["title"], update["body"])


def headline(title: str, text: str) -> str:
    """``"Title" — excerpt…``, or either alone."""
    parts = [f'"{plain(title)}"'] if title.strip() else []
    if text.strip():
        parts.append(excerpt(text))
    return " — ".join(parts)


def excerpt(text: str) -> str:
    """The first words of ``text`` (HTML or plain), on one line."""
    words = plain(html.unescape(_TAG.sub(" ", text)))
    if len(words) <= EXCERPT_CHARACTERS:
        return words
    return words[:EXCERPT_CHARACTERS].rstrip() + "…"


def plain(text: str) -> str:
    """``text`` on one line with no control characters: a terminal shows it as it is."""
    printable = "".join(c if c.isprintable() else " " for c in text)
    return _SPACES.sub(" ", printable).strip()


def parse_time(raw: str) -> datetime:
    """``--at``: an RFC 3339 time with its zone (``2026-12-01T10:05:00Z``)."""
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("the time needs a zone, e.g. Z")
    return moment
