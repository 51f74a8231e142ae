"""The drafts' index: each draft's current state as a row, to list and to schedule by.

Drafts are aggregates in their own log (``liveblog.drafts``); listing a story's drafts,
or finding the scheduled ones that fell due, needs a table. The index follows the log
with a tracking position (the row ``drafts`` of the views' tracking table), so any
process, at any time, brings it up to date with ``catch_up``: after its own commands (a
writer sees what it wrote), before a list, and on each turn of the scheduler (the
changes another process made, or that were made while this one was down).

A row is the draft's whole state, loaded from the aggregate when its id turns up in the
log; its ``version`` only ever moves forward, so two processes catching up at once
cannot put an older state over a newer one. The index lives with the read views, in
the same database.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from liveblog.draft import SCHEDULED, Draft
from liveblog.drafts import Drafts
from projections.views.store import Dialect, ViewStore, rows_of
from projections.views.writes import advance
from projections.wire import person_json, rfc3339

POSITION = "drafts"  # its row in the views' tracking table
PAGE = 500

_CREATE = [
    "CREATE TABLE IF NOT EXISTS {t}liveblog_drafts ("
    " draft_id TEXT PRIMARY KEY, story_id TEXT NOT NULL, author_id TEXT NOT NULL,"
    " status TEXT NOT NULL, publish_at TEXT, version BIGINT NOT NULL,"
    " updated_at TEXT NOT NULL, doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS liveblog_drafts_by_story"
    " ON {t}liveblog_drafts (story_id, updated_at)",
    "CREATE INDEX IF NOT EXISTS liveblog_drafts_due ON {t}liveblog_drafts (status, publish_at)",
]

_UPSERT = (
    "INSERT INTO {t}liveblog_drafts (draft_id, story_id, author_id, status, publish_at,"
    " version, updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (draft_id) DO UPDATE SET status = excluded.status,"
    " publish_at = excluded.publish_at, version = excluded.version,"
    " updated_at = excluded.updated_at, doc = excluded.doc"
    " WHERE {t}liveblog_drafts.version < excluded.version"
)


def sortable_time(moment: datetime) -> str:
    """A UTC time as fixed-width text, so that the database orders and compares it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def draft_json(draft: Draft) -> dict[str, Any]:
    """A Draft as the API shows it (DESIGN §4)."""
    return {
        "id": str(draft.id),
        "story_id": str(draft.story_id),
        "title": draft.title,
        "body": draft.body,
        "media": draft.media,
        "key_event": draft.key_event,
        "pinned": draft.pinned,
        "author": person_json((draft.author.id, draft.author.name)),
        "status": draft.status,
        "publish_at": None if draft.publish_at is None else rfc3339(draft.publish_at),
        "revision": draft.revision,
        "update_id": None if draft.update_id is None else str(draft.update_id),
        "created_at": rfc3339(draft.created_on),
        "updated_at": rfc3339(draft.modified_on),
    }


class DraftIndex(ViewStore):
    def __init__(self, datastore: Any, dialect: Dialect, drafts: Drafts) -> None:
        super().__init__(datastore, dialect)
        self.drafts = drafts
        # One catch-up at a time in this process (others are kept apart by the version
        # guard and the tracking row).
        self._lock = threading.Lock()

    def create_tables(self) -> None:
        with self._transaction(commit=True) as cursor:
            for statement in _CREATE:
                cursor.execute(self.dialect.sql(statement))

    def position(self) -> int:
        with self._transaction(commit=False) as cursor:
            cursor.execute(
                self.dialect.sql(
                    "SELECT notification_id FROM {t}liveblog_tracking WHERE view = ?"
                ),
                (POSITION,),
            )
            row = cursor.fetchone()
        return 0 if row is None else int(row["notification_id"])

    def catch_up(self) -> int:
        """Bring the index up to the drafts' log; returns how many drafts it rewrote."""
        written = 0
        with self._lock:
            position = self.position()
            while True:
                ids, last = self.drafts.draft_ids(after=position, limit=PAGE)
                if not ids:
                    return written
                states = [self.drafts.get_draft(draft_id) for draft_id in ids]
                with self._derived_write() as cursor:
                    if advance(cursor, self.dialect, POSITION, last):
                        for draft in states:
                            cursor.execute(self.dialect.sql(_UPSERT), _row(draft))
                        written += len(states)
                position = last

    def list_docs(
        self, story_id: UUID, *, status: str | None = None, author_id: str | None = None,
        limit: int = 200,
    ) -> list[bytes]:  # fmt: skip
        """A story's drafts, most recently changed first, as JSON documents."""
        where = ["story_id = ?"]
        args: list[Any] = [str(story_id)]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if author_id is not None:
            where.append("author_id = ?")
            args.append(author_id)
        sql = (
            f"SELECT doc FROM {{t}}liveblog_drafts WHERE {' AND '.join(where)}"
            " ORDER BY updated_at DESC, draft_id LIMIT ?"
        )
        with self._transaction(commit=False) as cursor:
            cursor.execute(self.dialect.sql(sql), (*args, limit))
            return [str(row["doc"]).encode() for row in rows_of(cursor)]

    def stories_of(self, draft_ids: list[str]) -> dict[str, str]:
        """Each indexed draft's story id, by draft id."""
        marks = ", ".join("?" for _ in draft_ids)
        with self._transaction(commit=False) as cursor:
            cursor.execute(
                self.dialect.sql(
                    "SELECT draft_id, story_id FROM {t}liveblog_drafts"
                    f" WHERE draft_id IN ({marks})"
                ),
                draft_ids,
            )
            return {str(row["draft_id"]): str(row["story_id"]) for row in rows_of(cursor)}

    def due(self, now: datetime, limit: int = PAGE) -> list[UUID]:
        """Scheduled drafts whose time has come, earliest first."""
        with self._transaction(commit=False) as cursor:
            cursor.execute(
                self.dialect.sql(
                    "SELECT draft_id FROM {t}liveblog_drafts WHERE status = ?"
                    " AND publish_at <= ? ORDER BY publish_at, draft_id LIMIT ?"
                ),
                (SCHEDULED, sortable_time(now), limit),
            )
            return [UUID(str(row["draft_id"])) for row in rows_of(cursor)]


def _row(draft: Draft) -> tuple[Any, ...]:
    return (
        str(draft.id), str(draft.story_id), draft.author.id, draft.status,
        None if draft.publish_at is None else sortable_time(draft.publish_at),
        draft.version, sortable_time(draft.modified_on),
        orjson.dumps(draft_json(draft)).decode(),
    )  # fmt: skip
