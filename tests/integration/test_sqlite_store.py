"""The SQLite store: the library's, with a statement cache on every connection."""

from __future__ import annotations

from pathlib import Path

from eventsourcing.sqlite import SQLiteDatastore

from liveblog.eventsourcing_adapter import StatementCachingPool
from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from liveblog.sqlite_store import SQLiteFactory
from tests.helpers import EDITOR


def test_the_store_uses_caching_connections_in_wal_mode(tmp_path: Path) -> None:
    env = Settings(database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}").eventsourcing_env()
    with Newsroom(env=env) as app:
        assert isinstance(app.factory, SQLiteFactory)
        datastore = app.factory.datastore
        assert isinstance(datastore, SQLiteDatastore)
        assert isinstance(datastore.pool, StatementCachingPool)
        story = app.open_story(slug="osh", title="Osh", summary="", actor=EDITOR)
        with datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert str(cursor.fetchone()[0]).lower() == "wal"
    with Newsroom(env=env) as again:
        assert again.get_story(story.story_id).version == 1


def test_a_file_the_library_made_opens_and_keeps_its_events(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite3"
    env = Settings(database_url=f"sqlite:///{path}").eventsourcing_env()
    with Newsroom(env={**env, "PERSISTENCE_MODULE": "eventsourcing.sqlite"}) as library_made:
        assert type(library_made.factory).__module__ == "eventsourcing.sqlite"
        story = library_made.open_story(slug="osh", title="Osh", summary="", actor=EDITOR)

    with Newsroom(env=env) as app:
        assert isinstance(app.factory, SQLiteFactory)
        app.post_update(story.story_id, body="<p>Water is rising.</p>", actor=EDITOR)
        assert app.get_story(story.story_id).version == 2
