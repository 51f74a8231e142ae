"""Rebuild the read views from the event log: drop them, fold every event again.

Run it with the servers stopped: a running follower writing the same views meanwhile
would interleave its batches with the rebuild's. The result equals the incrementally
built views row for row (a test checks it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from liveblog.newsroom import STORY_EVENT_TYPES, Newsroom
from projections.states import StoryStates
from projections.views import ALL_VIEWS, Changes, ReadViews

PAGE_SIZE = 2_000

Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class RebuildResult:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def rebuild(
    newsroom: Newsroom,
    views: ReadViews,
    *,
    names: Sequence[str] = ALL_VIEWS,
    progress: Progress | None = None,
) -> RebuildResult:
    """Drop ``names`` and rebuild them from the whole log; report progress per page."""
    started = time.monotonic()
    views.drop(names)
    states = StoryStates(
        lambda story, upto: newsroom.story_events(story, upto=upto),
        max_stories=1_000_000,
        live_data=False,
    )
    top = newsroom.recorder.max_notification_id() or 0
    position = 0
    events = 0
    while position < top:
        page = newsroom.recorder.select_notifications(
            start=position, limit=PAGE_SIZE, stop=top, inclusive_of_start=False
        )
        if not page:
            break
        changes = Changes()
        for notification in page:
            event = newsroom.mapper.to_domain_event(notification)
            if isinstance(event, STORY_EVENT_TYPES):
                applied = states.apply(notification.id, event)
                if applied is not None:
                    changes.add(applied)
                    events += 1
        changes.last_notification_id = page[-1].id
        views.write(changes, names)
        position = page[-1].id
        if progress is not None:
            progress(position, top, time.monotonic() - started)
    return RebuildResult(events, time.monotonic() - started)


def progress_bar(stream: TextIO = sys.stderr, width: int = 30) -> Progress:
    """A one-line bar with the rate and the time left, redrawn in place."""

    def show(done: int, total: int, elapsed: float) -> None:
        share = done / total if total else 1.0
        filled = int(share * width)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} events"
            f"  {rate:,.0f}/s  ETA {eta:,.0f}s"
        )
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show
