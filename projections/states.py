"""Each process's current story states: the fold, kept warm, applied once per event.

The feed applies every event here first; the persisted views and the live hub then
take what they need from the result. A story not in memory (a cold start, or evicted) is
folded from its stored events up to the version before the event, so the state is always
exact whatever happened before this process started.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from liveblog.domain import PUBLIC_EVENT_NAMES
from projections.story import StoryView, UpdateView, apply_event, fold
from projections.wire import story_fields_json, update_json

# Reads a story's stored events with versions 1..upto (the store's job, passed in so that
# projections depend on nothing but the domain).
EventLoader = Callable[[UUID, int], list[Any]]


@dataclass(frozen=True)
class Applied:
    """One event applied to its story: what views and live readers need of it.

    ``data`` is the wire payload of DESIGN §5, made right after the event, once per event
    (empty when the states were made without live data, as for a rebuild).
    """

    notification_id: int
    story_id: UUID
    version: int
    name: str
    at: datetime
    data: dict[str, Any]
    story: StoryView
    update: UpdateView | None


def applied_event(
    event: Any, state: StoryView, touched: UpdateView | None, data: dict[str, Any],
    notification_id: int = 0,
) -> Applied:  # fmt: skip
    """``event`` as applied to ``state`` (``touched``: the update it changed), with ``data``."""
    return Applied(
        notification_id=notification_id,
        story_id=state.id,
        version=event.originator_version,
        name=PUBLIC_EVENT_NAMES[type(event)],
        at=event.timestamp,
        data=data,
        story=state,
        update=touched,
    )


def event_data(state: StoryView, touched: UpdateView | None) -> dict[str, Any]:
    """What a live event carries (DESIGN §5): the whole new state of what changed, made
    right after the event (``state`` changes in place with the next one)."""
    if touched is not None:
        return {"update": update_json(touched)}
    return {"story": story_fields_json(state)}


class StoryStates:
    """An LRU of story states, advanced by events in store order."""

    def __init__(
        self, load_events: EventLoader, max_stories: int | None = 2_000, *,
        live_data: bool = True,
    ) -> None:  # fmt: skip
        """``max_stories`` None: keep every story (a rebuild), with no LRU upkeep."""
        self._load_events = load_events
        self._max_stories = max_stories
        # A rebuild has no live readers: it can skip making each event's wire payload.
        self._live_data = live_data
        self._states: OrderedDict[UUID, StoryView] = OrderedDict()

    def get(self, story_id: UUID) -> StoryView | None:
        return self._states.get(story_id)

    def forget(self, story_id: UUID) -> None:
        """Drop a story's state (an event failed half-way into it): the next event of the
        story folds it again from the store."""
        self._states.pop(story_id, None)

    def apply(self, notification_id: int, event: Any) -> Applied | None:
        """Advance the event's story; None when this state already has the event."""
        advanced = self.advance(event)
        if advanced is None:
            return None
        state, touched = advanced
        data = event_data(state, touched) if self._live_data else {}
        return applied_event(event, state, touched, data, notification_id)

    def advance(self, event: Any) -> tuple[StoryView, UpdateView | None] | None:
        """``apply`` without making its ``Applied``: the story's state and the update the
        event touched (None: the story), or None when this state already has the event.
        A rebuild needs no more, for each of its many events."""
        story_id: UUID = event.originator_id
        version: int = event.originator_version
        state = self._states.get(story_id)
        if state is not None and version <= state.version:
            return None
        if version > 1 and (state is None or version > state.version + 1):
            state = fold(self._load_events(story_id, version - 1))
        state, touched = apply_event(state, event)
        self._remember(story_id, state)
        return state, touched

    def _remember(self, story_id: UUID, state: StoryView) -> None:
        self._states[story_id] = state
        if self._max_stories is None:
            return
        self._states.move_to_end(story_id)
        while len(self._states) > self._max_stories:
            self._states.popitem(last=False)
