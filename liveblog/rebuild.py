"""Rebuild the read views from the event log: drop them, fold every event again.

Run it with the servers stopped: a running feed writing the same views meanwhile
would interleave its batches with the rebuild's. The result equals the incrementally
built views row for row (a test checks it).
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from liveblog.newsroom import STORY_EVENT_TYPES, Newsroom
from liveblog.rebuild_writer import ProcessChunkWriter, sqlite_file_of
from projections.states import StoryStates
from projections.views import ALL_VIEWS, ReadViews

PAGE_SIZE = 2_000
# From this many notifications on, a rebuild on a SQLite file writes from a child process.
# The child takes a moment to start: below this many, a thread was still faster (measured
# with scripts/bench --only rebuild; see docs/benchmarks-history.md).
PROCESS_WRITER_FROM = 20_000

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
    """Drop ``names`` and rebuild them from the whole log; report progress per page.

    ``ReadViews.rebuilding`` writes the rows in chunks, each in one transaction with the
    views' positions, while this thread decodes and folds: in a second process on a
    SQLite file (``liveblog.rebuild_writer``), else on a second thread.
    """
    started = time.monotonic()
    # The cyclic GC would walk every state the fold keeps, again and again as they grow
    # (about a third of the rebuild's time at 100,000 events), to find no garbage: the
    # fold makes no cycles. It is paused for the rebuild, process-wide, and resumed.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _rebuild(newsroom, views, names, progress, started)
    finally:
        if collecting:
            gc.enable()


def _rebuild(
    newsroom: Newsroom,
    views: ReadViews,
    names: Sequence[str],
    progress: Progress | None,
    started: float,
) -> RebuildResult:
    states = StoryStates(
        lambda story, upto: newsroom.story_events(story, upto=upto),
        max_stories=None,
        live_data=False,
    )
    advance, to_domain_event = states.advance, newsroom.mapper.to_domain_event
    top = newsroom.recorder.max_notification_id() or 0
    position = 0
    events = 0
    datastore = sqlite_file_of(views) if top >= PROCESS_WRITER_FROM else None
    writer = ProcessChunkWriter(datastore, names) if datastore is not None else None
    with views.rebuilding(names, writer=writer, top=top) as writing:
        add = writing.add
        while position < top:
            page = newsroom.recorder.select_notifications(
                start=position, limit=PAGE_SIZE, stop=top, inclusive_of_start=False
            )
            if not page:
                break
            for notification in page:
                event = to_domain_event(notification)
                if isinstance(event, STORY_EVENT_TYPES):
                    advanced = advance(event)
                    if advanced is not None:
                        add(*advanced)
                        events += 1
            position = page[-1].id
            writing.page_done(position)
            if progress is not None and position < top:
                progress(position, top, time.monotonic() - started)
    # The last page is shown once its rows are committed (the ``with`` waited for them).
    if progress is not None and position:
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
