"""What the applications beside the Newsroom share: their library environment and, on
SQLite, a log table of their own.

Credentials and Drafts keep small aggregates that commands load whole each time, and
their own logs, apart from the stories' log (whose every event is public).
"""

from __future__ import annotations

from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, TrackingRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteFactory
from eventsourcing.utils import Environment, EnvType

from liveblog.settings import environment_from_settings

# PostgreSQL connections each of these applications keeps open in a process, and may add
# under load. Their commands are a trickle beside the stories' (and token checks are
# trusted for seconds): small pools keep three servers, their tools and a test run well
# inside PostgreSQL's default limit of 100 connections.
SIDE_POOL_SIZE = 2
SIDE_POOL_OVERFLOW = 8


def uncached_environment(name: str, env: EnvType | None) -> Environment:
    """The library environment with no aggregate cache, so every command decides on the
    store as it is (another process may have changed it) and a failed save leaves no
    changed aggregate behind; and a small pool on PostgreSQL."""
    values = {
        key: value
        for key, value in (env or {}).items()
        if not key.startswith(("AGGREGATE_CACHE", "DEEPCOPY_FROM_AGGREGATE_CACHE"))
    }
    if "POSTGRES_POOL_SIZE" in values:
        values.update(
            POSTGRES_POOL_SIZE=str(SIDE_POOL_SIZE), POSTGRES_MAX_OVERFLOW=str(SIDE_POOL_OVERFLOW)
        )
    return environment_from_settings(name, values, snapshotting=False)


def own_sqlite_table(
    factory: InfrastructureFactory[TrackingRecorder], table: str
) -> ApplicationRecorder | None:
    """On SQLite, a recorder on a table of its own; None elsewhere (PostgreSQL already
    names each application's table after it). The library names SQLite tables by
    purpose, not by application, so every application would share the stories' table."""
    if not isinstance(factory, SQLiteFactory):
        return None
    recorder = SQLiteApplicationRecorder(factory.datastore, events_table_name=table)
    recorder.create_table()
    return recorder
