"""Reads of a story straight from its stored events, not from the views.

What the views do not hold: the story as readers saw it at a version or a moment (time
travel, and the answer of a write whose views lag), its raw history, and its events
applied again from the start, as the live stream sent them (a far-back resume). Each
folds the events with the one fold (``projections.story``). Every call is synchronous
and reads the store: callers on an event loop run it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from projections.states import Applied, StoryStates
from projections.story import StoryView, fold


class StoryEvents(Protocol):
    """Where a story's events are read from (the application, ``Newsroom``)."""

    def story_events(
        self, story_id: UUID, *, after: int = 0, upto: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Any]:  # fmt: skip
        """The story's stored events after version ``after`` (up to ``upto``), in order."""
        ...


# How many events a filtered history reads from the store at a time.
HISTORY_PAGE = 500


class StoryMissing(Exception):
    """The store holds no such story (or held none yet at the moment asked about)."""


class StoryReads:
    def __init__(self, store: StoryEvents) -> None:
        self.store = store

    def story(self, story_id: UUID, *, upto: int | None = None) -> StoryView:
        """The story as readers saw it at version ``upto`` (default: now)."""
        state = fold(self.store.story_events(story_id, upto=upto))
        if state is None:
            raise StoryMissing(f"no story {story_id}")
        return state

    def story_at(self, story_id: UUID, moment: datetime) -> StoryView:
        """The story as readers saw it at ``moment``: every event stamped up to then."""
        events = self.store.story_events(story_id)
        if not events:
            raise StoryMissing(f"no story {story_id}")
        seen = [e for e in events if e.timestamp <= moment]
        state = fold(seen)
        if state is None:
            raise StoryMissing(f"story {story_id} did not exist yet at {moment.isoformat()}")
        return state

    def events(self, story_id: UUID, *, after: int, limit: int) -> list[Any]:
        """The raw history: up to ``limit`` stored events after version ``after``."""
        events = list(self.store.story_events(story_id, after=after, limit=limit))
        if not events and after == 0:
            raise StoryMissing(f"no story {story_id}")
        return events

    def events_where(
        self, story_id: UUID, keep: Callable[[Any], bool], *, after: int, limit: int,
        page: int = HISTORY_PAGE,
    ) -> tuple[list[Any], int | None]:  # fmt: skip
        """Up to ``limit`` stored events after version ``after`` that ``keep`` accepts,
        and the version to continue after (None: the history holds no more).

        Read a page at a time, so a filter that matches little costs pages, not the
        whole history at once.
        """
        found: list[Any] = []
        scanned = after
        while True:
            events = self.store.story_events(story_id, after=scanned, limit=page)
            if not events and scanned == 0:
                raise StoryMissing(f"no story {story_id}")
            for event in events:
                scanned = event.originator_version
                if keep(event):
                    found.append(event)
                    if len(found) == limit:
                        return found, scanned
            if len(events) < page:
                return found, None

    def applied_after(self, story_id: UUID, since: int) -> list[Applied] | None:
        """The story's events after version ``since``, each applied to the story as the
        live hub got it (with its wire data); None when ``since`` is beyond the story.

        The whole story is folded again from its first event: an event's data holds the
        state of what it changed, which the events before ``since`` made.
        """
        events = self.store.story_events(story_id)
        if not events:
            raise StoryMissing(f"no story {story_id}")
        if since > events[-1].originator_version:
            return None
        states = StoryStates(lambda story, upto: list(self.store.story_events(story, upto=upto)))
        applied = (states.apply(0, event) for event in events)
        return [a for a in applied if a is not None and a.version > since]
