"""The views' tables.

Three views (the story list, each story's timeline, each update's revisions) and one
table of tracking positions, a row per view. The same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projections.views.store import Dialect, ViewStore, rows_of

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
    " by_id TEXT NOT NULL, by_name TEXT NOT NULL, kind TEXT, reverted_to BIGINT,"
    " media TEXT, PRIMARY KEY (story_id, update_id, revision))",
]

# Columns added to a view's table since it was first made, each with its type: a table
# made before lacks them, and ``create_tables`` adds them (NULL in the old rows, which
# ``ReadViews.revisions`` reads as what those rows could only have been).
_ADDED_COLUMNS = {
    "liveblog_revisions": (("kind", "TEXT"), ("reverted_to", "BIGINT"), ("media", "TEXT")),
}


def empty_views(cursor: Any, dialect: Dialect, views: Iterable[str]) -> None:
    """Delete every row of the given views and their positions, with ``cursor``."""
    for view in views:
        cursor.execute(dialect.sql(f"DELETE FROM {{t}}{TABLES[view]}"))
        cursor.execute(dialect.sql("DELETE FROM {t}liveblog_tracking WHERE view = ?"), (view,))


def add_column(cursor: Any, dialect: Dialect, table: str, name: str, kind: str) -> None:
    """Add a column to a view's table. Several servers starting at once after an upgrade
    may each find it missing: one adding it after another did is not an error."""
    statement = f"ALTER TABLE {{t}}{table} ADD COLUMN {name} {kind}"
    if dialect.name != "sqlite":
        cursor.execute(dialect.sql(statement.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS")))
        return
    try:
        cursor.execute(dialect.sql(statement))
    except Exception as error:
        if "duplicate column name" not in str(error):
            raise


class ViewSchema(ViewStore):
    """``ReadViews``' tables: made once, emptied for a rebuild."""

    def create_tables(self) -> None:
        with self._transaction(commit=True) as cursor:
            for statement in _CREATE:
                cursor.execute(self.dialect.sql(statement))
            for table, columns in _ADDED_COLUMNS.items():
                present = self._columns(cursor, table)
                for name, kind in columns:
                    if name not in present:
                        add_column(cursor, self.dialect, table, name, kind)

    def _columns(self, cursor: Any, table: str) -> set[str]:
        """The names of ``table``'s columns."""
        if self.dialect.name == "sqlite":
            cursor.execute(f"PRAGMA table_info({table})")
            return {row["name"] for row in rows_of(cursor)}
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            " AND table_schema = COALESCE(%s, current_schema())",
            (table, self.dialect.schema),
        )
        return {row["column_name"] for row in rows_of(cursor)}

    def drop(self, views: Iterable[str] = ALL_VIEWS) -> None:
        """Empty the given views and forget their positions (for a rebuild)."""
        with self._transaction(commit=True) as cursor:
            empty_views(cursor, self.dialect, views)
