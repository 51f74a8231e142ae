"""A story's events as they stood when each was recorded: the editors' replay (DESIGN §5).

The live stream and its backlog show each update as the public may see it now; a replay
shows it as it stood at each version, superseded and retracted text included, which is
why only editors get it. It folds the stored events with the one fold
(``projections.story``), as time travel does, and makes each event's ``data`` with the
live stream's own ``event_data``, right after the event, so a replayed event is the frame
a live reader got at that moment, plus, for a retraction, the text it took back.

The store is read a page at a time, so a replay of a long story holds one page of events
(and the story's state) at a time, never its whole history. Every method is synchronous
and reads the store: callers on an event loop run it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from liveblog.domain import Story
from projections.states import Applied, applied_event, event_data
from projections.story import (
    Person,
    StoryView,
    UpdateView,
    apply_event,
    fold,
    last_text_revision,
    storable_text,
)
from projections.story_reads import StoryEvents, StoryMissing

# How many events a replay reads from the store at a time.
REPLAY_PAGE = 500
# The key of a retraction's ``data`` that holds the title and body it took back.
RETRACTED_TEXT = "retracted_text"


class Replayed(NamedTuple):
    """One event as it stood: its live frame's parts (``applied``) and who recorded it."""

    applied: Applied
    actor: Person


class StoryReplay:
    """Events ``first``..``last`` of a story, each with its ``data`` as it stood.

    ``opening()`` first (the story at ``first - 1``), then ``next_page()`` until it
    answers an empty page.
    """

    def __init__(
        self, store: StoryEvents, story_id: UUID, *, first: int, last: int,
        page: int = REPLAY_PAGE,
    ) -> None:  # fmt: skip
        if not 1 <= first <= last + 1:
            msg = f"a replay from version {first} of a story at version {last}"
            raise ValueError(msg)
        self.store = store
        self.story_id = story_id
        self.first = first
        self.last = last
        self.page = page
        self.state: StoryView | None = None
        self.position = 0  # the version the state is at

    def opening(self) -> StoryView | None:
        """The story as it stood at version ``first - 1`` (None at 0: not opened yet)."""
        for events in self._pages(self.first - 1):
            self.state = fold(events, self.state)
            self.position = events[-1].originator_version
        return self.state

    def next_page(self) -> list[Replayed]:
        """The next page of events up to ``last``, each applied; empty: the replay is over."""
        events = next(self._pages(self.last), [])
        replayed = []
        for event in events:
            self.state, touched = apply_event(self.state, event)
            replayed.append(self._replayed(self.state, touched, event))
        if events:
            self.position = events[-1].originator_version
        return replayed

    def _pages(self, upto: int) -> Iterator[Sequence[Any]]:
        """Pages of stored events after ``position`` up to version ``upto``.

        The events up to ``last`` were stored when the replay began and are never
        deleted: a page that comes back empty before ``upto`` means no such story.
        """
        after = self.position
        while after < upto:
            events = self.store.story_events(
                self.story_id, after=after, upto=upto, limit=self.page
            )
            if not events:
                raise StoryMissing(f"story {self.story_id} has no version {after + 1}")
            yield events
            after = events[-1].originator_version

    def _replayed(self, state: StoryView, touched: UpdateView | None, event: Any) -> Replayed:
        data = event_data(state, touched)
        if touched is not None and isinstance(event, Story.UpdateRetracted):
            # Only editors see a replay: a retraction shows what it took back.
            shown = last_text_revision(touched)
            data[RETRACTED_TEXT] = {
                "title": shown.title, "body": shown.body, "media": shown.media,
            }  # fmt: skip
        # Position 0: a replay reads one story's events, not the log.
        applied = applied_event(event, state, touched, data)
        return Replayed(applied, Person(event.actor_id, storable_text(event.actor_name)))


def first_version_after(
    store: StoryEvents, story_id: UUID, moment: datetime, *, page: int = REPLAY_PAGE
) -> int:
    """The version of the story's first event stamped after ``moment`` (past the last
    event: its version + 1), read a page at a time: a replay ``--at`` a time."""
    after = 0
    while True:
        events = store.story_events(story_id, after=after, limit=page)
        for event in events:
            if event.timestamp > moment:
                version: int = event.originator_version
                return version
        if len(events) < page:
            if after == 0 and not events:
                raise StoryMissing(f"no story {story_id}")
            return (events[-1].originator_version if events else after) + 1
        after = events[-1].originator_version
