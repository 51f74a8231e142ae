"""Story reads for the API: the fold of a story's events, from the store.

Reads never load aggregates; they fold the stored events with ``projections.story``.
Every call here is synchronous: handlers run it in a worker thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from liveblog.newsroom import Newsroom, StoryNotFound
from projections.story import StoryView, fold


class StoryReads:
    def __init__(self, newsroom: Newsroom) -> None:
        self.newsroom = newsroom

    def story(self, story_id: UUID, *, upto: int | None = None) -> StoryView:
        """The story as readers saw it at version ``upto`` (default: now)."""
        state = fold(self.newsroom.story_events(story_id, upto=upto))
        if state is None:
            raise StoryNotFound(f"no story {story_id}")
        return state

    def story_at(self, story_id: UUID, moment: datetime) -> StoryView:
        """The story as readers saw it at ``moment``: every event stamped up to then."""
        events = self.newsroom.story_events(story_id)
        if not events:
            raise StoryNotFound(f"no story {story_id}")
        seen = [e for e in events if e.timestamp <= moment]
        state = fold(seen)
        if state is None:
            raise StoryNotFound(f"story {story_id} did not exist yet at {moment.isoformat()}")
        return state

    def events(self, story_id: UUID, *, after: int, limit: int) -> list[Any]:
        events = self.newsroom.story_events(story_id, after=after, limit=limit)
        if not events and after == 0:
            raise StoryNotFound(f"no story {story_id}")
        return events
