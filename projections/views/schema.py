"""The views' tables.

Three views (the story list, each story's timeline, each update's revisions) and one
table of tracking positions, a row per view. The same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projections.views.store import Dialect, ViewStore

STORY_LIST = "story_list"
TIMELINE = "timeline"
REVISIONS = "revisions"
ALL_VIEWS: tuple[str, ...] = (STORY_LIST, TIMELINE, REVISIONS)

TABLES = {
    STORY_LIST: "liveblog_story_list",
    TIMELINE: "liveblog_timeline",
    REVISIONS: "liveblog_revisions",
}

_CREATE = [
    "CREATE TABLE IF NOT EXISTS {t}liveblog_tracking ("
    " view TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {t}liveblog_story_list ("
    " story_id TEXT PRIMARY KEY, slug TEXT NOT NULL, status TEXT NOT NULL,"
    " version BIGINT NOT NULL, created_at TEXT NOT NULL, fields_doc TEXT NOT NULL,"
    " list_doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {t}liveblog_timeline ("
    " story_id TEXT NOT NULL, update_id TEXT NOT NULL, sequence BIGINT NOT NULL,"
    " pinned BOOLEAN NOT NULL, key_event BOOLEAN NOT NULL, status TEXT NOT NULL,"
    " revision BIGINT NOT NULL, title TEXT NOT NULL, published_at TEXT NOT NULL,"
    " doc TEXT NOT NULL, PRIMARY KEY (story_id, update_id))",
    "CREATE UNIQUE INDEX IF NOT EXISTS liveblog_timeline_by_sequence"
    " ON {t}liveblog_timeline (story_id, sequence)",
    "CREATE TABLE IF NOT EXISTS {t}liveblog_revisions ("
    " story_id TEXT NOT NULL, update_id TEXT NOT NULL, revision BIGINT NOT NULL,"
    " at TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, note TEXT,"
    " by_id TEXT NOT NULL, by_name TEXT NOT NULL,"
    " PRIMARY KEY (story_id, update_id, revision))",
]


def empty_views(cursor: Any, dialect: Dialect, views: Iterable[str]) -> None:
    """Delete every row of the given views and their positions, with ``cursor``."""
    for view in views:
        cursor.execute(dialect.sql(f"DELETE FROM {{t}}{TABLES[view]}"))
        cursor.execute(dialect.sql("DELETE FROM {t}liveblog_tracking WHERE view = ?"), (view,))


class ViewSchema(ViewStore):
    """``ReadViews``' tables: made once, emptied for a rebuild."""

    def create_tables(self) -> None:
        with self._transaction(commit=True) as cursor:
            for statement in _CREATE:
                cursor.execute(self.dialect.sql(statement))

    def drop(self, views: Iterable[str] = ALL_VIEWS) -> None:
        """Empty the given views and forget their positions (for a rebuild)."""
        with self._transaction(commit=True) as cursor:
            empty_views(cursor, self.dialect, views)
