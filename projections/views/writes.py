"""The feed's writes: a batch's rows with each view's tracking position, exactly once.

Rows are written from the fold's states (``projections.states``), in one transaction per
batch of events together with each view's tracking position, so a batch is applied
exactly once: a batch at or behind a view's recorded position changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from projections.states import Applied
from projections.story import Revision, StoryView, UpdateView
from projections.views import rows
from projections.views.schema import ALL_VIEWS, REVISIONS, STORY_LIST, TIMELINE
from projections.views.store import Dialect, ViewStore, rows_of
from projections.wire import rfc3339, update_doc


@dataclass
class Changes:
    """What a batch of events changed, reduced to the final rows to write."""

    last_notification_id: int = 0
    stories: dict[UUID, StoryView] = field(default_factory=dict)
    updates: dict[tuple[UUID, UUID], UpdateView] = field(default_factory=dict)
    # By (story, update, revision number): an event may store two revisions, and two
    # events of a batch the same one (see ``rows.stored_revisions``).
    revisions: dict[tuple[UUID, UUID, int], Revision] = field(default_factory=dict)

    def add(self, applied: Applied) -> None:
        self.last_notification_id = max(self.last_notification_id, applied.notification_id)
        self.stories[applied.story_id] = applied.story
        update = applied.update
        if update is None:
            return
        self.updates[(applied.story_id, update.id)] = update
        # A correction, a retraction or a reinstatement adds one or two revisions to
        # those the view stores (``rows.stored_revisions``): the last two stored are
        # written (a row already stored is left as it is).
        if applied.name in REVISING_EVENTS:
            stored = rows.stored_revisions(update)
            for revision in update.revisions[max(0, stored - 2) : stored]:
                self.revisions[(applied.story_id, update.id, revision.revision)] = revision

    def of_stories(self, keep: Callable[[UUID], bool]) -> Changes:
        """The rows of only the stories that ``keep`` says yes to, at the same position."""
        return Changes(
            self.last_notification_id,
            {story_id: story for story_id, story in self.stories.items() if keep(story_id)},
            {key: update for key, update in self.updates.items() if keep(key[0])},
            {key: revision for key, revision in self.revisions.items() if keep(key[0])},
        )


# The events that add a revision besides the post.
REVISING_EVENTS = frozenset({"update.corrected", "update.retracted", "update.reinstated"})


def advance(cursor: Any, dialect: Dialect, view: str, notification_id: int) -> bool:
    """Move the view's position to ``notification_id``; False if it is there already."""
    cursor.execute(
        dialect.sql(
            "INSERT INTO {t}liveblog_tracking (view, notification_id) VALUES (?, ?)"
            " ON CONFLICT (view) DO UPDATE SET notification_id = excluded.notification_id"
            " WHERE {t}liveblog_tracking.notification_id < excluded.notification_id"
            " RETURNING notification_id"
        ),
        (view, notification_id),
    )
    return cursor.fetchone() is not None


class ViewWrites(ViewStore):
    """``ReadViews``' positions and the feed's writes."""

    def positions(self) -> dict[str, int]:
        with self._transaction(commit=False) as cursor:
            cursor.execute(
                self.dialect.sql("SELECT view, notification_id FROM {t}liveblog_tracking")
            )
            found = {row["view"]: int(row["notification_id"]) for row in rows_of(cursor)}
        return {view: found.get(view, 0) for view in ALL_VIEWS}

    def position(self, views: Sequence[str] = ALL_VIEWS) -> int:
        """The position every given view has reached."""
        positions = self.positions()
        return min(positions[view] for view in views)

    def write(self, changes: Changes, views: Sequence[str] = ALL_VIEWS) -> set[str]:
        """Write a batch's rows and positions in one transaction; return the views written.

        A view whose recorded position is already at or past the batch is left alone, so
        a batch is applied to each view once, however often it is offered. Each view's
        position is moved before its rows are written: a racing process waits on that
        row, then finds itself behind and skips the view.
        """
        written: set[str] = set()
        if not changes.last_notification_id:
            return written
        writers = self._row_writers(changes)
        with self._derived_write() as cursor:
            for view in views:
                if advance(cursor, self.dialect, view, changes.last_notification_id):
                    writers[view](cursor)
                    written.add(view)
        return written

    def check_storable(self, changes: Changes, views: Sequence[str] = ALL_VIEWS) -> None:
        """Raise what writing ``changes``' rows would raise; change nothing.

        The rows are written, whatever the views' positions, in a transaction that is
        rolled back: the feed finds out so which story of a batch the views cannot
        store (a database names no row in its error).
        """
        writers = self._row_writers(changes)
        with self._transaction(commit=False) as cursor:
            for view in views:
                writers[view](cursor)

    def _row_writers(self, changes: Changes) -> dict[str, Callable[[Any], None]]:
        """Each view's writer of ``changes``' rows, given a cursor."""
        texts = rows.IdTexts()
        dialect = self.dialect
        return {
            STORY_LIST: lambda cursor: rows.STORY_ROWS.write(
                cursor, dialect, [rows.story_row(s, texts) for s in changes.stories.values()]
            ),
            TIMELINE: lambda cursor: rows.TIMELINE_ROWS.write(
                cursor,
                dialect,
                [
                    rows.timeline_row(
                        u, texts[u.story_id], texts[u.id], rfc3339(u.published_at), update_doc(u)
                    )
                    for u in changes.updates.values()
                ],
            ),
            REVISIONS: lambda cursor: rows.REVISION_ROWS.write(
                cursor,
                dialect,
                [
                    rows.revision_row(texts[s], texts[u], r, rfc3339(r.at))
                    for (s, u, _), r in changes.revisions.items()
                ],
            ),
        }
