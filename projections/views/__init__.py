"""Persisted read models: the story list, each story's timeline, each update's revisions.

``ReadViews`` is the one object the rest of the code holds; its methods are written by
job in the modules of this package, each a part of it on the same datastore:

- ``store``: the datastore, the SQL dialect, and the views' transactions;
- ``schema``: the tables, made once and emptied for a rebuild;
- ``rows``: each view's row, made from the fold's states, and its upsert;
- ``writes``: the feed's batches, written with the views' tracking positions;
- ``queries``: the read API's reads, answered with the stored JSON documents;
- ``rebuilding``: the views written again from a fold of the whole log.

The same SQL runs on SQLite and PostgreSQL, through the eventsourcing library's
datastores (and so in the same database, and connection pool, as the events).
"""

from __future__ import annotations

from projections.views.queries import ViewQueries
from projections.views.rebuilding import ChunkWriter, ViewRebuild
from projections.views.schema import ALL_VIEWS, REVISIONS, STORY_LIST, TIMELINE, ViewSchema
from projections.views.store import Dialect
from projections.views.writes import Changes, ViewWrites


class ReadViews(ViewSchema, ViewWrites, ViewQueries, ViewRebuild):
    """The three views and their tracking, on one datastore of the library."""


__all__ = [
    "ALL_VIEWS",
    "REVISIONS",
    "STORY_LIST",
    "TIMELINE",
    "Changes",
    "ChunkWriter",
    "Dialect",
    "ReadViews",
]
