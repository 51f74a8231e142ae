"""Where an editors' replay starts and ends, on the store (DESIGN §5): the WebSocket's
``?replay=SPEED&from=V`` and ``liveblog replay STORY --from V | --at TIME`` alike.

A replay runs from version ``from`` (default 1) to V, the story's version in the store
when it starts: a finite stream, whatever is written meanwhile. Blocking (it reads the
store): the web calls it in a worker thread.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from liveblog.newsroom import Newsroom
from projections.replay import StoryReplay, first_version_after
from projections.story_reads import StoryMissing


class ReplayRefused(ValueError):
    """A replay that cannot be (``from`` beyond the story); the message says why."""


def last_version(newsroom: Newsroom, story_id: UUID) -> int:
    """The story's newest stored version: one row, no aggregate loaded."""
    newest = newsroom.recorder.select_events(story_id, desc=True, limit=1)
    if not newest:
        raise StoryMissing(f"no story {story_id}")
    return newest[0].originator_version


def plan_replay(
    newsroom: Newsroom, story_id: UUID, *, first: int | None = None, at: datetime | None = None
) -> StoryReplay:
    """The replay of the story from version ``first`` (default 1), or from its first
    event after ``at``, to its newest version now. Raises ``StoryMissing``, or
    ``ReplayRefused`` for a ``first`` the story has not reached."""
    last = last_version(newsroom, story_id)
    if at is not None:
        first = first_version_after(newsroom, story_id, at)
    first = 1 if first is None else first
    if first < 1:
        raise ReplayRefused("from: must be 1 or more")
    if first > last + 1:
        raise ReplayRefused(
            f"from: the story is at version {last}, so a replay starts at {last + 1} at most"
        )
    return StoryReplay(newsroom, story_id, first=first, last=last)
